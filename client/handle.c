/*
 * handle.c - a handle's life: open, register with the broker, close.
 *
 * A handle maps the instance's two segments: the state segment
 * read-only, the slots segment read-write (read-only with
 * CB_OPEN_RDONLY).  Unless read-only it claims an entry in the client
 * table and says HELLO to the broker, which then watches this process
 * and undoes its holds when it dies; after a broker restart it says
 * HELLO again (rehello).  The other files of the library are listed in
 * handle.h.  libc only.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "handle.h"

#include "client_internal.h"
#include "clock.h"
#include "proc.h"
#include "queue.h"
#include "rundir.h"
#include "sigbus.h"
#include "state_word.h"

/* How long cb_open waits for a segment a broker is still initialising. */
#define OPEN_INIT_WAIT_MS 200
/* Re-registration after a broker restart (cb_handle_rehello). */
#define HELLO_BACKOFF_MIN_MS 50
#define HELLO_BACKOFF_MAX_MS 5000

/*
 * A child of fork() shares its parent's client entry and holds but is
 * another process: the broker would undo its holds when the parent
 * dies.  Handles opened before a fork refuse to reserve in the child.
 */
_Atomic unsigned cb_fork_generation;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void on_fork_child(void)
{
	atomic_fetch_add_explicit(&cb_fork_generation, 1, memory_order_relaxed);
}

static void register_atfork(void)
{
	pthread_atfork(NULL, NULL, on_fork_child);
}

static __thread char open_errmsg[CB_ERRMSG_MAX];
/* Serial numbers of handles (cb_client.serial), from 1. */
static _Atomic uint64_t handle_serials;

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
	/* A file larger than its header says (grown by a member of the
	 * slots group) is mapped for what the header says, and accepted:
	 * nothing lies past total_size, and the broker trims it back. */
	*size = cb_seg_map_size(fd, (size_t)st.st_size);
	*base = mmap(NULL, *size, prot, MAP_SHARED, fd, 0);
	if (*base == MAP_FAILED)
		return set_err(err, -errno == -EACCES ? -EACCES : -EPROTO,
		    "cannot map %zu bytes: %s", *size, strerror(errno));
	r = cb_seg_validate(*base, *size, kind, name, err, CB_ERRMSG_MAX);
	if (r == 0)
		return 0;
	/* Pairs with the release store of magic, the last step of a
	 * segment's creation, in cb_seg_header_publish() (lib/segment.c):
	 * 0 means a broker has not finished creating it yet. */
	if (atomic_load_explicit(&((struct cb_seg_header *)*base)->magic,
	    memory_order_acquire) == 0)
		r = -EAGAIN;
	munmap(*base, *size);
	return r;
}

/* Open, map and validate one segment of instance name; its fd is kept
 * in *keep_fd when that is not NULL (and the mapping succeeded). */
static int map_segment(const char *name, enum cb_seg_kind kind,
    int writable, void **base, size_t *size, int *keep_fd, char *err)
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
	if (r == 0 && keep_fd != NULL)
		*keep_fd = fd;
	else
		close(fd);
	if (r == -EAGAIN)
		r = -EPROTO;
	if (r < 0)
		set_err(err, r, "%s: %s", shm, why);
	return r;
}

/*
 * Tell the broker about our client entry, so it watches us (pidfd) and
 * undoes our holds the moment we die.  The connection stays open: its
 * closing is a death notice too.  Best effort: with no broker running
 * the entry still works, and the next broker finds it in its scan.
 */
int cb_handle_dial(const cb_client *c, const char *line)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	size_t n = strlen(line);
	int fd;

	if (cb_rundir_path(sun.sun_path, sizeof(sun.sun_path), c->name,
	    "sock") < 0)
		return -1;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
	    send(fd, line, n, MSG_NOSIGNAL) != (ssize_t)n) {
		close(fd);
		return -1;
	}
	return fd;
}

static void hello(cb_client *c)
{
	struct pollfd pfd = { .events = POLLIN };
	char line[96];
	int fd;

	snprintf(line, sizeof(line), "HELLO %u %llu\n", c->rsv.client,
	    (unsigned long long)c->rsv.owner);
	fd = cb_handle_dial(c, line);
	if (fd < 0)
		return;
	pfd.fd = fd;
	if (poll(&pfd, 1, 1000) != 1 || recv(fd, line, sizeof(line) - 1, 0) < 3 ||
	    strncmp(line, "OK", 2) != 0) {
		close(fd);
		return;
	}
	c->hello_fd = fd;
}

/*
 * Register again after a broker restart.  hello_fd is our death notice
 * to the broker that accepted it; a new broker bumps the header epoch
 * when it adopts the segments (and scans the table, so it watches us by
 * pidfd anyway), but hears of our death at once only if we say HELLO
 * to it too.  Called from the slow paths only (cb_watch's sleep,
 * cb_broker_check, entering a blocking cb_reserve or cb_wait, each
 * slice of a blocked cb_pick_worker): while we are registered in
 * the current epoch it is two relaxed loads and no syscall.  Failed
 * attempts back off exponentially, HELLO_BACKOFF_MIN_MS up to
 * HELLO_BACKOFF_MAX_MS, so a client of a broker that is down (or in
 * another run directory) does not connect() on every call.
 *
 * Threads: any thread of the handle may get here.  hello_epoch (0: not
 * registered; a broker's epoch is never 0) is read without a lock; the
 * rest -- hello_fd, hello_next_ns, hello_backoff_ms -- belongs to
 * whoever wins hello_busy, and the others skip this round.  The
 * acquire/release pair on hello_busy orders one owner's writes before
 * the next owner's reads.
 */
void cb_handle_rehello(cb_client *c)
{
	uint64_t epoch, now;

	if (c->rsv.local == NULL ||
	    c->fork_gen != atomic_load_explicit(&cb_fork_generation,
	    memory_order_relaxed))
		return;
	epoch = atomic_load_explicit(&c->state_hdr->epoch,
	    memory_order_relaxed);
	if (atomic_load_explicit(&c->hello_epoch, memory_order_relaxed) ==
	    epoch)
		return;
	/* Pairs with the release store of hello_busy at the end of the
	 * previous owner's round, below. */
	if (atomic_exchange_explicit(&c->hello_busy, 1, memory_order_acquire))
		return;
	now = cb_monotonic_ns();
	if (now >= c->hello_next_ns) {
		if (c->hello_fd >= 0) {
			close(c->hello_fd);
			c->hello_fd = -1;
		}
		hello(c);
		if (c->hello_fd >= 0) {
			c->hello_backoff_ms = HELLO_BACKOFF_MIN_MS;
			atomic_store_explicit(&c->hello_epoch, epoch,
			    memory_order_relaxed);
		} else {
			c->hello_next_ns = now +
			    (uint64_t)c->hello_backoff_ms * 1000000u;
			c->hello_backoff_ms = c->hello_backoff_ms >=
			    HELLO_BACKOFF_MAX_MS / 2 ? HELLO_BACKOFF_MAX_MS :
			    c->hello_backoff_ms * 2;
		}
	}
	/* Pairs with the acquire exchange above, in the next owner's
	 * round: it sees hello_fd, hello_next_ns and hello_backoff_ms as
	 * this round left them. */
	atomic_store_explicit(&c->hello_busy, 0, memory_order_release);
}

/* Claim a client entry and set up the reservation state. */
static int join(cb_client *c)
{
	uint64_t start = 0;
	const char *lanes;
	int r;

	uint64_t ns = atomic_load_explicit(&c->state_hdr->broker_pidns,
	    memory_order_relaxed), mine = cb_proc_pidns();

	if (ns != 0 && mine != 0 && ns != mine)
		return set_err(open_errmsg, -EXDEV, "not in the broker's PID "
		    "namespace: pids in the client table would name other "
		    "processes (CB_OPEN_RDONLY can still observe)");
	/* Unknown is not "the same": a client in another namespace whose
	 * /proc is missing or hidden would write a pid that names some
	 * other process to the broker, which then reclaims our holds when
	 * that one dies, or keeps them for as long as it lives.  A broker
	 * that could not read its own namespace (ns == 0) gives nothing to
	 * compare; such a client goes on as before. */
	if (ns != 0 && mine == 0)
		return set_err(open_errmsg, -EXDEV, "cannot read "
		    "/proc/self/ns/pid to prove this process shares the "
		    "broker's PID namespace (mount /proc; CB_OPEN_RDONLY can "
		    "still observe)");
	pthread_once(&atfork_once, register_atfork);
	/* Relaxed: only compared, as in cb_handle_check(); it changes
	 * only in a fork child's one thread, before the child's calls. */
	c->fork_gen = atomic_load_explicit(&cb_fork_generation,
	    memory_order_relaxed);
	c->rsv.state = c->state;
	c->rsv.slots = c->slots;
	c->rsv.local_size = CB_LOCAL_HOLDS;
	c->rsv.local = calloc(CB_LOCAL_HOLDS, sizeof(*c->rsv.local));
	if (c->rsv.local == NULL)
		return set_err(open_errmsg, -ENOMEM, "out of memory");
	cb_proc_start_time(getpid(), &start);
	r = cb_rsv_claim(c->slots, getpid(), start, &c->rsv.client,
	    &c->rsv.owner);
	if (r < 0) {
		free(c->rsv.local);
		c->rsv.local = NULL;
		return set_err(open_errmsg, r, "client table of '%s' is full "
		    "(%d processes attached)", c->name, CB_MAX_CLIENTS);
	}
	/* Lanes (lib/reserve.h): a hold by one writer per record.  Where
	 * membarrier(2) is missing, or CAPBROKER_LANES=0 (capbench's
	 * "before" figure, a suspected bug), holds use the shared entry. */
	lanes = getenv("CAPBROKER_LANES");
	if (lanes == NULL || strcmp(lanes, "0") != 0)
		(void)cb_rsv_lanes_init(&c->rsv, c->serial);
	c->hello_backoff_ms = HELLO_BACKOFF_MIN_MS;
	cb_handle_rehello(c);
	return 0;
}

static void unmap_all(cb_client *c)
{
	if (c->state != NULL)
		munmap((void *)c->state, c->state_size);
	if (c->slots != NULL) {
		cb_sigbus_unguard(c->slots);
		munmap(c->slots, c->slots_size);
	}
	if (c->slots_fd >= 0)
		close(c->slots_fd);
}

/*
 * Any member of the slots group can truncate the slots file under our
 * mapping (lib/sigbus.h): guard it.  With our O_RDWR fd the handler
 * puts the size back and the access retries; where it cannot (a
 * read-only handle, ftruncate refused) it maps private zeros over the
 * cut part and points admit_word at retired_word: from then on this
 * handle admits nothing (cb_handle_retired).
 */
static int guard_slots(cb_client *c)
{
	int prot = PROT_READ | (c->flags & CB_OPEN_RDONLY ? 0 : PROT_WRITE);
	int r;

	atomic_init(&c->retired_word, cb_state_pack(0, 0, CB_STATE_F_RETIRED,
	    0));
	r = cb_sigbus_guard(c->slots, c->slots_size, prot, c->slots_fd,
	    &c->admit_word, (uintptr_t)&c->retired_word);
	if (r < 0)
		return set_err(open_errmsg, r, "cannot guard the slots "
		    "segment of '%s' against SIGBUS: %s", c->name,
		    r == -ENOSPC ? "too many handles open in this process" :
		    strerror(-r));
	return 0;
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
	/* Relaxed: the serial only has to be unique (errors.c). */
	c->serial = atomic_fetch_add_explicit(&handle_serials, 1,
	    memory_order_relaxed) + 1;
	snprintf(c->name, sizeof(c->name), "%s", name);
	c->flags = flags;

	c->slots_fd = -1;
	r = map_segment(name, CB_SEG_STATE, 0, &base, &c->state_size, NULL,
	    open_errmsg);
	if (r < 0)
		goto fail;
	c->state = base;
	r = map_segment(name, CB_SEG_SLOTS, !(flags & CB_OPEN_RDONLY), &base,
	    &c->slots_size, &c->slots_fd, open_errmsg);
	/* The state segment is world-readable, the slots segment only for
	 * the broker's group: an observer outside it still reads the
	 * capacity and watches it, without pools' usage. */
	if (r == -EACCES && (flags & CB_OPEN_RDONLY))
		base = NULL;
	else if (r < 0)
		goto fail;
	c->slots = base;

	c->state_hdr = c->state;
	if (c->slots != NULL && c->state_hdr->instance !=
	    ((const struct cb_seg_header *)c->slots)->instance) {
		r = set_err(open_errmsg, -EPROTO, "state and slots segments "
		    "of '%s' belong to different broker instances (one was "
		    "replaced while opening; retry)", name);
		goto fail;
	}
	const struct cb_state_hot *hot = cb_seg_region(c->state, CB_RS_HOT);
	struct cb_slots_hot *shot = c->slots == NULL ? NULL :
	    cb_slots_hot(c->slots);

	c->state_word = &hot->state_word;
	atomic_init(&c->admit_word, (uintptr_t)c->state_word);
	if (c->slots != NULL && (r = guard_slots(c)) < 0)
		goto fail;
	c->watch_seq = &hot->watch_seq;
	c->watch_waiters = flags & CB_OPEN_RDONLY ? NULL :
	    &shot->watch_waiters;
	(void)shot;
	c->hello_fd = -1;
	if (!(flags & CB_OPEN_RDONLY)) {
		r = join(c);
		if (r < 0)
			goto fail;
	}
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
	/* In a forked child the entry and holds are the parent's.
	 * Relaxed: only compared (see join()). */
	if (c->rsv.local != NULL &&
	    c->fork_gen == atomic_load_explicit(&cb_fork_generation,
	    memory_order_relaxed)) {
		/* Places still queued (a waiter never dequeued) must not
		 * hold up the queue; the heads behind them are woken. */
		cb_wq_reclaim(c->slots, c->rsv.client, c->rsv.owner);
		cb_rsv_lanes_close(&c->rsv);
		cb_rsv_release_all(&c->rsv);
		cb_rsv_unclaim(c->slots, c->rsv.client, c->rsv.owner);
	}
	cb_rsv_lanes_forget(&c->rsv);      /* a fork child's copy */
	free(c->rsv.local);
	if (c->hello_fd >= 0)
		close(c->hello_fd);
	unmap_all(c);
	free(c);
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

/* May this handle reserve and release at all? */
int cb_handle_check(cb_client *c)
{
	if (c->rsv.local == NULL)
		return cb_handle_fail(c, -EACCES, "handle is read-only "
		    "(CB_OPEN_RDONLY)");
	if (c->fork_gen != atomic_load_explicit(&cb_fork_generation,
	    memory_order_relaxed))
		return cb_handle_fail(c, -EINVAL, "handle was opened before "
		    "fork(); open a new one in the child");
	return 0;
}

int cb_handle_enter(cb_client *c, int args_ok, const char *what)
{
	if (!args_ok)
		return cb_handle_fail(c, -EINVAL, "NULL %s", what);
	return cb_handle_check(c);
}
