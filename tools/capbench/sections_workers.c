/*
 * sections_workers.c - the sections that time a group of worker
 * processes, once per process count (1, 2, 4, ... -P):
 *
 *   1 read     ns per read of the capacity: the state word through
 *              cb_state_word() + cb_state_load(), and cb_current(), next
 *              to a raw acquire load of a shared word and a one-load
 *              function called through a shared library;
 *   2 hold     reserve + release pairs: cb_reserve(CB_HOLD, timeout 0) +
 *              cb_release against a process-shared POSIX semaphore
 *              (sem_trywait + sem_post), a SysV semaphore with SEM_UNDO,
 *              a counter under flock(2), and a Redis semaphore (the
 *              usual sorted-set lease in a Lua script, on a redis-server
 *              capbench starts on a private unix socket);
 *   3 launch   launch pairs (CB_LAUNCH) next to hold pairs;
 *   7 contention  a pool whose limit is half the processes: throughput
 *              and fairness (max/min pairs per process), next to a POSIX
 *              semaphore with the same limit.
 *
 * The limit is never reached in sections 2 and 3 (capacity 65535,
 * semaphores at SEM_LIMIT), so nobody spins on refusals.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "capbench.h"
#include "capbroker.h"
#include "clock.h"

const char *const section_name[S_COUNT] = {
	"read", "hold", "launch", "watch", "publish", "reclaim", "contention",
};

void set_why(struct section_result *s, enum status st, const char *fmt, ...)
{
	va_list ap;

	s->st = st;
	va_start(ap, fmt);
	vsnprintf(s->why, sizeof(s->why), fmt, ap);
	va_end(ap);
}

/* ----------------------------------------------------------------- */
/* Section 1: reads. */

typedef unsigned current_fn(const cb_client *);
typedef unsigned oneload_fn(const uint64_t *);

/* What a reader calls, all through pointers from dlsym(). */
struct read_fns {
	void (*close_fn)(cb_client *);
	current_fn *cur;
	oneload_fn *load;
	cb_client *c;
	const uint64_t *w;		/* the client's state word */
};

/* The loops are not inlined into each other, and each sums what it
 * reads, so the compiler can neither drop nor merge the loads. */
static __attribute__((noinline)) uint64_t loop_raw(const uint64_t *w, long n)
{
	uint64_t s = 0;

	for (long i = 0; i < n; i++)
		s += __atomic_load_n(w, __ATOMIC_ACQUIRE) & 0xffffu;
	return s;
}

static __attribute__((noinline)) uint64_t loop_word(const uint64_t *w, long n)
{
	uint64_t s = 0;

	for (long i = 0; i < n; i++)
		s += CB_STATE_CAPACITY(cb_state_load(w));
	return s;
}

static __attribute__((noinline)) uint64_t loop_oneload(oneload_fn *f,
    const uint64_t *w, long n)
{
	uint64_t s = 0;

	for (long i = 0; i < n; i++)
		s += f(w);
	return s;
}

static __attribute__((noinline)) uint64_t loop_current(current_fn *f,
    const cb_client *c, long n)
{
	uint64_t s = 0;

	for (long i = 0; i < n; i++)
		s += f(c);
	return s;
}

/*
 * Both shared libraries are dlopen()ed and called through pointers from
 * dlsym(): cb_current() and the yardstick pay the same kind of call.
 * Returns 0, or -ENOENT with a message in s.
 */
static int read_open(const struct bench *b, struct read_fns *f,
    struct slot *s)
{
	void *lib = dlopen(b->peers.lib_cb, RTLD_NOW | RTLD_LOCAL);
	void *one = dlopen(b->peers.lib_one, RTLD_NOW | RTLD_LOCAL);
	int (*open_fn)(cb_client **, const char *, unsigned);
	const uint64_t *(*word_fn)(const cb_client *);

	if (lib == NULL || one == NULL) {
		snprintf(s->msg, sizeof(s->msg), "dlopen: %s", dlerror());
		return -ENOENT;
	}
	open_fn = (int (*)(cb_client **, const char *, unsigned))dlsym(lib,
	    "cb_open");
	f->close_fn = (void (*)(cb_client *))dlsym(lib, "cb_close");
	word_fn = (const uint64_t *(*)(const cb_client *))dlsym(lib,
	    "cb_state_word");
	f->cur = (current_fn *)dlsym(lib, "cb_current");
	f->load = (oneload_fn *)dlsym(one, "cbbench_oneload");
	if (!open_fn || !f->close_fn || !word_fn || !f->cur || !f->load ||
	    open_fn(&f->c, b->peers.name, CB_OPEN_RDONLY) < 0) {
		snprintf(s->msg, sizeof(s->msg), "libcapbroker.so: cb_open or "
		    "a symbol failed");
		return -ENOENT;
	}
	f->w = word_fn(f->c);
	return 0;
}

/* The four loops, best of -r each, ns per read into best[]. */
static void read_best(const struct bench *b, const struct read_fns *f,
    double best[4])
{
	const uint64_t *raw = (const uint64_t *)b->prims.raw_word;
	long reads = b->opt->reads;
	volatile uint64_t sink = 0;

	for (int rep = 0; rep < b->opt->reps; rep++) {
		for (int v = 0; v < 4; v++) {
			uint64_t t0 = cb_monotonic_ns(), sum;
			double ns;

			sum = v == 0 ? loop_raw(raw, reads) :
			    v == 1 ? loop_word(f->w, reads) :
			    v == 2 ? loop_oneload(f->load, raw, reads) :
			    loop_current(f->cur, f->c, reads);
			ns = (double)(cb_monotonic_ns() - t0) / (double)reads;
			sink += sum;
			if (best[v] == 0 || ns < best[v])
				best[v] = ns;
		}
	}
}

static void read_child(int idx, struct group *g, void *arg)
{
	const struct bench *b = arg;
	struct slot *s = &g->r[idx];
	struct read_fns f = { .c = NULL };
	double best[4] = { 0, 0, 0, 0 };

	if ((s->err = read_open(b, &f, s)) < 0) {
		child_ready(g);
		return;
	}
	child_ready(g);
	read_best(b, &f, best);
	memcpy(s->val, best, sizeof(best));
	f.close_fn(f.c);
}

void section_read(struct bench *b, struct bench_results *res)
{
	const struct bench_opts *opt = b->opt;

	for (int ci = 0; ci < opt->ncounts; ci++) {
		int procs = opt->counts[ci];
		struct read_row *row = &res->read[ci];
		const struct group *g = b->procs.group;

		if (run_group(&b->procs, read_child, b, procs, -1) < 0) {
			set_why(&res->sec[S_READ], ST_FAILED, "%s",
			    b->procs.err);
			return;
		}
		for (int i = 0; i < procs; i++) {
			row->raw += g->r[i].val[0] / procs;
			row->word += g->r[i].val[1] / procs;
			row->oneload += g->r[i].val[2] / procs;
			row->current += g->r[i].val[3] / procs;
		}
	}
	res->sec[S_READ].st = ST_OK;
}

/* ----------------------------------------------------------------- */
/* Sections 2, 3 and 7: throughput. */

/* What the global pool's pair may cost more than the local one's: one
 * coarse clock read (issue 15), ns, best of 5 runs of 1M reads. */
static double coarse_read_ns(void)
{
	double best = 0;

	for (int r = 0; r < 5; r++) {
		struct timespec ts;
		uint64_t t0 = cb_monotonic_ns(), t;

		for (int i = 0; i < 1000000; i++)
			clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
		t = cb_monotonic_ns() - t0;
		if (r == 0 || t / 1e6 < best)
			best = (double)t / 1e6;
	}
	return best;
}

/*
 * M_CB_GLOBAL: two fixed pools with room for every process, one made
 * global (POOL SET ... global: the broker is a cluster of one on
 * capbench's etcd, etcd.c, and gives it all of its limit); at each
 * count the local one's run, then the global one's.  Afterwards the
 * global one must still have its share, or its figures would not be a
 * global pool's.  0, or -1 with sec failed.
 */
static int hold_global(struct bench *b, struct bench_results *res,
    struct section_result *sec)
{
	const struct bench_opts *opt = b->opt;
	struct method_arg g = { .meth = M_CB_GLOBAL, .kind = CB_HOLD,
	    .pool = GLOBAL_POOL, .peers = &b->peers, .prims = &b->prims };
	struct method_arg l = g;
	char reply[256];

	l.meth = M_CB;
	l.pool = LOCAL_POOL;
	if (ctl(&b->peers, reply, sizeof(reply), "POOL SET " LOCAL_POOL
	    " limit=%d", MAX_PROCS) < 0 || ctl(&b->peers, reply,
	    sizeof(reply), "POOL SET " GLOBAL_POOL " limit=%d global",
	    MAX_PROCS) < 0) {
		set_why(sec, ST_FAILED, "POOL SET: %s", reply);
		return -1;
	}
	if (pool_global_ready(&b->peers, GLOBAL_POOL, MAX_PROCS, 20000, reply,
	    sizeof(reply)) < 0)
		goto failed;
	for (int ci = 0; ci < opt->ncounts; ci++)
		if (measure(b, &l, opt->counts[ci], &res->hold_local[ci]) < 0 ||
		    measure(b, &g, opt->counts[ci],
		    &res->hold[M_CB_GLOBAL][ci]) < 0) {
			set_why(sec, ST_FAILED, "%s: %s",
			    method_name[M_CB_GLOBAL], b->procs.err);
			return -1;
		}
	res->coarse_read_ns = coarse_read_ns();
	if (pool_global_ready(&b->peers, GLOBAL_POOL, MAX_PROCS, 0, reply,
	    sizeof(reply)) == 0)
		return 0;
failed:
	set_why(sec, ST_FAILED, "%s: %s", method_name[M_CB_GLOBAL], reply);
	return -1;
}

void section_hold(struct bench *b, struct bench_results *res)
{
	const struct bench_opts *opt = b->opt;
	struct section_result *sec = &res->sec[S_HOLD];

	for (int m = 0; m < M_COUNT; m++) {
		struct method_arg a = { .meth = (enum method)m, .kind = CB_HOLD,
		    .pool = "default", .limit = SEM_LIMIT,
		    .peers = &b->peers, .prims = &b->prims };

		if ((m == M_REDIS && !b->peers.redis_ok) ||
		    (m == M_CB_GLOBAL && !b->peers.etcd_ok) ||
		    !(opt->methods & (1u << m)))
			continue;
		if (m == M_CB_GLOBAL) {
			if (hold_global(b, res, sec) < 0)
				return;
			continue;
		}
		for (int ci = 0; ci < opt->ncounts; ci++)
			if (measure(b, &a, opt->counts[ci],
			    &res->hold[m][ci]) < 0) {
				set_why(sec, ST_FAILED, "%s: %s",
				    method_name[m], b->procs.err);
				return;
			}
	}
	sec->st = ST_OK;
	if (!b->peers.redis_ok)
		bfmt(sec->why, sizeof(sec->why), "redis skipped: %s",
		    b->peers.redis_why);
	if ((opt->methods & (1u << M_CB_GLOBAL)) && !b->peers.etcd_ok)
		bfmt(sec->why + strlen(sec->why), sizeof(sec->why) -
		    strlen(sec->why), "%scapbroker_global skipped: %s",
		    sec->why[0] ? "; " : "", b->peers.etcd_why);
}

void section_launch(struct bench *b, struct bench_results *res)
{
	const struct bench_opts *opt = b->opt;
	struct method_arg a = { .meth = M_CB, .kind = CB_LAUNCH,
	    .pool = "default", .peers = &b->peers, .prims = &b->prims };

	for (int ci = 0; ci < opt->ncounts; ci++)
		if (measure(b, &a, opt->counts[ci], &res->launch[ci]) < 0) {
			set_why(&res->sec[S_LAUNCH], ST_FAILED, "%s",
			    b->procs.err);
			return;
		}
	res->sec[S_LAUNCH].st = ST_OK;
}

void section_contend(struct bench *b, struct bench_results *res)
{
	const struct bench_opts *opt = b->opt;
	struct section_result *sec = &res->sec[S_CONTEND];
	char reply[256];

	for (int ci = 0; ci < opt->ncounts; ci++) {
		int procs = opt->counts[ci], limit = procs / 2 ? procs / 2 : 1;
		struct method_arg cb = { .meth = M_CB, .kind = CB_HOLD,
		    .pool = "bench_contend", .timeout_ms = 1000,
		    .hold_ns = CONTEND_HOLD_NS, .think_ns = CONTEND_THINK_NS,
		    .peers = &b->peers, .prims = &b->prims };
		struct method_arg px = cb;

		px.meth = M_POSIX;
		px.limit = limit;
		res->contend_limit[ci] = limit;
		if (ctl(&b->peers, reply, sizeof(reply),
		    "POOL SET bench_contend limit=%d", limit) < 0) {
			set_why(sec, ST_FAILED, "POOL SET: %s", reply);
			return;
		}
		if (measure(b, &cb, procs, &res->contend[0][ci]) < 0 ||
		    measure(b, &px, procs, &res->contend[1][ci]) < 0) {
			set_why(sec, ST_FAILED, "%s", b->procs.err);
			return;
		}
	}
	sec->st = ST_OK;
}
