/*
 * json.c - the dump as one JSON object on one line (NDJSON with
 * --watch).  Blocks that could not be read are null and explained in
 * "warnings"; every string from a segment goes through json_string(),
 * so hostile bytes cannot break the document.
 */
#include <inttypes.h>
#include <stdio.h>

#include "capdump.h"

/*
 * A JSON string of at most len bytes of s.  Besides '"', '\\' and
 * control bytes, bytes >= 0x80 are escaped too (as U+0080..U+00FF):
 * hostile bytes need not be UTF-8, and the output must stay valid.
 */
static void json_string(const char *s, size_t len)
{
	putchar('"');
	for (size_t i = 0; i < len && s[i] != '\0'; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch == '"' || ch == '\\')
			printf("\\%c", ch);
		else if (ch >= 0x20 && ch < 0x7f)
			putchar(ch);
		else
			printf("\\u%04x", ch);
	}
	putchar('"');
}

static void json_broker(const struct dump *d)
{
	printf(",\"broker\":{");
	if (d->ident_ok)
		printf("\"pid\":%" PRIu32 ",\"start\":%" PRIu64 ",\"epoch\":%"
		    PRIu64, d->ident.pid, d->ident.start, d->ident.epoch);
	else
		printf("\"pid\":null,\"start\":null,\"epoch\":null");
	printf(",\"stale\":%s,\"reason\":", d->check == 0 ? "false" : "true");
	json_string(d->check == 0 ? "" : d->reason, sizeof(d->reason));
	if (d->heartbeat_age_ms < 0)
		printf(",\"heartbeat_age_ms\":null");
	else
		printf(",\"heartbeat_age_ms\":%" PRId64,
		    d->heartbeat_age_ms);
	if (d->control.fd_limit == 0)
		printf(",\"control\":null}");
	else
		printf(",\"control\":{\"fds\":%" PRIu32 ",\"fd_limit\":%"
		    PRIu32 ",\"connections\":%" PRIu32 ",\"refused\":%"
		    PRIu64 ",\"cut\":%" PRIu64 "}}", d->control.fds,
		    d->control.fd_limit, d->control.conns,
		    d->control.refused, d->control.cut);
}

static void json_state(const struct dump *d)
{
	unsigned f = dump_flags(d);
	uint64_t w = d->state_word;

	printf(",\"capacity\":%u,\"source\":", CB_STATE_CAPACITY(w));
	json_string(cb_source_name(CB_STATE_SOURCE(w)), SIZE_MAX);
	printf(",\"generation\":%" PRIu32 ",\"flags\":[",
	    CB_STATE_GENERATION(w));
	if (f & CB_STATE_F_STOPPING)
		printf("\"stopping\"%s", f & CB_STATE_F_RETIRED ? "," : "");
	if (f & CB_STATE_F_RETIRED)
		printf("\"retired\"");
	putchar(']');
}

static void json_info(const struct dump *d)
{
	const struct cb_info *i = &d->info;

	if (!d->info_ok) {
		printf(",\"settings\":null,\"fleet\":null,\"counters\":null"
		    ",\"published_time\":null");
		return;
	}
	printf(",\"settings\":{\"override\":%" PRIu32 ",\"slots_per_worker\":%"
	    PRIu32 ",\"legacy_max\":%" PRIu32 "}", i->override,
	    i->slots_per_worker, i->legacy_max);
	printf(",\"fleet\":{\"workers\":%" PRIu32 ",\"ready\":%" PRIu32
	    ",\"reporting\":%" PRIu32 "}", i->workers_total, i->workers_ready,
	    i->workers_reporting);
	printf(",\"counters\":{\"publishes\":%" PRIu64 ",\"capacity_changes\":%"
	    PRIu64 ",\"source_changes\":%" PRIu64 ",\"override_rejects\":%"
	    PRIu64 ",\"events\":%" PRIu64 "}", i->publishes,
	    i->capacity_changes, i->source_changes, i->override_rejects,
	    i->events);
	if (i->published_ns == 0)
		printf(",\"published_time\":null");
	else
		printf(",\"published_time\":%" PRIu64 ".%09" PRIu64,
		    i->published_ns / 1000000000u,
		    i->published_ns % 1000000000u);
}

static void json_workers(const struct dump *d)
{
	if (!d->workers_ok) {
		printf(",\"workers\":null");
		return;
	}
	printf(",\"workers\":[");
	for (uint32_t i = 0; i < d->nworkers; i++) {
		const struct cb_worker_rec *r = &d->workers[i];

		printf("%s{\"id\":", i == 0 ? "" : ",");
		json_string(r->id, sizeof(r->id));
		printf(",\"state\":\"%s\",\"max_running\":%" PRIu32
		    ",\"limit\":%" PRIu32 ",\"slot\":%" PRIu32,
		    worker_state_name(r->state), r->max_running, r->limit,
		    r->slot);
		/* null: the slots segment is not readable to us. */
		if (d->worker_inflight == NULL || d->worker_inflight[i] < 0)
			printf(",\"inflight\":null}");
		else
			printf(",\"inflight\":%" PRId64 "}",
			    d->worker_inflight[i]);
	}
	putchar(']');
}

/* The tables of the slots segment are null, not empty, when it is not
 * ours to read: "no pools" and "cannot tell" differ. */
static int json_slots_unreadable(const struct dump *d, const char *key)
{
	if (d->slots_readable)
		return 0;
	printf(",\"%s\":null", key);
	return 1;
}

/* The global pool's share: this host's as committed in etcd, and how
 * much longer it may be used (0: no valid share). */
static void json_pool_scope(const struct dump *d, const struct pool_row *p)
{
	printf(",\"scope\":\"%s\"", pool_scope_name(p));
	if (!p->global)
		return;
	printf(",\"share\":%" PRIu32 ",\"share_valid_ms\":%" PRIu64
	    ",\"local_limit\":%" PRIu32 ",\"demand\":%" PRIu32
	    ",\"target\":%" PRIu32 ",\"quarantined\":%" PRIu32
	    ",\"hold_max_s\":%" PRIu32 ",\"aged\":%" PRIu32, p->share,
	    share_valid_ms(d, p), p->local_limit, p->demand, p->target,
	    p->quarantined, p->hold_max_s, p->aged);
}

static void json_pools(const struct dump *d)
{
	if (json_slots_unreadable(d, "pools"))
		return;
	printf(",\"pools\":[");
	for (size_t i = 0; i < d->npools; i++) {
		const struct pool_row *p = &d->pools[i];

		printf("%s{\"name\":", i == 0 ? "" : ",");
		json_string(p->name, sizeof(p->name));
		printf(",\"index\":%" PRIu32 ",\"kind\":\"%s\",\"limit\":%"
		    PRIu32 ",\"observed\":%" PRIu32 ",\"window_ms\":%" PRIu32
		    ",\"held\":%" PRIu32 ",\"launching\":%" PRIu32
		    ",\"waiting\":%" PRIu32 ",\"pickers\":%" PRIu32,
		    p->index, pool_kind_name(p->kind), p->limit, p->observed,
		    p->window_ms, p->held, p->launching, p->waiting,
		    p->pickers);
		printf(",\"admitted\":%" PRIu64 ",\"rejected\":%" PRIu64
		    ",\"stale_releases\":%" PRIu64 ",\"reclaimed\":%" PRIu64
		    ",\"expired\":%" PRIu64 ",\"repaired\":%" PRIu64,
		    p->admitted, p->rejected, p->stale_releases, p->reclaimed,
		    p->expired, p->repaired);
		json_pool_scope(d, p);
		putchar('}');
	}
	putchar(']');
}

/* One alive host: its share and demand of each global pool. */
static void json_cluster_host(const struct dump *d, uint32_t h)
{
	const struct cb_cluster_block *k = &d->cluster;
	int first = 1;

	printf("%s{\"host\":", h == 0 ? "" : ",");
	json_string(k->hosts[h], sizeof(k->hosts[h]));
	printf(",\"pools\":[");
	for (size_t i = 0; i < d->npools; i++) {
		const struct pool_row *p = &d->pools[i];
		const struct cb_cluster_pool *cp = &k->pool[p->index];

		if (!p->global)
			continue;
		printf("%s{\"pool\":", first ? "" : ",");
		json_string(p->name, sizeof(p->name));
		printf(",\"host_share\":%" PRIu32 ",\"host_demand\":%"
		    PRIu32 "}", cp->host_share[h], cp->host_demand[h]);
		first = 0;
	}
	printf("]}");
}

/* The cluster of brokers this one shares global pools with: null when
 * the block could not be read, absent when no etcd is configured. */
static void json_cluster(const struct dump *d)
{
	const struct cb_cluster_block *k = &d->cluster;

	if (!d->cluster_ok) {
		printf(",\"cluster\":null");
		return;
	}
	if (!dump_cluster_on(d))
		return;
	printf(",\"cluster\":{\"host\":");
	json_string(k->host, sizeof(k->host));
	printf(",\"cluster\":");
	json_string(k->cluster, sizeof(k->cluster));
	printf(",\"lease\":%s,\"lease_id\":\"%" PRIx64 "\",\"ttl_s\":%"
	    PRIu32 ",\"etcd_reachable\":%s", k->flags & CB_CLUSTER_F_LEASE ?
	    "true" : "false", k->lease_id, k->ttl_s,
	    k->flags & CB_CLUSTER_F_REACHABLE ? "true" : "false");
	if (k->last_ok_ns == 0)
		printf(",\"last_ok_age_s\":null");
	else
		printf(",\"last_ok_age_s\":%.3f", cluster_age_s(d));
	printf(",\"errors\":%" PRIu64 ",\"last_error\":", k->errors);
	json_string(k->last_error, sizeof(k->last_error));
	printf(",\"hosts\":[");
	for (uint32_t h = 0; h < k->nhosts; h++)
		json_cluster_host(d, h);
	printf("]}");
}

static void json_clients(const struct dump *d)
{
	const struct client_row *c;

	if (json_slots_unreadable(d, "clients"))
		return;
	printf(",\"clients\":[");
	for (size_t i = 0; i < d->nclients; i++) {
		c = &d->clients[i];
		printf("%s{\"index\":%" PRIu32 ",\"pid\":%" PRIu32
		    ",\"held\":%" PRIu64 ",\"in_flight\":%" PRIu32 "}",
		    i == 0 ? "" : ",", c->index, c->pid, c->held,
		    c->in_flight);
	}
	putchar(']');
}

/* "pool" is null when the entry names no active pool (hostile or
 * stale word); "pool_index" says which it named. */
static void json_launches(const struct dump *d)
{
	const struct launch_row *l;
	const char *name;

	if (json_slots_unreadable(d, "launches"))
		return;
	printf(",\"launches\":[");
	for (size_t i = 0; i < d->nlaunches; i++) {
		l = &d->launches[i];
		printf("%s{\"entry\":%" PRIu32 ",\"pool\":", i == 0 ? "" : ",",
		    l->entry);
		if ((name = dump_pool_name(d, l->pool)) != NULL)
			json_string(name, POOL_NAME_MAX + 1);
		else
			printf("null");
		printf(",\"pool_index\":%" PRIu32 ",\"client\":%" PRIu32
		    ",\"state\":\"%s\",\"expires_in_ms\":%" PRId64 "}",
		    l->pool, l->client, launch_state_name(l->state),
		    l->expires_in_ms);
	}
	putchar(']');
}

/* Live waiters in queue order per pool (see reservations.c). */
static void json_waiters(const struct dump *d)
{
	const char *name;

	if (json_slots_unreadable(d, "waiters"))
		return;
	printf(",\"waiters\":[");
	for (size_t i = 0; i < d->nwaiters; i++) {
		const struct waiter_row *r = &d->waiters[i];

		printf("%s{\"pool\":", i == 0 ? "" : ",");
		if ((name = dump_pool_name(d, r->pool)) != NULL)
			json_string(name, POOL_NAME_MAX + 1);
		else
			printf("null");
		printf(",\"pool_index\":%" PRIu32 ",\"position\":%" PRIu32
		    ",\"priority\":%" PRId32 ",\"ticket\":%" PRIu64
		    ",\"pid\":%" PRIu32 ",\"client\":%" PRIu32
		    ",\"entry\":%" PRIu32 "}", r->pool, r->position,
		    r->priority, r->ticket, r->pid, r->client, r->entry);
	}
	putchar(']');
}

static void json_events(const struct dump *d)
{
	printf(",\"events\":[");
	for (size_t i = 0; i < d->nevents; i++) {
		const struct cb_event_rec *e = &d->events[i];

		printf("%s{\"time\":%" PRIu64 ".%09" PRIu64 ",\"type\":\"%s\""
		    ",\"generation\":%" PRIu32 ",\"old_capacity\":%" PRIu32
		    ",\"new_capacity\":%" PRIu32 ",\"old_source\":\"%s\""
		    ",\"new_source\":\"%s\",\"value\":%" PRId64 "}",
		    i == 0 ? "" : ",", e->time_ns / 1000000000u,
		    e->time_ns % 1000000000u, event_type_name(e->type),
		    e->generation, e->old_capacity, e->new_capacity,
		    cb_source_name((int)e->old_source),
		    cb_source_name((int)e->new_source), (int64_t)e->value);
	}
	putchar(']');
}

static void json_warnings(const struct dump *d)
{
	printf(",\"warnings\":[");
	for (int i = 0; i < d->nwarnings; i++) {
		if (i > 0)
			putchar(',');
		json_string(d->warning[i], WARNING_MAX);
	}
	putchar(']');
}

void print_json(const struct dump *d)
{
	printf("{\"name\":");
	json_string(d->name, sizeof(d->name));
	printf(",\"abi\":{\"major\":%u,\"minor\":%u}", d->abi_major,
	    d->abi_minor);
	printf(",\"slots_readable\":%s", d->slots_readable ? "true" :
	    "false");
	printf(",\"slots_damaged\":%s", d->slots_damaged ? "true" :
	    "false");
	json_broker(d);
	json_state(d);
	json_info(d);
	json_workers(d);
	json_pools(d);
	json_clients(d);
	json_launches(d);
	json_waiters(d);
	json_cluster(d);
	json_events(d);
	json_warnings(d);
	printf("}\n");
}

/* {"name":..., "attached":false, "error":...}: what -o FILE says when
 * the instance cannot be attached. */
void print_json_unattached(const char *name, const char *why)
{
	printf("{\"name\":");
	json_string(name, CB_NAME_MAX + 1);
	printf(",\"attached\":false,\"error\":");
	json_string(why, CB_ERRMSG_MAX);
	printf("}\n");
}
