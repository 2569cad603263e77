/*
 * fakebackend.c - a stand-in backend fleet for the gateway example.
 *
 *   fakebackend [-a ADDR] [-d DELAY_MS] PORT...
 *
 * Listens on every PORT of ADDR (default 127.0.0.1; port 0 picks a free
 * one), prints "listening ADDR:PORT" for each and then "ready", and
 * answers every HTTP/1.1 request after DELAY_MS (default 100; a
 * "delay=MS" in the query string overrides it) with
 *
 *	200 OK, body "backend ADDR:PORT TARGET\n", Connection: close
 *
 * It counts the requests it is serving, over all ports and per port,
 * and keeps the highest counts seen, so a test can check what the
 * gateway in front of it promised (never more than the pool's limit in
 * flight, never more than a backend's max_running on one backend):
 *
 *	GET /stats   "inflight N\nmax N\ntotal N\n" and one line
 *	             "port P inflight N max N total N" per port
 *	GET /reset   zero the maxima and totals
 *
 * /stats and /reset are not counted.  A thread per connection; SIGTERM
 * or SIGINT ends it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_PORTS	16
#define HEAD_MAX	8192
#define IO_TIMEOUT_S	10

struct counter {
	atomic_int inflight;
	atomic_int max;
	atomic_long total;
};

struct port {
	int fd;
	unsigned number;
	struct counter count;
};

struct conn {
	int fd;
	struct port *port;
};

static struct port ports[MAX_PORTS];
static int nports;
static struct counter all;
static const char *addr = "127.0.0.1";
static long default_delay_ms = 100;

static void usage(void)
{
	fprintf(stderr, "usage: fakebackend [-a ADDR] [-d DELAY_MS] PORT...\n");
	exit(64);
}

static void counter_enter(struct counter *c)
{
	int now = atomic_fetch_add(&c->inflight, 1) + 1;
	int max = atomic_load(&c->max);

	while (now > max && !atomic_compare_exchange_weak(&c->max, &max, now))
		;
	atomic_fetch_add(&c->total, 1);
}

static void counter_leave(struct counter *c)
{
	atomic_fetch_sub(&c->inflight, 1);
}

static void counter_reset(struct counter *c)
{
	atomic_store(&c->max, atomic_load(&c->inflight));
	atomic_store(&c->total, 0);
}

static int send_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static void reply(int fd, int status, const char *body)
{
	char head[256];
	int n = snprintf(head, sizeof(head), "HTTP/1.1 %d %s\r\n"
	    "Content-Type: text/plain\r\nContent-Length: %zu\r\n"
	    "Connection: close\r\n\r\n", status,
	    status == 200 ? "OK" : "Bad Request", strlen(body));

	if (send_all(fd, head, (size_t)n) == 0)
		send_all(fd, body, strlen(body));
}

/* Read the request head into buf (NUL-terminated); its length or -1. */
static ssize_t read_head(int fd, char *buf, size_t size)
{
	size_t len = 0;

	while (len + 1 < size) {
		ssize_t n = recv(fd, buf + len, size - 1 - len, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		len += (size_t)n;
		buf[len] = '\0';
		if (strstr(buf, "\r\n\r\n") != NULL)
			return (ssize_t)len;
	}
	return -1;
}

static void stats(int fd)
{
	char body[128 + MAX_PORTS * 96];
	size_t o;

	o = (size_t)snprintf(body, sizeof(body), "inflight %d\nmax %d\n"
	    "total %ld\n", atomic_load(&all.inflight), atomic_load(&all.max),
	    atomic_load(&all.total));
	for (int i = 0; i < nports && o < sizeof(body); i++)
		o += (size_t)snprintf(body + o, sizeof(body) - o, "port %u "
		    "inflight %d max %d total %ld\n", ports[i].number,
		    atomic_load(&ports[i].count.inflight),
		    atomic_load(&ports[i].count.max),
		    atomic_load(&ports[i].count.total));
	reply(fd, 200, body);
}

static long delay_of(const char *target)
{
	const char *q = strstr(target, "delay=");
	long ms;

	if (q == NULL)
		return default_delay_ms;
	ms = strtol(q + 6, NULL, 10);
	return ms < 0 || ms > 600000 ? default_delay_ms : ms;
}

static void serve(struct conn *cn)
{
	char head[HEAD_MAX], target[1024], body[1200];
	struct timespec ts;
	long ms;

	if (read_head(cn->fd, head, sizeof(head)) < 0)
		return;
	if (sscanf(head, "%*15s %1023s HTTP/1.", target) != 1) {
		reply(cn->fd, 400, "bad request line\n");
		return;
	}
	if (strcmp(target, "/stats") == 0) {
		stats(cn->fd);
		return;
	}
	if (strcmp(target, "/reset") == 0) {
		counter_reset(&all);
		for (int i = 0; i < nports; i++)
			counter_reset(&ports[i].count);
		reply(cn->fd, 200, "reset\n");
		return;
	}
	counter_enter(&all);
	counter_enter(&cn->port->count);
	ms = delay_of(target);
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = ms % 1000 * 1000000L;
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
	snprintf(body, sizeof(body), "backend %s:%u %s\n", addr,
	    cn->port->number, target);
	/* Leave before answering: once the client has the answer, this
	 * request is over for whoever counts in front of us. */
	counter_leave(&cn->port->count);
	counter_leave(&all);
	reply(cn->fd, 200, body);
}

static void *conn_main(void *arg)
{
	struct conn *cn = arg;

	serve(cn);
	close(cn->fd);
	free(cn);
	return NULL;
}

static void accept_one(struct port *p)
{
	struct timeval tv = { .tv_sec = IO_TIMEOUT_S };
	pthread_attr_t attr;
	pthread_t tid;
	struct conn *cn;
	int fd;

	fd = accept4(p->fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	cn = malloc(sizeof(*cn));
	if (cn == NULL) {
		close(fd);
		return;
	}
	cn->fd = fd;
	cn->port = p;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	if (pthread_create(&tid, &attr, conn_main, cn) != 0) {
		close(fd);
		free(cn);
	}
	pthread_attr_destroy(&attr);
}

static void listen_on(struct port *p, const char *port_arg)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	char *end;
	long port = strtol(port_arg, &end, 10);
	int one = 1;

	if (*port_arg == '\0' || *end != '\0' || port < 0 || port > 65535)
		usage();
	if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1) {
		fprintf(stderr, "fakebackend: bad address %s\n", addr);
		exit(64);
	}
	sa.sin_port = htons((uint16_t)port);
	p->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (p->fd < 0 ||
	    setsockopt(p->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(p->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(p->fd, 512) < 0 ||
	    getsockname(p->fd, (struct sockaddr *)&sa, &len) < 0) {
		fprintf(stderr, "fakebackend: %s:%s: %s\n", addr, port_arg,
		    strerror(errno));
		exit(1);
	}
	p->number = ntohs(sa.sin_port);
	printf("listening %s:%u\n", addr, p->number);
}

int main(int argc, char **argv)
{
	struct pollfd pfd[MAX_PORTS];
	int ch;

	while ((ch = getopt(argc, argv, "a:d:")) != -1) {
		switch (ch) {
		case 'a':
			addr = optarg;
			break;
		case 'd':
			default_delay_ms = strtol(optarg, NULL, 10);
			if (default_delay_ms < 0)
				usage();
			break;
		default:
			usage();
		}
	}
	if (optind == argc || argc - optind > MAX_PORTS)
		usage();
	signal(SIGPIPE, SIG_IGN);
	for (int i = optind; i < argc; i++)
		listen_on(&ports[nports++], argv[i]);
	printf("ready\n");
	fflush(stdout);
	for (int i = 0; i < nports; i++)
		pfd[i] = (struct pollfd){ .fd = ports[i].fd, .events = POLLIN };
	for (;;) {
		if (poll(pfd, (nfds_t)nports, -1) < 0) {
			if (errno == EINTR)
				continue;
			perror("fakebackend: poll");
			return 1;
		}
		for (int i = 0; i < nports; i++)
			if (pfd[i].revents & POLLIN)
				accept_one(&ports[i]);
	}
}
