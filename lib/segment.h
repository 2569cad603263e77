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
void *cb_seg_region(const void *state, unsigned idx);
void *cb_seg_record(const void *state, unsigned idx, size_t hdr_size,
    uint32_t i);

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
void *cb_slots_record(const void *slots, unsigned idx, uint32_t i);

#endif /* CB_SEGMENT_H */
