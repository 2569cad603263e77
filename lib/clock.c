/*
 * clock.c - the clocks every program reads (see clock.h).
 */
#include "clock.h"

#include <stdatomic.h>
#include <stdio.h>

static uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * CB_NS_PER_S + (uint64_t)ts.tv_nsec;
}

uint64_t cb_monotonic_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

uint64_t cb_monotonic_coarse_margin_ns(void)
{
	/* Read once (0: not yet).  Relaxed: every thread that reads it
	 * computes the same value. */
	static _Atomic uint64_t margin;
	uint64_t m = atomic_load_explicit(&margin, memory_order_relaxed);
	struct timespec ts;

	if (m != 0)
		return m;
	m = 10 * CB_NS_PER_MS;
	if (clock_getres(CLOCK_MONOTONIC_COARSE, &ts) == 0 &&
	    2 * ((uint64_t)ts.tv_sec * CB_NS_PER_S + (uint64_t)ts.tv_nsec) >
	    m)
		m = 2 * ((uint64_t)ts.tv_sec * CB_NS_PER_S +
		    (uint64_t)ts.tv_nsec);
	atomic_store_explicit(&margin, m, memory_order_relaxed);
	return m;
}

uint64_t cb_monotonic_coarse_ceil_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC_COARSE) +
	    cb_monotonic_coarse_margin_ns();
}

uint64_t cb_realtime_ns(void)
{
	return clock_ns(CLOCK_REALTIME);
}

struct timespec cb_deadline_after_ms(long ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return ts;
}

void cb_utc_stamp(uint64_t realtime_ns, char *buf, size_t len)
{
	time_t t = (time_t)(realtime_ns / CB_NS_PER_S);
	struct tm tm;

	if (len == 0)
		return;
	if (realtime_ns == 0 || gmtime_r(&t, &tm) == NULL ||
	    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, len, "never");
}
