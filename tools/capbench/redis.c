/*
 * redis.c - redis-server for section 2's Redis semaphore: started by
 * capbench on a private unix socket in its run directory (no TCP port,
 * no persistence), spoken to in RESP over capbench's own line reader
 * (struct reader).  Without redis-server in $PATH the Redis column is
 * skipped with a note (peers->redis_why).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "capbench.h"
#include "clock.h"

/* ----------------------------------------------------------------- */
/* Sockets and RESP. */

static int write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -errno;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* One line without its "\n" (and "\r"), at most cap - 1 bytes kept. */
static int read_line(struct reader *r, char *line, size_t cap)
{
	size_t n = 0;

	for (;;) {
		if (r->off == r->len) {
			ssize_t got = read(r->fd, r->buf, sizeof(r->buf));

			if (got < 0 && errno == EINTR)
				continue;
			if (got <= 0)
				return got < 0 ? -errno : -ECONNRESET;
			r->off = 0;
			r->len = (size_t)got;
		}
		char ch = r->buf[r->off++];

		if (ch == '\n')
			break;
		if (n + 1 < cap)
			line[n++] = ch;
	}
	if (n > 0 && line[n - 1] == '\r')
		n--;
	line[n] = '\0';
	return 0;
}

int unix_connect(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	strcpy(sun.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		int e = -errno;

		close(fd);
		return e;
	}
	return fd;
}

/* RESP: one command as an array of bulk strings. */
static int resp_send(int fd, int argc, const char *const *argv)
{
	char out[2048];
	size_t n;

	n = (size_t)snprintf(out, sizeof(out), "*%d\r\n", argc);
	for (int i = 0; i < argc; i++) {
		size_t l = strlen(argv[i]);

		if (n + l + 32 > sizeof(out))
			return -E2BIG;
		n += (size_t)snprintf(out + n, sizeof(out) - n, "$%zu\r\n", l);
		memcpy(out + n, argv[i], l);
		memcpy(out + n + l, "\r\n", 2);
		n += l + 2;
	}
	return write_all(fd, out, n);
}

/* One RESP reply: integer in *ival, status or bulk text in str. */
static int resp_reply(struct reader *r, long long *ival, char *str,
    size_t cap)
{
	char line[512];
	int e = read_line(r, line, sizeof(line));

	if (e < 0)
		return e;
	if (str != NULL)
		bfmt(str, cap, "%s", line + 1);
	switch (line[0]) {
	case ':':
		*ival = strtoll(line + 1, NULL, 10);
		return 0;
	case '+':
		return 0;
	case '$':
		if (strtol(line + 1, NULL, 10) < 0)
			return 0;
		e = read_line(r, line, sizeof(line));
		if (e == 0 && str != NULL)
			bfmt(str, cap, "%s", line);
		return e;
	default:
		return -EPROTO;
	}
}

int redis_cmd(struct reader *r, long long *ival, char *str, size_t cap,
    int argc, const char *const *argv)
{
	int e = resp_send(r->fd, argc, argv);

	return e < 0 ? e : resp_reply(r, ival, str, cap);
}

/* ----------------------------------------------------------------- */
/* redis-server. */

/* Look prog up in $PATH; 1 found (etcd.c too). */
int in_path(const char *prog, char *out, size_t cap)
{
	const char *path = getenv("PATH");
	char dirs[4096];

	snprintf(dirs, sizeof(dirs), "%s",
	    path ? path : "/usr/local/bin:/usr/bin:/bin");
	for (char *save = NULL, *d = strtok_r(dirs, ":", &save); d != NULL;
	    d = strtok_r(NULL, ":", &save)) {
		snprintf(out, cap, "%s/%s", d, prog);
		if (access(out, X_OK) == 0)
			return 1;
	}
	return 0;
}

/*
 * The usual Redis counting semaphore: a sorted set of leases scored by
 * their start time; expired leases are dropped, then a lease is added
 * iff fewer than the limit remain.  The TTL is what makes it survive a
 * crashed holder (after the TTL).  ARGV: now_ms, ttl_ms, limit, id.
 */
static const char redis_acquire_lua[] =
    "local now = tonumber(ARGV[1])\n"
    "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - "
    "tonumber(ARGV[2]))\n"
    "if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[3]) then\n"
    "  redis.call('ZADD', KEYS[1], now, ARGV[4])\n"
    "  return 1\n"
    "end\n"
    "return 0\n";

/* Start exe on the private socket; connected fd, or -errno with
 * p->redis_why. */
static int redis_spawn(struct bench *b, const char *exe)
{
	struct bench_peers *p = &b->peers;
	char dir[PATH_MAX + 8], logf[PATH_MAX + 16];
	uint64_t deadline;
	int fd;

	snprintf(dir, sizeof(dir), "%s", p->rundir);
	snprintf(logf, sizeof(logf), "%s/redis.log", p->rundir);
	p->redis = fork_kid(&b->procs, SIGKILL);
	if (p->redis == 0) {
		execl(exe, "redis-server", "--port", "0", "--unixsocket",
		    p->redis_sock, "--unixsocketperm", "700", "--save", "",
		    "--appendonly", "no", "--daemonize", "no", "--dir", dir,
		    "--logfile", logf, (char *)NULL);
		_exit(127);
	}
	if (p->redis < 0)
		return -errno;
	deadline = cb_monotonic_ns() + 5000000000ull;
	while ((fd = unix_connect(p->redis_sock)) < 0) {
		if (cb_monotonic_ns() > deadline ||
		    waitpid(p->redis, NULL, WNOHANG) == p->redis) {
			bfmt(p->redis_why, sizeof(p->redis_why), "redis-server "
			    "did not start (see %s)", logf);
			return -ETIMEDOUT;
		}
		sleep_us(10000);
	}
	return fd;
}

/* redis-server with the semaphore's script loaded; 0, or -errno with
 * the reason in b->peers.redis_why. */
int redis_start(struct bench *b)
{
	struct bench_peers *p = &b->peers;
	char exe[PATH_MAX];
	struct reader rd;
	long long iv = 0;
	int fd, e;

	if (!in_path("redis-server", exe, sizeof(exe))) {
		snprintf(p->redis_why, sizeof(p->redis_why), "redis-server not "
		    "installed (sh scripts/install-deps.sh bench)");
		return -ENOENT;
	}
	if ((fd = redis_spawn(b, exe)) < 0)
		return fd;
	rd.fd = fd;
	rd.off = rd.len = 0;
	e = redis_cmd(&rd, &iv, p->redis_sha, sizeof(p->redis_sha), 3,
	    (const char *const[]){ "SCRIPT", "LOAD", redis_acquire_lua });
	close(fd);
	if (e < 0 || strlen(p->redis_sha) != 40) {
		snprintf(p->redis_why, sizeof(p->redis_why), "SCRIPT LOAD failed");
		return -EPROTO;
	}
	p->redis_ok = 1;
	return 0;
}

/* Empty the Redis semaphore between runs. */
void redis_reset(const struct bench_peers *p)
{
	struct reader rd = { .fd = unix_connect(p->redis_sock) };
	long long iv;

	if (rd.fd < 0)
		return;
	redis_cmd(&rd, &iv, NULL, 0, 2, (const char *const[]){ "DEL",
	    "capbench:sem" });
	close(rd.fd);
}
