/*
 * test_tp_testpoint.c - the pause points of the test build
 * (lib/testpoint.h): the in-process hook sees every point; the file
 * protocol holds exactly the thread that reached the armed point until
 * the test says go, once.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "testpoint.h"

static char seen[4][32];
static int nseen;

static void record(const char *name)
{
	if (nseen < 4)
		snprintf(seen[nseen++], sizeof(seen[0]), "%s", name);
}

static void test_hook_sees_every_point(void **state)
{
	(void)state;
	nseen = 0;
	cb_testpoint_hook = record;
	CB_TESTPOINT("test:one");
	CB_TESTPOINT("test:two");
	cb_testpoint_hook = NULL;
	assert_int_equal(nseen, 2);
	assert_string_equal(seen[0], "test:one");
	assert_string_equal(seen[1], "test:two");
}

struct runner {
	_Atomic int passed;
};

static void *reach(void *arg)
{
	struct runner *r = arg;

	CB_TESTPOINT("test:hold");
	atomic_store(&r->passed, 1);
	return NULL;
}

static int exists(const char *dir, const char *file)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	return access(path, F_OK) == 0;
}

static void touch(const char *dir, const char *file)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	f = fopen(path, "w");
	assert_non_null(f);
	fclose(f);
}

static void test_files_hold_one_thread_once(void **state)
{
	char dir[] = "/tmp/cbtp.XXXXXX", path[512];
	struct timespec ms = { 0, 1000000 };
	struct runner r = { 0 };
	pthread_t t;

	(void)state;
	assert_non_null(mkdtemp(dir));
	setenv("CB_TESTPOINT", "test:hold", 1);
	setenv("CB_TESTPOINT_DIR", dir, 1);
	CB_TESTPOINT("test:other");             /* not armed: runs through */
	assert_false(exists(dir, "test:other.reached"));

	assert_int_equal(pthread_create(&t, NULL, reach, &r), 0);
	for (int i = 0; i < 5000 && !exists(dir, "test:hold.reached"); i++)
		nanosleep(&ms, NULL);
	assert_true(exists(dir, "test:hold.reached"));
	/* Held: it does not pass until go, however long we wait. */
	for (int i = 0; i < 50; i++)
		nanosleep(&ms, NULL);
	assert_int_equal(atomic_load(&r.passed), 0);
	touch(dir, "test:hold.go");
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(atomic_load(&r.passed), 1);
	assert_false(exists(dir, "test:hold.go"));

	/* Disarmed after the first pass. */
	CB_TESTPOINT("test:hold");
	unsetenv("CB_TESTPOINT");
	unsetenv("CB_TESTPOINT_DIR");
	snprintf(path, sizeof(path), "%s/test:hold.reached", dir);
	unlink(path);
	assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hook_sees_every_point),
		cmocka_unit_test(test_files_hold_one_thread_once),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
