/*
 * proc.h - process identity: pid plus start time.
 *
 * A pid alone is reused; the pair (pid, starttime from /proc/PID/stat,
 * in clock ticks since boot) names one process for the life of the
 * system.  The broker records its own pair in the segment header so
 * readers can tell a live broker from a dead one whose pid was reused.
 */
#ifndef CB_PROC_H
#define CB_PROC_H

#include <stdint.h>
#include <sys/types.h>

/* Start time of pid in ticks since boot.  Returns 0 or -errno. */
int cb_proc_start_time(pid_t pid, uint64_t *start);

/*
 * Is the process (pid, start) still running?
 *
 * Returns:  1 yes: its start time is `start` and it is no zombie;
 *           0 no, on proof only: no process has that pid (kill(2) says
 *             ESRCH), it is a zombie, or its start time is not `start`
 *             (the pid names another process now);
 *          -1 unknown: its /proc entry cannot be read or parsed (hidepid,
 *             EACCES, ...) while some process has that pid.
 * Every caller treats -1 as alive, the safe side: reclaiming a live
 * client's holds lets a pool admit beyond its limit, keeping a dead
 * one's costs capacity only until a proof comes (the sweeper's pidfd).
 */
int cb_proc_alive(pid_t pid, uint64_t start);

/* This process's PID namespace (inode of /proc/self/ns/pid), 0 if
 * unknown (/proc not mounted or unreadable). */
uint64_t cb_proc_pidns(void);

#endif /* CB_PROC_H */
