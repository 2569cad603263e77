/*
 * clock.h - the clocks every program reads, in one place.
 *
 * CLOCK_MONOTONIC is what every deadline, heartbeat and timeout in
 * capbroker is measured on: it is one clock for every process of the
 * host, so a deadline written into shared memory by one process means
 * the same instant to every other.  CLOCK_REALTIME only stamps log lines
 * and event records for people.  Both are vDSO reads: no syscall.
 */
#ifndef CB_CLOCK_H
#define CB_CLOCK_H

#include <stdint.h>
#include <time.h>

#define CB_NS_PER_MS 1000000ull
#define CB_NS_PER_S 1000000000ull

static inline uint64_t cb_clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * CB_NS_PER_S + (uint64_t)ts.tv_nsec;
}

/* CLOCK_MONOTONIC in nanoseconds. */
static inline uint64_t cb_monotonic_ns(void)
{
	return cb_clock_ns(CLOCK_MONOTONIC);
}

/* CLOCK_REALTIME in nanoseconds. */
static inline uint64_t cb_realtime_ns(void)
{
	return cb_clock_ns(CLOCK_REALTIME);
}

/* CLOCK_MONOTONIC now plus ms milliseconds, as a timespec (futex(2),
 * an absolute deadline). */
static inline struct timespec cb_deadline_after_ms(long ms)
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

#endif /* CB_CLOCK_H */
