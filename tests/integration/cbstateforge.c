/*
 * cbstateforge - overwrite the region table of a live instance's state
 * segment, as one stray write by the broker's uid could, and read the
 * state segment from a client attached before; for t_stateforge.sh.
 *
 *   cbstateforge NAME far         every region's offset 2^40 bytes out,
 *                                 the event ring's count 0
 *   cbstateforge NAME moved       the pools region at the event ring's
 *                                 offset (aligned, in bounds: only this
 *                                 build's layout tells it is wrong)
 *   cbstateforge NAME read POOL ROUNDS
 *                                 attach and find POOL, print
 *                                 "attached"; then ROUNDS times: wait
 *                                 for SIGUSR1 and use every reader that
 *                                 locates state records (pool lookup,
 *                                 pool information, a fail-fast hold in
 *                                 POOL and its release, a worker pick
 *                                 in pool 0 and its release), printing
 *                                 one line:
 *                                   round K pool=P limit=L hold=ERR
 *                                   release=ERR pick=ERR:WORKER
 *                                   unpick=ERR
 *
 * The forging modes need write access to the state segment (the
 * broker's uid).  Exit status 0, 1 with a message, or (read) what
 * cbtest_attach() says.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "abi.h"
#include "capbroker.h"
#include "cbtest.h"
#include "segment.h"

static struct cb_seg_header *map_state(const char *name)
{
	char shm[CB_SHM_NAME_MAX];
	void *base;
	int fd;

	if (cb_shm_name(shm, sizeof(shm), name, CB_SEG_STATE) < 0)
		return NULL;
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

static int forge(const char *name, const char *mode)
{
	struct cb_seg_header *h = map_state(name);

	if (h == NULL)
		return 1;
	if (strcmp(mode, "far") == 0) {
		for (unsigned i = 0; i < CB_RS_COUNT; i++)
			h->region[i].offset = 1ull << 40;
		h->region[CB_RS_EVENTS].count = 0;
	} else {
		h->region[CB_RS_POOLS].offset = h->region[CB_RS_EVENTS].offset;
	}
	return 0;
}

static void read_round(cb_client *c, const char *pool_name, int k)
{
	struct cb_request req = { .kind = CB_HOLD };
	struct cb_pool_info info;
	char id[CB_WORKER_ID_MAX + 1] = "";
	cb_ticket hold, pick;
	int r, rp, pool;

	pool = cb_pool(c, pool_name);
	if (pool < 0 || cb_pool_info(c, pool, &info) < 0)
		info.limit = 0;
	req.pool = pool;
	r = cb_reserve(c, &req, &hold, NULL);
	printf("round %d pool=%d limit=%u hold=%s", k, pool, info.limit,
	    errname(r));
	printf(" release=%s", r == 0 ? errname(cb_release(c, &hold)) : "-");
	req.pool = 0;
	rp = cb_pick_worker(c, &req, CB_PLACE_SPREAD, &pick, id, sizeof(id),
	    NULL);
	printf(" pick=%s:%s", errname(rp), id);
	printf(" unpick=%s\n", rp == 0 ? errname(cb_release(c, &pick)) : "-");
}

static int reader(const char *name, const char *pool_name, int rounds)
{
	sigset_t usr1;
	cb_client *c;
	int pool, sig, r;

	cbtest_usr1_setup(&usr1);
	r = cbtest_attach(name, 0, pool_name, &c, &pool);
	if (r != 0)
		return r;
	printf("attached pool=%d\n", pool);
	for (int k = 1; k <= rounds; k++) {
		sigwait(&usr1, &sig);
		read_round(c, pool_name, k);
	}
	cb_close(c);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && (strcmp(argv[2], "far") == 0 ||
	    strcmp(argv[2], "moved") == 0))
		return forge(argv[1], argv[2]);
	if (argc == 5 && strcmp(argv[2], "read") == 0)
		return reader(argv[1], argv[3], atoi(argv[4]));
	fprintf(stderr, "usage: cbstateforge NAME far|moved\n"
	    "       cbstateforge NAME read POOL ROUNDS\n");
	return 64;
}
