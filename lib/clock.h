/*
 * clock.h - the clocks every program reads, in one place.
 *
 * Out of line (lib/clock.c) so that a test harness can link its own
 * clock instead (tests/fuzz/fuzz_slots.c runs on the input's time).
 *
 * CLOCK_MONOTONIC is what every deadline, heartbeat and timeout in
 * capbroker is measured on: it is one clock for every process of the
 * host, so a deadline written into shared memory by one process means
 * the same instant to every other.  CLOCK_REALTIME only stamps log lines
 * and event records for people.  Both are vDSO reads: no syscall.
 */
#ifndef CB_CLOCK_H
#define CB_CLOCK_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define CB_NS_PER_MS 1000000ull
#define CB_NS_PER_S 1000000000ull

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t cb_monotonic_ns(void);
/*
 * CLOCK_MONOTONIC_COARSE plus a margin (cb_monotonic_coarse_margin_ns:
 * two ticks of its resolution, at least 10 ms), for a fraction of the
 * cost of cb_monotonic_ns() (~9 ns against ~52 ns on some VMs:
 * docs/BENCHMARKS.md).  For deadlines that may end up to the margin
 * late but should not end early: the coarse clock trails the precise
 * one by up to about a tick (5.6 ms measured with 4 ms ticks on a
 * KVM guest), so it is not earlier than cb_monotonic_ns() unless the
 * tick is more than the margin late.
 */
uint64_t cb_monotonic_coarse_ceil_ns(void);
uint64_t cb_monotonic_coarse_margin_ns(void);
/* CLOCK_REALTIME in nanoseconds. */
uint64_t cb_realtime_ns(void);
/* CLOCK_MONOTONIC now plus ms milliseconds: an absolute deadline for
 * cb_futex_wait(). */
struct timespec cb_deadline_after_ms(long ms);
/* Whether instant a is before instant b (one clock). */
static inline int cb_timespec_before(const struct timespec *a,
    const struct timespec *b)
{
	return a->tv_sec < b->tv_sec ||
	    (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}
/* A CLOCK_REALTIME instant (cb_realtime_ns()) as ISO 8601 UTC to the
 * second, "2026-12-03T08:46:08Z"; "never" for 0. */
void cb_utc_stamp(uint64_t realtime_ns, char *buf, size_t len);

#endif /* CB_CLOCK_H */
