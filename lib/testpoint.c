/*
 * testpoint.c - pause points of the test build (see testpoint.h).
 * Compiled only into the objects under BUILD/tp/.
 */
#include "testpoint.h"

#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void (*volatile cb_testpoint_hook)(const char *name);

/* The file protocol's point fires once: the first thread to win this
 * flag waits, everyone after runs through. */
static atomic_int fired;

static void wait_for_go(const char *dir, const char *name)
{
	char reached[PATH_MAX], go[PATH_MAX];
	struct timespec ms = { 0, 1000000 };
	int fd;

	snprintf(reached, sizeof(reached), "%s/%s.reached", dir, name);
	snprintf(go, sizeof(go), "%s/%s.go", dir, name);
	fd = open(reached, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd >= 0)
		close(fd);
	while (access(go, F_OK) != 0)
		nanosleep(&ms, NULL);
	unlink(go);
}

void cb_testpoint(const char *name)
{
	void (*hook)(const char *) = cb_testpoint_hook;
	const char *want, *dir;

	if (hook != NULL) {
		hook(name);
		return;
	}
	want = getenv("CB_TESTPOINT");
	dir = getenv("CB_TESTPOINT_DIR");
	if (want == NULL || dir == NULL || strcmp(want, name) != 0)
		return;
	if (atomic_exchange(&fired, 1) != 0)
		return;
	wait_for_go(dir, name);
}
