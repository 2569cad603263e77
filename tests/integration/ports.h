/*
 * ports.h - free loopback TCP ports for the tests' etcd members (header
 * only: cbports.c for lib.sh's etcd_start_cluster, and the unit tests'
 * etcd_harness.h).
 *
 * The kernel picks them (bind to port 0); all n are held at once, so
 * they differ, and closed before returning, just before the caller
 * uses them.  Another run that takes one in that window makes a member
 * exit at start, which the callers see and report (or retry).
 */
#ifndef CB_TEST_PORTS_H
#define CB_TEST_PORTS_H

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#define CB_FREE_PORTS_MAX 32

/* n distinct free ports of 127.0.0.1 in ports[].  Returns 0, or -1
 * (n out of range, or no socket: ports[i] is 0 for those). */
static inline int cb_free_ports(int *ports, int n)
{
	int fds[CB_FREE_PORTS_MAX], i, rc = 0;

	if (n < 1 || n > CB_FREE_PORTS_MAX)
		return -1;
	for (i = 0; i < n; i++) {
		struct sockaddr_in sa = { .sin_family = AF_INET,
		    .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		socklen_t len = sizeof(sa);

		fds[i] = socket(AF_INET, SOCK_STREAM, 0);
		if (fds[i] < 0 || bind(fds[i], (struct sockaddr *)&sa,
		    sizeof(sa)) != 0 || getsockname(fds[i],
		    (struct sockaddr *)&sa, &len) != 0) {
			rc = -1;
			ports[i] = 0;
		} else {
			ports[i] = ntohs(sa.sin_port);
		}
	}
	for (i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	return rc;
}

#endif /* CB_TEST_PORTS_H */
