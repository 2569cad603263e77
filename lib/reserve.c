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
#include <linux/membarrier.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "clock.h"
#include "futex.h"
#include "lane.h"
#include "place.h"
#include "segment.h"
#include "seqlock.h"
#include "slots.h"
#include "snapshot.h"
#include "testpoint.h"



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

void cb_rsv_seq_reset(_Atomic uint32_t *seq)
{
	uint32_t s = atomic_load_explicit(seq, memory_order_relaxed);

	atomic_store_explicit(seq, (s & ~0xffu) + 0x100,
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
		cb_rsv_seq_reset(&cs->seq);
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
	return limit_of(state, pool);
}

static uint64_t make_ticket0(int kind, int pool, uint32_t client,
    uint32_t index)
{
	return (uint64_t)kind | (uint64_t)pool << 8 |
	    (uint64_t)(client & 0xffff) << 16 | (uint64_t)index << 32;
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
	uint64_t nonce, stored;
	uint32_t idx, date;
	int ret, fit, gave_back = 0;

	/* A refused attempt touches nothing shared: the recount's snapshot
	 * is not disturbed by reservers spinning on a full pool.  The CAS
	 * inside the window is what admits. */
	if (usage_full(&ps->usage, 0, limit))
		return -EAGAIN;
	if (local_claim(r, pool, &nonce, &idx) < 0)
		return -ENOSPC;
	window_open(r, &r->local[idx]);
	CB_TESTPOINT("reserve:before-cas");
	ret = admit(&ps->usage, 0, 0, limit, &stored);
	CB_TESTPOINT("reserve:admitted");
	if (ret == 0 && (fit = still_fits(r->state, pool, &ps->usage, 0,
	    0, stored, &date)) != FIT_OK) {
		/* A lower limit was published, the share ran out or the
		 * hold could not be dated: give the unit back inside the
		 * window that admitted it, before any record. */
		cb_rsv_usage_sub(&ps->usage, 0, 1);
		ret = -EAGAIN;
		gave_back = fit == FIT_OVER;
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
	ticket_date_set(t, date);
	return 0;
}

/* age_put()'s general case (lane.h): a hold of an older epoch, an
 * undated one, or a word with a field clamped.  Out of line, so that
 * the common release keeps its registers. */
int cb_age_put_slow(const void *state, int pool, _Atomic uint64_t *usage,
    uint32_t date)
{
	uint64_t u = atomic_load_explicit(usage, memory_order_relaxed), v;
	uint64_t age = atomic_load_explicit(&pool_conf(state, pool)->age,
	    memory_order_acquire);
	struct cb_age a;
	int pos, late;

	do {
		late = 0;
		if (!(u & CB_AGE_MARK)) {
			if (CB_USAGE_HELD(u) == 0)
				return -1;
			v = u - 1;
			continue;
		}
		age_split(u, &a);
		pos = AGE_FRONT;
		if ((date & CB_AGE_DATED) && (uint32_t)age != 0) {
			int64_t w = age_epoch(u, age >> 32);
			int64_t t = w - (int64_t)(((uint32_t)w - date) &
			    0x7fffu);

			pos = age_pos(w, t);
		}
		if (age_take(&a, pos) < 0)
			return -1;
		late = pos == AGE_AGED;
		v = age_join(&a);
	} while (!atomic_compare_exchange_weak_explicit(usage, &u, v,
	    memory_order_seq_cst, memory_order_relaxed));
	return late;
}

/* ---- lanes: one writer per hold record (reserve.h, "Lanes") -------- */

/* Each thread's lane of the handle it used last (lane.h). */
__thread struct cb_lane_tls cb_lane_tls
    __attribute__((tls_model("initial-exec")));

static pthread_once_t membarrier_once = PTHREAD_ONCE_INIT;
static int membarrier_ok;

static void membarrier_register(void)
{
	membarrier_ok = syscall(SYS_membarrier,
	    MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0;
}

int cb_rsv_lanes_init(struct cb_rsv *r, uint64_t serial)
{
	struct cb_lanes *ls;

	r->lanes = NULL;
	r->serial = 0;         /* no lanes: matches no thread's cache */
	pthread_once(&membarrier_once, membarrier_register);
	if (!membarrier_ok)
		return -ENOSYS;
	ls = calloc(1, sizeof(*ls));
	if (ls == NULL)
		return -ENOMEM;
	pthread_mutex_init(&ls->mtx, NULL);
	r->lanes = ls;
	r->serial = serial;
	return 0;
}

/* Claim a free lane of the segment for client entry r->client.
 * Returns its index or -ENOSPC. */
static long lane_claim_slot(struct cb_rsv *r)
{
	uint64_t mine = CB_LANE_OF(r->client, r->owner);

	for (uint32_t k = 0; k < CB_MAX_LANES; k++) {
		uint32_t i = (r->client * 4 + k) % CB_MAX_LANES;
		struct cb_lane_slot *sl = cb_slots_lane(r->slots, i);
		uint64_t w = atomic_load_explicit(&sl->word,
		    memory_order_relaxed);

		/* seq_cst: pairs with the broker's loads of the word in the
		 * recount, reclaim and scrub (sweep_reserve.c). */
		if (CB_LANE_PID(w) != 0 ||
		    !atomic_compare_exchange_strong_explicit(&sl->word, &w,
		    mine, memory_order_seq_cst, memory_order_relaxed))
			continue;
		return i;
	}
	return -ENOSPC;
}

/* A new lane: its slot claimed, its records cleared (a free lane has
 * none; anything there is garbage the recount accounts for). */
static struct cb_lane *lane_new(struct cb_rsv *r)
{
	struct cb_lane *l;
	long i;

	l = calloc(1, sizeof(*l));
	if (l == NULL)
		return NULL;
	i = lane_claim_slot(r);
	if (i < 0) {
		free(l);
		return NULL;
	}
	l->index = (uint32_t)i;
	l->slot = cb_slots_lane(r->slots, l->index);
	pthread_mutex_init(&l->mtx, NULL);
	for (int p = 0; p < CB_MAX_POOLS; p++)
		atomic_store_explicit(&l->slot->holds[p], 0,
		    memory_order_release);
	l->seq = (atomic_load_explicit(&l->slot->seq, memory_order_relaxed) &
	    ~0xffu) + 0x100;
	atomic_store_explicit(&l->slot->seq, l->seq, memory_order_release);
	return l;
}

/* Is thread tid of this process gone?  Only proof counts (ESRCH). */
static int thread_gone(pid_t tid)
{
	return syscall(SYS_tgkill, getpid(), tid, 0) < 0 && errno == ESRCH;
}

/*
 * The calling thread's lane of r, bound on first use: its own (a tid
 * the handle knows), a lane whose thread has exited, or a new one.
 * NULL when r has no lanes or none is free: the caller uses the
 * shared entry.  A lane taken over from an exited thread is handed
 * over under ls->mtx (the old owner's last stores happen before its
 * release store of active = 0, which we read with acquire).
 */
static __attribute__((noinline)) struct cb_lane *lane_bind(struct cb_rsv *r)
{
	struct cb_lanes *ls = r->lanes;
	struct cb_lane *l = NULL;
	pid_t me;
	uint32_t n;

	if (ls == NULL)
		return NULL;
	me = gettid();
	pthread_mutex_lock(&ls->mtx);
	n = atomic_load_explicit(&ls->n, memory_order_relaxed);
	for (uint32_t k = 0; k < n && l == NULL; k++)
		if (ls->lane[k]->tid == me)
			l = ls->lane[k];
	for (uint32_t k = 0; k < n && l == NULL; k++)
		if (thread_gone(ls->lane[k]->tid) &&
		    atomic_load_explicit(&ls->lane[k]->active,
		    memory_order_acquire) == 0)
			l = ls->lane[k];
	if (l == NULL && n < CB_LANES_PER_CLIENT) {
		l = lane_new(r);
		if (l != NULL) {
			l->number = n;
			ls->lane[n] = l;
			/* Release: a releaser that reads n (lane_of) sees the
			 * lane set up. */
			atomic_store_explicit(&ls->n, n + 1,
			    memory_order_release);
		}
	}
	if (l != NULL)
		l->tid = me;
	pthread_mutex_unlock(&ls->mtx);
	if (l != NULL) {
		/* The latest first; the one before stays second. */
		if (cb_lane_tls.e[0].serial != r->serial)
			cb_lane_tls.e[1] = cb_lane_tls.e[0];
		cb_lane_tls.e[0].serial = r->serial;
		cb_lane_tls.e[0].lane = l;
	}
	return l;
}

static inline struct cb_lane *lane_mine(struct cb_rsv *r)
{
	struct cb_lane *l = lane_cached(r);

	return __builtin_expect(l != NULL, 1) ? l : lane_bind(r);
}

/* Lane k of r's handle from a ticket, or NULL.  Acquire: pairs with
 * lane_bind's release store of n. */
static struct cb_lane *lane_of(struct cb_rsv *r, uint32_t k)
{
	if (r->lanes == NULL || k >= atomic_load_explicit(&r->lanes->n,
	    memory_order_acquire))
		return NULL;
	return r->lanes->lane[k];
}

/*
 * Take the lane's mutex, revoking the bias first if it still stands:
 * after this, the caller is the lane's only writer until unlock.
 */
static __attribute__((noinline)) void lane_lock(struct cb_lane *l)
{
	pthread_mutex_lock(&l->mtx);
	if (atomic_load_explicit(&l->shared, memory_order_relaxed))
		return;
	atomic_store_explicit(&l->revoke, 1, memory_order_relaxed);
	/* Every running thread of ours passes a full barrier: the owner's
	 * store of active is visible now, or its next load of revoke
	 * sees 1.  Registered in cb_rsv_lanes_init (lanes exist only if
	 * that worked); should it fail now, the fence it stands for is
	 * missing, and so is any way to proceed safely. */
	if (syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0,
	    0) != 0)
		abort();
	CB_TESTPOINT("reserve:lane-revoking");
	/* Acquire: pairs with lane_leave(); the owner's fast path never
	 * blocks, so this ends when its operation does. */
	while (atomic_load_explicit(&l->active, memory_order_acquire) != 0)
		sched_yield();
	atomic_store_explicit(&l->shared, 1, memory_order_relaxed);
}

/* A hold through the calling thread's lane: -ENOSPC when it has none
 * or its table is full (the caller uses the shared entry). */
static int lane_hold(struct cb_rsv *r, int pool, uint32_t limit,
    cb_ticket *t)
{
	struct cb_lane *l = lane_mine(r);
	int ret;

	if (l == NULL)
		return -ENOSPC;
	if (usage_full(&cb_slots_pool(r->slots, pool)->usage, 0, limit))
		return -EAGAIN;
	if (lane_enter(l)) {
		ret = lane_hold_locked(r, l, pool, limit, t);
		lane_leave(l);
		return ret;
	}
	lane_lock(l);
	ret = lane_hold_locked(r, l, pool, limit, t);
	pthread_mutex_unlock(&l->mtx);
	return ret;
}

static int lane_release(struct cb_rsv *r, int pool, uint32_t client,
    uint32_t k, uint32_t idx, uint64_t nonce, uint32_t date)
{
	struct cb_lane *l = lane_of(r, k);
	uint64_t word = local_word(nonce, pool);
	int ret;

	if (client != (r->client & 0xffff) || l == NULL ||
	    idx >= CB_LANE_HOLDS)
		return -EINVAL;
	if (nonce == 0)
		return release_stale(r, pool);
	if (lane_cached(r) == l && r->serial != 0 && lane_enter(l)) {
		ret = lane_release_locked(r, l, idx, word, pool, 1, date);
		lane_leave(l);
	} else {
		lane_lock(l);
		ret = lane_release_locked(r, l, idx, word, pool, 0, date);
		pthread_mutex_unlock(&l->mtx);
	}
	if (ret < 0)
		return release_stale(r, pool);
	wake_released(r->slots, pool);
	return ret > 0 ? release_stale(r, pool) : 0;
}

/*
 * The death window of a launch or its release: the calling thread's
 * lane when it has one (as its one writer, or under the lane's mutex
 * once its bias was revoked), else the shared entry's S.  The launch
 * entry itself is shared and claimed and freed by CAS, so any thread's
 * window covers it, whoever took the ticket.
 */
struct op_window {
	struct cb_lane *l;
	int locked;
};

static inline void op_window_open(struct cb_rsv *r, struct op_window *w)
{
	w->l = r->lanes != NULL ? lane_mine(r) : NULL;
	w->locked = 0;
	if (w->l == NULL) {
		window_open(r, NULL);
		return;
	}
	if (!lane_enter(w->l)) {
		lane_lock(w->l);
		w->locked = 1;
	}
	lane_open(w->l);
}

static inline void op_window_close(struct cb_rsv *r, struct op_window *w)
{
	if (w->l == NULL) {
		window_close(r, NULL, 0);
		return;
	}
	lane_close(w->l);
	if (w->locked)
		pthread_mutex_unlock(&w->l->mtx);
	else
		lane_leave(w->l);
}

/* Count an admission: in the thread's lane when it has one (private,
 * lane_admitted_flush), else in the shared entry. */
static inline void count_admitted(struct cb_rsv *r, struct cb_lane *l,
    int pool)
{
	if (l == NULL) {
		cb_rsv_count_admitted(r->slots, r->client, pool);
		return;
	}
	if (++l->admitted[pool] >= CB_ADMITTED_BATCH)
		lane_admitted_flush(r, l, pool);
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

/*
 * cb_rsv_window_ms for a launch: the value cached per pool with the
 * definition's seqlock sequence it was read under (one acquire load
 * when the definition has not been rewritten since; a snapshot of the
 * whole definition costs more than the rest of a launch).  The cache
 * word is shared by the handle's threads: relaxed, as any thread's
 * value for a given sequence is the same.
 */
static uint32_t window_ms_cached(struct cb_rsv *r, int pool)
{
	const struct cb_pool_conf *conf = pool_conf(r->state, pool);
	/* Pairs with the publisher's seqlock write (seqlock.h). */
	uint32_t seq = atomic_load_explicit(&conf->seq, memory_order_acquire);
	uint64_t c = atomic_load_explicit(&r->window_cache[pool],
	    memory_order_relaxed);
	uint32_t ms;

	if ((seq & 1) == 0 && c != 0 && (uint32_t)(c >> 32) == seq)
		return (uint32_t)c;
	ms = cb_rsv_window_ms(r->state, pool);
	if ((seq & 1) == 0 && atomic_load_explicit(&conf->seq,
	    memory_order_acquire) == seq)
		atomic_store_explicit(&r->window_cache[pool],
		    (uint64_t)seq << 32 | ms, memory_order_relaxed);
	return ms;
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
	uint64_t now, deadline, live = 0, stored;
	struct op_window w;
	uint32_t date;
	long e = 0;
	int ret, fit, gave_back = 0;

	if (usage_full(&ps->usage, floor, limit))
		return -EAGAIN;
	/* The deadline may be a tick late, never early (clock.h). */
	now = cb_monotonic_coarse_ceil_ns();
	deadline = now + (uint64_t)window_ms_cached(r, pool) * 1000000u;
	op_window_open(r, &w);
	CB_TESTPOINT("reserve:before-cas");
	ret = admit(&ps->usage, 1, floor, limit, &stored);
	CB_TESTPOINT("reserve:admitted");
	/* Re-check against the limit and the floor published now: a lower
	 * limit or a higher observation since our reads is not exceeded. */
	if (ret == 0 && (fit = still_fits(r->state, pool, &ps->usage, 1,
	    observed, stored, &date)) != FIT_OK) {
		cb_rsv_usage_sub(&ps->usage, 1, 1);
		ret = -EAGAIN;
		gave_back = fit == FIT_OVER;
	}
	if (ret == 0) {
		e = claim_launch(r, pool, deadline, &live);
		if (e < 0)
			cb_rsv_usage_sub(&ps->usage, 1, 1);
	}
	op_window_close(r, &w);
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
	count_admitted(r, w.l, pool);
	t->opaque[0] = make_ticket0(TICKET_LAUNCH, pool, r->client,
	    (uint32_t)e);
	t->opaque[1] = live;
	return 0;
}

int cb_rsv_hold_fast(struct cb_rsv *r, int pool, cb_ticket *t)
{
	return cb_lane_hold_fast(r, pool, t);
}

int cb_rsv_release_fast(struct cb_rsv *r, const cb_ticket *t)
{
	return cb_lane_release_fast(r, t);
}

void cb_rsv_lanes_forget(struct cb_rsv *r)
{
	struct cb_lanes *ls = r->lanes;
	uint32_t n;

	if (ls == NULL)
		return;
	n = atomic_load_explicit(&ls->n, memory_order_acquire);
	for (uint32_t k = 0; k < n; k++)
		free(ls->lane[k]);
	free(ls);
	r->lanes = NULL;
}

void cb_rsv_lanes_close(struct cb_rsv *r)
{
	struct cb_lanes *ls = r->lanes;
	uint32_t n;

	if (ls == NULL)
		return;
	n = atomic_load_explicit(&ls->n, memory_order_acquire);
	for (uint32_t k = 0; k < n; k++) {
		struct cb_lane *l = ls->lane[k];
		uint64_t w = CB_LANE_OF(r->client, r->owner);

		/* One unit at a time inside the lane's window, record
		 * first, as a release does (the window earns one unit of
		 * slack; see cb_rsv_release_all). */
		lane_open(l);
		for (int p = 0; p < CB_MAX_POOLS; p++) {
			uint32_t freed = 0;

			while (l->holds[p] > 0) {
				lane_record(l, p, l->holds[p] - 1);
				cb_rsv_usage_sub(&cb_slots_pool(r->slots,
				    p)->usage, 0, 1);
				freed++;
			}
			if (freed > 0)
				cb_rsv_wake(r->slots, p);
			lane_admitted_flush(r, l, p);
		}
		lane_close(l);
		/* Free the lane after its records are gone.  seq_cst:
		 * pairs with the broker's loads of the word. */
		atomic_compare_exchange_strong_explicit(&l->slot->word, &w,
		    CB_LANE_WORD(0, 0, 0), memory_order_seq_cst,
		    memory_order_relaxed);
		pthread_mutex_destroy(&l->mtx);
		free(l);
	}
	pthread_mutex_destroy(&ls->mtx);
	free(ls);
	r->lanes = NULL;
	/* A thread's cached lane of this handle is dead: serial never
	 * matches again (the next handle gets a new one). */
}

int cb_rsv_try(struct cb_rsv *r, int pool, int kind, uint32_t observed,
    cb_ticket *ticket)
{
	uint32_t limit = cb_rsv_limit(r->state, pool);
	int ret;

	if (kind == CB_HOLD && r->lanes != NULL) {
		ret = lane_hold(r, pool, limit, ticket);
		if (ret != -ENOSPC)
			return ret;
		/* No lane for this thread, or its table is full near the
		 * next nonce: the shared entry's path. */
	}
	if (kind == CB_LAUNCH)
		return try_launch(r, pool, limit, observed, ticket);
	atomic_store_explicit(&cb_slots_client(r->slots, r->client)->last_pool,
	    (uint32_t)pool, memory_order_relaxed);
	ret = try_hold(r, pool, limit, ticket);
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
	return usage_full(&cb_slots_pool(r->slots, pool)->usage, 0, limit);
}

int cb_rsv_hold_take(struct cb_rsv *r, int pool, uint32_t limit,
    uint32_t *date)
{
	_Atomic uint64_t *usage = &cb_slots_pool(r->slots, pool)->usage;
	uint64_t stored;
	int ret = admit(usage, 0, 0, limit, &stored), fit;

	CB_TESTPOINT("reserve:admitted");
	/* The re-check of try_hold(): a lower limit published since the
	 * caller read `limit` (before its scan of the worker table), the
	 * share ran out, or the hold could not be dated.  Only the first
	 * may have refused someone with the unit given back here; the
	 * caller wakes for -EAGAIN, not -ETIME.  The date goes into the
	 * bind's ticket (place.c), as a hold's into its own. */
	*date = 0;
	if (ret == 0 && (fit = still_fits(r->state, pool, usage, 0, 0,
	    stored, date)) != FIT_OK) {
		cb_rsv_usage_sub(usage, 0, 1);
		return fit == FIT_OVER ? -EAGAIN : -ETIME;
	}
	if (ret == 0)
		atomic_fetch_add_explicit(&cb_slots_client(r->slots,
		    r->client)->holds[pool], 1, memory_order_seq_cst);
	return ret;
}

int cb_rsv_hold_give(struct cb_rsv *r, int pool, uint32_t date)
{
	int ret = holds_dec(cb_slots_client(r->slots, r->client), pool);

	if (ret < 0)
		return ret;
	/* U already 0 (-1: a member's drift, which the recount repairs):
	 * nothing to give back, as cb_rsv_usage_sub() would find. */
	return age_put(r->state, pool, &cb_slots_pool(r->slots, pool)->usage,
	    date) > 0;
}

static int release_hold(struct cb_rsv *r, int pool, uint32_t client,
    uint32_t idx, uint64_t nonce, uint32_t date)
{
	struct cb_client_slot *cs = cb_slots_client(r->slots, r->client);
	uint64_t expect = local_word(nonce, pool);
	int ret, late = 0;

	if (client != (r->client & 0xffff) || idx >= r->local_size)
		return -EINVAL;
	/* The record names the pool: a ticket whose pool field was changed
	 * finds no match (-ESTALE), whatever its nonce; nor does one whose
	 * nonce reaches the marks (LOCAL_BUSY, LOCAL_INWIN).  The winner
	 * of the CAS takes the entry busy and counted as in a window
	 * (seq_cst: the raise before the opening CAS, window_open). */
	if (!atomic_compare_exchange_strong_explicit(&r->local[idx], &expect,
	    expect | LOCAL_BUSY | LOCAL_INWIN, memory_order_seq_cst,
	    memory_order_relaxed))
		return release_stale(r, pool);
	window_open(r, &r->local[idx]);
	CB_TESTPOINT("reserve:release-in-window");
	ret = holds_dec(cs, pool);
	if (ret == 0)
		late = age_put(r->state, pool,
		    &cb_slots_pool(r->slots, pool)->usage, date) > 0;
	window_close(r, &r->local[idx], 0);     /* the entry is free */
	if (ret < 0)
		return release_stale(r, pool);
	wake_released(r->slots, pool);
	return late ? release_stale(r, pool) : 0;
}

static int release_launch(struct cb_rsv *r, int pool, uint32_t e,
    uint64_t live)
{
	struct cb_launch_slot *ls;
	struct op_window w;
	int won;

	if (e >= nlaunches(r->slots) || CB_LAUNCH_STATE(live) !=
	    CB_LAUNCH_LIVE || CB_LAUNCH_POOL(live) != (unsigned)pool)
		return -EINVAL;
	ls = cb_slots_launch(r->slots, e);
	op_window_open(r, &w);
	won = cb_rsv_launch_free(ls, live);
	if (won)
		cb_rsv_usage_sub(&cb_slots_pool(r->slots, pool)->usage, 1, 1);
	op_window_close(r, &w);
	if (!won)
		return release_stale(r, pool);
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
	/* Holds: the index's top byte and the nonce's are the date. */
	if ((kind == TICKET_LANE || kind == TICKET_HOLD) &&
	    !ticket_date_ok(ticket_date(t)))
		return release_stale(r, pool);
	if (kind == TICKET_LANE)
		return lane_release(r, pool, client, index & 0xff,
		    (index >> 8) & 0xffff, TICKET_NONCE(t), ticket_date(t));
	if (kind == TICKET_HOLD)
		return release_hold(r, pool, client, index & 0xffffff,
		    TICKET_NONCE(t), ticket_date(t));
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

