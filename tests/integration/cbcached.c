/*
 * cbcached - a client that looked a pool up long before it reserves,
 * for t_pooldel.sh: the pool may be deleted in between.
 *
 *   cbcached NAME POOL
 *
 * Looks POOL up (cb_pool), prints "ready index=N", waits for SIGUSR1
 * (blocked from the start), then reserves one hold by that index,
 * fail-fast and then blocking (60 s), printing one line each
 * (line-buffered):
 *
 *   failfast ok|ERRNAME MESSAGE
 *   blocking ok|ERRNAME MESSAGE
 *
 * releasing whatever it was granted.  Exit status: 0; a failed cb_open
 * exits 10 + errno, a failed lookup 1.
 */
#include <signal.h>
#include <stdio.h>

#include "capbroker.h"
#include "cbtest.h"

static void reserve(cb_client *c, int pool, int timeout_ms, const char *what)
{
	struct cb_request req = { .pool = pool, .kind = CB_HOLD,
	    .timeout_ms = timeout_ms };
	uint32_t retry = 0;
	cb_ticket t;
	int r = cb_reserve(c, &req, &t, &retry);

	printf("%s %s %s\n", what, r == 0 ? "ok" : errname(r),
	    r == 0 ? "" : cb_errmsg(c));
	if (r == 0)
		cb_release(c, &t);
}

int main(int argc, char **argv)
{
	sigset_t usr1;
	cb_client *c;
	int pool, r, sig;

	if (argc != 3) {
		fprintf(stderr, "usage: cbcached NAME POOL\n");
		return 64;
	}
	cbtest_usr1_setup(&usr1);
	r = cbtest_attach(argv[1], 0, argv[2], &c, &pool);
	if (r != 0)
		return r;
	printf("ready index=%d\n", pool);
	sigwait(&usr1, &sig);
	reserve(c, pool, 0, "failfast");
	reserve(c, pool, 60000, "blocking");
	cb_close(c);
	return 0;
}
