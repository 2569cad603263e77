/*
 * workers.c - capctl's commands about the fleet, over the control
 * socket: worker set, del and list, override, status and ping.
 *
 * Each sends one request and prints what the broker answers, after
 * checking it: a reply it cannot use exits 70, never a half-printed
 * table.
 */
#include <bsd/stdlib.h>
#include <err.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capctl.h"
#include "proto.h"

/* The ID operand of worker set/del, checked before it is sent. */
static const char *cmd_worker_id(struct ctl *ctl, int argc, char **argv,
    int first)
{
	const char *id;

	cmd_operands(ctl, argc, argv, first, 1, "worker ID");
	id = argv[first];
	if (!cb_worker_id_valid(id))
		usage_error(ctl->topic, "bad worker id '%.80s': 1-%d of "
		    "A-Z a-z 0-9 . _ : @ -", id, CB_WORKER_ID_MAX);
	return id;
}

/* Print "capacity C (source S), generation G" from a change's reply. */
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

/* What worker set was given; state 0 and max_running -1 if not. */
struct worker_opts {
	uint32_t state;
	long long max_running;
};

static void worker_opts_parse(struct ctl *ctl, int argc, char **argv,
    struct worker_opts *wo)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "state", required_argument, NULL, 's' },
		{ "max-running", required_argument, NULL, 'm' },
		{ NULL, 0, NULL, 0 },
	};
	const char *errstr;
	int ch;

	*wo = (struct worker_opts){ .state = 0, .max_running = -1 };
	while ((ch = cmd_getopt(ctl, argc, argv, ":hs:m:", opts)) != -1) {
		switch (ch) {
		case 's':
			wo->state = cb_worker_state_parse(optarg);
			if (wo->state == 0)
				usage_error(ctl->topic, "bad state '%.32s': "
				    "ready, not_ready or draining", optarg);
			break;
		case 'm':
			wo->max_running = strtonum(optarg, 0, CB_CAPACITY_MAX,
			    &errstr);
			if (errstr != NULL)
				usage_error(ctl->topic, "--max-running "
				    "'%.32s' is %s (0..%u)", optarg, errstr,
				    CB_CAPACITY_MAX);
			break;
		}
	}
}

int cmd_worker_set(struct ctl *ctl, int argc, char **argv)
{
	struct worker_opts wo;
	struct cb_ctl_reply r;
	char extra[24] = "";            /* " MAX_RUNNING" when given */
	const char *id;

	worker_opts_parse(ctl, argc, argv, &wo);
	id = cmd_worker_id(ctl, argc, argv, optind);
	if (wo.state == 0)
		usage_error(ctl->topic, "missing --state "
		    "ready|not_ready|draining");
	if (wo.max_running >= 0)
		snprintf(extra, sizeof(extra), " %lld", wo.max_running);
	if (ctl_call(ctl, &r, "WORKER SET %s %s%s", id,
	    cb_worker_state_name(wo.state), extra) != 0)
		return ctl_refused(&r);
	return print_summary(ctl, &r);
}

int cmd_worker_del(struct ctl *ctl, int argc, char **argv)
{
	struct cb_ctl_reply r;
	const char *id;

	id = cmd_worker_id(ctl, argc, argv,
	    cmd_no_options(ctl, argc, argv));
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

/*
 * The rows of a WORKER LIST reply, checked, pointing into r; the widths
 * of the ID and STATE columns in *idw and *statew.
 */
static struct worker_row *worker_rows_parse(struct ctl *ctl,
    struct cb_ctl_reply *r, int *idw, int *statew)
{
	struct worker_row *rows;

	if ((rows = calloc(r->ndata + 1, sizeof(*rows))) == NULL)
		err(EX_OSERR, NULL);
	for (size_t i = 0; i < r->ndata; i++) {
		worker_row_parse(ctl, r->data[i], &rows[i]);
		if ((int)strlen(rows[i].id) > *idw)
			*idw = (int)strlen(rows[i].id);
		if ((int)strlen(rows[i].state) > *statew)
			*statew = (int)strlen(rows[i].state);
	}
	return rows;
}

/* One line of worker list; c NULL: the in-flight count is unknown. */
static void worker_row_print(const struct worker_row *w, int idw,
    int statew, cb_client *c)
{
	int in = c != NULL ? cb_worker_inflight(c, w->id) : -1;

	printf("%-*s  %-*s  ", idw, w->id, statew, w->state);
	/* 0: the worker does not report (slots_per_worker applies) */
	if (w->max_running == 0)
		printf("%-11s  ", "-");
	else
		printf("%-11u  ", w->max_running);
	if (in < 0)
		puts("-");
	else
		printf("%d\n", in);
}

int cmd_worker_list(struct ctl *ctl, int argc, char **argv)
{
	cb_client *c;
	struct cb_ctl_reply r;
	struct worker_row *rows;
	int idw = 2, statew = 5;        /* "ID", "STATE" */

	cmd_operands(ctl, argc, argv, cmd_no_options(ctl, argc, argv), 0, "");
	if (ctl_call(ctl, &r, "WORKER LIST") != 0)
		return ctl_refused(&r);
	rows = worker_rows_parse(ctl, &r, &idw, &statew);
	/* In-flight counts live in shared memory, not in the broker's
	 * answer: read them there, read-only (no client entry). */
	if (cb_open(&c, ctl->name, CB_OPEN_RDONLY) < 0)
		c = NULL;
	printf("%-*s  %-*s  %-11s  %s\n", idw, "ID", statew, "STATE",
	    "MAX_RUNNING", "INFLIGHT");
	for (size_t i = 0; i < r.ndata; i++)
		worker_row_print(&rows[i], idw, statew, c);
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

int cmd_override(struct ctl *ctl, int argc, char **argv)
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

int cmd_status(struct ctl *ctl, int argc, char **argv)
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

int cmd_ping(struct ctl *ctl, int argc, char **argv)
{
	struct cb_ctl_reply r;

	cmd_operands(ctl, argc, argv, cmd_no_options(ctl, argc, argv), 0, "");
	if (ctl_call(ctl, &r, "PING") != 0)
		return ctl_refused(&r);
	puts(r.text[0] != '\0' ? r.text : "ok");
	cb_ctl_reply_free(&r);
	return 0;
}
