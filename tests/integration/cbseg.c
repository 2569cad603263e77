/*
 * cbseg - write to a live instance's segment header what a hostile
 * member of the slots group (or, for state, the broker's uid) could,
 * for t_slotsmagic.sh and t_retired.sh.
 *
 *   cbseg NAME zero-magic       store 0 in the slots segment's magic
 *   cbseg NAME break-state      move the state segment's event ring
 *                               past the segment end (an incompatible
 *                               segment of our ABI: capbrokerd needs
 *                               --replace; clients that attached before
 *                               never look at that region again)
 *
 * Exit status 0, or 1 with a message.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "abi.h"
#include "segment.h"

static struct cb_seg_header *map(const char *name, enum cb_seg_kind kind)
{
	char shm[CB_SHM_NAME_MAX];
	void *base;
	int fd;

	cb_shm_name(shm, sizeof(shm), name, kind);
	fd = shm_open(shm, O_RDWR, 0);
	if (fd < 0) {
		perror(shm);
		return NULL;
	}
	base = mmap(NULL, sizeof(struct cb_seg_header),
	    PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	return base == MAP_FAILED ? NULL : base;
}

int main(int argc, char **argv)
{
	struct cb_seg_header *h;

	if (argc != 3) {
		fprintf(stderr, "usage: cbseg NAME zero-magic|break-state\n");
		return 64;
	}
	if (strcmp(argv[2], "zero-magic") == 0) {
		h = map(argv[1], CB_SEG_SLOTS);
		if (h == NULL)
			return 1;
		atomic_store_explicit(&h->magic, 0, memory_order_relaxed);
	} else if (strcmp(argv[2], "break-state") == 0) {
		h = map(argv[1], CB_SEG_STATE);
		if (h == NULL)
			return 1;
		h->region[CB_RS_EVENTS].offset = h->total_size;
	} else {
		fprintf(stderr, "cbseg: unknown mode %s\n", argv[2]);
		return 64;
	}
	return 0;
}
