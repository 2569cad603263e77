/*
 * methods.c - the methods of sections 2, 3 and 7: one pair = take one
 * unit if the limit allows, give it back.
 *
 * Equal work.  Every method's pair runs in the same loop
 * (method_child()), with the same stop flag checked every BATCH pairs,
 * the same per-process timing and the same best-of-R repetition
 * (measure()).  Each run starts from fresh semaphores (method_reset()),
 * so no run inherits another's state.
 */
#include <errno.h>
#include <fcntl.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/sem.h>
#include <time.h>
#include <unistd.h>

#include "capbench.h"
#include "capbroker.h"
#include "clock.h"

const char *const method_name[M_COUNT] = {
	"capbroker", "posix_sem", "sysv_sem_undo", "flock", "redis",
	"protocol_floor", "store_floor", "capbroker_shared", "lane_floor",
	"api_floor", "inline_floor", "word_floor", "capbroker_global",
};

const char *const method_title[M_COUNT] = {
	"capbroker hold", "POSIX sem", "SysV SEM_UNDO", "flock counter",
	"Redis Lua lease", "protocol floor (8 RMW)",
	"store floor (2 RMW + stores)",
	"capbroker hold, shared entry (no lanes)",
	"lane floor (store floor + checks)",
	"API floor (lane floor + calls, lane lookup, bias)",
	"inline floor (lane floor + bias, no call)",
	"word floor (inline, one-word record, bias on release only)",
	"capbroker hold, global pool",
};

/* One process's state while it runs a method.  The primitives' addresses
 * are copied in, so a pair loads them as it loaded globals before. */
struct method_ctx {
	const struct method_arg *a;
	sem_t *psem;			/* M_POSIX */
	int semid;			/* M_SYSV */
	_Atomic uint64_t *usage;	/* the floors: the pool counter */
	struct floor_line *me;		/* the floors: this process's line */
	cb_client *c;
	struct cb_request req;
	int fd;
	_Atomic uint32_t *count;	/* M_FLOCK: the counter */
	struct reader rd;		/* M_REDIS */
	uint64_t seq;
	char id[32];
	uint64_t wait_ns;		/* section 7: the last reserve's wait */
};

/* ----------------------------------------------------------------- */
/* The primitives, made once before any fork(). */

/*
 * The POSIX semaphore and section 1's raw word share a page (on lines
 * of their own); the floors' words, the SysV semaphore and the flock
 * counter's path.  Returns 0, or -errno with a message in err.
 */
int prims_create(struct bench_prims *pr, const char *rundir, char *err,
    size_t cap)
{
	void *shared;

	bfmt(pr->lockpath, sizeof(pr->lockpath), "%s/flock.counter", rundir);
	shared = shared_alloc(4096);
	pr->floor = shared_alloc(sizeof(*pr->floor));
	if (shared == NULL || pr->floor == NULL) {
		snprintf(err, cap, "mmap: %s", strerror(errno));
		return -ENOMEM;
	}
	pr->psem = shared;
	pr->raw_word = (_Atomic uint64_t *)((char *)shared + 2048);
	atomic_store(pr->raw_word, 65535);
	if (sem_init(pr->psem, 1, SEM_LIMIT) < 0 ||
	    (pr->semid = semget(IPC_PRIVATE, 1, IPC_CREAT | 0600)) < 0) {
		snprintf(err, cap, "semaphores: %s", strerror(errno));
		return -errno;
	}
	return 0;
}

/* The SysV semaphore outlives capbench unless removed. */
void prims_destroy(struct bench_prims *pr)
{
	if (pr->semid >= 0)
		semctl(pr->semid, 0, IPC_RMID);
	pr->semid = -1;
}

/* ----------------------------------------------------------------- */
/* Per-process set-up. */

/* The methods that are capbroker's own hold through libcapbroker. */
static int is_cb(enum method m)
{
	return m == M_CB || m == M_CB_SHARED || m == M_CB_GLOBAL;
}

static int setup_cb(struct method_ctx *x, char *err, size_t cap)
{
	const struct method_arg *a = x->a;
	int r;

	/* This worker is a process of its own: the variable reaches only
	 * its cb_open (client/handle.c reads it there). */
	if (a->meth == M_CB_SHARED && setenv("CAPBROKER_LANES", "0", 1) < 0)
		return -errno;
	r = cb_open(&x->c, a->peers->name, 0);

	if (r < 0) {
		snprintf(err, cap, "cb_open: %s", cb_open_errmsg());
		return r;
	}
	r = cb_pool(x->c, a->pool);
	if (r < 0) {
		snprintf(err, cap, "cb_pool %s: %s", a->pool, cb_strerror(r));
		return r;
	}
	x->req = (struct cb_request){ .pool = r, .kind = a->kind,
	    .timeout_ms = a->timeout_ms };
	return 0;
}

static int setup_flock(struct method_ctx *x, char *err, size_t cap)
{
	const char *path = x->a->prims->lockpath;

	x->fd = open(path, O_RDWR | O_CLOEXEC);
	x->count = x->fd < 0 ? MAP_FAILED : mmap(NULL, 4096,
	    PROT_READ | PROT_WRITE, MAP_SHARED, x->fd, 0);
	if (x->count == MAP_FAILED) {
		bfmt(err, cap, "%s: %s", path, strerror(errno));
		return -errno;
	}
	return 0;
}

static int setup_redis(struct method_ctx *x, char *err, size_t cap)
{
	const char *sock = x->a->peers->redis_sock;

	x->rd.fd = unix_connect(sock);
	if (x->rd.fd < 0) {
		bfmt(err, cap, "connect %s: %s", sock, strerror(-x->rd.fd));
		return x->rd.fd;
	}
	return 0;
}

static int m_setup(struct method_ctx *x, char *err, size_t cap)
{
	switch (x->a->meth) {
	case M_CB:
	case M_CB_GLOBAL:
	case M_CB_SHARED: return setup_cb(x, err, cap);
	case M_FLOCK:	return setup_flock(x, err, cap);
	case M_REDIS:	return setup_redis(x, err, cap);
	default:	return 0;	/* the semaphores were made before fork() */
	}
}

static void m_teardown(struct method_ctx *x)
{
	if (is_cb(x->a->meth))
		cb_close(x->c);
	else if (x->a->meth == M_FLOCK)
		close(x->fd);
	else if (x->a->meth == M_REDIS)
		close(x->rd.fd);
}

/* ----------------------------------------------------------------- */
/* The pairs: 0 done, 1 refused (over the limit), or -errno. */

static int pair_cb(struct method_ctx *x)
{
	cb_ticket t;
	/* The wait is section 7's (blocking reserves) only: two clock
	 * reads (~50 ns each here) would swamp the hold section's pair. */
	uint64_t t0 = x->a->timeout_ms != 0 ? cb_monotonic_ns() : 0;
	int r = cb_reserve(x->c, &x->req, &t, NULL);

	if (x->a->timeout_ms != 0)
		x->wait_ns = cb_monotonic_ns() - t0;

	if (r == -EAGAIN || r == -ETIMEDOUT)
		return 1;
	if (r < 0)
		return r;
	spin_ns(x->a->hold_ns);
	r = cb_release(x->c, &t);
	return r < 0 ? r : 0;
}

/* Like cb_reserve(): try first, then (timeout > 0) block until a
 * deadline. */
static int pair_posix(struct method_ctx *x)
{
	/* As in pair_cb: the wait is measured for section 7 only. */
	uint64_t t0 = x->a->timeout_ms != 0 ? cb_monotonic_ns() : 0;
	int r = sem_trywait(x->psem);

	if (r < 0 && errno == EAGAIN && x->a->timeout_ms > 0) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += x->a->timeout_ms / 1000;
		ts.tv_nsec += (x->a->timeout_ms % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		while ((r = sem_timedwait(x->psem, &ts)) < 0 && errno == EINTR)
			;
	}
	if (x->a->timeout_ms != 0)
		x->wait_ns = cb_monotonic_ns() - t0;
	if (r < 0)
		return errno == EAGAIN || errno == ETIMEDOUT ? 1 : -errno;
	spin_ns(x->a->hold_ns);
	return sem_post(x->psem) < 0 ? -errno : 0;
}

static int pair_sysv(struct method_ctx *x)
{
	struct sembuf down = { 0, -1, SEM_UNDO | IPC_NOWAIT };
	struct sembuf up = { 0, 1, SEM_UNDO };

	if (semop(x->semid, &down, 1) < 0)
		return errno == EAGAIN ? 1 : -errno;
	spin_ns(x->a->hold_ns);
	return semop(x->semid, &up, 1) < 0 ? -errno : 0;
}

/* A counter in a lock file, changed under flock(LOCK_EX). */
static int pair_flock(struct method_ctx *x)
{
	int ok;

	if (flock(x->fd, LOCK_EX) < 0)
		return -errno;
	ok = atomic_load_explicit(x->count, memory_order_relaxed) <
	    (uint32_t)x->a->limit;
	if (ok)
		atomic_store_explicit(x->count, atomic_load_explicit(x->count,
		    memory_order_relaxed) + 1, memory_order_relaxed);
	flock(x->fd, LOCK_UN);
	if (!ok)
		return 1;
	spin_ns(x->a->hold_ns);
	if (flock(x->fd, LOCK_EX) < 0)
		return -errno;
	atomic_store_explicit(x->count, atomic_load_explicit(x->count,
	    memory_order_relaxed) - 1, memory_order_relaxed);
	flock(x->fd, LOCK_UN);
	return 0;
}

static int pair_redis(struct method_ctx *x)
{
	char now[24], ttl[16], limit[16];
	long long iv = 0;
	int r;

	snprintf(x->id, sizeof(x->id), "%d:%llu", (int)getpid(),
	    (unsigned long long)++x->seq);
	snprintf(now, sizeof(now), "%llu",
	    (unsigned long long)(cb_realtime_ns() / 1000000u));
	snprintf(ttl, sizeof(ttl), "%d", REDIS_TTL_MS);
	snprintf(limit, sizeof(limit), "%d", x->a->limit);
	r = redis_cmd(&x->rd, &iv, NULL, 0, 8, (const char *const[]){
	    "EVALSHA", x->a->peers->redis_sha, "1", "capbench:sem", now, ttl,
	    limit, x->id });
	if (r < 0)
		return r;
	if (iv != 1)
		return 1;
	spin_ns(x->a->hold_ns);
	r = redis_cmd(&x->rd, &iv, NULL, 0, 3, (const char *const[]){
	    "ZREM", "capbench:sem", x->id });
	return r < 0 ? r : iv == 1 ? 0 : -EPROTO;
}

/* reserve.h's hold and release, steps 1-4 each, and nothing else. */
static int pair_floor(struct method_ctx *x)
{
	_Atomic uint64_t *u = x->usage;
	uint64_t v = atomic_load_explicit(u, memory_order_relaxed);

	atomic_fetch_add(&x->me->seq, 1);
	do {
		if (v + 1 > (uint64_t)x->a->limit) {
			atomic_fetch_add(&x->me->seq, 0xff);
			return 1;
		}
	} while (!atomic_compare_exchange_weak(u, &v, v + 1));
	atomic_fetch_add(&x->me->holds, 1);
	atomic_fetch_add(&x->me->seq, 0xff);
	spin_ns(x->a->hold_ns);
	atomic_fetch_add(&x->me->seq, 1);
	atomic_fetch_sub(&x->me->holds, 1);
	v = atomic_load_explicit(u, memory_order_relaxed);
	while (!atomic_compare_exchange_weak(u, &v, v - 1))
		;
	atomic_fetch_add(&x->me->seq, 0xff);
	return 0;
}

/*
 * The same pair with one writer per record: the floor of a crash-safe
 * hold (issue 14).  pair_floor() above writes every word with a locked
 * read-modify-write because today's S counts the windows of all of a
 * process's threads; here, as with one client entry per reserving
 * thread, each word but the counter has a single writer.
 *
 *   U  the pool counter (x->usage): written by every process, so a
 *      CAS (acq_rel) -- POSIX sem's pair makes the same two;
 *   S  this process's window word (x->me->seq): written only by this
 *      process, plain stores; read by the reclaimer and the recount;
 *   H  this process's hold count (x->me->holds): likewise.
 *
 * Take (s, h: this process's own last stores, read back relaxed):
 *   1. S = s + 1 (open), relaxed: kept before the CAS by the CAS's
 *      release half; a reader whose acquire load of U sees the new
 *      count sees the window open, or closed since.
 *   2. CAS U: +1 iff within the limit, acq_rel.  Refused: S = s + 0x100
 *      (close, release) and nothing else was written.
 *   3. H = h + 1, release: after the CAS (its acquire half keeps the
 *      store below it), and whoever acquire-loads the new H sees U's.
 *   4. S = s + 0x100 (close: version + 1, in flight - 1), release:
 *      whoever acquire-loads the closed S sees H and U after the
 *      admission.
 * Give (s, h as the take left them): S = s + 1 (open, relaxed, kept
 *   before H's store by that store's release); H = h - 1 (release:
 *   whoever acquire-loads the record gone sees the window open); CAS U:
 *   -1 (acq_rel: its release orders the record's removal before it);
 *   S = s + 0x100 (close, release).
 * Record after admit, removed before the give-back, as in reserve.h, so
 * U never under-counts.
 *
 * Why nothing cheaper is crash-safe: U is the one word many processes
 * write and needs its RMW whatever else is done.  What crash safety
 * adds is that a process killed at any instruction leaves, in memory
 * only it wrote, what it held: S closed, H is exactly its units and the
 * reclaimer subtracts them; S open, at most one unit lies between H and
 * U, which the recount's slack covers.  Drop the window or the record
 * and the reclaimer no longer knows what a dead process held.  On
 * x86-64 the stores are plain movs to a line this CPU owns (TSO keeps
 * them in order, the locked CAS drains the store buffer): the pair
 * costs its two locked instructions.
 *
 * A cost, not a proof: what the recount and the reclaimer must read,
 * and with which orderings, to stay exact under these stores (TSO store
 * buffers, ARM's release/acquire) is for the new hold path to model.
 */
static int pair_store_floor(struct method_ctx *x)
{
	_Atomic uint64_t *u = x->usage;
	_Atomic uint32_t *seq = &x->me->seq, *holds = &x->me->holds;
	uint32_t s = atomic_load_explicit(seq, memory_order_relaxed);
	uint32_t h = atomic_load_explicit(holds, memory_order_relaxed);
	uint64_t v = atomic_load_explicit(u, memory_order_relaxed);

	atomic_store_explicit(seq, s + 1, memory_order_relaxed);
	do {
		if (v + 1 > (uint64_t)x->a->limit) {
			atomic_store_explicit(seq, s + 0x100,
			    memory_order_release);
			return 1;
		}
	} while (!atomic_compare_exchange_weak_explicit(u, &v, v + 1,
	    memory_order_acq_rel, memory_order_relaxed));
	atomic_store_explicit(holds, h + 1, memory_order_release);
	atomic_store_explicit(seq, s + 0x100, memory_order_release);
	spin_ns(x->a->hold_ns);
	atomic_store_explicit(seq, s + 0x101, memory_order_relaxed);
	atomic_store_explicit(holds, h, memory_order_release);
	v = atomic_load_explicit(u, memory_order_relaxed);
	while (!atomic_compare_exchange_weak_explicit(u, &v, v - 1,
	    memory_order_acq_rel, memory_order_relaxed))
		;
	atomic_store_explicit(seq, s + 0x200, memory_order_release);
	return 0;
}

#define LANE_FLOOR_TABLE 8192
static uint64_t lane_floor_table[LANE_FLOOR_TABLE];
static uint64_t lane_floor_nonce;

/* What a lane floor's hold checks before it writes anything: the
 * retired flag, the limit (*limit) and U (*v) against it, a free entry
 * (*idx) of the private table for the next nonce.  0, or 1 (full),
 * -EPROTO, -ENOSPC. */
static inline __attribute__((always_inline)) int lane_floor_precheck(
    struct method_ctx *x, uint32_t *limit, uint64_t *v, uint32_t *idx)
{
	struct floor_words *fw = x->a->prims->floor;

	if (atomic_load_explicit(&fw->state_word, memory_order_acquire) != 0)
		return -EPROTO;
	*limit = atomic_load_explicit(&fw->limit, memory_order_acquire);
	*v = atomic_load_explicit(x->usage, memory_order_relaxed);
	if (*v + 1 > *limit)
		return 1;
	*idx = (uint32_t)(lane_floor_nonce + 1) & (LANE_FLOOR_TABLE - 1);
	return lane_floor_table[*idx] != 0 ? -ENOSPC : 0;
}

/* A lane floor's admission, its window open: U + 1 by the CAS iff within
 * limit (v: U as last read), then the limit re-checked after it.  0, 1
 * refused (nothing written: the caller closes its window), -EAGAIN over
 * the limit re-read (never here: the limit is fixed). */
static inline __attribute__((always_inline)) int floor_admit(
    struct method_ctx *x, uint64_t v, uint32_t limit)
{
	_Atomic uint64_t *u = x->usage;

	do {
		if (v + 1 > limit)
			return 1;
	} while (!atomic_compare_exchange_weak_explicit(u, &v, v + 1,
	    memory_order_seq_cst, memory_order_relaxed));
	if (atomic_load_explicit(u, memory_order_seq_cst) >
	    atomic_load_explicit(&x->a->prims->floor->limit,
	    memory_order_seq_cst))
		return -EAGAIN;
	return 0;
}

/* A lane floor's release: the ticket's private entry (idx, nonce)
 * checked and cleared (-ESTALE if it is not outstanding: nothing
 * written). */
static inline __attribute__((always_inline)) int floor_entry_take(
    uint32_t idx, uint64_t nonce)
{
	if (idx >= LANE_FLOOR_TABLE ||
	    lane_floor_table[idx] != (nonce << 6 | 1))
		return -ESTALE;
	lane_floor_table[idx] = 0;
	return 0;
}

/* The unit back (U - 1 by a CAS, never below 0), its window open. */
static inline __attribute__((always_inline)) void floor_unit_back(
    struct method_ctx *x)
{
	_Atomic uint64_t *u = x->usage;
	uint64_t v = atomic_load_explicit(u, memory_order_relaxed);

	while ((uint32_t)v != 0 && !atomic_compare_exchange_weak_explicit(u,
	    &v, v - 1, memory_order_seq_cst, memory_order_relaxed))
		;
}

/* A release's wake-up checks: 0, or -EINVAL (never here: nobody
 * waits). */
static inline __attribute__((always_inline)) int floor_wake_check(
    struct method_ctx *x)
{
	struct floor_words *fw = x->a->prims->floor;

	if (atomic_load_explicit(&fw->waiters, memory_order_seq_cst) != 0 ||
	    atomic_load_explicit(&fw->pickers, memory_order_seq_cst) != 0)
		return -EINVAL;
	return 0;
}

/* The lane floor's hold: 0 and the ticket in *tk, or not admitted. */
static inline __attribute__((always_inline)) int lane_floor_hold(
    struct method_ctx *x, cb_ticket *tk)
{
	_Atomic uint32_t *seq = &x->me->seq, *holds = &x->me->holds;
	uint32_t s = atomic_load_explicit(seq, memory_order_relaxed);
	uint32_t h = atomic_load_explicit(holds, memory_order_relaxed);
	uint32_t limit, idx;
	uint64_t v;
	int r = lane_floor_precheck(x, &limit, &v, &idx);

	if (r != 0)
		return r;
	atomic_store_explicit(seq, s + 1, memory_order_relaxed);
	r = floor_admit(x, v, limit);
	if (r == 1)
		atomic_store_explicit(seq, s + 0x100, memory_order_release);
	if (r != 0)
		return r;
	atomic_store_explicit(holds, h + 1, memory_order_release);
	atomic_store_explicit(seq, s + 0x100, memory_order_release);
	lane_floor_table[idx] = ++lane_floor_nonce << 6 | 1;
	tk->opaque[0] = 4 | (uint64_t)idx << 40;
	tk->opaque[1] = lane_floor_nonce;
	return 0;
}

/* The lane floor's release of ticket *tk: 0, or -ESTALE. */
static inline __attribute__((always_inline)) int lane_floor_release(
    struct method_ctx *x, const cb_ticket *tk)
{
	_Atomic uint32_t *seq = &x->me->seq, *holds = &x->me->holds;
	uint32_t s = atomic_load_explicit(seq, memory_order_relaxed);
	uint32_t h = atomic_load_explicit(holds, memory_order_relaxed);

	if (floor_entry_take((uint32_t)(tk->opaque[0] >> 40),
	    tk->opaque[1]) < 0)
		return -ESTALE;
	atomic_store_explicit(seq, s + 0x101, memory_order_relaxed);
	atomic_store_explicit(holds, h - 1, memory_order_release);
	floor_unit_back(x);
	atomic_store_explicit(seq, s + 0x200, memory_order_release);
	return floor_wake_check(x);
}

/*
 * The floor of a correct lane hold (issue 14): pair_store_floor()'s
 * writes, plus, inline and without calls, what capbroker's hold must
 * do besides its handle's argument checks: the retired flag (an acquire
 * load of the state word), the limit (a load) and the pre-check of U
 * before the window (a refused attempt writes nothing), the limit
 * re-checked after the CAS (issue 12, finding 3), an exact ticket (a
 * nonce in a table private to the process, probed, written, checked
 * and cleared: a double release is refused), and the release's
 * wake-up checks (waiters, blocked pickers).  What capbroker's pair
 * costs beyond this is its API: calls, the request's and the handle's
 * checks, the lane lookup and its bias check; pair_api_floor() adds
 * the least of that.
 */
static int pair_lane_floor(struct method_ctx *x)
{
	cb_ticket tk;
	int r = lane_floor_hold(x, &tk);

	if (r != 0)
		return r;
	spin_ns(x->a->hold_ns);
	return lane_floor_release(x, &tk);
}

/*
 * The API floor: the lane floor behind the least a library call of
 * capbroker's contract adds to it.  Each side is a call that the
 * compiler cannot inline (through a function pointer, as a call into a
 * shared library goes through the PLT) and that, before the lane
 * floor's work: checks the handle against the process's fork
 * generation (a handle must not be used in a child), finds the calling
 * thread's lane through an initial-exec thread-local keyed by the
 * handle (threads share a handle), and enters the lane's bias (the
 * `shared` and `revoke` loads and the `active` stores around the work:
 * what lets another thread release the ticket, lib/lane.h).  Nothing
 * else of cb_reserve's: no request struct, pool index or queue hint.
 */
struct api_floor_lane {
	_Atomic uint32_t active, revoke, shared;
};

struct api_floor_handle {
	uint64_t serial;
	unsigned fork_gen;
};

static unsigned api_floor_fork_gen;
static struct api_floor_lane api_floor_lane0;
static __thread struct {
	uint64_t serial;
	struct api_floor_lane *lane;
} api_floor_tls __attribute__((tls_model("initial-exec")));

/* The lane's bias entered (lib/lane.h, lane_enter()): 1, or 0 when it
 * was revoked (never here). */
static inline __attribute__((always_inline)) int floor_bias_enter(
    struct api_floor_lane *l)
{
	if (atomic_load_explicit(&l->shared, memory_order_relaxed))
		return 0;
	atomic_store_explicit(&l->active, 1, memory_order_relaxed);
	atomic_signal_fence(memory_order_seq_cst);
	if (atomic_load_explicit(&l->revoke, memory_order_relaxed) != 0) {
		atomic_store_explicit(&l->active, 0, memory_order_release);
		return 0;
	}
	return 1;
}

static inline __attribute__((always_inline)) struct api_floor_lane *
api_floor_enter(const struct api_floor_handle *hd)
{
	struct api_floor_lane *l;

	if (hd->fork_gen != api_floor_fork_gen ||
	    api_floor_tls.serial != hd->serial)
		return NULL;
	l = api_floor_tls.lane;
	return floor_bias_enter(l) ? l : NULL;
}

static __attribute__((noinline)) int api_floor_hold(struct method_ctx *x,
    const struct api_floor_handle *hd, cb_ticket *tk)
{
	struct api_floor_lane *l = api_floor_enter(hd);
	int r;

	if (l == NULL)
		return -EINVAL;          /* never here: one thread, no fork */
	r = lane_floor_hold(x, tk);
	atomic_store_explicit(&l->active, 0, memory_order_release);
	return r;
}

static __attribute__((noinline)) int api_floor_release(struct method_ctx *x,
    const struct api_floor_handle *hd, const cb_ticket *tk)
{
	struct api_floor_lane *l = api_floor_enter(hd);
	int r;

	if (l == NULL)
		return -EINVAL;
	r = lane_floor_release(x, tk);
	atomic_store_explicit(&l->active, 0, memory_order_release);
	return r;
}

static int (*volatile api_floor_hold_fn)(struct method_ctx *,
    const struct api_floor_handle *, cb_ticket *) = api_floor_hold;
static int (*volatile api_floor_release_fn)(struct method_ctx *,
    const struct api_floor_handle *, const cb_ticket *) = api_floor_release;

static int pair_api_floor(struct method_ctx *x)
{
	static const struct api_floor_handle hd = { .serial = 1 };
	cb_ticket tk;
	int r;

	/* What binding the lane did once, in the real library. */
	if (__builtin_expect(api_floor_tls.lane == NULL, 0)) {
		api_floor_tls.serial = hd.serial;
		api_floor_tls.lane = &api_floor_lane0;
	}
	r = api_floor_hold_fn(x, &hd, &tk);
	if (r != 0)
		return r;
	spin_ns(x->a->hold_ns);
	return api_floor_release_fn(x, &hd, &tk);
}

/*
 * The inline floor: the least a hold pair inline in the caller could
 * cost -- a holder bound once to a thread and a pool, its hold and
 * release in the public header (the liburing way), which would make the
 * lane's layout part of the ABI.  The lane floor's work plus, per side,
 * every check such a holder could not do once at its binding: the fork
 * generation (a child must not write its parent's lane), the calling
 * thread against the bound one (one writer per lane), the queue hint
 * (a hold never passes a queued waiter), the lane's bias entered and
 * left (another thread may release its tickets), and after the
 * admitting CAS the pool's share deadline (0: a local pool).  No call,
 * no lane lookup: the holder names its lane.
 */
struct inline_floor_holder {
	unsigned fork_gen;
	void *thread;
	struct api_floor_lane *lane;
};

/* A holder's checks on each call: the fork generation, the bound
 * thread, the queue hint.  1 if they pass. */
static inline __attribute__((always_inline)) int holder_checks(
    struct method_ctx *x, const struct inline_floor_holder *h)
{
	struct floor_words *fw = x->a->prims->floor;

	return h->fork_gen == atomic_load_explicit(
	    (_Atomic unsigned *)&api_floor_fork_gen, memory_order_relaxed) &&
	    h->thread == __builtin_thread_pointer() &&
	    atomic_load_explicit(&fw->queued, memory_order_relaxed) == 0;
}

/* What binding the holder did once, in such a design. */
static inline void holder_bind(struct inline_floor_holder *h)
{
	if (__builtin_expect(h->lane == NULL, 0)) {
		h->thread = __builtin_thread_pointer();
		h->lane = &api_floor_lane0;
	}
}

static inline __attribute__((always_inline)) int inline_floor_enter(
    struct method_ctx *x, const struct inline_floor_holder *h)
{
	return holder_checks(x, h) && floor_bias_enter(h->lane);
}

static int pair_inline_floor(struct method_ctx *x)
{
	static __thread struct inline_floor_holder h;
	struct floor_words *fw = x->a->prims->floor;
	cb_ticket tk;
	int r;

	holder_bind(&h);
	if (!inline_floor_enter(x, &h))
		return -EINVAL;          /* never here: one thread, no fork */
	r = lane_floor_hold(x, &tk);
	/* After the CAS, as lib/lane.h's still_fits(): acquire, as there. */
	if (r == 0 && atomic_load_explicit(&fw->share_deadline,
	    memory_order_acquire) != 0)
		r = -EINVAL;             /* never here: a local pool */
	atomic_store_explicit(&h.lane->active, 0, memory_order_release);
	if (r != 0)
		return r;
	spin_ns(x->a->hold_ns);
	if (!inline_floor_enter(x, &h))
		return -EINVAL;
	r = lane_floor_release(x, &tk);
	atomic_store_explicit(&h.lane->active, 0, memory_order_release);
	return r;
}

/*
 * The word floor: the inline floor with the lane's record laid out as
 * docs/BENCHMARKS.md ("An inline hold would not meet it either")
 * proposes -- a design not built, measured here to say what it could
 * reach.  R, one word per (lane, pool) on the lane's line: version << 32
 * | holds << 1 | open, written only by its owner with plain stores.  A
 * transition opens it (R | 1; relaxed, kept before the counter's CAS by
 * the CAS, a locked instruction) and closes it with the new count and
 * version in one release store; for a release the open store also
 * removes the hold (release: the record is gone before the unit goes
 * back, as in lib/reserve.h).  The owner keeps its own copy of R (one
 * private store per transition, as the lane's private copies).  The
 * hold takes no bias: in that design a foreign release records the
 * release in its own lane and claims only the ticket's entry of the
 * owner's table, which the owner's hold never writes while the entry is
 * taken; the owner's release keeps the bias around its entry.  What a
 * real design must add and this does not measure: the recount and the
 * reclaim reading R per pool, a lane's count below zero inside its
 * process's sum.
 */
static __thread uint64_t word_floor_r;

static int pair_word_floor(struct method_ctx *x)
{
	static __thread struct inline_floor_holder h;
	struct floor_words *fw = x->a->prims->floor;
	_Atomic uint64_t *R = &x->me->rec;
	uint64_t r = word_floor_r, v, nonce;
	uint32_t limit, idx;
	int ret;

	holder_bind(&h);
	/* The hold: the inline floor's checks, no bias. */
	if (!holder_checks(x, &h))
		return -EINVAL;          /* never here: one thread, no fork */
	ret = lane_floor_precheck(x, &limit, &v, &idx);
	if (ret != 0)
		return ret;
	atomic_store_explicit(R, r | 1, memory_order_relaxed);
	ret = floor_admit(x, v, limit);
	if (ret == 1)
		atomic_store_explicit(R, r, memory_order_release);
	if (ret != 0)
		return ret;
	if (atomic_load_explicit(&fw->share_deadline,
	    memory_order_acquire) != 0)
		return -EINVAL;          /* never here: a local pool */
	r += (1ull << 32) + 2;       /* version + 1, holds + 1, closed */
	atomic_store_explicit(R, r, memory_order_release);
	word_floor_r = r;
	nonce = ++lane_floor_nonce;
	lane_floor_table[idx] = nonce << 6 | 1;
	spin_ns(x->a->hold_ns);

	/* The release (of the ticket idx, nonce): the bias around the
	 * table entry only. */
	if (!inline_floor_enter(x, &h))
		return -EINVAL;
	if (floor_entry_take(idx, nonce) < 0) {
		atomic_store_explicit(&h.lane->active, 0,
		    memory_order_release);
		return -ESTALE;
	}
	atomic_store_explicit(R, (r - 2) | 1, memory_order_release);
	floor_unit_back(x);
	r += (1ull << 32) - 2;
	atomic_store_explicit(R, r, memory_order_release);
	word_floor_r = r;
	atomic_store_explicit(&h.lane->active, 0, memory_order_release);
	return floor_wake_check(x);
}

static int m_pair(struct method_ctx *x)
{
	switch (x->a->meth) {
	case M_CB:
	case M_CB_GLOBAL:
	case M_CB_SHARED: return pair_cb(x);
	case M_POSIX:	return pair_posix(x);
	case M_SYSV:	return pair_sysv(x);
	case M_FLOCK:	return pair_flock(x);
	case M_REDIS:	return pair_redis(x);
	case M_FLOOR:	return pair_floor(x);
	case M_STORE_FLOOR: return pair_store_floor(x);
	case M_LANE_FLOOR: return pair_lane_floor(x);
	case M_API_FLOOR: return pair_api_floor(x);
	case M_INLINE_FLOOR: return pair_inline_floor(x);
	case M_WORD_FLOOR: return pair_word_floor(x);
	default:	return -EINVAL;
	}
}

/* ----------------------------------------------------------------- */
/* The loop and the measurement. */

/*
 * Section 7's wait histogram: values below 8 ns exactly, then 8
 * buckets an octave (at most 1/8 wide); bucket_top() is the largest
 * value a bucket holds, which the percentile reports.
 */
static unsigned wait_bucket(uint64_t ns)
{
	unsigned msb, b;

	if (ns < 8)
		return (unsigned)ns;
	msb = 63u - (unsigned)__builtin_clzll(ns);
	b = (msb - 2) * 8 + (unsigned)((ns >> (msb - 3)) & 7);
	return b < WAIT_BUCKETS ? b : WAIT_BUCKETS - 1;
}

static uint64_t bucket_top(unsigned b)
{
	if (b < 8)
		return b;
	return ((uint64_t)(8 + b % 8 + 1) << (b / 8 - 1)) - 1;
}

static void wait_add(struct slot *s, uint64_t ns)
{
	s->wait[wait_bucket(ns)]++;
	if (ns > s->wait_max)
		s->wait_max = ns;
}

/* A worker: pairs until stop; its counts and time go to its slot. */
static void method_child(int idx, struct group *g, void *arg)
{
	const struct method_arg *a = arg;
	struct method_ctx x = { .a = a, .fd = -1, .psem = a->prims->psem,
	    .semid = a->prims->semid, .usage = &a->prims->floor->usage,
	    .me = &a->prims->floor->proc[idx] };
	struct slot *s = &g->r[idx];
	uint64_t ops = 0, refused = 0, t0;
	int r = m_setup(&x, s->msg, sizeof(s->msg));

	if (r < 0) {
		s->err = r;
		child_ready(g);
		return;
	}
	child_ready(g);
	t0 = cb_monotonic_ns();
	/* At least one batch each, however late it was scheduled: on a
	 * loaded machine a short run (--smoke: 10 ms) can be over before a
	 * worker first runs, and a method would show 0 pairs. */
	do {
		for (int k = 0; k < BATCH; k++) {
			r = m_pair(&x);
			if (r < 0)
				goto out;
			if (a->timeout_ms > 0)
				wait_add(s, x.wait_ns);
			if (r > 0)
				refused++;
			else
				ops++;
			spin_ns(a->think_ns);
		}
	} while (!atomic_load_explicit(&g->stop, memory_order_relaxed));
	r = 0;
out:
	s->ns = cb_monotonic_ns() - t0;
	s->ops = ops;
	s->refused = refused;
	if (r < 0) {
		s->err = r;
		snprintf(s->msg, sizeof(s->msg), "%s: %s", method_name[a->meth],
		    is_cb(a->meth) ? cb_errmsg(x.c) : strerror(-r));
	}
	m_teardown(&x);
}

static int reset_flock(const char *path)
{
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	uint32_t zero[1024] = { 0 };
	int r;

	if (fd < 0)
		return -errno;
	r = pwrite(fd, zero, sizeof(zero), 0) == sizeof(zero) ? 0 : -EIO;
	close(fd);
	return r;
}

/* Fresh semaphores for every run, so no run inherits another's state. */
static int method_reset(const struct method_arg *a)
{
	struct bench_prims *pr = a->prims;

	switch (a->meth) {
	case M_POSIX:
		sem_destroy(pr->psem);
		return sem_init(pr->psem, 1, (unsigned)a->limit) < 0 ?
		    -errno : 0;
	case M_SYSV:
		return semctl(pr->semid, 0, SETVAL, a->limit) < 0 ? -errno : 0;
	case M_FLOCK:
		return reset_flock(pr->lockpath);
	case M_REDIS:
		redis_reset(a->peers);
		return 0;
	case M_FLOOR:
	case M_STORE_FLOOR:
	case M_LANE_FLOOR:
	case M_API_FLOOR:
	case M_INLINE_FLOOR:
	case M_WORD_FLOOR:
		memset(pr->floor, 0, sizeof(*pr->floor));
		atomic_store(&pr->floor->limit, (uint32_t)a->limit);
		return 0;
	default:
		return 0;
	}
}

/* The waits of a run (section 7): every process's histogram merged,
 * the 99th percentile as its bucket's top (no more than the longest:
 * the top of the bucket the longest fell in may lie past it), the
 * longest exactly. */
static void keep_waits(const struct group *g, int procs, struct tput *out)
{
	uint64_t n = 0, seen = 0, max = 0;
	unsigned b;

	for (int i = 0; i < procs; i++) {
		for (b = 0; b < WAIT_BUCKETS; b++)
			n += g->r[i].wait[b];
		if (g->r[i].wait_max > max)
			max = g->r[i].wait_max;
	}
	out->waits = n;
	out->wait_max_us = (double)max / 1e3;
	out->wait_p99_us = 0;
	for (b = 0; b < WAIT_BUCKETS && n > 0; b++) {
		for (int i = 0; i < procs; i++)
			seen += g->r[i].wait[b];
		if (seen * 100 >= n * 99) {
			out->wait_p99_us = (double)(bucket_top(b) < max ?
			    bucket_top(b) : max) / 1e3;
			break;
		}
	}
}

/* Fold one run's slots into out if its total throughput is the best. */
static void keep_best(const struct group *g, int procs, struct tput *out)
{
	double ops_s = 0, ns = 0, hi = 0, lo = -1;
	uint64_t refused = 0;

	for (int i = 0; i < procs; i++) {
		const struct slot *s = &g->r[i];
		double ops = (double)s->ops;

		ops_s += s->ns ? ops * 1e9 / (double)s->ns : 0;
		ns += ops > 0 ? (double)s->ns / ops : 0;
		hi = ops > hi ? ops : hi;
		lo = lo < 0 || ops < lo ? ops : lo;
		refused += s->refused;
	}
	if (ops_s > out->ops_s) {
		out->ops_s = ops_s;
		out->ns_pair = ns / procs;
		out->fairness = lo > 0 ? hi / lo : 0;
		out->refused = refused;
		keep_waits(g, procs, out);
	}
}

/* Best of -r runs (the highest total throughput).  Returns 0, or -errno
 * with the reason in b->procs.err. */
int measure(struct bench *b, const struct method_arg *a, int procs,
    struct tput *out)
{
	memset(out, 0, sizeof(*out));
	for (int rep = 0; rep < b->opt->reps; rep++) {
		int r = method_reset(a);

		if (r == 0)
			r = run_group(&b->procs, method_child, (void *)a, procs,
			    b->opt->dur_ms);
		else
			snprintf(b->procs.err, sizeof(b->procs.err),
			    "reset: %s", strerror(-r));
		if (r < 0)
			return r;
		keep_best(b->procs.group, procs, out);
	}
	out->done = 1;
	return 0;
}
