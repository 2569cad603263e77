/*
 * test_errmsg.c - cb_errmsg() is per thread (client/errors.c).
 *
 * Threads may share a handle, so the message of a failure belongs to
 * the thread that failed: each thread reads back its own last failure
 * on the handle, never another thread's, and a thread that never
 * failed on it reads "".  The hammer test has several threads fail on
 * one handle in different ways at once, each checking after every call
 * that it reads exactly its own message; with one buffer in the handle
 * it reads other threads' messages, and TSan reports the race.
 *
 * cb_open needs the instance's two segments in /dev/shm: they are built
 * here the broker's way (segfix.h) under a name of this process's own,
 * and unlinked at the end.  No broker runs: CAPBROKER_RUNDIR points at
 * a directory that does not exist, so cb_open's HELLO fails at once.
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
#include <fcntl.h>
#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>

#include "capbroker.h"
#include "abi.h"
#include "segment.h"

static char instance_name[CB_NAME_MAX + 1];
#define NAME instance_name
#define INSTANCE 0x0badc0ffee000e44ull

#include "segfix.h"	/* after NAME and INSTANCE */

#define P 1                    /* a pool that exists besides "default" */
#define ITERATIONS 4000        /* failures per thread in the hammer */

/* ---- the instance's segments in /dev/shm ----------------------------- */

static void shm_remove(void)
{
	char shm[CB_SHM_NAME_MAX];

	cb_shm_name(shm, sizeof(shm), instance_name, CB_SEG_STATE);
	shm_unlink(shm);
	cb_shm_name(shm, sizeof(shm), instance_name, CB_SEG_SLOTS);
	shm_unlink(shm);
}

/* Create segment `kind`, built and published as the broker does. */
static void *shm_create(enum cb_seg_kind kind)
{
	char shm[CB_SHM_NAME_MAX];
	size_t size = seg_size(kind);
	void *base;
	int fd;

	cb_shm_name(shm, sizeof(shm), instance_name, kind);
	fd = shm_open(shm, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)size), 0);
	base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	assert_true(base != MAP_FAILED);
	close(fd);
	seg_init(base, kind);
	return base;
}

static int group_setup(void **state)
{
	void *st, *sl;

	(void)state;
	snprintf(instance_name, sizeof(instance_name), "errmsg-%ld",
	    (long)getpid());
	setenv("CAPBROKER_RUNDIR", "/nonexistent/capbroker-test_errmsg", 1);
	shm_remove();
	st = shm_create(CB_SEG_STATE);
	sl = shm_create(CB_SEG_SLOTS);
	seg_pool_define(st, 0, 8, 0, 0);
	seg_pool_define(st, P, 4, 2000, 0);
	munmap(st, seg_size(CB_SEG_STATE));
	munmap(sl, seg_size(CB_SEG_SLOTS));
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	shm_remove();
	return 0;
}

static int setup(void **state)
{
	cb_client *c;
	int r = cb_open(&c, instance_name, 0);

	if (r < 0) {
		print_error("cb_open: %s\n", cb_open_errmsg());
		return -1;
	}
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	cb_close(*state);
	return 0;
}

/* ---- the failures, each with the message it must leave ---------------- */

enum failure { F_POOL, F_RELEASE, F_RESERVE, F_POOL_INFO, F_INFLIGHT,
	F_COUNT };

/* Fail on c in way f (iteration i makes most messages unique) and
 * write the message that failure must leave into want.  Returns the
 * call's result. */
static int fail_once(cb_client *c, enum failure f, int i, char *want,
    size_t len)
{
	char id[40];
	cb_ticket t = { { 0xff, (uint64_t)i } };   /* no kind of ticket */
	struct cb_request req = { .pool = 0, .kind = 100 + i };
	struct cb_pool_info info;

	switch (f) {
	case F_POOL:
		snprintf(id, sizeof(id), "nope-%d", i);
		snprintf(want, len, "no pool '%s' in broker '%s' (capctl "
		    "pool set creates one)", id, instance_name);
		return cb_pool(c, id);
	case F_RELEASE:
		snprintf(want, len, "not a ticket this handle can release "
		    "(holds are released by the handle that took them)");
		return cb_release(c, &t);
	case F_RESERVE:
		snprintf(want, len, "kind %d is neither CB_HOLD nor "
		    "CB_LAUNCH", req.kind);
		return cb_reserve(c, &req, &t, NULL);
	case F_POOL_INFO:
		snprintf(want, len, "no pool %d", 2 + i % (CB_MAX_POOLS - 2));
		return cb_pool_info(c, 2 + i % (CB_MAX_POOLS - 2), &info);
	case F_INFLIGHT:
	default:
		snprintf(id, sizeof(id), "worker-%d", i);
		snprintf(want, len, "no worker '%s'", id);
		return cb_worker_inflight(c, id);
	}
}

/* ---- single-threaded rules ------------------------------------------- */

/* Each failure leaves its message, and a success leaves it alone. */
static void test_message_kept_across_success(void **state)
{
	cb_client *c = *state;
	char want[CB_ERRMSG_MAX];
	struct cb_pool_info info;

	assert_string_equal(cb_errmsg(c), "");
	for (int f = 0; f < F_COUNT; f++) {
		assert_true(fail_once(c, (enum failure)f, 7, want,
		    sizeof(want)) < 0);
		assert_string_equal(cb_errmsg(c), want);
	}
	assert_int_equal(cb_pool(c, "pool1"), P);
	assert_int_equal(cb_pool_info(c, P, &info), 0);
	assert_string_equal(cb_errmsg(c), want);
}

static void *read_errmsg(void *arg)
{
	char *out = arg;
	cb_client *c;

	memcpy(&c, out, sizeof(c));
	snprintf(out, CB_ERRMSG_MAX, "%s", cb_errmsg(c));
	return NULL;
}

/* A thread that never failed on the handle reads "", whatever other
 * threads did. */
static void test_other_thread_reads_empty(void **state)
{
	cb_client *c = *state;
	char want[CB_ERRMSG_MAX], got[CB_ERRMSG_MAX];
	pthread_t th;

	assert_true(fail_once(c, F_POOL, 1, want, sizeof(want)) < 0);
	memcpy(got, &c, sizeof(c));
	assert_int_equal(pthread_create(&th, NULL, read_errmsg, got), 0);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_string_equal(got, "");
	assert_string_equal(cb_errmsg(c), want);
}

/* A thread's failure on one handle does not replace its message on
 * another. */
static void test_messages_per_handle(void **state)
{
	cb_client *c = *state, *d;
	char want_c[CB_ERRMSG_MAX], want_d[CB_ERRMSG_MAX];

	assert_int_equal(cb_open(&d, instance_name, 0), 0);
	assert_true(fail_once(c, F_RESERVE, 3, want_c, sizeof(want_c)) < 0);
	assert_string_equal(cb_errmsg(d), "");
	assert_true(fail_once(d, F_INFLIGHT, 4, want_d, sizeof(want_d)) < 0);
	assert_string_equal(cb_errmsg(c), want_c);
	assert_string_equal(cb_errmsg(d), want_d);
	cb_close(d);
}

/* A thread keeps the messages of the last four handles it failed on:
 * a failure on a fifth drops the one failed on longest ago. */
static void test_four_handles_kept(void **state)
{
	cb_client *c = *state, *d[4];
	char want[5][CB_ERRMSG_MAX];

	for (int i = 0; i < 4; i++)
		assert_int_equal(cb_open(&d[i], instance_name, 0), 0);
	assert_true(fail_once(c, F_POOL, 0, want[0], sizeof(want[0])) < 0);
	for (int i = 0; i < 3; i++)
		assert_true(fail_once(d[i], F_INFLIGHT, i + 1, want[i + 1],
		    sizeof(want[0])) < 0);
	/* c again: now d[0] is the one failed on longest ago. */
	assert_true(fail_once(c, F_POOL, 9, want[0], sizeof(want[0])) < 0);
	assert_true(fail_once(d[3], F_RESERVE, 4, want[4],
	    sizeof(want[0])) < 0);
	assert_string_equal(cb_errmsg(d[0]), "");
	assert_string_equal(cb_errmsg(c), want[0]);
	assert_string_equal(cb_errmsg(d[1]), want[2]);
	assert_string_equal(cb_errmsg(d[2]), want[3]);
	assert_string_equal(cb_errmsg(d[3]), want[4]);
	for (int i = 0; i < 4; i++)
		cb_close(d[i]);
}

/* A new handle starts with "", even where malloc hands it the closed
 * handle's address. */
static void test_new_handle_starts_empty(void **state)
{
	cb_client *c = *state, *d;
	char want[CB_ERRMSG_MAX];

	assert_int_equal(cb_open(&d, instance_name, 0), 0);
	assert_true(fail_once(d, F_POOL_INFO, 5, want, sizeof(want)) < 0);
	assert_string_equal(cb_errmsg(d), want);
	cb_close(d);
	assert_int_equal(cb_open(&d, instance_name, 0), 0);
	assert_string_equal(cb_errmsg(d), "");
	cb_close(d);
	(void)c;
}

/* cb_errmsg(NULL) is cb_open_errmsg(): the calling thread's last
 * failed cb_open. */
static void test_null_handle_is_open_errmsg(void **state)
{
	cb_client *d = (cb_client *)1;

	(void)state;
	assert_int_equal(cb_open(&d, "no/such", 0), -EINVAL);
	assert_null(d);
	assert_non_null(strstr(cb_open_errmsg(), "bad instance name"));
	assert_string_equal(cb_errmsg(NULL), cb_open_errmsg());
}

/* ---- many threads, one handle ----------------------------------------- */

struct hammer {
	cb_client *c;
	enum failure f;
	pthread_barrier_t *start;
	int passed_r;              /* calls that did not fail */
	int wrong;                 /* messages that were not ours */
	char want[CB_ERRMSG_MAX], got[CB_ERRMSG_MAX];  /* the first wrong */
};

/* No cmocka asserts here (not thread-safe): count, keep the first
 * wrong message, let the main thread judge. */
static void *hammer_thread(void *arg)
{
	struct hammer *h = arg;
	char want[CB_ERRMSG_MAX];

	pthread_barrier_wait(h->start);
	for (int i = 0; i < ITERATIONS; i++) {
		if (fail_once(h->c, h->f, i, want, sizeof(want)) >= 0) {
			h->passed_r++;
			continue;
		}
		if (strcmp(cb_errmsg(h->c), want) != 0 && h->wrong++ == 0) {
			snprintf(h->want, sizeof(h->want), "%s", want);
			snprintf(h->got, sizeof(h->got), "%s",
			    cb_errmsg(h->c));
		}
	}
	return NULL;
}

static void test_threads_read_their_own(void **state)
{
	cb_client *c = *state;
	struct hammer h[F_COUNT];
	pthread_t th[F_COUNT];
	pthread_barrier_t start;

	assert_int_equal(pthread_barrier_init(&start, NULL, F_COUNT), 0);
	for (int t = 0; t < F_COUNT; t++) {
		memset(&h[t], 0, sizeof(h[t]));
		h[t].c = c;
		h[t].f = (enum failure)t;
		h[t].start = &start;
		assert_int_equal(pthread_create(&th[t], NULL, hammer_thread,
		    &h[t]), 0);
	}
	for (int t = 0; t < F_COUNT; t++)
		assert_int_equal(pthread_join(th[t], NULL), 0);
	pthread_barrier_destroy(&start);
	for (int t = 0; t < F_COUNT; t++) {
		if (h[t].wrong != 0)
			print_error("thread %d: %d of %d messages not its "
			    "own; first: want \"%s\", got \"%s\"\n", t,
			    h[t].wrong, ITERATIONS, h[t].want, h[t].got);
		assert_int_equal(h[t].passed_r, 0);
	}
	for (int t = 0; t < F_COUNT; t++)
		assert_int_equal(h[t].wrong, 0);
	/* The main thread failed on nothing here. */
	assert_string_equal(cb_errmsg(c), "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_message_kept_across_success, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_other_thread_reads_empty, setup, teardown),
		cmocka_unit_test_setup_teardown(test_messages_per_handle,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_four_handles_kept,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_new_handle_starts_empty, setup, teardown),
		cmocka_unit_test(test_null_handle_is_open_errmsg),
		cmocka_unit_test_setup_teardown(
		    test_threads_read_their_own, setup, teardown),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
