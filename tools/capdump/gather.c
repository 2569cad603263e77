/*
 * gather.c - attaching to an instance read-only, and one look at its
 * state segment, into a struct dump; reservations.c adds what the slots
 * segment holds.
 *
 * capdump never writes shared memory, takes no locks and never talks to
 * the broker, so it is safe to point at a busy broker, a hung one, or
 * the segments a dead one left behind:
 *
 *   - the state word is one acquire load, so capacity and source are
 *     never seen torn;
 *   - every multi-word block is copied with the lib/snapshot.h readers,
 *     which give up with -EAGAIN instead of spinning when a writer died
 *     mid-write; the block is then reported as unavailable with a
 *     warning rather than waited for;
 *   - every byte read from a segment is hostile: the printers bound
 *     strings by their field and escape them for their format, so a
 *     corrupt worker id can neither break the JSON nor drive the
 *     terminal.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "capdump.h"
#include "client_internal.h"
#include "clock.h"
#include "seqlock.h"
#include "sigbus.h"

static void gather_header(cb_client *c, struct dump *d)
{
	const struct cb_seg_header *h = cb_client_state(c);

	/* cb_open() validated the name is terminated and ours. */
	snprintf(d->name, sizeof(d->name), "%s", h->name);
	d->abi_major = h->abi_major;
	d->abi_minor = h->abi_minor;
	d->instance = h->instance;
	d->retired = atomic_load_explicit(&h->retired,
	    memory_order_acquire) != 0;
	d->state_word = cb_state_load(cb_state_word(c));
}

static void gather_broker(cb_client *c, struct dump *d)
{
	const struct cb_seg_header *h = cb_client_state(c);
	uint64_t beat, now;

	d->ident_ok = cb_snapshot_ident(h, &d->ident) == 0;
	if (d->ident_ok) {
		d->check = cb_broker_check(c);
		if (d->check < 0)
			snprintf(d->reason, sizeof(d->reason), "%s",
			    cb_errmsg(c));
	} else {
		/*
		 * cb_broker_check() re-reads the identity with a loop that
		 * never gives up, so with the sequence stuck odd it would
		 * hang us; a broker that died mid-write is stale anyway.
		 */
		dump_warn(d, "broker identity: no stable copy (the broker "
		    "died while writing it?)");
		d->check = -EAGAIN;
		snprintf(d->reason, sizeof(d->reason), "broker identity "
		    "unreadable (seqlock stuck: writer died mid-write)");
	}
	/* Relaxed: the heartbeat orders nothing else (abi.h). */
	beat = atomic_load_explicit(&h->heartbeat_ns, memory_order_relaxed);
	now = cb_monotonic_ns();
	if (beat == 0)
		d->heartbeat_age_ms = -1;
	else
		d->heartbeat_age_ms = now > beat ?
		    (int64_t)((now - beat) / CB_NS_PER_MS) : 0;
	/* Relaxed: counts that stand alone (abi.h). */
	d->control.fds = atomic_load_explicit(&h->ctl_fds,
	    memory_order_relaxed);
	d->control.fd_limit = atomic_load_explicit(&h->ctl_fd_limit,
	    memory_order_relaxed);
	d->control.conns = atomic_load_explicit(&h->ctl_conns,
	    memory_order_relaxed);
	d->control.refused = atomic_load_explicit(&h->ctl_refused,
	    memory_order_relaxed);
	d->control.cut = atomic_load_explicit(&h->ctl_cut,
	    memory_order_relaxed);
}

static void gather_info(cb_client *c, struct dump *d)
{
	d->info_ok = cb_snapshot_info(cb_client_state(c), &d->info) == 0;
	if (!d->info_ok) {
		memset(&d->info, 0, sizeof(d->info));
		dump_warn(d, "settings and counters: no stable copy (the "
		    "publisher died mid-write?)");
	}
}

static void gather_workers(cb_client *c, struct dump *d)
{
	d->workers = calloc(CB_MAX_WORKERS, sizeof(*d->workers));
	if (d->workers == NULL) {
		dump_warn(d, "worker table: out of memory");
		return;
	}
	d->workers_ok = cb_snapshot_workers(cb_client_state(c), d->workers,
	    CB_MAX_WORKERS, &d->nworkers) == 0;
	if (!d->workers_ok) {
		d->nworkers = 0;
		dump_warn(d, "worker table: no stable copy (the publisher "
		    "died mid-write?)");
	}
}

/* A string field of the cluster block, terminated in our copy. */
#define TERMINATE(field) ((field)[sizeof(field) - 1] = '\0')

/*
 * The cluster block (abi.h, CB_RS_CLUSTER; written by the broker's
 * cluster thread under `seq`): copied whole under the seqlock, giving
 * up (with a warning) when no stable copy comes, as the other blocks.
 * The copy is then made safe to print: the broker's strings are meant
 * to be terminated and nhosts at most CB_CLUSTER_HOSTS, but a reader
 * checks anyway.
 */
static void gather_cluster(cb_client *c, struct dump *d)
{
	const struct cb_cluster_block *b = cb_seg_region(cb_client_state(c),
	    CB_RS_CLUSTER);
	struct cb_cluster_block *k = &d->cluster;

	/* From the block's start (8-aligned, a multiple of 8 long, as
	 * cb_seq_copy_out wants); seq's own copy is dropped below. */
	if (cb_seqlock_read(&b->seq, k, b, sizeof(*k)) < 0) {
		memset(k, 0, sizeof(*k));
		dump_warn(d, "cluster block: no stable copy (the broker's "
		    "cluster thread died mid-write?)");
		return;
	}
	atomic_store_explicit(&k->seq, 0, memory_order_relaxed);
	d->cluster_ok = 1;
	TERMINATE(k->host);
	TERMINATE(k->cluster);
	TERMINATE(k->last_error);
	for (uint32_t i = 0; i < CB_CLUSTER_HOSTS; i++)
		TERMINATE(k->hosts[i]);
	if (k->nhosts > CB_CLUSTER_HOSTS) {
		dump_warn(d, "cluster block: %" PRIu32 " hosts claimed, at "
		    "most %d shown", k->nhosts, CB_CLUSTER_HOSTS);
		k->nhosts = CB_CLUSTER_HOSTS;
	}
}

static void gather_events(cb_client *c, struct dump *d)
{
	d->nevents = cb_snapshot_events(cb_client_state(c), d->events,
	    CB_EVENT_RING);
}

/*
 * A member of the slots group truncated the slots file while we read it:
 * libcapbroker's SIGBUS guard (lib/sigbus.h) kept us alive by mapping
 * private zeros over the cut part of our read-only mapping.  Say so:
 * those zeros are ours alone, and the broker restores the real file
 * (--watch then attaches again, run.c).
 */
static void gather_damage(cb_client *c, struct dump *d)
{
	if (!d->slots_readable || !cb_sigbus_damaged(cb_client_slots(c)))
		return;
	d->slots_damaged = 1;
	dump_warn(d, "slots segment: shrunk under capdump (truncated by a "
	    "member of its group): its cut part reads as zeros here, so "
	    "pools, clients, launches and waiters shown may be wrong");
}

/* The clock global pools' deadlines are in (abi.h). */
static uint64_t coarse_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int target_open(struct target *t, const char *name)
{
	int r = cb_open(&t->c, name, CB_OPEN_RDONLY);

	if (r == 0)
		slots_geom_init(t->c, &t->slots);
	return r;
}

void target_close(struct target *t)
{
	cb_close(t->c);
	t->c = NULL;
}

void dump_gather(const struct target *t, struct dump *d)
{
	memset(d, 0, sizeof(*d));
	d->now_ns = cb_monotonic_ns();
	d->coarse_ns = coarse_now();
	gather_header(t->c, d);
	gather_broker(t->c, d);
	gather_info(t->c, d);
	gather_workers(t->c, d);
	gather_events(t->c, d);
	gather_cluster(t->c, d);      /* before the pools, which use it */
	d->slots_readable = t->slots.readable;
	slots_gather(t, d);
	gather_damage(t->c, d);
}

void dump_free(struct dump *d)
{
	free(d->workers);
	free(d->worker_inflight);
	free(d->pools);
	free(d->clients);
	free(d->launches);
	free(d->waiters);
	d->workers = NULL;
	d->worker_inflight = NULL;
	d->pools = NULL;
	d->clients = NULL;
	d->launches = NULL;
	d->waiters = NULL;
}
