/*
 * test_tp_proc.c - lib/proc.c's three answers (issue 12, finding 4):
 * cb_proc_alive says "dead" (0) only on proof, "unknown" (-1) when the
 * process's /proc entry cannot be read while its pid exists.  The test
 * build lets CB_TEST_PROC point the reader at a directory of our making:
 * one that hides a pid (as hidepid=2 does), holds a stat file that is
 * unreadable, a directory, or garbled.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "proc.h"

static char root[PATH_MAX];

/* A pid no process can have: pids are below pid_max. */
static pid_t no_such_pid(void)
{
	FILE *f = fopen("/proc/sys/kernel/pid_max", "r");
	long max = 0;

	assert_non_null(f);
	assert_int_equal(fscanf(f, "%ld", &max), 1);
	fclose(f);
	assert_int_equal(kill((pid_t)max, 0), -1);
	assert_int_equal(errno, ESRCH);
	return (pid_t)max;
}

static uint64_t my_start(void)
{
	uint64_t start = 0;

	unsetenv("CB_TEST_PROC");
	assert_int_equal(cb_proc_start_time(getpid(), &start), 0);
	assert_true(start != 0);
	return start;
}

/* root/PID/stat holding `line` (NULL: a directory instead), mode. */
static void fake_stat(pid_t pid, const char *line, mode_t mode)
{
	char path[PATH_MAX + 64];
	int fd;

	snprintf(path, sizeof(path), "%s/%d", root, (int)pid);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/%d/stat", root, (int)pid);
	unlink(path);
	rmdir(path);
	if (line == NULL) {
		assert_int_equal(mkdir(path, 0755), 0);
		return;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, line, strlen(line)), (ssize_t)strlen(line));
	close(fd);
	assert_int_equal(chmod(path, mode), 0);
}

/* A /proc/PID/stat line: state `state`, starttime `start`. */
static void stat_line(char *buf, size_t n, pid_t pid, char state,
    uint64_t start)
{
	snprintf(buf, n, "%d (a) b) %c 1 1 1 0 -1 4194560 1 0 0 0 0 0 0 0 "
	    "20 0 1 0 %llu 1000 100 18446744073709551615\n", (int)pid, state,
	    (unsigned long long)start);
}

static int setup(void **state)
{
	(void)state;
	snprintf(root, sizeof(root), "/tmp/test_tp_proc.XXXXXX");
	assert_non_null(mkdtemp(root));
	return 0;
}

static int teardown(void **state)
{
	char cmd[PATH_MAX + 16];

	(void)state;
	unsetenv("CB_TEST_PROC");
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	return system(cmd) == 0 ? 0 : -1;
}

/* The real /proc: alive, another process now, a zombie, no process. */
static void test_real_proc(void **state)
{
	uint64_t start = my_start(), cstart = 0;
	siginfo_t si;
	pid_t child;

	(void)state;
	assert_int_equal(cb_proc_alive(getpid(), start), 1);
	assert_int_equal(cb_proc_alive(getpid(), start + 1), 0);
	assert_int_equal(cb_proc_alive(no_such_pid(), 1), 0);
	assert_int_equal(cb_proc_alive(0, 1), 0);
	child = fork();
	assert_true(child >= 0);
	if (child == 0)
		_exit(0);
	/* A zombie until reaped: waitid(WNOWAIT) sees it exit and leaves
	 * it unreaped. */
	assert_int_equal(waitid(P_PID, (id_t)child, &si, WEXITED | WNOWAIT),
	    0);
	assert_int_equal(cb_proc_start_time(child, &cstart), 0);
	assert_int_equal(cb_proc_alive(child, cstart), 0);
	assert_int_equal(waitpid(child, NULL, 0), child);
	assert_true(cb_proc_pidns() != 0);
}

/* hidepid=2: our pid exists but /proc shows no entry for it. */
static void test_hidden_is_unknown(void **state)
{
	uint64_t start = my_start();

	(void)state;
	setenv("CB_TEST_PROC", root, 1);
	assert_int_equal(cb_proc_alive(getpid(), start), -1);
	/* ENOENT and no such process: that is proof. */
	assert_int_equal(cb_proc_alive(no_such_pid(), 1), 0);
	/* Nor can we read our own namespace there. */
	assert_int_equal(cb_proc_pidns(), 0);
}

/* Read errors and garbage: unknown; a readable line decides. */
static void test_unreadable_is_unknown(void **state)
{
	uint64_t start = my_start();
	char line[256];

	(void)state;
	setenv("CB_TEST_PROC", root, 1);
	fake_stat(getpid(), NULL, 0);            /* read(): EISDIR */
	assert_int_equal(cb_proc_alive(getpid(), start), -1);
	fake_stat(getpid(), "garbage", 0644);     /* no ") " */
	assert_int_equal(cb_proc_alive(getpid(), start), -1);
	fake_stat(getpid(), "1 (x) S 2 3\n", 0644);   /* cut short */
	assert_int_equal(cb_proc_alive(getpid(), start), -1);
	stat_line(line, sizeof(line), getpid(), 'S', start);
	fake_stat(getpid(), line, 0644);
	assert_int_equal(cb_proc_alive(getpid(), start), 1);
	assert_int_equal(cb_proc_alive(getpid(), start + 1), 0);
	stat_line(line, sizeof(line), getpid(), 'Z', start);
	fake_stat(getpid(), line, 0644);
	assert_int_equal(cb_proc_alive(getpid(), start), 0);
}

/*
 * EACCES on the stat file and EPERM from kill(2): a process of another
 * user, seen from an unprivileged one.  Run in a child that drops to
 * nobody if we are root (root would read the file anyway).
 */
static void test_eacces_is_unknown(void **state)
{
	uint64_t start = my_start();
	pid_t parent = getpid(), child;
	char line[256];
	int status;

	(void)state;
	stat_line(line, sizeof(line), parent, 'S', start);
	fake_stat(parent, line, 0);
	assert_int_equal(chmod(root, 0755), 0);
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		char path[PATH_MAX + 64];

		if (geteuid() == 0 && (setgid(65534) < 0 || setuid(65534) < 0))
			_exit(2);
		setenv("CB_TEST_PROC", root, 1);
		/* Really unreadable, or the test proves nothing. */
		snprintf(path, sizeof(path), "%s/%d/stat", root, (int)parent);
		if (open(path, O_RDONLY) >= 0 || errno != EACCES)
			_exit(3);
		_exit(cb_proc_alive(parent, start) == -1 ? 0 : 1);
	}
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_real_proc),
		cmocka_unit_test_setup_teardown(test_hidden_is_unknown, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_unreadable_is_unknown,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_eacces_is_unknown, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
