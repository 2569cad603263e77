/*
 * tp_open - cb_open as the test build's client, whose /proc may be
 * pointed elsewhere (CB_TEST_PROC, lib/proc.c); for t_sweeper_hidepid.sh.
 *
 *   tp_open NAME [rdonly]
 *
 * Prints "ok" or "ERRNAME: message" (cb_open_errmsg) and exits 0 or 1.
 */
#include <stdio.h>
#include <string.h>

#include "capbroker.h"
#include "cbtest.h"

int main(int argc, char **argv)
{
	unsigned flags = 0;
	cb_client *c;
	int r;

	if (argc != 2 && !(argc == 3 && strcmp(argv[2], "rdonly") == 0)) {
		fprintf(stderr, "usage: tp_open NAME [rdonly]\n");
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
	cb_close(c);
	return 0;
}
