/*
 * errors.c - the messages of failures and the words for error codes.
 *
 * Every failing call on a handle keeps a readable message about it
 * (cb_handle_fail), which cb_errmsg() returns; cb_open's own failures,
 * with no handle yet, keep theirs per thread (handle.c,
 * cb_open_errmsg()).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "handle.h"

int cb_handle_fail(cb_client *c, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->errmsg, CB_ERRMSG_MAX, fmt, ap);
	va_end(ap);
	return err;
}

const char *cb_errmsg(const cb_client *c)
{
	return c != NULL ? c->errmsg : cb_open_errmsg();
}

const char *cb_strerror(int err)
{
	switch (err < 0 ? -err : err) {
	case 0:
		return "success";
	case EAGAIN:
		return "over the limit; retry later";
	case ETIMEDOUT:
		return "timed out";
	case ESTALE:
		return "ticket already released, reclaimed or expired";
	case ENOENT:
		return "no such broker, segment or pool";
	case EPROTO:
		return "incompatible or corrupt segment";
	case EACCES:
		return "permission denied";
	case ESRCH:
		return "broker is not running";
	case EXDEV:
		return "not in the broker's PID namespace";
	case EINVAL:
		return "invalid argument";
	case ENOMEM:
		return "out of memory";
	default:
		return strerror(err < 0 ? -err : err);
	}
}
