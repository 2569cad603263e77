/*
 * test_age.c - a global pool's hold aging (issue 15, rule (c); lib/age.h,
 * the sweeper's cb_rsv_age() in lib/sweep_reserve.c, the clients'
 * age_dated() and age_put() in lib/lane.h).
 *
 * First the word's operations alone: the split is clamped against
 * forged fields, an advance folds the buckets, a take finds its
 * bucket or the oldest, and a randomized run of admissions, releases by
 * date, undated takes (reclaims), recount trims and advances at random
 * clock times checks the rule against the true holds it stands for:
 * every hold younger than hold_max is counted (cur + prev), and a
 * release found aged is of a hold at least hold_max old.
 *
 * Then the wiring, on segments built in memory the broker's way
 * (segfix.h), the sweeper played by the test with the clock it is
 * given: through the shared entry, through a lane, and bound to a
 * worker by placement (the date in the bind's ticket), holds stop
 * counting two epochs on and no sooner, their late release is -ESTALE
 * (the unit given back all the same), a word the sweeper has not moved
 * into the clock's epoch refuses admission, a forged epoch is reset, the
 * recount keeps the ages, and a pool made local loses the layout.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <errno.h>
#include <time.h>
#include <unistd.h>

#include "abi.h"
#include "age.h"
#include "place.h"
#include "clock.h"
#include "reserve.h"
#include "segment.h"
#include "seqlock.h"
#include "slots.h"
#include "state_word.h"
#include "sweep.h"

#define NAME "age"
#define INSTANCE 0x0badc0ffee0000a9ull

#include "segfix.h"	/* after NAME and INSTANCE */

#define START 4242ull
#define LOCAL_SIZE 64u
#define P 1
#define HOLD_MAX_S 2u
#define EPS_NS ((HOLD_MAX_S * 1000ull + CB_AGE_MARGIN_MS) * 1000000ull)

/* ---- the word's operations -------------------------------------------- */

static uint64_t word(uint32_t held, uint32_t aged, uint32_t prev, uint32_t e)
{
	struct cb_age a = { .held = held, .aged = aged, .prev = prev,
	    .e8 = e };

	return age_join(&a);
}

static void test_split_clamps_forged_fields(void **state)
{
	struct cb_age a;

	(void)state;
	/* aged and prev above held: read as all of held, no more. */
	age_split(CB_AGE_MARK | 900ull << 52 | 800ull << 40 | 7ull << 32 | 5,
	    &a);
	assert_int_equal(a.held, 5);
	assert_int_equal(a.aged, 5);
	assert_int_equal(a.prev, 0);
	assert_int_equal(a.cur, 0);
	assert_int_equal(usage_live(CB_AGE_MARK | 900ull << 52 |
	    800ull << 40 | 5), 0);
	age_split(CB_AGE_MARK | 900ull << 52 | 2ull << 40 | 5, &a);
	assert_int_equal(a.aged, 2);
	assert_int_equal(a.prev, 3);
	assert_int_equal(a.cur, 0);
	/* An unmarked word: every hold counts, as before 1.4. */
	assert_int_equal(usage_live(CB_USAGE(6, 3)), 6);
	assert_int_equal(CB_USAGE_LAUNCHING(word(6, 1, 2, 9)), 0);
	assert_int_equal(usage_live(word(6, 1, 2, 9)), 5);
}

static void test_advance_folds_buckets(void **state)
{
	struct cb_age a;

	(void)state;
	age_split(word(10, 1, 3, 7), &a);       /* cur 6 */
	age_advance(&a, 1, 8);
	assert_int_equal(a.aged, 4);
	assert_int_equal(a.prev, 6);
	assert_int_equal(a.cur, 0);
	assert_int_equal(a.e8, 8);
	a.cur++, a.held++;                      /* a hold of epoch 8 */
	age_advance(&a, 3, 11);
	assert_int_equal(a.aged, 11);
	assert_int_equal(a.prev, 0);
	assert_int_equal(a.cur, 0);
	/* Full fields leave the rest in cur (newer: counted). */
	age_split(word(5000, 4000, 0, 0), &a);  /* cur 1000 */
	age_advance(&a, 2, 2);
	assert_int_equal(a.aged, CB_AGE_AGED_MAX);
	assert_int_equal(a.prev, 0);
	assert_int_equal(a.cur, 5000 - CB_AGE_AGED_MAX);
	age_split(word(3000, 0, 0, 0), &a);
	age_advance(&a, 1, 1);
	assert_int_equal(a.prev, CB_AGE_PREV_MAX);
	assert_int_equal(a.cur, 3000 - CB_AGE_PREV_MAX);
	/* The epoch wraps in 8 bits and resolves against the published. */
	assert_int_equal(age_epoch(word(1, 0, 0, 0x01), 0x1ff), 0x201);
	assert_int_equal(age_epoch(word(1, 0, 0, 0xfe), 0x201), 0x1fe);
}

static void test_take_finds_bucket_or_oldest(void **state)
{
	struct cb_age a;

	(void)state;
	age_split(word(6, 1, 2, 0), &a);        /* cur 3 */
	assert_int_equal(age_take(&a, AGE_PREV), AGE_PREV);
	assert_int_equal(age_take(&a, AGE_PREV), AGE_PREV);
	/* prev empty: the oldest non-empty bucket instead. */
	assert_int_equal(age_take(&a, AGE_PREV), AGE_AGED);
	assert_int_equal(age_take(&a, AGE_AGED), AGE_CUR);
	assert_int_equal(age_take(&a, AGE_FRONT), AGE_CUR);
	assert_int_equal(age_take(&a, AGE_CUR), AGE_CUR);
	assert_int_equal(a.held, 0);
	assert_int_equal(age_take(&a, AGE_CUR), -1);
	age_split(word(9, 2, 3, 0), &a);
	assert_int_equal(age_take_front(&a, 4), 4);
	assert_int_equal(a.aged, 0);
	assert_int_equal(a.prev, 1);
	assert_int_equal(a.cur, 4);
	assert_int_equal(age_take_front(&a, 40), 5);
	assert_int_equal(a.held, 0);
	assert_int_equal(age_pos(10, 10), AGE_CUR);
	assert_int_equal(age_pos(10, 9), AGE_PREV);
	assert_int_equal(age_pos(10, 3), AGE_AGED);
	assert_int_equal(age_pos(10, 11), AGE_FRONT);
}

/*
 * The rule against the holds it stands for.  Time in ms, eps = 1000
 * (hold_max 900 + a margin of 100), the coarse clock a tick of up to
 * 10 ms behind; the word's operations are the library's, applied the
 * way the clients and the sweeper apply them.
 */
#define R_EPS 1000
#define R_HOLD_MAX 900
#define R_TICK 10
#define R_HOLDS 64

struct rhold {
	int64_t at;            /* admitted, true time */
	int64_t date;          /* its epoch, -1 undated */
};

static unsigned rnd(unsigned *s)
{
	*s = *s * 1103515245u + 12345u;
	return *s >> 16;
}

static void rule_check(const struct cb_age *a, const struct rhold *h, int n,
    int64_t now)
{
	uint32_t young = 0;

	assert_int_equal(a->held, (uint32_t)n);
	for (int i = 0; i < n; i++)
		young += now - h[i].at < R_HOLD_MAX;
	if (a->prev + a->cur < young)
		fail_msg("%u young holds, %u counted at %lld", young,
		    a->prev + a->cur, (long long)now);
}

static void test_randomized_rule(void **state)
{
	unsigned refused = 0, lates = 0, trims = 0;

	(void)state;
	for (unsigned seed = 1; seed <= 200; seed++) {
		struct rhold h[R_HOLDS];
		struct cb_age a = { .e8 = 0 };
		int64_t now = 0, w = 0;
		unsigned s = seed;
		int n = 0, late = 0;

		for (int step = 0; step < 3000; step++) {
			int op = (int)(rnd(&s) % 8);

			now += rnd(&s) % 60;
			if (op == 0 && w < now / R_EPS) {
				/* the sweeper: into the clock's epoch */
				int64_t e = now / R_EPS;

				age_advance(&a, e - w, (uint64_t)e);
				w = e;
			} else if (op <= 3 && n < R_HOLDS) {
				/* an admission: CAS (held + 1 into cur),
				 * then the coarse clock, up to a tick old,
				 * dates it or it gives the unit back */
				int64_t coarse = now - (int64_t)(rnd(&s) %
				    R_TICK);

				a.held++, a.cur++;
				if (coarse >= (w + 1) * R_EPS) {
					age_take_front(&a, 1);
					refused++;
					rule_check(&a, h, n, now);
					continue;
				}
				h[n].at = now;
				h[n].date = w;
				n++;
			} else if (op <= 5 && n > 0) {
				/* a release by date */
				int i = (int)(rnd(&s) % (unsigned)n);
				int pos = age_pos(w, h[i].date);

				assert_true(age_take(&a, pos) >= 0);
				if (pos == AGE_AGED) {
					late++;
					assert_true(now - h[i].at >=
					    R_HOLD_MAX);
				}
				h[i] = h[--n];
			} else if (op == 6 && n > 0) {
				/* a reclaim or a recount's trim: undated,
				 * whichever hold it was (any age: taking
				 * from the oldest bucket is right for all) */
				int i = (int)(rnd(&s) % (unsigned)n);

				assert_int_equal(age_take_front(&a, 1), 1);
				h[i] = h[--n];
				trims++;
			}
			rule_check(&a, h, n, now);
		}
		lates += (unsigned)late;
	}
	/* Coverage: each kind of step happened. */
	assert_true(refused > 0 && lates > 0 && trims > 0);
}

/* ---- the wiring, on segments ------------------------------------------ */

/* How the fixture's holds are taken: through the shared client entry,
 * a lane, or bound to a worker by placement (a pick: its date in the
 * bind's ticket, lib/place.c). */
enum path { PATH_SHARED, PATH_LANE, PATH_PLACE };

struct fx {
	void *state;
	void *slots;
	struct cb_rsv r;
	enum path path;
	uint64_t now;          /* the sweeper's clock */
};

static uint64_t serials = 9000;

static struct cb_pool_conf *conf(struct fx *f)
{
	return cb_seg_record(f->state, CB_RS_POOLS, 0, P);
}

static int setup_path(void **state, enum path path)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->path = path;
	seg_alloc_pair(&f->state, &f->slots);
	seg_pool_define(f->state, 0, 8, 2000, 0);
	seg_pool_define(f->state, P, 2, 2000, 0);
	/* A valid share (abi.h): far ahead. */
	atomic_store(&conf(f)->share_deadline_ns, UINT64_MAX / 2);
	if (path == PATH_PLACE)
		seg_one_worker(f->state);    /* room for 10 */
	seg_rsv_open(&f->r, f->state, f->slots, getpid(), START, LOCAL_SIZE);
	if (path == PATH_LANE)
		assert_int_equal(cb_rsv_lanes_init(&f->r, ++serials), 0);
	f->now = cb_monotonic_ns();
	*state = f;
	return 0;
}

static int setup_shared(void **state) { return setup_path(state, PATH_SHARED); }
static int setup_lane(void **state) { return setup_path(state, PATH_LANE); }
static int setup_place(void **state) { return setup_path(state, PATH_PLACE); }

static int teardown(void **state)
{
	struct fx *f = *state;

	if (f->path == PATH_LANE)
		cb_rsv_lanes_close(&f->r);
	free((void *)f->r.local);
	free(f->state);
	free(f->slots);
	free(f);
	return 0;
}

static uint64_t usage(struct fx *f)
{
	return atomic_load(&cb_slots_pool(f->slots, P)->usage);
}

static int sweep_at(struct fx *f, uint64_t now)
{
	return cb_rsv_age(f->slots, &conf(f)->age, P, HOLD_MAX_S, now);
}

static int hold(struct fx *f, cb_ticket *t)
{
	char id[CB_WORKER_ID_STRLEN];

	if (f->path == PATH_PLACE)
		return cb_place_try(&f->r, P, CB_PLACE_CONSOLIDATE, t, id);
	return cb_rsv_try(&f->r, P, CB_HOLD, 0, t);
}

static uint32_t stale(struct fx *f)
{
	return atomic_load(&cb_slots_pool(f->slots, P)->stale_releases);
}

/* Two holds fill the pool; one epoch on they still count; two epochs
 * on they have aged: a third is admitted, their releases are late
 * (-ESTALE, the units given back), the young one's is not. */
static void test_holds_age_after_two_epochs(void **state)
{
	struct fx *f = *state;
	cb_ticket t[3];
	uint64_t e = f->now / EPS_NS;

	assert_int_equal(sweep_at(f, f->now), CB_AGE_MOVED);
	assert_true(usage(f) & CB_AGE_MARK);
	assert_int_equal(atomic_load(&conf(f)->age),
	    e << 32 | (HOLD_MAX_S * 1000 + CB_AGE_MARGIN_MS));
	assert_int_equal(hold(f, &t[0]), 0);
	assert_int_equal(hold(f, &t[1]), 0);
	assert_int_equal(hold(f, &t[2]), -EAGAIN);
	/* Nothing to do within the epoch. */
	assert_int_equal(sweep_at(f, f->now), 0);
	/* One epoch on: in prev, still counted. */
	assert_int_equal(sweep_at(f, f->now + EPS_NS), CB_AGE_MOVED);
	assert_int_equal(CB_AGE_PREV_RAW(usage(f)), 2);
	assert_int_equal(hold(f, &t[2]), -EAGAIN);
	/* Two: aged.  The pretend clock is ahead of the client's, which
	 * dates the new hold in the word's epoch all the same. */
	assert_int_equal(sweep_at(f, f->now + 2 * EPS_NS), CB_AGE_MOVED);
	assert_int_equal(CB_AGE_AGED_RAW(usage(f)), 2);
	assert_int_equal(usage_live(usage(f)), 0);
	assert_int_equal(hold(f, &t[2]), 0);
	assert_int_equal(CB_USAGE_HELD(usage(f)), 3);
	assert_int_equal(cb_rsv_release(&f->r, &t[0]), -ESTALE);
	assert_int_equal(stale(f), 1);
	assert_int_equal(CB_USAGE_HELD(usage(f)), 2);
	assert_int_equal(CB_AGE_AGED_RAW(usage(f)), 1);
	assert_int_equal(cb_rsv_release(&f->r, &t[2]), 0);
	assert_int_equal(usage_live(usage(f)), 0);
	assert_int_equal(cb_rsv_release(&f->r, &t[1]), -ESTALE);
	assert_int_equal(CB_USAGE_HELD(usage(f)), 0);
	/* Released once: a second release finds nothing. */
	assert_int_equal(cb_rsv_release(&f->r, &t[1]), -ESTALE);
	assert_int_equal(CB_USAGE_HELD(usage(f)), 0);
	assert_int_equal(stale(f), 3);
}

/* A young hold released one epoch on comes from prev, not late. */
static void test_release_from_prev_is_on_time(void **state)
{
	struct fx *f = *state;
	cb_ticket t[2];

	sweep_at(f, f->now);
	assert_int_equal(hold(f, &t[0]), 0);
	sweep_at(f, f->now + EPS_NS);
	assert_int_equal(hold(f, &t[1]), 0);
	assert_int_equal(CB_AGE_PREV_RAW(usage(f)), 1);
	assert_int_equal(cb_rsv_release(&f->r, &t[0]), 0);
	assert_int_equal(CB_AGE_PREV_RAW(usage(f)), 0);
	assert_int_equal(usage_live(usage(f)), 1);
	assert_int_equal(cb_rsv_release(&f->r, &t[1]), 0);
	assert_int_equal(usage(f) & 0xffffffffffull,
	    (uint64_t)(uint8_t)((f->now + EPS_NS) / EPS_NS) << 32);
	assert_int_equal(stale(f), 0);
}

/* The word left in an epoch the clock has passed (the sweeper late or
 * stopped): a hold admitted now could not be dated in it, and would
 * age early; refused, the unit given back.  Moved into the clock's
 * epoch, it admits. */
static void test_lagging_word_refuses(void **state)
{
	struct fx *f = *state;
	cb_ticket t;

	sweep_at(f, f->now - 2 * EPS_NS);
	assert_int_equal(hold(f, &t), -EAGAIN);
	assert_int_equal(CB_USAGE_HELD(usage(f)), 0);
	assert_int_equal(sweep_at(f, f->now), CB_AGE_MOVED);
	assert_int_equal(hold(f, &t), 0);
	assert_int_equal(cb_rsv_release(&f->r, &t), 0);
	/* No aging published (a forged mark): nothing can be dated. */
	atomic_store(&conf(f)->age, 0);
	assert_int_equal(hold(f, &t), -EAGAIN);
	assert_int_equal(CB_USAGE_HELD(usage(f)), 0);
}

/* A member writes the word ahead of the clock with everything aged:
 * the sweeper puts it back, every hold counted again. */
static void test_forged_epoch_reset(void **state)
{
	struct fx *f = *state;
	uint64_t e = f->now / EPS_NS;
	cb_ticket t[2];

	sweep_at(f, f->now);
	assert_int_equal(hold(f, &t[0]), 0);
	assert_int_equal(hold(f, &t[1]), 0);
	atomic_store(&cb_slots_pool(f->slots, P)->usage,
	    word(2, 2, 0, (uint32_t)e + 5));
	assert_int_equal(sweep_at(f, f->now), CB_AGE_MOVED | CB_AGE_RESET);
	assert_int_equal(usage_live(usage(f)), 2);
	assert_int_equal(CB_AGE_E8(usage(f)), (uint32_t)e & 0xff);
}

/* The recount trims a surplus from the oldest bucket and keeps the
 * layout; a pool made local loses it, every hold counted. */
static void test_recount_and_unmark(void **state)
{
	struct fx *f = *state;
	static struct cb_sweep_scratch sc;
	int64_t hd, ld;
	cb_ticket t[2];

	sweep_at(f, f->now);
	assert_int_equal(hold(f, &t[0]), 0);
	sweep_at(f, f->now + EPS_NS);
	assert_int_equal(hold(f, &t[1]), 0);
	/* A drift of 2 in prev (a forged count, or a lost release). */
	atomic_store(&cb_slots_pool(f->slots, P)->usage,
	    word(4, 0, 3, (uint32_t)((f->now + EPS_NS) / EPS_NS)));
	assert_int_equal(cb_rsv_recount(f->slots, P, &sc, &hd, &ld), 1);
	assert_int_equal(hd, 2);
	assert_true(usage(f) & CB_AGE_MARK);
	assert_int_equal(CB_USAGE_HELD(usage(f)), 2);
	assert_int_equal(CB_AGE_PREV_RAW(usage(f)), 1);
	assert_int_equal(usage_live(usage(f)), 2);
	assert_int_equal(sweep_at(f, f->now + 2 * EPS_NS), CB_AGE_MOVED);
	assert_int_equal(usage_live(usage(f)), 1);
	/* Local now. */
	assert_int_equal(cb_rsv_age(f->slots, &conf(f)->age, P, 0, f->now),
	    CB_AGE_MOVED);
	assert_int_equal(usage(f), CB_USAGE(2, 0));
	assert_int_equal(atomic_load(&conf(f)->age), 0);
	assert_int_equal(cb_rsv_release(&f->r, &t[0]), 0);
	assert_int_equal(cb_rsv_release(&f->r, &t[1]), 0);
	assert_int_equal(usage(f), 0);
}

/* A bound hold's ticket carries its date in its top bits (the flag at
 * bit 63, lib/place.c); date bits without the flag were not written by
 * the library: refused, nothing given back. */
static void test_bind_date_bits_checked(void **state)
{
	struct fx *f = *state;
	cb_ticket t, bad;

	sweep_at(f, f->now);
	assert_int_equal(hold(f, &t), 0);
	assert_true(t.opaque[0] >> 63);
	bad = t;
	bad.opaque[0] &= ~(1ull << 63);
	bad.opaque[0] |= 1ull << 50;
	assert_int_equal(cb_rsv_release(&f->r, &bad), -EINVAL);
	assert_int_equal(CB_USAGE_HELD(usage(f)), 1);
	assert_int_equal(cb_rsv_release(&f->r, &t), 0);
	assert_int_equal(CB_USAGE_HELD(usage(f)), 0);
	assert_int_equal(stale(f), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_split_clamps_forged_fields),
		cmocka_unit_test(test_advance_folds_buckets),
		cmocka_unit_test(test_take_finds_bucket_or_oldest),
		cmocka_unit_test(test_randomized_rule),
#define ALL_PATHS(t) \
		cmocka_unit_test_setup_teardown(t, setup_shared, teardown), \
		cmocka_unit_test_setup_teardown(t, setup_lane, teardown), \
		cmocka_unit_test_setup_teardown(t, setup_place, teardown)
		ALL_PATHS(test_holds_age_after_two_epochs),
		ALL_PATHS(test_release_from_prev_is_on_time),
		ALL_PATHS(test_lagging_word_refuses),
		ALL_PATHS(test_forged_epoch_reset),
		ALL_PATHS(test_recount_and_unmark),
		cmocka_unit_test_setup_teardown(test_bind_date_bits_checked,
		    setup_place, teardown),
	};

	return cmocka_run_group_tests_name("age", tests, NULL, NULL);
}
