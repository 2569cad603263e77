/*
 * test_tp_lane.c - holds through per-thread lanes (lib/reserve.h,
 * "Lanes"; issue 14): what each lane records, the broker's recount,
 * reclaim and scrub of lanes, cb_close, a lane handed on from an exited
 * thread, and the bias revocation that lets another thread release a
 * ticket.  Built with the test points (lib/testpoint.h): a thread is
 * held still inside its fast path while the test plays the sweeper or a
 * second releaser.
 *
 * Segments are built in memory the broker's way (segfix.h).
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
#include <pthread.h>
#include <unistd.h>

#include "abi.h"
#include "reserve.h"
#include "segment.h"
#include "slots.h"
#include "sweep.h"
#include "testpoint.h"
#include "tphold.h"

#define NAME "tplane"
#define INSTANCE 0x0badc0ffee00001dull

#include "segfix.h"	/* after NAME and INSTANCE */

#define START 4242ull
#define LOCAL_SIZE 64u
#define P 1
#define LIMIT 4

struct fx {
	void *state;
	void *slots;
	struct cb_rsv r;
	struct cb_sweep_scratch sweep;
};

static uint64_t serials = 1000;

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	seg_alloc_pair(&f->state, &f->slots);
	seg_pool_define(f->state, 0, 8, 2000, 0);
	seg_pool_define(f->state, P, LIMIT, 2000, 0);
	seg_rsv_open(&f->r, f->state, f->slots, getpid(), START, LOCAL_SIZE);
	/* A new serial per test: no thread's cached lane matches it. */
	assert_int_equal(cb_rsv_lanes_init(&f->r, ++serials), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	hold_disarm();
	cb_rsv_lanes_close(&f->r);
	free((void *)f->r.local);
	free(f->state);
	free(f->slots);
	free(f);
	return 0;
}

static uint32_t held(struct fx *f, int pool)
{
	return CB_USAGE_HELD(atomic_load(&cb_slots_pool(f->slots,
	    pool)->usage));
}

/* The lanes of f's client, and what they record of pool P. */
static uint32_t lanes_of(struct fx *f, uint32_t *recorded)
{
	uint64_t mine = CB_LANE_OF(f->r.client, f->r.owner);
	uint32_t n = 0;

	*recorded = 0;
	for (uint32_t l = 0; l < CB_MAX_LANES; l++) {
		struct cb_lane_slot *sl = cb_slots_lane(f->slots, l);

		if (atomic_load(&sl->word) != mine)
			continue;
		n++;
		*recorded += atomic_load(&sl->holds[P]);
	}
	return n;
}

static struct cb_lane_slot *first_lane(struct fx *f)
{
	uint64_t mine = CB_LANE_OF(f->r.client, f->r.owner);

	for (uint32_t l = 0; l < CB_MAX_LANES; l++)
		if (atomic_load(&cb_slots_lane(f->slots, l)->word) == mine)
			return cb_slots_lane(f->slots, l);
	return NULL;
}

static int hold(struct fx *f, cb_ticket *t)
{
	return cb_rsv_try(&f->r, P, CB_HOLD, 0, t);
}

static int recount(struct fx *f, int64_t *hd)
{
	int64_t ld = 0;

	return cb_rsv_recount(f->slots, P, &f->sweep, hd, &ld);
}

/* ---- what a lane records ----------------------------------------------- */

/* A hold is recorded in the thread's lane, not in the shared entry,
 * and only the counter's CAS is shared; the release undoes both. */
static void test_hold_recorded_in_lane(void **state)
{
	struct fx *f = *state;
	struct cb_lane_slot *sl;
	uint32_t rec;
	cb_ticket a, b;

	assert_int_equal(hold(f, &a), 0);
	assert_int_equal(hold(f, &b), 0);
	assert_int_equal(held(f, P), 2);
	assert_int_equal(atomic_load(&cb_slots_client(f->slots,
	    f->r.client)->holds[P]), 0);
	assert_int_equal(lanes_of(f, &rec), 1);
	assert_int_equal(rec, 2);
	sl = first_lane(f);
	assert_int_equal(CB_SEQ_INFLIGHT(atomic_load(&sl->seq)), 0);
	assert_int_equal(cb_rsv_release(&f->r, &a), 0);
	assert_int_equal(cb_rsv_release(&f->r, &b), 0);
	assert_int_equal(held(f, P), 0);
	assert_int_equal(lanes_of(f, &rec), 1);
	assert_int_equal(rec, 0);
}

/* The limit holds through lanes, and the fast path agrees. */
static void test_limit_through_lane(void **state)
{
	struct fx *f = *state;
	cb_ticket t[LIMIT + 1];

	for (int i = 0; i < LIMIT; i++)
		assert_int_equal(hold(f, &t[i]), 0);
	assert_int_equal(hold(f, &t[LIMIT]), -EAGAIN);
	assert_int_equal(cb_rsv_hold_fast(&f->r, P, &t[LIMIT]), 1);
	assert_int_equal(held(f, P), LIMIT);
	for (int i = 0; i < LIMIT; i++)
		assert_int_equal(cb_rsv_release_fast(&f->r, &t[i]), 0);
	assert_int_equal(held(f, P), 0);
	assert_int_equal(cb_rsv_hold_fast(&f->r, P, &t[0]), 0);
	assert_int_equal(cb_rsv_release(&f->r, &t[0]), 0);
}

/* A second release is -ESTALE on both paths, and so is a ticket whose
 * pool was changed; a lane or index beyond the handle's is -EINVAL. */
static void test_lane_ticket_exact(void **state)
{
	struct fx *f = *state;
	cb_ticket a, forged;

	assert_int_equal(hold(f, &a), 0);
	forged = a;
	forged.opaque[0] = (forged.opaque[0] & ~(uint64_t)0xff00) |
	    (uint64_t)0 << 8;
	assert_int_equal(cb_rsv_release(&f->r, &forged), -ESTALE);
	forged = a;
	forged.opaque[0] |= (uint64_t)7 << 32;          /* lane 7 */
	assert_int_equal(cb_rsv_release(&f->r, &forged), -EINVAL);
	forged = a;
	forged.opaque[0] ^= (uint64_t)1 << 16;          /* client */
	assert_int_equal(cb_rsv_release(&f->r, &forged), -EINVAL);
	forged = a;
	forged.opaque[1] |= 1ull << 60;                 /* nonce */
	assert_int_equal(cb_rsv_release(&f->r, &forged), -ESTALE);
	assert_int_equal(held(f, P), 1);
	assert_int_equal(cb_rsv_release_fast(&f->r, &a), 0);
	assert_int_equal(cb_rsv_release_fast(&f->r, &a), -ESTALE);
	assert_int_equal(cb_rsv_release(&f->r, &a), -ESTALE);
	assert_int_equal(held(f, P), 0);
}

/* A member's write of a lane's window word (in flight 0xff) wedges
 * nobody: the owner writes its own value over it at its next window,
 * and the recount counts at most one unit of slack for the lane. */
static void test_forged_lane_window(void **state)
{
	struct fx *f = *state;
	struct cb_lane_slot *sl;
	int64_t hd = 0;
	cb_ticket a;

	assert_int_equal(hold(f, &a), 0);
	sl = first_lane(f);
	atomic_store(&sl->seq, 0x12345600u | 0xff);
	/* U 3 above the records: a leak, or a forged U. */
	atomic_fetch_add(&cb_slots_pool(f->slots, P)->usage, 3);
	assert_int_equal(recount(f, &hd), 1);
	assert_int_equal(hd, 2);          /* 4 -> 1 record + 1 slack */
	assert_int_equal(cb_rsv_release(&f->r, &a), 0);
	assert_int_equal(CB_SEQ_INFLIGHT(atomic_load(&sl->seq)), 0);
	assert_int_equal(recount(f, &hd), 1);   /* the slack unit goes */
	assert_int_equal(held(f, P), 0);
}

/* ---- the broker's side ------------------------------------------------- */

/* A recount while a hold is admitted but not yet recorded in its lane:
 * the lane's open window covers the unit, nothing is trimmed; once it
 * is recorded the counter and the records agree. */
static void *hold_in_thread(void *arg)
{
	struct fx *f = arg;
	static cb_ticket t;

	hold_me = 1;
	(void)hold(f, &t);
	hold_me = 0;
	return &t;
}

static void test_recount_lane_admitted_unrecorded(void **state)
{
	struct fx *f = *state;
	pthread_t th;
	int64_t hd = -1;
	uint32_t rec;

	assert_int_equal(hold_start(&th, "reserve:lane-admitted",
	    hold_in_thread, f), 0);
	assert_int_equal(held(f, P), 1);
	lanes_of(f, &rec);
	assert_int_equal(rec, 0);
	assert_int_equal(recount(f, &hd), 0);
	assert_int_equal(hd, 0);
	assert_int_equal(held(f, P), 1);
	assert_int_equal(hold_finish(th), 0);
	lanes_of(f, &rec);
	assert_int_equal(rec, 1);
	assert_int_equal(recount(f, &hd), 0);
	assert_int_equal(held(f, P), 1);
	/* The thread has exited: its lane (and hold) stay the handle's. */
	assert_int_equal(lanes_of(f, &rec), 1);
}

/* The reclaim of a dead client gives back what its lanes recorded and
 * frees them before its entry. */
static void test_reclaim_lanes(void **state)
{
	struct fx *f = *state;
	uint32_t per_pool[CB_MAX_POOLS] = { 0 }, rec;
	pthread_t th;
	cb_ticket a;

	assert_int_equal(hold(f, &a), 0);
	assert_int_equal(pthread_create(&th, NULL, hold_in_thread, f), 0);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(held(f, P), 2);
	assert_int_equal(lanes_of(f, &rec), 2);
	assert_int_equal(cb_rsv_reclaim(f->slots, f->r.client, f->r.owner,
	    per_pool), 2);
	assert_int_equal(per_pool[P], 2);
	assert_int_equal(held(f, P), 0);
	assert_int_equal(lanes_of(f, &rec), 0);
	assert_int_equal(CB_OWNER_PID(atomic_load(&cb_slots_client(f->slots,
	    f->r.client)->owner)), 0);
	/* Nothing left for cb_close to give back: only the memory. */
	cb_rsv_lanes_forget(&f->r);
}

/* The scrub frees a lane whose client entry has another owner (left
 * by a crash, or written by a member) and leaves live lanes alone. */
static void test_scrub_orphan_lane(void **state)
{
	struct fx *f = *state;
	struct cb_lane_slot *orphan = cb_slots_lane(f->slots, 77);
	uint32_t rec;
	cb_ticket a;

	assert_int_equal(hold(f, &a), 0);
	atomic_store(&orphan->word, CB_LANE_WORD(f->r.client,
	    CB_OWNER_GEN(f->r.owner) + 5, 999));
	atomic_store(&orphan->holds[P], 9);
	atomic_store(&orphan->seq, 0x301);
	for (uint32_t l = 0; l < CB_MAX_LANES; l++)
		cb_rsv_lane_scrub(f->slots, l, getpid());
	assert_int_equal(CB_LANE_PID(atomic_load(&orphan->word)), 0);
	assert_int_equal(atomic_load(&orphan->holds[P]), 0);
	assert_int_equal(CB_SEQ_INFLIGHT(atomic_load(&orphan->seq)), 0);
	assert_int_equal(lanes_of(f, &rec), 1);        /* ours stays */
	assert_int_equal(rec, 1);
	assert_int_equal(cb_rsv_release(&f->r, &a), 0);
}

/* A deleted pool's index is not idle while a lane records a hold. */
static void test_pool_idle_sees_lanes(void **state)
{
	struct fx *f = *state;
	cb_ticket a;

	assert_int_equal(hold(f, &a), 0);
	/* U taken to 0 by a member: only the lane's record is left. */
	atomic_store(&cb_slots_pool(f->slots, P)->usage, 0);
	assert_int_equal(cb_rsv_pool_idle(f->slots, P, &f->sweep), 0);
	atomic_store(&cb_slots_pool(f->slots, P)->usage, CB_USAGE(1, 0));
	assert_int_equal(cb_rsv_release(&f->r, &a), 0);
	assert_int_equal(cb_rsv_pool_idle(f->slots, P, &f->sweep), 1);
}

/* cb_close gives back every lane's holds and frees the lanes. */
static void test_lanes_close(void **state)
{
	struct fx *f = *state;
	pthread_t th;
	uint32_t rec;
	cb_ticket a;

	assert_int_equal(hold(f, &a), 0);
	assert_int_equal(pthread_create(&th, NULL, hold_in_thread, f), 0);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(held(f, P), 2);
	cb_rsv_lanes_close(&f->r);
	assert_int_equal(held(f, P), 0);
	assert_int_equal(lanes_of(f, &rec), 0);
	assert_null(f->r.lanes);
}

/* ---- threads ----------------------------------------------------------- */

struct rel {
	struct fx *f;
	cb_ticket t;
	int ret;
	_Atomic int done;
};

static void *release_in_thread(void *arg)
{
	struct rel *x = arg;

	hold_me = 1;
	x->ret = cb_rsv_release(&x->f->r, &x->t);
	hold_me = 0;
	atomic_store(&x->done, 1);
	return NULL;
}

/* Another thread releases a lane's ticket (revoking its bias); after
 * that the lane's owner still holds and releases, through the mutex,
 * and a second release of the ticket is -ESTALE. */
static void test_foreign_release(void **state)
{
	struct fx *f = *state;
	struct rel x = { .f = f };
	pthread_t th;
	cb_ticket b;

	assert_int_equal(hold(f, &x.t), 0);
	assert_int_equal(pthread_create(&th, NULL, release_in_thread, &x), 0);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(x.ret, 0);
	assert_int_equal(held(f, P), 0);
	assert_int_equal(cb_rsv_release(&f->r, &x.t), -ESTALE);
	/* The owner's fast path is off for good; the full path works. */
	assert_int_equal(cb_rsv_hold_fast(&f->r, P, &b), 1);
	assert_int_equal(hold(f, &b), 0);
	assert_int_equal(cb_rsv_release_fast(&f->r, &b), 1);
	assert_int_equal(cb_rsv_release(&f->r, &b), 0);
	assert_int_equal(held(f, P), 0);
}

/*
 * The revoker waits for the owner to leave its fast path: the owner is
 * held inside its own release (after consuming the ticket, before the
 * counter's CAS) while another thread releases the same ticket.  The
 * second release must not complete while the owner is inside, and
 * ends -ESTALE; the unit is given back once.  Without the wait (or
 * with a revoker that does not look at `active`), the second release
 * finds the entry as the owner left it in its store buffer or in
 * memory: here in memory, so this catches the missing wait, the
 * store-buffer half is tests/model/revoke.pml's.
 */
struct own {
	struct fx *f;
	cb_ticket t;
	int ret;
};

static void *owner_releases(void *arg)
{
	struct own *o = arg;

	assert_int_equal(hold(o->f, &o->t), 0);
	hold_me = 1;
	o->ret = cb_rsv_release(&o->f->r, &o->t);
	hold_me = 0;
	return NULL;
}

static void test_revoker_waits_for_owner(void **state)
{
	struct fx *f = *state;
	struct own o = { .f = f };
	struct rel x = { .f = f };
	pthread_t th, th2;
	struct timespec ms = { 0, 50 * 1000 * 1000 };

	assert_int_equal(hold_start(&th, "reserve:release-in-window",
	    owner_releases, &o), 0);
	x.t = o.t;
	assert_int_equal(pthread_create(&th2, NULL, release_in_thread, &x), 0);
	nanosleep(&ms, NULL);
	/* Still waiting for the owner (it cannot be done: the owner is
	 * inside its fast path, active). */
	assert_int_equal(atomic_load(&x.done), 0);
	/* Let the owner go; disarm only once the second releaser, which
	 * passes pause points too, is done. */
	hold_release();
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(pthread_join(th2, NULL), 0);
	hold_disarm();
	assert_int_equal(o.ret, 0);
	assert_int_equal(x.ret, -ESTALE);
	assert_int_equal(held(f, P), 0);
}

/* A revoker held after its membarrier, before it looks at `active`:
 * the owner, starting a new hold, sees revoke and stays off its fast
 * path; once the revoker is done, the owner's holds go through the
 * lane's mutex. */
static void test_owner_defers_to_revoker(void **state)
{
	struct fx *f = *state;
	struct rel x = { .f = f };
	pthread_t th;
	cb_ticket b;

	/* The owner is this thread: its lane has the ticket. */
	assert_int_equal(hold(f, &x.t), 0);
	assert_int_equal(hold_start(&th, "reserve:lane-revoking",
	    release_in_thread, &x), 0);
	assert_int_equal(cb_rsv_hold_fast(&f->r, P, &b), 1);
	assert_int_equal(held(f, P), 1);
	assert_int_equal(hold_finish(th), 0);
	assert_int_equal(x.ret, 0);
	assert_int_equal(hold(f, &b), 0);
	assert_int_equal(held(f, P), 1);
	assert_int_equal(cb_rsv_release(&f->r, &b), 0);
	assert_int_equal(held(f, P), 0);
}

/* A thread that exited leaves its lane (and holds) to the handle: the
 * next thread that holds takes that lane over instead of claiming
 * another, and releases the exited thread's ticket as its owner, on
 * the fast path. */
struct heir {
	struct fx *f;
	cb_ticket old;
	int got, fast, rel;
};

static void *heir_holds(void *arg)
{
	struct heir *h = arg;
	cb_ticket mine;

	h->got = hold(h->f, &mine);
	h->fast = cb_rsv_release_fast(&h->f->r, &h->old);
	h->rel = cb_rsv_release(&h->f->r, &mine);
	return NULL;
}

static void test_exited_thread_lane_reused(void **state)
{
	struct fx *f = *state;
	struct heir h = { .f = f };
	pthread_t th;
	cb_ticket *t;
	uint32_t rec;

	assert_int_equal(pthread_create(&th, NULL, hold_in_thread, f), 0);
	assert_int_equal(pthread_join(th, (void **)&t), 0);
	h.old = *t;
	assert_int_equal(lanes_of(f, &rec), 1);
	assert_int_equal(pthread_create(&th, NULL, heir_holds, &h), 0);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(h.got, 0);
	assert_int_equal(h.fast, 0);          /* owner of the old lane */
	assert_int_equal(h.rel, 0);
	assert_int_equal(lanes_of(f, &rec), 1);
	assert_int_equal(rec, 0);
	assert_int_equal(held(f, P), 0);
}

/* A thread that works with two handles keeps a lane of each cached:
 * after one bind each, holds and releases of both stay on the fast
 * path, alternating, and no further lane is claimed. */
static void test_two_handles_one_thread(void **state)
{
	struct fx *f = *state;
	struct cb_rsv r2;
	uint32_t rec;
	cb_ticket a, b;

	seg_rsv_open(&r2, f->state, f->slots, getpid() + 1, START,
	    LOCAL_SIZE);
	assert_int_equal(cb_rsv_lanes_init(&r2, ++serials), 0);
	/* First use of each binds (the full path). */
	assert_int_equal(cb_rsv_try(&f->r, P, CB_HOLD, 0, &a), 0);
	assert_int_equal(cb_rsv_try(&r2, P, CB_HOLD, 0, &b), 0);
	assert_int_equal(cb_rsv_release(&f->r, &a), 0);
	assert_int_equal(cb_rsv_release(&r2, &b), 0);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(cb_rsv_hold_fast(&f->r, P, &a), 0);
		assert_int_equal(cb_rsv_hold_fast(&r2, P, &b), 0);
		assert_int_equal(cb_rsv_release_fast(&f->r, &a), 0);
		assert_int_equal(cb_rsv_release_fast(&r2, &b), 0);
	}
	assert_int_equal(lanes_of(f, &rec), 1);
	assert_int_equal(held(f, P), 0);
	cb_rsv_lanes_close(&r2);
	free((void *)r2.local);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_hold_recorded_in_lane),
		T(test_limit_through_lane),
		T(test_lane_ticket_exact),
		T(test_forged_lane_window),
		T(test_recount_lane_admitted_unrecorded),
		T(test_reclaim_lanes),
		T(test_scrub_orphan_lane),
		T(test_pool_idle_sees_lanes),
		T(test_lanes_close),
		T(test_foreign_release),
		T(test_revoker_waits_for_owner),
		T(test_owner_defers_to_revoker),
		T(test_exited_thread_lane_reused),
		T(test_two_handles_one_thread),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
