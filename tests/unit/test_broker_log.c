/*
 * test_broker_log.c - the broker's log lines (broker/log.c): on the
 * journal a priority prefix and no clock, elsewhere the local time.
 *
 * stderr is pointed at a temporary file; "the journal" is that file
 * named by JOURNAL_STREAM, as systemd names its stream socket.  And the
 * limiter of the lines a member can provoke (log_rl_pass, log_warnx_rl):
 * a burst, then one line per period, each telling what it held back.
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
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

struct fx {
	FILE *f;
	int saved;
	char line[1200];
};

static int setup(void **state)
{
	struct fx *x = calloc(1, sizeof(*x));

	assert_non_null(x);
	x->f = tmpfile();
	assert_non_null(x->f);
	fflush(stderr);
	x->saved = dup(STDERR_FILENO);
	assert_true(x->saved >= 0);
	assert_int_equal(dup2(fileno(x->f), STDERR_FILENO), STDERR_FILENO);
	unsetenv("JOURNAL_STREAM");
	*state = x;
	return 0;
}

static int teardown(void **state)
{
	struct fx *x = *state;

	fflush(stderr);
	dup2(x->saved, STDERR_FILENO);
	close(x->saved);
	fclose(x->f);
	unsetenv("JOURNAL_STREAM");
	free(x);
	return 0;
}

/* JOURNAL_STREAM naming stderr's device and inode (plus extra). */
static void name_stderr(const char *extra, long long ino_delta)
{
	struct stat st;
	char v[64];

	assert_int_equal(fstat(STDERR_FILENO, &st), 0);
	snprintf(v, sizeof(v), "%llu:%llu%s", (unsigned long long)st.st_dev,
	    (unsigned long long)st.st_ino + (unsigned long long)ino_delta,
	    extra);
	setenv("JOURNAL_STREAM", v, 1);
}

/* The one line logged since the last forget(). */
static const char *logged(struct fx *x)
{
	ssize_t n;

	fflush(stderr);
	n = pread(fileno(x->f), x->line, sizeof(x->line) - 1, 0);
	assert_true(n > 0);
	x->line[n] = '\0';
	assert_ptr_equal(strchr(x->line, '\n'), x->line + n - 1);
	x->line[n - 1] = '\0';
	return x->line;
}

static void forget(struct fx *x)
{
	fflush(stderr);
	assert_int_equal(ftruncate(fileno(x->f), 0), 0);
	assert_int_equal(lseek(STDERR_FILENO, 0, SEEK_SET), 0);
}

static void test_journal_priorities(void **state)
{
	struct fx *x = *state;
	static const struct {
		void (*fn)(const char *, ...);
		const char *want;
	} c[] = {
		{ log_info, "<6>capbrokerd[j]: hello 7" },
		{ log_warnx, "<4>capbrokerd[j]: warning: hello 7" },
		{ log_errx, "<3>capbrokerd[j]: error: hello 7" },
		{ log_critx, "<2>capbrokerd[j]: critical: hello 7" },
	};

	name_stderr("", 0);
	log_init("j");
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		forget(x);
		c[i].fn("hello %d", 7);
		assert_string_equal(logged(x), c[i].want);
	}
}

static void test_journal_errno_suffix(void **state)
{
	struct fx *x = *state;

	name_stderr("", 0);
	log_init("j");
	errno = ENOENT;
	log_err("open %s", "x");
	assert_string_equal(logged(x),
	    "<3>capbrokerd[j]: error: open x: No such file or directory");
}

/* Not the journal: a local time stamp, no priority prefix. */
static void assert_stamped(struct fx *x)
{
	const char *l;
	int y, mo, d, h, mi, s, ms, n = 0;

	log_warnx("plain");
	l = logged(x);
	assert_int_equal(sscanf(l, "%4d-%2d-%2dT%2d:%2d:%2d.%3d %n", &y, &mo,
	    &d, &h, &mi, &s, &ms, &n), 7);
	assert_string_equal(l + n, "capbrokerd[p]: warning: plain");
}

static void test_no_journal_stream(void **state)
{
	log_init("p");
	assert_stamped(*state);
}

/* JOURNAL_STREAM inherited, but stderr redirected elsewhere. */
static void test_journal_stream_of_another_file(void **state)
{
	name_stderr("", 1);
	log_init("p");
	assert_stamped(*state);
}

static void test_journal_stream_malformed(void **state)
{
	name_stderr("x", 0);
	log_init("p");
	assert_stamped(*state);
}

#define S 1000000000ull
#define T0 (1000 * S)    /* any clock reading; 0 means "never used" */

/* Passes at now: the lines held back before it, or -1 if it is held. */
static long long pass(struct log_rl *rl, uint64_t now)
{
	uint64_t held = 12345;

	if (!log_rl_pass(rl, now, &held))
		return -1;
	return (long long)held;
}

/* A flood: LOG_RL_BURST lines at once, then one a period, each saying
 * how many it held back; the count is reset by the line that tells it. */
static void test_rl_burst_then_period(void **state)
{
	struct log_rl rl = { 0 };

	(void)state;
	for (int i = 0; i < LOG_RL_BURST; i++)
		assert_int_equal(pass(&rl, T0 + (uint64_t)i), 0);
	for (int i = 0; i < 100; i++)
		assert_int_equal(pass(&rl, T0 + S), -1);
	/* Just before the period is up: still held. */
	assert_int_equal(pass(&rl, T0 + LOG_RL_EVERY_S * S - 1), -1);
	assert_int_equal(pass(&rl, T0 + LOG_RL_EVERY_S * S), 101);
	assert_int_equal(pass(&rl, T0 + LOG_RL_EVERY_S * S + 1), -1);
	assert_int_equal(pass(&rl, T0 + 2 * LOG_RL_EVERY_S * S), 1);
	/* Two periods' tokens for two periods of quiet, no more. */
	assert_int_equal(pass(&rl, T0 + 4 * LOG_RL_EVERY_S * S), 0);
	assert_int_equal(pass(&rl, T0 + 4 * LOG_RL_EVERY_S * S), 0);
	assert_int_equal(pass(&rl, T0 + 4 * LOG_RL_EVERY_S * S), -1);
}

/* Quiet long enough, the bucket is full again, and no fuller. */
static void test_rl_refills_to_burst(void **state)
{
	struct log_rl rl = { 0 };
	uint64_t later = T0 + 1000 * LOG_RL_EVERY_S * S;
	int passed = 0;

	(void)state;
	for (int i = 0; i < 3 * LOG_RL_BURST; i++)
		passed += pass(&rl, T0) >= 0;
	assert_int_equal(passed, LOG_RL_BURST);
	passed = 0;
	for (int i = 0; i < 3 * LOG_RL_BURST; i++)
		passed += pass(&rl, later) >= 0;
	assert_int_equal(passed, LOG_RL_BURST);
}

/* A part of a period is not lost: tokens accrue from when the last
 * whole period ended, not from the last line. */
static void test_rl_keeps_partial_period(void **state)
{
	struct log_rl rl = { 0 };
	uint64_t half = LOG_RL_EVERY_S * S / 2;

	(void)state;
	for (int i = 0; i < LOG_RL_BURST; i++)
		assert_int_equal(pass(&rl, T0), 0);
	assert_int_equal(pass(&rl, T0 + 3 * half), 0);   /* 1.5 periods */
	assert_int_equal(pass(&rl, T0 + 4 * half - 1), -1);
	assert_int_equal(pass(&rl, T0 + 4 * half), 1);   /* 2 periods */
}

/* Through log_warnx_rl: the burst goes out as warnings, the rest is
 * held back (a period is far longer than this test). */
static void test_rl_lines(void **state)
{
	struct fx *x = *state;
	struct log_rl rl = { 0 };
	char buf[4096];
	size_t n;
	int lines = 0;

	name_stderr("", 0);
	log_init("j");
	for (int i = 0; i < 3 * LOG_RL_BURST; i++)
		log_warnx_rl(&rl, "repaired %d", i);
	fflush(stderr);
	assert_int_equal(lseek(fileno(x->f), 0, SEEK_SET), 0);
	n = fread(buf, 1, sizeof(buf) - 1, x->f);
	buf[n] = '\0';
	for (char *p = buf; (p = strchr(p, '\n')) != NULL; p++)
		lines++;
	assert_int_equal(lines, LOG_RL_BURST);
	assert_non_null(strstr(buf, "<4>capbrokerd[j]: warning: repaired 0\n"));
	assert_non_null(strstr(buf, "warning: repaired 9\n"));
	assert_null(strstr(buf, "repaired 10"));
	assert_int_equal(rl.held, 2 * LOG_RL_BURST);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_journal_priorities,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_journal_errno_suffix,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_journal_stream,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_journal_stream_of_another_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_journal_stream_malformed,
		    setup, teardown),
		cmocka_unit_test(test_rl_burst_then_period),
		cmocka_unit_test(test_rl_refills_to_burst),
		cmocka_unit_test(test_rl_keeps_partial_period),
		cmocka_unit_test_setup_teardown(test_rl_lines, setup,
		    teardown),
	};

	return cmocka_run_group_tests_name("broker log", tests, NULL, NULL);
}
