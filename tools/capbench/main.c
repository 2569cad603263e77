/*
 * main.c - capbench: capbroker against what it replaces, measured in
 * one run.
 *
 * capbench starts its own capbrokerd (from its own directory, instance
 * "bench<pid>" or -n NAME, in a private CAPBROKER_RUNDIR made with
 * mkdtemp), forks 1, 2, 4, ... up to -P worker processes, and runs the
 * seven sections (sections_workers.c, sections_broker.c): read, hold,
 * launch, watch, publish, reclaim, contention.  capbench.h says which
 * file holds what.
 *
 * Everything capbench starts is killed on exit (also on SIGINT/SIGTERM,
 * and by PR_SET_PDEATHSIG if capbench itself is killed); the broker runs
 * with --remove and capbench unlinks its segments again, then checks
 * /dev/shm and fails if anything of its instance is left.  Timing is
 * never asserted here: --smoke only proves every section runs.
 *
 * Exit status: 0; 1 when set-up or a section failed, a report could not
 * be written or segments were left behind; 64 (EX_USAGE) for a bad
 * command line; 128 + N when killed by signal N.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <sysexits.h>
#include <unistd.h>

#include "capbench.h"
#include "segment.h"

/*
 * What the signal handler and atexit() tear down: neither takes an
 * argument.  Set once in main(), before anything is started.
 */
static struct bench *teardown_on_exit;

/* ----------------------------------------------------------------- */
/* The command line. */

static void usage(FILE *f)
{
	fprintf(f,
"usage: capbench [--smoke] [-P PROCS] [-d MS] [-r REPS] [-s SECTIONS]\n"
"                [-m METHODS] [-n NAME] [-B DIR] [--json FILE] [--dat FILE]\n"
"  -P, --procs N      largest process count (default: CPUs online)\n"
"  -d, --duration MS  length of one throughput run (default 200)\n"
"  -r, --reps N       repetitions, the best one counts (default 5)\n"
"  -s, --sections L   comma-separated: read,hold,launch,watch,publish,\n"
"                     reclaim,contention (default: all)\n"
"  -m, --methods L    section 2, comma-separated: capbroker,posix_sem,\n"
"                     sysv_sem_undo,flock,redis,protocol_floor,\n"
"                     store_floor,capbroker_shared,lane_floor,\n"
"                     api_floor,inline_floor,word_floor,\n"
"                     capbroker_global\n"
"                     (default: all)\n"
"  -n, --name NAME    broker instance name (default bench<pid>)\n"
"  -B, --dir DIR      capbrokerd and the libraries (default: capbench's)\n"
"      --smoke        tiny counts: proves every section runs\n"
"      --json FILE    also write the results as JSON (- = stdout)\n"
"      --dat FILE     hold-pair throughput as gnuplot data\n");
}

/* A comma-separated list of names into a bit set; 0 if one is wrong. */
static unsigned parse_list(const char *list, const char *const *names,
    int n)
{
	char buf[256];
	unsigned bits = 0;

	snprintf(buf, sizeof(buf), "%s", list);
	for (char *save = NULL, *w = strtok_r(buf, ",", &save); w != NULL;
	    w = strtok_r(NULL, ",", &save)) {
		int s;

		for (s = 0; s < n; s++)
			if (strcmp(w, names[s]) == 0)
				break;
		if (s == n)
			return 0;
		bits |= 1u << s;
	}
	return bits;
}

static long number(const char *s, long lo, long hi)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || end == s || v < lo || v > hi) {
		fprintf(stderr, "capbench: %s: expected %ld..%ld\n", s, lo, hi);
		exit(EX_USAGE);
	}
	return v;
}

/* A list option (-s, -m) into its bit set; exit 64 if it is bad. */
static unsigned list_option(const char *arg, const char *const *names,
    int n, const char *what)
{
	unsigned bits = parse_list(arg, names, n);

	if (bits == 0) {
		fprintf(stderr, "capbench: bad %s list '%s'\n", what, arg);
		exit(EX_USAGE);
	}
	return bits;
}

/* One option from getopt_long(); -d and -r go to *dur and *reps, to
 * override --smoke's defaults whatever the order. */
static void parse_option(int ch, struct bench_opts *opt, int *dur, int *reps)
{
	switch (ch) {
	case 'P': opt->maxp = (int)number(optarg, 1, MAX_PROCS); break;
	case 'd': *dur = (int)number(optarg, 1, 600000); break;
	case 'r': *reps = (int)number(optarg, 1, 100); break;
	case 's':
		opt->sections = list_option(optarg, section_name, S_COUNT,
		    "section");
		break;
	case 'n':
		if (!cb_name_valid(optarg)) {
			fprintf(stderr, "capbench: bad name '%s'\n", optarg);
			exit(EX_USAGE);
		}
		opt->name = optarg;
		break;
	case 'm':
		opt->methods = list_option(optarg, method_name, M_COUNT,
		    "method");
		break;
	case 'B': opt->dir = optarg; break;
	case 'S': opt->smoke = 1; break;
	case 'J': opt->json = optarg; break;
	case 'D': opt->dat = optarg; break;
	case 'h': usage(stdout); exit(0);
	default: usage(stderr); exit(EX_USAGE);
	}
}

/* Counts and durations: --smoke's tiny ones or the full run's, then
 * -d and -r; the process counts 1, 2, 4, ... up to -P. */
static void set_counts(struct bench_opts *opt, int dur, int reps)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

	if (opt->maxp == 0)
		opt->maxp = ncpu < 1 ? 1 : ncpu > MAX_PROCS ? MAX_PROCS :
		    (int)ncpu;
	if (opt->smoke) {
		opt->maxp = opt->maxp > 2 ? 2 : opt->maxp;
		opt->dur_ms = 10;
		opt->reps = 1;
		opt->reads = 100000;
		opt->watch_rounds = 3;
		opt->reclaim_rounds = 2;
		opt->iters = 10;
	} else {
		opt->dur_ms = 200;
		opt->reps = 5;
		opt->reads = 20000000;
		opt->watch_rounds = 200;
		opt->reclaim_rounds = 20;
		opt->iters = 200;
	}
	if (dur)
		opt->dur_ms = dur;
	if (reps)
		opt->reps = reps;
	for (int p = 1; p < opt->maxp; p *= 2)
		opt->counts[opt->ncounts++] = p;
	opt->counts[opt->ncounts++] = opt->maxp;
}

static void parse_args(int argc, char **argv, struct bench_opts *opt)
{
	static const struct option longopts[] = {
		{ "procs", required_argument, NULL, 'P' },
		{ "duration", required_argument, NULL, 'd' },
		{ "reps", required_argument, NULL, 'r' },
		{ "sections", required_argument, NULL, 's' },
		{ "name", required_argument, NULL, 'n' },
		{ "dir", required_argument, NULL, 'B' },
		{ "methods", required_argument, NULL, 'm' },
		{ "smoke", no_argument, NULL, 'S' },
		{ "json", required_argument, NULL, 'J' },
		{ "dat", required_argument, NULL, 'D' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch, dur = 0, reps = 0;
	size_t n = 0;

	opt->sections = (1u << S_COUNT) - 1;
	opt->methods = (1u << M_COUNT) - 1;
	while ((ch = getopt_long(argc, argv, "P:d:r:s:m:n:B:h", longopts,
	    NULL)) != -1)
		parse_option(ch, opt, &dur, &reps);
	if (optind != argc) {
		usage(stderr);
		exit(EX_USAGE);
	}
	set_counts(opt, dur, reps);
	for (int i = 0; i < argc && n + 2 < sizeof(opt->cmdline); i++)
		n += (size_t)snprintf(opt->cmdline + n, sizeof(opt->cmdline) - n,
		    "%s%s", i ? " " : "", i ? argv[i] : "capbench");
}

/* ----------------------------------------------------------------- */
/* The machine. */

static void loadavg(char *out, size_t cap)
{
	FILE *f = fopen("/proc/loadavg", "r");
	double a = 0, b = 0, c = 0;

	if (f == NULL || fscanf(f, "%lf %lf %lf", &a, &b, &c) != 3)
		snprintf(out, cap, "unknown");
	else
		snprintf(out, cap, "%.2f %.2f %.2f", a, b, c);
	if (f)
		fclose(f);
}

static void machine_info(struct machine_info *mi)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[256];
	struct utsname u;

	snprintf(mi->cpu_model, sizeof(mi->cpu_model), "unknown");
	while (f && fgets(line, sizeof(line), f))
		if (strncmp(line, "model name", 10) == 0) {
			char *v = strchr(line, ':');

			if (v) {
				v += v[1] == ' ' ? 2 : 1;
				v[strcspn(v, "\n")] = '\0';
				snprintf(mi->cpu_model, sizeof(mi->cpu_model),
				    "%s", v);
			}
			break;
		}
	if (f)
		fclose(f);
	mi->ncpu = (int)sysconf(_SC_NPROCESSORS_ONLN);
	if (uname(&u) == 0)
		bfmt(mi->kernel, sizeof(mi->kernel), "%s %s %s", u.sysname,
		    u.release, u.machine);
}

/* ----------------------------------------------------------------- */
/* The run. */

static void teardown_at_exit(void)
{
	bench_teardown(teardown_on_exit);
}

static void on_signal(int sig)
{
	if (!is_child())
		bench_teardown(teardown_on_exit);
	_exit(128 + sig);
}

static void trap_signals(struct bench *b)
{
	teardown_on_exit = b;
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);
	signal(SIGPIPE, SIG_IGN);
	atexit(teardown_at_exit);
}

static void run_sections(struct bench *b, struct bench_results *res)
{
	static section_fn *const run[S_COUNT] = {
		[S_READ] = section_read, [S_HOLD] = section_hold,
		[S_LAUNCH] = section_launch, [S_WATCH] = section_watch,
		[S_PUBLISH] = section_publish, [S_RECLAIM] = section_reclaim,
		[S_CONTEND] = section_contend,
	};
	/* Section 5 leaves the broker with many workers and no override:
	 * it runs last.  Section 4 changes the override: after 2, 3, 7. */
	static const enum section order[S_COUNT] = {
		S_READ, S_HOLD, S_LAUNCH, S_CONTEND, S_RECLAIM, S_WATCH,
		S_PUBLISH,
	};
	const struct bench_opts *opt = b->opt;

	for (int i = 0; i < S_COUNT; i++) {
		enum section s = order[i];

		if (!(opt->sections & (1u << s))) {
			set_why(&res->sec[s], ST_SKIPPED, "not selected (-s)");
			continue;
		}
		if (opt->ncounts > 0 && opt->counts[opt->ncounts - 1] >
		    res->machine.ncpu && s == S_READ)
			fprintf(stderr, "capbench: more processes than CPUs: "
			    "expect time slicing\n");
		run[s](b, res);
		if (res->sec[s].st == ST_FAILED)
			fprintf(stderr, "capbench: %s: %s\n", section_name[s],
			    res->sec[s].why);
	}
}

/* Targets, the table, the files asked for.  Returns the exit status. */
static int report(const struct bench_opts *opt, const struct bench_results *res)
{
	struct bench_targets tg;
	int failed = 0, r;

	evaluate(opt, res, &tg);
	print_human(opt, res, &tg);
	for (int s = 0; s < S_COUNT; s++)
		failed |= res->sec[s].st == ST_FAILED ||
		    res->sec[s].st == ST_NOT_RUN;
	if (opt->json && (r = write_json(opt->json, opt, res, &tg)) < 0) {
		fprintf(stderr, "capbench: %s: %s\n", opt->json, strerror(-r));
		failed = 1;
	}
	if (opt->dat && (r = write_dat(opt->dat, opt, res)) < 0) {
		fprintf(stderr, "capbench: %s: %s\n", opt->dat, strerror(-r));
		failed = 1;
	}
	return failed || res->shm_left ? 1 : 0;
}

int main(int argc, char **argv)
{
	/* b is static: atexit() handlers run after main() has returned. */
	static struct bench b;
	struct bench_opts opt = { .maxp = 0 };
	struct bench_results res = { .npub = 0 };
	char err[256] = "";

	parse_args(argc, argv, &opt);
	machine_info(&res.machine);
	loadavg(res.machine.load_start, sizeof(res.machine.load_start));
	bench_init(&b, &opt);
	trap_signals(&b);
	if (bench_setup(&b, err, sizeof(err)) < 0) {
		fprintf(stderr, "capbench: %s\n", err);
		bench_teardown(&b);
		return 1;
	}
	res.redis_ok = b.peers.redis_ok;
	bfmt(res.redis_why, sizeof(res.redis_why), "%s", b.peers.redis_why);
	if (!b.peers.etcd_ok)
		bfmt(res.etcd_why, sizeof(res.etcd_why), "%s",
		    b.peers.etcd_why);
	run_sections(&b, &res);
	loadavg(res.machine.load_end, sizeof(res.machine.load_end));
	bench_teardown(&b);
	res.shm_left = shm_leftovers(b.peers.name);
	return report(&opt, &res);
}
