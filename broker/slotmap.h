/*
 * slotmap.h - stable worker slots for placement (lib/place.h).
 *
 * Each registered worker owns one entry ("slot") of the slots
 * segment's CB_RL_WORKERS region, where pickers count the holds bound
 * to it.  The published worker table is sorted by id, so a worker's
 * index there moves whenever another worker is added or removed; the
 * slot does not: the publisher gives a worker a slot when it first
 * appears and keeps it until the worker is deleted, and publishes it
 * in cb_worker_rec.slot.
 *
 * A deleted worker's slot keeps whatever count its bound holds still
 * have.  A new worker gets, in this order: the slot it had before if
 * it is back and that slot is still free; a free slot whose count is 0,
 * searching round-robin from after the last slot handed out (so a
 * freed slot is reused last); any free slot.  A count inherited the
 * last way only makes the new worker look busier until the old holds
 * end: never more than its limit in flight.
 *
 * Publisher thread only (no locking).  libc only.
 */
#ifndef CB_SLOTMAP_H
#define CB_SLOTMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "abi.h"

struct cb_slotmap_entry {
	char id[CB_WORKER_ID_MAX + 1];
	uint32_t slot;
};

struct cb_slotmap {
	/* Workers as last assigned, sorted by id (strcmp). */
	struct cb_slotmap_entry cur[CB_MAX_WORKERS];
	size_t ncur;
	bool used[CB_MAX_WORKERS];              /* slot held by cur[] */
	char last[CB_MAX_WORKERS][CB_WORKER_ID_MAX + 1]; /* slot's last id */
	uint32_t cursor;                        /* next slot to try */
};

void cb_slotmap_init(struct cb_slotmap *m);

/*
 * Take over the slots an adopted segment's published table names
 * (records in table order, sorted by id).  Records with a slot out of
 * range or already taken get a new one at the next assign.
 */
void cb_slotmap_adopt(struct cb_slotmap *m, const struct cb_worker_rec *w,
    size_t n);

/*
 * Fill in slot and limit of the n records (sorted by id, as
 * cb_registry_snapshot returns them): limit is max_running, or
 * slots_per_worker for a worker that reports none.  inflight(slot, arg)
 * reads a slot's live count (NULL: treat every count as 0).
 */
void cb_slotmap_assign(struct cb_slotmap *m, struct cb_worker_rec *w,
    size_t n, uint32_t slots_per_worker,
    uint32_t (*inflight)(uint32_t slot, void *arg), void *arg);

#endif /* CB_SLOTMAP_H */
