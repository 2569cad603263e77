/*
 * test_broker_slotmap.c - stable placement slots (broker/slotmap.c):
 * a worker keeps its slot while the table around it changes order,
 * gets it back when it returns, and a new worker prefers a slot whose
 * count is 0; limits follow max_running or slots_per_worker.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "slotmap.h"

static uint32_t counts[CB_MAX_WORKERS];

static uint32_t count_of(uint32_t slot, void *arg)
{
	(void)arg;
	return counts[slot];
}

/* Records for ids (sorted by the caller), max_running 0 for all but
 * the first. */
static size_t recs(struct cb_worker_rec *w, const char *const *ids)
{
	size_t n = 0;

	for (; ids[n] != NULL; n++) {
		memset(&w[n], 0, sizeof(w[n]));
		snprintf(w[n].id, sizeof(w[n].id), "%s", ids[n]);
		w[n].state = CB_WORKER_READY;
		w[n].max_running = n == 0 ? 7 : 0;
	}
	return n;
}

static uint32_t slot_of(const struct cb_worker_rec *w, size_t n,
    const char *id)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(w[i].id, id) == 0)
			return w[i].slot;
	fail_msg("no %s", id);
	return 0;
}

static void test_slots_stable(void **state)
{
	static struct cb_slotmap m;
	struct cb_worker_rec w[8];
	uint32_t sb, sc, sa;
	size_t n;

	(void)state;
	memset(counts, 0, sizeof(counts));
	cb_slotmap_init(&m);
	n = recs(w, (const char *const[]){ "b", "c", NULL });
	cb_slotmap_assign(&m, w, n, 64, count_of, NULL);
	sb = slot_of(w, n, "b");
	sc = slot_of(w, n, "c");
	assert_int_not_equal(sb, sc);
	assert_int_equal(w[0].limit, 7);          /* reports */
	assert_int_equal(w[1].limit, 64);         /* slots_per_worker */
	/* "a" sorts first: b and c move in the table, not in slots. */
	n = recs(w, (const char *const[]){ "a", "b", "c", NULL });
	cb_slotmap_assign(&m, w, n, 64, count_of, NULL);
	sa = slot_of(w, n, "a");
	assert_int_equal(slot_of(w, n, "b"), sb);
	assert_int_equal(slot_of(w, n, "c"), sc);
	assert_true(sa != sb && sa != sc);
	/* b goes with holds still bound; d arrives: not b's slot. */
	counts[sb] = 3;
	n = recs(w, (const char *const[]){ "a", "c", "d", NULL });
	cb_slotmap_assign(&m, w, n, 64, count_of, NULL);
	assert_int_not_equal(slot_of(w, n, "d"), sb);
	assert_int_equal(slot_of(w, n, "c"), sc);
	/* b comes back: its old slot (and its bound holds' count). */
	n = recs(w, (const char *const[]){ "a", "b", "c", "d", NULL });
	cb_slotmap_assign(&m, w, n, 64, count_of, NULL);
	assert_int_equal(slot_of(w, n, "b"), sb);
}

static void test_slots_adopted(void **state)
{
	static struct cb_slotmap m;
	struct cb_worker_rec w[4], old[4];
	size_t n;

	(void)state;
	memset(counts, 0, sizeof(counts));
	cb_slotmap_init(&m);
	n = recs(old, (const char *const[]){ "x", "y", "z", NULL });
	old[0].slot = 900;
	old[1].slot = 900;           /* a duplicate: gets a new one */
	old[2].slot = 5000;          /* out of range: gets a new one */
	cb_slotmap_adopt(&m, old, n);
	n = recs(w, (const char *const[]){ "x", "y", "z", NULL });
	cb_slotmap_assign(&m, w, n, 8, count_of, NULL);
	assert_int_equal(w[0].slot, 900);
	assert_true(w[1].slot < CB_MAX_WORKERS && w[1].slot != 900);
	assert_true(w[2].slot < CB_MAX_WORKERS && w[2].slot != 900 &&
	    w[2].slot != w[1].slot);
}

static void test_slots_full_table(void **state)
{
	static struct cb_slotmap m;
	static struct cb_worker_rec w[CB_MAX_WORKERS];
	static char seen[CB_MAX_WORKERS];

	(void)state;
	for (uint32_t i = 0; i < CB_MAX_WORKERS; i++)
		counts[i] = 1;            /* every slot "busy": still given */
	cb_slotmap_init(&m);
	memset(w, 0, sizeof(w));
	for (uint32_t i = 0; i < CB_MAX_WORKERS; i++)
		snprintf(w[i].id, sizeof(w[i].id), "w%05u", i);
	cb_slotmap_assign(&m, w, CB_MAX_WORKERS, 1, count_of, NULL);
	for (uint32_t i = 0; i < CB_MAX_WORKERS; i++) {
		assert_true(w[i].slot < CB_MAX_WORKERS);
		assert_false(seen[w[i].slot]);
		seen[w[i].slot] = 1;
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_slots_stable),
		cmocka_unit_test(test_slots_adopted),
		cmocka_unit_test(test_slots_full_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
