/*
 * peers.c - what capbench starts and creates outside itself, and its
 * removal: the private run directory, capbrokerd (its own instance,
 * --remove) and the broker's control socket, spoken to through
 * lib/ctl_client.h.  redis.c starts redis-server.
 *
 * bench_teardown() runs on every way out: from main(), from atexit()
 * and from the signal handler; it does its work once, and never in a
 * child.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "capbench.h"
#include "capbroker.h"
#include "clock.h"
#include "segment.h"
#include "snapshot.h"

/* ----------------------------------------------------------------- */
/* The broker and its control socket. */

/* A cb_ctl_*() failure as the -errno capbench's callers expect. */
static int ctl_errno(const struct cb_ctl_conn *conn, int code)
{
	switch (code) {
	case CB_CTL_EUNREACHABLE:
		return conn->sys_errno ? -conn->sys_errno : -ECONNRESET;
	case CB_CTL_EREQUEST:
		return -E2BIG;
	case CB_CTL_EADDRESS:
		return -ENAMETOOLONG;
	case CB_CTL_ESYSTEM:
		return conn->sys_errno ? -conn->sys_errno : -ENOMEM;
	default:
		return -EPROTO;
	}
}

/*
 * One control request (lib/ctl_client.h).  reply (may be NULL) gets the
 * status line as the broker sent it, "OK N TEXT" or "ERR ENAME
 * MESSAGE", or why there was none; data lines are dropped.  Returns 0,
 * -errno from an ERR reply, or -errno for a failed connection.
 */
int ctl(struct bench_peers *p, char *reply, size_t cap, const char *fmt, ...)
{
	struct cb_ctl_reply r;
	const char *sep;
	va_list ap;
	int e;

	va_start(ap, fmt);
	e = cb_ctl_vcall(&p->ctl, &r, fmt, ap);
	va_end(ap);
	if (e < 0) {
		if (reply != NULL)
			bfmt(reply, cap, "%s", p->ctl.errmsg);
		return ctl_errno(&p->ctl, e);
	}
	sep = r.text[0] ? " " : "";
	if (reply != NULL && r.err)
		bfmt(reply, cap, "ERR %s%s%s", r.errname, sep, r.text);
	else if (reply != NULL)
		bfmt(reply, cap, "OK %zu%s%s", r.ndata, sep, r.text);
	e = -r.err;
	cb_ctl_reply_free(&r);
	return e;
}

/* Connect to the starting broker's socket within 5 s; -ECHILD if it
 * exited (its log is in log). */
static int broker_connect(struct bench *b, const char *log, char *err,
    size_t cap)
{
	struct bench_peers *p = &b->peers;
	uint64_t deadline = cb_monotonic_ns() + 5000000000ull;

	for (;;) {
		int st;

		if (waitpid(p->broker, &st, WNOHANG) == p->broker) {
			kid_del(&b->procs, p->broker);
			p->broker = -1;
			bfmt(err, cap, "%s exited at start (status 0x%x; "
			    "log in %s)", p->broker_path, st, log);
			return -ECHILD;
		}
		if (cb_ctl_connect_path(&p->ctl, p->sock) == 0)
			break;
		if (cb_monotonic_ns() > deadline) {
			snprintf(err, cap, "broker did not come up in 5 s");
			return -ETIMEDOUT;
		}
		sleep_us(10000);
	}
	return 0;
}

/* With etcd up (etcd.c), RUNDIR/capbrokerd.conf: a cluster of this
 * broker alone, whose global pools then get all of their limit. */
static int broker_conf(const struct bench_peers *p, char *path, size_t pcap,
    char *err, size_t cap)
{
	FILE *f;

	bfmt(path, pcap, "%s/capbrokerd.conf", p->rundir);
	if ((f = fopen(path, "we")) == NULL) {
		bfmt(err, cap, "%s: %s", path, strerror(errno));
		return -errno;
	}
	fprintf(f, "etcd = %s\ncluster = %s\nhost = bench\n", p->etcd_url,
	    p->name);
	if (fclose(f) != 0) {
		bfmt(err, cap, "%s: %s", path, strerror(errno));
		return -EIO;
	}
	return 0;
}

/* capbrokerd -n NAME --remove [-c RUNDIR/capbrokerd.conf], its output in
 * RUNDIR/broker.log; up when it answers PING. */
int broker_start(struct bench *b, char *err, size_t cap)
{
	struct bench_peers *p = &b->peers;
	char log[PATH_MAX + 16], conf[PATH_MAX + 24];
	int fd, r;

	if (p->etcd_ok && (r = broker_conf(p, conf, sizeof(conf), err,
	    cap)) < 0)
		return r;
	snprintf(log, sizeof(log), "%s/broker.log", p->rundir);
	fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0) {
		bfmt(err, cap, "%s: %s", log, strerror(errno));
		return -errno;
	}
	p->broker = fork_kid(&b->procs, SIGTERM);
	if (p->broker == 0) {
		dup2(fd, 1);
		dup2(fd, 2);
		if (p->etcd_ok)
			execl(p->broker_path, "capbrokerd", "-n", p->name,
			    "--remove", "-c", conf, (char *)NULL);
		else
			execl(p->broker_path, "capbrokerd", "-n", p->name,
			    "--remove", (char *)NULL);
		_exit(127);
	}
	close(fd);
	if (p->broker < 0) {
		snprintf(err, cap, "fork: %s", strerror(errno));
		return -errno;
	}
	if ((r = broker_connect(b, log, err, cap)) < 0)
		return r;
	return ctl(p, err, cap, "PING");
}

static void broker_stop(struct bench *b)
{
	struct bench_peers *p = &b->peers;
	uint64_t deadline = cb_monotonic_ns() + 5000000000ull;

	cb_ctl_close(&p->ctl);
	if (p->broker <= 0)
		return;
	kill(p->broker, SIGTERM);
	reap(&b->procs, p->broker, deadline);
	p->broker = -1;
}

/* ----------------------------------------------------------------- */
/* Set-up. */

void bench_init(struct bench *b, const struct bench_opts *opt)
{
	memset(b, 0, sizeof(*b));
	b->opt = opt;
	b->peers.broker = -1;
	b->peers.redis = -1;
	b->peers.etcd = -1;
	cb_ctl_init(&b->peers.ctl, CB_CTL_TIMEOUT_MS);
	b->prims.semid = -1;
}

/* Programs and libraries next to capbench unless -B says otherwise. */
static int find_dir(struct bench_peers *p, const char *opt_dir, char *err,
    size_t cap)
{
	char self[PATH_MAX], dir[PATH_MAX];
	ssize_t n;

	if (opt_dir != NULL) {
		snprintf(dir, sizeof(dir), "%s", opt_dir);
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
	bfmt(p->broker_path, sizeof(p->broker_path), "%s/capbrokerd", dir);
	bfmt(p->lib_cb, sizeof(p->lib_cb), "%s/libcapbroker.so.%d", dir,
	    CB_VERSION_MAJOR);
	bfmt(p->lib_one, sizeof(p->lib_one), "%s/libcbbench_oneload.so",
	    dir);
	if (access(p->broker_path, X_OK) < 0) {
		bfmt(err, cap, "%s: %s", p->broker_path, strerror(errno));
		return -ENOENT;
	}
	return 0;
}

/* The private run directory, the instance name and the socket paths. */
static int make_rundir(struct bench_peers *p, const char *opt_name,
    char *err, size_t cap)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(p->rundir, sizeof(p->rundir), "%s/capbench.XXXXXX",
	    tmp && *tmp ? tmp : "/tmp");
	if (mkdtemp(p->rundir) == NULL) {
		bfmt(err, cap, "mkdtemp %s: %s", p->rundir, strerror(errno));
		p->rundir[0] = '\0';
		return -errno;
	}
	setenv("CAPBROKER_RUNDIR", p->rundir, 1);
	if (opt_name)
		snprintf(p->name, sizeof(p->name), "%s", opt_name);
	else
		snprintf(p->name, sizeof(p->name), "bench%d", (int)getpid());
	if (snprintf(p->sock, sizeof(p->sock), "%s/%s.sock", p->rundir,
	    p->name) >= (int)sizeof(p->sock) || snprintf(p->redis_sock,
	    sizeof(p->redis_sock), "%s/redis.sock", p->rundir) >=
	    (int)sizeof(p->redis_sock)) {
		snprintf(err, cap, "run directory path too long for a socket");
		return -ENAMETOOLONG;
	}
	return 0;
}

/*
 * Everything the sections need: the run directory, the shared
 * mappings and semaphores, the broker (capacity overridden so the hold
 * and launch sections never hit the limit), and redis-server if
 * section 2 measures it.  Returns 0, or -errno with a message in err;
 * bench_teardown() removes whatever was made.
 */
int bench_setup(struct bench *b, char *err, size_t cap)
{
	const struct bench_opts *opt = b->opt;
	char reply[256];
	int r;

	if ((r = find_dir(&b->peers, opt->dir, err, cap)) < 0 ||
	    (r = make_rundir(&b->peers, opt->name, err, cap)) < 0)
		return r;
	if (procs_init(&b->procs) < 0) {
		snprintf(err, cap, "mmap: %s", strerror(errno));
		return -ENOMEM;
	}
	if ((r = prims_create(&b->prims, b->peers.rundir, err, cap)) < 0)
		return r;
	if ((opt->sections & (1u << S_HOLD)) &&
	    (opt->methods & (1u << M_CB_GLOBAL)))
		etcd_start(b);
	else
		snprintf(b->peers.etcd_why, sizeof(b->peers.etcd_why),
		    "not selected");
	if ((r = broker_start(b, err, cap)) < 0)
		return r;
	if ((r = ctl(&b->peers, reply, sizeof(reply), "OVERRIDE 65535")) < 0) {
		bfmt(err, cap, "OVERRIDE: %s", reply);
		return r;
	}
	if ((opt->sections & (1u << S_HOLD)) && (opt->methods & (1u << M_REDIS)))
		redis_start(b);
	else
		snprintf(b->peers.redis_why, sizeof(b->peers.redis_why),
		    "not selected");
	return 0;
}

/* ----------------------------------------------------------------- */
/* Tear-down. */

static int rm_one(const char *path, const struct stat *st, int flag,
    struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

/* The run directory and everything in it (etcd's data directory is a
 * tree). */
static void rm_tree(const char *dir)
{
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* CLOCK_MONOTONIC_COARSE, the clock of the share deadline (abi.h). */
static uint64_t coarse_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* pool's published words in the state segment mapped at state. */
static struct cb_pool_conf *pool_conf_of(void *state, const char *pool)
{
	struct cb_pool_def def;

	for (int i = 1; i < CB_MAX_POOLS; i++)
		if (cb_snapshot_pool(state, i, &def) == 0 &&
		    (def.flags & CB_POOL_F_ACTIVE) &&
		    strncmp(def.name, pool, sizeof(def.name)) == 0)
			return (struct cb_pool_conf *)cb_seg_record(state,
			    CB_RS_POOLS, 0, (uint32_t)i);
	return NULL;
}

/* What a global pool publishes that its admission reads, or why not. */
static const char *global_missing(const struct cb_pool_conf *c,
    uint32_t limit)
{
	if (c == NULL)
		return "no such pool";
	if (atomic_load_explicit(&c->share_deadline_ns,
	    memory_order_acquire) <= coarse_ns())
		return "no valid share";
	if (atomic_load_explicit(&c->limit, memory_order_relaxed) != limit)
		return "its local limit is not all of the pool's";
	if (atomic_load_explicit(&c->age, memory_order_acquire) == 0)
		return "no hold aging";
	return NULL;
}

/*
 * The broker (a cluster of one, etcd.c) gets the pool's lease and share
 * from etcd: within wait_ms, the pool must have a valid share deadline,
 * a local limit of all of limit (its share) and its hold aging
 * published (lib/age.h), as every global pool has.  With wait_ms 0,
 * whether it still has.  0, or -errno with what is missing in err.
 */
int pool_global_ready(const struct bench_peers *p, const char *pool,
    uint32_t limit, int wait_ms, char *err, size_t cap)
{
	char shm[CB_SHM_NAME_MAX];
	uint64_t deadline = cb_monotonic_ns() + (uint64_t)wait_ms * 1000000u;
	const char *why;
	struct stat st;
	void *state;
	int fd;

	if (cb_shm_name(shm, sizeof(shm), p->name, CB_SEG_STATE) < 0 ||
	    (fd = shm_open(shm, O_RDONLY, 0)) < 0 || fstat(fd, &st) < 0) {
		snprintf(err, cap, "%s: %s", shm, strerror(errno));
		return -errno;
	}
	state = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (state == MAP_FAILED) {
		snprintf(err, cap, "mmap %s: %s", shm, strerror(errno));
		return -errno;
	}
	while ((why = global_missing(pool_conf_of(state, pool), limit)) &&
	    cb_monotonic_ns() < deadline)
		sleep_us(20000);
	munmap(state, (size_t)st.st_size);
	if (why == NULL)
		return 0;
	bfmt(err, cap, "pool %s is not global%s: %s (broker log in %s)", pool,
	    wait_ms ? " in time" : " any more", why, p->rundir);
	return -ETIMEDOUT;
}

/* Both segments, and the broker's spare links of them: the same name
 * after a dot, "/.capbroker.NAME.state" (broker/segments.h, "Names"). */
static void shm_remove(const char *name)
{
	char shm[64], spare[66];

	for (int k = CB_SEG_STATE; k <= CB_SEG_SLOTS; k++) {
		if (cb_shm_name(shm, sizeof(shm), name, k) < 0)
			continue;
		shm_unlink(shm);
		snprintf(spare, sizeof(spare), "/.%s", shm + 1);
		shm_unlink(spare);
	}
}

/* Kill every worker and redis-server, stop the broker, remove its
 * segments, the SysV semaphore and the run directory.  Once. */
void bench_teardown(struct bench *b)
{
	if (b->torn_down || is_child())
		return;
	b->torn_down = 1;
	kill_kids(&b->procs, b->peers.broker);
	b->peers.redis = -1;
	b->peers.etcd = -1;
	broker_stop(b);
	shm_remove(b->peers.name);
	prims_destroy(&b->prims);
	if (b->peers.rundir[0])
		rm_tree(b->peers.rundir);
	b->peers.rundir[0] = '\0';
}

/* Entries of instance name still in /dev/shm. */
int shm_leftovers(const char *name)
{
	char prefix[64];
	DIR *d = opendir("/dev/shm");
	struct dirent *e;
	int n = 0;

	if (d == NULL)
		return 0;
	/* The broker's spare links too: the same names after a dot. */
	snprintf(prefix, sizeof(prefix), ".capbroker.%s.", name);
	while ((e = readdir(d)) != NULL)
		if (strncmp(e->d_name, prefix, strlen(prefix)) == 0 ||
		    strncmp(e->d_name, prefix + 1, strlen(prefix + 1)) == 0) {
			fprintf(stderr, "capbench: left behind: /dev/shm/%s\n",
			    e->d_name);
			n++;
		}
	closedir(d);
	return n;
}
