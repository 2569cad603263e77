/*
 * cbbench_oneload.c - the yardstick for cb_current() in capbench(1).
 *
 * Built as a shared library ($(O)/libcbbench_oneload.so) and called
 * through a function pointer from dlsym(), exactly as capbench calls
 * cb_current() in the dlopen()ed libcapbroker.so: the call and one
 * acquire load of a shared word, nothing else.  cb_current() should
 * cost no more than this plus the handle's pointer.
 */
#include <stdint.h>

unsigned cbbench_oneload(const uint64_t *word);

unsigned cbbench_oneload(const uint64_t *word)
{
	return (unsigned)(__atomic_load_n(word, __ATOMIC_ACQUIRE) & 0xffffu);
}
