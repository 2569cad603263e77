/*
 * test_tp_place.c - blocked pickers (lib/place.h, "Blocked pickers";
 * issue 12, step 7): a picker that finds no room is counted in its
 * pool's `pickers`, sleeps on the pool's pickers word, and each unit
 * freed wakes one of them, not all, at once, not at a poll; a free of
 * several units reaches as many pickers through the admitted ones; a
 * killed picker's counts are repaired by the sweeper's reclaim and
 * recount.
 *
 * Nothing here waits on a clock.  Every picker sleeps with a backstop
 * of an hour, so any admission seen was sent by a wake, and the pause
 * points after the sleep (the test build's "place:woken" for a sleep a
 * wake ended, "place:slice" for one that ran out), counted by the hook
 * below, say how many sleepers each step woke.  A step waits until
 * the pickers it expects in are in and each picker still out is asleep
 * in FUTEX_WAIT on the pool's pickers word (/proc/PID/task/TID/syscall
 * names the syscall and its address).  A task just woken can still
 * read as asleep there for a moment, so a step's counts could miss a
 * stray wake; the totals, checked after every picker is joined, cannot.
 *
 * Segments are built in memory the broker's way (segfix.h).
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
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "abi.h"
#include "place.h"
#include "reserve.h"
#include "segment.h"
#include "seqlock.h"
#include "slots.h"
#include "state_word.h"
#include "sweep.h"
#include "testpoint.h"

#define NAME "tppick"
#define INSTANCE 0x0badc0ffee000011ull

#include "segfix.h"	/* after NAME and INSTANCE */

#define START 4242ull
#define LOCAL_SIZE 64u
#define P 1                    /* the pool the pickers wait in */
#define SLOT 3                 /* the one worker's placement slot */
#define NPICK 4
#define HOUR_MS (3600L * 1000)

struct picker {
	struct fx *f;
	struct cb_rsv *r;          /* NULL: f->r2 */
	pthread_t thread;
	_Atomic pid_t tid;
	_Atomic int done;
	int ret;
	cb_ticket t;
};

struct crowd {
	struct fx *f;
	struct picker *pk;
	int n;
	int want;                  /* finished pickers to wait for */
	int elsewhere;             /* one slept on another futex word */
};

struct fx {
	void *state;
	void *slots;
	void *map;                 /* one MAP_SHARED mapping for both */
	size_t map_size;
	struct cb_rsv r;           /* the test's own client */
	struct cb_rsv r2;          /* the pickers' (threads share it) */
	struct cb_rsv r3;          /* another client's (if opened) */
	/* The pickers, here, not on a test's stack: a failed test leaves
	 * them running (teardown then leaks the fixture, not unmaps it). */
	struct picker pk[NPICK];
	struct crowd c;
	int running;               /* pickers started, not all joined */
};

/* Sleeps of the pickers ended by a wake (or by K[p] moved before the
 * sleep began), and sleeps that ran out (the backstop). */
static _Atomic int woken;
static _Atomic int slices;
/* A forked picker kills itself at this point (NULL: none). */
static const char *die_at;

static void count_hook(const char *name)
{
	if (die_at != NULL && strcmp(name, die_at) == 0)
		raise(SIGKILL);
	if (strcmp(name, "place:woken") == 0)
		atomic_fetch_add(&woken, 1);
	else if (strcmp(name, "place:slice") == 0)
		atomic_fetch_add(&slices, 1);
}

/* ---- fixture ------------------------------------------------------------ */

static struct cb_pool_slot *pslot(struct fx *f)
{
	return cb_slots_pool(f->slots, P);
}

static uint32_t gpickers(struct fx *f)
{
	return atomic_load(&cb_slots_hot(f->slots)->pickers);
}

/* One ready worker "a" in slot SLOT with room for `limit`. */
static void publish_worker(struct fx *f, uint32_t limit)
{
	struct cb_worker_table *t = cb_seg_region(f->state, CB_RS_WORKERS);
	struct cb_worker_rec rec;

	memset(&rec, 0, sizeof(rec));
	snprintf(rec.id, sizeof(rec.id), "a");
	rec.state = CB_WORKER_READY;
	rec.max_running = rec.limit = limit;
	rec.slot = SLOT;
	cb_seqlock_write_begin(&t->seq);
	__atomic_store_n(&t->count, 1, __ATOMIC_RELAXED);
	cb_seq_copy_in(cb_seg_record(f->state, CB_RS_WORKERS, sizeof(*t), 0),
	    &rec, sizeof(rec));
	cb_seqlock_write_end(&t->seq);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->map = seg_map_pair(&f->map_size, &f->state, &f->slots);
	seg_pool_define(f->state, 0, 100, 2000, 0);
	seg_pool_define(f->state, P, 100, 2000, 0);
	seg_rsv_open(&f->r, f->state, f->slots, getpid(), START, LOCAL_SIZE);
	seg_rsv_open(&f->r2, f->state, f->slots, getpid() + 1, START,
	    LOCAL_SIZE);
	publish_worker(f, 100);
	atomic_store(&woken, 0);
	atomic_store(&slices, 0);
	die_at = NULL;
	cb_testpoint_hook = count_hook;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	cb_testpoint_hook = NULL;
	if (f->running)
		return 0;  /* failed with pickers out: they keep f */
	free((void *)f->r.local);
	free((void *)f->r2.local);
	free((void *)f->r3.local);
	munmap(f->map, f->map_size);
	free(f);
	return 0;
}

/* ---- helpers ----------------------------------------------------------- */

/* Is task tid of process pid asleep in futex()?  1 on addr, -1 on
 * another word, 0 not asleep in futex().  The kernel shows a blocked
 * task's syscall number and arguments; a running one reads "running". */
static int asleep_on(pid_t pid, pid_t tid, const void *addr)
{
	char path[64], buf[256];
	unsigned long long nr, a0;
	FILE *fp;
	int ok = 0;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/syscall", (int)pid,
	    (int)tid);
	if ((fp = fopen(path, "r")) == NULL)
		return 0;
	if (fgets(buf, sizeof(buf), fp) != NULL &&
	    sscanf(buf, "%llu 0x%llx", &nr, &a0) == 2 &&
	    nr == (unsigned long long)SYS_futex)
		ok = a0 == (unsigned long long)(uintptr_t)addr ? 1 : -1;
	fclose(fp);
	return ok;
}

/* Poll (not a timed assertion: the bound only turns a hang into a
 * failure) until cond(arg) holds. */
static int settle_until(int (*cond)(void *), void *arg)
{
	struct timespec ms = { 0, 1000000 };

	for (long i = 0; i < 60L * 1000; i++) {
		if (cond(arg))
			return 1;
		nanosleep(&ms, NULL);
	}
	return 0;
}

static int finished(const struct crowd *c)
{
	int n = 0;

	for (int i = 0; i < c->n; i++)
		n += atomic_load(&c->pk[i].done);
	return n;
}

static int admitted(const struct crowd *c)
{
	int n = 0;

	for (int i = 0; i < c->n; i++)
		n += atomic_load(&c->pk[i].done) && c->pk[i].ret == 0;
	return n;
}

/* c->want pickers have finished (admitted, the caller checks), and
 * every picker still out is asleep (c->elsewhere: one on another word
 * than the pickers word, which the caller checks). */
static int settled(void *arg)
{
	struct crowd *c = arg;

	if (finished(c) < c->want)
		return 0;
	for (int i = 0; i < c->n; i++) {
		pid_t tid = atomic_load(&c->pk[i].tid);
		int a;

		if (atomic_load(&c->pk[i].done))
			continue;
		if (tid == 0)
			return 0;
		a = asleep_on(getpid(), tid, &pslot(c->f)->pick_seq);
		if (a == 0)
			return 0;
		if (a < 0)
			c->elsewhere = 1;
	}
	return 1;
}

/* Wait until `want` pickers are out and the rest asleep. */
static void crowd_settle(struct crowd *c, int want)
{
	c->want = want;
	c->elsewhere = 0;
	assert_true(settle_until(settled, c));
}

/* PICKING records of client r's partition (of pool P). */
static uint32_t records(struct fx *f, const struct cb_rsv *r)
{
	uint32_t n = 0;

	for (uint32_t k = 0; k < CB_BINDS_PER_CLIENT; k++) {
		uint64_t w = atomic_load(&cb_slots_bind(f->slots,
		    r->client * CB_BINDS_PER_CLIENT + k)->word);

		n += CB_BIND_STATE(w) == CB_BIND_PICKING &&
		    CB_BIND_POOL(w) == P;
	}
	return n;
}

static struct cb_rsv *picker_rsv(struct picker *pk)
{
	return pk->r != NULL ? pk->r : &pk->f->r2;
}

static void *picker_main(void *arg)
{
	struct picker *pk = arg;
	struct cb_place_waiting how = { .backstop_ms = HOUR_MS };
	char id[CB_WORKER_ID_STRLEN];

	atomic_store(&pk->tid, (pid_t)syscall(SYS_gettid));
	pk->ret = cb_place_wait(picker_rsv(pk), P, CB_PLACE_CONSOLIDATE, &how,
	    &pk->t, id);
	atomic_store(&pk->done, 1);
	return NULL;
}

/* The fixture's n pickers, not started. */
static struct crowd *crowd_of(struct fx *f, int n)
{
	memset(f->pk, 0, sizeof(f->pk));
	f->c = (struct crowd){ .f = f, .pk = f->pk, .n = n };
	return &f->c;
}

/* Start the pickers and return once all are asleep. */
static void crowd_start(struct crowd *c)
{
	c->f->running = 1;
	for (int i = 0; i < c->n; i++) {
		c->pk[i].f = c->f;
		assert_int_equal(pthread_create(&c->pk[i].thread, NULL,
		    picker_main, &c->pk[i]), 0);
	}
	crowd_settle(c, 0);
}

static void crowd_join(struct crowd *c)
{
	for (int i = 0; i < c->n; i++)
		assert_int_equal(pthread_join(c->pk[i].thread, NULL), 0);
	c->f->running = 0;
}

/* Release the bind of the first admitted picker not yet released. */
static void release_one_picked(struct crowd *c, int *released)
{
	for (int i = 0; i < c->n; i++) {
		if (!atomic_load(&c->pk[i].done) || (*released & (1 << i)))
			continue;
		assert_int_equal(c->pk[i].ret, 0);
		assert_int_equal(cb_rsv_release(picker_rsv(&c->pk[i]),
		    &c->pk[i].t), 0);
		*released |= 1 << i;
		return;
	}
	fail_msg("no admitted picker to release");
}

/* Has child exited (not reaped)? */
static int dead(pid_t child)
{
	siginfo_t si;

	memset(&si, 0, sizeof(si));
	return waitid(P_PID, (id_t)child, &si, WEXITED | WNOHANG | WNOWAIT) ==
	    0 && si.si_pid == child;
}

/* Fork a picker of f->r2 that dies at point `die` (NULL: none).  Returns
 * its pid once it is dead (not reaped), or, with `asleep`, once it is
 * asleep on the pickers word. */
static pid_t fork_picker(struct fx *f, const char *die, int asleep)
{
	struct cb_place_waiting how = { .backstop_ms = HOUR_MS };
	char id[CB_WORKER_ID_STRLEN];
	cb_ticket t;
	pid_t child = fork();
	int a;

	assert_true(child >= 0);
	if (child == 0) {
		/* Killed with us if a failed test leaves it behind. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		die_at = die;
		_exit(cb_place_wait(&f->r2, P, CB_PLACE_CONSOLIDATE, &how, &t,
		    id) == 0 ? 0 : 1);
	}
	for (long i = 0; i < 60L * 1000; i++) {
		if (!asleep && dead(child))
			return child;
		/* Asleep on another word: the caller's counts tell. */
		a = asleep_on(child, child, &pslot(f)->pick_seq);
		if (asleep && a != 0)
			return child;
		if (a != 0)
			break;
		nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
	}
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	if (!asleep)
		fail_msg("the picker went to sleep, not dying at %s", die);
	fail_msg("the picker never went to sleep");
	return -1;
}

static void reap_killed(pid_t child)
{
	int status;

	assert_int_equal(waitpid(child, &status, 0), child);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGKILL);
}

/* ---- tests ------------------------------------------------------------- */

/*
 * The herd: NPICK pickers asleep on a full pool; each unit freed admits
 * exactly one, with one FUTEX_WAKE that wakes exactly one sleeper; the
 * others stay asleep and counted.  Then every unit freed admits the
 * next, until all are in: one wake each, no slice ever ran out.
 */
static void test_one_unit_wakes_one(void **state)
{
	struct fx *f = *state;
	struct crowd *c = crowd_of(f, NPICK);
	char id[CB_WORKER_ID_STRLEN];
	cb_ticket held[2];
	uint32_t k0, counted, all, rec;
	int released = 0;

	seg_pool_define(f->state, P, 2, 2000, 0);
	assert_int_equal(cb_place_try(&f->r, P, CB_PLACE_CONSOLIDATE,
	    &held[0], id), 0);
	assert_int_equal(cb_place_try(&f->r, P, CB_PLACE_CONSOLIDATE,
	    &held[1], id), 0);
	crowd_start(c);
	counted = atomic_load(&pslot(f)->pickers);
	all = gpickers(f);
	rec = records(f, &f->r2);
	k0 = atomic_load(&pslot(f)->pick_seq);

	for (int unit = 1; unit <= 2; unit++) {
		assert_int_equal(cb_rsv_release(&f->r, &held[unit - 1]), 0);
		crowd_settle(c, unit);
		assert_int_equal(admitted(c), unit);
		/* In by the release's wake, not at the end of a slice (no
		 * sleep ran out: the old code's pickers were in only by
		 * their 10 ms poll). */
		assert_int_equal(atomic_load(&slices), 0);
		/* One wake sent, one sleeper woken: no herd. */
		assert_int_equal(atomic_load(&woken), unit);
		assert_int_equal(atomic_load(&pslot(f)->pick_seq), k0 + unit);
		/* Blocked, they were counted: the pool's and the segment's
		 * count, one record each; the rest still are, asleep on the
		 * pickers word. */
		assert_int_equal(counted, NPICK);
		assert_int_equal(all, NPICK);
		assert_int_equal(rec, NPICK);
		assert_false(c->elsewhere);
		assert_int_equal(atomic_load(&pslot(f)->pickers),
		    NPICK - unit);
		assert_int_equal(gpickers(f), NPICK - unit);
		assert_int_equal(records(f, &f->r2), NPICK - unit);
	}
	/* Each picker's unit, freed, admits the next. */
	for (int unit = 3; unit <= NPICK; unit++) {
		release_one_picked(c, &released);
		crowd_settle(c, unit);
		assert_int_equal(admitted(c), unit);
		assert_int_equal(atomic_load(&woken), unit);
		assert_int_equal(atomic_load(&pslot(f)->pickers),
		    NPICK - unit);
	}
	crowd_join(c);
	/* The totals, every picker joined: one wake sent and one sleep
	 * ended per picker, none by its slice. */
	assert_int_equal(atomic_load(&woken), NPICK);
	assert_int_equal(atomic_load(&slices), 0);
	assert_int_equal(atomic_load(&pslot(f)->pick_seq), k0 + NPICK);
	assert_int_equal(gpickers(f), 0);
	assert_int_equal(records(f, &f->r2), 0);
	while (released != (1 << NPICK) - 1)
		release_one_picked(c, &released);
	assert_int_equal(atomic_load(&cb_slots_worker(f->slots,
	    SLOT)->inflight), 0);
}

/*
 * A limit raised by two units sends one wake (cb_rsv_wake, as the
 * publisher does): the picker it admits passes it on while the pool
 * has room, so two are admitted, and the third stays asleep.
 */
static void test_raise_reaches_as_many(void **state)
{
	struct fx *f = *state;
	struct crowd *c = crowd_of(f, 3);
	char id[CB_WORKER_ID_STRLEN];
	cb_ticket held;
	uint32_t k0;
	int released = 0;

	seg_pool_define(f->state, P, 1, 2000, 0);
	assert_int_equal(cb_place_try(&f->r, P, CB_PLACE_CONSOLIDATE, &held,
	    id), 0);
	crowd_start(c);
	k0 = atomic_load(&pslot(f)->pick_seq);
	seg_pool_define(f->state, P, 3, 2000, 0);
	cb_rsv_wake(f->slots, P);
	crowd_settle(c, 2);
	assert_int_equal(admitted(c), 2);
	assert_int_equal(atomic_load(&slices), 0);
	assert_int_equal(atomic_load(&woken), 2);
	assert_int_equal(atomic_load(&pslot(f)->pick_seq), k0 + 2);
	assert_int_equal(atomic_load(&pslot(f)->pickers), 1);
	/* The last one comes in with the next unit. */
	assert_int_equal(cb_rsv_release(&f->r, &held), 0);
	crowd_settle(c, 3);
	crowd_join(c);
	assert_int_equal(admitted(c), 3);
	assert_int_equal(atomic_load(&woken), 3);
	assert_int_equal(atomic_load(&slices), 0);
	assert_int_equal(atomic_load(&pslot(f)->pickers), 0);
	for (int i = 0; i < 3; i++)
		release_one_picked(c, &released);
}

/*
 * A worker unit freed in one pool wakes a picker of another pool that
 * waits for a worker with room (its own pool has room).
 */
static void test_worker_unit_wakes_other_pool(void **state)
{
	struct fx *f = *state;
	struct crowd *c = crowd_of(f, 1);
	char id[CB_WORKER_ID_STRLEN];
	cb_ticket held;
	uint32_t counted;
	int released = 0;

	publish_worker(f, 1);
	/* The worker's only unit, bound through pool 0. */
	assert_int_equal(cb_place_try(&f->r, 0, CB_PLACE_CONSOLIDATE, &held,
	    id), 0);
	crowd_start(c);
	counted = atomic_load(&pslot(f)->pickers);
	assert_int_equal(cb_rsv_release(&f->r, &held), 0);
	crowd_settle(c, 1);
	crowd_join(c);
	assert_int_equal(admitted(c), 1);
	assert_int_equal(atomic_load(&slices), 0);
	assert_int_equal(atomic_load(&woken), 1);
	assert_int_equal(counted, 1);
	release_one_picked(c, &released);
}

/*
 * The worker table republished with room on a worker (its limit
 * raised; the publisher calls cb_place_wake_table after the write):
 * a picker waiting for a worker with room is woken at once.
 */
static void test_republished_table_wakes(void **state)
{
	struct fx *f = *state;
	struct crowd *c = crowd_of(f, 1);
	char id[CB_WORKER_ID_STRLEN];
	cb_ticket held;
	int released = 0;

	publish_worker(f, 1);
	assert_int_equal(cb_place_try(&f->r, P, CB_PLACE_CONSOLIDATE, &held,
	    id), 0);
	crowd_start(c);
	publish_worker(f, 2);
	cb_place_wake_table(f->slots);
	crowd_settle(c, 1);
	crowd_join(c);
	assert_int_equal(admitted(c), 1);
	assert_int_equal(atomic_load(&slices), 0);
	assert_int_equal(atomic_load(&woken), 1);
	release_one_picked(c, &released);
	assert_int_equal(cb_rsv_release(&f->r, &held), 0);
}

/*
 * A picker whose partition has one entry free waits with its record
 * there, and its admission turns the record into its bind: waiting
 * costs it no entry of its own.
 */
static void test_record_becomes_bind(void **state)
{
	struct fx *f = *state;
	static cb_ticket binds[CB_BINDS_PER_CLIENT - 1];
	struct crowd *c = crowd_of(f, 1);
	struct picker *pk = c->pk;
	char id[CB_WORKER_ID_STRLEN];
	cb_ticket held;
	int released = 0;
	uint32_t e;

	seg_rsv_open(&f->r3, f->state, f->slots, getpid() + 2, START,
	    2 * CB_BINDS_PER_CLIENT);
	pk[0].r = &f->r3;
	publish_worker(f, 2 * CB_BINDS_PER_CLIENT);
	seg_pool_define(f->state, P, CB_BINDS_PER_CLIENT, 2000, 0);
	for (int i = 0; i < CB_BINDS_PER_CLIENT - 1; i++)
		assert_int_equal(cb_place_try(&f->r3, P, CB_PLACE_CONSOLIDATE,
		    &binds[i], id), 0);
	/* The pool's last unit to another client: r3 must wait. */
	assert_int_equal(cb_place_try(&f->r, P, CB_PLACE_CONSOLIDATE, &held,
	    id), 0);
	crowd_start(c);
	assert_int_equal(records(f, &f->r3), 1);
	assert_int_equal(cb_rsv_release(&f->r, &held), 0);
	crowd_settle(c, 1);
	crowd_join(c);
	assert_int_equal(pk[0].ret, 0);
	e = (uint32_t)(pk[0].t.opaque[0] >> 32);
	assert_int_equal(CB_BIND_STATE(atomic_load(&cb_slots_bind(f->slots,
	    e)->word)), CB_BIND_BOUND);
	assert_int_equal(records(f, &f->r3), 0);
	assert_int_equal(atomic_load(&pslot(f)->pickers), 0);
	assert_int_equal(gpickers(f), 0);
	release_one_picked(c, &released);
	for (int i = 0; i < CB_BINDS_PER_CLIENT - 1; i++)
		assert_int_equal(cb_rsv_release(&f->r3, &binds[i]), 0);
	assert_int_equal(atomic_load(&cb_slots_worker(f->slots,
	    SLOT)->inflight), 0);
}

/*
 * A picker killed while it waits: its count stays raised until the
 * sweeper's reclaim of its client frees its record and lowers the
 * counts; the recount then finds nothing to repair.
 */
static void test_killed_picker_reclaimed(void **state)
{
	struct fx *f = *state;
	uint32_t per_pool[CB_MAX_POOLS] = { 0 };
	static struct cb_sweep_scratch sc;
	static int64_t drift[CB_MAX_WORKERS];
	char id[CB_WORKER_ID_STRLEN];
	cb_ticket held;
	pid_t child;

	seg_pool_define(f->state, P, 1, 2000, 0);
	assert_int_equal(cb_place_try(&f->r, P, CB_PLACE_CONSOLIDATE, &held,
	    id), 0);
	child = fork_picker(f, NULL, 1);
	assert_int_equal(atomic_load(&pslot(f)->pickers), 1);
	assert_int_equal(gpickers(f), 1);
	assert_int_equal(records(f, &f->r2), 1);
	assert_int_equal(asleep_on(child, child, &pslot(f)->pick_seq), 1);
	assert_int_equal(kill(child, SIGKILL), 0);
	reap_killed(child);
	/* Dead, still counted: every release would wake nobody. */
	assert_int_equal(atomic_load(&pslot(f)->pickers), 1);
	assert_int_equal(gpickers(f), 1);
	assert_true(cb_rsv_reclaim(f->slots, f->r2.client, f->r2.owner,
	    per_pool) >= 0);
	assert_int_equal(atomic_load(&pslot(f)->pickers), 0);
	assert_int_equal(gpickers(f), 0);
	assert_int_equal(records(f, &f->r2), 0);
	assert_int_equal(cb_place_recount(f->slots, &sc, drift), 0);
	/* Nobody counted: a release sends no wake. */
	assert_int_equal(cb_rsv_release(&f->r, &held), 0);
	assert_int_equal(atomic_load(&pslot(f)->pick_seq), 0);
}

/*
 * A picker killed after a wake ended its sleep, before its attempt:
 * the wake is not lost; the reclaim of its client sends it again, to
 * the next sleeper.  The kernel wakes the sleepers of one futex word in
 * the order they slept (same priority: FIFO within the hash bucket), so
 * the forked picker, asleep first, is the one the release wakes.
 */
static void test_killed_woken_wake_resent(void **state)
{
	struct fx *f = *state;
	struct crowd *c = crowd_of(f, 1);
	uint32_t per_pool[CB_MAX_POOLS] = { 0 };
	char id[CB_WORKER_ID_STRLEN];
	cb_ticket held;
	int released = 0;
	pid_t child;

	seg_pool_define(f->state, P, 1, 2000, 0);
	assert_int_equal(cb_place_try(&f->r, P, CB_PLACE_CONSOLIDATE, &held,
	    id), 0);
	child = fork_picker(f, "place:woken", 1);
	/* The other sleeper, of another client (the reclaim is r2's). */
	seg_rsv_open(&f->r3, f->state, f->slots, getpid() + 2, START,
	    LOCAL_SIZE);
	c->pk[0].r = &f->r3;
	crowd_start(c);
	assert_int_equal(atomic_load(&pslot(f)->pickers), 2);
	assert_int_equal(cb_rsv_release(&f->r, &held), 0);
	for (long i = 0; i < 60L * 1000 && !dead(child) &&
	    !atomic_load(&c->pk[0].done); i++)
		nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
	if (atomic_load(&c->pk[0].done))
		fail_msg("the later sleeper was woken first: this test "
		    "assumes FIFO futex wakes");
	reap_killed(child);
	/* The wake died with it: the other sleeps on, the unit free. */
	crowd_settle(c, 0);
	assert_int_equal(admitted(c), 0);
	assert_int_equal(atomic_load(&woken), 0);
	assert_int_equal(atomic_load(&pslot(f)->pickers), 2);
	assert_true(cb_rsv_reclaim(f->slots, f->r2.client, f->r2.owner,
	    per_pool) >= 0);
	crowd_settle(c, 1);
	crowd_join(c);
	assert_int_equal(admitted(c), 1);
	assert_int_equal(atomic_load(&slices), 0);
	assert_int_equal(atomic_load(&woken), 1);
	assert_int_equal(atomic_load(&pslot(f)->pickers), 0);
	release_one_picked(c, &released);
}

/*
 * A picker killed between its raise of the counts and its record (in
 * its window): the reclaim finds no record, and the recount brings the
 * counts down, only once the window is gone (an open one may stand
 * for exactly such a picker, alive).
 */
static void test_killed_counted_recount(void **state)
{
	struct fx *f = *state;
	uint32_t per_pool[CB_MAX_POOLS] = { 0 };
	static struct cb_sweep_scratch sc;
	static int64_t drift[CB_MAX_WORKERS];
	char id[CB_WORKER_ID_STRLEN];
	cb_ticket held;

	seg_pool_define(f->state, P, 1, 2000, 0);
	assert_int_equal(cb_place_try(&f->r, P, CB_PLACE_CONSOLIDATE, &held,
	    id), 0);
	reap_killed(fork_picker(f, "place:counted", 0));
	assert_int_equal(atomic_load(&pslot(f)->pickers), 1);
	assert_int_equal(gpickers(f), 1);
	assert_int_equal(records(f, &f->r2), 0);
	/* Its window is open: the safe side, nothing trimmed. */
	assert_true(cb_place_recount(f->slots, &sc, drift) >= 0);
	assert_int_equal(atomic_load(&pslot(f)->pickers), 1);
	assert_int_equal(gpickers(f), 1);
	assert_true(cb_rsv_reclaim(f->slots, f->r2.client, f->r2.owner,
	    per_pool) >= 0);
	assert_int_equal(atomic_load(&pslot(f)->pickers), 1);
	/* Window closed by the reclaim: both counts repaired. */
	assert_int_equal(cb_place_recount(f->slots, &sc, drift), 2);
	assert_int_equal(atomic_load(&pslot(f)->pickers), 0);
	assert_int_equal(gpickers(f), 0);
	assert_int_equal(cb_place_recount(f->slots, &sc, drift), 0);
	assert_int_equal(cb_rsv_release(&f->r, &held), 0);
	assert_int_equal(atomic_load(&pslot(f)->pick_seq), 0);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_one_unit_wakes_one),
		T(test_raise_reaches_as_many),
		T(test_worker_unit_wakes_other_pool),
		T(test_republished_table_wakes),
		T(test_record_becomes_bind),
		T(test_killed_picker_reclaimed),
		T(test_killed_woken_wake_resent),
		T(test_killed_counted_recount),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
