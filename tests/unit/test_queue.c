/*
 * test_queue.c - fair waiting (lib/queue.c, protocol in lib/queue.h):
 * order (priority, then arrival), positions, leaving, pruning of dead
 * waiters, the sweeper's repairs, the fail-fast barging rule, and a
 * threaded run through the real futex hand-over chain.
 *
 * Segments are built in memory the broker's way (as in test_reserve.c).
 * A deadline in the past makes cb_wq_wait one synchronous look: the
 * head tries once, everyone else returns -ETIMEDOUT at once, so the
 * order of service is driven step by step.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "abi.h"
#include "futex.h"
#include "proc.h"
#include "queue.h"
#include "reserve.h"
#include "segment.h"
#include "seqlock.h"
#include "slots.h"
#include "state_word.h"
#include "sweep.h"

#define NAME "wq"
#define INSTANCE 0x0badc0ffee000002ull

#include "segfix.h"	/* after NAME and INSTANCE */

#define START 4242ull
#define LOCAL_SIZE 64u
#define P 1

struct fx {
	void *state;
	void *slots;
	struct cb_rsv r;           /* the client that queues */
	struct cb_rsv r2;          /* another one (dies in some tests) */
	cb_ticket held;            /* the unit held at the start */
};

static void seg_alloc(void **base, enum cb_seg_kind kind)
{
	*base = aligned_alloc(4096, seg_size(kind));
	assert_non_null(*base);
	seg_init(*base, kind);
}

static struct cb_pool_slot *pslot(struct fx *f, int pool)
{
	return cb_slots_pool(f->slots, pool);
}

static struct cb_waiter_slot *wslot(struct fx *f, uint32_t e)
{
	return cb_slots_waiter(f->slots, e);
}

static void pool_define(struct fx *f, int pool, uint32_t limit)
{
	seg_pool_define(f->state, pool, limit, 1000, 0);
}

/* Our own client gets our real start time: the fail-fast path checks
 * a blocking waiter's process (cb_wq_blocked), and START would be
 * proof that we are gone. */
static void rsv_open(struct fx *f, struct cb_rsv *r, pid_t pid)
{
	uint64_t start = START;

	if (pid == getpid())
		assert_int_equal(cb_proc_start_time(pid, &start), 0);
	seg_rsv_open(r, f->state, f->slots, pid, start, LOCAL_SIZE);
}

/* A process that is gone, reaped, with the start time it had: the
 * owner of a client entry that nobody reclaimed (no broker). */
static void dead_process(pid_t *pid, uint64_t *start)
{
	int status;

	*pid = fork();
	assert_true(*pid >= 0);
	if (*pid == 0) {
		pause();
		_exit(0);
	}
	assert_int_equal(cb_proc_start_time(*pid, start), 0);
	kill(*pid, SIGKILL);
	assert_int_equal(waitpid(*pid, &status, 0), *pid);
}

/* Pool P of limit 1, its unit held by r. */
static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	seg_alloc(&f->state, CB_SEG_STATE);
	seg_alloc(&f->slots, CB_SEG_SLOTS);
	pool_define(f, 0, 8);
	pool_define(f, P, 1);
	rsv_open(f, &f->r, getpid());
	rsv_open(f, &f->r2, getpid() + 1);
	assert_int_equal(cb_rsv_try(&f->r, P, CB_HOLD, 0, &f->held), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	free((void *)f->r.local);
	free((void *)f->r2.local);
	free(f->state);
	free(f->slots);
	free(f);
	return 0;
}

static void enqueue(struct fx *f, struct cb_rsv *r, int32_t prio,
    struct cb_wq_entry *me)
{
	assert_int_equal(cb_wq_enqueue(f->slots, r->client, r->owner, P, prio,
	    me), 0);
}

/* One synchronous look: 0 admitted (and left), -ETIMEDOUT not. */
static int look(struct fx *f, struct cb_rsv *r, struct cb_wq_entry *me,
    cb_ticket *t)
{
	struct timespec past = cb_deadline_after_ms(0);

	(void)f;
	return cb_wq_wait(r, me, CB_HOLD, 0, &past, 0, t);
}

static uint64_t queued(struct fx *f)
{
	return atomic_load(&pslot(f, P)->queued);
}

static uint32_t waiters(struct fx *f)
{
	return atomic_load(&pslot(f, P)->waiters);
}

/* ---- order and positions --------------------------------------------- */

static const int32_t PRIOS[5] = { 0, 0, 5, 0, 5 };

static void test_order_priority_then_fifo(void **state)
{
	struct fx *f = *state;
	struct cb_wq_entry w[5];
	static const int want_pos[5] = { 2, 3, 0, 4, 1 };
	static const int want_order[5] = { 2, 4, 0, 1, 3 };
	cb_ticket t[5];
	int served[5] = { 0 };

	for (int i = 0; i < 5; i++)
		enqueue(f, &f->r, PRIOS[i], &w[i]);
	assert_int_equal(queued(f), 5);
	assert_int_equal(waiters(f), 5);
	for (int i = 0; i < 5; i++)
		assert_int_equal(cb_wq_position(f->slots, &w[i]), want_pos[i]);
	/* Full: nobody is admitted, the head included. */
	for (int i = 0; i < 5; i++)
		assert_int_equal(look(f, &f->r, &w[i], &t[i]), -ETIMEDOUT);

	assert_int_equal(cb_rsv_release(&f->r, &f->held), 0);
	for (int k = 0; k < 5; k++) {
		int g = want_order[k];

		/* Everyone else looks first: only the head may take it. */
		for (int i = 0; i < 5; i++) {
			if (i == g || served[i])
				continue;
			assert_int_equal(look(f, &f->r, &w[i], &t[i]),
			    -ETIMEDOUT);
			assert_int_equal(cb_wq_position(f->slots, &w[i]) > 0,
			    1);
		}
		assert_int_equal(cb_wq_position(f->slots, &w[g]), 0);
		assert_int_equal(look(f, &f->r, &w[g], &t[g]), 0);
		served[g] = 1;
		/* It left the queue. */
		assert_int_equal(cb_wq_position(f->slots, &w[g]), -ESTALE);
		assert_int_equal(queued(f), (uint64_t)(4 - k));
		assert_int_equal(cb_rsv_release(&f->r, &t[g]), 0);
	}
	assert_int_equal(waiters(f), 0);
}

static void test_position_after_leaving(void **state)
{
	struct fx *f = *state;
	struct cb_wq_entry w[4];

	for (int i = 0; i < 4; i++)
		enqueue(f, &f->r, 0, &w[i]);
	assert_int_equal(cb_wq_leave(f->slots, &w[1]), 0);
	assert_int_equal(cb_wq_leave(f->slots, &w[1]), -ESTALE);
	assert_int_equal(cb_wq_position(f->slots, &w[1]), -ESTALE);
	assert_int_equal(cb_wq_position(f->slots, &w[0]), 0);
	assert_int_equal(cb_wq_position(f->slots, &w[2]), 1);
	assert_int_equal(cb_wq_position(f->slots, &w[3]), 2);
	/* A late higher priority goes ahead of all of them. */
	struct cb_wq_entry hi;

	enqueue(f, &f->r, 1, &hi);
	assert_int_equal(cb_wq_position(f->slots, &hi), 0);
	assert_int_equal(cb_wq_position(f->slots, &w[3]), 3);
	assert_int_equal(queued(f), 4);
}

/* Leaving the head wakes the next one: its wake word moves. */
static void test_leave_hands_over(void **state)
{
	struct fx *f = *state;
	struct cb_wq_entry a, b, c;
	uint32_t wb, wc;

	enqueue(f, &f->r, 0, &a);
	enqueue(f, &f->r, 0, &b);
	enqueue(f, &f->r, 0, &c);
	wb = atomic_load(&wslot(f, b.index)->wake);
	wc = atomic_load(&wslot(f, c.index)->wake);
	assert_int_equal(cb_wq_leave(f->slots, &a), 0);
	assert_int_not_equal(atomic_load(&wslot(f, b.index)->wake), wb);
	assert_int_equal(atomic_load(&wslot(f, c.index)->wake), wc);
}

/* ---- dead waiters ------------------------------------------------------ */

/* r2's client entry is freed (cb_close, or the broker's reclaim): its
 * waiter is dead at once, skipped, pruned, and the next head woken. */
static void test_dead_owner_skipped_and_pruned(void **state)
{
	struct fx *f = *state;
	struct cb_wq_entry a, dead, c;
	uint32_t wc;
	uint32_t per_pool[CB_MAX_POOLS] = { 0 };

	enqueue(f, &f->r2, 9, &dead);
	enqueue(f, &f->r, 0, &a);
	enqueue(f, &f->r, 0, &c);
	assert_int_equal(cb_wq_position(f->slots, &a), 1);
	wc = atomic_load(&wslot(f, a.index)->wake);
	assert_true(cb_rsv_reclaim(f->slots, f->r2.client, f->r2.owner,
	    per_pool) >= 0);
	/* Skipped by everybody's scan, and freed by the first one. */
	assert_int_equal(cb_wq_position(f->slots, &c), 1);
	assert_int_equal(CB_WAITER_STATE(atomic_load(&wslot(f,
	    dead.index)->word)), CB_WAITER_FREE);
	assert_int_equal(queued(f), 2);
	assert_int_equal(waiters(f), 2);
	/* c's scan pruned the head: a, the new head, was woken. */
	assert_int_not_equal(atomic_load(&wslot(f, a.index)->wake), wc);
	assert_int_equal(cb_wq_position(f->slots, &a), 0);
	assert_int_equal(cb_wq_position(f->slots, &dead), -ESTALE);
}

/* The broker's reclaim frees the dead client's entries itself and
 * wakes the head of every queued pool (the client may have left and
 * died before handing over). */
static void test_broker_reclaim_frees_and_wakes(void **state)
{
	struct fx *f = *state;
	struct cb_wq_entry d1, d2, a;
	uint32_t wa, per_pool[CB_MAX_POOLS] = { 0 };

	enqueue(f, &f->r2, 3, &d1);
	enqueue(f, &f->r2, 0, &d2);
	enqueue(f, &f->r, 0, &a);
	wa = atomic_load(&wslot(f, a.index)->wake);
	/* Not dead yet: nothing freed. */
	assert_int_equal(cb_wq_reclaim(f->slots, f->r2.client, 0), 0);
	assert_true(cb_rsv_reclaim(f->slots, f->r2.client, f->r2.owner,
	    per_pool) >= 0);
	assert_int_equal(cb_wq_reclaim(f->slots, f->r2.client, 0), 2);
	assert_int_equal(queued(f), 1);
	assert_int_not_equal(atomic_load(&wslot(f, a.index)->wake), wa);
	/* No entry to free, but a queued pool: its head is woken anyway. */
	wa = atomic_load(&wslot(f, a.index)->wake);
	assert_int_equal(cb_wq_reclaim(f->slots, f->r2.client, 0), 0);
	assert_int_not_equal(atomic_load(&wslot(f, a.index)->wake), wa);
}

/* cb_close drops the handle's own places, live or not. */
static void test_close_drops_own_entries(void **state)
{
	struct fx *f = *state;
	struct cb_wq_entry a, b, other;

	enqueue(f, &f->r, 0, &a);
	enqueue(f, &f->r, 0, &b);
	enqueue(f, &f->r2, 0, &other);
	assert_int_equal(cb_wq_reclaim(f->slots, f->r.client, f->r.owner), 2);
	assert_int_equal(cb_wq_position(f->slots, &other), 0);
	assert_int_equal(queued(f), 1);
}

/* A client entry claimed again by a new process (same index, new
 * generation) does not bring its predecessor's waiters back. */
static void test_reused_client_entry_not_live(void **state)
{
	struct fx *f = *state;
	struct cb_wq_entry old, a;
	uint32_t idx;
	uint64_t owner;

	enqueue(f, &f->r2, 7, &old);
	enqueue(f, &f->r, 0, &a);
	cb_rsv_unclaim(f->slots, f->r2.client, f->r2.owner);
	/* The same pid probes the same index first. */
	assert_int_equal(cb_rsv_claim(f->slots, getpid() + 1, START, &idx,
	    &owner), 0);
	assert_int_equal(idx, f->r2.client);
	assert_int_not_equal(owner, f->r2.owner);
	assert_int_equal(cb_wq_position(f->slots, &a), 0);
}

/* ---- arrivals ---------------------------------------------------------- */

static void test_failfast_does_not_barge(void **state)
{
	struct fx *f = *state;
	struct cb_wq_entry w;

	assert_int_equal(cb_wq_hint(f->slots, P), 0);
	assert_int_equal(cb_wq_blocked(f->slots, P, 0), 0);
	enqueue(f, &f->r, 5, &w);
	assert_int_equal(cb_wq_blocked(f->slots, P, 0), 1);
	assert_int_equal(cb_wq_blocked(f->slots, P, 5), 1);
	assert_int_equal(cb_wq_blocked(f->slots, P, 6), 0);
	assert_int_equal(cb_wq_blocked(f->slots, 0, 0), 0);
	assert_int_equal(cb_wq_leave(f->slots, &w), 0);
	assert_int_equal(cb_wq_blocked(f->slots, P, 0), 0);
	assert_int_equal(cb_wq_hint(f->slots, P), 0);
}

/*
 * Regression (issue 12, finding 7): no broker runs, so nobody frees the
 * client entry of a waiter killed in the queue and its entry looks
 * live.  The fail-fast path used to count it as a blocker for ever;
 * now it checks the head's process, prunes it on proof of death, and
 * hands over.  A live waiter behind the dead head still blocks (it is
 * woken: the unit is its); once none is left the request goes by.
 */
static void test_failfast_prunes_dead_head(void **state)
{
	struct fx *f = *state;
	struct timespec check_due = { 0, 110 * 1000000 };
	struct cb_wq_entry dead, live;
	struct cb_rsv gone;
	uint64_t start;
	uint32_t wl;
	pid_t pid;

	dead_process(&pid, &start);
	seg_rsv_open(&gone, f->state, f->slots, pid, start, LOCAL_SIZE);
	enqueue(f, &gone, 5, &dead);
	enqueue(f, &f->r, 0, &live);
	wl = atomic_load(&wslot(f, live.index)->wake);
	/* A process checks a pool's head at most once per 100 ms
	 * (queue.c's BLOCKER_CHECK_MS): each call below waits until a
	 * check is due for sure.  The live waiter blocks a request of
	 * its priority, and the dead head it waits behind is pruned. */
	nanosleep(&check_due, NULL);
	assert_int_equal(cb_wq_blocked(f->slots, P, 0), 1);
	assert_int_equal(CB_WAITER_STATE(atomic_load(&wslot(f,
	    dead.index)->word)), CB_WAITER_FREE);
	assert_int_equal(queued(f), 1);
	assert_int_equal(waiters(f), 1);
	assert_int_not_equal(atomic_load(&wslot(f, live.index)->wake), wl);
	assert_int_equal(cb_wq_position(f->slots, &live), 0);
	/* Checked and alive: it blocks. */
	nanosleep(&check_due, NULL);
	assert_int_equal(cb_wq_blocked(f->slots, P, 0), 1);
	assert_int_equal(cb_wq_leave(f->slots, &live), 0);

	/* A dead head alone: pruned, and the request goes by. */
	enqueue(f, &gone, 5, &dead);
	nanosleep(&check_due, NULL);
	assert_int_equal(cb_wq_blocked(f->slots, P, 5), 0);
	assert_int_equal(queued(f), 0);
	assert_int_equal(waiters(f), 0);
	free((void *)gone.local);
}

static void test_table_full(void **state)
{
	struct fx *f = *state;
	static struct cb_wq_entry w[CB_MAX_WAITERS];
	struct cb_wq_entry one;

	for (uint32_t i = 0; i < CB_MAX_WAITERS; i++)
		enqueue(f, &f->r, 0, &w[i]);
	assert_int_equal(cb_wq_enqueue(f->slots, f->r.client, f->r.owner, P,
	    0, &one), -ENOSPC);
	assert_int_equal(queued(f), CB_MAX_WAITERS);
	assert_int_equal(cb_wq_position(f->slots, &w[CB_MAX_WAITERS - 1]),
	    CB_MAX_WAITERS - 1);
	assert_int_equal(cb_wq_leave(f->slots, &w[7]), 0);
	enqueue(f, &f->r, 0, &one);
	assert_int_equal(one.index, w[7].index);
	assert_int_equal(cb_wq_position(f->slots, &one), CB_MAX_WAITERS - 1);
}

/* ---- the sweeper ------------------------------------------------------- */

static void test_sweep_repairs(void **state)
{
	struct fx *f = *state;
	static struct cb_wq_sweep st;
	uint32_t active[CB_MAX_POOLS] = { [0] = 1, [P] = 1 }, hints;
	struct cb_wq_entry a;
	uint64_t stuck = CB_WAITER_WORD(CB_WAITER_CLAIMING, P, 5, 77);

	memset(&st, 0, sizeof(st));
	enqueue(f, &f->r, 0, &a);
	/* Three entries other than a's: where a lands depends on the
	 * client index, which depends on our pid. */
	uint32_t g0 = (a.index + 1) % CB_MAX_WAITERS;
	uint32_t g1 = (a.index + 2) % CB_MAX_WAITERS;
	uint32_t g2 = (a.index + 3) % CB_MAX_WAITERS;
	/* Garbage: an impossible state, a pool that does not exist, a
	 * claim that never finishes, a hint too high. */
	atomic_store(&wslot(f, g0)->word, CB_WAITER_WORD(3, P, 1, 5));
	atomic_store(&wslot(f, g1)->word,
	    CB_WAITER_WORD(CB_WAITER_WAITING, 9, f->r.client, 5));
	atomic_store(&wslot(f, g1)->owner, f->r.owner);
	atomic_store(&wslot(f, g2)->word, stuck);
	atomic_store(&pslot(f, P)->queued, 40);

	assert_int_equal(cb_wq_sweep(f->slots, active, &st, &hints), 2);
	assert_int_equal(hints, 0);       /* seen once: maybe in flight */
	assert_int_equal(atomic_load(&wslot(f, g2)->word), stuck);
	assert_int_equal(cb_wq_sweep(f->slots, active, &st, &hints), 1);
	assert_int_equal(CB_WAITER_STATE(atomic_load(&wslot(f, g2)->word)),
	    CB_WAITER_FREE);
	/* The hint moved (the stuck claim was freed): seen again next.
	 * The garbage claim's free also lowered `waiters`, which no
	 * enqueuer had raised for it (1 -> 0): corrected too. */
	assert_int_equal(waiters(f), 0);
	assert_int_equal(cb_wq_sweep(f->slots, active, &st, &hints), 0);
	assert_int_equal(hints, 2);
	assert_int_equal(queued(f), 1);
	assert_int_equal(waiters(f), 1);
	assert_int_equal(cb_wq_position(f->slots, &a), 0);
	/* Nothing left to do. */
	assert_int_equal(cb_wq_sweep(f->slots, active, &st, &hints), 0);
	assert_int_equal(hints, 0);
	assert_int_equal(queued(f), 1);
	assert_int_equal(waiters(f), 1);
}

/*
 * Regression (issue 12, finding 8): an enqueuer killed between its
 * counters and its claim leaves `queued` and `waiters` one high; the
 * sweeper corrected `queued` only, so every release of the pool paid a
 * FUTEX_WAKE for nobody, for ever.  (The same state, made by hand:
 * test_tp_queue holds a real enqueuer there.)
 */
static void test_sweep_repairs_waiters(void **state)
{
	struct fx *f = *state;
	static struct cb_wq_sweep st;
	uint32_t active[CB_MAX_POOLS] = { [0] = 1, [P] = 1 }, hints;
	uint32_t seq;

	memset(&st, 0, sizeof(st));
	atomic_fetch_add(&pslot(f, P)->queued, 1);
	atomic_fetch_add(&pslot(f, P)->waiters, 1);
	assert_int_equal(cb_wq_sweep(f->slots, active, &st, &hints), 0);
	assert_int_equal(hints, 0);       /* seen once: maybe in flight */
	assert_int_equal(waiters(f), 1);
	assert_int_equal(cb_wq_sweep(f->slots, active, &st, &hints), 0);
	assert_int_equal(hints, 2);
	assert_int_equal(queued(f), 0);
	assert_int_equal(waiters(f), 0);
	/* A release no longer wakes anybody: release_seq stays. */
	seq = atomic_load(&pslot(f, P)->release_seq);
	assert_int_equal(cb_rsv_release(&f->r, &f->held), 0);
	assert_int_equal(atomic_load(&pslot(f, P)->release_seq), seq);
}

/*
 * Regression (issue 12, ticket starvation): one write of queue_next
 * (2^62, then 0) starved a waiter for ever: its ticket stayed 2^62,
 * and every later arrival of its priority got a smaller one.  Each
 * round here: a sweep, one arrival, and the head is served (leaves).
 * The starved waiter has two ahead of it when the writes stop; with
 * the sweeper's re-base it is the head within three rounds.  Without,
 * an arrival takes the served head's place in front of it every round.
 */
#define STARVE_ROUNDS 12

static void test_sweep_rebases_hostile_tickets(void **state)
{
	struct fx *f = *state;
	static struct cb_wq_sweep st;
	static struct cb_wq_entry q[STARVE_ROUNDS + 2];
	uint32_t active[CB_MAX_POOLS] = { [0] = 1, [P] = 1 }, hints;
	_Atomic uint64_t *next = &pslot(f, P)->queue_next;
	struct cb_wq_entry starved;
	int n = 0, round, head;

	memset(&st, 0, sizeof(st));
	atomic_store(next, 1ull << 62);
	enqueue(f, &f->r, 0, &starved);
	atomic_store(next, 0);
	enqueue(f, &f->r, 0, &q[n++]);
	enqueue(f, &f->r, 0, &q[n++]);
	assert_int_equal(cb_wq_position(f->slots, &starved), 2);
	for (round = 0; round < STARVE_ROUNDS; round++) {
		cb_wq_sweep(f->slots, active, &st, &hints);
		if (cb_wq_position(f->slots, &starved) == 0)
			break;
		enqueue(f, &f->r, 0, &q[n++]);
		head = -1;
		for (int i = 0; i < n; i++)
			if (cb_wq_position(f->slots, &q[i]) == 0)
				head = i;
		assert_true(head >= 0);
		assert_int_equal(cb_wq_leave(f->slots, &q[head]), 0);
	}
	assert_true(round <= 3);
	assert_int_equal(cb_wq_position(f->slots, &starved), 0);
	/* Tickets are in arrival order again, below queue_next. */
	assert_true(atomic_load(&wslot(f, starved.index)->ticket) <
	    atomic_load(next));
	assert_true(atomic_load(next) < 1000);
}

/* A sweep leaves honest tickets alone. */
static void test_sweep_keeps_honest_tickets(void **state)
{
	struct fx *f = *state;
	static struct cb_wq_sweep st;
	uint32_t active[CB_MAX_POOLS] = { [0] = 1, [P] = 1 }, hints;
	struct cb_wq_entry a, b;
	uint64_t ta, tb, next;

	memset(&st, 0, sizeof(st));
	enqueue(f, &f->r, 0, &a);
	enqueue(f, &f->r, 0, &b);
	ta = atomic_load(&wslot(f, a.index)->ticket);
	tb = atomic_load(&wslot(f, b.index)->ticket);
	next = atomic_load(&pslot(f, P)->queue_next);
	for (int i = 0; i < 3; i++)
		cb_wq_sweep(f->slots, active, &st, &hints);
	assert_int_equal(atomic_load(&wslot(f, a.index)->ticket), ta);
	assert_int_equal(atomic_load(&wslot(f, b.index)->ticket), tb);
	assert_int_equal(atomic_load(&pslot(f, P)->queue_next), next);
	assert_int_equal(cb_wq_position(f->slots, &b), 1);
}

/* A hint lowered to 0 by a hostile write: arrivals would barge; the
 * sweeper restores it. */
static void test_sweep_restores_zeroed_hint(void **state)
{
	struct fx *f = *state;
	static struct cb_wq_sweep st;
	uint32_t active[CB_MAX_POOLS] = { [0] = 1, [P] = 1 }, hints;
	struct cb_wq_entry a, b;

	memset(&st, 0, sizeof(st));
	enqueue(f, &f->r, 0, &a);
	enqueue(f, &f->r, 0, &b);
	atomic_store(&pslot(f, P)->queued, 0);
	cb_wq_sweep(f->slots, active, &st, &hints);
	cb_wq_sweep(f->slots, active, &st, &hints);
	assert_int_equal(hints, 1);
	assert_int_equal(queued(f), 2);
	/* A leave never takes it below zero. */
	atomic_store(&pslot(f, P)->queued, 0);
	assert_int_equal(cb_wq_leave(f->slots, &a), 0);
	assert_int_equal(queued(f), 0);
}

/* ---- threads: the real futex chain ------------------------------------- */

struct runner {
	struct fx *f;
	struct cb_wq_entry me;
	int label;
	_Atomic int *next;
	int *order;
	int ret;
};

static void *run_waiter(void *arg)
{
	struct runner *w = arg;
	cb_ticket t;

	w->ret = cb_wq_wait(&w->f->r, &w->me, CB_HOLD, 0, NULL, 0, &t);
	if (w->ret == 0) {
		w->order[atomic_fetch_add(w->next, 1)] = w->label;
		usleep(2000);
		cb_rsv_release(&w->f->r, &t);
	}
	return NULL;
}

/* Five threads asleep in the queue; one release starts a chain of
 * single wake-ups that serves them 5, 5, 0, 0, 0 in arrival order. */
static void test_threads_served_in_order(void **state)
{
	struct fx *f = *state;
	struct runner w[5];
	pthread_t th[5];
	_Atomic int next = 0;
	int order[5] = { -1, -1, -1, -1, -1 };
	static const int want[5] = { 2, 4, 0, 1, 3 };

	for (int i = 0; i < 5; i++) {
		w[i] = (struct runner){ .f = f, .label = i, .next = &next,
		    .order = order };
		enqueue(f, &f->r, PRIOS[i], &w[i].me);
	}
	for (int i = 0; i < 5; i++)
		assert_int_equal(pthread_create(&th[i], NULL, run_waiter,
		    &w[i]), 0);
	usleep(50000);
	assert_int_equal(atomic_load(&next), 0);
	assert_int_equal(cb_rsv_release(&f->r, &f->held), 0);
	for (int i = 0; i < 5; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(w[i].ret, 0);
	}
	assert_memory_equal(order, want, sizeof(want));
	assert_int_equal(queued(f), 0);
	assert_int_equal(CB_USAGE_HELD(atomic_load(&pslot(f, P)->usage)), 0);
}

/* A waiter that times out leaves no trace; a waiter behind it is
 * served by the next release. */
static void test_timeout_then_served(void **state)
{
	struct fx *f = *state;
	struct runner w = { .f = f, .label = 1 };
	struct cb_wq_entry gone;
	struct timespec soon = cb_deadline_after_ms(30);
	_Atomic int next = 0;
	int order[1] = { -1 };
	pthread_t th;
	cb_ticket t;

	w.next = &next;
	w.order = order;
	enqueue(f, &f->r, 0, &gone);
	enqueue(f, &f->r, 0, &w.me);
	assert_int_equal(pthread_create(&th, NULL, run_waiter, &w), 0);
	assert_int_equal(cb_wq_wait(&f->r, &gone, CB_HOLD, 0, &soon, 0, &t),
	    -ETIMEDOUT);
	assert_int_equal(cb_wq_leave(f->slots, &gone), 0);
	assert_int_equal(cb_rsv_release(&f->r, &f->held), 0);
	pthread_join(th, NULL);
	assert_int_equal(w.ret, 0);
	assert_int_equal(order[0], 1);
	assert_int_equal(queued(f), 0);
	assert_int_equal(waiters(f), 0);
}

struct retired_waiter {
	struct fx *f;
	struct cb_wq_entry me;
	int ret;
};

static void *run_retired_waiter(void *arg)
{
	struct retired_waiter *w = arg;
	cb_ticket t;

	w->ret = cb_wq_wait(&w->f->r, &w->me, CB_HOLD, 0, NULL, 0, &t);
	return NULL;
}

/*
 * Regression (issue 12): a blocking reserve that enqueued just after
 * retire() sent the queue out (broker/segments.c) waited for ever with
 * no deadline, as nothing is ever released in a retired segment and
 * cb_wq_wait never looked at the flag.  Here the pool stays full, the
 * waiter has no deadline, and the segment is retired the way retire()
 * does it (the flag, then release_seq moved and woken) without freeing
 * the entry.  The waiter must leave with -EPROTO; the join is bounded
 * (5 s, the fix needs at most one 1 s slice), so the unfixed wait fails
 * the test instead of hanging it.
 */
static void test_retired_while_queued(void **state)
{
	struct fx *f = *state;
	struct retired_waiter w = { .f = f, .ret = 1 };
	struct cb_state_hot *hot = cb_seg_region(f->state, CB_RS_HOT);
	struct cb_pool_slot *ps = pslot(f, P);
	struct timespec until;
	uint64_t sw;
	pthread_t th;
	int jr;

	enqueue(f, &f->r, 0, &w.me);
	assert_int_equal(pthread_create(&th, NULL, run_retired_waiter, &w),
	    0);
	sw = atomic_load(&hot->state_word);
	atomic_store_explicit(&hot->state_word, cb_state_pack(
	    CB_STATE_CAPACITY(sw), CB_STATE_SOURCE(sw),
	    CB_STATE_FLAGS(sw) | CB_STATE_F_RETIRED,
	    CB_STATE_GENERATION(sw) + 1), memory_order_release);
	atomic_fetch_add_explicit(&ps->release_seq, 1, memory_order_seq_cst);
	cb_futex_wake(&ps->release_seq, 0x7fffffff);
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 5;
	jr = pthread_timedjoin_np(th, NULL, &until);
	if (jr != 0) {
		/* Still waiting: send it out as retire() does queued
		 * entries (it returns -ESTALE), so the fixture outlives it. */
		cb_wq_entry_free(f->slots, w.me.index, w.me.word);
		cb_wq_wake_head(f->slots, P);
		atomic_fetch_add(&wslot(f, w.me.index)->wake, 1);
		cb_futex_wake(&wslot(f, w.me.index)->wake, 0x7fffffff);
		pthread_join(th, NULL);
		fail_msg("waiter still blocked 5 s after the segment was "
		    "retired (then freed: %d)", w.ret);
	}
	assert_int_equal(w.ret, -EPROTO);
	/* It left: nothing of it is queued, and the unit is still r's. */
	assert_int_equal(queued(f), 0);
	assert_int_equal(waiters(f), 0);
	assert_int_equal(CB_USAGE_HELD(atomic_load(&ps->usage)), 1);
}

#define WQ_TEST(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		WQ_TEST(test_order_priority_then_fifo),
		WQ_TEST(test_position_after_leaving),
		WQ_TEST(test_leave_hands_over),
		WQ_TEST(test_dead_owner_skipped_and_pruned),
		WQ_TEST(test_broker_reclaim_frees_and_wakes),
		WQ_TEST(test_close_drops_own_entries),
		WQ_TEST(test_reused_client_entry_not_live),
		WQ_TEST(test_failfast_does_not_barge),
		WQ_TEST(test_failfast_prunes_dead_head),
		WQ_TEST(test_table_full),
		WQ_TEST(test_sweep_repairs),
		WQ_TEST(test_sweep_repairs_waiters),
		WQ_TEST(test_sweep_rebases_hostile_tickets),
		WQ_TEST(test_sweep_keeps_honest_tickets),
		WQ_TEST(test_sweep_restores_zeroed_hint),
		WQ_TEST(test_threads_served_in_order),
		WQ_TEST(test_timeout_then_served),
		WQ_TEST(test_retired_while_queued),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
