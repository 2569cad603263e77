/*
 * test_state_word.c - cb_state_pack() and the CB_STATE_* decoders
 * (lib/state_word.h, include/capbroker.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "abi.h"
#include "capbroker.h"
#include "state_word.h"

static const unsigned capacities[] = { 0, 1, 2, 0x00ff, 0x0100, 0x7fff,
    0x8000, 65534, 65535 };
static const int sources[] = { CB_SOURCE_OVERRIDE, CB_SOURCE_REPORTED,
    CB_SOURCE_MIXED, CB_SOURCE_FALLBACK };
static const unsigned flag_values[] = { 0, CB_STATE_F_STOPPING,
    CB_STATE_F_RETIRED, CB_STATE_F_STOPPING | CB_STATE_F_RETIRED, 0x80,
    0xff };
static const uint32_t generations[] = { 0, 1, 2, 0xffff, 0x10000,
    0x7fffffff, 0x80000000u, UINT32_MAX - 1, UINT32_MAX };

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void test_layout_documented_bits(void **state)
{
	(void)state;
	/* capbroker.h: bits 0..15 capacity, 16..23 source, 24..31 flags,
	 * 32..63 generation. */
	assert_true(cb_state_pack(0xabcd, 0, 0, 0) == 0xabcdull);
	assert_true(cb_state_pack(0, 0x5a, 0, 0) == 0x5aull << 16);
	assert_true(cb_state_pack(0, 0, 0xc3, 0) == 0xc3ull << 24);
	assert_true(cb_state_pack(0, 0, 0, 0x12345678u) ==
	    0x12345678ull << 32);
	assert_true(cb_state_pack(65535, CB_SOURCE_FALLBACK, 0xff,
	    UINT32_MAX) == 0xffffffffff03ffffull);
	assert_true(cb_state_pack(0, 0, 0, 0) == 0);
}

static void test_round_trip_every_boundary(void **state)
{
	unsigned long checked = 0;
	(void)state;

	for (size_t c = 0; c < N(capacities); c++)
	for (size_t s = 0; s < N(sources); s++)
	for (size_t f = 0; f < N(flag_values); f++)
	for (size_t g = 0; g < N(generations); g++) {
		uint64_t w = cb_state_pack(capacities[c], sources[s],
		    flag_values[f], generations[g]);

		assert_int_equal(CB_STATE_CAPACITY(w), capacities[c]);
		assert_int_equal(CB_STATE_SOURCE(w), sources[s]);
		assert_int_equal(CB_STATE_FLAGS(w), flag_values[f]);
		assert_true(CB_STATE_GENERATION(w) == generations[g]);
		checked++;
	}
	assert_int_equal(checked, N(capacities) * N(sources) *
	    N(flag_values) * N(generations));
}

static void test_fields_do_not_bleed(void **state)
{
	uint64_t w;
	(void)state;

	/* One field at its maximum, the others must read 0. */
	w = cb_state_pack(65535, 0, 0, 0);
	assert_int_equal(CB_STATE_CAPACITY(w), 65535);
	assert_int_equal(CB_STATE_SOURCE(w), 0);
	assert_int_equal(CB_STATE_FLAGS(w), 0);
	assert_int_equal(CB_STATE_GENERATION(w), 0);

	w = cb_state_pack(0, 0xff, 0, 0);
	assert_int_equal(CB_STATE_CAPACITY(w), 0);
	assert_int_equal(CB_STATE_SOURCE(w), 0xff);
	assert_int_equal(CB_STATE_FLAGS(w), 0);
	assert_int_equal(CB_STATE_GENERATION(w), 0);

	w = cb_state_pack(0, 0, 0xff, 0);
	assert_int_equal(CB_STATE_CAPACITY(w), 0);
	assert_int_equal(CB_STATE_SOURCE(w), 0);
	assert_int_equal(CB_STATE_FLAGS(w), 0xff);
	assert_int_equal(CB_STATE_GENERATION(w), 0);

	w = cb_state_pack(0, 0, 0, UINT32_MAX);
	assert_int_equal(CB_STATE_CAPACITY(w), 0);
	assert_int_equal(CB_STATE_SOURCE(w), 0);
	assert_int_equal(CB_STATE_FLAGS(w), 0);
	assert_true(CB_STATE_GENERATION(w) == UINT32_MAX);
}

static void test_oversized_inputs_are_masked(void **state)
{
	uint64_t w;
	(void)state;

	/*
	 * Bits beyond a field's width must not spill into its neighbour,
	 * whose low bits are 0 here so that a spill shows.
	 */
	w = cb_state_pack(0x1ffffu, CB_SOURCE_MIXED, 0, 0x100);
	assert_int_equal(CB_STATE_CAPACITY(w), 0xffff);
	assert_int_equal(CB_STATE_SOURCE(w), CB_SOURCE_MIXED);
	assert_int_equal(CB_STATE_GENERATION(w), 0x100);

	w = cb_state_pack(5, 0x1ff, 0, 0x100);
	assert_int_equal(CB_STATE_SOURCE(w), 0xff);
	assert_int_equal(CB_STATE_FLAGS(w), 0);
	assert_int_equal(CB_STATE_CAPACITY(w), 5);
	assert_int_equal(CB_STATE_GENERATION(w), 0x100);

	w = cb_state_pack(5, -1, 0, 0x100);
	assert_int_equal(CB_STATE_SOURCE(w), 0xff);
	assert_int_equal(CB_STATE_FLAGS(w), 0);
	assert_int_equal(CB_STATE_GENERATION(w), 0x100);

	w = cb_state_pack(5, CB_SOURCE_REPORTED, 0x3ff, 0x100);
	assert_int_equal(CB_STATE_FLAGS(w), 0xff);
	assert_int_equal(CB_STATE_GENERATION(w), 0x100);
	assert_int_equal(CB_STATE_SOURCE(w), CB_SOURCE_REPORTED);

	w = cb_state_pack(UINT32_MAX, 0, UINT32_MAX, 0);
	assert_true(w == 0xff00ffffull);
}

static void test_single_bits_land_in_their_field(void **state)
{
	(void)state;

	for (unsigned b = 0; b < 16; b++) {
		uint64_t w = cb_state_pack(1u << b, 0, 0, 0);

		assert_int_equal(CB_STATE_CAPACITY(w), 1u << b);
		assert_true(w == 1ull << b);
	}
	for (unsigned b = 0; b < 8; b++) {
		uint64_t w = cb_state_pack(0, (int)(1u << b), 0, 0);

		assert_int_equal(CB_STATE_SOURCE(w), 1u << b);
		assert_true(w == 1ull << (16 + b));
		w = cb_state_pack(0, 0, 1u << b, 0);
		assert_int_equal(CB_STATE_FLAGS(w), 1u << b);
		assert_true(w == 1ull << (24 + b));
	}
	for (unsigned b = 0; b < 32; b++) {
		uint64_t w = cb_state_pack(0, 0, 0, 1u << b);

		assert_true(CB_STATE_GENERATION(w) == 1u << b);
		assert_true(w == 1ull << (32 + b));
	}
}

static void test_decoders_on_arbitrary_words(void **state)
{
	const uint64_t words[] = { 0, UINT64_MAX, 0x0123456789abcdefull,
	    0xfedcba9876543210ull, 0x8000000000000001ull };
	(void)state;

	for (size_t i = 0; i < N(words); i++) {
		uint64_t w = words[i];

		assert_int_equal(CB_STATE_CAPACITY(w), w & 0xffff);
		assert_int_equal(CB_STATE_SOURCE(w), (w >> 16) & 0xff);
		assert_int_equal(CB_STATE_FLAGS(w), (w >> 24) & 0xff);
		assert_true(CB_STATE_GENERATION(w) == (uint32_t)(w >> 32));
		/* Decode then re-pack gives the word back. */
		assert_true(cb_state_pack(CB_STATE_CAPACITY(w),
		    CB_STATE_SOURCE(w), CB_STATE_FLAGS(w),
		    CB_STATE_GENERATION(w)) == w);
	}
}

static void test_state_load_reads_the_word(void **state)
{
	struct cb_state_hot hot = { 0 };
	uint64_t plain;
	(void)state;

	plain = cb_state_pack(123, CB_SOURCE_MIXED, CB_STATE_F_STOPPING, 42);
	assert_true(cb_state_load(&plain) == plain);
	plain = UINT64_MAX;
	assert_true(cb_state_load(&plain) == UINT64_MAX);

	/* Through the shared-memory struct, as clients use it. */
	atomic_store_explicit(&hot.state_word,
	    cb_state_pack(65535, CB_SOURCE_OVERRIDE, 0, UINT32_MAX),
	    memory_order_release);
	{
		uint64_t w = cb_state_load((const uint64_t *)&hot.state_word);

		assert_int_equal(CB_STATE_CAPACITY(w), 65535);
		assert_int_equal(CB_STATE_SOURCE(w), CB_SOURCE_OVERRIDE);
		assert_int_equal(CB_STATE_FLAGS(w), 0);
		assert_true(CB_STATE_GENERATION(w) == UINT32_MAX);
	}
	atomic_store_explicit(&hot.state_word, 7, memory_order_release);
	assert_true(cb_state_load((const uint64_t *)&hot.state_word) == 7);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_layout_documented_bits),
		cmocka_unit_test(test_round_trip_every_boundary),
		cmocka_unit_test(test_fields_do_not_bleed),
		cmocka_unit_test(test_oversized_inputs_are_masked),
		cmocka_unit_test(test_single_bits_land_in_their_field),
		cmocka_unit_test(test_decoders_on_arbitrary_words),
		cmocka_unit_test(test_state_load_reads_the_word),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
