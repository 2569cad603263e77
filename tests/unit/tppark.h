/*
 * tppark.h - park one thread at test points (lib/testpoint.h), one
 * point after another, in the test-point build's unit tests
 * (test_tp_barge.c, test_tp_cancel.c).  tphold.h holds a thread once;
 * this walks it through several points of one wait.
 *
 * Only a thread that set park_me is parked, at the point armed for it:
 * park_start() arms the first point and starts the thread, which stops
 * there; park_wait_at(point) waits until it is parked at point;
 * park_resume(next) lets it go on to stop next at `next` (NULL:
 * nowhere).  The hook is park_hook (cb_testpoint_hook), or a hook of
 * the test's own that calls it.
 */
#ifndef CB_TPPARK_H
#define CB_TPPARK_H

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static _Thread_local int park_me;
static pthread_mutex_t park_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t park_cv = PTHREAD_COND_INITIALIZER;
static const char *park_armed;  /* where the thread stops next */
static const char *park_held;   /* where it is stopped, or NULL */
static int park_go;

static void park_hook(const char *name)
{
	if (!park_me)
		return;
	pthread_mutex_lock(&park_mu);
	if (park_armed == NULL || strcmp(name, park_armed) != 0) {
		pthread_mutex_unlock(&park_mu);
		return;
	}
	park_armed = NULL;
	park_held = name;
	park_go = 0;
	pthread_cond_broadcast(&park_cv);
	while (!park_go)
		pthread_cond_wait(&park_cv, &park_mu);
	park_held = NULL;
	pthread_mutex_unlock(&park_mu);
}

/* Wait until the thread is parked at point (a point never reached
 * fails the binary instead of hanging make check). */
static void park_wait_at(const char *point)
{
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 60;
	pthread_mutex_lock(&park_mu);
	while (park_held == NULL || strcmp(park_held, point) != 0)
		if (pthread_cond_timedwait(&park_cv, &park_mu, &until) ==
		    ETIMEDOUT) {
			fprintf(stderr, "no thread reached %s\n", point);
			abort();
		}
	pthread_mutex_unlock(&park_mu);
}

/* Let the parked thread go on, to stop next at `next` (NULL: nowhere). */
static void park_resume(const char *next)
{
	pthread_mutex_lock(&park_mu);
	park_armed = next;
	park_go = 1;
	pthread_cond_broadcast(&park_cv);
	pthread_mutex_unlock(&park_mu);
}

/* Start fn(arg) in *t (fn sets park_me) and wait until it is parked at
 * point.  Returns pthread_create's result (0). */
static int park_start(const char *point, void *(*fn)(void *), void *arg,
    pthread_t *t)
{
	int r;

	pthread_mutex_lock(&park_mu);
	park_armed = point;
	park_held = NULL;
	pthread_mutex_unlock(&park_mu);
	r = pthread_create(t, NULL, fn, arg);
	if (r == 0)
		park_wait_at(point);
	return r;
}

#endif /* CB_TPPARK_H */
