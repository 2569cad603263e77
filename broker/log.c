/*
 * log.c - broker logging (see log.h).
 */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

static char prefix[64] = "capbrokerd";
/* Written by log_init() before any thread exists, read-only after. */
static bool to_journal;

/*
 * stderr is the journal when JOURNAL_STREAM names its device and inode
 * (systemd sets it for StandardError=journal; a redirection in between
 * changes the inode, and the variable no longer applies).
 */
static bool stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	char tail;

	if (js == NULL || sscanf(js, "%llu:%llu%c", &dev, &ino, &tail) != 2)
		return false;
	if (fstat(STDERR_FILENO, &st) < 0)
		return false;
	return (unsigned long long)st.st_dev == dev &&
	    (unsigned long long)st.st_ino == ino;
}

void log_init(const char *instance)
{
	snprintf(prefix, sizeof(prefix), "capbrokerd[%s]", instance);
	to_journal = stderr_is_journal();
}

static void vlog(const char *prio, const char *level, const char *fmt,
    va_list ap, const char *suffix)
{
	char msg[1024], stamp[32];
	struct timespec ts;
	struct tm tm;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	/* One fprintf per line: stdio's lock keeps threads' lines whole. */
	if (to_journal) {
		/* The journal stamps and ranks lines itself: a priority
		 * prefix (sd-daemon(3)), no clock. */
		fprintf(stderr, "%s%s: %s%s%s%s\n", prio, prefix, level, msg,
		    suffix ? ": " : "", suffix ? suffix : "");
		return;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	fprintf(stderr, "%s.%03ld %s: %s%s%s%s\n", stamp,
	    ts.tv_nsec / 1000000, prefix, level, msg, suffix ? ": " : "",
	    suffix ? suffix : "");
}

void log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(SD_INFO, "", fmt, ap, NULL);
	va_end(ap);
}

void log_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(SD_WARNING, "warning: ", fmt, ap, NULL);
	va_end(ap);
}

void log_warn(const char *fmt, ...)
{
	const char *why = strerror(errno);
	va_list ap;

	va_start(ap, fmt);
	vlog(SD_WARNING, "warning: ", fmt, ap, why);
	va_end(ap);
}

int log_rl_pass(struct log_rl *rl, uint64_t now_ns, uint64_t *held)
{
	const uint64_t every = (uint64_t)LOG_RL_EVERY_S * 1000000000u;

	if (rl->at_ns == 0 || now_ns < rl->at_ns) {
		/* First use (or a clock before the last: start over). */
		rl->at_ns = now_ns;
		rl->tokens = LOG_RL_BURST;
	} else {
		uint64_t add = (now_ns - rl->at_ns) / every;

		/* Whole periods only: the part of one since at_ns is kept. */
		if (rl->tokens + add >= LOG_RL_BURST) {
			rl->tokens = LOG_RL_BURST;
			rl->at_ns = now_ns;
		} else {
			rl->tokens += (uint32_t)add;
			rl->at_ns += add * every;
		}
	}
	if (rl->tokens == 0) {
		rl->held++;
		return 0;
	}
	rl->tokens--;
	*held = rl->held;
	rl->held = 0;
	return 1;
}

void log_warnx_rl(struct log_rl *rl, const char *fmt, ...)
{
	char msg[900];
	struct timespec ts;
	uint64_t held;
	va_list ap;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	if (!log_rl_pass(rl, (uint64_t)ts.tv_sec * 1000000000u +
	    (uint64_t)ts.tv_nsec, &held))
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (held > 0)
		log_warnx("%s (%llu more like it held back: at most %d lines "
		    "at once, then one every %d s)", msg,
		    (unsigned long long)held, LOG_RL_BURST, LOG_RL_EVERY_S);
	else
		log_warnx("%s", msg);
}

void log_errx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(SD_ERR, "error: ", fmt, ap, NULL);
	va_end(ap);
}

void log_err(const char *fmt, ...)
{
	const char *why = strerror(errno);
	va_list ap;

	va_start(ap, fmt);
	vlog(SD_ERR, "error: ", fmt, ap, why);
	va_end(ap);
}

void log_critx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(SD_CRIT, "critical: ", fmt, ap, NULL);
	va_end(ap);
}

void fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(SD_CRIT, "fatal: ", fmt, ap, NULL);
	va_end(ap);
	exit(1);
}

void fatal(const char *fmt, ...)
{
	const char *why = strerror(errno);
	va_list ap;

	va_start(ap, fmt);
	vlog(SD_CRIT, "fatal: ", fmt, ap, why);
	va_end(ap);
	exit(1);
}
