/*
 * segfix.h - segments for the unit tests of the reservation code
 * (test_reserve.c, test_place.c, test_queue.c): built and validated the
 * broker's way, pools defined the publisher's way, and clients claimed
 * the way cb_open claims them.  Include after
 * cmocka.h, with NAME and INSTANCE defined.
 */
#ifndef CB_TEST_SEGFIX_H
#define CB_TEST_SEGFIX_H

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/types.h>

#include "abi.h"
#include "reserve.h"
#include "segment.h"
#include "seqlock.h"
#include "state_word.h"

static inline size_t seg_size(enum cb_seg_kind kind)
{
	struct cb_layout l;

	cb_layout_init(&l, kind);
	return l.total_size;
}

/* Zero base (seg_size(kind) bytes), write and publish the header, and
 * check that it validates (reserve.c's precondition). */
static inline void seg_init(void *base, enum cb_seg_kind kind)
{
	struct cb_layout l;
	char err[CB_ERRMSG_MAX];

	cb_layout_init(&l, kind);
	memset(base, 0, l.total_size);
	cb_seg_header_init(base, kind, NAME, INSTANCE, &l);
	cb_seg_header_publish(base, kind);
	assert_int_equal(cb_seg_validate(base, l.total_size, kind, NAME, err,
	    sizeof(err)), 0);
}

/* Both segments in private memory (page aligned), built as seg_init()
 * builds them; free() each when done. */
static inline void seg_alloc_pair(void **state, void **slots)
{
	*state = aligned_alloc(4096, seg_size(CB_SEG_STATE));
	*slots = aligned_alloc(4096, seg_size(CB_SEG_SLOTS));
	assert_non_null(*state);
	assert_non_null(*slots);
	seg_init(*state, CB_SEG_STATE);
	seg_init(*slots, CB_SEG_SLOTS);
}

/*
 * Both segments, built as seg_init() builds them, in one anonymous
 * MAP_SHARED mapping (forked children share it), the slots segment
 * page aligned.  Returns the mapping, of *size bytes, for munmap.
 */
static inline void *seg_map_pair(size_t *size, void **state, void **slots)
{
	size_t st = seg_size(CB_SEG_STATE), sl = seg_size(CB_SEG_SLOTS);
	char *m;

	*size = st + sl + 4096;
	m = mmap(NULL, *size, PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(m != MAP_FAILED);
	*state = m;
	*slots = m + ((st + 4095) & ~(size_t)4095);
	seg_init(*state, CB_SEG_STATE);
	seg_init(*slots, CB_SEG_SLOTS);
	return m;
}

/* The publisher's side of pool p: its definition (seqlock), then the
 * observation and the limit (release stores); pool 0's limit is the
 * capacity in the state word. */
static inline void seg_pool_define(void *state, int pool, uint32_t limit,
    uint32_t window_ms, uint32_t observed)
{
	struct cb_pool_conf *c = cb_seg_record(state, CB_RS_POOLS, 0,
	    (uint32_t)pool);
	struct cb_pool_def def;

	memset(&def, 0, sizeof(def));
	def.flags = CB_POOL_F_ACTIVE;
	def.kind = pool == 0 ? CB_LIMIT_CAPACITY : CB_LIMIT_FIXED;
	snprintf(def.name, sizeof(def.name), "pool%d", pool);
	def.value = limit;
	def.window_ms = window_ms;
	cb_seqlock_write(&c->seq, &c->def, &def, sizeof(def));
	atomic_store_explicit(&c->observed, observed, memory_order_release);
	if (pool == 0) {
		struct cb_state_hot *hot = cb_seg_region(state, CB_RS_HOT);

		atomic_store_explicit(&hot->state_word,
		    cb_state_pack(limit, CB_SOURCE_OVERRIDE, 0, 1),
		    memory_order_release);
	} else {
		atomic_store_explicit(&c->limit, limit, memory_order_release);
	}
}

/* One published ready worker "w0", placement slot 0, room for 10 (the
 * publisher's way: the worker table's seqlock). */
static inline void seg_one_worker(void *state)
{
	struct cb_worker_table *t = cb_seg_region(state, CB_RS_WORKERS);
	struct cb_worker_rec rec;

	memset(&rec, 0, sizeof(rec));
	snprintf(rec.id, sizeof(rec.id), "w0");
	rec.state = CB_WORKER_READY;
	rec.max_running = 10;
	rec.limit = 10;
	rec.slot = 0;
	cb_seqlock_write_begin(&t->seq);
	__atomic_store_n(&t->count, 1, __ATOMIC_RELAXED);
	cb_seq_copy_in(cb_seg_record(state, CB_RS_WORKERS, sizeof(*t), 0),
	    &rec, sizeof(rec));
	cb_seqlock_write_end(&t->seq);
}

/* A client set up the way cb_open does: an entry claimed for pid (with
 * start as its /proc starttime) and a private hold table of local_size
 * entries (a power of two).  Free r->local when done.  Returns -3 if no
 * entry could be claimed, -4 out of memory, 0: the forms a forked child
 * (which must not use cmocka's asserts) exits with. */
static inline int seg_rsv_try_open(struct cb_rsv *r, void *state,
    void *slots, pid_t pid, uint64_t start, uint32_t local_size)
{
	memset(r, 0, sizeof(*r));
	r->state = state;
	r->slots = slots;
	if (cb_rsv_claim(slots, pid, start, &r->client, &r->owner) < 0)
		return -3;
	r->local = calloc(local_size, sizeof(*r->local));
	if (r->local == NULL)
		return -4;
	r->local_size = local_size;
	return 0;
}

static inline void seg_rsv_open(struct cb_rsv *r, void *state, void *slots,
    pid_t pid, uint64_t start, uint32_t local_size)
{
	assert_int_equal(seg_rsv_try_open(r, state, slots, pid, start,
	    local_size), 0);
}

#endif /* CB_TEST_SEGFIX_H */
