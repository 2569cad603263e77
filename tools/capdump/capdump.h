/*
 * capdump.h - what the files of capdump share: the options, the dump
 * (everything one look at the segments found) and the functions
 * between gathering, the three output formats and the run loop.
 * Internal to capdump; never installed.
 *
 * Layers, each calling only the ones below it:
 *
 *   main.c          options, --help, main()
 *   run.c           one dump, or --watch: gather, print, compare,
 *                   wait, follow a broker to new segments
 *   human.c json.c prom.c
 *                   one printer per output format, from a struct dump
 *   gather.c        attaching; the state segment (broker-written)
 *   reservations.c  the slots segment (client-written: hostile)
 *   dump.c          warnings, flags, pool names, the words for enums
 *   output.c        -o FILE: each dump replaces FILE whole
 */
#ifndef CAPDUMP_H
#define CAPDUMP_H

#include <stddef.h>
#include <stdint.h>

#include "abi.h"
#include "capbroker.h"
#include "segment.h"
#include "snapshot.h"

/* Exit status; EX_USAGE (64) and EX_IOERR (74) come from sysexits.h. */
#define EXIT_HEALTHY	0
#define EXIT_STALE	1	/* broker stale, stopped, gone, or retired */
#define EXIT_ATTACH	2	/* cannot attach to the segments */

#define MAX_WARNINGS	8
#define WARNING_MAX	192
#define POOL_NAME_MAX	63

enum format { FMT_HUMAN, FMT_JSON, FMT_PROMETHEUS };

struct options {
	const char *name;
	enum format format;
	int watch;
	const char *output;		/* -o FILE, or NULL: stdout */
};

/* -o FILE while one dump is being written (output.c). */
struct output {
	const char *path;
	char tmp[4096];
	int saved;			/* the real stdout, -1 when not */
};

/*
 * One active pool (see reservations.c): the broker's definition, limit
 * and sweeper statistics from the state segment, the clients' usage
 * counter and statistics from the slots segment.  No padding, and
 * zeroed before filling: --watch compares rows with memcmp.
 */
struct pool_row {
	char name[POOL_NAME_MAX + 1];
	uint32_t index;
	uint32_t kind;			/* enum cb_limit_kind */
	uint32_t limit;
	uint32_t observed;
	uint32_t window_ms;
	uint32_t held;
	uint32_t launching;
	uint32_t waiting;		/* live queued waiters (queue.h) */
	uint32_t pickers;		/* blocked pickers, as counted (place.h) */
	/* Global pools (abi.h, ABI 1.3): 0 in a local one.  The share
	 * figures are the cluster block's (dump.cluster), 0 when it could
	 * not be read. */
	uint32_t global;		/* share_deadline_ns != 0, or kind
					   CB_LIMIT_GLOBAL */
	uint32_t hold_max_s;
	uint32_t share;			/* committed in etcd */
	uint32_t local_limit;
	uint32_t demand;
	uint32_t target;
	uint32_t quarantined;
	uint32_t aged;			/* holds past hold_max, no longer
					   counted (lib/age.h, ABI 1.4) */
	uint64_t share_deadline_ns;	/* CLOCK_MONOTONIC_COARSE; 1: none */
	uint64_t admitted;
	uint64_t rejected;
	uint64_t stale_releases;
	uint64_t reclaimed;
	uint64_t expired;
	uint64_t repaired;
};

/* One attached client of the reservation table. */
struct client_row {
	uint32_t index;
	uint32_t pid;
	uint64_t held;			/* sum over active pools: no overflow */
	uint32_t in_flight;		/* open death windows (reserve.h),
					   the entry's and its lanes' */
	uint32_t reserved;
	uint64_t owner;			/* the entry's owner word */
};

/* One live waiter of a pool's queue. */
struct waiter_row {
	uint64_t ticket;		/* arrival ticket */
	uint32_t entry;
	uint32_t pool;
	uint32_t client;
	uint32_t pid;
	int32_t priority;
	uint32_t position;		/* live waiters ahead; 0 = head */
};

/* One claimed or live launch reservation. */
struct launch_row {
	uint64_t word;			/* as read: identifies the claim */
	uint64_t deadline_ns;		/* CLOCK_MONOTONIC */
	int64_t expires_in_ms;		/* at gather time; < 0: overdue */
	uint32_t entry;
	uint32_t pool;
	uint32_t client;
	uint32_t state;			/* enum cb_launch_state */
};

/*
 * The slots segment's header as it was at attach.  Records are located
 * through this build's own layout (lib/slots.h), which cb_open()
 * checked the segment against, never through the header: any client may
 * write that segment, its header included.  The copy is kept only to
 * notice, and say, that a client rewrote the header since.
 */
struct slots_geom {
	int readable;			/* 0: not in the broker's group */
	uint64_t total_size;
	struct cb_region region[CB_RL_COUNT];
};

/* A handle and what was copied from it at attach time. */
struct target {
	cb_client *c;
	struct slots_geom slots;
};

/*
 * Everything one look at the segments found.  A *_ok of 0 means the
 * block could not be copied consistently; its fields are then zero and
 * a warning says why.  Zeroed before filling, so dumps compare with
 * memcmp where the fields are plain words.
 */
struct dump {
	char name[CB_NAME_MAX + 1];
	unsigned abi_major;
	unsigned abi_minor;
	uint64_t instance;
	uint64_t state_word;
	int retired;			/* header's retired flag */

	int ident_ok;
	struct cb_ident ident;
	int check;			/* cb_broker_check(): 0 alive */
	char reason[CB_ERRMSG_MAX];	/* why stale; "" when alive */
	int64_t heartbeat_age_ms;	/* -1: no heartbeat yet */
	/* Control-socket pressure (abi.h, header): fd_limit 0 when the
	 * broker does not publish it. */
	struct {
		uint32_t fds, fd_limit, conns, reserved;
		uint64_t refused, cut;
	} control;

	int info_ok;
	struct cb_info info;

	/* 0: the slots segment is not ours to read (not in the broker's
	 * group): pools, clients, launches, waiters are unknown, not none. */
	int slots_readable;
	/* 1: the slots file was shrunk under our mapping and the SIGBUS
	 * guard (lib/sigbus.h) put private zeros over the cut part: what
	 * this dump shows of the slots segment is not what is there. */
	int slots_damaged;

	int workers_ok;
	struct cb_worker_rec *workers;
	uint32_t nworkers;
	/* Per worker: holds bound to it (its placement slot's counter in
	 * the slots segment), -1 when unknown. */
	int64_t *worker_inflight;

	struct cb_event_rec events[CB_EVENT_RING];
	size_t nevents;

	/*
	 * The cluster block (abi.h, CB_RS_CLUSTER) as copied under its
	 * seqlock and made safe to print: every string terminated, nhosts
	 * at most CB_CLUSTER_HOSTS.  cluster_ok 0: no stable copy (zeros).
	 */
	int cluster_ok;
	struct cb_cluster_block cluster;

	uint64_t now_ns;		/* CLOCK_MONOTONIC at gather time */
	uint64_t coarse_ns;		/* CLOCK_MONOTONIC_COARSE, the same */
	struct pool_row *pools;
	size_t npools;
	uint64_t pools_active;		/* bit p: pool p is active */
	struct client_row *clients;
	size_t nclients;
	struct launch_row *launches;
	size_t nlaunches;
	struct waiter_row *waiters;	/* by pool, then position */
	size_t nwaiters;

	char warning[MAX_WARNINGS][WARNING_MAX];
	int nwarnings;
};

/* dump.c */
/* Add a warning to d; past MAX_WARNINGS they are dropped. */
void dump_warn(struct dump *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The state-word flags and the header's retired flag, as one set. */
unsigned dump_flags(const struct dump *d);
/* The name of active pool index, or NULL. */
const char *dump_pool_name(const struct dump *d, uint32_t index);
/* Length of a NUL-padded fixed-size field that may lack its NUL. */
size_t field_len(const char *s, size_t size);
const char *worker_state_name(uint32_t state);
const char *event_type_name(uint32_t type);
const char *pool_kind_name(uint32_t kind);
const char *launch_state_name(uint32_t state);
/* "global" or "local". */
const char *pool_scope_name(const struct pool_row *p);
/* How long a global pool's share stays valid, ms; 0 when none is. */
uint64_t share_valid_ms(const struct dump *d, const struct pool_row *p);
/* The cluster block says etcd is configured (and was read). */
int dump_cluster_on(const struct dump *d);
/* Seconds since etcd last answered (0 if the clock reads earlier). */
double cluster_age_s(const struct dump *d);

/* reservations.c */
/* Copy the slots header; right after cb_open(). */
void slots_geom_init(cb_client *c, struct slots_geom *g);
/* Pools, clients, launches, waiters and worker in-flight counts. */
void slots_gather(const struct target *t, struct dump *d);

/* gather.c */
/* cb_open(CB_OPEN_RDONLY) and copy the slots header; cb_open()'s
 * result (cb_open_errmsg() says why it failed). */
int target_open(struct target *t, const char *name);
void target_close(struct target *t);
/* Fill d from t (d is zeroed first); free what it allocated. */
void dump_gather(const struct target *t, struct dump *d);
void dump_free(struct dump *d);

/* The printers: the whole dump to stdout in one format. */
void print_human(const struct dump *d);
void print_json(const struct dump *d);
void print_prometheus(const struct dump *d);
void print_json_unattached(const char *name, const char *why);
void print_prometheus_unattached(const char *name, const char *why);

/* The whole document for an instance we cannot attach to (-o FILE must
 * not keep saying what an earlier dump said). */
void print_unattached(const char *name, const char *why, enum format f);

/* output.c: stdout goes to a temporary file in FILE's directory until
 * output_commit() renames it over FILE.  Each returns 0, or an exit
 * status after saying why (the temporary file is then gone). */
int output_begin(struct output *out, const char *path);
int output_commit(struct output *out);

/* run.c: the exit status (EXIT_*, or EX_IOERR). */
int run_once(const struct target *t, const struct options *o);
int run_watch(struct target *t, const struct options *o);

#endif /* CAPDUMP_H */
