/*
 * cbports - free loopback TCP ports for the integration tests' etcd
 * members (lib.sh, etcd_start_cluster).
 *
 *   cbports N       print N distinct free ports of 127.0.0.1, one a line
 *
 * The kernel picks them (bind to port 0); all N are held at once, so
 * they differ, and closed just before the caller uses them.  Another
 * run that takes one in that window makes a member exit at start, which
 * etcd_start_cluster reports.
 */
#include <stdio.h>
#include <stdlib.h>

#include "ports.h"

int main(int argc, char **argv)
{
	int ports[CB_FREE_PORTS_MAX], n, i;

	n = argc == 2 ? atoi(argv[1]) : 0;
	if (n < 1 || n > CB_FREE_PORTS_MAX) {
		fprintf(stderr, "usage: cbports N (1..%d)\n",
		    CB_FREE_PORTS_MAX);
		return 64;
	}
	if (cb_free_ports(ports, n) != 0) {
		perror("cbports");
		return 1;
	}
	for (i = 0; i < n; i++)
		printf("%d\n", ports[i]);
	return 0;
}
