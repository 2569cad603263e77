/*
 * cbshrunk - a client that cannot put a shrunk slots file back, for
 * t_slotsshrink.sh: its handle must stop admitting, not die.
 *
 *   cbshrunk NAME POOL
 *
 * Opens NAME, then makes every ftruncate(2) that grows a file past 4096
 * bytes fail in this process (RLIMIT_FSIZE, SIGXFSZ ignored), so that
 * libcapbroker's SIGBUS guard, on a fault in a cut page, has to map
 * private zeros instead of restoring the size.  Prints "ready" and waits
 * for SIGUSR1 (the script shrinks the file meanwhile); then reads the
 * pool's usage (cb_pool_info: the first touch of a cut page) and tries a
 * hold, printing (line-buffered):
 *
 *   info ERRNAME
 *   reserve ERRNAME MESSAGE
 *
 * Exit status 0 when it got that far; a failed cb_open prints its
 * message and exits 10 + errno.
 */
#include <signal.h>
#include <stdio.h>
#include <sys/resource.h>

#include "capbroker.h"
#include "cbtest.h"

int main(int argc, char **argv)
{
	struct cb_request req = { .kind = CB_HOLD };
	struct rlimit fsize = { 4096, 4096 };
	struct cb_pool_info info;
	sigset_t usr1;
	uint32_t retry = 0;
	cb_ticket t;
	cb_client *c;
	int r, sig;

	if (argc != 3) {
		fprintf(stderr, "usage: cbshrunk NAME POOL\n");
		return 64;
	}
	cbtest_usr1_setup(&usr1);
	r = cbtest_attach(argv[1], 0, argv[2], &c, &req.pool);
	if (r != 0)
		return r;
	signal(SIGXFSZ, SIG_IGN);
	if (setrlimit(RLIMIT_FSIZE, &fsize) < 0) {
		perror("setrlimit");
		return 1;
	}
	printf("ready\n");
	sigwait(&usr1, &sig);
	r = cb_pool_info(c, req.pool, &info);
	printf("info %s\n", errname(r));
	r = cb_reserve(c, &req, &t, &retry);
	printf("reserve %s %s\n", errname(r), r < 0 ? cb_errmsg(c) : "");
	if (r == 0)
		cb_release(c, &t);
	cb_close(c);
	return 0;
}
