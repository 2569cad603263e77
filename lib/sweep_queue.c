/*
 * sweep_queue.c - the sweeper's pass over the fair-waiting table
 * (queue.h has the protocol and the argument that no wakeup is lost;
 * queue.c the clients' half): frees dead, stuck and impossible waiter
 * entries, corrects the pools' queued and waiters counts, re-bases the
 * tickets of a pool a hostile write disordered, wakes the heads behind
 * what it changed.  Linked into capbrokerd and the tests, never into
 * libcapbroker (sweep.h).
 *
 * Orderings: as in queue.c, every access to an entry's word and to a
 * pool's queued hint is seq_cst (queue.h argues in one total order of
 * "entry freed", "scan read the entry", "wake word read / bumped");
 * entries are read and freed with queue.c's own helpers.
 */
#include "sweep.h"

#include <stdlib.h>

#include "queue.h"
#include "slots.h"

/* A queue_next beyond this is no honest count of arrivals (one per
 * nanosecond for 146 years): a re-base starts the tickets over at 0. */
#define TICKET_SANE (1ull << 62)

/* One entry of the sweep: 1 if it was freed. */
static int sweep_one(void *slots, uint32_t e, uint64_t w,
    const uint32_t *active, struct cb_wq_sweep *st)
{
	unsigned s = CB_WAITER_STATE(w), p = CB_WAITER_POOL(w);
	struct cb_wq_view v;

	switch (s) {
	case CB_WAITER_FREE:
		return 0;
	case CB_WAITER_CLAIMING:
	case CB_WAITER_WAITING:
		break;
	default:
		/* Not a state anyone writes: never counted. */
		return cb_wq_entry_free(slots, e, w);
	}
	if (active[p] == 0) {
		/* A deleted pool's waiter (broker/pools.h): sent out at
		 * once, not left to notice within its slice. */
		if (!cb_wq_entry_free(slots, e, w))
			return 0;
		cb_wq_wake_entry(slots, e);
		return 1;
	}
	if (s == CB_WAITER_CLAIMING) {
		/* A claimer is between two of its own steps (nanoseconds):
		 * give it a whole sweep.  Stuck since the last one, it died
		 * there (or is stopped: its CAS to WAITING then fails and it
		 * claims another entry).  Its owner field may not be written
		 * yet, so it says nothing either way. */
		if (st->prev[e] != w) {
			st->prev[e] = w;
			return 0;
		}
		st->prev[e] = 0;
		return cb_wq_entry_free(slots, e, w);
	}
	if (!cb_wq_entry_read(slots, e, w, &v) ||
	    cb_wq_owner_live(slots, CB_WAITER_CLIENT(w), v.owner))
		return 0;
	return cb_wq_entry_free(slots, e, w);
}

/*
 * Pool p's `queued` hint and `waiters` count against the count of its
 * CLAIMING and WAITING entries, the table's truth.  Each is corrected
 * when it disagreed the same way twice in a row: not an enqueuer
 * between its counters and its claim, or a leaver between its free
 * and its decrement (nanoseconds), but a client that died there, a
 * stall, or a hostile write.  A CAS on the exact value seen, so a
 * concurrent change wins.  A stopped enqueuer that later claims makes
 * the counters under-count by one until the next two sweeps: a wake
 * that comes only with the next slice, never a hang (queue.h).
 * Returns the counters corrected (0..2).
 */
static uint32_t repair_counters(void *slots, int p, uint64_t count,
    struct cb_wq_sweep *st)
{
	struct cb_pool_slot *ps = cb_slots_pool(slots, p);
	uint32_t fixed = 0;
	/* Both pair with the enqueuer's seq_cst increments before its
	 * claim (cb_wq_enqueue's count_up) and the winner's decrements
	 * after its free (cb_wq_entry_free), queue.c; the CASes are the
	 * same seq_cst RMWs. */
	uint64_t h = atomic_load_explicit(&ps->queued, memory_order_seq_cst);
	uint32_t n = atomic_load_explicit(&ps->waiters, memory_order_seq_cst);
	int steady = count == st->count_seen[p];

	if (h != count && steady && h == st->hint_seen[p] &&
	    atomic_compare_exchange_strong_explicit(&ps->queued, &h, count,
	    memory_order_seq_cst, memory_order_relaxed)) {
		fixed++;
		h = count;
	}
	/* count <= CB_MAX_WAITERS: fits the 32-bit word. */
	if (n != (uint32_t)count && steady && n == st->waiters_seen[p] &&
	    atomic_compare_exchange_strong_explicit(&ps->waiters, &n,
	    (uint32_t)count, memory_order_seq_cst, memory_order_relaxed)) {
		fixed++;
		n = (uint32_t)count;
	}
	st->hint_seen[p] = h;
	st->waiters_seen[p] = n;
	return fixed;
}

/* The current order of live entries within a priority (queue.c's
 * ahead_of): ticket, then index. */
static int rebase_cmp(const void *a, const void *b)
{
	const struct cb_wq_rebase_entry *x = a, *y = b;

	if (x->ticket != y->ticket)
		return x->ticket < y->ticket ? -1 : 1;
	return x->index < y->index ? -1 : x->index > y->index;
}

/*
 * Re-base pool p's arrival tickets: a hostile write to queue_next
 * (2^62, then 0) left a live ticket at or beyond it, so every later
 * arrival would be ahead of that waiter for ever.  Number the live
 * WAITING entries base, base + 1, ... in their current order and move
 * queue_next past them: from then on every arrival is behind them all,
 * so the starved waiter waits only for those already ahead of it.
 * Returns 1 if it re-based.
 *
 * An enqueuer between its fetch of queue_next and WAITING keeps the
 * ticket it took (it may pass these entries once: an arrival racing a
 * re-base); one that fetches after the CAS below is behind them.  Each
 * ticket is changed by a CAS from the value read, so a reused entry's
 * new ticket is left alone.  Order among the renumbered entries is
 * kept at every step but transiently against those not renumbered
 * yet; the wake of the head after the sweep (cb_wq_wake_heads) makes
 * the head rescan once the tickets are final, and every sleep is a
 * slice (queue.h).
 */
static int rebase_tickets(void *slots, int p, struct cb_wq_sweep *st)
{
	struct cb_wq_rebase_entry *live = st->rebase;
	_Atomic uint64_t *next = &cb_slots_pool(slots, p)->queue_next;
	uint32_t k = 0;
	uint64_t b, base;
	struct cb_wq_view v;

	for (uint32_t e = 0; e < CB_MAX_WAITERS; e++) {
		/* Pairs with the enqueuer's seq_cst CAS to WAITING. */
		uint64_t w = atomic_load_explicit(
		    &cb_slots_waiter(slots, e)->word, memory_order_seq_cst);

		if (CB_WAITER_STATE(w) != CB_WAITER_WAITING ||
		    CB_WAITER_POOL(w) != (unsigned)p ||
		    !cb_wq_entry_read(slots, e, w, &v) ||
		    !cb_wq_owner_live(slots, CB_WAITER_CLIENT(w), v.owner))
			continue;
		live[k].ticket = v.ticket;
		live[k].index = e;
		k++;
	}
	qsort(live, k, sizeof(live[0]), rebase_cmp);
	/* seq_cst, as the enqueuers' fetch_add on it (cb_wq_enqueue). */
	b = atomic_load_explicit(next, memory_order_seq_cst);
	base = b < TICKET_SANE ? b : 0;
	/* A concurrent arrival moved it: try again next sweep. */
	if (!atomic_compare_exchange_strong_explicit(next, &b, base + k,
	    memory_order_seq_cst, memory_order_relaxed))
		return 0;
	for (uint32_t i = 0; i < k; i++) {
		struct cb_waiter_slot *ws = cb_slots_waiter(slots,
		    live[i].index);
		uint64_t t = live[i].ticket;

		/* seq_cst: before the wake of the head (cb_wq_wake_heads'
		 * seq_cst bump), which the woken head's scan reads after. */
		atomic_compare_exchange_strong_explicit(&ws->ticket, &t,
		    base + i, memory_order_seq_cst, memory_order_relaxed);
	}
	return 1;
}

uint32_t cb_wq_sweep(void *slots, const uint32_t *active,
    struct cb_wq_sweep *st, uint32_t *hints)
{
	uint64_t count[CB_MAX_POOLS] = { 0 }, touched = 0;
	uint64_t top[CB_MAX_POOLS] = { 0 }, waiting = 0;
	uint64_t barge[CB_MAX_POOLS];
	int32_t ceiling[CB_MAX_POOLS] = { 0 };
	uint32_t freed = 0;
	struct cb_wq_view v;

	*hints = 0;
	/* Each pool's barge word before the pass, settled after it from
	 * what the pass found live (queue.h, Barging). */
	for (int p = 0; p < CB_MAX_POOLS; p++)
		barge[p] = cb_wq_barge_word(slots, p);
	for (uint32_t e = 0; e < CB_MAX_WAITERS; e++) {
		/* Pairs with the enqueuer's seq_cst CASes FREE -> CLAIMING
		 * -> WAITING (cb_wq_enqueue) and the free's
		 * (cb_wq_entry_free), queue.c. */
		uint64_t w = atomic_load_explicit(
		    &cb_slots_waiter(slots, e)->word, memory_order_seq_cst);
		unsigned s = CB_WAITER_STATE(w);

		if (s != CB_WAITER_CLAIMING)
			st->prev[e] = 0;
		if (sweep_one(slots, e, w, active, st)) {
			freed++;
			touched |= 1ull << CB_WAITER_POOL(w);
			continue;
		}
		if (s == CB_WAITER_CLAIMING || s == CB_WAITER_WAITING)
			count[CB_WAITER_POOL(w)]++;
		/* The highest live ticket of each pool (rebase_tickets). */
		if (s == CB_WAITER_WAITING &&
		    cb_wq_entry_read(slots, e, w, &v)) {
			unsigned p = CB_WAITER_POOL(w);

			if (!(waiting & (1ull << p)) || v.ticket > top[p])
				top[p] = v.ticket;
			if (!(waiting & (1ull << p)) || v.priority > ceiling[p])
				ceiling[p] = v.priority;
			waiting |= 1ull << p;
		}
	}
	/*
	 * An honest ticket is below queue_next for good once its entry is
	 * WAITING (the enqueuer's fetch_add precedes its CAS to WAITING,
	 * which the load of w above read; seq_cst, so this later load of
	 * queue_next reads that fetch_add or later).  A live ticket at or
	 * beyond it is a hostile write's: re-base.
	 */
	for (int p = 0; p < CB_MAX_POOLS; p++)
		if ((waiting & (1ull << p)) && active[p] != 0 &&
		    top[p] >= atomic_load_explicit(
		    &cb_slots_pool(slots, p)->queue_next,
		    memory_order_seq_cst) && rebase_tickets(slots, p, st))
			touched |= 1ull << p;
	/* A ceiling above every live waiter, a flag no live waiter set
	 * (a dead head's, a hostile write): throughput lost, put right. */
	for (int p = 0; p < CB_MAX_POOLS; p++)
		cb_wq_barge_settle(slots, p, barge[p],
		    (waiting & (1ull << p)) != 0, ceiling[p]);
	for (int p = 0; p < CB_MAX_POOLS; p++) {
		uint32_t fixed = repair_counters(slots, p, count[p], st);

		*hints += fixed;
		if (fixed > 0)
			touched |= 1ull << p;
		st->count_seen[p] = count[p];
	}
	for (int p = 0; p < CB_MAX_POOLS; p++)
		if (active[p] == 0 && (touched & (1ull << p))) {
			/* A head asleep on release_seq (queue.h). */
			cb_wq_wake_pool(slots, p);
			touched &= ~(1ull << p);
		}
	cb_wq_wake_heads(slots, touched);
	return freed;
}
