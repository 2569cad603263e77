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
 *
 * Names.  Clients find a segment by its public name alone
 * (/dev/shm/capbroker.NAME.state and .slots, through shm_open).  Anyone
 * who may unlink it (its owner, root) can `rm` it under a running
 * broker: attached processes keep their mappings, but new clients and
 * capdump find nothing, and the next broker would start empty.  Linux
 * cannot give an unlinked file a name again from an fd (linkat with
 * AT_EMPTY_PATH, or through /proc/self/fd, fails with ENOENT once
 * st_nlink is 0; only O_TMPFILE files are exempt, and shm_open cannot
 * make those), so the broker keeps a second hard link to each segment
 * in the same directory, its spare link:
 *
 *   /dev/shm/.capbroker.NAME.state, /dev/shm/.capbroker.NAME.slots
 *
 * (a dot name: `ls` and `rm /dev/shm/capbroker.NAME.*` miss it; the
 * directory is sticky, so only the broker's user or root can remove
 * it).  It is made at creation and adoption, removed with --remove and
 * whenever the segments are replaced.  Each heartbeat compares the
 * inode behind each name with the one the broker has mapped
 * (cb_segments_check):
 *
 *   public name missing           logged as an error, then linked again
 *                                   from our fd (/proc/self/fd/N: the
 *                                   file still has the spare link, so
 *                                   st_nlink > 0), and the repair logged;
 *   public name leads to another  the same, but the other file is
 *     file (someone put one         replaced (a link under a temporary
 *     there)                        spare name renamed over it): every
 *                                   client that opens the name would
 *                                   otherwise attach to the wrong file,
 *                                   and the broker owns the name (it
 *                                   holds the instance's pidfile lock);
 *   spare link missing or wrong   made again (warning): nothing is
 *                                   wrong for clients yet;
 *   no name left at all           cannot be repaired: critical, once a
 *     (st_nlink 0)                  minute; attached clients are served
 *                                   on, but the watchdog is no longer
 *                                   fed, so a supervisor restarts the
 *                                   broker, which starts empty (nothing
 *                                   can reach the old contents).  Copying
 *                                   them into new files is not sound: the
 *                                   slots segment is written by attached
 *                                   clients, which would stay on the old
 *                                   file while new ones used the copy.
 *
 * On start-up (cb_segments_open) a public name that is missing while
 * its spare link exists (the broker that could have re-linked it was
 * killed first) is linked again from the spare link and the segments
 * adopted as usual: nothing is lost.  Except when both public names are
 * missing and the state segment says its broker stopped cleanly (the
 * STOPPING flag; a clean stop puts missing names back first): then they
 * were removed after the stop, by hand, which has always meant "start
 * afresh"; the spare links are removed and new segments created.
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
	/* The value of the slots file's canary (segments.c
	 * slots_canary()): gone, a shrink was undone before we looked. */
	uint64_t canary;
	/* The state file, kept open to find its inode and link it again. */
	int state_fd;
	/* Each segment's names, [0] state and [1] slots (see "Names"
	 * above).  Main thread only. */
	struct cb_seg_names {
		char path[96];      /* /dev/shm/capbroker.NAME.KIND */
		char spare[96];     /* /dev/shm/.capbroker.NAME.KIND */
		char temp[104];     /* spare + ".new": a link on its way */
		bool lost;          /* path is not ours: reported, unrepaired */
		bool spare_lost;    /* spare is not ours: reported */
		bool gone;          /* st_nlink 0: cannot be repaired */
		uint64_t relinks;   /* path put back since start-up */
		uint64_t lost_at;     /* cb_realtime_ns(), when lost was set */
		uint64_t relinked_at; /* cb_realtime_ns(), the last put back */
		uint64_t crit_ns;   /* CLOCK_MONOTONIC, the last critical line */
	} names[2];
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
 * already put back, seen by its canary gone.  Either way the cut pages read as
 * zeros from then on, for everyone: to the sweeper that is free client
 * entries, launch, waiter and bind entries, and pool and worker counters
 * at 0, which its repairs of hostile writes already handle (scrub,
 * settle, recount; the header restored from its copy); what the broker
 * owns outside the slots segment (pools, workers, settings: the state
 * segment) is untouched.  Our own mapping is guarded from creation or
 * adoption until cb_segments_close().  Main thread, each heartbeat: one
 * fstat when nothing changed, and for the names below two fstat and
 * four stat.
 */
/*
 * Then checks the segments' names (see "Names" above) and repairs what
 * it can.  Returns true when both public names lead to the broker's
 * segments (after any repair): the heartbeat feeds the watchdog only
 * then.
 */
bool cb_segments_check(struct cb_segments *s);
/*
 * What the names are now, one line for `capctl status` (NUL-terminated,
 * cut at len): "linked", "linked; re-linked N times, last ... (state)",
 * "UNLINKED since ...: slots ..." and so on.  Main thread only (the
 * heartbeat updates what it reads).
 */
void cb_segments_describe(const struct cb_segments *s, char *buf,
    size_t len);
/* Unmap; with remove, also unlink both and their spare links; without,
 * put back a missing name first (segments.h, "Names"). */
void cb_segments_close(struct cb_segments *s, bool remove);

#endif /* CB_SEGMENTS_H */
