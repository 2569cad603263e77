/*
 * capdump.c - read-only inspector of a capbroker instance's segments.
 *
 * capdump maps the state and slots segments with CB_OPEN_RDONLY and
 * prints what it finds: the state word, the broker's identity and
 * liveness, the seqlock-protected settings, counters and worker table,
 * and the event ring.  It never writes shared memory, takes no locks
 * and never talks to the broker, so it is safe to point at a busy
 * broker, a hung one, or the segments a dead one left behind:
 *
 *   - the state word is one acquire load, so capacity and source are
 *     never seen torn;
 *   - every multi-word block is copied with the lib/snapshot.h readers,
 *     which give up with -EAGAIN instead of spinning when a writer died
 *     mid-write; capdump then warns and reports that block as
 *     unavailable (null in JSON) rather than waiting;
 *   - every byte read from a segment is hostile: strings are bounded
 *     by their field and escaped for the output format, so a corrupt
 *     worker id can neither break the JSON nor drive the terminal.
 *
 * Gathering and printing are separate: gather() fills a struct dump and
 * one printer per format (human, JSON, Prometheus) renders it.  --watch
 * compares successive dumps to decide what is worth printing.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "abi.h"
#include "capbroker.h"
#include "client_internal.h"
#include "reserve.h"
#include "segment.h"
#include "snapshot.h"

/* Exit status; EX_USAGE (64) and EX_IOERR (74) come from sysexits.h. */
#define EXIT_HEALTHY	0
#define EXIT_STALE	1	/* broker stale, stopped, gone, or retired */
#define EXIT_ATTACH	2	/* cannot attach to the segments */

#define HUMAN_EVENTS	16	/* events in the human report */
#define WATCH_PERIOD_MS	1000	/* redraw at least this often */
/*
 * cb_watch() retries EINTR on its own, so a signal alone cannot cut a
 * wait short; waiting in short slices bounds how long SIGINT takes.
 */
#define WATCH_SLICE_MS	100
#define MAX_WARNINGS	8
#define WARNING_MAX	192
#define POOL_NAME_MAX	63
#define HUMAN_LAUNCHES	50	/* launch entries in the human report */
/* Worst case of human_safe(): every byte becomes "\xHH". */
#define SAFE_SIZE(n)	(4 * (n) + 1)

enum format { FMT_HUMAN, FMT_JSON, FMT_PROMETHEUS };

struct options {
	const char *name;
	enum format format;
	int watch;
};

/*
 * One active pool (see gather_pools()): the broker's definition, limit
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
	uint64_t admitted;
	uint64_t rejected;
	uint64_t stale_releases;
	uint64_t reclaimed;
	uint64_t expired;
	uint64_t repaired;
};

/* One attached client of the reservation table (see gather_clients()). */
struct client_row {
	uint32_t index;
	uint32_t pid;
	uint64_t held;			/* sum over active pools: no overflow */
	uint32_t in_flight;		/* open death windows (reserve.h) */
	uint32_t reserved;
};

/* One live waiter of a pool's queue (see gather_waiters()). */
struct waiter_row {
	uint64_t ticket;		/* arrival ticket */
	uint32_t entry;
	uint32_t pool;
	uint32_t client;
	uint32_t pid;
	int32_t priority;
	uint32_t position;		/* live waiters ahead; 0 = head */
};

/* One claimed or live launch reservation (see gather_launches()). */
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
 * Where the slots segment's tables are.  Any client may write that
 * segment, its header included, so its region table is copied once,
 * right after cb_open() validated it, and checked again here; records
 * are located through the copy, never through the live header, so a
 * client that rewrites an offset cannot make capdump read outside the
 * mapping.
 */
struct slots_geom {
	int ok;
	char why[WARNING_MAX];		/* !ok: what was wrong */
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

	int info_ok;
	struct cb_info info;

	int workers_ok;
	struct cb_worker_rec *workers;
	uint32_t nworkers;
	/* Per worker: holds bound to it (its placement slot's counter in
	 * the slots segment), -1 when unknown. */
	int64_t *worker_inflight;

	struct cb_event_rec events[CB_EVENT_RING];
	size_t nevents;

	uint64_t now_ns;		/* CLOCK_MONOTONIC at gather time */
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

static volatile sig_atomic_t stop_requested;

static void usage_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));
static void add_warning(struct dump *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ------------------------------------------------------------------ */
/* Command line                                                        */

static const char help_text[] =
"NAME\n"
"     capdump - inspect a capbroker instance's shared memory, read-only\n"
"\n"
"SYNOPSIS\n"
"     capdump [-n NAME] [--json | --prometheus] [--watch]\n"
"     capdump -h | --help\n"
"     capdump -V | --version\n"
"\n"
"DESCRIPTION\n"
"     capdump maps the shared-memory segments of the capbroker instance\n"
"     NAME read-only and prints the published capacity with its source\n"
"     tier, generation and flags; the broker's pid, epoch and liveness;\n"
"     its settings and counters; the published worker table; the\n"
"     reservation table: every active pool (limit, observation, window,\n"
"     units held and launching, admission and repair counters), every\n"
"     attached client (pid, units held, operations in flight) and every\n"
"     launch reservation (pool, client, time to expiry; negative once\n"
"     overdue); and the recent events.  The human report lists the\n"
"     first 50 launch reservations; --json lists them all.\n"
"\n"
"     The reservation table lives in the slots segment, which every\n"
"     client may write.  capdump bounds-checks what it reads there and\n"
"     warns about what cannot be right (a launch naming no active\n"
"     pool, a header rewritten after attach), but the numbers are only\n"
"     as honest as the clients.\n"
"\n"
"     capdump never writes shared memory, takes no locks and does not\n"
"     talk to the broker, so it works against a busy, hung or dead\n"
"     broker.  The broker counts as stale when it stopped, its process\n"
"     is gone, its heartbeat is older than 2 s, or its segment was\n"
"     retired.  A block that cannot be copied consistently (its writer\n"
"     died mid-update) is reported as unavailable with a warning;\n"
"     capdump never waits for it.\n"
"\n"
"OPTIONS\n"
"     -n, --name NAME\n"
"             The instance to inspect (default \"default\"): 1 to 31 of\n"
"             A-Z a-z 0-9 . _ -.\n"
"\n"
"     -j, --json\n"
"             Print one JSON object on one line.  Blocks that could not\n"
"             be read are null and explained in \"warnings\".  Event\n"
"             times are Unix seconds; the whole event ring is included.\n"
"\n"
"     -p, --prometheus\n"
"             Print the Prometheus text exposition format (for example\n"
"             for the node_exporter textfile collector); every sample is\n"
"             labelled instance=\"NAME\".\n"
"\n"
"     -w, --watch\n"
"             Keep running: print, then print again when the published\n"
"             state changes and at least once a second (heartbeat and\n"
"             liveness change on their own; so do reservations, which\n"
"             are seen at the next redraw).  On a terminal the human\n"
"             report redraws in place.  With --json, print one object\n"
"             per line (NDJSON), and only when something besides the\n"
"             heartbeat age changed.  If the broker is replaced by one\n"
"             with new segments, capdump follows it.  SIGINT or SIGTERM\n"
"             ends the watch with exit status 0.\n"
"\n"
"     -h, --help\n"
"             Print this text and exit.\n"
"\n"
"     -V, --version\n"
"             Print the version and the segment ABI and exit.\n"
"\n"
"EXIT STATUS\n"
"     0    The broker is alive (with --watch: ended by a signal).\n"
"     1    The broker is stale, stopped or gone, or its segment was\n"
"          retired.  The full dump is still printed, marked stale.\n"
"     2    Cannot attach: no such instance, permission denied, or an\n"
"          incompatible or corrupt segment.\n"
"     64   Usage error.\n"
"     74   Error writing standard output.\n"
"\n"
"ENVIRONMENT\n"
"     TZ   Time zone of the event times in the human report.\n"
"\n"
"     capdump reads no CAPBROKER_* variable: the segments are POSIX\n"
"     shared memory, found by name, not in CAPBROKER_RUNDIR.\n"
"\n"
"FILES\n"
"     /dev/shm/capbroker.NAME.state   written by the broker only\n"
"     /dev/shm/capbroker.NAME.slots   written by clients\n"
"\n"
"EXAMPLES\n"
"     Is the default broker healthy?\n"
"           capdump >/dev/null && echo healthy\n"
"\n"
"     Capacity and source of instance gw, from a script:\n"
"           capdump -n gw --json | jq -r '.capacity, .source'\n"
"\n"
"     Follow changes as NDJSON:\n"
"           capdump -n gw --json --watch\n"
"\n"
"     Feed the node_exporter textfile collector:\n"
"           capdump --prometheus > capbroker.prom.tmp &&\n"
"               mv capbroker.prom.tmp capbroker.prom\n"
"\n"
"SEE ALSO\n"
"     capbrokerd(8), capctl(1)\n";

static void usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("capdump: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nusage: capdump [-n NAME] [--json | --prometheus] [--watch]\n"
	    "Try 'capdump --help' for more information.\n", stderr);
	exit(EX_USAGE);
}

static void set_format(struct options *o, enum format f)
{
	if (o->format != FMT_HUMAN && o->format != f)
		usage_error("--json and --prometheus are mutually exclusive");
	o->format = f;
}

/* One option from getopt_long(); exits for --help, --version and errors. */
static void apply_option(struct options *o, int ch, char **argv)
{
	switch (ch) {
	case 'n':
		o->name = optarg;
		break;
	case 'j':
		set_format(o, FMT_JSON);
		break;
	case 'p':
		set_format(o, FMT_PROMETHEUS);
		break;
	case 'w':
		o->watch = 1;
		break;
	case 'h':
		fputs(help_text, stdout);
		exit(EXIT_HEALTHY);
	case 'V':
		printf("capdump (capbroker) %d.%d, segment ABI %d.%d\n",
		    CB_VERSION_MAJOR, CB_VERSION_MINOR, CB_ABI_MAJOR,
		    CB_ABI_MINOR);
		exit(EXIT_HEALTHY);
	case ':':
		usage_error("option '%s' needs an argument", argv[optind - 1]);
	default:
		/* optopt names a short option even inside "-jx". */
		if (optopt != 0)
			usage_error("unknown option '-%c'", optopt);
		usage_error("unknown option '%s'", argv[optind - 1]);
	}
}

static void parse_args(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{ "name", required_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'j' },
		{ "prometheus", no_argument, NULL, 'p' },
		{ "watch", no_argument, NULL, 'w' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	o->name = "default";
	/* Our own messages, with the usage hint, instead of getopt's. */
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":n:jpwhV", longopts,
	    NULL)) != -1)
		apply_option(o, ch, argv);
	if (optind < argc)
		usage_error("unexpected argument '%s'", argv[optind]);
	if (!cb_name_valid(o->name))
		usage_error("bad instance name '%s' (1-%d of A-Z a-z 0-9 . _ "
		    "-)", o->name, CB_NAME_MAX);
}

/* ------------------------------------------------------------------ */
/* Small helpers                                                       */

static void add_warning(struct dump *d, const char *fmt, ...)
{
	va_list ap;

	if (d->nwarnings == MAX_WARNINGS)
		return;
	va_start(ap, fmt);
	vsnprintf(d->warning[d->nwarnings++], WARNING_MAX, fmt, ap);
	va_end(ap);
}

/* Length of a NUL-padded fixed-size field that may lack its NUL. */
static size_t field_len(const char *s, size_t size)
{
	const char *nul = memchr(s, '\0', size);

	return nul != NULL ? (size_t)(nul - s) : size;
}

/*
 * Copy len bytes of s into buf (SAFE_SIZE(len) bytes), printable ASCII
 * as is and anything else as \xHH, so a hostile string cannot send
 * escape sequences to the terminal.
 */
static const char *human_safe(char *buf, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	char *p = buf;

	for (size_t i = 0; i < len && s[i] != '\0'; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch >= 0x20 && ch < 0x7f && ch != '\\') {
			*p++ = (char)ch;
			continue;
		}
		*p++ = '\\';
		*p++ = 'x';
		*p++ = hex[ch >> 4];
		*p++ = hex[ch & 0xf];
	}
	*p = '\0';
	return buf;
}

/* "YYYY-MM-DD HH:MM:SS" local time of a CLOCK_REALTIME ns value. */
static const char *format_time(char *buf, size_t size, uint64_t ns)
{
	time_t t = (time_t)(ns / 1000000000u);
	struct tm tm;

	if (ns == 0 || localtime_r(&t, &tm) == NULL ||
	    strftime(buf, size, "%Y-%m-%d %H:%M:%S", &tm) == 0)
		snprintf(buf, size, "-");
	return buf;
}

static const char *worker_state_name(uint32_t state)
{
	switch (state) {
	case CB_WORKER_READY:
		return "ready";
	case CB_WORKER_NOT_READY:
		return "not_ready";
	case CB_WORKER_DRAINING:
		return "draining";
	default:
		return "unknown";
	}
}

static const char *event_type_name(uint32_t type)
{
	switch (type) {
	case CB_EV_PUBLISH:
		return "publish";
	case CB_EV_START:
		return "start";
	case CB_EV_STOP:
		return "stop";
	case CB_EV_OVERRIDE_REJECTED:
		return "override_rejected";
	default:
		return "unknown";
	}
}

/* The state-word flags and the header's retired flag, as one set. */
static unsigned dump_flags(const struct dump *d)
{
	unsigned f = CB_STATE_FLAGS(d->state_word);

	if (d->retired)
		f |= CB_STATE_F_RETIRED;
	return f;
}

/* ------------------------------------------------------------------ */
/* Gathering                                                           */

static void gather_header(cb_client *c, struct dump *d)
{
	const struct cb_seg_header *h = cb_client_state(c);

	/* cb_open() validated the name is terminated and ours. */
	snprintf(d->name, sizeof(d->name), "%s", h->name);
	d->abi_major = h->abi_major;
	d->abi_minor = h->abi_minor;
	d->instance = h->instance;
	d->retired = atomic_load_explicit(&h->retired,
	    memory_order_acquire) != 0;
	d->state_word = cb_state_load(cb_state_word(c));
}

static void gather_broker(cb_client *c, struct dump *d)
{
	const struct cb_seg_header *h = cb_client_state(c);
	uint64_t beat, now;

	d->ident_ok = cb_snapshot_ident(h, &d->ident) == 0;
	if (d->ident_ok) {
		d->check = cb_broker_check(c);
		if (d->check < 0)
			snprintf(d->reason, sizeof(d->reason), "%s",
			    cb_errmsg(c));
	} else {
		/*
		 * cb_broker_check() re-reads the identity with a loop that
		 * never gives up, so with the sequence stuck odd it would
		 * hang us; a broker that died mid-write is stale anyway.
		 */
		add_warning(d, "broker identity: no stable copy (the broker "
		    "died while writing it?)");
		d->check = -EAGAIN;
		snprintf(d->reason, sizeof(d->reason), "broker identity "
		    "unreadable (seqlock stuck: writer died mid-write)");
	}
	/* Relaxed: the heartbeat orders nothing else (abi.h). */
	beat = atomic_load_explicit(&h->heartbeat_ns, memory_order_relaxed);
	now = cb_monotonic_ns();
	if (beat == 0)
		d->heartbeat_age_ms = -1;
	else
		d->heartbeat_age_ms = now > beat ?
		    (int64_t)((now - beat) / 1000000u) : 0;
}

static void gather_info(cb_client *c, struct dump *d)
{
	d->info_ok = cb_snapshot_info(cb_client_state(c), &d->info) == 0;
	if (!d->info_ok) {
		memset(&d->info, 0, sizeof(d->info));
		add_warning(d, "settings and counters: no stable copy (the "
		    "publisher died mid-write?)");
	}
}

static void gather_workers(cb_client *c, struct dump *d)
{
	d->workers = calloc(CB_MAX_WORKERS, sizeof(*d->workers));
	if (d->workers == NULL) {
		add_warning(d, "worker table: out of memory");
		return;
	}
	d->workers_ok = cb_snapshot_workers(cb_client_state(c), d->workers,
	    CB_MAX_WORKERS, &d->nworkers) == 0;
	if (!d->workers_ok) {
		d->nworkers = 0;
		add_warning(d, "worker table: no stable copy (the publisher "
		    "died mid-write?)");
	}
}

static void gather_events(cb_client *c, struct dump *d)
{
	d->nevents = cb_snapshot_events(cb_client_state(c), d->events,
	    CB_EVENT_RING);
}

/* ------------------------------------------------------------------ */
/* The reservation table (slots segment: hostile)                      */

/* Minimum record size and count of each slots table, as validated by
 * cb_seg_validate(): a count of at least CB_MAX_* means every index a
 * launch word or holds[] can name is in range. */
static const struct {
	uint32_t stride;
	uint32_t count;
} slots_need[CB_RL_COUNT] = {
	[CB_RL_HOT] = { 0, 0 },
	[CB_RL_CLIENTS] = { sizeof(struct cb_client_slot), CB_MAX_CLIENTS },
	[CB_RL_POOLS] = { sizeof(struct cb_pool_slot), CB_MAX_POOLS },
	[CB_RL_LAUNCHES] = { sizeof(struct cb_launch_slot), CB_MAX_LAUNCHES },
	[CB_RL_WAITERS] = { sizeof(struct cb_waiter_slot), CB_MAX_WAITERS },
	[CB_RL_WORKERS] = { sizeof(struct cb_worker_slot), CB_MAX_WORKERS },
	[CB_RL_BINDS] = { sizeof(struct cb_bind_slot), CB_MAX_BINDS },
};

/* 0 if the copied region i fits the segment; else says why in g. */
static int slots_region_check(struct slots_geom *g, unsigned i)
{
	const struct cb_region *r = &g->region[i];
	uint64_t end;

	if (slots_need[i].stride == 0)
		return 0;
	end = r->offset + (uint64_t)r->count * r->stride;
	if (r->offset % 8 != 0 || r->stride % 8 != 0 ||
	    r->stride < slots_need[i].stride ||
	    r->count < slots_need[i].count || r->offset > g->total_size ||
	    end < r->offset || end > g->total_size) {
		snprintf(g->why, sizeof(g->why), "slots segment region %u "
		    "(offset %" PRIu64 ", %" PRIu32 " x %" PRIu32 " bytes) "
		    "does not fit its %" PRIu64 " bytes", i, r->offset,
		    r->count, r->stride, g->total_size);
		return -1;
	}
	return 0;
}

/* Copy and check the slots region table; right after cb_open(). */
static void slots_geom_init(cb_client *c, struct slots_geom *g)
{
	const struct cb_seg_header *h = cb_client_slots(c);

	memset(g, 0, sizeof(*g));
	if (h == NULL) {
		snprintf(g->why, sizeof(g->why), "slots segment not readable "
		    "(permission: the broker's group)");
		return;
	}
	g->total_size = h->total_size;
	memcpy(g->region, h->region, sizeof(g->region));
	for (unsigned i = 0; i < CB_RL_COUNT; i++)
		if (slots_region_check(g, i) < 0)
			return;
	g->ok = 1;
}

/* Record i of slots table idx; i < g->region[idx].count (checked by
 * the caller). */
static const void *slots_record(cb_client *c, const struct slots_geom *g,
    unsigned idx, uint32_t i)
{
	return (const char *)cb_client_slots(c) + g->region[idx].offset +
	    (uint64_t)i * g->region[idx].stride;
}

/* Entries of slots table idx we read: never beyond what this build's
 * index fields can name, nor beyond the copied count. */
static uint32_t slots_count(const struct slots_geom *g, unsigned idx)
{
	return g->region[idx].count < slots_need[idx].count ?
	    g->region[idx].count : slots_need[idx].count;
}

/* Warn if a client rewrote the slots header since we copied it. */
static void slots_geom_recheck(cb_client *c, const struct slots_geom *g,
    struct dump *d)
{
	const struct cb_seg_header *h = cb_client_slots(c);

	if (!g->ok) {
		add_warning(d, "%s; pools, clients and launches not shown",
		    g->why);
		return;
	}
	if (h->total_size != g->total_size ||
	    memcmp(h->region, g->region, sizeof(g->region)) != 0)
		add_warning(d, "slots segment header changed after attach "
		    "(a client wrote it?); using the layout seen at attach");
}

static void pool_row_fill(cb_client *c, const struct slots_geom *g,
    const struct dump *d, uint32_t i, struct pool_row *row)
{
	const struct cb_pool_conf *conf = cb_seg_record(cb_client_state(c),
	    CB_RS_POOLS, 0, i);
	const struct cb_pool_slot *slot = slots_record(c, g, CB_RL_POOLS, i);
	uint64_t usage;

	row->index = i;
	/* Pool 0 follows the capacity: the one shown above, not a copy
	 * the publisher may store a moment later. */
	row->limit = i == 0 ? CB_STATE_CAPACITY(d->state_word) :
	    atomic_load_explicit(&conf->limit, memory_order_acquire);
	row->observed = atomic_load_explicit(&conf->observed,
	    memory_order_relaxed);
	row->reclaimed = atomic_load_explicit(&conf->reclaimed,
	    memory_order_relaxed);
	row->expired = atomic_load_explicit(&conf->expired,
	    memory_order_relaxed);
	row->repaired = atomic_load_explicit(&conf->repaired,
	    memory_order_relaxed);
	/* One load: held and launching from the same instant. */
	usage = atomic_load_explicit(&slot->usage, memory_order_relaxed);
	row->held = CB_USAGE_HELD(usage);
	row->launching = CB_USAGE_LAUNCHING(usage);
	row->admitted = atomic_load_explicit(&slot->admitted,
	    memory_order_relaxed);
	row->rejected = atomic_load_explicit(&slot->rejected,
	    memory_order_relaxed);
	row->stale_releases = atomic_load_explicit(&slot->stale_releases,
	    memory_order_relaxed);
}

/*
 * The active pools.  Definitions come from the state segment under
 * their seqlock (a definition whose writer died mid-write is skipped
 * with a warning); usage from the slots segment, as read.
 */
static void gather_pools(cb_client *c, const struct slots_geom *g,
    struct dump *d)
{
	const struct cb_seg_header *sh = cb_client_state(c);
	uint32_t n = slots_count(g, CB_RL_POOLS);
	struct cb_pool_def def;
	int r;

	if (sh->region[CB_RS_POOLS].count < n)
		n = sh->region[CB_RS_POOLS].count;
	if ((d->pools = calloc(n, sizeof(*d->pools))) == NULL) {
		add_warning(d, "pools: out of memory");
		return;
	}
	for (uint32_t i = 0; i < n; i++) {
		r = cb_snapshot_pool(sh, (int)i, &def);
		if (r == -EAGAIN)
			add_warning(d, "pool %" PRIu32 ": no stable definition "
			    "(the publisher died mid-write?)", i);
		if (r < 0 || !(def.flags & CB_POOL_F_ACTIVE))
			continue;
		struct pool_row *row = &d->pools[d->npools++];

		memcpy(row->name, def.name, field_len(def.name,
		    sizeof(def.name)));
		row->kind = def.kind;
		row->window_ms = def.window_ms;
		pool_row_fill(c, g, d, i, row);
		d->pools_active |= 1ull << i;
	}
}

/* Holds of client slot cs in active pools; 64-bit, so a hostile
 * count cannot wrap the sum. */
static uint64_t client_holds(const struct cb_client_slot *cs,
    uint64_t active)
{
	uint64_t sum = 0;

	for (unsigned p = 0; p < CB_MAX_POOLS; p++)
		if (active & (1ull << p))
			sum += atomic_load_explicit(&cs->holds[p],
			    memory_order_relaxed);
	return sum;
}

/* Every client-table entry with an owner (pid != 0). */
static void gather_clients(cb_client *c, const struct slots_geom *g,
    struct dump *d)
{
	uint32_t n = slots_count(g, CB_RL_CLIENTS);
	const struct cb_client_slot *cs;
	uint64_t owner;

	if ((d->clients = calloc(n, sizeof(*d->clients))) == NULL) {
		add_warning(d, "clients: out of memory");
		return;
	}
	for (uint32_t i = 0; i < n; i++) {
		cs = slots_record(c, g, CB_RL_CLIENTS, i);
		owner = atomic_load_explicit(&cs->owner, memory_order_acquire);
		if (CB_OWNER_PID(owner) == 0)
			continue;
		struct client_row *row = &d->clients[d->nclients++];

		row->index = i;
		row->pid = CB_OWNER_PID(owner);
		row->held = client_holds(cs, d->pools_active);
		row->in_flight = CB_SEQ_INFLIGHT(atomic_load_explicit(&cs->seq,
		    memory_order_relaxed));
	}
}

/* Milliseconds from now to deadline, negative when it has passed;
 * computed without a signed overflow whatever the deadline holds. */
static int64_t ms_until(uint64_t deadline, uint64_t now)
{
	if (deadline >= now)
		return (int64_t)((deadline - now) / 1000000u);
	return -(int64_t)((now - deadline) / 1000000u);
}

/*
 * Launch entries being claimed or live.  The pool and client a word
 * names are client-written: one naming no active pool, or a client
 * index beyond the table, is still listed (it counts against nothing
 * we can name) and counted in a warning.
 */
static void gather_launches(cb_client *c, const struct slots_geom *g,
    struct dump *d)
{
	uint32_t n = slots_count(g, CB_RL_LAUNCHES), odd = 0;
	const struct cb_launch_slot *ls;
	uint64_t w;

	if ((d->launches = calloc(n, sizeof(*d->launches))) == NULL) {
		add_warning(d, "launches: out of memory");
		return;
	}
	for (uint32_t e = 0; e < n; e++) {
		ls = slots_record(c, g, CB_RL_LAUNCHES, e);
		/* Acquire: pairs with the claimer's release store of LIVE,
		 * so the deadline it stored before is the one read next. */
		w = atomic_load_explicit(&ls->word, memory_order_acquire);
		if (CB_LAUNCH_STATE(w) != CB_LAUNCH_CLAIMING &&
		    CB_LAUNCH_STATE(w) != CB_LAUNCH_LIVE)
			continue;
		struct launch_row *row = &d->launches[d->nlaunches++];

		row->word = w;
		row->deadline_ns = atomic_load_explicit(&ls->deadline_ns,
		    memory_order_relaxed);
		row->expires_in_ms = ms_until(row->deadline_ns, d->now_ns);
		row->entry = e;
		row->pool = CB_LAUNCH_POOL(w);
		row->client = CB_LAUNCH_CLIENT(w);
		row->state = CB_LAUNCH_STATE(w);
		odd += !(d->pools_active & (1ull << row->pool)) ||
		    row->client >= slots_count(g, CB_RL_CLIENTS);
	}
	if (odd > 0)
		add_warning(d, "%" PRIu32 " launch entries name an inactive "
		    "pool or a client beyond the table", odd);
}

/* The name of active pool index, or NULL. */
static const char *pool_name(const struct dump *d, uint32_t index)
{
	for (size_t i = 0; i < d->npools; i++)
		if (d->pools[i].index == index)
			return d->pools[i].name;
	return NULL;
}

static const char *pool_kind_name(uint32_t kind)
{
	switch (kind) {
	case CB_LIMIT_CAPACITY:
		return "capacity";
	case CB_LIMIT_FIXED:
		return "fixed";
	case CB_LIMIT_SHARE:
		return "share";
	default:
		return "unknown";
	}
}

static const char *launch_state_name(uint32_t state)
{
	return state == CB_LAUNCH_LIVE ? "live" : "claiming";
}

/*
 * Each published worker's in-flight count: its placement slot's
 * counter (lib/place.h), client-written, so shown as read.
 */
static void gather_worker_inflight(cb_client *c, const struct slots_geom *g,
    struct dump *d)
{
	const struct cb_worker_slot *ws;

	if (d->nworkers == 0 || (d->worker_inflight = calloc(d->nworkers,
	    sizeof(*d->worker_inflight))) == NULL)
		return;
	for (uint32_t i = 0; i < d->nworkers; i++) {
		d->worker_inflight[i] = -1;
		if (d->workers[i].slot >= slots_count(g, CB_RL_WORKERS))
			continue;
		ws = slots_record(c, g, CB_RL_WORKERS, d->workers[i].slot);
		d->worker_inflight[i] = atomic_load_explicit(&ws->inflight,
		    memory_order_relaxed);
	}
}

/* Queue order (queue.h): pool, then priority high to low, ticket,
 * entry. */
static int waiter_cmp(const void *pa, const void *pb)
{
	const struct waiter_row *a = pa, *b = pb;

	if (a->pool != b->pool)
		return a->pool < b->pool ? -1 : 1;
	if (a->priority != b->priority)
		return a->priority > b->priority ? -1 : 1;
	if (a->ticket != b->ticket)
		return a->ticket < b->ticket ? -1 : 1;
	return a->entry < b->entry ? -1 : a->entry > b->entry;
}

/*
 * The live waiters of every pool's queue: WAITING entries whose owner
 * word is still their client entry's (queue.h), read without writing
 * (capdump never prunes).  Positions are computed here from one pass,
 * so they are consistent with each other if not with the instant.
 */
static void gather_waiters(cb_client *c, const struct slots_geom *g,
    struct dump *d)
{
	uint32_t n = slots_count(g, CB_RL_WAITERS);
	uint32_t nc = slots_count(g, CB_RL_CLIENTS);
	const struct cb_waiter_slot *ws;
	const struct cb_client_slot *cs;
	uint64_t w, owner;

	if (n == 0 || (d->waiters = calloc(n, sizeof(*d->waiters))) == NULL)
		return;
	for (uint32_t e = 0; e < n; e++) {
		ws = slots_record(c, g, CB_RL_WAITERS, e);
		w = atomic_load_explicit(&ws->word, memory_order_seq_cst);
		if (CB_WAITER_STATE(w) != CB_WAITER_WAITING ||
		    CB_WAITER_CLIENT(w) >= nc)
			continue;
		struct waiter_row *row = &d->waiters[d->nwaiters];

		owner = atomic_load_explicit(&ws->owner, memory_order_relaxed);
		row->ticket = atomic_load_explicit(&ws->ticket,
		    memory_order_relaxed);
		row->priority = atomic_load_explicit(&ws->priority,
		    memory_order_relaxed);
		cs = slots_record(c, g, CB_RL_CLIENTS, CB_WAITER_CLIENT(w));
		if (atomic_load_explicit(&ws->word, memory_order_seq_cst) !=
		    w || CB_OWNER_PID(owner) == 0 || atomic_load_explicit(
		    &cs->owner, memory_order_seq_cst) != owner)
			continue;
		row->entry = e;
		row->pool = CB_WAITER_POOL(w);
		row->client = CB_WAITER_CLIENT(w);
		row->pid = CB_OWNER_PID(owner);
		d->nwaiters++;
	}
	qsort(d->waiters, d->nwaiters, sizeof(*d->waiters), waiter_cmp);
	for (size_t i = 0; i < d->nwaiters; i++) {
		struct waiter_row *row = &d->waiters[i];

		row->position = i > 0 && d->waiters[i - 1].pool == row->pool ?
		    d->waiters[i - 1].position + 1 : 0;
		for (size_t k = 0; k < d->npools; k++)
			if (d->pools[k].index == row->pool)
				d->pools[k].waiting++;
	}
}

static void gather_reservations(const struct target *t, struct dump *d)
{
	slots_geom_recheck(t->c, &t->slots, d);
	if (!t->slots.ok)
		return;
	gather_worker_inflight(t->c, &t->slots, d);
	gather_pools(t->c, &t->slots, d);
	gather_clients(t->c, &t->slots, d);
	gather_launches(t->c, &t->slots, d);
	gather_waiters(t->c, &t->slots, d);
}

static void gather(const struct target *t, struct dump *d)
{
	memset(d, 0, sizeof(*d));
	d->now_ns = cb_monotonic_ns();
	gather_header(t->c, d);
	gather_broker(t->c, d);
	gather_info(t->c, d);
	gather_workers(t->c, d);
	gather_events(t->c, d);
	gather_reservations(t, d);
}

static void dump_free(struct dump *d)
{
	free(d->workers);
	free(d->worker_inflight);
	free(d->pools);
	free(d->clients);
	free(d->launches);
	free(d->waiters);
	d->waiters = NULL;
	d->workers = NULL;
	d->worker_inflight = NULL;
	d->pools = NULL;
	d->clients = NULL;
	d->launches = NULL;
}

/* ------------------------------------------------------------------ */
/* Human report                                                        */

static void human_broker(const struct dump *d)
{
	char safe[SAFE_SIZE(CB_ERRMSG_MAX)];

	printf("broker      ");
	if (d->ident_ok)
		printf("pid %" PRIu32 ", epoch %" PRIu64, d->ident.pid,
		    d->ident.epoch);
	else
		printf("pid ?, epoch ?");
	if (d->check == 0)
		printf(", alive");
	else
		printf(", STALE: %s",
		    human_safe(safe, d->reason, sizeof(d->reason)));
	if (d->heartbeat_age_ms < 0)
		printf(" (no heartbeat yet)\n");
	else
		printf(" (heartbeat %" PRId64 " ms ago)\n",
		    d->heartbeat_age_ms);
}

static void human_state(const struct dump *d)
{
	unsigned f = dump_flags(d);
	uint64_t w = d->state_word;

	printf("capacity    %u, source %s, generation %" PRIu32 ", flags %s\n",
	    CB_STATE_CAPACITY(w), cb_source_name(CB_STATE_SOURCE(w)),
	    CB_STATE_GENERATION(w),
	    (f & CB_STATE_F_STOPPING) && (f & CB_STATE_F_RETIRED) ?
	    "stopping,retired" : f & CB_STATE_F_STOPPING ? "stopping" :
	    f & CB_STATE_F_RETIRED ? "retired" : "none");
}

static void human_info(const struct dump *d)
{
	const struct cb_info *i = &d->info;
	char when[32];

	if (!d->info_ok) {
		printf("settings    unavailable\ncounters    unavailable\n");
		return;
	}
	printf("settings    override %" PRIu32 "%s, slots_per_worker %" PRIu32
	    ", legacy_max %" PRIu32 "\n", i->override,
	    i->override == 0 ? " (derive)" : "", i->slots_per_worker,
	    i->legacy_max);
	printf("fleet       %" PRIu32 " workers, %" PRIu32 " ready, %" PRIu32
	    " reporting\n", i->workers_total, i->workers_ready,
	    i->workers_reporting);
	printf("counters    publishes %" PRIu64 ", capacity changes %" PRIu64
	    ", source changes %" PRIu64 ",\n            override rejects %"
	    PRIu64 ", registry events %" PRIu64 "\n", i->publishes,
	    i->capacity_changes, i->source_changes, i->override_rejects,
	    i->events);
	printf("published   %s\n", format_time(when, sizeof(when),
	    i->published_ns));
}

static void human_workers(const struct dump *d)
{
	char safe[SAFE_SIZE(CB_WORKER_ID_MAX + 1)];
	int width = 2;

	if (!d->workers_ok) {
		printf("\nWORKERS\n  unavailable\n");
		return;
	}
	printf("\nWORKERS (%" PRIu32 ")\n", d->nworkers);
	if (d->nworkers == 0) {
		printf("  none\n");
		return;
	}
	for (uint32_t i = 0; i < d->nworkers; i++) {
		const struct cb_worker_rec *r = &d->workers[i];
		int n = (int)strlen(human_safe(safe, r->id, field_len(r->id,
		    sizeof(r->id))));

		if (n > width)
			width = n;
	}
	printf("  %-*s  %-9s  %s  %s\n", width, "ID", "STATE", "MAX_RUNNING",
	    "INFLIGHT");
	for (uint32_t i = 0; i < d->nworkers; i++) {
		const struct cb_worker_rec *r = &d->workers[i];
		int64_t in = d->worker_inflight != NULL ?
		    d->worker_inflight[i] : -1;

		human_safe(safe, r->id, field_len(r->id, sizeof(r->id)));
		printf("  %-*s  %-9s  ", width, safe,
		    worker_state_name(r->state));
		if (r->max_running == 0)
			printf("%11s  ", "-");
		else
			printf("%11" PRIu32 "  ", r->max_running);
		if (in < 0)
			printf("%8s\n", "-");
		else
			printf("%8" PRId64 "\n", in);
	}
}

/* Width of the widest pool name as human_safe() prints it. */
static int pool_name_width(const struct dump *d)
{
	char safe[SAFE_SIZE(POOL_NAME_MAX + 1)];
	int width = 4, n;		/* "NAME" */

	for (size_t i = 0; i < d->npools; i++) {
		n = (int)strlen(human_safe(safe, d->pools[i].name,
		    sizeof(d->pools[i].name)));
		if (n > width)
			width = n;
	}
	return width;
}

/* The limits and usage, then the counters, one table each: one table
 * of both would not fit a terminal. */
static void human_pools(const struct dump *d)
{
	char safe[SAFE_SIZE(POOL_NAME_MAX + 1)];
	int w = pool_name_width(d);
	const struct pool_row *p;

	printf("\nPOOLS (%zu)\n", d->npools);
	if (d->npools == 0) {
		printf("  none\n");
		return;
	}
	printf("  %-*s  %5s  %-8s  %5s  %8s  %8s  %4s  %9s\n", w, "NAME",
	    "INDEX", "KIND", "LIMIT", "OBSERVED", "WINDOW_S", "HELD",
	    "LAUNCHING");
	for (size_t i = 0; i < d->npools; i++) {
		p = &d->pools[i];
		printf("  %-*s  %5" PRIu32 "  %-8s  %5" PRIu32 "  %8" PRIu32
		    "  %8g  %4" PRIu32 "  %9" PRIu32 "\n", w, human_safe(safe,
		    p->name, sizeof(p->name)), p->index,
		    pool_kind_name(p->kind), p->limit, p->observed,
		    p->window_ms / 1000.0, p->held, p->launching);
	}
	printf("\n  %-*s  %8s  %8s  %14s  %9s  %7s  %8s\n", w, "NAME",
	    "ADMITTED", "REJECTED", "STALE_RELEASES", "RECLAIMED", "EXPIRED",
	    "REPAIRED");
	for (size_t i = 0; i < d->npools; i++) {
		p = &d->pools[i];
		printf("  %-*s  %8" PRIu64 "  %8" PRIu64 "  %14" PRIu64 "  %9"
		    PRIu64 "  %7" PRIu64 "  %8" PRIu64 "\n", w,
		    human_safe(safe, p->name, sizeof(p->name)), p->admitted,
		    p->rejected, p->stale_releases, p->reclaimed, p->expired,
		    p->repaired);
	}
}

static void human_clients(const struct dump *d)
{
	printf("\nCLIENTS (%zu)\n", d->nclients);
	if (d->nclients == 0) {
		printf("  none\n");
		return;
	}
	printf("  %5s  %10s  %8s  %9s\n", "INDEX", "PID", "HELD",
	    "IN_FLIGHT");
	for (size_t i = 0; i < d->nclients; i++)
		printf("  %5" PRIu32 "  %10" PRIu32 "  %8" PRIu64 "  %9" PRIu32
		    "\n", d->clients[i].index, d->clients[i].pid,
		    d->clients[i].held, d->clients[i].in_flight);
}

/* "12.345 s" or "-0.120 s" (overdue: the sweeper has not run yet). */
static const char *format_ms(char *buf, size_t size, int64_t ms)
{
	uint64_t a = ms < 0 ? (uint64_t)-(ms + 1) + 1 : (uint64_t)ms;

	snprintf(buf, size, "%s%" PRIu64 ".%03" PRIu64 " s", ms < 0 ? "-" : "",
	    a / 1000u, a % 1000u);
	return buf;
}

static void human_launches(const struct dump *d)
{
	char safe[SAFE_SIZE(POOL_NAME_MAX + 1)], pool[16], when[32];
	size_t shown = d->nlaunches < HUMAN_LAUNCHES ? d->nlaunches :
	    HUMAN_LAUNCHES;
	int w = pool_name_width(d);
	const struct launch_row *l;
	const char *name;

	printf("\nLAUNCHES (%zu)\n", d->nlaunches);
	if (d->nlaunches == 0) {
		printf("  none\n");
		return;
	}
	printf("  %5s  %-*s  %6s  %-8s  %s\n", "ENTRY", w, "POOL", "CLIENT",
	    "STATE", "EXPIRES_IN");
	for (size_t i = 0; i < shown; i++) {
		l = &d->launches[i];
		if ((name = pool_name(d, l->pool)) == NULL) {
			snprintf(pool, sizeof(pool), "#%" PRIu32, l->pool);
			name = pool;
		}
		printf("  %5" PRIu32 "  %-*s  %6" PRIu32 "  %-8s  %s\n",
		    l->entry, w, human_safe(safe, name, POOL_NAME_MAX + 1),
		    l->client, launch_state_name(l->state),
		    format_ms(when, sizeof(when), l->expires_in_ms));
	}
	if (d->nlaunches > shown)
		printf("  ... %zu more\n", d->nlaunches - shown);
}

/* What one event means, in words ("capacity 64 -> 128, ..."). */
static void human_event_text(const struct cb_event_rec *e)
{
	const char *sep = "";

	switch (e->type) {
	case CB_EV_PUBLISH:
		if (e->old_capacity != e->new_capacity) {
			printf("capacity %" PRIu32 " -> %" PRIu32,
			    e->old_capacity, e->new_capacity);
			sep = ", ";
		}
		if (e->old_source != e->new_source)
			printf("%ssource %s -> %s", sep,
			    cb_source_name((int)e->old_source),
			    cb_source_name((int)e->new_source));
		else if (sep[0] == '\0')
			printf("published capacity %" PRIu32 ", source %s",
			    e->new_capacity,
			    cb_source_name((int)e->new_source));
		break;
	case CB_EV_START:
		printf("broker pid %" PRIu64 " started", e->value);
		break;
	case CB_EV_STOP:
		printf("broker pid %" PRIu64 " stopping", e->value);
		break;
	case CB_EV_OVERRIDE_REJECTED:
		/* The value is the refused override, signed. */
		printf("override %" PRId64 " rejected (outside 0..%u)",
		    (int64_t)e->value, CB_CAPACITY_MAX);
		break;
	default:
		printf("event type %" PRIu32, e->type);
	}
}

static void human_events(const struct dump *d)
{
	size_t first = d->nevents > HUMAN_EVENTS ?
	    d->nevents - HUMAN_EVENTS : 0;
	char when[32];

	printf("\nRECENT EVENTS (%zu)\n", d->nevents - first);
	if (d->nevents == 0)
		printf("  none\n");
	for (size_t i = first; i < d->nevents; i++) {
		const struct cb_event_rec *e = &d->events[i];

		printf("  %s generation %" PRIu32 ": ", format_time(when,
		    sizeof(when), e->time_ns), e->generation);
		human_event_text(e);
		putchar('\n');
	}
}

/* Every live waiter, in queue order per pool. */
static void human_waiters(const struct dump *d)
{
	char safe[SAFE_SIZE(POOL_NAME_MAX + 1)], pool[16];
	int w = pool_name_width(d);
	const char *name;

	printf("\nWAITERS (%zu)\n", d->nwaiters);
	if (d->nwaiters == 0) {
		printf("  none\n");
		return;
	}
	printf("  %-*s  %8s  %8s  %10s  %10s  %5s\n", w, "POOL", "POSITION",
	    "PRIORITY", "TICKET", "PID", "ENTRY");
	for (size_t i = 0; i < d->nwaiters; i++) {
		const struct waiter_row *r = &d->waiters[i];

		if ((name = pool_name(d, r->pool)) == NULL) {
			snprintf(pool, sizeof(pool), "#%" PRIu32, r->pool);
			name = pool;
		} else {
			name = human_safe(safe, name, POOL_NAME_MAX + 1);
		}
		printf("  %-*s  %8" PRIu32 "  %8" PRId32 "  %10" PRIu64 "  %10"
		    PRIu32 "  %5" PRIu32 "\n", w, name, r->position,
		    r->priority, r->ticket, r->pid, r->entry);
	}
}

static void print_human(const struct dump *d)
{
	printf("instance    %s (ABI %u.%u)\n", d->name, d->abi_major,
	    d->abi_minor);
	human_broker(d);
	human_state(d);
	human_info(d);
	human_workers(d);
	human_pools(d);
	human_clients(d);
	human_launches(d);
	human_waiters(d);
	human_events(d);
	for (int i = 0; i < d->nwarnings; i++)
		printf("%swarning: %s\n", i == 0 ? "\n" : "", d->warning[i]);
}

/* ------------------------------------------------------------------ */
/* JSON                                                                */

/*
 * A JSON string of at most len bytes of s.  Besides '"', '\\' and
 * control bytes, bytes >= 0x80 are escaped too (as U+0080..U+00FF):
 * hostile bytes need not be UTF-8, and the output must stay valid.
 */
static void json_string(const char *s, size_t len)
{
	putchar('"');
	for (size_t i = 0; i < len && s[i] != '\0'; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch == '"' || ch == '\\')
			printf("\\%c", ch);
		else if (ch >= 0x20 && ch < 0x7f)
			putchar(ch);
		else
			printf("\\u%04x", ch);
	}
	putchar('"');
}

static void json_broker(const struct dump *d)
{
	printf(",\"broker\":{");
	if (d->ident_ok)
		printf("\"pid\":%" PRIu32 ",\"start\":%" PRIu64 ",\"epoch\":%"
		    PRIu64, d->ident.pid, d->ident.start, d->ident.epoch);
	else
		printf("\"pid\":null,\"start\":null,\"epoch\":null");
	printf(",\"stale\":%s,\"reason\":", d->check == 0 ? "false" : "true");
	json_string(d->check == 0 ? "" : d->reason, sizeof(d->reason));
	if (d->heartbeat_age_ms < 0)
		printf(",\"heartbeat_age_ms\":null}");
	else
		printf(",\"heartbeat_age_ms\":%" PRId64 "}",
		    d->heartbeat_age_ms);
}

static void json_state(const struct dump *d)
{
	unsigned f = dump_flags(d);
	uint64_t w = d->state_word;

	printf(",\"capacity\":%u,\"source\":", CB_STATE_CAPACITY(w));
	json_string(cb_source_name(CB_STATE_SOURCE(w)), SIZE_MAX);
	printf(",\"generation\":%" PRIu32 ",\"flags\":[",
	    CB_STATE_GENERATION(w));
	if (f & CB_STATE_F_STOPPING)
		printf("\"stopping\"%s", f & CB_STATE_F_RETIRED ? "," : "");
	if (f & CB_STATE_F_RETIRED)
		printf("\"retired\"");
	putchar(']');
}

static void json_info(const struct dump *d)
{
	const struct cb_info *i = &d->info;

	if (!d->info_ok) {
		printf(",\"settings\":null,\"fleet\":null,\"counters\":null"
		    ",\"published_time\":null");
		return;
	}
	printf(",\"settings\":{\"override\":%" PRIu32 ",\"slots_per_worker\":%"
	    PRIu32 ",\"legacy_max\":%" PRIu32 "}", i->override,
	    i->slots_per_worker, i->legacy_max);
	printf(",\"fleet\":{\"workers\":%" PRIu32 ",\"ready\":%" PRIu32
	    ",\"reporting\":%" PRIu32 "}", i->workers_total, i->workers_ready,
	    i->workers_reporting);
	printf(",\"counters\":{\"publishes\":%" PRIu64 ",\"capacity_changes\":%"
	    PRIu64 ",\"source_changes\":%" PRIu64 ",\"override_rejects\":%"
	    PRIu64 ",\"events\":%" PRIu64 "}", i->publishes,
	    i->capacity_changes, i->source_changes, i->override_rejects,
	    i->events);
	if (i->published_ns == 0)
		printf(",\"published_time\":null");
	else
		printf(",\"published_time\":%" PRIu64 ".%09" PRIu64,
		    i->published_ns / 1000000000u,
		    i->published_ns % 1000000000u);
}

static void json_workers(const struct dump *d)
{
	if (!d->workers_ok) {
		printf(",\"workers\":null");
		return;
	}
	printf(",\"workers\":[");
	for (uint32_t i = 0; i < d->nworkers; i++) {
		const struct cb_worker_rec *r = &d->workers[i];

		printf("%s{\"id\":", i == 0 ? "" : ",");
		json_string(r->id, sizeof(r->id));
		printf(",\"state\":\"%s\",\"max_running\":%" PRIu32
		    ",\"limit\":%" PRIu32 ",\"slot\":%" PRIu32,
		    worker_state_name(r->state), r->max_running, r->limit,
		    r->slot);
		/* null: the slots segment is not readable to us. */
		if (d->worker_inflight == NULL || d->worker_inflight[i] < 0)
			printf(",\"inflight\":null}");
		else
			printf(",\"inflight\":%" PRId64 "}",
			    d->worker_inflight[i]);
	}
	putchar(']');
}

static void json_pools(const struct dump *d)
{
	printf(",\"pools\":[");
	for (size_t i = 0; i < d->npools; i++) {
		const struct pool_row *p = &d->pools[i];

		printf("%s{\"name\":", i == 0 ? "" : ",");
		json_string(p->name, sizeof(p->name));
		printf(",\"index\":%" PRIu32 ",\"kind\":\"%s\",\"limit\":%"
		    PRIu32 ",\"observed\":%" PRIu32 ",\"window_ms\":%" PRIu32
		    ",\"held\":%" PRIu32 ",\"launching\":%" PRIu32
		    ",\"waiting\":%" PRIu32,
		    p->index, pool_kind_name(p->kind), p->limit, p->observed,
		    p->window_ms, p->held, p->launching, p->waiting);
		printf(",\"admitted\":%" PRIu64 ",\"rejected\":%" PRIu64
		    ",\"stale_releases\":%" PRIu64 ",\"reclaimed\":%" PRIu64
		    ",\"expired\":%" PRIu64 ",\"repaired\":%" PRIu64 "}",
		    p->admitted, p->rejected, p->stale_releases, p->reclaimed,
		    p->expired, p->repaired);
	}
	putchar(']');
}

static void json_clients(const struct dump *d)
{
	const struct client_row *c;

	printf(",\"clients\":[");
	for (size_t i = 0; i < d->nclients; i++) {
		c = &d->clients[i];
		printf("%s{\"index\":%" PRIu32 ",\"pid\":%" PRIu32
		    ",\"held\":%" PRIu64 ",\"in_flight\":%" PRIu32 "}",
		    i == 0 ? "" : ",", c->index, c->pid, c->held,
		    c->in_flight);
	}
	putchar(']');
}

/* "pool" is null when the entry names no active pool (hostile or
 * stale word); "pool_index" says which it named. */
static void json_launches(const struct dump *d)
{
	const struct launch_row *l;
	const char *name;

	printf(",\"launches\":[");
	for (size_t i = 0; i < d->nlaunches; i++) {
		l = &d->launches[i];
		printf("%s{\"entry\":%" PRIu32 ",\"pool\":", i == 0 ? "" : ",",
		    l->entry);
		if ((name = pool_name(d, l->pool)) != NULL)
			json_string(name, POOL_NAME_MAX + 1);
		else
			printf("null");
		printf(",\"pool_index\":%" PRIu32 ",\"client\":%" PRIu32
		    ",\"state\":\"%s\",\"expires_in_ms\":%" PRId64 "}",
		    l->pool, l->client, launch_state_name(l->state),
		    l->expires_in_ms);
	}
	putchar(']');
}

/* Live waiters in queue order per pool (see gather_waiters()). */
static void json_waiters(const struct dump *d)
{
	const char *name;

	printf(",\"waiters\":[");
	for (size_t i = 0; i < d->nwaiters; i++) {
		const struct waiter_row *r = &d->waiters[i];

		printf("%s{\"pool\":", i == 0 ? "" : ",");
		if ((name = pool_name(d, r->pool)) != NULL)
			json_string(name, POOL_NAME_MAX + 1);
		else
			printf("null");
		printf(",\"pool_index\":%" PRIu32 ",\"position\":%" PRIu32
		    ",\"priority\":%" PRId32 ",\"ticket\":%" PRIu64
		    ",\"pid\":%" PRIu32 ",\"client\":%" PRIu32
		    ",\"entry\":%" PRIu32 "}", r->pool, r->position,
		    r->priority, r->ticket, r->pid, r->client, r->entry);
	}
	putchar(']');
}

static void json_events(const struct dump *d)
{
	printf(",\"events\":[");
	for (size_t i = 0; i < d->nevents; i++) {
		const struct cb_event_rec *e = &d->events[i];

		printf("%s{\"time\":%" PRIu64 ".%09" PRIu64 ",\"type\":\"%s\""
		    ",\"generation\":%" PRIu32 ",\"old_capacity\":%" PRIu32
		    ",\"new_capacity\":%" PRIu32 ",\"old_source\":\"%s\""
		    ",\"new_source\":\"%s\",\"value\":%" PRId64 "}",
		    i == 0 ? "" : ",", e->time_ns / 1000000000u,
		    e->time_ns % 1000000000u, event_type_name(e->type),
		    e->generation, e->old_capacity, e->new_capacity,
		    cb_source_name((int)e->old_source),
		    cb_source_name((int)e->new_source), (int64_t)e->value);
	}
	putchar(']');
}

static void json_warnings(const struct dump *d)
{
	printf(",\"warnings\":[");
	for (int i = 0; i < d->nwarnings; i++) {
		if (i > 0)
			putchar(',');
		json_string(d->warning[i], WARNING_MAX);
	}
	putchar(']');
}

static void print_json(const struct dump *d)
{
	printf("{\"name\":");
	json_string(d->name, sizeof(d->name));
	printf(",\"abi\":{\"major\":%u,\"minor\":%u}", d->abi_major,
	    d->abi_minor);
	json_broker(d);
	json_state(d);
	json_info(d);
	json_workers(d);
	json_pools(d);
	json_clients(d);
	json_launches(d);
	json_waiters(d);
	json_events(d);
	json_warnings(d);
	printf("}\n");
}

/* ------------------------------------------------------------------ */
/* Prometheus text exposition format                                   */

/* A label value: escape '\\', '"' and newline; '?' for non-ASCII. */
static const char *prom_escape(char *buf, size_t size, const char *s)
{
	size_t o = 0;

	for (; *s != '\0' && o + 3 < size; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '\\' || ch == '"' || ch == '\n') {
			buf[o++] = '\\';
			buf[o++] = ch == '\n' ? 'n' : (char)ch;
		} else {
			buf[o++] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
		}
	}
	buf[o] = '\0';
	return buf;
}

static void prom_head(const char *metric, const char *type,
    const char *help)
{
	printf("# HELP %s %s\n# TYPE %s %s\n", metric, help, metric, type);
}

static void prom_u64(const char *inst, const char *metric,
    const char *type, const char *help, uint64_t v)
{
	prom_head(metric, type, help);
	printf("%s{instance=\"%s\"} %" PRIu64 "\n", metric, inst, v);
}

static void prom_state(const struct dump *d, const char *inst)
{
	uint64_t w = d->state_word;

	prom_u64(inst, "capbroker_capacity", "gauge",
	    "Published capacity (concurrent units).", CB_STATE_CAPACITY(w));
	prom_head("capbroker_capacity_source", "gauge",
	    "Source tier of the capacity (1 for the active tier, 0 for the "
	    "others).");
	for (int s = CB_SOURCE_OVERRIDE; s <= CB_SOURCE_FALLBACK; s++)
		printf("capbroker_capacity_source{instance=\"%s\",source="
		    "\"%s\"} %d\n", inst, cb_source_name(s),
		    s == CB_STATE_SOURCE(w));
	prom_u64(inst, "capbroker_generation", "gauge",
	    "Generation of the published state.", CB_STATE_GENERATION(w));
	prom_u64(inst, "capbroker_broker_up", "gauge",
	    "1 if the broker is alive, 0 if stale, stopped or gone.",
	    d->check == 0);
	prom_head("capbroker_heartbeat_age_seconds", "gauge",
	    "Seconds since the broker's last heartbeat (NaN: none yet).");
	if (d->heartbeat_age_ms < 0)
		printf("capbroker_heartbeat_age_seconds{instance=\"%s\"} NaN\n",
		    inst);
	else
		printf("capbroker_heartbeat_age_seconds{instance=\"%s\"} "
		    "%.3f\n", inst, (double)d->heartbeat_age_ms / 1000.0);
	if (!d->ident_ok)
		return;
	prom_u64(inst, "capbroker_epoch", "gauge",
	    "Broker epoch: +1 per broker start or adoption.", d->ident.epoch);
	/*
	 * The first broker of a segment sets epoch 1 and every later start
	 * adopts the segment and adds one, so restarts are epoch - 1.  A
	 * segment created anew (--replace, --remove) starts over at 0: a
	 * counter reset, which Prometheus handles.
	 */
	prom_u64(inst, "capbroker_broker_restarts_total", "counter",
	    "Broker restarts that adopted this segment (epoch - 1).",
	    d->ident.epoch > 0 ? d->ident.epoch - 1 : 0);
}

static void prom_info(const struct dump *d, const char *inst)
{
	const struct cb_info *i = &d->info;

	if (!d->info_ok)
		return;
	prom_u64(inst, "capbroker_override", "gauge",
	    "Configured capacity override (0: derive).", i->override);
	prom_u64(inst, "capbroker_slots_per_worker", "gauge",
	    "Capacity counted per non-reporting ready worker.",
	    i->slots_per_worker);
	prom_u64(inst, "capbroker_legacy_max", "gauge",
	    "Capacity when no worker is ready.", i->legacy_max);
	/* Every publication recomputes the capacity from a full snapshot
	 * of the registry (publisher.c), so publishes count recomputes. */
	prom_u64(inst, "capbroker_capacity_recompute_total", "counter",
	    "Capacity recomputations (one per published snapshot).",
	    i->publishes);
	prom_u64(inst, "capbroker_capacity_changes_total", "counter",
	    "Publishes that changed the capacity.", i->capacity_changes);
	prom_u64(inst, "capbroker_source_changes_total", "counter",
	    "Publishes that changed the source tier.", i->source_changes);
	prom_u64(inst, "capbroker_override_rejects_total", "counter",
	    "Out-of-range overrides refused.", i->override_rejects);
	prom_u64(inst, "capbroker_events_total", "counter",
	    "Registry events drained by the publisher.", i->events);
}

/* Worker i's id as an escaped label value.  The id field may lack its
 * NUL (a corrupt segment): copied bounded first. */
static const char *prom_worker_id(char *buf, size_t size,
    const struct dump *d, uint32_t i)
{
	char raw[CB_WORKER_ID_MAX + 1];
	size_t len = field_len(d->workers[i].id, sizeof(d->workers[i].id));

	if (len >= sizeof(raw))
		len = sizeof(raw) - 1;
	memcpy(raw, d->workers[i].id, len);
	raw[len] = '\0';
	return prom_escape(buf, size, raw);
}

/* Per worker: its placement limit and the holds bound to it. */
static void prom_worker_slots(const struct dump *d, const char *inst)
{
	char id[2 * (CB_WORKER_ID_MAX + 1) + 1];

	if (d->nworkers == 0)
		return;
	prom_head("capbroker_worker_limit", "gauge", "Most holds placement "
	    "binds to the worker (max_running, else slots_per_worker).");
	for (uint32_t i = 0; i < d->nworkers; i++)
		printf("capbroker_worker_limit{instance=\"%s\",worker=\"%s\"} "
		    "%" PRIu32 "\n", inst, prom_worker_id(id, sizeof(id), d, i),
		    d->workers[i].limit);
	if (d->worker_inflight == NULL)
		return;
	prom_head("capbroker_worker_inflight", "gauge",
	    "Holds in flight bound to the worker (cb_pick_worker).");
	for (uint32_t i = 0; i < d->nworkers; i++)
		if (d->worker_inflight[i] >= 0)	/* -1: slot not readable */
			printf("capbroker_worker_inflight{instance=\"%s\","
			    "worker=\"%s\"} %" PRId64 "\n", inst,
			    prom_worker_id(id, sizeof(id), d, i),
			    d->worker_inflight[i]);
}

static void prom_workers(const struct dump *d, const char *inst)
{
	static const uint32_t states[] = { CB_WORKER_READY,
	    CB_WORKER_NOT_READY, CB_WORKER_DRAINING };
	unsigned ready = 0;

	if (!d->workers_ok)
		return;
	for (uint32_t i = 0; i < d->nworkers; i++)
		ready += d->workers[i].state == CB_WORKER_READY;
	prom_u64(inst, "capbroker_workers_available", "gauge",
	    "Ready workers: the ones that count towards the capacity.", ready);
	prom_head("capbroker_workers", "gauge",
	    "Published workers by state.");
	for (size_t s = 0; s < sizeof(states) / sizeof(states[0]); s++) {
		unsigned n = 0;

		for (uint32_t i = 0; i < d->nworkers; i++)
			n += d->workers[i].state == states[s];
		printf("capbroker_workers{instance=\"%s\",state=\"%s\"} %u\n",
		    inst, worker_state_name(states[s]), n);
	}
	prom_worker_slots(d, inst);
}

/* Per-pool metrics: the row field each one reads. */
static const struct pool_metric {
	const char *name;
	const char *type;
	const char *help;
	size_t offset;
	int is64;
} pool_metrics[] = {
#define PM32(n, t, h, f) { n, t, h, offsetof(struct pool_row, f), 0 }
#define PM64(n, t, h, f) { n, t, h, offsetof(struct pool_row, f), 1 }
	PM32("capbroker_pool_limit", "gauge",
	    "Current limit of the pool (pool default: the capacity).", limit),
	PM32("capbroker_pool_observed", "gauge",
	    "Published observation of the pool's fleet.", observed),
	PM32("capbroker_pool_held", "gauge",
	    "Holds (in-flight units) in the pool.", held),
	PM32("capbroker_pool_launching", "gauge",
	    "Live launch reservations in the pool.", launching),
	PM64("capbroker_pool_admitted_total", "counter",
	    "Reservations admitted.", admitted),
	PM64("capbroker_pool_rejected_total", "counter",
	    "Reservations refused over the limit or timed out.", rejected),
	PM64("capbroker_stale_release_total", "counter",
	    "Releases of tickets already released, reclaimed or expired, "
	    "by pool.", stale_releases),
	PM64("capbroker_reclaimed_total", "counter",
	    "Holds of dead clients undone by the broker, by pool.",
	    reclaimed),
	PM64("capbroker_pool_expired_total", "counter",
	    "Launch reservations that aged out.", expired),
	PM64("capbroker_pool_repaired_total", "counter",
	    "Usage counter drifts corrected by the recount.", repaired),
#undef PM32
#undef PM64
};

static uint64_t pool_metric_value(const struct pool_row *p,
    const struct pool_metric *m)
{
	const char *field = (const char *)p + m->offset;
	uint64_t v64;
	uint32_t v32;

	if (m->is64) {
		memcpy(&v64, field, sizeof(v64));
		return v64;
	}
	memcpy(&v32, field, sizeof(v32));
	return v32;
}

static void prom_pools(const struct dump *d, const char *inst)
{
	char pool[2 * (POOL_NAME_MAX + 1) + 1];
	const struct pool_metric *m;

	if (d->npools == 0)
		return;
	for (size_t k = 0; k < sizeof(pool_metrics) / sizeof(*m); k++) {
		m = &pool_metrics[k];
		prom_head(m->name, m->type, m->help);
		for (size_t i = 0; i < d->npools; i++)
			printf("%s{instance=\"%s\",pool=\"%s\"} %" PRIu64 "\n",
			    m->name, inst, prom_escape(pool, sizeof(pool),
			    d->pools[i].name), pool_metric_value(&d->pools[i],
			    m));
	}
	prom_head("capbroker_pool_window_seconds", "gauge",
	    "Launch visibility window of the pool.");
	for (size_t i = 0; i < d->npools; i++)
		printf("capbroker_pool_window_seconds{instance=\"%s\",pool="
		    "\"%s\"} %.3f\n", inst, prom_escape(pool, sizeof(pool),
		    d->pools[i].name), d->pools[i].window_ms / 1000.0);
}

static void prom_clients(const struct dump *d, const char *inst)
{
	prom_u64(inst, "capbroker_clients", "gauge",
	    "Processes attached to the reservation table.", d->nclients);
	prom_u64(inst, "capbroker_launch_entries", "gauge",
	    "Launch reservation entries claimed or live.", d->nlaunches);
}

static void print_prometheus(const struct dump *d)
{
	char inst[2 * CB_NAME_MAX + 3];

	prom_escape(inst, sizeof(inst), d->name);
	/* Comment lines are legal in the format; scrapers skip them. */
	for (int i = 0; i < d->nwarnings; i++)
		printf("# warning: %s\n", d->warning[i]);
	prom_state(d, inst);
	prom_info(d, inst);
	prom_workers(d, inst);
	prom_pools(d, inst);
	prom_clients(d, inst);
}

/* ------------------------------------------------------------------ */
/* Running                                                             */

static void print_dump(const struct dump *d, enum format f)
{
	switch (f) {
	case FMT_JSON:
		print_json(d);
		break;
	case FMT_PROMETHEUS:
		print_prometheus(d);
		break;
	default:
		print_human(d);
	}
}

static void warn_stderr(const struct dump *d)
{
	for (int i = 0; i < d->nwarnings; i++)
		fprintf(stderr, "capdump: warning: %s\n", d->warning[i]);
}

/* 0, or EX_IOERR after saying why: a closed pipe or a full disk. */
static int flush_stdout(void)
{
	if (fflush(stdout) == 0 && !ferror(stdout))
		return 0;
	fprintf(stderr, "capdump: writing standard output: %s\n",
	    strerror(errno));
	return EX_IOERR;
}

static int run_once(const struct target *tg, const struct options *o)
{
	struct dump d;
	int r;

	gather(tg, &d);
	warn_stderr(&d);
	print_dump(&d, o->format);
	dump_free(&d);
	r = flush_stdout();
	if (r != 0)
		return r;
	return d.check == 0 ? EXIT_HEALTHY : EXIT_STALE;
}

/* ------------------------------------------------------------------ */
/* --watch                                                             */

static int warnings_differ(const struct dump *a, const struct dump *b)
{
	if (a->nwarnings != b->nwarnings)
		return 1;
	for (int i = 0; i < a->nwarnings; i++)
		if (strcmp(a->warning[i], b->warning[i]) != 0)
			return 1;
	return 0;
}

/* Launch entries compare by claim and deadline: expires_in_ms moves
 * on every look, like the heartbeat age. */
static int launches_differ(const struct dump *a, const struct dump *b)
{
	if (a->nlaunches != b->nlaunches)
		return 1;
	for (size_t i = 0; i < a->nlaunches; i++)
		if (a->launches[i].entry != b->launches[i].entry ||
		    a->launches[i].word != b->launches[i].word ||
		    a->launches[i].deadline_ns != b->launches[i].deadline_ns)
			return 1;
	return 0;
}

/*
 * Did anything worth a new NDJSON line change?  Everything but the
 * heartbeat age, which moves on every look, and the stale reason's
 * text, which can carry an age too: staleness compares by its code.
 */
static int dump_changed(const struct dump *a, const struct dump *b)
{
	if (a->state_word != b->state_word || a->retired != b->retired ||
	    a->instance != b->instance || a->check != b->check ||
	    a->ident_ok != b->ident_ok || a->ident.pid != b->ident.pid ||
	    a->ident.start != b->ident.start ||
	    a->ident.epoch != b->ident.epoch ||
	    (a->heartbeat_age_ms < 0) != (b->heartbeat_age_ms < 0))
		return 1;
	if (a->info_ok != b->info_ok ||
	    memcmp(&a->info, &b->info, sizeof(a->info)) != 0)
		return 1;
	if (a->workers_ok != b->workers_ok || a->nworkers != b->nworkers ||
	    (a->nworkers > 0 && memcmp(a->workers, b->workers,
	    a->nworkers * sizeof(*a->workers)) != 0))
		return 1;
	if ((a->worker_inflight == NULL) != (b->worker_inflight == NULL) ||
	    (a->worker_inflight != NULL && memcmp(a->worker_inflight,
	    b->worker_inflight, a->nworkers * sizeof(int64_t)) != 0))
		return 1;
	if (a->nevents != b->nevents || (a->nevents > 0 &&
	    a->events[a->nevents - 1].seq != b->events[b->nevents - 1].seq))
		return 1;
	if (a->npools != b->npools || (a->npools > 0 && memcmp(a->pools,
	    b->pools, a->npools * sizeof(*a->pools)) != 0))
		return 1;
	if (a->nclients != b->nclients || (a->nclients > 0 &&
	    memcmp(a->clients, b->clients,
	    a->nclients * sizeof(*a->clients)) != 0))
		return 1;
	if (a->nwaiters != b->nwaiters || (a->nwaiters > 0 &&
	    memcmp(a->waiters, b->waiters,
	    a->nwaiters * sizeof(*a->waiters)) != 0))
		return 1;
	return launches_differ(a, b) || warnings_differ(a, b);
}

static void on_stop_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static void catch_stop_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

/*
 * Sleep until the generation moves or WATCH_PERIOD_MS passes, in
 * slices so a stop signal is noticed promptly (see WATCH_SLICE_MS).
 */
static void wait_for_change(cb_client *c, uint32_t *gen)
{
	for (int waited = 0; waited < WATCH_PERIOD_MS && !stop_requested;
	    waited += WATCH_SLICE_MS)
		if (cb_watch(c, gen, WATCH_SLICE_MS) == 0)
			return;
}

/*
 * A restarted broker adopts the segment we have mapped, but a broker
 * that replaced it (retiring ours) or was started after its
 * predecessor removed the segments lives in new segments under the same
 * name, which our mapping never sees.  So while the broker looks stale,
 * re-open by name and switch when that leads to another instance.
 */
static void follow_instance(struct target *tg, const char *name,
    uint32_t *gen)
{
	const struct cb_seg_header *old = cb_client_state(tg->c);
	const struct cb_seg_header *h;
	cb_client *c;

	if (cb_open(&c, name, CB_OPEN_RDONLY) < 0)
		return;
	h = cb_client_state(c);
	if (h->instance == old->instance) {
		cb_close(c);
		return;
	}
	cb_close(tg->c);
	tg->c = c;
	slots_geom_init(c, &tg->slots);
	*gen = 0;
}

/* Print one watch round; returns 0 or EX_IOERR. */
static int watch_print(const struct dump *cur, const struct dump *prev,
    const struct options *o, int tty)
{
	if (prev == NULL || warnings_differ(cur, prev))
		warn_stderr(cur);
	if (o->format == FMT_JSON) {
		if (prev != NULL && !dump_changed(cur, prev))
			return 0;
	} else if (tty) {
		/* Home the cursor and clear: the report redraws in place. */
		fputs("\033[H\033[2J", stdout);
	} else if (prev != NULL) {
		putchar('\n');
	}
	print_dump(cur, o->format);
	return flush_stdout();
}

static int run_watch(struct target *tg, const struct options *o)
{
	struct dump dumps[2], *cur = &dumps[0], *prev = NULL, *t;
	uint32_t gen = 0;
	int tty = isatty(STDOUT_FILENO), r = 0;

	catch_stop_signals();
	while (!stop_requested && r == 0) {
		gather(tg, cur);
		r = watch_print(cur, prev, o, tty);
		if (prev != NULL)
			dump_free(prev);
		t = prev != NULL ? prev : &dumps[1];
		prev = cur;
		cur = t;
		/* Wait for a change from what was just printed. */
		gen = CB_STATE_GENERATION(prev->state_word);
		if (prev->check != 0)
			follow_instance(tg, o->name, &gen);
		wait_for_change(tg->c, &gen);
	}
	if (prev != NULL)
		dump_free(prev);
	return r;
}

int main(int argc, char **argv)
{
	struct options o = { 0 };
	struct target tg;
	int r;

	parse_args(argc, argv, &o);
	if (cb_open(&tg.c, o.name, CB_OPEN_RDONLY) < 0) {
		fprintf(stderr, "capdump: %s\n", cb_open_errmsg());
		return EXIT_ATTACH;
	}
	slots_geom_init(tg.c, &tg.slots);
	r = o.watch ? run_watch(&tg, &o) : run_once(&tg, &o);
	cb_close(tg.c);
	return r;
}
