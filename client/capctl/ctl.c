/*
 * ctl.c - capctl's requests over the control socket.
 *
 * capctl talks to one broker instance over its control socket,
 * RUNDIR/NAME.sock, with the line protocol of docs/PROTOCOL.md, through
 * lib/ctl_client.h: one request line, one reply (a status line, OK N
 * or ERR ERRNAME, then N data lines).  The broker is another process
 * and may be old, new, wedged or not a broker at all; the client caps
 * and checks every line and times out every operation, and what it
 * cannot use ends the command here: 69 when there is no broker to talk
 * to, 77 when there is one we may not talk to, 70 when its reply makes
 * no sense.  A refusal (ERR) is the command's to report (1).
 */
#include <err.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

#include "capctl.h"
#include "rundir.h"

/*
 * Is a broker of this name running, judged from its shared memory (the
 * socket could not tell)?  A broker that is up but whose socket is not
 * where we looked runs with another CAPBROKER_RUNDIR.
 */
static int broker_runs(const char *name)
{
	cb_client *c;
	int alive;

	if (cb_open(&c, name, CB_OPEN_RDONLY) < 0)
		return 0;
	alive = cb_broker_check(c) == 0;
	cb_close(c);
	return alive;
}

/* Exit 69 (77 for a permission problem) with conn's reason and a hint
 * that fits it. */
static void __attribute__((noreturn))
ctl_unreachable(const struct ctl *ctl)
{
	const struct cb_ctl_conn *conn = &ctl->conn;

	/* The hint must fit the cause: a permission problem is not a
	 * broker that is down, nor is a socket looked for elsewhere. */
	if (conn->sys_errno == EACCES || conn->sys_errno == EPERM)
		errx(EXIT_NOPERM, "cannot reach broker '%s' at %s: %s "
		    "(the socket is mode 0660: run as the broker's user or "
		    "group)", ctl->name, conn->path, conn->errmsg);
	if ((conn->sys_errno == ENOENT || conn->sys_errno == ECONNREFUSED) &&
	    broker_runs(ctl->name))
		errx(EXIT_UNREACHABLE, "cannot reach broker '%s' at %s: %s; "
		    "capbrokerd -n %s is running, so its socket is elsewhere: "
		    "set CAPBROKER_RUNDIR to its run directory (default %s)",
		    ctl->name, conn->path, conn->errmsg, ctl->name,
		    CB_RUNDIR_DEFAULT);
	errx(EXIT_UNREACHABLE, "cannot reach broker '%s' at %s: %s "
	    "(is capbrokerd -n %s running?)", ctl->name, conn->path,
	    conn->errmsg, ctl->name);
}

/* Exit 70: "malformed reply from broker NAME at PATH: WHAT". */
void ctl_malformed(const struct ctl *ctl, const char *fmt, ...)
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
int ctl_call(struct ctl *ctl, struct cb_ctl_reply *r, const char *fmt, ...)
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
int ctl_refused(struct cb_ctl_reply *r)
{
	warnx("%s", r->text[0] != '\0' ? r->text : r->errname);
	cb_ctl_reply_free(r);
	return EXIT_REFUSED;
}

/* A key=NUMBER in the status line's text, range-checked. */
long long reply_number(struct ctl *ctl, const struct cb_ctl_reply *r,
    const char *key, long long max)
{
	long long v;

	ctl_check(ctl, cb_ctl_reply_number(&ctl->conn, r, key, max, &v));
	return v;
}
