/*
 * sweeper.c - client watching, launch expiry, recount and repair (see
 * sweeper.h and, for the protocol, reserve.h).
 */
#include "sweeper.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "broker.h"
#include "futex.h"
#include "log.h"
#include "proc.h"
#include "queue.h"
#include "reserve.h"
#include "segment.h"
#include "slots.h"
#include "sweep.h"
#include "testpoint.h"

/*
 * epoll tags.  A client watch's tag is TAG_WATCH | seq << WATCH_SHIFT |
 * index, seq unique to that watch (never reused: 53 bits): one
 * epoll_wait batch can hold the event of a watch that was replaced
 * while the batch was handled (the entry freed and claimed again, its
 * new owner watched at the same index), and that event must not be
 * taken for the new owner's death.
 */
#define TAG_KICK (1ull << 40)
#define TAG_TIMER (2ull << 40)
#define TAG_WATCH (1ull << 63)
#define WATCH_SHIFT 10
#define WATCH_INDEX(tag) ((uint32_t)((tag) & ((1u << WATCH_SHIFT) - 1)))
_Static_assert(CB_MAX_CLIENTS <= (1u << WATCH_SHIFT),
    "a client index fits below a watch tag's seq");
#define RECLAIM_LOG_MAX 8
/* Worker in-flight drift (sweep_placement): one line per sweep at most,
 * and then at most one per DRIFT_LOG_EVERY_NS while it goes on. */
#define DRIFT_LOG_EVERY_NS (10 * CB_NS_PER_S)

enum { REQ_HELLO = 1, REQ_CHECK = 2 };

/*
 * A request from the main thread (control.c: HELLO, a closed client
 * connection) to the sweeper thread, through a liburcu wfcqueue.  The
 * queue orders the enqueue before the dequeue with its own uatomic
 * primitives (inline asm on x86), which ThreadSanitizer cannot see; so
 * `posted` says the same hand-off in C11: stored with release by post()
 * once the fields are written, loaded with acquire by the sweeper
 * before it reads them or frees the node (a plain mov on x86).
 */
struct request {
	struct cds_wfcq_node node;
	int type;
	uint32_t index;
	uint64_t owner;
	_Atomic int posted;
};

/* The node dequeued, its fields and its memory now ours (see above). */
static struct request *request_of(struct cds_wfcq_node *node)
{
	struct request *rq = caa_container_of(node, struct request, node);

	(void)atomic_load_explicit(&rq->posted, memory_order_acquire);
	return rq;
}

static struct cb_pool_conf *conf_of(struct cb_broker *b, int pool)
{
	return cb_seg_record(b->seg.state, CB_RS_POOLS, 0, (uint32_t)pool);
}

static void unwatch(struct cb_sweeper *sw, uint32_t i)
{
	if (sw->watch[i].pidfd >= 0) {
		epoll_ctl(sw->epfd, EPOLL_CTL_DEL, sw->watch[i].pidfd, NULL);
		close(sw->watch[i].pidfd);
	}
	sw->watch[i].pidfd = -1;
	sw->watch[i].owner = 0;
	sw->watch[i].tag = 0;
}

static void reclaim(struct cb_broker *b, uint32_t i, uint64_t owner,
    const char *why)
{
	uint32_t per_pool[CB_MAX_POOLS] = { 0 };
	long n;

	if (b->sweeper.watch[i].owner == owner)
		unwatch(&b->sweeper, i);
	n = cb_rsv_reclaim(b->seg.slots, i, owner, per_pool);
	/* Its places in pool queues: every entry of client i whose owner
	 * is no longer i's (freed just now, or earlier if the entry
	 * changed hands); the heads behind them are woken (queue.h). */
	cb_wq_reclaim(b->seg.slots, i, 0);
	if (n < 0)
		return;     /* the entry changed hands: nothing of ours */
	for (int p = 0; p < CB_MAX_POOLS; p++)
		if (per_pool[p] > 0)
			atomic_fetch_add_explicit(&conf_of(b, p)->reclaimed,
			    per_pool[p], memory_order_relaxed);
	/* A client that held nothing is routine; and a flood (a hostile
	 * writer filling the table) is summarised per sweep. */
	if (n == 0 && strcmp(why, "died") == 0)
		return;
	if (b->sweeper.logged++ < RECLAIM_LOG_MAX)
		log_info("client pid %u (entry %u) %s: reclaimed %ld hold%s",
		    CB_OWNER_PID(owner), i, why, n, n == 1 ? "" : "s");
	else
		b->sweeper.unlogged++;
}

/* One line for the reclaims not logged on their own this sweep. */
static void log_summary(struct cb_sweeper *sw)
{
	if (sw->unlogged > 0)
		log_info("... and %lu more client entries reclaimed",
		    sw->unlogged);
	sw->logged = 0;
	sw->unlogged = 0;
}

static int pidfd_open(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

/*
 * Watch client entry i, owned by `owner`.  The pidfd is opened before
 * the start time is checked, so a pid reused in between is caught: the
 * pidfd then names a process whose start time differs.  Only proof of
 * death reclaims (pidfd_open's ESRCH, a start time that no longer
 * matches, a zombie); a start time we cannot read (-1: hidepid, EACCES)
 * leaves the watch to the pidfd, which is proof when it fires.
 *
 * An entry that is no longer `owner`'s is left as it is: whatever
 * watch it has is its new owner's business (its HELLO, or the scan).
 */
static void watch(struct cb_broker *b, uint32_t i, uint64_t owner)
{
	struct cb_sweeper *sw = &b->sweeper;
	struct cb_client_slot *cs = cb_slots_client(b->seg.slots, i);
	struct epoll_event ev = { .events = EPOLLIN };
	pid_t pid = (pid_t)CB_OWNER_PID(owner);
	uint64_t start;
	int fd;

	if (sw->watch[i].pidfd >= 0 && sw->watch[i].owner == owner)
		return;
	/* Pairs with the owner CAS of cb_rsv_claim() (lib/reserve.c;
	 * seq_cst, so a release): the entry is still the claim we were
	 * told of. */
	if (atomic_load_explicit(&cs->owner, memory_order_acquire) != owner)
		return;
	unwatch(sw, i);
	fd = pid > 0 ? pidfd_open(pid) : -1;
	if (fd < 0 && (pid <= 0 || errno == ESRCH || errno == EINVAL)) {
		reclaim(b, i, owner, "is gone");
		return;
	}
	if (fd < 0) {
		log_warn("pidfd_open(%d)", (int)pid);
		return;
	}
	/* Pairs with the release store of start in cb_rsv_claim(). */
	start = atomic_load_explicit(&cs->start, memory_order_acquire);
	if (start != 0 && cb_proc_alive(pid, start) == 0) {
		close(fd);
		reclaim(b, i, owner, "is gone");
		return;
	}
	ev.data.u64 = TAG_WATCH | ++sw->watch_seq << WATCH_SHIFT | i;
	if (epoll_ctl(sw->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		log_warn("epoll_ctl(pidfd)");
		close(fd);
		return;
	}
	sw->watch[i].pidfd = fd;
	sw->watch[i].owner = owner;
	sw->watch[i].tag = ev.data.u64;
}

/* A watched client's pidfd is readable once it has exited. */
static int watched_dead(struct cb_sweeper *sw, uint32_t i)
{
	struct pollfd p = { .fd = sw->watch[i].pidfd, .events = POLLIN };

	return poll(&p, 1, 0) == 1;
}

static void handle_request(struct cb_broker *b, const struct request *rq)
{
	struct cb_sweeper *sw = &b->sweeper;
	uint32_t i = rq->index;

	if (rq->type == REQ_HELLO) {
		watch(b, i, rq->owner);
		return;
	}
	/* REQ_CHECK: the connection closed.  Dead now, or later through
	 * the pidfd; a process that only closed its socket lives on.  If
	 * the entry is no longer rq->owner's, watch() leaves it alone. */
	if (sw->watch[i].pidfd >= 0 && sw->watch[i].owner == rq->owner) {
		if (watched_dead(sw, i))
			reclaim(b, i, rq->owner, "died");
	} else {
		watch(b, i, rq->owner);
	}
}

/*
 * A pidfd event.  It is the death of the process we watch at that
 * index only if its tag is the watch's own (not one the batch carried
 * over from a watch replaced since) and the pidfd is readable now.
 */
static void handle_exit(struct cb_broker *b, uint64_t tag)
{
	struct cb_sweeper *sw = &b->sweeper;
	uint32_t i = WATCH_INDEX(tag);

	if (i >= CB_MAX_CLIENTS || sw->watch[i].pidfd < 0 ||
	    sw->watch[i].tag != tag || !watched_dead(sw, i))
		return;
	reclaim(b, i, sw->watch[i].owner, "died");
}

static void drain_requests(struct cb_broker *b)
{
	struct cb_sweeper *sw = &b->sweeper;
	struct cds_wfcq_node *node;
	uint64_t v;

	if (read(sw->kick_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_warn("sweeper: eventfd read");
	while ((node = cds_wfcq_dequeue_blocking(&sw->head, &sw->tail)) !=
	    NULL) {
		struct request *rq = request_of(node);

		handle_request(b, rq);
		free(rq);
	}
	/* Tests hold the sweeper here, between batches, to line up the
	 * events of the next one (t_sweeper_reuse.sh). */
	CB_TESTPOINT("sweeper:drained");
}

/*
 * Every entry: watch owned ones we do not watch yet (clients that
 * attached while no broker ran, or whose HELLO failed), drop watches on
 * entries their client freed, scrub free ones.
 */
static void scan_clients(struct cb_broker *b)
{
	struct cb_sweeper *sw = &b->sweeper;
	uint32_t scrubbed = 0;
	pid_t self = getpid();

	for (uint32_t i = 0; i < CB_MAX_CLIENTS; i++) {
		struct cb_client_slot *cs = cb_slots_client(b->seg.slots, i);
		/* Pairs with the owner CASes of cb_rsv_claim() and
		 * cb_rsv_unclaim() (lib/reserve.c; seq_cst, so releases). */
		uint64_t o = atomic_load_explicit(&cs->owner,
		    memory_order_acquire);

		if (CB_OWNER_PID(o) == 0) {
			if (sw->watch[i].pidfd >= 0)
				unwatch(sw, i);
			scrubbed += (uint32_t)cb_rsv_scrub(b->seg.slots, i, o,
			    self);
		} else if (sw->watch[i].pidfd < 0 || sw->watch[i].owner != o) {
			watch(b, i, o);
		}
	}
	if (scrubbed > 0)
		log_warnx_rl(&b->sweeper.rl.scrub,
		    "repaired %u free client entr%s holding garbage",
		    scrubbed, scrubbed == 1 ? "y" : "ies");
	/* Lanes named by no live client (lib/sweep.h). */
	scrubbed = 0;
	for (uint32_t l = 0; l < CB_MAX_LANES; l++)
		scrubbed += (uint32_t)cb_rsv_lane_scrub(b->seg.slots, l, self);
	if (scrubbed > 0)
		log_warnx_rl(&b->sweeper.rl.lanes,
		    "freed %u lane%s of no live client (their records "
		    "are settled by the recount)", scrubbed,
		    scrubbed == 1 ? "" : "s");
}

static void recount_pool(struct cb_broker *b, int p, const char *name)
{
	struct cb_pool_conf *conf = conf_of(b, p);
	int64_t hd = 0, ld = 0;
	int r = -EAGAIN;

	for (int attempt = 0; attempt < 5 && r == -EAGAIN; attempt++)
		r = cb_rsv_recount(b->seg.slots, p, b->sweeper.scratch, &hd,
		    &ld);
	if (r != 1)
		return;
	atomic_fetch_add_explicit(&conf->repaired, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&conf->drift, (uint64_t)(llabs(hd) +
	    llabs(ld)), memory_order_relaxed);
	log_warnx_rl(&b->sweeper.rl.drift[p],
	    "pool %s: counter drift repaired (held %+lld, launching "
	    "%+lld against the records)", name, (long long)hd, (long long)ld);
	if (hd > 0 || ld > 0)
		cb_rsv_wake(b->seg.slots, p);
}

/* The slots header is the clients' to read, so anyone may scribble on
 * it; the creator fields never change, so restore them. */
static void check_header(struct cb_broker *b)
{
	struct cb_seg_header *h = b->seg.slots;
	const struct cb_seg_header *want = &b->sweeper.slots_header;
	size_t fixed = offsetof(struct cb_seg_header, ident_seq);

	/* Relaxed, both: only compared.  want is this thread's private
	 * copy, and nothing is read on the strength of h's magic: a
	 * mismatch is repaired and republished with release below. */
	if (memcmp((char *)h + 8, (const char *)want + 8, fixed - 8) == 0 &&
	    atomic_load_explicit(&h->magic, memory_order_relaxed) ==
	    atomic_load_explicit(&want->magic, memory_order_relaxed))
		return;
	log_warnx_rl(&b->sweeper.rl.header,
	    "slots segment header was overwritten; restored");
	atomic_store_explicit(&h->magic, 0, memory_order_relaxed);
	memcpy((char *)h + 8, (const char *)want + 8, fixed - 8);
	cb_seg_header_publish(h, CB_SEG_SLOTS);
}

static void expire(struct cb_broker *b, const struct cb_pool_def *def,
    uint64_t now)
{
	uint32_t per_pool[CB_MAX_POOLS] = { 0 }, window[CB_MAX_POOLS];
	uint64_t earliest[CB_MAX_POOLS] = { 0 };
	uint32_t fixed;

	for (int p = 0; p < CB_MAX_POOLS; p++)
		window[p] = !(def[p].flags & CB_POOL_F_ACTIVE) ? 0 :
		    def[p].window_ms ? def[p].window_ms : CB_DEFAULT_WINDOW_MS;
	fixed = cb_rsv_settle(b->seg.slots, now, window, b->sweeper.claiming);
	if (fixed > 0)
		log_warnx_rl(&b->sweeper.rl.launches,
		    "repaired %u launch entr%s holding garbage", fixed,
		    fixed == 1 ? "y" : "ies");
	cb_rsv_expire(b->seg.slots, now, per_pool, earliest);
	for (int p = 0; p < CB_MAX_POOLS; p++) {
		struct cb_pool_conf *conf = conf_of(b, p);

		/* Stored only when it changed: the word shares its line
		 * with the limit every admission loads, and a store every
		 * sweep would take that line from every client 50 times a
		 * second.  This thread is its only writer. */
		if (atomic_load_explicit(&conf->earliest_deadline_ns,
		    memory_order_relaxed) != earliest[p])
			atomic_store_explicit(&conf->earliest_deadline_ns,
			    earliest[p], memory_order_relaxed);
		if (per_pool[p] == 0)
			continue;
		atomic_fetch_add_explicit(&conf->expired, per_pool[p],
		    memory_order_relaxed);
		cb_rsv_wake(b->seg.slots, p);
	}
}

/* Global pools' hold aging (lib/age.h): every sweep, so that a word
 * lags its epoch by at most a sweep (admissions refused meanwhile). */
static void age_pools(struct cb_broker *b, const struct cb_pool_def *def,
    uint64_t now)
{
	for (int p = 0; p < CB_MAX_POOLS; p++) {
		uint32_t hold_max = 0;
		int r;

		if ((def[p].flags & CB_POOL_F_ACTIVE) &&
		    def[p].kind == CB_LIMIT_GLOBAL)
			hold_max = cb_hold_max_s(&def[p]);
		r = cb_rsv_age(b->seg.slots, &conf_of(b, p)->age, p,
		    hold_max, now);
		if (r & CB_AGE_RESET)
			log_warnx_rl(&b->sweeper.rl.age[p],
			    "pool %s: hold ages held an epoch ahead of "
			    "the clock (written by a member?): every hold "
			    "counted again", def[p].name);
		if (r & CB_AGE_MOVED)
			cb_rsv_wake(b->seg.slots, p);
	}
}

/* Waiter entries (queue.h): dead, stuck or hostile ones freed, queue
 * hints corrected, the heads behind them woken. */
static void sweep_queues(struct cb_broker *b, const struct cb_pool_def *def)
{
	uint32_t active[CB_MAX_POOLS], freed, hints;

	for (int p = 0; p < CB_MAX_POOLS; p++)
		active[p] = (def[p].flags & CB_POOL_F_ACTIVE) ? 1 : 0;
	freed = cb_wq_sweep(b->seg.slots, active, b->sweeper.wq, &hints);
	if (freed > 0 || hints > 0)
		log_warnx_rl(&b->sweeper.rl.queues,
		    "pool queues: freed %u dead or stuck waiter "
		    "entr%s, corrected %u queue hint%s", freed,
		    freed == 1 ? "y" : "ies", hints, hints == 1 ? "" : "s");
}

/*
 * Say what a worker recount repaired: one line for all the slots, not
 * one per slot (a member writing the workers region would otherwise get
 * up to CB_MAX_WORKERS lines every sweep), and while it goes on at most
 * one line every DRIFT_LOG_EVERY_NS, counting what the quiet sweeps
 * repaired.  Sweeper thread only.
 */
static void log_worker_drift(const int64_t *drift)
{
	static uint64_t quiet_until, slots, units, sweeps;
	static uint32_t first;
	static int64_t first_drift;
	uint64_t now;
	uint32_t n = 0;

	for (uint32_t w = 0; w < CB_MAX_WORKERS; w++) {
		if (drift[w] == 0)
			continue;
		if (slots == 0 && n == 0) {
			first = w;
			first_drift = drift[w];
		}
		n++;
		units += (uint64_t)llabs(drift[w]);
	}
	if (n == 0)
		return;
	slots += n;
	sweeps++;
	now = cb_monotonic_ns();
	if (now < quiet_until)
		return;
	log_warnx("placement: in-flight drift repaired against the binds: "
	    "%llu worker slot%s, %llu unit%s in %llu sweep%s (slot %u "
	    "first, %+lld)%s", (unsigned long long)slots, slots == 1 ? "" :
	    "s", (unsigned long long)units, units == 1 ? "" : "s",
	    (unsigned long long)sweeps, sweeps == 1 ? "" : "s", first,
	    (long long)first_drift, quiet_until != 0 ?
	    "; more lines like it are held back 10 s" : "");
	quiet_until = now + DRIFT_LOG_EVERY_NS;
	slots = units = sweeps = 0;
}

/*
 * Placement (place.h): free garbage bind entries, then bring every
 * worker's in-flight counter back in line with the binds table.
 */
static void sweep_placement(struct cb_broker *b,
    const struct cb_pool_def *def, uint64_t pending)
{
	int64_t *drift = b->sweeper.worker_drift;
	uint64_t active = 0;
	uint32_t fixed;
	int r = -EAGAIN;

	for (int p = 0; p < CB_MAX_POOLS; p++)
		if (def[p].flags & CB_POOL_F_ACTIVE)
			active |= 1ull << p;
	/* A deleted pool's binds are its holders' to release (pools.h):
	 * freed here, the release would miss them and its hold stay
	 * counted.  Its tombstone waits for them instead. */
	fixed = cb_place_settle(b->seg.slots, active | pending);
	if (fixed > 0)
		log_warnx_rl(&b->sweeper.rl.binds,
		    "placement: freed %u bind entr%s holding garbage",
		    fixed, fixed == 1 ? "y" : "ies");
	for (int attempt = 0; attempt < 5 && r == -EAGAIN; attempt++)
		r = cb_place_recount(b->seg.slots, b->sweeper.scratch, drift);
	if (r <= 0)
		return;
	log_worker_drift(drift);
	/* Units given back: pickers waiting for room may fit now. */
	for (int p = 0; p < CB_MAX_POOLS; p++)
		if (active & (1ull << p))
			cb_rsv_wake(b->seg.slots, p);
}

/*
 * Deleted pools still to be proved idle (pools.h): their counters
 * recounted like any pool's (the launch entries that settle freed as
 * a pool's that does not exist leave U to correct), then the proof;
 * a pool proved idle frees its index.  In the pinned section: the
 * tombstone cannot turn into a new pool under the proof.
 */
static void sweep_deleted(struct cb_broker *b, const struct cb_pool_def *def,
    uint64_t pending, uint64_t *idle)
{
	*idle = 0;
	for (int p = 1; p < CB_MAX_POOLS; p++) {
		if (!(pending & (1ull << p)))
			continue;
		recount_pool(b, p, def[p].name);
		if (cb_rsv_pool_idle(b->seg.slots, p, b->sweeper.scratch))
			*idle |= 1ull << p;
	}
}

static void reap_deleted(struct cb_broker *b, const struct cb_pool_def *def,
    uint64_t idle)
{
	for (int p = 1; p < CB_MAX_POOLS; p++)
		if ((idle & (1ull << p)) && cb_pools_reap(&b->pools, p))
			log_info("pool %s (index %d): deleted, and nothing "
			    "holds it any more; the index is free", def[p].name,
			    p);
}

/*
 * Launch, waiter and bind entries that name a pool not in `def` are
 * garbage (nothing could have admitted them) and are freed.  That is
 * only true of a `def` no older than the entries: a pool created after
 * the copy, and an entry for it claimed before the entry is read, would
 * be freed under its live client (a bind so freed turned the client's
 * release into -ESTALE and left its pool hold counted).  So `def` is
 * pinned while those passes run: a POOL SET, the only thing that
 * activates a pool, waits for the unpin.  An entry read meanwhile that
 * names pool p was written by a client that had read p from the
 * published state segment, so p was active before the pin; the
 * seq_cst (hence acquire) loads of the entries carry that order to our
 * reading of `def`.  A deleted pool (POOL DEL, pools.h) is not in
 * `def`: its launch and waiter entries are freed on purpose (a forced
 * deletion sends them out; their tickets and handles get -ESTALE, the
 * waiters -ENOENT), its binds are kept for their holders (`pending`),
 * and its index is not reused before its tombstone is proved idle.
 */
static void sweep(struct cb_broker *b)
{
	struct cb_pool_def def[CB_MAX_POOLS];
	uint32_t observed[CB_MAX_POOLS];
	uint64_t v, pending, idle, now;

	if (read(b->sweeper.timer_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return;
	log_summary(&b->sweeper);
	cb_pools_pin(&b->pools, def, observed);
	now = cb_monotonic_ns();
	expire(b, def, now);
	age_pools(b, def, now);
	cb_pools_unpin(&b->pools);
	if (++b->sweeper.sweeps % CB_RECOUNT_SWEEPS != 0)
		return;
	scan_clients(b);
	/* Before the pin: a reap takes the lock for writing, after it. */
	pending = cb_pools_pending(&b->pools);
	cb_pools_pin(&b->pools, def, observed);
	sweep_queues(b, def);
	for (int p = 0; p < CB_MAX_POOLS; p++)
		if (def[p].flags & CB_POOL_F_ACTIVE)
			recount_pool(b, p, def[p].name);
	sweep_placement(b, def, pending);
	sweep_deleted(b, def, pending, &idle);
	cb_pools_unpin(&b->pools);
	reap_deleted(b, def, idle);
	check_header(b);
}

static void *sweeper_main(void *arg)
{
	struct cb_broker *b = arg;
	struct cb_sweeper *sw = &b->sweeper;
	struct epoll_event ev[64];
	int n;

	scan_clients(b);   /* adopt the clients a previous broker had */
	while (!sw->stop) {
		n = epoll_wait(sw->epfd, ev, 64, -1);
		for (int i = 0; i < n; i++) {
			uint64_t tag = ev[i].data.u64;

			if (tag == TAG_KICK)
				drain_requests(b);
			else if (tag == TAG_TIMER)
				sweep(b);
			else if (tag & TAG_WATCH)
				handle_exit(b, tag);
		}
	}
	return NULL;
}

static int add_fd(int epfd, int fd, uint64_t tag)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = tag };

	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
}

int cb_sweeper_start(struct cb_broker *b)
{
	struct cb_sweeper *sw = &b->sweeper;
	struct itimerspec its = {
		.it_interval = { 0, CB_SWEEP_MS * 1000000L },
		.it_value = { 0, CB_SWEEP_MS * 1000000L },
	};

	for (int i = 0; i < CB_MAX_CLIENTS; i++)
		sw->watch[i].pidfd = -1;
	sw->wq = calloc(1, sizeof(*sw->wq));
	sw->scratch = calloc(1, sizeof(*sw->scratch));
	if (sw->wq == NULL || sw->scratch == NULL)
		return -ENOMEM;
	memcpy(&sw->slots_header, b->seg.slots, sizeof(sw->slots_header));
	cds_wfcq_init(&sw->head, &sw->tail);
	sw->epfd = epoll_create1(EPOLL_CLOEXEC);
	sw->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	sw->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC |
	    TFD_NONBLOCK);
	if (sw->epfd < 0 || sw->kick_fd < 0 || sw->timer_fd < 0 ||
	    timerfd_settime(sw->timer_fd, 0, &its, NULL) < 0 ||
	    add_fd(sw->epfd, sw->kick_fd, TAG_KICK) < 0 ||
	    add_fd(sw->epfd, sw->timer_fd, TAG_TIMER) < 0)
		return -errno;
	if (pthread_create(&sw->thread, NULL, sweeper_main, b) != 0)
		return -EAGAIN;
	sw->running = true;
	return 0;
}

static void post(struct cb_broker *b, int type, uint32_t index,
    uint64_t owner)
{
	struct cb_sweeper *sw = &b->sweeper;
	struct request *rq = malloc(sizeof(*rq));
	uint64_t one = 1;

	if (rq == NULL || index >= CB_MAX_CLIENTS) {
		free(rq);
		return;     /* the periodic scan catches it instead */
	}
	rq->type = type;
	rq->index = index;
	rq->owner = owner;
	/* Pairs with the sweeper's acquire load in request_of(). */
	atomic_store_explicit(&rq->posted, 1, memory_order_release);
	cds_wfcq_node_init(&rq->node);
	cds_wfcq_enqueue(&sw->head, &sw->tail, &rq->node);
	if (write(sw->kick_fd, &one, sizeof(one)) < 0)
		log_warn("sweeper: eventfd write");
}

void cb_sweeper_hello(struct cb_broker *b, uint32_t index, uint64_t owner)
{
	post(b, REQ_HELLO, index, owner);
}

void cb_sweeper_check(struct cb_broker *b, uint32_t index, uint64_t owner)
{
	post(b, REQ_CHECK, index, owner);
}

void cb_sweeper_stop(struct cb_broker *b)
{
	struct cb_sweeper *sw = &b->sweeper;
	struct cds_wfcq_node *node;
	uint64_t one = 1;

	if (sw->running) {
		sw->stop = true;
		if (write(sw->kick_fd, &one, sizeof(one)) < 0)
			log_warn("sweeper: eventfd write");
		pthread_join(sw->thread, NULL);
		sw->running = false;
	}
	while ((node = cds_wfcq_dequeue_blocking(&sw->head, &sw->tail)) !=
	    NULL)
		free(request_of(node));
	for (int i = 0; i < CB_MAX_CLIENTS; i++)
		if (sw->watch[i].pidfd >= 0)
			close(sw->watch[i].pidfd);
	close(sw->epfd);
	close(sw->kick_fd);
	close(sw->timer_fd);
	free(sw->wq);
	sw->wq = NULL;
	free(sw->scratch);
	sw->scratch = NULL;
}
