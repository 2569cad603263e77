/*
 * sweep_place.c - the sweeper's half of worker placement (place.h has
 * the protocol and the argument for why it is safe; place.c the
 * clients' half): reclaim of a dead client's binds, settle of garbage
 * bind entries, the worker-counter recount.  Linked into capbrokerd
 * and the tests, never into libcapbroker (sweep.h).
 *
 * Orderings: as in place.c, every access to I, B and S is seq_cst (the
 * recount's double collect needs "a counter moved" and "a window
 * opened" to be observed in order); the pairs named below are the
 * pickers' seq_cst operations in place.c and reserve.c.
 */
#include "sweep.h"

#include <errno.h>
#include <string.h>

#include "place.h"
#include "reserve.h"
#include "slots.h"

uint32_t cb_place_reclaim(void *slots, uint32_t client)
{
	return cb_place_free_partition(slots, client, 1);
}

uint32_t cb_place_settle(void *slots, uint64_t active)
{
	uint32_t fixed = 0;

	for (uint32_t e = 0; e < CB_MAX_BINDS; e++) {
		struct cb_bind_slot *b = cb_slots_bind(slots, e);
		/* Pairs with the picker's seq_cst CASes FREE -> BOUND in
		 * bind_claim(), FREE -> PICKING in picker_enter(),
		 * PICKING -> BOUND in record_bind() (place.c) and
		 * cb_place_bind_free()'s. */
		uint64_t w = atomic_load_explicit(&b->word,
		    memory_order_seq_cst), o;

		if (CB_BIND_STATE(w) == CB_BIND_FREE)
			continue;
		/* Read after the word: a client entry free now was free
		 * when it still had this bind, which no honest path leaves
		 * behind (place.h).  A live owner's new binds are new
		 * words, which the CAS below cannot match.  Pairs with the
		 * seq_cst owner CAS that frees the entry (cb_rsv_unclaim,
		 * cb_rsv_reclaim), which an honest client or the reclaim
		 * makes only after freeing the partition's binds. */
		o = atomic_load_explicit(&cb_slots_client(slots,
		    e / CB_BINDS_PER_CLIENT)->owner, memory_order_seq_cst);
		if ((CB_BIND_STATE(w) == CB_BIND_BOUND ||
		    CB_BIND_STATE(w) == CB_BIND_PICKING) &&
		    (active & (1ull << CB_BIND_POOL(w))) &&
		    CB_OWNER_PID(o) != 0)
			continue;
		fixed += (uint32_t)cb_place_bind_free(b, w);
	}
	return fixed;
}

/*
 * The recount's collect: every S[c] (into sc->seqs), the BOUND entries
 * per worker (sc->records), the PICKING entries per pool (picking), and
 * the open windows of owned entries (at most CB_RSV_INFLIGHT_MAX each:
 * cb_rsv_slack).
 * Each seq_cst load pairs with the clients' seq_cst write of the same
 * word: window_open/window_close on S and the owner CASes (reserve.c),
 * bind_claim(), picker_enter(), record_bind() and cb_place_bind_free()
 * on B (place.c).
 */
static uint64_t collect(void *slots, struct cb_sweep_scratch *sc,
    uint32_t *picking)
{
	uint64_t inflight = 0;

	for (uint32_t c = 0; c < CB_MAX_CLIENTS; c++) {
		struct cb_client_slot *cs = cb_slots_client(slots, c);

		sc->seqs[c] = atomic_load_explicit(&cs->seq,
		    memory_order_seq_cst);
		if (CB_OWNER_PID(atomic_load_explicit(&cs->owner,
		    memory_order_seq_cst)) != 0)
			inflight += cb_rsv_slack(sc->seqs[c]);
	}
	memset(sc->records, 0, sizeof(sc->records));
	for (uint32_t e = 0; e < CB_MAX_BINDS; e++) {
		uint64_t w = atomic_load_explicit(
		    &cb_slots_bind(slots, e)->word, memory_order_seq_cst);

		if (CB_BIND_STATE(w) == CB_BIND_BOUND)
			sc->records[CB_BIND_WORKER(w)]++;
		else if (CB_BIND_STATE(w) == CB_BIND_PICKING)
			picking[CB_BIND_POOL(w)]++;
	}
	return inflight;
}

/* Bring one pickers count into [records, records + inflight] by a CAS
 * on exactly u, its value before the collect (unmoved since: moved is
 * 0).  1 if corrected. */
static int pickers_fix(_Atomic uint32_t *v, uint32_t u, int moved,
    uint64_t records, uint64_t inflight)
{
	uint32_t want = cb_rsv_corrected(u, records, inflight);

	/* Pairs with the pickers' seq_cst raise and lower (picker_enter,
	 * pickers_sub in place.c): one since the first load fails it. */
	return !moved && want != u &&
	    atomic_compare_exchange_strong_explicit(v, &u, want,
	    memory_order_seq_cst, memory_order_relaxed);
}

/*
 * The pickers counts P[p] and G against the PICKING records (place.h):
 * a picker killed between its raise and its record left them high.
 * Read before and after the collect; consistent iff unmoved and no S
 * moved (the caller checked S).
 */
static int pickers_recount(void *slots, const uint32_t *p1, uint32_t g1,
    const uint32_t *picking, uint64_t inflight)
{
	_Atomic uint32_t *g = &cb_slots_hot(slots)->pickers;
	uint64_t all = 0;
	int fixed = 0;

	for (int p = 0; p < CB_MAX_POOLS; p++) {
		_Atomic uint32_t *v = &cb_slots_pool(slots, p)->pickers;

		all += picking[p];
		fixed += pickers_fix(v, p1[p], atomic_load_explicit(v,
		    memory_order_seq_cst) != p1[p], picking[p], inflight);
	}
	fixed += pickers_fix(g, g1, atomic_load_explicit(g,
	    memory_order_seq_cst) != g1, all, inflight);
	return fixed;
}

int cb_place_recount(void *slots, struct cb_sweep_scratch *sc,
    int64_t *drift)
{
	uint32_t p1[CB_MAX_POOLS], picking[CB_MAX_POOLS] = { 0 }, g1;
	uint64_t inflight;
	int fixed = 0;

	/* The loads of I[w] before and after the collect pair with the
	 * pickers' and releasers' seq_cst CASes on it (worker_admit,
	 * worker_sub in place.c); those of P[p] and G with the pickers'
	 * raise and lower (picker_enter, pickers_sub). */
	for (uint32_t w = 0; w < CB_MAX_WORKERS; w++)
		sc->u1[w] = atomic_load_explicit(&cb_slots_worker(slots,
		    w)->inflight, memory_order_seq_cst);
	for (int p = 0; p < CB_MAX_POOLS; p++)
		p1[p] = atomic_load_explicit(&cb_slots_pool(slots, p)->pickers,
		    memory_order_seq_cst);
	g1 = atomic_load_explicit(&cb_slots_hot(slots)->pickers,
	    memory_order_seq_cst);
	inflight = collect(slots, sc, picking);
	for (uint32_t w = 0; w < CB_MAX_WORKERS; w++) {
		drift[w] = 0;
		/* Moved during the collect: this worker next time. */
		sc->moved[w] = atomic_load_explicit(&cb_slots_worker(slots,
		    w)->inflight, memory_order_seq_cst) != sc->u1[w];
	}
	if (!cb_rsv_seqs_unchanged(slots, sc->seqs))
		return -EAGAIN;
	fixed += pickers_recount(slots, p1, g1, picking, inflight);
	for (uint32_t w = 0; w < CB_MAX_WORKERS; w++) {
		struct cb_worker_slot *ws = cb_slots_worker(slots, w);
		uint32_t u = sc->u1[w], want;

		if (sc->moved[w])
			continue;
		want = cb_rsv_corrected(u, sc->records[w], inflight);
		/* On exactly u1[w]: a pick or release since the first load
		 * (its seq_cst CAS in worker_admit or worker_sub) makes it
		 * fail, and the next sweep tries again. */
		if (want == u || !atomic_compare_exchange_strong_explicit(
		    &ws->inflight, &u, want, memory_order_seq_cst,
		    memory_order_relaxed))
			continue;
		drift[w] = (int64_t)sc->u1[w] - (int64_t)want;
		atomic_fetch_add_explicit(&ws->repaired, 1,
		    memory_order_relaxed);
		fixed++;
	}
	return fixed;
}
