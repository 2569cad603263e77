/*
 * snapshot.h - consistent reads of the state segment's seqlock-protected
 * blocks (info, worker table, broker identity) and its event ring.
 *
 * Readers only: they never write, so they work on a PROT_READ mapping
 * and never block a writer.  Each returns -EAGAIN when no stable copy
 * could be taken (a writer died mid-write: see seqlock.h).  The base
 * must have passed cb_seg_validate(CB_SEG_STATE); from then on records
 * are found, and loops bounded, by this build's layout and counts
 * (segment.h), never by the header's region table.  libc only.
 */
#ifndef CB_SNAPSHOT_H
#define CB_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include "abi.h"

struct cb_ident {
	uint32_t pid;
	uint64_t start;  /* /proc starttime, ticks */
	uint64_t epoch;
};

int cb_snapshot_info(const void *state, struct cb_info *out);

/* Up to max records into out; *count gets the number copied. */
int cb_snapshot_workers(const void *state, struct cb_worker_rec *out,
    uint32_t max, uint32_t *count);

int cb_snapshot_ident(const void *state, struct cb_ident *out);

/* Pool `pool`'s definition (seqlock read); -ENOENT if out of range. */
int cb_snapshot_pool(const void *state, int pool, struct cb_pool_def *out);

/*
 * The newest events, oldest first, at most max.  Returns how many were
 * copied (records being overwritten while read are skipped).
 */
size_t cb_snapshot_events(const void *state, struct cb_event_rec *out,
    size_t max);

#endif /* CB_SNAPSHOT_H */
