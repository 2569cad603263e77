/*
 * pools.h - the broker's pool definitions and their limit sources.
 *
 * The main thread owns the definitions (control requests, start-up)
 * and changes them under `lock` held for writing; the publisher, POOL
 * LIST and the sweeper read them under it held for reading.  The
 * publisher is the only writer of the pool records in the state
 * segment (definition, limit, observed).
 *
 * A pool, once active, stays active: POOL SET creates and changes
 * pools, nothing deletes one.  The sweeper relies on that (sweeper.c).
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
	const char *name;   /* "capacity", "fixed", "share" */
	uint32_t (*limit)(const struct cb_pool_def *def, uint32_t capacity);
};

/* The source for a kind (enum cb_limit_kind), or NULL. */
const struct cb_limit_source *cb_limit_source(uint32_t kind);

struct cb_pools {
	pthread_rwlock_t lock;
	struct cb_pool_def def[CB_MAX_POOLS];
	uint32_t observed[CB_MAX_POOLS];
};

/* Pool 0 "default" (follows the capacity), nothing else. */
void cb_pools_init(struct cb_pools *ps);
void cb_pools_destroy(struct cb_pools *ps);

/*
 * Take the definitions over from an adopted state segment, first
 * repairing any a killed broker left half-written (its seqlock odd):
 * kept if valid, cleared if not.  Start-up only, before the publisher
 * runs (it writes the segment's definitions from then on).
 */
void cb_pools_adopt(struct cb_pools *ps, void *state);

/*
 * Apply POOL SET.  Returns the pool's index, or -errno with a message:
 * -ENOSPC no free pool, -EINVAL a bad combination (a new pool without a
 * limit or share; a limit or share for "default").
 */
int cb_pools_set(struct cb_pools *ps, const struct cb_ctl_req *req,
    char *err, size_t errlen);

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
