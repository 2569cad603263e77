/*
 * cbclusterforge - write what a broker of a cluster would publish of
 * its global pools (abi.h, ABI 1.3: cb_pool_conf.share_deadline_ns,
 * cb_pool_def.hold_max_s, the cluster block CB_RS_CLUSTER) into an
 * instance's state segment, or what a broken one could; for
 * t_capdump_cluster.sh.  Run it on segments whose broker is gone (it
 * writes as the broker's cluster thread would, and no broker may be
 * writing the same words).
 *
 *   cbclusterforge NAME POOL global    POOL global (kind CB_LIMIT_GLOBAL,
 *                                      hold_max_s 300, a share valid for
 *                                      an hour), the cluster block filled:
 *                                      host h1 of cluster c1, lease
 *                                      0x1234abcd ttl 10 s, etcd
 *                                      reachable, last answer 2 s ago, 7
 *                                      errors, hosts h1 and h2, POOL's L
 *                                      10 share 4 local_limit 3 demand 6
 *                                      target 5 quarantined 1, host
 *                                      shares 4 6, demands 6 3
 *   cbclusterforge NAME POOL expired   POOL's deadline 1 (no valid share)
 *   cbclusterforge NAME POOL hostile   unterminated strings with escape
 *                                      and quote bytes, nhosts 1000
 *   cbclusterforge NAME POOL odd       the block's seq stuck odd (a
 *                                      writer that died mid-write)
 *
 * Exit status 0, 1 with a message, 64 usage.
 */
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "abi.h"
#include "segment.h"
#include "seqlock.h"

static void *map_state(const char *name)
{
	char shm[CB_SHM_NAME_MAX];
	struct stat st;
	void *base;
	int fd;

	if (cb_shm_name(shm, sizeof(shm), name, CB_SEG_STATE) < 0)
		return NULL;
	fd = shm_open(shm, O_RDWR, 0);
	if (fd < 0) {
		perror(shm);
		return NULL;
	}
	if (fstat(fd, &st) < 0) {
		perror("fstat");
		close(fd);
		return NULL;
	}
	base = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE,
	    MAP_SHARED, fd, 0);
	close(fd);
	return base == MAP_FAILED ? NULL : base;
}

static uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The index of the active pool named name, or -1. */
static int find_pool(void *state, const char *name,
    struct cb_pool_def *def)
{
	for (uint32_t i = 0; i < CB_MAX_POOLS; i++) {
		struct cb_pool_conf *c = cb_seg_record(state, CB_RS_POOLS, 0,
		    i);

		if (cb_seqlock_read(&c->seq, def, &c->def, sizeof(*def)) == 0 &&
		    (def->flags & CB_POOL_F_ACTIVE) &&
		    strncmp(def->name, name, sizeof(def->name)) == 0)
			return (int)i;
	}
	return -1;
}

static void make_global(void *state, int p, struct cb_pool_def *def,
    uint64_t deadline)
{
	struct cb_pool_conf *c = cb_seg_record(state, CB_RS_POOLS, 0,
	    (uint32_t)p);

	def->kind = CB_LIMIT_GLOBAL;
	def->value = 10;
	def->hold_max_s = 300;
	cb_seqlock_write(&c->seq, &c->def, def, sizeof(*def));
	atomic_store_explicit(&c->share_deadline_ns, deadline,
	    memory_order_release);
}

static void fill_block(struct cb_cluster_block *k, int p)
{
	struct cb_cluster_pool *cp = &k->pool[p];

	memset((char *)k + sizeof(k->seq), 0, sizeof(*k) - sizeof(k->seq));
	k->flags = CB_CLUSTER_F_ON | CB_CLUSTER_F_REACHABLE |
	    CB_CLUSTER_F_LEASE;
	k->lease_id = 0x1234abcdull;
	k->valid_until_ns = clock_ns(CLOCK_MONOTONIC) + 3600000000000ull;
	k->last_ok_ns = clock_ns(CLOCK_MONOTONIC) - 2000000000ull;
	k->errors = 7;
	k->ttl_s = 10;
	k->nhosts = 2;
	snprintf(k->host, sizeof(k->host), "h1");
	snprintf(k->cluster, sizeof(k->cluster), "c1");
	snprintf(k->last_error, sizeof(k->last_error),
	    "etcd: deadline exceeded");
	snprintf(k->hosts[0], sizeof(k->hosts[0]), "h1");
	snprintf(k->hosts[1], sizeof(k->hosts[1]), "h2");
	cp->limit = 10;
	cp->share = 4;
	cp->local_limit = 3;
	cp->demand = 6;
	cp->target = 5;
	cp->quarantined = 1;
	cp->host_share[0] = 4;
	cp->host_share[1] = 6;
	cp->host_demand[0] = 6;
	cp->host_demand[1] = 3;
}

/* Every string full to its last byte, with bytes a printer must
 * escape, and more hosts than the block has. */
static void spoil_block(struct cb_cluster_block *k)
{
	memset(k->host, 'A', sizeof(k->host));
	k->host[1] = '\x1b';
	memset(k->cluster, 'B', sizeof(k->cluster));
	k->cluster[1] = '"';
	memset(k->last_error, 'E', sizeof(k->last_error));
	k->last_error[1] = '\n';
	for (int h = 0; h < CB_CLUSTER_HOSTS; h++)
		memset(k->hosts[h], 'H', sizeof(k->hosts[h]));
	k->nhosts = 1000;
}

int main(int argc, char **argv)
{
	struct cb_cluster_block *k, *copy;
	struct cb_pool_def def;
	void *state;
	int p;

	if (argc != 4) {
		fprintf(stderr, "usage: cbclusterforge NAME POOL "
		    "global|expired|hostile|odd\n");
		return 64;
	}
	if ((state = map_state(argv[1])) == NULL)
		return 1;
	if ((p = find_pool(state, argv[2], &def)) < 0) {
		fprintf(stderr, "cbclusterforge: no pool %s\n", argv[2]);
		return 1;
	}
	k = cb_seg_region(state, CB_RS_CLUSTER);
	if ((copy = calloc(1, sizeof(*copy))) == NULL)
		return 1;
	if (strcmp(argv[3], "global") == 0 ||
	    strcmp(argv[3], "hostile") == 0) {
		make_global(state, p, &def, clock_ns(CLOCK_MONOTONIC_COARSE) +
		    3600000000000ull);
		fill_block(copy, p);
		if (argv[3][0] == 'h')
			spoil_block(copy);
		/* flags shares seq's word; the rest is 8-aligned. */
		cb_seqlock_write_begin(&k->seq);
		k->flags = copy->flags;
		cb_seq_copy_in(&k->lease_id, &copy->lease_id, sizeof(*k) -
		    offsetof(struct cb_cluster_block, lease_id));
		cb_seqlock_write_end(&k->seq);
	} else if (strcmp(argv[3], "expired") == 0) {
		make_global(state, p, &def, 1);
	} else if (strcmp(argv[3], "odd") == 0) {
		atomic_store_explicit(&k->seq, 1, memory_order_release);
	} else {
		fprintf(stderr, "cbclusterforge: unknown mode %s\n", argv[3]);
		return 64;
	}
	free(copy);
	return 0;
}
