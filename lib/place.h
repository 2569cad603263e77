/*
 * place.h - worker placement: binding a hold to a worker.
 *
 * cb_pick_worker() chooses a ready worker under a policy and takes, in
 * one step, one hold on the pool (exactly a cb_reserve CB_HOLD: U[p]
 * and H[c,p] of reserve.h) and one unit of the worker's own limit.
 * This file is the worker half; reserve.h is the pool half, and the
 * death-window argument there carries over word for word.
 *
 * Words (abi.h):
 *   R[i]   published worker record i (state segment, seqlock, sorted
 *          by id): id, state, limit, and slot w, the worker's stable
 *          index in the slots segment (the publisher assigns it, and
 *          keeps it while the worker is registered: broker/slotmap.h)
 *   I[w]   worker slot w's in-flight counter, CAS only (seq_cst),
 *          admitted iff I[w] + 1 <= R.limit
 *   B[e]   bind entry e: {BOUND, pool, w, nonce}; client c owns entries
 *          c * CB_BINDS_PER_CLIENT .. + CB_BINDS_PER_CLIENT - 1
 *   S[c]   client c's death-window word (reserve.h)
 *
 * Pick (client c, pool p), one attempt:
 *   0. choose: one seqlock pass over R, reading I[w] of each ready
 *      worker with room (I[w] < limit), keeping the best under the
 *      policy; ties keep the earlier record, i.e. the lowest worker id
 *      in byte order (the table is sorted by id).  Nothing shared is
 *      written: a refused attempt leaves every word as it was.
 *   1. open the window on S[c]
 *   2. CAS U[p]: held+1 iff within the pool's limit, re-checked after
 *      the CAS against the limit published now (the one the CAS used
 *      was read before step 0's scan; reserve.h); H[c,p] += 1
 *   3. CAS I[w]: +1 iff I[w] + 1 <= limit.  Full by now (another
 *      picker won the room), or R republished with w no longer ready
 *      under the same slot (checked after the CAS; undone with I[w]-1):
 *      choose again and retry; none left: undo step 2 (H-1, U-1)
 *   4. claim a free B[e] of c's partition: one CAS (FREE, n) ->
 *      (BOUND, p, w, n+1).  None free: undo 3 and 2, -ENOSPC
 *   5. close the window
 * Release (only the handle that picked; ticket = e and the BOUND word):
 *   window; CAS B[e] from exactly that word to (FREE, n) (one winner:
 *   a stale or double release fails, -ESTALE, and frees nothing);
 *   I[w] - 1; H[c,p] - 1; U[p] held - 1; close; wake pool p.
 *
 * Why no death lets I[w] under-count (which would let pickers push the
 * worker past its limit): B[e] is written after the CAS that admits it
 * and freed before the CAS that gives the unit back, exactly as H is
 * for U.  So I[w] >= live BOUND entries naming w at every instant; a
 * process killed between the two leaves I[w] one too high, never too
 * low, and the broker repairs that:
 *   - reclaim (client c died): for each BOUND B[e] in c's partition,
 *     CAS it FREE and only then I[w] - 1 (bounded at 0).  Done before
 *     c's entry is freed, as the partition is named by index only.
 *   - settle (each recount sweep): a non-free entry in an impossible
 *     state, naming an inactive pool, or in the partition of a free
 *     client entry is garbage (an honest client frees its binds before
 *     its entry, and the reclaim does too); it is freed by a CAS on the
 *     exact word first read, and its counter is left to the recount.
 *   - recount: one double collect for every worker at once: I[*]
 *     (u1), every S[c] and the open windows K among owned entries, the
 *     BOUND entries per worker, I[*] again (u2), S again.  Consistent
 *     for worker w iff u1[w] == u2[w] and no S moved; then I[w] is
 *     brought into [records, records + K] by one CAS on exactly u1[w]
 *     (reserve.h has the argument for the bound).
 *
 * The pool half of a bound hold is an ordinary hold: H[c,p] counts it,
 * so the pool's reclaim and recount need nothing new.  cb_close frees
 * the handle's binds (and I[w]) inside the window that takes every
 * H[c,p] to zero.
 *
 * A worker that turns draining or not_ready is never picked again;
 * its binds stay until released, so it finishes its in-flight work.
 * A deleted worker's slot keeps its count; the publisher hands it to
 * a new worker only when no free slot has a count of 0, and a count
 * inherited that way only makes the new worker look busier (safe).
 *
 * Blocked pickers (cb_place_wait).  A picker that finds no room
 * sleeps on its pool's own futex word until a release wakes it; it is
 * not in the fair queue (queue.h) and not in `waiters`.  Words:
 *   P[p]   pool p's `pickers`: blocked pickers of p (seq_cst RMWs)
 *   G      the slots segment's `pickers`: blocked pickers of any pool
 *   K[p]   pool p's `pick_seq`: the pickers' futex word
 *   R[p]   pool p's release eventcount word (release_seq, futex.h)
 *   B[e]   (PICKING, p, 0, nonce): the record of one blocked picker,
 *          an entry of its own bind partition
 * Picker (client c, pool p):
 *   enter, in one window on S[c]: P[p] + 1, G + 1, then claim a FREE
 *          B[e] -> PICKING (no free entry: lower them again and wait
 *          uncounted, 10 ms sleeps);
 *   each round: k = K[p], then load R[p] (both seq_cst), then one
 *          attempt (its loads of U[p] and I[w] are seq_cst); refused:
 *          futex_wait(K[p], k) up to a backstop slice (1 s);
 *   admitted: step 4 turns its own record into its bind, one CAS from
 *          exactly the PICKING word to BOUND, then P[p] - 1, G - 1, in
 *          the attempt's window (so a partition with one entry free
 *          admits the picker that waited in it); then pass on (below);
 *   leave otherwise, in one window: free B[e], then P[p] - 1, G - 1
 *          (saturating).
 * Releaser, after the seq_cst RMW that frees room (U[p] by a hold,
 * launch or bound release; I[w] by a bound release; or, for a raised
 * limit, after cb_rsv_wake's seq_cst bump of R[p]):
 *   cb_place_wake(p): iff P[p] != 0: K[p] + 1, FUTEX_WAKE(K[p], 1);
 *   a freed worker unit may fit pickers of any pool: iff G != 0,
 *   cb_place_wake(q) for every other pool q (cb_place_wake_workers).
 * Every path that gives a unit back calls it: cb_rsv_wake() and the
 * client's release (reserve.c: expiry, reclaim, recount, limit raise,
 * hold and launch release), cb_place_release, the reclaim and cb_close
 * of binds (cb_place_free_partition).  The publisher, after it writes
 * the worker table (a worker turned ready or got a higher limit), calls
 * cb_place_wake_table: an RMW on G, not a load, because the table's
 * seqlock write is a release, not seq_cst (the RMW either reads a
 * picker's G + 1, or the picker's G + 1 reads it and so sees the table).
 *
 * No lost wake: the releaser's RMW precedes its load of P[p] in the
 * single total order of seq_cst operations.  If that load saw 0, the
 * picker's P[p] + 1 comes later, and so do its loads of U[p], I[w] (and
 * R[p]: the raised limit), which therefore see the room.  If it saw
 * P[p] != 0, K[p] moves: a picker that read k before it returns from
 * futex_wait at once, and one already asleep is woken.
 *
 * No herd: one wake per release, to one sleeper.  A woken picker always
 * makes an attempt before it can leave (the deadline is checked after
 * it), so a wake is never dropped by a leaver.  Pickers of one pool are
 * alike (same pool, same workers, any policy), so a woken picker that
 * is refused means no picker of that pool could have been admitted:
 * the room went to someone else (a barger, another picker in transit)
 * or is of no use to the pool (a pool unit while every worker is full),
 * and the wake is rightly spent.  A free of several units (a limit
 * raise, a reclaim, cb_close, a recount) sends one wake: the admitted
 * picker passes it on (pass_on: P[p] still non-zero and the pool not
 * full by a seq_cst load of U[p]; a full pool needs no wake, as the next
 * unit freed sends one), a chain of single wakes that stops at the
 * first picker refused.  A picker that fails after taking the pool unit
 * (-ENOSPC, its partition full) gives it back with cb_rsv_wake, which
 * wakes the next.  A picker killed after a wake, before its attempt,
 * took the wake with it: the reclaim that frees its record sends one
 * again.  Across pools a freed worker unit wakes one picker in each
 * pool with pickers (the cost only while someone waits: G == 0
 * otherwise).  tests/model/pick.pml checks the wake-one hand-off with
 * spin (a free of several units, a raised limit, a barger, a picker
 * killed at any step), and that pickers who read K[p] after their
 * attempt, an admitted picker who does not pass a multi-unit wake on,
 * a reclaim that does not send the wake again, or a releaser that
 * looks at P[p] before it frees the unit, lose one;
 * tests/unit/test_tp_place.c forces the same cases on the C code.
 *
 * Repair: P[p] and G over-count (never under-count) the records of
 * live pickers: raised before the record, lowered after it (or after
 * it became the bind).  The reclaim of a dead client frees its PICKING
 * entries, lowers P[p] and G for each one it wins, and wakes the pool
 * (above); a picker killed between its raise and its record, or
 * between its record turned bind and its lowering (inside its window),
 * leaves them one high, and the recount's double collect (below)
 * brings P[p] into [records, records + K] and G into [all records, all
 * records + K] by a CAS on the exact value first read, K the open
 * windows (the reclaim closes a dead client's).  The settle frees a
 * PICKING entry of a free client entry or an inactive pool (left to
 * the recount).  What is not repaired costs latency, never a hang: a
 * count too high a spurious FUTEX_WAKE per release, too low (a hostile
 * write, an ABI 1.1 library's release that never calls cb_place_wake,
 * a retired segment) a wait of up to the backstop slice.
 *
 * Memory orderings: everything the recount snapshots (I, B, S, P, G)
 * is seq_cst, as in reserve.c; the worker table is read with the
 * seqlock reader protocol of seqlock.h.
 */
#ifndef CB_PLACE_H
#define CB_PLACE_H

#include <stdint.h>
#include <time.h>

#include "abi.h"
#include "capbroker.h"
#include "reserve.h"

/*
 * Is a candidate with a_inflight of a_limit better than the best so
 * far (b_inflight of b_limit) under policy?  Strict: equal scores keep
 * the earlier candidate.  Both have room (inflight < limit).
 *   consolidate   more in flight (the busiest that still has room)
 *   spread        higher (limit - inflight) / limit
 *   least_loaded  fewer in flight
 */
int cb_place_better(int policy, uint32_t a_inflight, uint32_t a_limit,
    uint32_t b_inflight, uint32_t b_limit);

/* 1 if policy is one of enum cb_placement. */
int cb_place_policy_valid(int policy);

/*
 * One pick attempt (steps 0-5).  id gets the worker's id (NUL-
 * terminated, CB_WORKER_ID_MAX + 1 bytes).  Returns 0 and the ticket;
 * -EAGAIN no ready worker with room, or the pool is at its limit;
 * -ENOENT no ready worker at all; -ENOSPC no free bind entry in this
 * client's partition (CB_BINDS_PER_CLIENT binds in flight) or no local
 * hold slot.
 */
int cb_place_try(struct cb_rsv *r, int pool, int policy, cb_ticket *ticket,
    char *id);

/* How a blocked pick waits (cb_place_wait). */
struct cb_place_waiting {
	const struct timespec *deadline; /* CLOCK_MONOTONIC; NULL: none */
	long backstop_ms;       /* longest sleep of a counted picker:
	                           CB_PLACE_BACKSTOP_MS (tests: longer) */
	int (*round)(void *);   /* before each attempt; < 0 ends the wait
	                           with that code; may be NULL */
	void *arg;
};

/* The backstop slice (above): latency bound when a wake never comes. */
#define CB_PLACE_BACKSTOP_MS 1000

/*
 * Block until picked (0 and the ticket), the deadline passes
 * (-ETIMEDOUT), round returns a negative code, or an attempt fails
 * otherwise (its code).  Sleeps on the pool's pickers word (above);
 * the caller made one attempt already.
 */
int cb_place_wait(struct cb_rsv *r, int pool, int policy,
    const struct cb_place_waiting *how, cb_ticket *ticket, char *id);

/* Room freed in pool: wake one blocked picker of it, if any is counted
 * (no syscall, no write otherwise). */
void cb_place_wake(void *slots, int pool);

/* Pool deleted (broker/publisher.c, when it publishes the tombstone):
 * wake every blocked picker of it, each of which finds the pool gone
 * before its next attempt (client/place.c) and returns -ENOENT. */
void cb_place_wake_all(void *slots, int pool);

/* A worker unit freed: wake one picker of every pool but `except`
 * (-1: none) that has pickers; one load when nobody picks. */
void cb_place_wake_workers(void *slots, int except);

/* The worker table was republished (a worker turned ready or got a
 * higher limit): wake one picker of every pool that has pickers; one
 * RMW when nobody picks.  The publisher, after its seqlock write. */
void cb_place_wake_table(void *slots);

/* Release a bind ticket (cb_rsv_release dispatches here).  Returns 0,
 * -ESTALE, -EINVAL. */
int cb_place_release(struct cb_rsv *r, const cb_ticket *ticket);

/* Is this a bind ticket? */
int cb_place_ticket(const cb_ticket *ticket);

/* cb_close, inside its window: free every bind of client entry
 * `client` and give back their worker units.  Returns how many. */
uint32_t cb_place_release_all(void *slots, uint32_t client);

/*
 * Shared with the sweeper's half (sweep.h).  Free every BOUND entry of
 * client entry `client`'s partition, each by a CAS on its exact word,
 * and give each one's unit back to its worker (I[w] - 1), counting
 * them in the worker's `reclaimed` statistic when `broker` (the reclaim
 * of a dead client).  Returns how many.
 */
uint32_t cb_place_free_partition(void *slots, uint32_t client, int broker);

/* CAS bind entry b from exactly w back to FREE, the nonce kept: a
 * ticket that carries w can never match again.  1 if this caller won:
 * only the winner gives the worker's unit back (or, in the settle,
 * leaves it to the recount). */
static inline int cb_place_bind_free(struct cb_bind_slot *b, uint64_t w)
{
	return atomic_compare_exchange_strong_explicit(&b->word, &w,
	    CB_BIND_WORD(CB_BIND_FREE, 0, 0, CB_BIND_NONCE(w)),
	    memory_order_seq_cst, memory_order_relaxed);
}

/*
 * Worker slot w's in-flight count (one load), and the id -> slot
 * lookup in the published table.  cb_place_find returns the slot and
 * copies the record, -ENOENT no such worker, -EAGAIN table unreadable.
 */
uint32_t cb_place_inflight(const void *slots, uint32_t slot);
int cb_place_find(const void *state, const char *id,
    struct cb_worker_rec *out);

/*
 * The broker's half (reclaim, settle and recount, described above)
 * runs only in the sweeper thread and lives in sweep.h and
 * lib/sweep_place.c, outside libcapbroker.
 */

#endif /* CB_PLACE_H */
