/*
 * cbprobe - a libcapbroker client for the integration tests.
 *
 *   cbprobe NAME current            print "CAPACITY SOURCE GENERATION"
 *   cbprobe NAME watch GEN MS       cb_watch from GEN; print the state
 *                                   or "timeout" (exit 3)
 *   cbprobe NAME check              cb_broker_check: exit 0 alive, 1 not
 *   cbprobe NAME hammer SECS PAIRS  read the state for SECS seconds and
 *                                   fail if a (capacity, source) pair
 *                                   outside PAIRS is ever seen
 *   cbprobe NAME linger SECS        stay attached SECS seconds, calling
 *                                   cb_watch (100 ms timeouts) and
 *                                   cb_broker_check in turn: the slow
 *                                   paths that re-register with a
 *                                   restarted broker
 *
 * PAIRS is "CAP:SOURCE,CAP:SOURCE,...".  A failed cb_open prints its
 * message and exits 10 + the errno (ENOENT 12, EACCES 23, EPROTO 81).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "capbroker.h"

#define PAIRS_MAX 16

struct pair {
	unsigned capacity;
	int source;
};

static void print_state(uint64_t w)
{
	printf("%u %s %u\n", CB_STATE_CAPACITY(w),
	    cb_source_name(CB_STATE_SOURCE(w)), CB_STATE_GENERATION(w));
}

static int source_by_name(const char *name)
{
	for (int s = CB_SOURCE_OVERRIDE; s <= CB_SOURCE_FALLBACK; s++)
		if (strcmp(cb_source_name(s), name) == 0)
			return s;
	return -1;
}

static int parse_pairs(char *spec, struct pair *p)
{
	char *save = NULL, *tok;
	int n = 0;

	for (tok = strtok_r(spec, ",", &save); tok && n < PAIRS_MAX;
	    tok = strtok_r(NULL, ",", &save)) {
		char *colon = strchr(tok, ':');

		if (colon == NULL)
			return -1;
		*colon = '\0';
		p[n].capacity = (unsigned)strtoul(tok, NULL, 10);
		p[n].source = source_by_name(colon + 1);
		if (p[n].source < 0)
			return -1;
		n++;
	}
	return n;
}

static int allowed(const struct pair *p, int n, unsigned cap, int src)
{
	for (int i = 0; i < n; i++)
		if (p[i].capacity == cap && p[i].source == src)
			return 1;
	return 0;
}

/*
 * The torn-read validator.  Three ways of reading, each checked:
 * one load of the state word must give a published pair; cb_current()
 * alone a published capacity; cb_source() alone a published source.
 * A generation must always come with the same pair, and generations
 * never go backwards.
 */
static int hammer(cb_client *c, double secs, struct pair *p, int n)
{
	const uint64_t *word = cb_state_word(c);
	uint64_t reads = 0, bad = 0, last_gen = 0, gens = 0;
	uint64_t seen_word[64] = { 0 };
	uint64_t end = cb_monotonic_ns() + (uint64_t)(secs * 1e9);

	while (cb_monotonic_ns() < end) {
		for (int i = 0; i < 1000; i++, reads++) {
			uint64_t w = cb_state_load(word);
			unsigned cap = CB_STATE_CAPACITY(w), alone;
			int src = CB_STATE_SOURCE(w);
			uint32_t gen = CB_STATE_GENERATION(w);
			uint64_t *slot = &seen_word[gen % 64];

			if (!allowed(p, n, cap, src)) {
				if (bad++ < 5)
					fprintf(stderr, "torn: %u %s gen %u\n",
					    cap, cb_source_name(src), gen);
			}
			if (gen < last_gen) {
				bad++;
				fprintf(stderr, "generation went back %llu -> "
				    "%u\n", (unsigned long long)last_gen, gen);
			}
			if (gen != last_gen)
				gens++;
			last_gen = gen;
			if (*slot >> 32 == gen && *slot != w && bad++ < 5)
				fprintf(stderr, "generation %u seen with two "
				    "states\n", gen);
			*slot = w;
			alone = cb_current(c);
			src = cb_source(c);
			int ok_cap = 0, ok_src = 0;
			for (int k = 0; k < n; k++) {
				ok_cap |= p[k].capacity == alone;
				ok_src |= p[k].source == src;
			}
			if ((!ok_cap || !ok_src) && bad++ < 5)
				fprintf(stderr, "unpublished value %u/%d\n",
				    alone, src);
		}
	}
	printf("reads %llu generations %llu bad %llu\n",
	    (unsigned long long)reads, (unsigned long long)gens,
	    (unsigned long long)bad);
	return bad == 0 ? 0 : 1;
}

static int linger(cb_client *c, double secs)
{
	uint64_t end = cb_monotonic_ns() + (uint64_t)(secs * 1e9);
	uint32_t gen = CB_STATE_GENERATION(cb_state_load(cb_state_word(c)));

	printf("lingering\n");
	fflush(stdout);
	do {
		cb_watch(c, &gen, 100);
		cb_broker_check(c);
	} while (cb_monotonic_ns() < end);
	return 0;
}

static int usage(void)
{
	fprintf(stderr, "usage: cbprobe NAME current|check|watch GEN MS|"
	    "hammer SECS PAIRS|linger SECS\n");
	return 64;
}

int main(int argc, char **argv)
{
	struct pair pairs[PAIRS_MAX];
	cb_client *c;
	uint32_t gen;
	int r, n;

	if (argc < 3)
		return usage();
	r = cb_open(&c, argv[1], 0);
	if (r < 0) {
		printf("%s\n", cb_open_errmsg());
		return 10 + -r;
	}
	if (strcmp(argv[2], "current") == 0) {
		print_state(cb_state_load(cb_state_word(c)));
		r = 0;
	} else if (strcmp(argv[2], "check") == 0) {
		r = cb_broker_check(c);
		printf("%s\n", r == 0 ? "alive" : cb_errmsg(c));
		r = r == 0 ? 0 : 1;
	} else if (strcmp(argv[2], "watch") == 0 && argc == 5) {
		gen = (uint32_t)strtoul(argv[3], NULL, 10);
		r = cb_watch(c, &gen, atoi(argv[4]));
		if (r == 0)
			print_state(cb_state_load(cb_state_word(c)));
		else
			printf("%s\n", r == -ETIMEDOUT ? "timeout" :
			    cb_strerror(r));
		r = r == 0 ? 0 : 3;
	} else if (strcmp(argv[2], "linger") == 0 && argc == 4) {
		r = linger(c, atof(argv[3]));
	} else if (strcmp(argv[2], "hammer") == 0 && argc == 5) {
		n = parse_pairs(argv[4], pairs);
		r = n > 0 ? hammer(c, atof(argv[3]), pairs, n) : usage();
	} else {
		r = usage();
	}
	cb_close(c);
	return r;
}
