/*
 * snapshot.c - seqlock readers of the state segment (see snapshot.h).
 */
#include "snapshot.h"

#include <errno.h>
#include <sched.h>

#include "segment.h"
#include "seqlock.h"

int cb_snapshot_info(const void *state, struct cb_info *out)
{
	const struct cb_info_block *b = cb_seg_region(state, CB_RS_INFO);

	return cb_seqlock_read(&b->seq, out, &b->info, sizeof(*out));
}

static uint32_t copy_workers(const void *state, struct cb_worker_rec *out,
    uint32_t max)
{
	const struct cb_worker_table *t = cb_seg_region(state, CB_RS_WORKERS);
	uint32_t n = __atomic_load_n(&t->count, __ATOMIC_RELAXED);

	/* count is hostile until checked: bound by the table (this
	 * build's size of it, segment.h) and the caller. */
	if (n > CB_MAX_WORKERS)
		n = CB_MAX_WORKERS;
	if (n > max)
		n = max;
	for (uint32_t i = 0; i < n; i++)
		cb_seq_copy_out(&out[i], cb_seg_record(state, CB_RS_WORKERS,
		    sizeof(*t), i), sizeof(out[i]));
	return n;
}

int cb_snapshot_workers(const void *state, struct cb_worker_rec *out,
    uint32_t max, uint32_t *count)
{
	const struct cb_worker_table *t = cb_seg_region(state, CB_RS_WORKERS);

	for (int i = 0; i < CB_SEQLOCK_TRIES; i++) {
		uint32_t s = cb_seqlock_read_begin(&t->seq);

		if (!(s & 1)) {
			*count = copy_workers(state, out, max);
			if (!cb_seqlock_read_retry(&t->seq, s))
				return 0;
		}
		if (i > 16)
			sched_yield();
	}
	*count = 0;
	return -EAGAIN;
}

int cb_snapshot_ident(const void *state, struct cb_ident *out)
{
	const struct cb_seg_header *h = state;

	for (int i = 0; i < CB_SEQLOCK_TRIES; i++) {
		uint32_t s = cb_seqlock_read_begin(&h->ident_seq);

		out->pid = atomic_load_explicit(&h->broker_pid,
		    memory_order_relaxed);
		out->start = atomic_load_explicit(&h->broker_start,
		    memory_order_relaxed);
		out->epoch = atomic_load_explicit(&h->epoch,
		    memory_order_relaxed);
		if (!cb_seqlock_read_retry(&h->ident_seq, s))
			return 0;
		if (i > 16)
			sched_yield();
	}
	return -EAGAIN;
}

size_t cb_snapshot_events(const void *state, struct cb_event_rec *out,
    size_t max)
{
	const struct cb_event_ring *ring = cb_seg_region(state, CB_RS_EVENTS);
	const uint32_t slots = CB_EVENT_RING;
	/* Paired with the release store of head in the publisher. */
	uint64_t head = atomic_load_explicit(&ring->head, memory_order_acquire);
	uint64_t first = head > max ? head - max : 0;
	size_t n = 0;

	if (head - first > slots)
		first = head - slots;
	for (uint64_t ev = first; ev < head; ev++) {
		const struct cb_event_rec *rec = cb_seg_record(state,
		    CB_RS_EVENTS, sizeof(*ring), (uint32_t)(ev % slots));
		uint64_t want = 2 * ev + 2;

		/* Paired with the release store of rec->seq by the writer. */
		if (atomic_load_explicit(&rec->seq, memory_order_acquire) !=
		    want)
			continue;
		cb_seq_copy_out(&out[n], rec, sizeof(out[n]));
		atomic_thread_fence(memory_order_acquire);
		if (atomic_load_explicit(&rec->seq, memory_order_relaxed) ==
		    want)
			n++;
	}
	return n;
}

int cb_snapshot_pool(const void *state, int pool, struct cb_pool_def *out)
{
	const struct cb_pool_conf *conf;

	if (pool < 0 || pool >= CB_MAX_POOLS)
		return -ENOENT;
	conf = cb_seg_record(state, CB_RS_POOLS, 0, (uint32_t)pool);
	return cb_seqlock_read(&conf->seq, out, &conf->def, sizeof(*out));
}
