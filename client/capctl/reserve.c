/*
 * reserve.c - capctl's reservations: the options and the reservation
 * that run and launch take, launch itself, and release.
 *
 * run, launch and release are libcapbroker clients: they never touch
 * the socket, so they keep working while the broker restarts or is
 * down (reservations live in shared memory).  Their failures are the
 * library's, reported with cb_errmsg().
 */
#include <err.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "capctl.h"

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

/* One option of run or launch (ch as getopt_long() returned it). */
static void rsv_opt_set(struct ctl *ctl, struct rsv_opts *o, int ch,
    const char *arg)
{
	if (ch == 'p') {
		o->pool = cmd_pool_name(ctl, arg);
	} else if (ch == 't') {
		if (timeout_parse(arg, &o->timeout_ms) < 0)
			usage_error(ctl->topic, "--timeout '%.32s' is not a "
			    "timeout: seconds (may be fractional), or -1 or "
			    "inf for none", arg);
		o->timeout_text = arg;
	} else if (ch == 'o') {
		o->observed = (uint32_t)opt_number(ctl, "--observed", arg, 0,
		    CB_CAPACITY_MAX);
	} else if (ch == 'E') {
		o->full_status = (int)opt_number(ctl, "--conflict-exit-code",
		    arg, 0, 255);
	} else if (ch == 'k') {
		o->pick = cb_placement_parse(arg);
		if (o->pick < 0)
			usage_error(ctl->topic, "--pick '%.32s' is not "
			    "consolidate, spread or least_loaded", arg);
	}
}

/* The options of launch (launch 1) or run (0) into o. */
void rsv_opts_parse(struct ctl *ctl, int argc, char **argv,
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
		{ "conflict-exit-code", required_argument, NULL, 'E' },
		{ NULL, 0, NULL, 0 },
	};
	/* run: "+" stops at COMMAND, whose options are its own. */
	const char *shortopts = launch ? ":hp:t:o:" : "+:hp:t:k:E:";
	int ch;

	*o = (struct rsv_opts){ .pool = "default", .timeout_text = "0",
	    .full_status = EXIT_FULL };
	while ((ch = cmd_getopt(ctl, argc, argv, shortopts,
	    launch ? opts : run_opts)) != -1)
		rsv_opt_set(ctl, o, ch, optarg);
}

/*
 * Attach as a reserving client.  No segment means there is no broker:
 * 69, as for the socket; no permission to it 77, as for the socket.
 */
cb_client *rsv_open(const struct ctl *ctl)
{
	cb_client *c;
	int r;

	r = cb_open(&c, ctl->name, 0);
	if (r == -ENOENT)
		errx(EXIT_UNREACHABLE, "%s", cb_open_errmsg());
	if (r == -EACCES || r == -EPERM)
		errx(EXIT_NOPERM, "%s", cb_open_errmsg());
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
 * return o->full_status (75 unless run -E says otherwise).  The numbers are read after the fact, each on its own, so
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
		return o->full_status;
	}
	if (cb_pool_info(c, pool, &pi) < 0) {
		warnx("pool %s is full; retry after %" PRIu32 " ms", o->pool,
		    retry_after_ms);
		return o->full_status;
	}
	if (kind == CB_LAUNCH && (o->observed > 0 || pi.observed > 0))
		snprintf(observed, sizeof(observed), ", %" PRIu32 " observed",
		    o->observed > pi.observed ? o->observed : pi.observed);
	warnx("pool %s is full (%" PRIu32 "+%" PRIu32 "/%" PRIu32 " in use%s);"
	    " retry after %" PRIu32 " ms", o->pool, pi.held, pi.launching,
	    pi.limit, observed, retry_after_ms);
	return o->full_status;
}

/* One reservation of kind in the pool of o.  Returns 0, or the exit
 * status after saying why not. */
int rsv_take(cb_client *c, const struct ctl *ctl,
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
int rsv_pick(cb_client *c, const struct ctl *ctl,
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
		return o->full_status;
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

int cmd_launch(struct ctl *ctl, int argc, char **argv)
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

int cmd_release(struct ctl *ctl, int argc, char **argv)
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
