/*
 * test_etcd.c - the broker's etcd client (broker/etcd.c, issue 15)
 * against a real etcd the test starts (etcd_harness.h: one member on
 * loopback, private data directory, killed and removed at the end), and
 * against a fake endpoint (a thread serving one canned HTTP answer per
 * connection) for what etcd never sends: garbage, truncated or mistyped
 * JSON, bad base64, a huge body.
 *
 * Without /usr/bin/etcd the tests that need it are skipped, saying why;
 * the fake endpoint's tests run anyway.  No assertion depends on timing:
 * a lease's expiry is polled for, with a bound that only ends a hung
 * test.
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
#include <pthread.h>
#include <time.h>

#include "etcd.h"
#include "etcd_harness.h"

static struct etcd_harness member;
static bool have_etcd;
static char skip_why[256];
/* Each test's keys under a prefix of its own. */
static char prefix[64];

static int group_setup(void **state)
{
	int rc;

	(void)state;
	snprintf(prefix, sizeof(prefix), "/cbtest.%d/", (int)getpid());
	rc = etcd_harness_start(&member, skip_why, sizeof(skip_why));
	if (rc < 0) {
		fprintf(stderr, "test_etcd: %s\n", skip_why);
		return -1;
	}
	have_etcd = rc == 0;
	if (!have_etcd)
		fprintf(stderr, "test_etcd: etcd tests skipped: %s\n",
		    skip_why);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	etcd_harness_stop(&member);
	curl_global_cleanup();
	return 0;
}

static struct cb_etcd *open_ok(const char *endpoints, long timeout_ms)
{
	struct cb_etcd_opts o = { .connect_timeout_ms = timeout_ms,
	    .timeout_ms = timeout_ms };
	struct cb_etcd *e = NULL;
	char err[256];

	assert_int_equal(cb_etcd_open(&e, endpoints, &o, err, sizeof(err)), 0);
	return e;
}

static struct cb_etcd *open_member(void)
{
	if (!have_etcd) {
		print_message("skipped: %s\n", skip_why);
		skip();
	}
	return open_ok(member.endpoint, 2000);
}

static void key(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s%s", prefix, name);
}

/* ---- leases ---- */

static void test_lease_cycle(void **state)
{
	struct cb_etcd *e = open_member();
	struct cb_etcd_lease l, k, t;
	int64_t before;
	struct timespec ts;

	(void)state;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	before = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
	assert_int_equal(cb_etcd_lease_grant(e, 30, &l), 0);
	assert_true(l.id > 0);
	assert_int_equal(l.ttl, 30);
	assert_true(l.sent_ns >= before);

	assert_int_equal(cb_etcd_lease_keepalive(e, l.id, &k), 0);
	assert_true(k.id == l.id);
	assert_int_equal(k.ttl, 30);
	assert_true(k.sent_ns >= l.sent_ns);

	assert_int_equal(cb_etcd_lease_timetolive(e, l.id, &t), 0);
	assert_true(t.ttl > 0 && t.ttl <= 30);

	assert_int_equal(cb_etcd_lease_revoke(e, l.id), 0);
	assert_int_equal(cb_etcd_lease_keepalive(e, l.id, &k), -ENOENT);
	assert_non_null(strstr(cb_etcd_error(e), "not found"));
	assert_int_equal(cb_etcd_lease_timetolive(e, l.id, &t), -ENOENT);
	/* etcd's own error: HTTP 404, code 5. */
	assert_int_equal(cb_etcd_lease_revoke(e, l.id), -ENOENT);
	assert_non_null(strstr(cb_etcd_error(e), "HTTP 404"));
	assert_non_null(strstr(cb_etcd_error(e), "requested lease not found"));
	assert_non_null(strstr(cb_etcd_error(e), member.endpoint));
	/* A put under a lease that is gone. */
	assert_int_equal(cb_etcd_put(e, "/cbtest-x", "v", 1, l.id, NULL),
	    -ENOENT);
	cb_etcd_close(e);
}

/* A lease not kept alive expires and takes its keys along.  Polled,
 * every 100 ms, for at most 20 s: the bound ends a hung test only. */
static void test_lease_expiry(void **state)
{
	const struct timespec tick = { 0, 100 * 1000 * 1000 };
	struct cb_etcd *e = open_member();
	struct cb_etcd_lease l, t;
	struct cb_etcd_range r;
	char k[96];
	int i, rc = 0;

	(void)state;
	key(k, sizeof(k), "expiring");
	assert_int_equal(cb_etcd_lease_grant(e, 2, &l), 0);
	assert_int_equal(cb_etcd_put(e, k, "held", 4, l.id, NULL), 0);
	assert_int_equal(cb_etcd_get(e, k, &r), 0);
	assert_int_equal(r.nkvs, 1);
	assert_true(r.kvs[0].lease == l.id);
	cb_etcd_range_free(&r);
	for (i = 0; i < 200; i++) {
		rc = cb_etcd_lease_timetolive(e, l.id, &t);
		if (rc != 0)
			break;
		nanosleep(&tick, NULL);
	}
	assert_int_equal(rc, -ENOENT);
	assert_int_equal(cb_etcd_get(e, k, &r), 0);
	assert_int_equal(r.nkvs, 0);
	cb_etcd_range_free(&r);
	cb_etcd_close(e);
}

/* ---- keys ---- */

static void test_put_get_range(void **state)
{
	static const char bin[] = { 'a', '\0', (char)0xff, '\n', '"', '\\' };
	struct cb_etcd *e = open_member();
	struct cb_etcd_range r;
	char k[96], p[96];
	int64_t rev, rev2, n;
	const char *names[] = { "r/b", "r/a", "r/c\xff", "r/c\xff\x01", "r/d",
	    "r0", "q" };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		key(k, sizeof(k), names[i]);
		assert_int_equal(cb_etcd_put(e, k, bin, i, 0, &rev), 0);
		assert_true(rev > 0);
	}
	/* A binary value, NULs and all. */
	key(k, sizeof(k), "bin");
	assert_int_equal(cb_etcd_put(e, k, bin, sizeof(bin), 0, &rev), 0);
	assert_int_equal(cb_etcd_get(e, k, &r), 0);
	assert_int_equal(r.nkvs, 1);
	assert_int_equal(r.kvs[0].value_len, sizeof(bin));
	assert_memory_equal(r.kvs[0].value, bin, sizeof(bin));
	assert_string_equal(r.kvs[0].key, k);
	assert_true(r.kvs[0].create_revision == rev);
	assert_true(r.kvs[0].mod_revision == rev);
	assert_true(r.kvs[0].version == 1);
	assert_true(r.kvs[0].lease == 0);
	assert_true(r.revision >= rev);
	cb_etcd_range_free(&r);
	/* Overwritten with an empty value. */
	assert_int_equal(cb_etcd_put(e, k, "", 0, 0, &rev2), 0);
	assert_int_equal(cb_etcd_get(e, k, &r), 0);
	assert_int_equal(r.nkvs, 1);
	assert_int_equal(r.kvs[0].value_len, 0);
	assert_true(r.kvs[0].create_revision == rev);
	assert_true(r.kvs[0].mod_revision == rev2);
	assert_true(r.kvs[0].version == 2);
	cb_etcd_range_free(&r);

	/* Every key under "r/", in key order; not "r0" nor "q". */
	key(p, sizeof(p), "r/");
	assert_int_equal(cb_etcd_range(e, p, &r), 0);
	assert_int_equal(r.nkvs, 5);
	key(k, sizeof(k), "r/a");
	assert_string_equal(r.kvs[0].key, k);
	assert_int_equal(r.kvs[0].value_len, 1);
	key(k, sizeof(k), "r/d");
	assert_string_equal(r.kvs[4].key, k);
	assert_int_equal(r.kvs[4].value_len, 4);
	cb_etcd_range_free(&r);
	/* A prefix ending in 0xff: its range end is the byte before,
	 * incremented. */
	key(p, sizeof(p), "r/c\xff");
	assert_int_equal(cb_etcd_range(e, p, &r), 0);
	assert_int_equal(r.nkvs, 2);
	cb_etcd_range_free(&r);

	key(k, sizeof(k), "absent");
	assert_int_equal(cb_etcd_get(e, k, &r), 0);
	assert_int_equal(r.nkvs, 0);
	assert_true(r.revision > 0);
	cb_etcd_range_free(&r);
	key(k, sizeof(k), "r/a");
	assert_int_equal(cb_etcd_delete(e, k, &n), 0);
	assert_true(n == 1);
	assert_int_equal(cb_etcd_delete(e, k, &n), 0);
	assert_true(n == 0);
	assert_int_equal(cb_etcd_put(e, "", "x", 1, 0, NULL), -EINVAL);
	cb_etcd_close(e);
}

/* ---- transactions ---- */

/* "create k = value under lease iff absent, else tell me who has it". */
static int create_iff_absent(struct cb_etcd *e, const char *k,
    const char *value, int64_t lease, struct cb_etcd_txn_result *res)
{
	struct cb_etcd_compare c = { .key = k, .target = CB_ETCD_CREATE,
	    .cmp = CB_ETCD_EQ, .number = 0 };
	struct cb_etcd_op put = { .kind = CB_ETCD_OP_PUT, .key = k,
	    .value = value, .value_len = strlen(value), .lease = lease };
	struct cb_etcd_op get = { .kind = CB_ETCD_OP_RANGE, .key = k };
	struct cb_etcd_txn t = { .compare = &c, .ncompare = 1,
	    .success = &put, .nsuccess = 1, .failure = &get, .nfailure = 1 };

	return cb_etcd_txn_run(e, &t, res);
}

static void test_txn_create_iff_absent(void **state)
{
	struct cb_etcd *e = open_member();
	struct cb_etcd_txn_result res;
	struct cb_etcd_lease l;
	char k[96];

	(void)state;
	key(k, sizeof(k), "owner");
	assert_int_equal(cb_etcd_lease_grant(e, 30, &l), 0);
	assert_int_equal(create_iff_absent(e, k, "host-a", l.id, &res), 0);
	assert_true(res.succeeded);
	assert_true(res.revision > 0);
	assert_int_equal(res.nresults, 1);
	assert_int_equal(res.results[0].kind, CB_ETCD_OP_PUT);
	cb_etcd_txn_result_free(&res);

	assert_int_equal(create_iff_absent(e, k, "host-b", 0, &res), 0);
	assert_false(res.succeeded);
	assert_int_equal(res.nresults, 1);
	assert_int_equal(res.results[0].kind, CB_ETCD_OP_RANGE);
	assert_int_equal(res.results[0].range.nkvs, 1);
	assert_string_equal(res.results[0].range.kvs[0].value, "host-a");
	assert_true(res.results[0].range.kvs[0].lease == l.id);
	cb_etcd_txn_result_free(&res);

	/* Value, lease and version compares on the holder's key. */
	{
		struct cb_etcd_compare c[] = {
			{ .key = k, .target = CB_ETCD_VALUE, .cmp = CB_ETCD_EQ,
			  .value = "host-a", .value_len = 6 },
			{ .key = k, .target = CB_ETCD_LEASE, .cmp = CB_ETCD_EQ,
			  .number = l.id },
			{ .key = k, .target = CB_ETCD_VERSION,
			  .cmp = CB_ETCD_LT, .number = 2 },
		};
		struct cb_etcd_op del = { .kind = CB_ETCD_OP_DELETE, .key = k };
		struct cb_etcd_txn t = { .compare = c, .ncompare = 3,
		    .success = &del, .nsuccess = 1 };

		c[0].value = "host-b";
		assert_int_equal(cb_etcd_txn_run(e, &t, &res), 0);
		assert_false(res.succeeded);
		assert_int_equal(res.nresults, 0);
		cb_etcd_txn_result_free(&res);
		c[0].value = "host-a";
		assert_int_equal(cb_etcd_txn_run(e, &t, &res), 0);
		assert_true(res.succeeded);
		assert_int_equal(res.nresults, 1);
		assert_true(res.results[0].deleted == 1);
		cb_etcd_txn_result_free(&res);
	}
	assert_int_equal(cb_etcd_lease_revoke(e, l.id), 0);
	cb_etcd_close(e);
}

/* "mod_revision of every key under P < R": holds until a key under P
 * is written at R or later. */
static void test_txn_prefix_compare(void **state)
{
	struct cb_etcd *e = open_member();
	struct cb_etcd_txn_result res;
	struct cb_etcd_range r;
	char p[96], k[96], outside[96];
	struct cb_etcd_compare c = { .key = p, .prefix = true,
	    .target = CB_ETCD_MOD, .cmp = CB_ETCD_LT };
	struct cb_etcd_op get = { .kind = CB_ETCD_OP_RANGE, .key = p,
	    .prefix = true };
	struct cb_etcd_txn t = { .compare = &c, .ncompare = 1,
	    .success = &get, .nsuccess = 1 };

	(void)state;
	key(p, sizeof(p), "shares/");
	key(k, sizeof(k), "shares/h1");
	key(outside, sizeof(outside), "sharesX");
	assert_int_equal(cb_etcd_put(e, k, "4", 1, 0, NULL), 0);
	assert_int_equal(cb_etcd_range(e, p, &r), 0);
	c.number = r.revision + 1;
	cb_etcd_range_free(&r);

	assert_int_equal(cb_etcd_txn_run(e, &t, &res), 0);
	assert_true(res.succeeded);
	assert_int_equal(res.results[0].range.nkvs, 1);
	cb_etcd_txn_result_free(&res);
	/* A write outside the prefix changes nothing. */
	assert_int_equal(cb_etcd_put(e, outside, "1", 1, 0, NULL), 0);
	assert_int_equal(cb_etcd_txn_run(e, &t, &res), 0);
	assert_true(res.succeeded);
	cb_etcd_txn_result_free(&res);
	/* One under it fails the compare. */
	key(k, sizeof(k), "shares/h2");
	assert_int_equal(cb_etcd_put(e, k, "3", 1, 0, NULL), 0);
	assert_int_equal(cb_etcd_txn_run(e, &t, &res), 0);
	assert_false(res.succeeded);
	assert_int_equal(res.nresults, 0);
	cb_etcd_txn_result_free(&res);
	cb_etcd_close(e);
}

/* ---- endpoints ---- */

static int dead_port(void)
{
	int p;

	assert_int_equal(etcd_harness_free_ports(&p, 1), 0);
	return p;
}

static void test_failover(void **state)
{
	struct cb_etcd *e;
	struct cb_etcd_status st, st2;
	struct cb_etcd_range r;
	char eps[160], dead[64];
	int64_t fail_ns;

	(void)state;
	if (!have_etcd) {
		print_message("skipped: %s\n", skip_why);
		skip();
	}
	snprintf(dead, sizeof(dead), "http://127.0.0.1:%d", dead_port());
	snprintf(eps, sizeof(eps), "%s,%s", dead, member.endpoint);
	e = open_ok(eps, 1000);
	assert_string_equal(cb_etcd_endpoint(e, 0), dead);
	assert_string_equal(cb_etcd_endpoint(e, 1), member.endpoint);
	assert_null(cb_etcd_endpoint(e, 2));
	cb_etcd_status(e, &st);
	assert_int_equal(st.nendpoints, 2);
	assert_int_equal(st.current, 0);
	assert_true(st.last_ok_ns == 0);

	assert_int_equal(cb_etcd_get(e, "/cbtest-failover", &r), 0);
	cb_etcd_range_free(&r);
	cb_etcd_status(e, &st);
	assert_int_equal(st.current, 1);
	assert_true(st.last_ok_ns > 0);
	assert_int_equal(st.last_err, -ECONNREFUSED);
	/* The dead one's message is kept, by endpoint and as the last
	 * failure. */
	assert_non_null(strstr(cb_etcd_endpoint_error(e, 0), dead));
	assert_string_equal(cb_etcd_endpoint_error(e, 1), "");
	assert_non_null(strstr(cb_etcd_error(e), dead));
	fail_ns = st.last_fail_ns;
	assert_true(fail_ns > 0);

	/* The next request goes straight to the one that answered. */
	assert_int_equal(cb_etcd_get(e, "/cbtest-failover", &r), 0);
	cb_etcd_range_free(&r);
	cb_etcd_status(e, &st2);
	assert_int_equal(st2.current, 1);
	assert_true(st2.last_fail_ns == fail_ns);
	assert_true(st2.last_ok_ns >= st.last_ok_ns);
	cb_etcd_close(e);
}

/* Every endpoint dead: a clear error, after one try each. */
static void test_all_dead(void **state)
{
	struct cb_etcd *e;
	struct cb_etcd_range r;
	struct cb_etcd_lease l;
	char eps[160], a[64], b[64];

	(void)state;
	snprintf(a, sizeof(a), "http://127.0.0.1:%d", dead_port());
	snprintf(b, sizeof(b), "http://127.0.0.1:%d/", dead_port());
	snprintf(eps, sizeof(eps), "%s,%s", a, b);
	e = open_ok(eps, 1000);
	assert_int_equal(cb_etcd_get(e, "/k", &r), -ECONNREFUSED);
	assert_int_equal(r.nkvs, 0);
	assert_non_null(strstr(cb_etcd_error(e), "no etcd endpoint answered"));
	assert_non_null(strstr(cb_etcd_error(e), a));
	/* The trailing '/' is dropped from the endpoint. */
	b[strlen(b) - 1] = '\0';
	assert_non_null(strstr(cb_etcd_error(e), b));
	assert_int_equal(cb_etcd_lease_grant(e, 5, &l), -ECONNREFUSED);
	cb_etcd_close(e);
}

static void test_open_bad(void **state)
{
	struct cb_etcd *e = NULL;
	char err[256];

	(void)state;
	assert_int_equal(cb_etcd_open(&e, "127.0.0.1:2379", NULL, err,
	    sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "expected http://"));
	assert_int_equal(cb_etcd_open(&e, "http://a:1,", NULL, err,
	    sizeof(err)), -EINVAL);
	assert_int_equal(cb_etcd_open(&e, "http://a b:1", NULL, err,
	    sizeof(err)), -EINVAL);
	assert_int_equal(cb_etcd_open(&e, "ftp://a:1", NULL, err,
	    sizeof(err)), -EINVAL);
	assert_int_equal(cb_etcd_open(&e, "", NULL, err, sizeof(err)),
	    -EINVAL);
	assert_null(e);
}

/* ---- a fake endpoint ---- */

struct fake {
	int lfd;
	int port;
	pthread_t thread;
	const char *head;	/* status line and headers, no blank line */
	const char *body;
	size_t body_len;
	bool length;		/* send Content-Length */
	bool silent;		/* accept nothing: requests time out */
};

/* Read one request (headers, then Content-Length bytes). */
static void fake_read_request(int fd)
{
	char buf[8192];
	size_t n = 0;
	ssize_t k;
	char *end, *cl;
	size_t want;

	for (;;) {
		k = read(fd, buf + n, sizeof(buf) - 1 - n);
		if (k <= 0)
			return;
		n += (size_t)k;
		buf[n] = '\0';
		end = strstr(buf, "\r\n\r\n");
		if (end != NULL)
			break;
		if (n == sizeof(buf) - 1)
			return;
	}
	cl = strcasestr(buf, "Content-Length:");
	want = cl ? strtoul(cl + 15, NULL, 10) : 0;
	want += (size_t)(end + 4 - buf);
	while (n < want) {
		k = read(fd, buf, sizeof(buf) < want - n ? sizeof(buf) :
		    want - n);
		if (k <= 0)
			return;
		n += (size_t)k;
	}
}

static void fake_write(int fd, const char *p, size_t len)
{
	ssize_t k;

	while (len > 0) {
		k = send(fd, p, len, MSG_NOSIGNAL);
		if (k <= 0)
			return;	/* the client gave up */
		p += k;
		len -= (size_t)k;
	}
}

/* One connection: read the request, send the answer, close. */
static void *fake_serve(void *arg)
{
	struct fake *f = arg;
	char hdr[512];
	int fd = accept(f->lfd, NULL, NULL);

	if (fd < 0)
		return NULL;
	fake_read_request(fd);
	if (f->length)
		snprintf(hdr, sizeof(hdr), "%s\r\nContent-Length: %zu\r\n"
		    "Connection: close\r\n\r\n", f->head, f->body_len);
	else
		snprintf(hdr, sizeof(hdr), "%s\r\nConnection: close\r\n\r\n",
		    f->head);
	fake_write(fd, hdr, strlen(hdr));
	fake_write(fd, f->body, f->body_len);
	close(fd);
	return NULL;
}

static void fake_listen(struct fake *f)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
	    .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);

	f->lfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(f->lfd >= 0);
	assert_int_equal(bind(f->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(f->lfd, 4), 0);
	assert_int_equal(getsockname(f->lfd, (struct sockaddr *)&sa, &len), 0);
	f->port = ntohs(sa.sin_port);
}

static struct cb_etcd *fake_start(struct fake *f)
{
	char ep[64];

	fake_listen(f);
	if (!f->silent)
		assert_int_equal(pthread_create(&f->thread, NULL, fake_serve,
		    f), 0);
	snprintf(ep, sizeof(ep), "http://127.0.0.1:%d", f->port);
	return open_ok(ep, 1000);
}

static void fake_stop(struct fake *f, struct cb_etcd *e)
{
	cb_etcd_close(e);
	if (!f->silent)
		pthread_join(f->thread, NULL);
	close(f->lfd);
}

enum call { CALL_GET, CALL_PUT, CALL_GRANT, CALL_KEEPALIVE, CALL_TXN,
	CALL_REVOKE };

struct bad_answer {
	const char *what;
	enum call call;
	const char *head;
	const char *body;
};

#define OK200	"HTTP/1.1 200 OK\r\nContent-Type: application/json"
#define H500	"HTTP/1.1 500 Internal Server Error"

static const struct bad_answer bad_answers[] = {
	{ "not HTTP", CALL_GET, "garbage garbage", "more garbage" },
	{ "not JSON", CALL_GET, OK200, "this is not JSON" },
	{ "empty", CALL_PUT, OK200, "" },
	{ "truncated JSON", CALL_GET, OK200,
	  "{\"header\":{\"revision\":\"3\"},\"kvs\":[{\"key\":\"YQ==\"" },
	{ "two objects", CALL_PUT, OK200, "{} {}" },
	{ "an array", CALL_PUT, OK200, "[1,2]" },
	{ "too deep", CALL_PUT, OK200,
	  "{\"a\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
	  "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}" },
	{ "revision a number", CALL_PUT, OK200,
	  "{\"header\":{\"revision\":3}}" },
	{ "header a string", CALL_PUT, OK200, "{\"header\":\"x\"}" },
	{ "revision negative", CALL_PUT, OK200,
	  "{\"header\":{\"revision\":\"-3\"}}" },
	{ "revision past int64", CALL_PUT, OK200,
	  "{\"header\":{\"revision\":\"99999999999999999999\"}}" },
	{ "revision with a space", CALL_PUT, OK200,
	  "{\"header\":{\"revision\":\" 3\"}}" },
	{ "kvs a string", CALL_GET, OK200, "{\"kvs\":\"nope\"}" },
	{ "a kv a number", CALL_GET, OK200, "{\"kvs\":[5]}" },
	{ "a kv without a key", CALL_GET, OK200,
	  "{\"kvs\":[{\"value\":\"YQ==\"}]}" },
	{ "more a string", CALL_GET, OK200, "{\"more\":\"true\"}" },
	{ "key bad base64 (length)", CALL_GET, OK200,
	  "{\"kvs\":[{\"key\":\"YQ=\"}]}" },
	{ "key bad base64 (alphabet)", CALL_GET, OK200,
	  "{\"kvs\":[{\"key\":\"Y!==\"}]}" },
	{ "value bad base64 (padding inside)", CALL_GET, OK200,
	  "{\"kvs\":[{\"key\":\"YQ==\",\"value\":\"YQ==YQ==\"}]}" },
	{ "value bad base64 (unused bits)", CALL_GET, OK200,
	  "{\"kvs\":[{\"key\":\"YQ==\",\"value\":\"YR==\"}]}" },
	{ "value a number", CALL_GET, OK200,
	  "{\"kvs\":[{\"key\":\"YQ==\",\"value\":7}]}" },
	{ "grant ID not a number", CALL_GRANT, OK200,
	  "{\"ID\":\"12x\",\"TTL\":\"5\"}" },
	{ "grant without an ID", CALL_GRANT, OK200, "{\"TTL\":\"5\"}" },
	{ "grant TTL past etcd's max", CALL_GRANT, OK200,
	  "{\"ID\":\"1\",\"TTL\":\"9000000001\"}" },
	{ "keepalive without a result", CALL_KEEPALIVE, OK200,
	  "{\"ID\":\"7\",\"TTL\":\"5\"}" },
	{ "keepalive for another lease", CALL_KEEPALIVE, OK200,
	  "{\"result\":{\"ID\":\"8\",\"TTL\":\"5\"}}" },
	{ "txn: fewer responses than ops", CALL_TXN, OK200,
	  "{\"succeeded\":true}" },
	{ "txn: the wrong response", CALL_TXN, OK200,
	  "{\"succeeded\":true,\"responses\":[{\"response_range\":{}}]}" },
	{ "txn: succeeded a string", CALL_TXN, OK200,
	  "{\"succeeded\":\"yes\",\"responses\":[{\"response_put\":{}}]}" },
	{ "txn: a bad kv in the failure's range", CALL_TXN, OK200,
	  "{\"responses\":[{\"response_range\":{\"kvs\":[{\"key\":\"@\"}]}}]}" },
	{ "HTTP 500, not JSON", CALL_REVOKE, H500, "<html>oops</html>" },
	{ "an error object of the wrong shape", CALL_REVOKE, H500,
	  "{\"error\":5,\"code\":\"x\"}" },
};

static int call(struct cb_etcd *e, enum call c)
{
	struct cb_etcd_range r;
	struct cb_etcd_lease l;
	struct cb_etcd_txn_result res;
	struct cb_etcd_op put = { .kind = CB_ETCD_OP_PUT, .key = "/k",
	    .value = "v", .value_len = 1 };
	struct cb_etcd_op get = { .kind = CB_ETCD_OP_RANGE, .key = "/k" };
	struct cb_etcd_txn t = { .success = &put, .nsuccess = 1,
	    .failure = &get, .nfailure = 1 };
	int rc;

	switch (c) {
	case CALL_GET:
		rc = cb_etcd_get(e, "/k", &r);
		assert_int_equal(r.nkvs, 0);
		assert_null(r.kvs);
		return rc;
	case CALL_PUT:
		return cb_etcd_put(e, "/k", "v", 1, 0, NULL);
	case CALL_GRANT:
		return cb_etcd_lease_grant(e, 5, &l);
	case CALL_KEEPALIVE:
		return cb_etcd_lease_keepalive(e, 7, &l);
	case CALL_TXN:
		rc = cb_etcd_txn_run(e, &t, &res);
		assert_int_equal(res.nresults, 0);
		assert_null(res.results);
		return rc;
	case CALL_REVOKE:
		return cb_etcd_lease_revoke(e, 7);
	}
	return 0;
}

/* Each answer: -EPROTO with a message naming the endpoint; no crash,
 * no leak (the valgrind and ASan builds check that). */
static void test_hostile_answers(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad_answers) / sizeof(bad_answers[0]); i++) {
		const struct bad_answer *b = &bad_answers[i];
		struct fake f = { .head = b->head, .body = b->body,
		    .body_len = strlen(b->body), .length = true };
		struct cb_etcd *e = fake_start(&f);
		int rc = call(e, b->call);

		print_message("%-40s %d %s\n", b->what, rc, cb_etcd_error(e));
		assert_int_equal(rc, -EPROTO);
		assert_non_null(strstr(cb_etcd_error(e), "127.0.0.1"));
		fake_stop(&f, e);
	}
}

/* An etcd error from a fake: the code mapped, the message kept. */
static void test_etcd_error_answer(void **state)
{
	struct fake f = { .head = "HTTP/1.1 400 Bad Request", .body =
	    "{\"error\":\"etcdserver: key is not provided\",\"code\":3}",
	    .length = true };
	struct cb_etcd *e;

	(void)state;
	f.body_len = strlen(f.body);
	e = fake_start(&f);
	assert_int_equal(cb_etcd_put(e, "/k", "v", 1, 0, NULL), -EINVAL);
	assert_non_null(strstr(cb_etcd_error(e), "HTTP 400"));
	assert_non_null(strstr(cb_etcd_error(e), "key is not provided"));
	assert_non_null(strstr(cb_etcd_error(e), "code 3"));
	fake_stop(&f, e);
}

/* Over max_response (4 MiB): announced (Content-Length) or not. */
static void test_huge_answer(void **state)
{
	const size_t len = 5 << 20;
	char *body = malloc(len);
	int with_length;

	(void)state;
	assert_non_null(body);
	memset(body, ' ', len);
	body[0] = '{';
	body[len - 1] = '}';
	for (with_length = 0; with_length < 2; with_length++) {
		struct fake f = { .head = OK200, .body = body,
		    .body_len = len, .length = with_length };
		struct cb_etcd *e = fake_start(&f);

		assert_int_equal(call(e, CALL_GET), -EPROTO);
		assert_non_null(strstr(cb_etcd_error(e), "an answer over"));
		fake_stop(&f, e);
	}
	free(body);
}

/* An endpoint that accepts and never answers: -ETIMEDOUT after the
 * request's timeout, and the next endpoint is tried. */
static void test_timeout_failover(void **state)
{
	struct fake f = { .silent = true };
	struct cb_etcd_opts o = { .connect_timeout_ms = 300,
	    .timeout_ms = 300 };
	struct cb_etcd *e;
	struct cb_etcd_range r;
	char eps[160], err[256];

	(void)state;
	fake_listen(&f);
	snprintf(eps, sizeof(eps), "http://127.0.0.1:%d", f.port);
	assert_int_equal(cb_etcd_open(&e, eps, &o, err, sizeof(err)), 0);
	assert_int_equal(cb_etcd_get(e, "/k", &r), -ETIMEDOUT);
	assert_non_null(strstr(cb_etcd_error(e), "no etcd endpoint answered"));
	cb_etcd_close(e);
	if (have_etcd) {
		snprintf(eps, sizeof(eps), "http://127.0.0.1:%d,%s", f.port,
		    member.endpoint);
		assert_int_equal(cb_etcd_open(&e, eps, &o, err, sizeof(err)),
		    0);
		assert_int_equal(cb_etcd_get(e, "/k", &r), 0);
		cb_etcd_range_free(&r);
		print_message("%s\n", cb_etcd_endpoint_error(e, 0));
		assert_non_null(strstr(cb_etcd_endpoint_error(e, 0),
		    "timed out"));
		cb_etcd_close(e);
	}
	close(f.lfd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_open_bad),
		cmocka_unit_test(test_lease_cycle),
		cmocka_unit_test(test_lease_expiry),
		cmocka_unit_test(test_put_get_range),
		cmocka_unit_test(test_txn_create_iff_absent),
		cmocka_unit_test(test_txn_prefix_compare),
		cmocka_unit_test(test_failover),
		cmocka_unit_test(test_all_dead),
		cmocka_unit_test(test_timeout_failover),
		cmocka_unit_test(test_hostile_answers),
		cmocka_unit_test(test_etcd_error_answer),
		cmocka_unit_test(test_huge_answer),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
