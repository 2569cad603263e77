/*
 * test_tp_lane_storm.c - the orderings of lane holds (lib/reserve.h,
 * "Lanes"), hammered: PROCS processes of THREADS threads hold and
 * release through their lanes on one contended pool (a quarter of the
 * releases by another thread of the process, so bias revocation runs
 * too), while this process plays the broker's sweeper and recounts the
 * pool as fast as it can.
 *
 * With honest clients and no deaths the counter is never above the
 * records by more than the open windows, nor below them: so every
 * recount whose double collect is consistent must find nothing to
 * repair (drift 0).  A window opened after the counter's CAS, a record
 * written before the admitting CAS or after the freeing one, or a
 * recount that misses a lane, shows up here as a repair of a live
 * unit (drift > 0) or a deficit (drift < 0); the limit is checked
 * against each process's own count of what it holds.
 *
 * So that consistent snapshots happen while windows are open (the
 * interesting case: U and the records differ by what the slack must
 * cover), the test build's pause points hold a thread inside its
 * window now and then: a spin of about STALL_SPINS iterations at one
 * window in STALL_EVERY.  And so that some happen at all on a slow
 * machine (under TSan a storm of 9 threads on 2 cores foils nearly
 * every recount), one recount attempt in FREEZE_EVERY is made with
 * every child stopped (SIGSTOP, wherever its threads are: inside a
 * window, between CAS and record): that snapshot must be consistent
 * and must need no repair.  The children go on past OPS until
 * MIN_BUSY such frozen recounts have found units held (at most
 * OPS_CAP pairs a thread).  Work is counted, not timed.
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
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "abi.h"
#include "reserve.h"
#include "segment.h"
#include "slots.h"
#include "sweep.h"
#include "testpoint.h"

#define NAME "tpstorm"
#define INSTANCE 0x0badc0ffee00002eull

#include "segfix.h"	/* after NAME and INSTANCE */

#define P 1
#define LIMIT 5
#define PROCS 3
#define THREADS 3
#define OPS 20000            /* hold + release pairs per thread */
#define STALL_EVERY 64
#define STALL_SPINS 20000
#define FREEZE_EVERY 16      /* recount attempts per frozen one */
#define MIN_BUSY 8           /* frozen recounts with units held */
#define OPS_CAP (OPS * 50)

/* Shared with the children (MAP_SHARED). */
struct shared {
	_Atomic uint32_t inuse;          /* holds every process believes it
	                                    has, from its return to its
	                                    release call */
	_Atomic uint32_t over;           /* inuse seen above LIMIT */
	_Atomic uint32_t running;        /* children not done */
	_Atomic uint32_t failed;         /* a child's call failed oddly */
	_Atomic uint32_t ready, go;      /* start line */
	_Atomic uint32_t enough;         /* MIN_BUSY frozen recounts seen */
};

static struct shared *sh;
static void *st, *sl;
static struct cb_rsv rsv;            /* the child's handle */
static _Thread_local unsigned stall_n;

/* The pause-point hook: now and then, stay inside the window. */
static void stall_hook(const char *name)
{
	if (strcmp(name, "reserve:lane-admitted") != 0 &&
	    strcmp(name, "reserve:release-in-window") != 0)
		return;
	if (++stall_n % STALL_EVERY != 0)
		return;
	for (volatile unsigned i = 0; i < STALL_SPINS; i++)
		;
}

/* A ticket handed to the thread next door for release. */
struct mailbox {
	pthread_mutex_t mu;
	cb_ticket t[THREADS];
	int full[THREADS];
	int done[THREADS];     /* its loop ended: hand it nothing more */
};

static struct mailbox box = { .mu = PTHREAD_MUTEX_INITIALIZER };

static void count_in(void)
{
	uint32_t n = atomic_fetch_add(&sh->inuse, 1) + 1;

	if (n > LIMIT)
		atomic_fetch_add(&sh->over, 1);
}

/* Release the ticket the thread before us handed over, if any (a
 * release from another thread than the lane's). */
static void drain_box(int me)
{
	cb_ticket theirs;

	pthread_mutex_lock(&box.mu);
	if (!box.full[me]) {
		pthread_mutex_unlock(&box.mu);
		return;
	}
	theirs = box.t[me];
	box.full[me] = 0;
	pthread_mutex_unlock(&box.mu);
	atomic_fetch_sub(&sh->inuse, 1);
	if (cb_rsv_release(&rsv, &theirs) != 0)
		atomic_fetch_add(&sh->failed, 1);
}

static void *worker(void *arg)
{
	int me = (int)(intptr_t)arg, next = (me + 1) % THREADS;
	cb_ticket t;
	int r;

	for (int i = 0; i < OPS_CAP && (i < OPS ||
	    !atomic_load(&sh->enough)); i++) {
		/* While full, give back what was handed to us: units in
		 * mailboxes must not starve the pool. */
		while ((r = cb_rsv_try(&rsv, P, CB_HOLD, 0, &t)) == -EAGAIN) {
			drain_box(me);
			sched_yield();
		}
		if (r != 0) {
			atomic_fetch_add(&sh->failed, 1);
			break;
		}
		count_in();
		if (i % 4 == 3) {
			/* Hand it to the next thread; release one handed to
			 * us, if any (a foreign release). */
			pthread_mutex_lock(&box.mu);
			if (box.full[next] || box.done[next]) {
				pthread_mutex_unlock(&box.mu);
				atomic_fetch_sub(&sh->inuse, 1);
				r = cb_rsv_release(&rsv, &t);
			} else {
				box.t[next] = t;
				box.full[next] = 1;
				pthread_mutex_unlock(&box.mu);
				r = 0;
			}
		} else {
			atomic_fetch_sub(&sh->inuse, 1);
			r = cb_rsv_release(&rsv, &t);
		}
		if (r != 0)
			atomic_fetch_add(&sh->failed, 1);
		drain_box(me);
	}
	/* No unit may wait in the box of a thread that no longer looks:
	 * with enough of them parked the others would wait for ever. */
	pthread_mutex_lock(&box.mu);
	box.done[me] = 1;
	pthread_mutex_unlock(&box.mu);
	drain_box(me);
	return NULL;
}

static int child(int k)
{
	pthread_t th[THREADS];

	cb_testpoint_hook = stall_hook;
	if (seg_rsv_try_open(&rsv, st, sl, getpid(), 7000 + k, 64) < 0 ||
	    cb_rsv_lanes_init(&rsv, 1) < 0)
		return 3;
	atomic_fetch_add(&sh->ready, 1);
	while (!atomic_load(&sh->go))
		sched_yield();
	for (int i = 0; i < THREADS; i++)
		pthread_create(&th[i], NULL, worker, (void *)(intptr_t)i);
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	/* Tickets still in a mailbox: released by this thread (foreign). */
	for (int i = 0; i < THREADS; i++)
		if (box.full[i]) {
			atomic_fetch_sub(&sh->inuse, 1);
			if (cb_rsv_release(&rsv, &box.t[i]) != 0)
				atomic_fetch_add(&sh->failed, 1);
		}
	cb_rsv_lanes_close(&rsv);
	return 0;
}

/* The children, stopped or reaped as they end. */
static pid_t pid[PROCS];
static int reaped[PROCS], stopped[PROCS], wstatus[PROCS];

/* Stop every child not yet reaped and wait until it has stopped (all
 * its threads); a child that exits meanwhile is reaped here. */
static void freeze(void)
{
	for (int k = 0; k < PROCS; k++) {
		int s;

		if (reaped[k])
			continue;
		assert_int_equal(kill(pid[k], SIGSTOP), 0);
		assert_int_equal(waitpid(pid[k], &s, WUNTRACED), pid[k]);
		if (WIFSTOPPED(s))
			stopped[k] = 1;
		else {
			reaped[k] = 1;
			wstatus[k] = s;
		}
	}
}

static void thaw(void)
{
	for (int k = 0; k < PROCS; k++)
		if (stopped[k]) {
			assert_int_equal(kill(pid[k], SIGCONT), 0);
			stopped[k] = 0;
		}
}

static void test_storm_recounts_find_nothing(void **state)
{
	struct cb_sweep_scratch *sc;
	size_t size;
	void *map = seg_map_pair(&size, &st, &sl);
	long consistent = 0, foiled = 0, drifted = 0, busy = 0;
	long attempts = 0, frozen = 0, frozen_busy = 0, frozen_foiled = 0;
	int64_t hd, ld, worst = 0;

	(void)state;
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(sh != MAP_FAILED);
	seg_pool_define(st, 0, 64, 2000, 0);
	seg_pool_define(st, P, LIMIT, 2000, 0);
	atomic_store(&sh->running, PROCS);
	for (int k = 0; k < PROCS; k++) {
		pid[k] = fork();
		assert_true(pid[k] >= 0);
		if (pid[k] == 0) {
			int r = child(k);

			atomic_fetch_sub(&sh->running, 1);
			_exit(r);
		}
	}
	/* After the forks: the children never free it (valgrind). */
	sc = calloc(1, sizeof(*sc));
	assert_non_null(sc);
	while (atomic_load(&sh->ready) < PROCS)
		sched_yield();
	atomic_store(&sh->go, 1);
	while (atomic_load(&sh->running) > 0) {
		int freezing = ++attempts % FREEZE_EVERY == 1, r;

		if (freezing)
			freeze();
		r = cb_rsv_recount(sl, P, sc, &hd, &ld);
		if (freezing) {
			/* Nothing moved: the snapshot is consistent. */
			frozen++;
			if (r == -EAGAIN)
				frozen_foiled++;
			else if (CB_USAGE_HELD(atomic_load(&cb_slots_pool(sl,
			    P)->usage)) != 0 && ++frozen_busy >= MIN_BUSY)
				atomic_store(&sh->enough, 1);
			thaw();
		}
		if (CB_USAGE_HELD(atomic_load(&cb_slots_pool(sl,
		    P)->usage)) > LIMIT)
			atomic_fetch_add(&sh->over, 1);
		if (r == -EAGAIN) {
			foiled++;
			continue;
		}
		consistent++;
		if (CB_USAGE_HELD(atomic_load(&cb_slots_pool(sl,
		    P)->usage)) != 0)
			busy++;
		if (hd != 0) {
			drifted++;
			if (llabs(hd) > llabs(worst))
				worst = hd;
		}
	}
	for (int k = 0; k < PROCS; k++) {
		if (!reaped[k])
			assert_int_equal(waitpid(pid[k], &wstatus[k], 0),
			    pid[k]);
		assert_true(WIFEXITED(wstatus[k]));
		assert_int_equal(WEXITSTATUS(wstatus[k]), 0);
	}
	print_message("      %ld consistent recounts (%ld with units "
	    "held), %ld foiled, %ld with drift (worst %lld); %ld of them "
	    "frozen (%ld with units held)\n", consistent, busy, foiled,
	    drifted, (long long)worst, frozen, frozen_busy);
	assert_int_equal(atomic_load(&sh->failed), 0);
	assert_int_equal(atomic_load(&sh->over), 0);
	assert_int_equal(drifted, 0);
	assert_int_equal(frozen_foiled, 0);
	/* Not vacuous: the recount did look while units were held. */
	assert_true(frozen_busy >= MIN_BUSY);
	assert_int_equal(CB_USAGE_HELD(atomic_load(&cb_slots_pool(sl,
	    P)->usage)), 0);
	assert_int_equal(cb_rsv_recount(sl, P, sc, &hd, &ld), 0);
	munmap(sh, sizeof(*sh));
	munmap(map, size);
	free(sc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_storm_recounts_find_nothing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
