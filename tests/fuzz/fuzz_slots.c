/*
 * fuzz_slots.c - libFuzzer harness for the broker's handling of a
 * hostile slots segment (lib/reserve.c, lib/segment.c), and for
 * validating a hostile state-segment header (lib/segment.c) and reading
 * through it (lib/snapshot.c).
 *
 * Every client can write every byte of the slots segment, so the
 * broker's sweeper must survive any content and still keep its
 * promises.  Each input:
 *
 *   1. starts from a plausible pair of segments built the broker's way
 *      (cb_layout_init, cb_seg_header_init, cb_seg_header_publish):
 *      pools 0, 1, 2 (and, if the input says so, one more) active in
 *      the state segment; three owned client entries with holds, one of
 *      them with an open death window; live, expired and stuck
 *      (CLAIMING) launch entries; counters that match the records;
 *   2. optionally fills the client, pool and launch regions (and the
 *      slots header, and the state header) with the input's fill bytes
 *      repeated, so that a small input reaches every entry;
 *   3. applies the input's patches: 8- or 4-byte writes at a chosen
 *      record and offset of the slots header, a client, pool or launch
 *      entry, or the state header;
 *   4. runs what the broker runs on it and checks the result.
 *
 * Input layout:
 *
 *   byte 0     flags: 0x01 fill, 0x02 fill the slots header too,
 *              0x04 fill the state header too, 0x08 validate the state
 *              segment without a name
 *   bytes 1-4  now, as a signed offset in microseconds from NOW0
 *   byte 5     windows: bits 0-2 pool 1, bits 3-5 pool 2 (WINDOWS[]),
 *              bit 6 the extra pool is active
 *   byte 6     the extra pool's index (3..63)
 *   byte 7     bits 0-2 the extra pool's window, bits 3-5 pool 0's
 *   then       if flags & 0x01: one length byte N and N fill bytes
 *   then       patches of 12 bytes: target (low 7 bits mod 7: 0 slots
 *              header, 1 client, 2 pool slot, 3 launch entry, 4 state
 *              header, 5 worker slot, 6 bind entry; bit 7: write 4
 *              bytes, else 8), record index
 *              (16 bits LE, taken modulo the table size), offset / 4
 *              (taken modulo the record size), 8 value bytes (LE)
 *
 * What is checked (abort on violation):
 *
 *   - cb_seg_validate never crashes or reads out of bounds; it accepts
 *     a header nobody touched, and explains any refusal in a
 *     NUL-terminated message;
 *   - a state segment that validates can be read by every snapshot
 *     reader without leaving the buffer;
 *   - after cb_rsv_settle: no entry in the impossible state 3, no
 *     non-free entry of an inactive pool, no LIVE deadline later than
 *     now + window + 1 s; after the second sweep no CLAIMING entry;
 *   - after cb_rsv_expire(t): no LIVE deadline <= t, per-pool counts
 *     add up to the result, `earliest` is each pool's earliest
 *     remaining deadline, each pool's launching count dropped by
 *     exactly what expired (never below zero) and held did not move;
 *   - after cb_rsv_age (every pool local here): no usage word marked as
 *     a global pool's (lib/age.h), holds unchanged, an unmarked word
 *     untouched;
 *   - cb_rsv_recount on each active pool succeeds (one thread: the
 *     snapshot is always consistent) and leaves held and launching
 *     within [records, records + open windows] (reserve.h), changed
 *     only if they were outside, with the drift it reports; a second
 *     recount finds nothing to do unless the records overflow 32 bits
 *     (then the counter saturates at 0xffffffff);
 *   - the scrub of free client entries (cb_rsv_scrub) leaves each one
 *     free with no holds, admissions or open window, leaves owned ones
 *     and every pool counter alone, and the recount still has nothing
 *     to do;
 *   - a client can still claim an entry (or gets -ENOSPC only when all
 *     are owned), and a hold and a launch it takes release cleanly;
 *   - cb_rsv_reclaim with a wrong owner word changes nothing; with the
 *     right one it frees the entry (pid 0, same generation, no holds,
 *     no open window, start 0) and subtracts exactly what it reports;
 *   - once every client is reclaimed, recount brings held to 0 and
 *     launching to the launch entries left; once those age out, every
 *     active pool's usage is 0 and the launch table is free;
 *   - cb_rsv_claim then succeeds at the first entry it probes.
 *
 * And for placement (lib/place.h), whose tables the template seeds with
 * two clients' binds, a bind of a free client entry and a worker
 * counter that over-counts:
 *
 *   - after cb_place_settle: no bind entry in an impossible state, of
 *     an inactive pool, or in a free client entry's partition (a
 *     blocked picker's record, PICKING, is kept like a bind);
 *   - cb_place_recount leaves every worker counter within [binds,
 *     binds + open windows], changed only if it was outside, with the
 *     drift it reports, and every pool's blocked-pickers count, and the
 *     segment's, within [records, records + open windows]; a second
 *     recount has nothing to do;
 *   - the client on the hostile segment picks a published worker,
 *     releases once, and gets -ESTALE the second time;
 *   - once every client is reclaimed the binds table is free and a
 *     recount brings every worker counter and pickers count to 0.
 *
 * And for fair waiting (lib/queue.h), whose table the template seeds
 * with live waiters of two clients, one of a free client entry and a
 * stuck claim, and whose entries the fill covers and patches reach
 * (flags 0x10: a slots-header patch goes to waiter entry `index`):
 *
 *   - after three cb_wq_sweep: no entry in an impossible state, of an
 *     inactive pool, CLAIMING, or WAITING without a live owner; a
 *     fourth finds every pool's `queued` hint equal to its entries;
 *   - cb_wq_scan counts exactly the live waiters of each pool, and
 *     every live waiter's cb_wq_position is its rank in (priority
 *     desc, ticket asc, index asc) order;
 *   - a client on the hostile table enqueues (or gets -ENOSPC only
 *     when every entry is taken), reads the position its rank says,
 *     leaves once, and gets -ESTALE the second time;
 *   - once every client is reclaimed, two sweeps free every entry
 *     and two more bring every hint to 0.
 */
#include <errno.h>
#include <sched.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "abi.h"
#include "futex.h"
#include "place.h"
#include "pools.h"
#include "proc.h"
#include "queue.h"
#include "reserve.h"
#include "segment.h"
#include "seqlock.h"
#include "slots.h"
#include "snapshot.h"
#include "state_word.h"
#include "sweep.h"

#define NAME "fuzz"
#define INSTANCE 0x0f0220000000002ull
#define NOW0 10000000000000000ull     /* ns: ~116 days of uptime */
#define SWEEP_NS 20000000ull          /* one sweep later (CB_SWEEP_MS) */
#define SLACK_NS 1000000000ull        /* reserve.c: DEADLINE_SLACK_NS */
#define CTL_LEN 8
#define PATCH_LEN 12
#define LOCAL_SIZE 64u
#define CLIENT_PID 4242
#define CLIENT_START 99ull

#define F_FILL 0x01u
#define F_FILL_SLOTS_HEADER 0x02u
#define F_FILL_STATE_HEADER 0x04u
#define F_STATE_NONAME 0x08u
#define F_PATCH_WAITERS 0x10u

#define FUZZ_NAME "fuzz_slots"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Pool windows an input can choose, ms (0: the broker's default). */
static const uint32_t WINDOWS[8] = {
	0, 1, 20, 100, 2000, 60000, 3600000, 86400000,
};

static void *state;          /* pristine, pools defined per input */
static void *state_fz;       /* same body, header fuzzed */
static void *slots;          /* the segment under test */
static void *slots_template; /* the plausible starting point */
static size_t state_size, slots_size;
static struct cb_seg_header state_header;   /* valid state header */
static struct cb_sweep_scratch scratch;     /* the recounts' (sweep.h) */
static _Atomic uint64_t local_holds[LOCAL_SIZE];

/*
 * lib/futex.c is replaced by these: the clocks are the input's (so a
 * run is deterministic and a client's launch deadline sits on the same
 * timeline as the sweeps), and a wake is counted instead of entering
 * the kernel (a hostile table can ask for 65536 wakes per sweep, which
 * would make the harness measure futex(2)).
 */
static uint64_t fake_now;
static uint64_t wakes;

uint64_t cb_monotonic_ns(void)
{
	return fake_now;
}

/* The launches' deadline clock (lib/clock.h): the same timeline. */
uint64_t cb_monotonic_coarse_margin_ns(void)
{
	return 10000000;
}

uint64_t cb_monotonic_coarse_ceil_ns(void)
{
	return fake_now + cb_monotonic_coarse_margin_ns();
}

int cb_futex_wake(_Atomic uint32_t *word, int n)
{
	(void)word;
	(void)n;
	wakes++;
	return 0;
}

/*
 * And sched_yield(2) returns at once.  A fuzzed state header can point
 * a seqlock reader at an odd word (a writer that "died mid-write"); the
 * reader then spins out CB_SEQLOCK_TRIES, yielding the CPU each time,
 * which on a loaded machine costs seconds per input and nothing else.
 */
int sched_yield(void)
{
	return 0;
}

/* lib/queue.c's waiting loop is never entered here (it would sleep):
 * these only satisfy the linker.  No process is ever gone. */
int cb_futex_wait(const _Atomic uint32_t *word, uint32_t expected,
    const struct timespec *deadline)
{
	(void)word;
	(void)expected;
	(void)deadline;
	return -ETIMEDOUT;
}

struct timespec cb_deadline_after_ms(long ms)
{
	struct timespec ts = { (time_t)(fake_now / 1000000000u + ms / 1000),
	    (long)(fake_now % 1000000000u) };

	return ts;
}

int cb_proc_alive(pid_t pid, uint64_t start)
{
	(void)pid;
	(void)start;
	return 1;
}

/* The sweeper's window array (ms per pool, 0 = inactive), apart from
 * everything else so that ASan's redzones catch an index past it. */
static uint32_t sweep_window[CB_MAX_POOLS];

/* Scratch for the snapshot readers. */
static struct cb_worker_rec workers_out[CB_MAX_WORKERS];
static struct cb_event_rec events_out[CB_EVENT_RING];

struct input {
	unsigned flags;
	uint64_t now;
	uint32_t *window;                /* the sweeper's array: 0 inactive */
	uint32_t def_window[CB_MAX_POOLS];
	int extra;
	int extra_active;
	const uint8_t *fill;
	size_t fill_len;
	const uint8_t *patch;
	size_t patch_len;
};

/* ---- shared-memory accessors (this build's layout) ------------------ */

/* Records of the segment under test, through lib/slots.h (this
 * build's layout, as the broker locates them). */
static struct cb_client_slot *cslot(uint32_t i)
{
	return cb_slots_client(slots, i);
}

static struct cb_pool_slot *pslot(int p)
{
	return cb_slots_pool(slots, p);
}

static struct cb_launch_slot *lslot(uint32_t e)
{
	return cb_slots_launch(slots, e);
}

static uint64_t usage(int p)
{
	return atomic_load(&pslot(p)->usage);
}

static uint64_t lword(uint32_t e)
{
	return atomic_load(&lslot(e)->word);
}

static uint64_t ldeadline(uint32_t e)
{
	return atomic_load(&lslot(e)->deadline_ns);
}

static uint64_t le64(const uint8_t *b, size_t n)
{
	uint64_t v = 0;

	for (size_t i = 0; i < n && i < 8; i++)
		v |= (uint64_t)b[i] << (8 * i);
	return v;
}

/* ---- the starting point --------------------------------------------- */

static void *seg_new(enum cb_seg_kind kind, size_t *size)
{
	struct cb_layout l;
	char err[CB_ERRMSG_MAX];
	void *base;

	cb_layout_init(&l, kind);
	*size = l.total_size;
	/* Exactly the segment's size: ASan flags any access past it. */
	base = aligned_alloc(4096, l.total_size);
	CHECK(base != NULL);
	memset(base, 0, l.total_size);
	cb_seg_header_init(base, kind, NAME, INSTANCE, &l);
	cb_seg_header_publish(base, kind);
	CHECK(cb_seg_validate(base, l.total_size, kind, NAME, err,
	    sizeof(err)) == 0);
	return base;
}

/* The publisher's side of pool p: definition, limit, observed.  Limits
 * are even, so no pool record starts with an odd (seqlock-busy) word
 * whichever region a fuzzed state header points there. */
static void pool_define(void *st, int p, int active, uint32_t kind,
    uint32_t value, uint32_t limit, uint32_t window_ms)
{
	struct cb_pool_conf *c = cb_seg_record(st, CB_RS_POOLS, 0,
	    (uint32_t)p);
	struct cb_pool_def def;

	memset(&def, 0, sizeof(def));
	if (active) {
		def.flags = CB_POOL_F_ACTIVE;
		def.kind = kind;
		snprintf(def.name, sizeof(def.name), "pool%d", p);
		def.value = value;
		def.window_ms = window_ms;
	}
	cb_seqlock_write(&c->seq, &c->def, &def, sizeof(def));
	atomic_store_explicit(&c->observed, 0, memory_order_release);
	if (p == 0) {
		struct cb_state_hot *hot = cb_seg_region(st, CB_RS_HOT);

		atomic_store_explicit(&hot->state_word,
		    cb_state_pack(limit, CB_SOURCE_OVERRIDE, 0, 1),
		    memory_order_release);
	} else {
		atomic_store_explicit(&c->limit, active ? limit : 0,
		    memory_order_release);
	}
}

static void client_own(void *sl, uint32_t i, uint32_t pid, uint32_t seq)
{
	struct cb_client_slot *cs = cb_slots_client(sl, i);

	atomic_store(&cs->owner, CB_OWNER(1, pid));
	atomic_store(&cs->start, 1000 + pid);
	atomic_store(&cs->seq, seq);
}

static void hold(void *sl, uint32_t i, int p, uint32_t n)
{
	struct cb_client_slot *cs = cb_slots_client(sl, i);
	struct cb_pool_slot *ps = cb_slots_pool(sl, p);

	atomic_fetch_add(&cs->holds[p], n);
	atomic_fetch_add(&ps->usage, CB_USAGE(n, 0));
}

static void launch(void *sl, uint32_t e, unsigned st, int p, uint32_t client,
    uint64_t deadline)
{
	struct cb_launch_slot *ls = cb_slots_launch(sl, e);
	struct cb_pool_slot *ps = cb_slots_pool(sl, p);

	/* The accessors leave the bound to their caller: a template entry
	 * past the (small) table would land in the next region. */
	assert(e < CB_MAX_LAUNCHES);
	atomic_store(&ls->word, CB_LAUNCH_WORD(st, p, client, e + 7));
	atomic_store(&ls->deadline_ns, deadline);
	atomic_fetch_add(&ps->usage, CB_USAGE(0, 1));
}

/* A bound hold's worker half: client i's k-th bind entry on worker
 * slot w, pool p, and the counter that admitted it. */
static void bind(void *sl, uint32_t i, uint32_t k, int p, uint32_t w)
{
	struct cb_bind_slot *b = cb_slots_bind(sl,
	    i * CB_BINDS_PER_CLIENT + k);

	atomic_store(&b->word, CB_BIND_WORD(CB_BIND_BOUND, p, w, k + 11));
	atomic_fetch_add(&cb_slots_worker(sl, w)->inflight, 1);
}

/* Waiter entry e of client i in pool p (priority, ticket), counted
 * in the pool's hints as its enqueuer would have. */
static void waiter(void *sl, uint32_t e, unsigned st, int p, uint32_t i,
    int32_t prio, uint64_t ticket)
{
	struct cb_waiter_slot *ws = cb_slots_waiter(sl, e);
	struct cb_client_slot *cs = cb_slots_client(sl, i);
	struct cb_pool_slot *ps = cb_slots_pool(sl, p);

	atomic_store(&ws->word, CB_WAITER_WORD(st, p, i, e + 3));
	atomic_store(&ws->owner, i == 9 ? CB_OWNER(2, 1009) :
	    atomic_load(&cs->owner));
	atomic_store(&ws->priority, prio);
	atomic_store(&ws->ticket, ticket);
	atomic_fetch_add(&ps->queued, 1);
	atomic_fetch_add(&ps->waiters, 1);
	if (atomic_load(&ps->queue_next) <= ticket)
		atomic_store(&ps->queue_next, ticket + 1);
}

static void template_init(void)
{
	void *t = slots_template;

	/* Entry 5: two holds in pool 0, one in pool 1. */
	client_own(t, 5, 1005, 0x300);
	hold(t, 5, 0, 2);
	hold(t, 5, 1, 1);
	/* Entry 6: two holds in pool 1, one waiter blocked on it. */
	client_own(t, 6, 1006, 0x1200);
	hold(t, 6, 1, 2);
	atomic_store(&cb_slots_pool(t, 1)->waiters, 1);
	/* Entry 7: stopped inside a window: one unit admitted, not yet
	 * recorded, in pool 2. */
	client_own(t, 7, 1007, 0x501);
	hold(t, 7, 2, 1);
	atomic_fetch_add(&cb_slots_pool(t, 2)->usage, CB_USAGE(1, 0));
	/* Entry 9: free, generation 3. */
	atomic_store(&cb_slots_client(t, 9)->owner, CB_OWNER(3, 0));
	/* Launches: live, live later, stuck claiming, already expired. */
	launch(t, 10, CB_LAUNCH_LIVE, 1, 5, NOW0 + 1000000000ull);
	launch(t, 11, CB_LAUNCH_LIVE, 1, 5, NOW0 + 3000000000ull);
	launch(t, 12, CB_LAUNCH_CLAIMING, 2, 6, 0);
	launch(t, CB_MAX_LAUNCHES - 1, CB_LAUNCH_LIVE, 0, 7, NOW0 - 1);
	/* Binds: entry 5 on worker slot 3 (pool 1), entry 6 on slot 4
	 * (pool 1), garbage in free entry 9's partition; slot 4's counter
	 * over-counts by one (a picker killed before its bind). */
	bind(t, 5, 3, 1, 3);
	bind(t, 6, 0, 1, 4);
	bind(t, 9, 7, 1, 4);
	atomic_fetch_add(&cb_slots_worker(t, 4)->inflight, 1);
	/* Waiters in pool 1: entries 5 (priority 0) and 6 (priority 3)
	 * live, free entry 9's (dead), a claim stuck by entry 7. */
	waiter(t, 3, CB_WAITER_WAITING, 1, 5, 0, 4);
	waiter(t, 4, CB_WAITER_WAITING, 1, 6, 3, 5);
	waiter(t, 8, CB_WAITER_WAITING, 1, 9, 9, 2);
	waiter(t, 20, CB_WAITER_CLAIMING, 1, 7, 0, 6);
}

/*
 * Published workers and a wrapped event ring in the fuzzed-header copy,
 * so that a header pointing the readers elsewhere (other counts,
 * strides, offsets) has something to read.
 */
static void state_body_init(void *st)
{
	struct cb_worker_table *t = cb_seg_region(st, CB_RS_WORKERS);
	struct cb_event_ring *ring = cb_seg_region(st, CB_RS_EVENTS);
	const uint64_t head = CB_EVENT_RING + 44;

	for (uint32_t i = 0; i < 3; i++) {
		struct cb_worker_rec *w = cb_seg_record(st, CB_RS_WORKERS,
		    sizeof(*t), i);

		snprintf(w->id, sizeof(w->id), "worker-%u", i);
		w->state = CB_WORKER_READY + i;
		w->max_running = 16 * i;
	}
	t->count = 3;
	for (uint64_t n = head - CB_EVENT_RING; n < head; n++) {
		struct cb_event_rec *rec = cb_seg_record(st, CB_RS_EVENTS,
		    sizeof(*ring), (uint32_t)(n % CB_EVENT_RING));

		rec->type = CB_EV_PUBLISH;
		rec->new_capacity = (uint32_t)n;
		atomic_store(&rec->seq, 2 * n + 2);
	}
	atomic_store(&ring->head, head);
}

/* One ready worker for the client's pick: "w0" on slot 3, limit 4. */
static void publish_worker(void *st)
{
	struct cb_worker_table *t = cb_seg_region(st, CB_RS_WORKERS);
	struct cb_worker_rec w;

	memset(&w, 0, sizeof(w));
	snprintf(w.id, sizeof(w.id), "w0");
	w.state = CB_WORKER_READY;
	w.max_running = 4;
	w.slot = 3;
	w.limit = 4;
	cb_seqlock_write_begin(&t->seq);
	t->count = 1;
	cb_seq_copy_in(cb_seg_record(st, CB_RS_WORKERS, sizeof(*t), 0), &w,
	    sizeof(w));
	cb_seqlock_write_end(&t->seq);
}

static void setup(void)
{
	state = seg_new(CB_SEG_STATE, &state_size);
	slots_template = seg_new(CB_SEG_SLOTS, &slots_size);
	slots = aligned_alloc(4096, slots_size);
	CHECK(slots != NULL);
	/* The records are plain arrays of their struct. */
	CHECK((char *)cslot(1) - (char *)cslot(0) == sizeof(*cslot(0)));
	CHECK((char *)pslot(1) - (char *)pslot(0) == sizeof(*pslot(0)));
	CHECK((char *)lslot(1) - (char *)lslot(0) == sizeof(*lslot(0)));
	template_init();
	/* A body for the fuzzed-header copy: pools defined once. */
	for (int p = 0; p < CB_MAX_POOLS; p++)
		pool_define(state, p, p < 3, p == 0 ? CB_LIMIT_CAPACITY :
		    CB_LIMIT_FIXED, 4, p == 0 ? 8 : 4, 2000);
	publish_worker(state);
	state_fz = aligned_alloc(4096, state_size);
	CHECK(state_fz != NULL);
	memcpy(state_fz, state, state_size);
	memcpy(&state_header, state, sizeof(state_header));
	state_body_init(state_fz);
}

/* ---- reading the input ---------------------------------------------- */

static void input_read(const uint8_t *data, size_t size, struct input *in)
{
	uint8_t ctl[CTL_LEN] = { 0 };
	size_t at = size < CTL_LEN ? size : CTL_LEN;
	int32_t delta;

	memcpy(ctl, data, at);
	memset(in, 0, sizeof(*in));
	in->window = sweep_window;
	in->flags = ctl[0];
	delta = (int32_t)(uint32_t)le64(ctl + 1, 4);
	in->now = NOW0 + (uint64_t)((int64_t)delta * 1000);
	in->def_window[0] = WINDOWS[(ctl[7] >> 3) & 7];
	in->def_window[1] = WINDOWS[ctl[5] & 7];
	in->def_window[2] = WINDOWS[(ctl[5] >> 3) & 7];
	in->extra = 3 + ctl[6] % (CB_MAX_POOLS - 3);
	in->extra_active = (ctl[5] >> 6) & 1;
	in->def_window[in->extra] = WINDOWS[ctl[7] & 7];
	if ((in->flags & F_FILL) && at < size) {
		size_t n = data[at++];

		if (n > size - at)
			n = size - at;
		in->fill = data + at;
		in->fill_len = n;
		at += n;
	}
	in->patch = data + at;
	in->patch_len = size - at;
}

/* Repeat src over dst. */
static void fill(void *dst, size_t len, const uint8_t *src, size_t n)
{
	size_t done;

	if (n == 0)
		return;
	done = n < len ? n : len;
	memcpy(dst, src, done);
	while (done < len) {
		size_t k = done < len - done ? done : len - done;

		memcpy((char *)dst + done, dst, k);
		done += k;
	}
}

/* Define the pools for this input and derive the sweeper's window
 * array the way sweeper.c's expire() does. */
static void pools_setup(struct input *in)
{
	struct cb_pool_def def;

	for (int p = 0; p < CB_MAX_POOLS; p++) {
		int active = p < 3 || (p == in->extra && in->extra_active);

		pool_define(state, p, active, p == 0 ? CB_LIMIT_CAPACITY :
		    p == 2 ? CB_LIMIT_SHARE : CB_LIMIT_FIXED, p == 2 ? 50 : 6,
		    p == 0 ? 8 : p == 2 ? 4 : 6, in->def_window[p]);
		CHECK(cb_snapshot_pool(state, p, &def) == 0);
		in->window[p] = !(def.flags & CB_POOL_F_ACTIVE) ? 0 :
		    def.window_ms ? def.window_ms : CB_DEFAULT_WINDOW_MS;
	}
}

/* Apply the patches; returns 1 if one touched the slots header. */
static int patches_apply(const struct input *in)
{
	int touched = 0;

	for (size_t at = 0; at + PATCH_LEN <= in->patch_len;
	    at += PATCH_LEN) {
		const uint8_t *p = in->patch + at;
		unsigned target = (p[0] & 0x7fu) % 7;
		size_t width = (p[0] & 0x80u) ? 4 : 8;
		uint32_t idx = (uint32_t)le64(p + 1, 2);
		char *rec;
		size_t recsize, off;

		switch (target) {
		case 0:
			if (in->flags & F_PATCH_WAITERS) {
				rec = (char *)cb_slots_waiter(slots,
				    idx % CB_MAX_WAITERS);
				recsize = sizeof(struct cb_waiter_slot);
				break;
			}
			rec = slots;
			recsize = sizeof(struct cb_seg_header);
			touched = 1;
			break;
		case 1:
			rec = (char *)cslot(idx % CB_MAX_CLIENTS);
			recsize = sizeof(struct cb_client_slot);
			break;
		case 2:
			rec = (char *)pslot((int)(idx % CB_MAX_POOLS));
			recsize = sizeof(struct cb_pool_slot);
			break;
		case 3:
			rec = (char *)lslot(idx % CB_MAX_LAUNCHES);
			recsize = sizeof(struct cb_launch_slot);
			break;
		case 5:
			rec = (char *)cb_slots_worker(slots,
			    idx % CB_MAX_WORKERS);
			recsize = sizeof(struct cb_worker_slot);
			break;
		case 6:
			rec = (char *)cb_slots_bind(slots,
			    (idx * 97u) % CB_MAX_BINDS);
			recsize = sizeof(struct cb_bind_slot);
			break;
		default:
			rec = state_fz;
			recsize = sizeof(struct cb_seg_header);
			break;
		}
		off = ((size_t)p[3] * 4) % recsize;
		if (width > recsize - off)
			width = recsize - off;
		memcpy(rec + off, p + 4, width);
	}
	return touched;
}

/* ---- validation and the state-segment readers ----------------------- */

static void check_refusal(int r, const char *err, size_t errlen)
{
	CHECK(r == -EPROTO);
	CHECK(memchr(err, '\0', errlen) != NULL);
	CHECK(err[0] != '\0');
}

static void state_readers(void)
{
	struct cb_info info;
	struct cb_ident ident;
	struct cb_pool_def def;
	uint32_t count = 0;
	int r;

	r = cb_snapshot_info(state_fz, &info);
	CHECK(r == 0 || r == -EAGAIN);
	r = cb_snapshot_workers(state_fz, workers_out, CB_MAX_WORKERS, &count);
	CHECK((r == 0 || r == -EAGAIN) && count <= CB_MAX_WORKERS);
	r = cb_snapshot_ident(state_fz, &ident);
	CHECK(r == 0 || r == -EAGAIN);
	for (int p = -1; p <= CB_MAX_POOLS; p++) {
		r = cb_snapshot_pool(state_fz, p, &def);
		CHECK(r == 0 || r == -EAGAIN || r == -ENOENT);
		CHECK((p >= 0 && p < CB_MAX_POOLS) || r == -ENOENT);
	}
	CHECK(cb_snapshot_events(state_fz, events_out, CB_EVENT_RING) <=
	    CB_EVENT_RING);
}

static void validate_segments(const struct input *in, int slots_touched)
{
	int state_touched = memcmp(state_fz, &state_header,
	    sizeof(state_header)) != 0;
	char *err = malloc(CB_ERRMSG_MAX);
	int r;

	CHECK(err != NULL);
	r = cb_seg_validate(state_fz, state_size, CB_SEG_STATE,
	    (in->flags & F_STATE_NONAME) ? NULL : NAME, err, CB_ERRMSG_MAX);
	if (r == 0)
		state_readers();
	else
		check_refusal(r, err, CB_ERRMSG_MAX);
	CHECK(state_touched || r == 0);
	/* A mapping shorter than a header is refused before any read. */
	check_refusal(cb_seg_validate(state_fz,
	    sizeof(struct cb_seg_header) - 1, CB_SEG_STATE, NULL, err,
	    CB_ERRMSG_MAX), err, CB_ERRMSG_MAX);

	r = cb_seg_validate(slots, slots_size, CB_SEG_SLOTS, NAME, err,
	    CB_ERRMSG_MAX);
	if (r != 0)
		check_refusal(r, err, CB_ERRMSG_MAX);
	CHECK(slots_touched || r == 0);
	/* A slots header that validates puts every region where this
	 * build's layout does (the broker never follows it anyway). */
	if (r == 0)
		for (unsigned i = 0; i < CB_RL_COUNT; i++)
			CHECK(cb_slots_record(slots, i, 0) == (char *)slots +
			    ((struct cb_seg_header *)slots)->region[i].offset);
	free(err);
}

/* ---- the sweeper's launch-table work -------------------------------- */

static void check_settled(const struct input *in, uint64_t now,
    const uint64_t *prev, int final)
{
	for (uint32_t e = 0; e < CB_MAX_LAUNCHES; e++) {
		uint64_t w = lword(e);
		unsigned st = CB_LAUNCH_STATE(w), p = CB_LAUNCH_POOL(w);

		CHECK(st != 3);
		if (st == CB_LAUNCH_FREE)
			continue;
		CHECK(in->window[p] != 0);
		if (st == CB_LAUNCH_LIVE)
			CHECK(ldeadline(e) <= now +
			    (uint64_t)in->window[p] * 1000000u + SLACK_NS);
		else
			CHECK(!final && prev[e] == w);
	}
}

static void check_expired(uint64_t now, uint32_t expired,
    const uint32_t *per_pool, const uint64_t *earliest,
    const uint64_t *before)
{
	uint64_t want[CB_MAX_POOLS] = { 0 };
	uint64_t sum = 0;

	for (uint32_t e = 0; e < CB_MAX_LAUNCHES; e++) {
		uint64_t w = lword(e), d = ldeadline(e);
		unsigned p = CB_LAUNCH_POOL(w);

		if (CB_LAUNCH_STATE(w) != CB_LAUNCH_LIVE)
			continue;
		CHECK(d > now);
		if (want[p] == 0 || d < want[p])
			want[p] = d;
	}
	for (int p = 0; p < CB_MAX_POOLS; p++) {
		uint32_t had = CB_USAGE_LAUNCHING(before[p]);
		uint32_t gone = per_pool[p] < had ? per_pool[p] : had;

		CHECK(earliest[p] == want[p]);
		CHECK(CB_USAGE_HELD(usage(p)) == CB_USAGE_HELD(before[p]));
		CHECK(CB_USAGE_LAUNCHING(usage(p)) == had - gone);
		sum += per_pool[p];
	}
	CHECK(sum == expired);
}

static void usage_all(uint64_t *u)
{
	for (int p = 0; p < CB_MAX_POOLS; p++)
		u[p] = usage(p);
}

static void expire_at(uint64_t now)
{
	uint32_t per_pool[CB_MAX_POOLS] = { 0 };
	uint64_t earliest[CB_MAX_POOLS] = { 0 }, before[CB_MAX_POOLS];
	uint32_t n;

	usage_all(before);
	n = cb_rsv_expire(slots, now, per_pool, earliest);
	check_expired(now, n, per_pool, earliest, before);
}

/*
 * The hold aging step of every sweep (sweeper.c's age_pools(), lib/
 * age.h), for pools that are all local here: a word marked as a global
 * pool's (by a member: the fill or a patch) is unmarked, its holds kept
 * and its forged launch half dropped; an unmarked one is not touched;
 * the age word is 0.
 */
static void age_all(uint64_t now)
{
	for (int p = 0; p < CB_MAX_POOLS; p++) {
		struct cb_pool_conf *c = cb_seg_record(state, CB_RS_POOLS, 0,
		    (uint32_t)p);
		uint64_t before = usage(p);
		int r = cb_rsv_age(slots, &c->age, p, 0, now);

		CHECK(!(usage(p) & CB_AGE_MARK));
		CHECK(CB_USAGE_HELD(usage(p)) == CB_USAGE_HELD(before));
		CHECK(before & CB_AGE_MARK ? r == CB_AGE_MOVED &&
		    CB_USAGE_LAUNCHING(usage(p)) == 0 :
		    r == 0 && usage(p) == before);
		CHECK(atomic_load(&c->age) == 0);
	}
}

/* One sweep's settle + expire + aging, as sweeper.c's sweep() runs
 * them. */
static void sweep(const struct input *in, uint64_t now, uint64_t *prev,
    int final)
{
	cb_rsv_settle(slots, now, in->window, prev);
	check_settled(in, now, prev, final);
	expire_at(now);
	age_all(now);
}

/* ---- recount -------------------------------------------------------- */

struct records {
	uint64_t held;      /* holds recorded by owned entries */
	uint64_t launching; /* non-free launch entries of the pool */
	uint64_t inflight;  /* open windows of owned entries */
};

/* What one entry's S is worth to a recount: its windows in flight, at
 * most CB_RSV_INFLIGHT_MAX whatever the word says (reserve.h). */
static uint64_t inflight_slack(uint32_t seq)
{
	uint32_t k = CB_SEQ_INFLIGHT(seq);

	return k < CB_RSV_INFLIGHT_MAX ? k : CB_RSV_INFLIGHT_MAX;
}

/* The records of pool p, read independently of reserve.c. */
static void records_of(int p, struct records *rec)
{
	memset(rec, 0, sizeof(*rec));
	for (uint32_t i = 0; i < CB_MAX_CLIENTS; i++) {
		struct cb_client_slot *cs = cslot(i);

		if (CB_OWNER_PID(atomic_load(&cs->owner)) == 0)
			continue;
		rec->held += atomic_load(&cs->holds[p]);
		rec->inflight += inflight_slack(atomic_load(&cs->seq));
	}
	for (uint32_t e = 0; e < CB_MAX_LAUNCHES; e++) {
		uint64_t w = lword(e);

		if (CB_LAUNCH_STATE(w) != CB_LAUNCH_FREE &&
		    CB_LAUNCH_POOL(w) == (unsigned)p)
			rec->launching++;
	}
}

/* One half of the counter after a recount: within [records, records +
 * inflight], moved only if it was outside; saturated when the records
 * do not fit.  Returns the drift recount must report. */
static int64_t check_half(uint32_t before, uint32_t after, uint64_t records,
    uint64_t inflight)
{
	uint64_t want = before;

	if (before < records)
		want = records;
	else if (before > records + inflight)
		want = records + inflight;
	/* The counter saturates: drift is against what it can hold. */
	if (want > 0xffffffffu)
		want = 0xffffffffu;
	CHECK(after == want);
	return (int64_t)before - (int64_t)want;
}

/* Recount pool p; returns 1 if the records overflow the counter. */
static int recount(int p)
{
	struct records rec;
	uint64_t before;
	int64_t hd = 0x5a5a, ld = 0x5a5a, want_hd, want_ld;
	int r;

	records_of(p, &rec);
	before = usage(p);
	r = cb_rsv_recount(slots, p, &scratch, &hd, &ld);
	CHECK(r == 0 || r == 1);
	want_hd = check_half(CB_USAGE_HELD(before), CB_USAGE_HELD(usage(p)),
	    rec.held, rec.inflight);
	want_ld = check_half(CB_USAGE_LAUNCHING(before),
	    CB_USAGE_LAUNCHING(usage(p)), rec.launching, rec.inflight);
	CHECK(hd == want_hd && ld == want_ld);
	CHECK(r == (hd != 0 || ld != 0));
	return rec.held > 0xffffffffu;
}

static void recount_active(const struct input *in)
{
	int64_t hd, ld;

	for (int p = 0; p < CB_MAX_POOLS; p++) {
		if (in->window[p] == 0)
			continue;
		/* The second recount has nothing left to do, even for a
		 * counter saturated below hostile records. */
		recount(p);
		CHECK(cb_rsv_recount(slots, p, &scratch, &hd, &ld) == 0);
	}
}

/*
 * The scrub of free entries (sweeper.c's scan): each free entry ends
 * clean and free, owned ones and every pool counter are untouched, and
 * the recount (which reads owned entries only) still has nothing to do;
 * then the scrub of lanes: one naming no live client ends free and
 * clean, live ones are untouched (the recount reads live lanes only).
 */
static void scrub_free(const struct input *in)
{
	uint64_t before[CB_MAX_POOLS], after[CB_MAX_POOLS];
	int64_t hd, ld;

	usage_all(before);
	for (uint32_t i = 0; i < CB_MAX_CLIENTS; i++) {
		uint64_t o = atomic_load(&cslot(i)->owner);

		cb_rsv_scrub(slots, i, o, 4242);
		if (CB_OWNER_PID(o) != 0) {
			CHECK(atomic_load(&cslot(i)->owner) == o);
			continue;
		}
		CHECK(atomic_load(&cslot(i)->owner) == o ||
		    atomic_load(&cslot(i)->owner) ==
		    CB_OWNER(CB_OWNER_GEN(o) + 1, 0));
		CHECK(CB_SEQ_INFLIGHT(atomic_load(&cslot(i)->seq)) == 0);
		for (int p = 0; p < CB_MAX_POOLS; p++) {
			CHECK(atomic_load(&cslot(i)->holds[p]) == 0);
			CHECK(atomic_load(&cslot(i)->admitted[p]) == 0);
		}
	}
	/* Lanes (reserve.h): one naming no live client ends free, with
	 * no records and its window closed; a live one is untouched. */
	for (uint32_t l = 0; l < CB_MAX_LANES; l++) {
		struct cb_lane_slot *ln = cb_slots_lane(slots, l);
		uint64_t w = atomic_load(&ln->word), o;
		int live;

		o = atomic_load(&cslot(CB_LANE_CLIENT(w))->owner);
		live = CB_LANE_PID(w) != 0 && CB_OWNER_PID(o) != 0 &&
		    CB_LANE_OF(CB_LANE_CLIENT(w), o) == w;
		cb_rsv_lane_scrub(slots, l, 4242);
		if (live || CB_LANE_PID(w) == 0) {
			CHECK(atomic_load(&ln->word) == w);
			continue;
		}
		CHECK(CB_LANE_PID(atomic_load(&ln->word)) == 0);
		CHECK(CB_SEQ_INFLIGHT(atomic_load(&ln->seq)) == 0);
		for (int p = 0; p < CB_MAX_POOLS; p++)
			CHECK(atomic_load(&ln->holds[p]) == 0);
	}
	usage_all(after);
	CHECK(memcmp(before, after, sizeof(before)) == 0);
	for (int p = 0; p < CB_MAX_POOLS; p++)
		if (in->window[p] != 0)
			CHECK(cb_rsv_recount(slots, p, &scratch, &hd,
			    &ld) == 0);
}

/* ---- placement (lib/place.h) ---------------------------------------- */

static uint64_t bword(uint32_t e)
{
	return atomic_load(&cb_slots_bind(slots, e)->word);
}

static uint32_t winflight(uint32_t w)
{
	return atomic_load(&cb_slots_worker(slots, w)->inflight);
}

/* The pool's blocked-pickers count (p < CB_MAX_POOLS), or the
 * segment's (p == CB_MAX_POOLS). */
static uint32_t pickers(int p)
{
	if (p == CB_MAX_POOLS)
		return atomic_load(&cb_slots_hot(slots)->pickers);
	return atomic_load(&cb_slots_pool(slots, p)->pickers);
}

/* The pickers counts against the PICKING records, as the recount must
 * leave them: within [records, records + inflight]. */
static void pickers_check(uint64_t inflight)
{
	uint64_t rec[CB_MAX_POOLS + 1] = { 0 };

	for (uint32_t e = 0; e < CB_MAX_BINDS; e++)
		if (CB_BIND_STATE(bword(e)) == CB_BIND_PICKING) {
			rec[CB_BIND_POOL(bword(e))]++;
			rec[CB_MAX_POOLS]++;
		}
	for (int p = 0; p <= CB_MAX_POOLS; p++)
		CHECK(pickers(p) >= rec[p] && pickers(p) <= rec[p] + inflight);
}

static uint64_t active_mask(const struct input *in)
{
	uint64_t m = 0;

	for (int p = 0; p < CB_MAX_POOLS; p++)
		if (in->window[p] != 0)
			m |= 1ull << p;
	return m;
}

/* The recount's bound, computed independently of place.c. */
static void place_records(uint32_t *bound, uint64_t *inflight)
{
	memset(bound, 0, CB_MAX_WORKERS * sizeof(*bound));
	for (uint32_t e = 0; e < CB_MAX_BINDS; e++)
		if (CB_BIND_STATE(bword(e)) == CB_BIND_BOUND)
			bound[CB_BIND_WORKER(bword(e))]++;
	*inflight = 0;
	for (uint32_t i = 0; i < CB_MAX_CLIENTS; i++)
		if (CB_OWNER_PID(atomic_load(&cslot(i)->owner)) != 0)
			*inflight += inflight_slack(atomic_load(
			    &cslot(i)->seq));
}

/* The sweeper's placement pass (sweeper.c: sweep_placement). */
static void place_sweep(const struct input *in)
{
	static uint32_t bound[CB_MAX_WORKERS], before[CB_MAX_WORKERS];
	static int64_t drift[CB_MAX_WORKERS];
	uint64_t active = active_mask(in), inflight;
	int r;

	cb_place_settle(slots, active);
	for (uint32_t e = 0; e < CB_MAX_BINDS; e++) {
		uint64_t w = bword(e);

		if (CB_BIND_STATE(w) == CB_BIND_FREE)
			continue;
		CHECK(CB_BIND_STATE(w) == CB_BIND_BOUND ||
		    CB_BIND_STATE(w) == CB_BIND_PICKING);
		CHECK(active & (1ull << CB_BIND_POOL(w)));
		CHECK(CB_OWNER_PID(atomic_load(&cslot(e /
		    CB_BINDS_PER_CLIENT)->owner)) != 0);
	}
	place_records(bound, &inflight);
	for (uint32_t w = 0; w < CB_MAX_WORKERS; w++)
		before[w] = winflight(w);
	r = cb_place_recount(slots, &scratch, drift);
	CHECK(r >= 0);
	for (uint32_t w = 0; w < CB_MAX_WORKERS; w++) {
		uint64_t want = before[w];

		if (want < bound[w])
			want = bound[w];
		else if (want > bound[w] + inflight)
			want = bound[w] + inflight;
		CHECK(winflight(w) == want);
		CHECK(drift[w] == (int64_t)before[w] - (int64_t)want);
	}
	pickers_check(inflight);
	CHECK(cb_place_recount(slots, &scratch, drift) == 0);
}

/* Every client is gone: no bind is left, and no worker count. */
static void place_drained(void)
{
	static int64_t drift[CB_MAX_WORKERS];

	for (uint32_t e = 0; e < CB_MAX_BINDS; e++)
		CHECK(CB_BIND_STATE(bword(e)) == CB_BIND_FREE);
	CHECK(cb_place_recount(slots, &scratch, drift) >= 0);
	for (uint32_t w = 0; w < CB_MAX_WORKERS; w++)
		CHECK(winflight(w) == 0);
	for (int p = 0; p <= CB_MAX_POOLS; p++)
		CHECK(pickers(p) == 0);
}

/* The client's pick on the hostile segment (worker "w0", slot 3). */
static void place_round(struct cb_rsv *r)
{
	char id[CB_WORKER_ID_MAX + 1];
	cb_ticket t;
	int ret;

	ret = cb_place_try(r, 1, CB_PLACE_LEAST_LOADED, &t, id);
	CHECK(ret == 0 || ret == -EAGAIN || ret == -ENOSPC);
	if (ret != 0)
		return;
	CHECK(strcmp(id, "w0") == 0);
	CHECK(cb_rsv_release(r, &t) == 0);
	CHECK(cb_rsv_release(r, &t) == -ESTALE);
}

/* ---- clients -------------------------------------------------------- */

static void check_claimed(uint32_t idx, uint64_t owner, uint64_t old,
    pid_t pid)
{
	struct cb_client_slot *cs = cslot(idx);

	CHECK(CB_OWNER_PID(old) == 0);
	CHECK(owner == CB_OWNER(CB_OWNER_GEN(old) + 1, (uint32_t)pid));
	CHECK(atomic_load(&cs->owner) == owner);
	CHECK(atomic_load(&cs->start) == CLIENT_START);
	CHECK(CB_SEQ_INFLIGHT(atomic_load(&cs->seq)) == 0);
	for (int p = 0; p < CB_MAX_POOLS; p++)
		CHECK(atomic_load(&cs->holds[p]) == 0);
}

static int all_owned(uint64_t *owners)
{
	int all = 1;

	for (uint32_t i = 0; i < CB_MAX_CLIENTS; i++) {
		owners[i] = atomic_load(&cslot(i)->owner);
		if (CB_OWNER_PID(owners[i]) == 0)
			all = 0;
	}
	return all;
}

/* A client on the hostile segment: claim, hold, launch, release. */
static void client_round(void)
{
	static uint64_t owners[CB_MAX_CLIENTS];
	struct cb_rsv r;
	cb_ticket t;
	int full = all_owned(owners), ret;

	memset(&r, 0, sizeof(r));
	memset((void *)local_holds, 0, sizeof(local_holds));
	r.state = state;
	r.slots = slots;
	r.local = local_holds;
	r.local_size = LOCAL_SIZE;
	ret = cb_rsv_claim(slots, CLIENT_PID, CLIENT_START, &r.client,
	    &r.owner);
	CHECK(ret == 0 || (ret == -ENOSPC && full));
	if (ret < 0)
		return;
	CHECK(r.client < CB_MAX_CLIENTS);
	check_claimed(r.client, r.owner, owners[r.client], CLIENT_PID);

	ret = cb_rsv_try(&r, 1, CB_HOLD, 0, &t);
	CHECK(ret == 0 || ret == -EAGAIN);
	if (ret == 0) {
		CHECK(atomic_load(&cslot(r.client)->holds[1]) == 1);
		CHECK(cb_rsv_release(&r, &t) == 0);
		CHECK(cb_rsv_release(&r, &t) == -ESTALE);
	}
	ret = cb_rsv_try(&r, 1, CB_LAUNCH, 0, &t);
	CHECK(ret == 0 || ret == -EAGAIN || ret == -ENOSPC);
	if (ret == 0) {
		CHECK(cb_rsv_release(&r, &t) == 0);
		CHECK(cb_rsv_release(&r, &t) == -ESTALE);
	}
	place_round(&r);
	CHECK(atomic_load(&cslot(r.client)->holds[1]) == 0);
	CHECK(CB_SEQ_INFLIGHT(atomic_load(&cslot(r.client)->seq)) == 0);
}

/* Reclaim client i (owned by o) and check what changed. */
static void reclaim_one(uint32_t i, uint64_t o, uint64_t *freed)
{
	struct cb_client_slot *cs = cslot(i);
	uint32_t per_pool[CB_MAX_POOLS] = { 0 };
	uint32_t holds[CB_MAX_POOLS], seq[CB_MAX_POOLS];
	long n, sum = 0;

	/* A stale owner word (another generation) touches nothing. */
	if (i % 16 == 0) {
		uint32_t h0 = atomic_load(&cs->holds[0]);

		CHECK(cb_rsv_reclaim(slots, i, o ^ (1ull << 32), per_pool) ==
		    -1);
		CHECK(atomic_load(&cs->owner) == o);
		CHECK(atomic_load(&cs->holds[0]) == h0);
	}
	for (int p = 0; p < CB_MAX_POOLS; p++) {
		holds[p] = atomic_load(&cs->holds[p]);
		seq[p] = atomic_load(&pslot(p)->release_seq);
	}
	n = cb_rsv_reclaim(slots, i, o, per_pool);
	CHECK(n >= 0);
	CHECK(atomic_load(&cs->owner) == CB_OWNER(CB_OWNER_GEN(o), 0));
	CHECK(atomic_load(&cs->start) == 0);
	CHECK(CB_SEQ_INFLIGHT(atomic_load(&cs->seq)) == 0);
	for (int p = 0; p < CB_MAX_POOLS; p++) {
		CHECK(atomic_load(&cs->holds[p]) == 0);
		CHECK(per_pool[p] <= holds[p]);
		/* Every pool it took holds from is woken, once. */
		CHECK(atomic_load(&pslot(p)->release_seq) - seq[p] ==
		    (holds[p] != 0 ? 1u : 0u));
		sum += per_pool[p];
		freed[p] += per_pool[p];
	}
	CHECK(sum == n);
}

/* Every client dies; the broker reclaims each. */
static void reclaim_all(void)
{
	uint64_t before[CB_MAX_POOLS], freed[CB_MAX_POOLS] = { 0 };

	usage_all(before);
	for (uint32_t i = 0; i < CB_MAX_CLIENTS; i++) {
		uint64_t o = atomic_load(&cslot(i)->owner);

		if (CB_OWNER_PID(o) != 0)
			reclaim_one(i, o, freed);
	}
	for (int p = 0; p < CB_MAX_POOLS; p++) {
		CHECK(CB_USAGE_HELD(before[p]) - CB_USAGE_HELD(usage(p)) ==
		    freed[p]);
		CHECK(CB_USAGE_LAUNCHING(before[p]) ==
		    CB_USAGE_LAUNCHING(usage(p)));
	}
}

/* After every death and every launch window: nothing is in use. */
static void check_drained(const struct input *in, uint64_t now)
{
	uint64_t far = now + SLACK_NS, old;
	struct records rec;
	uint32_t idx;
	uint64_t owner;
	int64_t hd, ld;

	for (int p = 0; p < CB_MAX_POOLS; p++) {
		if (in->window[p] == 0)
			continue;
		records_of(p, &rec);
		CHECK(rec.held == 0 && rec.inflight == 0);
		CHECK(cb_rsv_recount(slots, p, &scratch, &hd, &ld) >= 0);
		CHECK(CB_USAGE_HELD(usage(p)) == 0);
		CHECK(CB_USAGE_LAUNCHING(usage(p)) == rec.launching);
		if (far < now + (uint64_t)in->window[p] * 1000000u + SLACK_NS)
			far = now + (uint64_t)in->window[p] * 1000000u +
			    SLACK_NS;
	}
	expire_at(far);
	for (uint32_t e = 0; e < CB_MAX_LAUNCHES; e++)
		CHECK(CB_LAUNCH_STATE(lword(e)) == CB_LAUNCH_FREE);
	for (int p = 0; p < CB_MAX_POOLS; p++)
		CHECK(in->window[p] == 0 || usage(p) == 0);

	/* An empty table: the first probe wins. */
	old = atomic_load(&cslot(CLIENT_PID % CB_MAX_CLIENTS)->owner);
	CHECK(cb_rsv_claim(slots, CLIENT_PID, CLIENT_START, &idx,
	    &owner) == 0);
	CHECK(idx == CLIENT_PID % CB_MAX_CLIENTS);
	check_claimed(idx, owner, old, CLIENT_PID);
}

/* ---- fair waiting ------------------------------------------------- */

static struct cb_wq_sweep wq_state;

static struct cb_waiter_slot *wq(uint32_t e)
{
	return cb_slots_waiter(slots, e);
}

/* Live, by queue.h's definition, read independently of queue.c. */
static int wq_live(uint32_t e, int pool)
{
	uint64_t w = atomic_load(&wq(e)->word), o = atomic_load(&wq(e)->owner);

	return CB_WAITER_STATE(w) == CB_WAITER_WAITING &&
	    (pool < 0 || CB_WAITER_POOL(w) == (unsigned)pool) &&
	    CB_OWNER_PID(o) != 0 &&
	    atomic_load(&cslot(CB_WAITER_CLIENT(w))->owner) == o;
}

/* Is live entry a ahead of b (queue.h's order)? */
static int wq_ahead(uint32_t a, uint32_t b)
{
	int32_t pa = atomic_load(&wq(a)->priority);
	int32_t pb = atomic_load(&wq(b)->priority);
	uint64_t ta = atomic_load(&wq(a)->ticket);
	uint64_t tb = atomic_load(&wq(b)->ticket);

	if (pa != pb)
		return pa > pb;
	if (ta != tb)
		return ta < tb;
	return a < b;
}

static struct cb_wq_entry wq_entry(uint32_t e)
{
	struct cb_wq_entry me = {
		.index = e,
		.word = atomic_load(&wq(e)->word),
		.ticket = atomic_load(&wq(e)->ticket),
		.priority = atomic_load(&wq(e)->priority),
	};

	me.pool = (int)CB_WAITER_POOL(me.word);
	return me;
}

/* Every live waiter of pool p sits at its rank. */
static void wq_check_positions(int p)
{
	struct cb_wq_scan sc;
	uint32_t live = 0;

	for (uint32_t e = 0; e < CB_MAX_WAITERS; e++) {
		uint32_t rank = 0;

		if (!wq_live(e, p))
			continue;
		live++;
		for (uint32_t k = 0; k < CB_MAX_WAITERS; k++)
			rank += k != e && wq_live(k, p) && wq_ahead(k, e);
		struct cb_wq_entry me = wq_entry(e);

		CHECK(cb_wq_position(slots, &me) == (int)rank);
	}
	cb_wq_scan(slots, p, NULL, &sc);
	CHECK(sc.live == live && sc.pruned == 0);
	CHECK(sc.has_head == (live > 0));
}

/* The hints equal the entries, every pool. */
static void wq_check_hints(void)
{
	uint64_t count[CB_MAX_POOLS] = { 0 };

	for (uint32_t e = 0; e < CB_MAX_WAITERS; e++) {
		uint64_t w = atomic_load(&wq(e)->word);

		if (CB_WAITER_STATE(w) != CB_WAITER_FREE)
			count[CB_WAITER_POOL(w)]++;
	}
	for (int p = 0; p < CB_MAX_POOLS; p++)
		CHECK(atomic_load(&pslot(p)->queued) == count[p]);
}

static void wq_sweeps(const struct input *in, int n)
{
	uint32_t hints;

	for (int i = 0; i < n; i++)
		cb_wq_sweep(slots, in->window, &wq_state, &hints);
}

static void queue_sweep(const struct input *in)
{
	memset(&wq_state, 0, sizeof(wq_state));
	wq_sweeps(in, 3);
	for (uint32_t e = 0; e < CB_MAX_WAITERS; e++) {
		uint64_t w = atomic_load(&wq(e)->word);

		if (CB_WAITER_STATE(w) == CB_WAITER_FREE)
			continue;
		CHECK(CB_WAITER_STATE(w) == CB_WAITER_WAITING);
		CHECK(in->window[CB_WAITER_POOL(w)] != 0);
		CHECK(wq_live(e, -1));
	}
	wq_sweeps(in, 1);
	wq_check_hints();
	for (int p = 0; p < CB_MAX_POOLS; p++)
		if (in->window[p] != 0)
			wq_check_positions(p);

	/* A client queues on the hostile table. */
	struct cb_wq_entry me;
	uint32_t idx, rank = 0, free_entries = 0;
	uint64_t owner;
	int r;

	if (cb_rsv_claim(slots, CLIENT_PID + 1, CLIENT_START, &idx,
	    &owner) < 0)
		return;
	for (uint32_t e = 0; e < CB_MAX_WAITERS; e++)
		free_entries += CB_WAITER_STATE(atomic_load(&wq(e)->word)) ==
		    CB_WAITER_FREE;
	r = cb_wq_enqueue(slots, idx, owner, 1, 0, &me);
	CHECK(r == 0 || (r == -ENOSPC && free_entries == 0));
	if (r == 0) {
		CHECK(wq_live(me.index, 1));
		for (uint32_t k = 0; k < CB_MAX_WAITERS; k++)
			rank += k != me.index && wq_live(k, 1) &&
			    wq_ahead(k, me.index);
		CHECK(cb_wq_position(slots, &me) == (int)rank);
		CHECK(cb_wq_leave(slots, &me) == 0);
		CHECK(cb_wq_leave(slots, &me) == -ESTALE);
		CHECK(cb_wq_position(slots, &me) == -ESTALE);
	}
	wq_check_hints();
	cb_rsv_unclaim(slots, idx, owner);
}

/* After every client is reclaimed: the queues empty out. */
static void queue_drained(void)
{
	static const uint32_t all[CB_MAX_POOLS] = {
		[0 ... CB_MAX_POOLS - 1] = 1,
	};
	uint32_t hints;

	for (uint32_t i = 0; i < CB_MAX_CLIENTS; i++)
		cb_wq_reclaim(slots, i, 0);
	for (int k = 0; k < 4; k++)
		cb_wq_sweep(slots, all, &wq_state, &hints);
	for (uint32_t e = 0; e < CB_MAX_WAITERS; e++)
		CHECK(CB_WAITER_STATE(atomic_load(&wq(e)->word)) ==
		    CB_WAITER_FREE);
	for (int p = 0; p < CB_MAX_POOLS; p++)
		CHECK(atomic_load(&pslot(p)->queued) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint64_t prev[CB_MAX_LAUNCHES];
	struct input in;
	uint64_t now2;
	int touched;

	if (state == NULL)
		setup();
	input_read(data, size, &in);
	memcpy(slots, slots_template, slots_size);
	memcpy(state_fz, &state_header, sizeof(state_header));
	pools_setup(&in);

	if (in.flags & F_FILL) {
		struct cb_layout l;

		cb_layout_init(&l, CB_SEG_SLOTS);
		fill((char *)slots + l.region[CB_RL_CLIENTS].offset,
		    l.region[CB_RL_LAUNCHES].offset +
		    l.region[CB_RL_LAUNCHES].size -
		    l.region[CB_RL_CLIENTS].offset, in.fill, in.fill_len);
		if (in.flags & F_FILL_SLOTS_HEADER)
			fill(slots, sizeof(struct cb_seg_header), in.fill,
			    in.fill_len);
		if (in.flags & F_FILL_STATE_HEADER)
			fill(state_fz, sizeof(struct cb_seg_header), in.fill,
			    in.fill_len);
	}
	if (in.flags & F_FILL)
		fill(cb_slots_waiter(slots, 0),
		    (size_t)CB_MAX_WAITERS * sizeof(struct cb_waiter_slot),
		    in.fill, in.fill_len);
	touched = patches_apply(&in) ||
	    ((in.flags & F_FILL) && (in.flags & F_FILL_SLOTS_HEADER) &&
	    in.fill_len > 0);

	validate_segments(&in, touched);

	/* Two sweeps: the second settles entries stuck in CLAIMING. */
	memset(prev, 0, sizeof(prev));
	fake_now = in.now;
	sweep(&in, in.now, prev, 0);
	now2 = in.now + SWEEP_NS;
	fake_now = now2;
	sweep(&in, now2, prev, 1);
	recount_active(&in);
	scrub_free(&in);
	place_sweep(&in);
	queue_sweep(&in);

	client_round();
	reclaim_all();
	place_drained();
	queue_drained();
	check_drained(&in, now2);
	return 0;
}
