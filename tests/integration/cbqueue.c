/*
 * cbqueue - one waiter in a pool's fair queue, for t_fairqueue.sh.
 *
 *   cbqueue NAME POOL PRIORITY TIMEOUT_MS LABEL GRANTS
 *
 * Takes a place with cb_enqueue(), then waits with cb_wait() in 50 ms
 * steps, polling cb_queue_position() between them.  Prints, one line
 * each (line-buffered):
 *
 *   queued pos=N              placed, N waiters ahead
 *   pos N                     its position changed to N
 *   granted                   admitted; LABEL was appended to GRANTS
 *   ERRNAME ELAPSED_MS        gave up (ETIMEDOUT after TIMEOUT_MS, or
 *                             an error); it left the queue
 *   released ok|ERRNAME       after SIGUSR1 (blocked from the start)
 *
 * TIMEOUT_MS -1 waits for ever.  GRANTS gets one line per grant,
 * written with one O_APPEND write, so concurrent waiters never
 * interleave and the file is the order of service.
 * Exit status: 0 admitted and released, 1 gave up, 2 the release
 * failed; a failed cb_open exits 10 + errno.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "capbroker.h"
#include "cbtest.h"

#define STEP_MS 50

static int record(const char *grants, const char *label)
{
	char line[128];
	int fd, n, ok;

	n = snprintf(line, sizeof(line), "%s\n", label);
	fd = open(grants, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	ok = write(fd, line, (size_t)n) == n;
	close(fd);
	return ok ? 0 : -1;
}

int main(int argc, char **argv)
{
	struct cb_request req = { .kind = CB_HOLD };
	cb_waiter w;
	cb_ticket t;
	sigset_t usr1;
	long long t0;
	long timeout_ms;
	cb_client *c;
	int r, sig, pos, last;

	if (argc != 7) {
		fprintf(stderr, "usage: cbqueue NAME POOL PRIORITY TIMEOUT_MS "
		    "LABEL GRANTS\n");
		return 64;
	}
	cbtest_usr1_setup(&usr1);
	req.priority = atoi(argv[3]);
	timeout_ms = atol(argv[4]);

	r = cbtest_attach(argv[1], 0, argv[2], &c, &req.pool);
	if (r != 0)
		return r;
	t0 = now_ms();
	r = cb_enqueue(c, &req, &w);
	if (r < 0) {
		printf("%s 0 %s\n", errname(r), cb_errmsg(c));
		cb_close(c);
		return 1;
	}
	last = cb_queue_position(c, &w);
	printf("queued pos=%d\n", last);
	for (;;) {
		r = cb_wait(c, &w, STEP_MS, &t, NULL);
		if (r != -ETIMEDOUT)
			break;
		pos = cb_queue_position(c, &w);
		if (pos != last)
			printf("pos %d\n", pos);
		last = pos;
		if (timeout_ms >= 0 && now_ms() - t0 >= timeout_ms) {
			cb_dequeue(c, &w);
			break;
		}
	}
	if (r != 0) {
		printf("%s %lld\n", errname(r), now_ms() - t0);
		cb_close(c);
		return 1;
	}
	if (record(argv[6], argv[5]) < 0)
		fprintf(stderr, "cbqueue: %s: %s\n", argv[6], strerror(errno));
	printf("granted\n");
	/* Now out of the queue. */
	if (cb_queue_position(c, &w) != -ESTALE)
		printf("position after the grant is not -ESTALE\n");
	sigwait(&usr1, &sig);
	r = cb_release(c, &t);
	printf("released %s\n", errname(r));
	cb_close(c);
	return r == 0 ? 0 : 2;
}
