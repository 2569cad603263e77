/*
 * segment.c - segment naming, layout, header init and validation.
 */
#include "segment.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* What each region must at least hold, by kind and index. */
struct region_spec {
	uint64_t head;    /* bytes before the records (block: its size) */
	uint32_t stride;  /* record size, 0 for a block */
	uint32_t count;   /* records */
};

static const struct region_spec state_regions[CB_RS_COUNT] = {
	[CB_RS_HOT] = { sizeof(struct cb_state_hot), 0, 1 },
	[CB_RS_INFO] = { sizeof(struct cb_info_block), 0, 1 },
	[CB_RS_WORKERS] = { sizeof(struct cb_worker_table),
	    sizeof(struct cb_worker_rec), CB_MAX_WORKERS },
	[CB_RS_EVENTS] = { sizeof(struct cb_event_ring),
	    sizeof(struct cb_event_rec), CB_EVENT_RING },
	[CB_RS_POOLS] = { 0, sizeof(struct cb_pool_conf), CB_MAX_POOLS },
	[CB_RS_CLUSTER] = { sizeof(struct cb_cluster_block), 0, 1 },
};

static const struct region_spec slots_regions[CB_RL_COUNT] = {
	[CB_RL_HOT] = { sizeof(struct cb_slots_hot), 0, 1 },
	[CB_RL_CLIENTS] = { 0, sizeof(struct cb_client_slot), CB_MAX_CLIENTS },
	[CB_RL_POOLS] = { 0, sizeof(struct cb_pool_slot), CB_MAX_POOLS },
	[CB_RL_LAUNCHES] = { 0, sizeof(struct cb_launch_slot),
	    CB_MAX_LAUNCHES },
	[CB_RL_WAITERS] = { 0, sizeof(struct cb_waiter_slot),
	    CB_MAX_WAITERS },
	[CB_RL_WORKERS] = { 0, sizeof(struct cb_worker_slot),
	    CB_MAX_WORKERS },
	[CB_RL_BINDS] = { 0, sizeof(struct cb_bind_slot), CB_MAX_BINDS },
	[CB_RL_LANES] = { 0, sizeof(struct cb_lane_slot), CB_MAX_LANES },
};

static const struct region_spec *specs(enum cb_seg_kind kind, unsigned *n)
{
	if (kind == CB_SEG_STATE) {
		*n = CB_RS_COUNT;
		return state_regions;
	}
	*n = CB_RL_COUNT;
	return slots_regions;
}

/*
 * This build's layouts, computed once, before main(), from the region
 * tables above: validation checks each header's regions against them.
 * Readers locate records through segment.h's constants (cb_seg_region,
 * cb_slots_record), never through a segment's header; the constructor
 * checks those constants against these layouts, so that what
 * validation accepts is where readers look.  Written only here,
 * read-only afterwards.
 */
static struct cb_layout state_layout, slots_layout;

static void layout_check(const struct cb_layout *l, const char *kind,
    uint64_t (*offset)(unsigned), uint64_t (*stride)(unsigned))
{
	for (unsigned i = 0; i < l->region_count; i++) {
		if (l->region[i].offset == offset(i) &&
		    l->region[i].stride == stride(i))
			continue;
		fprintf(stderr, "capbroker: %s region %u: segment.h's "
		    "constants disagree with segment.c's layout\n", kind, i);
		abort();
	}
}

__attribute__((constructor)) static void build_layouts_init(void)
{
	cb_layout_init(&state_layout, CB_SEG_STATE);
	cb_layout_init(&slots_layout, CB_SEG_SLOTS);
	layout_check(&state_layout, "state", cb_state_offset,
	    cb_state_stride);
	layout_check(&slots_layout, "slots", cb_slots_offset,
	    cb_slots_stride);
}

int cb_name_valid(const char *name)
{
	size_t len;

	if (name == NULL)
		return 0;
	len = strlen(name);
	if (len == 0 || len > CB_NAME_MAX || strcmp(name, ".") == 0 ||
	    strcmp(name, "..") == 0)
		return 0;
	return strspn(name, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == len;
}

int cb_shm_name(char *buf, size_t len, const char *name,
    enum cb_seg_kind kind)
{
	int n;

	if (!cb_name_valid(name))
		return -EINVAL;
	n = snprintf(buf, len, "%s%s.%s", CB_SHM_PREFIX, name,
	    kind == CB_SEG_STATE ? "state" : "slots");
	return n < 0 || (size_t)n >= len ? -EINVAL : 0;
}

static uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

void cb_layout_init(struct cb_layout *l, enum cb_seg_kind kind)
{
	const struct region_spec *spec;
	uint64_t off = sizeof(struct cb_seg_header);
	unsigned n;

	memset(l, 0, sizeof(*l));
	spec = specs(kind, &n);
	l->region_count = n;
	for (unsigned i = 0; i < n; i++) {
		struct cb_region *r = &l->region[i];

		r->offset = off;
		r->count = spec[i].count;
		r->stride = spec[i].stride ? spec[i].stride : spec[i].head;
		r->size = spec[i].stride ?
		    spec[i].head + (uint64_t)spec[i].count * spec[i].stride :
		    spec[i].head;
		off = align_up(off + r->size, CB_CACHE_LINE);
	}
	l->total_size = align_up(off, 4096);
}

void cb_seg_header_init(struct cb_seg_header *h, enum cb_seg_kind kind,
    const char *name, uint64_t instance, const struct cb_layout *l)
{
	h->abi_major = CB_ABI_MAJOR;
	h->abi_minor = CB_ABI_MINOR;
	h->endian = CB_ENDIAN_MARK;
	h->word_size = (uint8_t)sizeof(long);
	h->kind = (uint8_t)kind;
	h->header_size = sizeof(*h);
	h->region_count = l->region_count;
	h->total_size = l->total_size;
	h->instance = instance;
	snprintf(h->name, sizeof(h->name), "%s", name);
	memcpy(h->region, l->region, sizeof(h->region));
}

void cb_seg_header_publish(struct cb_seg_header *h, enum cb_seg_kind kind)
{
	/* Paired with the acquire load of magic in cb_seg_validate(). */
	atomic_store_explicit(&h->magic,
	    kind == CB_SEG_STATE ? CB_MAGIC_STATE : CB_MAGIC_SLOTS,
	    memory_order_release);
}

size_t cb_seg_map_size(int fd, size_t file_size)
{
	uint64_t total;

	if (pread(fd, &total, sizeof(total), offsetof(struct cb_seg_header,
	    total_size)) != (ssize_t)sizeof(total) ||
	    total < sizeof(struct cb_seg_header) || total > file_size)
		return file_size;
	return (size_t)total;
}

static int refuse(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -EPROTO;
}

/* Where region i sits in this build's layout: readers look nowhere
 * else (cb_seg_region, cb_slots_record), so a segment whose table puts
 * it elsewhere, or strides its records differently, is refused. */
static int validate_placement(const struct cb_seg_header *h, unsigned i,
    char *err, size_t errlen)
{
	const struct cb_layout *l =
	    h->kind == CB_SEG_STATE ? &state_layout : &slots_layout;
	const struct cb_region *r = &h->region[i], *want = &l->region[i];

	if (r->offset == want->offset && r->stride == want->stride)
		return 0;
	return refuse(err, errlen, "%s region %u at offset %llu stride %u, "
	    "this build has it at %llu stride %u (a newer minor may append "
	    "regions, never move or grow one)",
	    h->kind == CB_SEG_STATE ? "state" : "slots", i,
	    (unsigned long long)r->offset, r->stride,
	    (unsigned long long)want->offset, want->stride);
}

static int validate_region(const struct cb_seg_header *h, unsigned i,
    const struct region_spec *spec, char *err, size_t errlen)
{
	const struct cb_region *r = &h->region[i];
	uint64_t need;

	if (r->offset % CB_CACHE_LINE != 0 || r->offset < h->header_size)
		return refuse(err, errlen, "region %u: offset %llu is "
		    "misaligned or inside the header", i,
		    (unsigned long long)r->offset);
	if (r->size > h->total_size || r->offset > h->total_size - r->size)
		return refuse(err, errlen, "region %u: %llu bytes at offset "
		    "%llu run past the segment end (%llu)", i,
		    (unsigned long long)r->size,
		    (unsigned long long)r->offset,
		    (unsigned long long)h->total_size);
	if (spec->stride == 0) {
		if (r->size < spec->head)
			return refuse(err, errlen, "region %u: %llu bytes, "
			    "need %llu", i, (unsigned long long)r->size,
			    (unsigned long long)spec->head);
		return validate_placement(h, i, err, errlen);
	}
	if (r->stride < spec->stride || r->stride % 8 != 0)
		return refuse(err, errlen, "region %u: record stride %u, need "
		    "a multiple of 8 >= %u", i, r->stride, spec->stride);
	if (r->count < spec->count)
		return refuse(err, errlen, "region %u: %u records, need %u",
		    i, r->count, spec->count);
	need = spec->head + (uint64_t)r->count * r->stride;
	if (r->size < need)
		return refuse(err, errlen, "region %u: %llu bytes cannot hold "
		    "%u records of %u", i, (unsigned long long)r->size,
		    r->count, r->stride);
	return validate_placement(h, i, err, errlen);
}

static int validate_identity(const struct cb_seg_header *h,
    enum cb_seg_kind kind, char *err, size_t errlen)
{
	uint64_t want = kind == CB_SEG_STATE ? CB_MAGIC_STATE : CB_MAGIC_SLOTS;
	/* Paired with the release store in cb_seg_header_publish(). */
	uint64_t magic = atomic_load_explicit(&h->magic, memory_order_acquire);

	if (magic == 0)
		return refuse(err, errlen, "segment is not initialised yet "
		    "(magic 0): a broker is creating it, or died doing so");
	if (magic == __builtin_bswap64(want))
		return refuse(err, errlen, "magic is byte-swapped: segment "
		    "written with another byte order (endian marker %#x)",
		    h->endian);
	if (magic != want)
		return refuse(err, errlen, "bad magic %#llx, expected %#llx: "
		    "not a capbroker %s segment", (unsigned long long)magic,
		    (unsigned long long)want,
		    kind == CB_SEG_STATE ? "state" : "slots");
	if (h->endian != CB_ENDIAN_MARK)
		return refuse(err, errlen, "endian marker %#x, expected %#x: "
		    "segment written with another byte order", h->endian,
		    CB_ENDIAN_MARK);
	if (h->word_size != sizeof(long))
		return refuse(err, errlen, "word size %u, this process uses %zu",
		    h->word_size, sizeof(long));
	if (h->abi_major != CB_ABI_MAJOR)
		return refuse(err, errlen, "ABI %u.%u, this build speaks "
		    "%u.%u (major versions differ)", h->abi_major,
		    h->abi_minor, CB_ABI_MAJOR, CB_ABI_MINOR);
	if (h->kind != kind)
		return refuse(err, errlen, "segment kind %u, expected %u",
		    h->kind, kind);
	if (h->header_size != sizeof(*h))
		return refuse(err, errlen, "header size %u, expected %zu",
		    h->header_size, sizeof(*h));
	return 0;
}

int cb_seg_validate(const void *base, size_t mapped_size,
    enum cb_seg_kind kind, const char *name, char *err, size_t errlen)
{
	const struct cb_seg_header *h = base;
	const struct region_spec *spec;
	unsigned n;
	int r;

	if (mapped_size < sizeof(*h))
		return refuse(err, errlen, "segment is %zu bytes, smaller than "
		    "its header (%zu)", mapped_size, sizeof(*h));
	r = validate_identity(h, kind, err, errlen);
	if (r < 0)
		return r;
	/* Larger is harmless: nothing is located past total_size (every
	 * region is checked against it below), and the broker trims the
	 * file back (cb_segments_check).  Refusing it would let any member
	 * of the slots group lock every new client out with one truncate. */
	if (h->total_size > mapped_size)
		return refuse(err, errlen, "header says %llu bytes, segment is "
		    "%zu", (unsigned long long)h->total_size, mapped_size);
	if (memchr(h->name, '\0', sizeof(h->name)) == NULL)
		return refuse(err, errlen, "instance name is not terminated");
	if (name != NULL && strcmp(h->name, name) != 0)
		return refuse(err, errlen, "segment belongs to instance '%s', "
		    "expected '%s'", h->name, name);
	spec = specs(kind, &n);
	/* A minor version appends regions: an older segment lacks some. */
	if (h->region_count < n && h->abi_minor < CB_ABI_MINOR)
		return refuse(err, errlen, "ABI %u.%u segment has %u regions, "
		    "this build (ABI %u.%u) needs %u: it was created by an "
		    "older broker", h->abi_major, h->abi_minor,
		    h->region_count, CB_ABI_MAJOR, CB_ABI_MINOR, n);
	if (h->region_count < n || h->region_count > CB_REGION_MAX)
		return refuse(err, errlen, "%u regions, expected %u..%u",
		    h->region_count, n, CB_REGION_MAX);
	for (unsigned i = 0; i < n; i++) {
		r = validate_region(h, i, &spec[i], err, errlen);
		if (r < 0)
			return r;
	}
	return 0;
}
