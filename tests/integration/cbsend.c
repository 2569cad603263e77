/*
 * cbsend - send raw bytes to a broker's control socket, for the
 * hostile-input integration tests.
 *
 *   cbsend PATH           send stdin, half-close, print every reply
 *                         byte until EOF (or 3 s of silence)
 *   cbsend -c N PATH      first open N idle connections and keep them
 *                         open while doing the above
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static int dial(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		perror(path);
		exit(2);
	}
	return fd;
}

static void pump_stdin(int fd)
{
	char buf[65536];
	ssize_t n;

	while ((n = read(0, buf, sizeof(buf))) > 0)
		if (send(fd, buf, (size_t)n, MSG_NOSIGNAL) < 0)
			break;   /* the broker may hang up on garbage */
	shutdown(fd, SHUT_WR);
}

static void drain(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char buf[65536];
	ssize_t n;

	while (poll(&p, 1, 3000) > 0) {
		n = read(fd, buf, sizeof(buf));
		if (n <= 0)
			break;
		fwrite(buf, 1, (size_t)n, stdout);
	}
}

int main(int argc, char **argv)
{
	int idle = 0, fd;

	if (argc == 4 && strcmp(argv[1], "-c") == 0) {
		idle = atoi(argv[2]);
		argv += 2;
		argc -= 2;
	}
	if (argc != 2) {
		fprintf(stderr, "usage: cbsend [-c N] PATH\n");
		return 64;
	}
	for (int i = 0; i < idle; i++)
		(void)dial(argv[1]);   /* left open until exit */
	fd = dial(argv[1]);
	pump_stdin(fd);
	drain(fd);
	return 0;
}
