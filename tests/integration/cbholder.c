/*
 * cbholder - the C member of the cross-language test (tests/python/
 * crosslang): the same program as the Rust (client/rust/examples/
 * holder.rs), Go (client/go/cmd/cbholder) and Python (tests/python/
 * crosslang/holder.py) holders.
 *
 *   cbholder NAME POOL PRIORITY
 *
 * Enqueues one hold at PRIORITY and prints "queued N" (N = waiters
 * ahead of it), waits without a limit and prints "held", then reads
 * stdin: on the line "release" or at EOF it releases, prints
 * "released" and exits 0.  A failure prints "error MESSAGE" on stderr
 * and exits 1.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capbroker.h"

static int fail(cb_client *c, const char *what, int r)
{
	const char *msg = c != NULL ? cb_errmsg(c) : cb_open_errmsg();

	fprintf(stderr, "error %s: %s\n", what,
	    msg != NULL && *msg != '\0' ? msg : cb_strerror(r));
	cb_close(c);
	return 1;
}

int main(int argc, char **argv)
{
	struct cb_request req = { .kind = CB_HOLD, .timeout_ms = -1 };
	char line[64];
	cb_waiter w;
	cb_ticket t;
	cb_client *c = NULL;
	int r;

	if (argc != 4) {
		fprintf(stderr, "usage: cbholder NAME POOL PRIORITY\n");
		return 64;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	req.priority = atoi(argv[3]);

	if ((r = cb_open(&c, argv[1], 0)) != 0)
		return fail(NULL, "cb_open", r);
	if ((r = cb_pool(c, argv[2])) < 0)
		return fail(c, "cb_pool", r);
	req.pool = r;
	if ((r = cb_enqueue(c, &req, &w)) != 0)
		return fail(c, "cb_enqueue", r);
	if ((r = cb_queue_position(c, &w)) < 0)
		return fail(c, "cb_queue_position", r);
	printf("queued %d\n", r);
	if ((r = cb_wait(c, &w, -1, &t, NULL)) != 0)
		return fail(c, "cb_wait", r);
	printf("held\n");

	while (fgets(line, sizeof(line), stdin) != NULL &&
	    strcmp(line, "release\n") != 0)
		;
	if ((r = cb_release(c, &t)) != 0)
		return fail(c, "cb_release", r);
	printf("released\n");
	cb_close(c);
	return 0;
}
