/*
 * gateway.c - a pre-forked HTTP/1.1 gateway that admits every request
 * through one capbroker pool and places it on a backend with
 * cb_pick_worker().
 *
 *   gateway [-n NAME] [-p POOL] [-l ADDR:PORT] [-w WORKERS] [-t THREADS]
 *           [-P consolidate|spread|least_loaded] [-T IO_TIMEOUT_S]
 *
 * The parent binds one listening socket and forks WORKERS processes
 * (default 4) that all accept on it, each with THREADS threads
 * (default 16) blocked in accept().  It restarts a worker that dies and
 * stops them all on SIGTERM or SIGINT; workers also exit when the
 * parent dies (PR_SET_PDEATHSIG).
 *
 * Every worker opens its own capbroker handle (a handle must not cross
 * fork()) and, for each request:
 *
 *   1. reads the request head and body (Content-Length only);
 *   2. cb_pick_worker() with a CB_HOLD request, timeout 0, on POOL:
 *      one step that admits the request against the pool's limit AND
 *      takes one slot on a ready backend (bounded by its max_running);
 *      - over the limit (-EAGAIN): 429 with Retry-After = the broker's
 *        hint in seconds, rounded up, at least 1;
 *      - no ready backend (-ENOENT): 503 with Retry-After: 1;
 *   3. proxies the request to the backend the worker id names
 *      ("HOST:PORT", registered with
 *      `capctl worker set HOST:PORT --state ready --max-running N`),
 *      relays its response, and only then cb_release()s the ticket.
 *
 * Because every process reserves in the same shared table, the pool's
 * limit holds for the sum over all workers: never more requests in
 * flight to the backends than the limit, and never more on one backend
 * than its max_running.  A worker killed mid-request leaks nothing: the
 * broker undoes its holds and backend slots when the process dies.
 *
 * Prints "listening ADDR:PORT" on stdout once bound (port 0 picks a
 * free port).  Every response carries "Connection: close".
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <capbroker.h>

#define MAX_WORKERS	64
#define MAX_THREADS	256
#define HEAD_MAX	8192
#define BODY_MAX	(64 * 1024)
#define RELAY_BUF	16384

struct gw_conf {
	const char *name;		/* capbroker instance */
	const char *pool_name;
	const char *listen;		/* ADDR:PORT */
	int workers;			/* processes */
	int threads;			/* per process */
	int policy;			/* enum cb_placement */
	int io_timeout_s;
};

/* One worker process. */
struct gw_worker {
	const struct gw_conf *conf;
	int lfd;
	cb_client *c;
	int pool;
};

/* One request being served. */
struct gw_request {
	char head[HEAD_MAX + 1];	/* as read; NUL-terminated */
	size_t head_len;		/* through the blank line */
	size_t have;			/* bytes in head[] (head + body start) */
	char method[16];
	char target[2048];
	char *body;
	size_t body_len;
};

static void usage(void)
{
	fprintf(stderr, "usage: gateway [-n NAME] [-p POOL] [-l ADDR:PORT] "
	    "[-w WORKERS] [-t THREADS]\n"
	    "               [-P consolidate|spread|least_loaded] "
	    "[-T IO_TIMEOUT_S]\n");
	exit(64);
}

static void logmsg(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "gateway[%ld]: ", (long)getpid());
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* ------------------------------------------------------------------ */
/* Socket I/O                                                          */

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

static ssize_t recv_some(int fd, char *buf, size_t len)
{
	ssize_t n;

	do
		n = recv(fd, buf, len, 0);
	while (n < 0 && errno == EINTR);
	return n;
}

static void set_timeouts(int fd, int seconds)
{
	struct timeval tv = { .tv_sec = seconds };

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/* Split "HOST:PORT" (at the last ':') into host and port. */
static int split_hostport(const char *s, char *host, size_t hlen,
    const char **port)
{
	const char *colon = strrchr(s, ':');

	if (colon == NULL || colon == s || colon[1] == '\0' ||
	    (size_t)(colon - s) >= hlen)
		return -1;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	*port = colon + 1;
	return 0;
}

/* A socket connected (passive: bound) to HOST:PORT, or -1 and errno. */
static int open_socket(const char *hostport, int passive)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC,
	    .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV };
	struct addrinfo *res, *ai;
	char host[256];
	const char *port;
	int fd = -1, one = 1;

	errno = EINVAL;		/* not HOST:PORT, or an unknown host */
	if (split_hostport(hostport, host, sizeof(host), &port) < 0)
		return -1;
	if (passive)
		hints.ai_flags |= AI_PASSIVE;
	if (getaddrinfo(host, port, &hints, &res) != 0)
		return -1;
	for (ai = res; ai != NULL && fd < 0; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
		    ai->ai_protocol);
		if (fd < 0)
			continue;
		if (passive ? setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one,
		    sizeof(one)) < 0 || bind(fd, ai->ai_addr,
		    ai->ai_addrlen) < 0 || listen(fd, 1024) < 0 :
		    connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(res);
	return fd;
}

/* ------------------------------------------------------------------ */
/* HTTP                                                                */

static const char *reason(int status)
{
	switch (status) {
	case 400: return "Bad Request";
	case 413: return "Content Too Large";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 505: return "HTTP Version Not Supported";
	default: return "Internal Server Error";
	}
}

/* An answer of the gateway's own; retry_s > 0 adds Retry-After. */
static void respond(int fd, int status, unsigned retry_s, const char *body)
{
	char head[512], retry[64] = "";
	int n;

	if (retry_s > 0)
		snprintf(retry, sizeof(retry), "Retry-After: %u\r\n", retry_s);
	n = snprintf(head, sizeof(head), "HTTP/1.1 %d %s\r\n"
	    "Content-Type: text/plain\r\nContent-Length: %zu\r\n%s"
	    "Connection: close\r\n\r\n", status, reason(status),
	    strlen(body), retry);
	if (send_all(fd, head, (size_t)n) == 0)
		send_all(fd, body, strlen(body));
}

/* Read until the blank line ending the head.  0, or an HTTP status. */
static int read_head(int fd, struct gw_request *rq)
{
	char *end;

	rq->have = 0;
	for (;;) {
		ssize_t n = recv_some(fd, rq->head + rq->have,
		    HEAD_MAX - rq->have);

		if (n <= 0)
			return -1;	/* gone or timed out: no answer */
		rq->have += (size_t)n;
		rq->head[rq->have] = '\0';
		if ((end = strstr(rq->head, "\r\n\r\n")) != NULL) {
			rq->head_len = (size_t)(end - rq->head) + 4;
			return 0;
		}
		if (rq->have == HEAD_MAX)
			return 431;
	}
}

/* The value of header NAME (case-insensitive) in the head, or NULL. */
static const char *header(const struct gw_request *rq, const char *name)
{
	size_t len = strlen(name);
	const char *line = strstr(rq->head, "\r\n");

	while (line != NULL && line + 2 < rq->head + rq->head_len - 2) {
		line += 2;
		if (strncasecmp(line, name, len) == 0 && line[len] == ':') {
			line += len + 1;
			while (*line == ' ' || *line == '\t')
				line++;
			return line;
		}
		line = strstr(line, "\r\n");
	}
	return NULL;
}

/* Request line, framing and body.  0, or an HTTP status to answer. */
static int parse_request(int fd, struct gw_request *rq)
{
	const char *cl;
	char version[16], *end;
	long len;
	size_t have;

	if (sscanf(rq->head, "%15s %2047s %15s", rq->method, rq->target,
	    version) != 3)
		return 400;
	if (strncmp(version, "HTTP/1.", 7) != 0)
		return 505;
	if (header(rq, "Transfer-Encoding") != NULL)
		return 501;		/* chunked bodies: not in this example */
	len = 0;
	if ((cl = header(rq, "Content-Length")) != NULL) {
		errno = 0;
		len = strtol(cl, &end, 10);
		if (errno != 0 || end == cl || len < 0 ||
		    (*end != '\r' && *end != ' '))
			return 400;
	}
	if (len > BODY_MAX)
		return 413;
	rq->body_len = (size_t)len;
	if ((rq->body = malloc(rq->body_len + 1)) == NULL)
		return 503;
	have = rq->have - rq->head_len;
	if (have > rq->body_len)
		have = rq->body_len;	/* pipelined bytes: ignored */
	memcpy(rq->body, rq->head + rq->head_len, have);
	while (have < rq->body_len) {
		ssize_t n = recv_some(fd, rq->body + have, rq->body_len - have);

		if (n <= 0)
			return -1;
		have += (size_t)n;
	}
	return 0;
}

/* Is the header line at p (up to its CRLF) hop-by-hop? */
static int hop_by_hop(const char *p)
{
	static const char *const names[] = { "Connection:", "Keep-Alive:",
	    "Proxy-Connection:", "TE:", "Trailer:", "Upgrade:" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strncasecmp(p, names[i], strlen(names[i])) == 0)
			return 1;
	return 0;
}

/* Send the request to the backend: its end-to-end headers, ours, body. */
static int forward_request(int bfd, const struct gw_request *rq)
{
	char line[HEAD_MAX + 64];
	const char *p = strstr(rq->head, "\r\n") + 2;
	const char *stop = rq->head + rq->head_len - 2;
	int n = snprintf(line, sizeof(line), "%s %s HTTP/1.1\r\n",
	    rq->method, rq->target);

	if (send_all(bfd, line, (size_t)n) < 0)
		return -1;
	while (p < stop) {
		const char *eol = strstr(p, "\r\n");

		if (!hop_by_hop(p) && send_all(bfd, p,
		    (size_t)(eol + 2 - p)) < 0)
			return -1;
		p = eol + 2;
	}
	if (send_all(bfd, "Connection: close\r\n\r\n", 21) < 0)
		return -1;
	return send_all(bfd, rq->body, rq->body_len);
}

/*
 * Relay the backend's response until it closes.  0 done; 502 nothing
 * came back (the caller answers); -1 cut off midway.
 */
static int relay_response(int bfd, int cfd)
{
	char buf[RELAY_BUF];
	size_t sent = 0;
	ssize_t n;

	while ((n = recv_some(bfd, buf, sizeof(buf))) > 0) {
		if (send_all(cfd, buf, (size_t)n) < 0)
			return -1;
		sent += (size_t)n;
	}
	if (n < 0)
		return sent == 0 ? 502 : -1;
	return sent == 0 ? 502 : 0;
}

/* ------------------------------------------------------------------ */
/* Admission and proxying                                              */

/* The broker's retry hint in whole seconds: rounded up, at least 1. */
static unsigned retry_after_s(uint32_t ms)
{
	unsigned s = (unsigned)((ms + 999u) / 1000u);

	return s == 0 ? 1 : s;
}

/* Proxy one admitted request to backend id.  0, or a status. */
static int proxy(const struct gw_worker *w, int cfd,
    const struct gw_request *rq, const char *id)
{
	int bfd = open_socket(id, 0), r;

	if (bfd < 0)
		return 502;
	set_timeouts(bfd, w->conf->io_timeout_s);
	r = forward_request(bfd, rq) < 0 ? 502 : relay_response(bfd, cfd);
	close(bfd);
	return r < 0 ? 0 : r;
}

static void admit_and_proxy(const struct gw_worker *w, int cfd,
    const struct gw_request *rq)
{
	struct cb_request req = { .pool = w->pool, .kind = CB_HOLD,
	    .timeout_ms = 0 };
	char id[CB_WORKER_ID_STRLEN];
	uint32_t retry_ms = 0;
	cb_ticket t;
	int r;

	r = cb_pick_worker(w->c, &req, w->conf->policy, &t, id, sizeof(id),
	    &retry_ms);
	if (r == -EAGAIN) {
		respond(cfd, 429, retry_after_s(retry_ms), "over the limit\n");
		return;
	}
	if (r == -ENOENT) {
		respond(cfd, 503, 1, "no ready backend\n");
		return;
	}
	if (r < 0) {
		logmsg("cb_pick_worker: %s", cb_errmsg(w->c));
		respond(cfd, 503, 1, "admission failed\n");
		return;
	}
	r = proxy(w, cfd, rq, id);
	if (r != 0)
		respond(cfd, r, 0, "backend failed\n");
	/* After the response: the slot covered the whole exchange. */
	if (cb_release(w->c, &t) < 0)
		logmsg("cb_release: %s", cb_errmsg(w->c));
}

static void serve(const struct gw_worker *w, int cfd)
{
	struct gw_request *rq = calloc(1, sizeof(*rq));
	int r;

	if (rq == NULL)
		return;
	set_timeouts(cfd, w->conf->io_timeout_s);
	r = read_head(cfd, rq);
	if (r == 0)
		r = parse_request(cfd, rq);
	if (r > 0)
		respond(cfd, r, 0, "bad request\n");
	else if (r == 0)
		admit_and_proxy(w, cfd, rq);
	free(rq->body);
	free(rq);
}

/* ------------------------------------------------------------------ */
/* Worker processes                                                    */

static void *accept_loop(void *arg)
{
	const struct gw_worker *w = arg;

	for (;;) {
		int cfd = accept4(w->lfd, NULL, NULL, SOCK_CLOEXEC);

		if (cfd < 0) {
			if (errno != EINTR && errno != ECONNABORTED)
				usleep(10000);	/* EMFILE and friends */
			continue;
		}
		serve(w, cfd);
		close(cfd);
	}
	return NULL;
}

/* Open the handle and find the pool, waiting for the broker if need be. */
static void worker_attach(struct gw_worker *w)
{
	int warned = 0, r;

	for (;;) {
		r = cb_open(&w->c, w->conf->name, 0);
		if (r == 0) {
			w->pool = cb_pool(w->c, w->conf->pool_name);
			if (w->pool >= 0)
				return;
			r = w->pool;
			if (!warned)
				logmsg("pool %s: %s; waiting", w->conf->pool_name,
				    cb_errmsg(w->c));
			cb_close(w->c);
		} else if (!warned) {
			logmsg("%s; waiting", cb_open_errmsg());
		}
		warned = 1;
		sleep(1);
	}
}

/*
 * A worker process.  It starts with the parent's signal mask (TERM,
 * INT and CHLD blocked, see supervise()): set up, then unblock, so a
 * SIGTERM the parent sent right after fork() is delivered now and ends
 * the process (default action) instead of being lost.
 */
static void worker_main(const struct gw_conf *conf, int lfd, pid_t parent,
    const sigset_t *mask)
{
	static struct gw_worker w;
	pthread_t tid;

	/* A parent killed outright (kill -9) takes its workers along. */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != parent)
		_exit(0);
	signal(SIGPIPE, SIG_IGN);
	sigprocmask(SIG_SETMASK, mask, NULL);
	w.conf = conf;
	w.lfd = lfd;
	worker_attach(&w);
	for (int i = 1; i < conf->threads; i++)
		if (pthread_create(&tid, NULL, accept_loop, &w) != 0)
			logmsg("pthread_create failed; fewer threads");
	accept_loop(&w);
}

static pid_t spawn(const struct gw_conf *conf, int lfd, const sigset_t *mask)
{
	pid_t parent = getpid();
	pid_t pid = fork();

	if (pid == 0) {
		worker_main(conf, lfd, parent, mask);
		_exit(0);
	}
	if (pid < 0)
		logmsg("fork: %s", strerror(errno));
	return pid;
}

/* Reap dead workers and fork their replacements. */
static void respawn(const struct gw_conf *conf, int lfd, pid_t *kids,
    const sigset_t *mask)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (int i = 0; i < conf->workers; i++) {
			if (kids[i] != pid)
				continue;
			logmsg("worker %ld %s %d; restarting", (long)pid,
			    WIFSIGNALED(status) ? "killed by signal" :
			    "exited with", WIFSIGNALED(status) ?
			    WTERMSIG(status) : WEXITSTATUS(status));
			usleep(100000);		/* no fork storm */
			kids[i] = spawn(conf, lfd, mask);
		}
	}
}

/*
 * Start the workers, restart those that die until SIGTERM or SIGINT,
 * then stop them all.  The three signals stay blocked and are taken
 * with sigwaitinfo(), so none can slip in between a check and a wait.
 */
static void supervise(const struct gw_conf *conf, int lfd, pid_t *kids)
{
	sigset_t set, old;
	int sig;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, &old);
	for (int i = 0; i < conf->workers; i++)
		kids[i] = spawn(conf, lfd, &old);
	do {
		sig = sigwaitinfo(&set, NULL);
		if (sig == SIGCHLD)
			respawn(conf, lfd, kids, &old);
	} while (sig != SIGTERM && sig != SIGINT);
	for (int i = 0; i < conf->workers; i++)
		if (kids[i] > 0)
			kill(kids[i], SIGTERM);
	while (wait(NULL) > 0 || errno == EINTR)
		;
}

static int parse_policy(const char *s)
{
	int policy = cb_placement_parse(s);

	if (policy < 0)
		usage();
	return policy;
}

static int parse_int(const char *s, int lo, int hi)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (*s == '\0' || *end != '\0' || v < lo || v > hi)
		usage();
	return (int)v;
}

static void parse_args(int argc, char **argv, struct gw_conf *conf)
{
	int ch;

	while ((ch = getopt(argc, argv, "n:p:l:w:t:P:T:h")) != -1) {
		switch (ch) {
		case 'n': conf->name = optarg; break;
		case 'p': conf->pool_name = optarg; break;
		case 'l': conf->listen = optarg; break;
		case 'w': conf->workers = parse_int(optarg, 1, MAX_WORKERS); break;
		case 't': conf->threads = parse_int(optarg, 1, MAX_THREADS); break;
		case 'P': conf->policy = parse_policy(optarg); break;
		case 'T': conf->io_timeout_s = parse_int(optarg, 1, 3600); break;
		default: usage();
		}
	}
	if (optind != argc)
		usage();
}

static void print_address(int lfd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char host[NI_MAXHOST], port[NI_MAXSERV];

	if (getsockname(lfd, (struct sockaddr *)&ss, &len) == 0 &&
	    getnameinfo((struct sockaddr *)&ss, len, host, sizeof(host), port,
	    sizeof(port), NI_NUMERICHOST | NI_NUMERICSERV) == 0)
		printf("listening %s:%s\n", host, port);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	struct gw_conf conf = { .name = "default", .pool_name = "default",
	    .listen = "127.0.0.1:8080", .workers = 4, .threads = 16,
	    .policy = CB_PLACE_LEAST_LOADED, .io_timeout_s = 30 };
	pid_t kids[MAX_WORKERS];
	int lfd;

	parse_args(argc, argv, &conf);
	lfd = open_socket(conf.listen, 1);
	if (lfd < 0) {
		fprintf(stderr, "gateway: cannot listen on %s: %s\n",
		    conf.listen, strerror(errno));
		return 1;
	}
	print_address(lfd);
	supervise(&conf, lfd, kids);
	return 0;
}
