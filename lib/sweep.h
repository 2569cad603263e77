/*
 * sweep.h - the broker's half of the slots-segment protocols: what
 * only the sweeper thread (broker/sweeper.c) runs on the table.
 *
 * lib/sweep_*.c are linked into capbrokerd and the tests that play the
 * sweeper (unit tests, the slots fuzz harness), never into
 * libcapbroker: a client process maps no code and no memory that only
 * the broker uses.  The protocols these functions keep, and the
 * arguments for them, are where the clients' half is:
 *
 *   reserve.h  reclaim of a dead client, scrub of free entries, launch
 *              expiry and settle, the pool recount (lib/sweep_reserve.c)
 *   place.h    reclaim, settle and recount of the binds and worker
 *              counters (lib/sweep_place.c)
 *   queue.h    the sweep of the waiter table and its hints
 *              (lib/sweep_queue.c)
 *
 * Every function here writes the slots segment as the broker does, so
 * none may run in two threads at once over one segment: the sweeper
 * is the only broker thread that repairs the table (sweeper.h).
 */
#ifndef CB_SWEEP_H
#define CB_SWEEP_H

#include <stdint.h>
#include <sys/types.h>

#include "abi.h"

/*
 * The recounts' scratch space: one snapshot's worth of the double
 * collect, rewritten by each call before it is read, so one struct
 * serves every recount of the thread that owns it.  About 29 KB
 * (libcapbroker used to carry 17 KB of function and file statics for
 * this): the sweeper allocates it once, the tests and the fuzz harness
 * their own.
 */
struct cb_sweep_scratch {
	uint32_t seqs[CB_MAX_CLIENTS];     /* every S[c], first collect */
	uint32_t lane_seqs[CB_MAX_LANES];  /* every S_l, first collect */
	uint32_t u1[CB_MAX_WORKERS];       /* every I[w] before the collect */
	uint32_t records[CB_MAX_WORKERS];  /* BOUND entries per worker */
	uint8_t moved[CB_MAX_WORKERS];     /* I[w] moved during it */
};

/* ---- reservations (reserve.h) ------------------------------------- */

/*
 * Undo a dead client's holds and free its entry, iff the entry is
 * still owned by `owner`.  Returns the units undone, or -1 if the
 * entry changed hands.  per_pool (CB_MAX_POOLS) gets the units per
 * pool.
 */
long cb_rsv_reclaim(void *slots, uint32_t index, uint64_t owner,
    uint32_t *per_pool);

/*
 * Clear the garbage of client entry `index`, seen free (owner word
 * `seen`, pid 0): holds, an open window, unflushed admissions.  They
 * count for nothing (the recount reads owned entries only) but are
 * cleared so the table reads true.  A client may claim the entry at any
 * moment after `seen` and take holds at once, so the broker first
 * claims the entry itself, with the CAS a client uses (from exactly
 * `seen`, naming pid `self`), clears it, and frees it again; a client
 * that claimed it first keeps its counts.  Returns 1 if holds or a
 * window were cleared, 0 if the entry was clean or is no longer the
 * free one seen.
 */
int cb_rsv_scrub(void *slots, uint32_t index, uint64_t seen, pid_t self);

/*
 * Lane l (reserve.h, "Lanes") when the client entry its word names no
 * longer has the owner word it was claimed under: clear its records
 * and window and free it (the recount then settles U).  A live lane,
 * or one that changes meanwhile, is left alone.  Returns 1 if it
 * cleared one.
 */
int cb_rsv_lane_scrub(void *slots, uint32_t l, pid_t self);

/* Expire LIVE launch entries whose deadline is <= now; returns how
 * many, per pool in per_pool.  earliest gets, per pool, the earliest
 * remaining deadline (0 = none). */
uint32_t cb_rsv_expire(void *slots, uint64_t now, uint32_t *per_pool,
    uint64_t *earliest);

/*
 * Settle the launch table (sweeper, each sweep): an entry CLAIMING with
 * the same word as last sweep (prev, CB_MAX_LAUNCHES, private) lost its
 * claimer and becomes LIVE with deadline now + its pool's window
 * (window_ms, CB_MAX_POOLS; 0 = no such pool); impossible states and
 * entries of pools that do not exist are freed, deadlines later than
 * one window from now cut to one window.  Returns the entries fixed.
 */
uint32_t cb_rsv_settle(void *slots, uint64_t now, const uint32_t *window_ms,
    uint64_t *prev);

/*
 * Recount pool p (reserve.h).  Returns 1 and the signed drift that was
 * corrected in *held_drift / *launch_drift (counter minus records),
 * 0 when the counter matched, -EAGAIN when no consistent snapshot was
 * seen.
 */
int cb_rsv_recount(void *slots, int pool, struct cb_sweep_scratch *sc,
    int64_t *held_drift, int64_t *launch_drift);

/*
 * Whether deleted pool p (broker/pools.h: a tombstone, limit 0) is
 * idle for good, so that its index may take a new pool: in one
 * consistent snapshot (the recount's double collect: U read before and
 * after, every S unchanged) U is zero, no owned client entry records a
 * hold of p, and no launch, waiter or bind entry names p, nor does the
 * queued hint.  Then no honest ticket of p is outstanding: a hold's
 * release needs its H[c,p], a launch's or a bind's its entry, a
 * waiter its entry.  Returns 1 if idle.
 */
int cb_rsv_pool_idle(void *slots, int pool, struct cb_sweep_scratch *sc);

/*
 * A global pool's hold aging, the sweeper's part (lib/age.h): every
 * sweep, with `now` the broker's CLOCK_MONOTONIC.  hold_max_s 0: the
 * pool is not global (or not active): its word loses the aging layout
 * (every hold counted again) and *age is 0.  Else eps = hold_max +
 * CB_AGE_MARGIN_MS, e = now / eps, and the word is put in epoch e:
 * marked (all holds in the current bucket) if it was not and has no
 * launches; advanced if it is behind; reset (every hold current) if its
 * epoch is ahead of e (a forged one) or was counted in another eps.
 * *age (cb_pool_conf.age) is published e << 32 | eps_ms with release,
 * before the word is first marked in an eps and after each move.
 * Returns CB_AGE_MOVED when the word changed (waiters may be admitted
 * now: holds aged, or the epoch refused them while it lagged), with
 * CB_AGE_RESET when a forged epoch was put back.
 */
#define CB_AGE_MOVED 1
#define CB_AGE_RESET 2
int cb_rsv_age(void *slots, _Atomic uint64_t *age, int pool,
    uint32_t hold_max_s, uint64_t now);

/*
 * The double collect's pieces, shared with the worker recount
 * (place.h): is every client's S still what seqs (CB_MAX_CLIENTS) says;
 * and the corrected value of a counter against its records when
 * `inflight` windows are open (into [records, records + inflight],
 * saturated at 32 bits).
 */
int cb_rsv_seqs_unchanged(void *slots, const uint32_t *seqs);
uint32_t cb_rsv_corrected(uint32_t counter, uint64_t records,
    uint64_t inflight);

/* ---- placement (place.h) ------------------------------------------ */

/*
 * Reclaim: free the binds of dead client entry `client` and subtract
 * them from their workers (before the entry is freed); returns how
 * many.  Settle: free garbage entries (place.h); active has bit p set
 * for every active pool; returns how many.  Recount: correct every
 * worker counter whose snapshot was consistent; drift (CB_MAX_WORKERS)
 * gets counter minus records per worker, 0 where nothing changed;
 * returns the number corrected, or -EAGAIN if the clients' windows
 * moved during the snapshot.
 */
uint32_t cb_place_reclaim(void *slots, uint32_t client);
uint32_t cb_place_settle(void *slots, uint64_t active);
int cb_place_recount(void *slots, struct cb_sweep_scratch *sc,
    int64_t *drift);

/* ---- fair waiting (queue.h) --------------------------------------- */

/* One live entry of a pool whose tickets are re-based. */
struct cb_wq_rebase_entry {
	uint64_t ticket;
	uint32_t index;
};

/* The queue sweep's memory between sweeps (private to its thread). */
struct cb_wq_sweep {
	uint64_t prev[CB_MAX_WAITERS];  /* CLAIMING words seen last sweep */
	uint64_t hint_seen[CB_MAX_POOLS];   /* each pool's queued */
	uint64_t count_seen[CB_MAX_POOLS];  /* its entries in the table */
	uint32_t waiters_seen[CB_MAX_POOLS]; /* its waiters count */
	/* Scratch of a re-base, rewritten before it is read. */
	struct cb_wq_rebase_entry rebase[CB_MAX_WAITERS];
};

/*
 * The sweeper, each recount: frees entries in impossible states, of
 * pools that do not exist (active[p] == 0), WAITING ones that are
 * not live, CLAIMING ones stuck since the last sweep; corrects a
 * pool's `queued` hint and `waiters` count that disagreed with the
 * table the same way twice in a row (once could be an enqueuer or
 * leaver between its two steps); wakes the head of every pool it
 * changed; re-bases the tickets of a pool where a live ticket is at or
 * beyond queue_next (a hostile write: queue.h).  Returns entries freed;
 * *hints gets the counters corrected (queued and waiters each count).
 */
uint32_t cb_wq_sweep(void *slots, const uint32_t *active,
    struct cb_wq_sweep *st, uint32_t *hints);

#endif /* CB_SWEEP_H */
