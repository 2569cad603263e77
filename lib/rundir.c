/*
 * rundir.c - run directory paths (see rundir.h).
 */
#include "rundir.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "segment.h"

const char *cb_rundir(void)
{
	const char *d = getenv("CAPBROKER_RUNDIR");

	return d != NULL && d[0] != '\0' ? d : CB_RUNDIR_DEFAULT;
}

int cb_rundir_path(char *buf, size_t len, const char *name,
    const char *suffix)
{
	int n;

	if (!cb_name_valid(name))
		return -EINVAL;
	n = snprintf(buf, len, "%s/%s.%s", cb_rundir(), name, suffix);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}
