/*
 * pools.c - pool definitions and limit sources (see pools.h).
 */
#include "pools.h"

#include <bsd/string.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "segment.h"
#include "seqlock.h"
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

static const struct cb_limit_source sources[] = {
	[CB_LIMIT_CAPACITY] = { "capacity", limit_capacity },
	[CB_LIMIT_FIXED] = { "fixed", limit_fixed },
	[CB_LIMIT_SHARE] = { "share", limit_share },
};

const struct cb_limit_source *cb_limit_source(uint32_t kind)
{
	if (kind < CB_LIMIT_CAPACITY || kind > CB_LIMIT_SHARE)
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

void cb_pools_adopt(struct cb_pools *ps, void *state)
{
	struct cb_pool_def def;

	for (int p = 1; p < CB_MAX_POOLS; p++) {
		int torn = repair_def(state, p);

		if (cb_snapshot_pool(state, p, &def) < 0)
			continue;
		def.name[CB_POOL_NAME_MAX] = '\0';
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

static int find(struct cb_pools *ps, const char *name, int *free_slot)
{
	*free_slot = -1;
	for (int p = 0; p < CB_MAX_POOLS; p++) {
		if (!(ps->def[p].flags & CB_POOL_F_ACTIVE)) {
			if (*free_slot < 0)
				*free_slot = p;
		} else if (strcmp(ps->def[p].name, name) == 0) {
			return p;
		}
	}
	return -1;
}

static int apply(struct cb_pools *ps, int p, const struct cb_ctl_req *req)
{
	struct cb_pool_def *d = &ps->def[p];

	if (req->pool_keys & CB_POOL_SET_LIMIT) {
		d->kind = CB_LIMIT_FIXED;
		d->value = req->limit;
	}
	if (req->pool_keys & CB_POOL_SET_SHARE) {
		d->kind = CB_LIMIT_SHARE;
		d->value = req->share;
	}
	if (req->pool_keys & CB_POOL_SET_WINDOW)
		d->window_ms = req->window_s * 1000;
	if (req->pool_keys & CB_POOL_SET_OBSERVED)
		ps->observed[p] = req->observed;
	return p;
}

int cb_pools_set(struct cb_pools *ps, const struct cb_ctl_req *req,
    char *err, size_t errlen)
{
	int p, free_slot, r;

	pthread_rwlock_wrlock(&ps->lock);
	p = find(ps, req->pool, &free_slot);
	if (p == 0 && (req->pool_keys & (CB_POOL_SET_LIMIT |
	    CB_POOL_SET_SHARE))) {
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
	} else {
		if (p < 0) {
			p = free_slot;
			memset(&ps->def[p], 0, sizeof(ps->def[p]));
			ps->def[p].flags = CB_POOL_F_ACTIVE;
			strlcpy(ps->def[p].name, req->pool,
			    sizeof(ps->def[p].name));
			ps->def[p].window_ms = CB_DEFAULT_WINDOW_MS;
			ps->observed[p] = 0;
		}
		r = apply(ps, p, req);
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
