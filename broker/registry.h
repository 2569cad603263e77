/*
 * registry.h - the broker's worker registry.
 *
 * A liburcu lock-free hash table (cds_lfht) keyed by worker id.  Records
 * are immutable once published: an update replaces the node
 * (cds_lfht_add_replace) and the old record is freed with call_rcu after
 * a grace period, so readers (the publisher, control listings) walk the
 * table under rcu_read_lock() without any lock.
 *
 * Threads: every caller must be a registered RCU thread.  Updates come
 * from the main thread only (control requests, config reload), which is
 * what makes `count` a plain field.
 */
#ifndef CB_REGISTRY_H
#define CB_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#include "abi.h"

struct cds_lfht;

struct cb_registry {
	struct cds_lfht *ht;
	size_t count;            /* main thread only */
};

int cb_registry_init(struct cb_registry *r);
/* Free every record and the table (after an RCU barrier). */
void cb_registry_fini(struct cb_registry *r);

/*
 * Insert or replace worker id.  Returns 1 when something changed, 0 when
 * the worker already had this state and max_running, -ENOSPC when the
 * registry is full (CB_MAX_WORKERS), -ENOMEM.
 */
int cb_registry_set(struct cb_registry *r, const char *id, uint32_t state,
    uint32_t max_running);

/* Remove worker id.  Returns 0 or -ENOENT. */
int cb_registry_del(struct cb_registry *r, const char *id);

/*
 * Copy up to max workers into out, sorted by id.  Takes the RCU read
 * lock itself.  Returns the number copied.
 */
size_t cb_registry_snapshot(struct cb_registry *r, struct cb_worker_rec *out,
    size_t max);

#endif /* CB_REGISTRY_H */
