/*
 * log.h - the broker's logging, OpenBSD-daemon style.
 *
 * One line per message on stderr (the supervisor or journald keeps it),
 * prefixed "capbrokerd[NAME]: ".  When stderr is the journal
 * (JOURNAL_STREAM matches it, see log_init) each line starts with its
 * sd-daemon(3) priority ("<4>" for a warning) and carries no clock of
 * its own; anywhere else it starts with the local time.  Safe from any thread: each message is
 * formatted first and written with one call.  fatal()/fatalx() are for
 * start-up and unrecoverable internal errors only; the running broker
 * logs bad input and carries on.
 */
#ifndef CB_LOG_H
#define CB_LOG_H

#include <stdnoreturn.h>

/* Call once, before any thread starts: it also decides the format. */
void log_init(const char *instance);
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* log_warnx plus ": strerror(errno)" */
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Something is broken and being repaired, or cannot be: priority err. */
void log_errx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The broker cannot do its job and keeps running to serve what it can:
 * priority crit. */
void log_critx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
noreturn void fatalx(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
noreturn void fatal(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

#endif /* CB_LOG_H */
