/*
 * test_broker_registry.c - the broker's worker registry
 * (broker/registry.c) on liburcu's lock-free hash table.
 *
 * The test thread is a registered RCU thread, as the broker's main
 * thread is.  Run under valgrind to check that replaced, deleted and
 * finally all records are freed (call_rcu + rcu_barrier in fini):
 *
 *   valgrind --leak-check=full --error-exitcode=1 \
 *       build/tests/test_broker_registry
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

#include <urcu.h>

#include "abi.h"
#include "registry.h"

struct fx {
	struct cb_registry r;
	struct cb_worker_rec out[CB_MAX_WORKERS + 8];
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	rcu_register_thread();
	assert_int_equal(cb_registry_init(&f->r), 0);
	assert_int_equal(f->r.count, 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	cb_registry_fini(&f->r);
	assert_null(f->r.ht);
	assert_int_equal(f->r.count, 0);
	/* Harmless a second time. */
	cb_registry_fini(&f->r);
	rcu_unregister_thread();
	free(f);
	return 0;
}

static size_t snap(struct fx *f, size_t max)
{
	memset(f->out, 0xa5, sizeof(f->out));
	return cb_registry_snapshot(&f->r, f->out, max);
}

/* The record for id in the last snapshot of n, or NULL. */
static const struct cb_worker_rec *find(struct fx *f, size_t n,
    const char *id)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(f->out[i].id, id) == 0)
			return &f->out[i];
	return NULL;
}

static void test_empty(void **state)
{
	struct fx *f = *state;

	assert_int_equal(snap(f, CB_MAX_WORKERS), 0);
	assert_int_equal(cb_registry_del(&f->r, "nobody"), -ENOENT);
	assert_int_equal(f->r.count, 0);
}

static void test_set_change_and_identical(void **state)
{
	struct fx *f = *state;
	const struct cb_worker_rec *w;

	assert_int_equal(cb_registry_set(&f->r, "w1", CB_WORKER_READY, 4), 1);
	assert_int_equal(f->r.count, 1);
	/* Identical: nothing changes. */
	assert_int_equal(cb_registry_set(&f->r, "w1", CB_WORKER_READY, 4), 0);
	assert_int_equal(f->r.count, 1);
	/* A new state, then a new max_running: each a change; replacing
	 * keeps the count. */
	assert_int_equal(cb_registry_set(&f->r, "w1", CB_WORKER_DRAINING, 4),
	    1);
	assert_int_equal(f->r.count, 1);
	assert_int_equal(cb_registry_set(&f->r, "w1", CB_WORKER_DRAINING, 0),
	    1);
	assert_int_equal(f->r.count, 1);
	assert_int_equal(cb_registry_set(&f->r, "w1", CB_WORKER_DRAINING, 0),
	    0);

	assert_int_equal(snap(f, CB_MAX_WORKERS), 1);
	w = &f->out[0];
	assert_string_equal(w->id, "w1");
	assert_int_equal(w->state, CB_WORKER_DRAINING);
	assert_int_equal(w->max_running, 0);
	/* The id is NUL-padded: nothing of old memory leaks into it. */
	for (size_t i = strlen("w1"); i < sizeof(w->id); i++)
		assert_int_equal(w->id[i], 0);
}

static void test_similar_ids_are_distinct(void **state)
{
	struct fx *f = *state;
	size_t n;

	assert_int_equal(cb_registry_set(&f->r, "a", CB_WORKER_READY, 1), 1);
	assert_int_equal(cb_registry_set(&f->r, "A", CB_WORKER_READY, 2), 1);
	assert_int_equal(cb_registry_set(&f->r, "a.", CB_WORKER_READY, 3), 1);
	assert_int_equal(cb_registry_set(&f->r, "aa", CB_WORKER_READY, 4), 1);
	assert_int_equal(f->r.count, 4);
	n = snap(f, CB_MAX_WORKERS);
	assert_int_equal(n, 4);
	assert_int_equal(find(f, n, "a")->max_running, 1);
	assert_int_equal(find(f, n, "A")->max_running, 2);
	assert_int_equal(find(f, n, "a.")->max_running, 3);
	assert_int_equal(find(f, n, "aa")->max_running, 4);
}

static void test_longest_id(void **state)
{
	struct fx *f = *state;
	char id[CB_WORKER_ID_MAX + 1];

	memset(id, 'x', CB_WORKER_ID_MAX);
	id[CB_WORKER_ID_MAX] = '\0';
	assert_int_equal(cb_registry_set(&f->r, id, CB_WORKER_READY, 1), 1);
	assert_int_equal(cb_registry_set(&f->r, id, CB_WORKER_READY, 1), 0);
	assert_int_equal(snap(f, CB_MAX_WORKERS), 1);
	assert_string_equal(f->out[0].id, id);
	assert_int_equal(cb_registry_del(&f->r, id), 0);
	assert_int_equal(f->r.count, 0);
}

static void test_del(void **state)
{
	struct fx *f = *state;
	size_t n;

	assert_int_equal(cb_registry_set(&f->r, "a", CB_WORKER_READY, 1), 1);
	assert_int_equal(cb_registry_set(&f->r, "b", CB_WORKER_READY, 2), 1);
	assert_int_equal(cb_registry_del(&f->r, "zz"), -ENOENT);
	assert_int_equal(f->r.count, 2);
	assert_int_equal(cb_registry_del(&f->r, "a"), 0);
	assert_int_equal(f->r.count, 1);
	assert_int_equal(cb_registry_del(&f->r, "a"), -ENOENT);
	assert_int_equal(f->r.count, 1);
	n = snap(f, CB_MAX_WORKERS);
	assert_int_equal(n, 1);
	assert_string_equal(f->out[0].id, "b");
	/* Deleted, it can come back: a new worker again. */
	assert_int_equal(cb_registry_set(&f->r, "a", CB_WORKER_NOT_READY, 0),
	    1);
	assert_int_equal(f->r.count, 2);
	n = snap(f, CB_MAX_WORKERS);
	assert_int_equal(find(f, n, "a")->state, CB_WORKER_NOT_READY);
	assert_int_equal(cb_registry_del(&f->r, "b"), 0);
	assert_int_equal(cb_registry_del(&f->r, "a"), 0);
	assert_int_equal(f->r.count, 0);
	assert_int_equal(snap(f, CB_MAX_WORKERS), 0);
}

static void test_snapshot_sorted(void **state)
{
	struct fx *f = *state;
	static const char *const ids[] = {
		"m", "b", "z9", "a", "z10", "Q", "worker-7", "worker-10",
		"0", "host:1@x", "_", "a.b",
	};
	enum { N = sizeof(ids) / sizeof(ids[0]) };
	size_t n;

	for (size_t i = 0; i < N; i++)
		assert_int_equal(cb_registry_set(&f->r, ids[i],
		    CB_WORKER_READY, (uint32_t)i + 1), 1);
	n = snap(f, CB_MAX_WORKERS);
	assert_int_equal(n, N);
	for (size_t i = 1; i < n; i++)
		assert_true(strcmp(f->out[i - 1].id, f->out[i].id) < 0);
	/* Each record carries its own fields. */
	for (size_t i = 0; i < N; i++) {
		const struct cb_worker_rec *w = find(f, n, ids[i]);

		assert_non_null(w);
		assert_int_equal(w->max_running, (uint32_t)i + 1);
		assert_int_equal(w->state, CB_WORKER_READY);
	}
	/* Exactly n records written: the one after is untouched. */
	assert_int_equal((unsigned char)f->out[n].id[0], 0xa5);
}

static void test_snapshot_bounded(void **state)
{
	struct fx *f = *state;
	char id[16];
	size_t n;

	for (int i = 0; i < 40; i++) {
		snprintf(id, sizeof(id), "w%02d", i);
		assert_int_equal(cb_registry_set(&f->r, id, CB_WORKER_READY,
		    (uint32_t)i), 1);
	}
	assert_int_equal(snap(f, 0), 0);
	assert_int_equal((unsigned char)f->out[0].id[0], 0xa5);
	n = snap(f, 5);
	assert_int_equal(n, 5);
	/* Never past max. */
	assert_int_equal((unsigned char)f->out[5].id[0], 0xa5);
	for (size_t i = 0; i < n; i++) {
		unsigned k;

		assert_int_equal(sscanf(f->out[i].id, "w%02u", &k), 1);
		assert_true(k < 40);
		assert_int_equal(f->out[i].max_running, k);
		if (i > 0)
			assert_true(strcmp(f->out[i - 1].id,
			    f->out[i].id) < 0);
	}
	n = snap(f, 40);
	assert_int_equal(n, 40);
	for (size_t i = 0; i < n; i++) {
		snprintf(id, sizeof(id), "w%02u", (unsigned)i);
		assert_string_equal(f->out[i].id, id);
	}
	assert_int_equal(snap(f, 1000), 40);
}

static void test_cap(void **state)
{
	struct fx *f = *state;
	char id[16];
	size_t n;

	for (int i = 0; i < CB_MAX_WORKERS; i++) {
		snprintf(id, sizeof(id), "w%04d", i);
		assert_int_equal(cb_registry_set(&f->r, id, CB_WORKER_READY,
		    1), 1);
	}
	assert_int_equal(f->r.count, CB_MAX_WORKERS);
	assert_int_equal(cb_registry_set(&f->r, "one-more", CB_WORKER_READY,
	    1), -ENOSPC);
	assert_int_equal(f->r.count, CB_MAX_WORKERS);
	/* Full, an existing worker can still change (or stay the same). */
	assert_int_equal(cb_registry_set(&f->r, "w0500", CB_WORKER_DRAINING,
	    3), 1);
	assert_int_equal(cb_registry_set(&f->r, "w0500", CB_WORKER_DRAINING,
	    3), 0);
	assert_int_equal(f->r.count, CB_MAX_WORKERS);
	n = snap(f, CB_MAX_WORKERS + 8);
	assert_int_equal(n, CB_MAX_WORKERS);
	assert_null(find(f, n, "one-more"));
	assert_int_equal(find(f, n, "w0500")->state, CB_WORKER_DRAINING);
	for (size_t i = 1; i < n; i++)
		assert_true(strcmp(f->out[i - 1].id, f->out[i].id) < 0);
	/* A deletion makes room for exactly one. */
	assert_int_equal(cb_registry_del(&f->r, "w0000"), 0);
	assert_int_equal(cb_registry_set(&f->r, "one-more", CB_WORKER_READY,
	    1), 1);
	assert_int_equal(cb_registry_set(&f->r, "two-more", CB_WORKER_READY,
	    1), -ENOSPC);
	assert_int_equal(f->r.count, CB_MAX_WORKERS);
	/* teardown's fini frees all 1024 (valgrind checks). */
}

static void test_churn_frees(void **state)
{
	struct fx *f = *state;
	char id[16];

	/* Many replacements and deletions: each old record goes through
	 * call_rcu; valgrind reports any that is never freed. */
	for (int round = 0; round < 50; round++) {
		for (int i = 0; i < 20; i++) {
			snprintf(id, sizeof(id), "c%d", i);
			assert_int_equal(cb_registry_set(&f->r, id,
			    CB_WORKER_READY, (uint32_t)round), 1);
		}
		for (int i = 0; i < 20; i += 2) {
			snprintf(id, sizeof(id), "c%d", i);
			assert_int_equal(cb_registry_del(&f->r, id), 0);
		}
	}
	assert_int_equal(f->r.count, 10);
	assert_int_equal(snap(f, CB_MAX_WORKERS), 10);
	for (size_t i = 0; i < 10; i++)
		assert_int_equal(f->out[i].max_running, 49);
}

static void test_reinit_after_fini(void **state)
{
	struct fx *f = *state;

	assert_int_equal(cb_registry_set(&f->r, "x", CB_WORKER_READY, 1), 1);
	cb_registry_fini(&f->r);
	assert_null(f->r.ht);
	assert_int_equal(f->r.count, 0);
	assert_int_equal(cb_registry_init(&f->r), 0);
	assert_int_equal(snap(f, CB_MAX_WORKERS), 0);
	assert_int_equal(cb_registry_set(&f->r, "x", CB_WORKER_READY, 1), 1);
}

#define REG_TEST(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		REG_TEST(test_empty),
		REG_TEST(test_set_change_and_identical),
		REG_TEST(test_similar_ids_are_distinct),
		REG_TEST(test_longest_id),
		REG_TEST(test_del),
		REG_TEST(test_snapshot_sorted),
		REG_TEST(test_snapshot_bounded),
		REG_TEST(test_cap),
		REG_TEST(test_churn_frees),
		REG_TEST(test_reinit_after_fini),
	};

	struct call_rcu_data *crdp;
	pthread_t worker;
	int r;

	/*
	 * Old records are freed by call_rcu callbacks.  They run on a
	 * call_rcu worker of this test's own, stopped and joined at the
	 * end, so valgrind's count of what is left at exit is the
	 * registry's alone (liburcu 0.13 never stops its default worker,
	 * whose thread would otherwise show as a "possibly lost" block).
	 * Anything still queued when the worker is freed would move to
	 * the default worker and show up at exit.
	 */
	crdp = create_call_rcu_data(0, -1);
	assert_non_null(crdp);
	set_thread_call_rcu_data(crdp);
	r = cmocka_run_group_tests(tests, NULL, NULL);
	set_thread_call_rcu_data(NULL);
	worker = get_call_rcu_thread(crdp);
	call_rcu_data_free(crdp);
	pthread_join(worker, NULL);
	return r;
}
