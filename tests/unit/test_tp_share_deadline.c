/*
 * test_tp_share_deadline.c - a global pool's share deadline (issue 15;
 * abi.h, cb_pool_conf.share_deadline_ns; lib/lane.h, share_expired()
 * and still_fits()) on every admission path a client has: a hold
 * through the shared client entry (no lanes), a hold through a lane, a
 * launch, placement's hold (cb_place_try, cb_rsv_hold_take), and the
 * queued path (cb_wq_arrive, then cb_wq_wait as the head).
 *
 * For each: deadline 0 (a local pool) and a deadline ahead admit; 1
 * ("no valid share") and a deadline passed refuse with -EAGAIN, leave
 * U as it was and do not move the pool's release_seq (an expired share
 * admits nobody, so there is no-one to wake); a unit given back because
 * a lower limit was published does move it (the contrast: the unit may
 * have refused someone).  And a thread held between its admitting CAS
 * and the re-check (test points "reserve:admitted", or
 * "reserve:lane-admitted" in a lane) while the deadline passes is
 * refused and gives its unit back: the check bounds the instant of the
 * CAS, which a check before it would not.
 *
 * release_seq moves only when someone waits (lane.h, wake_released(),
 * cb_eventcount_notify_sc), so each test counts one pretend sleeper in
 * the pool's `waiters`: the wake would show.
 *
 * Segments are built in memory the broker's way (segfix.h); the
 * publisher is played by the test thread.
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
#include "place.h"
#include "queue.h"
#include "reserve.h"
#include "segment.h"
#include "seqlock.h"
#include "slots.h"
#include "state_word.h"
#include "testpoint.h"
#include "tphold.h"

#define NAME "tpshare"
#define INSTANCE 0x0badc0ffee000015ull

#include "segfix.h"	/* after NAME and INSTANCE */

#define START 4242ull
#define LOCAL_SIZE 64u
#define P 1
#define LIMIT 4

/* The admission paths. */
enum path { PATH_SHARED, PATH_LANE, PATH_LAUNCH, PATH_PLACE };

struct fx {
	void *state;
	void *slots;
	struct cb_rsv r;           /* the client under test */
	enum path path;
};

static uint64_t serials = 5000;

static int setup_path(void **state, enum path path)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->path = path;
	seg_alloc_pair(&f->state, &f->slots);
	seg_pool_define(f->state, 0, 8, 2000, 0);
	seg_pool_define(f->state, P, LIMIT, 2000, 0);
	seg_rsv_open(&f->r, f->state, f->slots, getpid(), START, LOCAL_SIZE);
	/* A new serial per test: no thread's cached lane matches it. */
	if (path == PATH_LANE)
		assert_int_equal(cb_rsv_lanes_init(&f->r, ++serials), 0);
	if (path == PATH_PLACE)
		seg_one_worker(f->state);
	/* The pretend sleeper (see the top). */
	atomic_store(&cb_slots_pool(f->slots, P)->waiters, 1);
	*state = f;
	return 0;
}

static int setup_shared(void **state) { return setup_path(state, PATH_SHARED); }
static int setup_lane(void **state) { return setup_path(state, PATH_LANE); }
static int setup_launch(void **state) { return setup_path(state, PATH_LAUNCH); }
static int setup_place(void **state) { return setup_path(state, PATH_PLACE); }

static int teardown(void **state)
{
	struct fx *f = *state;

	hold_disarm();
	if (f->path == PATH_LANE)
		cb_rsv_lanes_close(&f->r);
	free((void *)f->r.local);
	free(f->state);
	free(f->slots);
	free(f);
	return 0;
}

/* ---- the shared words -------------------------------------------------- */

static uint64_t usage(struct fx *f)
{
	return atomic_load(&cb_slots_pool(f->slots, P)->usage);
}

static uint32_t release_seq(struct fx *f)
{
	return atomic_load(&cb_slots_pool(f->slots, P)->release_seq);
}

/* The units of P counted in U, held and launching. */
static uint32_t counted(struct fx *f)
{
	uint64_t u = usage(f);

	return CB_USAGE_HELD(u) + CB_USAGE_LAUNCHING(u);
}

/* The publisher's store of the deadline (release, abi.h). */
static void set_deadline(struct fx *f, uint64_t ns)
{
	atomic_store_explicit(&((struct cb_pool_conf *)cb_seg_record(f->state,
	    CB_RS_POOLS, 0, P))->share_deadline_ns, ns, memory_order_release);
}

static uint64_t coarse_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A share valid for another minute, and one that ran out a second ago
 * (the machine has been up for longer than that). */
static uint64_t ahead(void) { return coarse_now() + 60000000000ull; }
static uint64_t passed(void) { return coarse_now() - 1000000000ull; }

/* ---- one admission, by f's path ---------------------------------------- */

static int admit_one(struct fx *f, cb_ticket *t)
{
	char id[CB_WORKER_ID_STRLEN];

	switch (f->path) {
	case PATH_LAUNCH:
		return cb_rsv_try(&f->r, P, CB_LAUNCH, 0, t);
	case PATH_PLACE:
		return cb_place_try(&f->r, P, CB_PLACE_LEAST_LOADED, t, id);
	default:
		return cb_rsv_try(&f->r, P, CB_HOLD, 0, t);
	}
}

static void release_one(struct fx *f, const cb_ticket *t)
{
	if (f->path == PATH_PLACE)
		assert_int_equal(cb_place_release(&f->r, t), 0);
	else
		assert_int_equal(cb_rsv_release(&f->r, t), 0);
}

/* Where a thread of f's path stands after its CAS, before the check. */
static const char *admitted_point(struct fx *f)
{
	return f->path == PATH_LANE ? "reserve:lane-admitted" :
	    "reserve:admitted";
}

struct op {
	struct fx *f;
	int ret;
	cb_ticket t;
};

static void *run_op(void *arg)
{
	struct op *o = arg;

	hold_me = 1;
	o->ret = admit_one(o->f, &o->t);
	hold_me = 0;
	return NULL;
}

/* ---- admitted: a local pool, a valid share ----------------------------- */

static void admits_with(struct fx *f, uint64_t deadline)
{
	cb_ticket t;

	set_deadline(f, deadline);
	assert_int_equal(admit_one(f, &t), 0);
	assert_int_equal(counted(f), 1);
	release_one(f, &t);
	assert_int_equal(counted(f), 0);
}

static void test_local_admits(void **state)
{
	admits_with(*state, 0);
}

static void test_valid_share_admits(void **state)
{
	admits_with(*state, ahead());
}

/* ---- refused: no valid share ------------------------------------------- */

/* Refused with U and release_seq as they were; one hold already in U,
 * so a refusal that took a unit back too many would show as well. */
static void refuses_with(struct fx *f, uint64_t deadline)
{
	cb_ticket mine, t;
	uint64_t u;
	uint32_t s;

	set_deadline(f, 0);
	assert_int_equal(admit_one(f, &mine), 0);
	u = usage(f);
	s = release_seq(f);
	set_deadline(f, deadline);
	for (int i = 0; i < 3; i++)
		assert_int_equal(admit_one(f, &t), -EAGAIN);
	assert_int_equal(usage(f), u);
	assert_int_equal(release_seq(f), s);
	set_deadline(f, ahead());          /* a new share: admitted again */
	assert_int_equal(admit_one(f, &t), 0);
	assert_int_equal(counted(f), 2);
	release_one(f, &t);
	release_one(f, &mine);
	assert_int_equal(counted(f), 0);
}

static void test_no_share_refuses(void **state)
{
	refuses_with(*state, 1);
}

static void test_passed_share_refuses(void **state)
{
	refuses_with(*state, passed());
}

/* ---- held between the CAS and the re-check ----------------------------- */

/*
 * The share runs out while a thread stands between its admitting CAS
 * and the re-check: the CAS counted its unit (U shows it), then it is
 * refused and the unit is back, without a wake.  A check before the
 * CAS would have admitted it.
 */
static void test_expires_after_cas(void **state)
{
	struct fx *f = *state;
	struct op o = { .f = f };
	uint32_t s;
	pthread_t th;

	set_deadline(f, ahead());
	s = release_seq(f);
	assert_int_equal(hold_start(&th, admitted_point(f), run_op, &o), 0);
	assert_int_equal(counted(f), 1);   /* past its CAS */
	set_deadline(f, passed());
	assert_int_equal(hold_finish(th), 0);
	assert_int_equal(o.ret, -EAGAIN);
	assert_int_equal(usage(f), 0);
	assert_int_equal(release_seq(f), s);
}

/* The contrast: a lower limit published at the same instant also
 * refuses, and that unit given back is woken for. */
static void test_over_limit_after_cas_wakes(void **state)
{
	struct fx *f = *state;
	struct op o = { .f = f };
	uint32_t s;
	pthread_t th;

	set_deadline(f, ahead());
	s = release_seq(f);
	assert_int_equal(hold_start(&th, admitted_point(f), run_op, &o), 0);
	assert_int_equal(counted(f), 1);
	seg_pool_define(f->state, P, 0, 2000, 0);      /* published */
	assert_int_equal(hold_finish(th), 0);
	assert_int_equal(o.ret, -EAGAIN);
	assert_int_equal(usage(f), 0);
	assert_true(release_seq(f) != s);
}

/* ---- the queued path --------------------------------------------------- */

/* One synchronous look as the head (a deadline now: test_queue.c). */
static int look(struct fx *f, struct cb_wq_entry *me, cb_ticket *t)
{
	struct timespec now = cb_deadline_after_ms(0);

	return cb_wq_wait(&f->r, me, CB_HOLD, 0, &now, 0, t);
}

/*
 * Arriving with no valid share is refused after the spin; queued, the
 * head's try is refused as well, and neither touches U or release_seq;
 * once a share is published the head is admitted at its next try.
 */
static void test_queued_path(void **state)
{
	struct fx *f = *state;
	struct cb_wq_entry me;
	cb_ticket t;
	uint32_t s;

	set_deadline(f, 1);
	s = release_seq(f);
	assert_int_equal(cb_wq_arrive(&f->r, P, CB_HOLD, 0, 0, &t), -EAGAIN);
	assert_int_equal(usage(f), 0);
	assert_int_equal(release_seq(f), s);
	assert_int_equal(cb_wq_enqueue(f->slots, f->r.client, f->r.owner, P,
	    0, &me), 0);
	s = release_seq(f);
	set_deadline(f, passed());
	assert_int_equal(look(f, &me, &t), -ETIMEDOUT);
	assert_int_equal(usage(f), 0);
	assert_int_equal(release_seq(f), s);
	set_deadline(f, ahead());
	assert_int_equal(look(f, &me, &t), 0);
	assert_int_equal(counted(f), 1);
	release_one(f, &t);
	assert_int_equal(counted(f), 0);
}

#define PATH_TESTS(setup)                                                  \
	cmocka_unit_test_setup_teardown(test_local_admits, setup, teardown), \
	cmocka_unit_test_setup_teardown(test_valid_share_admits, setup,     \
	    teardown),                                                      \
	cmocka_unit_test_setup_teardown(test_no_share_refuses, setup,       \
	    teardown),                                                      \
	cmocka_unit_test_setup_teardown(test_passed_share_refuses, setup,   \
	    teardown),                                                      \
	cmocka_unit_test_setup_teardown(test_expires_after_cas, setup,      \
	    teardown),                                                      \
	cmocka_unit_test_setup_teardown(test_over_limit_after_cas_wakes,    \
	    setup, teardown)

int main(void)
{
	const struct CMUnitTest shared[] = { PATH_TESTS(setup_shared) };
	const struct CMUnitTest lane[] = { PATH_TESTS(setup_lane) };
	const struct CMUnitTest launch[] = { PATH_TESTS(setup_launch) };
	const struct CMUnitTest place[] = { PATH_TESTS(setup_place) };
	const struct CMUnitTest queued[] = {
		cmocka_unit_test_setup_teardown(test_queued_path, setup_shared,
		    teardown),
	};
	int failed = 0;

	failed += cmocka_run_group_tests_name("shared entry", shared, NULL,
	    NULL);
	failed += cmocka_run_group_tests_name("lane", lane, NULL, NULL);
	failed += cmocka_run_group_tests_name("launch", launch, NULL, NULL);
	failed += cmocka_run_group_tests_name("placement", place, NULL, NULL);
	failed += cmocka_run_group_tests_name("queued", queued, NULL, NULL);
	return failed;
}
