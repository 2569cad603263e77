/*
 * cbconns - many control-socket connections that misbehave, for the
 * control-socket limit tests (t_ctl_*.sh).
 *
 *   cbconns [-n N] [-r REPEAT] [-d MS] PATH [LINE]
 *
 * Opens N connections (default 1) to the socket PATH, each with a
 * non-blocking connect retried while the backlog is full (at most 2 s):
 * one that does not get in is counted as refused.  With LINE, writes LINE and a newline REPEAT
 * times (default 1) on each and never reads a reply; with -d MS instead
 * dribbles LINE one byte every MS milliseconds and never ends the line.
 * Without -d it then waits (at most 10 s) until every connection has
 * either a reply byte waiting or was closed, so the broker has handled
 * the first request of each before the test measures it.  Prints
 *
 *   connected C refused R answered A
 *
 * and then, for each line read on stdin, "open K": how many of the C
 * connections the broker has not closed.  Exits at the end of stdin.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

struct opts {
	int n, repeat, dribble_ms;
	const char *path, *line;
};

static int dial(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    0);

	if (fd < 0) {
		perror("socket");
		exit(2);
	}
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	/* A full backlog (EAGAIN) is retried for up to 2 s: a broker that
	 * accepts at all soon makes room; one that does not is refusing. */
	for (int t = 0; t < 2000; t++) {
		if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0)
			return fd;
		if (errno != EAGAIN)
			break;
		nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
	}
	close(fd);
	return -1;
}

/* 1 if the broker closed fd (or reset it). */
static int closed(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLRDHUP };

	return poll(&p, 1, 0) == 1 &&
	    (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

static int answered(int fd)
{
	int n = 0;

	return closed(fd) || (ioctl(fd, FIONREAD, &n) == 0 && n > 0);
}

static int count_answered(const int *fds, int c)
{
	int a = 0;

	for (int i = 0; i < c; i++)
		a += answered(fds[i]);
	return a;
}

static void send_all(const int *fds, int c, const char *buf, size_t len)
{
	for (int i = 0; i < c; i++)
		(void)send(fds[i], buf, len, MSG_NOSIGNAL);
}

static void parse(int argc, char **argv, struct opts *o)
{
	int ch;

	o->n = 1;
	o->repeat = 1;
	o->dribble_ms = 0;
	while ((ch = getopt(argc, argv, "n:r:d:")) != -1)
		switch (ch) {
		case 'n': o->n = atoi(optarg); break;
		case 'r': o->repeat = atoi(optarg); break;
		case 'd': o->dribble_ms = atoi(optarg); break;
		default: goto usage;
		}
	if (optind != argc - 1 && optind != argc - 2)
		goto usage;
	o->path = argv[optind];
	o->line = optind + 1 < argc ? argv[optind + 1] : NULL;
	if (o->n > 0 && o->repeat > 0 && o->dribble_ms >= 0)
		return;
usage:
	fprintf(stderr, "usage: cbconns [-n N] [-r REPEAT] [-d MS] PATH "
	    "[LINE]\n");
	exit(64);
}

/* Answer stdin's lines with "open K"; dribble meanwhile if asked. */
static void serve(const struct opts *o, const int *fds, int c)
{
	struct pollfd in = { .fd = 0, .events = POLLIN };
	size_t at = 0, len = o->line ? strlen(o->line) : 0;
	char buf[256];

	for (;;) {
		int r = poll(&in, 1, o->dribble_ms > 0 ? o->dribble_ms : -1);

		if (r == 0 && len > 0) {
			send_all(fds, c, o->line + at, 1);
			at = (at + 1) % len;
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 || fgets(buf, sizeof(buf), stdin) == NULL)
			return;
		int open = 0;

		for (int i = 0; i < c; i++)
			open += !closed(fds[i]);
		printf("open %d\n", open);
		fflush(stdout);
	}
}

int main(int argc, char **argv)
{
	struct opts o;
	int *fds, c = 0, refused = 0, a = 0;

	parse(argc, argv, &o);
	fds = calloc((size_t)o.n, sizeof(*fds));
	if (fds == NULL)
		return 2;
	for (int i = 0; i < o.n; i++) {
		int fd = dial(o.path);

		if (fd < 0)
			refused++;
		else
			fds[c++] = fd;
	}
	if (o.line != NULL && o.dribble_ms == 0) {
		size_t len = strlen(o.line);
		char *buf = malloc((len + 1) * (size_t)o.repeat);

		if (buf == NULL)
			return 2;
		for (int r = 0; r < o.repeat; r++) {
			memcpy(buf + r * (len + 1), o.line, len);
			buf[r * (len + 1) + len] = '\n';
		}
		send_all(fds, c, buf, (len + 1) * (size_t)o.repeat);
		free(buf);
		/* Polled, not timed: the 10 s only bounds a broken broker. */
		for (int t = 0; t < 1000 && (a = count_answered(fds, c)) < c;
		    t++)
			nanosleep(&(struct timespec){ 0, 10000000 }, NULL);
	}
	printf("connected %d refused %d answered %d\n", c, refused, a);
	fflush(stdout);
	serve(&o, fds, c);
	return 0;
}
