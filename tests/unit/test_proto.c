/*
 * test_proto.c - the control protocol parser and its vocabulary
 * (lib/proto.c).
 *
 * Every request form, every way a line can be malformed, and a
 * no-crash sweep of random lines (fixed seed, so a failure replays).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <errno.h>

#include "abi.h"
#include "proto.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static struct cb_ctl_req req;
static char err[256];

static int parse(const char *line)
{
	memset(&req, 0x77, sizeof(req));
	memset(err, 0, sizeof(err));
	return cb_ctl_parse(line, &req, err, sizeof(err));
}

static void expect_ok(const char *line, int verb)
{
	int r = parse(line);

	if (r != 0 || req.verb != verb)
		print_error("'%s': got %d verb %d (%s), want verb %d\n", line,
		    r, req.verb, err, verb);
	assert_int_equal(r, 0);
	assert_int_equal(req.verb, verb);
}

static void expect_error(const char *line, int code, const char *kw)
{
	int r = parse(line);

	if (r != code || err[0] == '\0' ||
	    (kw != NULL && strstr(err, kw) == NULL))
		print_error("'%.80s': got %d '%s', want %d naming '%s'\n",
		    line, r, err, code, kw ? kw : "");
	assert_int_equal(r, code);
	assert_true(err[0] != '\0');
	if (kw != NULL)
		assert_non_null(strstr(err, kw));
}

/* ---- valid requests ---------------------------------------------- */

static void test_ping_status(void **state)
{
	(void)state;
	expect_ok("PING", CB_CTL_PING);
	expect_ok("STATUS", CB_CTL_STATUS);
	expect_ok("  PING", CB_CTL_PING);
	expect_ok("STATUS \t ", CB_CTL_STATUS);
	expect_ok("\tPING\t", CB_CTL_PING);
}

static void test_worker_set(void **state)
{
	(void)state;

	expect_ok("WORKER SET w1 ready", CB_CTL_WORKER_SET);
	assert_string_equal(req.id, "w1");
	assert_int_equal(req.worker_state, CB_WORKER_READY);
	assert_int_equal(req.max_running, 0);   /* not given */

	expect_ok("WORKER SET w1 not_ready 8", CB_CTL_WORKER_SET);
	assert_int_equal(req.worker_state, CB_WORKER_NOT_READY);
	assert_int_equal(req.max_running, 8);

	expect_ok("WORKER SET gpu-0.example.com:8000@a_b draining 65535",
	    CB_CTL_WORKER_SET);
	assert_string_equal(req.id, "gpu-0.example.com:8000@a_b");
	assert_int_equal(req.worker_state, CB_WORKER_DRAINING);
	assert_int_equal(req.max_running, 65535);

	expect_ok("WORKER SET w ready 0", CB_CTL_WORKER_SET);
	assert_int_equal(req.max_running, 0);
	expect_ok("WORKER SET w ready 1", CB_CTL_WORKER_SET);
	assert_int_equal(req.max_running, 1);

	/* Tabs and runs of blanks separate words. */
	expect_ok("WORKER\tSET   w2\t\tready \t 12", CB_CTL_WORKER_SET);
	assert_string_equal(req.id, "w2");
	assert_int_equal(req.worker_state, CB_WORKER_READY);
	assert_int_equal(req.max_running, 12);
	expect_ok("   WORKER SET w3 ready   ", CB_CTL_WORKER_SET);
	assert_string_equal(req.id, "w3");
}

static void test_worker_id_63(void **state)
{
	char line[128], id[CB_WORKER_ID_MAX + 2];
	(void)state;

	memset(id, 'a', CB_WORKER_ID_MAX);
	id[CB_WORKER_ID_MAX] = '\0';
	snprintf(line, sizeof(line), "WORKER SET %s ready 3", id);
	expect_ok(line, CB_CTL_WORKER_SET);
	assert_string_equal(req.id, id);
	snprintf(line, sizeof(line), "WORKER DEL %s", id);
	expect_ok(line, CB_CTL_WORKER_DEL);
	assert_string_equal(req.id, id);

	/* 64 characters: one too many. */
	id[CB_WORKER_ID_MAX] = 'a';
	id[CB_WORKER_ID_MAX + 1] = '\0';
	snprintf(line, sizeof(line), "WORKER SET %s ready 3", id);
	expect_error(line, -EINVAL, "worker id");
	snprintf(line, sizeof(line), "WORKER DEL %s", id);
	expect_error(line, -EINVAL, "worker id");
}

static void test_worker_del_list(void **state)
{
	(void)state;
	expect_ok("WORKER DEL w1", CB_CTL_WORKER_DEL);
	assert_string_equal(req.id, "w1");
	expect_ok("WORKER\tDEL\tx.y:z", CB_CTL_WORKER_DEL);
	assert_string_equal(req.id, "x.y:z");
	expect_ok("WORKER LIST", CB_CTL_WORKER_LIST);
	expect_ok(" WORKER  LIST ", CB_CTL_WORKER_LIST);
}

/* POOL SET's scope words (issue 15): global, local, hold_max=; the
 * combinations one request cannot mean are refused with their reason,
 * and the usage names the new words. */
static void test_pool_set_scope(void **state)
{
	(void)state;
	expect_ok("POOL SET g limit=10 global hold_max=60", CB_CTL_POOL_SET);
	assert_int_equal(req.pool_keys, CB_POOL_SET_LIMIT |
	    CB_POOL_SET_GLOBAL | CB_POOL_SET_HOLD_MAX);
	assert_int_equal(req.limit, 10);
	assert_int_equal(req.hold_max_s, 60);
	expect_ok("POOL SET g local", CB_CTL_POOL_SET);
	assert_int_equal(req.pool_keys, CB_POOL_SET_LOCAL);
	assert_int_equal(req.hold_max_s, 0);
	expect_ok("POOL SET g global", CB_CTL_POOL_SET);
	assert_int_equal(req.pool_keys, CB_POOL_SET_GLOBAL);
	expect_error("POOL SET g global local", -EINVAL,
	    "global and local exclude each other");
	expect_error("POOL SET g share=5 global", -EINVAL,
	    "global excludes share=");
	expect_error("POOL SET g local hold_max=5", -EINVAL,
	    "hold_max= applies to global pools only");
	expect_error("POOL SET g global global", -EINVAL, "global given twice");
	expect_error("POOL SET g global hold_max=0", -EINVAL, "hold_max '0'");
	expect_error("POOL SET g global hold_max=86401", -EINVAL,
	    "(1..86400)");
	expect_error("POOL SET g speed=1", -EINVAL, "hold_max, global, local");
	expect_error("POOL SHOW g", -EINVAL,
	    "[global|local] [hold_max=S]");
}

/* POOL DEL NAME [force] (issue 13, item 11). */
static void test_pool_del(void **state)
{
	(void)state;
	expect_ok("POOL DEL backend", CB_CTL_POOL_DEL);
	assert_string_equal(req.pool, "backend");
	assert_int_equal(req.force, 0);
	assert_int_equal(req.pool_keys, 0);
	expect_ok(" POOL\tDEL  a.b-c_9 force ", CB_CTL_POOL_DEL);
	assert_string_equal(req.pool, "a.b-c_9");
	assert_int_equal(req.force, 1);
	expect_error("POOL DEL", -EINVAL, "usage: POOL DEL");
	expect_error("POOL DEL a forced", -EINVAL, "usage: POOL DEL");
	expect_error("POOL DEL a force x", -EINVAL, "usage: POOL DEL");
	expect_error("POOL DEL a limit=3", -EINVAL, "usage: POOL DEL");
	expect_error("POOL DEL b/d", -EINVAL, "bad pool name");
	expect_error("POOL DEL "
	    "abcdefghijabcdefghijabcdefghij12", -EINVAL, "bad pool name");
	/* POOL SET's own parse leaves force clear. */
	expect_ok("POOL SET a limit=3", CB_CTL_POOL_SET);
	assert_int_equal(req.force, 0);
	expect_error("POOL REMOVE a", -EINVAL, "POOL DEL NAME [force]");
}

/* A global pool's launch and its early release (broker/cluster.h). */
static void test_launch_unlaunch(void **state)
{
	(void)state;
	expect_ok("LAUNCH fleet 3", CB_CTL_LAUNCH);
	assert_string_equal(req.pool, "fleet");
	assert_int_equal(req.observed, 3);
	expect_ok("LAUNCH fleet 0", CB_CTL_LAUNCH);
	expect_ok("UNLAUNCH fleet 00c0ffee12345678", CB_CTL_UNLAUNCH);
	assert_string_equal(req.pool, "fleet");
	assert_true(req.launch_id == 0x00c0ffee12345678ull);
	expect_error("LAUNCH fleet", -EINVAL, "usage: LAUNCH POOL OBSERVED");
	expect_error("LAUNCH fleet 1 2", -EINVAL, "usage: LAUNCH");
	expect_error("LAUNCH fleet -1", -EINVAL, "observed");
	expect_error("LAUNCH fleet 65536", -EINVAL, "observed");
	expect_error("LAUNCH b/d 1", -EINVAL, "bad pool name");
	expect_error("UNLAUNCH fleet", -EINVAL, "usage: UNLAUNCH POOL ID");
	expect_error("UNLAUNCH fleet c0ffee", -EINVAL, "16 hex digits");
	expect_error("UNLAUNCH fleet 00C0FFEE12345678", -EINVAL,
	    "16 hex digits");
	expect_error("UNLAUNCH fleet 00c0ffee1234567g", -EINVAL,
	    "16 hex digits");
	expect_error("UNLAUNCH fleet 000c0ffee12345678", -EINVAL,
	    "16 hex digits");
}

static void test_override(void **state)
{
	static const struct { const char *line; long long n; } ok[] = {
		{ "OVERRIDE 0", 0 },
		{ "OVERRIDE 1", 1 },
		{ "OVERRIDE 65535", 65535 },
		/* Out of range values parse: the handler rejects them. */
		{ "OVERRIDE 65536", 65536 },
		{ "OVERRIDE 70000", 70000 },
		{ "OVERRIDE -1", -1 },
		{ "OVERRIDE -5", -5 },
		{ "OVERRIDE 4294967296", 4294967296LL },
		{ "OVERRIDE 1099511627776", 1LL << 40 },
		{ "OVERRIDE -1099511627776", -(1LL << 40) },
		{ "OVERRIDE\t\t42", 42 },
	};
	(void)state;

	for (size_t i = 0; i < N(ok); i++) {
		expect_ok(ok[i].line, CB_CTL_OVERRIDE);
		assert_true(req.number == ok[i].n);
	}
}

/* ---- malformed requests ------------------------------------------ */

static void test_empty_and_blank(void **state)
{
	(void)state;
	expect_error("", -EINVAL, "empty");
	expect_error(" ", -EINVAL, "empty");
	expect_error("\t \t   ", -EINVAL, "empty");
}

static void test_unknown_and_lowercase_verbs(void **state)
{
	(void)state;
	expect_error("FOO", -EINVAL, "unknown request");
	expect_error("ping", -EINVAL, "unknown request");
	expect_error("Ping", -EINVAL, NULL);
	expect_error("status", -EINVAL, NULL);
	expect_error("worker list", -EINVAL, NULL);
	expect_error("override 5", -EINVAL, NULL);
	expect_error("PINGX", -EINVAL, NULL);
	expect_error("WORKER set w ready", -EINVAL, "unknown WORKER verb");
	expect_error("WORKER FOO", -EINVAL, "unknown WORKER verb");
	expect_error("WORKER list", -EINVAL, NULL);
}

static void test_word_counts(void **state)
{
	static const char *const bad[] = {
		"PING extra", "STATUS now", "WORKER", "WORKER SET",
		"WORKER SET w1", "WORKER SET w1 ready 5 6", "WORKER DEL",
		"WORKER DEL a b", "WORKER LIST x", "OVERRIDE", "OVERRIDE 1 2",
	};
	(void)state;

	for (size_t i = 0; i < N(bad); i++)
		expect_error(bad[i], -EINVAL, "usage");
}

static void test_too_many_words(void **state)
{
	(void)state;
	/* Eight words: the split accepts them, the verb's usage does not. */
	expect_error("WORKER SET a ready 1 2 3 4", -EINVAL, "usage");
	/* Nine: refused by the split. */
	expect_error("WORKER SET a ready 1 2 3 4 5", -EINVAL, "too many");
	expect_error("PING 1 2 3 4 5 6 7 8 9 10 11 12", -EINVAL, "too many");
}

static void test_line_length(void **state)
{
	char line[CB_PROTO_LINE_MAX + 100];
	(void)state;

	/* 511 bytes: the longest line (512 with its '\n'). */
	memset(line, ' ', sizeof(line));
	memcpy(line, "PING", 4);
	line[CB_PROTO_LINE_MAX - 1] = '\0';
	assert_int_equal(strlen(line), 511);
	expect_ok(line, CB_CTL_PING);

	line[CB_PROTO_LINE_MAX - 1] = ' ';
	line[CB_PROTO_LINE_MAX] = '\0';
	assert_int_equal(strlen(line), 512);
	expect_error(line, -E2BIG, "longer than");

	line[CB_PROTO_LINE_MAX] = ' ';
	line[sizeof(line) - 1] = '\0';
	expect_error(line, -E2BIG, "longer than");

	/* Length is checked before content. */
	memset(line, 0x01, sizeof(line));
	line[CB_PROTO_LINE_MAX] = '\0';
	expect_error(line, -E2BIG, NULL);
}

static void test_non_printable(void **state)
{
	static const char *const bad[] = {
		"PING\x01", "PI\x1fNG", "PING\n", "PING\r", "\x7fPING",
		"PING \x80", "PING \xff", "WORKER DEL w\xc3\xa9",
		"\x1b[0mPING", "OVERRIDE 5\x0b",
	};
	(void)state;

	for (size_t i = 0; i < N(bad); i++)
		expect_error(bad[i], -EINVAL, "printable");
	/* The column of the bad byte is named. */
	expect_error("PI\x1fNG", -EINVAL, "column 3");
	expect_error("PING \xff", -EINVAL, "0xff");
	/* Every byte 0x20..0x7e passes the byte check. */
	for (int c = 0x20; c <= 0x7e; c++) {
		char line[16];

		snprintf(line, sizeof(line), "WORKER DEL %c", c);
		parse(line);
		assert_null(strstr(err, "printable"));
	}
}

static void test_bad_worker_ids(void **state)
{
	static const char *const bad[] = {
		"WORKER SET a/b ready", "WORKER SET a$b ready 1",
		"WORKER SET a,b ready", "WORKER SET \"w\" ready",
		"WORKER DEL a#b", "WORKER DEL *", "WORKER DEL a=b",
		"WORKER DEL ~x",
	};
	(void)state;

	for (size_t i = 0; i < N(bad); i++)
		expect_error(bad[i], -EINVAL, "worker id");
}

static void test_bad_worker_state(void **state)
{
	static const char *const bad[] = {
		"WORKER SET w READY", "WORKER SET w up 1", "WORKER SET w 5",
		"WORKER SET w notready", "WORKER SET w not-ready",
		"WORKER SET w readyx", "WORKER SET w Ready 3",
	};
	(void)state;

	for (size_t i = 0; i < N(bad); i++)
		expect_error(bad[i], -EINVAL, "worker state");
}

static void test_bad_max_running(void **state)
{
	static const char *const bad[] = {
		"WORKER SET w ready 65536", "WORKER SET w ready -1",
		"WORKER SET w ready abc", "WORKER SET w ready \"\"",
		"WORKER SET w ready 12x", "WORKER SET w ready 0x10",
		"WORKER SET w ready 99999999999999999999",
		"WORKER SET w ready 4294967297", "WORKER SET w ready 1.5",
	};
	(void)state;

	for (size_t i = 0; i < N(bad); i++)
		expect_error(bad[i], -EINVAL, "max_running");
	expect_error("WORKER SET w ready 65536", -EINVAL, "too large");
	expect_error("WORKER SET w ready -1", -EINVAL, "too small");
	expect_error("WORKER SET w ready abc", -EINVAL, "invalid");
}

static void test_bad_override(void **state)
{
	static const char *const bad[] = {
		"OVERRIDE 12x", "OVERRIDE x", "OVERRIDE 1e3",
		"OVERRIDE 99999999999999999999", "OVERRIDE 1099511627777",
		"OVERRIDE -1099511627777", "OVERRIDE --1", "OVERRIDE 5-",
	};
	(void)state;

	for (size_t i = 0; i < N(bad); i++)
		expect_error(bad[i], -EINVAL, "override");
	expect_error("OVERRIDE 99999999999999999999", -EINVAL, "too large");
}

static void test_message_fits_buffer(void **state)
{
	char small[8];
	int r;
	(void)state;

	memset(small, 'z', sizeof(small));
	r = cb_ctl_parse("FOO", &req, small, 4);
	assert_int_equal(r, -EINVAL);
	assert_int_equal(strlen(small), 3);
	assert_int_equal(small[4], 'z');
	/* A hostile word is quoted only in part. */
	{
		char line[400];

		memset(line, 'Q', sizeof(line));
		line[sizeof(line) - 1] = '\0';
		expect_error(line, -EINVAL, "unknown request");
		assert_true(strlen(err) < 100);
	}
}

/* ---- vocabulary -------------------------------------------------- */

static void test_worker_id_valid(void **state)
{
	char id[80];
	(void)state;

	assert_true(cb_worker_id_valid("a"));
	assert_true(cb_worker_id_valid("Z"));
	assert_true(cb_worker_id_valid("0"));
	assert_true(cb_worker_id_valid("A.b_c:d@e-f9"));
	assert_true(cb_worker_id_valid("10.0.0.1:8080"));
	assert_true(cb_worker_id_valid("..."));
	memset(id, 'x', sizeof(id));
	id[63] = '\0';
	assert_true(cb_worker_id_valid(id));
	id[63] = 'x';
	id[64] = '\0';
	assert_false(cb_worker_id_valid(id));

	assert_false(cb_worker_id_valid(""));
	assert_false(cb_worker_id_valid("a b"));
	assert_false(cb_worker_id_valid("a\tb"));
	assert_false(cb_worker_id_valid("a/b"));
	assert_false(cb_worker_id_valid("[::1]"));
	assert_false(cb_worker_id_valid("caf\xc3\xa9"));
	assert_false(cb_worker_id_valid("a\n"));
	assert_false(cb_worker_id_valid("a+b"));
}

static void test_worker_state_names(void **state)
{
	static const struct { uint32_t s; const char *name; } names[] = {
		{ CB_WORKER_READY, "ready" },
		{ CB_WORKER_NOT_READY, "not_ready" },
		{ CB_WORKER_DRAINING, "draining" },
	};
	(void)state;

	for (size_t i = 0; i < N(names); i++) {
		assert_string_equal(cb_worker_state_name(names[i].s),
		    names[i].name);
		assert_int_equal(cb_worker_state_parse(names[i].name),
		    names[i].s);
		assert_int_equal(cb_worker_state_parse(
		    cb_worker_state_name(names[i].s)), names[i].s);
	}
	assert_null(cb_worker_state_name(0));
	assert_null(cb_worker_state_name(4));
	assert_null(cb_worker_state_name(UINT32_MAX));
	assert_int_equal(cb_worker_state_parse(""), 0);
	assert_int_equal(cb_worker_state_parse("READY"), 0);
	assert_int_equal(cb_worker_state_parse("ready "), 0);
	assert_int_equal(cb_worker_state_parse("drain"), 0);
}

static void test_errno_names(void **state)
{
	static const struct { int err; const char *name; } names[] = {
		{ EINVAL, "EINVAL" }, { ENOENT, "ENOENT" },
		{ ERANGE, "ERANGE" }, { EACCES, "EACCES" },
		{ EPERM, "EPERM" }, { ENOSPC, "ENOSPC" },
		{ E2BIG, "E2BIG" }, { EAGAIN, "EAGAIN" },
		{ ESTALE, "ESTALE" }, { EPROTO, "EPROTO" },
		{ ENOMEM, "ENOMEM" }, { EBUSY, "EBUSY" },
		{ ETIMEDOUT, "ETIMEDOUT" }, { EEXIST, "EEXIST" },
		{ EIO, "EIO" }, { ENOSYS, "ENOSYS" },
	};
	(void)state;

	for (size_t i = 0; i < N(names); i++) {
		/* Either sign names the same errno. */
		assert_string_equal(cb_errno_name(names[i].err),
		    names[i].name);
		assert_string_equal(cb_errno_name(-names[i].err),
		    names[i].name);
		assert_int_equal(cb_errno_parse(names[i].name), names[i].err);
		assert_int_equal(cb_errno_parse(cb_errno_name(names[i].err)),
		    names[i].err);
	}
	/* Unknown both ways: EIO. */
	assert_string_equal(cb_errno_name(0), "EIO");
	assert_string_equal(cb_errno_name(99999), "EIO");
	assert_string_equal(cb_errno_name(-99999), "EIO");
	assert_int_equal(cb_errno_parse("EBOGUS"), EIO);
	assert_int_equal(cb_errno_parse(""), EIO);
	assert_int_equal(cb_errno_parse("einval"), EIO);
}

/* ---- no-crash sweep ---------------------------------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
	/* xorshift64*: fixed seed, so a failing line can be replayed. */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}

/* Random bytes, or random words from the protocol's vocabulary (so
 * the sweep also reaches the number and id parsers). */
static size_t random_line(char *line, size_t cap)
{
	static const char *const words[] = {
		"PING", "STATUS", "WORKER", "SET", "DEL", "LIST", "OVERRIDE",
		"ready", "not_ready", "draining", "w1", "0", "1", "65535",
		"65536", "-1", "99999999999999999999999", "x:y@z", " ", "\t",
		"\t\t", "", "a/b", "1099511627776", "-", "+", "0x1f",
	};
	size_t len = (size_t)(rng() % 601), n = 0;
	int words_mode = rng() % 2;

	assert_true(len < cap);
	if (words_mode && rng() % 4 != 0)
		len %= 48; /* few words: reach the per-verb parsers */
	if (!words_mode) {
		for (n = 0; n < len; n++) {
			/* Any byte but NUL (the line is a C string). */
			line[n] = (char)(rng() % 255 + 1);
		}
	} else {
		while (n < len) {
			const char *w = words[rng() % N(words)];
			size_t wl = strlen(w);

			if (n + wl + 1 > len)
				break;
			memcpy(line + n, w, wl);
			n += wl;
			line[n++] = rng() % 8 ? ' ' : '\t';
		}
	}
	line[n] = '\0';
	return n;
}

static void test_random_lines_never_crash(void **state)
{
	char line[700], msg[64];
	unsigned long counts[3] = { 0 };
	(void)state;

	for (long i = 0; i < 200000; i++) {
		size_t len = random_line(line, sizeof(line));
		struct cb_ctl_req out;
		int r;

		/* Canaries: the message must stay within its buffer. */
		memset(msg, 'c', sizeof(msg));
		r = cb_ctl_parse(line, &out, msg, 32);
		if (r != 0 && r != -EINVAL && r != -E2BIG) {
			print_error("line %ld: returned %d\n", i, r);
			fail();
		}
		for (size_t k = 32; k < sizeof(msg); k++)
			assert_int_equal(msg[k], 'c');
		if (r < 0) {
			assert_true(msg[0] != '\0');
			assert_non_null(memchr(msg, '\0', 32));
		}
		/* Length decides E2BIG, alone. */
		assert_int_equal(r == -E2BIG, len >= CB_PROTO_LINE_MAX);
		if (r == 0) {
			assert_in_range(out.verb, CB_CTL_PING,
			    CB_CTL_OVERRIDE);
			if (out.verb == CB_CTL_WORKER_SET ||
			    out.verb == CB_CTL_WORKER_DEL)
				assert_true(cb_worker_id_valid(out.id));
			if (out.verb == CB_CTL_WORKER_SET) {
				assert_non_null(cb_worker_state_name(
				    out.worker_state));
				assert_in_range(out.max_running, 0,
				    CB_CAPACITY_MAX);
			}
		}
		counts[r == 0 ? 0 : r == -EINVAL ? 1 : 2]++;
	}
	print_message("random lines: %lu ok, %lu EINVAL, %lu E2BIG\n",
	    counts[0], counts[1], counts[2]);
	/* The sweep reached all three outcomes. */
	assert_true(counts[0] > 0 && counts[1] > 0 && counts[2] > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ping_status),
		cmocka_unit_test(test_worker_set),
		cmocka_unit_test(test_worker_id_63),
		cmocka_unit_test(test_worker_del_list),
		cmocka_unit_test(test_pool_del),
		cmocka_unit_test(test_pool_set_scope),
		cmocka_unit_test(test_launch_unlaunch),
		cmocka_unit_test(test_override),
		cmocka_unit_test(test_empty_and_blank),
		cmocka_unit_test(test_unknown_and_lowercase_verbs),
		cmocka_unit_test(test_word_counts),
		cmocka_unit_test(test_too_many_words),
		cmocka_unit_test(test_line_length),
		cmocka_unit_test(test_non_printable),
		cmocka_unit_test(test_bad_worker_ids),
		cmocka_unit_test(test_bad_worker_state),
		cmocka_unit_test(test_bad_max_running),
		cmocka_unit_test(test_bad_override),
		cmocka_unit_test(test_message_fits_buffer),
		cmocka_unit_test(test_worker_id_valid),
		cmocka_unit_test(test_worker_state_names),
		cmocka_unit_test(test_errno_names),
		cmocka_unit_test(test_random_lines_never_crash),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
