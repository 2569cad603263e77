/*
 * proto.c - control protocol parsing (see proto.h).
 */
#include "proto.h"

#include <bsd/stdlib.h>
#include <bsd/string.h>
#include <errno.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const state_names[] = {
	[CB_WORKER_READY] = "ready",
	[CB_WORKER_NOT_READY] = "not_ready",
	[CB_WORKER_DRAINING] = "draining",
};

static int fail(char *err, size_t errlen, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return code;
}

int cb_worker_id_valid(const char *id)
{
	size_t len = strlen(id);

	return len >= 1 && len <= CB_WORKER_ID_MAX &&
	    strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789._:@-") == len;
}

int cb_pool_name_valid(const char *name)
{
	size_t len = strlen(name);

	return len >= 1 && len <= CB_POOL_NAME_MAX &&
	    strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789._-") == len;
}

const char *cb_worker_state_name(uint32_t state)
{
	if (state < CB_WORKER_READY || state > CB_WORKER_DRAINING)
		return NULL;
	return state_names[state];
}

uint32_t cb_worker_state_parse(const char *name)
{
	for (uint32_t s = CB_WORKER_READY; s <= CB_WORKER_DRAINING; s++)
		if (strcmp(name, state_names[s]) == 0)
			return s;
	return 0;
}

/* Split a checked line into at most CB_PROTO_WORDS_MAX words. */
static int split(char *buf, char **word, char *err, size_t errlen)
{
	char *save = NULL, *w;
	int n = 0;

	for (w = strtok_r(buf, " \t", &save); w != NULL;
	    w = strtok_r(NULL, " \t", &save)) {
		if (n == CB_PROTO_WORDS_MAX)
			return fail(err, errlen, -EINVAL, "too many words "
			    "(at most %d)", CB_PROTO_WORDS_MAX);
		word[n++] = w;
	}
	return n;
}

static int want_words(int n, int min, int max, const char *usage,
    char *err, size_t errlen)
{
	if (n < min || n > max)
		return fail(err, errlen, -EINVAL, "usage: %s", usage);
	return 0;
}

static int parse_worker_id(const char *w, struct cb_ctl_req *req,
    char *err, size_t errlen)
{
	if (!cb_worker_id_valid(w))
		return fail(err, errlen, -EINVAL, "bad worker id (1-%d of "
		    "A-Z a-z 0-9 . _ : @ -)", CB_WORKER_ID_MAX);
	strlcpy(req->id, w, sizeof(req->id));
	return 0;
}

static int parse_worker_set(char **word, int n, struct cb_ctl_req *req,
    char *err, size_t errlen)
{
	const char *errstr;
	int r;

	r = want_words(n, 4, 5, "WORKER SET ID ready|not_ready|draining "
	    "[MAX_RUNNING]", err, errlen);
	if (r == 0)
		r = parse_worker_id(word[2], req, err, errlen);
	if (r < 0)
		return r;
	req->worker_state = cb_worker_state_parse(word[3]);
	if (req->worker_state == 0)
		return fail(err, errlen, -EINVAL, "bad worker state '%.32s' "
		    "(ready, not_ready or draining)", word[3]);
	if (n == 5) {
		req->max_running = (uint32_t)strtonum(word[4], 0,
		    CB_CAPACITY_MAX, &errstr);
		if (errstr != NULL)
			return fail(err, errlen, -EINVAL, "max_running '%.32s' "
			    "is %s (0..%u, 0 = does not report)", word[4],
			    errstr, CB_CAPACITY_MAX);
	}
	req->verb = CB_CTL_WORKER_SET;
	return 0;
}

static int parse_worker(char **word, int n, struct cb_ctl_req *req,
    char *err, size_t errlen)
{
	int r;

	if (n < 2)
		return fail(err, errlen, -EINVAL, "usage: WORKER SET|DEL|LIST "
		    "...");
	if (strcmp(word[1], "SET") == 0)
		return parse_worker_set(word, n, req, err, errlen);
	if (strcmp(word[1], "DEL") == 0) {
		r = want_words(n, 3, 3, "WORKER DEL ID", err, errlen);
		if (r == 0)
			r = parse_worker_id(word[2], req, err, errlen);
		req->verb = CB_CTL_WORKER_DEL;
		return r;
	}
	if (strcmp(word[1], "LIST") == 0) {
		req->verb = CB_CTL_WORKER_LIST;
		return want_words(n, 2, 2, "WORKER LIST", err, errlen);
	}
	return fail(err, errlen, -EINVAL, "unknown WORKER verb '%.32s'",
	    word[1]);
}

static int parse_override(char **word, int n, struct cb_ctl_req *req,
    char *err, size_t errlen)
{
	const char *errstr;
	int r = want_words(n, 2, 2, "OVERRIDE N", err, errlen);

	if (r < 0)
		return r;
	/* Wide range on purpose: the handler rejects, logs and counts. */
	req->number = strtonum(word[1], -(1LL << 40), 1LL << 40, &errstr);
	if (errstr != NULL)
		return fail(err, errlen, -EINVAL, "override '%.32s' is %s",
		    word[1], errstr);
	req->verb = CB_CTL_OVERRIDE;
	return 0;
}

static const struct pool_key {
	const char *name;
	unsigned bit;
	long long min, max;
	size_t off;
} pool_keys[] = {
	{ "limit", CB_POOL_SET_LIMIT, 0, CB_CAPACITY_MAX,
	    offsetof(struct cb_ctl_req, limit) },
	{ "share", CB_POOL_SET_SHARE, 1, 100,
	    offsetof(struct cb_ctl_req, share) },
	{ "window", CB_POOL_SET_WINDOW, 1, 86400,
	    offsetof(struct cb_ctl_req, window_s) },
	{ "observed", CB_POOL_SET_OBSERVED, 0, CB_CAPACITY_MAX,
	    offsetof(struct cb_ctl_req, observed) },
	{ "hold_max", CB_POOL_SET_HOLD_MAX, 1, 86400,
	    offsetof(struct cb_ctl_req, hold_max_s) },
};

/* The bare words of POOL SET: a pool's scope. */
static const struct pool_word {
	const char *name;
	unsigned bit;
} pool_words[] = {
	{ "global", CB_POOL_SET_GLOBAL },
	{ "local", CB_POOL_SET_LOCAL },
};

#define POOL_SET_USAGE "POOL SET NAME [limit=N] [share=PCT] [window=S] " \
	"[observed=N] [global|local] [hold_max=S]"

/* global or local: 1 if kv is one (recorded in req), 0 if not, or
 * -EINVAL given twice. */
static int parse_pool_word(const char *kv, struct cb_ctl_req *req,
    char *err, size_t errlen)
{
	for (size_t i = 0; i < sizeof(pool_words) / sizeof(pool_words[0]);
	    i++) {
		if (strcmp(kv, pool_words[i].name) != 0)
			continue;
		if (req->pool_keys & pool_words[i].bit)
			return fail(err, errlen, -EINVAL, "%s given twice",
			    kv);
		req->pool_keys |= pool_words[i].bit;
		return 1;
	}
	return 0;
}

static int parse_pool_key(char *kv, struct cb_ctl_req *req, char *err,
    size_t errlen)
{
	char *eq = strchr(kv, '=');
	const char *errstr;
	int r = parse_pool_word(kv, req, err, errlen);

	if (r != 0)
		return r < 0 ? r : 0;
	if (eq == NULL)
		return fail(err, errlen, -EINVAL, "expected KEY=VALUE, got "
		    "'%.32s'", kv);
	*eq = '\0';
	for (size_t i = 0; i < sizeof(pool_keys) / sizeof(pool_keys[0]); i++) {
		const struct pool_key *k = &pool_keys[i];

		if (strcmp(kv, k->name) != 0)
			continue;
		if (req->pool_keys & k->bit)
			return fail(err, errlen, -EINVAL, "%s given twice",
			    k->name);
		*(uint32_t *)((char *)req + k->off) = (uint32_t)strtonum(
		    eq + 1, k->min, k->max, &errstr);
		if (errstr != NULL)
			return fail(err, errlen, -EINVAL, "%s '%.32s' is %s "
			    "(%lld..%lld)", k->name, eq + 1, errstr, k->min,
			    k->max);
		req->pool_keys |= k->bit;
		return 0;
	}
	return fail(err, errlen, -EINVAL, "unknown pool key '%.32s' (limit, "
	    "share, window, observed, hold_max, global, local)", kv);
}

/*
 * What one request can say about a pool's scope on its own: global and
 * local exclude each other, a global pool's limit is a count (not a
 * share), and local leaves no pool global to take a hold_max.  Whether
 * the pool ends up global (hold_max= on a pool already global) is the
 * broker's to judge (pools.c).
 */
static int check_pool_scope(struct cb_ctl_req *req, char *err,
    size_t errlen)
{
	unsigned k = req->pool_keys;

	if ((k & CB_POOL_SET_GLOBAL) && (k & CB_POOL_SET_LOCAL))
		return fail(err, errlen, -EINVAL, "global and local exclude "
		    "each other");
	if ((k & CB_POOL_SET_GLOBAL) && (k & CB_POOL_SET_SHARE))
		return fail(err, errlen, -EINVAL, "global excludes share= "
		    "(a global pool's limit= is the cluster's)");
	if ((k & CB_POOL_SET_LOCAL) && (k & CB_POOL_SET_HOLD_MAX))
		return fail(err, errlen, -EINVAL, "hold_max= applies to "
		    "global pools only, not with local");
	req->verb = CB_CTL_POOL_SET;
	return 0;
}

/* POOL DEL NAME [force] */
static int parse_pool_del(char **word, int n, struct cb_ctl_req *req,
    char *err, size_t errlen)
{
	if (n < 3 || n > 4 || (n == 4 && strcmp(word[3], "force") != 0))
		return fail(err, errlen, -EINVAL, "usage: POOL DEL NAME "
		    "[force]");
	if (!cb_pool_name_valid(word[2]))
		return fail(err, errlen, -EINVAL, "bad pool name (1-%d of "
		    "A-Z a-z 0-9 . _ -)", CB_POOL_NAME_MAX);
	strlcpy(req->pool, word[2], sizeof(req->pool));
	req->force = n == 4;
	req->verb = CB_CTL_POOL_DEL;
	return 0;
}

static int parse_pool(char **word, int n, struct cb_ctl_req *req,
    char *err, size_t errlen)
{
	int r;

	if (n == 2 && strcmp(word[1], "LIST") == 0) {
		req->verb = CB_CTL_POOL_LIST;
		return 0;
	}
	if (n >= 2 && strcmp(word[1], "DEL") == 0)
		return parse_pool_del(word, n, req, err, errlen);
	if (n < 3 || strcmp(word[1], "SET") != 0)
		return fail(err, errlen, -EINVAL, "usage: " POOL_SET_USAGE
		    " | POOL DEL NAME [force] | POOL LIST");
	if (!cb_pool_name_valid(word[2]))
		return fail(err, errlen, -EINVAL, "bad pool name (1-%d of "
		    "A-Z a-z 0-9 . _ -)", CB_POOL_NAME_MAX);
	strlcpy(req->pool, word[2], sizeof(req->pool));
	for (int i = 3; i < n; i++) {
		r = parse_pool_key(word[i], req, err, errlen);
		if (r < 0)
			return r;
	}
	if ((req->pool_keys & CB_POOL_SET_LIMIT) &&
	    (req->pool_keys & CB_POOL_SET_SHARE))
		return fail(err, errlen, -EINVAL, "limit and share exclude "
		    "each other");
	return check_pool_scope(req, err, errlen);
}

static int parse_hello(char **word, int n, struct cb_ctl_req *req,
    char *err, size_t errlen)
{
	const char *errstr;
	char *end;

	if (n != 3)
		return fail(err, errlen, -EINVAL, "usage: HELLO INDEX OWNER");
	req->client = (uint32_t)strtonum(word[1], 0, CB_MAX_CLIENTS - 1,
	    &errstr);
	if (errstr != NULL)
		return fail(err, errlen, -EINVAL, "client index '%.32s' is %s",
		    word[1], errstr);
	errno = 0;
	req->owner = strtoull(word[2], &end, 10);
	if (errno != 0 || *end != '\0' || end == word[2] || word[2][0] == '-')
		return fail(err, errlen, -EINVAL, "bad owner '%.32s'",
		    word[2]);
	req->verb = CB_CTL_HELLO;
	return 0;
}

/* LAUNCH POOL OBSERVED | UNLAUNCH POOL ID */
static int parse_launch(char **word, int n, struct cb_ctl_req *req,
    char *err, size_t errlen)
{
	int un = word[0][0] == 'U';
	const char *errstr;
	char *end;

	if (n != 3)
		return fail(err, errlen, -EINVAL, un ? "usage: UNLAUNCH POOL "
		    "ID" : "usage: LAUNCH POOL OBSERVED");
	if (!cb_pool_name_valid(word[1]))
		return fail(err, errlen, -EINVAL, "bad pool name (1-%d of "
		    "A-Z a-z 0-9 . _ -)", CB_POOL_NAME_MAX);
	strlcpy(req->pool, word[1], sizeof(req->pool));
	if (un) {
		errno = 0;
		req->launch_id = strtoull(word[2], &end, 16);
		if (errno != 0 || *end != '\0' || strlen(word[2]) != 16 ||
		    strspn(word[2], "0123456789abcdef") != 16)
			return fail(err, errlen, -EINVAL, "bad launch id "
			    "'%.32s' (16 hex digits)", word[2]);
		req->verb = CB_CTL_UNLAUNCH;
		return 0;
	}
	req->observed = (uint32_t)strtonum(word[2], 0, CB_CAPACITY_MAX,
	    &errstr);
	if (errstr != NULL)
		return fail(err, errlen, -EINVAL, "observed '%.32s' is %s "
		    "(0..%u)", word[2], errstr, CB_CAPACITY_MAX);
	req->verb = CB_CTL_LAUNCH;
	return 0;
}

int cb_ctl_parse(const char *line, struct cb_ctl_req *req, char *err,
    size_t errlen)
{
	char buf[CB_PROTO_LINE_MAX], *word[CB_PROTO_WORDS_MAX];
	size_t len = strlen(line);
	int n;

	memset(req, 0, sizeof(*req));
	if (len >= CB_PROTO_LINE_MAX)
		return fail(err, errlen, -E2BIG, "line longer than %d bytes",
		    CB_PROTO_LINE_MAX - 1);
	for (size_t i = 0; i < len; i++)
		if ((line[i] < 0x20 && line[i] != '\t') || line[i] > 0x7e)
			return fail(err, errlen, -EINVAL, "byte %#x at column "
			    "%zu is not printable ASCII",
			    (unsigned char)line[i], i + 1);
	memcpy(buf, line, len + 1);
	n = split(buf, word, err, errlen);
	if (n < 0)
		return n;
	if (n == 0)
		return fail(err, errlen, -EINVAL, "empty request");
	if (strcmp(word[0], "PING") == 0 || strcmp(word[0], "STATUS") == 0) {
		req->verb = word[0][0] == 'P' ? CB_CTL_PING : CB_CTL_STATUS;
		return want_words(n, 1, 1, word[0], err, errlen);
	}
	if (strcmp(word[0], "WORKER") == 0)
		return parse_worker(word, n, req, err, errlen);
	if (strcmp(word[0], "OVERRIDE") == 0)
		return parse_override(word, n, req, err, errlen);
	if (strcmp(word[0], "POOL") == 0)
		return parse_pool(word, n, req, err, errlen);
	if (strcmp(word[0], "HELLO") == 0)
		return parse_hello(word, n, req, err, errlen);
	if (strcmp(word[0], "LAUNCH") == 0 || strcmp(word[0], "UNLAUNCH") == 0)
		return parse_launch(word, n, req, err, errlen);
	return fail(err, errlen, -EINVAL, "unknown request '%.32s'", word[0]);
}
