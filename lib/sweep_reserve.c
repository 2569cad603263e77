/*
 * sweep_reserve.c - the sweeper's half of the reservation protocol
 * (reserve.h has the protocol and the argument for why it is safe;
 * reserve.c the clients' half): reclaim of a dead client, scrub of free
 * client entries, launch expiry and settle, the pool recount.  Linked
 * into capbrokerd and the tests, never into libcapbroker (sweep.h).
 *
 * Orderings: as in reserve.c, every operation on the shared words that
 * the recount snapshots (U, S, H, L) is seq_cst.  The recount's double
 * collect is only sound if "the counter moved" and "a window opened"
 * cannot be observed out of order, and seq_cst is the simplest
 * ordering that says so; the pairs named below are the clients'
 * seq_cst operations in reserve.c that the single total order
 * relates each of ours to.
 *
 * Table sizes are this build's (validation guarantees the segment has
 * at least that many), never the hostile header's.
 */
#include "sweep.h"

#include <errno.h>

#include "place.h"
#include "reserve.h"
#include "slots.h"

/* Free the launch entries dead client `index` was still claiming and
 * give their units back.  Returns the pools it gave units back to, one
 * bit each (6-bit pool field: every pool fits), for the caller's wake. */
static uint64_t reclaim_claims(void *slots, uint32_t index)
{
	uint64_t pools = 0;

	for (uint32_t e = 0; e < CB_MAX_LAUNCHES; e++) {
		struct cb_launch_slot *ls = cb_slots_launch(slots, e);
		/* Pairs with the claimer's seq_cst CAS FREE -> CLAIMING in
		 * claim_launch() (reserve.c). */
		uint64_t w = atomic_load_explicit(&ls->word,
		    memory_order_seq_cst);

		if (CB_LAUNCH_STATE(w) != CB_LAUNCH_CLAIMING ||
		    CB_LAUNCH_CLIENT(w) != (index & 0x3ff) ||
		    !cb_rsv_launch_free(ls, w))
			continue;
		cb_rsv_usage_sub(&cb_slots_pool(slots,
		    (int)CB_LAUNCH_POOL(w))->usage, 1, 1);
		pools |= 1ull << CB_LAUNCH_POOL(w);
	}
	return pools;
}

/*
 * A dead client's records of holds (its entry's H[c,p], or a lane's
 * H_l[p]), each taken to 0 (exchange) before U is lowered by it: the
 * other order, with a broker crash between, subtracts twice.  Pairs
 * with the writers' seq_cst or release stores of the records
 * (try_hold, cb_rsv_hold_take, lane_record) and the recount's loads.
 * Only what was recorded: an open window's unit stays counted (the
 * safe side) for the recount, and a hostile record cannot take more
 * than the counter has.  Returns the units given back.
 */
static long undo_holds(void *slots, _Atomic uint32_t *holds,
    uint32_t *per_pool, uint64_t *woken)
{
	long total = 0;

	for (int p = 0; p < CB_MAX_POOLS; p++) {
		uint32_t h = atomic_exchange_explicit(&holds[p], 0,
		    memory_order_seq_cst);

		if (h == 0)
			continue;
		h = cb_rsv_usage_sub(&cb_slots_pool(slots, p)->usage, 0, h);
		per_pool[p] += h;
		total += h;
		*woken |= 1ull << p;
	}
	return total;
}

/*
 * Is lane word w live: owned, and naming a client entry that still has
 * the owner word the lane was claimed under?  Pairs with the owner
 * CASes of that entry (cb_rsv_claim, cb_rsv_unclaim, the reclaim).
 */
static int lane_live(void *slots, uint64_t w)
{
	uint64_t o;

	if (CB_LANE_PID(w) == 0)
		return 0;
	o = atomic_load_explicit(&cb_slots_client(slots,
	    CB_LANE_CLIENT(w))->owner, memory_order_seq_cst);
	return CB_LANE_OF(CB_LANE_CLIENT(w), o) == w;
}

/* The dead client's lanes (word CB_LANE_OF(index, owner)): each one's
 * H_l to 0 (exchange), then U lowered by what it recorded (reserve.h's
 * order: the other, with a broker crash between, subtracts twice),
 * then its window reset and the lane freed by a CAS on its exact
 * word.  Returns the units given back. */
static long reclaim_lanes(void *slots, uint32_t index, uint64_t owner,
    uint32_t *per_pool, uint64_t *woken, int *open)
{
	uint64_t mine = CB_LANE_OF(index, owner);
	long total = 0;

	for (uint32_t l = 0; l < CB_MAX_LANES; l++) {
		struct cb_lane_slot *sl = cb_slots_lane(slots, l);
		uint64_t w = mine;

		/* Pairs with the client's claim CAS (lane_claim_slot). */
		if (atomic_load_explicit(&sl->word, memory_order_seq_cst) !=
		    mine)
			continue;
		total += undo_holds(slots, sl->holds, per_pool, woken);
		/* A window still open: it died inside an operation, maybe
		 * a launch's claim (reclaim_claims). */
		if (CB_SEQ_INFLIGHT(atomic_load_explicit(&sl->seq,
		    memory_order_relaxed)) != 0)
			*open = 1;
		cb_rsv_seq_reset(&sl->seq);
		atomic_compare_exchange_strong_explicit(&sl->word, &w,
		    CB_LANE_WORD(0, 0, 0), memory_order_seq_cst,
		    memory_order_relaxed);
	}
	return total;
}

/*
 * A lane named by no live client: its word names a client entry whose
 * owner word is no longer the one it was claimed under (the client
 * closed, or was reclaimed, and the lane was left owned by a crash in
 * between or by a member's write).  Nobody writes it honestly, so its
 * records go (the recount settles U) and it is freed.  Taken first
 * (CAS to a word naming us), so a client claiming it meanwhile finds
 * it clean or not at all.  Returns 1 if it cleared one.
 */
int cb_rsv_lane_scrub(void *slots, uint32_t l, pid_t self)
{
	struct cb_lane_slot *sl;
	uint64_t w, mine;

	if (l >= CB_MAX_LANES)
		return 0;
	sl = cb_slots_lane(slots, l);
	/* Pairs with the claim CAS (lane_claim_slot, reserve.c). */
	w = atomic_load_explicit(&sl->word, memory_order_seq_cst);
	if (CB_LANE_PID(w) == 0 || lane_live(slots, w))
		return 0;
	mine = CB_LANE_WORD(CB_LANE_CLIENT(w), CB_LANE_GEN(w) + 1,
	    (uint32_t)self);
	if (!atomic_compare_exchange_strong_explicit(&sl->word, &w, mine,
	    memory_order_seq_cst, memory_order_relaxed))
		return 0;
	for (int p = 0; p < CB_MAX_POOLS; p++)
		atomic_store_explicit(&sl->holds[p], 0, memory_order_seq_cst);
	cb_rsv_seq_reset(&sl->seq);
	atomic_compare_exchange_strong_explicit(&sl->word, &mine,
	    CB_LANE_WORD(0, 0, 0), memory_order_seq_cst,
	    memory_order_relaxed);
	return 1;
}

long cb_rsv_reclaim(void *slots, uint32_t index, uint64_t owner,
    uint32_t *per_pool)
{
	struct cb_client_slot *cs = cb_slots_client(slots, index);
	uint64_t o = owner, woken = 0;
	long total;
	int lane_open = 0;

	/* Pairs with the owner CAS of cb_rsv_claim() and cb_rsv_unclaim()
	 * (reserve.c): an entry that changed hands is not ours to undo. */
	if (atomic_load_explicit(&cs->owner, memory_order_seq_cst) != owner)
		return -1;
	/* Its entry's H[c,p] (undo_holds: to 0 before U is lowered). */
	total = undo_holds(slots, cs->holds, per_pool, &woken);
	/* Its lanes: H_l to 0 before U, as above; then the lane is freed,
	 * before the entry (a lane is live only while the entry it names
	 * has its owner word).  The client is dead: nobody writes them. */
	total += reclaim_lanes(slots, index, owner, per_pool, &woken,
	    &lane_open);
	/* Its binds (place.h): before the entry is freed, as the binds
	 * table is partitioned by client index. */
	cb_place_reclaim(slots, index);
	/* Launch entries it was still claiming: it died inside
	 * cb_reserve, so no ticket was returned and nothing launched.
	 * Before the entry is freed: the launch word names the client by
	 * index only.  A claim happens only inside a death window
	 * (try_launch: the entry's S, or one of its lanes' S_l, whose
	 * state reclaim_lanes reported in lane_open before resetting
	 * it), so a client that died with none open has no
	 * CLAIMING entry of its own; one naming it anyway is garbage that
	 * cb_rsv_settle makes LIVE, to expire after its pool's window.
	 * Skipping the walk keeps a mass death at O(clients), not
	 * O(clients x launch entries).  The client is dead: its seqs
	 * are final. */
	if (lane_open || CB_SEQ_INFLIGHT(atomic_load_explicit(&cs->seq,
	    memory_order_relaxed)) != 0)
		woken |= reclaim_claims(slots, index);
	/* Wake, once each, every pool that got units back (held or
	 * launching): blocked reservers may fit now. */
	for (int p = 0; p < CB_MAX_POOLS; p++)
		if (woken & (1ull << p))
			cb_rsv_wake(slots, p);
	cb_rsv_seq_reset(&cs->seq);
	cb_rsv_flush_admitted(slots, index);
	atomic_store_explicit(&cs->start, 0, memory_order_relaxed);
	/* Free the entry last, after every record above is gone.  Pairs
	 * with the next claimer's seq_cst CAS in cb_rsv_claim(), and with
	 * the seq_cst owner loads that judge waiter entries live
	 * (cb_wq_owner_live, queue.h): freeing it kills them. */
	if (!atomic_compare_exchange_strong_explicit(&cs->owner, &o,
	    CB_OWNER(CB_OWNER_GEN(owner), 0), memory_order_seq_cst,
	    memory_order_relaxed))
		return -1;
	return total;
}

int cb_rsv_scrub(void *slots, uint32_t index, uint64_t seen, pid_t self)
{
	uint64_t mine = CB_OWNER(CB_OWNER_GEN(seen) + 1, (uint32_t)self);
	struct cb_client_slot *cs;
	int dirty, junk = 0;

	if (index >= CB_MAX_CLIENTS || CB_OWNER_PID(seen) != 0)
		return 0;
	cs = cb_slots_client(slots, index);
	dirty = CB_SEQ_INFLIGHT(atomic_load_explicit(&cs->seq,
	    memory_order_relaxed)) != 0;
	for (int p = 0; p < CB_MAX_POOLS; p++) {
		dirty |= atomic_load_explicit(&cs->holds[p],
		    memory_order_relaxed) != 0;
		junk |= atomic_load_explicit(&cs->admitted[p],
		    memory_order_relaxed) != 0;
	}
	/* A claimer's fresh counts may make a clean entry look dirty: the
	 * CAS then fails and nothing is touched.  It is the claim CAS of
	 * cb_rsv_claim() (reserve.c), on the same word from the same
	 * `seen`: exactly one of the two wins the entry. */
	if ((!dirty && !junk) ||
	    !atomic_compare_exchange_strong_explicit(&cs->owner, &seen, mine,
	    memory_order_seq_cst, memory_order_relaxed))
		return 0;
	for (int p = 0; p < CB_MAX_POOLS; p++) {
		/* seq_cst like every write of H (reserve.c); the entry is
		 * ours now, and the recount that reads H is this thread. */
		atomic_store_explicit(&cs->holds[p], 0, memory_order_seq_cst);
		atomic_store_explicit(&cs->admitted[p], 0,
		    memory_order_relaxed);
	}
	if (CB_SEQ_INFLIGHT(atomic_load_explicit(&cs->seq,
	    memory_order_relaxed)) != 0)
		cb_rsv_seq_reset(&cs->seq);
	/* Free again, unless a hostile writer has scribbled on the owner
	 * meanwhile: then it is an owned entry the sweeper watches.  Pairs
	 * with the claim CAS of cb_rsv_claim(): a client that claims the
	 * entry after this finds it clean. */
	atomic_compare_exchange_strong_explicit(&cs->owner, &mine,
	    CB_OWNER(CB_OWNER_GEN(mine), 0), memory_order_seq_cst,
	    memory_order_relaxed);
	return dirty;
}

/* Expire one LIVE entry if its deadline passed; else note it. */
static int expire_one(void *slots, struct cb_launch_slot *ls, uint64_t w,
    uint64_t now, uint32_t *per_pool, uint64_t *earliest)
{
	uint64_t d = atomic_load_explicit(&ls->deadline_ns,
	    memory_order_relaxed);
	unsigned p = CB_LAUNCH_POOL(w);

	if (d > now) {
		if (earliest[p] == 0 || d < earliest[p])
			earliest[p] = d;
		return 0;
	}
	if (!cb_rsv_launch_free(ls, w))
		return 0;   /* released meanwhile: the releaser decrements */
	cb_rsv_usage_sub(&cb_slots_pool(slots, (int)p)->usage, 1, 1);
	per_pool[p]++;
	return 1;
}

uint32_t cb_rsv_expire(void *slots, uint64_t now, uint32_t *per_pool,
    uint64_t *earliest)
{
	uint32_t expired = 0;

	for (uint32_t e = 0; e < CB_MAX_LAUNCHES; e++) {
		struct cb_launch_slot *ls = cb_slots_launch(slots, e);
		/* Pairs with the seq_cst CAS CLAIMING -> LIVE in
		 * claim_launch() (reserve.c) or settle_one() below, each
		 * after its deadline store: a LIVE word read here comes
		 * with the deadline expire_one() reads. */
		uint64_t w = atomic_load_explicit(&ls->word,
		    memory_order_seq_cst);

		if (CB_LAUNCH_STATE(w) == CB_LAUNCH_LIVE)
			expired += (uint32_t)expire_one(slots, ls, w, now,
			    per_pool, earliest);
	}
	return expired;
}

/* Slack for a claimer's clock read racing the sweeper's. */
#define DEADLINE_SLACK_NS 1000000000ull

static void settle_one(struct cb_launch_slot *ls, uint64_t w, uint64_t *prev,
    uint64_t deadline)
{
	uint64_t live = CB_LAUNCH_WORD(CB_LAUNCH_LIVE, CB_LAUNCH_POOL(w),
	    CB_LAUNCH_CLIENT(w), CB_LAUNCH_NONCE(w));

	if (*prev != w) {
		*prev = w;     /* give a live claimer one more sweep */
		return;
	}
	/* Stuck: its claimer died between claim and LIVE.  The launch may
	 * have been issued, so it counts until a full window passes. */
	atomic_store_explicit(&ls->deadline_ns, deadline,
	    memory_order_relaxed);
	/* seq_cst: the deadline is visible before LIVE is (pairs with the
	 * expiry's load of the word, cb_rsv_expire).  A CAS against the
	 * claimer's own CLAIMING -> LIVE in claim_launch() (reserve.c):
	 * whichever wins, the word is the same LIVE one. */
	atomic_compare_exchange_strong_explicit(&ls->word, &w, live,
	    memory_order_seq_cst, memory_order_relaxed);
	*prev = 0;
}

uint32_t cb_rsv_settle(void *slots, uint64_t now, const uint32_t *window_ms,
    uint64_t *prev)
{
	uint32_t fixed = 0;

	for (uint32_t e = 0; e < CB_MAX_LAUNCHES; e++) {
		struct cb_launch_slot *ls = cb_slots_launch(slots, e);
		/* Pairs with the claimer's seq_cst CASes in claim_launch()
		 * (reserve.c) and cb_rsv_launch_free()'s. */
		uint64_t w = atomic_load_explicit(&ls->word,
		    memory_order_seq_cst);
		unsigned p = CB_LAUNCH_POOL(w);
		uint64_t window = (uint64_t)window_ms[p] * 1000000u;

		/* No such pool: nothing could have admitted it. */
		if (CB_LAUNCH_STATE(w) != CB_LAUNCH_FREE && window == 0) {
			cb_rsv_launch_free(ls, w);
			prev[e] = 0;
			fixed++;
			continue;
		}
		switch (CB_LAUNCH_STATE(w)) {
		case CB_LAUNCH_CLAIMING:
			settle_one(ls, w, &prev[e], now + window);
			continue;
		case CB_LAUNCH_LIVE:
			/* Later than one window from now: garbage, or the
			 * window was shortened.  Either way, one window. */
			if (atomic_load_explicit(&ls->deadline_ns,
			    memory_order_relaxed) > now + window +
			    DEADLINE_SLACK_NS) {
				atomic_store_explicit(&ls->deadline_ns,
				    now + window, memory_order_relaxed);
				fixed++;
			}
			break;
		case CB_LAUNCH_FREE:
			break;
		default:
			/* Not a state we write: never admitted, free it (the
			 * recount settles the counter). */
			cb_rsv_launch_free(ls, w);
			fixed++;
			break;
		}
		prev[e] = 0;
	}
	return fixed;
}

/*
 * One collect of the records of pool p: sum of H over owned entries,
 * live launch entries, and the operations in flight (open windows, at
 * most CB_RSV_INFLIGHT_MAX per entry: cb_rsv_slack).
 * Every load is seq_cst: each pairs with the client's seq_cst write of
 * the same word (reserve.c: window_open/window_close on S, the claim
 * and unclaim CAS on the owner, the H updates of try_hold, holds_dec
 * and cb_rsv_release_all, the launch word CASes of claim_launch and
 * cb_rsv_launch_free), so that, with the loads of U around the collect,
 * any operation that overlaps it shows in U or in S.
 */
static void collect(void *slots, int pool, uint32_t *seqs,
    uint32_t *lane_seqs, uint64_t *held, uint64_t *launching,
    uint64_t *inflight)
{
	*held = *launching = *inflight = 0;
	for (uint32_t i = 0; i < CB_MAX_CLIENTS; i++) {
		struct cb_client_slot *cs = cb_slots_client(slots, i);

		seqs[i] = atomic_load_explicit(&cs->seq, memory_order_seq_cst);
		if (CB_OWNER_PID(atomic_load_explicit(&cs->owner,
		    memory_order_seq_cst)) == 0)
			continue;
		*inflight += cb_rsv_slack(seqs[i]);
		*held += atomic_load_explicit(&cs->holds[pool],
		    memory_order_seq_cst);
	}
	/* Lanes (reserve.h, "Lanes"): each S_l before its H_l.  seq_cst
	 * (acquire would do): a record read here comes with the window
	 * open before it and with U after the CAS it follows, pairing
	 * with the lane writer's release stores of H_l and S_l and with
	 * its CAS on U (lane_hold_locked, lane_release_locked in
	 * reserve.c).  Only live lanes count, as only owned client
	 * entries do: a free lane, or one whose word no longer matches the
	 * owner word of the entry it names (the scrub frees it), has no
	 * honest writer. */
	for (uint32_t l = 0; l < CB_MAX_LANES; l++) {
		struct cb_lane_slot *sl = cb_slots_lane(slots, l);
		uint64_t w;

		lane_seqs[l] = atomic_load_explicit(&sl->seq,
		    memory_order_seq_cst);
		w = atomic_load_explicit(&sl->word, memory_order_seq_cst);
		if (!lane_live(slots, w))
			continue;
		*inflight += cb_lane_slack(lane_seqs[l]);
		*held += atomic_load_explicit(&sl->holds[pool],
		    memory_order_seq_cst);
	}
	for (uint32_t e = 0; e < CB_MAX_LAUNCHES; e++) {
		uint64_t w = atomic_load_explicit(
		    &cb_slots_launch(slots, e)->word, memory_order_seq_cst);

		if (CB_LAUNCH_STATE(w) != CB_LAUNCH_FREE &&
		    CB_LAUNCH_POOL(w) == (unsigned)pool)
			(*launching)++;
	}
}

/* The second collect of every S_l: pairs with the lane writers'
 * stores of S_l (relaxed open, ordered by the CAS on U that follows;
 * release close), as cb_rsv_seqs_unchanged does for S[c]. */
static int lane_seqs_unchanged(void *slots, const uint32_t *lane_seqs)
{
	for (uint32_t l = 0; l < CB_MAX_LANES; l++)
		if (atomic_load_explicit(&cb_slots_lane(slots, l)->seq,
		    memory_order_seq_cst) != lane_seqs[l])
			return 0;
	return 1;
}

int cb_rsv_seqs_unchanged(void *slots, const uint32_t *seqs)
{
	for (uint32_t i = 0; i < CB_MAX_CLIENTS; i++)
		/* The second collect of S: pairs with the seq_cst RMWs of
		 * window_open() and window_close() (reserve.c). */
		if (atomic_load_explicit(&cb_slots_client(slots, i)->seq,
		    memory_order_seq_cst) != seqs[i])
			return 0;
	return 1;
}

/*
 * The corrected value of one half of U (or of a worker counter).  An
 * open window may stand for one unit admitted but not yet recorded, or
 * recorded-removed but not yet released: either way the counter above
 * the records, by at most one unit per window.  So an excess is trimmed
 * only beyond `inflight`, and a deficit (impossible for honest clients)
 * is always filled.
 */
uint32_t cb_rsv_corrected(uint32_t counter, uint64_t records,
    uint64_t inflight)
{
	uint64_t v = counter;

	if (v < records)
		v = records;
	else if (v > records + inflight)
		v = records + inflight;
	return v > 0xffffffffu ? 0xffffffffu : (uint32_t)v;
}

int cb_rsv_recount(void *slots, int pool, struct cb_sweep_scratch *sc,
    int64_t *held_drift, int64_t *launch_drift)
{
	_Atomic uint64_t *usage = &cb_slots_pool(slots, pool)->usage;
	uint64_t u1, u2, held, launching, inflight, h, l, fixed;
	uint32_t lraw;
	int aging;

	/* u1 and u2 pair with every seq_cst CAS on U: admit() and
	 * cb_rsv_usage_sub() (reserve.c), and the broker's own. */
	u1 = atomic_load_explicit(usage, memory_order_seq_cst);
	collect(slots, pool, sc->seqs, sc->lane_seqs, &held, &launching,
	    &inflight);
	u2 = atomic_load_explicit(usage, memory_order_seq_cst);
	if (u1 != u2 || !cb_rsv_seqs_unchanged(slots, sc->seqs) ||
	    !lane_seqs_unchanged(slots, sc->lane_seqs))
		return -EAGAIN;
	/* Clamped first: hostile records past 32 bits must not make every
	 * recount "repair" a counter it cannot change. */
	/* An aging word (age.h) has no launches, and its ages are kept: a
	 * surplus goes from the oldest buckets (as a reclaim's), a deficit
	 * into the current epoch's (counted: the safe side).  A word
	 * marked while launches are recorded was not marked by the
	 * sweeper (it marks none with launches): its high half is read
	 * and repaired as launches, which unmarks it. */
	aging = (u1 & CB_AGE_MARK) && launching == 0;
	lraw = aging ? 0 : (uint32_t)(u1 >> 32);
	h = cb_rsv_corrected(CB_USAGE_HELD(u1), held, inflight);
	l = cb_rsv_corrected(lraw, launching, inflight);
	*held_drift = (int64_t)CB_USAGE_HELD(u1) - (int64_t)h;
	*launch_drift = (int64_t)lraw - (int64_t)l;
	if (*held_drift == 0 && *launch_drift == 0)
		return 0;
	if (aging) {
		struct cb_age a;

		age_split(u1, &a);
		if (h < a.held)
			age_take_front(&a, a.held - (uint32_t)h);
		else {
			a.cur += (uint32_t)h - a.held;
			a.held = (uint32_t)h;
		}
		fixed = age_join(&a);
	} else
		fixed = CB_USAGE(h, l);
	/* On exactly u1: any admission or release since the first load
	 * (their seq_cst CAS on U, admit() and cb_rsv_usage_sub()) makes
	 * it fail, and the next sweep tries again. */
	if (!atomic_compare_exchange_strong_explicit(usage, &u1, fixed,
	    memory_order_seq_cst, memory_order_relaxed))
		return -EAGAIN;
	return 1;
}

/* Whether any entry of a table of word-first records names `pool`
 * with a state other than FREE (0).  Launch, waiter and bind words
 * share the layout of the low bits: state 2 bits, pool 6 bits. */
static int names_pool(const _Atomic uint64_t *word, int pool)
{
	/* Pairs with the seq_cst CASes that claim and free the entries
	 * (reserve.c, queue.c, place.c). */
	uint64_t w = atomic_load_explicit(word, memory_order_seq_cst);

	return CB_LAUNCH_STATE(w) != 0 &&
	    CB_LAUNCH_POOL(w) == (unsigned)pool;
}

static int entries_name(void *slots, int pool)
{
	for (uint32_t e = 0; e < CB_MAX_WAITERS; e++)
		if (names_pool(&cb_slots_waiter(slots, e)->word, pool))
			return 1;
	for (uint32_t e = 0; e < CB_MAX_BINDS; e++)
		if (names_pool(&cb_slots_bind(slots, e)->word, pool))
			return 1;
	return 0;
}

int cb_rsv_pool_idle(void *slots, int pool, struct cb_sweep_scratch *sc)
{
	_Atomic uint64_t *usage = &cb_slots_pool(slots, pool)->usage;
	uint64_t u1, u2, held, launching, inflight;

	/* The recount's double collect (reserve.h): u1, u2 pair with every
	 * seq_cst CAS on U, the S loads with the windows' seq_cst RMWs. */
	/* An aging word with no holds is idle too (its epoch and the
	 * mark are not use). */
	u1 = atomic_load_explicit(usage, memory_order_seq_cst);
	if (CB_USAGE_HELD(u1) != 0 || CB_USAGE_LAUNCHING(u1) != 0)
		return 0;
	collect(slots, pool, sc->seqs, sc->lane_seqs, &held, &launching,
	    &inflight);
	if (held != 0 || launching != 0 || entries_name(slots, pool) ||
	    atomic_load_explicit(&cb_slots_pool(slots, pool)->queued,
	    memory_order_seq_cst) != 0)
		return 0;
	u2 = atomic_load_explicit(usage, memory_order_seq_cst);
	return u2 == u1 && cb_rsv_seqs_unchanged(slots, sc->seqs) &&
	    lane_seqs_unchanged(slots, sc->lane_seqs);
}

int cb_rsv_age(void *slots, _Atomic uint64_t *age, int pool,
    uint32_t hold_max_s, uint64_t now)
{
	_Atomic uint64_t *usage = &cb_slots_pool(slots, pool)->usage;
	uint64_t u, v, e, eps_ms, published;
	struct cb_age a;
	int ret = 0, same_eps;
	int64_t w;

	/* Every U below is read and CASed seq_cst: as every client's
	 * (admit(), age_put(), cb_rsv_usage_sub()). */
	u = atomic_load_explicit(usage, memory_order_seq_cst);
	if (hold_max_s == 0) {
		while (u & CB_AGE_MARK) {
			v = CB_USAGE(CB_USAGE_HELD(u), 0);
			if (atomic_compare_exchange_weak_explicit(usage, &u, v,
			    memory_order_seq_cst, memory_order_seq_cst)) {
				ret = CB_AGE_MOVED;
				break;
			}
		}
		if (atomic_load_explicit(age, memory_order_relaxed) != 0)
			atomic_store_explicit(age, 0, memory_order_release);
		return ret;
	}
	eps_ms = (uint64_t)hold_max_s * 1000u + CB_AGE_MARGIN_MS;
	e = now / (eps_ms * 1000000u);
	published = atomic_load_explicit(age, memory_order_relaxed);
	same_eps = (uint32_t)published == eps_ms;
	/* A client dates a hold against this (age_dated()): published
	 * before the word is marked in this eps. */
	if (!same_eps)
		atomic_store_explicit(age, e << 32 | eps_ms,
		    memory_order_release);
	for (;;) {
		if (!(u & CB_AGE_MARK)) {
			if (CB_USAGE_LAUNCHING(u) != 0)
				return ret;
			a = (struct cb_age){ .held = CB_USAGE_HELD(u),
			    .cur = CB_USAGE_HELD(u), .e8 = (uint32_t)e };
		} else {
			age_split(u, &a);
			w = age_epoch(u, e);
			if (!same_eps || w > (int64_t)e) {
				a.aged = a.prev = 0;
				a.cur = a.held;
				a.e8 = (uint32_t)e;
				ret |= same_eps ? CB_AGE_RESET : 0;
			} else if (w < (int64_t)e)
				age_advance(&a, (int64_t)e - w, e);
			else
				break;
		}
		v = age_join(&a);
		if (atomic_compare_exchange_weak_explicit(usage, &u, v,
		    memory_order_seq_cst, memory_order_seq_cst)) {
			ret |= CB_AGE_MOVED;
			break;
		}
		ret &= ~CB_AGE_RESET;
	}
	if (published != (e << 32 | eps_ms))
		atomic_store_explicit(age, e << 32 | eps_ms,
		    memory_order_release);
	return ret;
}
