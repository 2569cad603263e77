/*
 * segments.c - create, adopt or replace segments, and keep their names
 * (see segments.h).
 */
#include "segments.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "capbroker.h"
#include "clock.h"
#include "futex.h"
#include "log.h"
#include "queue.h"
#include "segment.h"
#include "proc.h"
#include "sigbus.h"
#include "snapshot.h"
#include "slots.h"
#include "state_word.h"

/*
 * The creator fields of a header (abi_major .. region[]): fixed once the
 * magic is published.  The magic itself is compared and stored apart,
 * as the atomic it is.
 */
#define CREATOR_FIRST offsetof(struct cb_seg_header, abi_major)
#define CREATOR_END (offsetof(struct cb_seg_header, region) + \
	sizeof(((struct cb_seg_header *)0)->region))

/* Where glibc's shm_open keeps its names: the spare links (segments.h,
 * "Names") are made there with link(2), which takes paths. */
#define SHM_DIR "/dev/shm"

/* The critical line about a name that cannot be put back: how often. */
#define CRIT_EVERY_NS (60 * 1000000000ull)

/* What we found under one name. */
struct found {
	int exists;
	int valid;               /* cb_seg_validate() passed */
	int magic_zero;          /* created but never published */
	int fd;                  /* -1 when not open */
	void *base;
	size_t size;
	/* The header as validated: a private copy, so that a client
	 * writing the live one after validation changes nothing here. */
	struct cb_seg_header hdr;
	char why[CB_ERRMSG_MAX];
};

static int refuse(char *err, size_t errlen, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return code;
}

static void inspect(const char *shm, const char *name, enum cb_seg_kind kind,
    struct found *f)
{
	struct stat st;
	int fd;

	memset(f, 0, sizeof(*f));
	f->fd = -1;
	fd = shm_open(shm, O_RDWR | O_CLOEXEC, 0);
	if (fd < 0) {
		f->exists = errno != ENOENT;
		snprintf(f->why, sizeof(f->why), "%s", strerror(errno));
		return;
	}
	f->exists = 1;
	if (fstat(fd, &st) == 0 && st.st_size > 0) {
		/* A grown file: only what its header says (check_size()
		 * trims the rest off). */
		f->size = cb_seg_map_size(fd, (size_t)st.st_size);
		f->base = mmap(NULL, f->size, PROT_READ | PROT_WRITE,
		    MAP_SHARED, fd, 0);
		if (f->base == MAP_FAILED)
			f->base = NULL;
	}
	if (f->base == NULL) {
		close(fd);
		f->magic_zero = 1;   /* empty: creation never got far */
		snprintf(f->why, sizeof(f->why), "empty segment");
		return;
	}
	f->fd = fd;
	if (f->size < sizeof(f->hdr)) {
		snprintf(f->why, sizeof(f->why), "segment is %zu bytes, "
		    "smaller than its header", f->size);
		return;
	}
	memcpy(&f->hdr, f->base, sizeof(f->hdr));
	/* cb_seg_validate() reads only the header: validate the copy.
	 * Pairs with the release store of magic in cb_seg_header_publish()
	 * (lib/segment.c): 0 means its creator never got that far. */
	f->valid = cb_seg_validate(&f->hdr, f->size, kind, name, f->why,
	    sizeof(f->why)) == 0;
	f->magic_zero = atomic_load_explicit(&f->hdr.magic,
	    memory_order_acquire) == 0;
}

static void release(struct found *f)
{
	if (f->base != NULL)
		munmap(f->base, f->size);
	if (f->fd >= 0)
		close(f->fd);
	f->base = NULL;
	f->fd = -1;
}

/* Rewrite a header's creator fields, then its magic.  The release pairs
 * with the acquire load of magic in cb_seg_validate(), as at creation:
 * a client that sees the magic sees the fields restored. */
static void restore_header(struct cb_seg_header *live,
    const struct cb_seg_header *want)
{
	memcpy((char *)live + CREATOR_FIRST, (const char *)want +
	    CREATOR_FIRST, CREATOR_END - CREATOR_FIRST);
	atomic_store_explicit(&live->magic, atomic_load_explicit(&want->magic,
	    memory_order_relaxed), memory_order_release);
}

/*
 * The canary: a word the broker keeps in the slack at the very end of
 * the slots file, past every region (cb_layout_init() rounds the file
 * up to a page; nothing is located there, so no client reads or writes
 * it).  Every shrink cuts the file's last page, so a shrink that a
 * process's SIGBUS guard undid before the heartbeat looked leaves the
 * size right and the canary 0.  Neither the mtime (moved by the first
 * write to any page through a mapping, on recent kernels) nor holes in
 * the file (filled by the next access to a cut page, the sweeper's
 * included) can tell that.  Written and read by the main thread only
 * (guard_slots, cb_segments_check); relaxed: no other data hangs on
 * it.  A member may write it too: that is reported as a shrink undone,
 * and costs a posix_fallocate of the allocated file.
 */
static _Atomic uint64_t *slots_canary(const struct cb_segments *s)
{
	struct cb_layout l;
	uint64_t end = 0;

	/* This build's layout, not the header a member can write (an
	 * adopted file of another layout whose regions reach further gets
	 * no canary). */
	cb_layout_init(&l, CB_SEG_SLOTS);
	for (unsigned i = 0; i < l.region_count; i++)
		if (l.region[i].offset + l.region[i].size > end)
			end = l.region[i].offset + l.region[i].size;
	if (s->slots_total < sizeof(uint64_t) ||
	    end > s->slots_total - sizeof(uint64_t))
		return NULL;      /* no slack: a layout without room */
	return (_Atomic uint64_t *)(void *)((char *)s->slots +
	    s->slots_total - sizeof(uint64_t));
}

static void set_canary(struct cb_segments *s)
{
	_Atomic uint64_t *c = slots_canary(s);

	if (s->canary == 0 && getrandom(&s->canary, sizeof(s->canary), 0) !=
	    (ssize_t)sizeof(s->canary))
		s->canary = cb_monotonic_ns();
	s->canary |= 1;
	if (c != NULL)
		atomic_store_explicit(c, s->canary, memory_order_relaxed);
}

/* Whether the canary is gone (a shrink undone, or a member's write). */
static bool canary_gone(const struct cb_segments *s)
{
	_Atomic uint64_t *c = slots_canary(s);

	return c != NULL && atomic_load_explicit(c, memory_order_relaxed) !=
	    s->canary;
}

/*
 * Our own slots mapping, guarded (lib/sigbus.h): when a member
 * truncates the file, whichever thread of ours touches a cut page first
 * puts the size back through slots_fd and retries on zero pages; the
 * heartbeat then finds the canary gone and says so
 * (cb_segments_check).  Only the header's total is guarded: nothing
 * lies past it.
 */
static void guard_slots(struct cb_segments *s)
{
	int r = cb_sigbus_guard(s->slots, (size_t)s->slots_total,
	    PROT_READ | PROT_WRITE, s->slots_fd, NULL, 0);

	if (r < 0)
		log_warnx("%s: cannot guard the mapping against SIGBUS: %s "
		    "(a member truncating the file can crash the broker)",
		    s->slots_name, strerror(-r));
	set_canary(s);
}

/* ---- names: the public ones and the spare links (segments.h) ------ */

static const char *const name_kind[2] = { "state", "slots" };

static void names_init(struct cb_segments *s)
{
	for (int k = 0; k < 2; k++) {
		struct cb_seg_names *n = &s->names[k];
		const char *shm = k == 0 ? s->state_name : s->slots_name;

		/* shm names start with '/': the spare link puts a dot
		 * after it. */
		snprintf(n->path, sizeof(n->path), SHM_DIR "%s", shm);
		snprintf(n->spare, sizeof(n->spare), SHM_DIR "/.%s", shm + 1);
		snprintf(n->temp, sizeof(n->temp), "%s.new", n->spare);
	}
}

static int name_fd(const struct cb_segments *s, int k)
{
	return k == 0 ? s->state_fd : s->slots_fd;
}

/* 1: path leads to the file ours describes; 0: no such name; -1: it
 * leads to another file, or cannot be looked up (errno). */
static int leads_to(const char *path, const struct stat *ours)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return errno == ENOENT ? 0 : -1;
	return st.st_dev == ours->st_dev && st.st_ino == ours->st_ino ? 1 :
	    -1;
}

/*
 * Give the file open as fd the name path, replacing whatever file holds
 * it.  Through /proc/self/fd: the file we have mapped, not whatever a
 * name of it leads to now; it fails with ENOENT once no name is left
 * (st_nlink 0).  A name held by another file is replaced in one step
 * (a link under temp renamed over it): an open of the name finds one
 * file or the other, never none.  0, or -1 with errno.
 */
static int link_fd(int fd, const char *path, const char *temp)
{
	char proc[32];
	int e;

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	if (linkat(AT_FDCWD, proc, AT_FDCWD, path, AT_SYMLINK_FOLLOW) == 0)
		return 0;
	if (errno != EEXIST)
		return -1;
	if ((unlink(temp) < 0 && errno != ENOENT) ||
	    linkat(AT_FDCWD, proc, AT_FDCWD, temp, AT_SYMLINK_FOLLOW) < 0)
		return -1;
	if (rename(temp, path) < 0) {
		e = errno;
		unlink(temp);
		errno = e;
		return -1;
	}
	/* rename() between two links of one file leaves both. */
	unlink(temp);
	return 0;
}

/* Make (or correct) both spare links: at creation and adoption. */
static void make_spares(struct cb_segments *s)
{
	for (int k = 0; k < 2; k++) {
		struct cb_seg_names *n = &s->names[k];
		struct stat ours;
		int r;

		if (fstat(name_fd(s, k), &ours) < 0)
			continue;
		r = leads_to(n->spare, &ours);
		if (r == 1)
			continue;
		if (r < 0)
			log_warnx("%s: a spare link of another file (an "
			    "earlier segment's?): replacing it", n->spare);
		if (link_fd(name_fd(s, k), n->spare, n->temp) < 0) {
			log_warn("%s: cannot make the spare link (a deleted "
			    "%s cannot be linked again)", n->spare, n->path);
			n->spare_lost = true;
		}
	}
}

static void remove_spares(const struct cb_segments *s)
{
	for (int k = 0; k < 2; k++)
		if (unlink(s->names[k].spare) < 0 && errno != ENOENT)
			log_warn("%s: removing the spare link",
			    s->names[k].spare);
}

/* A name that is missing while a spare link of ours is there. */
static bool name_recoverable(const struct cb_seg_names *n)
{
	struct stat st;

	if (lstat(n->path, &st) == 0 || errno != ENOENT)
		return false;
	/* Ours alone: anyone can put a file in the sticky /dev/shm. */
	return lstat(n->spare, &st) == 0 && S_ISREG(st.st_mode) &&
	    st.st_uid == geteuid();
}

/* Whether a state segment says its broker stopped cleanly: STOPPING is
 * its last publication.  Pairs with the release store of the state
 * word in publish() (publisher.c). */
static bool state_stopping(const void *state)
{
	const struct cb_state_hot *hot = cb_seg_region(state, CB_RS_HOT);

	return CB_STATE_FLAGS(atomic_load_explicit(&hot->state_word,
	    memory_order_acquire)) & CB_STATE_F_STOPPING;
}

/* Whether the state segment behind the spare link says its broker
 * stopped cleanly. */
static bool stopped_cleanly(const struct cb_segments *s, const char *name)
{
	struct found f;
	bool r;

	/* shm_open takes the spare name too: "/.capbroker.NAME.state". */
	inspect(s->names[0].spare + strlen(SHM_DIR), name, CB_SEG_STATE, &f);
	r = f.valid && state_stopping(f.base);
	release(&f);
	return r;
}

/*
 * Start-up: a public name removed while the last broker ran, which was
 * killed before it could link it again, is linked again from its spare
 * link, and the segments are adopted as usual.  Both removed after a
 * clean stop: by hand, to start afresh (segments.h, "Names").
 */
static void recover_names(struct cb_segments *s, const char *name)
{
	bool missing[2];

	for (int k = 0; k < 2; k++)
		missing[k] = name_recoverable(&s->names[k]);
	if (!missing[0] && !missing[1])
		return;
	if (missing[0] && missing[1] && stopped_cleanly(s, name)) {
		log_info("%s and %s were removed after the last broker "
		    "stopped cleanly: starting afresh (removing their spare "
		    "links %s, %s)", s->names[0].path, s->names[1].path,
		    s->names[0].spare, s->names[1].spare);
		remove_spares(s);
		return;
	}
	for (int k = 0; k < 2; k++) {
		if (!missing[k])
			continue;
		if (link(s->names[k].spare, s->names[k].path) < 0) {
			log_err("%s: missing; linking it again from its spare "
			    "link %s", s->names[k].path, s->names[k].spare);
			continue;
		}
		log_warnx("%s: was removed while the last broker ran, which "
		    "stopped before it could link it again; linked it again "
		    "from its spare link %s (nothing is lost)",
		    s->names[k].path, s->names[k].spare);
	}
}

static int create_one(const char *shm, enum cb_seg_kind kind,
    const char *name, uint64_t instance, mode_t mode, gid_t group,
    void **base, size_t *size, int *keep_fd, char *err, size_t errlen)
{
	struct cb_layout l;
	int fd, r;

	cb_layout_init(&l, kind);
	fd = shm_open(shm, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return refuse(err, errlen, -errno, "%s: create: %s", shm,
		    strerror(errno));
	/* After creation, so the umask cannot narrow the mode. */
	if (fchmod(fd, mode) < 0 ||
	    (group != (gid_t)-1 && fchown(fd, (uid_t)-1, group) < 0)) {
		r = refuse(err, errlen, -errno, "%s: mode/group: %s", shm,
		    strerror(errno));
		goto fail;
	}
	/* Allocate every page now: a full tmpfs fails here, not later with
	 * SIGBUS in a client. */
	r = posix_fallocate(fd, 0, (off_t)l.total_size);
	if (r != 0) {
		r = refuse(err, errlen, -r, "%s: allocate %llu bytes: %s", shm,
		    (unsigned long long)l.total_size, strerror(r));
		goto fail;
	}
	*size = l.total_size;
	*base = mmap(NULL, *size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (*base == MAP_FAILED) {
		r = refuse(err, errlen, -errno, "%s: mmap: %s", shm,
		    strerror(errno));
		goto fail;
	}
	if (keep_fd != NULL)
		*keep_fd = fd;
	else
		close(fd);
	cb_seg_header_init(*base, kind, name, instance, &l);
	return 0;
fail:
	close(fd);
	shm_unlink(shm);
	return r;
}

static int create_both(struct cb_segments *s, const char *name,
    const struct cb_seg_opts *o, char *err, size_t errlen)
{
	uint64_t instance;
	int r;

	if (getrandom(&instance, sizeof(instance), 0) != sizeof(instance))
		instance = cb_realtime_ns() ^ ((uint64_t)getpid() << 32);
	r = create_one(s->state_name, CB_SEG_STATE, name, instance,
	    o->state_mode, o->group, &s->state, &s->state_size, &s->state_fd,
	    err, errlen);
	if (r < 0)
		return r;
	r = create_one(s->slots_name, CB_SEG_SLOTS, name, instance,
	    o->slots_mode, o->group, &s->slots, &s->slots_size, &s->slots_fd,
	    err, errlen);
	if (r < 0) {
		munmap(s->state, s->state_size);
		close(s->state_fd);
		shm_unlink(s->state_name);
		s->state = NULL;
		s->state_fd = -1;
		return r;
	}
	s->slots_total = s->slots_size;
	guard_slots(s);
	make_spares(s);
	return 0;
}

/*
 * Send every queued waiter of a retired slots segment out of its wait:
 * its entry is freed and it is woken, so cb_wq_wait() finds itself gone
 * and returns, and the library reports the retirement.  Pickers sleep
 * on the pools' release_seq: moved and woken too.  The seq_cst bumps
 * pair with the waiters' seq_cst loads of the words before they sleep
 * (lib/queue.h, client/place.c): futex_wait returns at once or is
 * woken here.
 */
static void retire_waiters(void *slots)
{
	for (uint32_t e = 0; e < CB_MAX_WAITERS; e++) {
		struct cb_waiter_slot *ws = cb_slots_waiter(slots, e);
		uint64_t w = atomic_load_explicit(&ws->word,
		    memory_order_seq_cst);

		if (CB_WAITER_STATE(w) == CB_WAITER_FREE)
			continue;
		cb_wq_entry_free(slots, e, w);
		atomic_fetch_add_explicit(&ws->wake, 1, memory_order_seq_cst);
		cb_futex_wake(&ws->wake, 0x7fffffff);
	}
	for (int p = 0; p < CB_MAX_POOLS; p++) {
		struct cb_pool_slot *ps = cb_slots_pool(slots, p);

		atomic_fetch_add_explicit(&ps->release_seq, 1,
		    memory_order_seq_cst);
		cb_futex_wake(&ps->release_seq, 0x7fffffff);
	}
}

/*
 * The state word of a state segment being retired.  Through this
 * build's own layout when the segment is of our ABI and big enough for
 * it, valid or not: its clients validated it when they attached, when
 * it sat where this layout puts it, and a damaged region table (the
 * reason for --replace, often) must not keep them admitting.
 */
static struct cb_state_hot *retired_hot(struct found *f)
{
	const struct cb_seg_header *h = f->base;
	struct cb_layout l;

	if (f->valid)
		return cb_seg_region(f->base, CB_RS_HOT);
	cb_layout_init(&l, CB_SEG_STATE);
	if (h->abi_minor != CB_ABI_MINOR || f->size < l.total_size)
		return NULL;
	return (struct cb_state_hot *)((char *)f->base +
	    l.region[CB_RS_HOT].offset);
}

/*
 * Tell clients of a segment we are about to unlink that it is dead:
 * only possible when its header (and, for state, its hot region) is of
 * our ABI major.  Clients of another ABI see the heartbeat stop.
 * Clients of ours stop admitting: every admission path checks the state
 * word's RETIRED flag (client/reserve.c, client/place.c), and queued
 * waiters are sent out of the queue.
 */
static void retire(struct found *f, enum cb_seg_kind kind)
{
	struct cb_seg_header *h = f->base;
	struct cb_state_hot *hot;

	if (h == NULL || f->size < sizeof(*h) || h->abi_major != CB_ABI_MAJOR)
		return;
	/* Pairs with the acquire load of retired in the client's broker
	 * check (cb_broker_check(), client/read.c) and capdump's. */
	atomic_store_explicit(&h->retired, 1, memory_order_release);
	if (kind == CB_SEG_SLOTS) {
		if (f->valid)
			retire_waiters(f->base);
		return;
	}
	hot = retired_hot(f);
	if (hot == NULL)
		return;
	uint64_t w = atomic_load_explicit(&hot->state_word,
	    memory_order_relaxed);
	/* Pairs with the acquire load in cb_state_load(), and with the
	 * acquire load of the state word at each admission entry point
	 * (retired() in client/reserve.c and client/place.c). */
	atomic_store_explicit(&hot->state_word, cb_state_pack(
	    CB_STATE_CAPACITY(w), CB_STATE_SOURCE(w),
	    CB_STATE_FLAGS(w) | CB_STATE_F_RETIRED,
	    CB_STATE_GENERATION(w) + 1), memory_order_release);
	/* No waiter count to trust here: wake unconditionally.  Pairs with
	 * the watcher's seq_cst load of watch_seq before it sleeps
	 * (watch_sleep(), client/read.c): its futex_wait returns at once
	 * or is woken below. */
	atomic_fetch_add_explicit(&hot->watch_seq, 1, memory_order_seq_cst);
	cb_futex_wake(&hot->watch_seq, 0x7fffffff);
}

/* An adopted segment takes the mode and group this broker is
 * configured with (they may have changed since it was created). */
static void set_access(const char *shm, mode_t mode, gid_t group)
{
	int fd = shm_open(shm, O_RDWR | O_CLOEXEC, 0);

	if (fd < 0)
		return;
	if (fchmod(fd, mode) < 0 ||
	    (group != (gid_t)-1 && fchown(fd, (uid_t)-1, group) < 0))
		log_warn("%s: mode/group", shm);
	close(fd);
}

static int adopt(struct cb_segments *s, struct found *st, struct found *sl)
{
	s->state = st->base;
	s->state_size = st->size;
	s->slots = sl->base;
	s->slots_size = sl->size;
	s->slots_fd = sl->fd;
	s->state_fd = st->fd;
	s->slots_total = sl->hdr.total_size;
	s->adopted = true;
	st->base = sl->base = NULL;
	st->fd = sl->fd = -1;
	guard_slots(s);
	make_spares(s);
	/* A file grown past its size: said and repaired now, not at the
	 * first heartbeat. */
	cb_segments_check(s);
	return 0;
}

/*
 * The state segment is valid, so both segments were published and
 * clients may be attached (see segments.h); the slots segment is not
 * valid, or names another instance.  Its header is fully determined by
 * the state header (instance, name) and this build's layout (slots
 * regions must sit where it puts them): rewrite it and keep everything
 * else -- client entries, holds, queues, launches.  Only when the state
 * segment is of this exact ABI (its slots twin was laid out by this
 * layout) and the file is big enough.  Returns 1 if the slots segment
 * is valid now.
 */
static int slots_rebuild(struct found *sl, const struct found *st,
    const char *shm, const char *name)
{
	struct cb_seg_header want;
	struct cb_layout l;

	cb_layout_init(&l, CB_SEG_SLOTS);
	if (sl->base == NULL || st->hdr.abi_minor != CB_ABI_MINOR ||
	    sl->size < l.total_size)
		return 0;
	memset(&want, 0, sizeof(want));
	cb_seg_header_init(&want, CB_SEG_SLOTS, name, st->hdr.instance, &l);
	atomic_store_explicit(&want.magic, CB_MAGIC_SLOTS,
	    memory_order_relaxed);
	log_warnx("%s: %s; but the state segment is intact, so both were "
	    "published and clients may be attached: not replacing them.  "
	    "A member of its group rewrote its header: restoring the header "
	    "(client entries, holds and queues are kept)", shm, sl->why);
	restore_header(sl->base, &want);
	sl->hdr = want;
	sl->valid = cb_seg_validate(&sl->hdr, sl->size, CB_SEG_SLOTS, name,
	    sl->why, sizeof(sl->why)) == 0;
	return sl->valid;
}

/*
 * The state segment is valid, so both segments were published (see
 * segments.h), and its slots twin was laid out by this build's layout
 * when the ABI minor is ours.  A slots file shorter than that layout
 * was truncated by a member of its group while no broker ran: extend it
 * back before inspecting it, so that an intact header is adopted (and a
 * cut one rebuilt, slots_rebuild()) instead of refused.
 */
static void slots_regrow(const char *shm, const struct found *st)
{
	struct cb_layout l;
	struct stat sb;
	int fd, r;

	cb_layout_init(&l, CB_SEG_SLOTS);
	if (!st->valid || st->hdr.abi_minor != CB_ABI_MINOR)
		return;
	fd = shm_open(shm, O_RDWR | O_CLOEXEC, 0);
	if (fd < 0)
		return;
	if (fstat(fd, &sb) == 0 && (uint64_t)sb.st_size < l.total_size) {
		log_errx("%s: segment is %llu bytes, its layout says %llu: "
		    "truncated by a member of its group while no broker ran; "
		    "extending it back and adopting it.  What the cut pages "
		    "recorded (past byte %llu: client entries, pool usage, "
		    "holds, launches, queued waiters, binds) is lost; pools "
		    "and workers are kept (state segment)", shm,
		    (unsigned long long)sb.st_size,
		    (unsigned long long)l.total_size,
		    (unsigned long long)sb.st_size);
		if (ftruncate(fd, (off_t)l.total_size) < 0)
			log_err("%s: ftruncate to %llu bytes", shm,
			    (unsigned long long)l.total_size);
		else if ((r = posix_fallocate(fd, 0,
		    (off_t)l.total_size)) != 0)
			log_errx("%s: allocate %llu bytes: %s", shm,
			    (unsigned long long)l.total_size, strerror(r));
	}
	close(fd);
}

/*
 * Why a pair of segments cannot be adopted, for the refusal and for
 * the replacement's log line: never empty (a valid segment has no
 * why of its own; its twin's absence or another instance is the
 * reason).
 */
static void pair_reason(const struct cb_segments *s, const struct found *st,
    const struct found *sl, char *buf, size_t len)
{
	if (!st->exists)
		snprintf(buf, len, "%s: %s (and no client can attach without "
		    "it)", s->state_name, st->why);
	else if (!st->valid)
		snprintf(buf, len, "%s: %s", s->state_name, st->why);
	else if (!sl->valid)
		snprintf(buf, len, "%s: %s", s->slots_name, sl->why);
	else
		snprintf(buf, len, "%s and %s belong to different instances "
		    "(%016llx, %016llx)", s->state_name, s->slots_name,
		    (unsigned long long)st->hdr.instance,
		    (unsigned long long)sl->hdr.instance);
}

/*
 * The pidfile lock is per run directory; the segments are per host.  A
 * broker started with another CAPBROKER_RUNDIR must not touch segments
 * a live broker is serving, so this is checked before anything here
 * writes to them (slots_regrow, slots_rebuild, set_access, adopt's size
 * check, retire): it used to be checked after adoption, by which time
 * the refused broker had rewritten the live one's file.  A pid whose
 * liveness cannot be read counts as live (lib/proc.h); one that
 * published STOPPING has let go of them.
 */
static int served_by_live(const struct cb_segments *s, const struct found *st,
    char *err, size_t errlen)
{
	struct cb_ident id;

	if (!st->valid || cb_snapshot_ident(st->base, &id) < 0 ||
	    id.pid == (uint32_t)getpid() ||
	    cb_proc_alive((pid_t)id.pid, id.start) == 0 ||
	    state_stopping(st->base))
		return 0;
	return refuse(err, errlen, -EBUSY, "%s is served by a live broker, "
	    "pid %u (another run directory?); refusing to touch it",
	    s->state_name, id.pid);
}

int cb_segments_open(struct cb_segments *s, const char *name,
    const struct cb_seg_opts *o, char *err, size_t errlen)
{
	char why[2 * CB_ERRMSG_MAX];
	struct found st, sl;
	int r;

	memset(s, 0, sizeof(*s));
	cb_shm_name(s->state_name, sizeof(s->state_name), name, CB_SEG_STATE);
	cb_shm_name(s->slots_name, sizeof(s->slots_name), name, CB_SEG_SLOTS);
	s->slots_fd = -1;
	s->state_fd = -1;
	names_init(s);
	recover_names(s, name);
	inspect(s->state_name, name, CB_SEG_STATE, &st);
	if ((r = served_by_live(s, &st, err, errlen)) < 0) {
		release(&st);
		return r;
	}
	slots_regrow(s->slots_name, &st);
	inspect(s->slots_name, name, CB_SEG_SLOTS, &sl);

	if (st.valid && (!sl.valid || sl.hdr.instance != st.hdr.instance))
		slots_rebuild(&sl, &st, s->slots_name, name);
	if (st.valid && sl.valid && st.hdr.instance == sl.hdr.instance) {
		set_access(s->state_name, o->state_mode, o->group);
		set_access(s->slots_name, o->slots_mode, o->group);
		return adopt(s, &st, &sl);
	}
	if (st.exists || sl.exists) {
		/* The state magic alone says "finished" (segments.h). */
		int unattached = !st.exists || st.magic_zero;

		pair_reason(s, &st, &sl, why, sizeof(why));
		if (!unattached && !o->replace) {
			r = refuse(err, errlen, -EPROTO, "%s; refusing to "
			    "touch it (capbrokerd --replace retires it and "
			    "creates a new one)", why);
			release(&st);
			release(&sl);
			return r;
		}
		log_warnx("%s %s; replacing", unattached ?
		    "unfinished" : "incompatible", why);
		retire(&st, CB_SEG_STATE);
		retire(&sl, CB_SEG_SLOTS);
		release(&st);
		release(&sl);
		shm_unlink(s->state_name);
		shm_unlink(s->slots_name);
	}
	/* The spare links of what was there (if any) go with it. */
	remove_spares(s);
	return create_both(s, name, o, err, errlen);
}

void cb_segments_publish(struct cb_segments *s)
{
	cb_seg_header_publish(s->slots, CB_SEG_SLOTS);
	cb_seg_header_publish(s->state, CB_SEG_STATE);
	s->slots_total = s->slots_size;
}

/* Put the slots file back to its size, every page allocated again (a
 * hole a full tmpfs cannot fill is a SIGBUS too).  0 or -1. */
static int restore_size(struct cb_segments *s)
{
	int r;

	if (ftruncate(s->slots_fd, (off_t)s->slots_total) < 0) {
		log_err("%s: ftruncate back to %llu bytes", s->slots_name,
		    (unsigned long long)s->slots_total);
		return -1;
	}
	r = posix_fallocate(s->slots_fd, 0, (off_t)s->slots_total);
	if (r != 0)
		log_errx("%s: allocate %llu bytes: %s", s->slots_name,
		    (unsigned long long)s->slots_total, strerror(r));
	return 0;
}

/*
 * Where our own guard could not put the size back (ftruncate refused),
 * it mapped private zeros over the cut part of our mapping: the
 * sweeper would work on a copy nobody else sees.  Once the size is
 * back, map the file again over the same addresses (MAP_FIXED replaces
 * the zero pages in one step: a sweeper access sees either) and guard
 * it afresh, which clears the damage.
 */
static void remap_if_damaged(struct cb_segments *s)
{
	if (!cb_sigbus_damaged(s->slots))
		return;
	if (mmap(s->slots, (size_t)s->slots_total, PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_FIXED, s->slots_fd, 0) == MAP_FAILED)
		fatal("%s: mapping the restored segment again", s->slots_name);
	cb_sigbus_unguard(s->slots);
	guard_slots(s);
	log_errx("%s: the broker's own mapping had private zeros over the "
	    "cut pages; mapped the file again", s->slots_name);
}

static void check_size(struct cb_segments *s, uint64_t size)
{
	uint64_t want = s->slots_total;

	if (size > want) {
		log_warnx("%s: segment is %llu bytes, its header says %llu: "
		    "grown by a member of its group (new clients may have "
		    "refused it); trimming it back", s->slots_name,
		    (unsigned long long)size, (unsigned long long)want);
		if (ftruncate(s->slots_fd, (off_t)want) < 0)
			log_warn("%s: ftruncate to %llu bytes", s->slots_name,
			    (unsigned long long)want);
		return;
	}
	log_errx("%s: segment shrunk to %llu bytes, its header says %llu: "
	    "truncated by a member of its group; restoring its size.  What "
	    "the cut pages recorded (past byte %llu: client entries, pool "
	    "usage, holds, launches, queued waiters, binds) is lost and "
	    "reads as zeros; the sweeper rebuilds the counts from what is "
	    "left and restores the header within a recount.  Pools and "
	    "workers are kept (state segment)", s->slots_name,
	    (unsigned long long)size, (unsigned long long)want,
	    (unsigned long long)size);
	restore_size(s);
}

/*
 * A shrink that a process's SIGBUS guard undid before this heartbeat
 * leaves the size right and the canary gone (slots_canary()).  The cut
 * pages may still be holes: allocate them again, as a hole a full tmpfs
 * cannot fill is a SIGBUS.
 */
static void check_restored(struct cb_segments *s)
{
	log_errx("%s: truncated by a member of its group and put back to "
	    "its size since the last heartbeat (by the SIGBUS guard of a "
	    "process that touched the cut pages, %llu time%s by this "
	    "broker's).  What the cut pages recorded is lost and reads as "
	    "zeros; the sweeper rebuilds the counts from what is left and "
	    "restores the header within a recount.  Pools and workers are "
	    "kept (state segment)", s->slots_name,
	    (unsigned long long)cb_sigbus_restores(s->slots),
	    cb_sigbus_restores(s->slots) == 1 ? "" : "s");
	restore_size(s);   /* the pages allocated again */
}

static void check_slots_size(struct cb_segments *s)
{
	struct stat st;

	if (s->slots == NULL || s->slots_fd < 0 ||
	    fstat(s->slots_fd, &st) < 0)
		return;
	if ((uint64_t)st.st_size != s->slots_total)
		check_size(s, (uint64_t)st.st_size);
	else if (canary_gone(s))
		check_restored(s);
	else
		return;
	remap_if_damaged(s);
	set_canary(s);
}

/*
 * A public name that cannot be put back: critical, now and once a
 * minute after, for as long as it lasts; the caller stops feeding the
 * watchdog (segments.h, "Names").
 */
static void name_critical(struct cb_seg_names *n, const char *why)
{
	uint64_t now = cb_monotonic_ns();

	if (n->crit_ns != 0 && now - n->crit_ns < CRIT_EVERY_NS)
		return;
	n->crit_ns = now;
	log_critx("%s: cannot be linked again (%s).  Attached clients are "
	    "served on; new clients and capdump cannot attach.  The "
	    "watchdog is no longer fed: a supervisor restarts the broker, "
	    "which %s", n->path, why, n->gone ? "starts empty (nothing can "
	    "reach this segment any more)" : "links it again from its "
	    "spare link if it can");
}

/*
 * The public name does not lead to our segment (r: 0 missing, -1
 * another file): say so once, then put it back from our fd, which
 * works while any name of the file is left (the spare link).  Returns
 * 1 once the name is ours again.
 */
static int name_lost(struct cb_segments *s, int k, int r,
    const struct stat *ours)
{
	struct cb_seg_names *n = &s->names[k];
	char why[160];

	if (!n->lost) {
		n->lost = true;
		n->lost_at = cb_realtime_ns();
		log_errx("%s: %s under the running broker: new clients and "
		    "capdump cannot attach to the %s segment (attached ones "
		    "are unaffected); linking it again", n->path, r == 0 ?
		    "removed" : "replaced by another file", name_kind[k]);
	}
	n->gone = ours->st_nlink == 0;
	if (n->gone) {
		snprintf(why, sizeof(why), "no name leads to the segment any "
		    "more: its spare link %s was removed too", n->spare);
		name_critical(n, why);
		return r;
	}
	if (link_fd(name_fd(s, k), n->path, n->temp) < 0) {
		snprintf(why, sizeof(why), "link: %s", strerror(errno));
		name_critical(n, why);
		return r;
	}
	n->lost = false;
	n->crit_ns = 0;
	n->relinks++;
	n->relinked_at = cb_realtime_ns();
	log_warnx("%s: linked again to the segment in use (inode %llu): new "
	    "clients attach to it again; nothing is lost", n->path,
	    (unsigned long long)ours->st_ino);
	return 1;
}

/* The spare link does not lead to our segment: make it again, quietly
 * but for one warning per incident (nothing is wrong for clients). */
static void spare_lost(struct cb_segments *s, int k, int r)
{
	struct cb_seg_names *n = &s->names[k];

	if (link_fd(name_fd(s, k), n->spare, n->temp) == 0) {
		log_warnx("%s: the spare link of %s was %s; made it again",
		    n->spare, n->path, r == 0 ? "removed" :
		    "replaced by another file");
		n->spare_lost = false;
		return;
	}
	if (!n->spare_lost)
		log_warn("%s: the spare link of %s was %s and cannot be made "
		    "again (a removed %s cannot be linked again)", n->spare,
		    n->path, r == 0 ? "removed" : "replaced by another file",
		    n->path);
	n->spare_lost = true;
}

/* One segment's names (segments.h, "Names"): true when its public name
 * leads to it (after any repair). */
static bool check_name(struct cb_segments *s, int k)
{
	struct cb_seg_names *n = &s->names[k];
	struct stat ours;
	int r;

	if (name_fd(s, k) < 0 || fstat(name_fd(s, k), &ours) < 0)
		return true;
	r = leads_to(n->path, &ours);
	if (r != 1)
		r = name_lost(s, k, r, &ours);
	else if (n->lost) {
		/* Someone else put it back (ln, mv): fine too. */
		log_warnx("%s: leads to the segment in use again", n->path);
		n->lost = n->gone = false;
		n->crit_ns = 0;
	}
	if (n->gone)
		return false;
	/* Afresh: a repair above changed st_nlink. */
	if (fstat(name_fd(s, k), &ours) == 0) {
		r = leads_to(n->spare, &ours);
		if (r != 1)
			spare_lost(s, k, r);
		else
			n->spare_lost = false;
	}
	return !n->lost;
}

bool cb_segments_check(struct cb_segments *s)
{
	bool linked = true;

	check_slots_size(s);
	for (int k = 0; k < 2; k++)
		if (!check_name(s, k))
			linked = false;
	return linked;
}

void cb_segments_describe(const struct cb_segments *s, char *buf,
    size_t len)
{
	const struct cb_seg_names *n;
	char when[32];
	size_t at = 0;
	int w;

#define PUT(...) do {							\
	w = snprintf(buf + at, len - at, __VA_ARGS__);			\
	if (w < 0 || (size_t)w >= len - at)				\
		return;							\
	at += (size_t)w;						\
} while (0)
	if (len == 0)
		return;
	buf[0] = '\0';
	PUT("%s", s->names[0].lost || s->names[1].lost ? "UNLINKED" :
	    "linked");
	for (int k = 0; k < 2; k++) {
		n = &s->names[k];
		if (n->lost) {
			cb_utc_stamp(n->lost_at, when, sizeof(when));
			PUT("; %s %s since %s (%s; watchdog not fed)",
			    name_kind[k], n->gone ? "gone" : "unlinked", when,
			    n->gone ? "cannot be linked again" : "retrying");
		}
		if (n->relinks > 0) {
			cb_utc_stamp(n->relinked_at, when, sizeof(when));
			PUT("; %s re-linked %llu time%s, last at %s",
			    name_kind[k], (unsigned long long)n->relinks,
			    n->relinks == 1 ? "" : "s", when);
		}
		if (n->spare_lost)
			PUT("; %s has no spare link", name_kind[k]);
	}
#undef PUT
}

void cb_segments_close(struct cb_segments *s, bool remove)
{
	/* Kept for the next broker: under their names (segments.h). */
	if (!remove && s->state != NULL)
		cb_segments_check(s);
	if (s->state != NULL)
		munmap(s->state, s->state_size);
	if (s->slots != NULL) {
		cb_sigbus_unguard(s->slots);
		munmap(s->slots, s->slots_size);
	}
	s->state = s->slots = NULL;
	if (s->slots_fd >= 0)
		close(s->slots_fd);
	if (s->state_fd >= 0)
		close(s->state_fd);
	s->slots_fd = s->state_fd = -1;
	if (remove) {
		shm_unlink(s->state_name);
		shm_unlink(s->slots_name);
		remove_spares(s);
	}
}
