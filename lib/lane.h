/*
 * lane.h - the hot half of reserve.h's "Lanes" (one writer per hold
 * record), inline: the words' accessors, the owner's fast-path entry
 * (the bias check), a hold and its release through a lane, and the
 * helpers of the admission they share with lib/reserve.c.  Private to
 * libcapbroker: lib/reserve.c (the rest of the protocol) and
 * client/reserve.c (cb_reserve and cb_release try cb_lane_hold_fast
 * and cb_lane_release_fast first, with no call between them and the
 * counter's CAS: capbench measured the call boundaries at about 2 ns of
 * a 20 ns pair).  The protocol and its orderings are reserve.h's.
 */
#ifndef CB_LANE_H
#define CB_LANE_H

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include "abi.h"
#include "capbroker.h"
#include "futex.h"
#include "place.h"
#include "reserve.h"
#include "segment.h"
#include "slots.h"
#include "state_word.h"
#include "testpoint.h"

/* Ticket kinds (the low byte of opaque[0]); 3 is place.c's bind, 5 a
 * global pool's launch (client/glaunch.c). */
enum { TICKET_HOLD = CB_HOLD, TICKET_LAUNCH = CB_LAUNCH, TICKET_LANE = 4,
	TICKET_GLAUNCH = 5 };

/* Entries of a private hold table probed from the nonce's own. */
#define LOCAL_PROBES 64

static inline const struct cb_pool_conf *pool_conf(const void *state, int pool)
{
	return cb_seg_record(state, CB_RS_POOLS, 0, (uint32_t)pool);
}

static inline __attribute__((always_inline)) uint32_t limit_of(
    const void *state, int pool)
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

/* floor + the holds that count + launching of usage word u, in 64
 * bits: hostile counters cannot wrap a comparison with it.  In an aging
 * word (age.h) only the holds of the last two epochs count. */
static inline uint64_t usage_total(uint64_t u, uint32_t floor)
{
	return (uint64_t)floor + usage_live(u) + CB_USAGE_LAUNCHING(u);
}

/*
 * Step 2: admit one unit iff floor + held + launching + 1 <= limit;
 * *stored: the word the CAS stored (an aging word's epoch dates the
 * hold: age_dated()).  An aging word takes no launches (a global pool's
 * are etcd's: client/glaunch.c) and its hold goes into the current
 * epoch's bucket, which is held less the older two: held + 1.
 */
static inline int admit(_Atomic uint64_t *usage, int launching, uint32_t floor,
    uint32_t limit, uint64_t *stored)
{
	uint64_t u = atomic_load_explicit(usage, memory_order_relaxed), v;

	do {
		if (usage_total(u, floor) + 1 > limit)
			return -EAGAIN;
		if (__builtin_expect(u & CB_AGE_MARK, 0)) {
			if (launching || CB_USAGE_HELD(u) == UINT32_MAX)
				return -EAGAIN;
			v = u + 1;
		} else
			v = launching ?
			    CB_USAGE(CB_USAGE_HELD(u), CB_USAGE_LAUNCHING(u) + 1) :
			    CB_USAGE(CB_USAGE_HELD(u) + 1, CB_USAGE_LAUNCHING(u));
	} while (!atomic_compare_exchange_weak_explicit(usage, &u, v,
	    memory_order_seq_cst, memory_order_relaxed));
	*stored = v;
	return 0;
}

/* The launch floor: the caller's observation or the broker's published
 * one, whichever is higher.  Acquire: pairs with the publisher's
 * release store of `observed` (publish_pools(), broker/publisher.c). */
static inline uint32_t launch_floor(const void *state, int pool, uint32_t observed)
{
	uint32_t published = atomic_load_explicit(
	    &pool_conf(state, pool)->observed, memory_order_acquire);

	return published > observed ? published : observed;
}

/* still_fits()'s verdicts. */
enum { FIT_OVER = 0, FIT_OK = 1, FIT_EXPIRED = 2, FIT_UNDATED = 3 };

/*
 * Has a global pool's share run out (abi.h, share_deadline_ns)?  One
 * coarse clock read, for global pools only (the word is 0 in a local
 * one).  The broker publishes the deadline less the coarse clock's
 * resolution (broker/cluster.h), so a coarse reading below it proves
 * the precise time is below the real deadline.  Loaded before the
 * limit (acquire, pairing with the publisher's release store of the
 * deadline, which follows that of the limit it goes with): a client
 * that sees a new deadline sees its limit.
 */
static inline uint64_t coarse_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* *now: the coarse clock read, 0 if none was. */
static inline __attribute__((always_inline)) int share_expired(
    const void *state, int pool, uint64_t *now)
{
	uint64_t dl = atomic_load_explicit(
	    &pool_conf(state, pool)->share_deadline_ns, memory_order_acquire);

	*now = 0;
	if (__builtin_expect(dl == 0, 1))
		return 0;
	*now = coarse_now_ns();
	return *now >= dl;
}

/* A hold's date as its ticket keeps it (age.h): the low 15 bits of its
 * epoch, with CB_AGE_DATED. */
#define CB_AGE_DATED 0x8000u

/*
 * Date a hold admitted by a CAS that stored aging word v (age.h, "The
 * rule"): 1 and *date if v's epoch W is current by the clock read after
 * that CAS (now, coarse; 0: read it here), that is now < (W + 1) * eps,
 * so the hold was admitted before (W + 1) * eps + one coarse tick and
 * cannot age before (W + 2) * eps, more than hold_max later.  0 if it
 * is not (the sweeper has not moved the word into the new epoch yet:
 * at most a sweep after each boundary, or it is stopped) or the pool
 * has no aging published: the caller gives the unit back.  The age
 * word's acquire load pairs with the sweeper's release stores (abi.h).
 */
static inline int age_dated(const void *state, int pool, uint64_t v,
    uint64_t now, uint32_t *date)
{
	uint64_t age = atomic_load_explicit(&pool_conf(state, pool)->age,
	    memory_order_acquire);
	uint64_t eps_ns = (uint64_t)(uint32_t)age * 1000000u;
	int64_t w = age_epoch(v, age >> 32);

	if (eps_ns == 0 || w < 0)
		return 0;
	if (now == 0)
		now = coarse_now_ns();
	if (now >= ((uint64_t)w + 1) * eps_ns)
		return 0;
	*date = ((uint32_t)w & 0x7fffu) | CB_AGE_DATED;
	return 1;
}

/*
 * Step 2's re-check (reserve.h), after an admitting CAS on *usage: is
 * U within the limit published now, and, for a global pool, is its
 * share still valid now?  FIT_OK, FIT_OVER or FIT_EXPIRED: either of
 * the last two gives the unit back; only FIT_OVER wakes a waiter for
 * it (the unit may have refused someone), since an expired share admits
 * nobody and waking would only pass the refusal round.
 *
 * The limit the CAS used was read before it, possibly long before (a
 * placement scans the worker table first), and a lower one published
 * since must not be exceeded.  The share's deadline is checked here,
 * after the CAS, so that it bounds the instant the unit was admitted
 * (a check before it would let a thread descheduled between the two
 * admit after the deadline).
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
 *
 * stored: the word the admitting CAS stored.  If it is an aging word
 * (age.h) the hold must be dated (age_dated()): FIT_UNDATED when it
 * cannot be, which gives the unit back like FIT_EXPIRED; *date is the
 * hold's date for its ticket, 0 (undated) in any other pool.
 */
static inline __attribute__((always_inline)) int still_fits(
    const void *state, int pool, _Atomic uint64_t *usage,
    int launching, uint32_t observed, uint64_t stored, uint32_t *date)
{
	uint32_t limit, floor = 0;
	uint64_t now;

	*date = 0;
	if (pool == 0)
		limit = CB_STATE_CAPACITY(atomic_load_explicit(
		    &((const struct cb_state_hot *)cb_seg_region(state,
		    CB_RS_HOT))->state_word, memory_order_seq_cst));
	else {
		if (share_expired(state, pool, &now))
			return FIT_EXPIRED;
		if (__builtin_expect(stored & CB_AGE_MARK, 0) &&
		    !age_dated(state, pool, stored, now, date))
			return FIT_UNDATED;
		limit = atomic_load_explicit(&pool_conf(state, pool)->limit,
		    memory_order_seq_cst);
	}
	if (launching)
		floor = launch_floor(state, pool, observed);
	/* Pairs with every seq_cst CAS on U (admit(), cb_rsv_usage_sub()). */
	return usage_total(atomic_load_explicit(usage, memory_order_seq_cst),
	    floor) <= limit ? FIT_OK : FIT_OVER;
}

/*
 * seq_cst: a blocked reserver's check of the condition its releasers
 * publish with a seq_cst CAS and announce with
 * cb_eventcount_notify_sc() (futex.h has the argument).  A plain load on
 * x86-64, LDAR on arm64.
 */
static inline int usage_full(_Atomic uint64_t *usage, uint32_t floor,
    uint32_t limit)
{
	uint64_t u = atomic_load_explicit(usage, memory_order_seq_cst);

	return usage_total(u, floor) + 1 > limit;
}

/*
 * The private record of an outstanding hold: its nonce and its pool
 * (pools < 64: 6 bits), never 0.  The pool is in it so that a ticket
 * naming another pool (a forged or mistyped text ticket) matches
 * nothing: it must not release a hold this process has in that pool.
 */
static inline uint64_t local_word(uint64_t nonce, int pool)
{
	return nonce << 6 | (uint64_t)pool;
}

/* age_put()'s general case (lib/reserve.c). */
int cb_age_put_slow(const void *state, int pool, _Atomic uint64_t *usage,
    uint32_t date);

/* Most releases of a global pool's holds: one of the word's own epoch
 * while its bucket, cur, is not empty and no field is clamped; then
 * held - 1 and cur - 1 are u - 1 (age_take(AGE_CUR)). */
static inline int age_put_fast(const void *state, int pool, uint64_t u,
    uint32_t date)
{
	uint64_t age = atomic_load_explicit(&pool_conf(state, pool)->age,
	    memory_order_acquire);

	return (date & CB_AGE_DATED) && (uint32_t)age != 0 &&
	    ((age_epoch(u, age >> 32) ^ date) & 0x7fffu) == 0 &&
	    CB_AGE_AGED_RAW(u) + CB_AGE_PREV_RAW(u) < (uint32_t)u;
}

/*
 * Give back a hold of the pool whose usage word is *usage, dated `date`
 * (its ticket's; 0: undated): from its epoch's bucket if the word ages
 * (age.h), else held - 1.  Returns 1 if the hold had aged (a late
 * release: the unit goes back all the same, and the caller answers
 * -ESTALE), 0 if not, -1 if held was already 0.  The word's epoch is
 * resolved against the published one, the date's 15 bits against the
 * word's: a hold older than 32,768 epochs (10 hours at hold_max 1 s)
 * would be taken for a young one, from a newer bucket than its own.
 * seq_cst CAS: as cb_rsv_usage_sub().
 */
static inline int age_put(const void *state, int pool,
    _Atomic uint64_t *usage, uint32_t date)
{
	uint64_t u = atomic_load_explicit(usage, memory_order_relaxed);

	for (;;) {
		if (__builtin_expect(!(u & CB_AGE_MARK), 1)) {
			if (CB_USAGE_HELD(u) == 0)
				return -1;
		} else if (!age_put_fast(state, pool, u, date))
			return cb_age_put_slow(state, pool, usage, date);
		if (atomic_compare_exchange_weak_explicit(usage, &u, u - 1,
		    memory_order_seq_cst, memory_order_relaxed))
			return 0;
	}
}

/* A hold's date in its ticket: the top bytes of both words, which the
 * index and the nonce (< 2^56) leave free. */
static inline void ticket_date_set(cb_ticket *t, uint32_t date)
{
	t->opaque[0] |= (uint64_t)(date >> 8 & 0xff) << 56;
	t->opaque[1] |= (uint64_t)(date & 0xff) << 56;
}

static inline uint32_t ticket_date(const cb_ticket *t)
{
	return (uint32_t)(t->opaque[0] >> 56) << 8 |
	    (uint32_t)(t->opaque[1] >> 56);
}

#define TICKET_NONCE(t) ((t)->opaque[1] & ((1ull << 56) - 1))

/* 0 (undated) or marked dated: anything else was not written by us. */
static inline int ticket_date_ok(uint32_t date)
{
	return date == 0 || (date & CB_AGE_DATED);
}

/* After a client's release: the unit went back by a seq_cst CAS on the
 * usage word, so the sequence moves only when someone waits. */
static inline void wake_released(void *slots, int pool)
{
	struct cb_pool_slot *ps = cb_slots_pool(slots, pool);

	cb_eventcount_notify_sc(&ps->release_seq, &ps->waiters);
	/* Blocked pickers (place.h); the same seq_cst load as
	 * cb_place_wake's first, which it saves a call when 0. */
	if (atomic_load_explicit(&ps->pickers, memory_order_seq_cst) != 0)
		cb_place_wake(slots, pool);
}

/*
 * One thread's lane, private half.  `slot` is the shared record.
 * While the lane is biased (shared == 0) only its owner thread (tid)
 * writes the fields below `mtx`; once a foreign release revoked the
 * bias, whoever holds mtx does.  Each thread caches its lane per
 * handle in cb_lane_tls.
 */
struct cb_lane {
	struct cb_lane_slot *slot;
	uint32_t index;                /* in CB_RL_LANES */
	uint32_t number;               /* in the handle: lanes->lane[number] */
	pid_t tid;                     /* owner thread; under lanes->mtx */
	/* The bias handshake (reserve.h).  active: the owner's, while in
	 * its fast path; revoke: a foreign releaser's request; shared:
	 * revoked, set under mtx, never cleared. */
	_Atomic uint32_t active;
	_Atomic uint32_t revoke;
	_Atomic uint32_t shared;
	pthread_mutex_t mtx;
	/* The writer's own copies of what it last stored in slot. */
	uint32_t seq;
	uint32_t holds[CB_MAX_POOLS];
	uint64_t nonce;                /* last hold nonce of this lane */
	uint32_t admitted[CB_MAX_POOLS]; /* not yet in the pool's count */
	/* Outstanding holds: local_word(nonce, pool), 0 free.  Atomic
	 * (relaxed) only so that the revoker's CAS is defined. */
	_Atomic uint64_t table[CB_LANE_HOLDS];
};

struct cb_lanes {
	pthread_mutex_t mtx;           /* n, lane[k]->tid, claims */
	_Atomic uint32_t n;            /* lanes claimed: lane[0..n) */
	struct cb_lane *lane[CB_LANES_PER_CLIENT];
};

/* Each thread's lanes of the two handles it used last (serial: cb_rsv's;
 * [0] the latest), so that a thread that works with two handles does
 * not bind again at every switch.  initial-exec: %fs-relative loads, no
 * __tls_get_addr call on the hot path; 32 bytes, well within the static
 * TLS surplus glibc keeps for libraries loaded by dlopen (the Python
 * binding). */
#define CB_LANE_TLS_ENTRIES 2

struct cb_lane_tls {
	struct {
		uint64_t serial;
		struct cb_lane *lane;
	} e[CB_LANE_TLS_ENTRIES];
};

extern __thread struct cb_lane_tls cb_lane_tls
    __attribute__((tls_model("initial-exec")));

/* The calling thread's lane of r if it has cached one, else NULL.  A
 * handle without lanes has serial 0, which no entry holds with a lane. */
static inline struct cb_lane *lane_cached(const struct cb_rsv *r)
{
	if (__builtin_expect(cb_lane_tls.e[0].serial == r->serial, 1))
		return cb_lane_tls.e[0].lane;
	if (cb_lane_tls.e[1].serial == r->serial)
		return cb_lane_tls.e[1].lane;
	return NULL;
}

/*
 * The owner's fast-path entry: 1 if it may write the lane without the
 * mutex until lane_leave().  The store of active and the load of
 * revoke are separated by a compiler barrier only: the revoker's
 * membarrier() supplies the fence (reserve.h), so either we see
 * revoke or it sees active.
 */
static inline int lane_enter(struct cb_lane *l)
{
	if (atomic_load_explicit(&l->shared, memory_order_relaxed))
		return 0;
	atomic_store_explicit(&l->active, 1, memory_order_relaxed);
	atomic_signal_fence(memory_order_seq_cst);
	if (__builtin_expect(atomic_load_explicit(&l->revoke,
	    memory_order_relaxed) == 0, 1))
		return 1;
	atomic_store_explicit(&l->active, 0, memory_order_release);
	return 0;
}

/* Release: pairs with the revoker's acquire load of active. */
static inline void lane_leave(struct cb_lane *l)
{
	atomic_store_explicit(&l->active, 0, memory_order_release);
}

/* The window and records of reserve.h's "Lanes", by the lane's one
 * writer of the moment. */
static inline void lane_open(struct cb_lane *l)
{
	/* Relaxed: the CAS on U that follows (seq_cst, a locked
	 * instruction on x86) orders it before that CAS. */
	atomic_store_explicit(&l->slot->seq, l->seq + 1, memory_order_relaxed);
}

static inline void lane_close(struct cb_lane *l)
{
	l->seq += 0x100;
	/* Release: a recount that sees it closed sees the record. */
	atomic_store_explicit(&l->slot->seq, l->seq, memory_order_release);
}

static inline void lane_record(struct cb_lane *l, int pool, uint32_t h)
{
	l->holds[pool] = h;
	/* Release: pairs with the recount's seq_cst (acquire) load of
	 * H_l; the window's open store comes before it. */
	atomic_store_explicit(&l->slot->holds[pool], h, memory_order_release);
}

/* A free entry of the lane's table for the next nonce, or -1. */
static inline long lane_entry_free(struct cb_lane *l)
{
	uint64_t n = l->nonce + 1;

	for (uint32_t k = 0; k < LOCAL_PROBES; k++) {
		uint32_t i = (uint32_t)(n + k) & (CB_LANE_HOLDS - 1);

		if (atomic_load_explicit(&l->table[i],
		    memory_order_relaxed) == 0)
			return i;
	}
	return -1;
}

/* Count an admission in the lane (thread-private: no shared line
 * written per hold), moved to the pool's statistic in batches of
 * CB_ADMITTED_BATCH and at cb_close; a killed process loses fewer
 * than that per lane and pool from a statistic. */
static inline void lane_admitted_flush(struct cb_rsv *r, struct cb_lane *l, int p)
{
	if (l->admitted[p] != 0)
		atomic_fetch_add_explicit(&cb_slots_pool(r->slots, p)->admitted,
		    l->admitted[p], memory_order_relaxed);
	l->admitted[p] = 0;
}

/*
 * A hold through lane l, whose writer we are (fast path or mutex).
 * -ENOSPC: the lane's table has no free entry near the next nonce;
 * the caller falls back to the shared entry.
 */
static inline __attribute__((always_inline)) int lane_hold_locked(
    struct cb_rsv *r, struct cb_lane *l, int pool,
    uint32_t limit, cb_ticket *t)
{
	struct cb_pool_slot *ps = cb_slots_pool(r->slots, pool);
	long idx = lane_entry_free(l);
	uint64_t stored;
	uint32_t date;
	int ret, fit;

	if (idx < 0)
		return -ENOSPC;
	lane_open(l);
	CB_TESTPOINT("reserve:before-cas");
	ret = admit(&ps->usage, 0, 0, limit, &stored);
	CB_TESTPOINT("reserve:lane-admitted");
	if (ret == 0 && (fit = still_fits(r->state, pool, &ps->usage, 0,
	    0, stored, &date)) != FIT_OK) {
		cb_rsv_usage_sub(&ps->usage, 0, 1);
		lane_close(l);
		if (fit == FIT_OVER)
			wake_released(r->slots, pool);
		return -EAGAIN;
	}
	if (ret == 0)
		lane_record(l, pool, l->holds[pool] + 1);
	lane_close(l);
	if (ret < 0)
		return ret;
	l->nonce++;
	atomic_store_explicit(&l->table[idx], local_word(l->nonce, pool),
	    memory_order_relaxed);
	if (++l->admitted[pool] >= CB_ADMITTED_BATCH)
		lane_admitted_flush(r, l, pool);
	t->opaque[0] = (uint64_t)TICKET_LANE | (uint64_t)pool << 8 |
	    (uint64_t)(r->client & 0xffff) << 16 |
	    (uint64_t)l->number << 32 | (uint64_t)idx << 40;
	t->opaque[1] = l->nonce;
	ticket_date_set(t, date);
	return 0;
}

/* Release entry idx of lane l if it holds exactly word (by its one
 * writer of the moment: owner's plain load and store, else a CAS
 * under the mutex, which the owner then also takes).  -ESTALE: not
 * outstanding; 1: released, but it had aged (age_put()). */
static inline __attribute__((always_inline)) int lane_release_locked(
    struct cb_rsv *r, struct cb_lane *l,
    uint32_t idx, uint64_t word, int pool, int owner, uint32_t date)
{
	struct cb_pool_slot *ps = cb_slots_pool(r->slots, pool);
	uint64_t w = word;
	int late;

	if (owner) {
		if (atomic_load_explicit(&l->table[idx],
		    memory_order_relaxed) != word)
			return -ESTALE;
		atomic_store_explicit(&l->table[idx], 0, memory_order_relaxed);
	} else if (!atomic_compare_exchange_strong_explicit(&l->table[idx],
	    &w, 0, memory_order_relaxed, memory_order_relaxed)) {
		return -ESTALE;
	}
	/* The record says 0 only if the broker reclaimed the lane (it
	 * thought us dead) or a member wrote it: nothing of ours to give
	 * back, as holds_dec's -ESTALE. */
	if (l->holds[pool] == 0)
		return -ESTALE;
	lane_open(l);
	CB_TESTPOINT("reserve:release-in-window");
	lane_record(l, pool, l->holds[pool] - 1);
	late = age_put(r->state, pool, &ps->usage, date);
	lane_close(l);
	return late > 0;
}


/* A release found nothing to give back: counted in the pool's
 * statistic (relaxed: a count). */
static inline int release_stale(const struct cb_rsv *r, int pool)
{
	atomic_fetch_add_explicit(
	    &cb_slots_pool(r->slots, pool)->stale_releases, 1,
	    memory_order_relaxed);
	return -ESTALE;
}

/*
 * The hot path of a hold through the calling thread's lane, for
 * cb_reserve: 0 admitted, 1 not done (no lane bound yet, the pool looks
 * full, the lane's bias was revoked, or the lane's table has no free
 * entry at the next nonce), and the caller takes the full path, which
 * decides.  A handle without lanes has serial 0, which no thread's
 * cache holds with a lane.
 */
static inline int cb_lane_hold_fast(struct cb_rsv *r, int pool,
    cb_ticket *t)
{
	struct cb_lane *l = lane_cached(r);
	uint32_t limit;
	int ret;

	if (l == NULL)
		return 1;
	limit = limit_of(r->state, pool);
	if (usage_full(&cb_slots_pool(r->slots, pool)->usage, 0, limit) ||
	    !lane_enter(l))
		return 1;
	ret = lane_hold_locked(r, l, pool, limit, t);
	lane_leave(l);
	return ret == 0 ? 0 : 1;
}

/*
 * The hot path of a release, for cb_release: only the calling thread's
 * own tickets of its own lane, well formed; 0 released, -ESTALE (not
 * outstanding: counted), 1 anything else (the full path decides).
 */
static inline int cb_lane_release_fast(struct cb_rsv *r, const cb_ticket *t)
{
	struct cb_lane *l = lane_cached(r);
	uint64_t t0 = t->opaque[0], nonce = TICKET_NONCE(t);
	int pool = (int)((t0 >> 8) & 0xff), ret;
	uint32_t idx = (uint32_t)(t0 >> 40) & 0xffff;

	if ((t0 & 0xff) != TICKET_LANE || l == NULL ||
	    ((t0 >> 16) & 0xffff) != (r->client & 0xffff) ||
	    ((t0 >> 32) & 0xff) != l->number || pool >= CB_MAX_POOLS ||
	    idx >= CB_LANE_HOLDS || nonce == 0 ||
	    !ticket_date_ok(ticket_date(t)) || !lane_enter(l))
		return 1;
	ret = lane_release_locked(r, l, idx, local_word(nonce, pool), pool,
	    1, ticket_date(t));
	lane_leave(l);
	if (ret < 0)
		return release_stale(r, pool);
	wake_released(r->slots, pool);
	/* Given back, but past hold_max: the late release is told. */
	return ret > 0 ? release_stale(r, pool) : 0;
}

#endif /* CB_LANE_H */
