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

#include <stdint.h>
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
/*
 * A line that a member can make the broker repeat as often as it likes
 * (the sweeper's repair of what it scribbled into the slots segment,
 * every 20 ms while it goes on) goes through a limiter of its own, a
 * token bucket: LOG_RL_BURST lines at once, then one every
 * LOG_RL_EVERY_S seconds while it goes on; each line says how many
 * were held back before it.  A limiter is zeroed static or struct
 * storage and belongs to one thread.
 */
#define LOG_RL_BURST 10
#define LOG_RL_EVERY_S 6

struct log_rl {
	uint64_t at_ns;                /* tokens counted up to; 0: never */
	uint32_t tokens;
	uint64_t held;                 /* lines held back since the last */
};

/* May a line go out at now_ns?  1 and *held (the lines held back
 * since the last one, now reset), or 0 (counted as held back). */
int log_rl_pass(struct log_rl *rl, uint64_t now_ns, uint64_t *held);
/* log_warnx through rl, on CLOCK_MONOTONIC. */
void log_warnx_rl(struct log_rl *rl, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

noreturn void fatalx(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
noreturn void fatal(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

#endif /* CB_LOG_H */
