/*
 * control.c - control socket and request handlers (see control.h).
 *
 * Everything here runs on the main thread: the connection list, the
 * counts and every buffer below have that one writer and reader, so no
 * field needs an atomic.  The only shared words are the pressure
 * counters in the state segment's header (publish_pressure()).
 *
 * What one peer may cost (docs/OPERATIONS.md, "Control-socket limits"):
 *
 *   output   a connection whose queued replies reach OUT_HIGH is not
 *            read (EPOLLIN off; lines already read wait) until they
 *            drain; one reply may overshoot the mark, never OUT_MAX.
 *            While all connections together queue OUT_TOTAL_MAX or
 *            more, the listing verbs (WORKER LIST, POOL LIST, STATUS)
 *            of non-admin peers get EAGAIN instead of a reply.  A
 *            connection whose queued output makes no progress for
 *            CUT_MS is cut.  So buffered output stays under about
 *            OUT_TOTAL_MAX + CONN_MAX * (OUT_HIGH + one small reply)
 *            plus one listing, whatever the peers do.
 *
 *   time     a connection that has not said HELLO must complete a
 *            request line within CUT_MS of connecting and of its
 *            previous line; a registered one (HELLO: its connection is
 *            its death notice, kept for the client's life) and an
 *            admin peer's (trusted, and within CONN_MAX: capbench keeps
 *            one across its sections) only once it has started a line
 *            (conn_may_idle()).  Else it is cut.
 *
 *   slots    CONN_MAX connections in all.  Registered ones are bounded
 *            by the client table (one connection per entry, HELLO
 *            refuses a second).  Of the others, a non-admin uid may
 *            hold UID_PENDING_MAX at once -- they last only until
 *            HELLO or the reply, so a gateway of many workers under one
 *            uid is not capped by it -- and the last ADMIN_RESERVE
 *            slots are for admin peers (is_admin()) only.  A
 *            connection over a limit is accepted and closed at once,
 *            and counted (capdump's refused), never waited on.
 *
 *   fds      start-up raises RLIMIT_NOFILE's soft limit to the hard
 *            one.  When accept4() fails for want of descriptors
 *            (EMFILE, ENFILE) the listener is no longer watched, so
 *            the level-triggered loop does not spin on it: it is
 *            watched again when a connection closes or at the next
 *            tick.  One descriptor is kept in reserve (spare_fd): when
 *            out of them, it is given up to accept what waits, one at a
 *            time -- an admin peer is served on it (capctl answers;
 *            its HELLO is refused, which would keep it), everyone else
 *            is closed at once (counted) -- and taken back after.  A
 *            shortage is logged once when it starts and once, with the
 *            count, when descriptors are free again.
 */
#include "control.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/queue.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <unistd.h>

#include <bsd/string.h>
#include <urcu.h>

#include "broker.h"
#include "capbroker.h"
#include "clock.h"
#include "log.h"
#include "proto.h"
#include "reserve.h"
#include "segment.h"
#include "slots.h"
#include "snapshot.h"
#include "tier.h"

#define CONN_MAX 4096
#define OUT_MAX (1u << 20)      /* a reader this far behind is dropped */
#define OUT_HIGH (16u << 10)    /* queued this much: stop reading it */
#define OUT_TOTAL_MAX (16u << 20) /* all queues: listings refused */
#define TICK_MS 250             /* the control tick (deadlines) */
#define CUT_MS 10000            /* stalled output, idle or slow line */
#define ADMIN_RESERVE 16        /* the last slots: admin peers only */
#define UID_PENDING_MAX 256     /* per non-admin uid, before HELLO */
#define LOG_EVERY_MS 10000      /* refusals: one summary line per */
#define PUBLISH_TICKS 4         /* pressure counters: every 4th tick */
#define SHED_MAX 64             /* out of fds: at most this many shed a go */
/* Descriptors a full broker can use: a connection and a pidfd per
 * client, the other connections, and its own (segments, epoll, ...). */
#define FDS_WANTED (2 * CB_MAX_CLIENTS + (CONN_MAX - CB_MAX_CLIENTS) + 64)
#define PUBLISH_WAIT_MS 2000

struct conn {
	struct cb_pollable poll;
	int fd;
	struct ucred cred;
	size_t inlen;
	char in[CB_PROTO_LINE_MAX];
	char *out;
	size_t outlen, outcap;
	int epfd;
	int admin;               /* is_admin(), decided at accept */
	int closing;             /* flush what is queued, then close */
	int spare;               /* on the reserve descriptor: no HELLO */
	uint64_t drained_ns;     /* output last empty or last progressed */
	uint64_t line_ns;        /* CUT_MS counts from here */
	int client;              /* HELLO: client-table index, else -1 */
	uint64_t owner;          /* HELLO: its owner word */
	uint64_t id;             /* names it to the cluster's launch thread */
	int pending;             /* a LAUNCH/UNLAUNCH awaits its answer: no
	                            more lines are read until it comes */
	LIST_ENTRY(conn) link;
};

static LIST_HEAD(, conn) conns = LIST_HEAD_INITIALIZER(conns);
static unsigned nconns;
static unsigned nregistered;    /* connections that sent HELLO */
static size_t out_total;        /* sum of every connection's outlen */
static uint64_t ncut;           /* connections cut: stalled, timed out */
static uint64_t nrefused;       /* connections closed at accept */
/* HELLO: the connection watching each client entry, one at most. */
static struct conn *watching[CB_MAX_CLIENTS];
/* Connections before HELLO of each non-admin uid (few uids: a list). */
static struct uid_pending {
	uid_t uid;
	unsigned n;
} *pending;
static size_t npending_uids;
/*
 * An event logged without flooding: the first of a quiet period at
 * once (log_now()), the rest counted and summed up in one line per
 * LOG_EVERY_MS by the tick (summary_due()).  Main thread only.
 */
struct log_limit {
	uint64_t unlogged;      /* events since the last line */
	uint64_t logged_ns;     /* the last line, 0: none yet */
};

/* Connections refused, and changes refused to non-admin peers
 * (log_denied()), with the latest refused peer. */
static struct log_limit refused_log, denied_log;
static uid_t denied_last_uid;
static pid_t denied_last_pid;
static int denied_last_verb;
/* Out of descriptors: the reserve one, and the run of failures. */
static int spare_fd = -1;
static int listen_fd = -1, listen_epfd = -1;
static int accept_paused;       /* the listener is not watched */
static uint64_t starved_ns;     /* 0, or when the run began */
static uint64_t starved_last_ns; /* the run's latest failure */
static uint64_t starved_refused; /* connections shed during the run */
static rlim_t fd_limit;         /* RLIMIT_NOFILE soft, after raising */
static struct cb_pollable listen_poll = { CB_POLL_LISTEN };
/* The tick's timerfd comes back through cb_control_io() (control.h). */
static struct cb_pollable tick_poll = { CB_POLL_CONN };
static int tick_fd = -1;
/* The cluster's launch answers (cluster.h): its eventfd, in our set. */
static struct cb_pollable done_poll = { CB_POLL_CONN };
static uint64_t next_conn_id;

/* Keep one descriptor in reserve, if we can (see the top). */
static void spare_take(void)
{
	if (spare_fd < 0)
		spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

/* Watch the listener again after a shortage (a descriptor freed, or a
 * tick passed); the next accept says whether it is over. */
static void accept_resume(void)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &listen_poll };

	if (!accept_paused || listen_epfd < 0)
		return;
	accept_paused = 0;
	epoll_ctl(listen_epfd, EPOLL_CTL_MOD, listen_fd, &ev);
}

/* The pending count of uid after adding delta (0, +1 or -1). */
static unsigned uid_pending_add(uid_t uid, int delta)
{
	struct uid_pending *p;
	size_t i;

	for (i = 0; i < npending_uids && pending[i].uid != uid; i++)
		;
	if (i == npending_uids) {
		if (delta <= 0)
			return 0;
		p = reallocarray(pending, npending_uids + 1, sizeof(*p));
		if (p == NULL)
			return UID_PENDING_MAX;   /* refuse: no room to count */
		pending = p;
		pending[npending_uids++] = (struct uid_pending){ uid, 0 };
	}
	pending[i].n += (unsigned)delta;
	if (pending[i].n > 0)
		return pending[i].n;
	pending[i] = pending[--npending_uids];
	return 0;
}

/* c leaves the pending set: it said HELLO, or it closes. */
static void conn_unpend(struct conn *c)
{
	if (!c->admin && c->client < 0)
		uid_pending_add(c->cred.uid, -1);
}

static void conn_free(struct cb_broker *b, struct conn *c)
{
	conn_unpend(c);
	/* A registered client's connection closing is a death notice. */
	if (c->client >= 0) {
		nregistered--;
		watching[c->client] = NULL;
		if (b != NULL)
			cb_sweeper_check(b, (uint32_t)c->client, c->owner);
	}
	LIST_REMOVE(c, link);
	nconns--;
	out_total -= c->outlen;
	close(c->fd);             /* also leaves the epoll set */
	free(c->out);
	free(c);
	/* A descriptor is free: the reserve first, then the listener. */
	spare_take();
	accept_resume();
}

/* Every change of a queue's length goes through here: out_total and the
 * stall clock follow it. */
static void out_set_len(struct conn *c, size_t len)
{
	if (c->outlen == 0 || len < c->outlen)
		c->drained_ns = cb_monotonic_ns();
	out_total = out_total - c->outlen + len;
	c->outlen = len;
}

/* Whether c may stay quiet between lines (see the top): a registered
 * client, or an admin peer -- not on the reserve descriptor, which it
 * would keep from the next admin. */
static int conn_may_idle(const struct conn *c)
{
	return c->client >= 0 || (c->admin && !c->spare);
}

/* Whether the next request line of c may be handled now. */
static int conn_may_read(const struct conn *c)
{
	return !c->closing && !c->pending && c->outlen < OUT_HIGH;
}

static int out_reserve(struct conn *c, size_t more)
{
	size_t cap = c->outcap ? c->outcap : 256;
	char *p;

	if (c->outlen + more > OUT_MAX)
		return -1;
	while (cap < c->outlen + more)
		cap *= 2;
	if (cap == c->outcap)
		return 0;
	p = realloc(c->out, cap);
	if (p == NULL)
		return -1;
	c->out = p;
	c->outcap = cap;
	return 0;
}

static void out_vprintf(struct conn *c, const char *fmt, va_list ap)
{
	char line[CB_PROTO_LINE_MAX + 64];
	int n = vsnprintf(line, sizeof(line) - 1, fmt, ap);

	if (n < 0)
		return;
	if ((size_t)n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	if (out_reserve(c, (size_t)n) < 0) {
		c->closing = 1;     /* not reading its replies: drop it */
		out_set_len(c, 0);
		return;
	}
	memcpy(c->out + c->outlen, line, (size_t)n);
	out_set_len(c, c->outlen + (size_t)n);
}

static void __attribute__((format(printf, 2, 3)))
out_line(struct conn *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	out_vprintf(c, fmt, ap);
	va_end(ap);
}

static void __attribute__((format(printf, 3, 4)))
reply_err(struct conn *c, int err, const char *fmt, ...)
{
	char msg[CB_PROTO_LINE_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	out_line(c, "ERR %s %s", cb_errno_name(err), msg);
}

/* Send what is queued; watch for writability while anything is left. */
static void conn_flush(struct conn *c)
{
	struct epoll_event ev = { .data.ptr = &c->poll };
	ssize_t n;

	while (c->outlen > 0) {
		n = send(c->fd, c->out, c->outlen, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0) {
			out_set_len(c, 0);
			c->closing = 1;
			break;
		}
		memmove(c->out, c->out + n, c->outlen - (size_t)n);
		out_set_len(c, c->outlen - (size_t)n);
	}
	/* A closing connection no longer reads: level-triggered EPOLLIN at
	 * EOF would otherwise spin the loop while replies wait to drain.
	 * Nor does one whose replies pile up (conn_may_read): its peer's
	 * requests wait in the socket, where they cost us nothing. */
	ev.events = (conn_may_read(c) ? EPOLLIN : 0) |
	    (c->outlen > 0 ? EPOLLOUT : 0);
	epoll_ctl(c->epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

/* The peer's groups (SO_PEERGROUPS: supplementary ones too), checked
 * against the admin group. */
static int in_admin_group(const struct cb_broker *b, const struct conn *c)
{
	gid_t groups[256];
	socklen_t len = sizeof(groups);

	if (b->admin_group == (gid_t)-1)
		return 0;
	if (c->cred.gid == b->admin_group)
		return 1;
	if (getsockopt(c->fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) < 0)
		return 0;
	for (size_t i = 0; i < len / sizeof(groups[0]); i++)
		if (groups[i] == b->admin_group)
			return 1;
	return 0;
}

static int is_admin(const struct cb_broker *b, const struct conn *c)
{
	return c->cred.uid == 0 || c->cred.uid == b->uid ||
	    in_admin_group(b, c);
}

/* Reply with the state the change produced, once it is published. */
static void reply_published(struct cb_broker *b, struct conn *c,
    enum cb_pub_event type)
{
	const struct cb_state_hot *hot;
	uint64_t w;

	if (cb_publisher_wait(b, cb_publisher_post(b, type),
	    PUBLISH_WAIT_MS) < 0)
		log_warnx("publisher did not confirm a change within %d ms",
		    PUBLISH_WAIT_MS);
	hot = cb_seg_region(b->seg.state, CB_RS_HOT);
	/* Pairs with the release store of the state word in publish()
	 * (publisher.c), which cb_publisher_wait() saw finish. */
	w = atomic_load_explicit(&hot->state_word, memory_order_acquire);
	out_line(c, "OK 0 capacity=%u source=%s generation=%u",
	    CB_STATE_CAPACITY(w), cb_source_name(CB_STATE_SOURCE(w)),
	    CB_STATE_GENERATION(w));
}

static void do_worker_set(struct cb_broker *b, struct conn *c,
    const struct cb_ctl_req *req)
{
	int r = cb_registry_set(&b->reg, req->id, req->worker_state,
	    req->max_running);

	if (r == -ENOSPC) {
		reply_err(c, r, "registry full (%d workers)", CB_MAX_WORKERS);
		return;
	}
	if (r < 0) {
		reply_err(c, r, "cannot set worker: %s", strerror(-r));
		return;
	}
	if (r > 0)
		log_info("worker %s: %s, max_running %u (uid %u pid %d)",
		    req->id, cb_worker_state_name(req->worker_state),
		    req->max_running, c->cred.uid, c->cred.pid);
	reply_published(b, c, CB_PUB_REGISTRY);
}

static void do_worker_del(struct cb_broker *b, struct conn *c,
    const struct cb_ctl_req *req)
{
	if (cb_registry_del(&b->reg, req->id) < 0) {
		reply_err(c, ENOENT, "no such worker '%s'", req->id);
		return;
	}
	log_info("worker %s: deleted (uid %u pid %d)", req->id, c->cred.uid,
	    c->cred.pid);
	reply_published(b, c, CB_PUB_REGISTRY);
}

static void do_worker_list(struct cb_broker *b, struct conn *c)
{
	struct cb_worker_rec *w = calloc(CB_MAX_WORKERS, sizeof(*w));
	size_t n;

	if (w == NULL) {
		reply_err(c, ENOMEM, "out of memory");
		return;
	}
	n = cb_registry_snapshot(&b->reg, w, CB_MAX_WORKERS);
	out_line(c, "OK %zu", n);
	for (size_t i = 0; i < n; i++)
		out_line(c, "%s %s %u", w[i].id,
		    cb_worker_state_name(w[i].state), w[i].max_running);
	free(w);
}

static void do_override(struct cb_broker *b, struct conn *c,
    const struct cb_ctl_req *req)
{
	if (!cb_tier_override_valid(req->number)) {
		atomic_store_explicit(&b->set.override_rejected, req->number,
		    memory_order_relaxed);
		atomic_fetch_add_explicit(&b->set.override_rejects, 1,
		    memory_order_relaxed);
		log_warnx("override %lld rejected: outside 0..%u (uid %u pid "
		    "%d)", req->number, CB_CAPACITY_MAX, c->cred.uid,
		    c->cred.pid);
		/* Publish the rejection count; the capacity stays. */
		cb_publisher_post(b, CB_PUB_SETTINGS);
		reply_err(c, ERANGE, "override %lld outside 0..%u (0 clears)",
		    req->number, CB_CAPACITY_MAX);
		return;
	}
	uint32_t old = atomic_exchange_explicit(&b->set.override,
	    (uint32_t)req->number, memory_order_relaxed);

	if (req->number == 0)
		log_info("override cleared, was %u (uid %u pid %d)", old,
		    c->cred.uid, c->cred.pid);
	else
		log_info("override %lld, was %u (uid %u pid %d)", req->number,
		    old, c->cred.uid, c->cred.pid);
	reply_published(b, c, CB_PUB_SETTINGS);
}

/* Pool `name`'s definition now into *out, zeroed if there is none
 * (main thread: the only writer of the definitions, so the copy stays
 * true until it changes them). */
static void pool_def_now(struct cb_broker *b, const char *name,
    struct cb_pool_def *out)
{
	struct cb_pool_def def[CB_MAX_POOLS];
	uint32_t observed[CB_MAX_POOLS];

	memset(out, 0, sizeof(*out));
	cb_pools_copy(&b->pools, def, observed);
	for (int p = 0; p < CB_MAX_POOLS; p++)
		if ((def[p].flags & CB_POOL_F_ACTIVE) &&
		    strcmp(def[p].name, name) == 0)
			*out = def[p];
}

static bool pool_is_global(struct cb_broker *b, const char *name)
{
	struct cb_pool_def def;

	pool_def_now(b, name, &def);
	return def.kind == CB_LIMIT_GLOBAL;
}

/*
 * POOL SET.  global needs a cluster (etcd = in the configuration file):
 * without one no thread would ever give the pool a share, and it would
 * admit nothing.  A change that leaves a pool global, or makes one
 * local, is the cluster thread's news (cb_cluster_kick): its shares
 * and its keys in etcd follow the pool's definition.
 */
static void do_pool_set(struct cb_broker *b, struct conn *c,
    const struct cb_ctl_req *req)
{
	char err[CB_PROTO_LINE_MAX];
	const struct cb_pool_conf *conf;
	uint32_t limit, observed;
	bool was_global = pool_is_global(b, req->pool);
	struct cb_pool_def def;
	int p;

	if ((req->pool_keys & CB_POOL_SET_GLOBAL) && !b->cluster.on) {
		reply_err(c, EINVAL, "no etcd configured (etcd = in the "
		    "config file)");
		return;
	}
	p = cb_pools_set(&b->pools, req, err, sizeof(err));
	if (p < 0) {
		reply_err(c, -p, "%s", err);
		return;
	}
	if (cb_publisher_wait(b, cb_publisher_post(b, CB_PUB_POOLS),
	    PUBLISH_WAIT_MS) < 0)
		log_warnx("publisher did not confirm a pool change");
	pool_def_now(b, req->pool, &def);
	if (was_global || def.kind == CB_LIMIT_GLOBAL)
		cb_cluster_kick(b);
	conf = cb_seg_record(b->seg.state, CB_RS_POOLS, 0, (uint32_t)p);
	/* Relaxed: only logged and reported.  cb_publisher_wait()'s mutex
	 * already orders the publication it saw before these loads. */
	limit = atomic_load_explicit(&conf->limit, memory_order_relaxed);
	observed = atomic_load_explicit(&conf->observed,
	    memory_order_relaxed);
	log_info("pool %s (index %d): limit %u, window %u s, observed %u, "
	    "%s (uid %u pid %d)", req->pool, p, limit,
	    b->pub.pool_def[p].window_ms / 1000, observed,
	    def.kind == CB_LIMIT_GLOBAL ? "global" : "local",
	    c->cred.uid, c->cred.pid);
	/* scope= and hold_max= appended (ABI 1.3); readers look words up
	 * by key. */
	out_line(c, "OK 0 pool=%s index=%d limit=%u window=%u observed=%u "
	    "scope=%s hold_max=%u", req->pool, p, limit,
	    b->pub.pool_def[p].window_ms / 1000, observed,
	    def.kind == CB_LIMIT_GLOBAL ? "global" : "local",
	    def.kind == CB_LIMIT_GLOBAL ? def.hold_max_s : 0);
}

/*
 * POOL DEL NAME [force]: the pool becomes a tombstone (broker/pools.h)
 * and admits nothing from the publication on; answered once that is
 * published.  Refused (EBUSY, the counts named) while the slots
 * segment shows holds, launches or waiters, unless forced: then the
 * holds release into the tombstone, the sweeper frees the launches
 * (their releases: -ESTALE) and sends the waiters out (-ENOENT).
 */
static void do_pool_del(struct cb_broker *b, struct conn *c,
    const struct cb_ctl_req *req)
{
	char err[CB_PROTO_LINE_MAX], counts[96];
	struct cb_pool_busy busy;
	bool was_global = pool_is_global(b, req->pool);
	int p = cb_pools_del(&b->pools, req->pool, req->force, b->seg.slots,
	    &busy, err, sizeof(err));

	if (p < 0) {
		if (p == -EBUSY)
			log_info("pool %s: not deleted, in use (uid %u pid "
			    "%d)", req->pool, c->cred.uid, c->cred.pid);
		reply_err(c, -p, "%s", err);
		return;
	}
	if (cb_publisher_wait(b, cb_publisher_post(b, CB_PUB_POOLS),
	    PUBLISH_WAIT_MS) < 0)
		log_warnx("publisher did not confirm a pool change");
	if (was_global)
		cb_cluster_kick(b);
	cb_pools_busy_say(&busy, counts, sizeof(counts));
	log_info("pool %s (index %d): deleted%s, with %s (uid %u pid %d)",
	    req->pool, p, req->force ? " by force" : "", counts,
	    c->cred.uid, c->cred.pid);
	out_line(c, "OK 0 pool=%s index=%d deleted holds=%u launches=%u "
	    "waiters=%llu", req->pool, p, busy.held, busy.launching,
	    (unsigned long long)busy.queued);
}

static void do_pool_list(struct cb_broker *b, struct conn *c)
{
	struct cb_pool_def def[CB_MAX_POOLS];
	uint32_t observed[CB_MAX_POOLS], n = 0;

	cb_pools_copy(&b->pools, def, observed);
	for (int p = 0; p < CB_MAX_POOLS; p++)
		n += (def[p].flags & CB_POOL_F_ACTIVE) != 0;
	out_line(c, "OK %u", n);
	for (int p = 0; p < CB_MAX_POOLS; p++) {
		const struct cb_pool_conf *conf = cb_seg_record(b->seg.state,
		    CB_RS_POOLS, 0, (uint32_t)p);
		const struct cb_pool_slot *ps = cb_slots_pool(b->seg.slots, p);
		const struct cb_limit_source *src = cb_limit_source(
		    def[p].kind);
		/* Relaxed, both: only reported.  This load of U is no part
		 * of the recount's double collect (reserve.h), which is the
		 * sweeper's. */
		uint64_t u = atomic_load_explicit(&ps->usage,
		    memory_order_relaxed);

		if (!(def[p].flags & CB_POOL_F_ACTIVE) || src == NULL)
			continue;
		/* SCOPE and HOLD_MAX appended (ABI 1.3): a reader of the
		 * nine words before them reads what it always did. */
		out_line(c, "%s %d %s %u %u %u %u %u %u %s %u", def[p].name,
		    p, src->name, def[p].value,
		    atomic_load_explicit(&conf->limit, memory_order_relaxed),
		    def[p].window_ms / 1000, observed[p], CB_USAGE_HELD(u),
		    CB_USAGE_LAUNCHING(u), def[p].kind == CB_LIMIT_GLOBAL ?
		    "global" : "local", def[p].kind == CB_LIMIT_GLOBAL ?
		    def[p].hold_max_s : 0);
	}
}

/* A registered connection of an entry's former owner: pending again. */
static void conn_unregister(struct conn *c)
{
	watching[c->client] = NULL;
	c->client = -1;
	nregistered--;
	if (!c->admin)
		uid_pending_add(c->cred.uid, +1);
	c->line_ns = cb_monotonic_ns();
}

/*
 * HELLO: the client claimed entry `client` itself; we only check it is
 * the caller's (SO_PEERCRED pid, which a client cannot forge) and keep
 * the connection as its death notice.
 */
static void do_hello(struct cb_broker *b, struct conn *c,
    const struct cb_ctl_req *req)
{
	const struct cb_client_slot *cs;

	if (c->client >= 0 || req->client >= CB_MAX_CLIENTS) {
		reply_err(c, EINVAL, "bad client index %u", req->client);
		return;
	}
	if (c->spare) {
		/* A registration would keep the reserve descriptor. */
		reply_err(c, EMFILE, "the broker is out of file descriptors; "
		    "not watching client entry %u", req->client);
		return;
	}
	cs = cb_slots_client(b->seg.slots, req->client);
	/* Relaxed: a check only; this thread reads nothing else of the
	 * entry.  watch() (sweeper.c) re-checks the owner with acquire,
	 * paired with cb_rsv_claim()'s CAS, before it reads start. */
	if (atomic_load_explicit(&cs->owner, memory_order_relaxed) !=
	    req->owner ||
	    CB_OWNER_PID(req->owner) != (uint32_t)c->cred.pid) {
		reply_err(c, EPERM, "client entry %u is not pid %d's",
		    req->client, c->cred.pid);
		return;
	}
	if (watching[req->client] != NULL &&
	    watching[req->client]->owner == req->owner) {
		reply_err(c, EBUSY, "client entry %u already said HELLO on "
		    "another connection", req->client);
		return;
	}
	if (watching[req->client] != NULL)
		/* The entry has a new owner: the old one is dead and
		 * reclaimed, its connection no notice of anything. */
		conn_unregister(watching[req->client]);
	conn_unpend(c);
	c->client = (int)req->client;
	c->owner = req->owner;
	watching[req->client] = c;
	nregistered++;
	cb_sweeper_hello(b, req->client, req->owner);
	out_line(c, "OK 0 watching");
}

static void do_status(struct cb_broker *b, struct conn *c)
{
	struct cb_info in;
	struct cb_ident id;
	char line[512];

	if (cb_snapshot_info(b->seg.state, &in) < 0 ||
	    cb_snapshot_ident(b->seg.state, &id) < 0) {
		reply_err(c, EAGAIN, "snapshot busy, retry");
		return;
	}
	out_line(c, "OK 21");
	out_line(c, "name %s", b->name);
	out_line(c, "pid %u", id.pid);
	out_line(c, "epoch %llu", (unsigned long long)id.epoch);
	out_line(c, "capacity %u", in.capacity);
	out_line(c, "source %s", cb_source_name((int)in.source));
	out_line(c, "generation %u", in.generation);
	out_line(c, "override %u", in.override);
	out_line(c, "slots_per_worker %u", in.slots_per_worker);
	out_line(c, "legacy_max %u", in.legacy_max);
	out_line(c, "workers %u", in.workers_total);
	out_line(c, "ready %u", in.workers_ready);
	out_line(c, "reporting %u", in.workers_reporting);
	out_line(c, "publishes %llu", (unsigned long long)in.publishes);
	out_line(c, "capacity_changes %llu",
	    (unsigned long long)in.capacity_changes);
	out_line(c, "source_changes %llu",
	    (unsigned long long)in.source_changes);
	out_line(c, "override_rejects %llu",
	    (unsigned long long)in.override_rejects);
	out_line(c, "registered %u", nregistered);
	/* The configuration file and the last reload's outcome (main.c's
	 * reload(); config.c), then whether the segments' names still
	 * lead to them (segments.h, "Names").  Main thread, as both. */
	for (unsigned i = 0; i < 3; i++) {
		cb_reload_status(i, line, sizeof(line));
		out_line(c, "%s", line);
	}
	cb_segments_describe(&b->seg, line, sizeof(line));
	out_line(c, "segments %s", line);
}

/* The verbs that change the broker: admin peers only. */
static int is_change(int verb)
{
	return verb == CB_CTL_WORKER_SET || verb == CB_CTL_WORKER_DEL ||
	    verb == CB_CTL_OVERRIDE || verb == CB_CTL_POOL_SET ||
	    verb == CB_CTL_POOL_DEL;
}

static const char *change_name(int verb)
{
	switch (verb) {
	case CB_CTL_WORKER_SET:
		return "WORKER SET";
	case CB_CTL_WORKER_DEL:
		return "WORKER DEL";
	case CB_CTL_OVERRIDE:
		return "OVERRIDE";
	case CB_CTL_POOL_SET:
		return "POOL SET";
	default:
		return "POOL DEL";
	}
}

/* An event: 1 if it is the first of a quiet period, to be logged now;
 * else it is counted for the next summary. */
static int log_now(struct log_limit *l, uint64_t now)
{
	if (l->unlogged == 0 && (l->logged_ns == 0 ||
	    now - l->logged_ns >= LOG_EVERY_MS * CB_NS_PER_MS)) {
		l->logged_ns = now;
		return 1;
	}
	l->unlogged++;
	return 0;
}

/* The tick: the count for a summary line that is due (then it starts
 * afresh), or 0. */
static uint64_t summary_due(struct log_limit *l, uint64_t now)
{
	uint64_t n = l->unlogged;

	if (n == 0 || now - l->logged_ns < LOG_EVERY_MS * CB_NS_PER_MS)
		return 0;
	l->unlogged = 0;
	l->logged_ns = now;
	return n;
}

/*
 * A non-admin peer's change refused with EPERM: logged with the verb
 * and the peer's uid and pid, the first of a quiet period at once, the
 * rest summed up once per LOG_EVERY_MS by the tick (log_denials()), so
 * one peer looping on a refused change cannot flood the log.
 */
static void log_denied(const struct cb_ctl_req *req, const struct conn *c)
{
	if (log_now(&denied_log, cb_monotonic_ns())) {
		log_warnx("control: refused %s from uid %u pid %d: not an "
		    "admin", change_name(req->verb), c->cred.uid, c->cred.pid);
	} else {
		denied_last_uid = c->cred.uid;
		denied_last_pid = c->cred.pid;
		denied_last_verb = req->verb;
	}
}

/*
 * LAUNCH and UNLAUNCH of a global pool (cluster.h): handed to the
 * cluster's launch thread, which asks etcd; the connection reads no
 * more lines until the answer comes back (launch_answers()), so the
 * main loop never waits for etcd.
 */
static void do_launch(struct cb_broker *b, struct conn *c,
    const struct cb_ctl_req *req)
{
	struct cb_pool_def def[CB_MAX_POOLS];
	uint32_t observed[CB_MAX_POOLS];
	struct cb_launch_job job;
	int p, r;

	cb_pools_copy(&b->pools, def, observed);
	for (p = 0; p < CB_MAX_POOLS; p++)
		if ((def[p].flags & CB_POOL_F_ACTIVE) &&
		    strcmp(def[p].name, req->pool) == 0)
			break;
	if (p == CB_MAX_POOLS) {
		reply_err(c, ENOENT, "no pool '%s'", req->pool);
		return;
	}
	if (def[p].kind != CB_LIMIT_GLOBAL) {
		reply_err(c, EINVAL, "pool %s is local: its launches are "
		    "admitted by the client library (cb_reserve)", req->pool);
		return;
	}
	memset(&job, 0, sizeof(job));
	job.conn = c->id;
	job.unlaunch = req->verb == CB_CTL_UNLAUNCH;
	job.pool = p;
	strlcpy(job.name, def[p].name, sizeof(job.name));
	job.limit = def[p].value;
	job.window_ms = def[p].window_ms ? def[p].window_ms :
	    CB_DEFAULT_WINDOW_MS;
	job.observed = req->observed > observed[p] ? req->observed :
	    observed[p];
	job.id = req->launch_id;
	r = cb_cluster_launch_submit(b, &job);
	if (r == -EAGAIN) {
		reply_err(c, EAGAIN, "retry_after_ms=100 %d launches are "
		    "already waiting for etcd", CB_LAUNCH_QUEUE_MAX);
		return;
	}
	if (r < 0) {
		reply_err(c, EAGAIN, "retry_after_ms=1000 the cluster's "
		    "launch thread is not running (%s)", strerror(-r));
		return;
	}
	c->pending = 1;
}

static struct conn *conn_by_id(uint64_t id)
{
	struct conn *c;

	LIST_FOREACH(c, &conns, link)
		if (c->id == id)
			return c;
	return NULL;
}

/* The launch thread's answers: each to its connection, if it is still
 * there (a peer that hung up loses its launch to the window). */
static void launch_answers(struct cb_broker *b)
{
	struct cb_launch_job j;

	while (cb_cluster_done_pop(b, &j)) {
		struct conn *c = conn_by_id(j.conn);

		if (c == NULL)
			continue;
		c->pending = 0;
		if (j.err == 0 && !j.unlaunch)
			out_line(c, "OK 0 id=%016llx window_ms=%u",
			    (unsigned long long)j.result_id, j.window_ms);
		else if (j.err == 0)
			out_line(c, "OK 0 released");
		else if (j.err == -EAGAIN)
			reply_err(c, EAGAIN, "retry_after_ms=%u %s",
			    j.retry_ms, j.msg);
		else if (j.err == -ECONNREFUSED || j.err == -ETIMEDOUT)
			/* etcd unreachable: nothing is admitted, as for
			 * holds; worth trying again, not a failure. */
			reply_err(c, EAGAIN, "retry_after_ms=1000 %s",
			    j.msg);
		else
			reply_err(c, -j.err, "%s", j.msg);
		cb_control_io(b, &c->poll, 0);
	}
}

static void handle_line(struct cb_broker *b, struct conn *c, char *line,
    size_t len)
{
	struct cb_ctl_req req;
	char err[CB_PROTO_LINE_MAX];
	int r;

	if (len > 0 && line[len - 1] == '\r')
		line[--len] = '\0';
	if (memchr(line, '\0', len) != NULL) {
		reply_err(c, EINVAL, "NUL byte in request");
		return;
	}
	r = cb_ctl_parse(line, &req, err, sizeof(err));
	if (r < 0) {
		reply_err(c, -r, "%s", err);
		return;
	}
	if (is_change(req.verb) && !c->admin) {
		log_denied(&req, c);
		reply_err(c, EPERM, "uid %u may not change the broker (needs "
		    "uid %u, root or the admin group)", c->cred.uid, b->uid);
		return;
	}
	if ((req.verb == CB_CTL_WORKER_LIST || req.verb == CB_CTL_POOL_LIST ||
	    req.verb == CB_CTL_STATUS) && out_total >= OUT_TOTAL_MAX &&
	    !c->admin) {
		reply_err(c, EAGAIN, "the broker's reply buffers are full "
		    "(%zu bytes queued for peers that do not read); retry",
		    out_total);
		return;
	}
	switch (req.verb) {
	case CB_CTL_PING:
		out_line(c, "OK 0 pong");
		break;
	case CB_CTL_STATUS:
		do_status(b, c);
		break;
	case CB_CTL_WORKER_SET:
		do_worker_set(b, c, &req);
		break;
	case CB_CTL_WORKER_DEL:
		do_worker_del(b, c, &req);
		break;
	case CB_CTL_WORKER_LIST:
		do_worker_list(b, c);
		break;
	case CB_CTL_OVERRIDE:
		do_override(b, c, &req);
		break;
	case CB_CTL_POOL_SET:
		do_pool_set(b, c, &req);
		break;
	case CB_CTL_POOL_DEL:
		do_pool_del(b, c, &req);
		break;
	case CB_CTL_POOL_LIST:
		do_pool_list(b, c);
		break;
	case CB_CTL_HELLO:
		do_hello(b, c, &req);
		break;
	case CB_CTL_LAUNCH:
	case CB_CTL_UNLAUNCH:
		do_launch(b, c, &req);
		break;
	}
}

/* Handle every complete line in the input buffer. */
static void conn_lines(struct cb_broker *b, struct conn *c)
{
	char *nl;

	while (conn_may_read(c) &&
	    (nl = memchr(c->in, '\n', c->inlen)) != NULL) {
		size_t len = (size_t)(nl - c->in);

		*nl = '\0';
		c->line_ns = cb_monotonic_ns();
		handle_line(b, c, c->in, len);
		c->inlen -= len + 1;
		memmove(c->in, nl + 1, c->inlen);
	}
	/* Full, and no line in it (lines that wait for the replies to
	 * drain are not too long). */
	if (!c->closing && c->inlen == sizeof(c->in) &&
	    memchr(c->in, '\n', c->inlen) == NULL) {
		reply_err(c, E2BIG, "line longer than %d bytes",
		    CB_PROTO_LINE_MAX - 1);
		c->closing = 1;
	}
}

static void conn_read(struct cb_broker *b, struct conn *c)
{
	ssize_t n;

	/* A bounded number of reads per wake-up, so one chatty peer cannot
	 * starve the others (epoll is level-triggered: the rest waits). */
	for (int budget = 16; budget > 0 && conn_may_read(c); budget--) {
		n = read(c->fd, c->in + c->inlen, sizeof(c->in) - c->inlen);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			/* EOF may be a half-close: still flush the replies;
			 * a peer that is really gone fails the send. */
			c->closing = 1;
			return;
		}
		/* The line clock of a peer that may idle starts with the
		 * line. */
		if (c->inlen == 0 && conn_may_idle(c))
			c->line_ns = cb_monotonic_ns();
		c->inlen += (size_t)n;
		conn_lines(b, c);
	}
}

/* Why a connection is cut (conn_overdue()), and the words for it. */
enum cut_why { CUT_NONE = -1, CUT_STALLED, CUT_SLOW_LINE, CUT_IDLE,
    CUT_WHYS };
static const char *const cut_words[CUT_WHYS] = {
	"replies not drained", "request line too slow", "idle",
};

/* Whether c is past a deadline, and which. */
static enum cut_why conn_overdue(const struct conn *c, uint64_t now)
{
	if (c->outlen > 0)
		return now - c->drained_ns >= CUT_MS * CB_NS_PER_MS ?
		    CUT_STALLED : CUT_NONE;
	if ((!conn_may_idle(c) || c->inlen > 0) &&
	    now - c->line_ns >= CUT_MS * CB_NS_PER_MS)
		return c->inlen > 0 ? CUT_SLOW_LINE : CUT_IDLE;
	return CUT_NONE;
}


/* Refusals and cuts are logged as one summary line per LOG_EVERY_MS,
 * not one per connection: a flood of them must not flood the log. */
static void log_refusals(uint64_t now)
{
	uint64_t n = summary_due(&refused_log, now);

	if (n == 0)
		return;
	log_warnx("control: refused %llu connection%s (limits: %u in all, "
	    "the last %u for admins, %u per uid before HELLO); %u open",
	    (unsigned long long)n, n == 1 ? "" : "s", CONN_MAX,
	    ADMIN_RESERVE, UID_PENDING_MAX, nconns);
}

static const char *change_name(int verb);

/* The summary of log_denied(): one line per LOG_EVERY_MS at most. */
static void log_denials(uint64_t now)
{
	uint64_t n = summary_due(&denied_log, now);

	if (n == 0)
		return;
	log_warnx("control: refused %llu more change%s from non-admin peers "
	    "(the latest: %s from uid %u pid %d)",
	    (unsigned long long)n, n == 1 ? "" : "s",
	    change_name(denied_last_verb), denied_last_uid,
	    denied_last_pid);
}

/* Open descriptors of this process; at a shortage, the limit. */
static unsigned count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	unsigned n = 0;

	if (d == NULL)
		return errno == EMFILE || errno == ENFILE ? (unsigned)fd_limit :
		    0;
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	closedir(d);
	return n > 0 ? n - 1 : 0;   /* not the directory's own */
}

/* The pressure counters in the state header (abi.h): relaxed stores,
 * this thread their only writer; each stands alone. */
static void publish_pressure(struct cb_broker *b)
{
	struct cb_seg_header *h = b->seg.state;

	atomic_store_explicit(&h->ctl_fds, count_fds(),
	    memory_order_relaxed);
	atomic_store_explicit(&h->ctl_fd_limit, fd_limit > UINT32_MAX ?
	    UINT32_MAX : (uint32_t)fd_limit, memory_order_relaxed);
	atomic_store_explicit(&h->ctl_conns, nconns, memory_order_relaxed);
	atomic_store_explicit(&h->ctl_refused, nrefused,
	    memory_order_relaxed);
	atomic_store_explicit(&h->ctl_cut, ncut, memory_order_relaxed);
}

/* Each tick retries a paused listener.  The run of failures ends when
 * none came for a second and descriptors are free again: logged once,
 * not once per connection at the edge. */
static void accept_tick(uint64_t now)
{
	accept_resume();
	if (starved_ns == 0 || now - starved_last_ns < CB_NS_PER_S ||
	    count_fds() >= fd_limit)
		return;
	log_info("control: file descriptors free again after %llu s; %llu "
	    "connection%s refused meanwhile",
	    (unsigned long long)((now - starved_ns) / CB_NS_PER_S),
	    (unsigned long long)starved_refused,
	    starved_refused == 1 ? "" : "s");
	starved_ns = 0;
}

/*
 * The control tick, every TICK_MS: the deadlines no event announces,
 * the paused listener, the summaries and the pressure counters.
 * Reading the timerfd re-arms its level-triggered readiness.
 */
static void control_tick(struct cb_broker *b)
{
	uint64_t expirations, now = cb_monotonic_ns();
	static unsigned ticks;
	unsigned cut[CUT_WHYS] = { 0 }, total = 0;
	struct ucred first = { 0 };
	struct conn *c, *next;
	enum cut_why why;

	if (read(tick_fd, &expirations, sizeof(expirations)) < 0)
		return;
	for (c = LIST_FIRST(&conns); c != NULL; c = next) {
		next = LIST_NEXT(c, link);
		if ((why = conn_overdue(c, now)) == CUT_NONE)
			continue;
		if (total++ == 0)
			first = c->cred;
		cut[why]++;
		conn_free(b, c);
	}
	/* One line per tick, however many: a flood must not flood the
	 * log. */
	if (total > 0)
		log_warnx("control: cut %u connection%s after %d s: %u %s, "
		    "%u %s, %u %s (the first: uid %u pid %d)", total,
		    total == 1 ? "" : "s", CUT_MS / 1000,
		    cut[CUT_IDLE], cut_words[CUT_IDLE],
		    cut[CUT_SLOW_LINE], cut_words[CUT_SLOW_LINE],
		    cut[CUT_STALLED], cut_words[CUT_STALLED],
		    first.uid, first.pid);
	ncut += total;
	log_refusals(now);
	log_denials(now);
	accept_tick(now);
	if (++ticks % PUBLISH_TICKS == 0)
		publish_pressure(b);
}

void cb_control_io(struct cb_broker *b, struct cb_pollable *p,
    uint32_t events)
{
	struct conn *c = (struct conn *)p;

	if (p == &tick_poll) {
		control_tick(b);
		return;
	}
	if (p == &done_poll) {
		launch_answers(b);
		return;
	}
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
		conn_read(b, c);
	conn_flush(c);
	/* Replies drained below the mark: the lines that waited for it.
	 * Each round handles at least one line of the bounded buffer. */
	while (conn_may_read(c) && memchr(c->in, '\n', c->inlen) != NULL) {
		conn_lines(b, c);
		conn_flush(c);
	}
	if (c->closing && c->outlen == 0)
		conn_free(b, c);
}

/* Whether a new connection with c's credentials may have a slot; why
 * not, if not.  Counts it as pending if so. */
static const char *conn_admit(const struct conn *c)
{
	if (nconns >= CONN_MAX)
		return "no free slot";
	if (c->admin)
		return NULL;
	if (nconns >= CONN_MAX - ADMIN_RESERVE)
		return "only admin slots left";
	if (uid_pending_add(c->cred.uid, 0) >= UID_PENDING_MAX)
		return "too many connections of this uid before HELLO";
	uid_pending_add(c->cred.uid, +1);
	return NULL;
}

static void conn_refuse(struct conn *c, const char *why)
{
	nrefused++;
	/* The first refusal of a quiet period is logged at once; the
	 * rest are summed up by the tick (log_refusals()). */
	if (log_now(&refused_log, cb_monotonic_ns()))
		log_warnx("control: refused a connection of uid %u pid %d: "
		    "%s", c->cred.uid, c->cred.pid, why);
	close(c->fd);
	free(c);
}

/* fd was accepted (on the reserve descriptor if spare): admit it, or
 * close it at once. */
static void conn_accepted(struct cb_broker *b, int epfd, int fd, int spare)
{
	struct epoll_event ev = { .events = EPOLLIN };
	const char *why;
	socklen_t len;
	struct conn *c = calloc(1, sizeof(*c));

	if (c == NULL) {
		log_warnx("control: out of memory for a connection");
		close(fd);
		return;
	}
	c->poll.kind = CB_POLL_CONN;
	c->client = -1;
	c->id = ++next_conn_id;
	c->fd = fd;
	c->epfd = epfd;
	c->spare = spare;
	c->line_ns = c->drained_ns = cb_monotonic_ns();
	len = sizeof(c->cred);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &c->cred, &len) < 0)
		c->cred.uid = (uid_t)-1;   /* unknown: no admin */
	c->admin = is_admin(b, c);
	why = spare && !c->admin ? "out of file descriptors" : conn_admit(c);
	if (why != NULL) {
		starved_refused += spare;
		conn_refuse(c, why);
		return;
	}
	ev.data.ptr = &c->poll;
	LIST_INSERT_HEAD(&conns, c, link);
	nconns++;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		log_warn("control: epoll_ctl");
		conn_free(NULL, c);
	}
}

/* Out of descriptors: stop watching the listener (see the top). */
static void accept_pause(int err)
{
	struct epoll_event ev = { .events = 0, .data.ptr = &listen_poll };

	starved_last_ns = cb_monotonic_ns();
	if (starved_ns == 0) {
		starved_ns = starved_last_ns;
		starved_refused = 0;
		log_warnx("control: out of file descriptors (%s, limit %llu): "
		    "accepting only as they free; admin peers are served on "
		    "a reserved one", strerror(err),
		    (unsigned long long)fd_limit);
	}
	if (!accept_paused) {
		accept_paused = 1;
		epoll_ctl(listen_epfd, EPOLL_CTL_MOD, listen_fd, &ev);
	}
}

/* Give up the reserve descriptor to take what waits, one at a time;
 * it comes back unless an admin peer keeps it. */
static void accept_shed(struct cb_broker *b, int epfd)
{
	int fd;

	for (int i = 0; i < SHED_MAX && spare_fd >= 0; i++) {
		close(spare_fd);
		spare_fd = -1;
		fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK |
		    SOCK_CLOEXEC);
		if (fd >= 0)
			conn_accepted(b, epfd, fd, 1);
		spare_take();
		if (fd < 0)
			return;         /* nothing waits (or worse) */
	}
}

void cb_control_accept(struct cb_broker *b, int epfd)
{
	int fd;

	while ((fd = accept4(b->control_fd, NULL, NULL,
	    SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0)
		conn_accepted(b, epfd, fd, 0);
	if (errno == EMFILE || errno == ENFILE) {
		accept_pause(errno);
		accept_shed(b, epfd);
		return;
	}
	if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
		log_warn("control: accept");
}

static int tick_open(int epfd)
{
	struct itimerspec its = {
		.it_interval = { 0, TICK_MS * 1000000L },
		.it_value = { 0, TICK_MS * 1000000L },
	};
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &tick_poll };

	tick_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (tick_fd < 0 || timerfd_settime(tick_fd, 0, &its, NULL) < 0 ||
	    epoll_ctl(epfd, EPOLL_CTL_ADD, tick_fd, &ev) < 0) {
		int r = -errno;

		if (tick_fd >= 0)
			close(tick_fd);
		tick_fd = -1;
		return r;
	}
	return 0;
}

/* Soft RLIMIT_NOFILE up to the hard one, as daemons do; logged. */
static void fd_limit_raise(void)
{
	struct rlimit rl;
	rlim_t was;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	was = rl.rlim_cur;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			rl.rlim_cur = was;
	}
	fd_limit = rl.rlim_cur;
	if (fd_limit != was)
		log_info("control: file descriptor limit %llu (raised from "
		    "%llu)", (unsigned long long)fd_limit,
		    (unsigned long long)was);
	else
		log_info("control: file descriptor limit %llu",
		    (unsigned long long)fd_limit);
	if (fd_limit < FDS_WANTED)
		log_warnx("control: a full broker can use %u file "
		    "descriptors (%u clients, %u connections); raise the "
		    "limit (LimitNOFILE=, ulimit -n)", FDS_WANTED,
		    CB_MAX_CLIENTS, CONN_MAX);
}

int cb_control_open(struct cb_broker *b, int epfd)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &listen_poll };
	int fd;

	if (strlen(b->socket_path) >= sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	memcpy(sun.sun_path, b->socket_path, strlen(b->socket_path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* A stale socket from a dead broker: we hold the pidfile lock, so
	 * no live broker owns it. */
	unlink(b->socket_path);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
	    chmod(b->socket_path, 0660) < 0 ||
	    (b->group != (gid_t)-1 &&
	    chown(b->socket_path, (uid_t)-1, b->group) < 0) ||
	    listen(fd, 128) < 0 ||
	    epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		int r = -errno;

		close(fd);
		return r;
	}
	b->control_fd = fd;
	listen_fd = fd;
	listen_epfd = epfd;
	fd_limit_raise();
	spare_take();
	publish_pressure(b);
	if (cb_cluster_done_fd(b) >= 0) {
		struct epoll_event dev = { .events = EPOLLIN,
		    .data.ptr = &done_poll };

		if (epoll_ctl(epfd, EPOLL_CTL_ADD, cb_cluster_done_fd(b),
		    &dev) < 0)
			return -errno;
	}
	return tick_open(epfd);
}

void cb_control_close(struct cb_broker *b)
{
	while (!LIST_EMPTY(&conns))
		conn_free(NULL, LIST_FIRST(&conns));
	free(pending);
	pending = NULL;
	if (b->control_fd >= 0) {
		close(b->control_fd);
		unlink(b->socket_path);
		b->control_fd = -1;
	}
	if (tick_fd >= 0) {
		close(tick_fd);
		tick_fd = -1;
	}
	if (spare_fd >= 0) {
		close(spare_fd);
		spare_fd = -1;
	}
	listen_fd = listen_epfd = -1;
}
