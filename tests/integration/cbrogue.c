/*
 * cbrogue - a hostile client: scribble over a live broker's slots
 * segment (/dev/shm/capbroker.NAME.slots), for t_garbage.sh.
 *
 *   cbrogue NAME random SEED
 *	random bytes over the client table, the pool slots and the launch
 *	table (not the header, not the hot region);
 *   cbrogue NAME header SEED
 *	the same, and random bytes over the whole slots header too;
 *   cbrogue NAME hdronly SEED
 *	random bytes over the slots header only (the regions, and so the
 *	attached clients' records, are left alone);
 *   cbrogue NAME counters SEED POOLS
 *	every pool's usage word set to a huge value, and 256 free launch
 *	entries set LIVE with absurd client fields and absurd deadlines
 *	(0, 1, ~now + 11 days, ~2^62, UINT64_MAX), their pool drawn from
 *	POOLS (comma-separated indexes; pass pools that exist with a short
 *	window, and indexes of pools that do not exist).  Entries in use
 *	are left alone, so real launches survive;
 *   cbrogue NAME workers SEED N
 *	the in-flight counter of the first N worker slots set to a random
 *	value in 1..1000 (no bind entry backs any of it);
 *   cbrogue NAME count POOLS
 *	read-only: print "free F claiming C live L bad B clients N stray S":
 *	launch entries by state (live: LIVE entries naming a pool in
 *	POOLS; bad: a state nobody writes), client entries with a pid,
 *	and stray: claiming or live launch entries naming a pool not in
 *	POOLS (pass the indexes of the pools that exist: a stray entry
 *	can never have been admitted).
 *
 * The segment is validated before anything is written.  Exit 0, or 1
 * if the segment cannot be mapped or is not valid.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "abi.h"
#include "segment.h"
#include "slots.h"

static uint64_t rng;

/* splitmix64: a fixed seed gives the same garbage every run. */
static uint64_t next(void)
{
	uint64_t z = (rng += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Random 8-byte words over [off, off + size), stored atomically so no
 * reader ever sees a word half-written (the garbage itself is the
 * test, not tearing). */
static void scribble(void *base, uint64_t off, uint64_t size)
{
	_Atomic uint64_t *w = (_Atomic uint64_t *)((char *)base + off);

	for (uint64_t i = 0; i < size / 8; i++)
		atomic_store_explicit(&w[i], next(), memory_order_relaxed);
}

static void scribble_regions(void *base, const struct cb_seg_header *h)
{
	static const unsigned regions[] = {
		CB_RL_CLIENTS, CB_RL_POOLS, CB_RL_LAUNCHES,
	};
	struct cb_region r[CB_RL_COUNT];

	memcpy(r, h->region, sizeof(r));
	for (unsigned i = 0; i < sizeof(regions) / sizeof(regions[0]); i++)
		scribble(base, r[regions[i]].offset, r[regions[i]].size);
}

/* POOLS ("0,3,5") into pool[]; returns how many, or -1. */
static int pool_list(const char *pools, unsigned *pool, unsigned max)
{
	char *copy = strdup(pools), *save = NULL, *tok;
	unsigned n = 0;

	for (tok = strtok_r(copy, ",", &save); tok && n < max;
	    tok = strtok_r(NULL, ",", &save)) {
		unsigned long p = strtoul(tok, NULL, 10);

		if (p >= CB_MAX_POOLS) {
			fprintf(stderr, "cbrogue: pool %lu out of range\n", p);
			free(copy);
			return -1;
		}
		pool[n++] = (unsigned)p;
	}
	free(copy);
	if (n == 0)
		fprintf(stderr, "cbrogue: no pools given\n");
	return n == 0 ? -1 : (int)n;
}

static int counters(void *base, const char *pools)
{
	static const uint64_t usage[] = {
		UINT64_MAX,
		0xffffffffull,                    /* held 2^32-1 */
		0xffffffffull << 32,              /* launching 2^32-1 */
		(1ull << 32) | (1ull << 31),      /* held 2^31, launching 1 */
		(65536ull << 32) | 65536ull,
		(7ull << 32) | 0x7fffffffull,
	};
	uint64_t now = cb_monotonic_ns();
	const uint64_t deadline[] = {
		0, 1, now + 1000000ull * 1000000000ull, 1ull << 62,
		UINT64_MAX,
	};
	unsigned pool[CB_MAX_POOLS], npools, set = 0;
	int np = pool_list(pools, pool, CB_MAX_POOLS);

	if (np < 0)
		return 64;
	npools = (unsigned)np;

	for (unsigned p = 0; p < CB_MAX_POOLS; p++) {
		struct cb_pool_slot *ps = cb_slots_record(base, CB_RL_POOLS,
		    p);

		atomic_store(&ps->usage,
		    usage[p % (sizeof(usage) / sizeof(usage[0]))]);
	}
	for (uint32_t e = 0; e < CB_MAX_LAUNCHES && set < 256; e++) {
		struct cb_launch_slot *ls = cb_slots_record(base,
		    CB_RL_LAUNCHES, e);
		uint64_t w = atomic_load(&ls->word), nw;

		if (CB_LAUNCH_STATE(w) != CB_LAUNCH_FREE)
			continue;
		nw = CB_LAUNCH_WORD(CB_LAUNCH_LIVE, pool[set % npools],
		    (next() % CB_MAX_CLIENTS) | 0x200, next());
		if (!atomic_compare_exchange_strong(&ls->word, &w, nw))
			continue;
		atomic_store(&ls->deadline_ns,
		    deadline[set % (sizeof(deadline) / sizeof(deadline[0]))]);
		set++;
	}
	printf("usage words of %d pools set huge; %u launch entries set "
	    "LIVE with absurd fields\n", CB_MAX_POOLS, set);
	return 0;
}

static int count(const void *base, const char *pools)
{
	unsigned n[4] = { 0 }, clients = 0, stray = 0, pool[CB_MAX_POOLS];
	uint64_t active = 0;
	int np = pool_list(pools, pool, CB_MAX_POOLS);

	if (np < 0)
		return 64;
	for (int i = 0; i < np; i++)
		active |= 1ull << pool[i];
	for (uint32_t e = 0; e < CB_MAX_LAUNCHES; e++) {
		const struct cb_launch_slot *ls = cb_slots_record(base,
		    CB_RL_LAUNCHES, e);
		uint64_t w = atomic_load(&ls->word);

		if ((CB_LAUNCH_STATE(w) == CB_LAUNCH_LIVE ||
		    CB_LAUNCH_STATE(w) == CB_LAUNCH_CLAIMING) &&
		    !(active >> CB_LAUNCH_POOL(w) & 1)) {
			stray++;
			if (CB_LAUNCH_STATE(w) == CB_LAUNCH_LIVE)
				continue;
		}
		n[CB_LAUNCH_STATE(w)]++;
	}
	for (uint32_t i = 0; i < CB_MAX_CLIENTS; i++) {
		const struct cb_client_slot *cs = cb_slots_record(base,
		    CB_RL_CLIENTS, i);

		clients += CB_OWNER_PID(atomic_load(&cs->owner)) != 0;
	}
	printf("free %u claiming %u live %u bad %u clients %u stray %u\n",
	    n[CB_LAUNCH_FREE], n[CB_LAUNCH_CLAIMING], n[CB_LAUNCH_LIVE], n[3],
	    clients, stray);
	return 0;
}

int main(int argc, char **argv)
{
	char shm[CB_SHM_NAME_MAX], err[CB_ERRMSG_MAX];
	const char *mode;
	struct stat st;
	void *base;
	int fd, r, ro;

	if (argc < 3) {
		fprintf(stderr, "usage: cbrogue NAME random|header|hdronly SEED | "
		    "counters SEED POOLS | workers SEED N | count POOLS\n");
		return 64;
	}
	mode = argv[2];
	ro = strcmp(mode, "count") == 0;
	rng = argc > 3 && !ro ? strtoull(argv[3], NULL, 0) : 1;
	if (cb_shm_name(shm, sizeof(shm), argv[1], CB_SEG_SLOTS) < 0) {
		fprintf(stderr, "cbrogue: bad name\n");
		return 64;
	}
	fd = shm_open(shm, ro ? O_RDONLY : O_RDWR, 0);
	if (fd < 0 || fstat(fd, &st) < 0) {
		fprintf(stderr, "cbrogue: %s: %s\n", shm, strerror(errno));
		return 1;
	}
	base = mmap(NULL, (size_t)st.st_size,
	    ro ? PROT_READ : PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (base == MAP_FAILED) {
		fprintf(stderr, "cbrogue: mmap: %s\n", strerror(errno));
		return 1;
	}
	r = cb_seg_validate(base, (size_t)st.st_size, CB_SEG_SLOTS, argv[1],
	    err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "cbrogue: %s: %s\n", shm, err);
		return 1;
	}

	if (strcmp(mode, "count") == 0 && argc == 4)
		return count(base, argv[3]);
	if (strcmp(mode, "random") == 0 && argc == 4) {
		scribble_regions(base, base);
		printf("scribbled over the client, pool and launch regions\n");
		return 0;
	}
	if (strcmp(mode, "header") == 0 && argc == 4) {
		scribble_regions(base, base);
		scribble(base, 0, sizeof(struct cb_seg_header));
		printf("scribbled over the regions and the header\n");
		return 0;
	}
	if (strcmp(mode, "hdronly") == 0 && argc == 4) {
		scribble(base, 0, sizeof(struct cb_seg_header));
		printf("scribbled over the header\n");
		return 0;
	}
	if (strcmp(mode, "counters") == 0 && argc == 5)
		return counters(base, argv[4]);
	if (strcmp(mode, "workers") == 0 && argc == 5) {
		unsigned long n = strtoul(argv[4], NULL, 0);

		if (n > CB_MAX_WORKERS)
			n = CB_MAX_WORKERS;
		for (uint32_t w = 0; w < n; w++)
			atomic_store(&cb_slots_worker(base, w)->inflight,
			    (uint32_t)(1 + next() % 1000));
		printf("forged the in-flight count of %lu worker slots\n", n);
		return 0;
	}
	fprintf(stderr, "cbrogue: bad mode or arguments\n");
	return 64;
}
