/*
 * test_segment.c - segment names, layout, header init and ABI
 * validation (lib/segment.c).
 *
 * Segments are built in heap memory exactly as the broker builds them
 * in shared memory (cb_layout_init, cb_seg_header_init,
 * cb_seg_header_publish); each refusal test breaks one header field of
 * an otherwise valid segment and checks that cb_seg_validate() refuses
 * it with -EPROTO and a message naming what differs.  Nothing here
 * touches /dev/shm.
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

#include "abi.h"
#include "segment.h"

#define NAME "unit-test_1.x"
#define INSTANCE 0x1122334455667788ull

struct seg {
	enum cb_seg_kind kind;
	struct cb_layout layout;
	void *base;
	size_t size;
	char err[CB_ERRMSG_MAX];
};

static struct seg *seg_new(enum cb_seg_kind kind)
{
	struct seg *s = calloc(1, sizeof(*s));

	assert_non_null(s);
	s->kind = kind;
	cb_layout_init(&s->layout, kind);
	s->size = s->layout.total_size;
	s->base = aligned_alloc(4096, s->size);
	assert_non_null(s->base);
	memset(s->base, 0, s->size);
	cb_seg_header_init(s->base, kind, NAME, INSTANCE, &s->layout);
	cb_seg_header_publish(s->base, kind);
	return s;
}

static int setup_state(void **state)
{
	*state = seg_new(CB_SEG_STATE);
	return 0;
}

static int setup_slots(void **state)
{
	*state = seg_new(CB_SEG_SLOTS);
	return 0;
}

static int teardown(void **state)
{
	struct seg *s = *state;

	free(s->base);
	free(s);
	return 0;
}

static struct cb_seg_header *hdr(struct seg *s)
{
	return s->base;
}

static int validate(struct seg *s)
{
	memset(s->err, 0, sizeof(s->err));
	return cb_seg_validate(s->base, s->size, s->kind, NAME, s->err,
	    sizeof(s->err));
}

/* Refused with -EPROTO and a message that contains every keyword. */
static void expect_refused(struct seg *s, const char *kw1, const char *kw2)
{
	int r = validate(s);

	if (r != -EPROTO || strstr(s->err, kw1) == NULL ||
	    (kw2 != NULL && strstr(s->err, kw2) == NULL))
		print_error("got %d '%s', want -EPROTO naming '%s' '%s'\n", r,
		    s->err, kw1, kw2 ? kw2 : "");
	assert_int_equal(r, -EPROTO);
	assert_non_null(strstr(s->err, kw1));
	if (kw2 != NULL)
		assert_non_null(strstr(s->err, kw2));
}

static const char *num(unsigned long long v)
{
	static char buf[4][32];
	static int next;

	next = (next + 1) % 4;
	snprintf(buf[next], sizeof(buf[next]), "%llu", v);
	return buf[next];
}

/* ---- names ------------------------------------------------------- */

static void test_name_valid(void **state)
{
	char name[64];
	(void)state;

	assert_true(cb_name_valid("default"));
	assert_true(cb_name_valid("a"));
	assert_true(cb_name_valid("A-Z_a.z-0.9"));
	assert_true(cb_name_valid("..."));
	assert_true(cb_name_valid(".hidden"));
	memset(name, 'x', sizeof(name));
	name[31] = '\0';
	assert_true(cb_name_valid(name));   /* 31 chars: the maximum */
	name[31] = 'x';
	name[32] = '\0';
	assert_false(cb_name_valid(name));  /* 32 chars */

	assert_false(cb_name_valid(NULL));
	assert_false(cb_name_valid(""));
	assert_false(cb_name_valid("."));
	assert_false(cb_name_valid(".."));
	assert_false(cb_name_valid("/"));
	assert_false(cb_name_valid("a/b"));
	assert_false(cb_name_valid("../x"));
	assert_false(cb_name_valid("a b"));
	assert_false(cb_name_valid(" a"));
	assert_false(cb_name_valid("a\t"));
	assert_false(cb_name_valid("a\n"));
	assert_false(cb_name_valid("caf\xc3\xa9"));
	assert_false(cb_name_valid("a:b"));
	assert_false(cb_name_valid("a*"));
}

static void test_shm_name(void **state)
{
	char buf[CB_SHM_NAME_MAX], name[32], want[64];
	(void)state;

	assert_int_equal(cb_shm_name(buf, sizeof(buf), "default",
	    CB_SEG_STATE), 0);
	assert_string_equal(buf, "/capbroker.default.state");
	assert_int_equal(cb_shm_name(buf, sizeof(buf), "default",
	    CB_SEG_SLOTS), 0);
	assert_string_equal(buf, "/capbroker.default.slots");

	/* The longest name fits CB_SHM_NAME_MAX. */
	memset(name, 'n', 31);
	name[31] = '\0';
	assert_int_equal(cb_shm_name(buf, sizeof(buf), name, CB_SEG_SLOTS),
	    0);
	snprintf(want, sizeof(want), "/capbroker.%s.slots", name);
	assert_string_equal(buf, want);

	assert_int_equal(cb_shm_name(buf, sizeof(buf), "", CB_SEG_STATE),
	    -EINVAL);
	assert_int_equal(cb_shm_name(buf, sizeof(buf), "..", CB_SEG_STATE),
	    -EINVAL);
	assert_int_equal(cb_shm_name(buf, sizeof(buf), "a/b", CB_SEG_STATE),
	    -EINVAL);
	assert_int_equal(cb_shm_name(buf, sizeof(buf), NULL, CB_SEG_STATE),
	    -EINVAL);
	/* Too small a buffer is refused, not truncated. */
	assert_int_equal(cb_shm_name(buf, 10, "default", CB_SEG_STATE),
	    -EINVAL);
	assert_int_equal(cb_shm_name(buf, strlen("/capbroker.default.state"),
	    "default", CB_SEG_STATE), -EINVAL);
	assert_int_equal(cb_shm_name(buf,
	    strlen("/capbroker.default.state") + 1, "default", CB_SEG_STATE),
	    0);
}

/* ---- layout and header init -------------------------------------- */

static void check_layout(enum cb_seg_kind kind, unsigned n)
{
	struct cb_layout l;
	uint64_t end = sizeof(struct cb_seg_header);

	cb_layout_init(&l, kind);
	assert_int_equal(l.region_count, n);
	assert_int_equal(l.total_size % 4096, 0);
	for (unsigned i = 0; i < n; i++) {
		const struct cb_region *r = &l.region[i];

		assert_int_equal(r->offset % CB_CACHE_LINE, 0);
		assert_true(r->offset >= end);      /* no overlap */
		assert_true(r->size > 0);
		end = r->offset + r->size;
		assert_true(end <= l.total_size);
	}
	for (unsigned i = n; i < CB_REGION_MAX; i++)
		assert_true(l.region[i].offset == 0 && l.region[i].size == 0);
}

static void test_layout(void **state)
{
	struct cb_layout l;
	(void)state;

	check_layout(CB_SEG_STATE, CB_RS_COUNT);
	check_layout(CB_SEG_SLOTS, CB_RL_COUNT);

	cb_layout_init(&l, CB_SEG_STATE);
	assert_int_equal(l.region[CB_RS_WORKERS].count, CB_MAX_WORKERS);
	assert_int_equal(l.region[CB_RS_WORKERS].stride,
	    sizeof(struct cb_worker_rec));
	assert_true(l.region[CB_RS_WORKERS].size >=
	    sizeof(struct cb_worker_table) +
	    (uint64_t)CB_MAX_WORKERS * sizeof(struct cb_worker_rec));
	assert_int_equal(l.region[CB_RS_EVENTS].count, CB_EVENT_RING);
	assert_int_equal(l.region[CB_RS_EVENTS].stride,
	    sizeof(struct cb_event_rec));
	assert_true(l.region[CB_RS_EVENTS].size >=
	    sizeof(struct cb_event_ring) +
	    (uint64_t)CB_EVENT_RING * sizeof(struct cb_event_rec));
	assert_true(l.region[CB_RS_HOT].size >= sizeof(struct cb_state_hot));
	assert_true(l.region[CB_RS_INFO].size >=
	    sizeof(struct cb_info_block));
}

static void test_header_init(void **state)
{
	struct seg *s = *state;
	struct cb_seg_header *h = hdr(s);

	assert_true(atomic_load(&h->magic) == CB_MAGIC_STATE);
	assert_int_equal(h->abi_major, CB_ABI_MAJOR);
	assert_int_equal(h->abi_minor, CB_ABI_MINOR);
	assert_int_equal(h->endian, CB_ENDIAN_MARK);
	assert_int_equal(h->word_size, sizeof(long));
	assert_int_equal(h->kind, CB_SEG_STATE);
	assert_int_equal(h->header_size, sizeof(*h));
	assert_int_equal(h->region_count, CB_RS_COUNT);
	assert_true(h->total_size == s->size);
	assert_true(h->instance == INSTANCE);
	assert_string_equal(h->name, NAME);
	assert_memory_equal(h->region, s->layout.region, sizeof(h->region));
}

/* ---- valid segments ---------------------------------------------- */

static void test_valid_state_accepted(void **state)
{
	struct seg *s = *state;

	assert_int_equal(validate(s), 0);
	/* name NULL: any instance. */
	assert_int_equal(cb_seg_validate(s->base, s->size, CB_SEG_STATE,
	    NULL, s->err, sizeof(s->err)), 0);
	/* Region addresses follow this build's layout, which the table
	 * matches. */
	assert_ptr_equal(cb_seg_region(s->base, CB_RS_INFO),
	    (char *)s->base + s->layout.region[CB_RS_INFO].offset);
	assert_ptr_equal(cb_seg_record(s->base, CB_RS_WORKERS,
	    sizeof(struct cb_worker_table), 3),
	    (char *)s->base + s->layout.region[CB_RS_WORKERS].offset +
	    sizeof(struct cb_worker_table) + 3 * sizeof(struct cb_worker_rec));
}

static void test_valid_slots_accepted(void **state)
{
	struct seg *s = *state;

	assert_true(atomic_load(&hdr(s)->magic) == CB_MAGIC_SLOTS);
	assert_int_equal(validate(s), 0);
}

static void test_abi_minor_difference_accepted(void **state)
{
	struct seg *s = *state;

	hdr(s)->abi_minor = CB_ABI_MINOR + 1;
	assert_int_equal(validate(s), 0);
	hdr(s)->abi_minor = 0xffff;
	assert_int_equal(validate(s), 0);
}

static void test_extra_regions_accepted(void **state)
{
	struct seg *s = *state;

	/* A newer minor may append regions (never move or grow one). */
	hdr(s)->region_count = CB_REGION_MAX;
	assert_int_equal(validate(s), 0);
	hdr(s)->region_count = CB_RS_COUNT + 1;
	assert_int_equal(validate(s), 0);
}

static void test_small_error_buffer(void **state)
{
	struct seg *s = *state;
	char small[8];

	memset(small, 'z', sizeof(small));
	atomic_store(&hdr(s)->magic, 0);
	assert_int_equal(cb_seg_validate(s->base, s->size, s->kind, NAME,
	    small, 5), -EPROTO);
	assert_int_equal(strlen(small), 4);    /* truncated, terminated */
	assert_int_equal(small[5], 'z');       /* nothing past errlen */
}

/* ---- identity fields refused ------------------------------------- */

static void test_refuse_magic_zero(void **state)
{
	struct seg *s = *state;

	atomic_store(&hdr(s)->magic, 0);
	expect_refused(s, "not initialised", "magic 0");
}

static void test_refuse_wrong_magic(void **state)
{
	struct seg *s = *state;

	atomic_store(&hdr(s)->magic, 0xdeadbeefcafef00dull);
	expect_refused(s, "magic", "0xdeadbeefcafef00d");
	/* The byte-swapped magic, as another-endian writer would store. */
	atomic_store(&hdr(s)->magic, __builtin_bswap64(CB_MAGIC_STATE));
	expect_refused(s, "magic", NULL);
}

static void test_refuse_state_magic_on_slots(void **state)
{
	struct seg *s = *state;

	/* A state segment where a slots segment is expected. */
	s->kind = CB_SEG_SLOTS;
	expect_refused(s, "magic", "slots");
}

static void test_refuse_slots_magic_on_state(void **state)
{
	struct seg *s = *state;

	s->kind = CB_SEG_STATE;
	expect_refused(s, "magic", "state");
}

static void test_refuse_endian(void **state)
{
	struct seg *s = *state;

	hdr(s)->endian = 0x0201;
	expect_refused(s, "endian", "0x201");
}

static void test_refuse_word_size(void **state)
{
	struct seg *s = *state;

	hdr(s)->word_size = sizeof(long) == 8 ? 4 : 8;
	expect_refused(s, "word size", NULL);
}

static void test_refuse_abi_major(void **state)
{
	struct seg *s = *state;
	char want[32];

	hdr(s)->abi_major = CB_ABI_MAJOR + 1;
	snprintf(want, sizeof(want), "ABI %u.", CB_ABI_MAJOR + 1);
	expect_refused(s, want, "major");
	hdr(s)->abi_major = 0;
	expect_refused(s, "ABI 0.", "major");
}

static void test_refuse_kind(void **state)
{
	struct seg *s = *state;

	/* The state magic, but the kind byte says slots. */
	hdr(s)->kind = CB_SEG_SLOTS;
	expect_refused(s, "kind", NULL);
	hdr(s)->kind = 0;
	expect_refused(s, "kind", NULL);
}

static void test_refuse_header_size(void **state)
{
	struct seg *s = *state;

	hdr(s)->header_size = sizeof(struct cb_seg_header) - 64;
	expect_refused(s, "header size",
	    num(sizeof(struct cb_seg_header) - 64));
	hdr(s)->header_size = sizeof(struct cb_seg_header) + 64;
	expect_refused(s, "header size", NULL);
}

/* ---- sizes and name refused -------------------------------------- */

static void test_refuse_total_size_mismatch(void **state)
{
	struct seg *s = *state;

	/* Mapped less than the header says. */
	s->size = s->layout.total_size - 4096;
	expect_refused(s, num(s->layout.total_size), num(s->size));
}

/* cb_seg_map_size: what the header says, when the file holds it. */
static void test_map_size(void **state)
{
	struct seg *s = *state;
	FILE *f = tmpfile();
	size_t total = s->layout.total_size;

	assert_non_null(f);
	assert_int_equal(fwrite(s->base, 1, sizeof(struct cb_seg_header), f),
	    sizeof(struct cb_seg_header));
	fflush(f);
	/* Grown: only what the header says. */
	assert_true(cb_seg_map_size(fileno(f), total + 4096) == total);
	assert_true(cb_seg_map_size(fileno(f), total + (1ull << 47)) == total);
	assert_true(cb_seg_map_size(fileno(f), total) == total);
	/* Shorter than the header says, or a header too small to be one:
	 * the file's size, which validation then refuses. */
	assert_true(cb_seg_map_size(fileno(f), total - 4096) == total - 4096);
	hdr(s)->total_size = 8;
	rewind(f);
	assert_int_equal(fwrite(s->base, 1, sizeof(struct cb_seg_header), f),
	    sizeof(struct cb_seg_header));
	fflush(f);
	assert_true(cb_seg_map_size(fileno(f), total) == total);
	hdr(s)->total_size = total;
	fclose(f);
}

/* A file grown past the header's size (a member of the slots group ran
 * truncate -s +4096): nothing is located past total_size, so it is
 * accepted, and the broker trims the file back (cb_segments_check).
 * validate() reads only the header, so the mapped size can be claimed
 * larger than the buffer. */
static void test_accept_grown_segment(void **state)
{
	struct seg *s = *state;

	s->size = s->layout.total_size + 4096;
	assert_int_equal(validate(s), 0);
	s->size = s->layout.total_size + (1ull << 40);
	assert_int_equal(validate(s), 0);
	s->size = s->layout.total_size;
}

static void test_refuse_mapping_smaller_than_header(void **state)
{
	struct seg *s = *state;

	s->size = sizeof(struct cb_seg_header) - 1;
	expect_refused(s, "smaller than", "header");
	s->size = 0;
	expect_refused(s, "smaller than", "header");
}

static void test_refuse_name_mismatch(void **state)
{
	struct seg *s = *state;
	int r;

	r = cb_seg_validate(s->base, s->size, s->kind, "other", s->err,
	    sizeof(s->err));
	assert_int_equal(r, -EPROTO);
	assert_non_null(strstr(s->err, "other"));
	assert_non_null(strstr(s->err, NAME));
	/* A prefix is not the name. */
	r = cb_seg_validate(s->base, s->size, s->kind, "unit", s->err,
	    sizeof(s->err));
	assert_int_equal(r, -EPROTO);
}

static void test_refuse_unterminated_name(void **state)
{
	struct seg *s = *state;

	memset(hdr(s)->name, 'a', sizeof(hdr(s)->name));
	expect_refused(s, "not terminated", NULL);
	/* Also when the caller does not ask for a particular name. */
	assert_int_equal(cb_seg_validate(s->base, s->size, s->kind, NULL,
	    s->err, sizeof(s->err)), -EPROTO);
}

/* ---- region table refused ---------------------------------------- */

static void test_refuse_region_count(void **state)
{
	struct seg *s = *state;

	hdr(s)->region_count = CB_RS_COUNT - 1;
	expect_refused(s, "regions", num(CB_RS_COUNT - 1));
	hdr(s)->region_count = 0;
	expect_refused(s, "regions", NULL);
	hdr(s)->region_count = CB_REGION_MAX + 1;
	expect_refused(s, "regions", num(CB_REGION_MAX + 1));
	hdr(s)->region_count = UINT32_MAX;
	expect_refused(s, "regions", NULL);
}

static void test_refuse_region_misaligned(void **state)
{
	struct seg *s = *state;

	hdr(s)->region[CB_RS_INFO].offset += 8;
	expect_refused(s, "region 1", "misaligned");
	expect_refused(s, "region 1",
	    num(s->layout.region[CB_RS_INFO].offset + 8));
	hdr(s)->region[CB_RS_INFO].offset = s->layout.region[CB_RS_INFO].offset;
	hdr(s)->region[CB_RS_EVENTS].offset += 1;
	expect_refused(s, "region 3", "misaligned");
}

static void test_refuse_region_inside_header(void **state)
{
	struct seg *s = *state;

	hdr(s)->region[CB_RS_HOT].offset = 0;
	expect_refused(s, "region 0", "inside the header");
	/* Aligned, but still overlapping the header. */
	hdr(s)->region[CB_RS_HOT].offset = sizeof(struct cb_seg_header) - 64;
	expect_refused(s, "region 0", "inside the header");
}

static void test_refuse_region_past_end(void **state)
{
	struct seg *s = *state;
	struct cb_region *r = &hdr(s)->region[CB_RS_EVENTS];

	/* Starts inside, runs past the end. */
	r->offset = s->size - 64;
	expect_refused(s, "region 3", "past the segment end");
}

static void test_refuse_region_past_end_overflow(void **state)
{
	struct seg *s = *state;
	struct cb_region *r = &hdr(s)->region[CB_RS_EVENTS];
	uint64_t size = r->size;

	/* offset + size wraps around to a small number. */
	r->offset = UINT64_MAX & ~(uint64_t)(CB_CACHE_LINE - 1);
	expect_refused(s, "region 3", "past the segment end");
	r->offset = UINT64_MAX - size + 1 - 63;
	r->offset &= ~(uint64_t)(CB_CACHE_LINE - 1);
	expect_refused(s, "region 3", "past the segment end");
	/* A size that wraps the sum instead. */
	r->offset = s->layout.region[CB_RS_EVENTS].offset;
	r->size = UINT64_MAX - 32;
	expect_refused(s, "region 3", "past the segment end");
	/* Exactly up to the end is fine. */
	r->size = s->size - r->offset;
	assert_int_equal(validate(s), 0);
	r->size++;
	expect_refused(s, "region 3", "past the segment end");
}

static void test_refuse_record_stride(void **state)
{
	struct seg *s = *state;
	struct cb_region *w = &hdr(s)->region[CB_RS_WORKERS];
	struct cb_region *e = &hdr(s)->region[CB_RS_EVENTS];

	w->stride = sizeof(struct cb_worker_rec) - 8;
	expect_refused(s, "region 2", "stride");
	w->stride = 0;
	expect_refused(s, "region 2", "stride");
	w->stride = sizeof(struct cb_worker_rec);
	assert_int_equal(validate(s), 0);

	/*
	 * A larger stride, even one the region and the segment would hold,
	 * is refused: readers step through records by this build's stride
	 * (segment.h), so a grown record would be read out of step.  (Up
	 * to issue 12, step 7, a newer minor could grow a record; it may
	 * now only append regions.)
	 */
	e->stride = sizeof(struct cb_event_rec) + 8;
	e->size = sizeof(struct cb_event_ring) +
	    (uint64_t)e->count * e->stride;
	assert_true(e->offset + e->size <= s->size);
	expect_refused(s, "state region 3 at offset", "stride 72, this build "
	    "has it at");
	e->stride = sizeof(struct cb_event_rec) + 4;
	expect_refused(s, "region 3", "stride");
	e->stride = sizeof(struct cb_event_rec) - 8;
	expect_refused(s, "region 3", "stride");
}

/* A region moved to another aligned place inside the segment, where
 * its records still fit: before issue 12 (step 7) accepted, and every
 * reader followed it there. */
static void test_refuse_state_region_moved(void **state)
{
	struct seg *s = *state;
	struct cb_region *p = &hdr(s)->region[CB_RS_POOLS];
	uint64_t events = s->layout.region[CB_RS_EVENTS].offset;

	assert_true(events + p->size <= s->size);
	p->offset = events;
	expect_refused(s, "state region 4 at offset", num(events));
	expect_refused(s, "this build has it at",
	    num(s->layout.region[CB_RS_POOLS].offset));
	p->offset = s->layout.region[CB_RS_POOLS].offset;
	assert_int_equal(validate(s), 0);
}

static void test_refuse_slots_region_moved(void **state)
{
	struct seg *s = *state;
	struct cb_region *p = &hdr(s)->region[CB_RL_POOLS];

	p->offset += CB_CACHE_LINE;
	expect_refused(s, "slots region 2 at offset",
	    num(s->layout.region[CB_RL_POOLS].offset + CB_CACHE_LINE));
	p->offset -= CB_CACHE_LINE;
	assert_int_equal(validate(s), 0);
}

/*
 * The table overwritten after validation (one 8-byte write by the
 * broker's uid is enough): region and record addresses do not move --
 * they never come from the table -- and a fresh validation refuses it
 * with a message naming the region.  Before issue 12 (step 7) these
 * addresses followed the forged table, 2^40 bytes past the mapping.
 */
static void test_forged_table_after_validation(void **state)
{
	struct seg *s = *state;
	char *base = s->base;
	const struct cb_region *l = s->layout.region;

	assert_int_equal(validate(s), 0);
	for (unsigned i = 0; i < CB_RS_COUNT; i++) {
		hdr(s)->region[i].offset = 1ull << 40;
		hdr(s)->region[i].stride = 1u << 20;
		hdr(s)->region[i].count = 0;
	}
	assert_ptr_equal(cb_seg_region(base, CB_RS_HOT),
	    base + l[CB_RS_HOT].offset);
	assert_ptr_equal(cb_seg_region(base, CB_RS_INFO),
	    base + l[CB_RS_INFO].offset);
	assert_ptr_equal(cb_seg_record(base, CB_RS_WORKERS,
	    sizeof(struct cb_worker_table), CB_MAX_WORKERS - 1),
	    base + l[CB_RS_WORKERS].offset + sizeof(struct cb_worker_table) +
	    (uint64_t)(CB_MAX_WORKERS - 1) * sizeof(struct cb_worker_rec));
	assert_ptr_equal(cb_seg_record(base, CB_RS_EVENTS,
	    sizeof(struct cb_event_ring), 7),
	    base + l[CB_RS_EVENTS].offset + sizeof(struct cb_event_ring) +
	    7 * sizeof(struct cb_event_rec));
	assert_ptr_equal(cb_seg_record(base, CB_RS_POOLS, 0, CB_MAX_POOLS - 1),
	    base + l[CB_RS_POOLS].offset +
	    (uint64_t)(CB_MAX_POOLS - 1) * sizeof(struct cb_pool_conf));
	expect_refused(s, "region 0", "past the segment end");
}

static void test_refuse_record_count(void **state)
{
	struct seg *s = *state;

	hdr(s)->region[CB_RS_EVENTS].count = CB_EVENT_RING - 1;
	expect_refused(s, "region 3", "records");
	hdr(s)->region[CB_RS_EVENTS].count = 0;
	expect_refused(s, "region 3", "records");
	hdr(s)->region[CB_RS_EVENTS].count = CB_EVENT_RING;
	hdr(s)->region[CB_RS_WORKERS].count = CB_MAX_WORKERS - 1;
	expect_refused(s, "region 2", "records");
}

static void test_refuse_region_too_small(void **state)
{
	struct seg *s = *state;

	/* An array region whose size cannot hold count x stride. */
	hdr(s)->region[CB_RS_WORKERS].size -= 8;
	expect_refused(s, "region 2", "cannot hold");
	hdr(s)->region[CB_RS_WORKERS].size += 8;
	assert_int_equal(validate(s), 0);
	/* More records claimed than the region holds. */
	hdr(s)->region[CB_RS_WORKERS].count = CB_MAX_WORKERS + 1;
	expect_refused(s, "region 2", "cannot hold");
	hdr(s)->region[CB_RS_WORKERS].count = CB_MAX_WORKERS;
	/* A block region smaller than its struct. */
	hdr(s)->region[CB_RS_INFO].size = sizeof(struct cb_info_block) - 8;
	expect_refused(s, "region 1", "need");
}

static void test_refuse_slots_region(void **state)
{
	struct seg *s = *state;

	hdr(s)->region[CB_RL_HOT].size = 8;
	expect_refused(s, "region 0", "need");
	hdr(s)->region[CB_RL_HOT].size = sizeof(struct cb_slots_hot);
	assert_int_equal(validate(s), 0);
	hdr(s)->region_count = 0;
	expect_refused(s, "regions", NULL);
}

#define STATE_TEST(f) cmocka_unit_test_setup_teardown(f, setup_state, \
    teardown)
#define SLOTS_TEST(f) cmocka_unit_test_setup_teardown(f, setup_slots, \
    teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_name_valid),
		cmocka_unit_test(test_shm_name),
		cmocka_unit_test(test_layout),
		STATE_TEST(test_header_init),
		STATE_TEST(test_valid_state_accepted),
		SLOTS_TEST(test_valid_slots_accepted),
		STATE_TEST(test_abi_minor_difference_accepted),
		STATE_TEST(test_extra_regions_accepted),
		STATE_TEST(test_small_error_buffer),
		STATE_TEST(test_refuse_magic_zero),
		STATE_TEST(test_refuse_wrong_magic),
		STATE_TEST(test_refuse_state_magic_on_slots),
		SLOTS_TEST(test_refuse_slots_magic_on_state),
		STATE_TEST(test_refuse_endian),
		STATE_TEST(test_refuse_word_size),
		STATE_TEST(test_refuse_abi_major),
		STATE_TEST(test_refuse_kind),
		STATE_TEST(test_refuse_header_size),
		STATE_TEST(test_refuse_total_size_mismatch),
		STATE_TEST(test_accept_grown_segment),
		SLOTS_TEST(test_accept_grown_segment),
		SLOTS_TEST(test_map_size),
		STATE_TEST(test_refuse_mapping_smaller_than_header),
		STATE_TEST(test_refuse_name_mismatch),
		STATE_TEST(test_refuse_unterminated_name),
		STATE_TEST(test_refuse_region_count),
		STATE_TEST(test_refuse_region_misaligned),
		STATE_TEST(test_refuse_region_inside_header),
		STATE_TEST(test_refuse_region_past_end),
		STATE_TEST(test_refuse_region_past_end_overflow),
		STATE_TEST(test_refuse_record_stride),
		STATE_TEST(test_refuse_state_region_moved),
		SLOTS_TEST(test_refuse_slots_region_moved),
		STATE_TEST(test_forged_table_after_validation),
		STATE_TEST(test_refuse_record_count),
		STATE_TEST(test_refuse_region_too_small),
		SLOTS_TEST(test_refuse_slots_region),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
