/*
 * test_broker_config.c - the broker's configuration file
 * (broker/config.c, format in broker/config.h), parsed from in-memory
 * files (fmemopen).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <bsd/string.h>

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "abi.h"
#include "config.h"
#include "tier.h"

#define PATH "test.conf"

struct fx {
	struct cb_config c;
	char err[512];
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	cb_config_defaults(&f->c);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	cb_config_free(&f->c);
	free(f);
	return 0;
}

/* Parse text (length len) on top of f->c. */
static int parse_n(struct fx *f, const char *text, size_t len)
{
	FILE *fp;
	int r;

	fp = fmemopen((void *)text, len, "r");
	assert_non_null(fp);
	f->err[0] = '\0';
	r = cb_config_parse(&f->c, fp, PATH, f->err, sizeof(f->err));
	fclose(fp);
	return r;
}

static int parse(struct fx *f, const char *text)
{
	return parse_n(f, text, strlen(text));
}

/* An error names PATH:line and says what. */
static void expect_error(struct fx *f, const char *text, unsigned line,
    const char *what)
{
	char prefix[64];

	snprintf(prefix, sizeof(prefix), "%s:%u: ", PATH, line);
	if (parse(f, text) != -EINVAL)
		fail_msg("accepted: '%s'", text);
	if (strncmp(f->err, prefix, strlen(prefix)) != 0)
		fail_msg("message '%s' does not start with '%s'", f->err,
		    prefix);
	if (what != NULL && strstr(f->err, what) == NULL)
		fail_msg("message '%s' does not mention '%s'", f->err, what);
}

static void expect_defaults(const struct cb_config *c)
{
	assert_int_equal(c->slots_per_worker, CB_DEFAULT_SLOTS_PER_WORKER);
	assert_int_equal(c->slots_per_worker, 64);
	assert_int_equal(c->legacy_max, CB_DEFAULT_LEGACY_MAX);
	assert_int_equal(c->legacy_max, 1024);
	assert_int_equal(c->retry_after_ms, 100);
	assert_int_equal(c->override, 0);
	assert_false(c->override_set);
	assert_int_equal(c->override_rejects, 0);
	assert_true(c->override_rejected == 0);
	assert_null(c->workers);
	assert_int_equal(c->nworkers, 0);
	/* No cluster (host: gethostname()'s at the file's end). */
	assert_string_equal(c->cluster.etcd, "");
	assert_string_equal(c->cluster.cluster, CB_CLUSTER_DEFAULT);
	assert_string_equal(c->cluster.cluster, "capbroker");
	assert_int_equal(c->cluster.lease_ttl_s, CB_LEASE_TTL_DEFAULT);
	assert_int_equal(c->cluster.lease_ttl_s, 10);
}

static void test_defaults(void **state)
{
	struct fx *f = *state;

	expect_defaults(&f->c);
	/* Dirty memory is reset. */
	memset(&f->c, 0xa5, sizeof(f->c));
	cb_config_defaults(&f->c);
	expect_defaults(&f->c);
}

static void test_empty_and_comments_only(void **state)
{
	struct fx *f = *state;

	assert_int_equal(parse(f, "\n"), 0);
	expect_defaults(&f->c);
	assert_int_equal(parse(f, "# nothing\n\n   \n\t# indented\n"), 0);
	expect_defaults(&f->c);
	assert_int_equal(parse_n(f, "", 0), 0);
	expect_defaults(&f->c);
}

static void test_every_key(void **state)
{
	struct fx *f = *state;

	assert_int_equal(parse(f,
	    "slots_per_worker = 8\n"
	    "legacy_max_concurrent_requests = 300\n"
	    "override = 42\n"
	    "retry_after_ms = 250\n"
	    "worker w-1 ready\n"), 0);
	assert_int_equal(f->c.slots_per_worker, 8);
	assert_int_equal(f->c.legacy_max, 300);
	assert_int_equal(f->c.override, 42);
	assert_true(f->c.override_set);
	assert_int_equal(f->c.retry_after_ms, 250);
	assert_int_equal(f->c.nworkers, 1);
	assert_string_equal(f->c.workers[0].id, "w-1");
	assert_int_equal(f->c.override_rejects, 0);
}

static void test_bounds_accepted(void **state)
{
	struct fx *f = *state;

	assert_int_equal(parse(f,
	    "slots_per_worker = 1\n"
	    "legacy_max_concurrent_requests = 65535\n"
	    "retry_after_ms = 1\n"
	    "override = 0\n"), 0);
	assert_int_equal(f->c.slots_per_worker, 1);
	assert_int_equal(f->c.legacy_max, 65535);
	assert_int_equal(f->c.retry_after_ms, 1);
	/* 0 is a valid override ("derive"), and the file set it. */
	assert_int_equal(f->c.override, 0);
	assert_true(f->c.override_set);
	assert_int_equal(parse(f, "override = 65535\nretry_after_ms=65535\n"),
	    0);
	assert_int_equal(f->c.override, 65535);
	assert_int_equal(f->c.retry_after_ms, 65535);
}

static void test_later_lines_win(void **state)
{
	struct fx *f = *state;

	assert_int_equal(parse(f, "slots_per_worker = 8\n"
	    "slots_per_worker = 9\n"), 0);
	assert_int_equal(f->c.slots_per_worker, 9);
	/* Parsing on top of a config keeps what the file does not set. */
	assert_int_equal(parse(f, "retry_after_ms = 7\n"), 0);
	assert_int_equal(f->c.slots_per_worker, 9);
	assert_int_equal(f->c.retry_after_ms, 7);
}

static void test_syntax_variants(void **state)
{
	struct fx *f = *state;

	assert_int_equal(parse(f,
	    "# header comment\r\n"
	    "\r\n"
	    "slots_per_worker=3\r\n"
	    "   legacy_max_concurrent_requests\t=\t77   # trailing\r\n"
	    "\t\n"
	    "retry_after_ms = 5#no space before the comment\n"
	    "worker\tw1\tdraining\t9\r\n"
	    "worker   w2   not_ready   # comment after a worker\n"
	    "override = 12"), 0);   /* last line without newline */
	assert_int_equal(f->c.slots_per_worker, 3);
	assert_int_equal(f->c.legacy_max, 77);
	assert_int_equal(f->c.retry_after_ms, 5);
	assert_int_equal(f->c.override, 12);
	assert_int_equal(f->c.nworkers, 2);
	assert_string_equal(f->c.workers[0].id, "w1");
	assert_int_equal(f->c.workers[0].state, CB_WORKER_DRAINING);
	assert_int_equal(f->c.workers[0].max_running, 9);
	assert_string_equal(f->c.workers[1].id, "w2");
	assert_int_equal(f->c.workers[1].state, CB_WORKER_NOT_READY);
	assert_int_equal(f->c.workers[1].max_running, 0);
}

static void test_workers(void **state)
{
	struct fx *f = *state;

	assert_int_equal(parse(f,
	    "worker a ready\n"
	    "worker b.host:8080@x_y-z ready 16\n"
	    "worker c not_ready 0\n"
	    "worker d draining 65535\n"), 0);
	assert_int_equal(f->c.nworkers, 4);
	assert_string_equal(f->c.workers[0].id, "a");
	assert_int_equal(f->c.workers[0].state, CB_WORKER_READY);
	assert_int_equal(f->c.workers[0].max_running, 0);
	assert_string_equal(f->c.workers[1].id, "b.host:8080@x_y-z");
	assert_int_equal(f->c.workers[1].state, CB_WORKER_READY);
	assert_int_equal(f->c.workers[1].max_running, 16);
	assert_int_equal(f->c.workers[2].state, CB_WORKER_NOT_READY);
	assert_int_equal(f->c.workers[2].max_running, 0);
	assert_int_equal(f->c.workers[3].state, CB_WORKER_DRAINING);
	assert_int_equal(f->c.workers[3].max_running, 65535);
	cb_config_free(&f->c);
	assert_null(f->c.workers);
	assert_int_equal(f->c.nworkers, 0);
	cb_config_free(&f->c);   /* twice is harmless */
}

static void test_worker_id_longest(void **state)
{
	struct fx *f = *state;
	char line[256], id[CB_WORKER_ID_MAX + 2];

	memset(id, 'w', CB_WORKER_ID_MAX);
	id[CB_WORKER_ID_MAX] = '\0';
	snprintf(line, sizeof(line), "worker %s ready\n", id);
	assert_int_equal(parse(f, line), 0);
	assert_string_equal(f->c.workers[0].id, id);
	id[CB_WORKER_ID_MAX] = 'w';
	id[CB_WORKER_ID_MAX + 1] = '\0';
	snprintf(line, sizeof(line), "worker %s ready\n", id);
	expect_error(f, line, 1, "worker id");
}

static void test_worker_table_full(void **state)
{
	struct fx *f = *state;
	size_t len = (size_t)(CB_MAX_WORKERS + 1) * 24 + 1, off = 0;
	char *text = malloc(len);

	assert_non_null(text);
	for (int i = 0; i < CB_MAX_WORKERS + 1; i++)
		off += (size_t)snprintf(text + off, len - off,
		    "worker w%d ready\n", i);
	expect_error(f, text, CB_MAX_WORKERS + 1, "1024");
	assert_int_equal(f->c.nworkers, CB_MAX_WORKERS);
	free(text);
}

static void test_errors_name_path_and_line(void **state)
{
	struct fx *f = *state;

	expect_error(f, "slots_per_worker = 8\n\n# c\nbogus = 1\n", 4,
	    "bogus");
	expect_error(f, "just words\n", 1, "key = value");
	expect_error(f, "slots_per_worker = 0\n", 1, "slots_per_worker");
	expect_error(f, "slots_per_worker = 65536\n", 1, "65536");
	expect_error(f, "slots_per_worker = -3\n", 1, NULL);
	expect_error(f, "slots_per_worker = 8x\n", 1, "8x");
	expect_error(f, "slots_per_worker =\n", 1, NULL);
	expect_error(f, "= 8\n", 1, NULL);
	expect_error(f, "legacy_max_concurrent_requests = 0\n", 1,
	    "legacy_max_concurrent_requests");
	expect_error(f, "retry_after_ms = 0\n", 1, "retry_after_ms");
	expect_error(f, "retry_after_ms = 65536\n", 1, "retry_after_ms");
	expect_error(f, "retry_after_ms = ten\n", 1, "ten");
	expect_error(f, "override = abc\n", 1, "override");
	expect_error(f, "\n\nworker\n", 3, NULL);
	expect_error(f, "worker onlyid\n", 1, "usage");
	expect_error(f, "worker a ready 1 extra\n", 1, "usage");
	expect_error(f, "worker bad/id ready\n", 1, "bad/id");
	expect_error(f, "worker a sleeping\n", 1, "sleeping");
	expect_error(f, "worker a ready 65536\n", 1, "max_running");
	expect_error(f, "worker a ready -1\n", 1, "max_running");
	expect_error(f, "worker a ready many\n", 1, "many");
	/* CRLF does not shift the count. */
	expect_error(f, "a = 1\r\n", 1, NULL);
	expect_error(f, "\r\n\r\nslots_per_worker = x\r\n", 3, NULL);
	/* Keys are exact. */
	expect_error(f, "Slots_Per_Worker = 8\n", 1, NULL);
	expect_error(f, "slots per worker = 8\n", 1, NULL);
}

static void test_error_stops_at_bad_line(void **state)
{
	struct fx *f = *state;

	expect_error(f, "slots_per_worker = 8\nbogus\nlegacy_max_concurrent_"
	    "requests = 9\n", 2, NULL);
	/* Lines before it applied; lines after it did not. */
	assert_int_equal(f->c.slots_per_worker, 8);
	assert_int_equal(f->c.legacy_max, CB_DEFAULT_LEGACY_MAX);
}

static void test_override_out_of_range_ignored_and_counted(void **state)
{
	struct fx *f = *state;

	assert_int_equal(parse(f, "override = 70000\n"), 0);
	/* Ignored, never clamped to 65535. */
	assert_int_equal(f->c.override, 0);
	assert_false(f->c.override_set);
	assert_int_equal(f->c.override_rejects, 1);
	assert_true(f->c.override_rejected == 70000);

	assert_int_equal(parse(f, "override = -1\n"), 0);
	assert_int_equal(f->c.override, 0);
	assert_false(f->c.override_set);
	assert_int_equal(f->c.override_rejects, 2);
	assert_true(f->c.override_rejected == -1);

	/* The first value beyond the range; a valid one later applies. */
	assert_int_equal(parse(f, "override = 65536\noverride = 7\n"), 0);
	assert_int_equal(f->c.override_rejects, 3);
	assert_true(f->c.override_rejected == 65536);
	assert_int_equal(f->c.override, 7);
	assert_true(f->c.override_set);

	/* A rejected one after a valid one leaves the valid one. */
	assert_int_equal(parse(f, "override = 1000000\n"), 0);
	assert_int_equal(f->c.override, 7);
	assert_true(f->c.override_set);
	assert_int_equal(f->c.override_rejects, 4);
	assert_true(f->c.override_rejected == 1000000);
	/* Whatever its size: still ignored and counted, not an error. */
	assert_int_equal(parse(f, "override = 2199023255552\n"), 0);
	assert_int_equal(f->c.override_rejects, 5);
	assert_true(f->c.override_rejected == 2199023255552LL);
	assert_int_equal(parse(f, "override = -9223372036854775808\n"), 0);
	assert_int_equal(f->c.override_rejects, 6);
	assert_true(f->c.override_rejected == -9223372036854775807LL - 1);
	assert_int_equal(f->c.override, 7);
	/* Nothing else was touched. */
	assert_int_equal(f->c.slots_per_worker, CB_DEFAULT_SLOTS_PER_WORKER);
}

static void test_retry_after_ms(void **state)
{
	struct fx *f = *state;

	assert_int_equal(f->c.retry_after_ms, 100);
	assert_int_equal(parse(f, "retry_after_ms = 30000\n"), 0);
	assert_int_equal(f->c.retry_after_ms, 30000);
	/* An error keeps the old value. */
	expect_error(f, "retry_after_ms = 0\n", 1, NULL);
	assert_int_equal(f->c.retry_after_ms, 30000);
}

static void test_long_line(void **state)
{
	struct fx *f = *state;
	char text[4096];
	size_t n;

	/* The longest accepted line: 1022 bytes plus its newline. */
	n = (size_t)snprintf(text, sizeof(text), "slots_per_worker = 5");
	memset(text + n, ' ', 1022 - n);
	memcpy(text + 1022 - 3, "# x", 3);
	text[1022] = '\n';
	text[1023] = '\0';
	assert_int_equal(parse(f, text), 0);
	assert_int_equal(f->c.slots_per_worker, 5);

	/* One byte more (a leading blank), on line 2. */
	memmove(text + 2, text, 1024);   /* the line, its '\n' and NUL */
	text[0] = '\n';
	text[1] = ' ';
	n = strlen(text);
	assert_int_equal(n, 1 + 1023 + 1);
	expect_error(f, text, 2, "longer");
	assert_int_equal(f->c.slots_per_worker, 5);

	/* Far longer (a comment that hides a setting past the cut must
	 * not be parsed as a line of its own). */
	memset(text, '#', 2000);
	strcpy(text + 2000, "slots_per_worker = 9\n");
	expect_error(f, text, 1, "longer");
	assert_int_equal(f->c.slots_per_worker, 5);

	/* A last line without newline, too long. */
	memset(text, 'x', 1500);
	text[1500] = '\0';
	expect_error(f, text, 1, "longer");
}

static void test_load(void **state)
{
	struct fx *f = *state;
	char path[] = "/tmp/cbconfXXXXXX";
	int fd = mkstemp(path);
	const char *text = "slots_per_worker = 11\nworker a ready 2\n";

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);

	/* Without a path: the embedded defaults. */
	f->c.slots_per_worker = 1;
	assert_int_equal(cb_config_load(&f->c, NULL, f->err, sizeof(f->err)),
	    0);
	expect_defaults(&f->c);

	assert_int_equal(cb_config_load(&f->c, path, f->err, sizeof(f->err)),
	    0);
	assert_int_equal(f->c.slots_per_worker, 11);
	assert_int_equal(f->c.legacy_max, CB_DEFAULT_LEGACY_MAX);
	assert_int_equal(f->c.nworkers, 1);
	assert_int_equal(f->c.workers[0].max_running, 2);
	cb_config_free(&f->c);

	/* A bad file: error with the real path, nothing leaked. */
	fd = open(path, O_WRONLY | O_TRUNC);
	assert_true(fd >= 0);
	text = "worker a ready\nworker b ready\nnope\n";
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	assert_int_equal(cb_config_load(&f->c, path, f->err, sizeof(f->err)),
	    -EINVAL);
	assert_true(strncmp(f->err, path, strlen(path)) == 0);
	assert_non_null(strstr(f->err, ":3: "));
	assert_null(f->c.workers);
	assert_int_equal(f->c.nworkers, 0);

	unlink(path);
	assert_int_equal(cb_config_load(&f->c, path, f->err, sizeof(f->err)),
	    -ENOENT);
	assert_non_null(strstr(f->err, path));
}

/* Lines naming a worker again amend it in place (issue 13: a duplicate
 * line changed the worker twice on every load). */
static void test_duplicate_worker_amends(void **state)
{
	struct fx *f = *state;

	assert_int_equal(parse(f, "worker a ready 5\nworker b draining\n"
	    "worker a not_ready 6\n"), 0);
	assert_int_equal(f->c.nworkers, 2);
	assert_string_equal(f->c.workers[0].id, "a");
	assert_int_equal(f->c.workers[0].state, CB_WORKER_NOT_READY);
	assert_int_equal(f->c.workers[0].max_running, 6);
	assert_int_equal(f->c.workers[0].line, 1);
	assert_string_equal(f->c.workers[1].id, "b");
	assert_int_equal(f->c.workers[1].line, 2);
	/* Without MAX_RUNNING the later line means "not reporting". */
	assert_int_equal(parse(f, "worker a ready\n"), 0);
	assert_int_equal(f->c.workers[0].max_running, 0);
}

/* A pool's later lines replace the keys they name; limit= and share=
 * replace each other. */
static void test_duplicate_pool_merges(void **state)
{
	struct fx *f = *state;
	const struct cb_ctl_req *r;

	assert_int_equal(parse(f, "pool gpu limit=3 window=30\n"
	    "pool cpu share=10\n"
	    "pool gpu share=50 observed=2\n"
	    "pool gpu window=40\n"), 0);
	assert_int_equal(f->c.npools, 2);
	r = &f->c.pools[0].req;
	assert_string_equal(r->pool, "gpu");
	assert_int_equal(f->c.pools[0].line, 1);
	assert_int_equal(r->pool_keys, CB_POOL_SET_SHARE | CB_POOL_SET_WINDOW |
	    CB_POOL_SET_OBSERVED);
	assert_int_equal(r->share, 50);
	assert_int_equal(r->window_s, 40);
	assert_int_equal(r->observed, 2);
	assert_int_equal(parse(f, "pool gpu limit=7\n"), 0);
	assert_int_equal(f->c.pools[0].req.pool_keys, CB_POOL_SET_LIMIT |
	    CB_POOL_SET_WINDOW | CB_POOL_SET_OBSERVED);
	assert_int_equal(f->c.pools[0].req.limit, 7);
}

/* Issue 13: 65 lines redefining one pool counted as 65 pools (fatal).
 * Only distinct pools count, "default" among them. */
static void test_pool_limit_counts_distinct_pools(void **state)
{
	struct fx *f = *state;
	size_t len = 80 * 32 + 64, off = 0;
	char *text = malloc(len);
	int i;

	assert_non_null(text);
	for (i = 0; i < CB_MAX_POOLS + 1; i++)
		off += (size_t)snprintf(text + off, len - off,
		    "pool gpu limit=%d\n", i + 1);
	assert_int_equal(parse(f, text), 0);
	assert_int_equal(f->c.npools, 1);
	assert_int_equal(f->c.pools[0].req.limit, CB_MAX_POOLS + 1);
	cb_config_free(&f->c);

	/* 63 pools and default fill the table; one more is refused. */
	off = 0;
	for (i = 0; i < CB_MAX_POOLS - 1; i++)
		off += (size_t)snprintf(text + off, len - off,
		    "pool p%d limit=1\n", i);
	off += (size_t)snprintf(text + off, len - off, "pool p0 limit=2\n"
	    "pool default window=5\n");
	assert_int_equal(parse(f, text), 0);
	assert_int_equal(f->c.npools, CB_MAX_POOLS);
	cb_config_free(&f->c);
	snprintf(text + off, len - off, "pool one-more limit=1\n");
	expect_error(f, text, CB_MAX_POOLS + 2, "more than 64 pools");
	free(text);
}

/* Issue 13: these were warnings at apply time, without FILE:LINE. */
static void test_pool_errors_name_the_line(void **state)
{
	struct fx *f = *state;

	expect_error(f, "\npool default limit=4\n", 2, "pool default "
	    "follows the capacity");
	expect_error(f, "pool default share=4\n", 1, "pool default");
	/* A pool without a limit or a share: named at its first line. */
	expect_error(f, "# pools\npool gpu window=30\npool gpu observed=1\n",
	    2, "pool gpu: needs limit= or share=");
	cb_config_free(&f->c);
	/* Given on a later line of the same pool, it is complete. */
	assert_int_equal(parse(f, "pool gpu window=30\npool gpu limit=2\n"),
	    0);
	assert_int_equal(parse(f, "pool default window=9 observed=3\n"), 0);
}

/* Issue 12/13: a directory was "cfg:0: read error". */
static void test_load_directory(void **state)
{
	struct fx *f = *state;
	char dir[] = "/tmp/cbconfdirXXXXXX";

	assert_non_null(mkdtemp(dir));
	assert_int_equal(cb_config_load(&f->c, dir, f->err, sizeof(f->err)),
	    -EISDIR);
	assert_non_null(strstr(f->err, dir));
	assert_non_null(strstr(f->err, "is a directory"));
	assert_null(f->c.pools);
	rmdir(dir);
}

/* ---- the cluster settings and global pools (issue 15) ---------------- */

static void test_cluster_keys(void **state)
{
	struct fx *f = *state;

	assert_int_equal(parse(f,
	    "etcd = http://10.0.0.1:2379, https://etcd-2.example.com:2379/ ,"
	    "http://[fd00::1]:12379,http://e3:1\n"
	    "cluster = prod.eu-1_a\n"
	    "host = node-7.rack_2\n"
	    "lease_ttl = 2\n"), 0);
	/* Stored comma-separated, the blanks around each URL dropped,
	 * each URL as written (a trailing '/' too). */
	assert_string_equal(f->c.cluster.etcd, "http://10.0.0.1:2379,"
	    "https://etcd-2.example.com:2379/,http://[fd00::1]:12379,"
	    "http://e3:1");
	assert_int_equal(f->c.etcd_line, 1);
	assert_string_equal(f->c.cluster.cluster, "prod.eu-1_a");
	assert_string_equal(f->c.cluster.host, "node-7.rack_2");
	assert_int_equal(f->c.cluster.lease_ttl_s, 2);
	assert_int_equal(parse(f, "lease_ttl = 3600\netcd=https://h:65535\n"),
	    0);
	assert_int_equal(f->c.cluster.lease_ttl_s, CB_LEASE_TTL_MAX);
	assert_string_equal(f->c.cluster.etcd, "https://h:65535");
	/* Longest names. */
	assert_int_equal(parse(f, "host = "
	    "a23456789012345678901234567890123456789012345678901234567890123\n"
	    "cluster = "
	    "b23456789012345678901234567890123456789012345678901234567890123\n"),
	    0);
	assert_int_equal(strlen(f->c.cluster.host), CB_HOST_NAME_MAX);
	assert_int_equal(strlen(f->c.cluster.cluster), CB_CLUSTER_NAME_MAX);
}

/* 16 endpoints are accepted, a 17th is not. */
static void test_cluster_endpoint_count(void **state)
{
	struct fx *f = *state;
	char text[1024] = "etcd = ";

	for (int i = 0; i < 16; i++) {
		char ep[32];

		snprintf(ep, sizeof(ep), "%shttp://e%d:2379", i ? "," : "",
		    i);
		strlcat(text, ep, sizeof(text));
	}
	strlcat(text, "\n", sizeof(text));
	assert_int_equal(parse(f, text), 0);
	text[strlen(text) - 1] = '\0';
	strlcat(text, ",http://e16:2379\n", sizeof(text));
	expect_error(f, text, 1, "more than 16 endpoints");
}

static void test_cluster_errors(void **state)
{
	struct fx *f = *state;
	static const struct {
		const char *text, *what;
	} bad[] = {
		{ "etcd = 10.0.0.1:2379", "not http:// or https://" },
		{ "etcd = ftp://h:1", "not http:// or https://" },
		{ "etcd = http://h", "no :PORT" },
		{ "etcd = http://h:", "bad port" },
		{ "etcd = http://h:0", "bad port" },
		{ "etcd = http://h:65536", "bad port" },
		{ "etcd = http://h:+80", "bad port" },
		{ "etcd = http://h:80x", "bad port" },
		{ "etcd = http://h:80/v3", "bad port" },
		{ "etcd = http://:80", "bad host" },
		{ "etcd = http://u@h:80", "bad host" },
		{ "etcd = http://-h:80", "bad host" },
		{ "etcd = http://[zz]:80", "bad [IPv6]" },
		{ "etcd = http://[::1:80", "bad [IPv6]" },
		{ "etcd = http://h:1,", "not http://" },
		{ "etcd = http://h:1,,http://g:1", "not http://" },
		{ "etcd =", "not http://" },
		{ "cluster = a/b", "cluster 'a/b' is not a valid name" },
		{ "cluster =", "not a valid name (1..63" },
		{ "cluster = "
		  "b234567890123456789012345678901234567890123456789012345678901234",
		  "cluster" },
		{ "host = my host", "host 'my host' is not a valid name" },
		{ "host = "
		  "a234567890123456789012345678901234567890123456789012345678901234",
		  "(1..63 of A-Z a-z 0-9 . _ -)" },
		{ "lease_ttl = 1", "lease_ttl '1' is too small (2..3600" },
		{ "lease_ttl = 3601", "lease_ttl '3601' is too large" },
		{ "lease_ttl = ten", "lease_ttl 'ten' is invalid" },
	};
	char text[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		/* On line 2: the message names it. */
		snprintf(text, sizeof(text), "# cluster\n%s\n", bad[i].text);
		expect_error(f, text, 2, bad[i].what);
		if (strncmp(bad[i].text, "etcd", 4) == 0 &&
		    strstr(f->err, "expected http://HOST:PORT or "
		    "https://HOST:PORT") == NULL)
			fail_msg("'%s': '%s' says not what is expected",
			    bad[i].text, f->err);
		cb_config_free(&f->c);
		cb_config_defaults(&f->c);
	}
}

/* cluster, host and lease_ttl without etcd: accepted (unused). */
static void test_cluster_without_etcd(void **state)
{
	struct fx *f = *state;

	assert_int_equal(parse(f, "cluster = c\nhost = h\nlease_ttl = 30\n"),
	    0);
	assert_string_equal(f->c.cluster.etcd, "");
	assert_string_equal(f->c.cluster.cluster, "c");
	assert_string_equal(f->c.cluster.host, "h");
	assert_int_equal(f->c.cluster.lease_ttl_s, 30);
}

/* Without host =, the host is gethostname()'s; a name that is not a
 * valid host name is an error only with etcd, naming etcd's line and
 * telling to set host =. */
static void test_cluster_default_host(void **state)
{
	struct fx *f = *state;
	char sys[256];

	assert_int_equal(gethostname(sys, sizeof(sys)), 0);
	sys[sizeof(sys) - 1] = '\0';
	assert_int_equal(parse(f, "lease_ttl = 5\n"), 0);
	if (cb_config_name_valid(sys, CB_HOST_NAME_MAX))
		assert_string_equal(f->c.cluster.host, sys);
	else
		assert_string_equal(f->c.cluster.host, "");

	cb_config_defaults(&f->c);
	assert_int_equal(cb_config_default_host(&f->c, "box-1.lan", PATH,
	    f->err, sizeof(f->err)), 0);
	assert_string_equal(f->c.cluster.host, "box-1.lan");

	/* Not valid, no etcd: no error, no host. */
	cb_config_defaults(&f->c);
	assert_int_equal(cb_config_default_host(&f->c, "box 1", PATH,
	    f->err, sizeof(f->err)), 0);
	assert_string_equal(f->c.cluster.host, "");

	/* Not valid, with etcd (line 3): the error says what to do. */
	assert_int_equal(parse(f, "\nhost = x\netcd = http://e:2379\n"), 0);
	f->c.cluster.host[0] = '\0';
	assert_int_equal(cb_config_default_host(&f->c, "box 1", PATH,
	    f->err, sizeof(f->err)), -EINVAL);
	assert_non_null(strstr(f->err, PATH ":3: "));
	assert_non_null(strstr(f->err, "'box 1'"));
	assert_non_null(strstr(f->err, "set host = NAME"));
	assert_string_equal(f->c.cluster.host, "");
	assert_int_equal(cb_config_default_host(&f->c, "a23456789012345678901"
	    "2345678901234567890123456789012345678901234", PATH, f->err,
	    sizeof(f->err)), -EINVAL);
	assert_int_equal(cb_config_default_host(&f->c, "", PATH, f->err,
	    sizeof(f->err)), -EINVAL);
	/* A host = line wins: gethostname() is not asked. */
	assert_int_equal(parse(f, "host = mine\n"), 0);
	assert_string_equal(f->c.cluster.host, "mine");
}

static void test_global_pools(void **state)
{
	struct fx *f = *state;
	const struct cb_ctl_req *r;

	assert_int_equal(parse(f, "pool g limit=40 global hold_max=60\n"
	    "pool l limit=3\n"
	    "etcd = http://e:2379\n"), 0);
	r = &f->c.pools[0].req;
	assert_int_equal(r->pool_keys, CB_POOL_SET_LIMIT | CB_POOL_SET_GLOBAL |
	    CB_POOL_SET_HOLD_MAX);
	assert_int_equal(r->limit, 40);
	assert_int_equal(r->hold_max_s, 60);
	assert_int_equal(f->c.pools[1].req.pool_keys, CB_POOL_SET_LIMIT);
	cb_config_free(&f->c);

	/* Merged: global on one line, limit= on another; hold_max= after
	 * global; a later limit= keeps it global. */
	cb_config_defaults(&f->c);
	assert_int_equal(parse(f, "etcd = http://e:2379\n"
	    "pool g global\npool g limit=5\npool g hold_max=86400\n"
	    "pool g limit=6\n"), 0);
	r = &f->c.pools[0].req;
	assert_int_equal(r->pool_keys, CB_POOL_SET_LIMIT | CB_POOL_SET_GLOBAL |
	    CB_POOL_SET_HOLD_MAX);
	assert_int_equal(r->limit, 6);
	assert_int_equal(r->hold_max_s, 86400);
	/* local on a later line: a fixed pool again, hold_max= gone. */
	assert_int_equal(parse(f, "pool g local\n"), 0);
	assert_int_equal(r->pool_keys, CB_POOL_SET_LIMIT | CB_POOL_SET_LOCAL);
	assert_int_equal(parse(f, "pool g global\n"), 0);
	assert_int_equal(r->pool_keys, CB_POOL_SET_LIMIT | CB_POOL_SET_GLOBAL);
	/* share= on a later line: a local share pool. */
	assert_int_equal(parse(f, "pool g hold_max=9\npool g share=50\n"), 0);
	assert_int_equal(r->pool_keys, CB_POOL_SET_SHARE);
	cb_config_free(&f->c);

	/* local and no etcd: a fixed pool, no cluster needed. */
	cb_config_defaults(&f->c);
	assert_int_equal(parse(f, "pool g limit=5 global\npool g local\n"),
	    0);
	assert_int_equal(f->c.pools[0].req.pool_keys, CB_POOL_SET_LIMIT |
	    CB_POOL_SET_LOCAL);
}

static void test_global_pool_errors(void **state)
{
	struct fx *f = *state;
	static const char etcd[] = "etcd = http://e:2379\n";
	static const struct {
		const char *text;
		unsigned line;
		const char *what;
	} bad[] = {
		/* The pool's first line after the file's end. */
		{ "pool backend limit=8 global\n",
		  2, "pool backend is global: needs etcd = ENDPOINTS" },
		{ "pool g global\n", 2, "pool g is global: needs limit=" },
		{ "pool g share=5\npool g global\n", 2,
		  "pool g is global: needs limit=" },
		{ "pool g share=5 global\n", 2, "global excludes share=" },
		{ "pool g limit=5 global local\n", 2, "exclude each other" },
		{ "pool default global\n", 2, "pool default follows the "
		  "capacity" },
		{ "pool default local\n", 2, "pool default" },
		{ "pool default hold_max=5\n", 2, "pool default" },
		/* hold_max= at the line that gives it. */
		{ "pool g limit=5\npool g hold_max=60\n", 3,
		  "pool g: hold_max= applies to global pools only" },
		{ "pool g limit=5 hold_max=60 global\npool g local "
		  "hold_max=1\n", 3, "hold_max= applies to global pools" },
		{ "pool g limit=5 hold_max=0 global\n", 2, "hold_max '0'" },
		{ "pool g limit=5 hold_max=86401 global\n", 2,
		  "hold_max '86401' is too large (1..86400)" },
	};
	char text[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "%s%s", i == 0 ? "#\n" : etcd,
		    bad[i].text);
		expect_error(f, text, bad[i].line, bad[i].what);
		cb_config_free(&f->c);
		cb_config_defaults(&f->c);
	}
	/* etcd after the pool: the file as a whole counts. */
	assert_int_equal(parse(f, "pool backend limit=8 global\n"
	    "etcd = http://e:2379\n"), 0);
}

static void test_cluster_diff(void **state)
{
	struct fx *f = *state;
	struct cb_cluster_conf a, b;

	(void)f;
	memset(&a, 0, sizeof(a));
	strlcpy(a.etcd, "http://e:1", sizeof(a.etcd));
	strlcpy(a.cluster, "c", sizeof(a.cluster));
	strlcpy(a.host, "h", sizeof(a.host));
	a.lease_ttl_s = 10;
	b = a;
	assert_null(cb_config_cluster_diff(&a, &b));
	strlcpy(b.etcd, "http://e:2", sizeof(b.etcd));
	assert_string_equal(cb_config_cluster_diff(&a, &b), "etcd");
	b = a;
	strlcpy(b.cluster, "d", sizeof(b.cluster));
	assert_string_equal(cb_config_cluster_diff(&a, &b), "cluster");
	b = a;
	strlcpy(b.host, "g", sizeof(b.host));
	assert_string_equal(cb_config_cluster_diff(&a, &b), "host");
	b = a;
	b.lease_ttl_s = 11;
	assert_string_equal(cb_config_cluster_diff(&a, &b), "lease_ttl");
}

/* capbrokerd -t prints what the file sets in its own syntax: parsing
 * the output gives the same configuration back. */
static void test_print_round_trip(void **state)
{
	struct fx *f = *state;
	struct cb_config back;
	char *out = NULL;
	size_t outlen = 0;
	FILE *mem;

	assert_int_equal(parse(f, "slots_per_worker = 7\n"
	    "legacy_max_concurrent_requests = 99\n"
	    "override = 12\nretry_after_ms = 300\nstate_mode = 0640\n"
	    "group = root\n"
	    "pool gpu limit=3 window=30\npool half share=50 observed=4\n"
	    "pool default window=9\n"
	    "pool g limit=40 global hold_max=120\npool g2 global\n"
	    "pool g2 limit=7\npool back limit=2 global\npool back local\n"
	    "etcd = http://e1:2379, https://[fd00::2]:2379\n"
	    "cluster = prod\nhost = node-1\nlease_ttl = 30\n"
	    "worker a ready 5\nworker b draining\nworker a not_ready 6\n"),
	    0);
	mem = open_memstream(&out, &outlen);
	assert_non_null(mem);
	assert_int_equal(cb_config_print(&f->c, mem), 0);
	fclose(mem);
	assert_non_null(strstr(out, "pool gpu limit=3 window=30\n"));
	assert_non_null(strstr(out, "worker a not_ready 6\n"));
	assert_non_null(strstr(out, "group = root\n"));
	assert_non_null(strstr(out, "pool g limit=40 global hold_max=120\n"));
	assert_non_null(strstr(out, "pool g2 limit=7 global\n"));
	assert_non_null(strstr(out, "pool back limit=2 local\n"));
	assert_non_null(strstr(out, "etcd = http://e1:2379,"
	    "https://[fd00::2]:2379\n"));
	assert_non_null(strstr(out, "cluster = prod\n"));
	assert_non_null(strstr(out, "host = node-1\n"));
	assert_non_null(strstr(out, "lease_ttl = 30\n"));

	cb_config_defaults(&back);
	mem = fmemopen(out, outlen, "r");
	assert_non_null(mem);
	assert_int_equal(cb_config_parse(&back, mem, "printed", f->err,
	    sizeof(f->err)), 0);
	fclose(mem);
	assert_int_equal(back.slots_per_worker, 7);
	assert_int_equal(back.legacy_max, 99);
	assert_true(back.override_set);
	assert_int_equal(back.override, 12);
	assert_int_equal(back.retry_after_ms, 300);
	assert_int_equal(back.state_mode, 0640);
	assert_int_equal(back.group, f->c.group);
	assert_int_equal(back.admin_group, (gid_t)-1);
	assert_null(cb_config_cluster_diff(&back.cluster, &f->c.cluster));
	assert_string_equal(back.cluster.etcd, f->c.cluster.etcd);
	assert_int_equal(back.npools, f->c.npools);
	for (size_t i = 0; i < back.npools; i++) {
		const struct cb_ctl_req *a = &f->c.pools[i].req;
		const struct cb_ctl_req *b = &back.pools[i].req;

		assert_string_equal(a->pool, b->pool);
		assert_int_equal(a->pool_keys, b->pool_keys);
		assert_int_equal(a->limit, b->limit);
		assert_int_equal(a->share, b->share);
		assert_int_equal(a->window_s, b->window_s);
		assert_int_equal(a->observed, b->observed);
		assert_int_equal(a->hold_max_s, b->hold_max_s);
	}
	assert_int_equal(back.nworkers, 2);
	for (size_t i = 0; i < back.nworkers; i++) {
		assert_string_equal(back.workers[i].id, f->c.workers[i].id);
		assert_int_equal(back.workers[i].state, f->c.workers[i].state);
		assert_int_equal(back.workers[i].max_running,
		    f->c.workers[i].max_running);
	}
	cb_config_free(&back);
	free(out);

	/* An override the file does not set stays unset; so does etcd
	 * (printed as a comment), while the cluster's defaults are
	 * spelled out. */
	cb_config_free(&f->c);
	cb_config_defaults(&f->c);
	mem = open_memstream(&out, &outlen);
	assert_int_equal(cb_config_print(&f->c, mem), 0);
	fclose(mem);
	assert_null(strstr(out, "\noverride ="));
	assert_null(strstr(out, "\netcd ="));
	assert_non_null(strstr(out, "\n# etcd: not set"));
	assert_non_null(strstr(out, "\ncluster = capbroker\n"));
	assert_non_null(strstr(out, "\nlease_ttl = 10\n"));
	cb_config_defaults(&back);
	mem = fmemopen(out, outlen, "r");
	assert_int_equal(cb_config_parse(&back, mem, "printed", f->err,
	    sizeof(f->err)), 0);
	fclose(mem);
	assert_string_equal(back.cluster.etcd, "");
	cb_config_free(&back);
	free(out);
}

static void status_line(unsigned i, char *buf, size_t len)
{
	memset(buf, 'x', len);
	cb_reload_status(i, buf, len);
}

/* The STATUS lines: config path, last reload's time and result. */
static void test_reload_status(void **state)
{
	char buf[600];

	(void)state;
	cb_reload_init(NULL);
	status_line(0, buf, sizeof(buf));
	assert_string_equal(buf, "config -");
	status_line(1, buf, sizeof(buf));
	assert_string_equal(buf, "reload_time never");
	status_line(2, buf, sizeof(buf));
	assert_string_equal(buf, "reload_result none");

	cb_reload_init("/etc/capbroker/x.conf");
	status_line(0, buf, sizeof(buf));
	assert_string_equal(buf, "config /etc/capbroker/x.conf");
	cb_reload_note(NULL, true);
	status_line(2, buf, sizeof(buf));
	assert_string_equal(buf, "reload_result ok");
	cb_reload_note(NULL, false);
	status_line(2, buf, sizeof(buf));
	assert_string_equal(buf, "reload_result ok unchanged");
	status_line(1, buf, sizeof(buf));
	/* reload_time YYYY-MM-DDTHH:MM:SSZ */
	assert_int_equal(strlen(buf), strlen("reload_time ") + 20);
	assert_int_equal(buf[strlen("reload_time ") + 10], 'T');
	assert_int_equal(buf[strlen(buf) - 1], 'Z');

	cb_reload_note("x.conf:3: pool gpu: needs limit= or share=", false);
	status_line(2, buf, sizeof(buf));
	assert_string_equal(buf, "reload_result error x.conf:3: pool gpu: "
	    "needs limit= or share=");
	/* A path cannot add a line to the reply. */
	cb_reload_init("/tmp/a\nb");
	status_line(0, buf, sizeof(buf));
	assert_string_equal(buf, "config /tmp/a?b");
	/* Truncated, still terminated. */
	status_line(0, buf, 8);
	assert_string_equal(buf, "config ");
}

#define CFG_TEST(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		CFG_TEST(test_defaults),
		CFG_TEST(test_empty_and_comments_only),
		CFG_TEST(test_every_key),
		CFG_TEST(test_bounds_accepted),
		CFG_TEST(test_later_lines_win),
		CFG_TEST(test_syntax_variants),
		CFG_TEST(test_workers),
		CFG_TEST(test_worker_id_longest),
		CFG_TEST(test_worker_table_full),
		CFG_TEST(test_errors_name_path_and_line),
		CFG_TEST(test_error_stops_at_bad_line),
		CFG_TEST(test_override_out_of_range_ignored_and_counted),
		CFG_TEST(test_retry_after_ms),
		CFG_TEST(test_long_line),
		CFG_TEST(test_load),
		CFG_TEST(test_duplicate_worker_amends),
		CFG_TEST(test_duplicate_pool_merges),
		CFG_TEST(test_pool_limit_counts_distinct_pools),
		CFG_TEST(test_pool_errors_name_the_line),
		CFG_TEST(test_load_directory),
		CFG_TEST(test_cluster_keys),
		CFG_TEST(test_cluster_endpoint_count),
		CFG_TEST(test_cluster_errors),
		CFG_TEST(test_cluster_without_etcd),
		CFG_TEST(test_cluster_default_host),
		CFG_TEST(test_global_pools),
		CFG_TEST(test_global_pool_errors),
		CFG_TEST(test_cluster_diff),
		CFG_TEST(test_print_round_trip),
		CFG_TEST(test_reload_status),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
