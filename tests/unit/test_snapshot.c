/*
 * test_snapshot.c - the seqlock readers of the state segment
 * (lib/snapshot.c).
 *
 * A state segment is built in heap memory as the broker builds it; the
 * writer side below follows the protocols in abi.h and seqlock.h (the
 * publisher's part), and the readers under test must get back what it
 * wrote, bound every hostile count, and refuse what is not stable.
 * Nothing here touches /dev/shm.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <time.h>

#include "abi.h"
#include "clock.h"
#include "segment.h"
#include "seqlock.h"
#include "snapshot.h"

#define NAME "snap"

struct seg {
	void *base;
	size_t size;
};

static struct seg *seg_build(const struct cb_layout *l)
{
	struct seg *s = calloc(1, sizeof(*s));
	char err[CB_ERRMSG_MAX];

	assert_non_null(s);
	s->size = l->total_size;
	s->base = aligned_alloc(4096, s->size);
	assert_non_null(s->base);
	memset(s->base, 0, s->size);
	cb_seg_header_init(s->base, CB_SEG_STATE, NAME, 1, l);
	cb_seg_header_publish(s->base, CB_SEG_STATE);
	/* The readers' precondition. */
	assert_int_equal(cb_seg_validate(s->base, s->size, CB_SEG_STATE,
	    NAME, err, sizeof(err)), 0);
	return s;
}

static int setup(void **state)
{
	struct cb_layout l;

	cb_layout_init(&l, CB_SEG_STATE);
	*state = seg_build(&l);
	return 0;
}

static int teardown(void **state)
{
	struct seg *s = *state;

	free(s->base);
	free(s);
	return 0;
}

/* ---- the writer side (the broker's publisher, main thread) -------- */

static struct cb_info_block *info_block(void *base)
{
	return cb_seg_region(base, CB_RS_INFO);
}

static struct cb_worker_table *worker_table(void *base)
{
	return cb_seg_region(base, CB_RS_WORKERS);
}

static struct cb_event_ring *event_ring(void *base)
{
	return cb_seg_region(base, CB_RS_EVENTS);
}

static void info_write(void *base, const struct cb_info *info)
{
	struct cb_info_block *b = info_block(base);

	cb_seqlock_write(&b->seq, &b->info, info, sizeof(*info));
}

static void workers_write(void *base, const struct cb_worker_rec *rec,
    uint32_t n)
{
	struct cb_worker_table *t = worker_table(base);

	cb_seqlock_write_begin(&t->seq);
	__atomic_store_n(&t->count, n, __ATOMIC_RELAXED);
	for (uint32_t i = 0; i < n; i++)
		cb_seq_copy_in(cb_seg_record(base, CB_RS_WORKERS, sizeof(*t),
		    i), &rec[i], sizeof(rec[i]));
	cb_seqlock_write_end(&t->seq);
}

static void ident_write(void *base, uint32_t pid, uint64_t start,
    uint64_t epoch)
{
	struct cb_seg_header *h = base;

	cb_seqlock_write_begin(&h->ident_seq);
	atomic_store_explicit(&h->broker_pid, pid, memory_order_relaxed);
	atomic_store_explicit(&h->broker_start, start, memory_order_relaxed);
	atomic_store_explicit(&h->epoch, epoch, memory_order_relaxed);
	cb_seqlock_write_end(&h->ident_seq);
}

/* Every field of event n is derived from n, so a reader can check it. */
static struct cb_event_rec event_for(uint64_t n)
{
	struct cb_event_rec e;

	memset(&e, 0, sizeof(e));
	e.seq = 2 * n + 2;
	e.time_ns = 1000000000ull + n;
	e.type = (uint32_t)(n % 4) + 1;
	e.generation = (uint32_t)n;
	e.old_capacity = (uint32_t)(n * 3);
	e.new_capacity = (uint32_t)(n * 3 + 1);
	e.old_source = (uint32_t)(n % 4);
	e.new_source = (uint32_t)((n + 1) % 4);
	e.value = n ^ 0x5555555555555555ull;
	return e;
}

static int event_matches(const struct cb_event_rec *e, uint64_t n)
{
	struct cb_event_rec want = event_for(n);

	return e->seq == want.seq && memcmp((const char *)e + 8,
	    (const char *)&want + 8, sizeof(*e) - 8) == 0;
}

/* The protocol documented above struct cb_event_ring in abi.h. */
static void event_write(void *base)
{
	struct cb_event_ring *ring = event_ring(base);
	uint64_t n = atomic_load_explicit(&ring->head, memory_order_relaxed);
	struct cb_event_rec *rec = cb_seg_record(base, CB_RS_EVENTS,
	    sizeof(*ring), (uint32_t)(n % CB_EVENT_RING));
	struct cb_event_rec e = event_for(n);

	atomic_store_explicit(&rec->seq, 2 * n + 1, memory_order_relaxed);
	/* Orders the odd seq before the field stores (as write_begin). */
	atomic_thread_fence(memory_order_release);
	cb_seq_copy_in((char *)rec + 8, (const char *)&e + 8, sizeof(e) - 8);
	/* Paired with the reader's acquire load of rec->seq. */
	atomic_store_explicit(&rec->seq, 2 * n + 2, memory_order_release);
	/* Paired with the reader's acquire load of head. */
	atomic_store_explicit(&ring->head, n + 1, memory_order_release);
}

static struct cb_worker_rec worker(const char *id, uint32_t state,
    uint32_t max_running)
{
	struct cb_worker_rec w;

	memset(&w, 0, sizeof(w));
	snprintf(w.id, sizeof(w.id), "%s", id);
	w.state = state;
	w.max_running = max_running;
	return w;
}

/* ---- info -------------------------------------------------------- */

static void fill_info(struct cb_info *info, uint32_t k)
{
	uint32_t *w = (uint32_t *)info;

	/* Every 32-bit half-word distinct, so a misplaced copy shows. */
	for (size_t i = 0; i < sizeof(*info) / 4; i++)
		w[i] = k * 1000 + (uint32_t)i + 1;
}

static void test_info_round_trip(void **state)
{
	struct seg *s = *state;
	struct cb_info in, out;

	/* A zeroed, never-written block reads back as zeros. */
	memset(&out, 0xff, sizeof(out));
	assert_int_equal(cb_snapshot_info(s->base, &out), 0);
	memset(&in, 0, sizeof(in));
	assert_memory_equal(&out, &in, sizeof(in));

	for (uint32_t k = 1; k <= 3; k++) {
		fill_info(&in, k);
		info_write(s->base, &in);
		memset(&out, 0, sizeof(out));
		assert_int_equal(cb_snapshot_info(s->base, &out), 0);
		assert_memory_equal(&out, &in, sizeof(in));
	}
	in.capacity = 65535;
	in.source = 3;
	in.publishes = UINT64_MAX;
	info_write(s->base, &in);
	assert_int_equal(cb_snapshot_info(s->base, &out), 0);
	assert_int_equal(out.capacity, 65535);
	assert_int_equal(out.source, 3);
	assert_true(out.publishes == UINT64_MAX);
}

static void test_info_stuck_odd_is_eagain(void **state)
{
	struct seg *s = *state;
	struct cb_info_block *b = info_block(s->base);
	struct cb_info in, out;

	fill_info(&in, 7);
	info_write(s->base, &in);
	/* The publisher died inside write_begin/write_end. */
	cb_seqlock_write_begin(&b->seq);
	assert_int_equal(cb_snapshot_info(s->base, &out), -EAGAIN);
	assert_int_equal(cb_snapshot_info(s->base, &out), -EAGAIN);
	/* A new broker repairs it and rewrites. */
	assert_int_equal(cb_seqlock_repair(&b->seq), 1);
	fill_info(&in, 8);
	info_write(s->base, &in);
	assert_int_equal(cb_snapshot_info(s->base, &out), 0);
	assert_memory_equal(&out, &in, sizeof(in));
}

/* ---- workers ----------------------------------------------------- */

static void test_workers_round_trip(void **state)
{
	struct seg *s = *state;
	struct cb_worker_rec in[3], out[8];
	uint32_t count = 99;
	char id63[CB_WORKER_ID_MAX + 1];

	memset(id63, 'w', CB_WORKER_ID_MAX);
	id63[CB_WORKER_ID_MAX] = '\0';
	in[0] = worker("gpu-0.example:8000", CB_WORKER_READY, 16);
	in[1] = worker(id63, CB_WORKER_NOT_READY, 0);
	in[2] = worker("w@3", CB_WORKER_DRAINING, 65535);

	assert_int_equal(cb_snapshot_workers(s->base, out, 8, &count), 0);
	assert_int_equal(count, 0);

	workers_write(s->base, in, 3);
	memset(out, 0, sizeof(out));
	assert_int_equal(cb_snapshot_workers(s->base, out, 8, &count), 0);
	assert_int_equal(count, 3);
	assert_memory_equal(out, in, sizeof(in));
	assert_string_equal(out[1].id, id63);

	/* The caller's max bounds the copy. */
	memset(out, 0, sizeof(out));
	assert_int_equal(cb_snapshot_workers(s->base, out, 2, &count), 0);
	assert_int_equal(count, 2);
	assert_memory_equal(out, in, 2 * sizeof(in[0]));
	assert_int_equal(out[2].state, 0);
	assert_int_equal(cb_snapshot_workers(s->base, out, 0, &count), 0);
	assert_int_equal(count, 0);

	/* A shrinking table. */
	workers_write(s->base, in + 2, 1);
	assert_int_equal(cb_snapshot_workers(s->base, out, 8, &count), 0);
	assert_int_equal(count, 1);
	assert_string_equal(out[0].id, "w@3");
}

static void test_workers_hostile_count_is_bounded(void **state)
{
	struct seg *s = *state;
	const struct cb_seg_header *h = s->base;
	struct cb_worker_table *t = worker_table(s->base);
	const uint32_t cap = 2 * CB_MAX_WORKERS;
	struct cb_worker_rec *out = calloc(cap + 1, sizeof(*out));
	struct cb_worker_rec canary;
	uint32_t count = 0;

	assert_non_null(out);
	memset(&canary, 0x5a, sizeof(canary));
	for (uint32_t i = 0; i <= cap; i++)
		out[i] = canary;
	assert_int_equal(h->region[CB_RS_WORKERS].count, CB_MAX_WORKERS);

	/* count says more than the table holds: bounded by the table. */
	cb_seqlock_write_begin(&t->seq);
	t->count = UINT32_MAX;
	cb_seqlock_write_end(&t->seq);
	assert_int_equal(cb_snapshot_workers(s->base, out, cap, &count), 0);
	assert_int_equal(count, CB_MAX_WORKERS);
	for (uint32_t i = CB_MAX_WORKERS; i <= cap; i++)
		assert_memory_equal(&out[i], &canary, sizeof(canary));

	cb_seqlock_write_begin(&t->seq);
	t->count = CB_MAX_WORKERS + 1;
	cb_seqlock_write_end(&t->seq);
	assert_int_equal(cb_snapshot_workers(s->base, out, cap, &count), 0);
	assert_int_equal(count, CB_MAX_WORKERS);

	/* ... and by the caller's buffer. */
	out[5] = canary;
	assert_int_equal(cb_snapshot_workers(s->base, out, 5, &count), 0);
	assert_int_equal(count, 5);
	assert_memory_equal(&out[5], &canary, sizeof(canary));
	free(out);
}

static void test_workers_stuck_odd_is_eagain(void **state)
{
	struct seg *s = *state;
	struct cb_worker_table *t = worker_table(s->base);
	struct cb_worker_rec in = worker("a", CB_WORKER_READY, 1), out[2];
	uint32_t count = 77;

	workers_write(s->base, &in, 1);
	cb_seqlock_write_begin(&t->seq);
	assert_int_equal(cb_snapshot_workers(s->base, out, 2, &count),
	    -EAGAIN);
	assert_int_equal(count, 0);
	cb_seqlock_write_end(&t->seq);
	assert_int_equal(cb_snapshot_workers(s->base, out, 2, &count), 0);
	assert_int_equal(count, 1);
}

/* ---- broker identity --------------------------------------------- */

static void test_ident_round_trip(void **state)
{
	struct seg *s = *state;
	struct cb_seg_header *h = s->base;
	struct cb_ident id;

	ident_write(s->base, 4242, 987654321ull, 3);
	memset(&id, 0, sizeof(id));
	assert_int_equal(cb_snapshot_ident(s->base, &id), 0);
	assert_int_equal(id.pid, 4242);
	assert_true(id.start == 987654321ull);
	assert_true(id.epoch == 3);

	ident_write(s->base, UINT32_MAX, UINT64_MAX, UINT64_MAX - 1);
	assert_int_equal(cb_snapshot_ident(s->base, &id), 0);
	assert_true(id.pid == UINT32_MAX);
	assert_true(id.start == UINT64_MAX);
	assert_true(id.epoch == UINT64_MAX - 1);

	cb_seqlock_write_begin(&h->ident_seq);
	assert_int_equal(cb_snapshot_ident(s->base, &id), -EAGAIN);
	assert_int_equal(cb_seqlock_repair(&h->ident_seq), 1);
	assert_int_equal(cb_snapshot_ident(s->base, &id), 0);
}

/* ---- events ------------------------------------------------------ */

static void test_events_empty(void **state)
{
	struct seg *s = *state;
	struct cb_event_rec out[4];

	assert_int_equal(cb_snapshot_events(s->base, out, 4), 0);
	event_write(s->base);
	assert_int_equal(cb_snapshot_events(s->base, out, 0), 0);
	assert_int_equal(cb_snapshot_events(s->base, out, 4), 1);
	assert_true(event_matches(&out[0], 0));
}

static void test_events_round_trip_oldest_first(void **state)
{
	struct seg *s = *state;
	struct cb_event_rec out[CB_EVENT_RING];
	size_t n;

	for (int i = 0; i < 5; i++)
		event_write(s->base);
	n = cb_snapshot_events(s->base, out, CB_EVENT_RING);
	assert_int_equal(n, 5);
	for (size_t i = 0; i < n; i++)
		assert_true(event_matches(&out[i], i));

	/* max keeps the newest, still oldest first. */
	memset(out, 0, sizeof(out));
	n = cb_snapshot_events(s->base, out, 3);
	assert_int_equal(n, 3);
	for (size_t i = 0; i < n; i++)
		assert_true(event_matches(&out[i], 2 + i));
	assert_true(out[3].seq == 0);   /* nothing past max */
}

static void test_events_older_than_ring_dropped(void **state)
{
	struct seg *s = *state;
	struct cb_event_rec *out = calloc(1000, sizeof(*out));
	const uint64_t written = 300;
	size_t n;

	assert_non_null(out);
	for (uint64_t i = 0; i < written; i++)
		event_write(s->base);
	n = cb_snapshot_events(s->base, out, 1000);
	assert_int_equal(n, CB_EVENT_RING);
	for (size_t i = 0; i < n; i++)
		assert_true(event_matches(&out[i],
		    written - CB_EVENT_RING + i));

	/* Many laps around the ring. */
	for (uint64_t i = written; i < 10 * CB_EVENT_RING + 7; i++)
		event_write(s->base);
	n = cb_snapshot_events(s->base, out, 1000);
	assert_int_equal(n, CB_EVENT_RING);
	for (size_t i = 0; i < n; i++)
		assert_true(event_matches(&out[i],
		    10 * CB_EVENT_RING + 7 - CB_EVENT_RING + i));
	n = cb_snapshot_events(s->base, out, 10);
	assert_int_equal(n, 10);
	assert_true(event_matches(&out[9], 10 * CB_EVENT_RING + 6));
	free(out);
}

static void test_events_mismatched_seq_skipped(void **state)
{
	struct seg *s = *state;
	struct cb_event_ring *ring = event_ring(s->base);
	struct cb_event_rec out[16], *rec4, *rec7;
	size_t n;

	for (int i = 0; i < 10; i++)
		event_write(s->base);
	rec4 = cb_seg_record(s->base, CB_RS_EVENTS, sizeof(*ring), 4);
	rec7 = cb_seg_record(s->base, CB_RS_EVENTS, sizeof(*ring), 7);

	/* Event 4 is being rewritten (odd), event 7 was overwritten by a
	 * later lap (event 7 + ring). */
	atomic_store(&rec4->seq, 2 * 4 + 1);
	atomic_store(&rec7->seq, 2 * (7 + CB_EVENT_RING) + 2);
	n = cb_snapshot_events(s->base, out, 16);
	assert_int_equal(n, 8);
	for (size_t i = 0, ev = 0; i < n; i++, ev++) {
		if (ev == 4 || ev == 7)
			ev++;
		assert_true(event_matches(&out[i], ev));
	}

	/* A zeroed (never written) record is skipped as well. */
	atomic_store(&rec4->seq, 0);
	atomic_store(&rec7->seq, 2 * 7 + 2);
	n = cb_snapshot_events(s->base, out, 16);
	assert_int_equal(n, 9);
	assert_true(event_matches(&out[3], 3));
	assert_true(event_matches(&out[4], 5));
}

/* ---- a forged region table (issue 12, step 7) ---------------------- */

/* Pool p's definition, the publisher's way (seqlock write). */
static void pool_write(void *base, int p, const struct cb_pool_def *def)
{
	struct cb_pool_conf *conf = cb_seg_record(base, CB_RS_POOLS, 0,
	    (uint32_t)p);

	cb_seqlock_write(&conf->seq, &conf->def, def, sizeof(*def));
}

/* What a writer with the broker's uid could put in the table after
 * the readers validated the segment. */
struct forgery {
	const char *what;
	uint64_t offset;     /* 0: keep */
	uint32_t stride;     /* 0: keep */
	uint32_t count;
	const char *refusal; /* what a fresh validation must say */
};

static void forge_table(void *base, const struct forgery *f)
{
	struct cb_seg_header *h = base;

	for (unsigned i = 0; i < CB_RS_COUNT; i++) {
		if (f->offset != 0)
			h->region[i].offset = f->offset;
		if (f->stride != 0)
			h->region[i].stride = f->stride;
		h->region[i].count = f->count;
	}
}

/*
 * Every reader of the state segment, on a segment whose region table
 * was overwritten after it was validated: each still reads what the
 * writer put where this build's layout says (no fault, the right data),
 * and a fresh validation refuses the table with a message that says
 * what is wrong.  Before the fix the readers followed the table: the
 * first forgery faulted (2^40 bytes past the mapping), the second
 * divided by a zero event count, the third read pools out of the event
 * ring.
 */
static void test_readers_ignore_forged_table(void **state)
{
	struct seg *s = *state;
	struct cb_layout l;
	const struct forgery forged[] = {
		{ "far outside", 1ull << 40, 1u << 20, UINT32_MAX,
		    "past the segment end" },
		{ "count 0", 0, 0, 0, "records, need" },
		{ "another region's place", 0, 0, 0, "this build has it at" },
	};
	struct cb_worker_rec in[3], out[4];
	struct cb_event_rec ev[CB_EVENT_RING];
	struct cb_info info_in, info_out;
	struct cb_pool_def def_in, def_out;
	char err[CB_ERRMSG_MAX];
	uint32_t count;

	cb_layout_init(&l, CB_SEG_STATE);
	fill_info(&info_in, 3);
	info_write(s->base, &info_in);
	in[0] = worker("w0", CB_WORKER_READY, 1);
	in[1] = worker("w1", CB_WORKER_DRAINING, 2);
	in[2] = worker("w2", CB_WORKER_NOT_READY, 3);
	workers_write(s->base, in, 3);
	for (int i = 0; i < 5; i++)
		event_write(s->base);
	memset(&def_in, 0, sizeof(def_in));
	def_in.flags = CB_POOL_F_ACTIVE;
	snprintf(def_in.name, sizeof(def_in.name), "p5");
	def_in.value = 55;
	pool_write(s->base, 5, &def_in);

	for (size_t k = 0; k < sizeof(forged) / sizeof(forged[0]); k++) {
		struct forgery f = forged[k];

		if (k == 2) {
			/* Every region at the events' place, in bounds and
			 * aligned, one record each. */
			f.offset = l.region[CB_RS_EVENTS].offset;
			f.count = 1;
		}
		print_message("forged table: %s\n", f.what);
		forge_table(s->base, &f);

		memset(&info_out, 0, sizeof(info_out));
		assert_int_equal(cb_snapshot_info(s->base, &info_out), 0);
		assert_memory_equal(&info_out, &info_in, sizeof(info_in));
		memset(out, 0, sizeof(out));
		assert_int_equal(cb_snapshot_workers(s->base, out, 4, &count),
		    0);
		assert_int_equal(count, 3);
		assert_memory_equal(out, in, sizeof(in));
		assert_int_equal(cb_snapshot_events(s->base, ev,
		    CB_EVENT_RING), 5);
		for (size_t i = 0; i < 5; i++)
			assert_true(event_matches(&ev[i], i));
		assert_int_equal(cb_snapshot_pool(s->base, 5, &def_out), 0);
		assert_memory_equal(&def_out, &def_in, sizeof(def_in));
		assert_int_equal(cb_snapshot_pool(s->base, CB_MAX_POOLS,
		    &def_out), -ENOENT);

		memset(err, 0, sizeof(err));
		assert_int_equal(cb_seg_validate(s->base, s->size,
		    CB_SEG_STATE, NAME, err, sizeof(err)), -EPROTO);
		print_message("  refused: %s\n", err);
		assert_non_null(strstr(err, f.refusal));
		/* Put back for the next forgery. */
		memcpy(((struct cb_seg_header *)s->base)->region, l.region,
		    sizeof(l.region));
	}
}

/* ---- concurrent writer ------------------------------------------- */

struct race {
	struct seg *s;
	_Atomic int stop;
	uint64_t events_written;
};

static void *race_writer(void *p)
{
	struct race *r = p;
	struct cb_info info;
	struct cb_worker_rec w[8];
	uint32_t k = 0;

	while (!atomic_load_explicit(&r->stop, memory_order_acquire)) {
		k++;
		memset(&info, 0, sizeof(info));
		for (uint32_t *x = (uint32_t *)&info;
		    x < (uint32_t *)(&info + 1); x++)
			*x = k;
		info_write(r->s->base, &info);
		for (uint32_t i = 0; i < 8; i++)
			w[i] = worker("race", CB_WORKER_READY, k);
		workers_write(r->s->base, w, k % 8 + 1);
		event_write(r->s->base);
		r->events_written++;
	}
	return NULL;
}

/* Check one round of every reader; returns the number of violations. */
static unsigned race_check(struct seg *s, uint64_t *info_ok,
    uint64_t *events)
{
	struct cb_event_rec ev[CB_EVENT_RING];
	struct cb_worker_rec w[8];
	struct cb_info info;
	unsigned bad = 0;
	uint32_t count;
	size_t n;

	if (cb_snapshot_info(s->base, &info) == 0) {
		const uint32_t *x = (const uint32_t *)&info;

		for (size_t i = 1; i < sizeof(info) / 4; i++)
			bad += x[i] != x[0];
		(*info_ok)++;
	}
	if (cb_snapshot_workers(s->base, w, 8, &count) == 0 && count > 0) {
		/* count and records come from one publish. */
		bad += count != w[0].max_running % 8 + 1;
		for (uint32_t i = 0; i < count && i < 8; i++)
			bad += w[i].max_running != w[0].max_running;
	}
	n = cb_snapshot_events(s->base, ev, CB_EVENT_RING);
	for (size_t i = 0; i < n; i++) {
		uint64_t id = ev[i].seq / 2 - 1;

		bad += !event_matches(&ev[i], id);
		if (i > 0)
			bad += id <= ev[i - 1].seq / 2 - 1;
	}
	*events += n;
	return bad;
}

static void test_readers_under_concurrent_writer(void **state)
{
	struct race r = { .s = *state };
	uint64_t start = cb_monotonic_ns(), ok = 0, events = 0;
	unsigned long bad = 0;
	pthread_t tid;

	assert_int_equal(pthread_create(&tid, NULL, race_writer, &r), 0);
	for (;;) {
		uint64_t t = cb_monotonic_ns() - start;

		bad += race_check(r.s, &ok, &events);
		if ((t > 300000000ull && ok >= 100) || t > 20000000000ull)
			break; /* the second case: starved, reported below */
	}
	atomic_store(&r.stop, 1);
	assert_int_equal(pthread_join(tid, NULL), 0);
	print_message("%llu info copies, %llu events read, %llu written, "
	    "%lu violations\n", (unsigned long long)ok,
	    (unsigned long long)events,
	    (unsigned long long)r.events_written, bad);
	assert_int_equal(bad, 0);
	assert_true(ok >= 100);
}

#define SEG_TEST(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		SEG_TEST(test_info_round_trip),
		SEG_TEST(test_info_stuck_odd_is_eagain),
		SEG_TEST(test_workers_round_trip),
		SEG_TEST(test_workers_hostile_count_is_bounded),
		SEG_TEST(test_workers_stuck_odd_is_eagain),
		SEG_TEST(test_ident_round_trip),
		SEG_TEST(test_events_empty),
		SEG_TEST(test_events_round_trip_oldest_first),
		SEG_TEST(test_events_older_than_ring_dropped),
		SEG_TEST(test_events_mismatched_seq_skipped),
		SEG_TEST(test_readers_ignore_forged_table),
		SEG_TEST(test_readers_under_concurrent_writer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
