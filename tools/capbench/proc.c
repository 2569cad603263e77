/*
 * proc.c - capbench's child processes: every one is tracked and killed
 * on exit; worker groups start together and stop together.
 *
 * A child made by fork_kid() dies with capbench (PR_SET_PDEATHSIG) and
 * knows it is a child (is_child()), so a signal handler or atexit()
 * inherited from the parent never tears down the parent's broker.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "capbench.h"
#include "clock.h"

/* Set in every child fork_kid() makes; read by signal handlers. */
static volatile sig_atomic_t in_child;

/* ----------------------------------------------------------------- */
/* Small helpers. */

/*
 * snprintf() for messages and paths that may be cut short: a long
 * TMPDIR or error text is truncated, never overflows.  (A function of
 * its own so gcc's -Wformat-truncation does not ask for a check of
 * every call's result.)
 */
void bfmt(char *buf, size_t cap, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, cap, fmt, ap);
	va_end(ap);
}

void sleep_us(long us)
{
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

void spin_ns(long ns)
{
	uint64_t end;

	if (ns <= 0)
		return;
	end = cb_monotonic_ns() + (uint64_t)ns;
	while (cb_monotonic_ns() < end)
		;
}

void *shared_alloc(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

/* ----------------------------------------------------------------- */
/* Children. */

/* No children yet; the group's shared mapping.  -ENOMEM if mmap fails. */
int procs_init(struct bench_procs *p)
{
	p->nkids = 0;
	p->err[0] = '\0';
	p->group = shared_alloc(sizeof(*p->group));
	return p->group == NULL ? -ENOMEM : 0;
}

static void kid_add(struct bench_procs *p, pid_t pid)
{
	if (p->nkids < (int)(sizeof(p->kids) / sizeof(p->kids[0])))
		p->kids[p->nkids++] = pid;
}

void kid_del(struct bench_procs *p, pid_t pid)
{
	for (int i = 0; i < p->nkids; i++)
		if (p->kids[i] == pid) {
			p->kids[i] = p->kids[--p->nkids];
			return;
		}
}

/* fork() a child that dies with capbench. */
pid_t fork_kid(struct bench_procs *p, int deathsig)
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
		kid_add(p, pid);
	}
	return pid;
}

/* 1 in a child fork_kid() made.  Async-signal-safe. */
int is_child(void)
{
	return in_child != 0;
}

/* Wait for pid until deadline (CLOCK_MONOTONIC ns); kill -9 after.
 * Returns its wait status, or -ETIMEDOUT if it had to be killed. */
int reap(struct bench_procs *p, pid_t pid, uint64_t deadline)
{
	int status = 0;

	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);

		if (r == pid || (r < 0 && errno != EINTR))
			break;
		if (cb_monotonic_ns() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			kid_del(p, pid);
			return -ETIMEDOUT;
		}
		sleep_us(200);
	}
	kid_del(p, pid);
	return status;
}

/* kill -9 and reap every child but spare, which is only forgotten (the
 * broker: its caller stops it gently). */
void kill_kids(struct bench_procs *p, pid_t spare)
{
	while (p->nkids > 0) {
		pid_t pid = p->kids[p->nkids - 1];

		if (pid == spare) {
			kid_del(p, pid);
			continue;
		}
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		kid_del(p, pid);
	}
}

/* ----------------------------------------------------------------- */
/* Worker groups. */

/*
 * The child's set-up (and its slot's err and msg) is published by the
 * release on ready, which pairs with the acquire in wait_at_least();
 * the acquire on go pairs with run_group()'s release store of go.
 */
void child_ready(struct group *g)
{
	atomic_fetch_add_explicit(&g->ready, 1, memory_order_release);
	while (!atomic_load_explicit(&g->go, memory_order_acquire))
		sleep_us(50);
}

int wait_at_least(_Atomic int *v, int n, int timeout_ms)
{
	uint64_t deadline = cb_monotonic_ns() + (uint64_t)timeout_ms * 1000000u;

	while (atomic_load_explicit(v, memory_order_acquire) < n) {
		if (cb_monotonic_ns() > deadline)
			return -ETIMEDOUT;
		sleep_us(100);
	}
	return 0;
}

/* Fork procs children running fn; *forked says how many started.
 * Returns 0 or -errno (with p->err). */
static int group_fork(struct bench_procs *p, child_fn *fn, void *arg,
    int procs, pid_t *pids, int *forked)
{
	int n;

	for (n = 0; n < procs; n++) {
		pids[n] = fork_kid(p, SIGKILL);
		if (pids[n] < 0) {
			int e = errno;

			*forked = n;
			snprintf(p->err, sizeof(p->err), "fork: %s",
			    strerror(e));
			return -e;
		}
		if (pids[n] == 0) {
			fn(n, p->group, arg);
			_exit(0);
		}
	}
	*forked = n;
	return 0;
}

/* Reap n children; r is the result so far.  The first failure (a hung
 * or dead process, then an error in a slot) becomes the result. */
static int group_reap(struct bench_procs *p, const pid_t *pids, int n,
    int dur_ms, int r)
{
	uint64_t deadline = cb_monotonic_ns() +
	    (uint64_t)(dur_ms > 0 ? 15000 : 120000) * 1000000u;

	for (int i = 0; i < n; i++) {
		int st = reap(p, pids[i], deadline);

		if (st < 0 && r == 0) {
			r = st;
			snprintf(p->err, sizeof(p->err), "a process hung "
			    "and was killed");
		} else if (st >= 0 && !(WIFEXITED(st) &&
		    WEXITSTATUS(st) == 0) && r == 0) {
			r = -ECHILD;
			snprintf(p->err, sizeof(p->err), "a process died "
			    "(status 0x%x)", st);
		}
	}
	for (int i = 0; i < n && r == 0; i++)
		if (p->group->r[i].err < 0) {
			r = p->group->r[i].err;
			snprintf(p->err, sizeof(p->err), "%s",
			    p->group->r[i].msg);
		}
	return r;
}

/*
 * Run fn in procs children.  dur_ms > 0: stop them after that long;
 * otherwise they finish on their own.  Returns 0, or -errno with the
 * first child's message in p->err.  The results stay in p->group.
 */
int run_group(struct bench_procs *p, child_fn *fn, void *arg, int procs,
    int dur_ms)
{
	struct group *g = p->group;
	pid_t pids[MAX_PROCS];
	int r, n;

	memset(g, 0, sizeof(*g));
	r = group_fork(p, fn, arg, procs, pids, &n);
	if (r == 0 && wait_at_least(&g->ready, procs, READY_WAIT_MS) < 0) {
		r = -ETIMEDOUT;
		snprintf(p->err, sizeof(p->err), "processes not ready "
		    "within %d ms", READY_WAIT_MS);
	}
	/* Pairs with the acquire in child_ready().  stop is relaxed: it
	 * orders nothing, the children's results are read after waitpid(). */
	atomic_store_explicit(&g->go, 1, memory_order_release);
	if (r == 0 && dur_ms > 0) {
		sleep_us((long)dur_ms * 1000);
		atomic_store_explicit(&g->stop, 1, memory_order_relaxed);
	}
	return group_reap(p, pids, n, dur_ms, r);
}
