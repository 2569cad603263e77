/*
 * segments.h - creating, adopting and retiring an instance's segments.
 *
 * Decision on start-up (the caller holds the instance's pidfile lock,
 * so no other broker is touching them):
 *
 *   neither segment exists            create both;
 *   both valid, same instance         adopt them (nothing is lost);
 *   state valid, slots header         rewrite the slots header from the
 *     damaged (a client wrote it:       state header and this build's
 *     magic zeroed, regions moved)      layout, log it, adopt;
 *   no client could have attached     recreate with a warning (a
 *     (the state segment missing or     client needs both segments
 *     with magic 0: creation never      valid to attach);
 *     ended)
 *   anything else (wrong ABI,         refuse with what differs, unless
 *     corrupt, mismatched pair)         replace is set: retire what can
 *                                       be retired (flag + wake), unlink
 *                                       and create anew.
 *
 * "Creation never ended" is judged by the state segment's magic alone.
 * Only the broker can write that segment, and cb_segments_publish()
 * stores its magic last: once it is set, both segments were published
 * and clients may be attached, whatever the slots segment (which every
 * member of the slots group can write) says now.  Judging by the slots
 * magic let one client's zeroing of it, while the broker was down, make
 * the next broker replace a live instance and split its clients in two.
 *
 * A slots file shorter than this build's layout while the state segment
 * is valid (a member truncated it while no broker ran) is extended back
 * first, and logged: then its header, if intact, is adopted as above,
 * or, if the cut took the header too, rebuilt as above.
 *
 * Creation: shm_open(O_CREAT|O_EXCL) mode 0600, then fchmod/fchown to
 * the configured mode and group (umask-proof), pages allocated up front
 * (posix_fallocate: no SIGBUS later), never O_TRUNC.  The caller
 * initialises the contents and then calls cb_segments_publish(), which
 * stores the magic numbers (slots first: cb_open maps state first).
 */
#ifndef CB_SEGMENTS_H
#define CB_SEGMENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

struct cb_segments {
	void *state;
	size_t state_size;
	void *slots;
	size_t slots_size;
	bool adopted;            /* existing segments were taken over */
	char state_name[64];
	char slots_name[64];
	/*
	 * The slots file's size as it must stay (cb_segments_check): its
	 * fd, kept open for fstat/ftruncate, and the total size of its
	 * header as validated at creation or adoption (slots_size is what
	 * is mapped: more, when a grown file was adopted).
	 */
	int slots_fd;
	uint64_t slots_total;
	/* The file's mtime after our last look or repair: a shrink that a
	 * SIGBUS guard undid before we looked moved it. */
	struct timespec slots_mtime;
};

struct cb_seg_opts {
	mode_t state_mode;       /* default 0644 */
	mode_t slots_mode;       /* default 0660 */
	gid_t group;             /* (gid_t)-1: leave the creator's */
	bool replace;            /* retire and recreate a bad segment */
};

int cb_segments_open(struct cb_segments *s, const char *name,
    const struct cb_seg_opts *o, char *err, size_t errlen);
void cb_segments_publish(struct cb_segments *s);
/*
 * Check the size of the slots file, which every member of its group can
 * truncate (its header is the sweeper's to check: check_header() in
 * sweeper.c).  A file grown past its size is trimmed back, and logged.
 * A shrunk one is put back to its size at once and logged as an error,
 * once per event; so is one that a process's SIGBUS guard (lib/sigbus.h)
 * already put back, seen by its mtime.  Either way the cut pages read as
 * zeros from then on, for everyone: to the sweeper that is free client
 * entries, launch, waiter and bind entries, and pool and worker counters
 * at 0, which its repairs of hostile writes already handle (scrub,
 * settle, recount; the header restored from its copy); what the broker
 * owns outside the slots segment (pools, workers, settings: the state
 * segment) is untouched.  Our own mapping is guarded from creation or
 * adoption until cb_segments_close().  Main thread, each heartbeat: one
 * fstat when nothing changed.
 */
void cb_segments_check(struct cb_segments *s);
/* Unmap; with remove, also shm_unlink both. */
void cb_segments_close(struct cb_segments *s, bool remove);

#endif /* CB_SEGMENTS_H */
