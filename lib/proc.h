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
 * Is the process (pid, start) still running?  Returns 1 yes, 0 no
 * (gone, zombie, or the pid now names another process).
 */
int cb_proc_alive(pid_t pid, uint64_t start);

/* This process's PID namespace (inode of /proc/self/ns/pid), 0 if
 * unknown. */
uint64_t cb_proc_pidns(void);

#endif /* CB_PROC_H */
