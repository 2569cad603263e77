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
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#define PORTS_MAX 32

int main(int argc, char **argv)
{
	int fds[PORTS_MAX], ports[PORTS_MAX], n, i;

	n = argc == 2 ? atoi(argv[1]) : 0;
	if (n < 1 || n > PORTS_MAX) {
		fprintf(stderr, "usage: cbports N (1..%d)\n", PORTS_MAX);
		return 64;
	}
	for (i = 0; i < n; i++) {
		struct sockaddr_in sa = { .sin_family = AF_INET,
		    .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		socklen_t len = sizeof(sa);

		fds[i] = socket(AF_INET, SOCK_STREAM, 0);
		if (fds[i] < 0 || bind(fds[i], (struct sockaddr *)&sa,
		    sizeof(sa)) != 0 || getsockname(fds[i],
		    (struct sockaddr *)&sa, &len) != 0) {
			perror("cbports");
			return 1;
		}
		ports[i] = ntohs(sa.sin_port);
	}
	for (i = 0; i < n; i++) {
		close(fds[i]);
		printf("%d\n", ports[i]);
	}
	return 0;
}
