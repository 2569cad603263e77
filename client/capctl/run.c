/*
 * run.c - capctl run: hold one unit of a pool while a command runs,
 * like flock(1).
 *
 * The hold is taken before the fork and given back only after the
 * child is reaped, so the unit is held exactly as long as COMMAND
 * runs; if capctl itself is killed, the broker reclaims the hold (it
 * watches capctl, not COMMAND).  SIGINT, SIGTERM and SIGHUP are passed
 * on; the exit status is COMMAND's, as a shell reports it.
 */
#include <sys/wait.h>

#include <err.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "capctl.h"

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

int cmd_run(struct ctl *ctl, int argc, char **argv)
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
