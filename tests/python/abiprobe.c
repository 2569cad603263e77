/*
 * abiprobe.c - print the layout of capbroker.h's public structs and
 * constants, one "key value" per line, for tests/python/test_abi.py to
 * compare with the ctypes mirror in client/python/capbroker/_native.py.
 */
#include <stddef.h>
#include <stdio.h>

#include "capbroker.h"

#define SIZE(t) printf("sizeof %s %zu\n", #t, sizeof(t))
#define OFF(t, f) printf("offsetof %s.%s %zu\n", #t, #f, offsetof(t, f))
#define SIZEOF_FIELD(t, f) printf("fieldsize %s.%s %zu\n", #t, #f, \
	sizeof(((t *)0)->f))
#define CONST(c) printf("const %s %lld\n", #c, (long long)(c))

int main(void)
{
	/* A state word with every field distinct, decoded by the macros. */
	const uint64_t word = 0x89abcdef01234567ull;

	SIZE(cb_ticket);
	OFF(cb_ticket, opaque);
	SIZE(cb_waiter);
	OFF(cb_waiter, opaque);
	SIZE(struct cb_request);
	OFF(struct cb_request, pool);
	OFF(struct cb_request, kind);
	OFF(struct cb_request, observed);
	OFF(struct cb_request, timeout_ms);
	OFF(struct cb_request, priority);
	SIZE(struct cb_pool_info);
	OFF(struct cb_pool_info, name);
	SIZEOF_FIELD(struct cb_pool_info, name);
	OFF(struct cb_pool_info, limit);
	OFF(struct cb_pool_info, observed);
	OFF(struct cb_pool_info, held);
	OFF(struct cb_pool_info, launching);
	OFF(struct cb_pool_info, window_ms);
	CONST(CB_HOLD);
	CONST(CB_LAUNCH);
	CONST(CB_OPEN_RDONLY);
	CONST(CB_TICKET_STRLEN);
	CONST(CB_WORKER_ID_STRLEN);
	CONST(CB_PLACE_CONSOLIDATE);
	CONST(CB_PLACE_SPREAD);
	CONST(CB_PLACE_LEAST_LOADED);
	CONST(CB_STATE_F_STOPPING);
	CONST(CB_STATE_F_RETIRED);
	printf("word %llu\n", (unsigned long long)word);
	CONST(CB_STATE_CAPACITY(word));
	CONST(CB_STATE_SOURCE(word));
	CONST(CB_STATE_FLAGS(word));
	CONST(CB_STATE_GENERATION(word));
	return 0;
}
