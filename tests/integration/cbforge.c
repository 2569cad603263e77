/*
 * cbforge - create a damaged capbroker segment pair, for the ABI
 * refusal tests.
 *
 *   cbforge NAME MODE     MODE: abi-major | magic | endian | size |
 *                         region | abi-1.0 | uninitialised | valid
 *
 * Lays out both segments the way a broker would, then breaks one field
 * of the state segment's header (abi-1.0: makes the slots segment's
 * header an ABI 1.0 one; valid: none), publishes the magic
 * (except uninitialised) and exits.  The caller removes the segments.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "abi.h"
#include "segment.h"

static struct cb_seg_header *make(const char *name, enum cb_seg_kind kind)
{
	struct cb_layout l;
	char shm[CB_SHM_NAME_MAX];
	void *base;
	int fd;

	cb_layout_init(&l, kind);
	cb_shm_name(shm, sizeof(shm), name, kind);
	fd = shm_open(shm, O_RDWR | O_CREAT | O_EXCL, 0660);
	if (fd < 0 || ftruncate(fd, (off_t)l.total_size) < 0) {
		perror(shm);
		return NULL;
	}
	base = mmap(NULL, l.total_size, PROT_READ | PROT_WRITE, MAP_SHARED,
	    fd, 0);
	close(fd);
	if (base == MAP_FAILED)
		return NULL;
	cb_seg_header_init(base, kind, name, 42, &l);
	return base;
}

int main(int argc, char **argv)
{
	struct cb_seg_header *st, *sl;
	const char *mode;

	if (argc != 3) {
		fprintf(stderr, "usage: cbforge NAME MODE\n");
		return 64;
	}
	mode = argv[2];
	st = make(argv[1], CB_SEG_STATE);
	sl = make(argv[1], CB_SEG_SLOTS);
	if (st == NULL || sl == NULL)
		return 1;
	cb_seg_header_publish(sl, CB_SEG_SLOTS);
	if (strcmp(mode, "uninitialised") == 0)
		return 0;
	cb_seg_header_publish(st, CB_SEG_STATE);
	if (strcmp(mode, "abi-major") == 0)
		st->abi_major = CB_ABI_MAJOR + 1;
	else if (strcmp(mode, "magic") == 0)
		atomic_store(&st->magic, 0x1234);
	else if (strcmp(mode, "endian") == 0)
		st->endian = 0x0201;
	else if (strcmp(mode, "size") == 0)
		st->total_size += 4096;
	else if (strcmp(mode, "region") == 0)
		st->region[CB_RS_WORKERS].offset = st->total_size;
	else if (strcmp(mode, "abi-1.0") == 0) {
		/* A pair made by an ABI 1.0 broker: no waiter table in
		 * the slots segment (nor what later 1.x minors append).
		 * The state header says 1.0 too: with a 1.1 state header
		 * the slots header could only have been rewritten by a
		 * client, and the broker restores it (segments.h). */
		st->abi_minor = 0;
		sl->abi_minor = 0;
		sl->region_count = CB_RL_WAITERS;
	}
	else if (strcmp(mode, "valid") != 0) {
		fprintf(stderr, "cbforge: unknown mode %s\n", mode);
		return 64;
	}
	return 0;
}
