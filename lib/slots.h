/*
 * slots.h - typed records of the slots segment (layout: abi.h).
 *
 * The one place that turns (slots segment, index) into a pointer to one
 * of abi.h's records; lib/, broker/ and the tests all use these rather
 * than casting cb_slots_record() themselves.  Records are located
 * through this build's own layout (cb_slots_record, segment.h), never
 * through the segment's header, which every client can write.
 *
 * Bounds: the index is checked by the caller, against this build's
 * count named beside each accessor, before the call.  An index read
 * from shared memory (a launch word's client, a bind word's worker) is
 * checked where it is read, or comes from a bit field no wider than
 * the table (abi.h static_asserts the widths).
 */
#ifndef CB_SLOTS_H
#define CB_SLOTS_H

#include <stdint.h>

#include "abi.h"
#include "segment.h"

/* The segment's hot line: watch and picker words (region CB_RL_HOT). */
static inline struct cb_slots_hot *cb_slots_hot(const void *slots)
{
	return cb_slots_record(slots, CB_RL_HOT, 0);
}

/* Client entry i < CB_MAX_CLIENTS (region CB_RL_CLIENTS). */
static inline struct cb_client_slot *cb_slots_client(const void *slots,
    uint32_t i)
{
	return cb_slots_record(slots, CB_RL_CLIENTS, i);
}

/* Pool pool < CB_MAX_POOLS: its admission counter and wake-up words
 * (region CB_RL_POOLS). */
static inline struct cb_pool_slot *cb_slots_pool(const void *slots, int pool)
{
	return cb_slots_record(slots, CB_RL_POOLS, (uint32_t)pool);
}

/* Launch entry e < CB_MAX_LAUNCHES (region CB_RL_LAUNCHES). */
static inline struct cb_launch_slot *cb_slots_launch(const void *slots,
    uint32_t e)
{
	return cb_slots_record(slots, CB_RL_LAUNCHES, e);
}

/* Waiter entry e < CB_MAX_WAITERS (region CB_RL_WAITERS, ABI 1.1). */
static inline struct cb_waiter_slot *cb_slots_waiter(const void *slots,
    uint32_t e)
{
	return cb_slots_record(slots, CB_RL_WAITERS, e);
}

/* Worker slot w < CB_MAX_WORKERS: placement's in-flight counter
 * (region CB_RL_WORKERS, ABI 1.1). */
static inline struct cb_worker_slot *cb_slots_worker(const void *slots,
    uint32_t w)
{
	return cb_slots_record(slots, CB_RL_WORKERS, w);
}

/* Bind entry e < CB_MAX_BINDS (region CB_RL_BINDS, ABI 1.1); client c
 * owns [c * CB_BINDS_PER_CLIENT, (c + 1) * CB_BINDS_PER_CLIENT). */
static inline struct cb_bind_slot *cb_slots_bind(const void *slots,
    uint32_t e)
{
	return cb_slots_record(slots, CB_RL_BINDS, e);
}

/* Lane l < CB_MAX_LANES: one thread's hold records (region
 * CB_RL_LANES, ABI 1.2; lib/reserve.h). */
static inline struct cb_lane_slot *cb_slots_lane(const void *slots,
    uint32_t l)
{
	return cb_slots_record(slots, CB_RL_LANES, l);
}

/*
 * What client entry c (owner word o) records of pool p: its entry's
 * H[c,p] plus the H_l[p] of every lane it owns (reserve.h, "Lanes").
 * For observers (capdump, tests): a walk of the lane table, and each
 * word read once, relaxed, so not a consistent snapshot under load.
 */
static inline uint64_t cb_slots_client_holds(const void *slots, uint32_t c,
    uint64_t o, int p)
{
	uint64_t mine = CB_LANE_OF(c, o), n;

	n = atomic_load_explicit(&cb_slots_client(slots, c)->holds[p],
	    memory_order_relaxed);
	for (uint32_t l = 0; l < CB_MAX_LANES; l++) {
		struct cb_lane_slot *sl = cb_slots_lane(slots, l);

		if (atomic_load_explicit(&sl->word, memory_order_relaxed) ==
		    mine)
			n += atomic_load_explicit(&sl->holds[p],
			    memory_order_relaxed);
	}
	return n;
}

/*
 * The operations client entry c (owner word o) has in flight: its
 * entry's open windows (S counts them) plus one per lane it owns whose
 * window S_l is open (a lane has one writer).  For observers, as
 * cb_slots_client_holds: a death now may leave this many units over-
 * or under-recorded (reserve.h).
 */
static inline uint32_t cb_slots_client_windows(const void *slots, uint32_t c,
    uint64_t o)
{
	uint64_t mine = CB_LANE_OF(c, o);
	uint32_t n;

	n = CB_SEQ_INFLIGHT(atomic_load_explicit(&cb_slots_client(slots,
	    c)->seq, memory_order_relaxed));
	for (uint32_t l = 0; l < CB_MAX_LANES; l++) {
		struct cb_lane_slot *sl = cb_slots_lane(slots, l);

		if (atomic_load_explicit(&sl->word, memory_order_relaxed) ==
		    mine)
			n += CB_SEQ_INFLIGHT(atomic_load_explicit(&sl->seq,
			    memory_order_relaxed)) != 0;
	}
	return n;
}

#endif /* CB_SLOTS_H */
