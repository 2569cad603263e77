/*
 * test_tp_queue.c - fair-waiting races forced with the pause points of
 * the test build (lib/testpoint.h): an enqueuer thread is held still
 * between two steps of cb_wq_enqueue (lib/queue.c) while the test plays
 * the sweeper (cb_wq_sweep, lib/sweep_queue.c) around it, then let go.
 * Each test pins a finding of issue 12 and fails without its fix.
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
#include "proc.h"
#include "queue.h"
#include "reserve.h"
#include "segment.h"
#include "seqlock.h"
#include "slots.h"
#include "state_word.h"
#include "sweep.h"
#include "testpoint.h"
#include "tphold.h"

#define NAME "tpwq"
#define INSTANCE 0x0badc0ffee00000dull

#include "segfix.h"	/* after NAME and INSTANCE */

#define LOCAL_SIZE 64u
#define P 1

struct fx {
	void *state;
	void *slots;
	struct cb_rsv r;           /* the enqueuer's client */
	cb_ticket held;            /* the pool's only unit, held */
	struct cb_wq_sweep sweep;  /* the sweeper's memory */
	struct cb_wq_entry me;     /* what the enqueuer got */
	int ret;                   /* and its return */
};

static void *enqueuer(void *arg)
{
	struct fx *f = arg;

	hold_me = 1;
	f->ret = cb_wq_enqueue(f->slots, f->r.client, f->r.owner, P, 0,
	    &f->me);
	return NULL;
}

/* Start the enqueuer and wait until it is held at point. */
static void hold_enqueuer(struct fx *f, const char *point, pthread_t *t)
{
	assert_int_equal(hold_start(t, point, enqueuer, f), 0);
}

static void let_go(pthread_t t)
{
	assert_int_equal(hold_finish(t), 0);
}

/* ---- fixture ------------------------------------------------------------ */

static const uint32_t active[CB_MAX_POOLS] = { [0] = 1, [P] = 1 };

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	uint64_t start;

	assert_non_null(f);
	seg_alloc_pair(&f->state, &f->slots);
	seg_pool_define(f->state, 0, 8, 1000, 0);
	seg_pool_define(f->state, P, 1, 1000, 0);
	assert_int_equal(cb_proc_start_time(getpid(), &start), 0);
	seg_rsv_open(&f->r, f->state, f->slots, getpid(), start, LOCAL_SIZE);
	assert_int_equal(cb_rsv_try(&f->r, P, CB_HOLD, 0, &f->held), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	free((void *)f->r.local);
	free(f->state);
	free(f->slots);
	free(f);
	return 0;
}

static uint64_t queued(struct fx *f)
{
	return atomic_load(&cb_slots_pool(f->slots, P)->queued);
}

static uint32_t waiters(struct fx *f)
{
	return atomic_load(&cb_slots_pool(f->slots, P)->waiters);
}

static uint32_t sweep(struct fx *f)
{
	uint32_t hints;

	cb_wq_sweep(f->slots, active, &f->sweep, &hints);
	return hints;
}

/* ---- finding 8: the waiters count drifts ------------------------------- */

/*
 * The enqueuer is held between its claim and its CAS to WAITING for
 * two sweeps: the second frees the claim as stuck, and its free lowers
 * `queued` and `waiters`.  Let go, the enqueuer's CAS fails and it
 * claims another entry.  It used to do so without raising the counters
 * again: queued 0 and waiters 0 with a waiter queued, so a release did
 * not wake it (it waited for its slice, 277 ms in the report).
 */
static void test_claim_freed_as_stuck_recounted(void **state)
{
	struct fx *f = *state;
	struct cb_wq_entry *me = &f->me;
	pthread_t t;
	uint32_t seq;

	hold_enqueuer(f, "queue:claimed", &t);
	assert_int_equal(queued(f), 1);
	assert_int_equal(waiters(f), 1);
	sweep(f);                       /* seen CLAIMING once */
	sweep(f);                       /* the same: freed as stuck */
	assert_int_equal(queued(f), 0);
	assert_int_equal(waiters(f), 0);
	let_go(t);
	assert_int_equal(f->ret, 0);
	assert_int_equal(CB_WAITER_STATE(atomic_load(&cb_slots_waiter(
	    f->slots, me->index)->word)), CB_WAITER_WAITING);
	assert_int_equal(queued(f), 1);
	assert_int_equal(waiters(f), 1);
	assert_int_equal(cb_wq_position(f->slots, me), 0);
	/* So the release wakes the head asleep on release_seq. */
	seq = atomic_load(&cb_slots_pool(f->slots, P)->release_seq);
	assert_int_equal(cb_rsv_release(&f->r, &f->held), 0);
	assert_int_not_equal(atomic_load(&cb_slots_pool(f->slots,
	    P)->release_seq), seq);
	/* Nothing for the sweeper to correct. */
	assert_int_equal(sweep(f), 0);
	assert_int_equal(sweep(f), 0);
	assert_int_equal(cb_wq_leave(f->slots, me), 0);
	assert_int_equal(queued(f), 0);
	assert_int_equal(waiters(f), 0);
}

/*
 * The enqueuer is held between its counters and its claim (as if
 * killed there) for two sweeps: the sweeper must correct `waiters` as
 * well as `queued` (before the fix waiters stayed 1 for ever, and every
 * release paid a FUTEX_WAKE).  Let go, it claims: now both under-count
 * by one, and the next two sweeps raise them again.
 */
static void test_enqueuer_stopped_after_counting(void **state)
{
	struct fx *f = *state;
	pthread_t t;

	hold_enqueuer(f, "queue:counted", &t);
	assert_int_equal(queued(f), 1);
	assert_int_equal(waiters(f), 1);
	assert_int_equal(sweep(f), 0);  /* seen once: maybe in flight */
	assert_int_equal(sweep(f), 2);
	assert_int_equal(queued(f), 0);
	assert_int_equal(waiters(f), 0);
	let_go(t);
	assert_int_equal(f->ret, 0);
	assert_int_equal(queued(f), 0);
	assert_int_equal(waiters(f), 0);
	assert_int_equal(sweep(f), 0);
	assert_int_equal(sweep(f), 2);
	assert_int_equal(queued(f), 1);
	assert_int_equal(waiters(f), 1);
	assert_int_equal(cb_wq_leave(f->slots, &f->me), 0);
	assert_int_equal(waiters(f), 0);
}

#define TP_TEST(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		TP_TEST(test_claim_freed_as_stuck_recounted),
		TP_TEST(test_enqueuer_stopped_after_counting),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
