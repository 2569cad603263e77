/*
 * tp_open - cb_open as the test build's client, whose /proc may be
 * pointed elsewhere (CB_TEST_PROC, lib/proc.c); for t_sweeper_hidepid.sh.
 *
 *   tp_open NAME [rdonly]
 *   tp_open NAME failfast POOL N
 *
 * Prints "ok" or "ERRNAME: message" (cb_open_errmsg) and exits 0 or 1.
 * With failfast: then N fail-fast cb_reserve()s of a hold in POOL, 150
 * ms apart (a process checks a queue's head at most once per 100 ms,
 * lib/queue.c), each printing "ok" (released at once) or ERRNAME.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "capbroker.h"
#include "cbtest.h"

static void failfast(cb_client *c, const char *pool, int n)
{
	const struct timespec gap = { 0, 150 * 1000000L };
	struct cb_request req = { .pool = cb_pool(c, pool), .kind = CB_HOLD };
	cb_ticket t;
	int r;

	for (int i = 0; i < n; i++) {
		nanosleep(&gap, NULL);
		r = req.pool < 0 ? req.pool : cb_reserve(c, &req, &t, NULL);
		if (r == 0)
			cb_release(c, &t);
		printf("%s\n", r == 0 ? "ok" : errname(r));
	}
}

int main(int argc, char **argv)
{
	unsigned flags = 0;
	cb_client *c;
	int r;

	if (argc != 2 && !(argc == 3 && strcmp(argv[2], "rdonly") == 0) &&
	    !(argc == 5 && strcmp(argv[2], "failfast") == 0)) {
		fprintf(stderr, "usage: tp_open NAME [rdonly | failfast POOL "
		    "N]\n");
		return 64;
	}
	if (argc == 3)
		flags = CB_OPEN_RDONLY;
	r = cb_open(&c, argv[1], flags);
	if (r < 0) {
		printf("%s: %s\n", errname(r), cb_open_errmsg());
		return 1;
	}
	printf("ok\n");
	if (argc == 5)
		failfast(c, argv[3], atoi(argv[4]));
	cb_close(c);
	return 0;
}
