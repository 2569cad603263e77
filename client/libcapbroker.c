/*
 * libcapbroker.c - the client side of capbroker (capbroker.h).
 *
 * A handle maps the instance's two segments: the state segment
 * read-only, the slots segment read-write (read-only with
 * CB_OPEN_RDONLY).  Reading the capacity is one acquire load of the
 * state word; watching sleeps on the watch futex word with the
 * eventcount protocol of futex.h.  libc only.
 */
#include "capbroker.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "abi.h"
#include "client_internal.h"
#include "futex.h"
#include "place.h"
#include "proc.h"
#include "queue.h"
#include "reserve.h"
#include "rundir.h"
#include "seqlock.h"
#include "segment.h"
#include "snapshot.h"

/* A watcher wakes at least this often to re-check on its own, so a lost
 * or never-sent wake (a read-only watcher cannot count itself as a
 * waiter; a hostile client can zero the count) costs latency, never a
 * hang. */
#define WATCH_SLICE_MS 1000
#define WATCH_SLICE_RDONLY_MS 50
/* How long cb_open waits for a segment a broker is still initialising. */
#define OPEN_INIT_WAIT_MS 200
/* Re-registration after a broker restart (rehello). */
#define HELLO_BACKOFF_MIN_MS 50
#define HELLO_BACKOFF_MAX_MS 5000

struct cb_client {
	char name[CB_NAME_MAX + 1];
	unsigned flags;
	const void *state;             /* PROT_READ */
	size_t state_size;
	void *slots;                   /* PROT_READ|PROT_WRITE unless RDONLY */
	size_t slots_size;
	const _Atomic uint64_t *state_word;
	const _Atomic uint32_t *watch_seq;
	_Atomic uint32_t *watch_waiters; /* NULL when read-only */
	const struct cb_seg_header *state_hdr;
	struct cb_rsv rsv;             /* reservations; rsv.local NULL when
	                                  read-only */
	_Atomic uint64_t pools_known;  /* bit p: cb_pool() found pool p */
	unsigned fork_gen;             /* fork_generation at open */
	int hello_fd;                  /* registration with the broker */
	/* Re-registration (rehello): hello_epoch is the epoch
	 * hello_fd was accepted in (0: none); hello_busy guards the rest. */
	_Atomic uint64_t hello_epoch;
	_Atomic int hello_busy;
	uint64_t hello_next_ns;        /* no new attempt before (backoff) */
	uint32_t hello_backoff_ms;
	char errmsg[CB_ERRMSG_MAX];
};

/*
 * A child of fork() shares its parent's client entry and holds but is
 * another process: the broker would undo its holds when the parent
 * dies.  Handles opened before a fork refuse to reserve in the child.
 */
static _Atomic unsigned fork_generation;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void on_fork_child(void)
{
	atomic_fetch_add_explicit(&fork_generation, 1, memory_order_relaxed);
}

static void register_atfork(void)
{
	pthread_atfork(NULL, NULL, on_fork_child);
}

static __thread char open_errmsg[CB_ERRMSG_MAX];

static int set_err(char *buf, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, CB_ERRMSG_MAX, fmt, ap);
	va_end(ap);
	return err;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/*
 * Map and validate an open segment.  Returns -EAGAIN (message in err)
 * while it looks like a broker is still initialising it: too small for
 * a header, or magic still 0.
 */
static int try_map(int fd, enum cb_seg_kind kind, const char *name,
    int prot, void **base, size_t *size, char *err)
{
	struct stat st;
	int r;

	if (fstat(fd, &st) < 0)
		return set_err(err, -errno, "fstat: %s", strerror(errno));
	if ((size_t)st.st_size < sizeof(struct cb_seg_header))
		return set_err(err, -EAGAIN, "segment is %lld bytes, smaller "
		    "than its header", (long long)st.st_size);
	*size = (size_t)st.st_size;
	*base = mmap(NULL, *size, prot, MAP_SHARED, fd, 0);
	if (*base == MAP_FAILED)
		return set_err(err, -errno == -EACCES ? -EACCES : -EPROTO,
		    "cannot map %zu bytes: %s", *size, strerror(errno));
	r = cb_seg_validate(*base, *size, kind, name, err, CB_ERRMSG_MAX);
	if (r == 0)
		return 0;
	if (atomic_load_explicit(&((struct cb_seg_header *)*base)->magic,
	    memory_order_acquire) == 0)
		r = -EAGAIN;
	munmap(*base, *size);
	return r;
}

/* Open, map and validate one segment of instance name. */
static int map_segment(const char *name, enum cb_seg_kind kind,
    int writable, void **base, size_t *size, char *err)
{
	char shm[CB_SHM_NAME_MAX], why[CB_ERRMSG_MAX];
	int fd, r, prot = PROT_READ | (writable ? PROT_WRITE : 0);

	cb_shm_name(shm, sizeof(shm), name, kind);
	fd = shm_open(shm, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC, 0);
	if (fd < 0) {
		r = -errno;
		if (r == -ENOENT)
			return set_err(err, r, "no broker '%s': %s does not "
			    "exist (is capbrokerd -n %s running?)", name,
			    shm, name);
		if (r == -EACCES)
			return set_err(err, r, "%s: permission denied%s", shm,
			    writable ? " (read-only observers: "
			    "CB_OPEN_RDONLY)" : "");
		return set_err(err, r, "%s: %s", shm, strerror(-r));
	}
	for (int waited = 0;; waited += 10) {
		r = try_map(fd, kind, name, prot, base, size, why);
		if (r != -EAGAIN || waited >= OPEN_INIT_WAIT_MS)
			break;
		sleep_ms(10);
	}
	close(fd);
	if (r == -EAGAIN)
		r = -EPROTO;
	if (r < 0)
		set_err(err, r, "%s: %s", shm, why);
	return r;
}

/*
 * Tell the broker about our client entry, so it watches us (pidfd) and
 * undoes our holds the moment we die.  The connection stays open: its
 * closing is a death notice too.  Best effort: with no broker running
 * the entry still works, and the next broker finds it in its scan.
 */
static void hello(cb_client *c)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct pollfd pfd = { .events = POLLIN };
	char line[96];
	int fd, n;

	if (cb_rundir_path(sun.sun_path, sizeof(sun.sun_path), c->name,
	    "sock") < 0)
		return;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return;
	n = snprintf(line, sizeof(line), "HELLO %u %llu\n", c->rsv.client,
	    (unsigned long long)c->rsv.owner);
	pfd.fd = fd;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
	    send(fd, line, (size_t)n, MSG_NOSIGNAL) != n ||
	    poll(&pfd, 1, 1000) != 1 || recv(fd, line, sizeof(line) - 1, 0) < 3 ||
	    strncmp(line, "OK", 2) != 0) {
		close(fd);
		return;
	}
	c->hello_fd = fd;
}

/*
 * Register again after a broker restart.  hello_fd is our death notice
 * to the broker that accepted it; a new broker bumps the header epoch
 * when it adopts the segments (and scans the table, so it watches us by
 * pidfd anyway), but hears of our death at once only if we say HELLO
 * to it too.  Called from the slow paths only (cb_watch's sleep,
 * cb_broker_check, entering a blocking cb_reserve or cb_wait, each
 * slice of a blocked cb_pick_worker): while we are registered in
 * the current epoch it is two relaxed loads and no syscall.  Failed
 * attempts back off exponentially, HELLO_BACKOFF_MIN_MS up to
 * HELLO_BACKOFF_MAX_MS, so a client of a broker that is down (or in
 * another run directory) does not connect() on every call.
 *
 * Threads: any thread of the handle may get here.  hello_epoch (0: not
 * registered; a broker's epoch is never 0) is read without a lock; the
 * rest -- hello_fd, hello_next_ns, hello_backoff_ms -- belongs to
 * whoever wins hello_busy, and the others skip this round.  The
 * acquire/release pair on hello_busy orders one owner's writes before
 * the next owner's reads.
 */
static void rehello(cb_client *c)
{
	uint64_t epoch, now;

	if (c->rsv.local == NULL ||
	    c->fork_gen != atomic_load_explicit(&fork_generation,
	    memory_order_relaxed))
		return;
	epoch = atomic_load_explicit(&c->state_hdr->epoch,
	    memory_order_relaxed);
	if (atomic_load_explicit(&c->hello_epoch, memory_order_relaxed) ==
	    epoch)
		return;
	if (atomic_exchange_explicit(&c->hello_busy, 1, memory_order_acquire))
		return;
	now = cb_monotonic_ns();
	if (now >= c->hello_next_ns) {
		if (c->hello_fd >= 0) {
			close(c->hello_fd);
			c->hello_fd = -1;
		}
		hello(c);
		if (c->hello_fd >= 0) {
			c->hello_backoff_ms = HELLO_BACKOFF_MIN_MS;
			atomic_store_explicit(&c->hello_epoch, epoch,
			    memory_order_relaxed);
		} else {
			c->hello_next_ns = now +
			    (uint64_t)c->hello_backoff_ms * 1000000u;
			c->hello_backoff_ms = c->hello_backoff_ms >=
			    HELLO_BACKOFF_MAX_MS / 2 ? HELLO_BACKOFF_MAX_MS :
			    c->hello_backoff_ms * 2;
		}
	}
	atomic_store_explicit(&c->hello_busy, 0, memory_order_release);
}

/* Claim a client entry and set up the reservation state. */
static int join(cb_client *c)
{
	uint64_t start = 0;
	int r;

	uint64_t ns = atomic_load_explicit(&c->state_hdr->broker_pidns,
	    memory_order_relaxed), mine = cb_proc_pidns();

	if (ns != 0 && mine != 0 && ns != mine)
		return set_err(open_errmsg, -EXDEV, "not in the broker's PID "
		    "namespace: pids in the client table would name other "
		    "processes (CB_OPEN_RDONLY can still observe)");
	pthread_once(&atfork_once, register_atfork);
	c->fork_gen = atomic_load(&fork_generation);
	c->rsv.state = c->state;
	c->rsv.slots = c->slots;
	c->rsv.local_size = CB_LOCAL_HOLDS;
	c->rsv.local = calloc(CB_LOCAL_HOLDS, sizeof(*c->rsv.local));
	if (c->rsv.local == NULL)
		return set_err(open_errmsg, -ENOMEM, "out of memory");
	cb_proc_start_time(getpid(), &start);
	r = cb_rsv_claim(c->slots, getpid(), start, &c->rsv.client,
	    &c->rsv.owner);
	if (r < 0) {
		free(c->rsv.local);
		c->rsv.local = NULL;
		return set_err(open_errmsg, r, "client table of '%s' is full "
		    "(%d processes attached)", c->name, CB_MAX_CLIENTS);
	}
	c->hello_backoff_ms = HELLO_BACKOFF_MIN_MS;
	rehello(c);
	return 0;
}

static void unmap_all(cb_client *c)
{
	if (c->state != NULL)
		munmap((void *)c->state, c->state_size);
	if (c->slots != NULL)
		munmap(c->slots, c->slots_size);
}

int cb_open(cb_client **out, const char *name, unsigned flags)
{
	void *base;
	cb_client *c;
	int r;

	if (out == NULL)
		return -EINVAL;
	*out = NULL;
	if (name == NULL || name[0] == '\0')
		name = "default";
	if (!cb_name_valid(name))
		return set_err(open_errmsg, -EINVAL, "bad instance name '%s' "
		    "(1-%d of A-Z a-z 0-9 . _ -)", name, CB_NAME_MAX);
	if (flags & ~CB_OPEN_RDONLY)
		return set_err(open_errmsg, -EINVAL, "unknown flags %#x",
		    flags & ~CB_OPEN_RDONLY);
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return set_err(open_errmsg, -ENOMEM, "out of memory");
	snprintf(c->name, sizeof(c->name), "%s", name);
	c->flags = flags;

	r = map_segment(name, CB_SEG_STATE, 0, &base, &c->state_size,
	    open_errmsg);
	if (r < 0)
		goto fail;
	c->state = base;
	r = map_segment(name, CB_SEG_SLOTS, !(flags & CB_OPEN_RDONLY), &base,
	    &c->slots_size, open_errmsg);
	/* The state segment is world-readable, the slots segment only for
	 * the broker's group: an observer outside it still reads the
	 * capacity and watches it, without pools' usage. */
	if (r == -EACCES && (flags & CB_OPEN_RDONLY))
		base = NULL;
	else if (r < 0)
		goto fail;
	c->slots = base;

	c->state_hdr = c->state;
	if (c->slots != NULL && c->state_hdr->instance !=
	    ((const struct cb_seg_header *)c->slots)->instance) {
		r = set_err(open_errmsg, -EPROTO, "state and slots segments "
		    "of '%s' belong to different broker instances (one was "
		    "replaced while opening; retry)", name);
		goto fail;
	}
	const struct cb_state_hot *hot = cb_seg_region(c->state, CB_RS_HOT);
	struct cb_slots_hot *shot = c->slots == NULL ? NULL :
	    cb_slots_record(c->slots, CB_RL_HOT, 0);

	c->state_word = &hot->state_word;
	c->watch_seq = &hot->watch_seq;
	c->watch_waiters = flags & CB_OPEN_RDONLY ? NULL :
	    &shot->watch_waiters;
	(void)shot;
	c->hello_fd = -1;
	if (!(flags & CB_OPEN_RDONLY)) {
		r = join(c);
		if (r < 0)
			goto fail;
	}
	open_errmsg[0] = '\0';
	*out = c;
	return 0;
fail:
	unmap_all(c);
	free(c);
	return r;
}

const char *cb_open_errmsg(void)
{
	return open_errmsg;
}

void cb_close(cb_client *c)
{
	if (c == NULL)
		return;
	/* In a forked child the entry and holds are the parent's. */
	if (c->rsv.local != NULL &&
	    c->fork_gen == atomic_load(&fork_generation)) {
		/* Places still queued (a waiter never dequeued) must not
		 * hold up the queue; the heads behind them are woken. */
		cb_wq_reclaim(c->slots, c->rsv.client, c->rsv.owner);
		cb_rsv_release_all(&c->rsv);
		cb_rsv_unclaim(c->slots, c->rsv.client, c->rsv.owner);
	}
	free(c->rsv.local);
	if (c->hello_fd >= 0)
		close(c->hello_fd);
	unmap_all(c);
	free(c);
}

static uint64_t load_state(const cb_client *c)
{
	/* Paired with the publisher's release store of the state word. */
	return atomic_load_explicit(c->state_word, memory_order_acquire);
}

unsigned cb_current(const cb_client *c)
{
	return CB_STATE_CAPACITY(load_state(c));
}

const uint64_t *cb_state_word(const cb_client *c)
{
	return (const uint64_t *)c->state_word;
}

int cb_source(const cb_client *c)
{
	return CB_STATE_SOURCE(load_state(c));
}

static const char *const placement_names[] = {
	[CB_PLACE_CONSOLIDATE] = "consolidate",
	[CB_PLACE_SPREAD] = "spread",
	[CB_PLACE_LEAST_LOADED] = "least_loaded",
};

const char *cb_placement_name(int policy)
{
	if (policy < CB_PLACE_CONSOLIDATE || policy > CB_PLACE_LEAST_LOADED)
		return "unknown";
	return placement_names[policy];
}

int cb_placement_parse(const char *name)
{
	for (int p = CB_PLACE_CONSOLIDATE; name != NULL &&
	    p <= CB_PLACE_LEAST_LOADED; p++)
		if (strcmp(name, placement_names[p]) == 0)
			return p;
	return -EINVAL;
}

const void *cb_client_state(const cb_client *c)
{
	return c->state;
}

const void *cb_client_slots(const cb_client *c)
{
	return c->slots;
}

const char *cb_name(const cb_client *c)
{
	return c->name;
}

static int timespec_before(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec < b->tv_sec ||
	    (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

/*
 * The waiter half of the eventcount (futex.h).  Sleeps in slices so a
 * missing wake (read-only watcher, hostile waiter count, dead broker)
 * bounds latency instead of hanging.
 */
static int watch_sleep(cb_client *c, uint32_t *generation, int timeout_ms)
{
	struct timespec deadline, slice;
	long slice_ms = c->watch_waiters != NULL ? WATCH_SLICE_MS :
	    WATCH_SLICE_RDONLY_MS;
	int r;

	if (timeout_ms > 0)
		deadline = cb_deadline_after_ms(timeout_ms);
	if (c->watch_waiters != NULL)
		atomic_fetch_add_explicit(c->watch_waiters, 1,
		    memory_order_seq_cst);
	for (;;) {
		/* seq_cst: see the eventcount argument in futex.h. */
		uint32_t s = atomic_load_explicit(c->watch_seq,
		    memory_order_seq_cst);
		uint64_t w = load_state(c);

		if (CB_STATE_GENERATION(w) != *generation) {
			*generation = CB_STATE_GENERATION(w);
			r = 0;
			break;
		}
		slice = cb_deadline_after_ms(slice_ms);
		if (timeout_ms > 0) {
			if (!timespec_before(&slice, &deadline)) {
				struct timespec now = cb_deadline_after_ms(0);

				if (!timespec_before(&now, &deadline)) {
					r = -ETIMEDOUT;
					break;
				}
				slice = deadline;
			}
		}
		/* Woken, EAGAIN (seq moved), EINTR or slice over: re-check. */
		cb_futex_wait(c->watch_seq, s, &slice);
		rehello(c);
	}
	if (c->watch_waiters != NULL)
		atomic_fetch_sub_explicit(c->watch_waiters, 1,
		    memory_order_seq_cst);
	return r;
}

int cb_watch(cb_client *c, uint32_t *generation, int timeout_ms)
{
	uint64_t w;

	if (c == NULL || generation == NULL || timeout_ms < -1)
		return -EINVAL;
	w = load_state(c);
	if (CB_STATE_GENERATION(w) != *generation) {
		*generation = CB_STATE_GENERATION(w);
		return 0;
	}
	if (timeout_ms == 0)
		return set_err(c->errmsg, -ETIMEDOUT, "no change since "
		    "generation %u", *generation);
	int r = watch_sleep(c, generation, timeout_ms);
	if (r < 0)
		set_err(c->errmsg, r, "no change since generation %u within "
		    "%d ms", *generation, timeout_ms);
	return r;
}

int cb_broker_check(cb_client *c)
{
	const struct cb_seg_header *h = c->state_hdr;
	uint64_t w = load_state(c), start, beat, now, ns;
	struct cb_ident id;
	uint32_t pid;

	if (atomic_load_explicit(&h->retired, memory_order_acquire) ||
	    (CB_STATE_FLAGS(w) & CB_STATE_F_RETIRED))
		return set_err(c->errmsg, -EPROTO, "segment retired: the "
		    "broker replaced it; re-open");
	if (CB_STATE_FLAGS(w) & CB_STATE_F_STOPPING)
		return set_err(c->errmsg, -ESRCH, "broker stopped");
	/* Bounded: a broker killed inside the identity seqlock must not
	 * make this spin (seqlock.h). */
	if (cb_snapshot_ident(c->state, &id) < 0)
		return set_err(c->errmsg, -ESRCH, "broker identity unreadable "
		    "(a broker died while writing it)");
	pid = id.pid;
	start = id.start;
	/* From another PID namespace the broker's pid means nothing here:
	 * judge by the heartbeat alone. */
	ns = atomic_load_explicit(&h->broker_pidns, memory_order_relaxed);
	if ((ns == 0 || ns == cb_proc_pidns()) &&
	    !cb_proc_alive((pid_t)pid, start))
		return set_err(c->errmsg, -ESRCH, "broker pid %u is gone",
		    pid);
	beat = atomic_load_explicit(&h->heartbeat_ns, memory_order_relaxed);
	now = cb_monotonic_ns();
	if (now > beat && now - beat > (uint64_t)CB_STALE_MS * 1000000u)
		return set_err(c->errmsg, -ETIMEDOUT, "broker pid %u has not "
		    "heartbeaten for %llu ms", pid,
		    (unsigned long long)((now - beat) / 1000000u));
	rehello(c);
	return 0;
}

int cb_pool(cb_client *c, const char *pool_name)
{
	const struct cb_seg_header *h = c->state;
	struct cb_pool_def def;
	uint32_t n = h->region[CB_RS_POOLS].count;

	if (pool_name == NULL)
		return set_err(c->errmsg, -EINVAL, "no pool name");
	for (uint32_t p = 0; p < n && p < CB_MAX_POOLS; p++) {
		if (cb_snapshot_pool(c->state, (int)p, &def) < 0 ||
		    !(def.flags & CB_POOL_F_ACTIVE))
			continue;
		def.name[CB_POOL_NAME_MAX] = '\0';
		if (strcmp(def.name, pool_name) == 0) {
			atomic_fetch_or(&c->pools_known, 1ull << p);
			return (int)p;
		}
	}
	return set_err(c->errmsg, -ENOENT, "no pool '%.40s' in broker '%s' "
	    "(capctl pool set creates one)", pool_name, c->name);
}

static int pool_valid(cb_client *c, int pool)
{
	if (pool == 0)
		return 1;
	if (pool < 0 || pool >= CB_MAX_POOLS)
		return 0;
	if (atomic_load_explicit(&c->pools_known, memory_order_relaxed) &
	    (1ull << pool))
		return 1;
	struct cb_pool_def def;
	if (cb_snapshot_pool(c->state, pool, &def) == 0 &&
	    (def.flags & CB_POOL_F_ACTIVE)) {
		atomic_fetch_or(&c->pools_known, 1ull << pool);
		return 1;
	}
	return 0;
}

int cb_pool_info(cb_client *c, int pool, struct cb_pool_info *out)
{
	const struct cb_pool_conf *conf;
	struct cb_pool_def def;
	uint64_t u;

	if (out == NULL || !pool_valid(c, pool) ||
	    cb_snapshot_pool(c->state, pool, &def) < 0)
		return set_err(c->errmsg, -ENOENT, "no pool %d", pool);
	if (c->slots == NULL)
		return set_err(c->errmsg, -EACCES, "slots segment not "
		    "readable: pool usage needs the broker's group");
	conf = cb_seg_record(c->state, CB_RS_POOLS, 0, (uint32_t)pool);
	u = atomic_load_explicit(&((struct cb_pool_slot *)cb_slots_record(
	    c->slots, CB_RL_POOLS, (uint32_t)pool))->usage,
	    memory_order_acquire);
	memset(out, 0, sizeof(*out));
	memcpy(out->name, def.name, CB_POOL_NAME_MAX);
	out->limit = cb_rsv_limit(c->state, pool);
	out->observed = atomic_load_explicit(&conf->observed,
	    memory_order_relaxed);
	out->held = CB_USAGE_HELD(u);
	out->launching = CB_USAGE_LAUNCHING(u);
	out->window_ms = def.window_ms;
	return 0;
}

/*
 * The hint for an over-the-limit reserve: the earliest launch deadline
 * in the pool (the sweeper's, or a launcher's newer hint, which a
 * hostile client could inflate, so no later than one window), else the
 * broker's default.
 */
static uint32_t retry_hint(cb_client *c, int pool)
{
	const struct cb_pool_conf *conf = cb_seg_record(c->state, CB_RS_POOLS,
	    0, (uint32_t)pool);
	const struct cb_pool_slot *ps = cb_slots_record(c->slots, CB_RL_POOLS,
	    (uint32_t)pool);
	const struct cb_info_block *blk = cb_seg_region(c->state, CB_RS_INFO);
	uint64_t now = cb_monotonic_ns(), best = 0;
	uint64_t d = atomic_load_explicit(&conf->earliest_deadline_ns,
	    memory_order_relaxed);
	uint64_t h = atomic_load_explicit(&ps->launch_hint_ns,
	    memory_order_relaxed);
	uint64_t window = (uint64_t)cb_rsv_window_ms(c->state, pool) * 1000000u;
	uint32_t dflt = __atomic_load_n(&blk->info.retry_after_ms,
	    __ATOMIC_RELAXED);

	if (d > now)
		best = d;
	if (h > now && h <= now + window && (best == 0 || h < best))
		best = h;
	if (best != 0)
		return (uint32_t)((best - now + 999999) / 1000000);
	return dflt ? dflt : 100;
}

/* May this handle reserve and release at all? */
static int check_handle(cb_client *c)
{
	if (c->rsv.local == NULL)
		return set_err(c->errmsg, -EACCES, "handle is read-only "
		    "(CB_OPEN_RDONLY)");
	if (c->fork_gen != atomic_load_explicit(&fork_generation,
	    memory_order_relaxed))
		return set_err(c->errmsg, -EINVAL, "handle was opened before "
		    "fork(); open a new one in the child");
	return 0;
}

static int check_request(cb_client *c, const struct cb_request *req,
    const cb_ticket *ticket)
{
	int r;

	if (req == NULL || ticket == NULL)
		return set_err(c->errmsg, -EINVAL, "NULL request or ticket");
	r = check_handle(c);
	if (r < 0)
		return r;
	if (req->kind != CB_HOLD && req->kind != CB_LAUNCH)
		return set_err(c->errmsg, -EINVAL, "kind %d is neither "
		    "CB_HOLD nor CB_LAUNCH", req->kind);
	if (req->timeout_ms < -1)
		return set_err(c->errmsg, -EINVAL, "timeout_ms %d", 
		    req->timeout_ms);
	if (!pool_valid(c, req->pool))
		return set_err(c->errmsg, -ENOENT, "no pool %d", req->pool);
	return 0;
}

/* The errors of an over-the-limit reserve or wait: counted, hinted. */
static int over_limit(cb_client *c, int pool, int r, int timeout_ms,
    uint32_t *retry_after_ms)
{
	struct cb_pool_slot *ps = cb_slots_record(c->slots, CB_RL_POOLS,
	    (uint32_t)pool);

	atomic_fetch_add_explicit(&ps->rejected, 1, memory_order_relaxed);
	if (retry_after_ms != NULL)
		*retry_after_ms = retry_hint(c, pool);
	if (r == -EAGAIN)
		return set_err(c->errmsg, r, "pool %d is at its limit%s", pool,
		    cb_wq_hint(c->slots, pool) != 0 ? " (or waiters of the "
		    "same or a higher priority are queued)" : "");
	return set_err(c->errmsg, r, "pool %d: no slot within %d ms", pool,
	    timeout_ms);
}

static int reserve_failed(cb_client *c, int kind, int r)
{
	return set_err(c->errmsg, r, r == -ENOSPC ? "no free %s slot" :
	    "reserve failed: %s", r == -ENOSPC ? (kind == CB_HOLD ?
	    "local hold" : "launch table") : cb_strerror(r));
}

static int queue_full(cb_client *c)
{
	return set_err(c->errmsg, -ENOSPC, "waiter table full (%d blocked "
	    "reservers on this host)", CB_MAX_WAITERS);
}

/*
 * The blocking path of cb_reserve: a place in the queue (queue.h),
 * then wait as it moves up; leave on timeout.  Signals do not end the
 * wait (the place is kept and the deadline stays absolute).
 */
static int reserve_queued(cb_client *c, const struct cb_request *req,
    cb_ticket *ticket, int *full)
{
	struct cb_wq_entry me;
	struct timespec deadline;
	int r;

	rehello(c);
	r = cb_wq_enqueue(c->slots, c->rsv.client, c->rsv.owner, req->pool,
	    req->priority, &me);
	if (r < 0) {
		*full = 1;
		return r;
	}
	if (req->timeout_ms > 0)
		deadline = cb_deadline_after_ms(req->timeout_ms);
	r = cb_wq_wait(&c->rsv, &me, req->kind, req->observed,
	    req->timeout_ms > 0 ? &deadline : NULL, 0, ticket);
	if (r == -ETIMEDOUT)
		cb_wq_leave(c->slots, &me);
	return r;
}

int cb_reserve(cb_client *c, const struct cb_request *req,
    cb_ticket *ticket, uint32_t *retry_after_ms)
{
	int r = check_request(c, req, ticket), full = 0;

	if (r < 0)
		return r;
	/* The hot path: nobody queued (one relaxed load), one attempt.
	 * With waiters queued a request never passes one of the same or
	 * a higher priority (queue.h): fail fast, or join the queue. */
	if (req->timeout_ms == 0)
		r = cb_wq_blocked(c->slots, req->pool, req->priority) ?
		    -EAGAIN : cb_rsv_try(&c->rsv, req->pool, req->kind,
		    req->observed, ticket);
	else if (cb_wq_hint(c->slots, req->pool) == 0)
		r = cb_rsv_try(&c->rsv, req->pool, req->kind, req->observed,
		    ticket);
	else
		r = -EAGAIN;
	if (r == -EAGAIN && req->timeout_ms != 0)
		r = reserve_queued(c, req, ticket, &full);
	if (r == 0)
		return 0;
	if (r == -EAGAIN || r == -ETIMEDOUT)
		return over_limit(c, req->pool, r, req->timeout_ms,
		    retry_after_ms);
	if (r == -ESTALE)
		return set_err(c->errmsg, r, "queue entry pruned: this "
		    "handle's client entry was reclaimed");
	if (full)
		return queue_full(c);
	return reserve_failed(c, req->kind, r);
}

/*
 * Waiter handles.  opaque[0] the entry's WAITING word (0 once it left
 * the queue), [1] tag | kind << 32 | index, [2] arrival ticket,
 * [3] observed << 32 | priority.
 */
#define WAITER_TAG 0xcb01000000000000ull
#define WAITER_TAG_MASK 0xffff000000000000ull

static void waiter_pack(cb_waiter *w, const struct cb_wq_entry *me,
    const struct cb_request *req)
{
	w->opaque[0] = me->word;
	w->opaque[1] = WAITER_TAG | (uint64_t)(uint8_t)req->kind << 32 |
	    me->index;
	w->opaque[2] = me->ticket;
	w->opaque[3] = (uint64_t)req->observed << 32 |
	    (uint32_t)me->priority;
}

/* Decode a handle of this client's.  Returns 0, -ESTALE (no longer
 * queued), -EINVAL (not a waiter handle of this handle). */
static int waiter_unpack(cb_client *c, const cb_waiter *w,
    struct cb_wq_entry *me, int *kind, uint32_t *observed)
{
	uint64_t word = w->opaque[0];

	if ((w->opaque[1] & WAITER_TAG_MASK) != WAITER_TAG)
		return set_err(c->errmsg, -EINVAL, "not a waiter handle");
	if (word == 0)
		return set_err(c->errmsg, -ESTALE, "not queued (already "
		    "admitted or dequeued)");
	me->index = (uint32_t)w->opaque[1];
	me->word = word;
	me->pool = (int)CB_WAITER_POOL(word);
	me->ticket = w->opaque[2];
	me->priority = (int32_t)(uint32_t)w->opaque[3];
	*kind = (int)((w->opaque[1] >> 32) & 0xff);
	*observed = (uint32_t)(w->opaque[3] >> 32);
	if (me->index >= CB_MAX_WAITERS ||
	    CB_WAITER_STATE(word) != CB_WAITER_WAITING ||
	    CB_WAITER_CLIENT(word) != (c->rsv.client & 0x3ff) ||
	    (*kind != CB_HOLD && *kind != CB_LAUNCH))
		return set_err(c->errmsg, -EINVAL, "not a waiter handle of "
		    "this client");
	return 0;
}

/* What every call on a waiter handle checks first. */
static int waiter_open(cb_client *c, const cb_waiter *w,
    struct cb_wq_entry *me, int *kind, uint32_t *observed)
{
	int r;

	if (w == NULL)
		return set_err(c->errmsg, -EINVAL, "NULL waiter");
	r = check_handle(c);
	if (r < 0)
		return r;
	return waiter_unpack(c, w, me, kind, observed);
}

/* The queue no longer has the entry: the broker (or a scanner) freed
 * it because this handle's client entry was reclaimed. */
static int pruned(cb_client *c, int r)
{
	return set_err(c->errmsg, r, "no longer queued (pruned: this "
	    "handle's client entry was reclaimed)");
}

int cb_enqueue(cb_client *c, const struct cb_request *req, cb_waiter *w)
{
	cb_ticket unused;
	struct cb_wq_entry me;
	int r;

	if (w == NULL)
		return set_err(c->errmsg, -EINVAL, "NULL waiter");
	r = check_request(c, req, &unused);
	if (r < 0)
		return r;
	r = cb_wq_enqueue(c->slots, c->rsv.client, c->rsv.owner, req->pool,
	    req->priority, &me);
	if (r < 0)
		return queue_full(c);
	waiter_pack(w, &me, req);
	return 0;
}

int cb_queue_position(cb_client *c, const cb_waiter *w)
{
	struct cb_wq_entry me;
	uint32_t observed;
	int kind, r;

	r = waiter_open(c, w, &me, &kind, &observed);
	if (r < 0)
		return r;
	r = cb_wq_position(c->slots, &me);
	return r < 0 ? pruned(c, r) : r;
}

int cb_wait(cb_client *c, cb_waiter *w, int timeout_ms, cb_ticket *ticket,
    uint32_t *retry_after_ms)
{
	struct cb_wq_entry me;
	struct timespec deadline;
	uint32_t observed;
	int kind, r;

	if (ticket == NULL || timeout_ms < -1)
		return set_err(c->errmsg, -EINVAL, "NULL ticket, or "
		    "timeout_ms < -1");
	r = waiter_open(c, w, &me, &kind, &observed);
	if (r < 0)
		return r;
	rehello(c);
	if (timeout_ms >= 0)
		deadline = cb_deadline_after_ms(timeout_ms);
	r = cb_wq_wait(&c->rsv, &me, kind, observed,
	    timeout_ms >= 0 ? &deadline : NULL, 1, ticket);
	if (r == -ETIMEDOUT)
		return over_limit(c, me.pool, r, timeout_ms, retry_after_ms);
	if (r == -EINTR)
		return set_err(c->errmsg, r, "interrupted by a signal; still "
		    "queued");
	w->opaque[0] = 0;       /* admitted, or out of the queue */
	if (r == 0)
		return 0;
	if (r == -ESTALE)
		return pruned(c, r);
	return reserve_failed(c, kind, r);
}

int cb_dequeue(cb_client *c, cb_waiter *w)
{
	struct cb_wq_entry me;
	uint32_t observed;
	int kind, r;

	r = waiter_open(c, w, &me, &kind, &observed);
	if (r < 0)
		return r;
	w->opaque[0] = 0;
	r = cb_wq_leave(c->slots, &me);
	return r < 0 ? pruned(c, r) : 0;
}

int cb_release(cb_client *c, const cb_ticket *ticket)
{
	int r;

	if (ticket == NULL)
		return set_err(c->errmsg, -EINVAL, "NULL ticket");
	r = check_handle(c);
	if (r < 0)
		return r;
	r = cb_rsv_release(&c->rsv, ticket);
	if (r == -ESTALE)
		return set_err(c->errmsg, r, "ticket already released, "
		    "reclaimed or expired");
	if (r == -EINVAL)
		return set_err(c->errmsg, r, "not a ticket this handle can "
		    "release (holds are released by the handle that took "
		    "them)");
	return r;
}

/*
 * Worker placement (place.h).  A picker that must wait re-checks when a
 * release in its pool wakes the pool's waiters, and at least every
 * PICK_SLICE_MS on its own: room on a worker can also come from a
 * release in another pool, or a worker turning ready.  Blocked pickers
 * do not take part in the fair queue of cb_reserve.
 */
#define PICK_SLICE_MS 10

static int pick_check(cb_client *c, const struct cb_request *req,
    int policy, const cb_ticket *ticket, const char *worker_id,
    unsigned long id_len)
{
	int r;

	if (req == NULL || ticket == NULL)
		return set_err(c->errmsg, -EINVAL, "NULL request or ticket");
	r = check_handle(c);
	if (r < 0)
		return r;
	if (req->kind != CB_HOLD)
		return set_err(c->errmsg, -EINVAL, "kind %d: only CB_HOLD "
		    "binds to a worker", req->kind);
	if (!cb_place_policy_valid(policy))
		return set_err(c->errmsg, -EINVAL, "placement policy %d is "
		    "not one of CB_PLACE_*", policy);
	if (req->timeout_ms < -1)
		return set_err(c->errmsg, -EINVAL, "timeout_ms %d",
		    req->timeout_ms);
	if (worker_id == NULL ? id_len != 0 : id_len < CB_WORKER_ID_STRLEN)
		return set_err(c->errmsg, -EINVAL, "worker id buffer of %lu "
		    "bytes, need CB_WORKER_ID_STRLEN (%d)", id_len,
		    CB_WORKER_ID_STRLEN);
	if (!pool_valid(c, req->pool))
		return set_err(c->errmsg, -ENOENT, "no pool %d", req->pool);
	return 0;
}

/* Wait for room (see above) until picked or the deadline. */
static int pick_wait(cb_client *c, const struct cb_request *req,
    int policy, cb_ticket *ticket, char *id)
{
	struct cb_pool_slot *ps = cb_slots_record(c->slots, CB_RL_POOLS,
	    (uint32_t)req->pool);
	struct timespec deadline, slice, now;
	int r;

	if (req->timeout_ms > 0)
		deadline = cb_deadline_after_ms(req->timeout_ms);
	for (;;) {
		/* seq_cst: read before the attempt, so a release after
		 * the attempt moves it and the wait returns at once. */
		uint32_t s = atomic_load_explicit(&ps->release_seq,
		    memory_order_seq_cst);

		r = cb_place_try(&c->rsv, req->pool, policy, ticket, id);
		if (r != -EAGAIN)
			return r;
		now = cb_deadline_after_ms(0);
		if (req->timeout_ms > 0 && !timespec_before(&now, &deadline))
			return -ETIMEDOUT;
		slice = cb_deadline_after_ms(PICK_SLICE_MS);
		if (req->timeout_ms > 0 && timespec_before(&deadline, &slice))
			slice = deadline;
		cb_futex_wait(&ps->release_seq, s, &slice);
		rehello(c);
	}
}

int cb_pick_worker(cb_client *c, const struct cb_request *req, int policy,
    cb_ticket *ticket, char *worker_id, unsigned long id_len,
    uint32_t *retry_after_ms)
{
	char id[CB_WORKER_ID_STRLEN];
	int r = pick_check(c, req, policy, ticket, worker_id, id_len);

	if (r < 0)
		return r;
	r = cb_place_try(&c->rsv, req->pool, policy, ticket, id);
	if (r == -EAGAIN && req->timeout_ms != 0)
		r = pick_wait(c, req, policy, ticket, id);
	if (r == 0) {
		cb_rsv_count_admitted(c->slots, c->rsv.client, req->pool);
		if (worker_id != NULL)
			memcpy(worker_id, id, CB_WORKER_ID_STRLEN);
		return 0;
	}
	if (r == -EAGAIN || r == -ETIMEDOUT) {
		atomic_fetch_add_explicit(&((struct cb_pool_slot *)
		    cb_slots_record(c->slots, CB_RL_POOLS,
		    (uint32_t)req->pool))->rejected, 1, memory_order_relaxed);
		if (retry_after_ms != NULL)
			*retry_after_ms = retry_hint(c, req->pool);
		return set_err(c->errmsg, r, r == -EAGAIN ? "pool %d is at "
		    "its limit, or no ready worker has room" : "pool %d: no "
		    "room on a ready worker within %d ms", req->pool,
		    req->timeout_ms);
	}
	if (r == -ENOENT)
		return set_err(c->errmsg, r, "no ready worker in broker '%s'",
		    c->name);
	if (r == -ENOSPC)
		return set_err(c->errmsg, r, "too many bound holds in this "
		    "handle (%d) or holds in this process",
		    CB_BINDS_PER_CLIENT);
	return set_err(c->errmsg, r, "pick failed: %s", cb_strerror(r));
}

int cb_worker_inflight(cb_client *c, const char *worker_id)
{
	struct cb_worker_rec rec;
	int r;

	if (worker_id == NULL)
		return set_err(c->errmsg, -EINVAL, "NULL worker id");
	if (c->slots == NULL)
		return set_err(c->errmsg, -EACCES, "slots segment not "
		    "readable: worker counts need the broker's group");
	r = cb_place_find(c->state, worker_id, &rec);
	if (r == -ENOENT)
		return set_err(c->errmsg, r, "no worker '%.64s'", worker_id);
	if (r < 0)
		return set_err(c->errmsg, r, "worker table unreadable (a "
		    "broker died mid-write?)");
	if (rec.slot >= CB_MAX_WORKERS)
		return set_err(c->errmsg, -EPROTO, "worker '%.64s' has no "
		    "placement slot", worker_id);
	return (int)cb_place_inflight(c->slots, rec.slot);
}

int cb_ticket_format(const cb_ticket *t, char *buf, unsigned long len)
{
	int n = snprintf(buf, len, "cb1-%016llx-%016llx",
	    (unsigned long long)t->opaque[0],
	    (unsigned long long)t->opaque[1]);

	return n < 0 || (unsigned long)n >= len ? -ENOSPC : 0;
}

int cb_ticket_parse(const char *s, cb_ticket *t)
{
	unsigned long long a, b;
	int end = 0;

	if (s == NULL || strlen(s) != 4 + 16 + 1 + 16 ||
	    sscanf(s, "cb1-%16llx-%16llx%n", &a, &b, &end) != 2 ||
	    end != (int)strlen(s) || strspn(s + 4, "0123456789abcdef-") !=
	    strlen(s) - 4)
		return -EINVAL;
	t->opaque[0] = a;
	t->opaque[1] = b;
	return 0;
}

const char *cb_errmsg(const cb_client *c)
{
	return c != NULL ? c->errmsg : open_errmsg;
}

const char *cb_strerror(int err)
{
	switch (err < 0 ? -err : err) {
	case 0:
		return "success";
	case EAGAIN:
		return "over the limit; retry later";
	case ETIMEDOUT:
		return "timed out";
	case ESTALE:
		return "ticket already released, reclaimed or expired";
	case ENOENT:
		return "no such broker, segment or pool";
	case EPROTO:
		return "incompatible or corrupt segment";
	case EACCES:
		return "permission denied";
	case ESRCH:
		return "broker is not running";
	case EXDEV:
		return "not in the broker's PID namespace";
	case EINVAL:
		return "invalid argument";
	case ENOMEM:
		return "out of memory";
	default:
		return strerror(err < 0 ? -err : err);
	}
}
