/*
 * libcapbroker.c - the client side of capbroker (capbroker.h).
 *
 * A handle maps the instance's two segments: the state segment
 * read-only, the slots segment read-write (read-only with
 * CB_OPEN_RDONLY).  Reading the capacity is one acquire load of the
 * state word; watching sleeps on the watch futex word with the
 * eventcount protocol of futex.h.  libc only.
 */
#include "capbroker.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "abi.h"
#include "client_internal.h"
#include "futex.h"
#include "proc.h"
#include "seqlock.h"
#include "segment.h"
#include "snapshot.h"

/* A watcher wakes at least this often to re-check on its own, so a lost
 * or never-sent wake (a read-only watcher cannot count itself as a
 * waiter; a hostile client can zero the count) costs latency, never a
 * hang. */
#define WATCH_SLICE_MS 1000
#define WATCH_SLICE_RDONLY_MS 50
/* How long cb_open waits for a segment a broker is still initialising. */
#define OPEN_INIT_WAIT_MS 200

struct cb_client {
	char name[CB_NAME_MAX + 1];
	unsigned flags;
	const void *state;             /* PROT_READ */
	size_t state_size;
	void *slots;                   /* PROT_READ|PROT_WRITE unless RDONLY */
	size_t slots_size;
	const _Atomic uint64_t *state_word;
	const _Atomic uint32_t *watch_seq;
	_Atomic uint32_t *watch_waiters; /* NULL when read-only */
	const struct cb_seg_header *state_hdr;
	char errmsg[CB_ERRMSG_MAX];
};

static __thread char open_errmsg[CB_ERRMSG_MAX];

static int set_err(char *buf, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, CB_ERRMSG_MAX, fmt, ap);
	va_end(ap);
	return err;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/*
 * Map and validate an open segment.  Returns -EAGAIN (message in err)
 * while it looks like a broker is still initialising it: too small for
 * a header, or magic still 0.
 */
static int try_map(int fd, enum cb_seg_kind kind, const char *name,
    int prot, void **base, size_t *size, char *err)
{
	struct stat st;
	int r;

	if (fstat(fd, &st) < 0)
		return set_err(err, -errno, "fstat: %s", strerror(errno));
	if ((size_t)st.st_size < sizeof(struct cb_seg_header))
		return set_err(err, -EAGAIN, "segment is %lld bytes, smaller "
		    "than its header", (long long)st.st_size);
	*size = (size_t)st.st_size;
	*base = mmap(NULL, *size, prot, MAP_SHARED, fd, 0);
	if (*base == MAP_FAILED)
		return set_err(err, -errno == -EACCES ? -EACCES : -EPROTO,
		    "cannot map %zu bytes: %s", *size, strerror(errno));
	r = cb_seg_validate(*base, *size, kind, name, err, CB_ERRMSG_MAX);
	if (r == 0)
		return 0;
	if (atomic_load_explicit(&((struct cb_seg_header *)*base)->magic,
	    memory_order_acquire) == 0)
		r = -EAGAIN;
	munmap(*base, *size);
	return r;
}

/* Open, map and validate one segment of instance name. */
static int map_segment(const char *name, enum cb_seg_kind kind,
    int writable, void **base, size_t *size, char *err)
{
	char shm[CB_SHM_NAME_MAX], why[CB_ERRMSG_MAX];
	int fd, r, prot = PROT_READ | (writable ? PROT_WRITE : 0);

	cb_shm_name(shm, sizeof(shm), name, kind);
	fd = shm_open(shm, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC, 0);
	if (fd < 0) {
		r = -errno;
		if (r == -ENOENT)
			return set_err(err, r, "no broker '%s': %s does not "
			    "exist (is capbrokerd -n %s running?)", name,
			    shm, name);
		if (r == -EACCES)
			return set_err(err, r, "%s: permission denied%s", shm,
			    writable ? " (read-only observers: "
			    "CB_OPEN_RDONLY)" : "");
		return set_err(err, r, "%s: %s", shm, strerror(-r));
	}
	for (int waited = 0;; waited += 10) {
		r = try_map(fd, kind, name, prot, base, size, why);
		if (r != -EAGAIN || waited >= OPEN_INIT_WAIT_MS)
			break;
		sleep_ms(10);
	}
	close(fd);
	if (r == -EAGAIN)
		r = -EPROTO;
	if (r < 0)
		set_err(err, r, "%s: %s", shm, why);
	return r;
}

static void unmap_all(cb_client *c)
{
	if (c->state != NULL)
		munmap((void *)c->state, c->state_size);
	if (c->slots != NULL)
		munmap(c->slots, c->slots_size);
}

int cb_open(cb_client **out, const char *name, unsigned flags)
{
	void *base;
	cb_client *c;
	int r;

	if (out == NULL)
		return -EINVAL;
	*out = NULL;
	if (name == NULL || name[0] == '\0')
		name = "default";
	if (!cb_name_valid(name))
		return set_err(open_errmsg, -EINVAL, "bad instance name '%s' "
		    "(1-%d of A-Z a-z 0-9 . _ -)", name, CB_NAME_MAX);
	if (flags & ~CB_OPEN_RDONLY)
		return set_err(open_errmsg, -EINVAL, "unknown flags %#x",
		    flags & ~CB_OPEN_RDONLY);
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return set_err(open_errmsg, -ENOMEM, "out of memory");
	snprintf(c->name, sizeof(c->name), "%s", name);
	c->flags = flags;

	r = map_segment(name, CB_SEG_STATE, 0, &base, &c->state_size,
	    open_errmsg);
	if (r < 0)
		goto fail;
	c->state = base;
	r = map_segment(name, CB_SEG_SLOTS, !(flags & CB_OPEN_RDONLY), &base,
	    &c->slots_size, open_errmsg);
	if (r < 0)
		goto fail;
	c->slots = base;

	c->state_hdr = c->state;
	if (c->state_hdr->instance !=
	    ((const struct cb_seg_header *)c->slots)->instance) {
		r = set_err(open_errmsg, -EPROTO, "state and slots segments "
		    "of '%s' belong to different broker instances (one was "
		    "replaced while opening; retry)", name);
		goto fail;
	}
	const struct cb_state_hot *hot = cb_seg_region(c->state, CB_RS_HOT);
	struct cb_slots_hot *shot = cb_seg_region(c->slots, CB_RL_HOT);

	c->state_word = &hot->state_word;
	c->watch_seq = &hot->watch_seq;
	c->watch_waiters = flags & CB_OPEN_RDONLY ? NULL :
	    &shot->watch_waiters;
	open_errmsg[0] = '\0';
	*out = c;
	return 0;
fail:
	unmap_all(c);
	free(c);
	return r;
}

const char *cb_open_errmsg(void)
{
	return open_errmsg;
}

void cb_close(cb_client *c)
{
	if (c == NULL)
		return;
	unmap_all(c);
	free(c);
}

static uint64_t load_state(const cb_client *c)
{
	/* Paired with the publisher's release store of the state word. */
	return atomic_load_explicit(c->state_word, memory_order_acquire);
}

unsigned cb_current(const cb_client *c)
{
	return CB_STATE_CAPACITY(load_state(c));
}

const uint64_t *cb_state_word(const cb_client *c)
{
	return (const uint64_t *)c->state_word;
}

int cb_source(const cb_client *c)
{
	return CB_STATE_SOURCE(load_state(c));
}

const char *cb_source_name(int source)
{
	static const char *const names[] = {
		[CB_SOURCE_OVERRIDE] = "override",
		[CB_SOURCE_REPORTED] = "reported",
		[CB_SOURCE_MIXED] = "mixed",
		[CB_SOURCE_FALLBACK] = "fallback",
	};

	if (source < 0 || source > CB_SOURCE_FALLBACK)
		return "unknown";
	return names[source];
}

const void *cb_client_state(const cb_client *c)
{
	return c->state;
}

const void *cb_client_slots(const cb_client *c)
{
	return c->slots;
}

const char *cb_name(const cb_client *c)
{
	return c->name;
}

static int timespec_before(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec < b->tv_sec ||
	    (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

/*
 * The waiter half of the eventcount (futex.h).  Sleeps in slices so a
 * missing wake (read-only watcher, hostile waiter count, dead broker)
 * bounds latency instead of hanging.
 */
static int watch_sleep(cb_client *c, uint32_t *generation, int timeout_ms)
{
	struct timespec deadline, slice;
	long slice_ms = c->watch_waiters != NULL ? WATCH_SLICE_MS :
	    WATCH_SLICE_RDONLY_MS;
	int r;

	if (timeout_ms > 0)
		deadline = cb_deadline_after_ms(timeout_ms);
	if (c->watch_waiters != NULL)
		atomic_fetch_add_explicit(c->watch_waiters, 1,
		    memory_order_seq_cst);
	for (;;) {
		/* seq_cst: see the eventcount argument in futex.h. */
		uint32_t s = atomic_load_explicit(c->watch_seq,
		    memory_order_seq_cst);
		uint64_t w = load_state(c);

		if (CB_STATE_GENERATION(w) != *generation) {
			*generation = CB_STATE_GENERATION(w);
			r = 0;
			break;
		}
		slice = cb_deadline_after_ms(slice_ms);
		if (timeout_ms > 0) {
			if (!timespec_before(&slice, &deadline)) {
				struct timespec now = cb_deadline_after_ms(0);

				if (!timespec_before(&now, &deadline)) {
					r = -ETIMEDOUT;
					break;
				}
				slice = deadline;
			}
		}
		/* Woken, EAGAIN (seq moved), EINTR or slice over: re-check. */
		cb_futex_wait(c->watch_seq, s, &slice);
	}
	if (c->watch_waiters != NULL)
		atomic_fetch_sub_explicit(c->watch_waiters, 1,
		    memory_order_seq_cst);
	return r;
}

int cb_watch(cb_client *c, uint32_t *generation, int timeout_ms)
{
	uint64_t w;

	if (c == NULL || generation == NULL || timeout_ms < -1)
		return -EINVAL;
	w = load_state(c);
	if (CB_STATE_GENERATION(w) != *generation) {
		*generation = CB_STATE_GENERATION(w);
		return 0;
	}
	if (timeout_ms == 0)
		return set_err(c->errmsg, -ETIMEDOUT, "no change since "
		    "generation %u", *generation);
	int r = watch_sleep(c, generation, timeout_ms);
	if (r < 0)
		set_err(c->errmsg, r, "no change since generation %u within "
		    "%d ms", *generation, timeout_ms);
	return r;
}

int cb_broker_check(cb_client *c)
{
	const struct cb_seg_header *h = c->state_hdr;
	uint64_t w = load_state(c), start, beat, now;
	struct cb_ident id;
	uint32_t pid;

	if (atomic_load_explicit(&h->retired, memory_order_acquire) ||
	    (CB_STATE_FLAGS(w) & CB_STATE_F_RETIRED))
		return set_err(c->errmsg, -EPROTO, "segment retired: the "
		    "broker replaced it; re-open");
	if (CB_STATE_FLAGS(w) & CB_STATE_F_STOPPING)
		return set_err(c->errmsg, -ESRCH, "broker stopped");
	/* Bounded: a broker killed inside the identity seqlock must not
	 * make this spin (seqlock.h). */
	if (cb_snapshot_ident(c->state, &id) < 0)
		return set_err(c->errmsg, -ESRCH, "broker identity unreadable "
		    "(a broker died while writing it)");
	pid = id.pid;
	start = id.start;
	if (!cb_proc_alive((pid_t)pid, start))
		return set_err(c->errmsg, -ESRCH, "broker pid %u is gone",
		    pid);
	beat = atomic_load_explicit(&h->heartbeat_ns, memory_order_relaxed);
	now = cb_monotonic_ns();
	if (now > beat && now - beat > (uint64_t)CB_STALE_MS * 1000000u)
		return set_err(c->errmsg, -ETIMEDOUT, "broker pid %u has not "
		    "heartbeaten for %llu ms", pid,
		    (unsigned long long)((now - beat) / 1000000u));
	return 0;
}

const char *cb_errmsg(const cb_client *c)
{
	return c != NULL ? c->errmsg : open_errmsg;
}

const char *cb_strerror(int err)
{
	switch (err < 0 ? -err : err) {
	case 0:
		return "success";
	case EAGAIN:
		return "over the limit; retry later";
	case ETIMEDOUT:
		return "timed out";
	case ESTALE:
		return "ticket already released, reclaimed or expired";
	case ENOENT:
		return "no such broker, segment or pool";
	case EPROTO:
		return "incompatible or corrupt segment";
	case EACCES:
		return "permission denied";
	case ESRCH:
		return "broker is not running";
	case EINVAL:
		return "invalid argument";
	case ENOMEM:
		return "out of memory";
	default:
		return strerror(err < 0 ? -err : err);
	}
}
