/*
 * test_tier.c - the four-tier capacity function (lib/tier.c).
 *
 * The hand-written cases pin each tier and its boundaries; the sweep at
 * the end compares cb_tier_compute() with ref_compute(), a reference
 * written from the specification in tier.h and DESIGN.md (not from
 * tier.c), over every assignment of up to four workers.
 */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "abi.h"
#include "capbroker.h"
#include "tier.h"

#define READY CB_WORKER_READY
#define NOT_READY CB_WORKER_NOT_READY
#define DRAINING CB_WORKER_DRAINING

static const struct cb_tier_settings defaults = {
	.override = 0,
	.slots_per_worker = CB_DEFAULT_SLOTS_PER_WORKER,
	.legacy_max = CB_DEFAULT_LEGACY_MAX,
};

static struct cb_tier_result compute(const struct cb_tier_settings *set,
    const struct cb_tier_worker *w, size_t n)
{
	struct cb_tier_result r;

	/* Poison the result so a field the function forgets shows. */
	memset(&r, 0xa5, sizeof(r));
	cb_tier_compute(set, w, n, &r);
	return r;
}

static struct cb_tier_settings with_override(uint32_t override)
{
	struct cb_tier_settings s = defaults;

	s.override = override;
	return s;
}

static void test_defaults(void **state)
{
	(void)state;
	assert_int_equal(CB_DEFAULT_SLOTS_PER_WORKER, 64);
	assert_int_equal(CB_DEFAULT_LEGACY_MAX, 1024);
	assert_int_equal(CB_CAPACITY_MAX, 65535);
}

/* ---- override ---------------------------------------------------- */

static void test_override_wins_over_every_tier(void **state)
{
	const struct cb_tier_worker reporting[] = {
		{ READY, 10 }, { READY, 20 },
	};
	const struct cb_tier_worker mixed[] = {
		{ READY, 10 }, { READY, 0 }, { NOT_READY, 5 },
	};
	const struct cb_tier_worker none_ready[] = {
		{ NOT_READY, 10 }, { DRAINING, 20 },
	};
	const uint32_t values[] = { 1, 2, 64, 1024, 65534, 65535 };
	(void)state;

	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		struct cb_tier_settings s = with_override(values[i]);
		struct cb_tier_result r;

		r = compute(&s, reporting, 2);
		assert_int_equal(r.capacity, values[i]);
		assert_int_equal(r.source, CB_SOURCE_OVERRIDE);
		assert_false(r.override_ignored);

		r = compute(&s, mixed, 3);
		assert_int_equal(r.capacity, values[i]);
		assert_int_equal(r.source, CB_SOURCE_OVERRIDE);
		assert_false(r.override_ignored);

		r = compute(&s, none_ready, 2);
		assert_int_equal(r.capacity, values[i]);
		assert_int_equal(r.source, CB_SOURCE_OVERRIDE);
		assert_false(r.override_ignored);

		r = compute(&s, NULL, 0);
		assert_int_equal(r.capacity, values[i]);
		assert_int_equal(r.source, CB_SOURCE_OVERRIDE);
		assert_false(r.override_ignored);
	}
}

static void test_override_still_counts_workers(void **state)
{
	const struct cb_tier_worker w[] = {
		{ READY, 10 }, { READY, 0 }, { DRAINING, 5 }, { READY, 3 },
	};
	struct cb_tier_settings s = with_override(7);
	struct cb_tier_result r;
	(void)state;

	r = compute(&s, w, 4);
	assert_int_equal(r.capacity, 7);
	assert_int_equal(r.source, CB_SOURCE_OVERRIDE);
	assert_int_equal(r.ready, 3);
	assert_int_equal(r.reporting, 2);
}

static void test_override_zero_derives(void **state)
{
	const struct cb_tier_worker w[] = { { READY, 10 }, { READY, 20 } };
	struct cb_tier_settings s = with_override(0);
	struct cb_tier_result r;
	(void)state;

	r = compute(&s, w, 2);
	assert_int_equal(r.capacity, 30);
	assert_int_equal(r.source, CB_SOURCE_REPORTED);
	assert_false(r.override_ignored);

	r = compute(&s, NULL, 0);
	assert_int_equal(r.capacity, 1024);
	assert_int_equal(r.source, CB_SOURCE_FALLBACK);
	assert_false(r.override_ignored);
}

static void test_override_out_of_range_is_ignored_not_clamped(void **state)
{
	const struct cb_tier_worker w[] = { { READY, 10 }, { READY, 20 } };
	const struct cb_tier_worker m[] = { { READY, 10 }, { READY, 0 } };
	const uint32_t bad[] = { 65536, 65537, 70000, 1u << 31, UINT32_MAX };
	(void)state;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct cb_tier_settings s = with_override(bad[i]);
		struct cb_tier_result r;

		/* Derived as if no override: never 65535 from a clamp. */
		r = compute(&s, w, 2);
		assert_true(r.override_ignored);
		assert_int_equal(r.source, CB_SOURCE_REPORTED);
		assert_int_equal(r.capacity, 30);

		r = compute(&s, m, 2);
		assert_true(r.override_ignored);
		assert_int_equal(r.source, CB_SOURCE_MIXED);
		assert_int_equal(r.capacity, 10 + 64);

		r = compute(&s, NULL, 0);
		assert_true(r.override_ignored);
		assert_int_equal(r.source, CB_SOURCE_FALLBACK);
		assert_int_equal(r.capacity, 1024);
	}
}

static void test_override_valid(void **state)
{
	(void)state;
	/* What the control handler and config accept: 0 or 1..65535. */
	assert_true(cb_tier_override_valid(0));
	assert_true(cb_tier_override_valid(1));
	assert_true(cb_tier_override_valid(65535));
	assert_false(cb_tier_override_valid(65536));
	assert_false(cb_tier_override_valid(70000));
	assert_false(cb_tier_override_valid(-1));
	assert_false(cb_tier_override_valid(4294967296LL));
	assert_false(cb_tier_override_valid(-4294967296LL));
	assert_false(cb_tier_override_valid(LLONG_MAX));
	assert_false(cb_tier_override_valid(LLONG_MIN));
}

/* ---- reported ---------------------------------------------------- */

static void test_reported_sums_ready_reporters(void **state)
{
	const struct cb_tier_worker one[] = { { READY, 1 } };
	const struct cb_tier_worker three[] = {
		{ READY, 8 }, { READY, 16 }, { READY, 100 },
	};
	struct cb_tier_result r;
	(void)state;

	r = compute(&defaults, one, 1);
	assert_int_equal(r.capacity, 1);
	assert_int_equal(r.source, CB_SOURCE_REPORTED);
	assert_int_equal(r.ready, 1);
	assert_int_equal(r.reporting, 1);

	r = compute(&defaults, three, 3);
	assert_int_equal(r.capacity, 124);
	assert_int_equal(r.source, CB_SOURCE_REPORTED);
	assert_int_equal(r.ready, 3);
	assert_int_equal(r.reporting, 3);
	assert_false(r.override_ignored);
}

static void test_reported_ignores_unhealthy_workers(void **state)
{
	/* Only the ready workers decide the tier: all of them report. */
	const struct cb_tier_worker w[] = {
		{ READY, 8 }, { NOT_READY, 0 }, { DRAINING, 0 },
		{ NOT_READY, 500 }, { DRAINING, 700 }, { READY, 2 },
	};
	struct cb_tier_result r;
	(void)state;

	r = compute(&defaults, w, 6);
	assert_int_equal(r.capacity, 10);
	assert_int_equal(r.source, CB_SOURCE_REPORTED);
	assert_int_equal(r.ready, 2);
	assert_int_equal(r.reporting, 2);
}

/* ---- mixed ------------------------------------------------------- */

static void test_mixed_some_report(void **state)
{
	const struct cb_tier_worker w[] = {
		{ READY, 10 }, { READY, 0 }, { READY, 5 }, { READY, 0 },
	};
	struct cb_tier_settings s = defaults;
	struct cb_tier_result r;
	(void)state;

	r = compute(&s, w, 4);
	assert_int_equal(r.capacity, 10 + 5 + 2 * 64);
	assert_int_equal(r.source, CB_SOURCE_MIXED);
	assert_int_equal(r.ready, 4);
	assert_int_equal(r.reporting, 2);

	s.slots_per_worker = 3;
	r = compute(&s, w, 4);
	assert_int_equal(r.capacity, 10 + 5 + 2 * 3);
	assert_int_equal(r.source, CB_SOURCE_MIXED);
}

static void test_mixed_none_report(void **state)
{
	const struct cb_tier_worker w[] = {
		{ READY, 0 }, { READY, 0 }, { READY, 0 }, { NOT_READY, 9 },
	};
	struct cb_tier_settings s = defaults;
	struct cb_tier_result r;
	(void)state;

	r = compute(&s, w, 1);
	assert_int_equal(r.capacity, 64);
	assert_int_equal(r.source, CB_SOURCE_MIXED);
	assert_int_equal(r.ready, 1);
	assert_int_equal(r.reporting, 0);

	r = compute(&s, w, 4);
	assert_int_equal(r.capacity, 3 * 64);
	assert_int_equal(r.source, CB_SOURCE_MIXED);
	assert_int_equal(r.ready, 3);
	assert_int_equal(r.reporting, 0);

	s.slots_per_worker = 10;
	r = compute(&s, w, 4);
	assert_int_equal(r.capacity, 30);
}

static void test_mixed_zero_slots_never_publishes_zero(void **state)
{
	const struct cb_tier_worker w[] = { { READY, 0 }, { READY, 0 } };
	struct cb_tier_settings s = defaults;
	struct cb_tier_result r;
	(void)state;

	s.slots_per_worker = 0;
	r = compute(&s, w, 2);
	assert_int_equal(r.capacity, 1);
	assert_int_equal(r.source, CB_SOURCE_MIXED);
}

/* ---- fallback ---------------------------------------------------- */

static void test_fallback_without_ready_workers(void **state)
{
	const struct cb_tier_worker w[] = {
		{ NOT_READY, 10 }, { DRAINING, 0 }, { NOT_READY, 0 },
		{ DRAINING, 65535 },
	};
	struct cb_tier_settings s = defaults;
	struct cb_tier_result r;
	(void)state;

	r = compute(&s, NULL, 0);
	assert_int_equal(r.capacity, 1024);
	assert_int_equal(r.source, CB_SOURCE_FALLBACK);
	assert_int_equal(r.ready, 0);
	assert_int_equal(r.reporting, 0);

	r = compute(&s, w, 4);
	assert_int_equal(r.capacity, 1024);
	assert_int_equal(r.source, CB_SOURCE_FALLBACK);
	assert_int_equal(r.ready, 0);
	assert_int_equal(r.reporting, 0);

	s.legacy_max = 17;
	r = compute(&s, w, 4);
	assert_int_equal(r.capacity, 17);
	assert_int_equal(r.source, CB_SOURCE_FALLBACK);
}

static void test_fallback_clamped_to_1_65535(void **state)
{
	struct cb_tier_settings s = defaults;
	struct cb_tier_result r;
	(void)state;

	s.legacy_max = 0;
	r = compute(&s, NULL, 0);
	assert_int_equal(r.capacity, 1);
	assert_int_equal(r.source, CB_SOURCE_FALLBACK);

	s.legacy_max = 65535;
	r = compute(&s, NULL, 0);
	assert_int_equal(r.capacity, 65535);

	s.legacy_max = 65536;
	r = compute(&s, NULL, 0);
	assert_int_equal(r.capacity, 65535);

	s.legacy_max = UINT32_MAX;
	r = compute(&s, NULL, 0);
	assert_int_equal(r.capacity, 65535);
}

/* ---- unhealthy workers: capacity shrinks ------------------------- */

static void test_worker_failure_shrinks_capacity(void **state)
{
	struct cb_tier_worker w[] = {
		{ READY, 100 }, { READY, 50 }, { READY, 0 },
	};
	struct cb_tier_result r;
	(void)state;

	r = compute(&defaults, w, 3);
	assert_int_equal(r.capacity, 100 + 50 + 64);

	w[0].state = NOT_READY;
	r = compute(&defaults, w, 3);
	assert_int_equal(r.capacity, 50 + 64);
	assert_int_equal(r.ready, 2);
	assert_int_equal(r.reporting, 1);

	w[2].state = DRAINING;
	r = compute(&defaults, w, 3);
	assert_int_equal(r.capacity, 50);
	assert_int_equal(r.source, CB_SOURCE_REPORTED);

	w[1].state = NOT_READY;
	r = compute(&defaults, w, 3);
	assert_int_equal(r.source, CB_SOURCE_FALLBACK);
	assert_int_equal(r.capacity, 1024);
}

static void test_unknown_state_is_not_healthy(void **state)
{
	const struct cb_tier_worker w[] = {
		{ 0, 10 }, { 4, 10 }, { 99, 10 }, { UINT32_MAX, 10 },
		{ READY, 3 },
	};
	struct cb_tier_result r;
	(void)state;

	r = compute(&defaults, w, 5);
	assert_int_equal(r.capacity, 3);
	assert_int_equal(r.ready, 1);
	assert_int_equal(r.source, CB_SOURCE_REPORTED);

	r = compute(&defaults, w, 4);
	assert_int_equal(r.source, CB_SOURCE_FALLBACK);
	assert_int_equal(r.ready, 0);
}

/* ---- saturation -------------------------------------------------- */

static void test_saturates_many_large_reporters(void **state)
{
	struct cb_tier_worker w[1000];
	struct cb_tier_result r;
	(void)state;

	for (size_t i = 0; i < 1000; i++)
		w[i] = (struct cb_tier_worker){ READY, 65535 };
	r = compute(&defaults, w, 1000);
	assert_int_equal(r.capacity, 65535);
	assert_int_equal(r.source, CB_SOURCE_REPORTED);
	assert_int_equal(r.ready, 1000);
	assert_int_equal(r.reporting, 1000);

	/* Exactly at the limit, and one over. */
	w[0].max_running = 65534;
	w[1].max_running = 1;
	r = compute(&defaults, w, 2);
	assert_int_equal(r.capacity, 65535);
	w[1].max_running = 2;
	r = compute(&defaults, w, 2);
	assert_int_equal(r.capacity, 65535);
	w[0].max_running = 30000;
	w[1].max_running = 30000;
	r = compute(&defaults, w, 2);
	assert_int_equal(r.capacity, 60000);
}

static void test_saturates_many_non_reporters(void **state)
{
	struct cb_tier_worker w[1025];
	struct cb_tier_settings s = defaults;
	struct cb_tier_result r;
	(void)state;

	for (size_t i = 0; i < 1025; i++)
		w[i] = (struct cb_tier_worker){ READY, 0 };
	/* 1023 * 64 = 65472 fits; 1024 * 64 = 65536 does not. */
	r = compute(&s, w, 1023);
	assert_int_equal(r.capacity, 65472);
	assert_int_equal(r.source, CB_SOURCE_MIXED);
	r = compute(&s, w, 1024);
	assert_int_equal(r.capacity, 65535);
	r = compute(&s, w, 1025);
	assert_int_equal(r.capacity, 65535);

	/* n * slots overflows 32 bits. */
	s.slots_per_worker = UINT32_MAX;
	r = compute(&s, w, 2);
	assert_int_equal(r.capacity, 65535);
	s.slots_per_worker = 1u << 31;
	r = compute(&s, w, 2);
	assert_int_equal(r.capacity, 65535);
	r = compute(&s, w, 1025);
	assert_int_equal(r.capacity, 65535);

	/* Reporters plus a saturating fill. */
	w[0].max_running = 65535;
	s.slots_per_worker = 1;
	r = compute(&s, w, 2);
	assert_int_equal(r.capacity, 65535);
	assert_int_equal(r.source, CB_SOURCE_MIXED);
}

static void test_saturates_on_uint32_overflow(void **state)
{
	/*
	 * max_running is range-checked upstream, but the function must
	 * not wrap if a huge value arrives: UINT32_MAX + 1 would be 0.
	 */
	const struct cb_tier_worker w[] = {
		{ READY, UINT32_MAX }, { READY, 1 }, { READY, UINT32_MAX },
	};
	const struct cb_tier_worker half[] = {
		{ READY, 1u << 31 }, { READY, 1u << 31 }, { READY, 5 },
	};
	const struct cb_tier_worker mixed[] = {
		{ READY, UINT32_MAX }, { READY, 0 },
	};
	struct cb_tier_result r;
	(void)state;

	r = compute(&defaults, w, 1);
	assert_int_equal(r.capacity, 65535);
	r = compute(&defaults, w, 2);
	assert_int_equal(r.capacity, 65535);
	r = compute(&defaults, w, 3);
	assert_int_equal(r.capacity, 65535);
	r = compute(&defaults, half, 3);
	assert_int_equal(r.capacity, 65535);
	assert_int_equal(r.source, CB_SOURCE_REPORTED);
	r = compute(&defaults, mixed, 2);
	assert_int_equal(r.capacity, 65535);
	assert_int_equal(r.source, CB_SOURCE_MIXED);
}

/* ---- the reference and the sweep --------------------------------- */

/*
 * The specification, restated: ready workers only; override 1..65535
 * wins and anything above 65535 is ignored (flagged); otherwise with no
 * ready worker legacy_max, with every ready worker reporting the sum of
 * reports ("reported"), else reports plus slots_per_worker for each
 * ready non-reporter ("mixed").  Saturate at 65535, never publish 0.
 */
static void ref_compute(uint32_t override, uint32_t slots, uint32_t legacy,
    const struct cb_tier_worker *w, size_t n, struct cb_tier_result *out)
{
	unsigned long long total = 0;
	uint32_t healthy = 0, reporters = 0;

	for (size_t i = 0; i < n; i++) {
		if (w[i].state == READY) {
			healthy++;
			if (w[i].max_running != 0) {
				reporters++;
				total += w[i].max_running;
			} else {
				total += slots;
			}
		}
	}
	out->ready = healthy;
	out->reporting = reporters;
	out->override_ignored = override > 65535;
	if (override != 0 && override <= 65535) {
		out->source = CB_SOURCE_OVERRIDE;
		out->capacity = override;
		return;
	}
	if (healthy == 0) {
		out->source = CB_SOURCE_FALLBACK;
		total = legacy;
	} else {
		out->source = reporters == healthy ? CB_SOURCE_REPORTED :
		    CB_SOURCE_MIXED;
	}
	if (total > 65535)
		total = 65535;
	if (total < 1)
		total = 1;
	out->capacity = (uint32_t)total;
}

static void test_sweep_against_reference(void **state)
{
	static const uint32_t states[] = { READY, NOT_READY, DRAINING };
	static const uint32_t maxes[] = { 0, 1, 7, 65535 };
	static const uint32_t overrides[] = { 0, 5, 70000 };
	static const struct { uint32_t slots, legacy; } settings[] = {
		{ 64, 1024 }, { 0, 0 }, { 30000, 70000 }, { 1, 65535 },
	};
	const unsigned choices = 3 * 4;
	unsigned long cases = 0, by_source[4] = { 0 };
	(void)state;

	for (size_t n = 0; n <= 4; n++) {
		unsigned combos = 1;

		for (size_t i = 0; i < n; i++)
			combos *= choices;
		for (unsigned c = 0; c < combos; c++) {
			struct cb_tier_worker w[4];
			unsigned v = c;

			for (size_t i = 0; i < n; i++) {
				w[i].state = states[v % 3];
				w[i].max_running = maxes[(v / 3) % 4];
				v /= choices;
			}
			for (size_t o = 0; o < 3; o++)
			for (size_t k = 0; k < 4; k++) {
				struct cb_tier_settings s = {
					overrides[o], settings[k].slots,
					settings[k].legacy,
				};
				struct cb_tier_result got, want;

				ref_compute(s.override, s.slots_per_worker,
				    s.legacy_max, w, n, &want);
				got = compute(&s, w, n);
				if (got.capacity != want.capacity ||
				    got.source != want.source ||
				    got.override_ignored !=
				    want.override_ignored ||
				    got.ready != want.ready ||
				    got.reporting != want.reporting) {
					print_error("n=%zu combo=%u override=%u "
					    "slots=%u legacy=%u: got %u/%d/%d/"
					    "%u/%u want %u/%d/%d/%u/%u\n", n, c,
					    s.override, s.slots_per_worker,
					    s.legacy_max, got.capacity,
					    got.source, got.override_ignored,
					    got.ready, got.reporting,
					    want.capacity, want.source,
					    want.override_ignored, want.ready,
					    want.reporting);
					fail();
				}
				assert_in_range(got.capacity, 1, 65535);
				by_source[want.source & 3]++;
				cases++;
			}
		}
	}
	/* 3 overrides x 4 settings x (1 + 12 + 12^2 + 12^3 + 12^4). */
	assert_int_equal(cases, 3ul * 4 * (1 + 12 + 144 + 1728 + 20736));
	/* The sweep reached every tier. */
	for (int i = 0; i < 4; i++)
		assert_true(by_source[i] > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_override_wins_over_every_tier),
		cmocka_unit_test(test_override_still_counts_workers),
		cmocka_unit_test(test_override_zero_derives),
		cmocka_unit_test(test_override_out_of_range_is_ignored_not_clamped),
		cmocka_unit_test(test_override_valid),
		cmocka_unit_test(test_reported_sums_ready_reporters),
		cmocka_unit_test(test_reported_ignores_unhealthy_workers),
		cmocka_unit_test(test_mixed_some_report),
		cmocka_unit_test(test_mixed_none_report),
		cmocka_unit_test(test_mixed_zero_slots_never_publishes_zero),
		cmocka_unit_test(test_fallback_without_ready_workers),
		cmocka_unit_test(test_fallback_clamped_to_1_65535),
		cmocka_unit_test(test_worker_failure_shrinks_capacity),
		cmocka_unit_test(test_unknown_state_is_not_healthy),
		cmocka_unit_test(test_saturates_many_large_reporters),
		cmocka_unit_test(test_saturates_many_non_reporters),
		cmocka_unit_test(test_saturates_on_uint32_overflow),
		cmocka_unit_test(test_sweep_against_reference),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
