/*
 * reserve.c - the reservation protocol (see reserve.h for the design
 * and the argument for why it is safe): the clients' half, and what
 * both halves share.  The sweeper's half (reclaim, scrub, expiry,
 * settle, recount) is lib/sweep_reserve.c, never in libcapbroker.
 *
 * Orderings: every operation on the shared words that the recount
 * snapshots (U, S, H, L) is seq_cst.  The recount's double collect is
 * only sound if "the counter moved" and "a window opened" cannot be
 * observed out of order, and seq_cst is the simplest ordering that
 * says so; on x86-64 it costs the same lock-prefixed instructions a
 * CAS needs anyway.
 */
#include "reserve.h"

#include <errno.h>
#include <sched.h>
#include <string.h>

#include "futex.h"
#include "place.h"
#include "segment.h"
#include "seqlock.h"
#include "slots.h"
#include "snapshot.h"
#include "testpoint.h"

enum { TICKET_HOLD = CB_HOLD, TICKET_LAUNCH = CB_LAUNCH };

#define LOCAL_PROBES 64

static const struct cb_pool_conf *pool_conf(const void *state, int pool)
{
	return cb_seg_record(state, CB_RS_POOLS, 0, (uint32_t)pool);
}

/* Table sizes are this build's (validation guarantees the segment has
 * at least that many), never the hostile header's. */
static uint32_t nclients(const void *slots)
{
	(void)slots;
	return CB_MAX_CLIENTS;
}

static uint32_t nlaunches(const void *slots)
{
	(void)slots;
	return CB_MAX_LAUNCHES;
}

/*
 * A hold's entry of the private table (r->local) while the hold is
 * being taken or given back: LOCAL_BUSY, so that no ticket matches it,
 * and LOCAL_INWIN while its thread is counted as in a window (see
 * window_open).  Only the thread doing the operation writes the entry
 * meanwhile.  Nonces stay below bit 56 (one per hold), and a ticket
 * whose nonce does not is refused (release_hold).
 */
#define LOCAL_INWIN (1ull << 63)
#define LOCAL_BUSY (1ull << 62)

/*
 * This process's threads in a window, as window_open's repair counts
 * them: r->windows, plus each entry of the hold table marked
 * LOCAL_INWIN.  Only for the rare repair: it reads the whole table.
 * seq_cst: pairs with each thread's seq_cst raise of its count or its
 * mark, which comes before its opening CAS on S (see window_open).
 */
static uint32_t windows_mine(struct cb_rsv *r)
{
	uint32_t mine = atomic_load_explicit(&r->windows,
	    memory_order_seq_cst);

	for (uint32_t i = 0; r->local != NULL && i < r->local_size; i++)
		if (atomic_load_explicit(&r->local[i], memory_order_seq_cst) &
		    LOCAL_INWIN)
			mine++;
	return mine;
}

/* Out of the count while waiting for room, and back in (seq_cst, as
 * the raise before an opening CAS: see window_open).  mark: the hold
 * entry counting this thread, or NULL for r->windows. */
static void window_step_out(struct cb_rsv *r, _Atomic uint64_t *mark)
{
	if (mark == NULL)
		atomic_fetch_sub_explicit(&r->windows, 1, memory_order_seq_cst);
	else
		atomic_store_explicit(mark, atomic_load_explicit(mark,
		    memory_order_relaxed) & ~LOCAL_INWIN, memory_order_seq_cst);
}

static void window_step_in(struct cb_rsv *r, _Atomic uint64_t *mark)
{
	if (mark == NULL)
		atomic_fetch_add_explicit(&r->windows, 1, memory_order_seq_cst);
	else
		atomic_store_explicit(mark, atomic_load_explicit(mark,
		    memory_order_relaxed) | LOCAL_INWIN, memory_order_seq_cst);
}

/*
 * Open a death window: S's in-flight count + 1, never past
 * CB_RSV_INFLIGHT_MAX.  Only this process writes its S, but any member
 * of the slots group can: a count that this process's own threads
 * cannot account for is repaired here, never waited on (a written
 * 0xfe used to spin every thread of the victim for ever).
 *
 * Each thread of ours is counted, in private memory no other process
 * can touch, from just before its opening CAS to just after its close:
 * a hold or its release by the LOCAL_INWIN mark on its own entry of the
 * hold table (mark: set by the seq_cst CAS that claims the entry, or
 * that takes it from a ticket, before this call), anything else by
 * r->windows + 1 (here, seq_cst).  A mark has one writer, so it costs
 * no locked instruction: the hold pair, the hot path, pays none for
 * being counted (issue 14).  A thread waiting for room steps out of
 * the count.  So at any instant the windows of ours that S counts are
 * at most windows_mine() - 1 (ourselves, not in S yet).  When S says
 * full (>= the maximum) and S's count >= windows_mine(), the excess
 * was written by someone else: one CAS from exactly that S (no window
 * of ours opened or closed since: each changes S, a close bumps the
 * version) sets the count to windows_mine(), an over-estimate of ours
 * (threads about to CAS are in it), never an under-estimate, which is
 * the safe side for the recount.  Only a count genuinely full of our
 * own windows is waited on, and those close.  The table is counted
 * only when S has stayed the same across one wait (a forged word stays;
 * a count full of ours changes as they close), so threads waiting for
 * room do not each read it on every turn.
 */
static __attribute__((noinline)) void window_open_slow(struct cb_rsv *r,
    _Atomic uint64_t *mark, uint32_t s)
{
	struct cb_client_slot *cs = cb_slots_client(r->slots, r->client);
	uint32_t mine, seen = 0;
	int waited = 0;

	for (;;) {
		if (CB_SEQ_INFLIGHT(s) < CB_RSV_INFLIGHT_MAX) {
			if (atomic_compare_exchange_weak_explicit(&cs->seq,
			    &s, s + 1, memory_order_seq_cst,
			    memory_order_relaxed))
				return;
			continue;
		}
		/* seq_cst: pairs with the opening CAS of our own threads,
		 * each after its seq_cst raise of its count or mark, so
		 * windows_mine() sees every thread of ours this S counts. */
		s = atomic_load_explicit(&cs->seq, memory_order_seq_cst);
		if (CB_SEQ_INFLIGHT(s) < CB_RSV_INFLIGHT_MAX)
			continue;
		if (waited && s == seen) {
			mine = windows_mine(r);
			/* Repair only to a count that covers every window of
			 * ours: with more of ours than S can say (mine >
			 * MAX), capping it would hide one from the recount
			 * (tests/model/slack.pml, -DBUG_REPAIR_CAPPED), so
			 * wait like a count full of ours. */
			if (CB_SEQ_INFLIGHT(s) >= mine &&
			    mine <= CB_RSV_INFLIGHT_MAX) {
				if (atomic_compare_exchange_strong_explicit(
				    &cs->seq, &s, (s & ~0xffu) + 0x100 + mine,
				    memory_order_seq_cst,
				    memory_order_relaxed))
					return;
				continue;
			}
		}
		/* Full (of our own windows, or more of ours than S can
		 * count, or not yet looked at twice): step out, let one
		 * of them close. */
		seen = s;
		waited = 1;
		window_step_out(r, mark);
		sched_yield();
		window_step_in(r, mark);
		s = atomic_load_explicit(&cs->seq, memory_order_relaxed);
	}
}

/* The first try inline (the hot path); window_open_slow for a failed
 * CAS or a full count. */
static inline void window_open(struct cb_rsv *r, _Atomic uint64_t *mark)
{
	_Atomic uint32_t *seq = &cb_slots_client(r->slots, r->client)->seq;
	uint32_t s;

	if (mark == NULL)
		atomic_fetch_add_explicit(&r->windows, 1, memory_order_seq_cst);
	s = atomic_load_explicit(seq, memory_order_relaxed);
	if (CB_SEQ_INFLIGHT(s) < CB_RSV_INFLIGHT_MAX &&
	    atomic_compare_exchange_strong_explicit(seq, &s, s + 1,
	    memory_order_seq_cst, memory_order_relaxed))
		return;
	window_open_slow(r, mark, s);
}

/*
 * Close it: in-flight - 1 and version + 1, in one add; then out of the
 * count (after: see window_open): r->windows - 1, or the hold entry's
 * mark replaced by `last`, the entry's value from now on.  A release
 * store suffices for the mark: a repair that counted without us is a
 * CAS from an S read before our close, so it fails unless our close
 * is already in S's history.
 */
static void window_close(struct cb_rsv *r, _Atomic uint64_t *mark,
    uint64_t last)
{
	atomic_fetch_add_explicit(&cb_slots_client(r->slots, r->client)->seq,
	    0x100u - 1, memory_order_seq_cst);
	if (mark == NULL)
		atomic_fetch_sub_explicit(&r->windows, 1, memory_order_seq_cst);
	else
		atomic_store_explicit(mark, last, memory_order_release);
}

void cb_rsv_window_open(struct cb_rsv *r)
{
	window_open(r, NULL);
}

void cb_rsv_window_close(struct cb_rsv *r)
{
	window_close(r, NULL, 0);
}

void cb_rsv_seq_reset(struct cb_client_slot *cs)
{
	uint32_t s = atomic_load_explicit(&cs->seq, memory_order_relaxed);

	atomic_store_explicit(&cs->seq, (s & ~0xffu) + 0x100,
	    memory_order_seq_cst);
}

int cb_rsv_claim(void *slots, pid_t pid, uint64_t start, uint32_t *index,
    uint64_t *owner)
{
	uint32_t n = nclients(slots);

	for (uint32_t k = 0; k < n; k++) {
		uint32_t i = ((uint32_t)pid + k) % n;
		struct cb_client_slot *cs = cb_slots_client(slots, i);
		uint64_t o = atomic_load_explicit(&cs->owner,
		    memory_order_relaxed);
		uint64_t mine = CB_OWNER(CB_OWNER_GEN(o) + 1, pid);

		if (CB_OWNER_PID(o) != 0 ||
		    !atomic_compare_exchange_strong_explicit(&cs->owner, &o,
		    mine, memory_order_seq_cst, memory_order_relaxed))
			continue;
		/* A free entry has no holds; anything here is garbage the
		 * sweeper's recount will account for. */
		for (int p = 0; p < CB_MAX_POOLS; p++) {
			atomic_store_explicit(&cs->holds[p], 0,
			    memory_order_seq_cst);
			atomic_store_explicit(&cs->admitted[p], 0,
			    memory_order_relaxed);
		}
		cb_rsv_seq_reset(cs);
		/* Pairs with the broker's acquire load: a non-zero start
		 * means the entry is fully set up. */
		atomic_store_explicit(&cs->start, start, memory_order_release);
		*index = i;
		*owner = mine;
		return 0;
	}
	return -ENOSPC;
}

void cb_rsv_unclaim(void *slots, uint32_t index, uint64_t owner)
{
	struct cb_client_slot *cs = cb_slots_client(slots, index);
	uint64_t o = owner;

	cb_rsv_flush_admitted(slots, index);
	atomic_store_explicit(&cs->start, 0, memory_order_relaxed);
	atomic_compare_exchange_strong_explicit(&cs->owner, &o,
	    CB_OWNER(CB_OWNER_GEN(owner), 0), memory_order_seq_cst,
	    memory_order_relaxed);
}

uint32_t cb_rsv_limit(const void *state, int pool)
{
	const struct cb_state_hot *hot;

	if (pool == 0) {
		hot = cb_seg_region(state, CB_RS_HOT);
		/* Pairs with the publisher's release store of the word. */
		return CB_STATE_CAPACITY(atomic_load_explicit(&hot->state_word,
		    memory_order_acquire));
	}
	/* Pairs with the publisher's release store of the limit. */
	return atomic_load_explicit(&pool_conf(state, pool)->limit,
	    memory_order_acquire);
}

uint32_t cb_rsv_usage_sub(_Atomic uint64_t *usage, int launching,
    uint32_t n)
{
	uint64_t u = atomic_load_explicit(usage, memory_order_relaxed), v;
	uint32_t have, take;

	do {
		have = launching ? CB_USAGE_LAUNCHING(u) : CB_USAGE_HELD(u);
		take = n < have ? n : have;
		v = launching ?
		    CB_USAGE(CB_USAGE_HELD(u), have - take) :
		    CB_USAGE(have - take, CB_USAGE_LAUNCHING(u));
	} while (take > 0 && !atomic_compare_exchange_weak_explicit(usage, &u,
	    v, memory_order_seq_cst, memory_order_relaxed));
	return take;
}

/* floor + held + launching of usage word u, in 64 bits: hostile
 * counters cannot wrap a comparison with it. */
static uint64_t usage_total(uint64_t u, uint32_t floor)
{
	return (uint64_t)floor + CB_USAGE_HELD(u) + CB_USAGE_LAUNCHING(u);
}

/*
 * Step 2: admit one unit iff floor + held + launching + 1 <= limit.
 */
static int admit(_Atomic uint64_t *usage, int launching, uint32_t floor,
    uint32_t limit)
{
	uint64_t u = atomic_load_explicit(usage, memory_order_relaxed), v;

	do {
		if (usage_total(u, floor) + 1 > limit)
			return -EAGAIN;
		v = launching ?
		    CB_USAGE(CB_USAGE_HELD(u), CB_USAGE_LAUNCHING(u) + 1) :
		    CB_USAGE(CB_USAGE_HELD(u) + 1, CB_USAGE_LAUNCHING(u));
	} while (!atomic_compare_exchange_weak_explicit(usage, &u, v,
	    memory_order_seq_cst, memory_order_relaxed));
	return 0;
}

/* The launch floor: the caller's observation or the broker's published
 * one, whichever is higher.  Acquire: pairs with the publisher's
 * release store of `observed` (publish_pools(), broker/publisher.c). */
static uint32_t launch_floor(const void *state, int pool, uint32_t observed)
{
	uint32_t published = atomic_load_explicit(
	    &pool_conf(state, pool)->observed, memory_order_acquire);

	return published > observed ? published : observed;
}

/*
 * Step 2's re-check (reserve.h), after an admitting CAS on *usage: is
 * U within the limit published now?  The limit the CAS used was read
 * before it, possibly long before (a placement scans the worker table
 * first), and a lower one published since must not be exceeded.
 *
 * The limit first, then U, both seq_cst.  The limit's load pairs with
 * the publisher's release store of it (publish_pools()) or of the
 * state word (publish(), broker/publisher.c).  seq_cst rather than
 * acquire puts both loads after our CAS in the single total order, and
 * puts U's load after that of any admission whose re-check still read
 * the old limit (that read is coherence-ordered before the lowering,
 * ours after it): so U here counts every unit admitted before the
 * lowering, and of two admissions re-checking after it, the second to
 * CAS sees the first.  Re-checking the value our CAS stored instead
 * would miss an admission that CASed after us and re-checked first.
 * A re-check that still reads the old limit means the lowering was not
 * yet published when this admission completed: it counts as admitted
 * before it, as any unit already held does.  floor: the launch floor,
 * re-read (launch_floor()), or 0 for holds.
 */
static int still_fits(const void *state, int pool, _Atomic uint64_t *usage,
    int launching, uint32_t observed)
{
	uint32_t limit, floor = 0;

	if (pool == 0)
		limit = CB_STATE_CAPACITY(atomic_load_explicit(
		    &((const struct cb_state_hot *)cb_seg_region(state,
		    CB_RS_HOT))->state_word, memory_order_seq_cst));
	else
		limit = atomic_load_explicit(&pool_conf(state, pool)->limit,
		    memory_order_seq_cst);
	if (launching)
		floor = launch_floor(state, pool, observed);
	/* Pairs with every seq_cst CAS on U (admit(), cb_rsv_usage_sub()). */
	return usage_total(atomic_load_explicit(usage, memory_order_seq_cst),
	    floor) <= limit;
}

/*
 * seq_cst: a blocked reserver's check of the condition its releasers
 * publish with a seq_cst CAS and announce with
 * cb_eventcount_notify_sc() (futex.h has the argument).  A plain load on
 * x86-64, LDAR on arm64.
 */
static int over_limit(_Atomic uint64_t *usage, uint32_t floor,
    uint32_t limit)
{
	uint64_t u = atomic_load_explicit(usage, memory_order_seq_cst);

	return usage_total(u, floor) + 1 > limit;
}

static uint64_t make_ticket0(int kind, int pool, uint32_t client,
    uint32_t index)
{
	return (uint64_t)kind | (uint64_t)pool << 8 |
	    (uint64_t)(client & 0xffff) << 16 | (uint64_t)index << 32;
}

static void wake_released(void *slots, int pool);

/*
 * The private record of an outstanding hold: its nonce and its pool
 * (pools < 64: 6 bits), never 0.  The pool is in it so that a ticket
 * naming another pool (a forged or mistyped text ticket) matches
 * nothing: it must not release a hold this process has in that pool.
 */
static uint64_t local_word(uint64_t nonce, int pool)
{
	return nonce << 6 | (uint64_t)pool;
}

/*
 * A private slot for a hold of pool, claimed busy and counted as in a
 * window (LOCAL_INWIN): seq_cst, the raise before the opening CAS
 * (window_open).  try_hold's close stores the hold's record in it.
 */
static int local_claim(struct cb_rsv *r, int pool, uint64_t *nonce,
    uint32_t *idx)
{
	uint64_t n = atomic_fetch_add_explicit(&r->nonce, 1,
	    memory_order_relaxed) + 1;

	for (uint32_t k = 0; k < LOCAL_PROBES; k++) {
		uint32_t i = (uint32_t)(n + k) & (r->local_size - 1);
		uint64_t zero = 0;

		if (atomic_compare_exchange_strong_explicit(&r->local[i],
		    &zero, local_word(n, pool) | LOCAL_BUSY | LOCAL_INWIN,
		    memory_order_seq_cst, memory_order_relaxed)) {
			*nonce = n;
			*idx = i;
			return 0;
		}
	}
	return -ENOSPC;
}

static int try_hold(struct cb_rsv *r, int pool, uint32_t limit,
    cb_ticket *t)
{
	struct cb_client_slot *cs = cb_slots_client(r->slots, r->client);
	struct cb_pool_slot *ps = cb_slots_pool(r->slots, pool);
	uint64_t nonce;
	uint32_t idx;
	int ret, gave_back = 0;

	/* A refused attempt touches nothing shared: the recount's snapshot
	 * is not disturbed by reservers spinning on a full pool.  The CAS
	 * inside the window is what admits. */
	if (over_limit(&ps->usage, 0, limit))
		return -EAGAIN;
	if (local_claim(r, pool, &nonce, &idx) < 0)
		return -ENOSPC;
	window_open(r, &r->local[idx]);
	CB_TESTPOINT("reserve:before-cas");
	ret = admit(&ps->usage, 0, 0, limit);
	if (ret == 0 && !still_fits(r->state, pool, &ps->usage, 0, 0)) {
		/* A lower limit was published: give the unit back inside
		 * the window that admitted it, before any record. */
		cb_rsv_usage_sub(&ps->usage, 0, 1);
		ret = -EAGAIN;
		gave_back = 1;
	}
	if (ret == 0)
		atomic_fetch_add_explicit(&cs->holds[pool], 1,
		    memory_order_seq_cst);
	/* The entry becomes the hold's record, or free again. */
	window_close(r, &r->local[idx], ret == 0 ? local_word(nonce, pool) :
	    0);
	if (ret < 0) {
		/* The unit we held for a moment may have refused someone. */
		if (gave_back)
			wake_released(r->slots, pool);
		return ret;
	}
	t->opaque[0] = make_ticket0(TICKET_HOLD, pool, r->client, idx);
	t->opaque[1] = nonce;
	return 0;
}

/* Claim a free launch entry for pool; returns its index or -ENOSPC. */
static long claim_launch(struct cb_rsv *r, int pool, uint64_t deadline,
    uint64_t *live)
{
	uint32_t n = nlaunches(r->slots);
	uint32_t first = (uint32_t)(atomic_load_explicit(&r->nonce,
	    memory_order_relaxed) * 2654435761u + r->client) % n;

	for (uint32_t k = 0; k < n; k++) {
		uint32_t e = (first + k) % n;
		struct cb_launch_slot *ls = cb_slots_launch(r->slots, e);
		uint64_t w = atomic_load_explicit(&ls->word,
		    memory_order_relaxed);
		uint64_t nonce = CB_LAUNCH_NONCE(w) + 1;

		if (CB_LAUNCH_STATE(w) != CB_LAUNCH_FREE ||
		    !atomic_compare_exchange_strong_explicit(&ls->word, &w,
		    CB_LAUNCH_WORD(CB_LAUNCH_CLAIMING, pool, r->client, nonce),
		    memory_order_seq_cst, memory_order_relaxed))
			continue;
		atomic_store_explicit(&ls->deadline_ns, deadline,
		    memory_order_relaxed);
		*live = CB_LAUNCH_WORD(CB_LAUNCH_LIVE, pool, r->client, nonce);
		/* seq_cst: the deadline is visible before LIVE is.  A CAS, so
		 * a late store can never bring back an entry the sweeper
		 * settled (same LIVE word: fine) or freed. */
		w = CB_LAUNCH_WORD(CB_LAUNCH_CLAIMING, pool, r->client, nonce);
		if (!atomic_compare_exchange_strong_explicit(&ls->word, &w,
		    *live, memory_order_seq_cst, memory_order_relaxed) &&
		    w != *live)
			return -ENOSPC;   /* taken from us: nothing admitted */
		return e;
	}
	return -ENOSPC;
}

/* Lower the launch hint to deadline unless it already names an earlier
 * deadline that is still ahead of now (the caller's clock read: one per
 * launch, as clock_gettime() costs ~50 ns on some VMs -- capbench). */
static void hint_min(_Atomic uint64_t *hint, uint64_t now, uint64_t deadline)
{
	uint64_t h = atomic_load_explicit(hint, memory_order_relaxed);

	while ((h <= now || h > deadline) &&
	    !atomic_compare_exchange_weak_explicit(hint, &h, deadline,
	    memory_order_relaxed, memory_order_relaxed))
		;
}

uint32_t cb_rsv_window_ms(const void *state, int pool)
{
	struct cb_pool_def def;

	if (cb_snapshot_pool(state, pool, &def) < 0 || def.window_ms == 0)
		return 60000;
	return def.window_ms;
}

static int try_launch(struct cb_rsv *r, int pool, uint32_t limit,
    uint32_t observed, cb_ticket *t)
{
	struct cb_pool_slot *ps = cb_slots_pool(r->slots, pool);
	uint32_t floor = launch_floor(r->state, pool, observed);
	uint64_t now = cb_monotonic_ns(), live = 0;
	uint64_t deadline = now +
	    (uint64_t)cb_rsv_window_ms(r->state, pool) * 1000000u;
	long e = 0;
	int ret, gave_back = 0;

	if (over_limit(&ps->usage, floor, limit))
		return -EAGAIN;
	window_open(r, NULL);
	CB_TESTPOINT("reserve:before-cas");
	ret = admit(&ps->usage, 1, floor, limit);
	/* Re-check against the limit and the floor published now: a lower
	 * limit or a higher observation since our reads is not exceeded. */
	if (ret == 0 && !still_fits(r->state, pool, &ps->usage, 1,
	    observed)) {
		cb_rsv_usage_sub(&ps->usage, 1, 1);
		ret = -EAGAIN;
		gave_back = 1;
	}
	if (ret == 0) {
		e = claim_launch(r, pool, deadline, &live);
		if (e < 0)
			cb_rsv_usage_sub(&ps->usage, 1, 1);
	}
	window_close(r, NULL, 0);
	if (ret < 0) {
		/* The unit we held for a moment may have refused someone. */
		if (gave_back)
			wake_released(r->slots, pool);
		return ret;
	}
	if (e < 0) {
		wake_released(r->slots, pool);
		return -ENOSPC;
	}
	hint_min(&ps->launch_hint_ns, now, deadline);
	t->opaque[0] = make_ticket0(TICKET_LAUNCH, pool, r->client,
	    (uint32_t)e);
	t->opaque[1] = live;
	return 0;
}

int cb_rsv_try(struct cb_rsv *r, int pool, int kind, uint32_t observed,
    cb_ticket *ticket)
{
	uint32_t limit = cb_rsv_limit(r->state, pool);
	int ret;

	atomic_store_explicit(&cb_slots_client(r->slots, r->client)->last_pool,
	    (uint32_t)pool, memory_order_relaxed);
	ret = kind == CB_HOLD ? try_hold(r, pool, limit, ticket) :
	    try_launch(r, pool, limit, observed, ticket);
	if (ret == 0)
		cb_rsv_count_admitted(r->slots, r->client, pool);
	return ret;
}

/* Move client entry cs's unflushed admissions of pool p to the pool's
 * statistic.  Exchange first: each admission is added exactly once,
 * whoever flushes. */
static void admitted_flush(void *slots, struct cb_client_slot *cs, int p)
{
	uint32_t n = atomic_exchange_explicit(&cs->admitted[p], 0,
	    memory_order_relaxed);

	if (n != 0)
		atomic_fetch_add_explicit(&cb_slots_pool(slots, p)->admitted, n,
		    memory_order_relaxed);
}

void cb_rsv_count_admitted(void *slots, uint32_t client, int pool)
{
	struct cb_client_slot *cs = cb_slots_client(slots, client);

	if (atomic_fetch_add_explicit(&cs->admitted[pool], 1,
	    memory_order_relaxed) + 1 >= CB_ADMITTED_BATCH)
		admitted_flush(slots, cs, pool);
}

void cb_rsv_flush_admitted(void *slots, uint32_t client)
{
	struct cb_client_slot *cs = cb_slots_client(slots, client);

	for (int p = 0; p < CB_MAX_POOLS; p++)
		admitted_flush(slots, cs, p);
}

static int stale(struct cb_rsv *r, int pool)
{
	atomic_fetch_add_explicit(
	    &cb_slots_pool(r->slots, pool)->stale_releases, 1,
	    memory_order_relaxed);
	return -ESTALE;
}

/* H[c,p] -= 1 unless it is already 0 (the broker reclaimed it). */
static int holds_dec(struct cb_client_slot *cs, int pool)
{
	uint32_t h = atomic_load_explicit(&cs->holds[pool],
	    memory_order_relaxed);

	do {
		if (h == 0)
			return -ESTALE;
	} while (!atomic_compare_exchange_weak_explicit(&cs->holds[pool], &h,
	    h - 1, memory_order_seq_cst, memory_order_relaxed));
	return 0;
}

int cb_rsv_hold_full(struct cb_rsv *r, int pool, uint32_t limit)
{
	return over_limit(&cb_slots_pool(r->slots, pool)->usage, 0, limit);
}

int cb_rsv_hold_take(struct cb_rsv *r, int pool, uint32_t limit)
{
	_Atomic uint64_t *usage = &cb_slots_pool(r->slots, pool)->usage;
	int ret = admit(usage, 0, 0, limit);

	/* The re-check of try_hold(): a lower limit published since the
	 * caller read `limit` (before its scan of the worker table). */
	if (ret == 0 && !still_fits(r->state, pool, usage, 0, 0)) {
		cb_rsv_usage_sub(usage, 0, 1);
		return -EAGAIN;
	}
	if (ret == 0)
		atomic_fetch_add_explicit(&cb_slots_client(r->slots,
		    r->client)->holds[pool], 1, memory_order_seq_cst);
	return ret;
}

int cb_rsv_hold_give(struct cb_rsv *r, int pool)
{
	int ret = holds_dec(cb_slots_client(r->slots, r->client), pool);

	if (ret == 0)
		cb_rsv_usage_sub(&cb_slots_pool(r->slots, pool)->usage, 0, 1);
	return ret;
}

static int release_hold(struct cb_rsv *r, int pool, uint32_t client,
    uint32_t idx, uint64_t nonce)
{
	struct cb_client_slot *cs = cb_slots_client(r->slots, r->client);
	uint64_t expect = local_word(nonce, pool);
	int ret;

	if (client != (r->client & 0xffff) || idx >= r->local_size)
		return -EINVAL;
	/* The record names the pool: a ticket whose pool field was changed
	 * finds no match (-ESTALE), whatever its nonce; nor does one whose
	 * nonce reaches the marks (LOCAL_BUSY, LOCAL_INWIN).  The winner
	 * of the CAS takes the entry busy and counted as in a window
	 * (seq_cst: the raise before the opening CAS, window_open). */
	if (nonce >> 56 != 0 ||
	    !atomic_compare_exchange_strong_explicit(&r->local[idx], &expect,
	    expect | LOCAL_BUSY | LOCAL_INWIN, memory_order_seq_cst,
	    memory_order_relaxed))
		return stale(r, pool);
	window_open(r, &r->local[idx]);
	CB_TESTPOINT("reserve:release-in-window");
	ret = holds_dec(cs, pool);
	if (ret == 0)
		cb_rsv_usage_sub(&cb_slots_pool(r->slots, pool)->usage, 0, 1);
	window_close(r, &r->local[idx], 0);     /* the entry is free */
	if (ret < 0)
		return stale(r, pool);
	wake_released(r->slots, pool);
	return 0;
}

static int release_launch(struct cb_rsv *r, int pool, uint32_t e,
    uint64_t live)
{
	struct cb_launch_slot *ls;
	int won;

	if (e >= nlaunches(r->slots) || CB_LAUNCH_STATE(live) !=
	    CB_LAUNCH_LIVE || CB_LAUNCH_POOL(live) != (unsigned)pool)
		return -EINVAL;
	ls = cb_slots_launch(r->slots, e);
	window_open(r, NULL);
	won = cb_rsv_launch_free(ls, live);
	if (won)
		cb_rsv_usage_sub(&cb_slots_pool(r->slots, pool)->usage, 1, 1);
	window_close(r, NULL, 0);
	if (!won)
		return stale(r, pool);
	wake_released(r->slots, pool);
	return 0;
}

int cb_rsv_release(struct cb_rsv *r, const cb_ticket *t)
{
	int kind = (int)(t->opaque[0] & 0xff);
	int pool = (int)((t->opaque[0] >> 8) & 0xff);
	uint32_t client = (uint32_t)((t->opaque[0] >> 16) & 0xffff);
	uint32_t index = (uint32_t)(t->opaque[0] >> 32);
	if (pool >= CB_MAX_POOLS)
		return -EINVAL;
	if (cb_place_ticket(t))
		return cb_place_release(r, t);
	if (kind == TICKET_HOLD)
		return release_hold(r, pool, client, index, t->opaque[1]);
	if (kind == TICKET_LAUNCH)
		return release_launch(r, pool, index, t->opaque[1]);
	return -EINVAL;
}

void cb_rsv_release_all(struct cb_rsv *r)
{
	struct cb_client_slot *cs = cb_slots_client(r->slots, r->client);

	window_open(r, NULL);
	/* Binds first: their holds are among the H[c,p] taken below. */
	cb_place_release_all(r->slots, r->client);
	for (int p = 0; p < CB_MAX_POOLS; p++) {
		uint32_t n = 0;

		/* One unit at a time, H-1 then U-1, as a release does: the
		 * window earns one unit of slack in the recount, so no more
		 * than one unit may be between its record and U at once
		 * (reserve.h).  Taking all h at once left h-1 units beyond
		 * the slack, which a recount in the gap trimmed from U and the
		 * late subtraction then took again. */
		while (holds_dec(cs, p) == 0) {
			CB_TESTPOINT("reserve:release-all-gap");
			cb_rsv_usage_sub(&cb_slots_pool(r->slots, p)->usage,
			    0, 1);
			n++;
		}
		if (n > 0)
			cb_rsv_wake(r->slots, p);
	}
	window_close(r, NULL, 0);
	memset((void *)r->local, 0, r->local_size * sizeof(*r->local));
}

void cb_rsv_wake(void *slots, int pool)
{
	struct cb_pool_slot *ps = cb_slots_pool(slots, pool);

	cb_eventcount_notify(&ps->release_seq, &ps->waiters);
	cb_place_wake(slots, pool);       /* blocked pickers (place.h) */
}

/* After a client's release: the unit went back by a seq_cst CAS on the
 * usage word, so the sequence moves only when someone waits. */
static void wake_released(void *slots, int pool)
{
	struct cb_pool_slot *ps = cb_slots_pool(slots, pool);

	cb_eventcount_notify_sc(&ps->release_seq, &ps->waiters);
	cb_place_wake(slots, pool);       /* blocked pickers (place.h) */
}
