/*
 * reservations.c - the reservation table, read from the slots segment:
 * pools, attached clients, launch reservations, queued waiters and the
 * in-flight count of each published worker.
 *
 * Every client may write the slots segment, so nothing read here is
 * trusted: records are located through this build's layout
 * (lib/slots.h, checked against the segment by cb_open()), every
 * index a record names is bounds-checked before use, sums are 64-bit,
 * and what cannot be right is listed as read and counted in a warning.
 * Nothing is written: capdump maps the segment read-only and never
 * prunes.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capdump.h"
#include "client_internal.h"
#include "clock.h"
#include "place.h"
#include "reserve.h"
#include "slots.h"

void slots_geom_init(cb_client *c, struct slots_geom *g)
{
	const struct cb_seg_header *h = cb_client_slots(c);

	memset(g, 0, sizeof(*g));
	if (h == NULL)
		return;
	g->total_size = h->total_size;
	memcpy(g->region, h->region, sizeof(g->region));
	g->readable = 1;
}

/* Warn if a client rewrote the slots header since we copied it. */
static void slots_geom_recheck(cb_client *c, const struct slots_geom *g,
    struct dump *d)
{
	const struct cb_seg_header *h = cb_client_slots(c);

	if (!g->readable) {
		dump_warn(d, "slots segment not readable (permission: the "
		    "broker's group); pools, clients and launches not shown");
		return;
	}
	if (h->total_size != g->total_size ||
	    memcmp(h->region, g->region, sizeof(g->region)) != 0)
		dump_warn(d, "slots segment header changed after attach "
		    "(a client wrote it?); using the layout seen at attach");
}

static void pool_row_fill(cb_client *c, const struct dump *d, uint32_t i,
    struct pool_row *row)
{
	const struct cb_pool_conf *conf = cb_seg_record(cb_client_state(c),
	    CB_RS_POOLS, 0, i);
	const struct cb_pool_slot *slot = cb_slots_pool(cb_client_slots(c),
	    (int)i);
	uint64_t usage;

	row->index = i;
	/* Pool 0 follows the capacity: the one shown above, not a copy
	 * the publisher may store a moment later. */
	row->limit = i == 0 ? CB_STATE_CAPACITY(d->state_word) :
	    cb_rsv_limit(cb_client_state(c), (int)i);
	row->observed = atomic_load_explicit(&conf->observed,
	    memory_order_relaxed);
	row->reclaimed = atomic_load_explicit(&conf->reclaimed,
	    memory_order_relaxed);
	row->expired = atomic_load_explicit(&conf->expired,
	    memory_order_relaxed);
	row->repaired = atomic_load_explicit(&conf->repaired,
	    memory_order_relaxed);
	/* One load: held and launching from the same instant. */
	usage = atomic_load_explicit(&slot->usage, memory_order_relaxed);
	row->held = CB_USAGE_HELD(usage);
	row->aged = row->held - usage_live(usage);
	row->launching = CB_USAGE_LAUNCHING(usage);
	row->admitted = atomic_load_explicit(&slot->admitted,
	    memory_order_relaxed);
	row->rejected = atomic_load_explicit(&slot->rejected,
	    memory_order_relaxed);
	row->stale_releases = atomic_load_explicit(&slot->stale_releases,
	    memory_order_relaxed);
	/* The pickers' own count, a hint: it may run ahead of them by the
	 * ones entering or killed before the sweeper's repair. */
	row->pickers = atomic_load_explicit(&slot->pickers,
	    memory_order_relaxed);
}

/*
 * A global pool's share (abi.h, ABI 1.3): its deadline, one acquire
 * load as a client's (lane.h, share_expired()), and what the cluster
 * block (copied in gather.c) says of it.
 */
static void pool_row_global(cb_client *c, const struct dump *d, uint32_t i,
    const struct cb_pool_def *def, struct pool_row *row)
{
	const struct cb_pool_conf *conf = cb_seg_record(cb_client_state(c),
	    CB_RS_POOLS, 0, i);
	const struct cb_cluster_pool *cp = &d->cluster.pool[i];

	row->share_deadline_ns = atomic_load_explicit(
	    &conf->share_deadline_ns, memory_order_acquire);
	row->global = row->share_deadline_ns != 0 ||
	    def->kind == CB_LIMIT_GLOBAL;
	if (!row->global)
		return;
	row->hold_max_s = def->hold_max_s;
	row->share = cp->share;
	row->local_limit = cp->local_limit;
	row->demand = cp->demand;
	row->target = cp->target;
	row->quarantined = cp->quarantined;
}

/*
 * The active pools.  Definitions come from the state segment under
 * their seqlock (a definition whose writer died mid-write is skipped
 * with a warning); usage from the slots segment, as read.
 */
static void gather_pools(cb_client *c, struct dump *d)
{
	const void *sh = cb_client_state(c);
	/* This build's pool count, never the header's (segment.h). */
	const uint32_t n = CB_MAX_POOLS;
	struct cb_pool_def def;
	int r;

	if ((d->pools = calloc(n, sizeof(*d->pools))) == NULL) {
		dump_warn(d, "pools: out of memory");
		return;
	}
	for (uint32_t i = 0; i < n; i++) {
		r = cb_snapshot_pool(sh, (int)i, &def);
		if (r == -EAGAIN)
			dump_warn(d, "pool %" PRIu32 ": no stable definition "
			    "(the publisher died mid-write?)", i);
		if (r < 0 || !(def.flags & CB_POOL_F_ACTIVE))
			continue;
		struct pool_row *row = &d->pools[d->npools++];

		memcpy(row->name, def.name, field_len(def.name,
		    sizeof(def.name)));
		row->kind = def.kind;
		row->window_ms = def.window_ms;
		pool_row_fill(c, d, i, row);
		pool_row_global(c, d, i, &def, row);
		d->pools_active |= 1ull << i;
	}
}

/* Holds of client slot cs in active pools; 64-bit, so a hostile
 * count cannot wrap the sum. */
static uint64_t client_holds(const struct cb_client_slot *cs,
    uint64_t active)
{
	uint64_t sum = 0;

	for (unsigned p = 0; p < CB_MAX_POOLS; p++)
		if (active & (1ull << p))
			sum += atomic_load_explicit(&cs->holds[p],
			    memory_order_relaxed);
	return sum;
}

/* Add each live lane's holds (active pools) and open window to the
 * row of the client entry that owns it (lib/reserve.h, "Lanes"). */
static void gather_lanes(cb_client *c, struct dump *d)
{
	const struct cb_lane_slot *sl;
	uint64_t w;

	for (uint32_t l = 0; l < CB_MAX_LANES; l++) {
		sl = cb_slots_lane(cb_client_slots(c), l);
		w = atomic_load_explicit(&sl->word, memory_order_acquire);
		if (CB_LANE_PID(w) == 0)
			continue;
		for (size_t i = 0; i < d->nclients; i++) {
			struct client_row *row = &d->clients[i];

			if (CB_LANE_OF(row->index, row->owner) != w)
				continue;
			for (unsigned p = 0; p < CB_MAX_POOLS; p++)
				if (d->pools_active & (1ull << p))
					row->held += atomic_load_explicit(
					    &sl->holds[p],
					    memory_order_relaxed);
			row->in_flight += cb_lane_slack(atomic_load_explicit(
			    &sl->seq, memory_order_relaxed));
			break;
		}
	}
}

/* Every client-table entry with an owner (pid != 0). */
static void gather_clients(cb_client *c, struct dump *d)
{
	const struct cb_client_slot *cs;
	uint64_t owner;

	if ((d->clients = calloc(CB_MAX_CLIENTS, sizeof(*d->clients))) ==
	    NULL) {
		dump_warn(d, "clients: out of memory");
		return;
	}
	for (uint32_t i = 0; i < CB_MAX_CLIENTS; i++) {
		cs = cb_slots_client(cb_client_slots(c), i);
		owner = atomic_load_explicit(&cs->owner, memory_order_acquire);
		if (CB_OWNER_PID(owner) == 0)
			continue;
		struct client_row *row = &d->clients[d->nclients++];

		row->index = i;
		row->pid = CB_OWNER_PID(owner);
		row->held = client_holds(cs, d->pools_active);
		row->in_flight = CB_SEQ_INFLIGHT(atomic_load_explicit(&cs->seq,
		    memory_order_relaxed));
		row->owner = owner;
	}
	gather_lanes(c, d);
}

/* Milliseconds from now to deadline, negative when it has passed;
 * computed without a signed overflow whatever the deadline holds. */
static int64_t ms_until(uint64_t deadline, uint64_t now)
{
	if (deadline >= now)
		return (int64_t)((deadline - now) / CB_NS_PER_MS);
	return -(int64_t)((now - deadline) / CB_NS_PER_MS);
}

/* A row for launch entry e, whose word w says claiming or live. */
static void launch_row_fill(const struct cb_launch_slot *ls, uint32_t e,
    uint64_t w, uint64_t now, struct launch_row *row)
{
	row->word = w;
	row->deadline_ns = atomic_load_explicit(&ls->deadline_ns,
	    memory_order_relaxed);
	row->expires_in_ms = ms_until(row->deadline_ns, now);
	row->entry = e;
	row->pool = CB_LAUNCH_POOL(w);
	row->client = CB_LAUNCH_CLIENT(w);
	row->state = CB_LAUNCH_STATE(w);
}

/*
 * Launch entries being claimed or live.  The pool and client a word
 * names are client-written: one naming no active pool, or a client
 * index beyond the table, is still listed (it counts against nothing
 * we can name) and counted in a warning.
 */
static void gather_launches(cb_client *c, struct dump *d)
{
	const struct cb_launch_slot *ls;
	struct launch_row *row;
	uint32_t odd = 0;
	uint64_t w;

	if ((d->launches = calloc(CB_MAX_LAUNCHES, sizeof(*d->launches))) ==
	    NULL) {
		dump_warn(d, "launches: out of memory");
		return;
	}
	for (uint32_t e = 0; e < CB_MAX_LAUNCHES; e++) {
		ls = cb_slots_launch(cb_client_slots(c), e);
		/* Acquire: pairs with the claimer's release store of LIVE,
		 * so the deadline it stored before is the one read next. */
		w = atomic_load_explicit(&ls->word, memory_order_acquire);
		if (CB_LAUNCH_STATE(w) != CB_LAUNCH_CLAIMING &&
		    CB_LAUNCH_STATE(w) != CB_LAUNCH_LIVE)
			continue;
		row = &d->launches[d->nlaunches++];
		launch_row_fill(ls, e, w, d->now_ns, row);
		odd += !(d->pools_active & (1ull << row->pool)) ||
		    row->client >= CB_MAX_CLIENTS;
	}
	if (odd > 0)
		dump_warn(d, "%" PRIu32 " launch entries name an inactive "
		    "pool or a client beyond the table", odd);
}

/*
 * Each published worker's in-flight count: its placement slot's
 * counter (lib/place.h), client-written, so shown as read; -1 for a
 * slot beyond the table.
 */
static void gather_worker_inflight(cb_client *c, struct dump *d)
{
	if (d->nworkers == 0 || (d->worker_inflight = calloc(d->nworkers,
	    sizeof(*d->worker_inflight))) == NULL)
		return;
	for (uint32_t i = 0; i < d->nworkers; i++) {
		d->worker_inflight[i] = -1;
		if (d->workers[i].slot < CB_MAX_WORKERS)
			d->worker_inflight[i] = cb_place_inflight(
			    cb_client_slots(c), d->workers[i].slot);
	}
}

/* Queue order (queue.h): pool, then priority high to low, ticket,
 * entry. */
static int waiter_cmp(const void *pa, const void *pb)
{
	const struct waiter_row *a = pa, *b = pb;

	if (a->pool != b->pool)
		return a->pool < b->pool ? -1 : 1;
	if (a->priority != b->priority)
		return a->priority > b->priority ? -1 : 1;
	if (a->ticket != b->ticket)
		return a->ticket < b->ticket ? -1 : 1;
	return a->entry < b->entry ? -1 : a->entry > b->entry;
}

/*
 * Fill row from waiter entry e if it is live: WAITING, naming a client
 * in the table, and its owner word still that client entry's
 * (queue.h).  The word is read again after the fields, so they belong
 * to the claim it names.  Returns 1 if live.
 */
static int waiter_row_fill(const void *slots, uint32_t e,
    struct waiter_row *row)
{
	const struct cb_waiter_slot *ws = cb_slots_waiter(slots, e);
	const struct cb_client_slot *cs;
	uint64_t w, owner;

	w = atomic_load_explicit(&ws->word, memory_order_seq_cst);
	if (CB_WAITER_STATE(w) != CB_WAITER_WAITING ||
	    CB_WAITER_CLIENT(w) >= CB_MAX_CLIENTS)
		return 0;
	owner = atomic_load_explicit(&ws->owner, memory_order_relaxed);
	row->ticket = atomic_load_explicit(&ws->ticket, memory_order_relaxed);
	row->priority = atomic_load_explicit(&ws->priority,
	    memory_order_relaxed);
	cs = cb_slots_client(slots, CB_WAITER_CLIENT(w));
	if (atomic_load_explicit(&ws->word, memory_order_seq_cst) != w ||
	    CB_OWNER_PID(owner) == 0 || atomic_load_explicit(&cs->owner,
	    memory_order_seq_cst) != owner)
		return 0;
	row->entry = e;
	row->pool = CB_WAITER_POOL(w);
	row->client = CB_WAITER_CLIENT(w);
	row->pid = CB_OWNER_PID(owner);
	return 1;
}

/*
 * The live waiters of every pool's queue, read without writing.
 * Positions are computed here from one pass, so they are consistent
 * with each other if not with the instant.
 */
static void gather_waiters(cb_client *c, struct dump *d)
{
	struct waiter_row *row;

	if ((d->waiters = calloc(CB_MAX_WAITERS, sizeof(*d->waiters))) ==
	    NULL)
		return;
	for (uint32_t e = 0; e < CB_MAX_WAITERS; e++)
		d->nwaiters += waiter_row_fill(cb_client_slots(c), e,
		    &d->waiters[d->nwaiters]);
	qsort(d->waiters, d->nwaiters, sizeof(*d->waiters), waiter_cmp);
	for (size_t i = 0; i < d->nwaiters; i++) {
		row = &d->waiters[i];
		row->position = i > 0 && d->waiters[i - 1].pool == row->pool ?
		    d->waiters[i - 1].position + 1 : 0;
		for (size_t k = 0; k < d->npools; k++)
			if (d->pools[k].index == row->pool)
				d->pools[k].waiting++;
	}
}

void slots_gather(const struct target *t, struct dump *d)
{
	slots_geom_recheck(t->c, &t->slots, d);
	if (!t->slots.readable)
		return;
	gather_worker_inflight(t->c, d);
	gather_pools(t->c, d);
	gather_clients(t->c, d);
	gather_launches(t->c, d);
	gather_waiters(t->c, d);
}
