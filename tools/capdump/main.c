/*
 * capdump - read-only inspector of a capbroker instance's segments.
 *
 * capdump maps the state and slots segments with CB_OPEN_RDONLY and
 * prints what it finds: the state word, the broker's identity and
 * liveness, the seqlock-protected settings, counters and worker table,
 * the reservation table and the event ring, as a human report, JSON or
 * Prometheus text (capdump.h lists the files).  This file: the command
 * line and --help.
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sysexits.h>

#include "capdump.h"

static void usage_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

static const char help_text[] =
"NAME\n"
"     capdump - inspect a capbroker instance's shared memory, read-only\n"
"\n"
"SYNOPSIS\n"
"     capdump [-n NAME] [--json | --prometheus] [--watch] [-o FILE]\n"
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
"             labelled broker=\"NAME\" (not instance, which Prometheus\n"
"             sets to the scraped target itself).\n"
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
"     -o, --output FILE\n"
"             Write each dump to FILE instead of standard output, whole:\n"
"             to a temporary file in FILE's directory (mode 0644), then\n"
"             renamed over FILE, so a reader never sees half a dump.\n"
"             FILE is replaced even when the broker is stale (the dump\n"
"             says so: capbroker_broker_up 0) and when the instance\n"
"             cannot be attached at all (a dump that says only that:\n"
"             capbroker_broker_up 0, or {\"attached\":false} in JSON),\n"
"             so it never keeps an old dump that looks current.  With\n"
"             --watch, FILE is replaced every round.\n"
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
"          Not in the broker's group, the dump lacks pools, clients\n"
"          and launches: a warning on standard error says so, JSON has\n"
"          them null, Prometheus capbroker_slots_readable 0; the exit\n"
"          status is still 0 for a live broker.\n"
"     2    Cannot attach: no such instance, permission denied, or an\n"
"          incompatible or corrupt segment.\n"
"     64   Usage error.\n"
"     73   -o: cannot create the temporary file.\n"
"     74   Error writing standard output, or -o's file.\n"
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
"     Feed the node_exporter textfile collector (from a timer, or\n"
"     run it with --watch as a service):\n"
"           capdump --prometheus -o /var/lib/node_exporter/capbroker.prom\n"
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
	fputs("\nusage: capdump [-n NAME] [--json | --prometheus] [--watch] "
	    "[-o FILE]\n"
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
	case 'o':
		if (*optarg == '\0')
			usage_error("-o needs a file name");
		o->output = optarg;
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
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	o->name = "default";
	/* Our own messages, with the usage hint, instead of getopt's. */
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":n:jpwo:hV", longopts,
	    NULL)) != -1)
		apply_option(o, ch, argv);
	if (optind < argc)
		usage_error("unexpected argument '%s'", argv[optind]);
	if (!cb_name_valid(o->name))
		usage_error("bad instance name '%s' (1-%d of A-Z a-z 0-9 . _ "
		    "-)", o->name, CB_NAME_MAX);
}

int main(int argc, char **argv)
{
	struct options o = { 0 };
	struct output out;
	struct target tg;
	int r;

	parse_args(argc, argv, &o);
	if (target_open(&tg, o.name) < 0) {
		fprintf(stderr, "capdump: %s\n", cb_open_errmsg());
		/* -o FILE: replace what it said with "cannot attach". */
		if (o.output != NULL && output_begin(&out, o.output) == 0) {
			print_unattached(o.name, cb_open_errmsg(), o.format);
			output_commit(&out);
		}
		return EXIT_ATTACH;
	}
	r = o.watch ? run_watch(&tg, &o) : run_once(&tg, &o);
	target_close(&tg);
	return r;
}
