/*
 * test_reserve.c - the cross-process reservation protocol
 * (lib/reserve.c, design in lib/reserve.h).
 *
 * A state segment and a slots segment are built in memory exactly as
 * the broker builds them (cb_layout_init, cb_seg_header_init,
 * cb_seg_header_publish); the broker's side of a pool (limit, observed,
 * definition window) is written the way the publisher writes it.  The
 * death window is reproduced by doing a killed client's steps by hand
 * on the shared words.  The last tests fork real processes on a
 * MAP_SHARED mapping and kill some of them with SIGKILL mid-loop.
 * Nothing here touches /dev/shm.
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
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "abi.h"
#include "futex.h"
#include "reserve.h"
#include "segment.h"
#include "seqlock.h"
#include "slots.h"
#include "state_word.h"
#include "sweep.h"

#define NAME "rsv"
#define INSTANCE 0x0badc0ffee000001ull

#include "segfix.h"	/* after NAME and INSTANCE */

#define START 4242ull          /* the owner's /proc starttime, any value */
#define LOCAL_SIZE 64u         /* private hold table, a power of two */
#define P 1                    /* the pool most tests use */

struct fx {
	void *state;
	void *slots;
	size_t state_size, slots_size;
	void *map;                 /* MAP_SHARED tests: one mapping */
	size_t map_size;
	struct cb_rsv r;           /* a claimed client */
	struct cb_rsv r2;          /* a second one, claimed on demand */
	struct cb_sweep_scratch sweep;  /* the recounts' (sweep.h) */
};

/* ---- building the segments ------------------------------------------ */

static struct cb_pool_slot *pslot(struct fx *f, int pool)
{
	return cb_slots_pool(f->slots, pool);
}

static struct cb_client_slot *cslot(struct fx *f, uint32_t i)
{
	return cb_slots_client(f->slots, i);
}

static struct cb_launch_slot *lslot(struct fx *f, uint32_t e)
{
	return cb_slots_launch(f->slots, e);
}

static uint32_t nlaunch(struct fx *f)
{
	const struct cb_seg_header *h = f->slots;

	return h->region[CB_RL_LAUNCHES].count;
}

static uint32_t nclient(struct fx *f)
{
	const struct cb_seg_header *h = f->slots;

	return h->region[CB_RL_CLIENTS].count;
}

/* The publisher's side of pool p > 0: definition (seqlock), limit and
 * observed (release stores). */
static void pool_define(struct fx *f, int pool, uint32_t limit,
    uint32_t window_ms, uint32_t observed)
{
	seg_pool_define(f->state, pool, limit, window_ms, observed);
}

static void rsv_open(struct fx *f, struct cb_rsv *r, pid_t pid,
    uint32_t local_size)
{
	seg_rsv_open(r, f->state, f->slots, pid, START, local_size);
}

static void rsv_close(struct cb_rsv *r)
{
	free((void *)r->local);
	r->local = NULL;
}

static void fx_segments(struct fx *f, void *state, void *slots)
{
	f->state = state;
	f->slots = slots;
	seg_init(f->state, CB_SEG_STATE);
	seg_init(f->slots, CB_SEG_SLOTS);
	pool_define(f, 0, 8, 0, 0);
	pool_define(f, P, 5, 2000, 0);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->state_size = seg_size(CB_SEG_STATE);
	f->slots_size = seg_size(CB_SEG_SLOTS);
	fx_segments(f, aligned_alloc(4096, f->state_size),
	    aligned_alloc(4096, f->slots_size));
	rsv_open(f, &f->r, getpid(), LOCAL_SIZE);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	rsv_close(&f->r);
	rsv_close(&f->r2);
	free(f->state);
	free(f->slots);
	free(f);
	return 0;
}

/* Both segments in one anonymous MAP_SHARED mapping (fork tests). */
static int setup_shared(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char *m;

	assert_non_null(f);
	f->state_size = seg_size(CB_SEG_STATE);
	f->slots_size = seg_size(CB_SEG_SLOTS);
	f->map_size = f->state_size + f->slots_size + 4096;
	m = mmap(NULL, f->map_size, PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(m != MAP_FAILED);
	f->map = m;
	/* state_size is whole pages (the layout rounds to them), but do
	 * not rely on it: keep the slots segment page aligned. */
	fx_segments(f, m, m + ((f->state_size + 4095) & ~(size_t)4095));
	*state = f;
	return 0;
}

static int teardown_shared(void **state)
{
	struct fx *f = *state;

	munmap(f->map, f->map_size);
	free(f);
	return 0;
}

/* ---- reading the words ------------------------------------------------ */

static uint64_t usage(struct fx *f, int pool)
{
	return atomic_load(&pslot(f, pool)->usage);
}

static uint32_t held(struct fx *f, int pool)
{
	return CB_USAGE_HELD(usage(f, pool));
}

static uint32_t launching(struct fx *f, int pool)
{
	return CB_USAGE_LAUNCHING(usage(f, pool));
}

static uint32_t holds(struct fx *f, uint32_t client, int pool)
{
	return atomic_load(&cslot(f, client)->holds[pool]);
}

static void set_usage(struct fx *f, int pool, uint32_t h, uint32_t l)
{
	atomic_store(&pslot(f, pool)->usage, CB_USAGE(h, l));
}

/* How far a launch deadline may come out early in these tests: a
 * coarse-clock tick stalled past its margin (lib/clock.h) on a loaded
 * VM; a deadline computed wrongly is off by the window or by units. */
#define COARSE_STALL_NS 1000000000ull

static uint32_t ticket_index(const cb_ticket *t)
{
	return (uint32_t)(t->opaque[0] >> 32);
}

static int hold(struct fx *f, cb_ticket *t)
{
	return cb_rsv_try(&f->r, P, CB_HOLD, 0, t);
}

/* ---- client entries --------------------------------------------------- */

static void test_claim_distinct_and_owner(void **state)
{
	struct fx *f = *state;
	uint32_t i1, i2, i3;
	uint64_t o1, o2, o3;

	/* setup claimed one entry for getpid(); the same pid again gets
	 * another entry (one per cb_open, not per pid). */
	assert_int_equal(cb_rsv_claim(f->slots, 777, 11, &i1, &o1), 0);
	assert_int_equal(cb_rsv_claim(f->slots, 777, 12, &i2, &o2), 0);
	assert_int_equal(cb_rsv_claim(f->slots, 778, 13, &i3, &o3), 0);
	assert_int_not_equal(i1, i2);
	assert_int_not_equal(i1, i3);
	assert_int_not_equal(i2, i3);
	assert_int_not_equal(i1, f->r.client);
	assert_int_not_equal(i2, f->r.client);
	assert_int_not_equal(i3, f->r.client);
	assert_true(i1 < nclient(f) && i2 < nclient(f) && i3 < nclient(f));

	/* Fresh entries had generation 0: now pid and generation 1. */
	assert_int_equal(CB_OWNER_PID(o1), 777);
	assert_int_equal(CB_OWNER_GEN(o1), 1);
	assert_int_equal(CB_OWNER_PID(o3), 778);
	assert_true(atomic_load(&cslot(f, i1)->owner) == o1);
	assert_true(atomic_load(&cslot(f, i2)->owner) == o2);
	assert_true(atomic_load(&cslot(f, i1)->start) == 11);
	assert_true(atomic_load(&cslot(f, i2)->start) == 12);
	assert_true(f->r.owner == atomic_load(&cslot(f, f->r.client)->owner));
	assert_int_equal(CB_OWNER_PID(f->r.owner), (uint32_t)getpid());

	/* Unclaim: pid 0, generation kept, start cleared. */
	cb_rsv_unclaim(f->slots, i1, o1);
	assert_true(atomic_load(&cslot(f, i1)->owner) == CB_OWNER(1, 0));
	assert_true(atomic_load(&cslot(f, i1)->start) == 0);
	/* An unclaim with a stale owner word frees nothing. */
	cb_rsv_unclaim(f->slots, i2, CB_OWNER(7, 777));
	assert_true(atomic_load(&cslot(f, i2)->owner) == o2);

	/* The freed entry is claimed again (pid 777 probes from the same
	 * place) with the generation bumped past the old owner's. */
	assert_int_equal(cb_rsv_claim(f->slots, 777, 14, &i3, &o3), 0);
	assert_int_equal(i3, i1);
	assert_int_equal(CB_OWNER_GEN(o3), 2);
	assert_int_equal(CB_OWNER_PID(o3), 777);
}

static void test_claim_clears_garbage(void **state)
{
	struct fx *f = *state;
	uint32_t i;
	uint64_t o;

	/* A free entry with hostile leftovers: holds and an open window.
	 * A pid equal to the free index probes it first. */
	uint32_t want = (f->r.client + 1) % nclient(f);

	assert_int_equal(CB_OWNER_PID(atomic_load(&cslot(f, want)->owner)),
	    0);
	i = want;
	atomic_store(&cslot(f, i)->holds[P], 1000);
	atomic_store(&cslot(f, i)->seq, 0x1205);
	assert_int_equal(cb_rsv_claim(f->slots, (pid_t)want + 1024, 1, &i,
	    &o), 0);
	assert_int_equal(i, want);
	assert_int_equal(holds(f, i, P), 0);
	assert_int_equal(CB_SEQ_INFLIGHT(atomic_load(&cslot(f, i)->seq)), 0);
	/* The version moved on (a snapshot spanning the claim sees it). */
	assert_true(atomic_load(&cslot(f, i)->seq) > 0x1205);
}

/* The broker's scrub of a free entry clears its garbage, and leaves it
 * free (the generation moved on: the broker held it meanwhile). */
static void test_scrub_free_entry(void **state)
{
	struct fx *f = *state;
	uint32_t i = (f->r.client + 1) % nclient(f);
	uint64_t seen = atomic_load(&cslot(f, i)->owner);

	assert_int_equal(CB_OWNER_PID(seen), 0);
	/* Clean: nothing to do, the entry is not touched. */
	assert_int_equal(cb_rsv_scrub(f->slots, i, seen, 4242), 0);
	assert_true(atomic_load(&cslot(f, i)->owner) == seen);

	atomic_store(&cslot(f, i)->holds[P], 1000);
	atomic_store(&cslot(f, i)->admitted[P], 7);
	atomic_store(&cslot(f, i)->seq, 0x1205);
	assert_int_equal(cb_rsv_scrub(f->slots, i, seen, 4242), 1);
	assert_int_equal(holds(f, i, P), 0);
	assert_int_equal(atomic_load(&cslot(f, i)->admitted[P]), 0);
	assert_int_equal(CB_SEQ_INFLIGHT(atomic_load(&cslot(f, i)->seq)), 0);
	assert_true(atomic_load(&cslot(f, i)->owner) ==
	    CB_OWNER(CB_OWNER_GEN(seen) + 1, 0));
	/* Unflushed admissions alone are cleared but are not reported. */
	seen = atomic_load(&cslot(f, i)->owner);
	atomic_store(&cslot(f, i)->admitted[P], 3);
	assert_int_equal(cb_rsv_scrub(f->slots, i, seen, 4242), 0);
	assert_int_equal(atomic_load(&cslot(f, i)->admitted[P]), 0);
	/* An owned entry, or an index past the table, is never scrubbed. */
	atomic_store(&cslot(f, f->r.client)->holds[P], 5);
	assert_int_equal(cb_rsv_scrub(f->slots, f->r.client, f->r.owner,
	    4242), 0);
	assert_int_equal(holds(f, f->r.client, P), 5);
	assert_int_equal(cb_rsv_scrub(f->slots, nclient(f), 0, 4242), 0);
	atomic_store(&cslot(f, f->r.client)->holds[P], 0);
}

/*
 * The race the scrub must lose: the sweeper saw entry i free, then a
 * client claimed it and took a hold before the scrub ran.  The scrub
 * (given the stale observation) must leave the hold alone: zeroing it
 * would let the recount trim the pool's counter below the holds really
 * held, and the pool would admit past its limit.
 */
static void test_scrub_loses_to_a_claim(void **state)
{
	struct fx *f = *state;
	uint32_t want = (f->r.client + 1) % nclient(f);
	uint64_t seen = atomic_load(&cslot(f, want)->owner);
	struct cb_rsv r2;
	cb_ticket t;
	int64_t hd, ld;

	atomic_store(&cslot(f, want)->holds[P], 9);   /* garbage, seen */
	seg_rsv_open(&r2, f->state, f->slots, (pid_t)want + 1024, 1, 16);
	assert_int_equal(r2.client, want);
	assert_int_equal(cb_rsv_try(&r2, P, CB_HOLD, 0, &t), 0);
	assert_int_equal(holds(f, want, P), 1);

	assert_int_equal(cb_rsv_scrub(f->slots, want, seen, 4242), 0);
	assert_int_equal(holds(f, want, P), 1);
	assert_true(atomic_load(&cslot(f, want)->owner) == r2.owner);
	/* The recount agrees with the pool: nothing to correct. */
	assert_int_equal(cb_rsv_recount(f->slots, P, &f->sweep, &hd, &ld), 0);
	assert_int_equal(held(f, P), 1);
	assert_int_equal(cb_rsv_release(&r2, &t), 0);
	assert_int_equal(held(f, P), 0);
	free(r2.local);
}

static void test_claim_table_full(void **state)
{
	struct fx *f = *state;
	uint32_t n = nclient(f), i, last = 0;
	uint64_t o, last_owner = 0;

	/* One entry is taken by setup. */
	for (uint32_t k = 1; k < n; k++) {
		assert_int_equal(cb_rsv_claim(f->slots, (pid_t)(1000 + k), 1,
		    &i, &o), 0);
		last = i;
		last_owner = o;
	}
	for (uint32_t k = 0; k < n; k++)
		assert_int_not_equal(CB_OWNER_PID(atomic_load(
		    &cslot(f, k)->owner)), 0);
	assert_int_equal(cb_rsv_claim(f->slots, 5, 1, &i, &o), -ENOSPC);
	cb_rsv_unclaim(f->slots, last, last_owner);
	assert_int_equal(cb_rsv_claim(f->slots, 5, 1, &i, &o), 0);
	assert_int_equal(i, last);
	assert_int_equal(cb_rsv_claim(f->slots, 6, 1, &i, &o), -ENOSPC);
}

/* ---- holds ------------------------------------------------------------ */

static void test_limit_sources(void **state)
{
	struct fx *f = *state;

	assert_int_equal(cb_rsv_limit(f->state, 0), 8);
	assert_int_equal(cb_rsv_limit(f->state, P), 5);
	pool_define(f, 0, 65535, 0, 0);
	assert_int_equal(cb_rsv_limit(f->state, 0), 65535);
	pool_define(f, 2, 17, 0, 0);
	assert_int_equal(cb_rsv_limit(f->state, 2), 17);
}

/*
 * Admissions are counted per client and moved to the pool's statistic
 * in batches of CB_ADMITTED_BATCH (abi.h): the pool's counter only
 * grows, and every admission reaches it, through the batch, cb_close
 * (unclaim) or the broker's reclaim.
 */
static void test_admitted_batches(void **state)
{
	struct fx *f = *state;
	uint32_t c = f->r.client;
	cb_ticket t;

	for (int i = 0; i < CB_ADMITTED_BATCH + 3; i++) {
		assert_int_equal(hold(f, &t), 0);
		assert_int_equal(cb_rsv_release(&f->r, &t), 0);
		uint64_t pool_count = atomic_load(&pslot(f, P)->admitted);
		uint32_t mine = atomic_load(&cslot(f, c)->admitted[P]);

		assert_true(pool_count + mine == (uint64_t)i + 1);
		assert_true(pool_count == (i + 1 < CB_ADMITTED_BATCH ? 0 :
		    CB_ADMITTED_BATCH));
	}
	cb_rsv_flush_admitted(f->slots, c);
	assert_true(atomic_load(&pslot(f, P)->admitted) ==
	    CB_ADMITTED_BATCH + 3);
	assert_int_equal(atomic_load(&cslot(f, c)->admitted[P]), 0);
	/* The reclaim moves what is left, once. */
	assert_int_equal(hold(f, &t), 0);
	uint32_t per_pool[CB_MAX_POOLS] = { 0 };
	assert_true(cb_rsv_reclaim(f->slots, c, f->r.owner, per_pool) == 1);
	assert_true(atomic_load(&pslot(f, P)->admitted) ==
	    CB_ADMITTED_BATCH + 4);
	assert_int_equal(atomic_load(&cslot(f, c)->admitted[P]), 0);
}

static void test_hold_up_to_limit(void **state)
{
	struct fx *f = *state;
	cb_ticket t[6];
	uint32_t c = f->r.client;

	for (int i = 0; i < 5; i++) {
		assert_int_equal(hold(f, &t[i]), 0);
		assert_int_equal(held(f, P), (uint32_t)i + 1);
		assert_int_equal(holds(f, c, P), (uint32_t)i + 1);
	}
	assert_int_equal(hold(f, &t[5]), -EAGAIN);
	assert_int_equal(held(f, P), 5);
	assert_int_equal(holds(f, c, P), 5);
	assert_int_equal(launching(f, P), 0);
	/* Counted in the client's own batch, not yet in the pool's. */
	assert_int_equal(atomic_load(&cslot(f, c)->admitted[P]), 5);
	assert_true(atomic_load(&pslot(f, P)->admitted) == 0);
	/* Nothing leaked into other pools. */
	assert_true(usage(f, 0) == 0);
	assert_int_equal(holds(f, c, 0), 0);
	/* Every death window was closed: in-flight back to 0. */
	assert_int_equal(CB_SEQ_INFLIGHT(atomic_load(&cslot(f, c)->seq)), 0);

	/* A release frees exactly one unit, and it can be taken again. */
	assert_int_equal(cb_rsv_release(&f->r, &t[2]), 0);
	assert_int_equal(held(f, P), 4);
	assert_int_equal(holds(f, c, P), 4);
	assert_int_equal(hold(f, &t[2]), 0);
	assert_int_equal(hold(f, &t[5]), -EAGAIN);
	for (int i = 0; i < 5; i++)
		assert_int_equal(cb_rsv_release(&f->r, &t[i]), 0);
	assert_true(usage(f, P) == 0);
	assert_int_equal(holds(f, c, P), 0);
	assert_true(atomic_load(&pslot(f, P)->stale_releases) == 0);

	/* Pool 0 takes its limit from the state word's capacity. */
	for (int i = 0; i < 8; i++)
		assert_int_equal(cb_rsv_try(&f->r, 0, CB_HOLD, 0, &t[0]), 0);
	assert_int_equal(cb_rsv_try(&f->r, 0, CB_HOLD, 0, &t[0]), -EAGAIN);
	assert_int_equal(held(f, 0), 8);
	/* A capacity drop admits nothing new. */
	pool_define(f, 0, 2, 0, 0);
	assert_int_equal(cb_rsv_try(&f->r, 0, CB_HOLD, 0, &t[0]), -EAGAIN);
}

static void test_hold_limit_zero_and_raise(void **state)
{
	struct fx *f = *state;
	cb_ticket t;

	pool_define(f, P, 0, 2000, 0);
	assert_int_equal(hold(f, &t), -EAGAIN);
	assert_true(usage(f, P) == 0);
	pool_define(f, P, 1, 2000, 0);
	assert_int_equal(hold(f, &t), 0);
	assert_int_equal(hold(f, &t), -EAGAIN);
}

static void test_hold_double_release(void **state)
{
	struct fx *f = *state;
	cb_ticket a, b, a_copy;
	uint32_t c = f->r.client;

	assert_int_equal(hold(f, &a), 0);
	a_copy = a;
	assert_int_equal(hold(f, &b), 0);
	assert_int_equal(cb_rsv_release(&f->r, &a), 0);
	assert_int_equal(held(f, P), 1);

	assert_int_equal(cb_rsv_release(&f->r, &a_copy), -ESTALE);
	assert_true(atomic_load(&pslot(f, P)->stale_releases) == 1);
	/* b is untouched. */
	assert_int_equal(held(f, P), 1);
	assert_int_equal(holds(f, c, P), 1);
	assert_int_equal(cb_rsv_release(&f->r, &a_copy), -ESTALE);
	assert_true(atomic_load(&pslot(f, P)->stale_releases) == 2);
	assert_int_equal(held(f, P), 1);

	assert_int_equal(cb_rsv_release(&f->r, &b), 0);
	assert_true(usage(f, P) == 0);
	assert_int_equal(holds(f, c, P), 0);
	assert_int_equal(cb_rsv_release(&f->r, &b), -ESTALE);
	assert_true(atomic_load(&pslot(f, P)->stale_releases) == 3);
	assert_true(usage(f, P) == 0);
}

/* A stale ticket whose private slot was reused by a newer hold must not
 * release the newer hold: a one-entry table forces the reuse. */
static void test_hold_stale_ticket_same_slot(void **state)
{
	struct fx *f = *state;
	cb_ticket a, b, extra;

	rsv_close(&f->r);
	f->r.local = calloc(1, sizeof(*f->r.local));
	assert_non_null(f->r.local);
	f->r.local_size = 1;

	assert_int_equal(hold(f, &a), 0);
	/* The one private slot is busy: no second hold, and no unit taken. */
	assert_int_equal(hold(f, &extra), -ENOSPC);
	assert_int_equal(held(f, P), 1);
	assert_int_equal(cb_rsv_release(&f->r, &a), 0);
	assert_int_equal(hold(f, &b), 0);
	assert_int_equal(ticket_index(&a), ticket_index(&b));
	assert_int_equal(cb_rsv_release(&f->r, &a), -ESTALE);
	assert_int_equal(held(f, P), 1);
	assert_int_equal(holds(f, f->r.client, P), 1);
	assert_int_equal(cb_rsv_release(&f->r, &b), 0);
	assert_true(usage(f, P) == 0);
}

/*
 * Issue 12: a hold ticket's private record kept the nonce but not the
 * pool, so the same ticket with its pool field changed released a hold
 * this process had in that other pool, and left the real one recorded
 * with no way to release it.  The record names the pool now.
 */
static void test_hold_ticket_other_pool(void **state)
{
	struct fx *f = *state;
	cb_ticket a, other, forged;

	assert_int_equal(hold(f, &a), 0);                    /* pool P */
	assert_int_equal(cb_rsv_try(&f->r, 0, CB_HOLD, 0, &other), 0);
	forged = a;
	forged.opaque[0] = (forged.opaque[0] & ~(uint64_t)0xff00) |
	    (uint64_t)0 << 8;                                  /* pool 0 */
	assert_int_equal(cb_rsv_release(&f->r, &forged), -ESTALE);
	assert_int_equal(holds(f, f->r.client, 0), 1);
	assert_int_equal(held(f, 0), 1);
	assert_int_equal(holds(f, f->r.client, P), 1);
	/* Both real tickets still release, once. */
	assert_int_equal(cb_rsv_release(&f->r, &a), 0);
	assert_int_equal(cb_rsv_release(&f->r, &other), 0);
	assert_int_equal(held(f, 0), 0);
	assert_int_equal(held(f, P), 0);
}

static void test_hold_foreign_ticket(void **state)
{
	struct fx *f = *state;
	cb_ticket a, forged;

	assert_int_equal(hold(f, &a), 0);

	/* Another client's index in the ticket. */
	forged = a;
	forged.opaque[0] ^= (uint64_t)1 << 16;
	assert_int_equal(cb_rsv_release(&f->r, &forged), -EINVAL);
	/* A pool beyond the table. */
	forged = a;
	forged.opaque[0] = (forged.opaque[0] & ~(uint64_t)0xff00) |
	    (uint64_t)CB_MAX_POOLS << 8;
	assert_int_equal(cb_rsv_release(&f->r, &forged), -EINVAL);
	/* A private index beyond the table. */
	forged = a;
	forged.opaque[0] = (forged.opaque[0] & 0xffffffffu) |
	    (uint64_t)LOCAL_SIZE << 32;
	assert_int_equal(cb_rsv_release(&f->r, &forged), -EINVAL);
	/* An unknown kind. */
	forged = a;
	forged.opaque[0] = (forged.opaque[0] & ~(uint64_t)0xff) | 7;
	assert_int_equal(cb_rsv_release(&f->r, &forged), -EINVAL);

	/* None of them released anything. */
	assert_int_equal(held(f, P), 1);
	assert_int_equal(holds(f, f->r.client, P), 1);
	assert_int_equal(cb_rsv_release(&f->r, &a), 0);
	assert_true(usage(f, P) == 0);
}

static void test_hold_release_all(void **state)
{
	struct fx *f = *state;
	cb_ticket t[3];

	assert_int_equal(hold(f, &t[0]), 0);
	assert_int_equal(hold(f, &t[1]), 0);
	assert_int_equal(cb_rsv_try(&f->r, 0, CB_HOLD, 0, &t[2]), 0);
	cb_rsv_release_all(&f->r);
	assert_true(usage(f, P) == 0);
	assert_true(usage(f, 0) == 0);
	assert_int_equal(holds(f, f->r.client, P), 0);
	assert_int_equal(holds(f, f->r.client, 0), 0);
	/* Their tickets are dead now. */
	assert_int_equal(cb_rsv_release(&f->r, &t[0]), -ESTALE);
	assert_true(usage(f, P) == 0);
}

/* ---- launches --------------------------------------------------------- */

static void test_launch_admission_observed(void **state)
{
	struct fx *f = *state;
	cb_ticket t[3];

	/* limit 5; the published observation 3 counts even when the
	 * caller sees nothing. */
	pool_define(f, P, 5, 2000, 3);
	assert_int_equal(cb_rsv_try(&f->r, P, CB_LAUNCH, 0, &t[0]), 0);
	assert_int_equal(cb_rsv_try(&f->r, P, CB_LAUNCH, 0, &t[1]), 0);
	assert_int_equal(cb_rsv_try(&f->r, P, CB_LAUNCH, 0, &t[2]), -EAGAIN);
	assert_int_equal(launching(f, P), 2);
	assert_int_equal(held(f, P), 0);
	assert_int_equal(cb_rsv_release(&f->r, &t[0]), 0);
	assert_int_equal(cb_rsv_release(&f->r, &t[1]), 0);
	assert_true(usage(f, P) == 0);

	/* The caller's own observation counts when it is the larger. */
	pool_define(f, P, 5, 2000, 1);
	assert_int_equal(cb_rsv_try(&f->r, P, CB_LAUNCH, 3, &t[0]), 0);
	assert_int_equal(cb_rsv_try(&f->r, P, CB_LAUNCH, 3, &t[1]), 0);
	assert_int_equal(cb_rsv_try(&f->r, P, CB_LAUNCH, 3, &t[2]), -EAGAIN);
	assert_int_equal(launching(f, P), 2);
	assert_int_equal(cb_rsv_release(&f->r, &t[0]), 0);
	assert_int_equal(cb_rsv_release(&f->r, &t[1]), 0);

	/* Holds count against launches too: observed 3 + 1 held + 1. */
	pool_define(f, P, 5, 2000, 3);
	assert_int_equal(hold(f, &t[0]), 0);
	assert_int_equal(cb_rsv_try(&f->r, P, CB_LAUNCH, 0, &t[1]), 0);
	assert_int_equal(cb_rsv_try(&f->r, P, CB_LAUNCH, 0, &t[2]), -EAGAIN);
	/* An observation at the limit admits no launch at all. */
	assert_int_equal(cb_rsv_release(&f->r, &t[1]), 0);
	assert_int_equal(cb_rsv_release(&f->r, &t[0]), 0);
	assert_int_equal(cb_rsv_try(&f->r, P, CB_LAUNCH, 5, &t[0]), -EAGAIN);
	assert_int_equal(cb_rsv_try(&f->r, P, CB_LAUNCH, 0xffffffffu, &t[0]),
	    -EAGAIN);
	assert_true(usage(f, P) == 0);
}

static void test_launch_entry_live_and_release(void **state)
{
	struct fx *f = *state;
	cb_ticket t, copy;
	struct cb_launch_slot *ls;
	uint64_t before, after, w, d;
	uint32_t e;

	before = cb_monotonic_ns();
	assert_int_equal(cb_rsv_try(&f->r, P, CB_LAUNCH, 0, &t), 0);
	after = cb_monotonic_ns();
	e = ticket_index(&t);
	assert_true(e < nlaunch(f));
	ls = lslot(f, e);
	w = atomic_load(&ls->word);
	assert_true(w == t.opaque[1]);
	assert_int_equal(CB_LAUNCH_STATE(w), CB_LAUNCH_LIVE);
	assert_int_equal(CB_LAUNCH_POOL(w), P);
	assert_int_equal(CB_LAUNCH_CLIENT(w), f->r.client & 0x3ff);
	assert_true(CB_LAUNCH_NONCE(w) == 1);
	/* deadline = now + the pool's 2000 ms window, read from the
	 * coarse clock with its margin (lib/clock.h): late by at most the
	 * margin; early only by a tick that lags more than the margin (a
	 * stalled VM), allowed here up to COARSE_STALL_NS. */
	d = atomic_load(&ls->deadline_ns);
	assert_true(d + COARSE_STALL_NS >= before + 2000000000ull);
	assert_true(d <= after + 2000000000ull +
	    cb_monotonic_coarse_margin_ns());
	assert_int_equal(launching(f, P), 1);
	assert_int_equal(held(f, P), 0);
	/* A launch is not a hold: the client records none. */
	assert_int_equal(holds(f, f->r.client, P), 0);

	copy = t;
	assert_int_equal(cb_rsv_release(&f->r, &t), 0);
	w = atomic_load(&ls->word);
	assert_int_equal(CB_LAUNCH_STATE(w), CB_LAUNCH_FREE);
	assert_true(CB_LAUNCH_NONCE(w) == 1);   /* nonce kept */
	assert_true(usage(f, P) == 0);
	assert_int_equal(cb_rsv_release(&f->r, &copy), -ESTALE);
	assert_true(atomic_load(&pslot(f, P)->stale_releases) == 1);
	assert_true(usage(f, P) == 0);
	assert_int_equal(CB_LAUNCH_STATE(atomic_load(&ls->word)),
	    CB_LAUNCH_FREE);
}

static void test_launch_default_window(void **state)
{
	struct fx *f = *state;
	cb_ticket t;
	uint64_t before, d;

	/* window 0 in the definition: the documented default, 60 s. */
	pool_define(f, P, 5, 0, 0);
	before = cb_monotonic_ns();
	assert_int_equal(cb_rsv_try(&f->r, P, CB_LAUNCH, 0, &t), 0);
	d = atomic_load(&lslot(f, ticket_index(&t))->deadline_ns);
	assert_true(d + COARSE_STALL_NS >= before + 60000000000ull);
	assert_true(d <= cb_monotonic_ns() + 60000000000ull +
	    cb_monotonic_coarse_margin_ns());
}

/* A stale ticket whose entry was reused by a newer launch must not
 * release the newer launch (the nonce differs). */
static void test_launch_stale_ticket_reused_entry(void **state)
{
	struct fx *f = *state;
	cb_ticket a, b, forged;
	uint32_t e;

	assert_int_equal(cb_rsv_try(&f->r, P, CB_LAUNCH, 0, &a), 0);
	e = ticket_index(&a);
	assert_int_equal(cb_rsv_release(&f->r, &a), 0);
	/* Make every other entry busy so the next launch reuses e. */
	for (uint32_t k = 0; k < nlaunch(f); k++)
		if (k != e)
			atomic_store(&lslot(f, k)->word, CB_LAUNCH_WORD(
			    CB_LAUNCH_LIVE, 7, 0, 1));
	assert_int_equal(cb_rsv_try(&f->r, P, CB_LAUNCH, 0, &b), 0);
	assert_int_equal(ticket_index(&b), e);
	assert_true(CB_LAUNCH_NONCE(b.opaque[1]) ==
	    CB_LAUNCH_NONCE(a.opaque[1]) + 1);
	assert_int_equal(cb_rsv_release(&f->r, &a), -ESTALE);
	assert_int_equal(launching(f, P), 1);
	assert_int_equal(CB_LAUNCH_STATE(atomic_load(&lslot(f, e)->word)),
	    CB_LAUNCH_LIVE);

	/* A ticket whose word is not LIVE, or names another pool. */
	forged = b;
	forged.opaque[1] = CB_LAUNCH_WORD(CB_LAUNCH_CLAIMING, P,
	    CB_LAUNCH_CLIENT(b.opaque[1]), CB_LAUNCH_NONCE(b.opaque[1]));
	assert_int_equal(cb_rsv_release(&f->r, &forged), -EINVAL);
	forged = b;
	forged.opaque[1] = CB_LAUNCH_WORD(CB_LAUNCH_LIVE, 2,
	    CB_LAUNCH_CLIENT(b.opaque[1]), CB_LAUNCH_NONCE(b.opaque[1]));
	assert_int_equal(cb_rsv_release(&f->r, &forged), -EINVAL);
	/* An entry index beyond the table. */
	forged = b;
	forged.opaque[0] = (forged.opaque[0] & 0xffffffffu) |
	    (uint64_t)nlaunch(f) << 32;
	assert_int_equal(cb_rsv_release(&f->r, &forged), -EINVAL);
	assert_int_equal(launching(f, P), 1);

	assert_int_equal(cb_rsv_release(&f->r, &b), 0);
	assert_int_equal(launching(f, P), 0);
}

/* Any process holding the ticket may release a launch. */
static void test_launch_release_by_other_client(void **state)
{
	struct fx *f = *state;
	cb_ticket t;

	rsv_open(f, &f->r2, 31337, LOCAL_SIZE);
	assert_int_equal(cb_rsv_try(&f->r, P, CB_LAUNCH, 0, &t), 0);
	assert_int_equal(cb_rsv_release(&f->r2, &t), 0);
	assert_true(usage(f, P) == 0);
	assert_int_equal(cb_rsv_release(&f->r, &t), -ESTALE);
	assert_true(usage(f, P) == 0);
}

static void test_launch_table_full(void **state)
{
	struct fx *f = *state;
	cb_ticket t;

	for (uint32_t k = 0; k < nlaunch(f); k++)
		atomic_store(&lslot(f, k)->word, CB_LAUNCH_WORD(
		    CB_LAUNCH_LIVE, 7, 0, 1));
	assert_int_equal(cb_rsv_try(&f->r, P, CB_LAUNCH, 0, &t), -ENOSPC);
	/* The admission was undone and the window closed. */
	assert_true(usage(f, P) == 0);
	assert_int_equal(CB_SEQ_INFLIGHT(atomic_load(
	    &cslot(f, f->r.client)->seq)), 0);
}

static void test_launch_expire_once(void **state)
{
	struct fx *f = *state;
	cb_ticket a, b;
	uint32_t per_pool[CB_MAX_POOLS] = { 0 };
	uint64_t earliest[CB_MAX_POOLS] = { 0 };
	uint64_t now, db;
	uint32_t ea, eb;

	assert_int_equal(cb_rsv_try(&f->r, P, CB_LAUNCH, 0, &a), 0);
	assert_int_equal(cb_rsv_try(&f->r, P, CB_LAUNCH, 0, &b), 0);
	ea = ticket_index(&a);
	eb = ticket_index(&b);
	assert_int_not_equal(ea, eb);
	db = atomic_load(&lslot(f, eb)->deadline_ns);

	/* Before any deadline: nothing expires, the earliest is reported. */
	now = cb_monotonic_ns();
	assert_int_equal(cb_rsv_expire(f->slots, now, per_pool, earliest), 0);
	assert_int_equal(launching(f, P), 2);
	assert_true(earliest[P] != 0);
	assert_true(earliest[P] <= db);

	/* a's deadline passes (the sweeper runs later than it). */
	atomic_store(&lslot(f, ea)->deadline_ns, now - 1);
	memset(earliest, 0, sizeof(earliest));
	assert_int_equal(cb_rsv_expire(f->slots, now, per_pool, earliest), 1);
	assert_int_equal(per_pool[P], 1);
	assert_true(earliest[P] == db);
	assert_int_equal(launching(f, P), 1);
	assert_int_equal(CB_LAUNCH_STATE(atomic_load(&lslot(f, ea)->word)),
	    CB_LAUNCH_FREE);
	assert_true(CB_LAUNCH_NONCE(atomic_load(&lslot(f, ea)->word)) ==
	    CB_LAUNCH_NONCE(a.opaque[1]));

	/* Exactly once: another sweep and the late release do nothing. */
	assert_int_equal(cb_rsv_expire(f->slots, now, per_pool, earliest), 0);
	assert_int_equal(per_pool[P], 1);
	assert_int_equal(cb_rsv_release(&f->r, &a), -ESTALE);
	assert_int_equal(launching(f, P), 1);   /* b still counted */

	/* The other order: released first, then the sweep. */
	assert_int_equal(cb_rsv_release(&f->r, &b), 0);
	assert_int_equal(cb_rsv_expire(f->slots, db + 1, per_pool, earliest),
	    0);
	assert_int_equal(per_pool[P], 1);
	assert_true(usage(f, P) == 0);
}

/* ---- settle ----------------------------------------------------------- */

static void test_settle(void **state)
{
	struct fx *f = *state;
	uint32_t window_ms[CB_MAX_POOLS];
	static uint64_t prev[CB_MAX_LAUNCHES];
	struct cb_launch_slot *stuck = lslot(f, 3), *bad = lslot(f, 5),
	    *absurd = lslot(f, 9), *fine = lslot(f, 11);
	uint64_t now = 1000000000000ull, w_stuck, w_fine, fixed;

	memset(prev, 0, sizeof(prev));
	for (int p = 0; p < CB_MAX_POOLS; p++)
		window_ms[p] = 1000u * (uint32_t)(p + 1);

	/* A claimer that died between CLAIMING and LIVE. */
	w_stuck = CB_LAUNCH_WORD(CB_LAUNCH_CLAIMING, 2, 4, 77);
	atomic_store(&stuck->word, w_stuck);
	atomic_store(&stuck->deadline_ns, 0);
	/* State 3 is never written by the protocol. */
	atomic_store(&bad->word, CB_LAUNCH_WORD(3, 1, 4, 55));
	/* LIVE with a deadline no window can produce. */
	atomic_store(&absurd->word, CB_LAUNCH_WORD(CB_LAUNCH_LIVE, 1, 4, 9));
	atomic_store(&absurd->deadline_ns, UINT64_MAX);
	/* LIVE with a deadline one window away: left alone. */
	w_fine = CB_LAUNCH_WORD(CB_LAUNCH_LIVE, 1, 4, 10);
	atomic_store(&fine->word, w_fine);
	atomic_store(&fine->deadline_ns, now + 2000000000ull);

	fixed = cb_rsv_settle(f->slots, now, window_ms, prev);
	assert_int_equal(fixed, 2);   /* state 3 and the absurd deadline */
	/* First sight of the CLAIMING entry: one more sweep's grace. */
	assert_true(atomic_load(&stuck->word) == w_stuck);
	assert_true(atomic_load(&stuck->deadline_ns) == 0);
	/* Impossible state freed, nonce kept. */
	assert_int_equal(CB_LAUNCH_STATE(atomic_load(&bad->word)),
	    CB_LAUNCH_FREE);
	assert_true(CB_LAUNCH_NONCE(atomic_load(&bad->word)) == 55);
	/* Absurd deadline cut to one window of its pool (pool 1: 2 s). */
	assert_true(atomic_load(&absurd->deadline_ns) == now + 2000000000ull);
	assert_int_equal(CB_LAUNCH_STATE(atomic_load(&absurd->word)),
	    CB_LAUNCH_LIVE);
	assert_true(atomic_load(&fine->word) == w_fine);
	assert_true(atomic_load(&fine->deadline_ns) == now + 2000000000ull);

	/* Seen again unchanged: LIVE, deadline now + pool 2's 3 s. */
	now += 1000000000ull;
	/* (Whether this conversion counts as "fixed" is not specified.) */
	(void)cb_rsv_settle(f->slots, now, window_ms, prev);
	assert_true(atomic_load(&stuck->word) == CB_LAUNCH_WORD(
	    CB_LAUNCH_LIVE, 2, 4, 77));
	assert_true(atomic_load(&stuck->deadline_ns) == now + 3000000000ull);
	assert_int_equal(CB_LAUNCH_STATE(atomic_load(&bad->word)),
	    CB_LAUNCH_FREE);
	assert_true(atomic_load(&fine->word) == w_fine);
}

static void test_settle_live_claimer_gets_grace(void **state)
{
	struct fx *f = *state;
	uint32_t window_ms[CB_MAX_POOLS];
	static uint64_t prev[CB_MAX_LAUNCHES];
	struct cb_launch_slot *ls = lslot(f, 1);
	uint64_t w1 = CB_LAUNCH_WORD(CB_LAUNCH_CLAIMING, 1, 2, 5);
	uint64_t w2 = CB_LAUNCH_WORD(CB_LAUNCH_CLAIMING, 1, 2, 6);

	memset(prev, 0, sizeof(prev));
	for (int p = 0; p < CB_MAX_POOLS; p++)
		window_ms[p] = 1000;
	/* A CLAIMING word that changed between sweeps (a new claim) is
	 * not stuck. */
	atomic_store(&ls->word, w1);
	cb_rsv_settle(f->slots, 1000, window_ms, prev);
	atomic_store(&ls->word, w2);
	cb_rsv_settle(f->slots, 2000, window_ms, prev);
	assert_true(atomic_load(&ls->word) == w2);
	cb_rsv_settle(f->slots, 3000, window_ms, prev);
	assert_int_equal(CB_LAUNCH_STATE(atomic_load(&ls->word)),
	    CB_LAUNCH_LIVE);
}

/* A deadline later than one window from now (garbage, or the window
 * was shortened) is cut to one window; within the window plus the
 * documented slack it stays. */
static void test_settle_cuts_past_one_window(void **state)
{
	struct fx *f = *state;
	uint32_t window_ms[CB_MAX_POOLS];
	static uint64_t prev[CB_MAX_LAUNCHES];
	struct cb_launch_slot *near = lslot(f, 20), *far = lslot(f, 21);
	uint64_t now = 5000000000000ull;

	memset(prev, 0, sizeof(prev));
	for (int p = 0; p < CB_MAX_POOLS; p++)
		window_ms[p] = 10000;
	atomic_store(&near->word, CB_LAUNCH_WORD(CB_LAUNCH_LIVE, 1, 0, 1));
	atomic_store(&near->deadline_ns, now + 10000000000ull);
	atomic_store(&far->word, CB_LAUNCH_WORD(CB_LAUNCH_LIVE, 1, 0, 2));
	/* One window plus a minute: a window that was shortened. */
	atomic_store(&far->deadline_ns, now + 70000000000ull);
	assert_int_equal(cb_rsv_settle(f->slots, now, window_ms, prev), 1);
	assert_true(atomic_load(&near->deadline_ns) == now + 10000000000ull);
	assert_true(atomic_load(&far->deadline_ns) == now + 10000000000ull);
	assert_int_equal(CB_LAUNCH_STATE(atomic_load(&far->word)),
	    CB_LAUNCH_LIVE);
	/* Settled: the next sweep has nothing to fix. */
	assert_int_equal(cb_rsv_settle(f->slots, now, window_ms, prev), 0);
}

/* window_ms 0 means "no such pool": its entries were never admitted
 * and are freed, LIVE or CLAIMING, at once. */
static void test_settle_frees_unknown_pool(void **state)
{
	struct fx *f = *state;
	uint32_t window_ms[CB_MAX_POOLS];
	static uint64_t prev[CB_MAX_LAUNCHES];
	struct cb_launch_slot *live = lslot(f, 30), *claiming = lslot(f, 31),
	    *known = lslot(f, 32);
	uint64_t now = 5000000000000ull;
	uint64_t wk = CB_LAUNCH_WORD(CB_LAUNCH_LIVE, 1, 0, 3);

	memset(prev, 0, sizeof(prev));
	for (int p = 0; p < CB_MAX_POOLS; p++)
		window_ms[p] = p == 9 ? 0 : 1000;
	atomic_store(&live->word, CB_LAUNCH_WORD(CB_LAUNCH_LIVE, 9, 0, 41));
	atomic_store(&live->deadline_ns, now + 1);
	atomic_store(&claiming->word, CB_LAUNCH_WORD(CB_LAUNCH_CLAIMING, 9,
	    0, 42));
	atomic_store(&known->word, wk);
	atomic_store(&known->deadline_ns, now + 1);
	assert_int_equal(cb_rsv_settle(f->slots, now, window_ms, prev), 2);
	assert_true(atomic_load(&live->word) == CB_LAUNCH_WORD(
	    CB_LAUNCH_FREE, 0, 0, 41));
	assert_true(atomic_load(&claiming->word) == CB_LAUNCH_WORD(
	    CB_LAUNCH_FREE, 0, 0, 42));
	assert_true(atomic_load(&known->word) == wk);
}

/* ---- reclaim ---------------------------------------------------------- */

static void test_reclaim_exact(void **state)
{
	struct fx *f = *state;
	uint32_t per_pool[CB_MAX_POOLS] = { 0 };
	cb_ticket t, t0, tl, other[2];
	uint32_t c = f->r.client;
	uint64_t owner = f->r.owner;

	rsv_open(f, &f->r2, 31337, LOCAL_SIZE);
	assert_int_equal(hold(f, &t), 0);
	assert_int_equal(hold(f, &t), 0);
	assert_int_equal(cb_rsv_try(&f->r, 0, CB_HOLD, 0, &t0), 0);
	assert_int_equal(cb_rsv_try(&f->r, P, CB_LAUNCH, 0, &tl), 0);
	assert_int_equal(cb_rsv_try(&f->r2, P, CB_HOLD, 0, &other[0]), 0);
	assert_int_equal(cb_rsv_try(&f->r2, P, CB_HOLD, 0, &other[1]), 0);
	assert_int_equal(held(f, P), 4);

	/* The wrong owner (the entry changed hands): nothing happens. */
	assert_int_equal(cb_rsv_reclaim(f->slots, c, owner + 1, per_pool),
	    -1);
	assert_int_equal(held(f, P), 4);
	assert_int_equal(holds(f, c, P), 2);

	assert_int_equal(cb_rsv_reclaim(f->slots, c, owner, per_pool), 3);
	assert_int_equal(per_pool[P], 2);
	assert_int_equal(per_pool[0], 1);
	/* Only the dead client's holds: r2's two stay. */
	assert_int_equal(held(f, P), 2);
	assert_int_equal(held(f, 0), 0);
	assert_int_equal(holds(f, c, P), 0);
	/* Its launch survives its death. */
	assert_int_equal(launching(f, P), 1);
	/* Entry free, generation kept. */
	assert_true(atomic_load(&cslot(f, c)->owner) ==
	    CB_OWNER(CB_OWNER_GEN(owner), 0));
	assert_true(atomic_load(&cslot(f, c)->start) == 0);

	/* A second reclaim of the same owner finds it gone. */
	assert_int_equal(cb_rsv_reclaim(f->slots, c, owner, per_pool), -1);
	assert_int_equal(held(f, P), 2);
	/* The (not so dead) client's release is stale, frees nothing. */
	assert_int_equal(cb_rsv_release(&f->r, &t), -ESTALE);
	assert_int_equal(held(f, P), 2);
	/* The survivor releases normally. */
	assert_int_equal(cb_rsv_release(&f->r2, &other[0]), 0);
	assert_int_equal(cb_rsv_release(&f->r2, &other[1]), 0);
	assert_int_equal(held(f, P), 0);
	assert_int_equal(cb_rsv_release(&f->r2, &tl), 0);
	assert_true(usage(f, P) == 0);
}

/* A hostile record cannot make a reclaim take more than the counter
 * has (nor another pool's units); the reclaim reports what it took. */
static void test_reclaim_bounded_by_counter(void **state)
{
	struct fx *f = *state;
	uint32_t per_pool[CB_MAX_POOLS] = { 0 };
	cb_ticket t;
	uint32_t c = f->r.client;

	assert_int_equal(hold(f, &t), 0);
	assert_int_equal(hold(f, &t), 0);
	set_usage(f, P, 2, 3);
	atomic_store(&cslot(f, c)->holds[P], 1000);
	assert_int_equal(cb_rsv_reclaim(f->slots, c, f->r.owner, per_pool), 2);
	assert_int_equal(per_pool[P], 2);
	assert_true(usage(f, P) == CB_USAGE(0, 3));
	assert_int_equal(holds(f, c, P), 0);
}

/* ---- the death window and the recount ---------------------------------- */

/* A killed client's steps, done by hand: window opened (S += 1), the
 * admission CAS won, then nothing: no record, window never closed. */
static void die_after_cas(struct fx *f, uint32_t client, int pool)
{
	_Atomic uint64_t *u = &pslot(f, pool)->usage;
	uint64_t old = atomic_load(u);

	atomic_fetch_add(&cslot(f, client)->seq, 1);
	assert_true(atomic_compare_exchange_strong(u, &old,
	    CB_USAGE(CB_USAGE_HELD(old) + 1, CB_USAGE_LAUNCHING(old))));
}

static int recount(struct fx *f, int pool, int64_t *hd, int64_t *ld)
{
	*hd = *ld = 12345;
	return cb_rsv_recount(f->slots, pool, &f->sweep, hd, ld);
}

static void test_death_window_over_counts_recount_repairs(void **state)
{
	struct fx *f = *state;
	uint32_t per_pool[CB_MAX_POOLS] = { 0 };
	cb_ticket t, survivor;
	int64_t hd, ld;
	uint32_t c = f->r.client;

	rsv_open(f, &f->r2, 31337, LOCAL_SIZE);
	assert_int_equal(cb_rsv_try(&f->r2, P, CB_HOLD, 0, &survivor), 0);
	assert_int_equal(hold(f, &t), 0);
	assert_int_equal(hold(f, &t), 0);
	/* Consistent: nothing to do. */
	assert_int_equal(recount(f, P, &hd, &ld), 0);
	assert_true(hd == 0 && ld == 0);

	die_after_cas(f, c, P);
	assert_int_equal(held(f, P), 4);
	assert_int_equal(holds(f, c, P), 2);

	/* The window is open (one operation in flight): the unit it may
	 * hide is not trimmed while the entry is owned... */
	assert_int_equal(recount(f, P, &hd, &ld), 0);
	assert_true(hd == 0 && ld == 0);
	assert_int_equal(held(f, P), 4);
	/* ...but an excess beyond one unit per open window is. */
	set_usage(f, P, 10, 0);
	assert_int_equal(recount(f, P, &hd, &ld), 1);
	assert_true(hd == 6);
	assert_true(ld == 0);
	assert_int_equal(held(f, P), 4);

	/* The broker reclaims the dead client: only what H records.  The
	 * ambiguous unit stays counted: one too high, never too low. */
	assert_int_equal(cb_rsv_reclaim(f->slots, c, f->r.owner, per_pool),
	    2);
	assert_int_equal(per_pool[P], 2);
	assert_int_equal(held(f, P), 2);
	assert_int_equal(CB_SEQ_INFLIGHT(atomic_load(&cslot(f, c)->seq)), 0);

	/* Its window reset, the recount repairs exactly the excess. */
	assert_int_equal(recount(f, P, &hd, &ld), 1);
	assert_true(hd == 1);
	assert_true(ld == 0);
	assert_int_equal(held(f, P), 1);
	assert_int_equal(launching(f, P), 0);
	assert_int_equal(recount(f, P, &hd, &ld), 0);
	assert_int_equal(held(f, P), 1);

	assert_int_equal(cb_rsv_release(&f->r2, &survivor), 0);
	assert_true(usage(f, P) == 0);
	assert_int_equal(recount(f, P, &hd, &ld), 0);
}

/* An open window never shields a deficit: a counter below the records
 * (impossible for honest clients) is filled up to the records. */
static void test_recount_fills_deficit_despite_open_window(void **state)
{
	struct fx *f = *state;
	cb_ticket t;
	int64_t hd, ld;

	assert_int_equal(hold(f, &t), 0);
	assert_int_equal(hold(f, &t), 0);
	assert_int_equal(hold(f, &t), 0);
	atomic_fetch_add(&cslot(f, f->r.client)->seq, 1);
	set_usage(f, P, 1, 0);
	assert_int_equal(recount(f, P, &hd, &ld), 1);
	assert_true(hd == -2);
	assert_int_equal(held(f, P), 3);
	/* One short, one window open: still filled. */
	set_usage(f, P, 2, 0);
	assert_int_equal(recount(f, P, &hd, &ld), 1);
	assert_true(hd == -1);
	assert_int_equal(held(f, P), 3);
	/* The same for launches. */
	set_usage(f, P, 3, 0);
	atomic_store(&lslot(f, 7)->word, CB_LAUNCH_WORD(CB_LAUNCH_LIVE, P, 0,
	    1));
	assert_int_equal(recount(f, P, &hd, &ld), 1);
	assert_true(hd == 0);
	assert_true(ld == -1);
	assert_true(usage(f, P) == CB_USAGE(3, 1));
}

/* Killed after recording, before closing the window: the record makes
 * the reclaim exact. */
static void test_death_after_record(void **state)
{
	struct fx *f = *state;
	uint32_t per_pool[CB_MAX_POOLS] = { 0 };
	int64_t hd, ld;
	uint32_t c = f->r.client;

	die_after_cas(f, c, P);
	atomic_fetch_add(&cslot(f, c)->holds[P], 1);
	/* Counter and records agree: nothing to repair. */
	assert_int_equal(recount(f, P, &hd, &ld), 0);
	assert_int_equal(held(f, P), 1);
	assert_int_equal(cb_rsv_reclaim(f->slots, c, f->r.owner, per_pool),
	    1);
	assert_true(usage(f, P) == 0);
	assert_int_equal(recount(f, P, &hd, &ld), 0);
	assert_true(usage(f, P) == 0);
}

/* Killed between the CAS and the release's record removal never
 * under-counts either: a release removes the record first. */
static void test_death_mid_release(void **state)
{
	struct fx *f = *state;
	uint32_t per_pool[CB_MAX_POOLS] = { 0 };
	int64_t hd, ld;
	cb_ticket t;
	uint32_t c = f->r.client;

	assert_int_equal(hold(f, &t), 0);
	/* Release steps by hand: window open, H -= 1, killed. */
	atomic_fetch_add(&cslot(f, c)->seq, 1);
	atomic_fetch_sub(&cslot(f, c)->holds[P], 1);
	assert_int_equal(cb_rsv_reclaim(f->slots, c, f->r.owner, per_pool),
	    0);
	assert_int_equal(held(f, P), 1);    /* over, not under */
	assert_int_equal(recount(f, P, &hd, &ld), 1);
	assert_true(hd == 1);
	assert_true(usage(f, P) == 0);
}

static void test_recount_hostile(void **state)
{
	struct fx *f = *state;
	cb_ticket t[3];
	int64_t hd, ld;
	uint32_t e, free_entry;

	assert_int_equal(hold(f, &t[0]), 0);
	assert_int_equal(hold(f, &t[1]), 0);
	assert_int_equal(cb_rsv_try(&f->r, P, CB_LAUNCH, 0, &t[2]), 0);
	e = ticket_index(&t[2]);

	/* A hostile deficit is repaired upward (a deficit would let the
	 * pool overshoot its limit). */
	set_usage(f, P, 0, 0);
	assert_int_equal(recount(f, P, &hd, &ld), 1);
	assert_true(hd == -2);
	assert_true(ld == -1);
	assert_int_equal(held(f, P), 2);
	assert_int_equal(launching(f, P), 1);

	/* An excess in both halves. */
	set_usage(f, P, 1000, 0xffffffffu);
	assert_int_equal(recount(f, P, &hd, &ld), 1);
	assert_true(hd == 998);
	assert_true(ld == 0xfffffffeLL);
	assert_int_equal(held(f, P), 2);
	assert_int_equal(launching(f, P), 1);
	assert_int_equal(recount(f, P, &hd, &ld), 0);

	/* A CLAIMING entry counts as a launch. */
	atomic_store(&lslot(f, e)->word, CB_LAUNCH_WORD(CB_LAUNCH_CLAIMING,
	    P, f->r.client, 1));
	assert_int_equal(recount(f, P, &hd, &ld), 0);
	/* Holds of a free entry are garbage, not records. */
	free_entry = (f->r.client + 1) % nclient(f);
	atomic_store(&cslot(f, free_entry)->holds[P], 50);
	assert_int_equal(recount(f, P, &hd, &ld), 0);
	/* An open window on a free entry blocks nothing. */
	atomic_store(&cslot(f, free_entry)->seq, 3);
	assert_int_equal(recount(f, P, &hd, &ld), 0);
	assert_int_equal(held(f, P), 2);
}

static void test_hostile_usage(void **state)
{
	struct fx *f = *state;
	cb_ticket t;
	_Atomic uint64_t *u = &pslot(f, P)->usage;

	/* held 0xffffffff must not wrap the sum below the limit. */
	set_usage(f, P, 0xffffffffu, 0);
	assert_int_equal(hold(f, &t), -EAGAIN);
	assert_int_equal(cb_rsv_try(&f->r, P, CB_LAUNCH, 0, &t), -EAGAIN);
	set_usage(f, P, 0, 0xffffffffu);
	assert_int_equal(hold(f, &t), -EAGAIN);
	set_usage(f, P, 0xffffffffu, 0xffffffffu);
	assert_int_equal(hold(f, &t), -EAGAIN);
	assert_true(usage(f, P) == CB_USAGE(0xffffffffu, 0xffffffffu));
	pool_define(f, P, 0xffffffffu, 2000, 0);
	assert_int_equal(hold(f, &t), -EAGAIN);
	assert_int_equal(cb_rsv_try(&f->r, P, CB_LAUNCH, 0xffffffffu, &t),
	    -EAGAIN);

	/* usage_sub never goes below 0, never borrows from the other
	 * half, and says what it took. */
	set_usage(f, P, 2, 7);
	assert_int_equal(cb_rsv_usage_sub(u, 0, 5), 2);
	assert_true(atomic_load(u) == CB_USAGE(0, 7));
	assert_int_equal(cb_rsv_usage_sub(u, 0, 1), 0);
	assert_true(atomic_load(u) == CB_USAGE(0, 7));
	assert_int_equal(cb_rsv_usage_sub(u, 1, 3), 3);
	assert_true(atomic_load(u) == CB_USAGE(0, 4));
	assert_int_equal(cb_rsv_usage_sub(u, 1, 0xffffffffu), 4);
	assert_true(atomic_load(u) == 0);
	assert_int_equal(cb_rsv_usage_sub(u, 1, 1), 0);
	assert_true(atomic_load(u) == 0);
	set_usage(f, P, 0xffffffffu, 1);
	assert_int_equal(cb_rsv_usage_sub(u, 0, 1), 1);
	assert_true(atomic_load(u) == CB_USAGE(0xfffffffeu, 1));

	/* A hostile H (more than U) on release: U floors at 0. */
	set_usage(f, P, 0, 0);
	pool_define(f, P, 5, 2000, 0);
	assert_int_equal(hold(f, &t), 0);
	set_usage(f, P, 0, 0);
	assert_int_equal(cb_rsv_release(&f->r, &t), 0);
	assert_true(usage(f, P) == 0);
}

/* A refused attempt touches nothing the recount snapshots (U, S, H,
 * L): reservers spinning on a full pool cannot stall the repair. */
static void test_refused_touches_nothing_shared(void **state)
{
	struct fx *f = *state;
	struct cb_client_slot *cs = cslot(f, f->r.client);
	cb_ticket t[5], x;
	uint64_t u;
	uint32_t seq;

	for (int i = 0; i < 5; i++)
		assert_int_equal(hold(f, &t[i]), 0);
	u = usage(f, P);
	seq = atomic_load(&cs->seq);
	for (int i = 0; i < 100; i++) {
		assert_int_equal(hold(f, &x), -EAGAIN);
		assert_int_equal(cb_rsv_try(&f->r, P, CB_LAUNCH, 0, &x),
		    -EAGAIN);
	}
	assert_true(usage(f, P) == u);
	assert_true(atomic_load(&cs->seq) == seq);
	assert_int_equal(holds(f, f->r.client, P), 5);
	for (uint32_t e = 0; e < nlaunch(f); e++)
		assert_true(atomic_load(&lslot(f, e)->word) == 0);
	/* Nor do refused launches of a pool whose observation fills it. */
	pool_define(f, 2, 3, 1000, 3);
	assert_int_equal(cb_rsv_try(&f->r, 2, CB_LAUNCH, 0, &x), -EAGAIN);
	assert_true(usage(f, 2) == 0);
	assert_true(atomic_load(&cs->seq) == seq);
}

/* The launch retry hint: the earliest deadline still ahead. */
static void test_launch_hint(void **state)
{
	struct fx *f = *state;
	_Atomic uint64_t *hint = &pslot(f, P)->launch_hint_ns;
	cb_ticket a, b, c, d;
	uint64_t da, dc, dd;

	assert_true(atomic_load(hint) == 0);
	assert_int_equal(cb_rsv_try(&f->r, P, CB_LAUNCH, 0, &a), 0);
	da = atomic_load(&lslot(f, ticket_index(&a))->deadline_ns);
	assert_true(atomic_load(hint) == da);
	/* A later deadline does not raise it. */
	assert_int_equal(cb_rsv_try(&f->r, P, CB_LAUNCH, 0, &b), 0);
	assert_true(atomic_load(hint) == da);
	/* A hint already in the past is replaced. */
	atomic_store(hint, 1);
	assert_int_equal(cb_rsv_try(&f->r, P, CB_LAUNCH, 0, &c), 0);
	dc = atomic_load(&lslot(f, ticket_index(&c))->deadline_ns);
	assert_true(atomic_load(hint) == dc);
	/* A hostile far-future hint is lowered. */
	atomic_store(hint, UINT64_MAX);
	assert_int_equal(cb_rsv_try(&f->r, P, CB_LAUNCH, 0, &d), 0);
	dd = atomic_load(&lslot(f, ticket_index(&d))->deadline_ns);
	assert_true(atomic_load(hint) == dd);
	/* Holds leave it alone. */
	assert_int_equal(hold(f, &a), 0);
	assert_true(atomic_load(hint) == dd);
}

static void test_expire_deadline_inclusive(void **state)
{
	struct fx *f = *state;
	uint32_t per_pool[CB_MAX_POOLS] = { 0 };
	uint64_t earliest[CB_MAX_POOLS] = { 0 };
	cb_ticket t;
	uint64_t d;

	assert_int_equal(cb_rsv_try(&f->r, P, CB_LAUNCH, 0, &t), 0);
	d = atomic_load(&lslot(f, ticket_index(&t))->deadline_ns);
	assert_int_equal(cb_rsv_expire(f->slots, d - 1, per_pool, earliest),
	    0);
	assert_true(earliest[P] == d);
	assert_int_equal(launching(f, P), 1);
	/* "deadline is <= now" */
	assert_int_equal(cb_rsv_expire(f->slots, d, per_pool, earliest), 1);
	assert_int_equal(launching(f, P), 0);
}

/* A legitimate launch whose claimer read its clock a little after the
 * sweeper did has a deadline slightly past now + window: it is kept. */
static void test_settle_keeps_racing_claimer(void **state)
{
	struct fx *f = *state;
	uint32_t window_ms[CB_MAX_POOLS];
	static uint64_t prev[CB_MAX_LAUNCHES];
	struct cb_launch_slot *ls = lslot(f, 40);
	uint64_t now = 5000000000000ull, d = now + 10000000000ull + 500000000;

	memset(prev, 0, sizeof(prev));
	for (int p = 0; p < CB_MAX_POOLS; p++)
		window_ms[p] = 10000;
	atomic_store(&ls->word, CB_LAUNCH_WORD(CB_LAUNCH_LIVE, 1, 0, 1));
	atomic_store(&ls->deadline_ns, d);
	assert_int_equal(cb_rsv_settle(f->slots, now, window_ms, prev), 0);
	assert_true(atomic_load(&ls->deadline_ns) == d);
}

/* ---- concurrency within one process ------------------------------------ */

struct churn {
	struct fx *f;
	struct cb_rsv *r;
	int kind;
	int rounds;
	_Atomic int *go;
	_Atomic int done;
	int errors;
};

static void *churn_main(void *arg)
{
	struct churn *c = arg;
	int ok = 0;

	while (!atomic_load(c->go))
		;
	while (ok < c->rounds) {
		cb_ticket t;
		int r = cb_rsv_try(c->r, P, c->kind, 0, &t);

		if (r == -EAGAIN)
			continue;
		if (r != 0 || cb_rsv_release(c->r, &t) != 0) {
			c->errors++;
			break;
		}
		ok++;
	}
	atomic_store(&c->done, 1);
	return NULL;
}

/*
 * Honest clients reserving and releasing, holds and launches, while
 * the sweeper recounts: every consistent snapshot must find the
 * counter within the records plus the open windows, so the recount
 * never corrects anything (a correction would be an under-count the
 * next release turns into a loss).  The pool ends at exactly the units
 * a third client keeps.
 */
static void test_recount_under_churn(void **state)
{
	struct fx *f = *state;
	struct cb_rsv keeper;
	struct churn ch[2];
	pthread_t th[2];
	_Atomic int go = 0;
	cb_ticket k1, k2;
	int64_t hd, ld;
	long ok = 0, again = 0, fixed = 0;

	pool_define(f, P, 4, 1000, 0);
	rsv_open(f, &f->r2, 31337, LOCAL_SIZE);
	rsv_open(f, &keeper, 4242, LOCAL_SIZE);
	assert_int_equal(cb_rsv_try(&keeper, P, CB_HOLD, 0, &k1), 0);
	assert_int_equal(cb_rsv_try(&keeper, P, CB_HOLD, 0, &k2), 0);
	for (int i = 0; i < 2; i++) {
		memset(&ch[i], 0, sizeof(ch[i]));
		ch[i].f = f;
		ch[i].r = i == 0 ? &f->r : &f->r2;
		ch[i].kind = i == 0 ? CB_HOLD : CB_LAUNCH;
		ch[i].rounds = 20000;
		ch[i].go = &go;
		assert_int_equal(pthread_create(&th[i], NULL, churn_main,
		    &ch[i]), 0);
	}
	atomic_store(&go, 1);
	while (!atomic_load(&ch[0].done) || !atomic_load(&ch[1].done)) {
		int r = cb_rsv_recount(f->slots, P, &f->sweep, &hd, &ld);

		if (r == 0)
			ok++;
		else if (r == -EAGAIN)
			again++;
		else
			fixed++;
		if (r == 1)
			fprintf(stderr, "recount corrected an honest pool: "
			    "held %+lld launching %+lld\n", (long long)hd,
			    (long long)ld);
	}
	for (int i = 0; i < 2; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_int_equal(ch[i].errors, 0);
	}
	assert_int_equal(fixed, 0);
	(void)ok;
	(void)again;
	/* Before any further recount: exactly the keeper's two. */
	assert_true(usage(f, P) == CB_USAGE(2, 0));
	assert_int_equal(recount(f, P, &hd, &ld), 0);
	assert_int_equal(cb_rsv_release(&keeper, &k1), 0);
	assert_int_equal(cb_rsv_release(&keeper, &k2), 0);
	assert_true(usage(f, P) == 0);
	rsv_close(&keeper);
}

struct releaser {
	struct cb_rsv *r;
	cb_ticket t;
	int rounds;
	_Atomic int round;         /* main: release round n now */
	_Atomic int done;          /* thread: round n released (or not) */
	int released, stale, other;
};

static void *release_main(void *arg)
{
	struct releaser *rl = arg;

	for (int n = 1; n <= rl->rounds; n++) {
		int r;

		for (unsigned spin = 0; atomic_load(&rl->round) != n; spin++)
			if (spin > 1000)
				sched_yield();
		r = cb_rsv_release(rl->r, &rl->t);
		if (r == 0)
			rl->released++;
		else if (r == -ESTALE)
			rl->stale++;
		else
			rl->other++;
		atomic_store(&rl->done, n);
	}
	return NULL;
}

/*
 * Release racing expiry on the same overdue launch: exactly one of the
 * two ends it, and only the winner decrements.  Launches that are not
 * overdue keep their units, so a double decrement shows as a launching
 * count below them.  To make the two meet, every other entry is taken
 * (by a pool that is not P, deadline far away) so the launch lands on a
 * chosen entry e, and e moves each round: the expiry scan reaches it
 * at a different moment relative to the release.
 */
static void test_release_races_expire(void **state)
{
	struct fx *f = *state;
	enum { KEEP = 3, ROUNDS = 6000, SPREAD = 256 };
	static struct releaser rl;
	cb_ticket keep[KEEP];
	uint32_t per_pool[CB_MAX_POOLS], keep_e[KEEP];
	uint64_t earliest[CB_MAX_POOLS];
	uint32_t expired = 0;
	pthread_t th;

	pool_define(f, P, 1 + KEEP, 60000, 0);
	for (int k = 0; k < KEEP; k++) {
		assert_int_equal(cb_rsv_try(&f->r, P, CB_LAUNCH, 0, &keep[k]),
		    0);
		keep_e[k] = ticket_index(&keep[k]);
	}
	for (uint32_t e = 0; e < nlaunch(f); e++) {
		int mine = 0;

		for (int k = 0; k < KEEP; k++)
			mine |= keep_e[k] == e;
		if (mine)
			continue;
		atomic_store(&lslot(f, e)->word, CB_LAUNCH_WORD(
		    CB_LAUNCH_LIVE, 7, 0, 1));
		atomic_store(&lslot(f, e)->deadline_ns, UINT64_MAX);
	}
	memset(&rl, 0, sizeof(rl));
	rl.r = &f->r;
	rl.rounds = ROUNDS;
	assert_int_equal(pthread_create(&th, NULL, release_main, &rl), 0);
	memset(per_pool, 0, sizeof(per_pool));
	for (int n = 1; n <= ROUNDS; n++) {
		uint32_t e = (uint32_t)(n % SPREAD);
		struct cb_launch_slot *ls;

		while (keep_e[0] == e || keep_e[1] == e || keep_e[2] == e)
			e = (e + 1) % nlaunch(f);
		ls = lslot(f, e);
		atomic_store(&ls->word, CB_LAUNCH_WORD(CB_LAUNCH_FREE, 0, 0,
		    (uint64_t)n));
		assert_int_equal(cb_rsv_try(&f->r, P, CB_LAUNCH, 0, &rl.t), 0);
		assert_int_equal(ticket_index(&rl.t), e);
		atomic_store(&ls->deadline_ns, 1);
		atomic_store(&rl.round, n);
		memset(earliest, 0, sizeof(earliest));
		expired += cb_rsv_expire(f->slots, 2, per_pool, earliest);
		for (unsigned spin = 0; atomic_load(&rl.done) != n; spin++)
			if (spin > 1000)
				sched_yield();
		/* Ended exactly once, by one of the two. */
		assert_int_equal(CB_LAUNCH_STATE(atomic_load(&ls->word)),
		    CB_LAUNCH_FREE);
		assert_int_equal(expired + (uint32_t)rl.released, (uint32_t)n);
		assert_int_equal(launching(f, P), KEEP);
		/* Taken again for the next round's neighbours. */
		atomic_store(&ls->word, CB_LAUNCH_WORD(CB_LAUNCH_LIVE, 7, 0,
		    1));
		atomic_store(&ls->deadline_ns, UINT64_MAX);
	}
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(rl.other, 0);
	assert_int_equal(rl.stale, ROUNDS - rl.released);
	assert_int_equal(per_pool[P], expired);
	assert_int_equal(per_pool[7], 0);
	for (int k = 0; k < KEEP; k++)
		assert_int_equal(cb_rsv_release(&f->r, &keep[k]), 0);
	assert_true(usage(f, P) == 0);
}

/* ---- many processes ---------------------------------------------------- */

#define NPROC 6
#define SHARED_LIMIT 3

struct shared {
	_Atomic int inside;        /* admitted and not yet released */
	_Atomic int max_inside;
	_Atomic int max_usage;     /* held + launching seen by a child */
	_Atomic int go;
	_Atomic int ready;
	_Atomic uint64_t rounds;
	uint32_t client[NPROC];
	uint64_t owner[NPROC];
	_Atomic int claimed[NPROC];
};

static void note_max(_Atomic int *max, int v)
{
	int m = atomic_load(max);

	while (v > m && !atomic_compare_exchange_weak(max, &m, v))
		;
}

/* Child: claim an entry, then reserve/release holds until `ms` have
 * passed (or forever when ms < 0: it will be killed). */
static void child(struct fx *f, struct shared *sh, int k, long ms)
{
	struct cb_rsv r;
	uint64_t end;
	unsigned fails = 0;
	int ret = seg_rsv_try_open(&r, f->state, f->slots, getpid(), START,
	    LOCAL_SIZE);

	if (ret < 0)
		_exit(-ret);
	sh->client[k] = r.client;
	sh->owner[k] = r.owner;
	atomic_store(&sh->claimed[k], 1);
	atomic_fetch_add(&sh->ready, 1);
	while (!atomic_load(&sh->go))
		sched_yield();
	end = cb_monotonic_ns() + (uint64_t)(ms < 0 ? 0 : ms) * 1000000u;
	while (ms < 0 || cb_monotonic_ns() < end) {
		cb_ticket t;
		uint64_t u;
		int v;

		/* Retry at once: the tighter the race on the counter, the
		 * likelier a broken admission shows. */
		if (cb_rsv_try(&r, P, CB_HOLD, 0, &t) < 0) {
			if ((++fails & 63) == 0)
				sched_yield();
			continue;
		}
		v = atomic_fetch_add(&sh->inside, 1) + 1;
		note_max(&sh->max_inside, v);
		/* The counter itself never passes the limit either. */
		u = atomic_load(&pslot(f, P)->usage);
		note_max(&sh->max_usage,
		    (int)(CB_USAGE_HELD(u) + CB_USAGE_LAUNCHING(u)));
		/* Give the CPU to the others while inside: on a machine with
		 * few cores that is what makes admissions race. */
		sched_yield();
		atomic_fetch_sub(&sh->inside, 1);
		if (cb_rsv_release(&r, &t) != 0)
			_exit(5);
		atomic_fetch_add(&sh->rounds, 1);
	}
	cb_rsv_release_all(&r);
	cb_rsv_unclaim(f->slots, r.client, r.owner);
	free((void *)r.local);
	_exit(0);
}

static void spawn(struct fx *f, struct shared *sh, pid_t *pids,
    const long *ms)
{
	atomic_store(&sh->go, 0);
	atomic_store(&sh->ready, 0);
	for (int k = 0; k < NPROC; k++) {
		atomic_store(&sh->claimed[k], 0);
		pids[k] = fork();
		assert_true(pids[k] >= 0);
		if (pids[k] == 0)
			child(f, sh, k, ms[k]);
	}
	/* Bounded: a child that could not claim exits instead. */
	for (int i = 0; i < 100000 && atomic_load(&sh->ready) < NPROC; i++)
		nanosleep(&(struct timespec){ 0, 100000 }, NULL);
	assert_int_equal(atomic_load(&sh->ready), NPROC);
	atomic_store(&sh->go, 1);
}

static struct shared *shared_new(void)
{
	struct shared *sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	assert_true(sh != MAP_FAILED);
	memset(sh, 0, sizeof(*sh));
	return sh;
}

/* Sum of the holds recorded by owned entries (what usage must equal). */
static uint64_t recorded_holds(struct fx *f, int pool)
{
	uint64_t sum = 0;

	for (uint32_t i = 0; i < nclient(f); i++)
		if (CB_OWNER_PID(atomic_load(&cslot(f, i)->owner)) != 0)
			sum += holds(f, i, pool);
	return sum;
}

static void test_processes_never_exceed_limit(void **state)
{
	struct fx *f = *state;
	struct shared *sh = shared_new();
	pid_t pids[NPROC];
	long ms[NPROC];
	int status;

	pool_define(f, P, SHARED_LIMIT, 2000, 0);
	for (int k = 0; k < NPROC; k++)
		ms[k] = 500;
	spawn(f, sh, pids, ms);
	for (int k = 0; k < NPROC; k++) {
		assert_int_equal(waitpid(pids[k], &status, 0), pids[k]);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	/* The limit held throughout, and something actually ran. */
	assert_true(atomic_load(&sh->max_inside) <= SHARED_LIMIT);
	assert_true(atomic_load(&sh->max_usage) <= SHARED_LIMIT);
	assert_true(atomic_load(&sh->max_inside) >= 1);
	assert_true(atomic_load(&sh->rounds) > 0);
	assert_int_equal(atomic_load(&sh->inside), 0);
	assert_true(usage(f, P) == 0);
	assert_int_equal(recorded_holds(f, P), 0);
	/* Every entry was given back (setup's fixture claimed none here). */
	for (int k = 0; k < NPROC; k++)
		assert_int_equal(CB_OWNER_PID(atomic_load(
		    &cslot(f, sh->client[k])->owner)), 0);
	munmap(sh, sizeof(*sh));
}

static void test_processes_killed_reclaim_recount(void **state)
{
	struct fx *f = *state;
	struct shared *sh = shared_new();
	uint32_t per_pool[CB_MAX_POOLS] = { 0 };
	pid_t pids[NPROC];
	long ms[NPROC];
	int status, r = -EAGAIN;
	int64_t hd, ld;
	uint64_t rounds;
	struct timespec ts = { 0, 1000000 };

	pool_define(f, P, SHARED_LIMIT, 2000, 0);
	/* 0 and 1 run until killed; the others stop after 500 ms. */
	for (int k = 0; k < NPROC; k++)
		ms[k] = k < 2 ? -1 : 500;
	spawn(f, sh, pids, ms);
	/* Let the victims get into the loop before they die. */
	rounds = atomic_load(&sh->rounds);
	for (int i = 0; i < 10000 && atomic_load(&sh->rounds) < rounds + 1000;
	    i++)
		nanosleep(&ts, NULL);
	assert_int_equal(kill(pids[0], SIGKILL), 0);
	assert_int_equal(kill(pids[1], SIGKILL), 0);
	for (int k = 0; k < NPROC; k++) {
		assert_int_equal(waitpid(pids[k], &status, 0), pids[k]);
		if (k < 2) {
			assert_true(WIFSIGNALED(status));
			assert_int_equal(WTERMSIG(status), SIGKILL);
		} else {
			assert_true(WIFEXITED(status));
			assert_int_equal(WEXITSTATUS(status), 0);
		}
	}
	assert_true(atomic_load(&sh->max_inside) <= SHARED_LIMIT);
	assert_true(atomic_load(&sh->max_usage) <= SHARED_LIMIT);
	/* Whatever the victims held is still counted: never under. */
	assert_true(held(f, P) >= recorded_holds(f, P));
	assert_true(held(f, P) <= SHARED_LIMIT);

	/* The broker's part: reclaim the dead, then recount. */
	for (int k = 0; k < 2; k++)
		assert_true(cb_rsv_reclaim(f->slots, sh->client[k],
		    sh->owner[k], per_pool) >= 0);
	assert_int_equal(recorded_holds(f, P), 0);
	for (int i = 0; i < 1000 && r < 0; i++) {
		r = cb_rsv_recount(f->slots, P, &f->sweep, &hd, &ld);
		assert_true(r == 1 || r == 0 || r == -EAGAIN);
	}
	assert_true(r >= 0);
	assert_true(usage(f, P) == 0);
	assert_int_equal(cb_rsv_recount(f->slots, P, &f->sweep, &hd, &ld), 0);
	munmap(sh, sizeof(*sh));
}

/* Victims killed while other processes keep holds: usage ends equal to
 * the survivors' records, not 0. */
static void test_processes_killed_survivors_hold(void **state)
{
	struct fx *f = *state;
	struct shared *sh = shared_new();
	uint32_t per_pool[CB_MAX_POOLS] = { 0 };
	struct cb_rsv keeper;
	cb_ticket kt;
	pid_t pids[NPROC];
	long ms[NPROC];
	int status, r = -EAGAIN;
	int64_t hd, ld;
	uint64_t rounds;
	struct timespec ts = { 0, 1000000 };

	/* The parent keeps one unit for the whole run. */
	pool_define(f, P, SHARED_LIMIT + 1, 2000, 0);
	memset(&keeper, 0, sizeof(keeper));
	keeper.state = f->state;
	keeper.slots = f->slots;
	assert_int_equal(cb_rsv_claim(f->slots, getpid(), START,
	    &keeper.client, &keeper.owner), 0);
	keeper.local = calloc(LOCAL_SIZE, sizeof(*keeper.local));
	assert_non_null(keeper.local);
	keeper.local_size = LOCAL_SIZE;
	assert_int_equal(cb_rsv_try(&keeper, P, CB_HOLD, 0, &kt), 0);

	for (int k = 0; k < NPROC; k++)
		ms[k] = -1;
	spawn(f, sh, pids, ms);
	rounds = atomic_load(&sh->rounds);
	for (int i = 0; i < 10000 && atomic_load(&sh->rounds) < rounds + 1000;
	    i++)
		nanosleep(&ts, NULL);
	for (int k = 0; k < NPROC; k++)
		assert_int_equal(kill(pids[k], SIGKILL), 0);
	for (int k = 0; k < NPROC; k++) {
		assert_int_equal(waitpid(pids[k], &status, 0), pids[k]);
		assert_true(WIFSIGNALED(status));
	}
	/* 3 for the children plus the parent's one. */
	assert_true(atomic_load(&sh->max_inside) <= SHARED_LIMIT);
	assert_true(atomic_load(&sh->max_usage) <= SHARED_LIMIT + 1);
	assert_true(held(f, P) >= recorded_holds(f, P));
	assert_true(held(f, P) <= SHARED_LIMIT + 1);

	for (int k = 0; k < NPROC; k++)
		assert_true(cb_rsv_reclaim(f->slots, sh->client[k],
		    sh->owner[k], per_pool) >= 0);
	assert_int_equal(recorded_holds(f, P), 1);
	for (int i = 0; i < 1000 && r < 0; i++)
		r = cb_rsv_recount(f->slots, P, &f->sweep, &hd, &ld);
	assert_true(r >= 0);
	assert_int_equal(held(f, P), 1);
	assert_int_equal(launching(f, P), 0);

	assert_int_equal(cb_rsv_release(&keeper, &kt), 0);
	assert_true(usage(f, P) == 0);
	free((void *)keeper.local);
	munmap(sh, sizeof(*sh));
}

/*
 * Issue 12, finding 6: a member of the slots group writes an in-flight
 * count into another client's death-window word.  0xfe made every
 * window_open of the victim spin for ever.  Now the victim sees a count
 * its own threads cannot account for and repairs it at once.  Each
 * attempt runs in a child (fork: the fixture is private memory), given
 * 5 s to return; a wedged child is killed and the test fails.
 */
static int forged_child(struct fx *f)
{
	cb_ticket t;

	if (cb_rsv_try(&f->r, P, CB_HOLD, 0, &t) != 0)
		return 2;
	if (CB_SEQ_INFLIGHT(atomic_load(&cslot(f, f->r.client)->seq)) != 0)
		return 3;
	if (cb_rsv_release(&f->r, &t) != 0)
		return 4;
	if (CB_SEQ_INFLIGHT(atomic_load(&cslot(f, f->r.client)->seq)) != 0)
		return 5;
	return 0;
}

static void test_window_word_forged_in_flight(void **state)
{
	struct fx *f = *state;
	const uint32_t forged[] = { 0xfe, 0xff, CB_RSV_INFLIGHT_MAX };
	struct timespec ms = { 0, 1000000 };

	for (size_t i = 0; i < sizeof(forged) / sizeof(forged[0]); i++) {
		int st = 0, done = 0;
		pid_t pid;

		atomic_store(&cslot(f, f->r.client)->seq, 0x4200u | forged[i]);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0)
			_exit(forged_child(f));
		for (int k = 0; k < 5000 && !done; k++) {
			done = waitpid(pid, &st, WNOHANG) == pid;
			if (!done)
				nanosleep(&ms, NULL);
		}
		if (!done) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			fail_msg("S in-flight 0x%x: the client is wedged",
			    forged[i]);
		}
		assert_true(WIFEXITED(st));
		assert_int_equal(WEXITSTATUS(st), 0);
	}
}

/*
 * The same hostile word must not stop the recount: an entry's slack is
 * at most CB_RSV_INFLIGHT_MAX whatever its S says (it was 254, which
 * stopped every trim of a counter less than 254 too high).  Both the
 * pool recount and the worker recount.
 */
static void test_recount_slack_bounded_per_entry(void **state)
{
	struct fx *f = *state;
	static int64_t drift[CB_MAX_WORKERS];
	cb_ticket t;
	int64_t hd, ld;

	rsv_open(f, &f->r2, 31337, LOCAL_SIZE);
	assert_int_equal(hold(f, &t), 0);
	atomic_store(&cslot(f, f->r2.client)->seq, 0x4200u | 0xfe);
	set_usage(f, P, 100, 0);
	assert_int_equal(recount(f, P, &hd, &ld), 1);
	assert_int_equal(held(f, P), 1 + CB_RSV_INFLIGHT_MAX);

	atomic_store(&cb_slots_worker(f->slots, 0)->inflight, 100);
	assert_true(cb_place_recount(f->slots, &f->sweep, drift) >= 1);
	assert_int_equal(atomic_load(&cb_slots_worker(f->slots, 0)->inflight),
	    CB_RSV_INFLIGHT_MAX);

	/* The victim's next window repairs its word; then nothing is in
	 * flight and the recount trims to the records exactly. */
	set_usage(f, P, 1, 0);
	assert_int_equal(cb_rsv_try(&f->r2, P, CB_HOLD, 0, &t), 0);
	assert_int_equal(CB_SEQ_INFLIGHT(atomic_load(&cslot(f,
	    f->r2.client)->seq)), 0);
	set_usage(f, P, 100, 0);
	assert_int_equal(recount(f, P, &hd, &ld), 1);
	assert_int_equal(held(f, P), 2);
}

/*
 * Issue 12: the reclaim of a dead client's CLAIMING launch entries gave
 * their units back without a wake, so a reserver blocked on the pool
 * slept on until some other release came.  The client died inside
 * cb_reserve: its window open, launching + 1, its entry CLAIMING.
 */
static void test_reclaim_claims_wakes(void **state)
{
	struct fx *f = *state;
	uint32_t per_pool[CB_MAX_POOLS] = { 0 }, seq, e = 7;

	rsv_open(f, &f->r2, 31337, LOCAL_SIZE);
	atomic_fetch_add(&cslot(f, f->r2.client)->seq, 1);
	set_usage(f, P, 0, 1);
	atomic_store(&lslot(f, e)->word, CB_LAUNCH_WORD(CB_LAUNCH_CLAIMING,
	    P, f->r2.client, 1));
	seq = atomic_load(&pslot(f, P)->release_seq);
	assert_int_equal(cb_rsv_reclaim(f->slots, f->r2.client, f->r2.owner,
	    per_pool), 0);
	assert_int_equal(launching(f, P), 0);
	assert_int_equal(CB_LAUNCH_STATE(atomic_load(&lslot(f, e)->word)),
	    CB_LAUNCH_FREE);
	assert_int_equal(atomic_load(&pslot(f, P)->release_seq) - seq, 1);
}

#define RSV_TEST(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
#define SHM_TEST(fn) \
	cmocka_unit_test_setup_teardown(fn, setup_shared, teardown_shared)

int main(void)
{
	const struct CMUnitTest tests[] = {
		RSV_TEST(test_claim_distinct_and_owner),
		RSV_TEST(test_claim_clears_garbage),
		RSV_TEST(test_scrub_free_entry),
		RSV_TEST(test_scrub_loses_to_a_claim),
		RSV_TEST(test_claim_table_full),
		RSV_TEST(test_limit_sources),
		RSV_TEST(test_admitted_batches),
		RSV_TEST(test_hold_up_to_limit),
		RSV_TEST(test_hold_limit_zero_and_raise),
		RSV_TEST(test_hold_double_release),
		RSV_TEST(test_hold_stale_ticket_same_slot),
		RSV_TEST(test_hold_foreign_ticket),
		RSV_TEST(test_hold_ticket_other_pool),
		RSV_TEST(test_hold_release_all),
		RSV_TEST(test_launch_admission_observed),
		RSV_TEST(test_launch_entry_live_and_release),
		RSV_TEST(test_launch_default_window),
		RSV_TEST(test_launch_stale_ticket_reused_entry),
		RSV_TEST(test_launch_release_by_other_client),
		RSV_TEST(test_launch_table_full),
		RSV_TEST(test_launch_expire_once),
		RSV_TEST(test_settle),
		RSV_TEST(test_settle_live_claimer_gets_grace),
		RSV_TEST(test_settle_cuts_past_one_window),
		RSV_TEST(test_settle_frees_unknown_pool),
		RSV_TEST(test_reclaim_exact),
		RSV_TEST(test_reclaim_bounded_by_counter),
		RSV_TEST(test_death_window_over_counts_recount_repairs),
		RSV_TEST(test_recount_fills_deficit_despite_open_window),
		RSV_TEST(test_death_after_record),
		RSV_TEST(test_death_mid_release),
		RSV_TEST(test_recount_hostile),
		RSV_TEST(test_hostile_usage),
		RSV_TEST(test_refused_touches_nothing_shared),
		RSV_TEST(test_launch_hint),
		RSV_TEST(test_expire_deadline_inclusive),
		RSV_TEST(test_settle_keeps_racing_claimer),
		RSV_TEST(test_recount_under_churn),
		RSV_TEST(test_release_races_expire),
		RSV_TEST(test_window_word_forged_in_flight),
		RSV_TEST(test_recount_slack_bounded_per_entry),
		RSV_TEST(test_reclaim_claims_wakes),
		SHM_TEST(test_processes_never_exceed_limit),
		SHM_TEST(test_processes_killed_reclaim_recount),
		SHM_TEST(test_processes_killed_survivors_hold),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
