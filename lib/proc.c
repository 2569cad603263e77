/*
 * proc.c - process identity from /proc (see proc.h).
 */
#include "proc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * /proc/PID/stat: "pid (comm) state ppid ... starttime ...".  comm may
 * hold spaces and parentheses, so fields are counted from the last ')'.
 * After it come field 3 (state) onwards; starttime is field 22.
 */
static int read_stat(pid_t pid, char *state, uint64_t *start)
{
	char path[64], buf[1024];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
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

	if (pid <= 0 || read_stat(pid, &state, &now) < 0)
		return 0;
	/* A zombie holds nothing any more: its memory and fds are gone. */
	if (state == 'Z' || state == 'X')
		return 0;
	return now == start;
}

uint64_t cb_proc_pidns(void)
{
	struct stat st;

	return stat("/proc/self/ns/pid", &st) == 0 ? (uint64_t)st.st_ino : 0;
}
