/*
 * fuzz.h - what the fuzz harnesses share: an invariant check that
 * aborts (libFuzzer then saves the input), naming the harness.
 */
#ifndef CB_FUZZ_H
#define CB_FUZZ_H

#include <stdio.h>
#include <stdlib.h>

#define CHECK(cond)                                                      \
	do {                                                             \
		if (!(cond)) {                                           \
			fprintf(stderr, "%s: %s:%d: invariant '%s' "     \
			    "violated\n", FUZZ_NAME, __FILE__, __LINE__,  \
			    #cond);                                      \
			abort();                                         \
		}                                                        \
	} while (0)

#endif /* CB_FUZZ_H */
