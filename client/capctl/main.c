/*
 * capctl.c - the capbroker admin command line.
 *
 * capctl talks to one broker instance over its control socket,
 * RUNDIR/NAME.sock, with the line protocol of docs/PROTOCOL.md: it
 * sends one request line and reads one reply, a status line
 *
 *	OK N [TEXT]            N data lines follow
 *	ERR ERRNAME MESSAGE
 *
 * then the N data lines.  The broker is another process and may be old,
 * new, wedged or not a broker at all, so every reply is treated like
 * input from outside: lines are length-capped and must be printable
 * ASCII (they end up on a terminal), the data line count is capped,
 * numbers go through strtonum(), and every socket operation has a
 * timeout so capctl never hangs.
 *
 * Layout: a command table (commands[]) maps "worker set" etc. to one
 * small cmd_*() function; the functions share ctl_call(), which sends a
 * request and returns the parsed reply.  Arguments are checked here
 * before anything is sent, so a typo is a usage error (64) and never
 * reaches the broker; what only the broker can judge (an override's
 * range, an unknown worker) comes back as ERR and exits 1.
 */
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <bsd/stdlib.h>
#include <bsd/string.h>
#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "capbroker.h"
#include "ctl_client.h"
#include "proto.h"
#include "rundir.h"
#include "segment.h"

/* Exit status; the usage text documents them (keep both in step). */
#define EXIT_REFUSED 1                 /* the broker answered ERR */
#define EXIT_USAGE EX_USAGE            /* 64: bad arguments */
#define EXIT_UNREACHABLE EX_UNAVAILABLE /* 69: no broker to talk to */
#define EXIT_PROTOCOL EX_SOFTWARE      /* 70: the reply made no sense */

/* One connection to a broker; connected on the first request. */
struct ctl {
	const char *name;              /* instance, checked by main() */
	char topic[32];                /* command for the --help hint */
	const struct ctl_cmd *cmd;     /* the command being run */
	struct cb_ctl_conn conn;       /* fd -1 until the first request */
};

struct ctl_cmd {
	const char *group;             /* first word: "worker", "status" */
	const char *sub;               /* second word or NULL: "set" */
	int (*fn)(struct ctl *, int, char **);
	const char *args;              /* synopsis after the command words */
	const char *help;              /* lines; printed indented */
};

static int cmd_worker_set(struct ctl *, int, char **);
static int cmd_worker_del(struct ctl *, int, char **);
static int cmd_worker_list(struct ctl *, int, char **);
static int cmd_override(struct ctl *, int, char **);
static int cmd_status(struct ctl *, int, char **);
static int cmd_ping(struct ctl *, int, char **);
static int cmd_pool_set(struct ctl *, int, char **);
static int cmd_pool_list(struct ctl *, int, char **);
static int cmd_run(struct ctl *, int, char **);
static int cmd_launch(struct ctl *, int, char **);
static int cmd_release(struct ctl *, int, char **);

/*
 * The commands, in the order the usage text lists them.  A row with a
 * sub is run as "capctl GROUP SUB ..."; its help is '\n'-ended lines,
 * printed indented.
 */
static const struct ctl_cmd commands[] = {
	{ "worker", "set", cmd_worker_set,
	    "ID --state STATE [--max-running N]",
	    "Register worker ID, or replace the state and max_running of a\n"
	    "known one.  Only ready workers count towards the capacity;\n"
	    "not_ready and draining ones contribute nothing.\n"
	    "\n"
	    "-s, --state STATE      ready, not_ready or draining (required)\n"
	    "-m, --max-running N    the worker's own max_running_requests,\n"
	    "                       0..65535; 0 or absent: it reports none\n"
	    "                       and counts as slots_per_worker\n" },
	{ "worker", "del", cmd_worker_del, "ID",
	    "Remove worker ID; refused if the broker does not know it.\n" },
	{ "worker", "list", cmd_worker_list, "",
	    "List the workers, sorted by id: ID, STATE, MAX_RUNNING (- for\n"
	    "a worker that reports none) and INFLIGHT, the holds bound to\n"
	    "it by capctl run --pick or cb_pick_worker (- if the shared\n"
	    "memory is not readable).\n" },
	{ "override", NULL, cmd_override, "N",
	    "Pin the capacity to N (1..65535); 0 clears the pin and the\n"
	    "capacity is derived from the workers again.  The broker\n"
	    "refuses, logs and counts any other value.\n" },
	{ "status", NULL, cmd_status, "",
	    "Show the capacity, its source tier, the settings and the\n"
	    "broker's counters as key: value lines.\n" },
	{ "ping", NULL, cmd_ping, "",
	    "Check that the broker answers; prints pong.\n" },
	{ "pool", "set", cmd_pool_set,
	    "POOL [--limit N | --share PCT] [--window SECONDS] [--observed N]",
	    "Create pool POOL, or change what the options name in a known\n"
	    "one; prints \"pool POOL (index I): limit L, window W s,\n"
	    "observed O\".  Creating a pool needs --limit or --share.  Pool\n"
	    "names are 1-31 of A-Z a-z 0-9 . _ -; \"default\" (index 0)\n"
	    "follows the capacity and takes only --window and --observed.\n"
	    "Pools are never deleted; at most 64 exist.\n"
	    "\n"
	    "-l, --limit N          a fixed limit of N units, 0..65535 (0\n"
	    "                       admits nothing)\n"
	    "-s, --share PCT        a share of the capacity, 1..100 percent,\n"
	    "                       at least 1 unit; follows the capacity\n"
	    "-w, --window SECONDS   launch visibility window, 1..86400: a\n"
	    "                       launch reservation expires after it\n"
	    "                       (default 60 for a new pool)\n"
	    "-o, --observed N       the fleet already visible, 0..65535;\n"
	    "                       launches are admitted while observed +\n"
	    "                       launching + held < limit\n" },
	{ "pool", "list", cmd_pool_list, "",
	    "List the pools by index: POOL, INDEX, KIND (capacity, fixed or\n"
	    "share), VALUE (the fixed limit, the share in percent, - for\n"
	    "capacity), the current LIMIT, the launch WINDOW in seconds,\n"
	    "OBSERVED, and the units HELD and LAUNCHING right now.\n" },
	{ "run", NULL, cmd_run,
	    "[--pool POOL] [--timeout SECONDS] [--pick POLICY] -- COMMAND "
	    "[ARG...]",
	    "Hold one unit of POOL while COMMAND runs, like flock(1): take a\n"
	    "hold, run COMMAND (searched in PATH), wait for it, release the\n"
	    "hold, and exit with COMMAND's exit status (128+N if signal N\n"
	    "killed it; 126 if it cannot be executed, 127 if it is not\n"
	    "found).  SIGINT, SIGTERM and SIGHUP are passed on to COMMAND;\n"
	    "capctl stays until COMMAND exits, so the unit is held exactly as\n"
	    "long as COMMAND runs.  If capctl itself is killed (SIGKILL),\n"
	    "the broker gives the unit back even if COMMAND still runs.\n"
	    "Over the limit, prints how full the pool is and when to retry,\n"
	    "and exits 75 without running COMMAND.\n"
	    "Reserves through shared memory: works while the broker is down.\n"
	    "\n"
	    "-p, --pool POOL        the pool (default: \"default\", whose\n"
	    "                       limit is the capacity)\n"
	    "-t, --timeout SECONDS  how long to wait for a free unit; may be\n"
	    "                       fractional (0.5); 0 fails at once (the\n"
	    "                       default); -1 or inf waits without limit\n"
	    "-k, --pick POLICY      also bind the hold to a ready worker with\n"
	    "                       room, chosen by consolidate (the busiest),\n"
	    "                       spread (the most room for its size) or\n"
	    "                       least_loaded (the fewest in flight); its\n"
	    "                       id is in CAPBROKER_WORKER for COMMAND.\n"
	    "                       No ready worker at all: exits 69\n" },
	{ "launch", NULL, cmd_launch,
	    "[--pool POOL] [--observed N] [--timeout SECONDS]",
	    "Take one launch reservation in POOL and print its ticket, alone\n"
	    "on a line, for a later capctl release.  A launch stands for a\n"
	    "fleet member that was asked for but may not be visible yet: it\n"
	    "is admitted while observed + launching + held < limit, outlives\n"
	    "capctl, and expires after the pool's window.  Release it at\n"
	    "once if the launch fails.  Over the limit, prints how full the\n"
	    "pool is and when to retry, and exits 75.\n"
	    "\n"
	    "-p, --pool POOL        the pool (default: \"default\")\n"
	    "-o, --observed N       members of the fleet already visible to\n"
	    "                       the caller, 0..65535 (default 0); the\n"
	    "                       larger of this and the pool's published\n"
	    "                       observation counts\n"
	    "-t, --timeout SECONDS  as for run (default 0: fail at once)\n" },
	{ "release", NULL, cmd_release, "TICKET",
	    "Release the launch reservation TICKET (as printed by capctl\n"
	    "launch) at once, e.g. because the launch failed.  Exits 1 if\n"
	    "the ticket was already released, or expired after the pool's\n"
	    "window; the pool is left as it was.\n" },
};
static const size_t ncommands = sizeof(commands) / sizeof(commands[0]);

/* ---------------------------------------------------------------- */
/* Usage and help                                                    */
/* ---------------------------------------------------------------- */

static void __attribute__((noreturn, format(printf, 2, 3)))
usage_error(const char *topic, const char *fmt, ...)
{
	va_list ap;

	fputs("capctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'capctl %s%s--help' for more information.\n",
	    topic != NULL ? topic : "", topic != NULL ? " " : "");
	exit(EXIT_USAGE);
}

/* getopt_long() said '?' or ':' (opterr is 0: the words are ours). */
static void __attribute__((noreturn))
option_error(const char *topic, int ch, char **argv)
{
	if (ch == ':')
		usage_error(topic, "option '%s' needs an argument",
		    argv[optind - 1]);
	if (optopt != 0)
		usage_error(topic, "unknown option '-%c'", optopt);
	usage_error(topic, "unknown option '%s'", argv[optind - 1]);
}

static void print_indented(FILE *f, const char *text, int indent)
{
	const char *nl;

	for (; *text != '\0'; text = nl + (*nl == '\n')) {
		nl = text + strcspn(text, "\n");
		if (nl > text)
			fprintf(f, "%*s%.*s", indent, "", (int)(nl - text),
			    text);
		fputc('\n', f);
	}
}

/* "worker set ID --state STATE ..." */
static void print_cmd_words(FILE *f, const struct ctl_cmd *c)
{
	fprintf(f, "%s%s%s%s%s", c->group, c->sub != NULL ? " " : "",
	    c->sub != NULL ? c->sub : "", c->args[0] != '\0' ? " " : "",
	    c->args);
}

static void help_cmd(FILE *f, const struct ctl_cmd *c)
{
	fputs("usage: capctl [-n NAME] ", f);
	print_cmd_words(f, c);
	fputs("\n\n", f);
	print_indented(f, c->help, 2);
	fputs("\nSee 'capctl --help' for -n, the environment and the exit "
	    "status.\n", f);
}

/* Help for every command whose first word is group; 0 if none. */
static int help_group(FILE *f, const char *group)
{
	int found = 0;

	for (size_t i = 0; i < ncommands; i++) {
		if (strcmp(commands[i].group, group) != 0)
			continue;
		if (found++)
			fputc('\n', f);
		help_cmd(f, &commands[i]);
	}
	return found;
}

static void help_full(FILE *f)
{
	fputs("usage: capctl [-n NAME] COMMAND [ARG...]\n", f);
	for (size_t i = 0; i < ncommands; i++) {
		fputs("       capctl [-n NAME] ", f);
		print_cmd_words(f, &commands[i]);
		fputc('\n', f);
	}
	fputs(
"       capctl help [COMMAND]\n"
"       capctl -h | --help | -V | --version\n"
"\n"
"Administer a running capbrokerd instance through its control socket.\n"
"worker set, worker del and override change the broker's state, need\n"
"the broker's uid or root, and print the capacity that results:\n"
"\n"
"  capacity C (source S), generation G\n"
"\n"
"pool set needs the same rights.  run, launch and release do not use\n"
"the socket: they reserve and release through the instance's shared\n"
"memory, like any libcapbroker client, so they need read-write access\n"
"to /dev/shm/capbroker.NAME.slots and work while the broker is down.\n"
"\n"
"Commands:\n", f);
	for (size_t i = 0; i < ncommands; i++) {
		fputs("  ", f);
		print_cmd_words(f, &commands[i]);
		fputc('\n', f);
		print_indented(f, commands[i].help, 8);
	}
	fputs(
"\n"
"Options:\n"
"  -n, --name NAME   the broker instance (default \"default\"): 1-31 of\n"
"                    A-Z a-z 0-9 . _ -; give it before the command\n"
"  -h, --help        this text; after a command, that command's help\n"
"  -V, --version     print the version\n"
"\n"
"Environment:\n"
"  CAPBROKER_RUNDIR  the directory holding the control socket NAME.sock\n"
"                    (default " CB_RUNDIR_DEFAULT ")\n"
"\n"
"Exit status:\n"
"  0   success\n"
"  1   the broker refused the request, or the reservation library\n"
"      failed (a stale ticket, no such pool); its message is printed\n"
"  64  usage error: bad command, option or argument (EX_USAGE)\n"
"  69  the broker cannot be reached: no socket, connection refused,\n"
"      permission denied, or no reply within 10 s; for run, launch\n"
"      and release: no shared memory of that name, or no permission\n"
"      to it (EX_UNAVAILABLE)\n"
"  70  the broker's reply is malformed (EX_SOFTWARE)\n"
"  71, 74  out of memory, cannot write the output (EX_OSERR, EX_IOERR)\n"
"  75  run, launch: the pool is full (or stayed full for --timeout);\n"
"      the message says when to retry (EX_TEMPFAIL)\n"
"  run otherwise exits with COMMAND's status: 128+N if signal N killed\n"
"  it, 126 if it cannot be executed, 127 if it is not found.\n"
"\n"
"Examples:\n"
"  capctl worker set gpu-0 --state ready --max-running 32\n"
"  capctl -n edge worker set gpu-1 --state draining\n"
"  capctl override 512       # pin the capacity to 512\n"
"  capctl override 0         # derive it from the workers again\n"
"  capctl pool set gpu --limit 8 --window 120\n"
"  capctl run --pool gpu --timeout 30 -- ./train.sh --epochs 3\n"
"  t=$(capctl launch --pool gpu --observed 5) || exit\n"
"  start-worker || capctl release \"$t\"\n"
"  CAPBROKER_RUNDIR=/tmp/cb capctl -n test worker list\n", f);
}

/* ---------------------------------------------------------------- */
/* The connection                                                    */
/* ---------------------------------------------------------------- */

static void __attribute__((noreturn))
ctl_unreachable(const struct ctl *ctl)
{
	const struct cb_ctl_conn *conn = &ctl->conn;

	/* The hint must fit the cause: a permission problem is not a
	 * broker that is down. */
	if (conn->sys_errno == EACCES || conn->sys_errno == EPERM)
		errx(EXIT_UNREACHABLE, "cannot reach broker '%s' at %s: %s "
		    "(the socket is mode 0660: run as the broker's user or "
		    "group)", ctl->name, conn->path, conn->errmsg);
	errx(EXIT_UNREACHABLE, "cannot reach broker '%s' at %s: %s "
	    "(is capbrokerd -n %s running?)", ctl->name, conn->path,
	    conn->errmsg, ctl->name);
}

static void __attribute__((noreturn, format(printf, 2, 3)))
ctl_malformed(const struct ctl *ctl, const char *fmt, ...)
{
	char reason[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	errx(EXIT_PROTOCOL, "malformed reply from broker '%s' at %s: %s",
	    ctl->name, ctl->conn.path, reason);
}

/*
 * Exit for a failure of the control client (rc < 0): no command can go
 * on without the broker or with a reply that makes no sense.
 */
static void ctl_check(const struct ctl *ctl, int rc)
{
	const struct cb_ctl_conn *conn = &ctl->conn;

	switch (rc) {
	case 0:
		return;
	case CB_CTL_EUNREACHABLE:
		ctl_unreachable(ctl);
	case CB_CTL_EADDRESS:
		errx(EXIT_UNREACHABLE, "cannot reach broker '%s': %s",
		    ctl->name, conn->errmsg);
	case CB_CTL_EMALFORMED:
		ctl_malformed(ctl, "%s", conn->errmsg);
	case CB_CTL_EREQUEST:
		/* Operands were checked, so this is a bug in capctl. */
		errx(EX_SOFTWARE, "%s", conn->errmsg);
	default:
		errx(EX_OSERR, "%s", conn->errmsg);
	}
}

/*
 * Send one request (printf-style, without the '\n') and read its reply
 * into r; connects on first use, and the connection stays open for
 * further requests.  Returns 0 for OK, or the errno of an ERR reply
 * (r->text has the broker's message).  Failing to talk to the broker at
 * all, or a malformed reply, exits (69, 70): no command can go on then.
 * Free r with cb_ctl_reply_free().
 */
static int __attribute__((format(printf, 3, 4)))
ctl_call(struct ctl *ctl, struct cb_ctl_reply *r, const char *fmt, ...)
{
	va_list ap;
	int rc;

	if (ctl->conn.fd == -1)
		ctl_check(ctl, cb_ctl_connect(&ctl->conn, ctl->name));
	va_start(ap, fmt);
	rc = cb_ctl_vcall(&ctl->conn, r, fmt, ap);
	va_end(ap);
	ctl_check(ctl, rc);
	return r->err;
}

/* Report an ERR reply; returns the exit status for it. */
static int ctl_refused(struct cb_ctl_reply *r)
{
	warnx("%s", r->text[0] != '\0' ? r->text : r->errname);
	cb_ctl_reply_free(r);
	return EXIT_REFUSED;
}

/* ---------------------------------------------------------------- */
/* Reply contents                                                    */
/* ---------------------------------------------------------------- */

/* A key=NUMBER in the status line's text, range-checked. */
static long long reply_number(struct ctl *ctl, const struct cb_ctl_reply *r,
    const char *key, long long max)
{
	long long v;

	ctl_check(ctl, cb_ctl_reply_number(&ctl->conn, r, key, max, &v));
	return v;
}
static int print_summary(struct ctl *ctl, struct cb_ctl_reply *r)
{
	char source[16];
	long long capacity, generation;

	capacity = reply_number(ctl, r, "capacity", CB_CAPACITY_MAX);
	generation = reply_number(ctl, r, "generation", UINT32_MAX);
	if (cb_ctl_reply_value(r, "source", source, sizeof(source)) < 0 ||
	    source[0] == '\0')
		ctl_malformed(ctl, "no source= in '%.64s'", r->text);
	printf("capacity %lld (source %s), generation %lld\n", capacity,
	    source, generation);
	cb_ctl_reply_free(r);
	return 0;
}

/* ---------------------------------------------------------------- */
/* Commands                                                          */
/* ---------------------------------------------------------------- */

/*
 * getopt_long() for a command (argv[0] is the command's last word;
 * main() reset optind): -h prints the command's help and exits 0, an
 * unknown option or a missing argument is a usage error.
 */
static int cmd_getopt(struct ctl *ctl, int argc, char **argv,
    const char *shortopts, const struct option *longopts)
{
	int ch;

	opterr = 0;
	ch = getopt_long(argc, argv, shortopts, longopts, NULL);
	if (ch == 'h') {
		help_cmd(stdout, ctl->cmd);
		exit(0);
	}
	if (ch == '?' || ch == ':')
		option_error(ctl->topic, ch, argv);
	return ch;
}

/* For commands with no options but -h: returns the first operand. */
static int cmd_no_options(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};

	while (cmd_getopt(ctl, argc, argv, ":h", opts) != -1)
		;
	return optind;
}

/* Exactly want operands from argv[first]; what names the first. */
static void cmd_operands(struct ctl *ctl, int argc, char **argv, int first,
    int want, const char *what)
{
	if (argc - first < want)
		usage_error(ctl->topic, "missing %s", what);
	if (argc - first > want)
		usage_error(ctl->topic, "unexpected argument '%s'",
		    argv[first + want]);
}

/* The ID operand of worker set/del, checked before it is sent. */
static const char *cmd_worker_id(struct ctl *ctl, int argc, char **argv)
{
	const char *id;

	cmd_operands(ctl, argc, argv, optind, 1, "worker ID");
	id = argv[optind];
	if (!cb_worker_id_valid(id))
		usage_error(ctl->topic, "bad worker id '%.80s': 1-%d of "
		    "A-Z a-z 0-9 . _ : @ -", id, CB_WORKER_ID_MAX);
	return id;
}

static int cmd_worker_set(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "state", required_argument, NULL, 's' },
		{ "max-running", required_argument, NULL, 'm' },
		{ NULL, 0, NULL, 0 },
	};
	struct cb_ctl_reply r;
	const char *errstr, *id;
	char extra[24] = "";            /* " MAX_RUNNING" when given */
	long long max_running = -1;
	uint32_t state = 0;
	int ch;

	while ((ch = cmd_getopt(ctl, argc, argv, ":hs:m:", opts)) != -1) {
		switch (ch) {
		case 's':
			state = cb_worker_state_parse(optarg);
			if (state == 0)
				usage_error(ctl->topic, "bad state '%.32s': "
				    "ready, not_ready or draining", optarg);
			break;
		case 'm':
			max_running = strtonum(optarg, 0, CB_CAPACITY_MAX,
			    &errstr);
			if (errstr != NULL)
				usage_error(ctl->topic, "--max-running "
				    "'%.32s' is %s (0..%u)", optarg, errstr,
				    CB_CAPACITY_MAX);
			break;
		}
	}
	id = cmd_worker_id(ctl, argc, argv);
	if (state == 0)
		usage_error(ctl->topic, "missing --state "
		    "ready|not_ready|draining");
	if (max_running >= 0)
		snprintf(extra, sizeof(extra), " %lld", max_running);
	if (ctl_call(ctl, &r, "WORKER SET %s %s%s", id,
	    cb_worker_state_name(state), extra) != 0)
		return ctl_refused(&r);
	return print_summary(ctl, &r);
}

static int cmd_worker_del(struct ctl *ctl, int argc, char **argv)
{
	struct cb_ctl_reply r;
	const char *id;

	cmd_no_options(ctl, argc, argv);
	id = cmd_worker_id(ctl, argc, argv);
	if (ctl_call(ctl, &r, "WORKER DEL %s", id) != 0)
		return ctl_refused(&r);
	return print_summary(ctl, &r);
}

struct worker_row {
	const char *id;
	const char *state;
	unsigned max_running;
};

/* "ID STATE MAX_RUNNING", split in place. */
static void worker_row_parse(struct ctl *ctl, char *line,
    struct worker_row *w)
{
	char *p = line, *max_running;
	const char *errstr;

	w->id = cb_ctl_word_next(&p);
	w->state = cb_ctl_word_next(&p);
	max_running = cb_ctl_word_next(&p);
	if (max_running == NULL || cb_ctl_word_next(&p) != NULL)
		ctl_malformed(ctl, "worker line is not ID STATE MAX_RUNNING");
	if (!cb_worker_id_valid(w->id))
		ctl_malformed(ctl, "bad worker id '%.64s'", w->id);
	w->max_running = (unsigned)strtonum(max_running, 0, CB_CAPACITY_MAX,
	    &errstr);
	if (errstr != NULL)
		ctl_malformed(ctl, "worker %s: max_running '%.16s' is %s",
		    w->id, max_running, errstr);
}

static int cmd_worker_list(struct ctl *ctl, int argc, char **argv)
{
	cb_client *c;
	struct cb_ctl_reply r;
	struct worker_row *rows;
	int idw = 2, statew = 5;        /* "ID", "STATE" */

	cmd_operands(ctl, argc, argv, cmd_no_options(ctl, argc, argv), 0, "");
	if (ctl_call(ctl, &r, "WORKER LIST") != 0)
		return ctl_refused(&r);
	if ((rows = calloc(r.ndata + 1, sizeof(*rows))) == NULL)
		err(EX_OSERR, NULL);
	for (size_t i = 0; i < r.ndata; i++) {
		worker_row_parse(ctl, r.data[i], &rows[i]);
		if ((int)strlen(rows[i].id) > idw)
			idw = (int)strlen(rows[i].id);
		if ((int)strlen(rows[i].state) > statew)
			statew = (int)strlen(rows[i].state);
	}
	/* In-flight counts live in shared memory, not in the broker's
	 * answer: read them there, read-only (no client entry). */
	if (cb_open(&c, ctl->name, CB_OPEN_RDONLY) < 0)
		c = NULL;
	printf("%-*s  %-*s  %-11s  %s\n", idw, "ID", statew, "STATE",
	    "MAX_RUNNING", "INFLIGHT");
	for (size_t i = 0; i < r.ndata; i++) {
		int in = c != NULL ? cb_worker_inflight(c, rows[i].id) : -1;

		printf("%-*s  %-*s  ", idw, rows[i].id, statew, rows[i].state);
		/* 0: the worker does not report (slots_per_worker applies) */
		if (rows[i].max_running == 0)
			printf("%-11s  ", "-");
		else
			printf("%-11u  ", rows[i].max_running);
		if (in < 0)
			puts("-");
		else
			printf("%d\n", in);
	}
	cb_close(c);
	free(rows);
	cb_ctl_reply_free(&r);
	return 0;
}

/* 1 if s is an integer strtonum() would take, e.g. "-5". */
static int looks_like_integer(const char *s)
{
	s += *s == '-' || *s == '+';
	return *s != '\0' && strspn(s, "0123456789") == strlen(s);
}

static int cmd_override(struct ctl *ctl, int argc, char **argv)
{
	struct cb_ctl_reply r;
	const char *errstr;
	long long n;
	int first = 1;

	/* "-5" is the operand, not an option: the broker judges range. */
	if (argc < 2 || !looks_like_integer(argv[1]))
		first = cmd_no_options(ctl, argc, argv);
	cmd_operands(ctl, argc, argv, first, 1, "N (0 clears the override)");
	/*
	 * Only the syntax is ours to check.  Values outside 0..65535 are
	 * sent on purpose: the broker refuses them, logs a warning and
	 * counts them (override_rejects), so no rejection goes unseen.
	 */
	n = strtonum(argv[first], -(1LL << 40), 1LL << 40, &errstr);
	if (errstr != NULL)
		usage_error(ctl->topic, "override '%.32s' is %s: an integer, "
		    "1..%u, or 0 to clear", argv[first], errstr,
		    CB_CAPACITY_MAX);
	if (ctl_call(ctl, &r, "OVERRIDE %lld", n) != 0)
		return ctl_refused(&r);
	return print_summary(ctl, &r);
}

static int cmd_status(struct ctl *ctl, int argc, char **argv)
{
	struct cb_ctl_reply r;
	size_t width = 0, klen;
	char *p, *key;

	cmd_operands(ctl, argc, argv, cmd_no_options(ctl, argc, argv), 0, "");
	if (ctl_call(ctl, &r, "STATUS") != 0)
		return ctl_refused(&r);
	for (size_t i = 0; i < r.ndata; i++) {
		p = r.data[i] + strspn(r.data[i], " \t");
		if ((klen = strcspn(p, " \t")) == 0)
			ctl_malformed(ctl, "status line %zu has no key", i + 1);
		if (klen > width)
			width = klen;
	}
	for (size_t i = 0; i < r.ndata; i++) {
		p = r.data[i];
		key = cb_ctl_word_next(&p);
		p += strspn(p, " \t");
		printf("%s:%*s %s\n", key, (int)(width - strlen(key)), "", p);
	}
	cb_ctl_reply_free(&r);
	return 0;
}

static int cmd_ping(struct ctl *ctl, int argc, char **argv)
{
	struct cb_ctl_reply r;

	cmd_operands(ctl, argc, argv, cmd_no_options(ctl, argc, argv), 0, "");
	if (ctl_call(ctl, &r, "PING") != 0)
		return ctl_refused(&r);
	puts(r.text[0] != '\0' ? r.text : "ok");
	cb_ctl_reply_free(&r);
	return 0;
}

/* ---------------------------------------------------------------- */
/* Pools, through the socket                                         */
/* ---------------------------------------------------------------- */

/* A pool name from the command line, checked before it is used. */
static const char *cmd_pool_name(struct ctl *ctl, const char *name)
{
	if (!cb_pool_name_valid(name))
		usage_error(ctl->topic, "bad pool name '%.80s': 1-%d of "
		    "A-Z a-z 0-9 . _ -", name, CB_POOL_NAME_MAX);
	return name;
}

/* An integer option argument in min..max; a usage error names it. */
static long long opt_number(struct ctl *ctl, const char *opt,
    const char *arg, long long min, long long max)
{
	const char *errstr;
	long long v;

	v = strtonum(arg, min, max, &errstr);
	if (errstr != NULL)
		usage_error(ctl->topic, "%s '%.32s' is %s (%lld..%lld)", opt,
		    arg, errstr, min, max);
	return v;
}

/* What pool set was asked to change; -1 = not given. */
struct pool_change {
	long long limit, share, window, observed;
};

static void pool_change_parse(struct ctl *ctl, int argc, char **argv,
    struct pool_change *pc)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "limit", required_argument, NULL, 'l' },
		{ "share", required_argument, NULL, 's' },
		{ "window", required_argument, NULL, 'w' },
		{ "observed", required_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	pc->limit = pc->share = pc->window = pc->observed = -1;
	while ((ch = cmd_getopt(ctl, argc, argv, ":hl:s:w:o:", opts)) != -1) {
		if (ch == 'l')
			pc->limit = opt_number(ctl, "--limit", optarg, 0,
			    CB_CAPACITY_MAX);
		else if (ch == 's')
			pc->share = opt_number(ctl, "--share", optarg, 1, 100);
		else if (ch == 'w')
			pc->window = opt_number(ctl, "--window", optarg, 1,
			    86400);
		else if (ch == 'o')
			pc->observed = opt_number(ctl, "--observed", optarg,
			    0, CB_CAPACITY_MAX);
	}
	/* A pool's limit has one kind: the broker would have to pick. */
	if (pc->limit >= 0 && pc->share >= 0)
		usage_error(ctl->topic, "--limit and --share are mutually "
		    "exclusive");
	if (pc->limit < 0 && pc->share < 0 && pc->window < 0 &&
	    pc->observed < 0)
		usage_error(ctl->topic, "nothing to set: give --limit, "
		    "--share, --window or --observed");
}

/* " key=V" for each given value, appended to buf. */
static void pool_change_words(const struct pool_change *pc, char *buf,
    size_t len)
{
	static const char *const keys[] = { "limit", "share", "window",
	    "observed" };
	const long long v[] = { pc->limit, pc->share, pc->window,
	    pc->observed };
	char word[32];

	buf[0] = '\0';
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		if (v[i] < 0)
			continue;
		snprintf(word, sizeof(word), " %s=%lld", keys[i], v[i]);
		strlcat(buf, word, len);
	}
}

static int cmd_pool_set(struct ctl *ctl, int argc, char **argv)
{
	struct pool_change pc;
	struct cb_ctl_reply r;
	char words[128], name[CB_POOL_NAME_MAX + 1];
	const char *pool;
	long long index, limit, window, observed;

	pool_change_parse(ctl, argc, argv, &pc);
	cmd_operands(ctl, argc, argv, optind, 1, "POOL");
	pool = cmd_pool_name(ctl, argv[optind]);
	pool_change_words(&pc, words, sizeof(words));
	if (ctl_call(ctl, &r, "POOL SET %s%s", pool, words) != 0)
		return ctl_refused(&r);
	if (cb_ctl_reply_value(&r, "pool", name, sizeof(name)) < 0 ||
	    !cb_pool_name_valid(name))
		ctl_malformed(ctl, "no valid pool= in '%.64s'", r.text);
	index = reply_number(ctl, &r, "index", CB_MAX_POOLS - 1);
	limit = reply_number(ctl, &r, "limit", CB_CAPACITY_MAX);
	window = reply_number(ctl, &r, "window", UINT32_MAX);
	observed = reply_number(ctl, &r, "observed", CB_CAPACITY_MAX);
	printf("pool %s (index %lld): limit %lld, window %lld s, observed "
	    "%lld\n", name, index, limit, window, observed);
	cb_ctl_reply_free(&r);
	return 0;
}

/* One line of POOL LIST, split in place and range-checked. */
struct pool_row {
	const char *name;
	const char *kind;
	long long n[7];  /* INDEX VALUE LIMIT WINDOW OBSERVED HELD LAUNCHING */
};

/* A number of a pool line, in 0..max. */
static long long pool_row_number(struct ctl *ctl, const char *pool,
    const char *w, long long max)
{
	const char *errstr;
	long long v;

	if (w == NULL)
		ctl_malformed(ctl, "pool line has fewer than 9 words");
	v = strtonum(w, 0, max, &errstr);
	if (errstr != NULL)
		ctl_malformed(ctl, "pool %.32s: '%.16s' is %s", pool, w,
		    errstr);
	return v;
}

/* "NAME INDEX KIND VALUE LIMIT WINDOW OBSERVED HELD LAUNCHING" */
static void pool_row_parse(struct ctl *ctl, char *line, struct pool_row *p)
{
	static const long long max[7] = { CB_MAX_POOLS - 1, CB_CAPACITY_MAX,
	    CB_CAPACITY_MAX, UINT32_MAX, CB_CAPACITY_MAX, UINT32_MAX,
	    UINT32_MAX };
	char *s = line;

	p->name = cb_ctl_word_next(&s);
	if (p->name == NULL || !cb_pool_name_valid(p->name))
		ctl_malformed(ctl, "bad pool name '%.64s'",
		    p->name != NULL ? p->name : "");
	p->n[0] = pool_row_number(ctl, p->name, cb_ctl_word_next(&s), max[0]);
	p->kind = cb_ctl_word_next(&s);
	if (p->kind == NULL || (strcmp(p->kind, "capacity") != 0 &&
	    strcmp(p->kind, "fixed") != 0 && strcmp(p->kind, "share") != 0))
		ctl_malformed(ctl, "pool %.32s: kind '%.16s' is not capacity, "
		    "fixed or share", p->name, p->kind != NULL ? p->kind : "");
	for (int i = 1; i < 7; i++)
		p->n[i] = pool_row_number(ctl, p->name, cb_ctl_word_next(&s), max[i]);
	if (cb_ctl_word_next(&s) != NULL)
		ctl_malformed(ctl, "pool line has more than 9 words");
}

static void pool_row_print(const struct pool_row *p, int namew)
{
	char value[16];

	if (strcmp(p->kind, "capacity") == 0)
		strlcpy(value, "-", sizeof(value));
	else
		snprintf(value, sizeof(value), "%lld%s", p->n[1],
		    strcmp(p->kind, "share") == 0 ? "%" : "");
	printf("%-*s  %5lld  %-8s  %5s  %5lld  %6lld  %8lld  %4lld  %9lld\n",
	    namew, p->name, p->n[0], p->kind, value, p->n[2], p->n[3],
	    p->n[4], p->n[5], p->n[6]);
}

static int cmd_pool_list(struct ctl *ctl, int argc, char **argv)
{
	struct cb_ctl_reply r;
	struct pool_row *rows;
	int namew = 4;                  /* "POOL" */

	cmd_operands(ctl, argc, argv, cmd_no_options(ctl, argc, argv), 0, "");
	if (ctl_call(ctl, &r, "POOL LIST") != 0)
		return ctl_refused(&r);
	if ((rows = calloc(r.ndata + 1, sizeof(*rows))) == NULL)
		err(EX_OSERR, NULL);
	for (size_t i = 0; i < r.ndata; i++) {
		pool_row_parse(ctl, r.data[i], &rows[i]);
		if ((int)strlen(rows[i].name) > namew)
			namew = (int)strlen(rows[i].name);
	}
	printf("%-*s  %5s  %-8s  %5s  %5s  %6s  %8s  %4s  %9s\n", namew,
	    "POOL", "INDEX", "KIND", "VALUE", "LIMIT", "WINDOW", "OBSERVED",
	    "HELD", "LAUNCHING");
	for (size_t i = 0; i < r.ndata; i++)
		pool_row_print(&rows[i], namew);
	free(rows);
	cb_ctl_reply_free(&r);
	return 0;
}

/* ---------------------------------------------------------------- */
/* Reservations, through shared memory                               */
/* ---------------------------------------------------------------- */

/*
 * run, launch and release are libcapbroker clients: they never touch
 * the socket, so they keep working while the broker restarts or is
 * down (reservations live in shared memory).  Their failures are the
 * library's, reported with cb_errmsg().
 */

/* What run and launch reserve, from their options. */
struct rsv_opts {
	const char *pool;              /* default "default" */
	const char *timeout_text;      /* as given, for messages */
	int timeout_ms;                /* 0 fail fast, -1 no limit */
	uint32_t observed;             /* launch only */
	int pick;                      /* run only: a CB_PLACE_*, 0 none */
};


/*
 * SECONDS for --timeout: "-1", "inf" or "infinity" wait without limit;
 * otherwise decimal digits with at most one point.  strtod() alone
 * would also take signs, exponents, hex and "nan", none of which a
 * timeout needs.  Rounds up, so a tiny timeout still waits rather than
 * failing at once.  Returns 0, or -1 if s is not a timeout.
 */
static int timeout_parse(const char *s, int *ms)
{
	const char *dot = strchr(s, '.');
	char *end;
	double v;

	if (strcmp(s, "-1") == 0 || strcasecmp(s, "inf") == 0 ||
	    strcasecmp(s, "infinity") == 0) {
		*ms = -1;
		return 0;
	}
	if (strspn(s, "0123456789.") != strlen(s) || strspn(s, ".") ==
	    strlen(s) || (dot != NULL && strchr(dot + 1, '.') != NULL))
		return -1;
	errno = 0;
	v = strtod(s, &end) * 1000.0;
	/* cb_request.timeout_ms is an int: about 24 days at most. */
	if (errno != 0 || *end != '\0' || v > (double)INT_MAX)
		return -1;
	*ms = (int)v;
	if ((double)*ms < v)
		(*ms)++;
	return 0;
}

static void rsv_opts_parse(struct ctl *ctl, int argc, char **argv,
    struct rsv_opts *o, int launch)
{
	/* launch's table; run's is the same without --observed. */
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "pool", required_argument, NULL, 'p' },
		{ "timeout", required_argument, NULL, 't' },
		{ "observed", required_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 },
	};
	static const struct option run_opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "pool", required_argument, NULL, 'p' },
		{ "timeout", required_argument, NULL, 't' },
		{ "pick", required_argument, NULL, 'k' },
		{ NULL, 0, NULL, 0 },
	};
	/* run: "+" stops at COMMAND, whose options are its own. */
	const char *shortopts = launch ? ":hp:t:o:" : "+:hp:t:k:";
	int ch;

	*o = (struct rsv_opts){ .pool = "default", .timeout_text = "0" };
	while ((ch = cmd_getopt(ctl, argc, argv, shortopts,
	    launch ? opts : run_opts)) != -1) {
		if (ch == 'p') {
			o->pool = cmd_pool_name(ctl, optarg);
		} else if (ch == 't') {
			if (timeout_parse(optarg, &o->timeout_ms) < 0)
				usage_error(ctl->topic, "--timeout '%.32s' is "
				    "not a timeout: seconds (may be "
				    "fractional), or -1 or inf for none",
				    optarg);
			o->timeout_text = optarg;
		} else if (ch == 'o') {
			o->observed = (uint32_t)opt_number(ctl, "--observed",
			    optarg, 0, CB_CAPACITY_MAX);
		} else if (ch == 'k') {
			o->pick = cb_placement_parse(optarg);
			if (o->pick < 0)
				usage_error(ctl->topic, "--pick '%.32s' is not "
				    "consolidate, spread or least_loaded",
				    optarg);
		}
	}
}

/*
 * Attach as a reserving client.  No segment, or no permission to it,
 * means there is no broker we may use: 69, as for the socket.
 */
static cb_client *rsv_open(const struct ctl *ctl)
{
	cb_client *c;
	int r;

	r = cb_open(&c, ctl->name, 0);
	if (r == -ENOENT || r == -EACCES)
		errx(EXIT_UNREACHABLE, "%s", cb_open_errmsg());
	if (r < 0)
		errx(EXIT_REFUSED, "%s", cb_open_errmsg());
	return c;
}

/* The index of the pool named in o; exits 1 if there is none. */
static int rsv_pool(cb_client *c, const struct ctl *ctl,
    const struct rsv_opts *o)
{
	int pool = cb_pool(c, o->pool);

	if (pool == -ENOENT)
		errx(EXIT_REFUSED, "broker '%s' has no pool '%s' (create it "
		    "with capctl pool set)", ctl->name, o->pool);
	if (pool < 0)
		errx(EXIT_REFUSED, "pool '%s': %s", o->pool, cb_errmsg(c));
	return pool;
}

/*
 * Over the limit: say how full the pool is and when to retry, and
 * return 75.  The numbers are read after the fact, each on its own, so
 * they may have moved since; they explain, they do not promise.  A
 * launch also counts what is observed (the larger of --observed and
 * the pool's published observation), so its hint says that too: a
 * pool can be full for a launch with nothing held or launching.
 */
static int rsv_full(cb_client *c, const struct rsv_opts *o, int pool,
    int kind, int r, uint32_t retry_after_ms)
{
	struct cb_pool_info pi;
	char observed[32] = "";

	if (r == -ETIMEDOUT) {
		warnx("pool %s is full: no slot within %s s", o->pool,
		    o->timeout_text);
		return EX_TEMPFAIL;
	}
	if (cb_pool_info(c, pool, &pi) < 0) {
		warnx("pool %s is full; retry after %" PRIu32 " ms", o->pool,
		    retry_after_ms);
		return EX_TEMPFAIL;
	}
	if (kind == CB_LAUNCH && (o->observed > 0 || pi.observed > 0))
		snprintf(observed, sizeof(observed), ", %" PRIu32 " observed",
		    o->observed > pi.observed ? o->observed : pi.observed);
	warnx("pool %s is full (%" PRIu32 "+%" PRIu32 "/%" PRIu32 " in use%s);"
	    " retry after %" PRIu32 " ms", o->pool, pi.held, pi.launching,
	    pi.limit, observed, retry_after_ms);
	return EX_TEMPFAIL;
}

/* One reservation of kind in the pool of o.  Returns 0, or the exit
 * status after saying why not. */
static int rsv_take(cb_client *c, const struct ctl *ctl,
    const struct rsv_opts *o, int kind, cb_ticket *ticket)
{
	struct cb_request req = {
		.pool = rsv_pool(c, ctl, o),
		.kind = kind,
		.observed = o->observed,
		.timeout_ms = o->timeout_ms,
	};
	uint32_t retry_after_ms = 0;
	int r;

	r = cb_reserve(c, &req, ticket, &retry_after_ms);
	if (r == -EAGAIN || r == -ETIMEDOUT)
		return rsv_full(c, o, req.pool, kind, r, retry_after_ms);
	if (r < 0) {
		warnx("pool %s: %s", o->pool, cb_errmsg(c));
		return EXIT_REFUSED;
	}
	return 0;
}

/*
 * run --pick: one hold bound to a worker chosen under o->pick, its id
 * exported to COMMAND as CAPBROKER_WORKER.  Returns 0, or the exit
 * status after saying why not.
 */
static int rsv_pick(cb_client *c, const struct ctl *ctl,
    const struct rsv_opts *o, cb_ticket *ticket)
{
	struct cb_request req = {
		.pool = rsv_pool(c, ctl, o),
		.kind = CB_HOLD,
		.timeout_ms = o->timeout_ms,
	};
	char id[CB_WORKER_ID_STRLEN];
	uint32_t retry_after_ms = 0;
	int r;

	r = cb_pick_worker(c, &req, o->pick, ticket, id, sizeof(id),
	    &retry_after_ms);
	if (r == -EAGAIN || r == -ETIMEDOUT) {
		warnx("pool %s or its ready workers are full: %s; retry "
		    "after %" PRIu32 " ms", o->pool, cb_errmsg(c),
		    retry_after_ms);
		return EX_TEMPFAIL;
	}
	if (r == -ENOENT) {
		warnx("no ready worker to pick in broker '%s'", ctl->name);
		return EX_UNAVAILABLE;
	}
	if (r < 0) {
		warnx("pool %s: %s", o->pool, cb_errmsg(c));
		return EXIT_REFUSED;
	}
	if (setenv("CAPBROKER_WORKER", id, 1) < 0) {
		warn("setenv CAPBROKER_WORKER");
		cb_release(c, ticket);
		return EX_OSERR;
	}
	return 0;
}

/* The signals run passes on to COMMAND. */
static const int run_signals[] = { SIGINT, SIGTERM, SIGHUP };

/* The mask run waits with: the forwarded signals and SIGCHLD. */
static void run_sigset(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGCHLD);
	for (size_t i = 0; i < sizeof(run_signals) / sizeof(run_signals[0]);
	    i++)
		sigaddset(set, run_signals[i]);
}

/*
 * The child: undo run's signal mask (COMMAND must get the signals we
 * blocked) and exec.  Failing that, exit as a shell would: 127 not
 * found, 126 found but not executable.
 */
static void __attribute__((noreturn))
run_exec(char **argv, const sigset_t *saved_mask)
{
	int e;

	signal(SIGCHLD, SIG_DFL);
	sigprocmask(SIG_SETMASK, saved_mask, NULL);
	execvp(argv[0], argv);
	e = errno;
	warnx("%s: %s", argv[0], strerror(e));
	_exit(e == ENOENT || e == ENOTDIR ? 127 : 126);
}

/*
 * Pass sig on to the child, unless the child already got it: a
 * terminal's ^C (SI_KERNEL) goes to the whole foreground process
 * group, and a second SIGINT would make many programs (a shell, an
 * interpreter asked to clean up) give up on a graceful exit.
 */
static void run_forward(pid_t child, const siginfo_t *si)
{
	if (si->si_code == SI_KERNEL && getpgid(child) == getpgrp())
		return;
	kill(child, si->si_signo);
}

/*
 * Wait for the child with the forwarded signals and SIGCHLD blocked,
 * taking them one at a time with sigwaitinfo(): no handler runs, so
 * nothing races with the waitpid() and no signal between fork() and
 * here is lost.  Returns the child's wait status.
 */
static int run_wait(pid_t child, const sigset_t *set)
{
	siginfo_t si;
	int status;
	pid_t p;

	for (;;) {
		p = waitpid(child, &status, WNOHANG);
		if (p == child)
			return status;
		if (p == -1 && errno != EINTR)
			err(EX_OSERR, "waitpid");
		if (sigwaitinfo(set, &si) == -1) {
			if (errno != EINTR)
				err(EX_OSERR, "sigwaitinfo");
			continue;
		}
		if (si.si_signo != SIGCHLD)
			run_forward(child, &si);
	}
}

/* COMMAND's wait status as an exit status, as the shell reports it. */
static int run_exit_status(int status)
{
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}

/* Fork and exec argv with the hold taken; returns its exit status. */
static int run_command(char **argv)
{
	sigset_t set, saved;
	pid_t child;
	int status;

	/* A SIGCHLD inherited as ignored would auto-reap the child. */
	signal(SIGCHLD, SIG_DFL);
	run_sigset(&set);
	sigprocmask(SIG_BLOCK, &set, &saved);
	/* Or buffered output would be written twice. */
	fflush(NULL);
	child = fork();
	if (child == -1)
		err(EX_OSERR, "fork");
	if (child == 0)
		run_exec(argv, &saved);
	status = run_wait(child, &set);
	sigprocmask(SIG_SETMASK, &saved, NULL);
	return run_exit_status(status);
}

static int cmd_run(struct ctl *ctl, int argc, char **argv)
{
	struct rsv_opts o;
	cb_ticket ticket;
	cb_client *c;
	int rc;

	rsv_opts_parse(ctl, argc, argv, &o, 0);
	if (optind >= argc)
		usage_error(ctl->topic, "missing COMMAND");
	c = rsv_open(ctl);
	rc = o.pick != 0 ? rsv_pick(c, ctl, &o, &ticket) :
	    rsv_take(c, ctl, &o, CB_HOLD, &ticket);
	if (rc != 0) {
		cb_close(c);
		return rc;
	}
	rc = run_command(argv + optind);
	/* The child is gone: only now may the unit go back. */
	if (cb_release(c, &ticket) < 0)
		warnx("releasing the hold in pool %s: %s", o.pool,
		    cb_errmsg(c));
	cb_close(c);
	return rc;
}

static int cmd_launch(struct ctl *ctl, int argc, char **argv)
{
	char text[CB_TICKET_STRLEN];
	struct rsv_opts o;
	cb_ticket ticket;
	cb_client *c;
	int rc;

	rsv_opts_parse(ctl, argc, argv, &o, 1);
	cmd_operands(ctl, argc, argv, optind, 0, "");
	c = rsv_open(ctl);
	if ((rc = rsv_take(c, ctl, &o, CB_LAUNCH, &ticket)) != 0) {
		cb_close(c);
		return rc;
	}
	if (cb_ticket_format(&ticket, text, sizeof(text)) < 0)
		errx(EX_SOFTWARE, "ticket does not fit %d bytes",
		    CB_TICKET_STRLEN);
	/* Alone on its line: t=$(capctl launch) is the interface. */
	puts(text);
	cb_close(c);
	return 0;
}

static int cmd_release(struct ctl *ctl, int argc, char **argv)
{
	cb_ticket ticket;
	cb_client *c;
	const char *text;
	int r;

	cmd_operands(ctl, argc, argv, cmd_no_options(ctl, argc, argv), 1,
	    "TICKET");
	text = argv[optind];
	/* Checked before attaching: a typo is a usage error, not a miss. */
	if (cb_ticket_parse(text, &ticket) < 0)
		usage_error(ctl->topic, "bad ticket '%.64s': give the text "
		    "capctl launch printed", text);
	c = rsv_open(ctl);
	r = cb_release(c, &ticket);
	if (r == -ESTALE)
		warnx("ticket %s was already released, reclaimed or expired",
		    text);
	else if (r < 0)
		warnx("ticket %s: %s", text, cb_errmsg(c));
	cb_close(c);
	return r < 0 ? EXIT_REFUSED : 0;
}


/* ---------------------------------------------------------------- */
/* Dispatch                                                          */
/* ---------------------------------------------------------------- */

/* The row for group [sub]; NULL if none. */
static const struct ctl_cmd *cmd_find(const char *group, const char *sub)
{
	for (size_t i = 0; i < ncommands; i++)
		if (strcmp(commands[i].group, group) == 0 &&
		    (commands[i].sub == NULL || (sub != NULL &&
		    strcmp(commands[i].sub, sub) == 0)))
			return &commands[i];
	return NULL;
}

/* 1 if group has subcommands ("worker"), 0 if it is one, -1 unknown. */
static int cmd_group_kind(const char *group)
{
	for (size_t i = 0; i < ncommands; i++)
		if (strcmp(commands[i].group, group) == 0)
			return commands[i].sub != NULL;
	return -1;
}

static void __attribute__((noreturn))
cmd_bad_sub(const char *group, const char *sub)
{
	char subs[128] = "";

	for (size_t i = 0; i < ncommands; i++)
		if (strcmp(commands[i].group, group) == 0) {
			if (subs[0] != '\0')
				strlcat(subs, ", ", sizeof(subs));
			strlcat(subs, commands[i].sub, sizeof(subs));
		}
	if (sub == NULL)
		usage_error(group, "missing %s command: %s", group, subs);
	usage_error(group, "unknown %s command '%.32s': %s", group, sub,
	    subs);
}

/* capctl help [GROUP [SUB]] */
static int cmd_help(int argc, char **argv)
{
	const struct ctl_cmd *c;
	int kind;

	if (argc < 2) {
		help_full(stdout);
		return 0;
	}
	if ((kind = cmd_group_kind(argv[1])) < 0)
		usage_error(NULL, "no help for unknown command '%.32s'",
		    argv[1]);
	if (kind == 0 || argc < 3) {
		if (argc > (kind == 0 ? 2 : 3))
			usage_error(NULL, "unexpected argument '%s'", argv[2]);
		help_group(stdout, argv[1]);
		return 0;
	}
	if (argc > 3)
		usage_error(NULL, "unexpected argument '%s'", argv[3]);
	if ((c = cmd_find(argv[1], argv[2])) == NULL)
		cmd_bad_sub(argv[1], argv[2]);
	help_cmd(stdout, c);
	return 0;
}

/* Find the command in argv (after the global options) and run it. */
static int dispatch(struct ctl *ctl, int argc, char **argv)
{
	int kind, words;

	if (argc < 1)
		usage_error(NULL, "missing command");
	if (strcmp(argv[0], "help") == 0)
		return cmd_help(argc, argv);
	if ((kind = cmd_group_kind(argv[0])) < 0)
		usage_error(NULL, "unknown command '%.32s'", argv[0]);
	if (kind == 1 && argc >= 2 && (strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "--help") == 0)) {
		help_group(stdout, argv[0]);
		return 0;
	}
	if (kind == 1 && (argc < 2 || cmd_find(argv[0], argv[1]) == NULL))
		cmd_bad_sub(argv[0], argc < 2 ? NULL : argv[1]);
	ctl->cmd = cmd_find(argv[0], kind == 1 ? argv[1] : NULL);
	snprintf(ctl->topic, sizeof(ctl->topic), "%s%s%s", argv[0],
	    kind == 1 ? " " : "", kind == 1 ? argv[1] : "");
	/* The command parses its own options, from a fresh start. */
	words = kind == 1 ? 2 : 1;
	optind = 0;
	return ctl->cmd->fn(ctl, argc - words + 1, argv + words - 1);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "name", required_argument, NULL, 'n' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct ctl ctl = { .name = "default" };
	int ch, rc;

	/* The help text promises "no reply within 10 s". */
	cb_ctl_init(&ctl.conn, CB_CTL_TIMEOUT_MS);

	opterr = 0;
	/* "+": stop at the command; its options are its own. */
	while ((ch = getopt_long(argc, argv, "+:hn:V", opts, NULL)) != -1) {
		if (ch == 'h') {
			help_full(stdout);
			return 0;
		} else if (ch == 'V') {
			printf("capctl %d.%d\n", CB_VERSION_MAJOR,
			    CB_VERSION_MINOR);
			return 0;
		} else if (ch == 'n')
			ctl.name = optarg;
		else
			option_error(NULL, ch, argv);
	}
	if (!cb_name_valid(ctl.name))
		usage_error(NULL, "bad broker name '%.40s': 1-%d of "
		    "A-Z a-z 0-9 . _ -, not . or ..", ctl.name, CB_NAME_MAX);
	rc = dispatch(&ctl, argc - optind, argv + optind);
	cb_ctl_close(&ctl.conn);
	if (fflush(stdout) == EOF || ferror(stdout))
		err(EX_IOERR, "stdout");
	return rc;
}
