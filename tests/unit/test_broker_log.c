/*
 * test_broker_log.c - the broker's log lines (broker/log.c): on the
 * journal a priority prefix and no clock, elsewhere the local time.
 *
 * stderr is pointed at a temporary file; "the journal" is that file
 * named by JOURNAL_STREAM, as systemd names its stream socket.
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
	};

	return cmocka_run_group_tests_name("broker log", tests, NULL, NULL);
}
