/*
 * cbinflight - print the holds in flight bound to each worker, as the
 * broker's shared memory counts them (cb_worker_inflight); for
 * t_gateway.sh.
 *
 *   cbinflight NAME ID...
 *
 * Prints "ID N" per worker, or "ID ERRNAME" (and exits 1) for one
 * that cannot be read.  A failed cb_open prints its message and exits
 * 10 + errno.
 */
#include <stdio.h>

#include "capbroker.h"
#include "cbtest.h"

int main(int argc, char **argv)
{
	cb_client *c;
	int r, status = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: cbinflight NAME ID...\n");
		return 2;
	}
	r = cb_open(&c, argv[1], CB_OPEN_RDONLY);
	if (r < 0) {
		fprintf(stderr, "cbinflight: %s\n", cb_open_errmsg());
		return 10 - r;
	}
	for (int i = 2; i < argc; i++) {
		r = cb_worker_inflight(c, argv[i]);
		if (r >= 0) {
			printf("%s %d\n", argv[i], r);
		} else {
			printf("%s %s\n", argv[i], errname(r));
			status = 1;
		}
	}
	cb_close(c);
	return status;
}
