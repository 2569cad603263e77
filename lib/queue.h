/*
 * queue.h - fair waiting: blocked reservers served in priority order
 * (higher first), FIFO within a priority, across processes, with no
 * lock and no thundering herd.
 *
 * Words (abi.h):
 *   E[e]     waiter entry e of region CB_RL_WAITERS: word {state, pool,
 *            client, nonce}; owner, ticket, priority; wake (futex)
 *   Q[p]     pool p's `queued` hint (entries of p), `queue_next`
 *            (arrival tickets), `waiters` (eventcount count)
 *   R[p]     pool p's release eventcount word (release_seq, futex.h)
 *   O[c]     client entry c's owner word (reserve.h)
 *
 * An entry is *live* while it is WAITING and O[client] still equals
 * the owner word the enqueuer stored in it (non-zero pid): a client
 * entry that was freed (cb_close, or the broker reclaimed a dead
 * process) or claimed again by another process kills every waiter
 * entry of the old owner at once, before anyone frees them.
 *
 * Order: live entry a is *ahead of* b iff (priority a > priority b) or
 * (equal, ticket a < ticket b) or (equal too, index a < index b: only
 * hostile tickets tie).  The *head* of pool p is its live entry with
 * nothing ahead of it; a waiter's *position* is the number of live
 * entries of its pool ahead of it (0 = head).
 *
 * Enqueue (client c, pool p, priority pr):
 *   1. Q[p].queued += 1, Q[p].waiters += 1                    (seq_cst)
 *   2. claim a FREE entry: CAS (FREE, n) -> (CLAIMING, p, c, n + 1)
 *   3. store owner = O[c], priority = pr, ticket = fetch_add(queue_next)
 *   4. CAS CLAIMING -> WAITING (seq_cst; if the sweeper freed a stuck
 *      claim meanwhile, its free lowered both counters: raise them
 *      again, as in 1, and go back to 2)
 * The sweeper corrects queued and waiters against the table when one
 * disagrees the same way on two sweeps in a row (an enqueuer killed
 * between 1 and 2, a hostile write): a stopped enqueuer that claims
 * after such a correction leaves them one low until the next two
 * sweeps, which costs at most a slice of latency.
 * Leave (granted, timed out, interrupted, error): CAS the exact
 * WAITING word -> (FREE, n); the one winner lowers queued and waiters
 * (saturating); then hand over: wake the head of p.  Anyone who finds a
 * WAITING entry that is not live (its owner is gone) frees it the same
 * way (prune), then wakes the head.  So counters over-count, never
 * under-count, what honest live clients have queued, exactly like U
 * and the records of reserve.h.
 *
 * Wait (the waiter of entry e, head or not), each round:
 *   o = E[e].wake; r = R[p]                      (seq_cst loads, first)
 *   scan p's entries (seq_cst loads; prune dead ones) -> position
 *   position 0: cb_rsv_try; admitted -> leave, done;
 *               refused -> futex_wait(R[p], r)
 *   position > 0:          futex_wait(E[e].wake, o)
 * A head's scan can be stale by the time its CAS admits it: a waiter
 * that arrived ahead of it in between (higher priority) would be
 * passed.  So an admitted head scans once more and, if anyone is ahead
 * of it now, releases the unit again (the release wakes the real head)
 * and goes on waiting.
 * Of the waiters only heads call cb_rsv_try, and only heads sleep on
 * R[p], so whoever frees capacity (release, expiry, reclaim, limit
 * raise, recount: all bump R[p], futex.h's notify) wakes the head and
 * nobody else; a waiter behind the head sleeps on its own word until a
 * hand-over or prune makes it the head: a chain of single wakes.
 *
 * Why no wakeup is lost (a waiter that is head while a unit is free
 * never sleeps for good):
 *   - Head asleep on R[p]: it read r before cb_rsv_try found the pool
 *     full, so the unit was freed after that read, and the freer's
 *     R[p] bump (after its CAS on U, notify in futex.h; the waiter's
 *     own Q[p].waiters increment precedes r) either changed R[p]
 *     before the futex_wait (which then returns at once) or is
 *     followed by a FUTEX_WAKE (waiters != 0).  The same for the
 *     capacity that makes a second head (a new arrival that outranks
 *     it) redundant: on its next wake-up it rescans and steps back.
 *   - Waiter behind the head, asleep on its own word: it became head
 *     because the last entry ahead of it was freed.  In the seq_cst
 *     order, either its scan came after that free (it saw itself head
 *     and does not sleep on its own word), or the free came after the
 *     scan, hence after its load of o, and the freer's own scan (after
 *     the free) sees the waiter's entry with nothing ahead and bumps
 *     E[e].wake after o was read: futex_wait returns at once or is
 *     woken.  Two entries ahead freed at once by two freers: each
 *     freer scans after its own free, and the seq_cst order cannot
 *     have both scans see the other's entry still there (that is a
 *     cycle), so at least one of them sees e as the head and wakes it.
 *   - Head that never comes back (killed): its entry stays WAITING
 *     until its client entry is freed.  The broker's sweeper learns of
 *     the death by pidfd, frees the client entry (reserve.h), frees the
 *     dead waiter entries (cb_wq_reclaim) and wakes the new head.
 *     With no broker running, a waiter whose head has not moved for a
 *     whole slice (1 s) checks the head's process (pid + start time,
 *     proc.h) and prunes it if it is gone; a fail-fast request that a
 *     waiter blocks checks the head the same way (at most once per
 *     100 ms per process and pool, never when nobody is queued), so
 *     fail-fast reserves go on while the broker is down.  Only proof
 *     counts: a start time that no longer matches; "unknown"
 *     (cb_proc_alive -1) is alive.
 *   - Wakes from a hostile client (or none at all: a zeroed waiters
 *     count) cost latency, never a hang: every sleep is a slice.
 * tests/model/queue.pml checks the first two points with spin, with
 * enqueue in its steps and a claim freed as stuck, and a fail-fast
 * reserve pruning a dead head while no broker runs; and that a waiter
 * reading its word after the scan, a leaver that does not hand over,
 * an enqueuer that claims again without raising waiters, or a
 * fail-fast path blind to a dead head does lose a wakeup.
 *
 * Barging (issue 14).  Strict FIFO costs a FUTEX_WAKE and a context
 * switch per unit handed over (~20 us here), ten times below a barging
 * semaphore on a contended one-unit pool.  So, as Go's sync.Mutex (1 ms
 * of barging, then starvation mode) and the Linux mutex (optimistic
 * spin, hand-off bit): an arrival may take a free unit while waiters
 * are queued, until the head has waited past a bound; then the next
 * unit is handed to the head.  Words, all on Q[p]'s line (abi.h):
 *   B[p]     pool p's barge word: HANDOFF flag | version | ceiling
 * Every change of B[p] is a seq_cst CAS that bumps the version.
 *
 *   Arrival (blocking, cb_wq_arrive): Q[p].queued == 0 (one relaxed
 *     load, the common path): try, as before.  Otherwise load B[p]
 *     (seq_cst, same line): barge iff HANDOFF is clear and its
 *     priority >= the ceiling; else queue.  A hold that finds the pool
 *     full re-tries for a spin (SPIN_NS, queue.c) before it queues,
 *     re-checking B[p] each time.  A releasing thread coming back is
 *     an arrival like any other.
 *   Head (cb_wq_wait, position 0), each round: if it has waited
 *     CB_WQ_HANDOFF_NS (1 ms) since its cb_wq_wait began, set HANDOFF
 *     (again, if anyone cleared it); try; admitted: clear HANDOFF.
 *     Refused (the pool full, or a barger's CAS came first): it is
 *     still the head -- nothing moved its entry -- and sleeps on R[p]
 *     as above (a spin there did not pay: queue.c, SPIN_NS).  Leaving
 *     unadmitted (timeout, signal, error), it clears a flag it set.
 *   Ceiling: at least the priority of every live waiter (an
 *     over-estimate costs throughput only: arrivals queue).  Each
 *     enqueuer raises it, and bumps the version even when it is high
 *     enough, by a CAS *after* its CAS to WAITING (barge_announce).  A
 *     leaver (cb_wq_leave) and the sweeper load B[p], then scan, then
 *     CAS from what they loaded to the head's priority (none: 0, and
 *     HANDOFF cleared).  Why that never lowers it below a live waiter
 *     w: if w's announce precedes the settler's load of B[p] in the
 *     seq_cst order, w's WAITING precedes the scan, which sees it; if
 *     it comes after the load, the version moved and the settling CAS
 *     fails.  (An announce before the claim would not do: the settler
 *     could load after it and scan before the claim.)  The same for
 *     HANDOFF: a head sets it after its WAITING, so a settler that
 *     finds no live waiter cannot clear a flag set before its load.
 *   Who writes B[p]: enqueuers (ceiling up), heads (HANDOFF set and
 *     clear), leavers and the sweeper (settle).  Nothing is published
 *     through it: the CAS on U (reserve.h) decides who gets a unit, and
 *     B[p] only decides who may try.  So its orderings pair with the
 *     seq_cst accesses of the argument above, not with data: the
 *     announce CAS with a settler's load of B[p] (and, through the
 *     enqueuer's earlier CAS to WAITING, with the settler's scan); a
 *     head's set with an arrival's load, which it places in the total
 *     order (an arrival whose load follows the set queues); the
 *     admitted head's clear with nothing (a late clear costs a barge).
 *
 * What it guarantees:
 *   - Priority order: an arrival never takes a unit while a live
 *     waiter of a higher priority is queued (the ceiling).  Of equal
 *     priority, it may pass the head within the bound: no waiter is
 *     passed over for longer than CB_WQ_HANDOFF_NS plus one wake-up.
 *     Once HANDOFF is set, an arrival that loaded B[p] before it was
 *     set may still take one unit (it decided first); every later one
 *     queues, or fails fast.  The bound is per cb_wq_wait call: a
 *     split-API waiter (cb_wait) interrupted by a signal starts again.
 *   - Positions: bargers never hold an entry, so a waiter's position
 *     counts exactly the waiters ahead of it, as before.
 *   - No lost wakeup: a barger's admission is a CAS on U like any
 *     other; a head refused because of it read R[p] before its try,
 *     so the barger's later release moves R[p] (waiters != 0).
 *   - A stale or hostile B[p] costs throughput, never a hang: the
 *     hot path never reads it when queued == 0; heads ignore it (they
 *     always try); a head admitted clears HANDOFF; a leaver or the
 *     sweeper that finds no live waiter clears both flag and ceiling,
 *     and the sweeper lowers a ceiling above the head's priority.
 *     Clients of an older libcapbroker on the same segment neither
 *     announce nor set the flag: arrivals may pass their waiters (as
 *     any arrival racing an enqueue could), never wedge them.
 * Fail-fast requests (timeout 0) keep the strict rule: -EAGAIN while
 * any live waiter of their pool has a priority >= their own, even if a
 * unit is momentarily free, and they try only if they outrank every
 * waiter (cb_wq_blocked scans, so the flag does not change it).
 * tests/model/barge.pml checks the flag and the ceiling with spin;
 * tests/unit/test_tp_barge.c forces each interleaving.
 *
 * Cancel (cb_wait_cancel).  Another thread of the waiter's process
 * ends its cb_wq_wait at once, the place kept (as -ETIMEDOUT).  Words:
 *   K[e]     the handle's cancel word for entry e: in the process's own
 *            memory (struct cb_client), never in the segment, so no
 *            other process can cancel our waits; 0, or the WAITING word
 *            (nonce included) of the place it cancels
 *   Canceller (cb_wq_cancel): E[e].word still me's WAITING word, else
 *     -ESTALE; K[e] = that word (seq_cst); then bump E[e].wake and
 *     R[p] (seq_cst fetch_add each) and FUTEX_WAKE both.
 *   Waiter (cb_wq_wait_cancel), each round after its loads of o and r:
 *     CAS K[e] from its own word to 0 (seq_cst); won: -ECANCELED.
 * This is the eventcount argument of futex.h, with K[e] as the
 * condition and E[e].wake (behind the head) or R[p] (the head) as the
 * sequence: if the waiter's CAS misses the store, the store, hence the
 * bump after it, follows in the seq_cst order the waiter's earlier load
 * of the word it sleeps on, so futex_wait returns at once or is woken.
 * The orderings must be seq_cst on both sides (store then load of
 * different words: release/acquire would allow both to miss).  No model
 * step is added: queue.pml's lost-wakeup argument is unchanged (the
 * canceller's bump is one more notifier of the same kind, and a wake
 * that finds no cancel is spurious, which every round already allows).
 * Spurious wakes are harmless: the head woken by R[p] (another
 * process's, if the cancelled waiter is not the head) re-scans, retries
 * and sleeps again; a cancel that arrives while a round admits us
 * loses (the wait returns 0, the cancel names a word that never
 * matches again).  A cancel with no wait in progress stays in K[e]
 * and the next wait on the place returns -ECANCELED in its first round,
 * before it tries; each cancel ends one wait.
 * tests/unit/test_tp_cancel.c forces each interleaving.
 *
 * Strict order (past the bound, across priorities) means head-of-line
 * blocking: a head that cannot be admitted (a launch whose observed
 * floor keeps it out, say) holds up smaller requests behind it, a
 * head stopped (SIGSTOP) after it set HANDOFF keeps the next unit
 * waiting for it, and a head not inside cb_wait() (the split API)
 * keeps units from arrivals of a lower priority.  Fairness, unlike the
 * limit, is not defended against hostile clients: any process that can
 * write the slots segment can queue entries that look live.
 * But no write can starve a waiter for good:
 * an honest ticket is below queue_next for ever once its entry is
 * WAITING, so a live ticket at or beyond it (queue_next set to 2^62
 * and back to 0, or a ticket written) is a hostile write's, and the
 * sweeper re-bases the pool (cb_wq_sweep): it numbers the live entries
 * from queue_next on in their current order and moves queue_next past
 * them, so every later arrival is behind them all.  A ticket can
 * therefore change while its entry stays WAITING (by that CAS only);
 * scans compare against the waiter's ticket as its entry holds it now,
 * not the copy in struct cb_wq_entry.
 */
#ifndef CB_QUEUE_H
#define CB_QUEUE_H

#include <stdint.h>
#include <time.h>

#include "abi.h"
#include "reserve.h"
#include "slots.h"

/* A waiter's private copy of its entry. */
struct cb_wq_entry {
	uint32_t index;         /* entry in CB_RL_WAITERS */
	int pool;
	uint64_t word;          /* its WAITING word (nonce included) */
	uint64_t ticket;        /* at enqueue (a re-base may change it) */
	int32_t priority;
};

/* What one scan of a pool's entries found. */
struct cb_wq_scan {
	uint32_t live;          /* live entries of the pool */
	uint32_t ahead;         /* live entries ahead of `me` */
	int found;              /* `me` is live */
	int has_head;
	uint32_t head;          /* index of the head entry */
	uint64_t head_word;
	int32_t head_priority;
	uint32_t pruned;        /* dead entries this scan freed */
};

/*
 * Take a place at the back of `priority` in pool's queue for client
 * (index, owner word).  Returns 0 and *me, or -ENOSPC (table full).
 */
int cb_wq_enqueue(void *slots, uint32_t client, uint64_t owner, int pool,
    int32_t priority, struct cb_wq_entry *me);

/*
 * Scan pool's entries (me may be NULL), pruning dead ones.  If any were
 * pruned, wakes the new head unless it is me.
 */
void cb_wq_scan(void *slots, int pool, const struct cb_wq_entry *me,
    struct cb_wq_scan *out);

/* me's position: >= 0, or -ESTALE if it is no longer queued. */
int cb_wq_position(void *slots, const struct cb_wq_entry *me);

/*
 * Leave the queue and hand over (wake the new head).  Returns 0, or
 * -ESTALE if the entry had already been freed (pruned) by someone else.
 */
int cb_wq_leave(void *slots, const struct cb_wq_entry *me);

/*
 * Wait in the queue until admitted (0: *ticket, and me has left),
 * the absolute CLOCK_MONOTONIC deadline passes (-ETIMEDOUT; NULL: no
 * limit), a signal arrives and `interruptible` (-EINTR), me is no
 * longer queued (-ESTALE), or r's state segment was retired (-EPROTO:
 * its state word's CB_STATE_F_RETIRED, checked each round, so within a
 * slice at most; me has left).  On -ETIMEDOUT and -EINTR me stays
 * queued; on any other error from cb_rsv_try it has left.
 */
int cb_wq_wait(struct cb_rsv *r, struct cb_wq_entry *me, int kind,
    uint32_t observed, const struct timespec *deadline, int interruptible,
    cb_ticket *ticket);

/*
 * cb_wq_wait, cancellable (Cancel above): cancel is the handle's word
 * K[e] for me (NULL: not cancellable); -ECANCELED, me still queued, if
 * it holds me's word at the start of a round (consumed).
 */
int cb_wq_wait_cancel(struct cb_rsv *r, struct cb_wq_entry *me, int kind,
    uint32_t observed, const struct timespec *deadline, int interruptible,
    _Atomic uint64_t *cancel, cb_ticket *ticket);

/*
 * Cancel me's wait in progress (or its next one): store me's word in
 * *cancel, then wake me whether it sleeps on its own word or as the
 * head on release_seq.  Any thread of the process.  Returns 0, or
 * -ESTALE (me is no longer queued with that word).
 */
int cb_wq_cancel(void *slots, const struct cb_wq_entry *me,
    _Atomic uint64_t *cancel);

/*
 * Would a fail-fast request of `priority` pass a live waiter of pool?
 * 1 if some live waiter has a priority >= priority, else 0.  One
 * relaxed load when nobody is queued.  When blocked, a head whose
 * process is gone on proof (proc.h) is pruned and the next head woken
 * (checked at most once per 100 ms per process and pool: the broker
 * may be down).
 */
int cb_wq_blocked(void *slots, int pool, int32_t priority);

/* The relaxed hint: 0 when nobody is queued in pool.  Inline: it is
 * one of the hot path's checks (reserve_fast, client/reserve.c). */
static inline uint64_t cb_wq_hint(const void *slots, int pool)
{
	return atomic_load_explicit(&cb_slots_pool(slots, pool)->queued,
	    memory_order_relaxed);
}

/*
 * The hand-off bound (Barging above): a head that has waited this long
 * (from the start of its cb_wq_wait) stops arrivals from passing it.
 * The test-point build reads it from cb_wq_handoff_ns instead, which
 * its tests may set (0: every head hands off at once).
 */
#define CB_WQ_HANDOFF_NS 1000000u

/*
 * Every sleep of a wait is at most this long, so a lost or hostile wake
 * costs latency, never a hang (libcapbroker's WATCH_SLICE_MS).  The
 * test-point build reads it from cb_wq_slice_ms instead, which its
 * tests may raise so that only a wake ends a sleep before a deadline.
 */
#define CB_WQ_SLICE_MS 1000u
#ifdef CB_TESTPOINTS
extern _Atomic uint64_t cb_wq_handoff_ns;
extern _Atomic uint32_t cb_wq_slice_ms;
#endif

/*
 * A blocking request's attempt before it queues (Barging): take a free
 * unit of pool unless the barge word says a head is owed it or a live
 * waiter outranks priority; a hold that finds the pool full re-tries
 * for a spin first.  Returns 0 (*ticket), -EAGAIN (queue up), or
 * another error of cb_rsv_try.
 */
int cb_wq_arrive(struct cb_rsv *r, int pool, int kind, uint32_t observed,
    int32_t priority, cb_ticket *ticket);

/* May an arrival of priority pass pool's waiters (Barging)?  One
 * seq_cst load of the barge word: no hand-off flag, and priority at or
 * above the ceiling. */
int cb_wq_barge_ok(const void *slots, int pool, int32_t priority);

/* The barge word as loaded now (seq_cst; tests, capdump). */
uint64_t cb_wq_barge_word(const void *slots, int pool);

/*
 * Settle pool's barge word from x, loaded before a scan that found the
 * head (has_head, its head_priority) or none: the ceiling down to the
 * head's priority, the flag cleared when no live waiter is left.  One
 * CAS from x; returns 1 if it changed the word.  Leavers and the
 * sweeper (sweep_queue.c).
 */
int cb_wq_barge_settle(void *slots, int pool, uint64_t x, int has_head,
    int32_t head_priority);

/* Wake pool's head (hand-over): bump its wake word and FUTEX_WAKE. */
void cb_wq_wake_head(void *slots, int pool);

/*
 * Free every non-free entry naming client index `client` that is not
 * live (its owner is gone): after the broker reclaimed the client, or
 * (owner != 0) every entry of that exact owner, live or not (cb_close).
 * Wakes the heads of the pools it touched (the broker's call: of every
 * pool with waiters, since the dead client may have left a queue and
 * died before handing over).  Returns entries freed.
 */
uint32_t cb_wq_reclaim(void *slots, uint32_t client, uint64_t owner);

/*
 * Shared with the sweeper's half (sweep.h).
 *
 * Free entry e from exactly word w (keeping its nonce, so a stale copy
 * of w never matches again).  The one winner lowers the counters its
 * enqueuer raised (only states an enqueuer writes were counted).
 * Returns 1 if this caller won.
 */
int cb_wq_entry_free(void *slots, uint32_t e, uint64_t w);

/* Wake the head of every pool in mask: one pass over the table. */
void cb_wq_wake_heads(void *slots, uint64_t mask);

/*
 * Send out the waiters of a pool that no longer exists (the sweeper,
 * after it freed their entries): bump entry e's wake word, or pool
 * p's release_seq, and FUTEX_WAKE every sleeper on it.  The woken
 * waiter's scan no longer finds its entry (-ESTALE from cb_wq_wait;
 * client/reserve.c words it -ENOENT for a deleted pool).  Each bump is
 * seq_cst after the free, pairing with the waiter's seq_cst load of
 * the word before its scan (the no-lost-wakeup argument above).
 */
void cb_wq_wake_entry(void *slots, uint32_t e);
void cb_wq_wake_pool(void *slots, int pool);

/* Is owner word o (read from an entry of client c) still c's owner?
 * c comes from a client-written word: bounds-checked. */
static inline int cb_wq_owner_live(const void *slots, uint32_t c, uint64_t o)
{
	return c < CB_MAX_CLIENTS && CB_OWNER_PID(o) != 0 &&
	    atomic_load_explicit(
	    &cb_slots_client(slots, c)->owner, memory_order_seq_cst) == o;
}

/* One entry as read: its fields are valid only if ok. */
struct cb_wq_view {
	uint64_t word, owner, ticket;
	int32_t priority;
};

/*
 * Read entry e's fields under its word w (loaded seq_cst, so acquire,
 * by the caller); 0 if it changed meanwhile.  A seqlock read
 * (seqlock.h): the word is the sequence (its nonce never repeats), the
 * fields the payload.
 */
static inline int cb_wq_entry_read(const void *slots, uint32_t e,
    uint64_t w, struct cb_wq_view *v)
{
	struct cb_waiter_slot *ws = cb_slots_waiter(slots, e);

	v->word = w;
	v->owner = atomic_load_explicit(&ws->owner, memory_order_relaxed);
	v->ticket = atomic_load_explicit(&ws->ticket, memory_order_relaxed);
	v->priority = atomic_load_explicit(&ws->priority,
	    memory_order_relaxed);
	/*
	 * Orders the field loads above before the word's re-load below
	 * (a later load alone, even seq_cst, does not, on ARM or POWER).
	 * Paired with the release fence after the claim in
	 * cb_wq_enqueue() (queue.c), as cb_seqlock_read_retry()'s with
	 * cb_seqlock_write_begin()'s: if any field load saw a newer
	 * enqueuer's store, the re-load sees its claim (or later), not w.
	 * The same for the sweeper's ticket re-base (lib/sweep_queue.c).
	 */
	atomic_thread_fence(memory_order_acquire);
	/* seq_cst, as every access to the word (queue.c). */
	return atomic_load_explicit(&ws->word, memory_order_seq_cst) == w;
}

/*
 * The broker's pass over the table each recount (cb_wq_sweep: free
 * dead, stuck and impossible entries, correct the queued and waiters
 * counts, re-base the tickets of a pool a hostile write disordered) runs
 * only in the sweeper thread and lives in sweep.h and
 * lib/sweep_queue.c, outside libcapbroker.
 */

#endif /* CB_QUEUE_H */
