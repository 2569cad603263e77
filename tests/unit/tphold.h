/*
 * tphold.h - hold one thread at a test point (lib/testpoint.h) in the
 * test-point build's unit tests (tests/unit/test_tp_*.c).
 *
 * The hook runs in every thread that reaches any point; it holds only
 * a thread that asked to be held (hold_me = 1 in that thread), at the
 * point named by hold_arm(), once.  The test waits with
 * hold_wait_reached(), does its part, then hold_release() and, after
 * joining the thread, hold_disarm().  hold_start() and hold_finish()
 * are those steps around a thread of the test's own.
 */
#ifndef CB_TPHOLD_H
#define CB_TPHOLD_H

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "testpoint.h"

static _Thread_local int hold_me;
static const char *volatile hold_at;
static pthread_mutex_t hold_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t hold_cv = PTHREAD_COND_INITIALIZER;
static int hold_reached, hold_go;

static inline void hold_hook(const char *name)
{
	if (!hold_me || hold_at == NULL || strcmp(name, hold_at) != 0)
		return;
	hold_me = 0;
	pthread_mutex_lock(&hold_mu);
	hold_reached = 1;
	pthread_cond_broadcast(&hold_cv);
	while (!hold_go)
		pthread_cond_wait(&hold_cv, &hold_mu);
	pthread_mutex_unlock(&hold_mu);
}

static inline void hold_arm(const char *point)
{
	pthread_mutex_lock(&hold_mu);
	hold_reached = hold_go = 0;
	pthread_mutex_unlock(&hold_mu);
	hold_at = point;
	cb_testpoint_hook = hold_hook;
}

/* How long a test waits for its thread to reach the point: a point
 * that is renamed or no longer reached fails the test binary (abort)
 * instead of hanging make check. */
#ifndef HOLD_REACH_TIMEOUT_S
#define HOLD_REACH_TIMEOUT_S 60
#endif

static inline void hold_wait_reached(void)
{
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += HOLD_REACH_TIMEOUT_S;
	pthread_mutex_lock(&hold_mu);
	while (!hold_reached)
		if (pthread_cond_timedwait(&hold_cv, &hold_mu, &until) ==
		    ETIMEDOUT && !hold_reached) {
			fprintf(stderr, "tphold: no thread reached test point "
			    "%s in %d s\n", hold_at != NULL ? hold_at : "?",
			    HOLD_REACH_TIMEOUT_S);
			abort();
		}
	pthread_mutex_unlock(&hold_mu);
}

static inline void hold_release(void)
{
	pthread_mutex_lock(&hold_mu);
	hold_go = 1;
	pthread_cond_broadcast(&hold_cv);
	pthread_mutex_unlock(&hold_mu);
}

static inline void hold_disarm(void)
{
	cb_testpoint_hook = NULL;
	hold_at = NULL;
}

/* Start fn(arg) in a thread (which sets hold_me) and return once it is
 * held at point. */
static inline int hold_start(pthread_t *t, const char *point,
    void *(*fn)(void *), void *arg)
{
	int r;

	hold_arm(point);
	if ((r = pthread_create(t, NULL, fn, arg)) != 0)
		return r;
	hold_wait_reached();
	return 0;
}

/* Let the held thread go, join it and disarm. */
static inline int hold_finish(pthread_t t)
{
	int r;

	hold_release();
	r = pthread_join(t, NULL);
	hold_disarm();
	return r;
}

#endif /* CB_TPHOLD_H */
