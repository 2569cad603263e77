/*
 * capbroker.h - the public interface of libcapbroker.
 *
 * capbroker shares one capacity limit between every process on a host.
 * A broker daemon (capbrokerd) publishes the fleet's capacity and the
 * tier that produced it in POSIX shared memory; this library maps that
 * memory so a client reads the capacity with one atomic load and waits
 * for changes on a shared futex word, with no syscall, lock or broker
 * round trip on the read path.
 *
 * Conventions (the liburing ones):
 *   - every function that can fail returns 0 (or a non-negative value
 *     where stated) on success and a negative errno on failure;
 *   - a readable message about the last failure is kept per handle
 *     and per thread, cb_errmsg(); cb_strerror() names a code;
 *   - nothing here calls exit() or abort(), and the library depends on
 *     libc only, so it is easy to bind from Python, Go or Rust.
 *
 * Thread safety: every call but cb_close may be made on one handle from
 * many threads at once (reserve/release included: at most 16
 * operations are in flight per handle, more threads wait their turn);
 * cb_close must not race with any other call on the same handle.
 * cb_errmsg reports the calling thread's own last failure on the
 * handle, never another thread's.  A handle must not be used in a child
 * of fork(): open a new one there.
 */
#ifndef CAPBROKER_H
#define CAPBROKER_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CB_VERSION_MAJOR 0
#define CB_VERSION_MINOR 1

typedef struct cb_client cb_client;                 /* opaque */
typedef struct cb_ticket { uint64_t opaque[2]; } cb_ticket;
typedef struct cb_waiter { uint64_t opaque[4]; } cb_waiter;

/* Which tier produced the capacity (see capbrokerd(8)). */
enum cb_source {
	CB_SOURCE_OVERRIDE = 0, /* operator-pinned value */
	CB_SOURCE_REPORTED = 1, /* every ready worker reports max_running */
	CB_SOURCE_MIXED = 2,    /* some or no ready workers report */
	CB_SOURCE_FALLBACK = 3, /* no ready worker: legacy maximum */
};

enum cb_kind { CB_HOLD = 1, CB_LAUNCH = 2 };

struct cb_request {
	int      pool;        /* cb_pool() index; 0 = default */
	int      kind;        /* CB_HOLD or CB_LAUNCH */
	uint32_t observed;    /* CB_LAUNCH: units the caller already sees */
	int      timeout_ms;  /* 0 = fail fast, -1 = no limit */
	int      priority;    /* fair queueing: blocked reservers are
	                         served higher priority first, FIFO
	                         (arrival order) within a priority; an
	                         arrival never passes a queued waiter of
	                         a higher priority, nor (fail-fast) of the
	                         same one, nor one that has waited 1 ms
	                         (see cb_reserve, cb_enqueue) */
};

/* cb_open() flags. */
#define CB_OPEN_RDONLY 0x1u /* map everything read-only: observe, never
                               reserve (capdump, monitoring) */

/*
 * The state word: one 64-bit value the broker stores with release
 * ordering whenever capacity, source or flags change.  Capacity and
 * source live in the same word, so they can never be seen torn.
 *
 *   bits  0..15  capacity (1..65535)
 *   bits 16..23  source (enum cb_source)
 *   bits 24..31  flags (CB_STATE_F_*)
 *   bits 32..63  generation: +1 for every distinct published state
 */
#define CB_STATE_CAPACITY(w)   ((unsigned)((w) & 0xffffu))
#define CB_STATE_SOURCE(w)     ((int)(((w) >> 16) & 0xffu))
#define CB_STATE_FLAGS(w)      ((unsigned)(((w) >> 24) & 0xffu))
#define CB_STATE_GENERATION(w) ((uint32_t)((w) >> 32))

#define CB_STATE_F_STOPPING 0x01u /* the broker shut down cleanly */
#define CB_STATE_F_RETIRED  0x02u /* segment replaced; re-open */

/*
 * One acquire load of the state word, for hot loops:
 *
 *	const uint64_t *w = cb_state_word(c);
 *	for (;;) { unsigned cap = CB_STATE_CAPACITY(cb_state_load(w)); ... }
 *
 * The acquire pairs with the broker's release store of the word, so
 * anything the broker published before the word is visible after it.
 */
static inline uint64_t cb_state_load(const uint64_t *word)
{
	return __atomic_load_n(word, __ATOMIC_ACQUIRE);
}

/*
 * Attach to the broker instance NAME (NULL or "" = "default").  Unless
 * CB_OPEN_RDONLY, claims an entry in the client table (one per handle)
 * and registers with the broker, which undoes the handle's holds if the
 * process dies.
 * Returns: 0 and a handle in *out; -ENOENT no such broker; -EPROTO an
 * incompatible or corrupt segment; -EACCES no permission (observers
 * outside the broker's group: CB_OPEN_RDONLY reads the capacity
 * anyway); -ENOSPC client table full; -EXDEV not in the broker's PID
 * namespace (reserving needs it; CB_OPEN_RDONLY observes anyway);
 * -EINVAL a bad name or flag;
 * -ENOMEM; other errnos from shm_open/mmap.  On failure *out is NULL
 * and cb_open_errmsg() says why.
 */
int cb_open(cb_client **out, const char *name, unsigned flags);

/* The message of the last failed cb_open() in this thread. */
const char *cb_open_errmsg(void);

/* Detach and free the handle.  NULL is a no-op. */
void cb_close(cb_client *c);

/* The current capacity: one acquire load.  Never fails. */
unsigned cb_current(const cb_client *c);

/*
 * The address of the state word, stable for the life of the handle.
 * Read it with cb_state_load() and decode with the CB_STATE_*() macros.
 */
const uint64_t *cb_state_word(const cb_client *c);

/* The source tier of the current capacity (enum cb_source). */
int cb_source(const cb_client *c);

/* "override", "reported", "mixed", "fallback", or "unknown". */
const char *cb_source_name(int source);

/*
 * Wait until the published generation differs from *generation, then
 * store the new generation in *generation.  A caller that has never
 * seen a value passes 0 and returns at once with the latest one, so a
 * late subscriber never misses the current state.
 * timeout_ms: 0 = poll, -1 = no limit.  Signals do not end the wait
 * (EINTR is retried against the same absolute deadline): a caller that
 * must react to signals waits in bounded slices.
 * Returns: 0 changed; -ETIMEDOUT; -EINVAL.
 */
int cb_watch(cb_client *c, uint32_t *generation, int timeout_ms);

/*
 * Is the broker alive?  Judged from the stopping flag, the broker's pid
 * and process start time recorded in the segment, and the header
 * heartbeat (stale after CB_STALE_MS).
 * Returns: 0 alive; -ESRCH the broker stopped or its process is gone;
 * -ETIMEDOUT its heartbeat is stale (hung or stopped); -EPROTO retired.
 */
#define CB_STALE_MS 2000
int cb_broker_check(cb_client *c);

/* The segment's instance name, as passed to cb_open(). */
const char *cb_name(const cb_client *c);

/*
 * Pools and reservations.
 *
 * A pool is a named limit.  Pool 0, "default", always exists and its
 * limit is the broker's capacity; others are created by the operator
 * (capctl pool set) with a fixed limit or a share of the capacity.
 * Two kinds of reservation count against a pool's limit:
 *
 *   CB_HOLD    one in-flight unit (a request, a job).  Ends when
 *              released, or when its holder dies (the broker undoes
 *              it).  Only the handle that took it can release it.
 *   CB_LAUNCH  a fleet member asked for but maybe not visible yet.
 *              Admitted iff observed + launching + held + 1 <= limit,
 *              where observed is max(req->observed, the pool's
 *              published observation).  Ends when released (the launch
 *              failed: free it at once) or when the pool's visibility
 *              window passes; survives the death of its launcher.  Any
 *              process holding the ticket may release it.
 *
 * Admission is a compare-and-swap on the pool's counter in shared
 * memory: no syscall, lock or broker round trip when it succeeds.
 */

/* The index of pool_name (0 for "default").  Returns >= 0, -ENOENT, or
 * -EINVAL (NULL name). */
int cb_pool(cb_client *c, const char *pool_name);

struct cb_pool_info {
	char name[32];
	uint32_t limit;       /* current limit */
	uint32_t observed;    /* published observation (launch admission) */
	uint32_t held;        /* active holds (a global pool's: those that
	                         count, younger than its hold_max) */
	uint32_t launching;   /* active launch reservations */
	uint32_t window_ms;   /* launch visibility window */
};

/* A consistent-enough view of pool `pool` (counters read atomically,
 * each on its own).  Returns 0, -ENOENT no such pool. */
int cb_pool_info(cb_client *c, int pool, struct cb_pool_info *out);

/*
 * Reserve one unit of req->pool.  timeout_ms 0 fails fast; > 0 or -1
 * waits in the pool's queue (fair: see cb_enqueue; asleep on a shared
 * futex, the head woken by releases, expiries and limit changes) until
 * admitted or the deadline passes.  While waiters are queued, a request
 * never passes one of a higher priority.  With timeout_ms 0 it does not
 * pass one of the same priority either (-EAGAIN even if a unit is free
 * at that instant); a blocking request may take a unit free as it
 * arrives (after a spin of a few microseconds if none is), as a
 * semaphore would, until the head has waited 1 ms: then the next unit
 * is the head's.  No waiter is passed over for longer than 1 ms plus
 * one wake-up (capbroker(3), Fair waiting).
 * Returns: 0 and *ticket; -EAGAIN over the limit with timeout_ms 0, or
 * -ETIMEDOUT, both with *retry_after_ms (if not NULL) set to the
 * earliest launch deadline in the pool or the broker's default hint;
 * -ENOENT no such pool; -EINVAL bad request, or a handle opened before
 * fork(); -EACCES a CB_OPEN_RDONLY handle; -ENOSPC reservation table
 * full (launches), too many holds in this process, or (blocking) the
 * waiter table full; -ESTALE (blocking) the queue entry was pruned
 * because the broker reclaimed this handle's client entry; -EPROTO the
 * segment was retired (a broker started with --replace replaced it:
 * it admits nothing, and a wait admitted as it was retired gives the
 * unit back): close the handle and open a new one.
 */
int cb_reserve(cb_client *c, const struct cb_request *req,
    cb_ticket *ticket, uint32_t *retry_after_ms);

/*
 * Fair waiting, in steps.  cb_reserve() with a timeout is
 * cb_enqueue() + cb_wait() + cb_dequeue() on timeout; the steps let a
 * caller (or another thread) read its place in the queue while it
 * waits, with no callback:
 *
 *	cb_waiter w;
 *	cb_enqueue(c, &req, &w);
 *	while ((r = cb_wait(c, &w, 500, &ticket, NULL)) == -ETIMEDOUT)
 *		report(cb_queue_position(c, &w));
 *	if (r != 0) cb_dequeue(c, &w);
 *
 * Waiters of a pool are served by priority (higher first), then in
 * arrival order; only the head of the queue tries to take a unit, and
 * whoever frees one wakes only the head.  A waiter that leaves (admitted,
 * cb_dequeue, cb_close) or whose process dies is removed and never
 * holds up the waiters behind it.  Between cb_wait() calls a waiter
 * keeps its place; at the head, a free unit may go to a blocking
 * arrival of its priority until the head has waited 1 ms inside
 * cb_wait() (cb_reserve), and to none of a lower priority.
 *
 * cb_enqueue: take a place at the back of req->priority in req->pool's
 * queue (req->timeout_ms is not used).  Returns 0 and *w; -ENOENT,
 * -EINVAL, -EACCES, -EPROTO (retired) as cb_reserve; -ENOSPC the host's
 * waiter table is full.
 */
int cb_enqueue(cb_client *c, const struct cb_request *req, cb_waiter *w);

/*
 * The number of live waiters ahead of w in its pool's queue: 0 = w is
 * the head (next to be admitted).  Safe from any thread while another
 * waits on w.  Returns >= 0; -ESTALE w is no longer queued (admitted,
 * dequeued, or pruned); -EINVAL not a waiter of this handle.
 */
int cb_queue_position(cb_client *c, const cb_waiter *w);

/*
 * Wait in the queue until admitted, at most timeout_ms (0 = one look,
 * -1 = no limit).
 * Returns: 0 admitted: *ticket, and w has left the queue; -ETIMEDOUT
 * not admitted yet, w keeps its place (*retry_after_ms set as in
 * cb_reserve); -EINTR a signal handler ran, w keeps its place;
 * -ECANCELED cb_wait_cancel() ended it, w keeps its place; -ESTALE
 * w is no longer queued; -ENOSPC, -EPROTO (retired) as cb_reserve (w
 * has left the queue); -EINVAL.
 */
int cb_wait(cb_client *c, cb_waiter *w, int timeout_ms, cb_ticket *ticket,
    uint32_t *retry_after_ms);

/*
 * End a cb_wait() on w that another thread of this process is in (or
 * is about to enter) at once: that cb_wait returns -ECANCELED and w
 * keeps its place, as on -ETIMEDOUT (not counted as a refusal).  Any
 * thread; only this process can cancel its waits (the flag is in the
 * handle, not in shared memory).  Each cancel ends one wait: with no
 * wait in progress, the next cb_wait() on w returns -ECANCELED at once
 * (before it tries for a unit), and the one after that waits normally.
 * A wait that is being admitted as the cancel arrives may still return
 * 0 (w has then left the queue; the cancel is void).
 * Returns 0; -ESTALE w is no longer queued (admitted, dequeued or
 * pruned); -EINVAL not a waiter of this handle.
 */
int cb_wait_cancel(cb_client *c, const cb_waiter *w);

/*
 * Give up w's place (timed out, cancelled).  The waiter behind it is
 * woken if it is now the head.  Returns 0; -ESTALE w was not queued;
 * -EINVAL.
 */
int cb_dequeue(cb_client *c, cb_waiter *w);

/*
 * Release a reservation.  Returns 0; -ESTALE the ticket was already
 * released, reclaimed or expired (counted, and nothing else is freed);
 * -EINVAL not a ticket this handle can release (or a handle opened
 * before fork()); -EACCES a CB_OPEN_RDONLY handle.
 */
int cb_release(cb_client *c, const cb_ticket *ticket);

/* Tickets as text, to pass between processes ("capctl release").
 * cb_ticket_format needs CB_TICKET_STRLEN bytes; returns 0 or -ENOSPC.
 * cb_ticket_parse returns 0 or -EINVAL. */
#define CB_TICKET_STRLEN 48
int cb_ticket_format(const cb_ticket *t, char *buf, unsigned long len);
int cb_ticket_parse(const char *s, cb_ticket *t);

/*
 * Worker placement.
 *
 * A hold can be bound to a worker of the broker's table: cb_pick_worker
 * chooses a ready worker under a policy and, in one step, takes one
 * hold on the pool and one unit of the worker's own limit (its
 * max_running, or the broker's slots_per_worker for a worker that
 * reports none).  Pickers in every process share the per-worker counts,
 * so no worker is ever given more than its limit; cb_release frees
 * both halves, and the broker frees them if the holder dies.  Workers
 * that are not_ready or draining are never picked; the holds already
 * bound to a draining worker stay until released.
 *
 * Policies, among ready workers with room; equal scores go to the
 * worker whose id sorts first (byte order), so a choice is
 * deterministic for given loads:
 *   CB_PLACE_CONSOLIDATE   the busiest (most holds in flight): packs
 *                          work onto busy workers, keeps idle ones free
 *   CB_PLACE_SPREAD        the highest available ratio
 *                          (limit - in flight) / limit, in [0, 1]
 *   CB_PLACE_LEAST_LOADED  the fewest holds in flight
 */
enum cb_placement {
	CB_PLACE_CONSOLIDATE = 1,
	CB_PLACE_SPREAD = 2,
	CB_PLACE_LEAST_LOADED = 3,
};

/* Buffer size for a worker id (1..63 characters and a NUL). */
#define CB_WORKER_ID_STRLEN 64

/*
 * Pick a ready worker under `policy` and reserve one hold on req->pool
 * and one slot on that worker in one step.  req->kind must be CB_HOLD;
 * req->timeout_ms 0 fails fast, > 0 or -1 waits like cb_reserve (for
 * room in the pool and on a ready worker).  worker_id (id_len >=
 * CB_WORKER_ID_STRLEN, or NULL and 0) gets the worker's id, NUL-
 * terminated.  cb_release(c, ticket) frees the hold and the worker
 * slot; a second release is -ESTALE.
 * Returns: 0; -EAGAIN (timeout_ms 0) or -ETIMEDOUT, both with
 * *retry_after_ms (if not NULL) set, when the pool is at its limit or
 * no ready worker has room; -ENOENT no ready worker at all, or no such
 * pool; -EINVAL a bad policy, kind, timeout or buffer; -EACCES a
 * CB_OPEN_RDONLY handle; -ENOSPC too many bound holds in this handle
 * (256) or holds in this process; -EPROTO the segment was retired (as
 * cb_reserve).
 */
int cb_pick_worker(cb_client *c, const struct cb_request *req, int policy,
    cb_ticket *ticket, char *worker_id, unsigned long id_len,
    uint32_t *retry_after_ms);

/*
 * Holds in flight bound to worker worker_id, as counted in shared
 * memory (one load).  Returns >= 0; -ENOENT no such worker; -EINVAL a
 * NULL id; -EACCES the slots segment is not readable (an observer
 * outside the broker's group).
 */
int cb_worker_inflight(cb_client *c, const char *worker_id);

/* A placement policy's name ("consolidate", "spread", "least_loaded"),
 * or "unknown"; and back: the CB_PLACE_* value, or -EINVAL. */
const char *cb_placement_name(int policy);
int cb_placement_parse(const char *name);

/*
 * The message of the calling thread's last failed call on this handle,
 * or "" if this thread has not failed on it; a later success does not
 * clear it.  Messages are kept per thread, so threads sharing a handle
 * each read their own: read it in the thread that failed.  A thread
 * keeps the messages of the last four handles it failed on.  The string
 * is the calling thread's, valid in it until its next failing call.
 * cb_errmsg(NULL) is cb_open_errmsg().
 */
const char *cb_errmsg(const cb_client *c);

/* A short description of a (negative or positive) errno code. */
const char *cb_strerror(int err);

#ifdef __cplusplus
}
#endif
#endif /* CAPBROKER_H */
