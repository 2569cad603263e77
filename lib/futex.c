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
