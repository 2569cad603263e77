/*
 * futex.h - shared futex words and the eventcount built on them.
 *
 * All futexes here live in shared mappings used by several processes,
 * so they are never FUTEX_PRIVATE_FLAG.  FUTEX_WAIT works on a PROT_READ
 * mapping (Linux >= 3.13), which lets read-only observers sleep on a
 * word only the broker writes.
 *
 * Eventcount protocol (one sequence word S, one waiter count W):
 *
 *   notifier:  publish the condition (release store);
 *              cb_eventcount_notify(S, W): fetch_add(S) (seq_cst), then
 *              FUTEX_WAKE(S) iff load(W) (seq_cst) != 0.
 *   waiter:    fetch_add(W) (seq_cst); loop { s = load(S) (seq_cst);
 *              if condition holds: break; futex_wait(S, s) };
 *              fetch_sub(W).
 *
 * Why no wake is lost: the seq_cst operations on S and W are totally
 * ordered.  If the notifier's load of W saw 0, the waiter's increment
 * of W comes later in that order, so its load of S reads the notifier's
 * increment, which synchronises with it and makes the condition
 * visible: the waiter breaks out.  If the notifier saw W != 0 it wakes;
 * a waiter not yet asleep passes the old S to futex_wait, which returns
 * at once because S moved.
 */
#ifndef CB_FUTEX_H
#define CB_FUTEX_H

#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include "clock.h"         /* the deadlines futex waits take */

/*
 * Sleep while *word == expected, until the absolute CLOCK_MONOTONIC
 * deadline (NULL: no limit).  Returns 0 woken (maybe spuriously),
 * -EAGAIN *word != expected, -ETIMEDOUT, -EINTR.
 */
int cb_futex_wait(const _Atomic uint32_t *word, uint32_t expected,
    const struct timespec *deadline);

/* Wake up to n sleepers on word.  Returns the number woken or -errno. */
int cb_futex_wake(_Atomic uint32_t *word, int n);

static inline void cb_eventcount_notify(_Atomic uint32_t *seq,
    const _Atomic uint32_t *waiters)
{
	/* seq_cst: ordered against the waiter's increment of *waiters. */
	atomic_fetch_add_explicit(seq, 1, memory_order_seq_cst);
	if (atomic_load_explicit(waiters, memory_order_seq_cst) != 0)
		cb_futex_wake(seq, 0x7fffffff);
}

/*
 * The same for a notifier whose condition was itself published by a
 * seq_cst read-modify-write (a release's CAS on a pool's usage word),
 * and whose waiters check it with seq_cst loads: then S need not move
 * when nobody waits, which spares every uncontended release a
 * read-modify-write on a line all the pool's clients share.
 *
 * Why no wake is lost: the notifier's CAS on the condition C precedes
 * its load of W in the single total order of seq_cst operations.  If
 * that load saw 0, the waiter's increment of W comes later in the
 * order, and so does its (seq_cst) load of C, which therefore reads the
 * notifier's CAS or something later: the waiter sees the condition and
 * does not sleep.  If it saw W != 0, S moves and the sleepers are
 * woken exactly as in cb_eventcount_notify().
 */
static inline void cb_eventcount_notify_sc(_Atomic uint32_t *seq,
    const _Atomic uint32_t *waiters)
{
	if (atomic_load_explicit(waiters, memory_order_seq_cst) == 0)
		return;
	atomic_fetch_add_explicit(seq, 1, memory_order_seq_cst);
	cb_futex_wake(seq, 0x7fffffff);
}

#endif /* CB_FUTEX_H */
