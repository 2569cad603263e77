/*
 * proc.c - process identity from /proc (see proc.h).
 */
#include "proc.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * The /proc we read.  The test build may point it at another directory
 * (CB_TEST_PROC): one that shows only some pids, as a /proc mounted
 * with hidepid=2 does, or holds unreadable or garbled stat files, so
 * that tests can make the answers "unknown" (tests/unit/test_tp_proc.c,
 * tests/integration/t_sweeper_hidepid.sh).
 */
static const char *proc_root(void)
{
#ifdef CB_TESTPOINTS
	const char *root = getenv("CB_TEST_PROC");

	if (root != NULL && root[0] != '\0')
		return root;
#endif
	return "/proc";
}

/*
 * /proc/PID/stat: "pid (comm) state ppid ... starttime ...".  comm may
 * hold spaces and parentheses, so fields are counted from the last ')'.
 * After it come field 3 (state) onwards; starttime is field 22.
 */
static int read_stat(pid_t pid, char *state, uint64_t *start)
{
	char path[256], buf[1024];
	ssize_t n;
	int fd;

	if (snprintf(path, sizeof(path), "%s/%d/stat", proc_root(),
	    (int)pid) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return n < 0 ? -errno : -EIO;
	buf[n] = '\0';

	char *p = strrchr(buf, ')');
	if (p == NULL || p[1] != ' ')
		return -EIO;
	p += 2;
	*state = *p;
	for (int field = 3; field < 22; field++) {
		p = strchr(p, ' ');
		if (p == NULL)
			return -EIO;
		p++;
	}
	char *end;
	errno = 0;
	unsigned long long v = strtoull(p, &end, 10);
	if (errno != 0 || end == p)
		return -EIO;
	*start = v;
	return 0;
}

int cb_proc_start_time(pid_t pid, uint64_t *start)
{
	char state;

	return read_stat(pid, &state, start);
}

int cb_proc_alive(pid_t pid, uint64_t start)
{
	uint64_t now;
	char state;

	if (pid <= 0)
		return 0;
	if (read_stat(pid, &state, &now) < 0) {
		/* Not proof: hidepid=2 answers ENOENT for a live process of
		 * another user, and EACCES, EIO or a garbled line say
		 * nothing about the process.  Only the kernel saying that
		 * no process has this pid is. */
		if (kill(pid, 0) < 0 && errno == ESRCH)
			return 0;
		return -1;
	}
	/* A zombie holds nothing any more: its memory and fds are gone. */
	if (state == 'Z' || state == 'X')
		return 0;
	return now == start ? 1 : 0;
}

uint64_t cb_proc_pidns(void)
{
	char path[256];
	struct stat st;

	if (snprintf(path, sizeof(path), "%s/self/ns/pid", proc_root()) >=
	    (int)sizeof(path))
		return 0;
	return stat(path, &st) == 0 ? (uint64_t)st.st_ino : 0;
}
