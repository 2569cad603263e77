/*
 * sections_broker.c - the sections driven through the broker:
 *
 *   4 watch    wake latency from the broker's publish (the published_ns
 *              stamp in the info block) to each of N subscribers
 *              returning from cb_watch();
 *   5 publish  the control-socket round trip of a WORKER SET, which the
 *              broker answers only after recomputing and publishing,
 *              with 10 ... 10k registered workers; PING and STATUS
 *              round trips;
 *   6 reclaim  kill -9 of a holder while another process is blocked in
 *              cb_reserve() on the same one-unit pool: time until the
 *              waiter holds the unit.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "capbench.h"
#include "capbroker.h"
#include "client_internal.h"
#include "clock.h"
#include "seqlock.h"
#include "segment.h"
#include "slots.h"
#include "snapshot.h"
#include "tier.h"

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Percentiles of n samples in ns, sorted in place; results in us. */
static struct lat percentiles(uint64_t *v, int n)
{
	struct lat l = { .samples = n };

	if (n == 0)
		return l;
	qsort(v, (size_t)n, sizeof(*v), cmp_u64);
	l.p50 = (double)v[(n - 1) / 2] / 1e3;
	l.p99 = (double)v[(int)((double)(n - 1) * 0.99 + 0.5)] / 1e3;
	l.max = (double)v[n - 1] / 1e3;
	return l;
}

/* ----------------------------------------------------------------- */
/* Section 4: watch wake latency. */

/* One watch section's buffers; wake_at is shared with the subscribers. */
struct watch_run {
	const char *name;	/* the broker's instance */
	int rounds;		/* publications per subscriber count */
	uint64_t *wake_at;	/* shared: [subscriber * rounds + round] */
	uint64_t *pub;		/* published_ns of each round */
	uint64_t *lat;		/* wake-up latencies, all subscribers */
	cb_client *pc;		/* the parent's read-only client */
	unsigned toggle;	/* the next OVERRIDE's low bit */
};

static void watch_child(int idx, struct group *g, const struct watch_run *w)
{
	struct slot *s = &g->r[idx];
	uint32_t gen = 0;
	cb_client *c;
	int r;

	if ((r = cb_open(&c, w->name, 0)) < 0) {
		s->err = r;
		snprintf(s->msg, sizeof(s->msg), "cb_open: %s",
		    cb_open_errmsg());
		atomic_fetch_add(&g->ready, 1);
		return;
	}
	cb_watch(c, &gen, 0);		/* the latest generation */
	for (int k = 0; k < w->rounds; k++) {
		atomic_fetch_add_explicit(&g->ready, 1, memory_order_release);
		r = cb_watch(c, &gen, 5000);
		w->wake_at[idx * w->rounds + k] = cb_realtime_ns();
		if (r < 0) {
			s->err = r;
			snprintf(s->msg, sizeof(s->msg), "cb_watch: %s",
			    cb_errmsg(c));
			break;
		}
		atomic_fetch_add_explicit(&g->woke, 1, memory_order_release);
	}
	cb_close(c);
}

/* published_ns of generation gen (the broker answered after publishing
 * it, so it is there unless a later publication replaced it). */
static uint64_t published_at(cb_client *pc, uint32_t gen)
{
	struct cb_info in;

	for (int tries = 0; tries < 1000; tries++) {
		if (cb_snapshot_info(cb_client_state(pc), &in) == 0 &&
		    in.generation == gen)
			return in.published_ns;
		sleep_us(10);
	}
	return 0;
}

/* Trigger one publication per round for n subscribers; wake-ups are
 * collected after. */
static int watch_rounds(struct bench *b, struct watch_run *w, int n)
{
	const struct cb_slots_hot *hot = cb_slots_hot(
	    cb_client_slots(w->pc));
	struct group *g = b->procs.group;
	char reply[256];
	const char *gs;

	for (int k = 0; k < w->rounds; k++) {
		if (wait_at_least(&g->ready, n * (k + 1), 5000) < 0)
			return -ETIMEDOUT;
		/* Let every subscriber get to sleep in the futex. */
		for (int i = 0; i < 1000 && atomic_load(&hot->watch_waiters) <
		    (uint32_t)n; i++)
			sleep_us(100);
		sleep_us(500);
		/* Alternate across calls too: every OVERRIDE must change the
		 * capacity, or nothing is published. */
		if (ctl(&b->peers, reply, sizeof(reply), "OVERRIDE %d", 60000 +
		    (int)(w->toggle++ & 1)) < 0 ||
		    (gs = strstr(reply, "generation=")) == NULL)
			return -EPROTO;
		w->pub[k] = published_at(w->pc, (uint32_t)strtoul(gs + 11,
		    NULL, 10));
		if (w->pub[k] == 0 || wait_at_least(&g->woke, n * (k + 1),
		    6000) < 0)
			return -ETIMEDOUT;
	}
	return 0;
}

/* n subscribers for w->rounds publications; latencies into *out. */
static int watch_count(struct bench *b, struct watch_run *w, int n,
    struct lat *out)
{
	struct group *g = b->procs.group;
	pid_t pids[MAX_PROCS];
	int m = 0, r;

	memset(g, 0, sizeof(*g));
	for (int i = 0; i < n; i++)
		if ((pids[i] = fork_kid(&b->procs, SIGKILL)) == 0) {
			watch_child(i, g, w);
			_exit(0);
		}
	r = watch_rounds(b, w, n);
	for (int i = 0; i < n; i++)
		reap(&b->procs, pids[i], cb_monotonic_ns() + 10000000000ull);
	for (int i = 0; i < n && r == 0; i++)
		r = g->r[i].err;
	if (r < 0)
		return r;
	for (int i = 0; i < n; i++)
		for (int k = 0; k < w->rounds; k++) {
			uint64_t t = w->wake_at[i * w->rounds + k];

			w->lat[m++] = t > w->pub[k] ? t - w->pub[k] : 0;
		}
	*out = percentiles(w->lat, m);
	return 0;
}

void section_watch(struct bench *b, struct bench_results *res)
{
	const struct bench_opts *opt = b->opt;
	size_t len = sizeof(uint64_t) * (size_t)opt->watch_rounds;
	struct watch_run w = { .name = b->peers.name,
	    .rounds = opt->watch_rounds, .pub = malloc(len) };
	const struct group *g = b->procs.group;

	w.wake_at = shared_alloc(len * MAX_PROCS);
	w.lat = malloc(len * MAX_PROCS);
	if (!w.pub || !w.wake_at || !w.lat || cb_open(&w.pc, b->peers.name,
	    CB_OPEN_RDONLY) < 0) {
		set_why(&res->sec[S_WATCH], ST_FAILED, "set-up failed");
		goto out;
	}
	for (int ci = 0; ci < opt->ncounts; ci++) {
		int n = opt->counts[ci];
		int r = watch_count(b, &w, n, &res->watch[ci]);

		if (r < 0) {
			set_why(&res->sec[S_WATCH], ST_FAILED, "%d subscribers: "
			    "%s", n, g->r[0].err ? g->r[0].msg : strerror(-r));
			goto out;
		}
	}
	res->sec[S_WATCH].st = ST_OK;
out:
	cb_close(w.pc);
	free(w.pub);
	free(w.lat);
	if (w.wake_at)
		munmap(w.wake_at, len * MAX_PROCS);
}

/* ----------------------------------------------------------------- */
/* Section 5: recompute + publish, control verbs. */

/* Median round trip (us) of -iters requests; p99 too if asked. */
static int rtt(struct bench *b, const char *what, int vary, double *p50,
    double *p99)
{
	int iters = b->opt->iters;
	uint64_t *v = malloc(sizeof(*v) * (size_t)iters);
	struct lat l;
	int r = 0;

	if (v == NULL)
		return -ENOMEM;
	for (int k = 0; k < iters && r == 0; k++) {
		uint64_t t0 = cb_monotonic_ns();

		/* vary: worker 0's max_running alternates, so capacity
		 * changes and the whole publish path runs every time. */
		r = vary ? ctl(&b->peers, NULL, 0, "WORKER SET bw00000 ready "
		    "%d", 9 + (k & 1)) : ctl(&b->peers, NULL, 0, "%s", what);
		v[k] = cb_monotonic_ns() - t0;
	}
	l = percentiles(v, iters);
	free(v);
	*p50 = l.p50;
	if (p99)
		*p99 = l.p99;
	return r;
}

/*
 * What publish() does per worker, in-process: cb_tier_compute() over n
 * workers and the seqlock copy of n records into a table.  The daemon
 * cannot hold 10k workers (CB_MAX_WORKERS), so this is the 10k figure;
 * it leaves out the registry walk, which the 1024-worker round trip
 * measures.
 */
static double model_us(int n)
{
	struct cb_tier_worker *tw = calloc((size_t)n, sizeof(*tw));
	struct cb_worker_rec *src = calloc((size_t)n, sizeof(*src));
	struct cb_worker_rec *dst = calloc((size_t)n, sizeof(*dst));
	struct cb_tier_settings set = { 0, 64, 1024 };
	struct cb_tier_result res;
	double best = 0;

	if (!tw || !src || !dst)
		goto out;
	for (int i = 0; i < n; i++) {
		snprintf(src[i].id, sizeof(src[i].id), "bw%05d", i);
		src[i].state = CB_WORKER_READY;
		src[i].max_running = 8;
	}
	for (int rep = 0; rep < 50; rep++) {
		uint64_t t0 = cb_monotonic_ns();
		double us;

		for (int i = 0; i < n; i++) {
			tw[i].state = src[i].state;
			tw[i].max_running = src[i].max_running;
		}
		cb_tier_compute(&set, tw, (size_t)n, &res);
		for (int i = 0; i < n; i++)
			cb_seq_copy_in(&dst[i], &src[i], sizeof(src[i]));
		us = (double)(cb_monotonic_ns() - t0) / 1e3;
		if (best == 0 || us < best)
			best = us;
	}
out:
	free(tw);
	free(src);
	free(dst);
	return best;
}

/* Register workers until *have reaches want or the broker is full
 * (ERR ENOSPC).  Returns 0, or -errno with the reply in reply. */
static int publish_register(struct bench *b, int *have, int want,
    char *reply, size_t cap)
{
	while (*have < want) {
		int r = ctl(&b->peers, reply, cap, "WORKER SET bw%05d ready 8",
		    *have);

		if (r == -ENOSPC)
			break;
		if (r < 0)
			return r;
		(*have)++;
	}
	return 0;
}

/* One row of section 5's table: round trips with row->have workers. */
static int publish_row(struct bench *b, struct pub_row *row)
{
	if (rtt(b, NULL, 1, &row->set_p50, &row->set_p99) < 0 ||
	    rtt(b, "PING", 0, &row->ping_p50, NULL) < 0)
		return -1;
	row->bound = row->set_p50 - row->ping_p50;
	row->model = model_us(row->want);
	return 0;
}

void section_publish(struct bench *b, struct bench_results *res)
{
	static const int full[] = { 10, 100, 1000, 10000 };
	static const int smoke[] = { 10, 100 };
	struct section_result *sec = &res->sec[S_PUBLISH];
	const int *sizes = b->opt->smoke ? smoke : full;
	int nsizes = b->opt->smoke ? 2 : 4, have = 0;
	char reply[256];

	/* Derive the capacity from the workers again. */
	if (ctl(&b->peers, reply, sizeof(reply), "OVERRIDE 0") < 0) {
		set_why(sec, ST_FAILED, "OVERRIDE 0: %s", reply);
		return;
	}
	for (int si = 0; si < nsizes; si++) {
		struct pub_row *row = &res->pub[res->npub++];

		row->want = sizes[si];
		if (publish_register(b, &have, row->want, reply,
		    sizeof(reply)) < 0) {
			set_why(sec, ST_FAILED, "WORKER SET: %s", reply);
			return;
		}
		row->have = have;
		if (publish_row(b, row) < 0) {
			set_why(sec, ST_FAILED, "round trips failed");
			return;
		}
		if (si == 0) {
			res->verb_ping = row->ping_p50;
			res->verb_set = row->set_p50;
			if (rtt(b, "STATUS", 0, &res->verb_status, NULL) < 0) {
				set_why(sec, ST_FAILED, "STATUS failed");
				return;
			}
		}
	}
	sec->st = ST_OK;
	if (have < sizes[nsizes - 1])
		snprintf(sec->why, sizeof(sec->why), "the broker registers at "
		    "most %d workers (CB_MAX_WORKERS; ERR ENOSPC beyond): rows "
		    "above it are measured with %d", have, have);
}

/* ----------------------------------------------------------------- */
/* Section 6: reclaim. */

/* The holder: take the only unit and wait for kill -9. */
static __attribute__((noreturn)) void reclaim_holder(struct group *g,
    struct slot *s, cb_client *c, const struct cb_request *req)
{
	cb_ticket t;
	int r = cb_reserve(c, req, &t, NULL);

	if (r < 0) {
		s->err = r;
		snprintf(s->msg, sizeof(s->msg), "holder: %s", cb_errmsg(c));
	}
	atomic_fetch_add(&g->ready, 1);
	for (;;)
		pause();
}

static void reclaim_child(int idx, struct group *g, const char *name)
{
	struct slot *s = &g->r[idx];
	struct cb_request req = { .kind = CB_HOLD };
	cb_client *c;
	cb_ticket t;
	int r;

	if ((r = cb_open(&c, name, 0)) < 0 ||
	    (r = req.pool = cb_pool(c, "bench_reclaim")) < 0) {
		s->err = r < 0 ? r : -EINVAL;
		snprintf(s->msg, sizeof(s->msg), "set-up: %s", cb_strerror(r));
		atomic_fetch_add(&g->ready, 1);
		return;
	}
	if (idx == 0)
		reclaim_holder(g, s, c, &req);
	/* The waiter: blocked until the broker reclaims the unit. */
	req.timeout_ms = 10000;
	atomic_fetch_add(&g->ready, 1);
	r = cb_reserve(c, &req, &t, NULL);
	s->ns = cb_monotonic_ns();
	if (r < 0) {
		s->err = r;
		snprintf(s->msg, sizeof(s->msg), "waiter: %s", cb_errmsg(c));
	} else {
		cb_release(c, &t);
	}
	cb_close(c);
}

static pid_t reclaim_fork(struct bench *b, int idx)
{
	pid_t pid = fork_kid(&b->procs, SIGKILL);

	if (pid == 0) {
		reclaim_child(idx, b->procs.group, b->peers.name);
		_exit(0);
	}
	return pid;
}

static int reclaim_round(struct bench *b, uint64_t *lat)
{
	struct group *g = b->procs.group;
	pid_t holder, waiter;
	uint64_t t0;
	int r;

	memset(g, 0, sizeof(*g));
	holder = reclaim_fork(b, 0);
	if (wait_at_least(&g->ready, 1, READY_WAIT_MS) < 0 || g->r[0].err) {
		reap(&b->procs, holder, 0);
		return g->r[0].err ? g->r[0].err : -ETIMEDOUT;
	}
	waiter = reclaim_fork(b, 1);
	r = wait_at_least(&g->ready, 2, READY_WAIT_MS);
	sleep_us(20000);	/* the waiter is asleep in the futex by now */
	t0 = cb_monotonic_ns();
	kill(holder, SIGKILL);
	reap(&b->procs, holder, cb_monotonic_ns() + 5000000000ull);
	reap(&b->procs, waiter, cb_monotonic_ns() + 15000000000ull);
	if (r == 0)
		r = g->r[1].err;
	if (r == 0 && g->r[1].ns == 0)
		r = -ETIMEDOUT;
	*lat = r == 0 && g->r[1].ns > t0 ? g->r[1].ns - t0 : 0;
	return r;
}

void section_reclaim(struct bench *b, struct bench_results *res)
{
	int rounds = b->opt->reclaim_rounds;
	uint64_t *lat = calloc((size_t)rounds, sizeof(*lat));
	const struct group *g = b->procs.group;
	char reply[256];
	int r = 0;

	if (lat == NULL || ctl(&b->peers, reply, sizeof(reply),
	    "POOL SET bench_reclaim limit=1") < 0) {
		set_why(&res->sec[S_RECLAIM], ST_FAILED, "set-up failed");
		free(lat);
		return;
	}
	for (int k = 0; k < rounds && r == 0; k++)
		r = reclaim_round(b, &lat[k]);
	if (r < 0)
		set_why(&res->sec[S_RECLAIM], ST_FAILED, "%s", g->r[1].err ?
		    g->r[1].msg : g->r[0].err ? g->r[0].msg : strerror(-r));
	else {
		res->reclaim = percentiles(lat, rounds);
		res->sec[S_RECLAIM].st = ST_OK;
	}
	free(lat);
}
