/*
 * handle.h - the handle (struct cb_client) and what the files of
 * libcapbroker share.  Private to the library: not installed, not for
 * the tools (they get client_internal.h), and nothing declared here is
 * exported from the shared library (libcapbroker.map).
 *
 * The library, one file per concern:
 *
 *   handle.c   open (map and validate the segments, claim a client
 *              entry), register with the broker (hello, rehello),
 *              close; fork detection
 *   read.c     the capacity and its source, watching, the broker
 *              check, pool names and pool information
 *   reserve.c  reserve and release, the fair queue's steps (enqueue,
 *              position, wait, dequeue), tickets as text
 *   place.c    worker placement: pick, in-flight counts, policy names
 *   errors.c   the messages of failures, per thread (cb_errmsg),
 *              cb_strerror
 *   glaunch.c  a global pool's launches, through the broker (LAUNCH,
 *              UNLAUNCH on the control socket)
 *
 * The protocols themselves live in lib/ (reserve.h, queue.h, place.h,
 * futex.h); these files check arguments, keep messages, and call them.
 */
#ifndef CB_CLIENT_HANDLE_H
#define CB_CLIENT_HANDLE_H

#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include "capbroker.h"
#include "abi.h"
#include "reserve.h"
#include "segment.h"

struct cb_client {
	char name[CB_NAME_MAX + 1];
	unsigned flags;
	const void *state;             /* PROT_READ */
	size_t state_size;
	void *slots;                   /* PROT_READ|PROT_WRITE unless RDONLY */
	size_t slots_size;
	const _Atomic uint64_t *state_word;
	/*
	 * The word the admission paths check for the retired flag
	 * (cb_handle_retired), as a const _Atomic uint64_t *: state_word,
	 * until the SIGBUS guard (lib/sigbus.h) puts private zero pages
	 * over a cut part of our slots mapping; the handler then stores
	 * &retired_word here (release), so the handle admits nothing from
	 * then on with no extra load on the hot path.  Written by cb_open
	 * and that handler only.
	 */
	_Atomic uintptr_t admit_word;
	_Atomic uint64_t retired_word; /* CB_STATE_F_RETIRED, set at open */
	int slots_fd;                  /* kept for the guard; -1: none */
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
	/*
	 * cb_wait_cancel (lib/queue.h, Cancel): K[e] for each entry e of
	 * the waiter table, 0 or the WAITING word of the place whose wait
	 * is cancelled.  Written by cb_wait_cancel (seq_cst store, any
	 * thread) and consumed by the waiting thread (seq_cst CAS to 0).
	 */
	_Atomic uint64_t cancel[CB_MAX_WAITERS];
	uint64_t serial;               /* unique in the process, never 0:
	                                  names the handle in each thread's
	                                  messages (errors.c) */
};

/* handle.c */

/* Bumped in every fork child (pthread_atfork): a handle whose fork_gen
 * differs was opened by the parent. */
extern _Atomic unsigned cb_fork_generation;

/* Relaxed: only compared; it changes only in a fork child's one
 * thread, before the child's calls. */
static inline unsigned cb_handle_fork_gen(void)
{
	return atomic_load_explicit(&cb_fork_generation,
	    memory_order_relaxed);
}

/* Register again if the broker restarted since we said HELLO: two
 * relaxed loads while nothing changed.  Slow paths only. */
void cb_handle_rehello(cb_client *c);
/* May this handle reserve and release at all?  0, or -EACCES
 * (read-only) / -EINVAL (opened before fork()) with the message set. */
int cb_handle_check(cb_client *c);
/* The prologue of every call that reserves, releases or waits: its
 * pointer arguments given (args_ok, else -EINVAL "NULL what"), then
 * cb_handle_check(). */
int cb_handle_enter(cb_client *c, int args_ok, const char *what);

/* A connection to the broker's control socket (non-blocking) with line
 * (a request and its '\n') sent on it, or -1: hello's, glaunch.c's. */
int cb_handle_dial(const cb_client *c, const char *line);

/* glaunch.c: is pool global (its share deadline non-zero); a launch of
 * one, and the early release of its ticket, through the broker. */
int cb_handle_pool_global(const cb_client *c, int pool);
int cb_handle_global_launch(cb_client *c, const struct cb_request *req,
    cb_ticket *ticket, uint32_t *retry_after_ms);
int cb_handle_global_release(cb_client *c, const cb_ticket *ticket);

/* read.c */

/* Is pool a pool of the broker's (cached once seen active)? */
int cb_handle_pool_valid(cb_client *c, int pool);

/* cb_handle_pool_valid's answer from the cache alone (pool 0, or one
 * seen active before): one relaxed load, for the hot path; 0 means
 * "ask cb_handle_pool_valid", not "invalid". */
static inline int cb_handle_pool_known(cb_client *c, int pool)
{
	if (pool == 0)
		return 1;
	if (pool < 0 || pool >= CB_MAX_POOLS)
		return 0;
	/* Relaxed: as in cb_pool(). */
	return (atomic_load_explicit(&c->pools_known, memory_order_relaxed) &
	    (1ull << pool)) != 0;
}
/* Was pool, refused or sent out of its queue, deleted (its limit 0 and
 * its definition no longer active)?  Forgets the cached validity. */
int cb_handle_pool_gone(cb_client *c, int pool);

/* reserve.c */

/* The retry-after hint, in ms, for an over-the-limit request on pool. */
uint32_t cb_handle_retry_hint(cb_client *c, int pool);

/* errors.c */

/* Keep the message of a failure on c, for the calling thread only
 * (cb_errmsg); returns err. */
int cb_handle_fail(cb_client *c, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * A retired segment admits nothing (DESIGN.md, "Trust and faults"): a
 * new broker instance counts the same limit in new segments, so a unit
 * taken here would be a unit beyond it.  Checked where each admission
 * path starts, and again when a wait ends (the flag may come while
 * waiting: the broker then frees every queued entry and wakes it).
 * One acquire load of the state word, a line pool 0's admission reads
 * anyway; paired with the release store that sets CB_STATE_F_RETIRED
 * in retire() (broker/segments.c), so a client that sees the flag also
 * sees the entries that store freed before it (and retire() then moves
 * every pool's release_seq, which wakes blocked pickers).  A handle
 * whose slots mapping the SIGBUS guard had to replace with private
 * zeros is treated as retired too (admit_word).  Returns 0 or
 * -EPROTO.  Inline: it is on every admission's hot path.
 */
static inline int cb_handle_retired(cb_client *c)
{
	/* Relaxed: retired_word was written at open, before the handle
	 * was anyone's; see admit_word. */
	const _Atomic uint64_t *w = (const _Atomic uint64_t *)
	    atomic_load_explicit(&c->admit_word, memory_order_relaxed);

	if (!(CB_STATE_FLAGS(atomic_load_explicit(w,
	    memory_order_acquire)) & CB_STATE_F_RETIRED))
		return 0;
	if (w == &c->retired_word)
		return cb_handle_fail(c, -EPROTO, "the slots segment of broker "
		    "'%s' was shrunk (truncated by a member of its group) "
		    "and this process could not restore its size: this "
		    "handle now sees private zeros and admits nothing; "
		    "close it and open a new one", c->name);
	return cb_handle_fail(c, -EPROTO, "this segment of broker '%s' was "
	    "retired (a new broker replaced it): it admits nothing; close "
	    "the handle and open a new one", c->name);
}

#endif /* CB_CLIENT_HANDLE_H */
