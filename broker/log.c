/*
 * log.c - broker logging (see log.h).
 */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char prefix[64] = "capbrokerd";

void log_init(const char *instance)
{
	snprintf(prefix, sizeof(prefix), "capbrokerd[%s]", instance);
}

static void vlog(const char *level, const char *fmt, va_list ap,
    const char *suffix)
{
	char msg[1024], stamp[32];
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	/* One fprintf per line: stdio's lock keeps threads' lines whole. */
	fprintf(stderr, "%s.%03ld %s: %s%s%s%s\n", stamp,
	    ts.tv_nsec / 1000000, prefix, level, msg, suffix ? ": " : "",
	    suffix ? suffix : "");
}

void log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog("", fmt, ap, NULL);
	va_end(ap);
}

void log_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog("warning: ", fmt, ap, NULL);
	va_end(ap);
}

void log_warn(const char *fmt, ...)
{
	const char *why = strerror(errno);
	va_list ap;

	va_start(ap, fmt);
	vlog("warning: ", fmt, ap, why);
	va_end(ap);
}

void fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog("fatal: ", fmt, ap, NULL);
	va_end(ap);
	exit(1);
}

void fatal(const char *fmt, ...)
{
	const char *why = strerror(errno);
	va_list ap;

	va_start(ap, fmt);
	vlog("fatal: ", fmt, ap, why);
	va_end(ap);
	exit(1);
}
