/*
 * main.c - capctl, the capbroker admin command line: the command
 * table, dispatch, the full --help, main().
 *
 * A command table (commands[]) maps "worker set" etc. to one small
 * cmd_*() function (capctl.h lists the files they live in); main()
 * takes the global options, dispatch() finds the row and hands the
 * command its own words, its options parsed afresh.
 */
#include <bsd/string.h>
#include <err.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capctl.h"
#include "rundir.h"
#include "segment.h"

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
	    "POOL [--limit N | --share PCT] [--window SECONDS] [--observed N]\n"
	    "    [--global [--hold-max SECONDS] | --local]",
	    "Create pool POOL, or change what the options name in a known\n"
	    "one; prints \"pool POOL (index I): limit L, window W s,\n"
	    "observed O\" (and \", global, hold max H s\" for a global\n"
	    "pool).  Creating a pool needs --limit or --share.  Pool\n"
	    "names are 1-31 of A-Z a-z 0-9 . _ -; \"default\" (index 0)\n"
	    "follows the capacity and takes only --window and --observed.\n"
	    "At most 64 pools exist; pool del deletes one.\n"
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
	    "                       launching + held < limit\n"
	    "    --global           one limit for the brokers of a cluster\n"
	    "                       (the broker needs etcd = in its config):\n"
	    "                       --limit, or a fixed pool's limit, is the\n"
	    "                       cluster's; this broker admits its share\n"
	    "    --hold-max SECONDS a global pool's longest hold, 1..86400\n"
	    "                       (default 300)\n"
	    "    --local            a global pool becomes a fixed one\n"
	    "                       with the same limit\n" },
	{ "pool", "del", cmd_pool_del, "POOL [--force]",
	    "Delete pool POOL: it admits nothing from then on (reserves get\n"
	    "\"no such pool\") and leaves pool list and capdump.  Refused\n"
	    "while the pool has holds, launches or queued waiters, with\n"
	    "their counts, unless --force.  \"default\" cannot be deleted.\n"
	    "A pool the configuration file defines comes back at the next\n"
	    "reload or restart unless its line is removed too.\n"
	    "\n"
	    "-f, --force            delete it in use: queued waiters are sent\n"
	    "                       out (\"no such pool\"), launch tickets\n"
	    "                       become stale, and the holds in flight\n"
	    "                       release normally into the deleted pool,\n"
	    "                       whose index is reused only once nothing\n"
	    "                       holds it any more\n" },
	{ "pool", "list", cmd_pool_list, "",
	    "List the pools by index: POOL, INDEX, KIND (capacity, fixed,\n"
	    "share or global), VALUE (the fixed limit, the share in percent,\n"
	    "the cluster's limit of a global pool, - for capacity), the\n"
	    "current LIMIT (a global pool's: this broker's share), the\n"
	    "launch WINDOW in seconds, OBSERVED, the units HELD and\n"
	    "LAUNCHING right now, SCOPE (local or global) and HOLD_MAX (a\n"
	    "global pool's longest hold in seconds, - for a local one).\n" },
	{ "run", NULL, cmd_run,
	    "[--pool POOL] [--timeout SECONDS] [--pick POLICY] [-E CODE] -- "
	    "COMMAND [ARG...]",
	    "Hold one unit of POOL while COMMAND runs, like flock(1): take a\n"
	    "hold, run COMMAND (searched in PATH), wait for it, release the\n"
	    "hold, and exit with COMMAND's exit status (128+N if signal N\n"
	    "killed it; 126 if it cannot be executed, 127 if it is not\n"
	    "found).  SIGINT, SIGTERM and SIGHUP are passed on to COMMAND;\n"
	    "capctl stays until COMMAND exits, so the unit is held exactly as\n"
	    "long as COMMAND runs.  If capctl itself is killed (SIGKILL),\n"
	    "the broker gives the unit back even if COMMAND still runs.\n"
	    "Over the limit, prints how full the pool is and when to retry,\n"
	    "and exits 75 (or -E's CODE) without running COMMAND.\n"
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
	    "                       No ready worker at all: exits 69\n"
	    "-E, --conflict-exit-code CODE\n"
	    "                       exit CODE (0..255) instead of 75 when the\n"
	    "                       pool is full, as flock(1) -E does, so it\n"
	    "                       cannot be mistaken for COMMAND's own 75\n" },
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

/* capctl --help: between the synopsis lines and the commands... */
static const char help_intro[] =
"       capctl help [COMMAND]\n"
"       capctl -h | --help | -V | --version\n"
"\n"
"Administer a running capbrokerd instance through its control socket.\n"
"worker set, worker del and override change the broker's state, need\n"
"the broker's uid or root, and print the capacity that results:\n"
"\n"
"  capacity C (source S), generation G\n"
"\n"
"pool set and pool del need the same rights.  run, launch and release do not use\n"
"the socket: they reserve and release through the instance's shared\n"
"memory, like any libcapbroker client, so they need read-write access\n"
"to /dev/shm/capbroker.NAME.slots and work while the broker is down.\n"
"\n"
"Commands:\n";

/* ...and after them. */
static const char help_outro[] =
"\n"
"Options:\n"
"  -n, --name NAME   the broker instance (default \"default\"): 1-31 of\n"
"                    A-Z a-z 0-9 . _ -; give it before the command\n"
"  -T, --socket-timeout SECONDS\n"
"                    how long to wait for the broker on its socket: to\n"
"                    connect, and for each whole reply (1-3600, default\n"
"                    10)\n"
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
"      or no reply within the socket timeout; for run, launch and\n"
"      release: no shared memory of that name (EX_UNAVAILABLE)\n"
"  70  the broker's reply is malformed (EX_SOFTWARE)\n"
"  71, 74  out of memory, cannot write the output (EX_OSERR, EX_IOERR)\n"
"  75  run, launch: the pool is full (or stayed full for --timeout);\n"
"      the message says when to retry (EX_TEMPFAIL); run -E CODE\n"
"      exits CODE instead\n"
"  77  permission denied: to the socket, or for run, launch and\n"
"      release to the shared memory (EX_NOPERM)\n"
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
"  CAPBROKER_RUNDIR=/tmp/cb capctl -n test worker list\n";

static void help_full(FILE *f)
{
	fputs("usage: capctl [-n NAME] [-T SECONDS] COMMAND [ARG...]\n", f);
	for (size_t i = 0; i < ncommands; i++) {
		fputs("       capctl [-n NAME] ", f);
		print_cmd_words(f, &commands[i]);
		fputc('\n', f);
	}
	fputs(help_intro, f);
	for (size_t i = 0; i < ncommands; i++) {
		fputs("  ", f);
		print_cmd_words(f, &commands[i]);
		fputc('\n', f);
		print_indented(f, commands[i].help, 8);
	}
	fputs(help_outro, f);
}

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

/* Exit 64 for a missing or unknown SUB of group, naming the known ones. */
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
		{ "socket-timeout", required_argument, NULL, 'T' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct ctl ctl = { .name = "default" };
	int ch, rc;

	/* --help promises 10 s unless -T says otherwise (exit status 69). */
	cb_ctl_init(&ctl.conn, CB_CTL_TIMEOUT_MS);
	opterr = 0;
	/* "+": stop at the command; its options are its own. */
	while ((ch = getopt_long(argc, argv, "+:hn:T:V", opts, NULL)) != -1) {
		if (ch == 'h') {
			help_full(stdout);
			return 0;
		} else if (ch == 'V') {
			printf("capctl %d.%d\n", CB_VERSION_MAJOR,
			    CB_VERSION_MINOR);
			return 0;
		} else if (ch == 'n')
			ctl.name = optarg;
		else if (ch == 'T')
			cb_ctl_init(&ctl.conn, 1000 * (int)opt_number(&ctl,
			    "--socket-timeout", optarg, 1, 3600));
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

