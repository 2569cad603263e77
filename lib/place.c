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
#include <limits.h>
#include <sched.h>
#include <string.h>

#include "clock.h"
#include "futex.h"
#include "lane.h"
#include "segment.h"
#include "seqlock.h"
#include "slots.h"
#include "testpoint.h"

/* The ticket kind of a bind (reserve.c uses 1 hold, 2 launch). */
#define TICKET_BIND 3
/* Choose-and-CAS rounds before a pick gives up (-EAGAIN): each failed
 * round means another picker took the room, or the table changed. */
#define PICK_ROUNDS 1000
/* The sleep of a picker with no record (its bind partition full), which
 * nobody counts: the poll of old. */
#define PICK_SLICE_MS 10

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

/* ---- blocked pickers' counts (place.h) --------------------------- */

/*
 * A blocked picker's record (cb_place_wait): the PICKING entry it
 * holds while counted, which its admission turns into its bind, so
 * that a partition with one entry free admits a picker that waited in
 * it (the record is not a second entry it needs).
 */
struct picker_rec {
	long entry;             /* -1: none (it waits uncounted) */
	uint64_t word;          /* the PICKING word */
	int consumed;           /* turned BOUND, counts lowered */
};

/* P[p] - 1 and G - 1, saturating (a hostile or repaired count). */
static void dec_sat(_Atomic uint32_t *v)
{
	uint32_t n = atomic_load_explicit(v, memory_order_relaxed);

	do {
		if (n == 0)
			return;
	} while (!atomic_compare_exchange_weak_explicit(v, &n, n - 1,
	    memory_order_seq_cst, memory_order_relaxed));
}

static void pickers_sub(void *slots, int pool)
{
	dec_sat(&cb_slots_pool(slots, pool)->pickers);
	dec_sat(&cb_slots_hot(slots)->pickers);
}

/*
 * Step 4 for a blocked picker: its own record, from exactly its
 * PICKING word to BOUND (a record the settle freed fails: claim another
 * entry then), and its counts lowered after it, still inside the
 * window: P[p] and G never count fewer than the records (place.h).
 */
static long record_bind(struct cb_rsv *r, int pool, uint32_t slot,
    struct picker_rec *rec, uint64_t *word)
{
	uint64_t w = rec->word;
	uint64_t bound = CB_BIND_WORD(CB_BIND_BOUND, pool, slot,
	    CB_BIND_NONCE(w) + 1);

	/* seq_cst: as bind_claim's CAS (the recount and reclaim read it). */
	if (!atomic_compare_exchange_strong_explicit(&cb_slots_bind(r->slots,
	    (uint32_t)rec->entry)->word, &w, bound, memory_order_seq_cst,
	    memory_order_relaxed))
		return -ENOSPC;
	pickers_sub(r->slots, pool);
	rec->consumed = 1;
	*word = bound;
	return rec->entry;
}

/* Step 4: claim a free entry of this client's partition (a blocked
 * picker's own record first).  Returns its index and the BOUND word, or
 * -ENOSPC. */
static long bind_claim(struct cb_rsv *r, int pool, uint32_t slot,
    struct picker_rec *rec, uint64_t *word)
{
	uint32_t base = r->client * CB_BINDS_PER_CLIENT;
	uint32_t first = (uint32_t)atomic_load_explicit(&r->nonce,
	    memory_order_relaxed) % CB_BINDS_PER_CLIENT;

	if (rec != NULL && rec->entry >= 0 &&
	    record_bind(r, pool, slot, rec, word) >= 0)
		return rec->entry;
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
    struct pick *p, struct picker_rec *rec, uint32_t *entry, uint64_t *word)
{
	for (int round = 0; round < PICK_ROUNDS; round++) {
		struct cb_worker_slot *ws = cb_slots_worker(r->slots, p->slot);
		int ret;

		if (worker_admit(ws, p->limit) == 0) {
			if (still_current(r->state, p)) {
				long e = bind_claim(r, pool, p->slot, rec,
				    word);

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

/*
 * A bind's ticket: opaque[0] the kind, pool, client and entry (< 2^18,
 * bits 32-49), and in its top 14 bits the bound hold's date (lane.h:
 * a global pool's hold is dated by the epoch its admission stored),
 * as the flag BIND_DATED and the epoch's low 13 bits; opaque[1] the
 * bind word.  Read back, the 13 bits are resolved against the
 * published epoch P, to the latest epoch up to P + 1 they fit (the
 * sweeper may move a word before it publishes P): a bound hold more
 * than 8,190 epochs old (2.3 hours at hold_max 1 s, 28 days at 300 s)
 * would be taken for a younger one, from a newer bucket than its own.
 */
#define BIND_ENTRY_BITS 18
#define BIND_DATE_SHIFT 50
#define BIND_DATED (1u << 13)
_Static_assert(CB_MAX_BINDS <= 1u << BIND_ENTRY_BITS &&
    32 + BIND_ENTRY_BITS <= BIND_DATE_SHIFT, "bind entry overlaps the date");

static void ticket_make(cb_ticket *t, int pool, uint32_t client,
    uint32_t entry, uint64_t word, uint32_t date)
{
	t->opaque[0] = (uint64_t)TICKET_BIND | (uint64_t)pool << 8 |
	    (uint64_t)(client & 0xffff) << 16 | (uint64_t)entry << 32;
	if (date & CB_AGE_DATED)
		t->opaque[0] |= (uint64_t)((date & 0x1fffu) | BIND_DATED) <<
		    BIND_DATE_SHIFT;
	t->opaque[1] = word;
}

/* The bound hold's date as age_put() takes it (0: undated); -EINVAL if
 * the date bits are not ones ticket_make() writes.  The age word's
 * acquire load pairs with the sweeper's release stores (abi.h). */
static int ticket_bind_date(const void *state, int pool, const cb_ticket *t,
    uint32_t *date)
{
	uint32_t d = (uint32_t)(t->opaque[0] >> BIND_DATE_SHIFT);
	uint64_t p1, w;

	*date = 0;
	if (d == 0)
		return 0;
	if (!(d & BIND_DATED))
		return -EINVAL;
	p1 = (atomic_load_explicit(&pool_conf(state, pool)->age,
	    memory_order_acquire) >> 32) + 1;
	w = p1 - ((p1 - (d & 0x1fffu)) & 0x1fffu);
	*date = ((uint32_t)w & 0x7fffu) | CB_AGE_DATED;
	return 0;
}

/* One attempt (cb_place_try), for a blocked picker with its record. */
static int place_try(struct cb_rsv *r, int pool, int policy,
    struct picker_rec *rec, cb_ticket *t, char *id)
{
	uint32_t limit = cb_rsv_limit(r->state, pool), entry = 0, date;
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
	ret = cb_rsv_hold_take(r, pool, limit, &date);
	if (ret == 0) {
		ret = bind_worker(r, pool, policy, &p, rec, &entry,
		    &word);
		if (ret < 0)
			cb_rsv_hold_give(r, pool, date);
	}
	cb_rsv_window_close(r);
	if (ret == -ETIME)     /* a share that ran out admits nobody */
		return -EAGAIN;
	if (ret < 0) {
		/* The unit we held for a moment may have refused someone. */
		cb_rsv_wake(r->slots, pool);
		return ret;
	}
	atomic_fetch_add_explicit(&cb_slots_worker(r->slots, p.slot)->picks, 1,
	    memory_order_relaxed);
	ticket_make(t, pool, r->client, entry, word, date);
	memcpy(id, p.id, sizeof(p.id));
	return 0;
}

int cb_place_try(struct cb_rsv *r, int pool, int policy, cb_ticket *t,
    char *id)
{
	return place_try(r, pool, policy, NULL, t, id);
}

/* ---- blocked pickers ------------------------------------------------ */

void cb_place_wake(void *slots, int pool)
{
	struct cb_pool_slot *ps = cb_slots_pool(slots, pool);

	/* The releaser's seq_cst RMW on U or I[w] (or its bump of R[p],
	 * cb_rsv_wake) precedes this load; a picker raises P[p] before it
	 * loads K[p], R[p] and tries (place.h: no lost wake). */
	if (atomic_load_explicit(&ps->pickers, memory_order_seq_cst) == 0)
		return;
	/* One unit, one sleeper: a picker admitted passes the next wake
	 * on (pass_on), one that fails had nothing to take. */
	atomic_fetch_add_explicit(&ps->pick_seq, 1, memory_order_seq_cst);
	cb_futex_wake(&ps->pick_seq, 1);
}

void cb_place_wake_workers(void *slots, int except)
{
	/* Pairs with the pickers' seq_cst G + 1 (picker_enter), as P[p]
	 * does in cb_place_wake. */
	if (atomic_load_explicit(&cb_slots_hot(slots)->pickers,
	    memory_order_seq_cst) == 0)
		return;
	for (int p = 0; p < CB_MAX_POOLS; p++)
		if (p != except)
			cb_place_wake(slots, p);
}

void cb_place_wake_all(void *slots, int pool)
{
	struct cb_pool_slot *ps = cb_slots_pool(slots, pool);

	/* The publisher's release store of the pool's limit (0) and its
	 * definition's seqlock write come first; the bump is seq_cst and
	 * pairs with a picker's seq_cst load of K[p] before its round
	 * (cb_place_wait): one that read K[p] before it returns from
	 * futex_wait at once, one that reads it after sees the tombstone
	 * in its round.  No count to trust (a deletion is rare): always. */
	atomic_fetch_add_explicit(&ps->pick_seq, 1, memory_order_seq_cst);
	cb_futex_wake(&ps->pick_seq, INT_MAX);
}

void cb_place_wake_table(void *slots)
{
	/* An RMW, not a load: the table's seqlock write is a release, not
	 * seq_cst.  Ours comes before a picker's G + 1 in G's modification
	 * order, and that RMW reads from ours (so the new table happens
	 * before the picker's scan), or after it, and reads its G + 1 (so
	 * the picker's P[p] + 1 happens before our load of P[p]). */
	if (atomic_fetch_add_explicit(&cb_slots_hot(slots)->pickers, 0,
	    memory_order_seq_cst) == 0)
		return;
	for (int p = 0; p < CB_MAX_POOLS; p++)
		cb_place_wake(slots, p);
}

/*
 * Enter: counted, then a record, a PICKING entry of its own partition,
 * claimed after the counts were raised (so P[p] and G never count fewer
 * than the records of live pickers).  Inside one window, so the
 * recount's snapshot allows for a picker between the two steps.  No
 * free entry: the counts go down again and it waits uncounted
 * (rec->entry -1).
 */
static void picker_enter(struct cb_rsv *r, int pool, struct picker_rec *rec)
{
	struct cb_pool_slot *ps = cb_slots_pool(r->slots, pool);
	uint32_t base = r->client * CB_BINDS_PER_CLIENT;

	rec->entry = -1;
	rec->consumed = 0;
	cb_rsv_window_open(r);
	/* seq_cst: before the loads of K[p], R[p] and the attempt; pairs
	 * with the releasers' loads in cb_place_wake(_workers), and with
	 * the publisher's RMW on G (cb_place_wake_table). */
	atomic_fetch_add_explicit(&ps->pickers, 1, memory_order_seq_cst);
	atomic_fetch_add_explicit(&cb_slots_hot(r->slots)->pickers, 1,
	    memory_order_seq_cst);
	/* Tests kill a picker here: counted, no record (the recount's). */
	CB_TESTPOINT("place:counted");
	for (uint32_t k = 0; k < CB_BINDS_PER_CLIENT && rec->entry < 0; k++) {
		struct cb_bind_slot *b = cb_slots_bind(r->slots, base + k);
		uint64_t w = atomic_load_explicit(&b->word,
		    memory_order_relaxed);
		uint64_t mine = CB_BIND_WORD(CB_BIND_PICKING, pool, 0,
		    CB_BIND_NONCE(w) + 1);

		/* seq_cst: the recount's collect and the reclaim read it
		 * (sweep_place.c, cb_place_free_partition). */
		if (CB_BIND_STATE(w) == CB_BIND_FREE &&
		    atomic_compare_exchange_strong_explicit(&b->word, &w, mine,
		    memory_order_seq_cst, memory_order_relaxed)) {
			rec->word = mine;
			rec->entry = (long)(base + k);
		}
	}
	if (rec->entry < 0)
		pickers_sub(r->slots, pool);
	cb_rsv_window_close(r);
}

/* Leave: the record first, then the counts (the reverse of enter);
 * nothing if the admission turned the record into the bind (it lowered
 * them then).  A record the sweeper freed (settle: garbage in an older
 * broker's eyes) fails the CAS; the counts are ours to lower all the
 * same. */
static void picker_leave(struct cb_rsv *r, int pool, struct picker_rec *rec)
{
	if (rec->entry < 0 || rec->consumed)
		return;
	cb_rsv_window_open(r);
	cb_place_bind_free(cb_slots_bind(r->slots, (uint32_t)rec->entry),
	    rec->word);
	pickers_sub(r->slots, pool);
	cb_rsv_window_close(r);
}

/*
 * An admitted picker: if others still wait and the pool still has room,
 * the unit that woke us was not the last (a limit raise, a reclaim, a
 * release of several): wake the next picker.  A full pool needs no
 * wake: whoever frees the next unit sends it.  Both loads seq_cst,
 * after our own lowering of P[p]: a picker that raised P[p] later
 * reads K[p] later and tries after our admission.
 */
static void pass_on(struct cb_rsv *r, int pool)
{
	struct cb_pool_slot *ps = cb_slots_pool(r->slots, pool);

	if (atomic_load_explicit(&ps->pickers, memory_order_seq_cst) != 0 &&
	    !cb_rsv_hold_full(r, pool, cb_rsv_limit(r->state, pool)))
		cb_place_wake(r->slots, pool);
}

/* Sleep on K[p] while it still reads k, until the slice's end: the
 * backstop for a counted picker, the old poll for one with no record. */
static void picker_sleep(struct cb_pool_slot *ps, uint32_t k,
    const struct cb_place_waiting *how, int counted)
{
	struct timespec slice = cb_deadline_after_ms(counted ?
	    how->backstop_ms : PICK_SLICE_MS);

	if (how->deadline != NULL && cb_timespec_before(how->deadline, &slice))
		slice = *how->deadline;
	CB_TESTPOINT("place:sleep");
	/* Tests count the wakes that end a sleep, apart from the slices
	 * that run out (0: woken, or K[p] moved before we slept). */
	if (cb_futex_wait(&ps->pick_seq, k, &slice) == -ETIMEDOUT)
		CB_TESTPOINT("place:slice");
	else
		CB_TESTPOINT("place:woken");
}

int cb_place_wait(struct cb_rsv *r, int pool, int policy,
    const struct cb_place_waiting *how, cb_ticket *t, char *id)
{
	struct cb_pool_slot *ps = cb_slots_pool(r->slots, pool);
	struct picker_rec rec;
	int ret;

	picker_enter(r, pool, &rec);
	for (;;) {
		struct timespec now;
		/* Both words before the attempt (place.h): a wake after it
		 * moved K[p]; R[p]'s load pairs with the bump of
		 * cb_eventcount_notify() in cb_rsv_wake(), which precedes
		 * its cb_place_wake(), so a limit the publisher raised
		 * with a plain release store is seen by the attempt. */
		uint32_t k = atomic_load_explicit(&ps->pick_seq,
		    memory_order_seq_cst);

		(void)atomic_load_explicit(&ps->release_seq,
		    memory_order_seq_cst);
		ret = how->round != NULL ? how->round(how->arg) : 0;
		if (ret < 0)
			break;
		/* A woken picker always makes its attempt before it may
		 * leave: a wake is used, never dropped (place.h). */
		ret = place_try(r, pool, policy, &rec, t, id);
		if (ret != -EAGAIN)
			break;
		now = cb_deadline_after_ms(0);
		if (how->deadline != NULL &&
		    !cb_timespec_before(&now, how->deadline)) {
			ret = -ETIMEDOUT;
			break;
		}
		picker_sleep(ps, k, how, rec.entry >= 0);
	}
	picker_leave(r, pool, &rec);
	if (ret == 0)
		pass_on(r, pool);
	return ret;
}

/* ---- releasing ------------------------------------------------------ */

int cb_place_release(struct cb_rsv *r, const cb_ticket *t)
{
	int pool = (int)((t->opaque[0] >> 8) & 0xff);
	uint32_t client = (uint32_t)((t->opaque[0] >> 16) & 0xffff);
	uint32_t e = (uint32_t)(t->opaque[0] >> 32) &
	    ((1u << BIND_ENTRY_BITS) - 1);
	uint64_t w = t->opaque[1];
	uint32_t date;
	int won, held = -ESTALE;

	/* Only the handle that picked: its entry, its partition. */
	if (pool >= CB_MAX_POOLS || client != (r->client & 0xffff) ||
	    e >= CB_MAX_BINDS || e / CB_BINDS_PER_CLIENT != r->client ||
	    CB_BIND_STATE(w) != CB_BIND_BOUND ||
	    CB_BIND_POOL(w) != (unsigned)pool ||
	    ticket_bind_date(r->state, pool, t, &date) < 0)
		return -EINVAL;
	cb_rsv_window_open(r);
	won = cb_place_bind_free(cb_slots_bind(r->slots, e), w);
	if (won) {
		worker_sub(cb_slots_worker(r->slots, CB_BIND_WORKER(w)));
		/* 0, 1 (given back, but it had aged), or -ESTALE. */
		held = cb_rsv_hold_give(r, pool, date);
	}
	cb_rsv_window_close(r);
	/* The worker's unit may fit pickers of other pools (of this one
	 * too when the pool unit was not ours to give: stale). */
	if (won)
		cb_place_wake_workers(r->slots, held >= 0 ? pool : -1);
	if (!won || held < 0)
		return release_stale(r, pool);
	cb_rsv_wake(r->slots, pool);
	/* Given back, but past hold_max: the late release is told. */
	return held > 0 ? release_stale(r, pool) : 0;
}

uint32_t cb_place_free_partition(void *slots, uint32_t client, int broker)
{
	uint32_t base = client * CB_BINDS_PER_CLIENT, n = 0;
	uint64_t picking = 0;

	if (client >= CB_MAX_CLIENTS)
		return 0;
	for (uint32_t k = 0; k < CB_BINDS_PER_CLIENT; k++) {
		struct cb_bind_slot *b = cb_slots_bind(slots, base + k);
		uint64_t w = atomic_load_explicit(&b->word,
		    memory_order_seq_cst);
		struct cb_worker_slot *ws;

		if (CB_BIND_STATE(w) == CB_BIND_PICKING) {
			/* A dead picker's record (cb_close never finds one:
			 * its pickers have left).  The winner of the free
			 * lowers what its picker raised before claiming it. */
			if (broker && cb_place_bind_free(b, w)) {
				pickers_sub(slots, (int)CB_BIND_POOL(w));
				picking |= 1ull << CB_BIND_POOL(w);
			}
			continue;
		}
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
	if (n > 0)
		cb_place_wake_workers(slots, -1);
	/* It may have died woken, before its attempt: the wake it took is
	 * sent again (its pool's units came back with cb_rsv_wake). */
	for (int p = 0; p < CB_MAX_POOLS; p++)
		if (picking & (1ull << p))
			cb_place_wake(slots, p);
	return n;
}

uint32_t cb_place_release_all(void *slots, uint32_t client)
{
	return cb_place_free_partition(slots, client, 0);
}
