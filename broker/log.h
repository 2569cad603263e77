/*
 * log.h - the broker's logging, OpenBSD-daemon style.
 *
 * One line per message on stderr (the supervisor or journald keeps it),
 * prefixed "capbrokerd[NAME]: ".  Safe from any thread: each message is
 * formatted first and written with one call.  fatal()/fatalx() are for
 * start-up and unrecoverable internal errors only; the running broker
 * logs bad input and carries on.
 */
#ifndef CB_LOG_H
#define CB_LOG_H

#include <stdnoreturn.h>

void log_init(const char *instance);
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* log_warnx plus ": strerror(errno)" */
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
noreturn void fatalx(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
noreturn void fatal(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

#endif /* CB_LOG_H */
