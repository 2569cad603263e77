/*
 * place.c - worker placement (see place.h for the protocol and the
 * argument for why it is safe): the clients' half, and what both
 * halves share.  The sweeper's half (reclaim, settle, recount) is
 * lib/sweep_place.c, never in libcapbroker.
 *
 * Orderings: every access to I, B and S is seq_cst, as in reserve.c
 * (the recount's double collect needs "a counter moved" and "a window
 * opened" to be observed in order).  The worker table is read with the
 * seqlock reader protocol (seqlock.h); its acquire loads pair with the
 * publisher's seqlock writes.
 */
#include "place.h"

#include <errno.h>
#include <sched.h>
#include <string.h>

#include "segment.h"
#include "seqlock.h"
#include "slots.h"
#include "testpoint.h"

/* The ticket kind of a bind (reserve.c uses 1 hold, 2 launch). */
#define TICKET_BIND 3
/* Choose-and-CAS rounds before a pick gives up (-EAGAIN): each failed
 * round means another picker took the room, or the table changed. */
#define PICK_ROUNDS 1000

int cb_place_policy_valid(int policy)
{
	return policy == CB_PLACE_CONSOLIDATE || policy == CB_PLACE_SPREAD ||
	    policy == CB_PLACE_LEAST_LOADED;
}

int cb_place_better(int policy, uint32_t a_inflight, uint32_t a_limit,
    uint32_t b_inflight, uint32_t b_limit)
{
	uint64_t a_room = a_inflight < a_limit ? a_limit - a_inflight : 0;
	uint64_t b_room = b_inflight < b_limit ? b_limit - b_inflight : 0;

	switch (policy) {
	case CB_PLACE_CONSOLIDATE:
		return a_inflight > b_inflight;
	case CB_PLACE_SPREAD:
		/* a_room / a_limit > b_room / b_limit, exactly: 64-bit
		 * cross products of 32-bit values cannot overflow. */
		return a_room * b_limit > b_room * a_limit;
	case CB_PLACE_LEAST_LOADED:
		return a_inflight < b_inflight;
	default:
		return 0;
	}
}

uint32_t cb_place_inflight(const void *slots, uint32_t slot)
{
	if (slot >= CB_MAX_WORKERS)
		return 0;
	return atomic_load_explicit(&cb_slots_worker(slots, slot)->inflight,
	    memory_order_seq_cst);
}

/* ---- reading the published worker table ----------------------------- */

static uint32_t table_count(const void *state)
{
	const struct cb_seg_header *h = state;
	const struct cb_worker_table *t = cb_seg_region(state, CB_RS_WORKERS);
	uint32_t n = __atomic_load_n(&t->count, __ATOMIC_RELAXED);

	/* count is only trusted once the sequence check passed, and is
	 * bounded here so a torn value cannot send us past the table. */
	if (n > h->region[CB_RS_WORKERS].count)
		n = h->region[CB_RS_WORKERS].count;
	return n > CB_MAX_WORKERS ? CB_MAX_WORKERS : n;
}

static void record_copy(const void *state, uint32_t i,
    struct cb_worker_rec *out)
{
	cb_seq_copy_out(out, cb_seg_record(state, CB_RS_WORKERS,
	    sizeof(struct cb_worker_table), i), sizeof(*out));
}

/* The choice of one pass over the table. */
struct pick {
	uint32_t seq;                /* table sequence the pass saw */
	uint32_t slot, limit, inflight;
	char id[CB_WORKER_ID_MAX + 1];
};

/*
 * One pass: the best ready worker with room under policy, with live
 * counts.  Returns 1 (best filled), 0 ready workers but none with room,
 * -ENOENT no ready worker, -1 torn (retry).
 */
static int choose_pass(const void *state, const void *slots, int policy,
    uint32_t s, struct pick *best)
{
	/* Initialised for the compiler, which cannot see that
	 * cb_seq_copy_out fills it. */
	struct cb_worker_rec rec = { .state = 0 };
	uint32_t n = table_count(state), ready = 0, found = 0;

	for (uint32_t i = 0; i < n; i++) {
		record_copy(state, i, &rec);
		if (rec.state != CB_WORKER_READY)
			continue;
		ready++;
		if (rec.slot >= CB_MAX_WORKERS || rec.limit == 0)
			continue;
		uint32_t in = cb_place_inflight(slots, rec.slot);

		if (in >= rec.limit || (found && !cb_place_better(policy, in,
		    rec.limit, best->inflight, best->limit)))
			continue;
		found = 1;
		best->slot = rec.slot;
		best->limit = rec.limit;
		best->inflight = in;
		memcpy(best->id, rec.id, sizeof(best->id));
	}
	const struct cb_worker_table *t = cb_seg_region(state, CB_RS_WORKERS);
	if (cb_seqlock_read_retry(&t->seq, s))
		return -1;
	best->seq = s;
	best->id[CB_WORKER_ID_MAX] = '\0';
	return found ? 1 : ready ? 0 : -ENOENT;
}

/* The seqlock reader loop around choose_pass(); -EAGAIN when no
 * stable copy was seen (a publisher died mid-write). */
static int choose(const void *state, const void *slots, int policy,
    struct pick *best)
{
	const struct cb_worker_table *t = cb_seg_region(state, CB_RS_WORKERS);

	for (int i = 0; i < CB_SEQLOCK_TRIES; i++) {
		uint32_t s = cb_seqlock_read_begin(&t->seq);
		int r = (s & 1) ? -1 : choose_pass(state, slots, policy, s,
		    best);

		if (r != -1)
			return r;
		if (i > 16)
			sched_yield();
	}
	return -EAGAIN;
}

int cb_place_find(const void *state, const char *id,
    struct cb_worker_rec *out)
{
	const struct cb_worker_table *t = cb_seg_region(state, CB_RS_WORKERS);

	for (int i = 0; i < CB_SEQLOCK_TRIES; i++) {
		uint32_t s = cb_seqlock_read_begin(&t->seq), n;
		int found = 0;

		if (s & 1)
			continue;
		n = table_count(state);
		for (uint32_t k = 0; k < n && !found; k++) {
			record_copy(state, k, out);
			out->id[CB_WORKER_ID_MAX] = '\0';
			found = strcmp(out->id, id) == 0;
		}
		if (!cb_seqlock_read_retry(&t->seq, s))
			return found ? 0 : -ENOENT;
		if (i > 16)
			sched_yield();
	}
	return -EAGAIN;
}

/*
 * After the CAS on I[w]: is the choice still good?  If the table was
 * not republished since the pass, yes; else the worker must still be
 * ready under the same slot (a worker turned draining, or deleted and
 * its slot handed on, must not get the bind).
 */
static int still_current(const void *state, const struct pick *p)
{
	const struct cb_worker_table *t = cb_seg_region(state, CB_RS_WORKERS);
	struct cb_worker_rec rec;

	if (atomic_load_explicit(&t->seq, memory_order_seq_cst) == p->seq)
		return 1;
	return cb_place_find(state, p->id, &rec) == 0 &&
	    rec.state == CB_WORKER_READY && rec.slot == p->slot;
}

/* ---- the worker counter and the binds table ------------------------- */

/* Step 3: I[w] + 1 iff it stays within limit. */
static int worker_admit(struct cb_worker_slot *ws, uint32_t limit)
{
	uint32_t v = atomic_load_explicit(&ws->inflight, memory_order_relaxed);

	do {
		if ((uint64_t)v + 1 > limit)
			return -EAGAIN;
	} while (!atomic_compare_exchange_weak_explicit(&ws->inflight, &v,
	    v + 1, memory_order_seq_cst, memory_order_relaxed));
	return 0;
}

/* I[w] - 1, never below zero (a hostile or recounted value). */
static void worker_sub(struct cb_worker_slot *ws)
{
	uint32_t v = atomic_load_explicit(&ws->inflight, memory_order_relaxed);

	do {
		if (v == 0)
			return;
	} while (!atomic_compare_exchange_weak_explicit(&ws->inflight, &v,
	    v - 1, memory_order_seq_cst, memory_order_relaxed));
}

/* Step 4: claim a free entry of this client's partition.  Returns its
 * index and the BOUND word, or -ENOSPC. */
static long bind_claim(struct cb_rsv *r, int pool, uint32_t slot,
    uint64_t *word)
{
	uint32_t base = r->client * CB_BINDS_PER_CLIENT;
	uint32_t first = (uint32_t)atomic_load_explicit(&r->nonce,
	    memory_order_relaxed) % CB_BINDS_PER_CLIENT;

	for (uint32_t k = 0; k < CB_BINDS_PER_CLIENT; k++) {
		uint32_t e = base + (first + k) % CB_BINDS_PER_CLIENT;
		struct cb_bind_slot *b = cb_slots_bind(r->slots, e);
		uint64_t w = atomic_load_explicit(&b->word,
		    memory_order_relaxed);
		uint64_t bound = CB_BIND_WORD(CB_BIND_BOUND, pool, slot,
		    CB_BIND_NONCE(w) + 1);

		if (CB_BIND_STATE(w) == CB_BIND_FREE &&
		    atomic_compare_exchange_strong_explicit(&b->word, &w,
		    bound, memory_order_seq_cst, memory_order_relaxed)) {
			/* Spreads the next claim's first probe. */
			atomic_fetch_add_explicit(&r->nonce, 1,
			    memory_order_relaxed);
			*word = bound;
			return e;
		}
	}
	return -ENOSPC;
}

/* ---- picking -------------------------------------------------------- */

/*
 * Steps 3-4, inside the window, the pool hold taken: bind to p's
 * choice, or choose again while other pickers take the room.
 */
static int bind_worker(struct cb_rsv *r, int pool, int policy,
    struct pick *p, uint32_t *entry, uint64_t *word)
{
	for (int round = 0; round < PICK_ROUNDS; round++) {
		struct cb_worker_slot *ws = cb_slots_worker(r->slots, p->slot);
		int ret;

		if (worker_admit(ws, p->limit) == 0) {
			if (still_current(r->state, p)) {
				long e = bind_claim(r, pool, p->slot, word);

				if (e < 0) {
					worker_sub(ws);
					return -ENOSPC;
				}
				*entry = (uint32_t)e;
				return 0;
			}
			worker_sub(ws);
		}
		ret = choose(r->state, r->slots, policy, p);
		if (ret <= 0)
			return ret == 0 ? -EAGAIN : ret;
	}
	return -EAGAIN;
}

int cb_place_ticket(const cb_ticket *t)
{
	return (t->opaque[0] & 0xff) == TICKET_BIND;
}

static void ticket_make(cb_ticket *t, int pool, uint32_t client,
    uint32_t entry, uint64_t word)
{
	t->opaque[0] = (uint64_t)TICKET_BIND | (uint64_t)pool << 8 |
	    (uint64_t)(client & 0xffff) << 16 | (uint64_t)entry << 32;
	t->opaque[1] = word;
}

int cb_place_try(struct cb_rsv *r, int pool, int policy, cb_ticket *t,
    char *id)
{
	uint32_t limit = cb_rsv_limit(r->state, pool), entry = 0;
	uint64_t word = 0;
	struct pick p;
	int ret;

	/* Step 0: a refused attempt writes nothing shared. */
	ret = choose(r->state, r->slots, policy, &p);
	if (ret <= 0)
		return ret == 0 ? -EAGAIN : ret;
	if (cb_rsv_hold_full(r, pool, limit))
		return -EAGAIN;
	cb_rsv_window_open(r);
	CB_TESTPOINT("place:before-cas");
	/* limit was read before the scan; hold_take re-checks it after its
	 * CAS (a lower limit published meanwhile refuses us, reserve.h). */
	ret = cb_rsv_hold_take(r, pool, limit);
	if (ret == 0) {
		ret = bind_worker(r, pool, policy, &p, &entry, &word);
		if (ret < 0)
			cb_rsv_hold_give(r, pool);
	}
	cb_rsv_window_close(r);
	if (ret < 0) {
		/* The unit we held for a moment may have refused someone. */
		cb_rsv_wake(r->slots, pool);
		return ret;
	}
	atomic_fetch_add_explicit(&cb_slots_worker(r->slots, p.slot)->picks, 1,
	    memory_order_relaxed);
	ticket_make(t, pool, r->client, entry, word);
	memcpy(id, p.id, sizeof(p.id));
	return 0;
}

/* ---- releasing ------------------------------------------------------ */

static int stale(struct cb_rsv *r, int pool)
{
	struct cb_pool_slot *ps = cb_slots_pool(r->slots, pool);

	atomic_fetch_add_explicit(&ps->stale_releases, 1,
	    memory_order_relaxed);
	return -ESTALE;
}

int cb_place_release(struct cb_rsv *r, const cb_ticket *t)
{
	int pool = (int)((t->opaque[0] >> 8) & 0xff);
	uint32_t client = (uint32_t)((t->opaque[0] >> 16) & 0xffff);
	uint32_t e = (uint32_t)(t->opaque[0] >> 32);
	uint64_t w = t->opaque[1];
	int won, held = 0;

	/* Only the handle that picked: its entry, its partition. */
	if (pool >= CB_MAX_POOLS || client != (r->client & 0xffff) ||
	    e >= CB_MAX_BINDS || e / CB_BINDS_PER_CLIENT != r->client ||
	    CB_BIND_STATE(w) != CB_BIND_BOUND ||
	    CB_BIND_POOL(w) != (unsigned)pool)
		return -EINVAL;
	cb_rsv_window_open(r);
	won = cb_place_bind_free(cb_slots_bind(r->slots, e), w);
	if (won) {
		worker_sub(cb_slots_worker(r->slots, CB_BIND_WORKER(w)));
		held = cb_rsv_hold_give(r, pool) == 0;
	}
	cb_rsv_window_close(r);
	if (!won || !held)
		return stale(r, pool);
	cb_rsv_wake(r->slots, pool);
	return 0;
}

uint32_t cb_place_free_partition(void *slots, uint32_t client, int broker)
{
	uint32_t base = client * CB_BINDS_PER_CLIENT, n = 0;

	if (client >= CB_MAX_CLIENTS)
		return 0;
	for (uint32_t k = 0; k < CB_BINDS_PER_CLIENT; k++) {
		struct cb_bind_slot *b = cb_slots_bind(slots, base + k);
		uint64_t w = atomic_load_explicit(&b->word,
		    memory_order_seq_cst);
		struct cb_worker_slot *ws;

		if (CB_BIND_STATE(w) != CB_BIND_BOUND ||
		    !cb_place_bind_free(b, w))
			continue;
		ws = cb_slots_worker(slots, CB_BIND_WORKER(w));
		worker_sub(ws);
		if (broker)
			atomic_fetch_add_explicit(&ws->reclaimed, 1,
			    memory_order_relaxed);
		n++;
	}
	return n;
}

uint32_t cb_place_release_all(void *slots, uint32_t client)
{
	return cb_place_free_partition(slots, client, 0);
}
