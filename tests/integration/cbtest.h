/*
 * cbtest.h - small helpers shared by the integration test programs
 * (header-only: each program is one file linked against libcapbroker).
 */
#ifndef CB_CBTEST_H
#define CB_CBTEST_H

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "capbroker.h"

/* The errno name of a negative return, "ok" for 0: what the test
 * scripts match against. */
static inline const char *errname(int r)
{
	static char buf[32];

	switch (-r) {
	case 0: return "ok";
	case EAGAIN: return "EAGAIN";
	case ETIMEDOUT: return "ETIMEDOUT";
	case ESTALE: return "ESTALE";
	case ENOENT: return "ENOENT";
	case EINVAL: return "EINVAL";
	case EACCES: return "EACCES";
	case ENOSPC: return "ENOSPC";
	case EPROTO: return "EPROTO";
	case EPERM: return "EPERM";
	case ESRCH: return "ESRCH";
	case ENOMEM: return "ENOMEM";
	case EINTR: return "EINTR";
	case EXDEV: return "EXDEV";
	}
	snprintf(buf, sizeof(buf), "E%d", r);
	return buf;
}

/* CLOCK_MONOTONIC in milliseconds. */
static inline long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * For a program the script lets go with SIGUSR1: block it (the program
 * takes it with sigwait(usr1)), and line-buffer stdout so the script
 * sees each line as it is printed.
 */
static inline void cbtest_usr1_setup(sigset_t *usr1)
{
	sigemptyset(usr1);
	sigaddset(usr1, SIGUSR1);
	sigprocmask(SIG_BLOCK, usr1, NULL);
	setvbuf(stdout, NULL, _IOLBF, 0);
}

/*
 * Open instance `name` with `flags` and find pool `pool_name`, saying
 * what failed the way the test scripts expect: a failed cb_open prints
 * its message and gives exit status 10 + errno, a missing pool prints
 * "pool NAME: ERRNAME" and gives 1 (the handle closed).  Returns 0 with
 * *c and *pool set, or that exit status.
 */
static inline int cbtest_attach(const char *name, unsigned flags,
    const char *pool_name, cb_client **c, int *pool)
{
	int r = cb_open(c, name, flags);

	if (r < 0) {
		printf("%s\n", cb_open_errmsg());
		return 10 + -r;
	}
	/* "#N": pool index N as is, as a client that looked the name up
	 * long ago would pass it (t_pooldel.sh). */
	if (pool_name[0] == '#')
		*pool = atoi(pool_name + 1);
	else
		*pool = cb_pool(*c, pool_name);
	if (*pool < 0) {
		printf("pool %s: %s\n", pool_name, errname(*pool));
		cb_close(*c);
		return 1;
	}
	return 0;
}

#endif /* CB_CBTEST_H */
