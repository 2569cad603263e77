/*
 * pools.c - capctl's pool commands, over the control socket: pool set,
 * pool del and pool list.
 *
 * pool set checks its options here (--limit and --share exclude each
 * other, something must be set) and sends only what was given, as
 * key=VALUE words; the broker judges the rest (a new pool needs a
 * limit, default takes only window= and observed=).
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
	char words[128], name[CB_POOL_NAME_MAX + 1];
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
	printf("pool %s (index %lld): limit %lld, window %lld s, observed "
	    "%lld\n", name, index, limit, window, observed);
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
	printf("%-*s  %5s  %-8s  %5s  %5s  %6s  %8s  %4s  %9s\n", namew,
	    "POOL", "INDEX", "KIND", "VALUE", "LIMIT", "WINDOW", "OBSERVED",
	    "HELD", "LAUNCHING");
	for (size_t i = 0; i < r.ndata; i++)
		pool_row_print(&rows[i], namew);
	free(rows);
	cb_ctl_reply_free(&r);
	return 0;
}
