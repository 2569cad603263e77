/*
 * fuzz_proto.c - libFuzzer harness for the control-protocol parser
 * (cb_ctl_parse, lib/proto.c).
 *
 * The input is one or more request lines separated by '\n'; each is
 * copied into a heap buffer of exactly its size (NUL-terminated, so
 * ASan sees any read past it) and parsed.  A violated invariant traps:
 *
 *   - the return is 0, -EINVAL or -E2BIG, and -E2BIG exactly when the
 *     line is CB_PROTO_LINE_MAX bytes or longer;
 *   - on 0: the line is printable ASCII (tab allowed), the verb is one
 *     of enum cb_ctl_verb, every field the verb sets is in its
 *     documented range (ids pass cb_worker_id_valid, pool names
 *     cb_pool_name_valid, max_running/limit/observed <= 65535, share
 *     1..100, window 1..86400, HELLO index < CB_MAX_CLIENTS), every
 *     field it does not set is still zero, and printing the request in
 *     canonical form and parsing that gives the same request back;
 *   - on error: the message is non-empty and NUL-terminated inside the
 *     buffer, and a 1-byte buffer gets an empty string (truncation
 *     never writes past errlen);
 *   - parsing is deterministic: the same line twice gives the same
 *     result.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

#define ERRLEN 256

#define FUZZ_NAME "fuzz_proto"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int printable(const char *s)
{
	for (; *s != '\0'; s++)
		if ((*s < 0x20 && *s != '\t') || *s > 0x7e)
			return 0;
	return 1;
}

static int same_req(const struct cb_ctl_req *a, const struct cb_ctl_req *b)
{
	return a->verb == b->verb && strcmp(a->id, b->id) == 0 &&
	    a->worker_state == b->worker_state &&
	    a->max_running == b->max_running && a->number == b->number &&
	    strcmp(a->pool, b->pool) == 0 && a->pool_keys == b->pool_keys &&
	    a->limit == b->limit && a->share == b->share &&
	    a->window_s == b->window_s && a->observed == b->observed &&
	    a->hold_max_s == b->hold_max_s && a->client == b->client && a->owner == b->owner &&
	    a->force == b->force;
}

/* 1 if every field the verb does not set is zero (the parser memsets
 * the request first, and a verb must not leave another's fields). */
static int others_zero(const struct cb_ctl_req *req)
{
	struct cb_ctl_req t, zero;

	memcpy(&t, req, sizeof(t));
	memset(&zero, 0, sizeof(zero));
	t.verb = 0;
	switch (req->verb) {
	case CB_CTL_WORKER_SET:
		t.worker_state = 0;
		t.max_running = 0;
		/* fall through */
	case CB_CTL_WORKER_DEL:
		memset(t.id, 0, sizeof(t.id));
		break;
	case CB_CTL_OVERRIDE:
		t.number = 0;
		break;
	case CB_CTL_POOL_SET:
		memset(t.pool, 0, sizeof(t.pool));
		t.pool_keys = 0;
		t.limit = t.share = t.window_s = t.observed = 0;
		t.hold_max_s = 0;
		break;
	case CB_CTL_POOL_DEL:
		memset(t.pool, 0, sizeof(t.pool));
		t.force = 0;
		break;
	case CB_CTL_HELLO:
		t.client = 0;
		t.owner = 0;
		break;
	case CB_CTL_LAUNCH:
		memset(t.pool, 0, sizeof(t.pool));
		t.observed = 0;
		break;
	case CB_CTL_UNLAUNCH:
		memset(t.pool, 0, sizeof(t.pool));
		t.launch_id = 0;
		break;
	default:
		break;
	}
	/* Field by field: padding is not compared. */
	return same_req(&t, &zero);
}

static void check_pool_set(const struct cb_ctl_req *req)
{
	unsigned k = req->pool_keys;

	CHECK(cb_pool_name_valid(req->pool));
	CHECK((k & ~0x7fu) == 0);
	CHECK(!((k & CB_POOL_SET_LIMIT) && (k & CB_POOL_SET_SHARE)));
	/* The scope words (issue 15): what one request cannot mean. */
	CHECK(!((k & CB_POOL_SET_GLOBAL) && (k & CB_POOL_SET_LOCAL)));
	CHECK(!((k & CB_POOL_SET_GLOBAL) && (k & CB_POOL_SET_SHARE)));
	CHECK(!((k & CB_POOL_SET_LOCAL) && (k & CB_POOL_SET_HOLD_MAX)));
	CHECK((k & CB_POOL_SET_HOLD_MAX) ?
	    req->hold_max_s >= 1 && req->hold_max_s <= 86400 :
	    req->hold_max_s == 0);
	CHECK((k & CB_POOL_SET_LIMIT) ? req->limit <= CB_CAPACITY_MAX :
	    req->limit == 0);
	CHECK((k & CB_POOL_SET_SHARE) ? req->share >= 1 && req->share <= 100 :
	    req->share == 0);
	CHECK((k & CB_POOL_SET_WINDOW) ?
	    req->window_s >= 1 && req->window_s <= 86400 :
	    req->window_s == 0);
	CHECK((k & CB_POOL_SET_OBSERVED) ? req->observed <= CB_CAPACITY_MAX :
	    req->observed == 0);
}

static void check_ok(const struct cb_ctl_req *req)
{
	switch (req->verb) {
	case CB_CTL_PING:
	case CB_CTL_STATUS:
	case CB_CTL_WORKER_LIST:
	case CB_CTL_POOL_LIST:
		break;
	case CB_CTL_WORKER_SET:
		CHECK(cb_worker_id_valid(req->id));
		CHECK(cb_worker_state_name(req->worker_state) != NULL);
		CHECK(req->max_running <= CB_CAPACITY_MAX);
		break;
	case CB_CTL_WORKER_DEL:
		CHECK(cb_worker_id_valid(req->id));
		break;
	case CB_CTL_OVERRIDE:
		CHECK(req->number >= -(1LL << 40) && req->number <= 1LL << 40);
		break;
	case CB_CTL_POOL_SET:
		check_pool_set(req);
		break;
	case CB_CTL_POOL_DEL:
		CHECK(cb_pool_name_valid(req->pool));
		CHECK(req->force <= 1);
		break;
	case CB_CTL_HELLO:
		CHECK(req->client < CB_MAX_CLIENTS);
		break;
	case CB_CTL_LAUNCH:
		CHECK(cb_pool_name_valid(req->pool));
		CHECK(req->observed <= CB_CAPACITY_MAX);
		break;
	case CB_CTL_UNLAUNCH:
		CHECK(cb_pool_name_valid(req->pool));
		break;
	default:
		CHECK(!"unknown verb on success");
	}
	CHECK(others_zero(req));
}

static void put(char *buf, size_t len, size_t *at, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void put(char *buf, size_t len, size_t *at, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf + *at, len - *at, fmt, ap);
	va_end(ap);
	CHECK(n >= 0 && (size_t)n < len - *at);
	*at += (size_t)n;
}

/* The canonical text of a parsed request. */
static void canonical(const struct cb_ctl_req *req, char *buf, size_t len)
{
	static const char *const simple[] = {
		[CB_CTL_PING] = "PING", [CB_CTL_STATUS] = "STATUS",
		[CB_CTL_WORKER_LIST] = "WORKER LIST",
		[CB_CTL_POOL_LIST] = "POOL LIST",
	};
	size_t at = 0;

	buf[0] = '\0';
	switch (req->verb) {
	case CB_CTL_WORKER_SET:
		put(buf, len, &at, "WORKER SET %s %s", req->id,
		    cb_worker_state_name(req->worker_state));
		if (req->max_running != 0)
			put(buf, len, &at, " %u", req->max_running);
		break;
	case CB_CTL_WORKER_DEL:
		put(buf, len, &at, "WORKER DEL %s", req->id);
		break;
	case CB_CTL_OVERRIDE:
		put(buf, len, &at, "OVERRIDE %lld", req->number);
		break;
	case CB_CTL_POOL_SET:
		put(buf, len, &at, "POOL SET %s", req->pool);
		if (req->pool_keys & CB_POOL_SET_LIMIT)
			put(buf, len, &at, " limit=%u", req->limit);
		if (req->pool_keys & CB_POOL_SET_SHARE)
			put(buf, len, &at, " share=%u", req->share);
		if (req->pool_keys & CB_POOL_SET_WINDOW)
			put(buf, len, &at, " window=%u", req->window_s);
		if (req->pool_keys & CB_POOL_SET_OBSERVED)
			put(buf, len, &at, " observed=%u", req->observed);
		if (req->pool_keys & CB_POOL_SET_GLOBAL)
			put(buf, len, &at, " global");
		if (req->pool_keys & CB_POOL_SET_LOCAL)
			put(buf, len, &at, " local");
		if (req->pool_keys & CB_POOL_SET_HOLD_MAX)
			put(buf, len, &at, " hold_max=%u", req->hold_max_s);
		break;
	case CB_CTL_POOL_DEL:
		put(buf, len, &at, "POOL DEL %s%s", req->pool,
		    req->force ? " force" : "");
		break;
	case CB_CTL_HELLO:
		put(buf, len, &at, "HELLO %u %llu", req->client,
		    (unsigned long long)req->owner);
		break;
	case CB_CTL_LAUNCH:
		put(buf, len, &at, "LAUNCH %s %u", req->pool, req->observed);
		break;
	case CB_CTL_UNLAUNCH:
		put(buf, len, &at, "UNLAUNCH %s %016llx", req->pool,
		    (unsigned long long)req->launch_id);
		break;
	default:
		put(buf, len, &at, "%s", simple[req->verb]);
		break;
	}
}

static void check_error(int r, const char *err, size_t errlen)
{
	CHECK(r == -EINVAL || r == -E2BIG);
	CHECK(memchr(err, '\0', errlen) != NULL);
	CHECK(err[0] != '\0');
}

static void parse_line(const char *line)
{
	struct cb_ctl_req req, again;
	char *err = malloc(ERRLEN), *tiny = malloc(1);
	char canon[CB_PROTO_LINE_MAX];
	size_t len = strlen(line);
	int r, r2;

	CHECK(err != NULL && tiny != NULL);
	memset(err, 0xa5, ERRLEN);
	r = cb_ctl_parse(line, &req, err, ERRLEN);
	CHECK(r == 0 || r == -EINVAL || r == -E2BIG);
	CHECK((r == -E2BIG) == (len >= CB_PROTO_LINE_MAX));
	if (r < 0) {
		check_error(r, err, ERRLEN);
	} else {
		CHECK(printable(line));
		check_ok(&req);
		canonical(&req, canon, sizeof(canon));
		CHECK(strlen(canon) < CB_PROTO_LINE_MAX);
		r2 = cb_ctl_parse(canon, &again, err, ERRLEN);
		if (r2 != 0)
			fprintf(stderr, "fuzz_proto: canonical '%s' of a "
			    "parsed line refused: %s\n", canon, err);
		CHECK(r2 == 0);
		CHECK(same_req(&req, &again));
	}

	/* Same line, a 1-byte message buffer: same result, nothing
	 * written past it. */
	tiny[0] = 'x';
	r2 = cb_ctl_parse(line, &again, tiny, 1);
	CHECK(r2 == r);
	if (r < 0)
		CHECK(tiny[0] == '\0');
	else
		CHECK(same_req(&req, &again));
	free(tiny);
	free(err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t start = 0;

	while (start <= size) {
		const uint8_t *nl = memchr(data + start, '\n', size - start);
		size_t end = nl != NULL ? (size_t)(nl - data) : size;
		char *line = malloc(end - start + 1);

		CHECK(line != NULL);
		memcpy(line, data + start, end - start);
		line[end - start] = '\0';
		parse_line(line);
		free(line);
		start = end + 1;
	}
	return 0;
}
