/*
 * cbconns - many control-socket connections that misbehave, for the
 * control-socket limit tests (t_ctl_*.sh).
 *
 *   cbconns [-n N] [-l LINE [-r REPEAT]] [-d MS | -k MS] PATH
 *
 * Opens N connections (default 1) to the socket PATH, each with a
 * non-blocking connect retried while the backlog is full (at most 2 s):
 * one that does not get in is counted as refused.  With -l, writes LINE
 * and a newline REPEAT times (default 1) on each and never reads a
 * reply; with -d MS instead dribbles LINE one byte every MS
 * milliseconds and never ends the line.  With -k MS each connection
 * sends PING every MS milliseconds and reads the replies: busy, never
 * idle.
 * With -l and without -d it then waits (at most 10 s) until every connection has
 * either a reply byte waiting or was closed, so the broker has handled
 * the first request of each before the test measures it.  Prints
 *
 *   connected C refused R answered A
 *
 * and then "open K" each time K, the number of the C connections the
 * broker has not closed, changes (looked at every 50 ms, or every MS
 * with -d).  Exits when K reaches 0; else runs until killed.
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
	int n, repeat, dribble_ms, keepalive_ms;
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
		if (errno != EAGAIN) {
			perror("connect");
			break;
		}
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
	o->keepalive_ms = 0;
	o->line = NULL;
	while ((ch = getopt(argc, argv, "n:l:r:d:k:")) != -1)
		switch (ch) {
		case 'n': o->n = atoi(optarg); break;
		case 'l': o->line = optarg; break;
		case 'r': o->repeat = atoi(optarg); break;
		case 'd': o->dribble_ms = atoi(optarg); break;
		case 'k': o->keepalive_ms = atoi(optarg); break;
		default: goto usage;
		}
	if (optind != argc - 1)
		goto usage;
	o->path = argv[optind];
	if (o->n > 0 && o->repeat > 0 && o->dribble_ms >= 0 &&
	    o->keepalive_ms >= 0 && !(o->dribble_ms && o->keepalive_ms) &&
	    (o->dribble_ms == 0 || (o->line != NULL && *o->line != '\0')))
		return;
usage:
	fprintf(stderr, "usage: cbconns [-n N] [-l LINE [-r REPEAT]] "
	    "[-d MS | -k MS] PATH\n");
	exit(64);
}

/* -k: a PING on each connection, and whatever replies came, read. */
static void keepalive(const int *fds, int c)
{
	char buf[4096];

	send_all(fds, c, "PING\n", 5);
	for (int i = 0; i < c; i++)
		while (recv(fds[i], buf, sizeof(buf), MSG_DONTWAIT) > 0)
			;
}

/* Report the open count as it changes; dribble or ping if asked. */
static void watch(const struct opts *o, const int *fds, int c)
{
	size_t at = 0, len = o->line ? strlen(o->line) : 0;
	int last = -1, open;

	for (;;) {
		open = 0;
		for (int i = 0; i < c; i++)
			open += !closed(fds[i]);
		if (open != last) {
			printf("open %d\n", open);
			fflush(stdout);
			last = open;
		}
		if (open == 0)
			return;
		if (o->dribble_ms > 0) {
			nanosleep(&(struct timespec){ o->dribble_ms / 1000,
			    (o->dribble_ms % 1000) * 1000000L }, NULL);
			send_all(fds, c, o->line + at, 1);
			at = (at + 1) % len;
		} else if (o->keepalive_ms > 0) {
			nanosleep(&(struct timespec){ o->keepalive_ms / 1000,
			    (o->keepalive_ms % 1000) * 1000000L }, NULL);
			keepalive(fds, c);
		} else {
			nanosleep(&(struct timespec){ 0, 50000000 }, NULL);
		}
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
	watch(&o, fds, c);
	return 0;
}
