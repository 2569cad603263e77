/*
 * test_sigbus.c - the SIGBUS guard (lib/sigbus.c): a guarded mapping
 * survives its file being truncated under it, a fault anywhere else
 * still kills, and a handler installed before ours still runs.
 *
 * The handler is process-wide and installed once, chained to whatever
 * SIGBUS disposition was there (cmocka's own, while a test runs), so
 * each case runs in a child process that sets the disposition it needs
 * first and reports by exit status: 0 passed, anything else names the
 * check that failed.  The child is this binary run again (--case NAME),
 * not just forked: under valgrind (make valgrind-check) the children
 * then run natively, since valgrind does not give a guest's SIGBUS
 * handler a fault it can return from, while the parent's own code is
 * still checked.  The truncation is real (a memfd, shrunk with
 * ftruncate by the test itself), so nothing depends on timing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sigbus.h"

#define PAGES 4

static long pg;

/* A memfd of PAGES pages, every byte 0xab. */
static int make_file(void)
{
	int fd = memfd_create("test_sigbus", MFD_CLOEXEC);
	char buf[4096];

	if (fd < 0 || ftruncate(fd, PAGES * pg) < 0)
		_exit(90);
	memset(buf, 0xab, sizeof(buf));
	for (long off = 0; off < PAGES * pg; off += (long)sizeof(buf))
		if (pwrite(fd, buf, sizeof(buf), off) != (ssize_t)sizeof(buf))
			_exit(91);
	return fd;
}

static off_t file_size(int fd)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		_exit(92);
	return st.st_size;
}

static void set_default(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigaction(SIGBUS, &sa, NULL);
}

static const char *self;

/* Run the case named in a child; return its wait status. */
static int in_child(const char *name)
{
	int status;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		execl(self, self, "--case", name, (char *)NULL);
		_exit(95);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return status;
}

static void expect_exit0(int status)
{
	if (WIFSIGNALED(status))
		fail_msg("child died of signal %d", WTERMSIG(status));
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) != 0)
		fail_msg("child failed check %d", WEXITSTATUS(status));
}

/* Writable fd: the size is put back for everyone, the cut page reads
 * zeros through every mapping, nothing is marked damaged. */
static int body_writable(void)
{
	_Atomic uintptr_t damaged = 0;
	int fd = make_file();
	volatile unsigned char *m;

	set_default();
	m = mmap(NULL, PAGES * pg, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED)
		return 1;
	if (cb_sigbus_guard((void *)m, PAGES * pg, PROT_READ | PROT_WRITE,
	    fd, &damaged, 1) != 0)
		return 2;
	if (ftruncate(fd, pg) < 0)          /* pages 1..3 cut */
		return 3;
	if (m[3 * pg + 5] != 0)             /* faults; restored; zeros */
		return 4;
	if (file_size(fd) != PAGES * pg)
		return 5;
	m[2 * pg] = 7;                      /* shared again: */
	unsigned char b = 0;
	if (pread(fd, &b, 1, 2 * pg) != 1 || b != 7)
		return 6;
	if (m[0] != 0xab)                   /* the uncut page is intact */
		return 7;
	if (atomic_load(&damaged) != 0 || cb_sigbus_damaged((void *)m))
		return 8;
	if (cb_sigbus_restores((void *)(m + pg)) != 1)
		return 9;
	cb_sigbus_unguard((void *)m);
	munmap((void *)m, PAGES * pg);
	return 0;
}

/* Read-only fd: the size cannot be restored; private zeros over the cut
 * part, the damaged word set, the rest of the mapping still shared. */
static int body_readonly(void)
{
	_Atomic uintptr_t damaged = 0;
	int fd = make_file(), ro;
	char path[64];
	volatile unsigned char *m;

	set_default();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	ro = open(path, O_RDONLY | O_CLOEXEC);
	if (ro < 0)
		return 1;
	m = mmap(NULL, PAGES * pg, PROT_READ, MAP_SHARED, ro, 0);
	if (m == MAP_FAILED)
		return 2;
	if (cb_sigbus_guard((void *)m, PAGES * pg, PROT_READ, ro, &damaged,
	    42) != 0)
		return 3;
	if (ftruncate(fd, 2 * pg) < 0)      /* pages 2..3 cut */
		return 4;
	if (m[3 * pg] != 0)
		return 5;
	if (atomic_load(&damaged) != 42 || !cb_sigbus_damaged((void *)m))
		return 6;
	if (file_size(fd) != 2 * pg)        /* not restored by a reader */
		return 7;
	if (m[2 * pg + 1] != 0)             /* the whole cut is zeros */
		return 8;
	unsigned char b = 0x11;
	if (pwrite(fd, &b, 1, pg) != 1 || m[pg] != 0x11)
		return 9;                   /* page 1 still shared */
	cb_sigbus_unguard((void *)m);
	return 0;
}

/* No fd at all: zeros from the faulting page on, damaged set. */
static int body_nofd(void)
{
	_Atomic uintptr_t damaged = 0;
	int fd = make_file();
	volatile unsigned char *m;

	set_default();
	m = mmap(NULL, PAGES * pg, PROT_READ, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED)
		return 1;
	if (cb_sigbus_guard((void *)m, PAGES * pg, PROT_READ, -1, &damaged,
	    1) != 0)
		return 2;
	if (ftruncate(fd, pg) < 0)
		return 3;
	if (m[2 * pg] != 0 || atomic_load(&damaged) != 1)
		return 4;
	if (m[pg] != 0)                     /* below the fault, cut too */
		return 5;
	return 0;
}

/* A fault outside every guarded mapping kills as before. */
static int body_unguarded(void)
{
	_Atomic uintptr_t damaged = 0;
	int fd = make_file(), other = make_file();
	volatile unsigned char *m, *u;

	set_default();
	m = mmap(NULL, PAGES * pg, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	u = mmap(NULL, PAGES * pg, PROT_READ, MAP_SHARED, other, 0);
	if (m == MAP_FAILED || u == MAP_FAILED)
		return 1;
	if (cb_sigbus_guard((void *)m, PAGES * pg, PROT_READ | PROT_WRITE,
	    fd, &damaged, 1) != 0)
		return 2;
	if (ftruncate(other, pg) < 0)
		return 3;
	(void)u[3 * pg];                    /* dies of SIGBUS here */
	return 4;
}

/* A mapping unguarded before unmapping is no longer ours. */
static int body_unguard(void)
{
	_Atomic uintptr_t damaged = 0;
	int fd = make_file();
	volatile unsigned char *m;

	set_default();
	m = mmap(NULL, PAGES * pg, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED)
		return 1;
	if (cb_sigbus_guard((void *)m, PAGES * pg, PROT_READ | PROT_WRITE,
	    fd, &damaged, 1) != 0)
		return 2;
	cb_sigbus_unguard((void *)m);
	if (ftruncate(fd, pg) < 0)
		return 3;
	(void)m[3 * pg];                    /* dies of SIGBUS here */
	return 4;
}

static volatile sig_atomic_t previous_calls;
static volatile uintptr_t previous_addr;

static void previous_handler(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	previous_calls++;
	previous_addr = (uintptr_t)si->si_addr;
	_exit(previous_calls == 1 ? 0 : 20);
}

/* The application's handler, installed first: a guarded fault never
 * reaches it, an unguarded one does (with its siginfo). */
static int body_chained(void)
{
	_Atomic uintptr_t damaged = 0;
	struct sigaction sa;
	int fd = make_file(), other = make_file();
	volatile unsigned char *m, *u;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = previous_handler;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGBUS, &sa, NULL) < 0)
		return 1;
	m = mmap(NULL, PAGES * pg, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	u = mmap(NULL, PAGES * pg, PROT_READ, MAP_SHARED, other, 0);
	if (m == MAP_FAILED || u == MAP_FAILED)
		return 2;
	if (cb_sigbus_guard((void *)m, PAGES * pg, PROT_READ | PROT_WRITE,
	    fd, &damaged, 1) != 0)
		return 3;
	if (ftruncate(fd, pg) < 0 || ftruncate(other, pg) < 0)
		return 4;
	if (m[3 * pg] != 0 || previous_calls != 0)
		return 5;                   /* ours, handled here */
	(void)u[3 * pg];                    /* previous_handler exits 0 */
	return 6;
}

/*
 * A fault whose file has its size: SIGBUS forged as the kernel would
 * send it (si_code BUS_ADRERR, si_addr in the mapping), which a process
 * may queue to itself.  The first is retried (another process may have
 * restored the size just before our fstat); the same page again with the
 * file unchanged is no shrink, and gets private zeros; after the file's
 * mtime moved (a later shrink and restore) it is retried again.
 */
static void forge_sigbus(volatile unsigned char *addr)
{
	siginfo_t si;

	memset(&si, 0, sizeof(si));
	si.si_signo = SIGBUS;
	si.si_code = BUS_ADRERR;
	si.si_addr = (void *)addr;
	if (syscall(SYS_rt_tgsigqueueinfo, getpid(), gettid(), SIGBUS,
	    &si) < 0)
		_exit(93);
}

static int body_retry(void)
{
	_Atomic uintptr_t damaged = 0;
	struct timespec times[2] = { { 0, UTIME_OMIT }, { 12345, 0 } };
	int fd = make_file();
	volatile unsigned char *m;
	unsigned char b = 0;

	set_default();
	m = mmap(NULL, PAGES * pg, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED)
		return 1;
	if (cb_sigbus_guard((void *)m, PAGES * pg, PROT_READ | PROT_WRITE,
	    fd, &damaged, 1) != 0)
		return 2;
	forge_sigbus(m + 3 * pg + 8);
	if (atomic_load(&damaged) != 0 || m[3 * pg] != 0xab)
		return 3;                   /* retried, still shared */
	if (futimens(fd, times) < 0)        /* as a shrink and restore */
		return 4;
	forge_sigbus(m + 3 * pg + 16);
	if (atomic_load(&damaged) != 0 || m[3 * pg] != 0xab)
		return 5;                   /* a new event: retried */
	forge_sigbus(m + 3 * pg + 24);
	if (atomic_load(&damaged) != 1 || m[3 * pg] != 0)
		return 6;                   /* the same again: zeros */
	if (pread(fd, &b, 1, 3 * pg) != 1 || b != 0xab)
		return 7;                   /* ours alone */
	if (m[2 * pg] != 0xab)
		return 8;                   /* only from the faulting page */
	return 0;
}

/* A SIGBUS sent with kill(2) is never taken for a fault. */
static int body_sent(void)
{
	_Atomic uintptr_t damaged = 0;
	int fd = make_file();
	void *m;

	set_default();
	m = mmap(NULL, PAGES * pg, PROT_READ, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED)
		return 1;
	if (cb_sigbus_guard(m, PAGES * pg, PROT_READ, fd, &damaged, 1) != 0)
		return 2;
	kill(getpid(), SIGBUS);
	return 3;
}

static void test_writable_restores_size(void **state)
{
	(void)state;
	expect_exit0(in_child("writable"));
}

static void test_readonly_maps_zeros(void **state)
{
	(void)state;
	expect_exit0(in_child("readonly"));
}

static void test_no_fd_maps_zeros(void **state)
{
	(void)state;
	expect_exit0(in_child("nofd"));
}

static void expect_sigbus(int status)
{
	if (WIFEXITED(status))
		fail_msg("child exited %d instead of dying of SIGBUS",
		    WEXITSTATUS(status));
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGBUS);
}

static void test_size_right_retried_once(void **state)
{
	(void)state;
	expect_exit0(in_child("retry"));
}

static void test_unguarded_fault_kills(void **state)
{
	(void)state;
	expect_sigbus(in_child("unguarded"));
}

static void test_unguard(void **state)
{
	(void)state;
	expect_sigbus(in_child("unguard"));
}

static void test_sent_sigbus_kills(void **state)
{
	(void)state;
	expect_sigbus(in_child("sent"));
}

static void test_previous_handler_chained(void **state)
{
	(void)state;
	expect_exit0(in_child("chained"));
}

static void test_bad_arguments(void **state)
{
	(void)state;
	assert_int_equal(cb_sigbus_guard(NULL, 4096, PROT_READ, -1, NULL, 0),
	    -EINVAL);
	assert_int_equal(cb_sigbus_damaged(&pg), 0);
	cb_sigbus_unguard(&pg);             /* not guarded: no-op */
}

static const struct {
	const char *name;
	int (*body)(void);
} cases[] = {
	{ "writable", body_writable }, { "readonly", body_readonly },
	{ "nofd", body_nofd }, { "unguarded", body_unguarded },
	{ "unguard", body_unguard }, { "sent", body_sent },
	{ "chained", body_chained }, { "retry", body_retry },
};

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_writable_restores_size),
		cmocka_unit_test(test_readonly_maps_zeros),
		cmocka_unit_test(test_no_fd_maps_zeros),
		cmocka_unit_test(test_size_right_retried_once),
		cmocka_unit_test(test_unguarded_fault_kills),
		cmocka_unit_test(test_unguard),
		cmocka_unit_test(test_sent_sigbus_kills),
		cmocka_unit_test(test_previous_handler_chained),
		cmocka_unit_test(test_bad_arguments),
	};

	pg = sysconf(_SC_PAGESIZE);
	self = argv[0];
	if (argc == 3 && strcmp(argv[1], "--case") == 0) {
		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
			if (strcmp(argv[2], cases[i].name) == 0)
				_exit(cases[i].body());
		_exit(96);
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
