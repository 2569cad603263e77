/*
 * futex.c - shared futex wait/wake (see futex.h).
 */
#include "futex.h"

#include <errno.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

int cb_futex_wait(const _Atomic uint32_t *word, uint32_t expected,
    const struct timespec *deadline)
{
	/*
	 * FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC deadline, so
	 * a wait restarted after EINTR never stretches the timeout.
	 */
	long r = syscall(SYS_futex, word, FUTEX_WAIT_BITSET, expected,
	    deadline, NULL, FUTEX_BITSET_MATCH_ANY);

	if (r == 0)
		return 0;
	return -errno;
}

int cb_futex_wake(_Atomic uint32_t *word, int n)
{
	long r = syscall(SYS_futex, word, FUTEX_WAKE, n, NULL, NULL, 0);

	return r < 0 ? -errno : (int)r;
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

static uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t cb_monotonic_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

uint64_t cb_realtime_ns(void)
{
	return clock_ns(CLOCK_REALTIME);
}
