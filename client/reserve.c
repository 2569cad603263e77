/*
 * reserve.c - reserving and releasing: cb_reserve (one CAS on the
 * pool's usage word when nobody is queued, else a place in the pool's
 * fair queue), the queue's steps for callers that wait on their own
 * (cb_enqueue, cb_queue_position, cb_wait, cb_dequeue), cb_release, and
 * tickets as text.  The protocols are lib/reserve.h and lib/queue.h;
 * this file checks requests, counts refusals, and words the errors.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "handle.h"

#include "clock.h"
#include "lane.h"
#include "queue.h"

/*
 * The hint for an over-the-limit reserve: the earliest launch deadline
 * in the pool (the sweeper's, or a launcher's newer hint, which a
 * hostile client could inflate, so no later than one window and the
 * deadline clock's margin), else the broker's default.
 */
uint32_t cb_handle_retry_hint(cb_client *c, int pool)
{
	const struct cb_pool_conf *conf = cb_seg_record(c->state, CB_RS_POOLS,
	    0, (uint32_t)pool);
	const struct cb_pool_slot *ps = cb_slots_record(c->slots, CB_RL_POOLS,
	    (uint32_t)pool);
	const struct cb_info_block *blk = cb_seg_region(c->state, CB_RS_INFO);
	uint64_t now = cb_monotonic_ns(), best = 0;
	uint64_t d = atomic_load_explicit(&conf->earliest_deadline_ns,
	    memory_order_relaxed);
	uint64_t h = atomic_load_explicit(&ps->launch_hint_ns,
	    memory_order_relaxed);
	uint64_t window = (uint64_t)cb_rsv_window_ms(c->state, pool) * 1000000u;
	uint32_t dflt = __atomic_load_n(&blk->info.retry_after_ms,
	    __ATOMIC_RELAXED);

	if (d > now)
		best = d;
	/* A launch's deadline is read from the coarse clock plus its
	 * margin (lib/clock.h): up to that margin past now + window. */
	if (h > now && h <= now + window + cb_monotonic_coarse_margin_ns() &&
	    (best == 0 || h < best))
		best = h;
	/* Never more than one window, as documented: a deadline the
	 * margin late is retried up to the margin early. */
	if (best > now + window)
		best = now + window;
	if (best != 0)
		return (uint32_t)((best - now + 999999) / 1000000);
	return dflt ? dflt : 100;
}

/* A wait ended: if it admitted after the segment was retired, give the
 * unit back; if it was sent out of the queue by the retirement (-ESTALE,
 * or cb_wq_wait's own check: -EPROTO), say so. */
static int wait_ended(cb_client *c, int r, const cb_ticket *ticket)
{
	if ((r == 0 || r == -ESTALE || r == -EPROTO) &&
	    cb_handle_retired(c) < 0) {
		if (r == 0)
			cb_rsv_release(&c->rsv, ticket);
		return -EPROTO;
	}
	return r;
}

static int check_request(cb_client *c, const struct cb_request *req,
    const cb_ticket *ticket)
{
	int r;

	r = cb_handle_enter(c, req != NULL && ticket != NULL,
	    "request or ticket");
	if (r < 0)
		return r;
	if (req->kind != CB_HOLD && req->kind != CB_LAUNCH)
		return cb_handle_fail(c, -EINVAL, "kind %d is neither "
		    "CB_HOLD nor CB_LAUNCH", req->kind);
	if (req->timeout_ms < -1)
		return cb_handle_fail(c, -EINVAL, "timeout_ms %d",
		    req->timeout_ms);
	if (!cb_handle_pool_valid(c, req->pool))
		return cb_handle_fail(c, -ENOENT, "no pool %d", req->pool);
	return cb_handle_retired(c);
}

/* The errors of an over-the-limit reserve or wait: counted, hinted. */
static int over_limit(cb_client *c, int pool, int r, int timeout_ms,
    uint32_t *retry_after_ms)
{
	struct cb_pool_slot *ps = cb_slots_record(c->slots, CB_RL_POOLS,
	    (uint32_t)pool);

	atomic_fetch_add_explicit(&ps->rejected, 1, memory_order_relaxed);
	if (retry_after_ms != NULL)
		*retry_after_ms = cb_handle_retry_hint(c, pool);
	if (r == -EAGAIN)
		return cb_handle_fail(c, r, "pool %d is at its limit%s", pool,
		    cb_wq_hint(c->slots, pool) != 0 ? " (or waiters of the "
		    "same or a higher priority are queued)" : "");
	return cb_handle_fail(c, r, "pool %d: no slot within %d ms", pool,
	    timeout_ms);
}

/* The pool was deleted (capctl pool del): a refusal, a wait or a
 * place in its queue ends with -ENOENT, as a new lookup would. */
static int pool_deleted(cb_client *c, int pool)
{
	return cb_handle_fail(c, -ENOENT, "pool %d was deleted", pool);
}

static int reserve_failed(cb_client *c, int kind, int r)
{
	return cb_handle_fail(c, r, r == -ENOSPC ? "no free %s slot" :
	    "reserve failed: %s", r == -ENOSPC ? (kind == CB_HOLD ?
	    "local hold" : "launch table") : cb_strerror(r));
}

static int queue_full(cb_client *c)
{
	return cb_handle_fail(c, -ENOSPC, "waiter table full (%d blocked "
	    "reservers on this host)", CB_MAX_WAITERS);
}

/*
 * The blocking path of cb_reserve: a place in the queue (queue.h),
 * then wait as it moves up; leave on timeout.  Signals do not end the
 * wait (the place is kept and the deadline stays absolute).
 */
static int reserve_queued(cb_client *c, const struct cb_request *req,
    cb_ticket *ticket, int *full)
{
	struct cb_wq_entry me;
	struct timespec deadline;
	int r;

	cb_handle_rehello(c);
	r = cb_wq_enqueue(c->slots, c->rsv.client, c->rsv.owner, req->pool,
	    req->priority, &me);
	if (r < 0) {
		*full = 1;
		return r;
	}
	if (req->timeout_ms > 0)
		deadline = cb_deadline_after_ms(req->timeout_ms);
	r = cb_wq_wait(&c->rsv, &me, req->kind, req->observed,
	    req->timeout_ms > 0 ? &deadline : NULL, 0, ticket);
	if (r == -ETIMEDOUT)
		cb_wq_leave(c->slots, &me);
	return wait_ended(c, r, ticket);
}

/*
 * The hot path: a hold of a pool this handle has seen active, nobody
 * queued, through the calling thread's lane (lib/reserve.h, "Lanes"):
 * the checks of check_request() and cb_reserve() that can fail, in one
 * place, with nothing to word.  1: take the full path.
 */
static inline int reserve_fast(cb_client *c, const struct cb_request *req,
    cb_ticket *ticket)
{
	int pool;

	if (req == NULL || ticket == NULL || req->kind != CB_HOLD ||
	    c->fork_gen != cb_handle_fork_gen())
		return 1;
	pool = req->pool;
	if (!cb_handle_pool_known(c, pool) || cb_handle_retired(c) < 0 ||
	    cb_wq_hint(c->slots, pool) != 0)
		return 1;
	return cb_lane_hold_fast(&c->rsv, pool, ticket);
}

int cb_reserve(cb_client *c, const struct cb_request *req,
    cb_ticket *ticket, uint32_t *retry_after_ms)
{
	int r, full = 0;

	if (reserve_fast(c, req, ticket) == 0)
		return 0;
	r = check_request(c, req, ticket);
	if (r < 0)
		return r;
	/* A global pool's launch: exact across hosts, through the broker
	 * and etcd (glaunch.c). */
	if (req->kind == CB_LAUNCH && cb_handle_pool_global(c, req->pool))
		return cb_handle_global_launch(c, req, ticket, retry_after_ms);
	/* The hot path: nobody queued (one relaxed load), one attempt.
	 * With waiters queued (queue.h, Barging) a fail-fast request
	 * never passes one of the same or a higher priority; a blocking
	 * one takes a free unit (after a short spin if there is none)
	 * unless a head waited past the hand-off bound or a waiter
	 * outranks it, and otherwise joins the queue. */
	if (req->timeout_ms == 0)
		r = cb_wq_blocked(c->slots, req->pool, req->priority) ?
		    -EAGAIN : cb_rsv_try(&c->rsv, req->pool, req->kind,
		    req->observed, ticket);
	else
		r = cb_wq_arrive(&c->rsv, req->pool, req->kind, req->observed,
		    req->priority, ticket);
	if (r == -EAGAIN && cb_handle_pool_gone(c, req->pool))
		return pool_deleted(c, req->pool);
	if (r == -EAGAIN && req->timeout_ms != 0)
		r = reserve_queued(c, req, ticket, &full);
	if (r == 0)
		return 0;
	if (r == -EPROTO)
		return r;        /* retired: message kept by cb_handle_retired() */
	/* Sent out of the queue (-ESTALE), or refused to the end, because
	 * the pool was deleted meanwhile. */
	if ((r == -ESTALE || r == -EAGAIN || r == -ETIMEDOUT) &&
	    cb_handle_pool_gone(c, req->pool))
		return pool_deleted(c, req->pool);
	if (r == -EAGAIN || r == -ETIMEDOUT)
		return over_limit(c, req->pool, r, req->timeout_ms,
		    retry_after_ms);
	if (r == -ESTALE)
		return cb_handle_fail(c, r, "queue entry pruned: this "
		    "handle's client entry was reclaimed");
	if (full)
		return queue_full(c);
	return reserve_failed(c, req->kind, r);
}

/*
 * Waiter handles.  opaque[0] the entry's WAITING word (0 once it left
 * the queue), [1] tag | kind << 32 | index, [2] arrival ticket,
 * [3] observed << 32 | priority.
 */
#define WAITER_TAG 0xcb01000000000000ull
#define WAITER_TAG_MASK 0xffff000000000000ull

static void waiter_pack(cb_waiter *w, const struct cb_wq_entry *me,
    const struct cb_request *req)
{
	w->opaque[0] = me->word;
	w->opaque[1] = WAITER_TAG | (uint64_t)(uint8_t)req->kind << 32 |
	    me->index;
	w->opaque[2] = me->ticket;
	w->opaque[3] = (uint64_t)req->observed << 32 |
	    (uint32_t)me->priority;
}

/* Decode a handle of this client's.  Returns 0, -ESTALE (no longer
 * queued), -EINVAL (not a waiter handle of this handle). */
static int waiter_unpack(cb_client *c, const cb_waiter *w,
    struct cb_wq_entry *me, int *kind, uint32_t *observed)
{
	/* Relaxed atomic: cb_wait_cancel and cb_queue_position read it
	 * from other threads while the waiting thread clears it (the
	 * word itself is validated against the entry, seq_cst). */
	uint64_t word = __atomic_load_n(&w->opaque[0], __ATOMIC_RELAXED);

	if ((w->opaque[1] & WAITER_TAG_MASK) != WAITER_TAG)
		return cb_handle_fail(c, -EINVAL, "not a waiter handle");
	if (word == 0)
		return cb_handle_fail(c, -ESTALE, "not queued (already "
		    "admitted or dequeued)");
	me->index = (uint32_t)w->opaque[1];
	me->word = word;
	me->pool = (int)CB_WAITER_POOL(word);
	me->ticket = w->opaque[2];
	me->priority = (int32_t)(uint32_t)w->opaque[3];
	*kind = (int)((w->opaque[1] >> 32) & 0xff);
	*observed = (uint32_t)(w->opaque[3] >> 32);
	if (me->index >= CB_MAX_WAITERS ||
	    CB_WAITER_STATE(word) != CB_WAITER_WAITING ||
	    CB_WAITER_CLIENT(word) != (c->rsv.client & 0x3ff) ||
	    (*kind != CB_HOLD && *kind != CB_LAUNCH))
		return cb_handle_fail(c, -EINVAL, "not a waiter handle of "
		    "this client");
	return 0;
}

/* What every call on a waiter handle checks first. */
static int waiter_open(cb_client *c, const cb_waiter *w,
    struct cb_wq_entry *me, int *kind, uint32_t *observed)
{
	int r;

	r = cb_handle_enter(c, w != NULL, "waiter");
	if (r < 0)
		return r;
	return waiter_unpack(c, w, me, kind, observed);
}

/* The queue no longer has the entry: the broker (or a scanner) freed
 * it because this handle's client entry was reclaimed. */
static int pruned(cb_client *c, int r)
{
	return cb_handle_fail(c, r, "no longer queued (pruned: this "
	    "handle's client entry was reclaimed)");
}

int cb_enqueue(cb_client *c, const struct cb_request *req, cb_waiter *w)
{
	cb_ticket unused;
	struct cb_wq_entry me;
	int r;

	if (w == NULL)
		return cb_handle_fail(c, -EINVAL, "NULL waiter");
	r = check_request(c, req, &unused);
	if (r < 0)
		return r;
	r = cb_wq_enqueue(c->slots, c->rsv.client, c->rsv.owner, req->pool,
	    req->priority, &me);
	if (r < 0)
		return queue_full(c);
	waiter_pack(w, &me, req);
	return 0;
}

int cb_queue_position(cb_client *c, const cb_waiter *w)
{
	struct cb_wq_entry me;
	uint32_t observed;
	int kind, r;

	r = waiter_open(c, w, &me, &kind, &observed);
	if (r < 0)
		return r;
	r = cb_wq_position(c->slots, &me);
	return r < 0 ? pruned(c, r) : r;
}

int cb_wait(cb_client *c, cb_waiter *w, int timeout_ms, cb_ticket *ticket,
    uint32_t *retry_after_ms)
{
	struct cb_wq_entry me;
	struct timespec deadline;
	uint32_t observed;
	int kind, r;

	if (ticket == NULL || timeout_ms < -1)
		return cb_handle_fail(c, -EINVAL, "NULL ticket, or "
		    "timeout_ms < -1");
	r = waiter_open(c, w, &me, &kind, &observed);
	if (r < 0)
		return r;
	r = cb_handle_retired(c);
	if (r < 0) {
		cb_wq_leave(c->slots, &me);
		w->opaque[0] = 0;
		return r;
	}
	cb_handle_rehello(c);
	if (timeout_ms >= 0)
		deadline = cb_deadline_after_ms(timeout_ms);
	r = wait_ended(c, cb_wq_wait_cancel(&c->rsv, &me, kind, observed,
	    timeout_ms >= 0 ? &deadline : NULL, 1, &c->cancel[me.index],
	    ticket), ticket);
	if (r == -ETIMEDOUT)
		return over_limit(c, me.pool, r, timeout_ms, retry_after_ms);
	if (r == -EINTR)
		return cb_handle_fail(c, r, "interrupted by a signal; still "
		    "queued");
	/* Not counted as a refusal: the caller ended it. */
	if (r == -ECANCELED)
		return cb_handle_fail(c, r, "cancelled (cb_wait_cancel); "
		    "still queued");
	/* Admitted, or out of the queue (see waiter_unpack). */
	__atomic_store_n(&w->opaque[0], 0, __ATOMIC_RELAXED);
	if (r == 0 || r == -EPROTO)
		return r;
	if (r == -ESTALE && cb_handle_pool_gone(c, me.pool))
		return pool_deleted(c, me.pool);
	if (r == -ESTALE)
		return pruned(c, r);
	return reserve_failed(c, kind, r);
}

int cb_wait_cancel(cb_client *c, const cb_waiter *w)
{
	struct cb_wq_entry me;
	uint32_t observed;
	int kind, r;

	r = waiter_open(c, w, &me, &kind, &observed);
	if (r < 0)
		return r;
	r = cb_wq_cancel(c->slots, &me, &c->cancel[me.index]);
	return r < 0 ? cb_handle_fail(c, r, "not queued (admitted, "
	    "dequeued or pruned)") : 0;
}

int cb_dequeue(cb_client *c, cb_waiter *w)
{
	struct cb_wq_entry me;
	uint32_t observed;
	int kind, r;

	r = waiter_open(c, w, &me, &kind, &observed);
	if (r < 0)
		return r;
	__atomic_store_n(&w->opaque[0], 0, __ATOMIC_RELAXED);
	r = cb_wq_leave(c->slots, &me);
	return r < 0 ? pruned(c, r) : 0;
}

int cb_release(cb_client *c, const cb_ticket *ticket)
{
	int r;

	/* The hot path (lib/reserve.h): this thread's own lane. */
	if (ticket != NULL && c->fork_gen == cb_handle_fork_gen()) {
		r = cb_lane_release_fast(&c->rsv, ticket);
		if (r == 0)
			return 0;
		if (r == -ESTALE)
			return cb_handle_fail(c, r, "ticket already released, "
			    "reclaimed or expired, or its hold ran past "
			    "hold_max (given back)");
	}
	r = cb_handle_enter(c, ticket != NULL, "ticket");
	if (r < 0)
		return r;
	if ((ticket->opaque[0] & 0xff) == TICKET_GLAUNCH)
		return cb_handle_global_release(c, ticket);
	r = cb_rsv_release(&c->rsv, ticket);
	if (r == -ESTALE)
		return cb_handle_fail(c, r, "ticket already released, "
		    "reclaimed or expired, or its hold ran past "
		    "hold_max (given back)");
	if (r == -EINVAL)
		return cb_handle_fail(c, r, "not a ticket this handle can "
		    "release (holds are released by the handle that took "
		    "them)");
	return r;
}

int cb_ticket_format(const cb_ticket *t, char *buf, unsigned long len)
{
	int n = snprintf(buf, len, "cb1-%016llx-%016llx",
	    (unsigned long long)t->opaque[0],
	    (unsigned long long)t->opaque[1]);

	return n < 0 || (unsigned long)n >= len ? -ENOSPC : 0;
}

int cb_ticket_parse(const char *s, cb_ticket *t)
{
	unsigned long long a, b;
	int end = 0;

	if (s == NULL || strlen(s) != 4 + 16 + 1 + 16 ||
	    sscanf(s, "cb1-%16llx-%16llx%n", &a, &b, &end) != 2 ||
	    end != (int)strlen(s) || strspn(s + 4, "0123456789abcdef-") !=
	    strlen(s) - 4)
		return -EINVAL;
	t->opaque[0] = a;
	t->opaque[1] = b;
	return 0;
}
