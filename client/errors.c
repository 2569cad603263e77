/*
 * errors.c - the messages of failures and the words for error codes.
 *
 * A failing call on a handle keeps a readable message (cb_handle_fail)
 * that cb_errmsg() returns.  Threads may share a handle, so the message
 * belongs to the thread that failed: one buffer in the handle would be
 * written by whichever thread failed last while another reads it (a
 * data race, and another thread's message).  Each thread keeps, in
 * thread-local records, the message of its last failure on each of the
 * last ERRMSG_HANDLES handles it failed on; cb_errmsg(c) looks up the
 * calling thread's record for c, and a thread with none reads "".
 * Nothing is shared, so there is no lock and no atomic; successes write
 * nothing.
 *
 * A record names its handle by the handle's serial number, unique for
 * the life of the process, not by its address: malloc hands a closed
 * handle's address to the next cb_open, whose cb_errmsg must not show
 * the old handle's message.
 *
 * cb_open's own failures, with no handle yet, keep their message in a
 * per-thread buffer of handle.c (cb_open_errmsg()).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "handle.h"

/* Handles per thread whose messages are kept; a failure on one more
 * replaces the record of the handle failed on longest ago. */
#define ERRMSG_HANDLES 4

struct errmsg_record {
	uint64_t serial;               /* the handle's; 0: unused */
	uint64_t stamp;                /* errmsg_clock at its last failure */
	char text[CB_ERRMSG_MAX];
};

static _Thread_local struct errmsg_record errmsg_records[ERRMSG_HANDLES];
static _Thread_local uint64_t errmsg_clock;

static struct errmsg_record *errmsg_find(uint64_t serial)
{
	for (int i = 0; i < ERRMSG_HANDLES; i++)
		if (errmsg_records[i].serial == serial)
			return &errmsg_records[i];
	return NULL;
}

/* The calling thread's record for serial, taking over the stalest one
 * (an unused one first: its stamp is 0) if it has none. */
static struct errmsg_record *errmsg_record(uint64_t serial)
{
	struct errmsg_record *m = errmsg_find(serial);

	if (m == NULL) {
		m = &errmsg_records[0];
		for (int i = 1; i < ERRMSG_HANDLES; i++)
			if (errmsg_records[i].stamp < m->stamp)
				m = &errmsg_records[i];
		m->serial = serial;
	}
	m->stamp = ++errmsg_clock;
	return m;
}

int cb_handle_fail(cb_client *c, int err, const char *fmt, ...)
{
	struct errmsg_record *m = errmsg_record(c->serial);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(m->text, sizeof(m->text), fmt, ap);
	va_end(ap);
	return err;
}

const char *cb_errmsg(const cb_client *c)
{
	const struct errmsg_record *m;

	if (c == NULL)
		return cb_open_errmsg();
	m = errmsg_find(c->serial);
	return m != NULL ? m->text : "";
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
