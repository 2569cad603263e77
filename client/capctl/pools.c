/*
 * pools.c - capctl's pool commands, over the control socket: pool set,
 * pool del and pool list.
 *
 * pool set checks its options here (--limit and --share exclude each
 * other, --global excludes --share and --local, --hold-max needs no
 * --local, something must be set) and sends only what was given, as
 * key=VALUE words and the bare words global and local; the broker
 * judges the rest (a new pool needs a limit, default takes only
 * window= and observed=, global needs a broker with etcd and a limit,
 * hold_max= a pool that is or becomes global).
 */
#include <bsd/stdlib.h>
#include <bsd/string.h>
#include <err.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capctl.h"
#include "proto.h"

/* What pool set was asked to change; -1 = not given. */
struct pool_change {
	long long limit, share, window, observed, hold_max;
	const char *scope;      /* "global", "local" or NULL */
};

static void pool_change_check(struct ctl *ctl, const struct pool_change *pc)
{
	/* A pool's limit has one kind: the broker would have to pick. */
	if (pc->limit >= 0 && pc->share >= 0)
		usage_error(ctl->topic, "--limit and --share are mutually "
		    "exclusive");
	if (pc->scope != NULL && strcmp(pc->scope, "global") == 0 &&
	    pc->share >= 0)
		usage_error(ctl->topic, "--global and --share are mutually "
		    "exclusive: a global pool's limit is --limit");
	if (pc->scope != NULL && strcmp(pc->scope, "local") == 0 &&
	    pc->hold_max >= 0)
		usage_error(ctl->topic, "--hold-max applies to global pools, "
		    "not with --local");
	if (pc->limit < 0 && pc->share < 0 && pc->window < 0 &&
	    pc->observed < 0 && pc->hold_max < 0 && pc->scope == NULL)
		usage_error(ctl->topic, "nothing to set: give --limit, "
		    "--share, --window, --observed, --global, --local or "
		    "--hold-max");
}

static void pool_change_parse(struct ctl *ctl, int argc, char **argv,
    struct pool_change *pc)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "limit", required_argument, NULL, 'l' },
		{ "share", required_argument, NULL, 's' },
		{ "window", required_argument, NULL, 'w' },
		{ "observed", required_argument, NULL, 'o' },
		{ "global", no_argument, NULL, 'g' },
		{ "local", no_argument, NULL, 'L' },
		{ "hold-max", required_argument, NULL, 'H' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	pc->limit = pc->share = pc->window = pc->observed = -1;
	pc->hold_max = -1;
	pc->scope = NULL;
	while ((ch = cmd_getopt(ctl, argc, argv, ":hl:s:w:o:", opts)) != -1) {
		if (ch == 'g' || ch == 'L') {
			if (pc->scope != NULL && strcmp(pc->scope,
			    ch == 'g' ? "global" : "local") != 0)
				usage_error(ctl->topic, "--global and --local "
				    "are mutually exclusive");
			pc->scope = ch == 'g' ? "global" : "local";
			continue;
		}
		if (ch == 'H')
			pc->hold_max = opt_number(ctl, "--hold-max", optarg,
			    1, 86400);
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
	pool_change_check(ctl, pc);
}

/* " key=V" for each given value, appended to buf. */
static void pool_change_words(const struct pool_change *pc, char *buf,
    size_t len)
{
	static const char *const keys[] = { "limit", "share", "window",
	    "observed", "hold_max" };
	const long long v[] = { pc->limit, pc->share, pc->window,
	    pc->observed, pc->hold_max };
	char word[32];

	buf[0] = '\0';
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		if (v[i] < 0)
			continue;
		snprintf(word, sizeof(word), " %s=%lld", keys[i], v[i]);
		strlcat(buf, word, len);
	}
	if (pc->scope != NULL) {
		strlcat(buf, " ", len);
		strlcat(buf, pc->scope, len);
	}
}

/* The pool= and index= of a POOL SET or POOL DEL reply, checked. */
static long long reply_pool(struct ctl *ctl, struct cb_ctl_reply *r,
    char *name, size_t len)
{
	if (cb_ctl_reply_value(r, "pool", name, len) < 0 ||
	    !cb_pool_name_valid(name))
		ctl_malformed(ctl, "no valid pool= in '%.64s'", r->text);
	return reply_number(ctl, r, "index", CB_MAX_POOLS - 1);
}

int cmd_pool_set(struct ctl *ctl, int argc, char **argv)
{
	struct pool_change pc;
	struct cb_ctl_reply r;
	char words[128], name[CB_POOL_NAME_MAX + 1], scope[16];
	const char *pool;
	long long index, limit, window, observed;

	pool_change_parse(ctl, argc, argv, &pc);
	cmd_operands(ctl, argc, argv, optind, 1, "POOL");
	pool = cmd_pool_name(ctl, argv[optind]);
	pool_change_words(&pc, words, sizeof(words));
	if (ctl_call(ctl, &r, "POOL SET %s%s", pool, words) != 0)
		return ctl_refused(&r);
	index = reply_pool(ctl, &r, name, sizeof(name));
	limit = reply_number(ctl, &r, "limit", CB_CAPACITY_MAX);
	window = reply_number(ctl, &r, "window", UINT32_MAX);
	observed = reply_number(ctl, &r, "observed", CB_CAPACITY_MAX);
	/* scope= and hold_max= come from a 1.3 broker only; an older one
	 * has no global pools. */
	if (cb_ctl_reply_value(&r, "scope", scope, sizeof(scope)) < 0)
		strlcpy(scope, "local", sizeof(scope));
	if (strcmp(scope, "global") != 0 && strcmp(scope, "local") != 0)
		ctl_malformed(ctl, "scope '%.16s' is not global or local",
		    scope);
	printf("pool %s (index %lld): limit %lld, window %lld s, observed "
	    "%lld", name, index, limit, window, observed);
	if (strcmp(scope, "global") == 0)
		printf(", global, hold max %lld s", reply_number(ctl, &r,
		    "hold_max", 86400));
	putchar('\n');
	cb_ctl_reply_free(&r);
	return 0;
}

/* pool del POOL [--force]: POOL DEL, the broker judges "in use". */
int cmd_pool_del(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "force", no_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 },
	};
	struct cb_ctl_reply r;
	char name[CB_POOL_NAME_MAX + 1];
	const char *pool;
	long long index, holds, launches, waiters;
	int ch, force = 0;

	while ((ch = cmd_getopt(ctl, argc, argv, ":hf", opts)) != -1)
		if (ch == 'f')
			force = 1;
	cmd_operands(ctl, argc, argv, optind, 1, "POOL");
	pool = cmd_pool_name(ctl, argv[optind]);
	if (ctl_call(ctl, &r, "POOL DEL %s%s", pool, force ? " force" : "")
	    != 0)
		return ctl_refused(&r);
	index = reply_pool(ctl, &r, name, sizeof(name));
	holds = reply_number(ctl, &r, "holds", UINT32_MAX);
	launches = reply_number(ctl, &r, "launches", UINT32_MAX);
	waiters = reply_number(ctl, &r, "waiters", UINT32_MAX);
	if (holds + launches + waiters == 0)
		printf("pool %s (index %lld): deleted\n", name, index);
	else
		printf("pool %s (index %lld): deleted by force, in use by "
		    "%lld hold%s, %lld launch%s, %lld waiter%s\n", name, index,
		    holds, holds == 1 ? "" : "s", launches,
		    launches == 1 ? "" : "es", waiters,
		    waiters == 1 ? "" : "s");
	cb_ctl_reply_free(&r);
	return 0;
}

/* One line of POOL LIST, split in place and range-checked. */
struct pool_row {
	const char *name;
	const char *kind;
	long long n[7];  /* INDEX VALUE LIMIT WINDOW OBSERVED HELD LAUNCHING */
	const char *scope;      /* "global" or "local" */
	long long hold_max;     /* seconds; 0 for a local pool */
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

/*
 * "SCOPE HOLD_MAX" after the nine words: absent from a broker before
 * ABI 1.3 (then local, 0); words after them are a later broker's and
 * skipped.
 */
static void pool_row_scope(struct ctl *ctl, char **s, struct pool_row *p)
{
	const char *w = cb_ctl_word_next(s);

	p->scope = "local";
	p->hold_max = 0;
	if (w == NULL)
		return;
	if (strcmp(w, "global") != 0 && strcmp(w, "local") != 0)
		ctl_malformed(ctl, "pool %.32s: scope '%.16s' is not global "
		    "or local", p->name, w);
	p->scope = w;
	p->hold_max = pool_row_number(ctl, p->name, cb_ctl_word_next(s),
	    86400);
}

/* "NAME INDEX KIND VALUE LIMIT WINDOW OBSERVED HELD LAUNCHING
 * [SCOPE HOLD_MAX ...]" */
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
	    strcmp(p->kind, "fixed") != 0 && strcmp(p->kind, "share") != 0 &&
	    strcmp(p->kind, "global") != 0))
		ctl_malformed(ctl, "pool %.32s: kind '%.16s' is not capacity, "
		    "fixed, share or global", p->name,
		    p->kind != NULL ? p->kind : "");
	for (int i = 1; i < 7; i++)
		p->n[i] = pool_row_number(ctl, p->name, cb_ctl_word_next(&s), max[i]);
	pool_row_scope(ctl, &s, p);
}

/*
 * The nine columns as before, then SCOPE and HOLD_MAX (- for a local
 * pool).  A global pool's VALUE is the cluster's limit, its LIMIT this
 * host's share of it.
 */
static void pool_row_print(const struct pool_row *p, int namew)
{
	char value[16], hold_max[16];

	if (strcmp(p->kind, "capacity") == 0)
		strlcpy(value, "-", sizeof(value));
	else
		snprintf(value, sizeof(value), "%lld%s", p->n[1],
		    strcmp(p->kind, "share") == 0 ? "%" : "");
	if (strcmp(p->scope, "global") == 0)
		snprintf(hold_max, sizeof(hold_max), "%lld", p->hold_max);
	else
		strlcpy(hold_max, "-", sizeof(hold_max));
	printf("%-*s  %5lld  %-8s  %5s  %5lld  %6lld  %8lld  %4lld  %9lld  "
	    "%-6s  %8s\n", namew, p->name, p->n[0], p->kind, value, p->n[2],
	    p->n[3], p->n[4], p->n[5], p->n[6], p->scope, hold_max);
}

int cmd_pool_list(struct ctl *ctl, int argc, char **argv)
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
	printf("%-*s  %5s  %-8s  %5s  %5s  %6s  %8s  %4s  %9s  %-6s  %8s\n",
	    namew, "POOL", "INDEX", "KIND", "VALUE", "LIMIT", "WINDOW",
	    "OBSERVED", "HELD", "LAUNCHING", "SCOPE", "HOLD_MAX");
	for (size_t i = 0; i < r.ndata; i++)
		pool_row_print(&rows[i], namew);
	free(rows);
	cb_ctl_reply_free(&r);
	return 0;
}
