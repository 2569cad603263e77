/*
 * rundir.h - where an instance's socket and pidfile live.
 *
 * $CAPBROKER_RUNDIR when set (tests use a private one), else
 * /run/capbroker.  The control socket is RUNDIR/NAME.sock and the
 * pidfile RUNDIR/NAME.pid.
 */
#ifndef CB_RUNDIR_H
#define CB_RUNDIR_H

#include <stddef.h>

#define CB_RUNDIR_DEFAULT "/run/capbroker"

/* The run directory (never NULL). */
const char *cb_rundir(void);

/*
 * RUNDIR/NAME.SUFFIX into buf.  Returns 0, or -ENAMETOOLONG when it does
 * not fit (sockets: sun_path is 108 bytes), -EINVAL for a bad name.
 */
int cb_rundir_path(char *buf, size_t len, const char *name,
    const char *suffix);

#endif /* CB_RUNDIR_H */
