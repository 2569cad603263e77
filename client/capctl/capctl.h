/*
 * capctl.h - what the files of capctl share.
 *
 * capctl is one process, one file per concern:
 *
 *   main.c     the command table, dispatch, the full --help, main()
 *   args.c     usage errors, a command's help, option and operand
 *              checks every command uses
 *   ctl.c      requests over the control socket (lib/ctl_client.h),
 *              and the exits when the broker cannot be talked to
 *   workers.c  worker set/del/list, override, status, ping
 *   pools.c    pool set/del/list
 *   reserve.c  launch and release, and the reservation run takes too
 *   run.c      run: hold a unit while a command runs
 *
 * Arguments are checked before anything is sent, so a typo is a usage
 * error (64) and never reaches the broker; what only the broker can
 * judge (an override's range, an unknown worker) comes back as ERR and
 * exits 1.  Everything a command needs arrives in its struct ctl and
 * its argv; nothing is kept in globals but getopt's own.
 */
#ifndef CAPCTL_H
#define CAPCTL_H

#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <sysexits.h>

#include "capbroker.h"
#include "ctl_client.h"

/* Exit status; the usage text documents them (keep both in step). */
#define EXIT_REFUSED 1                 /* the broker answered ERR */
#define EXIT_USAGE EX_USAGE            /* 64: bad arguments */
#define EXIT_UNREACHABLE EX_UNAVAILABLE /* 69: no broker to talk to */
#define EXIT_PROTOCOL EX_SOFTWARE      /* 70: the reply made no sense */
#define EXIT_NOPERM EX_NOPERM          /* 77: the socket or segment is
                                        * there, we may not use it */
#define EXIT_FULL EX_TEMPFAIL          /* 75: run, launch: pool full
                                        * (run -E chooses another) */

/* The command being run, and its connection to the broker. */
struct ctl {
	const char *name;              /* instance, checked by main() */
	char topic[32];                /* command for the --help hint */
	const struct ctl_cmd *cmd;     /* the command being run */
	struct cb_ctl_conn conn;       /* fd -1 until the first request */
};

/* A row of the command table (main.c). */
struct ctl_cmd {
	const char *group;             /* first word: "worker", "status" */
	const char *sub;               /* second word or NULL: "set" */
	int (*fn)(struct ctl *, int, char **);
	const char *args;              /* synopsis after the command words */
	const char *help;              /* lines; printed indented */
};

/*
 * The commands.  Each gets its words as argv (argv[0] the last command
 * word, optind reset) and returns capctl's exit status; usage errors
 * and an unreachable broker exit from inside.
 */
int cmd_worker_set(struct ctl *ctl, int argc, char **argv);
int cmd_worker_del(struct ctl *ctl, int argc, char **argv);
int cmd_worker_list(struct ctl *ctl, int argc, char **argv);
int cmd_override(struct ctl *ctl, int argc, char **argv);
int cmd_status(struct ctl *ctl, int argc, char **argv);
int cmd_ping(struct ctl *ctl, int argc, char **argv);
int cmd_pool_set(struct ctl *ctl, int argc, char **argv);
int cmd_pool_del(struct ctl *ctl, int argc, char **argv);
int cmd_pool_list(struct ctl *ctl, int argc, char **argv);
int cmd_run(struct ctl *ctl, int argc, char **argv);
int cmd_launch(struct ctl *ctl, int argc, char **argv);
int cmd_release(struct ctl *ctl, int argc, char **argv);

/* args.c: usage errors and help. */
void usage_error(const char *topic, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 2, 3)));
void option_error(const char *topic, int ch, char **argv)
    __attribute__((noreturn));
void print_indented(FILE *f, const char *text, int indent);
void print_cmd_words(FILE *f, const struct ctl_cmd *c);
void help_cmd(FILE *f, const struct ctl_cmd *c);

/* args.c: a command's options and operands. */
int cmd_getopt(struct ctl *ctl, int argc, char **argv,
    const char *shortopts, const struct option *longopts);
int cmd_no_options(struct ctl *ctl, int argc, char **argv);
void cmd_operands(struct ctl *ctl, int argc, char **argv, int first,
    int want, const char *what);
const char *cmd_pool_name(struct ctl *ctl, const char *name);
long long opt_number(struct ctl *ctl, const char *opt, const char *arg,
    long long min, long long max);

/*
 * ctl.c: the control socket.  ctl_call() sends one request and reads
 * its reply (connecting first if need be): 0 for OK, else the errno of
 * ERR; a broker it cannot reach exits 69, a malformed reply 70.
 * ctl_refused() prints an ERR reply's message and returns 1.
 */
int ctl_call(struct ctl *ctl, struct cb_ctl_reply *r, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int ctl_refused(struct cb_ctl_reply *r);
void ctl_malformed(const struct ctl *ctl, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 2, 3)));
long long reply_number(struct ctl *ctl, const struct cb_ctl_reply *r,
    const char *key, long long max);

/* reserve.c: what run and launch reserve, from their options. */
struct rsv_opts {
	const char *pool;              /* default "default" */
	const char *timeout_text;      /* as given, for messages */
	int timeout_ms;                /* 0 fail fast, -1 no limit */
	uint32_t observed;             /* launch only */
	int pick;                      /* run only: a CB_PLACE_*, 0 none */
	int full_status;               /* exit status when full: 75, or
	                                * run's -E CODE */
};

/* The options of launch (launch 1) or run (0), checked, into o. */
void rsv_opts_parse(struct ctl *ctl, int argc, char **argv,
    struct rsv_opts *o, int launch);
/* Attach as a reserving client; no segment exits 69, no access to it
 * 77, any other failure 1. */
cb_client *rsv_open(const struct ctl *ctl);
/* One reservation of kind (CB_HOLD, CB_LAUNCH) in o's pool; run
 * --pick's hold bound to a worker, its id in CAPBROKER_WORKER.  Each
 * returns 0, or the exit status after saying why not. */
int rsv_take(cb_client *c, const struct ctl *ctl, const struct rsv_opts *o,
    int kind, cb_ticket *ticket);
int rsv_pick(cb_client *c, const struct ctl *ctl, const struct rsv_opts *o,
    cb_ticket *ticket);

#endif /* CAPCTL_H */
