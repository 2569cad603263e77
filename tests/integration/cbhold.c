/*
 * cbhold - reserve one unit, hold it, release it; for t_blocking.sh and
 * t_garbage.sh.
 *
 *   cbhold NAME POOL KIND TIMEOUT_MS HOLD_MS [OBSERVED]
 *
 * KIND is "hold" or "launch".  Prints, one line each (line-buffered):
 *
 *   waiting                       just before cb_reserve
 *   ok ELAPSED_MS ticket=TICKET   admitted after ELAPSED_MS
 *   ERRNAME ELAPSED_MS retry=MS   refused (EAGAIN, ETIMEDOUT, ...)
 *   released ok|ERRNAME           after holding
 *
 * HOLD_MS >= 0 holds that long; -1 holds until SIGUSR1 (blocked from
 * the start, so a SIGUSR1 sent early is not lost or fatal).
 * Exit status: 0 admitted and released, 1 refused, 2 the release
 * failed; a failed cb_open prints its message and exits 10 + errno.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "capbroker.h"
#include "cbtest.h"

int main(int argc, char **argv)
{
	struct cb_request req = { .priority = 0 };
	char buf[CB_TICKET_STRLEN];
	cb_ticket t;
	sigset_t usr1;
	uint32_t retry = 0;
	long long t0;
	long hold_ms;
	cb_client *c;
	int r, sig;

	if (argc != 6 && argc != 7) {
		fprintf(stderr, "usage: cbhold NAME POOL hold|launch "
		    "TIMEOUT_MS HOLD_MS [OBSERVED]\n");
		return 64;
	}
	cbtest_usr1_setup(&usr1);

	if (strcmp(argv[3], "hold") == 0)
		req.kind = CB_HOLD;
	else if (strcmp(argv[3], "launch") == 0)
		req.kind = CB_LAUNCH;
	else {
		fprintf(stderr, "cbhold: KIND is hold or launch\n");
		return 64;
	}
	req.timeout_ms = atoi(argv[4]);
	hold_ms = atol(argv[5]);
	req.observed = argc == 7 ? (uint32_t)strtoul(argv[6], NULL, 10) : 0;

	r = cbtest_attach(argv[1], 0, argv[2], &c, &req.pool);
	if (r != 0)
		return r;

	printf("waiting\n");
	t0 = now_ms();
	r = cb_reserve(c, &req, &t, &retry);
	if (r != 0) {
		printf("%s %lld retry=%u\n", errname(r), now_ms() - t0, retry);
		cb_close(c);
		return 1;
	}
	if (cb_ticket_format(&t, buf, sizeof(buf)) != 0)
		snprintf(buf, sizeof(buf), "?");
	printf("ok %lld ticket=%s\n", now_ms() - t0, buf);

	if (hold_ms >= 0) {
		struct timespec ts = { hold_ms / 1000,
		    (hold_ms % 1000) * 1000000L };

		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
	} else {
		sigwait(&usr1, &sig);
	}
	r = cb_release(c, &t);
	printf("released %s\n", errname(r));
	cb_close(c);
	return r == 0 ? 0 : 2;
}
