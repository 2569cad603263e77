/*
 * capbench.c - capbroker against what it replaces, measured in one run.
 *
 * capbench starts its own capbrokerd (from its own directory, instance
 * "bench<pid>" or -n NAME, in a private CAPBROKER_RUNDIR made with
 * mkdtemp), forks 1, 2, 4, ... up to -P worker processes, and measures:
 *
 *   1 read     ns per read of the capacity: the state word through
 *              cb_state_word() + cb_state_load(), and cb_current(), next
 *              to a raw acquire load of a shared word and a one-load
 *              function called through a shared library;
 *   2 hold     reserve + release pairs: cb_reserve(CB_HOLD, timeout 0) +
 *              cb_release against a process-shared POSIX semaphore
 *              (sem_trywait + sem_post), a SysV semaphore with SEM_UNDO,
 *              a counter under flock(2), and a Redis semaphore (the
 *              usual sorted-set lease in a Lua script, on a redis-server
 *              capbench starts on a private unix socket);
 *   3 launch   launch pairs (CB_LAUNCH) next to hold pairs;
 *   4 watch    wake latency from the broker's publish (the published_ns
 *              stamp in the info block) to each of N subscribers
 *              returning from cb_watch();
 *   5 publish  the control-socket round trip of a WORKER SET, which the
 *              broker answers only after recomputing and publishing,
 *              with 10 ... 10k registered workers; PING and STATUS
 *              round trips;
 *   6 reclaim  kill -9 of a holder while another process is blocked in
 *              cb_reserve() on the same one-unit pool: time until the
 *              waiter holds the unit;
 *   7 contention  a pool whose limit is half the processes: throughput
 *              and fairness (max/min pairs per process), next to a POSIX
 *              semaphore with the same limit.
 *
 * Equal work.  Every method's pair is "take one unit if the limit allows,
 * give it back", with the same loop, the same stop flag checked every
 * BATCH pairs, the same per-process timing and the same best-of-R
 * repetition.  The limit is never reached in sections 2 and 3 (capacity
 * 65535, semaphores at SEM_LIMIT), so nobody spins on refusals.
 *
 * Everything capbench starts is killed on exit (also on SIGINT/SIGTERM,
 * and by PR_SET_PDEATHSIG if capbench itself is killed); the broker runs
 * with --remove and capbench unlinks its segments again, then checks
 * /dev/shm and fails if anything of its instance is left.  Timing is
 * never asserted here: --smoke only proves every section runs.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <semaphore.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/sem.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "abi.h"
#include "capbroker.h"
#include "clock.h"
#include "client_internal.h"
#include "seqlock.h"
#include "segment.h"
#include "snapshot.h"
#include "tier.h"

#define MAX_PROCS	64
#define MAX_COUNTS	8	/* 1, 2, 4, ... 64, and -P itself */
#define MAX_SIZES	4	/* worker counts in section 5 */
#define BATCH		64	/* pairs between two looks at the stop flag */
#define SEM_LIMIT	32767	/* SEMVMX: the largest SysV semaphore value */
#define REDIS_TTL_MS	10000	/* lease lifetime of the Redis semaphore */
#define READY_WAIT_MS	10000
#define CONTEND_HOLD_NS	2000	/* section 7: work inside the reservation */
#define CONTEND_THINK_NS 2000	/* ... and between two reservations */

enum section {
	S_READ, S_HOLD, S_LAUNCH, S_WATCH, S_PUBLISH, S_RECLAIM, S_CONTEND,
	S_COUNT
};

static const char *const section_name[S_COUNT] = {
	"read", "hold", "launch", "watch", "publish", "reclaim", "contention",
};

enum status { ST_NOT_RUN, ST_OK, ST_SKIPPED, ST_FAILED };

static const char *const status_name[] = {
	"not_run", "ok", "skipped", "failed",
};

/*
 * M_FLOOR is no competitor: it is the death-window protocol of
 * lib/reserve.h reduced to its eight seq_cst read-modify-writes, inline,
 * with no checks, tickets or calls -- the fastest any crash-safe hold
 * pair of this design can be on this machine.
 */
enum method { M_CB, M_POSIX, M_SYSV, M_FLOCK, M_REDIS, M_FLOOR, M_COUNT };

static const char *const method_name[M_COUNT] = {
	"capbroker", "posix_sem", "sysv_sem_undo", "flock", "redis",
	"protocol_floor",
};

static const char *const method_title[M_COUNT] = {
	"capbroker hold", "POSIX sem", "SysV SEM_UNDO", "flock counter",
	"Redis Lua lease", "protocol floor (8 RMW)",
};

/* M_FLOOR's words: the pool counter on line 0 of a shared mapping,
 * each process's death-window word and hold count on a line of its
 * own, as in the slots segment. */
struct floor_line {
	_Alignas(64) _Atomic uint32_t seq;
	_Atomic uint32_t holds;
};

struct floor_words {
	_Alignas(64) _Atomic uint64_t usage;
	struct floor_line proc[MAX_PROCS];
};

/* One throughput measurement: a group of processes doing pairs. */
struct tput {
	int done;		/* 1 when measured */
	double ops_s;		/* pairs per second, all processes together */
	double ns_pair;		/* ns per pair, mean over the processes */
	double fairness;	/* max/min pairs per process; 0: one got none */
	uint64_t refused;	/* refused attempts (over the limit) */
};

struct read_row {
	double raw, word, oneload, current;	/* ns per read */
};

struct lat {
	int samples;
	double p50, p99, max;	/* microseconds */
};

struct pub_row {
	int want, have;		/* workers asked for, registered */
	double set_p50, set_p99, ping_p50;	/* round trips, us */
	double bound;		/* set_p50 - ping_p50, us */
	double model;		/* in-process tier + copy, us */
};

static struct {
	/* Options. */
	int maxp, dur_ms, reps, smoke, watch_rounds, reclaim_rounds, iters;
	long reads;
	unsigned sections;		/* bit per enum section */
	unsigned methods;		/* bit per enum method (section 2) */
	const char *json, *dat, *dir, *name_opt;
	char cmdline[512];

	/* What capbench started or created. */
	char name[CB_NAME_MAX + 1];
	char rundir[PATH_MAX];
	char sock[108], redis_sock[108], lockpath[PATH_MAX];
	char broker_path[PATH_MAX], lib_cb[PATH_MAX], lib_one[PATH_MAX];
	pid_t broker, redis;
	int semid;
	sem_t *psem;			/* in a shared anonymous mapping */
	_Atomic uint64_t *raw_word;	/* the same mapping, another line */
	struct floor_words *floor;	/* shared anonymous mapping */
	pid_t kids[4 * MAX_PROCS];
	int nkids;
	int ctl_fd;
	int redis_ok;
	char redis_sha[48];
	char redis_why[160];

	/* Results. */
	int counts[MAX_COUNTS], ncounts;
	enum status st[S_COUNT];
	char why[S_COUNT][200];
	struct read_row read[MAX_COUNTS];
	struct tput hold[M_COUNT][MAX_COUNTS];
	struct tput launch[MAX_COUNTS];
	struct tput contend[2][MAX_COUNTS];	/* capbroker, POSIX sem */
	int contend_limit[MAX_COUNTS];
	struct lat watch[MAX_COUNTS];
	struct pub_row pub[MAX_SIZES];
	int npub;
	double verb_ping, verb_status, verb_set;	/* us, p50 */
	struct lat reclaim;
	int shm_left;
	char cpu_model[128];
	int ncpu;
	char kernel[128];
	char load_start[64], load_end[64];	/* /proc/loadavg: a busy
						   machine explains noise */
} B = { .broker = -1, .redis = -1, .semid = -1, .ctl_fd = -1 };

static volatile sig_atomic_t in_child;

/* ----------------------------------------------------------------- */
/* Small helpers. */

static void sleep_us(long us)
{
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void spin_ns(long ns)
{
	uint64_t end;

	if (ns <= 0)
		return;
	end = cb_monotonic_ns() + (uint64_t)ns;
	while (cb_monotonic_ns() < end)
		;
}

/*
 * snprintf() for messages and paths that may be cut short: a long
 * TMPDIR or error text is truncated, never overflows.  (A function of
 * its own so gcc's -Wformat-truncation does not ask for a check of
 * every call's result.)
 */
static void bfmt(char *buf, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void bfmt(char *buf, size_t cap, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, cap, fmt, ap);
	va_end(ap);
}

static void set_why(enum section s, enum status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_why(enum section s, enum status st, const char *fmt, ...)
{
	va_list ap;

	B.st[s] = st;
	va_start(ap, fmt);
	vsnprintf(B.why[s], sizeof(B.why[s]), fmt, ap);
	va_end(ap);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Percentiles of n samples in ns, sorted in place; results in us. */
static struct lat percentiles(uint64_t *v, int n)
{
	struct lat l = { .samples = n };

	if (n == 0)
		return l;
	qsort(v, (size_t)n, sizeof(*v), cmp_u64);
	l.p50 = (double)v[(n - 1) / 2] / 1e3;
	l.p99 = (double)v[(int)((double)(n - 1) * 0.99 + 0.5)] / 1e3;
	l.max = (double)v[n - 1] / 1e3;
	return l;
}

static void *shared_alloc(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

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

/* A buffered line reader, for the control protocol and RESP alike. */
struct reader {
	int fd;
	size_t off, len;
	char buf[4096];
};

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

static int unix_connect(const char *path)
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

/* ----------------------------------------------------------------- */
/* Processes: every one capbench starts is tracked and killed on exit. */

static void kid_add(pid_t pid)
{
	if (B.nkids < (int)(sizeof(B.kids) / sizeof(B.kids[0])))
		B.kids[B.nkids++] = pid;
}

static void kid_del(pid_t pid)
{
	for (int i = 0; i < B.nkids; i++)
		if (B.kids[i] == pid) {
			B.kids[i] = B.kids[--B.nkids];
			return;
		}
}

/* fork() a child that dies with capbench. */
static pid_t fork_kid(int deathsig)
{
	pid_t parent = getpid(), pid;

	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		in_child = 1;
		prctl(PR_SET_PDEATHSIG, deathsig);
		if (getppid() != parent)
			_exit(1);
	} else if (pid > 0) {
		kid_add(pid);
	}
	return pid;
}

/* Wait for pid until deadline (CLOCK_MONOTONIC ns); kill -9 after.
 * Returns its wait status, or -ETIMEDOUT if it had to be killed. */
static int reap(pid_t pid, uint64_t deadline)
{
	int status = 0;

	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);

		if (r == pid || (r < 0 && errno != EINTR))
			break;
		if (cb_monotonic_ns() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			kid_del(pid);
			return -ETIMEDOUT;
		}
		sleep_us(200);
	}
	kid_del(pid);
	return status;
}

/*
 * A group of worker processes.  The children count themselves ready
 * (also when their set-up failed: the error is in their slot), wait for
 * go, and run until stop; each times itself from go to stop.
 */
struct slot {
	_Alignas(64) uint64_t ops;
	uint64_t refused;
	uint64_t ns;
	int err;
	double val[4];
	char msg[112];
};

struct group {
	_Atomic int ready;
	_Atomic int go;
	_Atomic int woke;		/* section 4: wake-ups recorded */
	_Alignas(64) _Atomic int stop;
	_Alignas(64) struct slot r[MAX_PROCS];
};

typedef void child_fn(int idx, struct group *g, void *arg);

static struct group *G;

static void child_ready(struct group *g)
{
	atomic_fetch_add_explicit(&g->ready, 1, memory_order_release);
	while (!atomic_load_explicit(&g->go, memory_order_acquire))
		sleep_us(50);
}

static int wait_at_least(_Atomic int *v, int n, int timeout_ms)
{
	uint64_t deadline = cb_monotonic_ns() + (uint64_t)timeout_ms * 1000000u;

	while (atomic_load_explicit(v, memory_order_acquire) < n) {
		if (cb_monotonic_ns() > deadline)
			return -ETIMEDOUT;
		sleep_us(100);
	}
	return 0;
}

static char group_err[200];

/*
 * Run fn in procs children.  dur_ms > 0: stop them after that long;
 * otherwise they finish on their own.  Returns 0, or -errno with the
 * first child's message in group_err.
 */
static int run_group(child_fn *fn, void *arg, int procs, int dur_ms)
{
	pid_t pids[MAX_PROCS];
	uint64_t deadline;
	int r = 0, n;

	memset(G, 0, sizeof(*G));
	for (n = 0; n < procs; n++) {
		pids[n] = fork_kid(SIGKILL);
		if (pids[n] < 0) {
			r = -errno;
			snprintf(group_err, sizeof(group_err), "fork: %s",
			    strerror(errno));
			break;
		}
		if (pids[n] == 0) {
			fn(n, G, arg);
			_exit(0);
		}
	}
	if (r == 0 && wait_at_least(&G->ready, procs, READY_WAIT_MS) < 0) {
		r = -ETIMEDOUT;
		snprintf(group_err, sizeof(group_err), "processes not ready "
		    "within %d ms", READY_WAIT_MS);
	}
	atomic_store_explicit(&G->go, 1, memory_order_release);
	if (r == 0 && dur_ms > 0) {
		sleep_us((long)dur_ms * 1000);
		atomic_store_explicit(&G->stop, 1, memory_order_relaxed);
	}
	deadline = cb_monotonic_ns() + (uint64_t)(dur_ms > 0 ? 15000 : 120000) *
	    1000000u;
	for (int i = 0; i < n; i++) {
		int st = reap(pids[i], deadline);

		if (st < 0 && r == 0) {
			r = st;
			snprintf(group_err, sizeof(group_err), "a process hung "
			    "and was killed");
		} else if (st >= 0 && !(WIFEXITED(st) &&
		    WEXITSTATUS(st) == 0) && r == 0) {
			r = -ECHILD;
			snprintf(group_err, sizeof(group_err), "a process died "
			    "(status 0x%x)", st);
		}
	}
	for (int i = 0; i < n && r == 0; i++)
		if (G->r[i].err < 0) {
			r = G->r[i].err;
			snprintf(group_err, sizeof(group_err), "%s",
			    G->r[i].msg);
		}
	return r;
}

/* ----------------------------------------------------------------- */
/* The broker, its control socket, and redis-server. */

/* Map an "ERR ENAME ..." reply to an errno. */
static int err_code(const char *line)
{
	static const struct { const char *n; int e; } map[] = {
		{ "ENOSPC", ENOSPC }, { "EPERM", EPERM }, { "ENOENT", ENOENT },
		{ "EINVAL", EINVAL }, { "ERANGE", ERANGE }, { "EAGAIN", EAGAIN },
	};

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strncmp(line + 4, map[i].n, strlen(map[i].n)) == 0)
			return -map[i].e;
	return -EPROTO;
}

static struct reader ctl_rd;

/*
 * One control request; the status line goes to reply (may be NULL),
 * data lines are read and dropped.  Returns 0, -errno from an ERR
 * reply, or an I/O error.
 */
static int ctl(char *reply, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int ctl(char *reply, size_t cap, const char *fmt, ...)
{
	char line[600], data[600];
	va_list ap;
	int n, r;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0 || n >= (int)sizeof(line) - 1)
		return -E2BIG;
	line[n++] = '\n';
	r = write_all(B.ctl_fd, line, (size_t)n);
	if (r == 0)
		r = read_line(&ctl_rd, line, sizeof(line));
	if (r < 0)
		return r;
	if (reply != NULL)
		bfmt(reply, cap, "%s", line);
	if (strncmp(line, "ERR ", 4) == 0)
		return err_code(line);
	if (strncmp(line, "OK ", 3) != 0)
		return -EPROTO;
	for (long k = strtol(line + 3, NULL, 10); k > 0; k--)
		if ((r = read_line(&ctl_rd, data, sizeof(data))) < 0)
			return r;
	return 0;
}

static int start_broker(char *err, size_t cap)
{
	char log[PATH_MAX + 16];
	uint64_t deadline;
	int fd;

	snprintf(log, sizeof(log), "%s/broker.log", B.rundir);
	fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0) {
		bfmt(err, cap, "%s: %s", log, strerror(errno));
		return -errno;
	}
	B.broker = fork_kid(SIGTERM);
	if (B.broker == 0) {
		dup2(fd, 1);
		dup2(fd, 2);
		execl(B.broker_path, "capbrokerd", "-n", B.name, "--remove",
		    (char *)NULL);
		_exit(127);
	}
	close(fd);
	if (B.broker < 0) {
		snprintf(err, cap, "fork: %s", strerror(errno));
		return -errno;
	}
	deadline = cb_monotonic_ns() + 5000000000ull;
	for (;;) {
		int st;

		if (waitpid(B.broker, &st, WNOHANG) == B.broker) {
			kid_del(B.broker);
			B.broker = -1;
			bfmt(err, cap, "%s exited at start (status 0x%x; "
			    "log in %s)", B.broker_path, st, log);
			return -ECHILD;
		}
		B.ctl_fd = unix_connect(B.sock);
		if (B.ctl_fd >= 0)
			break;
		if (cb_monotonic_ns() > deadline) {
			snprintf(err, cap, "broker did not come up in 5 s");
			return -ETIMEDOUT;
		}
		sleep_us(10000);
	}
	ctl_rd.fd = B.ctl_fd;
	return ctl(err, cap, "PING");
}

static void stop_broker(void)
{
	uint64_t deadline = cb_monotonic_ns() + 5000000000ull;

	if (B.ctl_fd >= 0)
		close(B.ctl_fd);
	B.ctl_fd = -1;
	if (B.broker <= 0)
		return;
	kill(B.broker, SIGTERM);
	reap(B.broker, deadline);
	B.broker = -1;
}

/* Look prog up in $PATH; 1 found. */
static int in_path(const char *prog, char *out, size_t cap)
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

static int redis_cmd(struct reader *r, long long *ival, char *str,
    size_t cap, int argc, const char *const *argv)
{
	int e = resp_send(r->fd, argc, argv);

	return e < 0 ? e : resp_reply(r, ival, str, cap);
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

static int start_redis(void)
{
	char exe[PATH_MAX], dir[PATH_MAX + 8], logf[PATH_MAX + 16];
	uint64_t deadline;
	struct reader rd;
	long long iv = 0;
	int fd = -1, e;

	if (!in_path("redis-server", exe, sizeof(exe))) {
		snprintf(B.redis_why, sizeof(B.redis_why), "redis-server not "
		    "installed (sh scripts/install-deps.sh bench)");
		return -ENOENT;
	}
	snprintf(dir, sizeof(dir), "%s", B.rundir);
	snprintf(logf, sizeof(logf), "%s/redis.log", B.rundir);
	B.redis = fork_kid(SIGKILL);
	if (B.redis == 0) {
		execl(exe, "redis-server", "--port", "0", "--unixsocket",
		    B.redis_sock, "--unixsocketperm", "700", "--save", "",
		    "--appendonly", "no", "--daemonize", "no", "--dir", dir,
		    "--logfile", logf, (char *)NULL);
		_exit(127);
	}
	if (B.redis < 0)
		return -errno;
	deadline = cb_monotonic_ns() + 5000000000ull;
	while ((fd = unix_connect(B.redis_sock)) < 0) {
		if (cb_monotonic_ns() > deadline || waitpid(B.redis, NULL, WNOHANG) ==
		    B.redis) {
			bfmt(B.redis_why, sizeof(B.redis_why), "redis-server "
			    "did not start (see %s)", logf);
			return -ETIMEDOUT;
		}
		sleep_us(10000);
	}
	rd.fd = fd;
	rd.off = rd.len = 0;
	e = redis_cmd(&rd, &iv, B.redis_sha, sizeof(B.redis_sha), 3,
	    (const char *const[]){ "SCRIPT", "LOAD", redis_acquire_lua });
	close(fd);
	if (e < 0 || strlen(B.redis_sha) != 40) {
		snprintf(B.redis_why, sizeof(B.redis_why), "SCRIPT LOAD failed");
		return -EPROTO;
	}
	B.redis_ok = 1;
	return 0;
}

/* Empty the Redis semaphore between runs. */
static void redis_reset(void)
{
	struct reader rd = { .fd = unix_connect(B.redis_sock) };
	long long iv;

	if (rd.fd < 0)
		return;
	redis_cmd(&rd, &iv, NULL, 0, 2, (const char *const[]){ "DEL",
	    "capbench:sem" });
	close(rd.fd);
}

/* ----------------------------------------------------------------- */
/* The methods of sections 2, 3 and 7: one pair = take and give back. */

struct method_arg {
	enum method meth;
	int kind;		/* M_CB: CB_HOLD or CB_LAUNCH */
	const char *pool;	/* M_CB: pool name */
	int timeout_ms;		/* 0: try once; > 0: block (section 7) */
	long hold_ns, think_ns;	/* busy time inside / between pairs */
	int limit;		/* M_FLOCK, M_REDIS: the semaphore's limit */
};

struct method_ctx {
	const struct method_arg *a;
	struct floor_line *me;		/* M_FLOOR */
	cb_client *c;
	struct cb_request req;
	int fd;
	_Atomic uint32_t *count;	/* M_FLOCK: the counter */
	struct reader rd;		/* M_REDIS */
	uint64_t seq;
	char id[32];
};

static int m_setup(struct method_ctx *x, char *err, size_t cap)
{
	const struct method_arg *a = x->a;
	int r;

	switch (a->meth) {
	case M_CB:
		r = cb_open(&x->c, B.name, 0);
		if (r < 0) {
			snprintf(err, cap, "cb_open: %s", cb_open_errmsg());
			return r;
		}
		r = cb_pool(x->c, a->pool);
		if (r < 0) {
			snprintf(err, cap, "cb_pool %s: %s", a->pool,
			    cb_strerror(r));
			return r;
		}
		x->req = (struct cb_request){ .pool = r, .kind = a->kind,
		    .timeout_ms = a->timeout_ms };
		return 0;
	case M_FLOCK:
		x->fd = open(B.lockpath, O_RDWR | O_CLOEXEC);
		x->count = x->fd < 0 ? MAP_FAILED : mmap(NULL, 4096,
		    PROT_READ | PROT_WRITE, MAP_SHARED, x->fd, 0);
		if (x->count == MAP_FAILED) {
			bfmt(err, cap, "%s: %s", B.lockpath,
			    strerror(errno));
			return -errno;
		}
		return 0;
	case M_REDIS:
		x->rd.fd = unix_connect(B.redis_sock);
		if (x->rd.fd < 0) {
			bfmt(err, cap, "connect %s: %s", B.redis_sock,
			    strerror(-x->rd.fd));
			return x->rd.fd;
		}
		return 0;
	default:
		return 0;	/* the semaphores were made before fork() */
	}
}

static void m_teardown(struct method_ctx *x)
{
	if (x->a->meth == M_CB)
		cb_close(x->c);
	else if (x->a->meth == M_FLOCK)
		close(x->fd);
	else if (x->a->meth == M_REDIS)
		close(x->rd.fd);
}

static int pair_cb(struct method_ctx *x)
{
	cb_ticket t;
	int r = cb_reserve(x->c, &x->req, &t, NULL);

	if (r == -EAGAIN || r == -ETIMEDOUT)
		return 1;
	if (r < 0)
		return r;
	spin_ns(x->a->hold_ns);
	r = cb_release(x->c, &t);
	return r < 0 ? r : 0;
}

/* Like cb_reserve(): try first, then (timeout > 0) block until a
 * deadline. */
static int pair_posix(struct method_ctx *x)
{
	int r = sem_trywait(B.psem);

	if (r < 0 && errno == EAGAIN && x->a->timeout_ms > 0) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += x->a->timeout_ms / 1000;
		ts.tv_nsec += (x->a->timeout_ms % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		while ((r = sem_timedwait(B.psem, &ts)) < 0 && errno == EINTR)
			;
	}
	if (r < 0)
		return errno == EAGAIN || errno == ETIMEDOUT ? 1 : -errno;
	spin_ns(x->a->hold_ns);
	return sem_post(B.psem) < 0 ? -errno : 0;
}

static int pair_sysv(struct method_ctx *x)
{
	struct sembuf down = { 0, -1, SEM_UNDO | IPC_NOWAIT };
	struct sembuf up = { 0, 1, SEM_UNDO };

	if (semop(B.semid, &down, 1) < 0)
		return errno == EAGAIN ? 1 : -errno;
	spin_ns(x->a->hold_ns);
	return semop(B.semid, &up, 1) < 0 ? -errno : 0;
}

/* A counter in a lock file, changed under flock(LOCK_EX). */
static int pair_flock(struct method_ctx *x)
{
	int ok;

	if (flock(x->fd, LOCK_EX) < 0)
		return -errno;
	ok = atomic_load_explicit(x->count, memory_order_relaxed) <
	    (uint32_t)x->a->limit;
	if (ok)
		atomic_store_explicit(x->count, atomic_load_explicit(x->count,
		    memory_order_relaxed) + 1, memory_order_relaxed);
	flock(x->fd, LOCK_UN);
	if (!ok)
		return 1;
	spin_ns(x->a->hold_ns);
	if (flock(x->fd, LOCK_EX) < 0)
		return -errno;
	atomic_store_explicit(x->count, atomic_load_explicit(x->count,
	    memory_order_relaxed) - 1, memory_order_relaxed);
	flock(x->fd, LOCK_UN);
	return 0;
}

static int pair_redis(struct method_ctx *x)
{
	char now[24], ttl[16], limit[16];
	long long iv = 0;
	int r;

	snprintf(x->id, sizeof(x->id), "%d:%llu", (int)getpid(),
	    (unsigned long long)++x->seq);
	snprintf(now, sizeof(now), "%llu",
	    (unsigned long long)(cb_realtime_ns() / 1000000u));
	snprintf(ttl, sizeof(ttl), "%d", REDIS_TTL_MS);
	snprintf(limit, sizeof(limit), "%d", x->a->limit);
	r = redis_cmd(&x->rd, &iv, NULL, 0, 8, (const char *const[]){
	    "EVALSHA", B.redis_sha, "1", "capbench:sem", now, ttl, limit,
	    x->id });
	if (r < 0)
		return r;
	if (iv != 1)
		return 1;
	spin_ns(x->a->hold_ns);
	r = redis_cmd(&x->rd, &iv, NULL, 0, 3, (const char *const[]){
	    "ZREM", "capbench:sem", x->id });
	return r < 0 ? r : iv == 1 ? 0 : -EPROTO;
}

/* reserve.h's hold and release, steps 1-4 each, and nothing else. */
static int pair_floor(struct method_ctx *x)
{
	_Atomic uint64_t *u = &B.floor->usage;
	uint64_t v = atomic_load_explicit(u, memory_order_relaxed);

	atomic_fetch_add(&x->me->seq, 1);
	do {
		if (v + 1 > (uint64_t)x->a->limit) {
			atomic_fetch_add(&x->me->seq, 0xff);
			return 1;
		}
	} while (!atomic_compare_exchange_weak(u, &v, v + 1));
	atomic_fetch_add(&x->me->holds, 1);
	atomic_fetch_add(&x->me->seq, 0xff);
	spin_ns(x->a->hold_ns);
	atomic_fetch_add(&x->me->seq, 1);
	atomic_fetch_sub(&x->me->holds, 1);
	v = atomic_load_explicit(u, memory_order_relaxed);
	while (!atomic_compare_exchange_weak(u, &v, v - 1))
		;
	atomic_fetch_add(&x->me->seq, 0xff);
	return 0;
}

static int m_pair(struct method_ctx *x)
{
	switch (x->a->meth) {
	case M_CB:	return pair_cb(x);
	case M_POSIX:	return pair_posix(x);
	case M_SYSV:	return pair_sysv(x);
	case M_FLOCK:	return pair_flock(x);
	case M_REDIS:	return pair_redis(x);
	case M_FLOOR:	return pair_floor(x);
	default:	return -EINVAL;
	}
}

static void method_child(int idx, struct group *g, void *arg)
{
	struct method_ctx x = { .a = arg, .fd = -1,
	    .me = &B.floor->proc[idx] };
	struct slot *s = &g->r[idx];
	uint64_t ops = 0, refused = 0, t0;
	int r = m_setup(&x, s->msg, sizeof(s->msg));

	if (r < 0) {
		s->err = r;
		child_ready(g);
		return;
	}
	child_ready(g);
	t0 = cb_monotonic_ns();
	while (!atomic_load_explicit(&g->stop, memory_order_relaxed)) {
		for (int k = 0; k < BATCH; k++) {
			r = m_pair(&x);
			if (r < 0)
				goto out;
			if (r > 0)
				refused++;
			else
				ops++;
			spin_ns(x.a->think_ns);
		}
	}
	r = 0;
out:
	s->ns = cb_monotonic_ns() - t0;
	s->ops = ops;
	s->refused = refused;
	if (r < 0) {
		s->err = r;
		snprintf(s->msg, sizeof(s->msg), "%s: %s",
		    method_name[x.a->meth], x.a->meth == M_CB ?
		    cb_errmsg(x.c) : strerror(-r));
	}
	m_teardown(&x);
}

/* Fresh semaphores for every run, so no run inherits another's state. */
static int method_reset(const struct method_arg *a)
{
	switch (a->meth) {
	case M_POSIX:
		sem_destroy(B.psem);
		return sem_init(B.psem, 1, (unsigned)a->limit) < 0 ? -errno : 0;
	case M_SYSV:
		return semctl(B.semid, 0, SETVAL, a->limit) < 0 ? -errno : 0;
	case M_FLOCK: {
		int fd = open(B.lockpath, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		uint32_t zero[1024] = { 0 };
		int r;

		if (fd < 0)
			return -errno;
		r = pwrite(fd, zero, sizeof(zero), 0) == sizeof(zero) ? 0 :
		    -EIO;
		close(fd);
		return r;
	}
	case M_REDIS:
		redis_reset();
		return 0;
	case M_FLOOR:
		memset(B.floor, 0, sizeof(*B.floor));
		return 0;
	default:
		return 0;
	}
}

/* Best of B.reps runs (the highest total throughput). */
static int measure(const struct method_arg *a, int procs, struct tput *out)
{
	memset(out, 0, sizeof(*out));
	for (int rep = 0; rep < B.reps; rep++) {
		double ops_s = 0, ns = 0, hi = 0, lo = -1;
		uint64_t refused = 0;
		int r = method_reset(a);

		if (r == 0)
			r = run_group(method_child, (void *)a, procs, B.dur_ms);
		else
			snprintf(group_err, sizeof(group_err), "reset: %s",
			    strerror(-r));
		if (r < 0)
			return r;
		for (int i = 0; i < procs; i++) {
			const struct slot *s = &G->r[i];
			double ops = (double)s->ops;

			ops_s += s->ns ? ops * 1e9 / (double)s->ns : 0;
			ns += ops > 0 ? (double)s->ns / ops : 0;
			hi = ops > hi ? ops : hi;
			lo = lo < 0 || ops < lo ? ops : lo;
			refused += s->refused;
		}
		if (ops_s > out->ops_s) {
			out->ops_s = ops_s;
			out->ns_pair = ns / procs;
			out->fairness = lo > 0 ? hi / lo : 0;
			out->refused = refused;
		}
	}
	out->done = 1;
	return 0;
}

/* ----------------------------------------------------------------- */
/* Section 1: reads. */

typedef unsigned current_fn(const cb_client *);
typedef unsigned oneload_fn(const uint64_t *);

/* The loops are not inlined into each other, and each sums what it
 * reads, so the compiler can neither drop nor merge the loads. */
static __attribute__((noinline)) uint64_t loop_raw(const uint64_t *w, long n)
{
	uint64_t s = 0;

	for (long i = 0; i < n; i++)
		s += __atomic_load_n(w, __ATOMIC_ACQUIRE) & 0xffffu;
	return s;
}

static __attribute__((noinline)) uint64_t loop_word(const uint64_t *w, long n)
{
	uint64_t s = 0;

	for (long i = 0; i < n; i++)
		s += CB_STATE_CAPACITY(cb_state_load(w));
	return s;
}

static __attribute__((noinline)) uint64_t loop_oneload(oneload_fn *f,
    const uint64_t *w, long n)
{
	uint64_t s = 0;

	for (long i = 0; i < n; i++)
		s += f(w);
	return s;
}

static __attribute__((noinline)) uint64_t loop_current(current_fn *f,
    const cb_client *c, long n)
{
	uint64_t s = 0;

	for (long i = 0; i < n; i++)
		s += f(c);
	return s;
}

static volatile uint64_t read_sink;

/*
 * Both shared libraries are dlopen()ed and called through pointers from
 * dlsym(): cb_current() and the yardstick pay the same kind of call.
 */
static void read_child(int idx, struct group *g, void *arg)
{
	struct slot *s = &g->r[idx];
	void *lib = dlopen(B.lib_cb, RTLD_NOW | RTLD_LOCAL);
	void *one = dlopen(B.lib_one, RTLD_NOW | RTLD_LOCAL);
	int (*open_fn)(cb_client **, const char *, unsigned);
	void (*close_fn)(cb_client *);
	const uint64_t *(*word_fn)(const cb_client *);
	current_fn *cur;
	oneload_fn *load;
	const uint64_t *w;
	cb_client *c = NULL;
	double best[4] = { 0, 0, 0, 0 };

	(void)arg;
	if (lib == NULL || one == NULL) {
		s->err = -ENOENT;
		snprintf(s->msg, sizeof(s->msg), "dlopen: %s", dlerror());
		child_ready(g);
		return;
	}
	open_fn = (int (*)(cb_client **, const char *, unsigned))dlsym(lib,
	    "cb_open");
	close_fn = (void (*)(cb_client *))dlsym(lib, "cb_close");
	word_fn = (const uint64_t *(*)(const cb_client *))dlsym(lib,
	    "cb_state_word");
	cur = (current_fn *)dlsym(lib, "cb_current");
	load = (oneload_fn *)dlsym(one, "cbbench_oneload");
	if (!open_fn || !close_fn || !word_fn || !cur || !load ||
	    open_fn(&c, B.name, CB_OPEN_RDONLY) < 0) {
		s->err = -ENOENT;
		snprintf(s->msg, sizeof(s->msg), "libcapbroker.so: cb_open or "
		    "a symbol failed");
		child_ready(g);
		return;
	}
	w = word_fn(c);
	child_ready(g);
	for (int rep = 0; rep < B.reps; rep++) {
		for (int v = 0; v < 4; v++) {
			uint64_t t0 = cb_monotonic_ns(), sum;
			double ns;

			sum = v == 0 ? loop_raw((const uint64_t *)B.raw_word,
			    B.reads) : v == 1 ? loop_word(w, B.reads) :
			    v == 2 ? loop_oneload(load,
			    (const uint64_t *)B.raw_word, B.reads) :
			    loop_current(cur, c, B.reads);
			ns = (double)(cb_monotonic_ns() - t0) / (double)B.reads;
			read_sink += sum;
			if (best[v] == 0 || ns < best[v])
				best[v] = ns;
		}
	}
	memcpy(s->val, best, sizeof(best));
	close_fn(c);
}

static void section_read(void)
{
	for (int ci = 0; ci < B.ncounts; ci++) {
		int procs = B.counts[ci];
		struct read_row *row = &B.read[ci];

		if (run_group(read_child, NULL, procs, -1) < 0) {
			set_why(S_READ, ST_FAILED, "%s", group_err);
			return;
		}
		for (int i = 0; i < procs; i++) {
			row->raw += G->r[i].val[0] / procs;
			row->word += G->r[i].val[1] / procs;
			row->oneload += G->r[i].val[2] / procs;
			row->current += G->r[i].val[3] / procs;
		}
	}
	B.st[S_READ] = ST_OK;
}

/* ----------------------------------------------------------------- */
/* Sections 2, 3 and 7: throughput. */

static void section_hold(void)
{
	for (int m = 0; m < M_COUNT; m++) {
		struct method_arg a = { .meth = (enum method)m, .kind = CB_HOLD,
		    .pool = "default", .limit = SEM_LIMIT };

		if ((m == M_REDIS && !B.redis_ok) || !(B.methods & (1u << m)))
			continue;
		for (int ci = 0; ci < B.ncounts; ci++)
			if (measure(&a, B.counts[ci], &B.hold[m][ci]) < 0) {
				set_why(S_HOLD, ST_FAILED, "%s: %s",
				    method_name[m], group_err);
				return;
			}
	}
	B.st[S_HOLD] = ST_OK;
	if (!B.redis_ok)
		snprintf(B.why[S_HOLD], sizeof(B.why[S_HOLD]), "redis "
		    "skipped: %s", B.redis_why);
}

static void section_launch(void)
{
	struct method_arg a = { .meth = M_CB, .kind = CB_LAUNCH,
	    .pool = "default" };

	for (int ci = 0; ci < B.ncounts; ci++)
		if (measure(&a, B.counts[ci], &B.launch[ci]) < 0) {
			set_why(S_LAUNCH, ST_FAILED, "%s", group_err);
			return;
		}
	B.st[S_LAUNCH] = ST_OK;
}

static void section_contend(void)
{
	char reply[256];

	for (int ci = 0; ci < B.ncounts; ci++) {
		int procs = B.counts[ci], limit = procs / 2 ? procs / 2 : 1;
		struct method_arg cb = { .meth = M_CB, .kind = CB_HOLD,
		    .pool = "bench_contend", .timeout_ms = 1000,
		    .hold_ns = CONTEND_HOLD_NS, .think_ns = CONTEND_THINK_NS };
		struct method_arg px = cb;
		int r;

		px.meth = M_POSIX;
		px.limit = limit;
		B.contend_limit[ci] = limit;
		r = ctl(reply, sizeof(reply), "POOL SET bench_contend limit=%d",
		    limit);
		if (r < 0) {
			set_why(S_CONTEND, ST_FAILED, "POOL SET: %s", reply);
			return;
		}
		if (measure(&cb, procs, &B.contend[0][ci]) < 0 ||
		    measure(&px, procs, &B.contend[1][ci]) < 0) {
			set_why(S_CONTEND, ST_FAILED, "%s", group_err);
			return;
		}
	}
	B.st[S_CONTEND] = ST_OK;
}

/* ----------------------------------------------------------------- */
/* Section 4: watch wake latency. */

static uint64_t *wake_at;	/* shared: [subscriber * rounds + round] */

static void watch_child(int idx, struct group *g, void *arg)
{
	struct slot *s = &g->r[idx];
	uint32_t gen = 0;
	cb_client *c;
	int r;

	(void)arg;
	if ((r = cb_open(&c, B.name, 0)) < 0) {
		s->err = r;
		snprintf(s->msg, sizeof(s->msg), "cb_open: %s",
		    cb_open_errmsg());
		atomic_fetch_add(&g->ready, 1);
		return;
	}
	cb_watch(c, &gen, 0);		/* the latest generation */
	for (int k = 0; k < B.watch_rounds; k++) {
		atomic_fetch_add_explicit(&g->ready, 1, memory_order_release);
		r = cb_watch(c, &gen, 5000);
		wake_at[idx * B.watch_rounds + k] = cb_realtime_ns();
		if (r < 0) {
			s->err = r;
			snprintf(s->msg, sizeof(s->msg), "cb_watch: %s",
			    cb_errmsg(c));
			break;
		}
		atomic_fetch_add_explicit(&g->woke, 1, memory_order_release);
	}
	cb_close(c);
}

/* published_ns of generation gen (the broker answered after publishing
 * it, so it is there unless a later publication replaced it). */
static uint64_t published_at(cb_client *pc, uint32_t gen)
{
	struct cb_info in;

	for (int tries = 0; tries < 1000; tries++) {
		if (cb_snapshot_info(cb_client_state(pc), &in) == 0 &&
		    in.generation == gen)
			return in.published_ns;
		sleep_us(10);
	}
	return 0;
}

/* Trigger one publication per round; wake-ups are collected after. */
static int watch_rounds(int n, cb_client *pc, uint64_t *pub)
{
	const struct cb_slots_hot *hot = cb_slots_record(cb_client_slots(pc),
	    CB_RL_HOT, 0);
	static unsigned toggle;
	char reply[256];
	const char *g;

	for (int k = 0; k < B.watch_rounds; k++) {
		if (wait_at_least(&G->ready, n * (k + 1), 5000) < 0)
			return -ETIMEDOUT;
		/* Let every subscriber get to sleep in the futex. */
		for (int i = 0; i < 1000 && atomic_load(&hot->watch_waiters) <
		    (uint32_t)n; i++)
			sleep_us(100);
		sleep_us(500);
		/* Alternate across calls too: every OVERRIDE must change the
		 * capacity, or nothing is published. */
		if (ctl(reply, sizeof(reply), "OVERRIDE %d", 60000 +
		    (int)(toggle++ & 1)) < 0 ||
		    (g = strstr(reply, "generation=")) == NULL)
			return -EPROTO;
		pub[k] = published_at(pc, (uint32_t)strtoul(g + 11, NULL, 10));
		if (pub[k] == 0 || wait_at_least(&G->woke, n * (k + 1),
		    6000) < 0)
			return -ETIMEDOUT;
	}
	return 0;
}

static void section_watch(void)
{
	size_t len = sizeof(uint64_t) * (size_t)B.watch_rounds;
	uint64_t *pub = malloc(len), *lat;
	cb_client *pc = NULL;
	int r;

	wake_at = shared_alloc(len * MAX_PROCS);
	lat = malloc(len * MAX_PROCS);
	if (!pub || !wake_at || !lat || cb_open(&pc, B.name,
	    CB_OPEN_RDONLY) < 0) {
		set_why(S_WATCH, ST_FAILED, "set-up failed");
		goto out;
	}
	for (int ci = 0; ci < B.ncounts; ci++) {
		int n = B.counts[ci], m = 0;
		pid_t pids[MAX_PROCS];

		memset(G, 0, sizeof(*G));
		for (int i = 0; i < n; i++)
			if ((pids[i] = fork_kid(SIGKILL)) == 0) {
				watch_child(i, G, NULL);
				_exit(0);
			}
		r = watch_rounds(n, pc, pub);
		for (int i = 0; i < n; i++)
			reap(pids[i], cb_monotonic_ns() + 10000000000ull);
		for (int i = 0; i < n && r == 0; i++)
			r = G->r[i].err;
		if (r < 0) {
			set_why(S_WATCH, ST_FAILED, "%d subscribers: %s", n,
			    G->r[0].err ? G->r[0].msg : strerror(-r));
			goto out;
		}
		for (int i = 0; i < n; i++)
			for (int k = 0; k < B.watch_rounds; k++) {
				uint64_t t = wake_at[i * B.watch_rounds + k];

				lat[m++] = t > pub[k] ? t - pub[k] : 0;
			}
		B.watch[ci] = percentiles(lat, m);
	}
	B.st[S_WATCH] = ST_OK;
out:
	cb_close(pc);
	free(pub);
	free(lat);
	if (wake_at)
		munmap(wake_at, len * MAX_PROCS);
}

/* ----------------------------------------------------------------- */
/* Section 5: recompute + publish, control verbs. */

/* Median round trip (us) of K requests; p99 too if asked. */
static int rtt(const char *what, int vary, double *p50, double *p99)
{
	uint64_t *v = malloc(sizeof(*v) * (size_t)B.iters);
	struct lat l;
	int r = 0;

	if (v == NULL)
		return -ENOMEM;
	for (int k = 0; k < B.iters && r == 0; k++) {
		uint64_t t0 = cb_monotonic_ns();

		/* vary: worker 0's max_running alternates, so capacity
		 * changes and the whole publish path runs every time. */
		r = vary ? ctl(NULL, 0, "WORKER SET bw00000 ready %d",
		    9 + (k & 1)) : ctl(NULL, 0, "%s", what);
		v[k] = cb_monotonic_ns() - t0;
	}
	l = percentiles(v, B.iters);
	free(v);
	*p50 = l.p50;
	if (p99)
		*p99 = l.p99;
	return r;
}

/*
 * What publish() does per worker, in-process: cb_tier_compute() over n
 * workers and the seqlock copy of n records into a table.  The daemon
 * cannot hold 10k workers (CB_MAX_WORKERS), so this is the 10k figure;
 * it leaves out the registry walk, which the 1024-worker round trip
 * measures.
 */
static double model_us(int n)
{
	struct cb_tier_worker *tw = calloc((size_t)n, sizeof(*tw));
	struct cb_worker_rec *src = calloc((size_t)n, sizeof(*src));
	struct cb_worker_rec *dst = calloc((size_t)n, sizeof(*dst));
	struct cb_tier_settings set = { 0, 64, 1024 };
	struct cb_tier_result res;
	double best = 0;

	if (!tw || !src || !dst)
		goto out;
	for (int i = 0; i < n; i++) {
		snprintf(src[i].id, sizeof(src[i].id), "bw%05d", i);
		src[i].state = CB_WORKER_READY;
		src[i].max_running = 8;
	}
	for (int rep = 0; rep < 50; rep++) {
		uint64_t t0 = cb_monotonic_ns();
		double us;

		for (int i = 0; i < n; i++) {
			tw[i].state = src[i].state;
			tw[i].max_running = src[i].max_running;
		}
		cb_tier_compute(&set, tw, (size_t)n, &res);
		for (int i = 0; i < n; i++)
			cb_seq_copy_in(&dst[i], &src[i], sizeof(src[i]));
		us = (double)(cb_monotonic_ns() - t0) / 1e3;
		if (best == 0 || us < best)
			best = us;
	}
out:
	free(tw);
	free(src);
	free(dst);
	return best;
}

static void section_publish(void)
{
	static const int full[] = { 10, 100, 1000, 10000 };
	static const int smoke[] = { 10, 100 };
	const int *sizes = B.smoke ? smoke : full;
	int nsizes = B.smoke ? 2 : 4, have = 0, r;
	char reply[256];

	/* Derive the capacity from the workers again. */
	if (ctl(reply, sizeof(reply), "OVERRIDE 0") < 0) {
		set_why(S_PUBLISH, ST_FAILED, "OVERRIDE 0: %s", reply);
		return;
	}
	for (int si = 0; si < nsizes; si++) {
		struct pub_row *row = &B.pub[B.npub++];

		row->want = sizes[si];
		while (have < row->want) {
			r = ctl(reply, sizeof(reply),
			    "WORKER SET bw%05d ready 8", have);
			if (r == -ENOSPC)
				break;
			if (r < 0) {
				set_why(S_PUBLISH, ST_FAILED, "WORKER SET: "
				    "%s", reply);
				return;
			}
			have++;
		}
		row->have = have;
		if (rtt(NULL, 1, &row->set_p50, &row->set_p99) < 0 ||
		    rtt("PING", 0, &row->ping_p50, NULL) < 0) {
			set_why(S_PUBLISH, ST_FAILED, "round trips failed");
			return;
		}
		row->bound = row->set_p50 - row->ping_p50;
		row->model = model_us(row->want);
		if (si == 0) {
			B.verb_ping = row->ping_p50;
			B.verb_set = row->set_p50;
			if (rtt("STATUS", 0, &B.verb_status, NULL) < 0) {
				set_why(S_PUBLISH, ST_FAILED, "STATUS failed");
				return;
			}
		}
	}
	B.st[S_PUBLISH] = ST_OK;
	if (have < sizes[nsizes - 1])
		snprintf(B.why[S_PUBLISH], sizeof(B.why[S_PUBLISH]), "the "
		    "broker registers at most %d workers (CB_MAX_WORKERS; "
		    "ERR ENOSPC beyond): rows above it are measured with %d",
		    have, have);
}

/* ----------------------------------------------------------------- */
/* Section 6: reclaim. */

static void reclaim_child(int idx, struct group *g, void *arg)
{
	struct slot *s = &g->r[idx];
	struct cb_request req = { .kind = CB_HOLD };
	cb_client *c;
	cb_ticket t;
	int r;

	(void)arg;
	if ((r = cb_open(&c, B.name, 0)) < 0 ||
	    (r = req.pool = cb_pool(c, "bench_reclaim")) < 0) {
		s->err = r < 0 ? r : -EINVAL;
		snprintf(s->msg, sizeof(s->msg), "set-up: %s", cb_strerror(r));
		atomic_fetch_add(&g->ready, 1);
		return;
	}
	if (idx == 0) {
		/* The holder: take the only unit and wait for kill -9. */
		r = cb_reserve(c, &req, &t, NULL);
		if (r < 0) {
			s->err = r;
			snprintf(s->msg, sizeof(s->msg), "holder: %s",
			    cb_errmsg(c));
		}
		atomic_fetch_add(&g->ready, 1);
		for (;;)
			pause();
	}
	/* The waiter: blocked until the broker reclaims the unit. */
	req.timeout_ms = 10000;
	atomic_fetch_add(&g->ready, 1);
	r = cb_reserve(c, &req, &t, NULL);
	s->ns = cb_monotonic_ns();
	if (r < 0) {
		s->err = r;
		snprintf(s->msg, sizeof(s->msg), "waiter: %s", cb_errmsg(c));
	} else {
		cb_release(c, &t);
	}
	cb_close(c);
}

static int reclaim_round(uint64_t *lat)
{
	pid_t holder, waiter;
	uint64_t t0;
	int r;

	memset(G, 0, sizeof(*G));
	if ((holder = fork_kid(SIGKILL)) == 0) {
		reclaim_child(0, G, NULL);
		_exit(0);
	}
	if (wait_at_least(&G->ready, 1, READY_WAIT_MS) < 0 || G->r[0].err) {
		reap(holder, 0);
		return G->r[0].err ? G->r[0].err : -ETIMEDOUT;
	}
	if ((waiter = fork_kid(SIGKILL)) == 0) {
		reclaim_child(1, G, NULL);
		_exit(0);
	}
	r = wait_at_least(&G->ready, 2, READY_WAIT_MS);
	sleep_us(20000);	/* the waiter is asleep in the futex by now */
	t0 = cb_monotonic_ns();
	kill(holder, SIGKILL);
	reap(holder, cb_monotonic_ns() + 5000000000ull);
	reap(waiter, cb_monotonic_ns() + 15000000000ull);
	if (r == 0)
		r = G->r[1].err;
	if (r == 0 && G->r[1].ns == 0)
		r = -ETIMEDOUT;
	*lat = r == 0 && G->r[1].ns > t0 ? G->r[1].ns - t0 : 0;
	return r;
}

static void section_reclaim(void)
{
	uint64_t *lat = calloc((size_t)B.reclaim_rounds, sizeof(*lat));
	char reply[256];
	int r = 0;

	if (lat == NULL || ctl(reply, sizeof(reply),
	    "POOL SET bench_reclaim limit=1") < 0) {
		set_why(S_RECLAIM, ST_FAILED, "set-up failed");
		free(lat);
		return;
	}
	for (int k = 0; k < B.reclaim_rounds && r == 0; k++)
		r = reclaim_round(&lat[k]);
	if (r < 0)
		set_why(S_RECLAIM, ST_FAILED, "%s", G->r[1].err ? G->r[1].msg :
		    G->r[0].err ? G->r[0].msg : strerror(-r));
	else {
		B.reclaim = percentiles(lat, B.reclaim_rounds);
		B.st[S_RECLAIM] = ST_OK;
	}
	free(lat);
}

/* ----------------------------------------------------------------- */
/* Set-up and clean-up. */

static void rm_tree(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char p[PATH_MAX + 256];

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		unlink(p);
	}
	closedir(d);
	rmdir(dir);
}

static void shm_remove(void)
{
	char shm[64];

	if (cb_shm_name(shm, sizeof(shm), B.name, CB_SEG_STATE) == 0)
		shm_unlink(shm);
	if (cb_shm_name(shm, sizeof(shm), B.name, CB_SEG_SLOTS) == 0)
		shm_unlink(shm);
}

static void cleanup(void)
{
	static int done;

	if (done || in_child)
		return;
	done = 1;
	while (B.nkids > 0) {
		pid_t p = B.kids[B.nkids - 1];

		if (p == B.broker) {
			kid_del(p);
			continue;
		}
		kill(p, SIGKILL);
		waitpid(p, NULL, 0);
		kid_del(p);
	}
	B.redis = -1;
	stop_broker();
	shm_remove();
	if (B.semid >= 0)
		semctl(B.semid, 0, IPC_RMID);
	B.semid = -1;
	if (B.rundir[0])
		rm_tree(B.rundir);
	B.rundir[0] = '\0';
}

static void on_signal(int sig)
{
	if (in_child)
		_exit(128 + sig);
	cleanup();
	_exit(128 + sig);
}

/* Entries of our instance still in /dev/shm. */
static int shm_leftovers(void)
{
	char prefix[64];
	DIR *d = opendir("/dev/shm");
	struct dirent *e;
	int n = 0;

	if (d == NULL)
		return 0;
	snprintf(prefix, sizeof(prefix), "capbroker.%s.", B.name);
	while ((e = readdir(d)) != NULL)
		if (strncmp(e->d_name, prefix, strlen(prefix)) == 0) {
			fprintf(stderr, "capbench: left behind: /dev/shm/%s\n",
			    e->d_name);
			n++;
		}
	closedir(d);
	return n;
}

static void loadavg(char *out, size_t cap)
{
	FILE *f = fopen("/proc/loadavg", "r");
	double a = 0, b = 0, c = 0;

	if (f == NULL || fscanf(f, "%lf %lf %lf", &a, &b, &c) != 3)
		snprintf(out, cap, "unknown");
	else
		snprintf(out, cap, "%.2f %.2f %.2f", a, b, c);
	if (f)
		fclose(f);
}

static void machine_info(void)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[256];
	struct utsname u;

	snprintf(B.cpu_model, sizeof(B.cpu_model), "unknown");
	while (f && fgets(line, sizeof(line), f))
		if (strncmp(line, "model name", 10) == 0) {
			char *v = strchr(line, ':');

			if (v) {
				v += v[1] == ' ' ? 2 : 1;
				v[strcspn(v, "\n")] = '\0';
				snprintf(B.cpu_model, sizeof(B.cpu_model), "%s",
				    v);
			}
			break;
		}
	if (f)
		fclose(f);
	B.ncpu = (int)sysconf(_SC_NPROCESSORS_ONLN);
	if (uname(&u) == 0)
		bfmt(B.kernel, sizeof(B.kernel), "%s %s %s", u.sysname,
		    u.release, u.machine);
}

/* Programs and libraries next to capbench unless -B says otherwise. */
static int find_dir(char *err, size_t cap)
{
	char self[PATH_MAX], dir[PATH_MAX];
	ssize_t n;

	if (B.dir != NULL) {
		snprintf(dir, sizeof(dir), "%s", B.dir);
	} else {
		n = readlink("/proc/self/exe", self, sizeof(self) - 1);
		if (n < 0) {
			snprintf(err, cap, "/proc/self/exe: %s",
			    strerror(errno));
			return -errno;
		}
		self[n] = '\0';
		*strrchr(self, '/') = '\0';
		snprintf(dir, sizeof(dir), "%s", self);
	}
	bfmt(B.broker_path, sizeof(B.broker_path), "%s/capbrokerd", dir);
	bfmt(B.lib_cb, sizeof(B.lib_cb), "%s/libcapbroker.so.%d", dir,
	    CB_VERSION_MAJOR);
	bfmt(B.lib_one, sizeof(B.lib_one), "%s/libcbbench_oneload.so",
	    dir);
	if (access(B.broker_path, X_OK) < 0) {
		bfmt(err, cap, "%s: %s", B.broker_path, strerror(errno));
		return -ENOENT;
	}
	return 0;
}

static int setup(char *err, size_t cap)
{
	const char *tmp = getenv("TMPDIR");
	char reply[256];
	void *shared;
	int r;

	if ((r = find_dir(err, cap)) < 0)
		return r;
	snprintf(B.rundir, sizeof(B.rundir), "%s/capbench.XXXXXX",
	    tmp && *tmp ? tmp : "/tmp");
	if (mkdtemp(B.rundir) == NULL) {
		bfmt(err, cap, "mkdtemp %s: %s", B.rundir, strerror(errno));
		B.rundir[0] = '\0';
		return -errno;
	}
	setenv("CAPBROKER_RUNDIR", B.rundir, 1);
	if (B.name_opt)
		snprintf(B.name, sizeof(B.name), "%s", B.name_opt);
	else
		snprintf(B.name, sizeof(B.name), "bench%d", (int)getpid());
	if (snprintf(B.sock, sizeof(B.sock), "%s/%s.sock", B.rundir, B.name) >=
	    (int)sizeof(B.sock) || snprintf(B.redis_sock, sizeof(B.redis_sock),
	    "%s/redis.sock", B.rundir) >= (int)sizeof(B.redis_sock)) {
		snprintf(err, cap, "run directory path too long for a socket");
		return -ENAMETOOLONG;
	}
	bfmt(B.lockpath, sizeof(B.lockpath), "%s/flock.counter", B.rundir);
	shared = shared_alloc(4096);
	G = shared_alloc(sizeof(*G));
	B.floor = shared_alloc(sizeof(*B.floor));
	if (shared == NULL || G == NULL || B.floor == NULL) {
		snprintf(err, cap, "mmap: %s", strerror(errno));
		return -ENOMEM;
	}
	B.psem = shared;
	B.raw_word = (_Atomic uint64_t *)((char *)shared + 2048);
	atomic_store(B.raw_word, 65535);
	if (sem_init(B.psem, 1, SEM_LIMIT) < 0 ||
	    (B.semid = semget(IPC_PRIVATE, 1, IPC_CREAT | 0600)) < 0) {
		snprintf(err, cap, "semaphores: %s", strerror(errno));
		return -errno;
	}
	if ((r = start_broker(err, cap)) < 0)
		return r;
	/* The hold and launch sections must never hit the limit. */
	if ((r = ctl(reply, sizeof(reply), "OVERRIDE 65535")) < 0) {
		bfmt(err, cap, "OVERRIDE: %s", reply);
		return r;
	}
	if ((B.sections & (1u << S_HOLD)) && (B.methods & (1u << M_REDIS)))
		start_redis();
	else
		snprintf(B.redis_why, sizeof(B.redis_why), "not selected");
	return 0;
}

/* ----------------------------------------------------------------- */
/* Output. */

static double ratio(double a, double b)
{
	return b > 0 ? a / b : 0;
}

struct target {
	const char *name, *goal;
	double value;		/* the measured ratio or value */
	const char *unit;	/* "x" for ratios */
	int met;		/* 1 met, 0 missed, -1 not measured */
	char note[160];
};

static struct target targets[16];
static int ntargets;

static struct target *target_add(const char *name, const char *goal,
    const char *unit)
{
	struct target *t = &targets[ntargets++];

	*t = (struct target){ .name = name, .goal = goal, .unit = unit,
	    .met = -1 };
	return t;
}

/* Worst ratio over the process counts: cb vs method m (higher better). */
static void target_hold(const char *name, const char *goal, int m,
    double min)
{
	struct target *t = target_add(name, goal, "x");

	for (int ci = 0; ci < B.ncounts; ci++) {
		double v;

		if (!B.hold[M_CB][ci].done || !B.hold[m][ci].done)
			continue;
		v = ratio(B.hold[M_CB][ci].ops_s, B.hold[m][ci].ops_s);
		if (t->met < 0 || v < t->value) {
			t->value = v;
			snprintf(t->note, sizeof(t->note), "worst at %d "
			    "process%s", B.counts[ci], B.counts[ci] > 1 ?
			    "es" : "");
		}
		t->met = t->value >= min;
	}
	if (m == M_REDIS && !B.redis_ok)
		bfmt(t->note, sizeof(t->note), "skipped: %s", B.redis_why);
}

static void evaluate(void)
{
	struct target *t;

	ntargets = 0;
	t = target_add("state-word read / raw acquire load", "<= 1.2x", "x");
	for (int ci = 0; ci < B.ncounts && B.st[S_READ] == ST_OK; ci++) {
		double v = ratio(B.read[ci].word, B.read[ci].raw);

		if (t->met < 0 || v > t->value)
			t->value = v;
		t->met = t->value <= 1.2;
	}
	t = target_add("cb_current() / one-load call via .so", "<= 1.2x", "x");
	for (int ci = 0; ci < B.ncounts && B.st[S_READ] == ST_OK; ci++) {
		double v = ratio(B.read[ci].current, B.read[ci].oneload);

		if (t->met < 0 || v > t->value)
			t->value = v;
		t->met = t->value <= 1.2;
	}
	target_hold("hold pair / POSIX sem throughput", ">= 0.8x", M_POSIX,
	    0.8);
	target_hold("hold pair / SysV SEM_UNDO throughput", ">= 10x", M_SYSV,
	    10);
	target_hold("hold pair / Redis semaphore throughput", ">= 1000x",
	    M_REDIS, 1000);
	t = target_add("launch pair / hold pair (ns per pair)", "<= 3x", "x");
	for (int ci = 0; ci < B.ncounts; ci++) {
		double v;

		if (!B.launch[ci].done || !B.hold[M_CB][ci].done)
			continue;
		v = ratio(B.launch[ci].ns_pair, B.hold[M_CB][ci].ns_pair);
		if (t->met < 0 || v > t->value)
			t->value = v;
		t->met = t->value <= 3;
	}
	t = target_add("watch wake p99", "<= 100 us", "us");
	for (int ci = 0; ci < B.ncounts && B.st[S_WATCH] == ST_OK; ci++) {
		if (t->met < 0 || B.watch[ci].p99 > t->value) {
			t->value = B.watch[ci].p99;
			snprintf(t->note, sizeof(t->note), "worst: %d "
			    "subscriber%s", B.counts[ci], B.counts[ci] > 1 ?
			    "s" : "");
		}
		t->met = t->value <= 100;
	}
	t = target_add("recompute + publish, 10k workers", "<= 1000 us", "us");
	if (B.st[S_PUBLISH] == ST_OK) {
		const struct pub_row *last = &B.pub[B.npub - 1];
		double bound = 0;

		for (int i = 0; i < B.npub; i++)
			bound = B.pub[i].bound > bound ? B.pub[i].bound : bound;
		t->value = last->have >= last->want ? last->bound :
		    last->model;
		t->met = t->value <= 1000 && bound <= 1000;
		if (last->have < last->want)
			snprintf(t->note, sizeof(t->note), "in-process model "
			    "at %d; the daemon holds %d, round trip bound "
			    "%.0f us there", last->want, last->have, bound);
	}
	t = target_add("reclaim (kill -9 -> waiter holds), max", "<= 10000 us",
	    "us");
	if (B.st[S_RECLAIM] == ST_OK) {
		t->value = B.reclaim.max;
		t->met = t->value <= 10000;
	}
}

static const char *met_word(int met)
{
	return met < 0 ? "n/a" : met ? "met" : "MISSED";
}

static void print_tput_cell(const struct tput *t)
{
	if (t->done)
		printf(" %.3g M/s, %.0f ns |", t->ops_s / 1e6, t->ns_pair);
	else
		printf(" - |");
}

static void print_read(void)
{
	printf("\n### 1. Capacity read (ns per read, mean over processes)\n\n"
	    "| procs | raw acquire load | cb_state_load(cb_state_word()) | "
	    "one-load call via .so | cb_current() via .so | word / raw | "
	    "current / one-load |\n|---|---|---|---|---|---|---|\n");
	for (int ci = 0; ci < B.ncounts; ci++) {
		const struct read_row *r = &B.read[ci];

		printf("| %d | %.2f | %.2f | %.2f | %.2f | %.2fx | %.2fx |\n",
		    B.counts[ci], r->raw, r->word, r->oneload, r->current,
		    ratio(r->word, r->raw), ratio(r->current, r->oneload));
	}
}

static void print_hold(void)
{
	printf("\n### 2. Hold pair: take one unit + give it back "
	    "(total pairs/s, ns per pair per process)\n\n| procs |");
	for (int m = 0; m < M_COUNT; m++)
		printf(" %s |", method_title[m]);
	printf("\n|---|---|---|---|---|---|---|\n");
	for (int ci = 0; ci < B.ncounts; ci++) {
		printf("| %d |", B.counts[ci]);
		for (int m = 0; m < M_COUNT; m++)
			print_tput_cell(&B.hold[m][ci]);
		printf("\n");
	}
	printf("\ncapbroker throughput relative to each (same run; the "
	    "floor's own ratio to POSIX sem is the best this protocol can "
	    "reach):\n\n| procs | vs POSIX sem | vs SysV SEM_UNDO | vs flock "
	    "| vs Redis | vs protocol floor | floor vs POSIX sem |\n"
	    "|---|---|---|---|---|---|---|\n");
	for (int ci = 0; ci < B.ncounts; ci++) {
		const struct tput *fl = &B.hold[M_FLOOR][ci];

		printf("| %d |", B.counts[ci]);
		for (int m = M_POSIX; m < M_COUNT; m++)
			if (B.hold[m][ci].done)
				printf(" %.3gx |", ratio(B.hold[M_CB][ci].ops_s,
				    B.hold[m][ci].ops_s));
			else
				printf(" - |");
		if (fl->done && B.hold[M_POSIX][ci].done)
			printf(" %.3gx |", ratio(fl->ops_s,
			    B.hold[M_POSIX][ci].ops_s));
		else
			printf(" - |");
		printf("\n");
	}
}

static void print_launch(void)
{
	printf("\n### 3. Launch pair vs hold pair (ns per pair per process)\n"
	    "\n| procs | hold | launch | launch / hold |\n|---|---|---|---|\n");
	for (int ci = 0; ci < B.ncounts; ci++)
		printf("| %d | %.0f | %.0f | %.2fx |\n", B.counts[ci],
		    B.hold[M_CB][ci].ns_pair, B.launch[ci].ns_pair,
		    ratio(B.launch[ci].ns_pair, B.hold[M_CB][ci].ns_pair));
}

static void print_watch(void)
{
	printf("\n### 4. Watch: broker publish -> cb_watch() returns "
	    "(us, %d publications)\n\n| subscribers | samples | p50 | p99 | "
	    "max |\n|---|---|---|---|---|\n", B.watch_rounds);
	for (int ci = 0; ci < B.ncounts; ci++)
		printf("| %d | %d | %.1f | %.1f | %.1f |\n", B.counts[ci],
		    B.watch[ci].samples, B.watch[ci].p50, B.watch[ci].p99,
		    B.watch[ci].max);
}

static void print_publish(void)
{
	printf("\n### 5. Broker recompute + publish (control round trips, "
	    "us, %d each)\n\n| workers | registered | WORKER SET p50 | "
	    "WORKER SET p99 | PING p50 | recompute+publish <= (SET - PING) | "
	    "in-process tier + copy |\n|---|---|---|---|---|---|---|\n",
	    B.iters);
	for (int i = 0; i < B.npub; i++) {
		const struct pub_row *r = &B.pub[i];

		printf("| %d | %d | %.1f | %.1f | %.1f | %.1f | %.2f |\n",
		    r->want, r->have, r->set_p50, r->set_p99, r->ping_p50,
		    r->bound, r->model);
	}
	printf("\nControl verbs (p50 round trip, 10 workers): PING %.1f us, "
	    "STATUS %.1f us, WORKER SET %.1f us\n", B.verb_ping, B.verb_status,
	    B.verb_set);
}

static void print_contend(void)
{
	printf("\n### 7. Contention near the limit (limit = procs/2, blocking "
	    "reserve, %d ns held, %d ns between)\n\n| procs | limit | "
	    "capbroker pairs/s | fairness max/min | POSIX sem pairs/s | "
	    "fairness max/min |\n|---|---|---|---|---|---|\n",
	    CONTEND_HOLD_NS, CONTEND_THINK_NS);
	for (int ci = 0; ci < B.ncounts; ci++) {
		const struct tput *c = &B.contend[0][ci], *p = &B.contend[1][ci];

		printf("| %d | %d | %.3g M/s | %.2f | %.3g M/s | %.2f |\n",
		    B.counts[ci], B.contend_limit[ci], c->ops_s / 1e6,
		    c->fairness, p->ops_s / 1e6, p->fairness);
	}
}

static void print_human(void)
{
	printf("## capbench\n\nMachine: %s, %d CPUs online, %s.  \n"
	    "Load average: %s at start, %s at end.  \n"
	    "Command: `%s`  \nRuns: %d ms per measurement, best of %d.\n",
	    B.cpu_model, B.ncpu, B.kernel, B.load_start, B.load_end,
	    B.cmdline, B.dur_ms, B.reps);
	for (int s = 0; s < S_COUNT; s++)
		if (B.st[s] != ST_OK || B.why[s][0])
			printf("\n- %s: %s%s%s", section_name[s],
			    status_name[B.st[s]], B.why[s][0] ? ": " : "",
			    B.why[s]);
	printf("\n");
	if (B.st[S_READ] == ST_OK)
		print_read();
	if (B.st[S_HOLD] == ST_OK)
		print_hold();
	if (B.st[S_LAUNCH] == ST_OK && B.st[S_HOLD] == ST_OK)
		print_launch();
	if (B.st[S_WATCH] == ST_OK)
		print_watch();
	if (B.st[S_PUBLISH] == ST_OK)
		print_publish();
	if (B.st[S_RECLAIM] == ST_OK)
		printf("\n### 6. Reclaim: kill -9 of a holder -> the blocked "
		    "waiter holds (ms, %d rounds)\n\n| p50 | p99 | max |\n"
		    "|---|---|---|\n| %.2f | %.2f | %.2f |\n",
		    B.reclaim.samples, B.reclaim.p50 / 1e3,
		    B.reclaim.p99 / 1e3, B.reclaim.max / 1e3);
	if (B.st[S_CONTEND] == ST_OK)
		print_contend();
	printf("\n### Targets\n\n| target | measured | goal | |\n"
	    "|---|---|---|---|\n");
	for (int i = 0; i < ntargets; i++) {
		const struct target *t = &targets[i];

		printf("| %s | ", t->name);
		if (t->met < 0)
			printf("-");
		else
			printf("%.3g%s%s", t->value, t->unit[0] == 'x' ? "" :
			    " ", t->unit);
		printf("%s%s%s | %s | %s |\n", t->note[0] ? " (" : "", t->note,
		    t->note[0] ? ")" : "", t->goal, met_word(t->met));
	}
	printf("\n/dev/shm entries left behind: %d\n", B.shm_left);
}

/* JSON: every string capbench writes is its own or checked ASCII, but
 * escape anyway. */
static void jstr(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch < 0x20 || ch >= 0x7f)
			fprintf(f, "\\u%04x", ch);
		else
			fputc(ch, f);
	}
	fputc('"', f);
}

static void jnum(FILE *f, const char *key, double v, int comma)
{
	fprintf(f, "\"%s\": %.6g%s", key, v, comma ? ", " : "");
}

static void json_tput(FILE *f, const char *key, const struct tput *t)
{
	fprintf(f, "\"%s\": ", key);
	if (!t->done) {
		fprintf(f, "null");
		return;
	}
	fprintf(f, "{");
	jnum(f, "ops_per_s", t->ops_s, 1);
	jnum(f, "ns_per_pair", t->ns_pair, 1);
	jnum(f, "fairness", t->fairness, 1);
	fprintf(f, "\"refused\": %llu}", (unsigned long long)t->refused);
}

static void json_lat(FILE *f, const struct lat *l)
{
	fprintf(f, "\"samples\": %d, ", l->samples);
	jnum(f, "p50_us", l->p50, 1);
	jnum(f, "p99_us", l->p99, 1);
	jnum(f, "max_us", l->max, 0);
}

static void json_rows(FILE *f, enum section s)
{
	for (int ci = 0; ci < B.ncounts; ci++) {
		fprintf(f, "%s\n      {\"procs\": %d, ", ci ? "," : "",
		    B.counts[ci]);
		switch (s) {
		case S_READ:
			jnum(f, "raw_ns", B.read[ci].raw, 1);
			jnum(f, "state_word_ns", B.read[ci].word, 1);
			jnum(f, "oneload_ns", B.read[ci].oneload, 1);
			jnum(f, "current_ns", B.read[ci].current, 0);
			break;
		case S_HOLD:
			for (int m = 0; m < M_COUNT; m++) {
				json_tput(f, method_name[m], &B.hold[m][ci]);
				fprintf(f, "%s", m + 1 < M_COUNT ? ", " : "");
			}
			break;
		case S_LAUNCH:
			json_tput(f, "launch", &B.launch[ci]);
			fprintf(f, ", ");
			json_tput(f, "hold", &B.hold[M_CB][ci]);
			break;
		case S_WATCH:
			json_lat(f, &B.watch[ci]);
			break;
		case S_CONTEND:
			fprintf(f, "\"limit\": %d, ", B.contend_limit[ci]);
			json_tput(f, "capbroker", &B.contend[0][ci]);
			fprintf(f, ", ");
			json_tput(f, "posix_sem", &B.contend[1][ci]);
			break;
		default:
			break;
		}
		fprintf(f, "}");
	}
}

static void json_section(FILE *f, enum section s)
{
	fprintf(f, "    \"%s\": {\"status\": \"%s\", \"reason\": ",
	    section_name[s], status_name[B.st[s]]);
	jstr(f, B.why[s]);
	if (B.st[s] != ST_OK) {
		fprintf(f, "}");
		return;
	}
	switch (s) {
	case S_PUBLISH:
		fprintf(f, ", \"verbs_p50_us\": {");
		jnum(f, "ping", B.verb_ping, 1);
		jnum(f, "status", B.verb_status, 1);
		jnum(f, "worker_set", B.verb_set, 0);
		fprintf(f, "}, \"rows\": [");
		for (int i = 0; i < B.npub; i++) {
			const struct pub_row *r = &B.pub[i];

			fprintf(f, "%s\n      {\"workers\": %d, \"registered\": "
			    "%d, ", i ? "," : "", r->want, r->have);
			jnum(f, "set_p50_us", r->set_p50, 1);
			jnum(f, "set_p99_us", r->set_p99, 1);
			jnum(f, "ping_p50_us", r->ping_p50, 1);
			jnum(f, "publish_bound_us", r->bound, 1);
			jnum(f, "model_us", r->model, 0);
			fprintf(f, "}");
		}
		fprintf(f, "]}");
		return;
	case S_RECLAIM:
		fprintf(f, ", ");
		json_lat(f, &B.reclaim);
		fprintf(f, "}");
		return;
	default:
		fprintf(f, ", \"rows\": [");
		json_rows(f, s);
		fprintf(f, "]}");
	}
}

static int write_json(const char *path)
{
	FILE *f = strcmp(path, "-") == 0 ? stdout : fopen(path, "w");

	if (f == NULL)
		return -errno;
	fprintf(f, "{\n  \"machine\": {\"cpu\": ");
	jstr(f, B.cpu_model);
	fprintf(f, ", \"cpus\": %d, \"kernel\": ", B.ncpu);
	jstr(f, B.kernel);
	fprintf(f, ", \"loadavg_start\": ");
	jstr(f, B.load_start);
	fprintf(f, ", \"loadavg_end\": ");
	jstr(f, B.load_end);
	fprintf(f, "},\n  \"command\": ");
	jstr(f, B.cmdline);
	fprintf(f, ",\n  \"smoke\": %s, \"duration_ms\": %d, \"reps\": %d, "
	    "\"procs\": [", B.smoke ? "true" : "false", B.dur_ms, B.reps);
	for (int ci = 0; ci < B.ncounts; ci++)
		fprintf(f, "%s%d", ci ? ", " : "", B.counts[ci]);
	fprintf(f, "],\n  \"sections\": {\n");
	for (int s = 0; s < S_COUNT; s++) {
		json_section(f, (enum section)s);
		fprintf(f, "%s\n", s + 1 < S_COUNT ? "," : "");
	}
	fprintf(f, "  },\n  \"targets\": [");
	for (int i = 0; i < ntargets; i++) {
		const struct target *t = &targets[i];

		fprintf(f, "%s\n    {\"name\": ", i ? "," : "");
		jstr(f, t->name);
		fprintf(f, ", \"goal\": ");
		jstr(f, t->goal);
		fprintf(f, ", \"value\": ");
		if (t->met < 0)
			fprintf(f, "null");
		else
			fprintf(f, "%.6g", t->value);
		fprintf(f, ", \"unit\": \"%s\", \"met\": %s, \"note\": ",
		    t->unit, t->met < 0 ? "null" : t->met ? "true" : "false");
		jstr(f, t->note);
		fprintf(f, "}");
	}
	fprintf(f, "\n  ],\n  \"shm_leftovers\": %d\n}\n", B.shm_left);
	if (f != stdout)
		return fclose(f) == 0 ? 0 : -errno;
	return 0;
}

/* gnuplot data: hold pair throughput per method ("?" = not measured). */
static int write_dat(const char *path)
{
	FILE *f = fopen(path, "w");

	if (f == NULL)
		return -errno;
	fprintf(f, "# procs");
	for (int m = 0; m < M_COUNT; m++)
		fprintf(f, " %s", method_name[m]);
	fprintf(f, "   (hold pairs per second, all processes)\n");
	for (int ci = 0; ci < B.ncounts; ci++) {
		fprintf(f, "%d", B.counts[ci]);
		for (int m = 0; m < M_COUNT; m++)
			if (B.hold[m][ci].done)
				fprintf(f, " %.0f", B.hold[m][ci].ops_s);
			else
				fprintf(f, " ?");
		fprintf(f, "\n");
	}
	return fclose(f) == 0 ? 0 : -errno;
}

/* ----------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
"usage: capbench [--smoke] [-P PROCS] [-d MS] [-r REPS] [-s SECTIONS]\n"
"                [-m METHODS] [-n NAME] [-B DIR] [--json FILE] [--dat FILE]\n"
"  -P, --procs N      largest process count (default: CPUs online)\n"
"  -d, --duration MS  length of one throughput run (default 200)\n"
"  -r, --reps N       repetitions, the best one counts (default 5)\n"
"  -s, --sections L   comma-separated: read,hold,launch,watch,publish,\n"
"                     reclaim,contention (default: all)\n"
"  -m, --methods L    section 2, comma-separated: capbroker,posix_sem,\n"
"                     sysv_sem_undo,flock,redis,protocol_floor\n"
"                     (default: all)\n"
"  -n, --name NAME    broker instance name (default bench<pid>)\n"
"  -B, --dir DIR      capbrokerd and the libraries (default: capbench's)\n"
"      --smoke        tiny counts: proves every section runs\n"
"      --json FILE    also write the results as JSON (- = stdout)\n"
"      --dat FILE     hold-pair throughput as gnuplot data\n");
}

/* A comma-separated list of names into a bit set; 0 if one is wrong. */
static unsigned parse_list(const char *list, const char *const *names,
    int n)
{
	char buf[256];
	unsigned bits = 0;

	snprintf(buf, sizeof(buf), "%s", list);
	for (char *save = NULL, *w = strtok_r(buf, ",", &save); w != NULL;
	    w = strtok_r(NULL, ",", &save)) {
		int s;

		for (s = 0; s < n; s++)
			if (strcmp(w, names[s]) == 0)
				break;
		if (s == n)
			return 0;
		bits |= 1u << s;
	}
	return bits;
}

static long number(const char *s, long lo, long hi)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || end == s || v < lo || v > hi) {
		fprintf(stderr, "capbench: %s: expected %ld..%ld\n", s, lo, hi);
		exit(EX_USAGE);
	}
	return v;
}

static void parse_args(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "procs", required_argument, NULL, 'P' },
		{ "duration", required_argument, NULL, 'd' },
		{ "reps", required_argument, NULL, 'r' },
		{ "sections", required_argument, NULL, 's' },
		{ "name", required_argument, NULL, 'n' },
		{ "dir", required_argument, NULL, 'B' },
		{ "methods", required_argument, NULL, 'm' },
		{ "smoke", no_argument, NULL, 'S' },
		{ "json", required_argument, NULL, 'J' },
		{ "dat", required_argument, NULL, 'D' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch, dur = 0, reps = 0;
	size_t n = 0;

	B.sections = (1u << S_COUNT) - 1;
	B.methods = (1u << M_COUNT) - 1;
	while ((ch = getopt_long(argc, argv, "P:d:r:s:m:n:B:h", longopts,
	    NULL)) != -1)
		switch (ch) {
		case 'P': B.maxp = (int)number(optarg, 1, MAX_PROCS); break;
		case 'd': dur = (int)number(optarg, 1, 600000); break;
		case 'r': reps = (int)number(optarg, 1, 100); break;
		case 's':
			if ((B.sections = parse_list(optarg, section_name,
			    S_COUNT)) == 0) {
				fprintf(stderr, "capbench: bad section list "
				    "'%s'\n", optarg);
				exit(EX_USAGE);
			}
			break;
		case 'n':
			if (!cb_name_valid(optarg)) {
				fprintf(stderr, "capbench: bad name '%s'\n",
				    optarg);
				exit(EX_USAGE);
			}
			B.name_opt = optarg;
			break;
		case 'm':
			if ((B.methods = parse_list(optarg, method_name,
			    M_COUNT)) == 0) {
				fprintf(stderr, "capbench: bad method list "
				    "'%s'\n", optarg);
				exit(EX_USAGE);
			}
			break;
		case 'B': B.dir = optarg; break;
		case 'S': B.smoke = 1; break;
		case 'J': B.json = optarg; break;
		case 'D': B.dat = optarg; break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); exit(EX_USAGE);
		}
	if (optind != argc) {
		usage(stderr);
		exit(EX_USAGE);
	}
	B.ncpu = (int)sysconf(_SC_NPROCESSORS_ONLN);
	if (B.maxp == 0)
		B.maxp = B.ncpu < 1 ? 1 : B.ncpu > MAX_PROCS ? MAX_PROCS :
		    B.ncpu;
	if (B.smoke) {
		B.maxp = B.maxp > 2 ? 2 : B.maxp;
		B.dur_ms = 10;
		B.reps = 1;
		B.reads = 100000;
		B.watch_rounds = 3;
		B.reclaim_rounds = 2;
		B.iters = 10;
	} else {
		B.dur_ms = 200;
		B.reps = 5;
		B.reads = 20000000;
		B.watch_rounds = 200;
		B.reclaim_rounds = 20;
		B.iters = 200;
	}
	if (dur)
		B.dur_ms = dur;
	if (reps)
		B.reps = reps;
	for (int p = 1; p < B.maxp; p *= 2)
		B.counts[B.ncounts++] = p;
	B.counts[B.ncounts++] = B.maxp;
	for (int i = 0; i < argc && n + 2 < sizeof(B.cmdline); i++)
		n += (size_t)snprintf(B.cmdline + n, sizeof(B.cmdline) - n,
		    "%s%s", i ? " " : "", i ? argv[i] : "capbench");
}

int main(int argc, char **argv)
{
	static void (*const run[S_COUNT])(void) = {
		[S_READ] = section_read, [S_HOLD] = section_hold,
		[S_LAUNCH] = section_launch, [S_WATCH] = section_watch,
		[S_PUBLISH] = section_publish, [S_RECLAIM] = section_reclaim,
		[S_CONTEND] = section_contend,
	};
	/* Section 5 leaves the broker with many workers and no override:
	 * it runs last.  Section 4 changes the override: after 2, 3, 7. */
	static const enum section order[S_COUNT] = {
		S_READ, S_HOLD, S_LAUNCH, S_CONTEND, S_RECLAIM, S_WATCH,
		S_PUBLISH,
	};
	char err[256] = "";
	int failed = 0, r;

	parse_args(argc, argv);
	machine_info();
	loadavg(B.load_start, sizeof(B.load_start));
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);
	signal(SIGPIPE, SIG_IGN);
	atexit(cleanup);
	if ((r = setup(err, sizeof(err))) < 0) {
		fprintf(stderr, "capbench: %s\n", err);
		cleanup();
		return 1;
	}
	for (int i = 0; i < S_COUNT; i++) {
		enum section s = order[i];

		if (!(B.sections & (1u << s))) {
			set_why(s, ST_SKIPPED, "not selected (-s)");
			continue;
		}
		if (B.ncounts > 0 && B.counts[B.ncounts - 1] > B.ncpu &&
		    s == S_READ)
			fprintf(stderr, "capbench: more processes than CPUs: "
			    "expect time slicing\n");
		run[s]();
		if (B.st[s] == ST_FAILED)
			fprintf(stderr, "capbench: %s: %s\n", section_name[s],
			    B.why[s]);
	}
	loadavg(B.load_end, sizeof(B.load_end));
	cleanup();
	B.shm_left = shm_leftovers();
	evaluate();
	print_human();
	for (int s = 0; s < S_COUNT; s++)
		failed |= B.st[s] == ST_FAILED || B.st[s] == ST_NOT_RUN;
	if (B.json && (r = write_json(B.json)) < 0) {
		fprintf(stderr, "capbench: %s: %s\n", B.json, strerror(-r));
		failed = 1;
	}
	if (B.dat && (r = write_dat(B.dat)) < 0) {
		fprintf(stderr, "capbench: %s: %s\n", B.dat, strerror(-r));
		failed = 1;
	}
	return failed || B.shm_left ? 1 : 0;
}
