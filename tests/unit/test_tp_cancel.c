/*
 * test_tp_cancel.c - cancelling a wait from another thread
 * (cb_wait_cancel; lib/queue.h, Cancel): the interleavings forced with
 * the pause points of the test build (lib/testpoint.h).
 *
 *   a) the cancel lands while the waiter (behind the head) is held at
 *      "queue:sleep", after its round loaded its word and checked the
 *      flag, just before futex_wait: the sleep race;
 *   b) the cancel lands while the waiter sleeps behind the head (on its
 *      own wake word);
 *   c) the cancel lands while the waiter sleeps as the head (on the
 *      pool's release_seq);
 *   d) a cancel with no wait in progress ends the next wait at once,
 *      and only that one; a place no longer queued cannot be cancelled.
 *
 * Each wait returns -ECANCELED, its place kept (same position), with no
 * sleep ended by its slice: the slice is made an hour
 * (cb_wq_slice_ms), so only the canceller's wake can end it before the
 * wait's deadline (WAIT_S).  Without the flag check the wait ends with
 * -ETIMEDOUT at that deadline; without the wake the sleep runs to the
 * deadline ("queue:slice-end").  Then a later wait admits normally.
 *
 * One pool P of one unit; client a (this thread) holds it, and in a)
 * and b) also holds the head's place; client h is the waiter, in a
 * thread of its own held at the points below by tppark.h's hook.
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
#include "testpoint.h"
#include "tppark.h"

#define NAME "tpcancel"
#define INSTANCE 0x0badc0ffee00000cull

#include "segfix.h"	/* after NAME and INSTANCE */

#define LOCAL_SIZE 64u
#define P 1
#define WAIT_S 20       /* the waiter's deadline: only a broken build
			   reaches it */

/* ---- holding the waiter thread at a point, one point at a time ----- */

static _Atomic int slice_ends;  /* sleeps that ran to their end */

/* tppark.h's hook, counting the waiter's sleeps that ran to their
 * slice's end on the way. */
static void hook(const char *name)
{
	if (park_me && strcmp(name, "queue:slice-end") == 0)
		atomic_fetch_add(&slice_ends, 1);
	park_hook(name);
}

/* ---- fixture ------------------------------------------------------------ */

struct fx {
	void *state;
	void *slots;
	struct cb_rsv a;           /* holder of the unit (and the head) */
	struct cb_rsv h;           /* the waiter */
	cb_ticket held;            /* a's unit */
	struct cb_wq_entry head;   /* a's place, in a) and b) */
	struct cb_wq_entry me;     /* h's place */
	_Atomic uint64_t cancel;   /* h's cancel word (the handle's K[e]) */
	cb_ticket ticket;          /* what h was admitted with */
	int ret;                   /* the wait's return */
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
	atomic_store(&cb_wq_slice_ms, 3600u * 1000u);
	atomic_store(&slice_ends, 0);
	cb_testpoint_hook = hook;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	cb_testpoint_hook = NULL;
	atomic_store(&cb_wq_slice_ms, CB_WQ_SLICE_MS);
	free((void *)f->a.local);
	free((void *)f->h.local);
	free(f->state);
	free(f->slots);
	free(f);
	return 0;
}

static int wait_once(struct fx *f, long ms)
{
	struct timespec deadline = cb_deadline_after_ms(ms);

	return cb_wq_wait_cancel(&f->h, &f->me, CB_HOLD, 0, &deadline, 0,
	    &f->cancel, &f->ticket);
}

/* The waiter: wait (already queued) until admitted, cancelled or
 * WAIT_S. */
static void *waiter(void *arg)
{
	struct fx *f = arg;

	park_me = 1;
	f->ret = wait_once(f, WAIT_S * 1000L);
	return NULL;
}

static void start_waiter(struct fx *f, const char *point, pthread_t *t)
{
	assert_int_equal(park_start(point, waiter, f, t), 0);
}

/* a (and, with behind, a's place at the head) then h in the queue. */
static void queue_up(struct fx *f, int behind)
{
	if (behind)
		assert_int_equal(cb_wq_enqueue(f->slots, f->a.client,
		    f->a.owner, P, 0, &f->head), 0);
	assert_int_equal(cb_wq_enqueue(f->slots, f->h.client, f->h.owner, P,
	    0, &f->me), 0);
	assert_int_equal(cb_wq_position(f->slots, &f->me), behind ? 1 : 0);
}

/* The wait was cancelled, not timed out, its place kept; then free the
 * way and see the next wait admit. */
static void check_cancelled(struct fx *f, pthread_t t, int behind)
{
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(f->ret, -ECANCELED);
	assert_int_equal(atomic_load(&slice_ends), 0);
	assert_int_equal(cb_wq_position(f->slots, &f->me), behind ? 1 : 0);
	/* Consumed: the next wait is an ordinary one. */
	assert_int_equal(atomic_load(&f->cancel), 0);
	assert_int_equal(wait_once(f, 0), -ETIMEDOUT);
	if (behind)
		assert_int_equal(cb_wq_leave(f->slots, &f->head), 0);
	assert_int_equal(cb_rsv_release(&f->a, &f->held), 0);
	assert_int_equal(wait_once(f, WAIT_S * 1000L), 0);
	assert_int_equal(cb_wq_position(f->slots, &f->me), -ESTALE);
	assert_int_equal(cb_rsv_release(&f->h, &f->ticket), 0);
}

/* a) Held just before futex_wait, behind the head: its round loaded
 * the wake word and found no cancel; the cancel bumps the word, so the
 * futex_wait returns at once and the next round sees the flag. */
static void test_sleep_race(void **state)
{
	struct fx *f = *state;
	pthread_t t;

	queue_up(f, 1);
	start_waiter(f, "queue:sleep", &t);
	assert_int_equal(cb_wq_cancel(f->slots, &f->me, &f->cancel), 0);
	park_resume(NULL);
	check_cancelled(f, t, 1);
}

/* b) Asleep behind the head, on its own wake word (past "queue:sleep";
 * in the kernel or about to be: either way only the wake ends it). */
static void test_asleep_behind(void **state)
{
	struct fx *f = *state;
	pthread_t t;

	queue_up(f, 1);
	start_waiter(f, "queue:sleep", &t);
	park_resume(NULL);
	assert_int_equal(cb_wq_cancel(f->slots, &f->me, &f->cancel), 0);
	check_cancelled(f, t, 1);
}

/* c) Asleep as the head, refused (the pool full), on release_seq. */
static void test_asleep_head(void **state)
{
	struct fx *f = *state;
	pthread_t t;

	queue_up(f, 0);
	start_waiter(f, "queue:sleep", &t);
	park_resume(NULL);
	assert_int_equal(cb_wq_cancel(f->slots, &f->me, &f->cancel), 0);
	check_cancelled(f, t, 0);
}

/* d) Cancelled with no wait in progress: the next wait returns at once
 * (even with a unit free: it does not try), the one after waits as
 * usual; once the place left, a cancel is -ESTALE. */
static void test_before_wait(void **state)
{
	struct fx *f = *state;

	queue_up(f, 0);
	assert_int_equal(cb_wq_cancel(f->slots, &f->me, &f->cancel), 0);
	assert_int_equal(cb_rsv_release(&f->a, &f->held), 0);
	assert_int_equal(wait_once(f, WAIT_S * 1000L), -ECANCELED);
	assert_int_equal(cb_wq_position(f->slots, &f->me), 0);
	assert_int_equal(wait_once(f, WAIT_S * 1000L), 0);
	assert_int_equal(cb_wq_cancel(f->slots, &f->me, &f->cancel),
	    -ESTALE);
	assert_int_equal(cb_rsv_release(&f->h, &f->ticket), 0);
	/* A cancel left behind names a place that never matches again. */
	queue_up(f, 0);
	atomic_store(&f->cancel, f->me.word ^ ((uint64_t)1 << 40));
	assert_int_equal(wait_once(f, WAIT_S * 1000L), 0);
	assert_int_equal(cb_rsv_release(&f->h, &f->ticket), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_sleep_race, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_asleep_behind, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_asleep_head, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_before_wait, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
