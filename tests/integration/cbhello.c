/*
 * cbhello - say HELLO again for a handle's own client entry, for
 * t_ctl_hello.sh: registered connections are bounded by the client
 * table only if an entry is watched on one connection at most.
 *
 *   cbhello NAME N
 *
 * cb_open()s NAME (which says HELLO on its own connection), then opens
 * N more connections from this same process -- so SO_PEERCRED passes
 * the ownership check -- and sends the entry's HELLO on each, printing
 * each reply's status line.  Exit status: 0, or 10 + errno of a failed
 * cb_open, 2 a socket error.
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "capbroker.h"
#include "cbtest.h"
#include "handle.h"
#include "rundir.h"

static int hello(const struct sockaddr_un *sun, const cb_client *c)
{
	struct pollfd p = { .events = POLLIN };
	char line[128];
	ssize_t n;
	int len;

	p.fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (p.fd < 0 || connect(p.fd, (const struct sockaddr *)sun,
	    sizeof(*sun)) < 0)
		return -1;
	len = snprintf(line, sizeof(line), "HELLO %u %llu\n", c->rsv.client,
	    (unsigned long long)c->rsv.owner);
	if (send(p.fd, line, (size_t)len, MSG_NOSIGNAL) != len ||
	    poll(&p, 1, 10000) != 1 ||
	    (n = recv(p.fd, line, sizeof(line) - 1, 0)) <= 0)
		return -1;
	line[n] = '\0';
	line[strcspn(line, "\n")] = '\0';
	printf("%s\n", line);
	return p.fd;             /* kept open until exit */
}

int main(int argc, char **argv)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	cb_client *c;
	int n, r;

	if (argc != 3 || (n = atoi(argv[2])) < 1) {
		fprintf(stderr, "usage: cbhello NAME N\n");
		return 64;
	}
	r = cb_open(&c, argv[1], 0);
	if (r < 0) {
		fprintf(stderr, "cb_open: %s\n", cb_errmsg(NULL));
		return 10 - r;
	}
	if (cb_rundir_path(sun.sun_path, sizeof(sun.sun_path), argv[1],
	    "sock") < 0)
		return 2;
	for (int i = 0; i < n; i++)
		if (hello(&sun, c) < 0) {
			perror("hello");
			return 2;
		}
	fflush(stdout);
	cb_close(c);
	return 0;
}
