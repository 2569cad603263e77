/*
 * reserve.h - the cross-process reservation protocol.
 *
 * This is the part of capbroker that must never let a pool exceed its
 * limit, and never leak a unit for longer than one sweep, whatever
 * process dies where.  The Promela model in tests/model/ checks it.
 *
 * Words (abi.h):
 *   U      pool usage counter, {held, launching}, CAS only (seq_cst);
 *          a global pool's {held, the holds' ages} instead (age.h: only
 *          the holds younger than hold_max count toward the limit, and
 *          every CAS below keeps the ages; the ages' rule is age.h's)
 *   S[c]   client c's death-window word: low 8 bits = operations in
 *          flight, high bits = version (bumped as each one ends)
 *   H[c,p] holds client c has recorded in pool p
 *   L[e]   launch entry: {state, pool, client, nonce} + deadline
 *
 * Hold, reserve (client c, pool p), one attempt:
 *   1. S[c] += 1                          (open the window, seq_cst)
 *   2. CAS U: held+1 iff held + launching + 1 <= limit; then re-read
 *      the limit (seq_cst, pairing with the publisher's release store)
 *      and if the new U exceeds it, CAS U back (held-1): -EAGAIN
 *   3. on success H[c,p] += 1
 *   4. S[c] += 0x100 - 1                  (close: version+1, in-flight-1)
 * The limit the CAS compares with was read before it (before the window,
 * or before a placement's scan of the worker table): a limit lowered
 * meanwhile would be exceeded.  The re-check after the CAS closes that:
 * an admission whose re-read sees the lowered limit keeps its unit only
 * within it; one whose re-read still sees the old limit completed before
 * the lowering was published, like any unit already held (a lower limit
 * revokes nothing).  The give-back is inside the same window and before
 * any record, so for the recount it is one more unit in flight, as in
 * the -ENOSPC undo of a launch.
 * Hold, release: the same window around the reverse order:
 *   H[c,p] -= 1, then CAS U: held-1.  cb_close releases every hold the
 *   same way, one unit at a time inside its one window: a window earns
 *   one unit of slack in the recount, so never more than one unit may
 *   be between its record and U at once (taking H[c,p] to 0 and then
 *   subtracting h let a recount in between trim h-1 units that the
 *   subtraction then took again).
 * Launch, reserve: window; CAS U: launching+1 iff observed + launching +
 *   held + 1 <= limit, re-checked after the CAS against the limit and
 *   the observed floor published now (the floor's loads acquire,
 *   pairing with the publisher's release store); claim a free L[e]
 *   (CLAIMING), store its deadline, store LIVE; close.  If no entry is
 *   free, undo the CAS: -ENOSPC.
 * Launch, release (any process with the ticket, inside its own window:
 *   without one, a recount between the two steps sees neither U nor S
 *   move and trims the unit, then the late decrement under-counts) and
 *   expiry (sweeper, the recount's own thread, so no window needed):
 *   CAS L[e] from the ticket's exact LIVE word to FREE (one winner),
 *   then CAS U: launching-1.
 *
 * Why a death never lets U under-count (which would admit beyond the
 * limit): every record (H, L) is written after the CAS that admits it
 * and removed before the CAS that frees it.  So at any instant
 * U >= what the records account for; a process killed between the two
 * leaves U one too high, never too low.  The broker's reclaim of a dead
 * client subtracts only what H records; an open window (in-flight > 0)
 * is resolved on the safe side: assume nothing happened.
 *
 * Recount repairs those over-counts.  The sweeper, per pool:
 *   u1 = U; for every client: s1[c] = S[c], h[c] = H[c,p];
 *   count live/claiming L entries of p; u2 = U; s2[c] = S[c] again.
 * The snapshot is consistent iff u1 == u2 and every s1[c] == s2[c]:
 * no admission, release or record change overlapped it (each one
 * changes S or U, all seq_cst).  Windows open in s1 (a client stopped
 * mid-operation, say) are counted, K in all, at most
 * CB_RSV_INFLIGHT_MAX per entry whatever S says: each may hide one unit
 * admitted but unrecorded, or unrecorded but not yet released, so U may
 * exceed the records by up to K.  The excess beyond K is subtracted, a
 * deficit (hostile writes) filled, by one CAS on exactly u1.  So a
 * stopped client delays the repair of at most its own unit, not the
 * whole table's.  Under load the snapshot fails and it simply tries
 * again next sweep.
 *
 * Client entries are claimed by the client itself (cb_open), so a
 * process can reserve while the broker is down; the broker learns of
 * it through HELLO on the control socket or by scanning the table, and
 * watches it with a pidfd.  When it has died (pidfd readable, or pid +
 * start time gone; a closed socket alone is not proof) the sweeper, in
 * the recount's thread: takes each H[c,p] to 0 (exchange) and only then
 * subtracts it from U (the other order, with a broker crash between,
 * subtracts twice); frees the launch entries c was still CLAIMING (it
 * died inside cb_reserve: no ticket, nothing launched) and decrements
 * launching for each; resets S[c]; frees the entry.  Its LIVE launches
 * stay until they expire.  A recount corrects both halves of U with a
 * single 64-bit CAS on exactly u1.
 *
 * tests/model/reserve.pml checks all of this with spin (the limit,
 * U >= units in use, convergence to 0 after every client is gone), and
 * shows a counterexample for each wrong choice named above.
 *
 * Multi-threaded clients share their process's entry; S counts every
 * thread's open windows, which is why it is a counter, not a parity.
 *
 * Lanes (ABI 1.2, issue 14): one writer per record.  The words above
 * are shared by every thread of a process, so each change is a locked
 * read-modify-write: eight per hold pair, where a POSIX semaphore pair
 * has two.  A hold (cb_reserve's CB_HOLD, not launches, picks or
 * cb_close) therefore goes through the calling thread's own lane
 * L[l] = {S_l, H_l[p]} (abi.h, CB_RL_LANES), claimed lazily on the
 * thread's first hold and kept by the handle until cb_close.  Only
 * that thread writes the lane, so S_l and H_l are plain stores of
 * values it keeps itself, and the pool counter's CAS is the only
 * locked instruction of the pair:
 *   reserve   S_l := open (relaxed store); CAS U as in step 2, with its
 *             re-check; H_l[p] := h + 1 (release); S_l := closed,
 *             version + 1 (release)
 *   release   S_l := open (relaxed); H_l[p] := h - 1 (release);
 *             CAS U: held - 1; S_l := closed, version + 1 (release)
 * The order of the steps is the one above (record after the admitting
 * CAS, removed before the freeing CAS, all inside a window), so the
 * argument is unchanged; what changes is that it no longer rests on
 * one total order of RMWs.  The orderings it needs, and what each
 * pairs with:
 *   - the window is open in memory before U moves: on x86-TSO the CAS
 *     is a locked instruction, which drains the thread's store buffer
 *     (the open store) before it; in C11 the CAS (seq_cst, so release)
 *     orders the relaxed open store before it for any acquire load of
 *     U that reads it or a later RMW of it (a release sequence: every
 *     write of U is an RMW);
 *   - a record seen means U seen: H_l's stores are release, the
 *     recount's loads of H_l acquire (seq_cst), so a recount that reads
 *     the new H_l also reads U after the CAS that the store follows;
 *   - the close is a release store: a recount that sees the window
 *     closed (and the version moved) sees the record written in it.
 * The recount's collect reads, after u1, every S_l and then every H_l
 * (each lane's S before its H), then u2, then every S_l again: the
 * same double collect, with one unit of slack per lane whose S_l is
 * open (a lane has one writer, so at most one operation in flight
 * whatever S_l says).  tests/model/lanes.pml checks this under a TSO
 * model (per-thread store buffers, drained at random and by locked
 * instructions) with negative controls for each ordering; the reclaim
 * of a dead client takes each of its lanes' H_l to 0 before lowering U
 * and frees the lanes before its client entry.
 *
 * A hold's ticket names its lane, and the lane's private table (in the
 * process's own memory) keeps its nonce, so a double release is
 * -ESTALE as before.  The lane's own thread releases with plain loads
 * and stores of that table.  Any other thread of the process may
 * release the ticket too, by a slower path: it first revokes the
 * lane's bias -- sets `revoke`, runs membarrier(2)
 * MEMBARRIER_CMD_PRIVATE_EXPEDITED (a full barrier on every running
 * thread of the process), and waits until the owner is outside its
 * fast path (`active` 0) -- after which every writer of that lane,
 * its owner included, takes the lane's mutex.  The owner's fast path
 * is "active := 1; compiler barrier; revoke?": with the membarrier on
 * the other side, either the owner sees revoke or the revoker sees
 * active (the asymmetric Dekker of liburcu's urcu-memb flavour;
 * tests/model/revoke.pml).  So a ticket is released once whichever
 * threads race, and only a lane that has seen a foreign release pays
 * the mutex (two locked instructions per operation), for the rest of
 * the handle's life.  Without membarrier (kernel < 4.14, or a seccomp
 * filter) a handle uses no lanes: every hold takes the shared entry's
 * path above, as does a hold when its thread finds no free lane.
 * Another process can never release a hold (-EINVAL, as before).
 *
 * Bound holds (cb_pick_worker) are holds like these plus a bind entry
 * and a per-worker counter, taken inside the same window in the same
 * record-after-admit order; place.h has that half.
 */
#ifndef CB_RESERVE_H
#define CB_RESERVE_H

#include <stdint.h>
#include <sys/types.h>

#include "abi.h"
#include "age.h"
#include "capbroker.h"

/* The halves of U.  A global pool's word with CB_AGE_MARK keeps its
 * holds' ages in the high half instead of launches (age.h). */
#define CB_USAGE_HELD(u)       ((uint32_t)(u))
#define CB_USAGE_LAUNCHING(u) \
	((u) & CB_AGE_MARK ? 0u : (uint32_t)((u) >> 32))
#define CB_USAGE(held, launching) \
	((uint64_t)(uint32_t)(held) | (uint64_t)(launching) << 32)

struct cb_lanes;                   /* private: lib/reserve.c */

/* A process's reservation state, set up by cb_open(). */
struct cb_rsv {
	struct cb_lanes *lanes;    /* this handle's lanes (reserve.c);
	                              NULL: every hold uses S and H */
	uint64_t serial;           /* unique in the process, never 0:
	                              keys each thread's cached lane */
	_Atomic uint64_t window_cache[CB_MAX_POOLS]; /* launches' window:
	                              seqlock seq << 32 | ms (reserve.c) */
	const void *state;         /* validated state segment */
	void *slots;               /* validated slots segment, writable */
	uint32_t client;           /* this process's client-table index */
	uint64_t owner;            /* its owner word */
	_Atomic uint64_t *local;   /* outstanding hold nonces (private);
	                              an entry in use by a hold or its
	                              release also counts its thread as
	                              in a window (reserve.c, LOCAL_INWIN) */
	uint32_t local_size;       /* entries, a power of two */
	_Atomic uint64_t nonce;    /* next hold nonce */
	_Atomic uint32_t windows;  /* threads opening or in any other
	                              window (launches, picks, cb_close) */
};

/*
 * Operations one process may have in flight at once (S's low byte);
 * more threads wait for one to close.  The recount counts no more than
 * this per client entry, whatever the word says: any member of the
 * slots group can write it, and an entry's slack must be bounded by
 * what the entry can really have in flight.  A count above it (or one
 * that this process's threads cannot account for) is repaired by the
 * entry's owner at its next window (reserve.c, window_open).
 */
#define CB_RSV_INFLIGHT_MAX 16u

/* The recount's slack for one entry's S: its windows in flight,
 * bounded by CB_RSV_INFLIGHT_MAX. */
static inline uint32_t cb_rsv_slack(uint32_t seq)
{
	uint32_t k = CB_SEQ_INFLIGHT(seq);

	return k < CB_RSV_INFLIGHT_MAX ? k : CB_RSV_INFLIGHT_MAX;
}

/* Entries of the private table of outstanding holds. */
#define CB_LOCAL_HOLDS 65536

/* Lanes a handle may claim (one per thread that holds), and holds
 * outstanding per lane before a thread's holds fall back to the shared
 * entry's table. */
#define CB_LANES_PER_CLIENT 64
#define CB_LANE_HOLDS 8192

/*
 * Set up r's lanes (cb_open, after cb_rsv_claim): 0, or -ENOSYS when
 * membarrier(2) is unavailable, -ENOMEM; r->lanes stays NULL on error
 * and holds use the shared entry.  serial: the handle's.
 */
int cb_rsv_lanes_init(struct cb_rsv *r, uint64_t serial);

/* cb_close, before cb_rsv_release_all: give back every hold recorded
 * in r's lanes, free them in the segment and in memory.  No other
 * call on the handle may run (cb_close's contract). */
void cb_rsv_lanes_close(struct cb_rsv *r);

/* cb_close in a fork child: free r's lanes' memory, leave the segment
 * (the lanes and their holds are the parent's). */
void cb_rsv_lanes_forget(struct cb_rsv *r);

/*
 * The hot path of a hold and its release through the calling thread's
 * lane, for cb_reserve and cb_release to try first: 0 done (admitted;
 * released), -ESTALE (release: not outstanding), 1 not done -- no lane
 * bound yet, the pool looks full, the lane's bias was revoked, a ticket
 * of another kind or lane -- and the caller takes the full path
 * (cb_rsv_try, cb_rsv_release), which decides.
 */
int cb_rsv_hold_fast(struct cb_rsv *r, int pool, cb_ticket *t);
int cb_rsv_release_fast(struct cb_rsv *r, const cb_ticket *t);

/* Lane l's slack for the recount: 1 if its window is open (one writer:
 * never more than one operation in flight), else 0. */
static inline uint32_t cb_lane_slack(uint32_t seq)
{
	return CB_SEQ_INFLIGHT(seq) != 0;
}

/* Reset a window word (an entry's S or a lane's S_l): nothing in
 * flight, version + 1 (so a recount that read it before notices).  For
 * its owner's claim, or the broker on an entry or lane whose owner is
 * dead or gone. */
void cb_rsv_seq_reset(_Atomic uint32_t *seq);

/* Client-table entry of this process: claim, free.  Returns 0 or
 * -ENOSPC (table full). */
int cb_rsv_claim(void *slots, pid_t pid, uint64_t start, uint32_t *index,
    uint64_t *owner);
void cb_rsv_unclaim(void *slots, uint32_t index, uint64_t owner);

/* The pool's launch visibility window in ms (60000 if unreadable). */
uint32_t cb_rsv_window_ms(const void *state, int pool);

/* The pool's current limit (pool 0: the capacity), or 0 if inactive. */
uint32_t cb_rsv_limit(const void *state, int pool);

/*
 * One admission attempt (steps 1-4 above).  Returns 0 and fills the
 * ticket, -EAGAIN over the limit, -ENOSPC no free launch entry or local
 * hold slot.
 */
int cb_rsv_try(struct cb_rsv *r, int pool, int kind, uint32_t observed,
    cb_ticket *ticket);

/* Release.  Returns 0, -ESTALE, -EINVAL. */
int cb_rsv_release(struct cb_rsv *r, const cb_ticket *ticket);

/* Release every hold this process still has (cb_close). */
void cb_rsv_release_all(struct cb_rsv *r);

/*
 * For placement (place.h), which binds a hold to a worker inside the
 * same death window: open / close this process's window (steps 1 and
 * 4); inside it, admit and record one hold of pool (steps 2-3;
 * 0, -EAGAIN, or -ETIME when a global pool's share ran out or the hold
 * could not be dated, which needs no wake: still_fits() in lane.h;
 * *date the hold's date, as a ticket keeps it, lane.h) or undo one
 * (H[c,p] - 1, then U from the bucket of date, age.h: 0, 1 when the
 * hold had aged, -ESTALE when H is already 0).  hold_full is the
 * refused attempt's check, which touches nothing shared.
 */
void cb_rsv_window_open(struct cb_rsv *r);
void cb_rsv_window_close(struct cb_rsv *r);
int cb_rsv_hold_full(struct cb_rsv *r, int pool, uint32_t limit);
int cb_rsv_hold_take(struct cb_rsv *r, int pool, uint32_t limit,
    uint32_t *date);
int cb_rsv_hold_give(struct cb_rsv *r, int pool, uint32_t date);

/* Wake reservers blocked on pool p (after anything that frees units). */
void cb_rsv_wake(void *slots, int pool);

/* Decrement one half of U by n, never below zero.  Returns what was
 * subtracted.  In an aging word (age.h) the holds come from its oldest
 * buckets first (their epochs unknown here: the reclaim, the recount's
 * trim, a unit given back undated), and it has no
 * launches.  Inline: a lane's admission gives a unit back with it when
 * the re-check refuses (lib/lane.h), where the constants fold; a
 * release goes through age_put() instead. */
static inline uint32_t cb_rsv_usage_sub(_Atomic uint64_t *usage,
    int launching, uint32_t n)
{
	uint64_t u = atomic_load_explicit(usage, memory_order_relaxed), v;
	uint32_t have, take;
	struct cb_age a;

	do {
		if (__builtin_expect(u & CB_AGE_MARK, 0)) {
			if (launching)
				return 0;
			age_split(u, &a);
			take = age_take_front(&a, n);
			v = age_join(&a);
			continue;
		}
		have = launching ? CB_USAGE_LAUNCHING(u) : CB_USAGE_HELD(u);
		take = n < have ? n : have;
		v = launching ?
		    CB_USAGE(CB_USAGE_HELD(u), have - take) :
		    CB_USAGE(have - take, CB_USAGE_LAUNCHING(u));
	} while (take > 0 && !atomic_compare_exchange_weak_explicit(usage, &u,
	    v, memory_order_seq_cst, memory_order_relaxed));
	return take;
}

/* Count one admission of client entry `client` to pool (batched: abi.h,
 * cb_client_slot.admitted); move all of the entry's unflushed counts to
 * the pools' statistics (cb_close, the reclaim). */
void cb_rsv_count_admitted(void *slots, uint32_t client, int pool);
void cb_rsv_flush_admitted(void *slots, uint32_t client);

/* CAS launch entry ls from exactly w back to FREE, the nonce kept (so
 * a ticket that carries w can never match again).  Returns 1 if this
 * caller won: only the winner may decrement launching.  A release and
 * the sweeper's expiry, settle and reclaim (sweep.h) race here. */
static inline int cb_rsv_launch_free(struct cb_launch_slot *ls, uint64_t w)
{
	return atomic_compare_exchange_strong_explicit(&ls->word, &w,
	    CB_LAUNCH_WORD(CB_LAUNCH_FREE, 0, 0, CB_LAUNCH_NONCE(w)),
	    memory_order_seq_cst, memory_order_relaxed);
}

/*
 * The broker's half of this protocol (the reclaim of a dead client,
 * the scrub of free entries, expiry, settle and the recount described
 * above) runs only in the sweeper thread and lives in sweep.h and
 * lib/sweep_reserve.c, outside libcapbroker.
 */

#endif /* CB_RESERVE_H */
