/*
 * pools.c - pool definitions and limit sources (see pools.h).
 */
#include "pools.h"

#include <bsd/string.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cluster.h"
#include "log.h"
#include "reserve.h"
#include "segment.h"
#include "seqlock.h"
#include "slots.h"
#include "snapshot.h"

static uint32_t limit_capacity(const struct cb_pool_def *def,
    uint32_t capacity)
{
	(void)def;
	return capacity;
}

static uint32_t limit_fixed(const struct cb_pool_def *def, uint32_t capacity)
{
	(void)capacity;
	return def->value;
}

/* A share never rounds a non-empty fleet down to nothing. */
static uint32_t limit_share(const struct cb_pool_def *def, uint32_t capacity)
{
	uint32_t v = (uint32_t)((uint64_t)capacity * def->value / 100);

	return v == 0 && capacity > 0 ? 1 : v;
}

/*
 * A global pool's def.value is the cluster's limit L, not this host's:
 * what it may admit here is its share, which the cluster thread keeps
 * (cluster.h, local_limit[p]) and the publisher publishes instead.
 * Nothing without a share: 0.
 */
static uint32_t limit_global(const struct cb_pool_def *def,
    uint32_t capacity)
{
	(void)def;
	(void)capacity;
	return 0;
}

static const struct cb_limit_source sources[] = {
	[CB_LIMIT_CAPACITY] = { "capacity", limit_capacity },
	[CB_LIMIT_FIXED] = { "fixed", limit_fixed },
	[CB_LIMIT_SHARE] = { "share", limit_share },
	[CB_LIMIT_GLOBAL] = { "global", limit_global },
};

const struct cb_limit_source *cb_limit_source(uint32_t kind)
{
	if (kind < CB_LIMIT_CAPACITY || kind > CB_LIMIT_GLOBAL)
		return NULL;
	return &sources[kind];
}

void cb_pools_init(struct cb_pools *ps)
{
	memset(ps, 0, sizeof(*ps));
	pthread_rwlock_init(&ps->lock, NULL);
	ps->def[0].flags = CB_POOL_F_ACTIVE;
	ps->def[0].kind = CB_LIMIT_CAPACITY;
	strlcpy(ps->def[0].name, "default", sizeof(ps->def[0].name));
	ps->def[0].window_ms = CB_DEFAULT_WINDOW_MS;
}

void cb_pools_destroy(struct cb_pools *ps)
{
	pthread_rwlock_destroy(&ps->lock);
}

/*
 * A previous broker killed inside a definition's seqlock write (mid POOL
 * SET, or mid adoption) left its sequence odd: a reader would retry
 * until it gives up, and cb_pools_adopt() would drop a pool that may
 * hold live reservations (its launches then freed as garbage, U never
 * lowered).  Make it even and keep what was written: that POOL SET was
 * never acknowledged, so its old or new values may stand, and a mix of
 * the two is checked like any definition.  One that fails the checks is
 * cleared inside a write, so no reader takes it for a pool.  Start-up
 * only: the publisher thread, the definitions' writer, does not run
 * yet.  Returns whether pool p's definition was repaired.
 */
static int repair_def(void *state, int p)
{
	struct cb_pool_conf *conf = cb_seg_record(state, CB_RS_POOLS, 0,
	    (uint32_t)p);

	return cb_seqlock_repair(&conf->seq);
}

static void clear_def(void *state, int p)
{
	struct cb_pool_conf *conf = cb_seg_record(state, CB_RS_POOLS, 0,
	    (uint32_t)p);
	struct cb_pool_def none = { 0 };

	cb_seqlock_write(&conf->seq, &conf->def, &none, sizeof(none));
}

static int adoptable(const struct cb_pool_def *def)
{
	return (def->flags & CB_POOL_F_ACTIVE) &&
	    cb_limit_source(def->kind) != NULL &&
	    cb_pool_name_valid(def->name);
}

/* A tombstone (pools.h): DELETED without ACTIVE.  Adopted as one, its
 * other fields only named in logs. */
static int tombstone(const struct cb_pool_def *def)
{
	return (def->flags & (CB_POOL_F_ACTIVE | CB_POOL_F_DELETED)) ==
	    CB_POOL_F_DELETED;
}

void cb_pools_adopt(struct cb_pools *ps, void *state)
{
	struct cb_pool_def def;

	for (int p = 1; p < CB_MAX_POOLS; p++) {
		int torn = repair_def(state, p);

		if (cb_snapshot_pool(state, p, &def) < 0)
			continue;
		def.name[CB_POOL_NAME_MAX] = '\0';
		if (tombstone(&def)) {
			def.flags = CB_POOL_F_DELETED;
			ps->def[p] = def;
			continue;
		}
		if (!adoptable(&def)) {
			if (torn) {
				log_warnx("pool slot %d: the previous broker "
				    "died writing its definition, which is "
				    "not valid; cleared", p);
				clear_def(state, p);
			}
			continue;
		}
		if (torn)
			log_warnx("pool %s: the previous broker died writing "
			    "its definition; kept as written", def.name);
		ps->def[p] = def;
	}
	if (repair_def(state, 0))
		log_warnx("pool default: the previous broker died writing its "
		    "definition; repaired");
	if (cb_snapshot_pool(state, 0, &def) == 0 && def.window_ms > 0)
		ps->def[0].window_ms = def.window_ms;
	for (int p = 0; p < CB_MAX_POOLS; p++) {
		const struct cb_pool_conf *conf = cb_seg_record(state,
		    CB_RS_POOLS, 0, (uint32_t)p);

		/* Relaxed: start-up, before any broker thread; the value
		 * stands on its own (every reader of observed loads it
		 * relaxed, publish_pools()) and nothing is read because
		 * of it. */
		ps->observed[p] = atomic_load_explicit(&conf->observed,
		    memory_order_relaxed);
	}
}

/* Whether index p may take a new pool: neither active nor a tombstone
 * still to be proved idle.  Under the lock. */
static int slot_free(const struct cb_pools *ps, int p)
{
	return !(ps->def[p].flags & CB_POOL_F_ACTIVE) &&
	    (!(ps->def[p].flags & CB_POOL_F_DELETED) ||
	    (ps->drained & (1ull << p)));
}

static int find(struct cb_pools *ps, const char *name, int *free_slot)
{
	*free_slot = -1;
	for (int p = 0; p < CB_MAX_POOLS; p++) {
		if (!(ps->def[p].flags & CB_POOL_F_ACTIVE)) {
			if (*free_slot < 0 && slot_free(ps, p))
				*free_slot = p;
		} else if (strcmp(ps->def[p].name, name) == 0) {
			return p;
		}
	}
	return -1;
}

/*
 * The kind pool p (kind `kind`, -1 if new) takes from req, or -EINVAL
 * with a message.  limit= and share= name the kind as before; global
 * makes the limit the cluster's L (limit= in the same request, or the
 * value a fixed or global pool has); limit= on a global pool changes L
 * and keeps it global; local and share= make it local again.
 */
static int next_kind(int kind, const struct cb_ctl_req *req, char *err,
    size_t errlen)
{
	unsigned k = req->pool_keys;
	int next = kind;

	if (k & CB_POOL_SET_SHARE)
		next = CB_LIMIT_SHARE;
	else if (k & CB_POOL_SET_GLOBAL)
		next = CB_LIMIT_GLOBAL;
	else if ((k & CB_POOL_SET_LOCAL) && kind == CB_LIMIT_GLOBAL)
		next = CB_LIMIT_FIXED;
	else if ((k & CB_POOL_SET_LIMIT) && kind != CB_LIMIT_GLOBAL)
		next = CB_LIMIT_FIXED;
	if (next == CB_LIMIT_GLOBAL && !(k & CB_POOL_SET_LIMIT) &&
	    kind != CB_LIMIT_FIXED && kind != CB_LIMIT_GLOBAL) {
		snprintf(err, errlen, "pool %s: global needs limit= (the "
		    "cluster's limit)", req->pool);
		return -EINVAL;
	}
	if ((k & CB_POOL_SET_HOLD_MAX) && next != CB_LIMIT_GLOBAL) {
		snprintf(err, errlen, "pool %s: hold_max= applies to global "
		    "pools only", req->pool);
		return -EINVAL;
	}
	return next;
}

static int apply(struct cb_pools *ps, int p, int kind,
    const struct cb_ctl_req *req)
{
	struct cb_pool_def *d = &ps->def[p];

	if (req->pool_keys & CB_POOL_SET_LIMIT)
		d->value = req->limit;
	if (req->pool_keys & CB_POOL_SET_SHARE)
		d->value = req->share;
	if (kind == CB_LIMIT_GLOBAL && d->kind != CB_LIMIT_GLOBAL)
		d->hold_max_s = CB_HOLD_MAX_DEFAULT;
	else if (kind != CB_LIMIT_GLOBAL)
		d->hold_max_s = 0;      /* a local pool's: none */
	if (req->pool_keys & CB_POOL_SET_HOLD_MAX)
		d->hold_max_s = req->hold_max_s;
	d->kind = (uint32_t)kind;
	if (req->pool_keys & CB_POOL_SET_WINDOW)
		d->window_ms = req->window_s * 1000;
	if (req->pool_keys & CB_POOL_SET_OBSERVED)
		ps->observed[p] = req->observed;
	return p;
}

/* The keys only a pool with a limit of its own takes. */
#define KIND_KEYS (CB_POOL_SET_LIMIT | CB_POOL_SET_SHARE | \
	CB_POOL_SET_GLOBAL | CB_POOL_SET_LOCAL | CB_POOL_SET_HOLD_MAX)

static int set(struct cb_pools *ps, const struct cb_ctl_req *req,
    uint32_t origin, char *err, size_t errlen)
{
	int p, free_slot, r, kind;

	pthread_rwlock_wrlock(&ps->lock);
	p = find(ps, req->pool, &free_slot);
	if (p == 0 && (req->pool_keys & KIND_KEYS)) {
		snprintf(err, errlen, "pool default follows the capacity: "
		    "only window= and observed= apply");
		r = -EINVAL;
	} else if (p < 0 && !(req->pool_keys & (CB_POOL_SET_LIMIT |
	    CB_POOL_SET_SHARE))) {
		snprintf(err, errlen, "no pool '%s': a new pool needs limit= "
		    "or share=", req->pool);
		r = -EINVAL;
	} else if (p < 0 && free_slot < 0) {
		snprintf(err, errlen, "all %d pools are in use", CB_MAX_POOLS);
		r = -ENOSPC;
	} else if ((kind = next_kind(p < 0 ? -1 : (int)ps->def[p].kind, req,
	    err, errlen)) < 0) {
		r = kind;
	} else {
		if (p < 0) {
			p = free_slot;
			memset(&ps->def[p], 0, sizeof(ps->def[p]));
			ps->def[p].flags = CB_POOL_F_ACTIVE;
			strlcpy(ps->def[p].name, req->pool,
			    sizeof(ps->def[p].name));
			ps->def[p].window_ms = CB_DEFAULT_WINDOW_MS;
			ps->observed[p] = 0;
			ps->drained &= ~(1ull << p);
		}
		if (p > 0)
			ps->def[p].flags |= origin;
		/* default: CB_LIMIT_CAPACITY, no KIND_KEYS to change it. */
		r = apply(ps, p, kind, req);
	}
	pthread_rwlock_unlock(&ps->lock);
	return r;
}

int cb_pools_set(struct cb_pools *ps, const struct cb_ctl_req *req,
    char *err, size_t errlen)
{
	return set(ps, req, 0, err, errlen);
}

int cb_pools_set_file(struct cb_pools *ps, const struct cb_ctl_req *req,
    char *err, size_t errlen)
{
	return set(ps, req, CB_POOL_F_FILE, err, errlen);
}

int cb_pools_busy(const void *slots, int p, struct cb_pool_busy *busy)
{
	const struct cb_pool_slot *sl = cb_slots_record(slots, CB_RL_POOLS,
	    (uint32_t)p);
	/* Relaxed, both: a refusal's evidence, no part of the recount's
	 * double collect.  An admission racing with the check and the
	 * tombstone lands in the tombstone's counter (pools.h), so a
	 * stale read loses nothing. */
	uint64_t u = atomic_load_explicit(&sl->usage, memory_order_relaxed);

	busy->held = CB_USAGE_HELD(u);
	busy->live = usage_live(u);
	busy->launching = CB_USAGE_LAUNCHING(u);
	busy->queued = atomic_load_explicit(&sl->queued,
	    memory_order_relaxed);
	return busy->held != 0 || busy->launching != 0 || busy->queued != 0;
}

void cb_pools_busy_say(const struct cb_pool_busy *busy, char *buf,
    size_t len)
{
	snprintf(buf, len, "%u hold%s, %u launch%s, %llu waiter%s",
	    busy->held, busy->held == 1 ? "" : "s", busy->launching,
	    busy->launching == 1 ? "" : "es",
	    (unsigned long long)busy->queued, busy->queued == 1 ? "" : "s");
}

int cb_pools_del(struct cb_pools *ps, const char *name, int force,
    const void *slots, struct cb_pool_busy *busy, char *err, size_t errlen)
{
	char counts[96];
	int p, free_slot, r;

	memset(busy, 0, sizeof(*busy));
	pthread_rwlock_wrlock(&ps->lock);
	p = find(ps, name, &free_slot);
	if (p < 0) {
		snprintf(err, errlen, "no pool '%s'", name);
		r = -ENOENT;
	} else if (p == 0) {
		snprintf(err, errlen, "pool default follows the capacity and "
		    "cannot be deleted");
		r = -EINVAL;
	} else if (cb_pools_busy(slots, p, busy) && !force) {
		cb_pools_busy_say(busy, counts, sizeof(counts));
		snprintf(err, errlen, "pool %s is in use: %s (--force deletes "
		    "it anyway)", name, counts);
		r = -EBUSY;
	} else {
		ps->def[p].flags = CB_POOL_F_DELETED;
		ps->observed[p] = 0;
		ps->drained &= ~(1ull << p);
		r = p;
	}
	pthread_rwlock_unlock(&ps->lock);
	return r;
}

int cb_pools_room(struct cb_pools *ps)
{
	int n = 0;

	pthread_rwlock_rdlock(&ps->lock);
	for (int p = 0; p < CB_MAX_POOLS; p++)
		n += slot_free(ps, p);
	pthread_rwlock_unlock(&ps->lock);
	return n;
}

uint64_t cb_pools_pending(struct cb_pools *ps)
{
	uint64_t m = 0;

	pthread_rwlock_rdlock(&ps->lock);
	for (int p = 1; p < CB_MAX_POOLS; p++)
		if (tombstone(&ps->def[p]) && !(ps->drained & (1ull << p)))
			m |= 1ull << p;
	pthread_rwlock_unlock(&ps->lock);
	return m;
}

int cb_pools_reap(struct cb_pools *ps, int p)
{
	int r = 0;

	pthread_rwlock_wrlock(&ps->lock);
	if (tombstone(&ps->def[p]) && !(ps->drained & (1ull << p))) {
		ps->drained |= 1ull << p;
		r = 1;
	}
	pthread_rwlock_unlock(&ps->lock);
	return r;
}

void cb_pools_pin(struct cb_pools *ps, struct cb_pool_def *def,
    uint32_t *observed)
{
	pthread_rwlock_rdlock(&ps->lock);
	memcpy(def, ps->def, sizeof(ps->def));
	memcpy(observed, ps->observed, sizeof(ps->observed));
}

void cb_pools_unpin(struct cb_pools *ps)
{
	pthread_rwlock_unlock(&ps->lock);
}

void cb_pools_copy(struct cb_pools *ps, struct cb_pool_def *def,
    uint32_t *observed)
{
	cb_pools_pin(ps, def, observed);
	cb_pools_unpin(ps);
}
