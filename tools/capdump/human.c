/*
 * human.c - the human report: one screen of aligned tables, every
 * string from a segment made printable first (human_safe()), so a
 * hostile worker id or pool name cannot send escape sequences to the
 * terminal.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "capdump.h"

#define HUMAN_EVENTS	16	/* events in the human report */
#define HUMAN_LAUNCHES	50	/* launch entries in the human report */
/* Worst case of human_safe(): every byte becomes "\xHH". */
#define SAFE_SIZE(n)	(4 * (n) + 1)

/*
 * Copy len bytes of s into buf (SAFE_SIZE(len) bytes), printable ASCII
 * as is and anything else as \xHH, so a hostile string cannot send
 * escape sequences to the terminal.
 */
static const char *human_safe(char *buf, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	char *p = buf;

	for (size_t i = 0; i < len && s[i] != '\0'; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch >= 0x20 && ch < 0x7f && ch != '\\') {
			*p++ = (char)ch;
			continue;
		}
		*p++ = '\\';
		*p++ = 'x';
		*p++ = hex[ch >> 4];
		*p++ = hex[ch & 0xf];
	}
	*p = '\0';
	return buf;
}

/* "YYYY-MM-DD HH:MM:SS" local time of a CLOCK_REALTIME ns value. */
static const char *format_time(char *buf, size_t size, uint64_t ns)
{
	time_t t = (time_t)(ns / 1000000000u);
	struct tm tm;

	if (ns == 0 || localtime_r(&t, &tm) == NULL ||
	    strftime(buf, size, "%Y-%m-%d %H:%M:%S", &tm) == 0)
		snprintf(buf, size, "-");
	return buf;
}

static void human_broker(const struct dump *d)
{
	char safe[SAFE_SIZE(CB_ERRMSG_MAX)];

	printf("broker      ");
	if (d->ident_ok)
		printf("pid %" PRIu32 ", epoch %" PRIu64, d->ident.pid,
		    d->ident.epoch);
	else
		printf("pid ?, epoch ?");
	if (d->check == 0)
		printf(", alive");
	else
		printf(", STALE: %s",
		    human_safe(safe, d->reason, sizeof(d->reason)));
	if (d->heartbeat_age_ms < 0)
		printf(" (no heartbeat yet)\n");
	else
		printf(" (heartbeat %" PRId64 " ms ago)\n",
		    d->heartbeat_age_ms);
	if (d->control.fd_limit == 0)
		return;             /* a broker that does not publish it */
	printf("control     %" PRIu32 " of %" PRIu32 " fds, %" PRIu32
	    " connections, %" PRIu64 " refused, %" PRIu64 " cut\n",
	    d->control.fds, d->control.fd_limit, d->control.conns,
	    d->control.refused, d->control.cut);
}

static void human_state(const struct dump *d)
{
	unsigned f = dump_flags(d);
	uint64_t w = d->state_word;

	printf("capacity    %u, source %s, generation %" PRIu32 ", flags %s\n",
	    CB_STATE_CAPACITY(w), cb_source_name(CB_STATE_SOURCE(w)),
	    CB_STATE_GENERATION(w),
	    (f & CB_STATE_F_STOPPING) && (f & CB_STATE_F_RETIRED) ?
	    "stopping,retired" : f & CB_STATE_F_STOPPING ? "stopping" :
	    f & CB_STATE_F_RETIRED ? "retired" : "none");
}

static void human_info(const struct dump *d)
{
	const struct cb_info *i = &d->info;
	char when[32];

	if (!d->info_ok) {
		printf("settings    unavailable\ncounters    unavailable\n");
		return;
	}
	printf("settings    override %" PRIu32 "%s, slots_per_worker %" PRIu32
	    ", legacy_max %" PRIu32 "\n", i->override,
	    i->override == 0 ? " (derive)" : "", i->slots_per_worker,
	    i->legacy_max);
	printf("fleet       %" PRIu32 " workers, %" PRIu32 " ready, %" PRIu32
	    " reporting\n", i->workers_total, i->workers_ready,
	    i->workers_reporting);
	printf("counters    publishes %" PRIu64 ", capacity changes %" PRIu64
	    ", source changes %" PRIu64 ",\n            override rejects %"
	    PRIu64 ", registry events %" PRIu64 "\n", i->publishes,
	    i->capacity_changes, i->source_changes, i->override_rejects,
	    i->events);
	printf("published   %s\n", format_time(when, sizeof(when),
	    i->published_ns));
}

/* Width of the widest worker id as human_safe() prints it. */
static int worker_id_width(const struct dump *d)
{
	char safe[SAFE_SIZE(CB_WORKER_ID_MAX + 1)];
	int width = 2, n;		/* "ID" */

	for (uint32_t i = 0; i < d->nworkers; i++) {
		const struct cb_worker_rec *r = &d->workers[i];

		n = (int)strlen(human_safe(safe, r->id, field_len(r->id,
		    sizeof(r->id))));
		if (n > width)
			width = n;
	}
	return width;
}

static void human_workers(const struct dump *d)
{
	char safe[SAFE_SIZE(CB_WORKER_ID_MAX + 1)];
	int width = worker_id_width(d);

	if (!d->workers_ok) {
		printf("\nWORKERS\n  unavailable\n");
		return;
	}
	printf("\nWORKERS (%" PRIu32 ")\n", d->nworkers);
	if (d->nworkers == 0) {
		printf("  none\n");
		return;
	}
	printf("  %-*s  %-9s  %s  %s\n", width, "ID", "STATE", "MAX_RUNNING",
	    "INFLIGHT");
	for (uint32_t i = 0; i < d->nworkers; i++) {
		const struct cb_worker_rec *r = &d->workers[i];
		int64_t in = d->worker_inflight != NULL ?
		    d->worker_inflight[i] : -1;

		human_safe(safe, r->id, field_len(r->id, sizeof(r->id)));
		printf("  %-*s  %-9s  ", width, safe,
		    worker_state_name(r->state));
		if (r->max_running == 0)
			printf("%11s  ", "-");
		else
			printf("%11" PRIu32 "  ", r->max_running);
		if (in < 0)
			printf("%8s\n", "-");
		else
			printf("%8" PRId64 "\n", in);
	}
}

/* Width of the widest pool name as human_safe() prints it. */
static int pool_name_width(const struct dump *d)
{
	char safe[SAFE_SIZE(POOL_NAME_MAX + 1)];
	int width = 4, n;		/* "NAME" */

	for (size_t i = 0; i < d->npools; i++) {
		n = (int)strlen(human_safe(safe, d->pools[i].name,
		    sizeof(d->pools[i].name)));
		if (n > width)
			width = n;
	}
	return width;
}

/* The limits and usage, then the counters, one table each: one table
 * of both would not fit a terminal. */
static void human_pools(const struct dump *d)
{
	char safe[SAFE_SIZE(POOL_NAME_MAX + 1)];
	int w = pool_name_width(d);
	const struct pool_row *p;

	printf("\nPOOLS (%zu)\n", d->npools);
	if (d->npools == 0) {
		printf("  none\n");
		return;
	}
	printf("  %-*s  %5s  %-8s  %5s  %8s  %8s  %4s  %9s\n", w, "NAME",
	    "INDEX", "KIND", "LIMIT", "OBSERVED", "WINDOW_S", "HELD",
	    "LAUNCHING");
	for (size_t i = 0; i < d->npools; i++) {
		p = &d->pools[i];
		printf("  %-*s  %5" PRIu32 "  %-8s  %5" PRIu32 "  %8" PRIu32
		    "  %8g  %4" PRIu32 "  %9" PRIu32 "\n", w, human_safe(safe,
		    p->name, sizeof(p->name)), p->index,
		    pool_kind_name(p->kind), p->limit, p->observed,
		    p->window_ms / 1000.0, p->held, p->launching);
	}
	printf("\n  %-*s  %8s  %8s  %14s  %9s  %7s  %8s\n", w, "NAME",
	    "ADMITTED", "REJECTED", "STALE_RELEASES", "RECLAIMED", "EXPIRED",
	    "REPAIRED");
	for (size_t i = 0; i < d->npools; i++) {
		p = &d->pools[i];
		printf("  %-*s  %8" PRIu64 "  %8" PRIu64 "  %14" PRIu64 "  %9"
		    PRIu64 "  %7" PRIu64 "  %8" PRIu64 "\n", w,
		    human_safe(safe, p->name, sizeof(p->name)), p->admitted,
		    p->rejected, p->stale_releases, p->reclaimed, p->expired,
		    p->repaired);
	}
}

/* Global pools only (none: nothing printed, as before ABI 1.3). */
static void human_global_pools(const struct dump *d)
{
	char safe[SAFE_SIZE(POOL_NAME_MAX + 1)];
	int w = pool_name_width(d), n = 0;
	const struct pool_row *p;

	for (size_t i = 0; i < d->npools; i++)
		n += d->pools[i].global != 0;
	if (n == 0)
		return;
	printf("\nGLOBAL POOLS (%d)\n  %-*s  %5s  %11s  %6s  %6s  %11s  "
	    "%10s  %14s  %4s\n", n, w, "NAME", "SHARE", "LOCAL_LIMIT",
	    "DEMAND", "TARGET", "QUARANTINED", "HOLD_MAX_S", "SHARE_VALID_MS",
	    "AGED");
	for (size_t i = 0; i < d->npools; i++) {
		p = &d->pools[i];
		if (!p->global)
			continue;
		printf("  %-*s  %5" PRIu32 "  %11" PRIu32 "  %6" PRIu32 "  %6"
		    PRIu32 "  %11" PRIu32 "  %10" PRIu32 "  %14" PRIu64
		    "  %4" PRIu32 "\n", w, human_safe(safe, p->name,
		    sizeof(p->name)), p->share, p->local_limit, p->demand,
		    p->target, p->quarantined, p->hold_max_s,
		    share_valid_ms(d, p), p->aged);
	}
}

/* Each alive host's share and demand of each global pool. */
static void human_cluster_hosts(const struct dump *d)
{
	const struct cb_cluster_block *k = &d->cluster;
	char host[SAFE_SIZE(CB_HOST_NAME_MAX + 1)];
	char pool[SAFE_SIZE(POOL_NAME_MAX + 1)];
	const struct pool_row *p;

	printf("  HOSTS (%" PRIu32 ")\n", k->nhosts);
	if (k->nhosts == 0)
		return;
	printf("    %-20s  %-20s  %10s  %11s\n", "HOST", "POOL",
	    "HOST_SHARE", "HOST_DEMAND");
	for (uint32_t h = 0; h < k->nhosts; h++) {
		human_safe(host, k->hosts[h], sizeof(k->hosts[h]));
		for (size_t i = 0; i < d->npools; i++) {
			p = &d->pools[i];
			if (!p->global)
				continue;
			printf("    %-20s  %-20s  %10" PRIu32 "  %11" PRIu32
			    "\n", host, human_safe(pool, p->name,
			    sizeof(p->name)), k->pool[p->index].host_share[h],
			    k->pool[p->index].host_demand[h]);
		}
	}
}

/* The cluster of brokers (etcd), when one is configured. */
static void human_cluster(const struct dump *d)
{
	const struct cb_cluster_block *k = &d->cluster;
	char safe[SAFE_SIZE(sizeof(k->last_error))];
	char age[32];

	if (!dump_cluster_on(d))
		return;
	printf("\nCLUSTER\n  host        %s\n", human_safe(safe, k->host,
	    sizeof(k->host)));
	printf("  cluster     %s\n", human_safe(safe, k->cluster,
	    sizeof(k->cluster)));
	printf("  lease       0x%" PRIx64 " (%s), ttl %" PRIu32 " s\n",
	    k->lease_id, k->flags & CB_CLUSTER_F_LEASE ? "held" : "not held",
	    k->ttl_s);
	if (k->last_ok_ns == 0)
		snprintf(age, sizeof(age), "never");
	else
		snprintf(age, sizeof(age), "%.1f s ago", cluster_age_s(d));
	printf("  etcd        %s, last answer %s, %" PRIu64 " errors\n",
	    k->flags & CB_CLUSTER_F_REACHABLE ? "reachable" : "unreachable",
	    age, k->errors);
	printf("  last error  %s\n", k->last_error[0] == '\0' ? "-" :
	    human_safe(safe, k->last_error, sizeof(k->last_error)));
	human_cluster_hosts(d);
}

static void human_clients(const struct dump *d)
{
	printf("\nCLIENTS (%zu)\n", d->nclients);
	if (d->nclients == 0) {
		printf("  none\n");
		return;
	}
	printf("  %5s  %10s  %8s  %9s\n", "INDEX", "PID", "HELD",
	    "IN_FLIGHT");
	for (size_t i = 0; i < d->nclients; i++)
		printf("  %5" PRIu32 "  %10" PRIu32 "  %8" PRIu64 "  %9" PRIu32
		    "\n", d->clients[i].index, d->clients[i].pid,
		    d->clients[i].held, d->clients[i].in_flight);
}

/* "12.345 s" or "-0.120 s" (overdue: the sweeper has not run yet). */
static const char *format_ms(char *buf, size_t size, int64_t ms)
{
	uint64_t a = ms < 0 ? (uint64_t)-(ms + 1) + 1 : (uint64_t)ms;

	snprintf(buf, size, "%s%" PRIu64 ".%03" PRIu64 " s", ms < 0 ? "-" : "",
	    a / 1000u, a % 1000u);
	return buf;
}

static void human_launches(const struct dump *d)
{
	char safe[SAFE_SIZE(POOL_NAME_MAX + 1)], pool[16], when[32];
	size_t shown = d->nlaunches < HUMAN_LAUNCHES ? d->nlaunches :
	    HUMAN_LAUNCHES;
	int w = pool_name_width(d);
	const struct launch_row *l;
	const char *name;

	printf("\nLAUNCHES (%zu)\n", d->nlaunches);
	if (d->nlaunches == 0) {
		printf("  none\n");
		return;
	}
	printf("  %5s  %-*s  %6s  %-8s  %s\n", "ENTRY", w, "POOL", "CLIENT",
	    "STATE", "EXPIRES_IN");
	for (size_t i = 0; i < shown; i++) {
		l = &d->launches[i];
		if ((name = dump_pool_name(d, l->pool)) == NULL) {
			snprintf(pool, sizeof(pool), "#%" PRIu32, l->pool);
			name = pool;
		}
		printf("  %5" PRIu32 "  %-*s  %6" PRIu32 "  %-8s  %s\n",
		    l->entry, w, human_safe(safe, name, POOL_NAME_MAX + 1),
		    l->client, launch_state_name(l->state),
		    format_ms(when, sizeof(when), l->expires_in_ms));
	}
	if (d->nlaunches > shown)
		printf("  ... %zu more\n", d->nlaunches - shown);
}

/* What one event means, in words ("capacity 64 -> 128, ..."). */
static void human_event_text(const struct cb_event_rec *e)
{
	const char *sep = "";

	switch (e->type) {
	case CB_EV_PUBLISH:
		if (e->old_capacity != e->new_capacity) {
			printf("capacity %" PRIu32 " -> %" PRIu32,
			    e->old_capacity, e->new_capacity);
			sep = ", ";
		}
		if (e->old_source != e->new_source)
			printf("%ssource %s -> %s", sep,
			    cb_source_name((int)e->old_source),
			    cb_source_name((int)e->new_source));
		else if (sep[0] == '\0')
			printf("published capacity %" PRIu32 ", source %s",
			    e->new_capacity,
			    cb_source_name((int)e->new_source));
		break;
	case CB_EV_START:
		printf("broker pid %" PRIu64 " started", e->value);
		break;
	case CB_EV_STOP:
		printf("broker pid %" PRIu64 " stopping", e->value);
		break;
	case CB_EV_OVERRIDE_REJECTED:
		/* The value is the refused override, signed. */
		printf("override %" PRId64 " rejected (outside 0..%u)",
		    (int64_t)e->value, CB_CAPACITY_MAX);
		break;
	default:
		printf("event type %" PRIu32, e->type);
	}
}

static void human_events(const struct dump *d)
{
	size_t first = d->nevents > HUMAN_EVENTS ?
	    d->nevents - HUMAN_EVENTS : 0;
	char when[32];

	printf("\nRECENT EVENTS (%zu)\n", d->nevents - first);
	if (d->nevents == 0)
		printf("  none\n");
	for (size_t i = first; i < d->nevents; i++) {
		const struct cb_event_rec *e = &d->events[i];

		printf("  %s generation %" PRIu32 ": ", format_time(when,
		    sizeof(when), e->time_ns), e->generation);
		human_event_text(e);
		putchar('\n');
	}
}

/* Every live waiter, in queue order per pool. */
static void human_waiters(const struct dump *d)
{
	char safe[SAFE_SIZE(POOL_NAME_MAX + 1)], pool[16];
	int w = pool_name_width(d);
	const char *name;

	printf("\nWAITERS (%zu)\n", d->nwaiters);
	if (d->nwaiters == 0) {
		printf("  none\n");
		return;
	}
	printf("  %-*s  %8s  %8s  %10s  %10s  %5s\n", w, "POOL", "POSITION",
	    "PRIORITY", "TICKET", "PID", "ENTRY");
	for (size_t i = 0; i < d->nwaiters; i++) {
		const struct waiter_row *r = &d->waiters[i];

		if ((name = dump_pool_name(d, r->pool)) == NULL) {
			snprintf(pool, sizeof(pool), "#%" PRIu32, r->pool);
			name = pool;
		} else {
			name = human_safe(safe, name, POOL_NAME_MAX + 1);
		}
		printf("  %-*s  %8" PRIu32 "  %8" PRId32 "  %10" PRIu64 "  %10"
		    PRIu32 "  %5" PRIu32 "\n", w, name, r->position,
		    r->priority, r->ticket, r->pid, r->entry);
	}
}

void print_human(const struct dump *d)
{
	printf("instance    %s (ABI %u.%u)\n", d->name, d->abi_major,
	    d->abi_minor);
	human_broker(d);
	human_state(d);
	human_info(d);
	human_workers(d);
	if (d->slots_damaged)
		printf("\nSLOTS SEGMENT DAMAGED\n  shrunk while read (truncated "
		    "by a member of its group): the cut part read as zeros "
		    "here; the broker restores the file\n");
	if (d->slots_readable) {
		human_pools(d);
		human_global_pools(d);
		human_clients(d);
		human_launches(d);
		human_waiters(d);
	} else {
		/* Unknown, not none: see the warning. */
		printf("\nPOOLS, CLIENTS, LAUNCHES, WAITERS\n  not readable "
		    "(the slots segment is the broker's group's)\n");
	}
	human_cluster(d);
	human_events(d);
	for (int i = 0; i < d->nwarnings; i++)
		printf("%swarning: %s\n", i == 0 ? "\n" : "", d->warning[i]);
}
