/*
 * test_tp_reserve.c - reservation races forced with the pause points of
 * the test build (lib/testpoint.h): one thread is held still at a
 * chosen line of lib/reserve.c or lib/place.c while the test changes
 * the shared words around it, then let go.  Each test pins a finding
 * of issue 12 and fails without its fix.
 *
 * Segments are built in memory the broker's way (segfix.h); the
 * publisher's and the sweeper's sides are played by the test thread.
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
#include "place.h"
#include "reserve.h"
#include "segment.h"
#include "seqlock.h"
#include "slots.h"
#include "state_word.h"
#include "sweep.h"
#include "testpoint.h"
#include "tphold.h"

#define NAME "tprsv"
#define INSTANCE 0x0badc0ffee00000cull

#include "segfix.h"	/* after NAME and INSTANCE */

#define START 4242ull
#define LOCAL_SIZE 64u
#define P 1

struct fx {
	void *state;
	void *slots;
	struct cb_rsv r;           /* the test thread's client */
	struct cb_rsv r2;          /* the client of the held thread */
	struct cb_sweep_scratch sweep;
};

/* What the held thread does. */
#define OP_PICK 0
#define OP_CLOSE (-1)              /* cb_rsv_release_all, as cb_close */
#define OP_RELEASE (-2)            /* cb_rsv_release of o->t */

struct op {
	struct fx *f;
	int pool, kind;            /* CB_HOLD, CB_LAUNCH, OP_PICK, OP_CLOSE */
	uint32_t observed;
	int ret;
	cb_ticket t;
};

static void *run_op(void *arg)
{
	struct op *o = arg;
	char id[CB_WORKER_ID_STRLEN];

	hold_me = 1;
	if (o->kind == OP_CLOSE)
		cb_rsv_release_all(&o->f->r2);
	else if (o->kind == OP_RELEASE)
		o->ret = cb_rsv_release(&o->f->r2, &o->t);
	else if (o->kind == OP_PICK)
		o->ret = cb_place_try(&o->f->r2, o->pool,
		    CB_PLACE_LEAST_LOADED, &o->t, id);
	else
		o->ret = cb_rsv_try(&o->f->r2, o->pool, o->kind, o->observed,
		    &o->t);
	hold_me = 0;
	return NULL;
}

/* Start op in a thread and wait until it is held at point. */
static void op_start_held(pthread_t *th, struct op *o, const char *point)
{
	assert_int_equal(hold_start(th, point, run_op, o), 0);
}

static void op_finish(pthread_t th)
{
	assert_int_equal(hold_finish(th), 0);
}

/* ---- fixtures ---------------------------------------------------------- */

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	seg_alloc_pair(&f->state, &f->slots);
	seg_pool_define(f->state, 0, 8, 2000, 0);
	seg_pool_define(f->state, P, 2, 2000, 0);
	seg_rsv_open(&f->r, f->state, f->slots, getpid(), START, LOCAL_SIZE);
	seg_rsv_open(&f->r2, f->state, f->slots, getpid() + 1, START,
	    LOCAL_SIZE);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	hold_disarm();
	free((void *)f->r.local);
	free((void *)f->r2.local);
	free(f->state);
	free(f->slots);
	free(f);
	return 0;
}

static uint64_t usage(struct fx *f, int pool)
{
	return atomic_load(&cb_slots_pool(f->slots, pool)->usage);
}

static uint32_t holds(struct fx *f, const struct cb_rsv *r, int pool)
{
	return atomic_load(&cb_slots_client(f->slots, r->client)->holds[pool]);
}


/* ---- finding 3: a limit lowered while an admission is in flight ----- */

/*
 * Issue 12, finding 3: the admission's limit is read before its CAS.
 * A reserver is held between its read of limit 2 and its CAS; the
 * publisher lowers the limit to 1 (pool 1 held 1 already); let go, the
 * reserver must be refused and usage stay within the new limit.
 * Without the re-check after the CAS it was admitted: held 2 at limit 1.
 */
static void lowered_limit_refuses(struct fx *f, int pool, int kind)
{
	struct op o = { .f = f, .pool = pool, .kind = kind };
	cb_ticket mine;
	pthread_t th;

	seg_pool_define(f->state, pool, 2, 2000, 0);
	assert_int_equal(cb_rsv_try(&f->r, pool, CB_HOLD, 0, &mine), 0);
	op_start_held(&th, &o, "reserve:before-cas");
	seg_pool_define(f->state, pool, 1, 2000, 0);    /* published */
	op_finish(th);
	assert_int_equal(o.ret, -EAGAIN);
	assert_int_equal(CB_USAGE_HELD(usage(f, pool)) +
	    CB_USAGE_LAUNCHING(usage(f, pool)), 1);
	assert_int_equal(holds(f, &f->r2, pool), 0);
	assert_int_equal(cb_rsv_release(&f->r, &mine), 0);
	assert_int_equal(usage(f, pool), 0);
}

static void test_lowered_limit_hold(void **state)
{
	lowered_limit_refuses(*state, P, CB_HOLD);
}

static void test_lowered_limit_launch(void **state)
{
	lowered_limit_refuses(*state, P, CB_LAUNCH);
}

/* Pool 0: its limit is the capacity in the state word. */
static void test_lowered_capacity_pool0(void **state)
{
	lowered_limit_refuses(*state, 0, CB_HOLD);
}

/* A launch's floor: the broker's observation rises while the launcher
 * is held before its CAS (1 held + observed 2 + 1 > limit 3). */
static void test_raised_observed_floor_launch(void **state)
{
	struct fx *f = *state;
	struct op o = { .f = f, .pool = P, .kind = CB_LAUNCH };
	cb_ticket mine;
	pthread_t th;

	seg_pool_define(f->state, P, 3, 2000, 0);
	assert_int_equal(cb_rsv_try(&f->r, P, CB_HOLD, 0, &mine), 0);
	op_start_held(&th, &o, "reserve:before-cas");
	seg_pool_define(f->state, P, 3, 2000, 2);
	op_finish(th);
	assert_int_equal(o.ret, -EAGAIN);
	assert_int_equal(usage(f, P), CB_USAGE(1, 0));
}

/* The same for a pick: its limit is read before the scan of the worker
 * table, the CAS comes after. */
static void test_lowered_limit_pick(void **state)
{
	struct fx *f = *state;
	struct op o = { .f = f, .pool = P, .kind = OP_PICK };
	cb_ticket mine;
	pthread_t th;

	seg_one_worker(f->state);
	assert_int_equal(cb_rsv_try(&f->r, P, CB_HOLD, 0, &mine), 0);
	op_start_held(&th, &o, "place:before-cas");
	seg_pool_define(f->state, P, 1, 2000, 0);
	op_finish(th);
	assert_int_equal(o.ret, -EAGAIN);
	assert_int_equal(usage(f, P), CB_USAGE(1, 0));
	assert_int_equal(holds(f, &f->r2, P), 0);
	assert_int_equal(cb_place_inflight(f->slots, 0), 0);
}

/* Control: a limit that did not change admits as before. */
static void test_unchanged_limit_admits(void **state)
{
	struct fx *f = *state;
	struct op o = { .f = f, .pool = P, .kind = CB_HOLD };
	pthread_t th;

	op_start_held(&th, &o, "reserve:before-cas");
	op_finish(th);
	assert_int_equal(o.ret, 0);
	assert_int_equal(usage(f, P), CB_USAGE(1, 0));
	assert_int_equal(holds(f, &f->r2, P), 1);
}

/* ---- finding 2: cb_close releases several units in one window ------- */

/*
 * Issue 12, finding 2.  A closer with 2 holds and another client with 1
 * fill pool 1 (limit 3).  The closer is held inside cb_close's window
 * at reserve:release-all-gap, after its first H-1 and before the U-1
 * that matches it; a recount runs in the gap (its snapshot is
 * consistent: nothing moves).  Let go, the pool must hold exactly the
 * other client's unit, so only 2 more admissions fit.  When cb_close
 * took H to 0 at once and subtracted 2 after, the recount saw records
 * 1 with one window open and trimmed U from 3 to 2; the late
 * subtraction left U 0 with a hold live: 4 live holds at limit 3.
 */
static void test_close_recount_in_the_gap(void **state)
{
	struct fx *f = *state;
	struct op o = { .f = f, .pool = P, .kind = OP_CLOSE };
	cb_ticket t;
	int64_t hd = 0, ld = 0;
	pthread_t th;
	int ret;

	seg_pool_define(f->state, P, 3, 2000, 0);
	assert_int_equal(cb_rsv_try(&f->r2, P, CB_HOLD, 0, &t), 0);
	assert_int_equal(cb_rsv_try(&f->r2, P, CB_HOLD, 0, &t), 0);
	assert_int_equal(cb_rsv_try(&f->r, P, CB_HOLD, 0, &t), 0);
	assert_int_equal(usage(f, P), CB_USAGE(3, 0));

	op_start_held(&th, &o, "reserve:release-all-gap");
	ret = cb_rsv_recount(f->slots, P, &f->sweep, &hd, &ld);
	assert_true(ret == 0 || ret == 1);      /* a consistent snapshot */
	op_finish(th);

	assert_int_equal(holds(f, &f->r2, P), 0);
	assert_int_equal(usage(f, P), CB_USAGE(1, 0));
	assert_int_equal(cb_rsv_recount(f->slots, P, &f->sweep, &hd, &ld), 0);
	assert_int_equal(cb_rsv_try(&f->r, P, CB_HOLD, 0, &t), 0);
	assert_int_equal(cb_rsv_try(&f->r, P, CB_HOLD, 0, &t), 0);
	assert_int_equal(cb_rsv_try(&f->r, P, CB_HOLD, 0, &t), -EAGAIN);
}

/* ---- the window counts behind a forged S ------------------------------ */

static uint32_t inflight(struct fx *f, const struct cb_rsv *r)
{
	return CB_SEQ_INFLIGHT(atomic_load(&cb_slots_client(f->slots,
	    r->client)->seq));
}

/* Someone else writes the client's S full (its version kept). */
static void forge_full(struct fx *f, const struct cb_rsv *r)
{
	_Atomic uint32_t *seq = &cb_slots_client(f->slots, r->client)->seq;

	atomic_store(seq, (atomic_load(seq) & ~0xffu) | CB_RSV_INFLIGHT_MAX);
}

/*
 * A thread of ours is held inside a hold's or a release's window (one
 * counted by its own entry of the hold table, LOCAL_INWIN, not by
 * r->windows: issue 14) when S is forged full.  Another thread's window
 * repairs S: the count must cover the held one's window as well as its
 * own (2), so that after both close S says 0 with no borrow into the
 * version.  A repair that missed the held window set 1: S went to 0
 * while a window was still open (the recount then trims its unit) and
 * the held close borrowed (0xff).
 */
static void forged_while_held(struct fx *f, struct op *o, const char *point)
{
	cb_ticket t;
	pthread_t th;

	op_start_held(&th, o, point);
	assert_int_equal(inflight(f, &f->r2), 1);
	forge_full(f, &f->r2);
	assert_int_equal(cb_rsv_try(&f->r2, P, CB_HOLD, 0, &t), 0);
	assert_int_equal(inflight(f, &f->r2), 1);      /* the held one */
	assert_int_equal(cb_rsv_release(&f->r2, &t), 0);
	assert_int_equal(inflight(f, &f->r2), 1);
	op_finish(th);
	assert_int_equal(o->ret, 0);
	assert_int_equal(inflight(f, &f->r2), 0);
}

static void test_forged_s_counts_held_hold(void **state)
{
	struct fx *f = *state;
	struct op o = { .f = f, .pool = P, .kind = CB_HOLD };

	forged_while_held(f, &o, "reserve:before-cas");
	assert_int_equal(usage(f, P), CB_USAGE(1, 0));
	assert_int_equal(cb_rsv_release(&f->r2, &o.t), 0);
	assert_int_equal(usage(f, P), 0);
}

static void test_forged_s_counts_held_release(void **state)
{
	struct fx *f = *state;
	struct op o = { .f = f, .pool = P, .kind = OP_RELEASE };

	assert_int_equal(cb_rsv_try(&f->r2, P, CB_HOLD, 0, &o.t), 0);
	forged_while_held(f, &o, "reserve:release-in-window");
	assert_int_equal(usage(f, P), 0);
	assert_int_equal(holds(f, &f->r2, P), 0);
	assert_int_equal(cb_rsv_release(&f->r2, &o.t), -ESTALE);
}

#define TP_TEST(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		TP_TEST(test_lowered_limit_hold),
		TP_TEST(test_lowered_limit_launch),
		TP_TEST(test_lowered_capacity_pool0),
		TP_TEST(test_raised_observed_floor_launch),
		TP_TEST(test_lowered_limit_pick),
		TP_TEST(test_unchanged_limit_admits),
		TP_TEST(test_close_recount_in_the_gap),
		TP_TEST(test_forged_s_counts_held_hold),
		TP_TEST(test_forged_s_counts_held_release),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
