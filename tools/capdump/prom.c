/*
 * prom.c - the Prometheus text exposition format (for the node_exporter
 * textfile collector, say); `promtool check metrics` passes it.
 * Warnings become comment lines.
 *
 * Every sample is labelled broker="NAME", the instance name; per-pool
 * and per-worker samples also name theirs.  Not instance="NAME":
 * Prometheus attaches its own `instance` label (the scraped target) to
 * every sample, and a scrape renames a clashing exposed one to
 * exported_instance (unless honor_labels), so queries and alerts would
 * have had to use that name.
 */
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "capdump.h"

/* A label value: escape '\\', '"' and newline; '?' for non-ASCII. */
static const char *prom_escape(char *buf, size_t size, const char *s)
{
	size_t o = 0;

	for (; *s != '\0' && o + 3 < size; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '\\' || ch == '"' || ch == '\n') {
			buf[o++] = '\\';
			buf[o++] = ch == '\n' ? 'n' : (char)ch;
		} else {
			buf[o++] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
		}
	}
	buf[o] = '\0';
	return buf;
}

static void prom_head(const char *metric, const char *type,
    const char *help)
{
	printf("# HELP %s %s\n# TYPE %s %s\n", metric, help, metric, type);
}

static void prom_u64(const char *broker, const char *metric,
    const char *type, const char *help, uint64_t v)
{
	prom_head(metric, type, help);
	printf("%s{broker=\"%s\"} %" PRIu64 "\n", metric, broker, v);
}

/* Control-socket pressure, when the broker publishes it. */
static void prom_control(const struct dump *d, const char *broker)
{
	if (d->control.fd_limit == 0)
		return;
	prom_u64(broker, "capbroker_open_fds", "gauge",
	    "File descriptors the broker has open.", d->control.fds);
	prom_u64(broker, "capbroker_fd_limit", "gauge",
	    "The broker's file descriptor limit (RLIMIT_NOFILE).",
	    d->control.fd_limit);
	prom_u64(broker, "capbroker_control_connections", "gauge",
	    "Open control-socket connections.", d->control.conns);
	prom_u64(broker, "capbroker_control_refused_total", "counter",
	    "Control connections refused at accept (limits, no fds).",
	    d->control.refused);
	prom_u64(broker, "capbroker_control_cut_total", "counter",
	    "Control connections cut (idle, slow line, replies not "
	    "drained).", d->control.cut);
}

static void prom_state(const struct dump *d, const char *broker)
{
	uint64_t w = d->state_word;

	prom_u64(broker, "capbroker_capacity", "gauge",
	    "Published capacity (concurrent units).", CB_STATE_CAPACITY(w));
	prom_head("capbroker_capacity_source", "gauge",
	    "Source tier of the capacity (1 for the active tier, 0 for the "
	    "others).");
	for (int s = CB_SOURCE_OVERRIDE; s <= CB_SOURCE_FALLBACK; s++)
		printf("capbroker_capacity_source{broker=\"%s\",source="
		    "\"%s\"} %d\n", broker, cb_source_name(s),
		    s == CB_STATE_SOURCE(w));
	prom_u64(broker, "capbroker_generation", "gauge",
	    "Generation of the published state.", CB_STATE_GENERATION(w));
	prom_u64(broker, "capbroker_broker_up", "gauge",
	    "1 if the broker is alive, 0 if stale, stopped or gone.",
	    d->check == 0);
	prom_head("capbroker_heartbeat_age_seconds", "gauge",
	    "Seconds since the broker's last heartbeat (NaN: none yet).");
	if (d->heartbeat_age_ms < 0)
		printf("capbroker_heartbeat_age_seconds{broker=\"%s\"} NaN\n",
		    broker);
	else
		printf("capbroker_heartbeat_age_seconds{broker=\"%s\"} "
		    "%.3f\n", broker, (double)d->heartbeat_age_ms / 1000.0);
	prom_control(d, broker);
	if (!d->ident_ok)
		return;
	prom_u64(broker, "capbroker_epoch", "gauge",
	    "Broker epoch: +1 per broker start or adoption.", d->ident.epoch);
	/*
	 * The first broker of a segment sets epoch 1 and every later start
	 * adopts the segment and adds one, so restarts are epoch - 1.  A
	 * segment created anew (--replace, --remove) starts over at 0: a
	 * counter reset, which Prometheus handles.
	 */
	prom_u64(broker, "capbroker_broker_restarts_total", "counter",
	    "Broker restarts that adopted this segment (epoch - 1).",
	    d->ident.epoch > 0 ? d->ident.epoch - 1 : 0);
}

static void prom_info(const struct dump *d, const char *broker)
{
	const struct cb_info *i = &d->info;

	if (!d->info_ok)
		return;
	prom_u64(broker, "capbroker_override", "gauge",
	    "Configured capacity override (0: derive).", i->override);
	prom_u64(broker, "capbroker_slots_per_worker", "gauge",
	    "Capacity counted per non-reporting ready worker.",
	    i->slots_per_worker);
	prom_u64(broker, "capbroker_legacy_max", "gauge",
	    "Capacity when no worker is ready.", i->legacy_max);
	/* Every publication recomputes the capacity from a full snapshot
	 * of the registry (publisher.c), so publishes count recomputes. */
	prom_u64(broker, "capbroker_capacity_recompute_total", "counter",
	    "Capacity recomputations (one per published snapshot).",
	    i->publishes);
	prom_u64(broker, "capbroker_capacity_changes_total", "counter",
	    "Publishes that changed the capacity.", i->capacity_changes);
	prom_u64(broker, "capbroker_source_changes_total", "counter",
	    "Publishes that changed the source tier.", i->source_changes);
	prom_u64(broker, "capbroker_override_rejects_total", "counter",
	    "Out-of-range overrides refused.", i->override_rejects);
	prom_u64(broker, "capbroker_events_total", "counter",
	    "Registry events drained by the publisher.", i->events);
}

/* Worker i's id as an escaped label value.  The id field may lack its
 * NUL (a corrupt segment): copied bounded first. */
static const char *prom_worker_id(char *buf, size_t size,
    const struct dump *d, uint32_t i)
{
	char raw[CB_WORKER_ID_MAX + 1];
	size_t len = field_len(d->workers[i].id, sizeof(d->workers[i].id));

	if (len >= sizeof(raw))
		len = sizeof(raw) - 1;
	memcpy(raw, d->workers[i].id, len);
	raw[len] = '\0';
	return prom_escape(buf, size, raw);
}

/* Per worker: its placement limit and the holds bound to it. */
static void prom_worker_slots(const struct dump *d, const char *broker)
{
	char id[2 * (CB_WORKER_ID_MAX + 1) + 1];

	if (d->nworkers == 0)
		return;
	prom_head("capbroker_worker_limit", "gauge", "Most holds placement "
	    "binds to the worker (max_running, else slots_per_worker).");
	for (uint32_t i = 0; i < d->nworkers; i++)
		printf("capbroker_worker_limit{broker=\"%s\",worker=\"%s\"} "
		    "%" PRIu32 "\n", broker,
		    prom_worker_id(id, sizeof(id), d, i), d->workers[i].limit);
	if (d->worker_inflight == NULL)
		return;
	prom_head("capbroker_worker_inflight", "gauge",
	    "Holds in flight bound to the worker (cb_pick_worker).");
	for (uint32_t i = 0; i < d->nworkers; i++)
		if (d->worker_inflight[i] >= 0)	/* -1: slot not readable */
			printf("capbroker_worker_inflight{broker=\"%s\","
			    "worker=\"%s\"} %" PRId64 "\n", broker,
			    prom_worker_id(id, sizeof(id), d, i),
			    d->worker_inflight[i]);
}

static void prom_workers(const struct dump *d, const char *broker)
{
	static const uint32_t states[] = { CB_WORKER_READY,
	    CB_WORKER_NOT_READY, CB_WORKER_DRAINING };
	unsigned ready = 0;

	if (!d->workers_ok)
		return;
	for (uint32_t i = 0; i < d->nworkers; i++)
		ready += d->workers[i].state == CB_WORKER_READY;
	prom_u64(broker, "capbroker_workers_available", "gauge",
	    "Ready workers: the ones that count towards the capacity.", ready);
	prom_head("capbroker_workers", "gauge",
	    "Published workers by state.");
	for (size_t s = 0; s < sizeof(states) / sizeof(states[0]); s++) {
		unsigned n = 0;

		for (uint32_t i = 0; i < d->nworkers; i++)
			n += d->workers[i].state == states[s];
		printf("capbroker_workers{broker=\"%s\",state=\"%s\"} %u\n",
		    broker, worker_state_name(states[s]), n);
	}
	prom_worker_slots(d, broker);
}

/* Per-pool metrics: the row field each one reads. */
static const struct pool_metric {
	const char *name;
	const char *type;
	const char *help;
	size_t offset;
	int is64;
} pool_metrics[] = {
#define PM32(n, t, h, f) { n, t, h, offsetof(struct pool_row, f), 0 }
#define PM64(n, t, h, f) { n, t, h, offsetof(struct pool_row, f), 1 }
	PM32("capbroker_pool_limit", "gauge",
	    "Current limit of the pool (pool default: the capacity).", limit),
	PM32("capbroker_pool_observed", "gauge",
	    "Published observation of the pool's fleet.", observed),
	PM32("capbroker_pool_held", "gauge",
	    "Holds (in-flight units) in the pool.", held),
	PM32("capbroker_pool_launching", "gauge",
	    "Live launch reservations in the pool.", launching),
	PM64("capbroker_pool_admitted_total", "counter",
	    "Reservations admitted.", admitted),
	PM64("capbroker_pool_rejected_total", "counter",
	    "Reservations refused over the limit or timed out.", rejected),
	PM64("capbroker_stale_release_total", "counter",
	    "Releases of tickets already released, reclaimed or expired, "
	    "by pool.", stale_releases),
	PM64("capbroker_reclaimed_total", "counter",
	    "Holds of dead clients undone by the broker, by pool.",
	    reclaimed),
	PM64("capbroker_pool_expired_total", "counter",
	    "Launch reservations that aged out.", expired),
	PM64("capbroker_pool_repaired_total", "counter",
	    "Usage counter drifts corrected by the recount.", repaired),
#undef PM32
#undef PM64
};

static uint64_t pool_metric_value(const struct pool_row *p,
    const struct pool_metric *m)
{
	const char *field = (const char *)p + m->offset;
	uint64_t v64;
	uint32_t v32;

	if (m->is64) {
		memcpy(&v64, field, sizeof(v64));
		return v64;
	}
	memcpy(&v32, field, sizeof(v32));
	return v32;
}

static void prom_pools(const struct dump *d, const char *broker)
{
	char pool[2 * (POOL_NAME_MAX + 1) + 1];
	const struct pool_metric *m;

	if (d->npools == 0)
		return;
	for (size_t k = 0; k < sizeof(pool_metrics) / sizeof(*m); k++) {
		m = &pool_metrics[k];
		prom_head(m->name, m->type, m->help);
		for (size_t i = 0; i < d->npools; i++)
			printf("%s{broker=\"%s\",pool=\"%s\"} %" PRIu64 "\n",
			    m->name, broker, prom_escape(pool, sizeof(pool),
			    d->pools[i].name), pool_metric_value(&d->pools[i],
			    m));
	}
	prom_head("capbroker_pool_window_seconds", "gauge",
	    "Launch visibility window of the pool.");
	for (size_t i = 0; i < d->npools; i++)
		printf("capbroker_pool_window_seconds{broker=\"%s\",pool="
		    "\"%s\"} %.3f\n", broker, prom_escape(pool, sizeof(pool),
		    d->pools[i].name), d->pools[i].window_ms / 1000.0);
}

/* Global pools' metrics: the row field each one reads. */
static const struct pool_metric global_metrics[] = {
#define PM32(n, t, h, f) { n, t, h, offsetof(struct pool_row, f), 0 }
	PM32("capbroker_pool_share", "gauge",
	    "This host's share of a global pool, as committed in etcd.",
	    share),
	PM32("capbroker_pool_local_limit", "gauge",
	    "What this host admits up to now in a global pool.", local_limit),
	PM32("capbroker_pool_demand", "gauge",
	    "This host's published demand for a global pool.", demand),
	PM32("capbroker_pool_target", "gauge",
	    "This host's max-min fair share of a global pool's limit.",
	    target),
	PM32("capbroker_pool_quarantined", "gauge",
	    "Units of a global pool frozen for dead hosts.", quarantined),
	PM32("capbroker_pool_hold_max_seconds", "gauge",
	    "The longest a hold of a global pool counts.", hold_max_s),
	PM32("capbroker_pool_aged", "gauge",
	    "Holds of a global pool held past hold_max, no longer counted "
	    "(their release is late).", aged),
#undef PM32
};

static int any_global(const struct dump *d)
{
	for (size_t i = 0; i < d->npools; i++)
		if (d->pools[i].global)
			return 1;
	return 0;
}

/* Only where some pool is global: a broker without one prints what it
 * printed before ABI 1.3. */
static void prom_global_pools(const struct dump *d, const char *broker)
{
	char pool[2 * (POOL_NAME_MAX + 1) + 1];
	const struct pool_metric *m;

	if (!any_global(d))
		return;
	prom_head("capbroker_pool_global", "gauge",
	    "1 if the pool is global (its limit shared through etcd), 0 if "
	    "local.");
	for (size_t i = 0; i < d->npools; i++)
		printf("capbroker_pool_global{broker=\"%s\",pool=\"%s\"} %d\n",
		    broker, prom_escape(pool, sizeof(pool), d->pools[i].name),
		    d->pools[i].global != 0);
	/* Seconds, as capbroker_pool_window_seconds: promtool refuses
	 * abbreviated units in a name (JSON's share_valid_ms). */
	prom_head("capbroker_pool_share_valid_seconds", "gauge",
	    "How much longer a global pool's share may be used (0: no "
	    "valid share, nothing admitted).");
	for (size_t i = 0; i < d->npools; i++)
		if (d->pools[i].global)
			printf("capbroker_pool_share_valid_seconds{broker="
			    "\"%s\",pool=\"%s\"} %.3f\n", broker,
			    prom_escape(pool, sizeof(pool), d->pools[i].name),
			    share_valid_ms(d, &d->pools[i]) / 1000.0);
	for (size_t k = 0; k < sizeof(global_metrics) / sizeof(*m); k++) {
		m = &global_metrics[k];
		prom_head(m->name, m->type, m->help);
		for (size_t i = 0; i < d->npools; i++)
			if (d->pools[i].global)
				printf("%s{broker=\"%s\",pool=\"%s\"} %" PRIu64
				    "\n", m->name, broker, prom_escape(pool,
				    sizeof(pool), d->pools[i].name),
				    pool_metric_value(&d->pools[i], m));
	}
}

/* Each alive host's share or demand of each global pool. */
static void prom_cluster_hosts(const struct dump *d, const char *broker,
    const char *metric, int demand)
{
	const struct cb_cluster_block *k = &d->cluster;
	char pool[2 * (POOL_NAME_MAX + 1) + 1];
	char host[2 * (CB_HOST_NAME_MAX + 1) + 1];
	const struct cb_cluster_pool *cp;

	for (uint32_t h = 0; h < k->nhosts; h++) {
		prom_escape(host, sizeof(host), k->hosts[h]);
		for (size_t i = 0; i < d->npools; i++) {
			if (!d->pools[i].global)
				continue;
			cp = &k->pool[d->pools[i].index];
			printf("%s{broker=\"%s\",pool=\"%s\",host=\"%s\"} %"
			    PRIu32 "\n", metric, broker, prom_escape(pool,
			    sizeof(pool), d->pools[i].name), host, demand ?
			    cp->host_demand[h] : cp->host_share[h]);
		}
	}
}

/* The cluster of brokers (etcd), when one is configured. */
static void prom_cluster(const struct dump *d, const char *broker)
{
	const struct cb_cluster_block *k = &d->cluster;

	if (!dump_cluster_on(d))
		return;
	prom_u64(broker, "capbroker_etcd_reachable", "gauge",
	    "1 if the last etcd request was answered, 0 if not.",
	    (k->flags & CB_CLUSTER_F_REACHABLE) != 0);
	prom_u64(broker, "capbroker_etcd_lease_held", "gauge",
	    "1 if this broker holds its etcd lease (alive in the cluster).",
	    (k->flags & CB_CLUSTER_F_LEASE) != 0);
	prom_u64(broker, "capbroker_etcd_lease_ttl_seconds", "gauge",
	    "TTL of this broker's etcd lease.", k->ttl_s);
	prom_u64(broker, "capbroker_etcd_errors_total", "counter",
	    "Failed etcd requests.", k->errors);
	if (k->last_ok_ns != 0) {
		prom_head("capbroker_etcd_last_ok_age_seconds", "gauge",
		    "Seconds since etcd last answered.");
		printf("capbroker_etcd_last_ok_age_seconds{broker=\"%s\"} "
		    "%.3f\n", broker, cluster_age_s(d));
	}
	prom_u64(broker, "capbroker_cluster_hosts", "gauge",
	    "Alive brokers of the cluster (as many as shown).", k->nhosts);
	if (!any_global(d) || k->nhosts == 0)
		return;
	prom_head("capbroker_pool_host_share", "gauge",
	    "Each alive host's share of a global pool.");
	prom_cluster_hosts(d, broker, "capbroker_pool_host_share", 0);
	prom_head("capbroker_pool_host_demand", "gauge",
	    "Each alive host's demand for a global pool.");
	prom_cluster_hosts(d, broker, "capbroker_pool_host_demand", 1);
}

static void prom_clients(const struct dump *d, const char *broker)
{
	prom_u64(broker, "capbroker_clients", "gauge",
	    "Processes attached to the reservation table.", d->nclients);
	prom_u64(broker, "capbroker_launch_entries", "gauge",
	    "Launch reservation entries claimed or live.", d->nlaunches);
}

/* Whether the pool, client and launch series can be there at all: a
 * collector run outside the broker's group would lose them silently. */
static void prom_slots_readable(const struct dump *d, const char *broker)
{
	prom_u64(broker, "capbroker_slots_readable", "gauge",
	    "1 if capdump could read the reservation table (pools, clients, "
	    "launches), 0 if not (not in the broker's group).",
	    d->slots_readable != 0);
	prom_u64(broker, "capbroker_slots_damaged", "gauge",
	    "1 if the slots file was shrunk while capdump read it (the cut "
	    "part read as zeros: pool, client and launch series may be "
	    "wrong), 0 if not.", d->slots_damaged != 0);
}

void print_prometheus(const struct dump *d)
{
	char broker[2 * CB_NAME_MAX + 3];

	prom_escape(broker, sizeof(broker), d->name);
	/* Comment lines are legal in the format; scrapers skip them. */
	for (int i = 0; i < d->nwarnings; i++)
		printf("# warning: %s\n", d->warning[i]);
	prom_state(d, broker);
	prom_slots_readable(d, broker);
	prom_info(d, broker);
	prom_workers(d, broker);
	prom_pools(d, broker);
	prom_global_pools(d, broker);
	prom_clients(d, broker);
	prom_cluster(d, broker);
}

/* What -o FILE says when the instance cannot be attached: down. */
void print_prometheus_unattached(const char *name, const char *why)
{
	char broker[2 * CB_NAME_MAX + 3], reason[2 * CB_ERRMSG_MAX + 1];

	prom_escape(broker, sizeof(broker), name);
	printf("# warning: cannot attach: %s\n", prom_escape(reason,
	    sizeof(reason), why));
	prom_u64(broker, "capbroker_broker_up", "gauge",
	    "1 if the broker is alive, 0 if stale, stopped or gone.", 0);
}
