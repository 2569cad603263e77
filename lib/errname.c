/*
 * errname.c - errno names as the control protocol spells them (proto.h:
 * cb_errno_name, cb_errno_parse).  libc only, so that the client
 * library reads the broker's answers (client/glaunch.c) with the same
 * table the broker writes them with; proto.c, which needs libbsd, is
 * the broker's and the tools'.
 */
#include "proto.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

static const struct {
	int err;
	const char *name;
} errno_names[] = {
	{ EINVAL, "EINVAL" }, { ENOENT, "ENOENT" }, { ERANGE, "ERANGE" },
	{ EACCES, "EACCES" }, { EPERM, "EPERM" }, { ENOSPC, "ENOSPC" },
	{ E2BIG, "E2BIG" }, { EAGAIN, "EAGAIN" }, { ESTALE, "ESTALE" },
	{ EPROTO, "EPROTO" }, { ENOMEM, "ENOMEM" }, { EBUSY, "EBUSY" },
	{ ETIMEDOUT, "ETIMEDOUT" }, { EEXIST, "EEXIST" }, { EIO, "EIO" },
	{ ENOSYS, "ENOSYS" }, { ECONNREFUSED, "ECONNREFUSED" },
	{ ENOTCONN, "ENOTCONN" },
};

const char *cb_errno_name(int err)
{
	if (err < 0)
		err = -err;
	for (size_t i = 0; i < sizeof(errno_names) / sizeof(errno_names[0]);
	    i++)
		if (errno_names[i].err == err)
			return errno_names[i].name;
	return "EIO";
}

int cb_errno_parse(const char *name)
{
	for (size_t i = 0; i < sizeof(errno_names) / sizeof(errno_names[0]);
	    i++)
		if (strcmp(errno_names[i].name, name) == 0)
			return errno_names[i].err;
	return EIO;
}
