/*
 * cbglobal - the global pools' tests' validator and load (t_global_*.sh).
 *
 *   cbglobal validate POOL LIMIT NAME...
 *       Attach read-only to every broker NAME and sample, as fast as it
 *       can until SIGTERM, the units in use of POOL (held + launching,
 *       cb_pool_info) on all of them together, each sample a double
 *       collect (validate()).  Prints one line when it ends, and on
 *       SIGUSR1:
 *           samples N max M over K torn T
 *       (K: samples whose sum was above LIMIT, each of the first five
 *       also printed as "over at MS: U1 U2 ..."; T: samples whose two
 *       rounds disagreed, not judged).  Exit 0 if none was over, 1
 *       otherwise, 2 on a setup error.  A broker that cannot be read at
 *       a sample (restarting) counts what it last showed.
 *
 *   cbglobal hammer NAME POOL HOLD_MS [GAP_MS]
 *       Reserve POOL (fail fast) in a loop, hold each unit HOLD_MS,
 *       and try again GAP_MS after a refusal (default 2).  Holds up to
 *       64 units at once (one thread, released in order).  Every 100 ms
 *       prints  "T_MS admitted A refused R held H"  (T_MS: its
 *       CLOCK_MONOTONIC), and the last line again at SIGTERM.
 *
 *   cbglobal now
 *       Print CLOCK_MONOTONIC in ms (the hammer's clock, for scripts).
 *
 *   cbglobal wakes NAME POOL
 *       Print  "seq S deadline D epoch E":  POOL's wake sequence (its
 *       waiters' eventcount, which every wake moves), its share's
 *       deadline (CLOCK_MONOTONIC ns) and its hold-aging epoch (an
 *       epoch's start moves the sequence too), from broker NAME's
 *       segments.  The epoch is read after the sequence: the sweeper
 *       publishes it before its wake, so a sequence moved by an epoch's
 *       start comes with that epoch.
 */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "abi.h"
#include "capbroker.h"
#include "cbtest.h"
#include "client_internal.h"
#include "segment.h"
#include "slots.h"

#define MAXB 8
#define MAXH 64

static volatile sig_atomic_t stop, report;

static void on_term(int s)
{
	(void)s;
	stop = 1;
}

static void on_usr1(int s)
{
	(void)s;
	report = 1;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* Units in use of broker i's pool (held + launching), or its last
 * value when it cannot be read now (restarting). */
static uint32_t in_use(cb_client **c, int *pool, uint32_t *last,
    char **names, const char *pool_name, int i)
{
	struct cb_pool_info pi;

	if (c[i] == NULL && cb_open(&c[i], names[i], CB_OPEN_RDONLY) < 0)
		c[i] = NULL;
	if (c[i] != NULL && pool[i] < 0)
		pool[i] = cb_pool(c[i], pool_name);
	if (c[i] != NULL && pool[i] >= 0 && cb_pool_info(c[i], pool[i],
	    &pi) == 0)
		last[i] = pi.held + pi.launching;
	if (c[i] != NULL && cb_broker_check(c[i]) == -EPROTO) {
		/* Retired (a restart replaced it): again next time. */
		cb_close(c[i]);
		c[i] = NULL;
		pool[i] = -1;
	}
	return last[i];
}

/*
 * A sample is a double collect: every broker read, then every broker
 * read again.  Only when both rounds agree is their sum what was in
 * use at one instant (between the rounds); a sampler descheduled in
 * the middle of a round (this machine runs brokers, etcd members and
 * clients on two cores) could otherwise add one broker's units before
 * a move to another's after it.  Disagreeing samples are counted as
 * torn and not judged.
 */
static int validate(int argc, char **argv)
{
	cb_client *c[MAXB] = { 0 };
	int pool[MAXB];
	uint32_t last[MAXB] = { 0 }, a[MAXB], limit = (uint32_t)atoi(argv[3]);
	unsigned long long samples = 0, over = 0, torn = 0;
	uint32_t max = 0;
	int n = argc - 4;

	if (n < 1 || n > MAXB)
		return 2;
	for (int i = 0; i < n; i++)
		pool[i] = -1;
	while (!stop) {
		uint32_t sum = 0;
		int same = 1;

		for (int i = 0; i < n; i++)
			a[i] = in_use(c, pool, last, argv + 4, argv[2], i);
		for (int i = 0; i < n; i++) {
			same &= in_use(c, pool, last, argv + 4, argv[2], i) ==
			    a[i];
			sum += a[i];
		}
		if (!same) {
			torn++;
			continue;
		}
		samples++;
		if (sum > max)
			max = sum;
		if (sum > limit && over++ < 5) {
			printf("over at %lld ms:", now_ms());
			for (int i = 0; i < n; i++)
				printf(" %u", a[i]);
			printf("\n");
		}
		if (report) {
			report = 0;
			printf("samples %llu max %u over %llu torn %llu\n",
			    samples, max, over, torn);
		}
		if (samples % 64 == 0)
			sched_yield();
	}
	printf("samples %llu max %u over %llu torn %llu\n", samples, max,
	    over, torn);
	for (int i = 0; i < n; i++)
		if (c[i] != NULL)
			cb_close(c[i]);
	return over ? 1 : 0;
}

static int hammer(int argc, char **argv)
{
	struct cb_request req = { .kind = CB_HOLD };
	cb_ticket held[MAXH];
	long long until[MAXH], next_report = now_ms();
	unsigned long long admitted = 0, refused = 0;
	long hold_ms = atol(argv[4]), gap_ms = argc > 5 ? atol(argv[5]) : 2;
	int nheld = 0, r, first = 0;
	cb_client *c;

	r = cbtest_attach(argv[2], 0, argv[3], &c, &req.pool);
	if (r != 0)
		return r;
	while (!stop) {
		long long now = now_ms();

		while (nheld > 0 && until[first] <= now) {
			cb_release(c, &held[first]);
			first = (first + 1) % MAXH;
			nheld--;
		}
		if (now >= next_report) {
			printf("%lld admitted %llu refused %llu held %d\n", now,
			    admitted, refused, nheld);
			fflush(stdout);
			next_report = now + 100;
		}
		if (nheld == MAXH) {
			sleep_ms(1);
			continue;
		}
		r = cb_reserve(c, &req, &held[(first + nheld) % MAXH], NULL);
		if (r == 0) {
			until[(first + nheld) % MAXH] = now + hold_ms;
			nheld++;
			admitted++;
		} else {
			refused++;
			sleep_ms(gap_ms);
		}
	}
	while (nheld > 0) {
		cb_release(c, &held[first]);
		first = (first + 1) % MAXH;
		nheld--;
	}
	printf("%lld admitted %llu refused %llu held 0\n", now_ms(), admitted,
	    refused);
	cb_close(c);
	return 0;
}

static int wakes(char **argv)
{
	const struct cb_pool_conf *pc;
	cb_client *c;
	uint32_t seq;
	int p, r;

	if ((r = cb_open(&c, argv[2], CB_OPEN_RDONLY)) < 0) {
		fprintf(stderr, "cbglobal: cb_open %s: %s\n", argv[2],
		    cb_strerror(r));
		return 2;
	}
	if ((p = cb_pool(c, argv[3])) < 0) {
		fprintf(stderr, "cbglobal: no pool %s\n", argv[3]);
		cb_close(c);
		return 2;
	}
	pc = cb_seg_record(cb_client_state(c), CB_RS_POOLS, 0, (uint32_t)p);
	seq = atomic_load(&cb_slots_pool(cb_client_slots(c), p)->release_seq);
	printf("seq %u deadline %llu epoch %llu\n", seq,
	    (unsigned long long)atomic_load(&pc->share_deadline_ns),
	    (unsigned long long)(atomic_load(&pc->age) >> 32));
	cb_close(c);
	return 0;
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_term };

	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 2 && strcmp(argv[1], "now") == 0) {
		printf("%lld\n", now_ms());
		return 0;
	}
	if (argc >= 5 && strcmp(argv[1], "validate") == 0)
		return validate(argc, argv);
	if ((argc == 5 || argc == 6) && strcmp(argv[1], "hammer") == 0)
		return hammer(argc, argv);
	if (argc == 4 && strcmp(argv[1], "wakes") == 0)
		return wakes(argv);
	fprintf(stderr, "usage: cbglobal validate POOL LIMIT NAME...\n"
	    "       cbglobal hammer NAME POOL HOLD_MS [GAP_MS]\n"
	    "       cbglobal now\n"
	    "       cbglobal wakes NAME POOL\n");
	return 64;
}
