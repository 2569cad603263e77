/*
 * cbpick - worker placement from real processes, for t_placement.sh.
 *
 *   cbpick NAME hammer POOL POLICY SECS SCRATCH SPEC LIMIT
 *       pick and release for SECS seconds (POLICY: consolidate, spread,
 *       least_loaded or mixed); while holding, count the hold on its
 *       worker in SCRATCH (a file of at least 4 KiB every hammer maps
 *       shared) and check that no worker holds more than its max and
 *       the pool no more than LIMIT.  Prints "picks N refused N".
 *   cbpick NAME hold POOL POLICY [TIMEOUT_MS]
 *       pick once (waiting up to TIMEOUT_MS, default 5000, -1 for
 *       ever), print "picked ID" (or ERRNAME), then sleep until
 *       killed.
 *   cbpick NAME validate POOL SECS SPEC LIMIT
 *       sample the shared memory for SECS seconds: every worker's
 *       in-flight count (cb_worker_inflight) <= its max and the pool's
 *       held + launching <= LIMIT.  Prints "samples N".
 *
 * SPEC is "ID:MAX,ID:MAX,...", at most 32 workers.  Exit status: 0,
 * 3 a limit was exceeded (a line says which), 4 a release failed, 64
 * usage, 10 + errno when cb_open fails.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "capbroker.h"
#include "cbtest.h"

#define SPEC_MAX 32
#define TOTAL SPEC_MAX          /* scratch slot of the pool total */

struct spec {
	char id[SPEC_MAX][CB_WORKER_ID_STRLEN];
	int max[SPEC_MAX];
	int n;
};

static int spec_parse(char *s, struct spec *sp)
{
	char *save = NULL, *tok;

	sp->n = 0;
	for (tok = strtok_r(s, ",", &save); tok != NULL;
	    tok = strtok_r(NULL, ",", &save)) {
		char *colon = strchr(tok, ':');

		if (colon == NULL || sp->n == SPEC_MAX ||
		    colon - tok >= CB_WORKER_ID_STRLEN)
			return -1;
		*colon = '\0';
		snprintf(sp->id[sp->n], CB_WORKER_ID_STRLEN, "%s", tok);
		sp->max[sp->n++] = atoi(colon + 1);
	}
	return sp->n > 0 ? 0 : -1;
}

static int spec_find(const struct spec *sp, const char *id)
{
	for (int i = 0; i < sp->n; i++)
		if (strcmp(sp->id[i], id) == 0)
			return i;
	return -1;
}

/* A policy of cb_placement_parse(), or "mixed" (0: each pick its
 * own). */
static int policy_parse(const char *s)
{
	if (strcmp(s, "mixed") == 0)
		return 0;
	return cb_placement_parse(s);
}

static void nap_us(long us)
{
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };

	nanosleep(&ts, NULL);
}

static _Atomic int *scratch_map(const char *path)
{
	int fd = open(path, O_RDWR);
	void *m;

	if (fd < 0)
		return NULL;
	m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	return m == MAP_FAILED ? NULL : m;
}

static int hammer(cb_client *c, int pool, int policy, int secs,
    _Atomic int *cnt, const struct spec *sp, int limit)
{
	struct cb_request req = { .pool = pool, .kind = CB_HOLD };
	long long end = now_ms() + secs * 1000LL;
	long picks = 0, refused = 0;
	char id[CB_WORKER_ID_STRLEN];
	unsigned seed = (unsigned)getpid();

	for (int n = 0; now_ms() < end; n++) {
		int pol = policy != 0 ? policy : 1 + n % 3, w, v, r;
		uint32_t retry;
		cb_ticket t;

		r = cb_pick_worker(c, &req, pol, &t, id, sizeof(id), &retry);
		if (r == -EAGAIN) {
			refused++;
			nap_us(rand_r(&seed) % 300);
			continue;
		}
		if (r < 0) {
			printf("pick: %s (%s)\n", errname(r), cb_errmsg(c));
			return 4;
		}
		w = spec_find(sp, id);
		if (w < 0) {
			printf("picked unknown worker %s\n", id);
			return 3;
		}
		v = atomic_fetch_add(&cnt[w], 1) + 1;
		if (v > sp->max[w]) {
			printf("worker %s has %d holds, max %d\n", id, v,
			    sp->max[w]);
			return 3;
		}
		v = atomic_fetch_add(&cnt[TOTAL], 1) + 1;
		if (v > limit) {
			printf("pool has %d holds, limit %d\n", v, limit);
			return 3;
		}
		picks++;
		nap_us(rand_r(&seed) % 500);
		atomic_fetch_sub(&cnt[TOTAL], 1);
		atomic_fetch_sub(&cnt[w], 1);
		r = cb_release(c, &t);
		if (r != 0) {
			printf("release: %s\n", errname(r));
			return 4;
		}
	}
	printf("picks %ld refused %ld\n", picks, refused);
	return 0;
}

static int validate(cb_client *c, int pool, int secs, const struct spec *sp,
    int limit)
{
	long long end = now_ms() + secs * 1000LL;
	long samples = 0;

	while (now_ms() < end) {
		struct cb_pool_info pi;

		for (int i = 0; i < sp->n; i++) {
			int v = cb_worker_inflight(c, sp->id[i]);

			if (v < 0) {
				printf("inflight %s: %s\n", sp->id[i],
				    errname(v));
				return 4;
			}
			if (v > sp->max[i]) {
				printf("worker %s: %d in flight, max %d\n",
				    sp->id[i], v, sp->max[i]);
				return 3;
			}
		}
		if (cb_pool_info(c, pool, &pi) == 0 &&
		    pi.held + pi.launching > (uint32_t)limit) {
			printf("pool: %u held, limit %d\n", pi.held, limit);
			return 3;
		}
		samples++;
		nap_us(200);
	}
	printf("samples %ld\n", samples);
	return 0;
}

static int hold(cb_client *c, int pool, int policy, int timeout_ms)
{
	struct cb_request req = { .pool = pool, .kind = CB_HOLD,
	    .timeout_ms = timeout_ms };
	char id[CB_WORKER_ID_STRLEN];
	cb_ticket t;
	int r;

	r = cb_pick_worker(c, &req, policy, &t, id, sizeof(id), NULL);
	if (r < 0) {
		printf("%s\n", errname(r));
		return 1;
	}
	printf("picked %s\n", id);
	for (;;)
		pause();
}

int main(int argc, char **argv)
{
	struct spec sp;
	cb_client *c;
	int pool, r, rdonly;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 4)
		goto usage;
	rdonly = strcmp(argv[2], "validate") == 0;
	r = cbtest_attach(argv[1], rdonly ? CB_OPEN_RDONLY : 0, argv[3], &c,
	    &pool);
	if (r != 0)
		return r;
	if (strcmp(argv[2], "hammer") == 0 && argc == 9) {
		_Atomic int *cnt = scratch_map(argv[6]);
		int policy = policy_parse(argv[4]);

		if (cnt == NULL || policy < 0 || spec_parse(argv[7], &sp) < 0)
			goto usage;
		r = hammer(c, pool, policy, atoi(argv[5]), cnt, &sp,
		    atoi(argv[8]));
	} else if (strcmp(argv[2], "hold") == 0 && (argc == 5 ||
	    argc == 6) && policy_parse(argv[4]) > 0) {
		r = hold(c, pool, policy_parse(argv[4]), argc == 6 ?
		    atoi(argv[5]) : 5000);
	} else if (rdonly && argc == 7 && spec_parse(argv[5], &sp) == 0) {
		r = validate(c, pool, atoi(argv[4]), &sp, atoi(argv[6]));
	} else {
		goto usage;
	}
	cb_close(c);
	return r;
usage:
	fprintf(stderr, "usage: cbpick NAME hammer POOL POLICY SECS SCRATCH "
	    "SPEC LIMIT | hold POOL POLICY [TIMEOUT_MS] | validate POOL SECS SPEC "
	    "LIMIT\n");
	return 64;
}
