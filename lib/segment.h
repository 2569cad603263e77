/*
 * segment.h - naming, laying out, creating headers for and validating
 * capbroker's shared-memory segments (layout in abi.h).
 *
 * Used by every process: the broker lays out and initialises segments;
 * libcapbroker and the broker (on adoption) validate them.  libc only.
 */
#ifndef CB_SEGMENT_H
#define CB_SEGMENT_H

#include <stddef.h>
#include <stdint.h>

#include "abi.h"

#define CB_ERRMSG_MAX 256

struct cb_layout {
	uint64_t total_size;
	uint32_t region_count;
	struct cb_region region[CB_REGION_MAX];
};

/* 1 if name is a valid instance name ([A-Za-z0-9._-]{1,31}, not "." or
 * ".."), else 0. */
int cb_name_valid(const char *name);

/* "/capbroker.NAME.state" or ".slots" into buf.  Returns 0 or -EINVAL. */
int cb_shm_name(char *buf, size_t len, const char *name,
    enum cb_seg_kind kind);

/* The layout this build creates for a segment kind. */
void cb_layout_init(struct cb_layout *l, enum cb_seg_kind kind);

/*
 * Fill in the creator fields of a zeroed header.  magic is left 0: the
 * caller initialises the regions, then calls cb_seg_header_publish().
 */
void cb_seg_header_init(struct cb_seg_header *h, enum cb_seg_kind kind,
    const char *name, uint64_t instance, const struct cb_layout *l);

/* Store the magic with release: the segment is now valid to attach. */
void cb_seg_header_publish(struct cb_seg_header *h, enum cb_seg_kind kind);

/*
 * Validate a mapped segment of mapped_size bytes: magic, ABI, endian
 * marker, word size, kind, header size, total size (at most
 * mapped_size: a file grown past it is accepted, since nothing is
 * located beyond total_size), name (when name is not NULL), and every
 * region's bounds, alignment and minimum size; then that each region
 * this build knows sits at this build's offset with this build's
 * stride (readers locate records through this build's layout, never
 * the table).  A newer minor may append regions, never move or grow
 * one.  Returns 0, or -EPROTO with what differs written to err.
 */
int cb_seg_validate(const void *base, size_t mapped_size,
    enum cb_seg_kind kind, const char *name, char *err, size_t errlen);

/*
 * How many bytes of an open segment of file_size bytes to map: what its
 * header says (read with pread), when the file is at least that big.  A
 * file grown past its header's size (any member of the slots group may
 * truncate it) is thus mapped for what is used, and a trim back by the
 * broker never leaves a mapping with pages past the end of the file.
 * Anything unreadable or implausible: file_size (validation refuses).
 */
size_t cb_seg_map_size(int fd, size_t file_size);

/*
 * This build's layouts as constant expressions: each region starts
 * cache-line aligned after the one before it, the first right after the
 * header; an array region is its table header (if any) and its records.
 * cb_layout_init() computes the same from segment.c's region table (the
 * one validation checks headers against), and segment.c's constructor
 * aborts if the two ever disagree.  Constants, so that the accessors
 * below fold to one add (and a multiply by a constant): they are on
 * every reserve and release, where an out-of-line call to a table
 * lookup cost ~10% of a hold pair (docs/BENCHMARKS.md, issue 14).
 */
#define CB_LAYOUT_NEXT(off, size)                                        \
	(((uint64_t)(off) + (uint64_t)(size) + CB_CACHE_LINE - 1) &      \
	    ~(uint64_t)(CB_CACHE_LINE - 1))

#define CB_RS_HOT_OFFSET ((uint64_t)sizeof(struct cb_seg_header))
#define CB_RS_INFO_OFFSET                                                 \
	CB_LAYOUT_NEXT(CB_RS_HOT_OFFSET, sizeof(struct cb_state_hot))
#define CB_RS_WORKERS_OFFSET                                              \
	CB_LAYOUT_NEXT(CB_RS_INFO_OFFSET, sizeof(struct cb_info_block))
#define CB_RS_EVENTS_OFFSET                                               \
	CB_LAYOUT_NEXT(CB_RS_WORKERS_OFFSET, sizeof(struct cb_worker_table) + \
	    (uint64_t)CB_MAX_WORKERS * sizeof(struct cb_worker_rec))
#define CB_RS_POOLS_OFFSET                                                \
	CB_LAYOUT_NEXT(CB_RS_EVENTS_OFFSET, sizeof(struct cb_event_ring) + \
	    (uint64_t)CB_EVENT_RING * sizeof(struct cb_event_rec))
#define CB_RS_CLUSTER_OFFSET                                              \
	CB_LAYOUT_NEXT(CB_RS_POOLS_OFFSET,                               \
	    (uint64_t)CB_MAX_POOLS * sizeof(struct cb_pool_conf))

#define CB_RL_HOT_OFFSET ((uint64_t)sizeof(struct cb_seg_header))
#define CB_RL_CLIENTS_OFFSET                                              \
	CB_LAYOUT_NEXT(CB_RL_HOT_OFFSET, sizeof(struct cb_slots_hot))
#define CB_RL_POOLS_OFFSET                                                \
	CB_LAYOUT_NEXT(CB_RL_CLIENTS_OFFSET,                             \
	    (uint64_t)CB_MAX_CLIENTS * sizeof(struct cb_client_slot))
#define CB_RL_LAUNCHES_OFFSET                                             \
	CB_LAYOUT_NEXT(CB_RL_POOLS_OFFSET,                               \
	    (uint64_t)CB_MAX_POOLS * sizeof(struct cb_pool_slot))
#define CB_RL_WAITERS_OFFSET                                              \
	CB_LAYOUT_NEXT(CB_RL_LAUNCHES_OFFSET,                            \
	    (uint64_t)CB_MAX_LAUNCHES * sizeof(struct cb_launch_slot))
#define CB_RL_WORKERS_OFFSET                                              \
	CB_LAYOUT_NEXT(CB_RL_WAITERS_OFFSET,                             \
	    (uint64_t)CB_MAX_WAITERS * sizeof(struct cb_waiter_slot))
#define CB_RL_BINDS_OFFSET                                                \
	CB_LAYOUT_NEXT(CB_RL_WORKERS_OFFSET,                             \
	    (uint64_t)CB_MAX_WORKERS * sizeof(struct cb_worker_slot))
#define CB_RL_LANES_OFFSET                                                \
	CB_LAYOUT_NEXT(CB_RL_BINDS_OFFSET,                               \
	    (uint64_t)CB_MAX_BINDS * sizeof(struct cb_bind_slot))

/*
 * Region idx (a CB_RS_*) of the state segment, and record i of a state
 * array region whose records follow a table header of hdr_size bytes.
 * Located through this build's own layout, never through the segment's
 * header: only the broker's uid can write that header, but one 8-byte
 * write of a region offset there would otherwise send every reader,
 * the broker included, wherever it points.  cb_seg_validate() requires
 * the state regions to sit exactly where this layout puts them, so a
 * reader never looks at the table again after attaching, and loops over
 * records use this build's counts (CB_MAX_WORKERS, CB_EVENT_RING,
 * CB_MAX_POOLS), never the table's: the caller bounds i by them.  State
 * segment only: the slots side is cb_slots_record() below.
 */
/* Where the state segment's region idx starts, and its stride. */
static inline uint64_t cb_state_offset(unsigned idx)
{
	switch (idx) {
	case CB_RS_HOT:		return CB_RS_HOT_OFFSET;
	case CB_RS_INFO:	return CB_RS_INFO_OFFSET;
	case CB_RS_WORKERS:	return CB_RS_WORKERS_OFFSET;
	case CB_RS_EVENTS:	return CB_RS_EVENTS_OFFSET;
	case CB_RS_POOLS:	return CB_RS_POOLS_OFFSET;
	default:		return CB_RS_CLUSTER_OFFSET;
	}
}

static inline uint64_t cb_state_stride(unsigned idx)
{
	switch (idx) {
	case CB_RS_HOT:		return sizeof(struct cb_state_hot);
	case CB_RS_INFO:	return sizeof(struct cb_info_block);
	case CB_RS_WORKERS:	return sizeof(struct cb_worker_rec);
	case CB_RS_EVENTS:	return sizeof(struct cb_event_rec);
	case CB_RS_POOLS:	return sizeof(struct cb_pool_conf);
	default:		return sizeof(struct cb_cluster_block);
	}
}

static inline void *cb_seg_region(const void *state, unsigned idx)
{
	return (char *)state + cb_state_offset(idx);
}

static inline void *cb_seg_record(const void *state, unsigned idx,
    size_t hdr_size, uint32_t i)
{
	return (char *)state + cb_state_offset(idx) + hdr_size +
	    (uint64_t)i * cb_state_stride(idx);
}

/*
 * Record i of slots-segment region idx, located through this build's
 * own layout, never through the segment's header: every client can
 * write that header, so following its offsets would let one process
 * point the broker (and every other client) anywhere.  Validation
 * requires the slots regions to sit exactly where this layout puts
 * them.  The caller bounds-checks i against this build's counts
 * (CB_MAX_CLIENTS, CB_MAX_POOLS, CB_MAX_LAUNCHES).  slots.h has one
 * typed accessor per table over this; use those.
 */
static inline uint64_t cb_slots_offset(unsigned idx)
{
	switch (idx) {
	case CB_RL_HOT:		return CB_RL_HOT_OFFSET;
	case CB_RL_CLIENTS:	return CB_RL_CLIENTS_OFFSET;
	case CB_RL_POOLS:	return CB_RL_POOLS_OFFSET;
	case CB_RL_LAUNCHES:	return CB_RL_LAUNCHES_OFFSET;
	case CB_RL_WAITERS:	return CB_RL_WAITERS_OFFSET;
	case CB_RL_WORKERS:	return CB_RL_WORKERS_OFFSET;
	case CB_RL_BINDS:	return CB_RL_BINDS_OFFSET;
	default:		return CB_RL_LANES_OFFSET;
	}
}

static inline uint64_t cb_slots_stride(unsigned idx)
{
	switch (idx) {
	case CB_RL_HOT:		return sizeof(struct cb_slots_hot);
	case CB_RL_CLIENTS:	return sizeof(struct cb_client_slot);
	case CB_RL_POOLS:	return sizeof(struct cb_pool_slot);
	case CB_RL_LAUNCHES:	return sizeof(struct cb_launch_slot);
	case CB_RL_WAITERS:	return sizeof(struct cb_waiter_slot);
	case CB_RL_WORKERS:	return sizeof(struct cb_worker_slot);
	case CB_RL_BINDS:	return sizeof(struct cb_bind_slot);
	default:		return sizeof(struct cb_lane_slot);
	}
}

static inline void *cb_slots_record(const void *slots, unsigned idx,
    uint32_t i)
{
	return (char *)slots + cb_slots_offset(idx) +
	    (uint64_t)i * cb_slots_stride(idx);
}

#endif /* CB_SEGMENT_H */
