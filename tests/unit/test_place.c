/*
 * test_place.c - worker placement (lib/place.c, protocol in
 * lib/place.h): the three policies with known loads and their
 * deterministic tie-break (the lowest worker id: the table is sorted
 * by id), each worker's limit, not-ready and draining workers, release
 * of both halves, stale tickets, cb_close, the broker's reclaim,
 * settle and recount, and processes picking concurrently.
 *
 * Segments are built in memory the broker's way (as test_reserve.c
 * does); the published worker table is written under its seqlock as
 * the publisher writes it, and loads are set on the worker slots'
 * counters directly.  Nothing here touches /dev/shm.
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
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "abi.h"
#include "futex.h"
#include "place.h"
#include "reserve.h"
#include "segment.h"
#include "seqlock.h"
#include "slots.h"
#include "state_word.h"
#include "sweep.h"

#define NAME "place"
#define INSTANCE 0x0badc0ffee000007ull

#include "segfix.h"	/* after NAME and INSTANCE */

#define START 4242ull
#define LOCAL_SIZE 64u
#define P 1                    /* the pool the tests pick in */

#define CONS CB_PLACE_CONSOLIDATE
#define SPREAD CB_PLACE_SPREAD
#define LEAST CB_PLACE_LEAST_LOADED

#define READY CB_WORKER_READY
#define NOT_READY CB_WORKER_NOT_READY
#define DRAINING CB_WORKER_DRAINING

struct fx {
	void *state;
	void *slots;
	void *map;                 /* one MAP_SHARED mapping for both */
	size_t map_size;
	struct cb_rsv r;           /* a claimed client */
	struct cb_rsv r2;          /* a second one */
	struct cb_sweep_scratch sweep;  /* the recount's (sweep.h) */
};

/* A published worker: id, state, limit, slot, load to preset. */
struct wdef {
	const char *id;
	uint32_t state;
	uint32_t limit;
	uint32_t slot;
	uint32_t inflight;
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

static struct cb_worker_slot *wslot(struct fx *f, uint32_t w)
{
	return cb_slots_worker(f->slots, w);
}

static struct cb_bind_slot *bslot(struct fx *f, uint32_t e)
{
	return cb_slots_bind(f->slots, e);
}

/* The publisher's side of pool p: definition, limit. */
static void pool_define(struct fx *f, int pool, uint32_t limit)
{
	seg_pool_define(f->state, pool, limit, 2000, 0);
}

/* The publisher's side of the worker table (records in id order),
 * without touching the counters. */
static void publish(struct fx *f, const struct wdef *w, uint32_t n)
{
	struct cb_worker_table *t = cb_seg_region(f->state, CB_RS_WORKERS);

	cb_seqlock_write_begin(&t->seq);
	__atomic_store_n(&t->count, n, __ATOMIC_RELAXED);
	for (uint32_t i = 0; i < n; i++) {
		struct cb_worker_rec rec;

		memset(&rec, 0, sizeof(rec));
		snprintf(rec.id, sizeof(rec.id), "%s", w[i].id);
		rec.state = w[i].state;
		rec.max_running = w[i].limit;
		rec.slot = w[i].slot;
		rec.limit = w[i].limit;
		cb_seq_copy_in(cb_seg_record(f->state, CB_RS_WORKERS,
		    sizeof(*t), i), &rec, sizeof(rec));
	}
	cb_seqlock_write_end(&t->seq);
}

/* Publish and preset each worker's load. */
static void workers(struct fx *f, const struct wdef *w, uint32_t n)
{
	publish(f, w, n);
	for (uint32_t i = 0; i < n; i++)
		atomic_store(&wslot(f, w[i].slot)->inflight, w[i].inflight);
}

static void rsv_open(struct fx *f, struct cb_rsv *r, pid_t pid)
{
	seg_rsv_open(r, f->state, f->slots, pid, START, LOCAL_SIZE);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->map = seg_map_pair(&f->map_size, &f->state, &f->slots);
	pool_define(f, 0, 100);
	pool_define(f, P, 100);
	rsv_open(f, &f->r, getpid());
	rsv_open(f, &f->r2, getpid() + 1);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	free((void *)f->r.local);
	free((void *)f->r2.local);
	munmap(f->map, f->map_size);
	free(f);
	return 0;
}

/* ---- helpers ----------------------------------------------------------- */

static uint32_t inflight(struct fx *f, uint32_t slot)
{
	return atomic_load(&wslot(f, slot)->inflight);
}

static uint32_t held(struct fx *f)
{
	return CB_USAGE_HELD(atomic_load(&pslot(f, P)->usage));
}

static uint32_t holds(struct fx *f, const struct cb_rsv *r)
{
	return atomic_load(&cslot(f, r->client)->holds[P]);
}

/* Binds of client r's partition that are BOUND. */
static uint32_t bound(struct fx *f, const struct cb_rsv *r)
{
	uint32_t n = 0;

	for (uint32_t k = 0; k < CB_BINDS_PER_CLIENT; k++)
		n += CB_BIND_STATE(atomic_load(&bslot(f, r->client *
		    CB_BINDS_PER_CLIENT + k)->word)) == CB_BIND_BOUND;
	return n;
}

/* Pick with policy; assert success on worker `want`. */
static void pick_ok(struct fx *f, struct cb_rsv *r, int policy,
    const char *want, cb_ticket *t)
{
	char id[CB_WORKER_ID_STRLEN];
	cb_ticket scratch;

	(void)f;
	memset(id, 'x', sizeof(id));
	assert_int_equal(cb_place_try(r, P, policy, t ? t : &scratch, id),
	    0);
	assert_string_equal(id, want);
}

static int pick(struct fx *f, int policy)
{
	char id[CB_WORKER_ID_STRLEN];
	cb_ticket t;

	return cb_place_try(&f->r, P, policy, &t, id);
}

/* ---- the scoring function -------------------------------------------- */

static void test_better(void **state)
{
	(void)state;
	/* consolidate: busier wins, equal keeps the earlier. */
	assert_true(cb_place_better(CONS, 3, 4, 1, 8));
	assert_false(cb_place_better(CONS, 1, 8, 3, 4));
	assert_false(cb_place_better(CONS, 2, 4, 2, 9));
	/* spread: 6/8 free beats 2/4 free; 1/2 == 2/4 keeps the earlier. */
	assert_true(cb_place_better(SPREAD, 2, 8, 2, 4));
	assert_false(cb_place_better(SPREAD, 1, 2, 2, 4));
	assert_false(cb_place_better(SPREAD, 2, 4, 1, 2));
	/* ... exact for large limits (no float rounding). */
	assert_true(cb_place_better(SPREAD, 0, 65535, 1, 65535));
	assert_false(cb_place_better(SPREAD, 65535, 65535, 0, 1));
	/* least_loaded: fewer wins, equal keeps the earlier. */
	assert_true(cb_place_better(LEAST, 0, 1, 1, 100));
	assert_false(cb_place_better(LEAST, 1, 100, 1, 2));
	assert_false(cb_place_better(99, 0, 1, 5, 5));
	assert_true(cb_place_policy_valid(CONS));
	assert_true(cb_place_policy_valid(LEAST));
	assert_false(cb_place_policy_valid(0));
	assert_false(cb_place_policy_valid(4));
}

/* ---- policies with known loads --------------------------------------- */

/* a..f in id order: b is the busiest with room, c the full one, d and
 * e busier still but not ready / draining. */
static const struct wdef LOADS[] = {
	{ "a", READY, 4, 10, 1 },
	{ "b", READY, 8, 3, 3 },
	{ "c", READY, 4, 7, 4 },        /* full */
	{ "d", NOT_READY, 8, 0, 5 },
	{ "e", DRAINING, 8, 1, 6 },
	{ "f", READY, 2, 2, 0 },
};
#define NLOADS (sizeof(LOADS) / sizeof(LOADS[0]))

static void test_consolidate_known_loads(void **state)
{
	struct fx *f = *state;

	workers(f, LOADS, NLOADS);
	/* b (3 of 8) is the busiest with room. */
	pick_ok(f, &f->r, CONS, "b", NULL);
	assert_int_equal(inflight(f, 3), 4);
	/* Keeps packing b until it is full... */
	for (int i = 0; i < 4; i++)
		pick_ok(f, &f->r, CONS, "b", NULL);
	assert_int_equal(inflight(f, 3), 8);
	/* ... then a (1) before the idle f (0); c never (full). */
	pick_ok(f, &f->r, CONS, "a", NULL);
	assert_int_equal(inflight(f, 10), 2);
	assert_int_equal(inflight(f, 7), 4);
	assert_int_equal(inflight(f, 0), 5);
	assert_int_equal(inflight(f, 1), 6);
}

static void test_consolidate_tie_lowest_id(void **state)
{
	struct fx *f = *state;
	/* Table order is id order; slots deliberately the other way. */
	const struct wdef w[] = {
		{ "gpu-0", READY, 4, 9, 2 },
		{ "gpu-1", READY, 9, 5, 2 },
		{ "gpu-2", READY, 4, 1, 2 },
	};

	workers(f, w, 3);
	pick_ok(f, &f->r, CONS, "gpu-0", NULL);
	/* Idle fleet: everything goes to the first id until it is full. */
	const struct wdef idle[] = {
		{ "w1", READY, 2, 20, 0 },
		{ "w2", READY, 2, 21, 0 },
	};
	workers(f, idle, 2);
	pick_ok(f, &f->r, CONS, "w1", NULL);
	pick_ok(f, &f->r, CONS, "w1", NULL);
	pick_ok(f, &f->r, CONS, "w2", NULL);
}

static void test_spread_known_loads(void **state)
{
	struct fx *f = *state;

	workers(f, LOADS, NLOADS);
	/* Free ratios: a 3/4, b 5/8, c 0, f 2/2 = 1. */
	pick_ok(f, &f->r, SPREAD, "f", NULL);
	/* f 1/2 now: a 3/4 is the highest. */
	pick_ok(f, &f->r, SPREAD, "a", NULL);
	/* a 2/4, b 5/8, f 1/2: b. */
	pick_ok(f, &f->r, SPREAD, "b", NULL);
	/* a 2/4, b 4/8, f 1/2: a three-way tie, the lowest id wins. */
	pick_ok(f, &f->r, SPREAD, "a", NULL);
	/* a 1/4, b 4/8, f 1/2: b and f tie, b first. */
	pick_ok(f, &f->r, SPREAD, "b", NULL);
	pick_ok(f, &f->r, SPREAD, "f", NULL);
	assert_int_equal(inflight(f, 2), 2);
	assert_int_equal(inflight(f, 7), 4);
}

static void test_least_loaded_known_loads(void **state)
{
	struct fx *f = *state;
	const struct wdef w[] = {
		{ "a", READY, 10, 0, 3 },
		{ "b", READY, 10, 1, 1 },
		{ "c", READY, 10, 2, 1 },
		{ "d", DRAINING, 10, 3, 0 },
		{ "e", NOT_READY, 10, 4, 0 },
	};

	workers(f, w, 5);
	/* b and c tie at 1: b. */
	pick_ok(f, &f->r, LEAST, "b", NULL);
	pick_ok(f, &f->r, LEAST, "c", NULL);
	/* a 3, b 2, c 2: b. */
	pick_ok(f, &f->r, LEAST, "b", NULL);
	pick_ok(f, &f->r, LEAST, "c", NULL);
	pick_ok(f, &f->r, LEAST, "a", NULL);
	assert_int_equal(inflight(f, 3), 0);
	assert_int_equal(inflight(f, 4), 0);
}

/* ---- limits ---------------------------------------------------------- */

static void test_max_running_honoured(void **state)
{
	struct fx *f = *state;
	const struct wdef w[] = {
		{ "small", READY, 3, 4, 0 },
		{ "tiny", READY, 1, 5, 0 },
	};
	uint64_t before;

	workers(f, w, 2);
	for (int i = 0; i < 4; i++)
		assert_int_equal(pick(f, LEAST), 0);
	assert_int_equal(inflight(f, 4), 3);
	assert_int_equal(inflight(f, 5), 1);
	/* Both full: refused, and nothing shared was written. */
	before = atomic_load(&pslot(f, P)->usage);
	assert_int_equal(pick(f, LEAST), -EAGAIN);
	assert_int_equal(pick(f, CONS), -EAGAIN);
	assert_int_equal(pick(f, SPREAD), -EAGAIN);
	assert_true(atomic_load(&pslot(f, P)->usage) == before);
	assert_int_equal(held(f), 4);
	assert_int_equal(holds(f, &f->r), 4);
	assert_int_equal(bound(f, &f->r), 4);
	assert_int_equal(inflight(f, 4), 3);
	assert_int_equal(inflight(f, 5), 1);
}

static void test_pool_limit(void **state)
{
	struct fx *f = *state;
	const struct wdef w[] = { { "big", READY, 50, 0, 0 } };

	pool_define(f, P, 2);
	workers(f, w, 1);
	assert_int_equal(pick(f, CONS), 0);
	assert_int_equal(pick(f, CONS), 0);
	/* The worker has room, the pool has not. */
	assert_int_equal(pick(f, CONS), -EAGAIN);
	assert_int_equal(inflight(f, 0), 2);
	assert_int_equal(held(f), 2);
	/* A plain hold competes for the same pool. */
	pool_define(f, P, 3);
	assert_int_equal(cb_rsv_try(&f->r2, P, CB_HOLD, 0,
	    &(cb_ticket){ { 0, 0 } }), 0);
	assert_int_equal(pick(f, CONS), -EAGAIN);
	assert_int_equal(inflight(f, 0), 2);
}

static void test_no_ready_worker(void **state)
{
	struct fx *f = *state;
	const struct wdef w[] = {
		{ "d", DRAINING, 4, 0, 0 },
		{ "n", NOT_READY, 4, 1, 0 },
	};

	assert_int_equal(pick(f, CONS), -ENOENT);     /* empty table */
	workers(f, w, 2);
	assert_int_equal(pick(f, CONS), -ENOENT);
	assert_int_equal(pick(f, SPREAD), -ENOENT);
	assert_int_equal(pick(f, LEAST), -ENOENT);
	assert_int_equal(inflight(f, 0), 0);
	assert_int_equal(inflight(f, 1), 0);
	assert_int_equal(held(f), 0);
	/* A ready worker with no room is "full", not "none". */
	const struct wdef z[] = { { "z", READY, 0, 2, 0 } };
	workers(f, z, 1);
	assert_int_equal(pick(f, CONS), -EAGAIN);
}

/* ---- draining, release, stale tickets -------------------------------- */

static void test_draining_finishes_in_flight(void **state)
{
	struct fx *f = *state;
	struct wdef w[] = {
		{ "a", READY, 4, 0, 0 },
		{ "b", READY, 4, 1, 0 },
	};
	cb_ticket t1, t2;

	workers(f, w, 2);
	pick_ok(f, &f->r, CONS, "a", &t1);
	pick_ok(f, &f->r, CONS, "a", &t2);
	/* a drains: new work goes to b; a's two holds stay bound. */
	w[0].state = DRAINING;
	publish(f, w, 2);
	pick_ok(f, &f->r, CONS, "b", NULL);
	pick_ok(f, &f->r, LEAST, "b", NULL);
	assert_int_equal(inflight(f, 0), 2);
	/* ... and end normally. */
	assert_int_equal(cb_rsv_release(&f->r, &t1), 0);
	assert_int_equal(inflight(f, 0), 1);
	assert_int_equal(cb_rsv_release(&f->r, &t2), 0);
	assert_int_equal(inflight(f, 0), 0);
	assert_int_equal(inflight(f, 1), 2);
	/* Not ready: same. */
	w[1].state = NOT_READY;
	publish(f, w, 2);
	assert_int_equal(pick(f, CONS), -ENOENT);
}

static void test_release_frees_both(void **state)
{
	struct fx *f = *state;
	const struct wdef w[] = { { "a", READY, 4, 6, 0 } };
	cb_ticket t;
	uint32_t e;

	workers(f, w, 1);
	pick_ok(f, &f->r, CONS, "a", &t);
	assert_true(cb_place_ticket(&t));
	e = (uint32_t)(t.opaque[0] >> 32);
	assert_int_equal(e / CB_BINDS_PER_CLIENT, f->r.client);
	assert_true(atomic_load(&bslot(f, e)->word) == t.opaque[1]);
	assert_int_equal(CB_BIND_WORKER(t.opaque[1]), 6);
	assert_int_equal(CB_BIND_POOL(t.opaque[1]), P);
	assert_int_equal(held(f), 1);
	assert_int_equal(holds(f, &f->r), 1);
	assert_int_equal(inflight(f, 6), 1);
	assert_int_equal(atomic_load(&wslot(f, 6)->picks), 1);

	assert_int_equal(cb_rsv_release(&f->r, &t), 0);
	assert_int_equal(held(f), 0);
	assert_int_equal(holds(f, &f->r), 0);
	assert_int_equal(inflight(f, 6), 0);
	assert_int_equal(CB_BIND_STATE(atomic_load(&bslot(f, e)->word)),
	    CB_BIND_FREE);
	/* Both halves are free for the next picker and reserver. */
	assert_int_equal(CB_SEQ_INFLIGHT(atomic_load(&cslot(f,
	    f->r.client)->seq)), 0);
}

static void test_stale_release(void **state)
{
	struct fx *f = *state;
	const struct wdef w[] = { { "a", READY, 4, 6, 0 } };
	cb_ticket t, t2, t3;

	workers(f, w, 1);
	pick_ok(f, &f->r, CONS, "a", &t);
	assert_int_equal(cb_rsv_release(&f->r, &t), 0);
	/* Double release: -ESTALE, counted, nothing else freed. */
	pick_ok(f, &f->r, CONS, "a", &t2);
	pick_ok(f, &f->r, CONS, "a", &t3);
	assert_int_equal(cb_rsv_release(&f->r, &t), -ESTALE);
	assert_int_equal(atomic_load(&pslot(f, P)->stale_releases), 1);
	assert_int_equal(inflight(f, 6), 2);
	assert_int_equal(held(f), 2);
	assert_int_equal(holds(f, &f->r), 2);
	/* An entry reused since: the old word cannot match the new one. */
	assert_int_equal(cb_rsv_release(&f->r, &t2), 0);
	pick_ok(f, &f->r, CONS, "a", &t);
	assert_int_equal(cb_rsv_release(&f->r, &t2), -ESTALE);
	assert_int_equal(inflight(f, 6), 2);
	/* Another handle's ticket is not ours to release. */
	assert_int_equal(cb_rsv_release(&f->r2, &t3), -EINVAL);
	assert_int_equal(inflight(f, 6), 2);
	/* A forged word (not BOUND, or another pool) is refused. */
	t2 = t3;
	t2.opaque[1] &= ~(uint64_t)3;
	assert_int_equal(cb_rsv_release(&f->r, &t2), -EINVAL);
	assert_int_equal(cb_rsv_release(&f->r, &t3), 0);
	assert_int_equal(cb_rsv_release(&f->r, &t), 0);
	assert_int_equal(inflight(f, 6), 0);
	assert_int_equal(held(f), 0);
}

static void test_release_all_frees_binds(void **state)
{
	struct fx *f = *state;
	const struct wdef w[] = {
		{ "a", READY, 4, 1, 0 },
		{ "b", READY, 4, 2, 0 },
	};
	cb_ticket t;

	workers(f, w, 2);
	pick_ok(f, &f->r, LEAST, "a", &t);
	pick_ok(f, &f->r, LEAST, "b", NULL);
	pick_ok(f, &f->r2, LEAST, "a", NULL);
	cb_rsv_release_all(&f->r);
	assert_int_equal(inflight(f, 1), 1);      /* r2's stays */
	assert_int_equal(inflight(f, 2), 0);
	assert_int_equal(bound(f, &f->r), 0);
	assert_int_equal(bound(f, &f->r2), 1);
	assert_int_equal(held(f), 1);
	assert_int_equal(cb_rsv_release(&f->r, &t), -ESTALE);
}

/* ---- the broker's side ----------------------------------------------- */

static void test_reclaim_dead_client(void **state)
{
	struct fx *f = *state;
	const struct wdef w[] = {
		{ "a", READY, 4, 1, 0 },
		{ "b", READY, 4, 2, 0 },
	};
	uint32_t per_pool[CB_MAX_POOLS] = { 0 };

	workers(f, w, 2);
	pick_ok(f, &f->r2, LEAST, "a", NULL);
	pick_ok(f, &f->r2, LEAST, "b", NULL);
	pick_ok(f, &f->r2, LEAST, "a", NULL);
	pick_ok(f, &f->r, LEAST, "b", NULL);
	/* r2 dies: its three holds and binds go, r's stays. */
	assert_int_equal(cb_rsv_reclaim(f->slots, f->r2.client, f->r2.owner,
	    per_pool), 3);
	assert_int_equal(per_pool[P], 3);
	assert_int_equal(inflight(f, 1), 0);
	assert_int_equal(inflight(f, 2), 1);
	assert_int_equal(bound(f, &f->r2), 0);
	assert_int_equal(bound(f, &f->r), 1);
	assert_int_equal(held(f), 1);
	assert_int_equal(atomic_load(&wslot(f, 1)->reclaimed), 2);
	assert_int_equal(atomic_load(&wslot(f, 2)->reclaimed), 1);
}

/* Killed inside the window after I[w]'s CAS, before the bind: I[w] is
 * one too high (never too low) until the recount. */
static void test_death_window_recount(void **state)
{
	struct fx *f = *state;
	const struct wdef w[] = { { "a", READY, 2, 3, 0 } };
	uint32_t per_pool[CB_MAX_POOLS] = { 0 }, date;
	static int64_t drift[CB_MAX_WORKERS];

	workers(f, w, 1);
	pick_ok(f, &f->r, CONS, "a", NULL);
	/* r2's steps 1-3 by hand, then it dies. */
	cb_rsv_window_open(&f->r2);
	assert_int_equal(cb_rsv_hold_take(&f->r2, P, 100, &date), 0);
	assert_int_equal(date, 0);                    /* a local pool */
	atomic_fetch_add(&wslot(f, 3)->inflight, 1);
	assert_int_equal(pick(f, CONS), -EAGAIN);     /* full: safe side */
	/* While its window is open, the recount may not trim the unit. */
	assert_int_equal(cb_place_recount(f->slots, &f->sweep, drift), 0);
	assert_int_equal(inflight(f, 3), 2);
	assert_true(cb_rsv_reclaim(f->slots, f->r2.client, f->r2.owner,
	    per_pool) >= 0);
	assert_int_equal(inflight(f, 3), 2);          /* no bind recorded */
	assert_int_equal(cb_place_recount(f->slots, &f->sweep, drift), 1);
	assert_true(drift[3] == 1);
	assert_int_equal(inflight(f, 3), 1);
	assert_int_equal(atomic_load(&wslot(f, 3)->repaired), 1);
	assert_int_equal(cb_place_recount(f->slots, &f->sweep, drift), 0);
	pick_ok(f, &f->r, CONS, "a", NULL);
}

/* Killed after the bind: the reclaim undoes it. */
static void test_death_after_bind(void **state)
{
	struct fx *f = *state;
	const struct wdef w[] = { { "a", READY, 2, 3, 0 } };
	uint32_t per_pool[CB_MAX_POOLS] = { 0 };
	static int64_t drift[CB_MAX_WORKERS];

	workers(f, w, 1);
	pick_ok(f, &f->r2, CONS, "a", NULL);
	cb_rsv_window_open(&f->r2);      /* dies inside a later pick */
	assert_true(cb_rsv_reclaim(f->slots, f->r2.client, f->r2.owner,
	    per_pool) >= 0);
	assert_int_equal(inflight(f, 3), 0);
	assert_int_equal(held(f), 0);
	assert_int_equal(cb_place_recount(f->slots, &f->sweep, drift), 0);
}

static void test_recount_hostile(void **state)
{
	struct fx *f = *state;
	const struct wdef w[] = { { "a", READY, 4, 3, 0 } };
	static int64_t drift[CB_MAX_WORKERS];

	workers(f, w, 1);
	pick_ok(f, &f->r, CONS, "a", NULL);
	/* Too low (hostile): filled up to the binds. */
	atomic_store(&wslot(f, 3)->inflight, 0);
	/* Way too high, on a slot nobody uses. */
	atomic_store(&wslot(f, 1000)->inflight, 77);
	assert_int_equal(cb_place_recount(f->slots, &f->sweep, drift), 2);
	assert_true(drift[3] == -1 && drift[1000] == 77);
	assert_int_equal(inflight(f, 3), 1);
	assert_int_equal(inflight(f, 1000), 0);
}

static void test_settle_garbage(void **state)
{
	struct fx *f = *state;
	const struct wdef w[] = { { "a", READY, 8, 3, 0 } };
	uint32_t mine = f->r.client * CB_BINDS_PER_CLIENT;
	uint32_t free_client = (f->r2.client + 1) % CB_MAX_CLIENTS;
	static int64_t drift[CB_MAX_WORKERS];
	cb_ticket t;

	workers(f, w, 1);
	pick_ok(f, &f->r, CONS, "a", &t);
	assert_int_equal(CB_OWNER_PID(atomic_load(&cslot(f,
	    free_client)->owner)), 0);
	/* An impossible state, an inactive pool, a free client's entry. */
	atomic_store(&bslot(f, mine + 200)->word, 3 | (9ull << 18));
	atomic_store(&bslot(f, mine + 201)->word,
	    CB_BIND_WORD(CB_BIND_BOUND, 40, 3, 5));
	atomic_store(&bslot(f, free_client * CB_BINDS_PER_CLIENT)->word,
	    CB_BIND_WORD(CB_BIND_BOUND, P, 3, 5));
	assert_int_equal(cb_place_settle(f->slots, (1ull << 0) | (1ull << P)),
	    3);
	/* Freed with their nonce kept; the live bind untouched. */
	assert_true(atomic_load(&bslot(f, mine + 200)->word) == 9ull << 18);
	assert_int_equal(CB_BIND_STATE(atomic_load(&bslot(f,
	    mine + 201)->word)), CB_BIND_FREE);
	assert_int_equal(bound(f, &f->r), 1);
	assert_int_equal(cb_place_settle(f->slots, (1ull << 0) | (1ull << P)),
	    0);
	assert_int_equal(cb_place_recount(f->slots, &f->sweep, drift), 0);
	assert_int_equal(cb_rsv_release(&f->r, &t), 0);
	assert_int_equal(inflight(f, 3), 0);
}

/* A table republished between the choice and the CAS: a worker that
 * is no longer ready under the same slot does not get the bind. */
static void test_stable_slot_lookup(void **state)
{
	struct fx *f = *state;
	struct cb_worker_rec rec;
	const struct wdef w[] = {
		{ "b", READY, 4, 17, 0 },
		{ "c", READY, 4, 5, 0 },
	};
	const struct wdef w2[] = {
		{ "a", READY, 4, 40, 0 },
		{ "b", READY, 4, 17, 0 },
		{ "c", READY, 4, 5, 0 },
	};

	workers(f, w, 2);
	pick_ok(f, &f->r, CONS, "b", NULL);
	/* "a" sorts first: b moves to index 1 but keeps slot 17. */
	publish(f, w2, 3);
	assert_int_equal(cb_place_find(f->state, "b", &rec), 0);
	assert_int_equal(rec.slot, 17);
	pick_ok(f, &f->r, CONS, "b", NULL);
	assert_int_equal(inflight(f, 17), 2);
	assert_int_equal(inflight(f, 40), 0);
	assert_int_equal(cb_place_find(f->state, "zz", &rec), -ENOENT);
}

static void test_partition_full(void **state)
{
	struct fx *f = *state;
	const struct wdef w[] = { { "a", READY, 1000, 3, 0 } };

	pool_define(f, P, 1000);
	workers(f, w, 1);
	for (int i = 0; i < CB_BINDS_PER_CLIENT; i++)
		assert_int_equal(pick(f, CONS), 0);
	assert_int_equal(pick(f, CONS), -ENOSPC);
	/* Undone: no unit left behind. */
	assert_int_equal(inflight(f, 3), CB_BINDS_PER_CLIENT);
	assert_int_equal(held(f), CB_BINDS_PER_CLIENT);
	/* Another client has its own partition. */
	pick_ok(f, &f->r2, CONS, "a", NULL);
}

/* ---- processes ------------------------------------------------------- */

#define NPROC 6
#define ROUNDS 3000

/* Shared with the children: what they observe while holding. */
struct shared {
	_Atomic int go;
	_Atomic int inside[3];       /* holds really bound to a, b, c */
	_Atomic int total;
	_Atomic int max_inside[3];
	_Atomic int max_total;
	_Atomic int over;            /* a counter seen past its limit */
	_Atomic long picks;
};

static const struct wdef PROC_W[] = {
	{ "a", READY, 2, 11, 0 },
	{ "b", READY, 3, 12, 0 },
	{ "c", READY, 1, 13, 0 },
};
#define PROC_POOL 5              /* below the workers' sum (6) */

static void note_max(_Atomic int *m, int v)
{
	int cur = atomic_load(m);

	while (v > cur && !atomic_compare_exchange_weak(m, &cur, v))
		;
}

static void __attribute__((noreturn))
child(struct fx *f, struct shared *sh, int k)
{
	struct cb_rsv r;
	char id[CB_WORKER_ID_STRLEN];
	int ret = seg_rsv_try_open(&r, f->state, f->slots, getpid(), START,
	    LOCAL_SIZE);

	if (ret < 0)
		_exit(-ret);
	while (!atomic_load(&sh->go))
		sched_yield();
	for (int n = 0; n < ROUNDS; n++) {
		int policy = 1 + (n + k) % 3, w, v;
		cb_ticket t;

		if (cb_place_try(&r, P, policy, &t, id) != 0) {
			sched_yield();
			continue;
		}
		w = id[0] - 'a';
		v = atomic_fetch_add(&sh->inside[w], 1) + 1;
		note_max(&sh->max_inside[w], v);
		note_max(&sh->max_total, atomic_fetch_add(&sh->total, 1) + 1);
		for (int i = 0; i < 3; i++)
			if (cb_place_inflight(f->slots, PROC_W[i].slot) >
			    PROC_W[i].limit)
				atomic_store(&sh->over, 1);
		atomic_fetch_add(&sh->picks, 1);
		sched_yield();
		atomic_fetch_sub(&sh->total, 1);
		atomic_fetch_sub(&sh->inside[w], 1);
		if (cb_rsv_release(&r, &t) != 0)
			_exit(4);
	}
	cb_rsv_release_all(&r);
	cb_rsv_unclaim(f->slots, r.client, r.owner);
	_exit(0);
}

static void test_processes_never_exceed(void **state)
{
	struct fx *f = *state;
	struct shared *sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	pid_t pids[NPROC];
	int status;

	assert_true(sh != MAP_FAILED);
	memset(sh, 0, sizeof(*sh));
	pool_define(f, P, PROC_POOL);
	workers(f, PROC_W, 3);
	for (int k = 0; k < NPROC; k++) {
		pids[k] = fork();
		assert_true(pids[k] >= 0);
		if (pids[k] == 0)
			child(f, sh, k);
	}
	atomic_store(&sh->go, 1);
	for (int k = 0; k < NPROC; k++) {
		assert_int_equal(waitpid(pids[k], &status, 0), pids[k]);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	for (int i = 0; i < 3; i++) {
		assert_true(atomic_load(&sh->max_inside[i]) <=
		    (int)PROC_W[i].limit);
		assert_int_equal(inflight(f, PROC_W[i].slot), 0);
	}
	assert_true(atomic_load(&sh->max_total) <= PROC_POOL);
	assert_int_equal(atomic_load(&sh->over), 0);
	assert_true(atomic_load(&sh->picks) > 0);
	assert_int_equal(held(f), 0);
	munmap(sh, sizeof(*sh));
}

/* Policy names: what capctl --pick and the gateway's -P accept. */
static void test_placement_names(void **state)
{
	(void)state;
	for (int p = CB_PLACE_CONSOLIDATE; p <= CB_PLACE_LEAST_LOADED; p++)
		assert_int_equal(cb_placement_parse(cb_placement_name(p)), p);
	assert_string_equal(cb_placement_name(CB_PLACE_SPREAD), "spread");
	assert_int_equal(cb_placement_parse("least_loaded"),
	    CB_PLACE_LEAST_LOADED);
	assert_string_equal(cb_placement_name(0), "unknown");
	assert_string_equal(cb_placement_name(4), "unknown");
	assert_int_equal(cb_placement_parse("Spread"), -EINVAL);
	assert_int_equal(cb_placement_parse(""), -EINVAL);
	assert_int_equal(cb_placement_parse(NULL), -EINVAL);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_better),
		cmocka_unit_test(test_placement_names),
		T(test_consolidate_known_loads),
		T(test_consolidate_tie_lowest_id),
		T(test_spread_known_loads),
		T(test_least_loaded_known_loads),
		T(test_max_running_honoured),
		T(test_pool_limit),
		T(test_no_ready_worker),
		T(test_draining_finishes_in_flight),
		T(test_release_frees_both),
		T(test_stale_release),
		T(test_release_all_frees_binds),
		T(test_reclaim_dead_client),
		T(test_death_window_recount),
		T(test_death_after_bind),
		T(test_recount_hostile),
		T(test_settle_garbage),
		T(test_stable_slot_lookup),
		T(test_partition_full),
		T(test_processes_never_exceed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
