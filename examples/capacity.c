/*
 * capacity.c - read and follow a broker's capacity with libcapbroker.
 *
 *   cc capacity.c $(pkg-config --cflags --libs capbroker) -o capacity
 *   ./capacity [NAME [CHANGES]]
 *
 * Prints the current capacity and its source, then each change, until
 * CHANGES changes were seen (default: forever).
 */
#include <stdio.h>
#include <stdlib.h>

#include <capbroker.h>

int main(int argc, char **argv)
{
	const char *name = argc > 1 ? argv[1] : "default";
	long changes = argc > 2 ? atol(argv[2]) : -1;
	uint32_t generation = 0;   /* 0: return the current state at once */
	const uint64_t *word;
	cb_client *c;
	int r;

	r = cb_open(&c, name, 0);
	if (r < 0) {
		fprintf(stderr, "capacity: %s\n", cb_open_errmsg());
		return 1;
	}
	word = cb_state_word(c);
	for (long seen = -1; changes < 0 || seen < changes; seen++) {
		r = cb_watch(c, &generation, -1);
		if (r < 0) {
			fprintf(stderr, "capacity: %s\n", cb_errmsg(c));
			break;
		}
		/* One load gives capacity and source together, never torn. */
		uint64_t w = cb_state_load(word);
		printf("capacity %u source %s generation %u\n",
		    CB_STATE_CAPACITY(w), cb_source_name(CB_STATE_SOURCE(w)),
		    CB_STATE_GENERATION(w));
		fflush(stdout);
	}
	cb_close(c);
	return r < 0;
}
