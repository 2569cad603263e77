/*
 * place.c - worker placement (lib/place.h): cb_pick_worker takes one
 * hold on a pool and one unit of a ready worker's own limit in one
 * step; cb_worker_inflight reads a worker's count; the policies by
 * name.  Releasing a bound hold is cb_release (reserve.c).
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "handle.h"

#include "clock.h"
#include "place.h"

static const char *const placement_names[] = {
	[CB_PLACE_CONSOLIDATE] = "consolidate",
	[CB_PLACE_SPREAD] = "spread",
	[CB_PLACE_LEAST_LOADED] = "least_loaded",
};

const char *cb_placement_name(int policy)
{
	if (policy < CB_PLACE_CONSOLIDATE || policy > CB_PLACE_LEAST_LOADED)
		return "unknown";
	return placement_names[policy];
}

int cb_placement_parse(const char *name)
{
	for (int p = CB_PLACE_CONSOLIDATE; name != NULL &&
	    p <= CB_PLACE_LEAST_LOADED; p++)
		if (strcmp(name, placement_names[p]) == 0)
			return p;
	return -EINVAL;
}

static int pick_check(cb_client *c, const struct cb_request *req,
    int policy, const cb_ticket *ticket, const char *worker_id,
    unsigned long id_len)
{
	int r;

	r = cb_handle_enter(c, req != NULL && ticket != NULL,
	    "request or ticket");
	if (r < 0)
		return r;
	if (req->kind != CB_HOLD)
		return cb_handle_fail(c, -EINVAL, "kind %d: only CB_HOLD "
		    "binds to a worker", req->kind);
	if (!cb_place_policy_valid(policy))
		return cb_handle_fail(c, -EINVAL, "placement policy %d is "
		    "not one of CB_PLACE_*", policy);
	if (req->timeout_ms < -1)
		return cb_handle_fail(c, -EINVAL, "timeout_ms %d",
		    req->timeout_ms);
	if (worker_id == NULL ? id_len != 0 : id_len < CB_WORKER_ID_STRLEN)
		return cb_handle_fail(c, -EINVAL, "worker id buffer of %lu "
		    "bytes, need CB_WORKER_ID_STRLEN (%d)", id_len,
		    CB_WORKER_ID_STRLEN);
	if (!cb_handle_pool_valid(c, req->pool))
		return cb_handle_fail(c, -ENOENT, "no pool %d", req->pool);
	return cb_handle_retired(c);
}

struct pick_round_arg {
	cb_client *c;
	int pool;
};

/* Before each attempt of a blocked pick: a retired segment ends the
 * wait, so does the pool's deletion (the broker wakes its pickers:
 * cb_place_wake_all), and a broker that restarted meanwhile hears
 * HELLO again. */
static int pick_round(void *arg)
{
	const struct pick_round_arg *a = arg;

	cb_handle_rehello(a->c);
	if (cb_handle_pool_gone(a->c, a->pool))
		return -EIDRM;
	return cb_handle_retired(a->c);
}

/*
 * Wait for room until picked or the deadline: asleep on the pool's
 * pickers word, counted in its `pickers`, woken one at a time by the
 * releases that free room (lib/place.h, "Blocked pickers").  Blocked
 * pickers do not take part in the fair queue of cb_reserve.
 */
static int pick_wait(cb_client *c, const struct cb_request *req,
    int policy, cb_ticket *ticket, char *id)
{
	struct timespec deadline;
	struct pick_round_arg arg = { c, req->pool };
	struct cb_place_waiting how = {
		.backstop_ms = CB_PLACE_BACKSTOP_MS,
		.round = pick_round,
		.arg = &arg,
	};

	if (req->timeout_ms > 0) {
		deadline = cb_deadline_after_ms(req->timeout_ms);
		how.deadline = &deadline;
	}
	return cb_place_wait(&c->rsv, req->pool, policy, &how, ticket, id);
}

int cb_pick_worker(cb_client *c, const struct cb_request *req, int policy,
    cb_ticket *ticket, char *worker_id, unsigned long id_len,
    uint32_t *retry_after_ms)
{
	char id[CB_WORKER_ID_STRLEN];
	int r = pick_check(c, req, policy, ticket, worker_id, id_len);

	if (r < 0)
		return r;
	r = cb_place_try(&c->rsv, req->pool, policy, ticket, id);
	if (r == -EAGAIN && req->timeout_ms != 0)
		r = pick_wait(c, req, policy, ticket, id);
	if (r == 0) {
		cb_rsv_count_admitted(c->slots, c->rsv.client, req->pool);
		if (worker_id != NULL)
			memcpy(worker_id, id, CB_WORKER_ID_STRLEN);
		return 0;
	}
	/* Refused, or woken out of the wait, because the pool was deleted
	 * (capctl pool del): -ENOENT, as a new lookup would say. */
	if (r == -EIDRM || ((r == -EAGAIN || r == -ETIMEDOUT) &&
	    cb_handle_pool_gone(c, req->pool)))
		return cb_handle_fail(c, -ENOENT, "pool %d was deleted",
		    req->pool);
	if (r == -EAGAIN || r == -ETIMEDOUT) {
		atomic_fetch_add_explicit(&((struct cb_pool_slot *)
		    cb_slots_record(c->slots, CB_RL_POOLS,
		    (uint32_t)req->pool))->rejected, 1, memory_order_relaxed);
		if (retry_after_ms != NULL)
			*retry_after_ms = cb_handle_retry_hint(c, req->pool);
		return cb_handle_fail(c, r, r == -EAGAIN ? "pool %d is at "
		    "its limit, or no ready worker has room" : "pool %d: no "
		    "room on a ready worker within %d ms", req->pool,
		    req->timeout_ms);
	}
	if (r == -EPROTO)
		return r;        /* retired: message kept by cb_handle_retired() */
	if (r == -ENOENT)
		return cb_handle_fail(c, r, "no ready worker in broker '%s'",
		    c->name);
	if (r == -ENOSPC)
		return cb_handle_fail(c, r, "too many bound holds in this "
		    "handle (%d) or holds in this process",
		    CB_BINDS_PER_CLIENT);
	return cb_handle_fail(c, r, "pick failed: %s", cb_strerror(r));
}

int cb_worker_inflight(cb_client *c, const char *worker_id)
{
	struct cb_worker_rec rec;
	int r;

	if (worker_id == NULL)
		return cb_handle_fail(c, -EINVAL, "NULL worker id");
	if (c->slots == NULL)
		return cb_handle_fail(c, -EACCES, "slots segment not "
		    "readable: worker counts need the broker's group");
	r = cb_place_find(c->state, worker_id, &rec);
	if (r == -ENOENT)
		return cb_handle_fail(c, r, "no worker '%.64s'", worker_id);
	if (r < 0)
		return cb_handle_fail(c, r, "worker table unreadable (a "
		    "broker died mid-write?)");
	if (rec.slot >= CB_MAX_WORKERS)
		return cb_handle_fail(c, -EPROTO, "worker '%.64s' has no "
		    "placement slot", worker_id);
	return (int)cb_place_inflight(c->slots, rec.slot);
}
