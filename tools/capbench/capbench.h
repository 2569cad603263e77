/*
 * capbench.h - the parts of capbench and what they pass each other.
 *
 * capbench (capbench(1), docs/BENCHMARKS.md) is one program in layers,
 * each file using only the ones above it:
 *
 *   proc.c             child processes: fork, reap, kill; worker groups
 *                      (a ready/go/stop barrier and one result slot per
 *                      process); sleeping and spinning
 *   peers.c, redis.c,  what capbench starts and creates: the run
 *   etcd.c             directory, capbrokerd and its control socket
 *                      (lib/ctl_client.h), redis-server, a one-member
 *                      etcd for the global pool; set-up and tear-down
 *   methods.c          the primitives compared (one pair = take a unit
 *                      and give it back) and measure(), best of -r runs
 *   sections_workers.c sections 1, 2, 3, 7: timed worker groups
 *   sections_broker.c  sections 4, 5, 6: publish, control round trips,
 *                      reclaim, driven through the broker
 *   report.c           the targets, and the human (markdown) tables
 *   report_json.c      the JSON report and the gnuplot data
 *   main.c             options, the order of the sections, exit status
 *
 * Options (struct bench_opts), what capbench started (struct bench)
 * and what it measured (struct bench_results) are passed as arguments.
 * The file-scope state left: proc.c's flag that tells a signal handler
 * it runs in a child, and main.c's pointer through which the signal
 * handler and atexit() find what to tear down (neither takes an
 * argument).
 */
#ifndef CAPBENCH_H
#define CAPBENCH_H

#include <limits.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "abi.h"
#include "ctl_client.h"

#define MAX_PROCS	64
#define MAX_COUNTS	8	/* 1, 2, 4, ... 64, and -P itself */
#define MAX_SIZES	4	/* worker counts in section 5 */
#define BATCH		64	/* pairs between two looks at the stop flag */
#define SEM_LIMIT	32767	/* SEMVMX: the largest SysV semaphore value */
#define REDIS_TTL_MS	10000	/* lease lifetime of the Redis semaphore */
#define READY_WAIT_MS	10000
#define CONTEND_HOLD_NS	2000	/* section 7: work inside the reservation */
#define CONTEND_THINK_NS 2000	/* ... and between two reservations */
#define WAIT_BUCKETS	256	/* section 7's wait histogram: 8 buckets
				   an octave, up to 2^33 ns */

enum section {
	S_READ, S_HOLD, S_LAUNCH, S_WATCH, S_PUBLISH, S_RECLAIM, S_CONTEND,
	S_COUNT
};

enum status { ST_NOT_RUN, ST_OK, ST_SKIPPED, ST_FAILED, ST_COUNT };

/*
 * M_FLOOR and M_STORE_FLOOR are no competitors: they are the
 * death-window protocol of lib/reserve.h reduced to its shared-memory
 * writes, inline, with no checks, tickets or calls.  M_FLOOR writes the
 * window, the pool counter and the record as the eight seq_cst
 * read-modify-writes the protocol uses today: the fastest any hold pair
 * of this design can be.  M_STORE_FLOOR writes only the pool counter
 * with a read-modify-write and the window and the record, which only
 * their owner writes, with plain stores (methods.c, pair_store_floor()):
 * the fastest a crash-safe record can be (issue 14).  M_CB_SHARED is
 * capbroker's own hold with lanes turned off (CAPBROKER_LANES=0 in the
 * worker): every hold through the shared client entry, as before issue
 * 14, so one run gives the before and after side by side.
 * M_LANE_FLOOR is M_STORE_FLOOR plus what a correct hold must also do
 * (methods.c, pair_lane_floor()), still inline with no calls: the floor
 * of the lane design itself.  M_API_FLOOR is M_LANE_FLOOR behind the
 * least a library call of capbroker's contract adds (pair_api_floor()):
 * a call per side that cannot be inlined, the fork check, the thread's
 * lane found through a thread-local, the lane's bias entered and left.
 * M_INLINE_FLOOR is M_LANE_FLOOR plus the checks a hold inline in the
 * caller (a holder bound once to a thread and a pool, its pair in the
 * public header) could not leave to its binding, and no call
 * (pair_inline_floor()): the floor of that interface.  M_WORD_FLOOR is
 * M_INLINE_FLOOR with the record laid out as docs/BENCHMARKS.md proposes
 * (one word per lane and pool, no bias on the hold; pair_word_floor()):
 * the floor of a redesign that was not built.
 * M_CB_GLOBAL is M_CB on a global pool (issue 15): its share deadline
 * set an hour ahead in the segment (peers.c, pool_make_global()), so
 * every admission also reads the coarse clock once (lib/lane.h,
 * share_expired()); each of its runs follows one of M_CB on a local
 * pool of the same kind and limit (results.hold_local), and the report
 * sets the two side by side.
 */
enum method {
	M_CB, M_POSIX, M_SYSV, M_FLOCK, M_REDIS, M_FLOOR, M_STORE_FLOOR,
	M_CB_SHARED, M_LANE_FLOOR, M_API_FLOOR, M_INLINE_FLOOR, M_WORD_FLOOR,
	M_CB_GLOBAL,
	M_COUNT
};

#define GLOBAL_POOL	"bench_global"	/* M_CB_GLOBAL's pool */
#define LOCAL_POOL	"bench_local"	/* ... and its local twin */

extern const char *const section_name[S_COUNT];	/* sections_workers.c */
extern const char *const status_name[ST_COUNT];	/* report.c */
extern const char *const method_name[M_COUNT];	/* methods.c */
extern const char *const method_title[M_COUNT];	/* methods.c */

/* ----------------------------------------------------------------- */
/* Options: filled by main.c from the command line, read-only after. */

struct bench_opts {
	int maxp;			/* -P: the largest process count */
	int dur_ms;			/* -d: one throughput run */
	int reps;			/* -r: the best of reps runs counts */
	int smoke;			/* --smoke: tiny counts */
	long reads;			/* section 1: reads per timed loop */
	int watch_rounds;		/* section 4: publications */
	int reclaim_rounds;		/* section 6 */
	int iters;			/* section 5: round trips per row */
	unsigned sections;		/* bit per enum section */
	unsigned methods;		/* bit per enum method (section 2) */
	const char *json, *dat, *dir, *name;
	char cmdline[512];
	int counts[MAX_COUNTS];		/* process counts: 1, 2, 4, ... -P */
	int ncounts;
};

/* ----------------------------------------------------------------- */
/* proc.c: child processes and worker groups. */

/*
 * A group of worker processes.  The children count themselves ready
 * (also when their set-up failed: the error is in their slot), wait for
 * go, and run until stop; each times itself from go to stop.
 */
struct slot {
	_Alignas(64) uint64_t ops;
	uint64_t refused;
	uint64_t ns;
	int err;
	double val[4];
	char msg[112];
	/* Section 7: each blocking reserve's wait (from the call to the
	 * admission or refusal), a histogram (methods.c, wait_bucket())
	 * and the longest. */
	uint64_t wait_max;
	uint32_t wait[WAIT_BUCKETS];
};

struct group {
	_Atomic int ready;
	_Atomic int go;
	_Atomic int woke;		/* section 4: wake-ups recorded */
	_Alignas(64) _Atomic int stop;
	_Alignas(64) struct slot r[MAX_PROCS];
};

typedef void child_fn(int idx, struct group *g, void *arg);

/* Every process capbench started is tracked here and killed on exit. */
struct bench_procs {
	pid_t kids[4 * MAX_PROCS];
	int nkids;
	struct group *group;		/* shared mapping, one group at a time */
	char err[200];			/* why the last run_group() failed */
};

void bfmt(char *buf, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void sleep_us(long us);
void spin_ns(long ns);
void *shared_alloc(size_t len);

int procs_init(struct bench_procs *p);
pid_t fork_kid(struct bench_procs *p, int deathsig);
int is_child(void);
void kid_del(struct bench_procs *p, pid_t pid);
int reap(struct bench_procs *p, pid_t pid, uint64_t deadline);
void kill_kids(struct bench_procs *p, pid_t spare);

void child_ready(struct group *g);
int wait_at_least(_Atomic int *v, int n, int timeout_ms);
int run_group(struct bench_procs *p, child_fn *fn, void *arg, int procs,
    int dur_ms);

/* ----------------------------------------------------------------- */
/* peers.c, redis.c: what capbench starts, talks to and removes. */

/* A buffered line reader for RESP (redis.c). */
struct reader {
	int fd;
	size_t off, len;
	char buf[4096];
};

int unix_connect(const char *path);
int in_path(const char *prog, char *out, size_t cap);

struct bench_peers {
	char name[CB_NAME_MAX + 1];	/* the broker's instance */
	char rundir[PATH_MAX];		/* private; "" once removed */
	char sock[108], redis_sock[108];
	char broker_path[PATH_MAX], lib_cb[PATH_MAX], lib_one[PATH_MAX];
	pid_t broker, redis;		/* -1: not running */
	struct cb_ctl_conn ctl;		/* the broker's control socket */
	int redis_ok;			/* redis-server up, script loaded */
	char redis_sha[48];
	char redis_why[160];		/* why Redis is not measured */
	pid_t etcd;			/* -1: not running */
	int etcd_ok;			/* etcd up: the broker's cluster */
	char etcd_url[64];		/* its client URL */
	char etcd_why[160];		/* why the global pool is not measured */
};

/* The floors' words (M_FLOOR, M_STORE_FLOOR; cleared before each
 * run): the pool counter on line 0 of a shared mapping, each process's
 * death-window word and hold count on a line of its own, as in the
 * slots segment. */
struct floor_line {
	_Alignas(64) _Atomic uint32_t seq;
	_Atomic uint32_t holds;
	_Atomic uint64_t rec;		/* M_WORD_FLOOR's one-word record */
};

struct floor_words {
	_Alignas(64) _Atomic uint64_t usage;
	struct floor_line proc[MAX_PROCS];
	/* M_LANE_FLOOR's other shared words, as the segments have them:
	 * the state word (retired flag) and the limit on read-mostly
	 * lines, the release's wake-up counts on another. */
	_Alignas(64) _Atomic uint64_t state_word;
	_Atomic uint32_t limit;
	_Atomic uint64_t share_deadline;	/* M_INLINE_FLOOR: 0, local */
	_Alignas(64) _Atomic uint32_t waiters;
	_Atomic uint32_t pickers;
	_Atomic uint64_t queued;	/* M_INLINE_FLOOR: the queue hint */
};

/* The primitives capbroker is compared with, made before any fork(). */
struct bench_prims {
	sem_t *psem;			/* in a shared anonymous mapping */
	_Atomic uint64_t *raw_word;	/* the same mapping, another line */
	struct floor_words *floor;	/* shared anonymous mapping */
	int semid;			/* SysV; -1: none */
	char lockpath[PATH_MAX];	/* the flock counter's file */
};

/* Everything one run works with.  main() owns it. */
struct bench {
	const struct bench_opts *opt;
	struct bench_procs procs;
	struct bench_peers peers;
	struct bench_prims prims;
	int torn_down;
};

void bench_init(struct bench *b, const struct bench_opts *opt);
int bench_setup(struct bench *b, char *err, size_t cap);
void bench_teardown(struct bench *b);
int shm_leftovers(const char *name);

int broker_start(struct bench *b, char *err, size_t cap);
/* Is pool global for real (a valid share of all of limit, hold aging
 * on), within wait_ms (0: now)?  0, or -errno with why not in err. */
int pool_global_ready(const struct bench_peers *p, const char *pool,
    uint32_t limit, int wait_ms, char *err, size_t cap);
int ctl(struct bench_peers *p, char *reply, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

int redis_start(struct bench *b);
int etcd_start(struct bench *b);
void redis_reset(const struct bench_peers *p);
int redis_cmd(struct reader *r, long long *ival, char *str, size_t cap,
    int argc, const char *const *argv);

/* ----------------------------------------------------------------- */
/* methods.c: one pair = take one unit if the limit allows, give it back. */

struct method_arg {
	enum method meth;
	int kind;		/* M_CB: CB_HOLD or CB_LAUNCH */
	const char *pool;	/* M_CB: pool name */
	int timeout_ms;		/* 0: try once; > 0: block (section 7) */
	long hold_ns, think_ns;	/* busy time inside / between pairs */
	int limit;		/* the semaphore's limit (not M_CB) */
	const struct bench_peers *peers;
	struct bench_prims *prims;
};

/* One throughput measurement: a group of processes doing pairs. */
struct tput {
	int done;		/* 1 when measured */
	double ops_s;		/* pairs per second, all processes together */
	double ns_pair;		/* ns per pair, mean over the processes */
	double fairness;	/* max/min pairs per process; 0: one got none */
	uint64_t refused;	/* refused attempts (over the limit) */
	uint64_t waits;		/* section 7: blocking reserves timed */
	double wait_p99_us;	/* ... their 99th percentile wait */
	double wait_max_us;	/* ... and the longest */
};

int prims_create(struct bench_prims *pr, const char *rundir, char *err,
    size_t cap);
void prims_destroy(struct bench_prims *pr);
int measure(struct bench *b, const struct method_arg *a, int procs,
    struct tput *out);

/* ----------------------------------------------------------------- */
/* sections_*.c: what each section measured. */

struct section_result {
	enum status st;
	char why[200];		/* why it failed or was skipped; a note */
};

struct read_row {
	double raw, word, oneload, current;	/* ns per read */
};

struct lat {
	int samples;
	double p50, p99, max;	/* microseconds */
};

struct pub_row {
	int want, have;		/* workers asked for, registered */
	double set_p50, set_p99, ping_p50;	/* round trips, us */
	double bound;		/* set_p50 - ping_p50, us */
	double model;		/* in-process tier + copy, us */
};

struct machine_info {
	char cpu_model[128];
	int ncpu;
	char kernel[128];
	char load_start[64], load_end[64];	/* /proc/loadavg: a busy
						   machine explains noise */
};

struct bench_results {
	struct section_result sec[S_COUNT];
	struct machine_info machine;
	int redis_ok;			/* copied from the peers: the */
	char redis_why[160];		/* Redis target's note */
	char etcd_why[160];		/* the global pool's, "" if measured */
	struct read_row read[MAX_COUNTS];
	struct tput hold[M_COUNT][MAX_COUNTS];
	/* M_CB_GLOBAL's local twin: M_CB on a fixed pool like its own,
	 * measured just before it at each count. */
	struct tput hold_local[MAX_COUNTS];
	/* One CLOCK_MONOTONIC_COARSE read (ns, best of 5 x 1M, in
	 * capbench itself), measured with them: the global pool's bar. */
	double coarse_read_ns;
	struct tput launch[MAX_COUNTS];
	struct tput contend[2][MAX_COUNTS];	/* capbroker, POSIX sem */
	int contend_limit[MAX_COUNTS];
	struct lat watch[MAX_COUNTS];
	struct pub_row pub[MAX_SIZES];
	int npub;
	double verb_ping, verb_status, verb_set;	/* us, p50 */
	struct lat reclaim;
	int shm_left;
};

typedef void section_fn(struct bench *b, struct bench_results *res);

void set_why(struct section_result *s, enum status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

section_fn section_read, section_hold, section_launch, section_contend;
section_fn section_watch, section_publish, section_reclaim;

/* ----------------------------------------------------------------- */
/* report.c, report_json.c: targets and the three output formats. */

struct target {
	const char *name, *goal;
	double value;		/* the measured ratio or value */
	const char *unit;	/* "x" for ratios */
	int met;		/* 1 met, 0 missed, -1 not measured */
	char note[160];
};

struct bench_targets {
	struct target t[16];
	int n;
};

double ratio(double a, double b);
void evaluate(const struct bench_opts *opt, const struct bench_results *res,
    struct bench_targets *tg);
void print_human(const struct bench_opts *opt,
    const struct bench_results *res, const struct bench_targets *tg);
int write_json(const char *path, const struct bench_opts *opt,
    const struct bench_results *res, const struct bench_targets *tg);
int write_dat(const char *path, const struct bench_opts *opt,
    const struct bench_results *res);

#endif /* CAPBENCH_H */
