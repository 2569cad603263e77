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

#include "abi.h"
#include "capbroker.h"
#include "client_internal.h"
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
/* Worst case of human_safe(): every byte becomes "\xHH". */
#define SAFE_SIZE(n)	(4 * (n) + 1)

enum format { FMT_HUMAN, FMT_JSON, FMT_PROMETHEUS };

struct options {
	const char *name;
	enum format format;
	int watch;
};

/* One pool of the reservation table (see gather_pools()). */
struct pool_row {
	char name[POOL_NAME_MAX + 1];
	uint32_t limit;
	uint32_t observed;
	uint32_t held;
	uint32_t launching;
};

/* One registered client of the reservation table (see gather_clients()). */
struct client_row {
	uint32_t pid;
	uint32_t held;
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

	struct cb_event_rec events[CB_EVENT_RING];
	size_t nevents;

	struct pool_row *pools;
	size_t npools;
	struct client_row *clients;
	size_t nclients;

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
"     its settings and counters; the published worker table; the pools\n"
"     and clients of the reservation table; and the recent events.\n"
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
"             liveness change on their own).  On a terminal the human\n"
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

static uint64_t monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
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
	now = monotonic_ns();
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

/*
 * The pools of the slots segment.  The slots-segment tables (pools,
 * clients, reservations) land with the reservation table in the next
 * ABI step; until then there is nothing to read and the answer is no
 * rows.  Filling them in is local to this function and
 * gather_clients(): every printer already renders all rows.
 */
static void gather_pools(cb_client *c, struct dump *d)
{
	(void)c;
	d->pools = NULL;
	d->npools = 0;
}

/* The clients of the slots segment; see gather_pools(). */
static void gather_clients(cb_client *c, struct dump *d)
{
	(void)c;
	d->clients = NULL;
	d->nclients = 0;
}

static void gather(cb_client *c, struct dump *d)
{
	memset(d, 0, sizeof(*d));
	gather_header(c, d);
	gather_broker(c, d);
	gather_info(c, d);
	gather_workers(c, d);
	gather_events(c, d);
	gather_pools(c, d);
	gather_clients(c, d);
}

static void dump_free(struct dump *d)
{
	free(d->workers);
	free(d->pools);
	free(d->clients);
	d->workers = NULL;
	d->pools = NULL;
	d->clients = NULL;
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
	printf("  %-*s  %-9s  %s\n", width, "ID", "STATE", "MAX_RUNNING");
	for (uint32_t i = 0; i < d->nworkers; i++) {
		const struct cb_worker_rec *r = &d->workers[i];

		human_safe(safe, r->id, field_len(r->id, sizeof(r->id)));
		if (r->max_running == 0)
			printf("  %-*s  %-9s  %11s\n", width, safe,
			    worker_state_name(r->state), "-");
		else
			printf("  %-*s  %-9s  %11" PRIu32 "\n", width, safe,
			    worker_state_name(r->state), r->max_running);
	}
}

static void human_pools(const struct dump *d)
{
	char safe[SAFE_SIZE(POOL_NAME_MAX + 1)];

	printf("\nPOOLS (%zu)\n", d->npools);
	if (d->npools == 0) {
		printf("  none\n");
		return;
	}
	printf("  %-20s  %8s  %8s  %8s  %9s\n", "NAME", "LIMIT", "OBSERVED",
	    "HELD", "LAUNCHING");
	for (size_t i = 0; i < d->npools; i++) {
		const struct pool_row *p = &d->pools[i];

		printf("  %-20s  %8" PRIu32 "  %8" PRIu32 "  %8" PRIu32 "  %9"
		    PRIu32 "\n", human_safe(safe, p->name,
		    field_len(p->name, sizeof(p->name))), p->limit,
		    p->observed, p->held, p->launching);
	}
}

static void human_clients(const struct dump *d)
{
	printf("\nCLIENTS (%zu)\n", d->nclients);
	if (d->nclients == 0) {
		printf("  none\n");
		return;
	}
	printf("  %10s  %8s\n", "PID", "HELD");
	for (size_t i = 0; i < d->nclients; i++)
		printf("  %10" PRIu32 "  %8" PRIu32 "\n", d->clients[i].pid,
		    d->clients[i].held);
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
		printf("override %" PRIu64 " rejected (outside 1..%u)",
		    e->value, CB_CAPACITY_MAX);
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
		printf(",\"state\":\"%s\",\"max_running\":%" PRIu32 "}",
		    worker_state_name(r->state), r->max_running);
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
		printf(",\"limit\":%" PRIu32 ",\"observed\":%" PRIu32
		    ",\"held\":%" PRIu32 ",\"launching\":%" PRIu32 "}",
		    p->limit, p->observed, p->held, p->launching);
	}
	putchar(']');
}

static void json_clients(const struct dump *d)
{
	printf(",\"clients\":[");
	for (size_t i = 0; i < d->nclients; i++)
		printf("%s{\"pid\":%" PRIu32 ",\"held\":%" PRIu32 "}",
		    i == 0 ? "" : ",", d->clients[i].pid, d->clients[i].held);
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
		    ",\"new_source\":\"%s\",\"value\":%" PRIu64 "}",
		    i == 0 ? "" : ",", e->time_ns / 1000000000u,
		    e->time_ns % 1000000000u, event_type_name(e->type),
		    e->generation, e->old_capacity, e->new_capacity,
		    cb_source_name((int)e->old_source),
		    cb_source_name((int)e->new_source), e->value);
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
	prom_head("capbroker_source", "gauge",
	    "Source tier of the capacity (1 for the current tier).");
	for (int s = CB_SOURCE_OVERRIDE; s <= CB_SOURCE_FALLBACK; s++)
		printf("capbroker_source{instance=\"%s\",source=\"%s\"} %d\n",
		    inst, cb_source_name(s), s == CB_STATE_SOURCE(w));
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
	if (d->ident_ok)
		prom_u64(inst, "capbroker_epoch", "gauge",
		    "Broker epoch: +1 per broker start or adoption.",
		    d->ident.epoch);
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
	prom_u64(inst, "capbroker_publishes_total", "counter",
	    "Snapshots published.", i->publishes);
	prom_u64(inst, "capbroker_capacity_changes_total", "counter",
	    "Publishes that changed the capacity.", i->capacity_changes);
	prom_u64(inst, "capbroker_source_changes_total", "counter",
	    "Publishes that changed the source tier.", i->source_changes);
	prom_u64(inst, "capbroker_override_rejects_total", "counter",
	    "Out-of-range overrides refused.", i->override_rejects);
	prom_u64(inst, "capbroker_events_total", "counter",
	    "Registry events drained by the publisher.", i->events);
}

static void prom_workers(const struct dump *d, const char *inst)
{
	static const uint32_t states[] = { CB_WORKER_READY,
	    CB_WORKER_NOT_READY, CB_WORKER_DRAINING };

	if (!d->workers_ok)
		return;
	prom_head("capbroker_workers", "gauge",
	    "Published workers by state.");
	for (size_t s = 0; s < sizeof(states) / sizeof(states[0]); s++) {
		unsigned n = 0;

		for (uint32_t i = 0; i < d->nworkers; i++)
			n += d->workers[i].state == states[s];
		printf("capbroker_workers{instance=\"%s\",state=\"%s\"} %u\n",
		    inst, worker_state_name(states[s]), n);
	}
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

static int run_once(cb_client *c, const struct options *o)
{
	struct dump d;
	int r;

	gather(c, &d);
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
	return warnings_differ(a, b);
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
static void follow_instance(cb_client **cp, const char *name, uint32_t *gen)
{
	const struct cb_seg_header *old = cb_client_state(*cp);
	const struct cb_seg_header *h;
	cb_client *c;

	if (cb_open(&c, name, CB_OPEN_RDONLY) < 0)
		return;
	h = cb_client_state(c);
	if (h->instance == old->instance) {
		cb_close(c);
		return;
	}
	cb_close(*cp);
	*cp = c;
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

static int run_watch(cb_client **cp, const struct options *o)
{
	struct dump dumps[2], *cur = &dumps[0], *prev = NULL, *t;
	uint32_t gen = 0;
	int tty = isatty(STDOUT_FILENO), r = 0;

	catch_stop_signals();
	while (!stop_requested && r == 0) {
		gather(*cp, cur);
		r = watch_print(cur, prev, o, tty);
		if (prev != NULL)
			dump_free(prev);
		t = prev != NULL ? prev : &dumps[1];
		prev = cur;
		cur = t;
		/* Wait for a change from what was just printed. */
		gen = CB_STATE_GENERATION(prev->state_word);
		if (prev->check != 0)
			follow_instance(cp, o->name, &gen);
		wait_for_change(*cp, &gen);
	}
	if (prev != NULL)
		dump_free(prev);
	return r;
}

int main(int argc, char **argv)
{
	struct options o = { 0 };
	cb_client *c;
	int r;

	parse_args(argc, argv, &o);
	if (cb_open(&c, o.name, CB_OPEN_RDONLY) < 0) {
		fprintf(stderr, "capdump: %s\n", cb_open_errmsg());
		return EXIT_ATTACH;
	}
	r = o.watch ? run_watch(&c, &o) : run_once(c, &o);
	cb_close(c);
	return r;
}
