/*
 * cbretired - try every admission path on a handle whose segments the
 * script retires in between, for t_retired.sh.
 *
 *   cbretired NAME
 *
 * Opens NAME, takes a place in the default pool's queue (cb_enqueue),
 * prints "queued", and waits for SIGUSR1.  Then tries, in this order,
 * and prints "PATH ERRNAME" for each (line-buffered):
 *
 *   wait      cb_wait on that place (0 ms)
 *   hold      cb_reserve, a hold, fail-fast
 *   launch    cb_reserve, a launch, fail-fast
 *   blocking  cb_reserve, a hold, 200 ms
 *   enqueue   cb_enqueue
 *   pick      cb_pick_worker, fail-fast
 *   pickwait  cb_pick_worker, 200 ms
 *
 * Anything admitted is released at once.  Exit status 0; a failed
 * cb_open prints its message and exits 10 + errno.
 */
#include <signal.h>
#include <stdio.h>

#include "capbroker.h"
#include "cbtest.h"

static void report(cb_client *c, const char *path, int r,
    const cb_ticket *t)
{
	printf("%s %s\n", path, errname(r));
	if (r == 0)
		cb_release(c, t);
}

int main(int argc, char **argv)
{
	struct cb_request req = { .kind = CB_HOLD };
	char id[CB_WORKER_ID_STRLEN];
	sigset_t usr1;
	cb_waiter w, w2;
	cb_ticket t;
	cb_client *c;
	int r, sig;

	if (argc != 2) {
		fprintf(stderr, "usage: cbretired NAME\n");
		return 64;
	}
	cbtest_usr1_setup(&usr1);
	r = cbtest_attach(argv[1], 0, "default", &c, &req.pool);
	if (r != 0)
		return r;
	r = cb_enqueue(c, &req, &w);
	printf("queued %s\n", errname(r));
	sigwait(&usr1, &sig);

	report(c, "wait", cb_wait(c, &w, 0, &t, NULL), &t);
	report(c, "hold", cb_reserve(c, &req, &t, NULL), &t);
	req.kind = CB_LAUNCH;
	report(c, "launch", cb_reserve(c, &req, &t, NULL), &t);
	req.kind = CB_HOLD;
	req.timeout_ms = 200;
	report(c, "blocking", cb_reserve(c, &req, &t, NULL), &t);
	r = cb_enqueue(c, &req, &w2);
	printf("enqueue %s\n", errname(r));
	if (r == 0)
		cb_dequeue(c, &w2);
	req.timeout_ms = 0;
	report(c, "pick", cb_pick_worker(c, &req, CB_PLACE_SPREAD, &t, id,
	    sizeof(id), NULL), &t);
	req.timeout_ms = 200;
	report(c, "pickwait", cb_pick_worker(c, &req, CB_PLACE_SPREAD, &t,
	    id, sizeof(id), NULL), &t);
	printf("message %s\n", cb_errmsg(c));
	cb_close(c);
	return 0;
}
