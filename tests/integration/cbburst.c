/*
 * cbburst - launch reservations from many processes at once, and the
 * small launch-table operations t_burst.sh needs.
 *
 *   cbburst NAME burst POOL PROCS ROUNDS LIMIT
 *	PROCS processes each cb_open + cb_pool, then, ROUNDS times, wait at
 *	a process-shared barrier and call cb_reserve(CB_LAUNCH, observed 0,
 *	timeout 0) at the same instant.  Every round exactly LIMIT must be
 *	admitted and every other caller get -EAGAIN with retry_after > 0;
 *	the parent then checks the pool shows LIMIT launching, releases the
 *	tickets the children wrote (as text) into the shared mapping, and
 *	checks the pool is back to held 0 / launching 0.  Exit 0 iff every
 *	round was right.
 *   cbburst NAME launch POOL OBSERVED COUNT
 *	COUNT attempts of cb_reserve(CB_LAUNCH, OBSERVED, timeout 0), one
 *	line each: "ok TICKET" or "ERRNAME retry=MS".  Exit 0.
 *   cbburst NAME release TICKET...
 *	cb_release each (parsed with cb_ticket_parse), one line each:
 *	"ok" or ERRNAME.  Exit 0.
 *   cbburst NAME info POOL
 *	"index=I limit=L observed=O held=H launching=N window=W" (exit 0),
 *	or ERRNAME (exit 1).
 *   cbburst NAME expiry POOL LIMIT WINDOW_MS
 *	Fill the pool with LIMIT launches, check one more is refused with
 *	0 < retry_after <= WINDOW_MS + 1000, then poll (timeout 0, every
 *	20 ms) until a launch is admitted; it must not come before ~the
 *	window (>= 90% of WINDOW_MS) and must come within WINDOW_MS +
 *	4000 ms.  Then every filled ticket must release -ESTALE (expired)
 *	and the new one 0.  Prints what it saw; exit 0 iff all held.
 *
 * A failed cb_open prints its message and exits 10 + the errno.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "capbroker.h"
#include "cbtest.h"

#define PROCS_MAX 256

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static int launch1(cb_client *c, int pool, uint32_t observed,
    cb_ticket *t, uint32_t *retry)
{
	struct cb_request req = {
		.pool = pool, .kind = CB_LAUNCH, .observed = observed,
		.timeout_ms = 0, .priority = 0,
	};

	*retry = 0;
	memset(t, 0, sizeof(*t));
	return cb_reserve(c, &req, t, retry);
}

static int pool_index(cb_client *c, const char *pool)
{
	int p = cb_pool(c, pool);

	if (p < 0)
		fprintf(stderr, "cbburst: cb_pool %s: %s (%s)\n", pool,
		    errname(p), cb_errmsg(c));
	return p;
}

/* ---- burst ---------------------------------------------------------- */

struct child_slot {
	int open_rc;                   /* cb_open/cb_pool result */
	int rc;                        /* this round's cb_reserve */
	uint32_t retry;                /* its retry_after_ms */
	char ticket[CB_TICKET_STRLEN]; /* cb_ticket_format'ed if rc == 0 */
};

struct burst_shared {
	pthread_barrier_t start;
	pthread_barrier_t done;
	_Atomic int stop;
	struct child_slot slot[PROCS_MAX];
};

static pid_t children[PROCS_MAX];
static int nchildren;

static void kill_children(void)
{
	for (int i = 0; i < nchildren; i++)
		kill(children[i], SIGKILL);
}

static void on_alarm(int sig)
{
	(void)sig;
	kill_children();
	static const char msg[] = "cbburst: timed out (a child hung or "
	    "died at the barrier)\n";
	if (write(2, msg, sizeof(msg) - 1) < 0)
		_exit(3);
	_exit(3);
}

static void burst_child(struct burst_shared *sh, int me, const char *name,
    const char *pool_name, pid_t parent)
{
	struct child_slot *s = &sh->slot[me];
	cb_client *c = NULL;
	int r, pool = -1;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(1);
	r = cb_open(&c, name, 0);
	if (r == 0) {
		pool = cb_pool(c, pool_name);
		r = pool < 0 ? pool : 0;
	}
	s->open_rc = r;
	for (;;) {
		pthread_barrier_wait(&sh->start);
		if (atomic_load(&sh->stop))
			break;
		if (s->open_rc == 0) {
			cb_ticket t;
			uint32_t retry;

			s->rc = launch1(c, pool, 0, &t, &retry);
			s->retry = retry;
			s->ticket[0] = '\0';
			if (s->rc == 0 && cb_ticket_format(&t, s->ticket,
			    sizeof(s->ticket)) < 0)
				snprintf(s->ticket, sizeof(s->ticket), "?");
		}
		pthread_barrier_wait(&sh->done);
	}
	cb_close(c);
	_exit(0);
}

static int burst(const char *name, const char *pool_name, int procs,
    int rounds, unsigned limit)
{
	struct burst_shared *sh;
	pthread_barrierattr_t ba;
	struct cb_pool_info pi = { .held = 0 };
	cb_client *c;
	unsigned long long admitted_total = 0, refused_total = 0;
	uint32_t retry_min = UINT32_MAX, retry_max = 0;
	int r, pool, bad = 0, round;
	pid_t me = getpid();

	if (procs < 1 || procs > PROCS_MAX || rounds < 1) {
		fprintf(stderr, "cbburst: PROCS 1..%d, ROUNDS >= 1\n",
		    PROCS_MAX);
		return 64;
	}
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	pthread_barrierattr_init(&ba);
	pthread_barrierattr_setpshared(&ba, PTHREAD_PROCESS_SHARED);
	if (pthread_barrier_init(&sh->start, &ba, (unsigned)procs + 1) ||
	    pthread_barrier_init(&sh->done, &ba, (unsigned)procs + 1)) {
		fprintf(stderr, "cbburst: pthread_barrier_init failed\n");
		return 1;
	}
	signal(SIGALRM, on_alarm);
	alarm(240);
	fflush(NULL);
	for (int i = 0; i < procs; i++) {
		pid_t pid = fork();

		if (pid < 0) {
			perror("fork");
			kill_children();
			return 1;
		}
		if (pid == 0)
			burst_child(sh, i, name, pool_name, me);
		children[nchildren++] = pid;
	}
	/* The parent attaches after the fork: no child inherits its
	 * handle (or its registration with the broker). */
	r = cb_open(&c, name, 0);
	if (r < 0) {
		printf("%s\n", cb_open_errmsg());
		kill_children();
		return 10 + -r;
	}
	pool = pool_index(c, pool_name);
	if (pool < 0) {
		kill_children();
		return 1;
	}

	for (round = 0; round < rounds && !bad; round++) {
		unsigned admitted = 0;
		int round_bad = 0;

		pthread_barrier_wait(&sh->start);
		/* the children reserve, all at once */
		pthread_barrier_wait(&sh->done);

		for (int i = 0; i < procs; i++) {
			struct child_slot *s = &sh->slot[i];

			if (s->open_rc != 0) {
				printf("round %d: child %d could not attach: "
				    "%s\n", round, i, errname(s->open_rc));
				round_bad = 1;
			} else if (s->rc == 0) {
				admitted++;
			} else if (s->rc == -EAGAIN) {
				refused_total++;
				if (s->retry == 0) {
					printf("round %d: child %d: EAGAIN "
					    "with retry_after 0\n", round, i);
					round_bad = 1;
				}
				if (s->retry < retry_min)
					retry_min = s->retry;
				if (s->retry > retry_max)
					retry_max = s->retry;
			} else {
				printf("round %d: child %d: cb_reserve %s\n",
				    round, i, errname(s->rc));
				round_bad = 1;
			}
		}
		admitted_total += admitted;
		if (admitted != limit) {
			printf("round %d: %u admitted, expected exactly %u\n",
			    round, admitted, limit);
			round_bad = 1;
		}
		r = cb_pool_info(c, pool, &pi);
		if (r < 0 || pi.launching != admitted || pi.held != 0) {
			printf("round %d: after the burst pool shows held %u "
			    "launching %u (%s), expected held 0 launching "
			    "%u\n", round, pi.held, pi.launching,
			    errname(r), admitted);
			round_bad = 1;
		}
		/* Launch tickets can be released by any process. */
		for (int i = 0; i < procs; i++) {
			struct child_slot *s = &sh->slot[i];
			cb_ticket t;

			if (s->open_rc != 0 || s->rc != 0)
				continue;
			r = cb_ticket_parse(s->ticket, &t);
			if (r == 0)
				r = cb_release(c, &t);
			if (r != 0) {
				printf("round %d: releasing child %d's ticket "
				    "'%s': %s (%s)\n", round, i, s->ticket,
				    errname(r), cb_errmsg(c));
				round_bad = 1;
			}
		}
		r = cb_pool_info(c, pool, &pi);
		if (r < 0 || pi.launching != 0 || pi.held != 0) {
			printf("round %d: after the releases pool shows held "
			    "%u launching %u (%s), expected 0 and 0\n", round,
			    pi.held, pi.launching, errname(r));
			round_bad = 1;
		}
		bad |= round_bad;
	}

	atomic_store(&sh->stop, 1);
	pthread_barrier_wait(&sh->start);
	for (int i = 0; i < nchildren; i++) {
		int st;

		if (waitpid(children[i], &st, 0) < 0 || !WIFEXITED(st) ||
		    WEXITSTATUS(st) != 0) {
			printf("child %d exited badly (status 0x%x)\n", i, st);
			bad = 1;
		}
	}
	alarm(0);
	printf("rounds %d procs %d admitted %llu refused %llu retry_after "
	    "%u..%u ms\n", round, procs, admitted_total, refused_total,
	    refused_total ? retry_min : 0, retry_max);
	cb_close(c);
	return bad ? 1 : 0;
}

/* ---- launch / release / info ---------------------------------------- */

static int launch(cb_client *c, const char *pool_name, uint32_t observed,
    int count)
{
	int pool = pool_index(c, pool_name);

	if (pool < 0)
		return 1;
	for (int i = 0; i < count; i++) {
		char buf[CB_TICKET_STRLEN];
		cb_ticket t;
		uint32_t retry;
		int r = launch1(c, pool, observed, &t, &retry);

		if (r == 0) {
			r = cb_ticket_format(&t, buf, sizeof(buf));
			printf("ok %s\n", r == 0 ? buf : "?");
		} else {
			printf("%s retry=%u\n", errname(r), retry);
		}
	}
	return 0;
}

static int release(cb_client *c, int n, char **tickets)
{
	for (int i = 0; i < n; i++) {
		cb_ticket t;
		int r = cb_ticket_parse(tickets[i], &t);

		if (r == 0)
			r = cb_release(c, &t);
		printf("%s\n", errname(r));
	}
	return 0;
}

static int info(cb_client *c, const char *pool_name)
{
	struct cb_pool_info pi;
	int pool = cb_pool(c, pool_name), r;

	r = pool < 0 ? pool : cb_pool_info(c, pool, &pi);
	if (r < 0) {
		printf("%s\n", errname(r));
		return 1;
	}
	printf("index=%d limit=%u observed=%u held=%u launching=%u "
	    "window=%u\n", pool, pi.limit, pi.observed, pi.held,
	    pi.launching, pi.window_ms);
	return 0;
}

/* ---- expiry --------------------------------------------------------- */

static int expiry(cb_client *c, const char *pool_name, int limit,
    long window_ms)
{
	cb_ticket filled[64], fresh;
	struct cb_pool_info pi = { .held = 0 };
	uint32_t retry;
	long long t0, t;
	int pool = pool_index(c, pool_name), r, bad = 0, i;

	if (pool < 0)
		return 1;
	if (limit < 1 || limit > 64) {
		fprintf(stderr, "cbburst: LIMIT 1..64\n");
		return 64;
	}
	t0 = now_ms();
	for (i = 0; i < limit; i++) {
		r = launch1(c, pool, 0, &filled[i], &retry);
		if (r != 0) {
			printf("fill: launch %d of %d: %s\n", i + 1, limit,
			    errname(r));
			return 1;
		}
	}
	r = launch1(c, pool, 0, &fresh, &retry);
	printf("filled %d; one more: %s retry=%u\n", limit, errname(r),
	    retry);
	if (r != -EAGAIN) {
		printf("FAIL: a launch beyond the limit got %s, expected "
		    "EAGAIN\n", errname(r));
		return 1;
	}
	if (retry == 0 || retry > window_ms + 1000) {
		printf("FAIL: retry_after %u ms, expected 1..%ld (the "
		    "earliest launch deadline)\n", retry, window_ms + 1000);
		bad = 1;
	}
	for (;;) {
		r = launch1(c, pool, 0, &fresh, &retry);
		t = now_ms() - t0;
		if (r == 0)
			break;
		if (r != -EAGAIN) {
			printf("FAIL: polling: %s\n", errname(r));
			return 1;
		}
		if (t > window_ms + 10000) {
			printf("FAIL: nothing expired %lld ms after the fill "
			    "(window %ld ms)\n", t, window_ms);
			return 1;
		}
		sleep_ms(20);
	}
	printf("a new launch was admitted %lld ms after the fill (window "
	    "%ld ms)\n", t, window_ms);
	if (t < window_ms * 9 / 10) {
		printf("FAIL: a launch expired before its window\n");
		bad = 1;
	}
	if (t > window_ms + 4000) {
		printf("FAIL: expiry took more than the window + 4 s\n");
		bad = 1;
	}
	/* Let every filled launch expire (they were issued together). */
	for (i = 0; i < 250; i++) {
		r = cb_pool_info(c, pool, &pi);
		if (r == 0 && pi.launching <= 1)
			break;
		sleep_ms(20);
	}
	if (r != 0 || pi.launching != 1) {
		printf("FAIL: launching %u, expected 1 (only the fresh one) "
		    "5 s after the first expiry\n", pi.launching);
		bad = 1;
	}
	for (i = 0; i < limit; i++) {
		r = cb_release(c, &filled[i]);
		if (r != -ESTALE) {
			printf("FAIL: release of expired ticket %d: %s, "
			    "expected ESTALE\n", i, errname(r));
			bad = 1;
		}
	}
	printf("releases of the %d expired tickets: ESTALE\n", limit);
	r = cb_release(c, &fresh);
	printf("release of the fresh one: %s\n", errname(r));
	if (r != 0)
		bad = 1;
	r = cb_pool_info(c, pool, &pi);
	if (r != 0 || pi.launching != 0 || pi.held != 0) {
		printf("FAIL: at the end pool shows held %u launching %u\n",
		    pi.held, pi.launching);
		bad = 1;
	}
	return bad;
}

static int usage(void)
{
	fprintf(stderr, "usage: cbburst NAME burst POOL PROCS ROUNDS LIMIT |"
	    " launch POOL OBSERVED COUNT | release TICKET... | info POOL |"
	    " expiry POOL LIMIT WINDOW_MS\n");
	return 64;
}

int main(int argc, char **argv)
{
	cb_client *c;
	int r;

	if (argc < 4)
		return usage();
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (strcmp(argv[2], "burst") == 0)
		return argc == 7 ? burst(argv[1], argv[3], atoi(argv[4]),
		    atoi(argv[5]), (unsigned)atoi(argv[6])) : usage();
	r = cb_open(&c, argv[1], 0);
	if (r < 0) {
		printf("%s\n", cb_open_errmsg());
		return 10 + -r;
	}
	if (strcmp(argv[2], "launch") == 0 && argc == 6)
		r = launch(c, argv[3], (uint32_t)strtoul(argv[4], NULL, 10),
		    atoi(argv[5]));
	else if (strcmp(argv[2], "release") == 0)
		r = release(c, argc - 3, argv + 3);
	else if (strcmp(argv[2], "info") == 0 && argc == 4)
		r = info(c, argv[3]);
	else if (strcmp(argv[2], "expiry") == 0 && argc == 6)
		r = expiry(c, argv[3], atoi(argv[4]), atol(argv[5]));
	else
		r = usage();
	cb_close(c);
	return r;
}
