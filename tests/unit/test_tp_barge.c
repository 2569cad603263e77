/*
 * test_tp_barge.c - barging with a hand-off bound (lib/queue.h,
 * Barging; issue 14): the interleavings forced with the pause points of
 * the test build (lib/testpoint.h), the bound made 0 or an hour through
 * cb_wq_handoff_ns (the test build's knob) rather than waited for.
 *
 *   a) an arrival takes a unit freed while the head is merely woken
 *      (bound not passed); the head stays head (position 0) and gets
 *      the next unit;
 *   b) a head past the bound sets the hand-off flag: an arrival finds
 *      the unit free and still does not take it; the head does;
 *   c) an arrival never passes a queued waiter of a higher priority
 *      (the ceiling), and may again once that waiter left;
 *   d) a hand-off flag (and a high ceiling) written with nobody queued
 *      costs nothing on the hot path, is cleared by the next head
 *      admitted, and by the sweeper: no hang.
 *
 * One pool P of one unit; client a (this thread) holds it and plays
 * the releaser and the arrivals; client h is the waiter, in a thread
 * of its own held at the points below by tppark.h's hook.
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
#include <time.h>
#include <unistd.h>

#include "abi.h"
#include "clock.h"
#include "proc.h"
#include "queue.h"
#include "reserve.h"
#include "segment.h"
#include "slots.h"
#include "sweep.h"
#include "testpoint.h"
#include "tppark.h"

#define NAME "tpbarge"
#define INSTANCE 0x0badc0ffee00000eull

#include "segfix.h"	/* after NAME and INSTANCE */

#define LOCAL_SIZE 64u
#define P 1
#define AN_HOUR_NS (3600ull * 1000000000ull)

/* ---- holding the waiter thread at a point: tppark.h -------------- */

/* ---- fixture ------------------------------------------------------------ */

static const uint32_t active[CB_MAX_POOLS] = { [0] = 1, [P] = 1 };

struct fx {
	void *state;
	void *slots;
	struct cb_rsv a;           /* releaser and arrivals */
	struct cb_rsv h;           /* the waiter */
	cb_ticket held;            /* a's unit */
	struct cb_wq_sweep sweep;
	int32_t prio;              /* the waiter's priority */
	struct cb_wq_entry me;     /* its entry */
	cb_ticket ticket;          /* what it was admitted with */
	int ret;                   /* cb_wq_wait's return */
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	uint64_t start;

	assert_non_null(f);
	seg_alloc_pair(&f->state, &f->slots);
	seg_pool_define(f->state, 0, 8, 1000, 0);
	seg_pool_define(f->state, P, 1, 1000, 0);
	assert_int_equal(cb_proc_start_time(getpid(), &start), 0);
	seg_rsv_open(&f->a, f->state, f->slots, getpid(), start, LOCAL_SIZE);
	seg_rsv_open(&f->h, f->state, f->slots, getpid(), start, LOCAL_SIZE);
	assert_int_equal(cb_rsv_try(&f->a, P, CB_HOLD, 0, &f->held), 0);
	atomic_store(&cb_wq_handoff_ns, AN_HOUR_NS);
	cb_testpoint_hook = park_hook;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	cb_testpoint_hook = NULL;
	atomic_store(&cb_wq_handoff_ns, CB_WQ_HANDOFF_NS);
	free((void *)f->a.local);
	free((void *)f->h.local);
	free(f->state);
	free(f->slots);
	free(f);
	return 0;
}

/* The waiter: enqueue at f->prio, wait until admitted. */
static void *waiter(void *arg)
{
	struct fx *f = arg;

	park_me = 1;
	f->ret = cb_wq_enqueue(f->slots, f->h.client, f->h.owner, P, f->prio,
	    &f->me);
	if (f->ret == 0)
		f->ret = cb_wq_wait(&f->h, &f->me, CB_HOLD, 0, NULL, 0,
		    &f->ticket);
	return NULL;
}

static void start_waiter(struct fx *f, const char *point, pthread_t *t)
{
	assert_int_equal(park_start(point, waiter, f, t), 0);
}

static uint64_t barge(struct fx *f)
{
	return cb_wq_barge_word(f->slots, P);
}

static uint64_t queued(struct fx *f)
{
	return atomic_load(&cb_slots_pool(f->slots, P)->queued);
}

static uint32_t held(struct fx *f)
{
	return CB_USAGE_HELD(atomic_load(&cb_slots_pool(f->slots,
	    P)->usage));
}

static void sweep(struct fx *f)
{
	uint32_t hints;

	cb_wq_sweep(f->slots, active, &f->sweep, &hints);
}

/* An arrival of client a: a blocking hold's attempt before queueing. */
static int arrive(struct fx *f, int32_t prio, cb_ticket *t)
{
	return cb_wq_arrive(&f->a, P, CB_HOLD, 0, prio, t);
}

/* ---- a) barging while the head is being woken --------------------- */

static void test_arrival_barges_while_head_woken(void **state)
{
	struct fx *f = *state;
	cb_ticket t;
	pthread_t th;

	/* Head, refused (a holds the unit), about to sleep. */
	start_waiter(f, "queue:sleep", &th);
	assert_int_equal(cb_wq_position(f->slots, &f->me), 0);
	assert_int_equal(barge(f) & CB_BARGE_HANDOFF, 0);
	assert_int_equal(CB_BARGE_CEILING(barge(f)), CB_BARGE_PRIO(0));
	/* The unit is freed: release_seq moves, the head wakes... */
	assert_int_equal(cb_rsv_release(&f->a, &f->held), 0);
	park_resume("queue:woken");
	park_wait_at("queue:woken");
	/* ...and before it is back, an arrival of its priority takes the
	 * unit: it waited far less than the bound. */
	assert_int_equal(arrive(f, 0, &t), 0);
	assert_int_equal(held(f), 1);
	/* The head's try loses; it stays head and sleeps again. */
	park_resume("queue:sleep");
	park_wait_at("queue:sleep");
	assert_int_equal(cb_wq_position(f->slots, &f->me), 0);
	assert_int_equal(queued(f), 1);
	/* The next unit is its. */
	assert_int_equal(cb_rsv_release(&f->a, &t), 0);
	park_resume(NULL);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(f->ret, 0);
	assert_int_equal(held(f), 1);
	assert_int_equal(queued(f), 0);
	assert_int_equal(cb_rsv_release(&f->h, &f->ticket), 0);
}

/* ---- b) past the bound: hand-off ---------------------------------- */

static void test_head_past_bound_not_passed(void **state)
{
	struct fx *f = *state;
	struct cb_wq_entry behind;
	cb_ticket t;
	pthread_t th;

	/* Bound 0: the head is past it at its first look. */
	atomic_store(&cb_wq_handoff_ns, 0);
	start_waiter(f, "queue:head-try", &th);
	assert_int_not_equal(barge(f) & CB_BARGE_HANDOFF, 0);
	/* A waiter behind it (not waiting yet): the flag is not the
	 * leaver's to clear then, only the admitted head's. */
	assert_int_equal(cb_wq_enqueue(f->slots, f->a.client, f->a.owner, P,
	    0, &behind), 0);
	/* A unit comes free before the head's try: the arrival must not
	 * take it, blocking or fail-fast, whatever it finds. */
	assert_int_equal(cb_rsv_release(&f->a, &f->held), 0);
	assert_int_equal(held(f), 0);
	assert_int_equal(arrive(f, 0, &t), -EAGAIN);
	assert_int_equal(cb_wq_blocked(f->slots, P, 0), 1);
	assert_int_equal(held(f), 0);
	/* The head takes it and clears the flag. */
	park_resume(NULL);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(f->ret, 0);
	assert_int_equal(held(f), 1);
	assert_int_equal(barge(f) & CB_BARGE_HANDOFF, 0);
	assert_int_equal(queued(f), 1);
	assert_int_equal(cb_wq_leave(f->slots, &behind), 0);
	assert_int_equal(queued(f), 0);
	assert_int_equal(cb_rsv_release(&f->h, &f->ticket), 0);
	/* Nobody queued, no flag: the hot path again. */
	assert_int_equal(arrive(f, 0, &t), 0);
	assert_int_equal(cb_rsv_release(&f->a, &t), 0);
}

/* ---- c) priority order -------------------------------------------- */

static void test_no_barging_past_higher_priority(void **state)
{
	struct fx *f = *state;
	struct cb_wq_entry lo;
	cb_ticket t;

	/* A priority-5 waiter and, behind it, a priority-0 one. */
	assert_int_equal(cb_wq_enqueue(f->slots, f->h.client, f->h.owner, P,
	    5, &f->me), 0);
	assert_int_equal(cb_wq_enqueue(f->slots, f->h.client, f->h.owner, P,
	    0, &lo), 0);
	assert_int_equal(CB_BARGE_CEILING(barge(f)), CB_BARGE_PRIO(5));
	assert_int_equal(cb_rsv_release(&f->a, &f->held), 0);
	/* The unit is free; lower priorities queue. */
	assert_int_equal(arrive(f, 0, &t), -EAGAIN);
	assert_int_equal(arrive(f, 4, &t), -EAGAIN);
	assert_int_equal(arrive(f, -7, &t), -EAGAIN);
	assert_int_equal(held(f), 0);
	/* The same priority may barge within the bound; a higher one is
	 * ahead of every waiter anyway. */
	assert_int_equal(arrive(f, 5, &t), 0);
	assert_int_equal(cb_rsv_release(&f->a, &t), 0);
	assert_int_equal(arrive(f, 9, &t), 0);
	assert_int_equal(cb_rsv_release(&f->a, &t), 0);
	/* The priority-5 waiter leaves: the ceiling comes down to the new
	 * head's priority, and priority 0 may barge again. */
	assert_int_equal(cb_wq_leave(f->slots, &f->me), 0);
	assert_int_equal(CB_BARGE_CEILING(barge(f)), CB_BARGE_PRIO(0));
	assert_int_equal(arrive(f, -1, &t), -EAGAIN);
	assert_int_equal(arrive(f, 0, &t), 0);
	assert_int_equal(cb_rsv_release(&f->a, &t), 0);
	assert_int_equal(cb_wq_leave(f->slots, &lo), 0);
	assert_int_equal(barge(f) & 0xffffffffu, 0);
	assert_int_equal(queued(f), 0);
}

/* ---- d) a stale or hostile flag ----------------------------------- */

static void test_stale_flag_no_hang(void **state)
{
	struct fx *f = *state;
	struct cb_pool_slot *ps = cb_slots_pool(f->slots, P);
	struct timespec deadline;
	cb_ticket t;

	assert_int_equal(cb_rsv_release(&f->a, &f->held), 0);
	/* A flag and a ceiling of 100 with nobody queued (a head that
	 * died, a hostile write): the hot path never looks at them. */
	atomic_store(&ps->barge, CB_BARGE_WORD(CB_BARGE_HANDOFF, 7,
	    CB_BARGE_PRIO(100)));
	assert_int_equal(arrive(f, 0, &t), 0);
	assert_int_equal(cb_rsv_release(&f->a, &t), 0);
	/* With a hostile queued hint too, the arrival queues: it is the
	 * head, is admitted at once, and clears the flag. */
	atomic_store(&ps->queued, 1);
	assert_int_equal(arrive(f, 0, &t), -EAGAIN);
	assert_int_equal(cb_wq_enqueue(f->slots, f->a.client, f->a.owner, P,
	    0, &f->me), 0);
	deadline = cb_deadline_after_ms(60000);    /* a hang guard only */
	assert_int_equal(cb_wq_wait(&f->a, &f->me, CB_HOLD, 0, &deadline, 0,
	    &t), 0);
	assert_int_equal(barge(f) & CB_BARGE_HANDOFF, 0);
	assert_int_equal(cb_rsv_release(&f->a, &t), 0);
	/* Written again: the sweeper finds no live waiter and clears flag
	 * and ceiling. */
	atomic_store(&ps->barge, CB_BARGE_WORD(CB_BARGE_HANDOFF, 9,
	    CB_BARGE_PRIO(100)));
	sweep(f);
	assert_int_equal(barge(f) & CB_BARGE_HANDOFF, 0);
	assert_int_equal(CB_BARGE_CEILING(barge(f)), 0);
}

#define TP_TEST(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		TP_TEST(test_arrival_barges_while_head_woken),
		TP_TEST(test_head_past_bound_not_passed),
		TP_TEST(test_no_barging_past_higher_priority),
		TP_TEST(test_stale_flag_no_hang),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
