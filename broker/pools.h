/*
 * pools.h - the broker's pool definitions and their limit sources.
 *
 * The main thread owns the definitions (control requests, start-up)
 * and changes them under `lock` held for writing; the publisher, POOL
 * LIST and the sweeper read them under it held for reading.  The
 * publisher is the only writer of the pool records in the state
 * segment (definition, limit, observed).
 *
 * POOL SET creates and changes pools; POOL DEL (and a reload that no
 * longer names a pool the file defined) deletes one.  A deleted pool
 * is not free at once: its definition becomes a tombstone
 * (CB_POOL_F_DELETED, not ACTIVE), published with limit 0 so that
 * nothing more is admitted, and its index is not handed out again
 * until the sweeper has proved that nothing in the slots segment still
 * names it (cb_pools_pending, cb_pools_reap; sweeper.c): no hold
 * recorded in any client entry, U zero in a consistent snapshot, no
 * launch, waiter or bind entry of the index.  Until then the holds
 * taken before the deletion release into the tombstone's own counter,
 * which no other pool shares, so a late release can neither lower
 * another pool's count nor free its units; a client that cached the
 * index gets -ENOENT (client/reserve.c).  The tombstone is in the
 * state segment, so a restart neither brings the pool back nor frees
 * the index early.  When the index is reused, U is not reset
 * (publisher.c): a reserver that read the old limit before the
 * deletion and admits only now stays counted, re-checked against the
 * new limit.  tests/model/pooldel.pml checks this (U never
 * under-counts, the new pool's limit holds) and shows what a reset, or
 * a reuse without the proof, would lose.  The sweeper relies on the pin (cb_pools_pin):
 * nothing becomes ACTIVE while it holds one.
 *
 * A pool's limit comes from a limit source, chosen by the definition's
 * kind.  Sources are a small vtable so that a pool can later take its
 * limit from elsewhere (a distributed store's lease, say) without the
 * publisher or the clients changing: clients only ever read the
 * published limit.
 */
#ifndef CB_POOLS_H
#define CB_POOLS_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "abi.h"
#include "proto.h"

#define CB_DEFAULT_WINDOW_MS 60000u

struct cb_limit_source {
	const char *name;   /* "capacity", "fixed", "share", "global" */
	uint32_t (*limit)(const struct cb_pool_def *def, uint32_t capacity);
};

/* The source for a kind (enum cb_limit_kind), or NULL. */
const struct cb_limit_source *cb_limit_source(uint32_t kind);

struct cb_pools {
	pthread_rwlock_t lock;
	struct cb_pool_def def[CB_MAX_POOLS];
	uint32_t observed[CB_MAX_POOLS];
	/* Bit p: tombstone p was proved idle (cb_pools_reap), so its
	 * index is free for the next new pool.  Private to the broker. */
	uint64_t drained;
};

/* What the slots segment says a pool is doing (hostile: a hint). */
struct cb_pool_busy {
	uint32_t held;       /* U's holds */
	uint32_t live;       /* those that count: all but a global pool's
	                        aged ones (lib/age.h) */
	uint32_t launching;  /* U's live launches */
	uint64_t queued;     /* waiters in its fair queue */
};

/* Pool 0 "default" (follows the capacity), nothing else. */
void cb_pools_init(struct cb_pools *ps);
void cb_pools_destroy(struct cb_pools *ps);

/*
 * Take the definitions over from an adopted state segment, first
 * repairing any a killed broker left half-written (its seqlock odd):
 * kept if valid, cleared if not.  Tombstones stay tombstones, to be
 * proved idle again by this broker's sweeper.  Start-up only, before the publisher
 * runs (it writes the segment's definitions from then on).
 */
void cb_pools_adopt(struct cb_pools *ps, void *state);

/*
 * Apply POOL SET.  Returns the pool's index, or -errno with a message:
 * -ENOSPC no free pool, -EINVAL a bad combination (a new pool without a
 * limit or share; a limit, share, global, local or hold_max for
 * "default"; global on a share pool without limit=; hold_max= on a pool
 * that does not end up global).
 *
 * Scope: global makes the pool CB_LIMIT_GLOBAL, def.value the cluster's
 * limit L (limit= of the same request, else the value of a fixed or
 * global pool is kept as L), def.hold_max_s CB_HOLD_MAX_DEFAULT unless
 * hold_max= says or the pool already was global; limit= on a global
 * pool changes L and keeps it global; local (on a global pool) makes
 * it CB_LIMIT_FIXED with the same value, and share= makes it a share
 * pool; a pool that is not global has hold_max_s 0.  Whether the broker
 * has a cluster at all is the caller's to check (control.c).
 */
int cb_pools_set(struct cb_pools *ps, const struct cb_ctl_req *req,
    char *err, size_t errlen);

/* The same for a pool the configuration file defines: marks it
 * CB_POOL_F_FILE (a reload that drops its line deletes it). */
int cb_pools_set_file(struct cb_pools *ps, const struct cb_ctl_req *req,
    char *err, size_t errlen);

/*
 * Apply POOL DEL for pool `name`: the pool becomes a tombstone (above).
 * Unless force, refused while the slots segment shows it in use (holds,
 * launches or queued waiters; *busy gets the counts).  Returns the
 * pool's index, or -errno with a message: -ENOENT no such pool,
 * -EINVAL pool default, -EBUSY in use and not forced.
 */
int cb_pools_del(struct cb_pools *ps, const char *name, int force,
    const void *slots, struct cb_pool_busy *busy, char *err, size_t errlen);

/* Read pool p's use from the slots segment; 1 if any. */
int cb_pools_busy(const void *slots, int p, struct cb_pool_busy *busy);

/* "N holds, N launches, N waiters" (singular where 1), for refusals and
 * the log. */
void cb_pools_busy_say(const struct cb_pool_busy *busy, char *buf,
    size_t len);

/* Indexes that a new pool could take now. */
int cb_pools_room(struct cb_pools *ps);

/* Bit p set for every tombstone not yet proved idle (sweeper). */
uint64_t cb_pools_pending(struct cb_pools *ps);

/* Tombstone p was proved idle: free its index.  Returns 1 if it was
 * still a pending tombstone. */
int cb_pools_reap(struct cb_pools *ps, int p);

/* Copy definitions and observations (publisher, POOL LIST). */
void cb_pools_copy(struct cb_pools *ps, struct cb_pool_def *def,
    uint32_t *observed);

/*
 * Copy them and keep them from changing until cb_pools_unpin(): a POOL
 * SET waits meanwhile (readers do not).  The sweeper pins the pools
 * while it frees slots entries that name a pool it does not know.
 */
void cb_pools_pin(struct cb_pools *ps, struct cb_pool_def *def,
    uint32_t *observed);
void cb_pools_unpin(struct cb_pools *ps);

#endif /* CB_POOLS_H */
