/*
 * queue.c - fair waiting (see queue.h for the protocol and the argument
 * that no wakeup is lost): the clients' half, and what both halves
 * share.  The sweeper's pass over the table (cb_wq_sweep) is
 * lib/sweep_queue.c, never in libcapbroker.
 *
 * Orderings: every access to an entry's word and wake word, to a
 * pool's queued / waiters / release_seq, and to the client owner words
 * the liveness check reads is seq_cst: the argument in queue.h is about
 * one total order of "entry freed", "scan read the entry", "wake word
 * read / bumped".  The fields an enqueuer writes between CLAIMING and
 * WAITING (owner, ticket, priority) are relaxed: the seq_cst CAS to
 * WAITING orders them before it, and a reader that loads WAITING
 * (seq_cst, so acquire) reads them and then re-loads the word to make
 * sure the entry did not change hands in between: a seqlock read, with
 * the fences seqlock.h uses (cb_wq_entry_read's acquire fence, the
 * release fence after the claim here).
 */
#include "queue.h"

#include <errno.h>
#include <limits.h>

#include "clock.h"
#include "futex.h"
#include "proc.h"
#include "segment.h"
#include "slots.h"
#include "state_word.h"
#include "testpoint.h"

/*
 * Spinning (queue.h, Barging): a blocking hold that finds its pool full
 * re-tries for up to SPIN_NS before it queues, SPIN_PAUSES pause
 * instructions between two tries.  A hand-off through the queue costs
 * a FUTEX_WAKE and a context switch (~20 us here); a unit held for a
 * few microseconds is cheaper to wait for awake.  Measured (capbench
 * section 7, 2 processes, docs/BENCHMARKS.md): no spin 0.82-0.88x the
 * POSIX semaphore, this spin 1.02-1.05x.  A refused head that also
 * spun on release_seq before sleeping gained nothing on top (0.99-
 * 1.16x, within the noise) and alone did worse than no spin at all
 * (0.62-0.69x: the spinning head takes the CPU the holder needs), so
 * heads do not spin.
 */
#define SPIN_NS 20000
#define SPIN_PAUSES 32

/* CAS attempts on a pool's barge word before giving up: each failure
 * is someone else's change, and a hostile writer must not hold us in a
 * loop (a ceiling left high, or a flag left set, costs throughput and
 * is settled by the next leaver or the sweeper). */
#define BARGE_TRIES 8

#ifdef CB_TESTPOINTS
_Atomic uint32_t cb_wq_slice_ms = CB_WQ_SLICE_MS;
#define SLICE_MS() atomic_load_explicit(&cb_wq_slice_ms, memory_order_relaxed)
#else
#define SLICE_MS() CB_WQ_SLICE_MS
#endif

#ifdef CB_TESTPOINTS
_Atomic uint64_t cb_wq_handoff_ns = CB_WQ_HANDOFF_NS;
#define HANDOFF_NS() atomic_load_explicit(&cb_wq_handoff_ns, \
	memory_order_relaxed)
#else
#define HANDOFF_NS() ((uint64_t)CB_WQ_HANDOFF_NS)
#endif

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#else
	atomic_signal_fence(memory_order_seq_cst);
#endif
}

/* Lower a counter by one, never below zero (hostile or drifted values
 * must not wrap a hint to "everybody is queued"). */
static void dec64(_Atomic uint64_t *v)
{
	uint64_t x = atomic_load_explicit(v, memory_order_relaxed);

	while (x > 0 && !atomic_compare_exchange_weak_explicit(v, &x, x - 1,
	    memory_order_seq_cst, memory_order_relaxed))
		;
}

static void dec32(_Atomic uint32_t *v)
{
	uint32_t x = atomic_load_explicit(v, memory_order_relaxed);

	while (x > 0 && !atomic_compare_exchange_weak_explicit(v, &x, x - 1,
	    memory_order_seq_cst, memory_order_relaxed))
		;
}

/* Enqueue's step 1: raise the counters an entry of the pool stands
 * for (seq_cst: before the claim, queue.h; lowered by
 * cb_wq_entry_free's winner). */
static void count_up(struct cb_pool_slot *ps)
{
	atomic_fetch_add_explicit(&ps->queued, 1, memory_order_seq_cst);
	atomic_fetch_add_explicit(&ps->waiters, 1, memory_order_seq_cst);
}

/*
 * The barge word (abi.h, queue.h's Barging).  Every change is a
 * seq_cst CAS that bumps the version: the one total order in which
 * queue.h argues puts "enqueuer's CAS to WAITING, then its announce"
 * against "leaver's load of the word, its scan, its CAS".
 */
static uint64_t barge_load(const struct cb_pool_slot *ps)
{
	return atomic_load_explicit(&ps->barge, memory_order_seq_cst);
}

static int barge_cas(struct cb_pool_slot *ps, uint64_t *x, uint64_t handoff,
    uint32_t ceiling)
{
	return atomic_compare_exchange_strong_explicit(&ps->barge, x,
	    CB_BARGE_WORD(handoff, CB_BARGE_VERSION(*x) + 1, ceiling),
	    memory_order_seq_cst, memory_order_seq_cst);
}

/* An enqueuer, after its CAS to WAITING: raise the ceiling to its
 * priority, and move the version even if it is high enough already, so
 * that a leaver's lowering from a value read before this fails. */
static void barge_announce(struct cb_pool_slot *ps, int32_t priority)
{
	uint64_t x = barge_load(ps);

	for (int k = 0; k < BARGE_TRIES; k++) {
		uint32_t c = CB_BARGE_CEILING(x), p = CB_BARGE_PRIO(priority);

		if (barge_cas(ps, &x, x & CB_BARGE_HANDOFF, c > p ? c : p))
			return;
	}
}

/* A head past the bound: from now on arrivals queue (or fail fast). */
static void barge_handoff_set(struct cb_pool_slot *ps)
{
	uint64_t x = barge_load(ps);

	for (int k = 0; k < BARGE_TRIES && !(x & CB_BARGE_HANDOFF); k++)
		if (barge_cas(ps, &x, CB_BARGE_HANDOFF, CB_BARGE_CEILING(x)))
			return;
}

/* The head admitted (or the setter leaving): arrivals may barge again. */
static void barge_handoff_clear(struct cb_pool_slot *ps)
{
	uint64_t x = barge_load(ps);

	for (int k = 0; k < BARGE_TRIES && (x & CB_BARGE_HANDOFF); k++)
		if (barge_cas(ps, &x, 0, CB_BARGE_CEILING(x)))
			return;
}

/*
 * A leaver's (or the sweeper's) settle, from the word x it loaded
 * before its scan: the ceiling down to the head's priority, the flag
 * cleared if no live waiter is left.  Fails, harmlessly, if anyone
 * changed the word since x (an enqueuer's announce, a head's flag).
 */
int cb_wq_barge_settle(void *slots, int pool, uint64_t x, int has_head,
    int32_t head_priority)
{
	struct cb_pool_slot *ps = cb_slots_pool(slots, pool);
	uint64_t h = has_head ? x & CB_BARGE_HANDOFF : 0;
	uint32_t c = has_head ? CB_BARGE_PRIO(head_priority) : 0;

	if ((x & CB_BARGE_HANDOFF) == h && CB_BARGE_CEILING(x) == c)
		return 0;
	return barge_cas(ps, &x, h, c);
}

uint64_t cb_wq_barge_word(const void *slots, int pool)
{
	return barge_load(cb_slots_pool(slots, pool));
}

int cb_wq_barge_ok(const void *slots, int pool, int32_t priority)
{
	uint64_t x = barge_load(cb_slots_pool(slots, pool));

	return !(x & CB_BARGE_HANDOFF) &&
	    CB_BARGE_PRIO(priority) >= CB_BARGE_CEILING(x);
}

int cb_wq_entry_free(void *slots, uint32_t e, uint64_t w)
{
	struct cb_waiter_slot *ws = cb_slots_waiter(slots, e);
	unsigned st = CB_WAITER_STATE(w);
	struct cb_pool_slot *ps;

	if (!atomic_compare_exchange_strong_explicit(&ws->word, &w,
	    CB_WAITER_WORD(CB_WAITER_FREE, 0, 0, CB_WAITER_NONCE(w)),
	    memory_order_seq_cst, memory_order_relaxed))
		return 0;
	if (st == CB_WAITER_CLAIMING || st == CB_WAITER_WAITING) {
		ps = cb_slots_pool(slots, (int)CB_WAITER_POOL(w));
		dec64(&ps->queued);
		dec32(&ps->waiters);
	}
	return 1;
}

/* Is (pa, ta, ea) ahead of (pb, tb, eb)? */
static int ahead_of(int32_t pa, uint64_t ta, uint32_t ea, int32_t pb,
    uint64_t tb, uint32_t eb)
{
	if (pa != pb)
		return pa > pb;
	if (ta != tb)
		return ta < tb;
	return ea < eb;
}

static void wake_entry(void *slots, uint32_t e)
{
	struct cb_waiter_slot *ws = cb_slots_waiter(slots, e);

	/* seq_cst: after the free (or grant) that made e the head, and
	 * ordered against the waiter's load of its word (queue.h). */
	atomic_fetch_add_explicit(&ws->wake, 1, memory_order_seq_cst);
	cb_futex_wake(&ws->wake, INT_MAX);
}

/*
 * me's ticket as its entry holds it now: the sweeper re-bases the
 * tickets of a pool whose order a hostile write broke (sweep_queue.c),
 * so the copy taken at enqueue may be stale.  The copy if the entry is
 * no longer me (the scan will not find it).
 */
static uint64_t my_ticket(void *slots, const struct cb_wq_entry *me)
{
	struct cb_wq_view v;

	if (me->index < CB_MAX_WAITERS &&
	    atomic_load_explicit(&cb_slots_waiter(slots, me->index)->word,
	    memory_order_seq_cst) == me->word &&
	    cb_wq_entry_read(slots, me->index, me->word, &v))
		return v.ticket;
	return me->ticket;
}

/* The scan without the wake: returns the pruned count in out. */
static void scan(void *slots, int pool, const struct cb_wq_entry *me,
    struct cb_wq_scan *out)
{
	int32_t hp = 0;
	uint64_t ht = 0, mt = me != NULL ? my_ticket(slots, me) : 0;
	struct cb_wq_view v;

	out->live = out->ahead = out->pruned = 0;
	out->found = out->has_head = 0;
	out->head = 0;
	out->head_word = 0;
	out->head_priority = 0;
	for (uint32_t e = 0; e < CB_MAX_WAITERS; e++) {
		uint64_t w = atomic_load_explicit(
		    &cb_slots_waiter(slots, e)->word, memory_order_seq_cst);

		if (CB_WAITER_STATE(w) != CB_WAITER_WAITING ||
		    CB_WAITER_POOL(w) != (unsigned)pool)
			continue;
		if (!cb_wq_entry_read(slots, e, w, &v))
			continue;    /* changed hands: a newer arrival */
		if (!cb_wq_owner_live(slots, CB_WAITER_CLIENT(w), v.owner)) {
			out->pruned += (uint32_t)cb_wq_entry_free(slots, e, w);
			continue;
		}
		out->live++;
		if (me != NULL && e == me->index && w == me->word)
			out->found = 1;
		else if (me != NULL && ahead_of(v.priority, v.ticket, e,
		    me->priority, mt, me->index))
			out->ahead++;
		if (!out->has_head || ahead_of(v.priority, v.ticket, e, hp,
		    ht, out->head)) {
			out->has_head = 1;
			out->head = e;
			out->head_word = w;
			out->head_priority = v.priority;
			hp = v.priority;
			ht = v.ticket;
		}
	}
}

void cb_wq_scan(void *slots, int pool, const struct cb_wq_entry *me,
    struct cb_wq_scan *out)
{
	scan(slots, pool, me, out);
	/* A pruned entry may have been the head: hand over, as its owner
	 * would have on leaving. */
	if (out->pruned > 0 && out->has_head &&
	    (me == NULL || out->head != me->index))
		wake_entry(slots, out->head);
}

int cb_wq_position(void *slots, const struct cb_wq_entry *me)
{
	struct cb_wq_scan sc;

	cb_wq_scan(slots, me->pool, me, &sc);
	return sc.found ? (int)sc.ahead : -ESTALE;
}

void cb_wq_wake_head(void *slots, int pool)
{
	struct cb_wq_scan sc;

	scan(slots, pool, NULL, &sc);
	if (sc.has_head)
		wake_entry(slots, sc.head);
}

/*
 * Proof that the process owning entry e (word w, owner word o) is gone:
 * its client entry still names o, and (pid, start time) no longer names
 * a running process (proc.h).  Anything short of proof (cb_proc_alive
 * -1, unknown; no start time recorded) counts as alive: a live waiter
 * must never be pruned.
 */
static int owner_dead(void *slots, uint64_t w, uint64_t o)
{
	uint32_t c = CB_WAITER_CLIENT(w);
	struct cb_client_slot *cs;
	uint64_t start;

	if (!cb_wq_owner_live(slots, c, o))
		return 0;               /* not live: the scans prune it */
	cs = cb_slots_client(slots, c);
	/* Pairs with the release store of start in cb_rsv_claim(): a
	 * non-zero start is the one the owner recorded... */
	start = atomic_load_explicit(&cs->start, memory_order_acquire);
	/* ...if the entry still names o after that load (seq_cst, as
	 * every owner-word access here). */
	if (start == 0 || atomic_load_explicit(&cs->owner,
	    memory_order_seq_cst) != o)
		return 0;
	return cb_proc_alive((pid_t)CB_OWNER_PID(o), start) == 0;
}

/*
 * The fail-fast path's own check of the head (queue.h): with no broker
 * running nobody else frees a dead waiter's client entry, and a
 * fail-fast request never waits, so it never reaches the blocking
 * waiters' stall check.  A /proc read per refused request would be a
 * syscall storm on a busy pool, so each process checks a pool's head
 * at most once per BLOCKER_CHECK_MS (one clock read, vDSO, decides),
 * and prunes at most BLOCKER_PRUNES dead heads per call.  The common
 * path (queued hint 0) never gets here.
 */
#define BLOCKER_CHECK_MS 100
#define BLOCKER_PRUNES 4

static _Atomic uint64_t blocker_checked_ns[CB_MAX_POOLS];

/* May this call check pool's head?  At most one caller per interval
 * wins (relaxed: a lost race costs one check more or less). */
static int blocker_check_due(int pool)
{
	_Atomic uint64_t *last = &blocker_checked_ns[pool];
	uint64_t now = cb_monotonic_ns() | 1;   /* 0: never checked */
	uint64_t l = atomic_load_explicit(last, memory_order_relaxed);

	if (l != 0 && now - l < (uint64_t)BLOCKER_CHECK_MS * 1000000u)
		return 0;
	return atomic_compare_exchange_strong_explicit(last, &l, now,
	    memory_order_relaxed, memory_order_relaxed);
}

/* Is some live waiter of pool of a priority >= priority queued? */
static int blocker_queued(void *slots, int pool, int32_t priority)
{
	struct cb_wq_view v;

	for (uint32_t e = 0; e < CB_MAX_WAITERS; e++) {
		uint64_t w = atomic_load_explicit(
		    &cb_slots_waiter(slots, e)->word, memory_order_seq_cst);

		if (CB_WAITER_STATE(w) != CB_WAITER_WAITING ||
		    CB_WAITER_POOL(w) != (unsigned)pool ||
		    !cb_wq_entry_read(slots, e, w, &v) ||
		    !cb_wq_owner_live(slots, CB_WAITER_CLIENT(w), v.owner))
			continue;
		if (v.priority >= priority)
			return 1;
	}
	return 0;
}

/* Prune pool's head if its process is gone on proof, and hand over as
 * its owner would have on leaving.  Returns 1 if it did. */
static int prune_dead_head(void *slots, int pool)
{
	struct cb_wq_scan sc;
	struct cb_wq_view v;

	scan(slots, pool, NULL, &sc);
	if (!sc.has_head ||
	    !cb_wq_entry_read(slots, sc.head, sc.head_word, &v) ||
	    !owner_dead(slots, sc.head_word, v.owner) ||
	    !cb_wq_entry_free(slots, sc.head, sc.head_word))
		return 0;
	cb_wq_wake_head(slots, pool);
	return 1;
}

int cb_wq_blocked(void *slots, int pool, int32_t priority)
{
	if (cb_wq_hint(slots, pool) == 0)
		return 0;
	for (int pruned = 0; blocker_queued(slots, pool, priority);
	    pruned++) {
		/* The head is what every blocker waits behind: while it is
		 * dead, live waiters behind it block us for nothing. */
		if ((pruned == 0 && !blocker_check_due(pool)) ||
		    pruned == BLOCKER_PRUNES ||
		    !prune_dead_head(slots, pool))
			return 1;
	}
	return 0;
}

int cb_wq_enqueue(void *slots, uint32_t client, uint64_t owner, int pool,
    int32_t priority, struct cb_wq_entry *me)
{
	struct cb_pool_slot *ps = cb_slots_pool(slots, pool);
	uint32_t first = (client * 2654435761u) % CB_MAX_WAITERS;

	/* Step 1: counters first, so they never under-count entries. */
	count_up(ps);
	CB_TESTPOINT("queue:counted");
	for (uint32_t k = 0; k < CB_MAX_WAITERS; k++) {
		uint32_t e = (first + k) % CB_MAX_WAITERS;
		struct cb_waiter_slot *ws = cb_slots_waiter(slots, e);
		uint64_t w = atomic_load_explicit(&ws->word,
		    memory_order_relaxed);
		uint64_t nonce = CB_WAITER_NONCE(w) + 1;
		uint64_t claiming = CB_WAITER_WORD(CB_WAITER_CLAIMING, pool,
		    client, nonce);
		uint64_t waiting = CB_WAITER_WORD(CB_WAITER_WAITING, pool,
		    client, nonce);

		/* Step 2. */
		if (CB_WAITER_STATE(w) != CB_WAITER_FREE ||
		    !atomic_compare_exchange_strong_explicit(&ws->word, &w,
		    claiming, memory_order_seq_cst, memory_order_relaxed))
			continue;
		/* Orders the claim before the field stores of step 3 (a
		 * seq_cst RMW orders only what precedes it).  Paired with
		 * the acquire fence in cb_wq_entry_read() (queue.h), as
		 * cb_seqlock_write_begin()'s with cb_seqlock_read_retry()'s:
		 * a reader whose field load sees a store below re-loads
		 * this claim (or later), not the word it validates. */
		atomic_thread_fence(memory_order_release);
		/* Step 3: ordered before WAITING by the CAS below. */
		atomic_store_explicit(&ws->owner, owner, memory_order_relaxed);
		atomic_store_explicit(&ws->priority, priority,
		    memory_order_relaxed);
		atomic_store_explicit(&ws->ticket, atomic_fetch_add_explicit(
		    &ps->queue_next, 1, memory_order_seq_cst),
		    memory_order_relaxed);
		CB_TESTPOINT("queue:claimed");
		/* Step 4: a CAS, so a claim the sweeper freed as stuck is
		 * never brought back; then this entry is not ours, and
		 * whoever freed it lowered the counters step 1 raised
		 * (cb_wq_entry_free): raise them again before the next
		 * claim, or they under-count from here on. */
		w = claiming;
		if (!atomic_compare_exchange_strong_explicit(&ws->word, &w,
		    waiting, memory_order_seq_cst, memory_order_relaxed)) {
			count_up(ps);
			continue;
		}
		/* After WAITING: a leaver that reads the barge word after
		 * this scans after WAITING too (queue.h, Barging). */
		barge_announce(ps, priority);
		me->index = e;
		me->pool = pool;
		me->word = waiting;
		me->ticket = atomic_load_explicit(&ws->ticket,
		    memory_order_relaxed);
		me->priority = priority;
		return 0;
	}
	dec64(&ps->queued);
	dec32(&ps->waiters);
	return -ENOSPC;
}

int cb_wq_leave(void *slots, const struct cb_wq_entry *me)
{
	struct cb_wq_scan sc;
	uint64_t x;
	int won;

	if (me->index >= CB_MAX_WAITERS)
		return -ESTALE;
	won = cb_wq_entry_free(slots, me->index, me->word);
	/* The barge word before the scan, the settle after (queue.h). */
	x = barge_load(cb_slots_pool(slots, me->pool));
	scan(slots, me->pool, NULL, &sc);
	cb_wq_barge_settle(slots, me->pool, x, sc.has_head,
	    sc.head_priority);
	/* Hand over: the head may now be the entry behind us, and if we
	 * were admitted, units may remain for it. */
	if (sc.has_head)
		wake_entry(slots, sc.head);
	return won ? 0 : -ESTALE;
}

int cb_wq_arrive(struct cb_rsv *r, int pool, int kind, uint32_t observed,
    int32_t priority, cb_ticket *ticket)
{
	uint64_t now, until = 0;
	int ret;

	for (;;) {
		/* queued first (relaxed, 0 on the common path), then the
		 * barge word on the same line. */
		if (cb_wq_hint(r->slots, pool) != 0 &&
		    !cb_wq_barge_ok(r->slots, pool, priority))
			return -EAGAIN;
		ret = cb_rsv_try(r, pool, kind, observed, ticket);
		/* A refused launch may have touched the launch table:
		 * launches do not spin. */
		if (ret != -EAGAIN || kind != CB_HOLD)
			return ret;
		now = cb_monotonic_ns();
		if (until == 0)
			until = now + SPIN_NS;
		else if (now >= until)
			return -EAGAIN;
		for (int k = 0; k < SPIN_PAUSES; k++)
			cpu_relax();
	}
}

/*
 * A head that has not moved for a whole slice: if its process is gone
 * (no broker to notice it), prune it and wake the next one.
 */
static void check_stalled(void *slots, int pool, uint32_t e, uint64_t w)
{
	struct cb_wq_view v;

	/* The owner of exactly w (its word re-checked after the read). */
	if (!cb_wq_entry_read(slots, e, w, &v) ||
	    !owner_dead(slots, w, v.owner))
		return;
	if (cb_wq_entry_free(slots, e, w))
		cb_wq_wake_head(slots, pool);
}

/*
 * Admitted as head: unless a waiter arrived ahead of us between our
 * scan and our CAS, in which case the unit is its, and the release
 * wakes it (queue.h; queue.pml's -DBUG_NO_GIVE_BACK shows the grant
 * out of order otherwise).  Returns 1 if the unit was given back.
 */
static int given_back(struct cb_rsv *r, const struct cb_wq_entry *me,
    const cb_ticket *ticket)
{
	struct cb_wq_scan sc;

	cb_wq_scan(r->slots, me->pool, me, &sc);
	if (sc.ahead == 0 || !sc.found)
		return 0;
	cb_rsv_release(r, ticket);
	return 1;
}

/*
 * Was r's state segment retired (a new broker replaced it)?  Then it
 * admits nothing, and nothing will free this waiter: retire() sends out
 * the entries queued when it runs (broker/segments.c, retire_waiters()),
 * but an enqueue just after that pass finds no-one to release a unit
 * and no-one to free its entry.  One acquire load of the state word,
 * paired with the release store that sets CB_STATE_F_RETIRED in
 * retire(), as the entry points' retired() (client/reserve.c).
 */
static int segment_retired(const struct cb_rsv *r)
{
	const struct cb_state_hot *hot = cb_seg_region(r->state, CB_RS_HOT);

	return (CB_STATE_FLAGS(atomic_load_explicit(&hot->state_word,
	    memory_order_acquire)) & CB_STATE_F_RETIRED) != 0;
}

/* cb_wq_wait returns ret; a flag it set goes with it unless admitted
 * (the admitted head cleared it already). */
static int wait_done(struct cb_pool_slot *ps, int flagged, int ret)
{
	if (flagged && ret != 0)
		barge_handoff_clear(ps);
	return ret;
}

int cb_wq_wait(struct cb_rsv *r, struct cb_wq_entry *me, int kind,
    uint32_t observed, const struct timespec *deadline, int interruptible,
    cb_ticket *ticket)
{
	return cb_wq_wait_cancel(r, me, kind, observed, deadline,
	    interruptible, NULL, ticket);
}

/*
 * Was this wait cancelled (queue.h, Cancel)?  Consumes the cancel: one
 * CAS from me's word to 0, seq_cst, so it is ordered after the loads
 * of the words the round sleeps on (the eventcount argument).  A cancel
 * naming another word (an earlier place, its nonce older) is left
 * alone: it never matches again.
 */
static int cancelled(_Atomic uint64_t *cancel, const struct cb_wq_entry *me)
{
	uint64_t x = me->word;

	if (cancel == NULL)
		return 0;
	return atomic_compare_exchange_strong_explicit(cancel, &x, 0,
	    memory_order_seq_cst, memory_order_seq_cst);
}

int cb_wq_cancel(void *slots, const struct cb_wq_entry *me,
    _Atomic uint64_t *cancel)
{
	struct cb_waiter_slot *ws;

	if (me->index >= CB_MAX_WAITERS)
		return -ESTALE;
	ws = cb_slots_waiter(slots, me->index);
	if (atomic_load_explicit(&ws->word, memory_order_seq_cst) != me->word)
		return -ESTALE;
	/* The flag before the bumps (seq_cst, Cancel in queue.h): pairs
	 * with the sleeper's seq_cst CAS in cancelled(), which follows its
	 * loads of both words in the round. */
	atomic_store_explicit(cancel, me->word, memory_order_seq_cst);
	/* Asleep behind the head: on its own word. */
	wake_entry(slots, me->index);
	/* Asleep as the head: on release_seq, with the pool's head (if
	 * another one) woken spuriously: it re-checks and sleeps again. */
	cb_wq_wake_pool(slots, me->pool);
	return 0;
}

int cb_wq_wait_cancel(struct cb_rsv *r, struct cb_wq_entry *me, int kind,
    uint32_t observed, const struct timespec *deadline, int interruptible,
    _Atomic uint64_t *cancel, cb_ticket *ticket)
{
	struct cb_pool_slot *ps = cb_slots_pool(r->slots, me->pool);
	struct cb_waiter_slot *ws;
	uint64_t stalled_word = 0, since = cb_monotonic_ns();
	uint32_t stalled = CB_MAX_WAITERS;
	int flagged = 0;

	if (me->index >= CB_MAX_WAITERS)
		return -ESTALE;
	ws = cb_slots_waiter(r->slots, me->index);
	for (;;) {
		/* Both words before the scan (queue.h: no lost wakeup). */
		uint32_t o = atomic_load_explicit(&ws->wake,
		    memory_order_seq_cst);
		uint32_t s = atomic_load_explicit(&ps->release_seq,
		    memory_order_seq_cst);
		const _Atomic uint32_t *word;
		struct timespec slice, now;
		struct cb_wq_scan sc;
		uint32_t val;
		int ret;

		/* Each round, after every wake or slice: retire() moves
		 * release_seq after the flag, so a head asleep on it comes
		 * back at once, anyone else within a slice. */
		if (segment_retired(r)) {
			cb_wq_leave(r->slots, me);
			return wait_done(ps, flagged, -EPROTO);
		}
		/* After the loads of both words (Cancel in queue.h): a
		 * cancel this misses bumps them after we read them. */
		if (cancelled(cancel, me))
			return wait_done(ps, flagged, -ECANCELED);
		cb_wq_scan(r->slots, me->pool, me, &sc);
		if (!sc.found)
			return wait_done(ps, flagged, -ESTALE);
		if (sc.ahead == 0) {
			/* Past the bound: no more barging; the next unit is
			 * ours (queue.h).  Set again after anyone cleared it. */
			if (cb_monotonic_ns() - since >= HANDOFF_NS()) {
				barge_handoff_set(ps);
				flagged = 1;
			}
			CB_TESTPOINT("queue:head-try");
			ret = cb_rsv_try(r, me->pool, kind, observed, ticket);
			if (ret == 0 && given_back(r, me, ticket))
				continue;
			/* Admitted: the hand-off, if any, is done. */
			if (ret == 0)
				barge_handoff_clear(ps);
			if (ret != -EAGAIN) {
				cb_wq_leave(r->slots, me);
				return wait_done(ps, flagged, ret);
			}
			/* Refused (the pool full, or a barger was first): still
			 * the head; asleep until the next release. */
			word = &ps->release_seq;
			val = s;
		} else {
			word = &ws->wake;
			val = o;
		}
		slice = cb_deadline_after_ms(SLICE_MS());
		if (deadline != NULL && cb_timespec_before(deadline, &slice))
			slice = *deadline;
		CB_TESTPOINT("queue:sleep");
		ret = cb_futex_wait(word, val, &slice);
		if (ret == -ETIMEDOUT)
			CB_TESTPOINT("queue:slice-end");
		CB_TESTPOINT("queue:woken");
		if (ret == -EINTR && interruptible)
			return wait_done(ps, flagged, -EINTR);
		now = cb_deadline_after_ms(0);
		if (deadline != NULL && !cb_timespec_before(&now, deadline))
			return wait_done(ps, flagged, -ETIMEDOUT);
		if (ret != -ETIMEDOUT || sc.ahead == 0)
			continue;
		/* A whole slice behind the same head: is it still alive? */
		if (stalled == sc.head && stalled_word == sc.head_word)
			check_stalled(r->slots, me->pool, sc.head,
			    sc.head_word);
		stalled = sc.head;
		stalled_word = sc.head_word;
	}
}

void cb_wq_wake_entry(void *slots, uint32_t e)
{
	if (e < CB_MAX_WAITERS)
		wake_entry(slots, e);
}

void cb_wq_wake_pool(void *slots, int pool)
{
	struct cb_pool_slot *ps = cb_slots_pool(slots, pool);

	/* Unconditionally: the frees lowered `waiters` already. */
	atomic_fetch_add_explicit(&ps->release_seq, 1, memory_order_seq_cst);
	cb_futex_wake(&ps->release_seq, INT_MAX);
}

void cb_wq_wake_heads(void *slots, uint64_t mask)
{
	uint32_t head[CB_MAX_POOLS];
	int32_t hp[CB_MAX_POOLS];
	uint64_t ht[CB_MAX_POOLS], found = 0;
	struct cb_wq_view v;

	if (mask == 0)
		return;
	for (uint32_t e = 0; e < CB_MAX_WAITERS; e++) {
		uint64_t w = atomic_load_explicit(
		    &cb_slots_waiter(slots, e)->word, memory_order_seq_cst);
		unsigned p = CB_WAITER_POOL(w);

		if (CB_WAITER_STATE(w) != CB_WAITER_WAITING ||
		    !(mask & (1ull << p)) || !cb_wq_entry_read(slots, e, w, &v))
			continue;
		if (!cb_wq_owner_live(slots, CB_WAITER_CLIENT(w), v.owner)) {
			cb_wq_entry_free(slots, e, w);
			continue;
		}
		if (!(found & (1ull << p)) || ahead_of(v.priority, v.ticket,
		    e, hp[p], ht[p], head[p])) {
			found |= 1ull << p;
			head[p] = e;
			hp[p] = v.priority;
			ht[p] = v.ticket;
		}
	}
	for (unsigned p = 0; p < CB_MAX_POOLS; p++)
		if (found & (1ull << p))
			wake_entry(slots, head[p]);
}

uint32_t cb_wq_reclaim(void *slots, uint32_t client, uint64_t owner)
{
	uint64_t touched = 0;
	uint32_t freed = 0;
	struct cb_wq_view v;

	for (uint32_t e = 0; e < CB_MAX_WAITERS; e++) {
		uint64_t w = atomic_load_explicit(
		    &cb_slots_waiter(slots, e)->word, memory_order_seq_cst);
		unsigned st = CB_WAITER_STATE(w);

		if ((st != CB_WAITER_CLAIMING && st != CB_WAITER_WAITING) ||
		    CB_WAITER_CLIENT(w) != (client & 0x3ff) ||
		    !cb_wq_entry_read(slots, e, w, &v))
			continue;
		if (owner != 0 ? v.owner != owner :
		    cb_wq_owner_live(slots, client, v.owner))
			continue;
		if (cb_wq_entry_free(slots, e, w)) {
			freed++;
			touched |= 1ull << CB_WAITER_POOL(w);
		}
	}
	/* The broker: wake every queued pool's head, not only those it
	 * freed entries in.  The dead client may have freed its own entry
	 * (left the queue) and died before handing over. */
	if (owner == 0)
		for (int p = 0; p < CB_MAX_POOLS; p++)
			if (cb_wq_hint(slots, p) != 0)
				touched |= 1ull << p;
	cb_wq_wake_heads(slots, touched);
	return freed;
}
