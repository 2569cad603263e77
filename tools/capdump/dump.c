/*
 * dump.c - what every layer of capdump uses of a struct dump: its
 * warnings, its flags and pool names, and the words printed for the
 * segments' enums.  Calls nothing of capdump's.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "capdump.h"
#include "proto.h"

void dump_warn(struct dump *d, const char *fmt, ...)
{
	va_list ap;

	if (d->nwarnings == MAX_WARNINGS)
		return;
	va_start(ap, fmt);
	vsnprintf(d->warning[d->nwarnings++], WARNING_MAX, fmt, ap);
	va_end(ap);
}

unsigned dump_flags(const struct dump *d)
{
	unsigned f = CB_STATE_FLAGS(d->state_word);

	if (d->retired)
		f |= CB_STATE_F_RETIRED;
	return f;
}

const char *dump_pool_name(const struct dump *d, uint32_t index)
{
	for (size_t i = 0; i < d->npools; i++)
		if (d->pools[i].index == index)
			return d->pools[i].name;
	return NULL;
}

/* Length of a NUL-padded fixed-size field that may lack its NUL. */
size_t field_len(const char *s, size_t size)
{
	const char *nul = memchr(s, '\0', size);

	return nul != NULL ? (size_t)(nul - s) : size;
}

/* lib/proto.c's names ("ready", ...), "unknown" for anything else. */
const char *worker_state_name(uint32_t state)
{
	const char *name = cb_worker_state_name(state);

	return name != NULL ? name : "unknown";
}

const char *event_type_name(uint32_t type)
{
	switch (type) {
	case CB_EV_PUBLISH:
		return "publish";
	case CB_EV_START:
		return "start";
	case CB_EV_STOP:
		return "stop";
	case CB_EV_OVERRIDE_REJECTED:
		return "override_rejected";
	default:
		return "unknown";
	}
}

const char *pool_kind_name(uint32_t kind)
{
	switch (kind) {
	case CB_LIMIT_CAPACITY:
		return "capacity";
	case CB_LIMIT_FIXED:
		return "fixed";
	case CB_LIMIT_SHARE:
		return "share";
	case CB_LIMIT_GLOBAL:
		return "global";
	default:
		return "unknown";
	}
}

/* Only claiming and live entries are gathered. */
const char *launch_state_name(uint32_t state)
{
	return state == CB_LAUNCH_LIVE ? "live" : "claiming";
}
