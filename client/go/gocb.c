/*
 * gocb.c - the cgo wrappers of the Go binding: one libcapbroker call
 * each, the failure's message copied in the same call (gocb.h).
 */
#include <stdio.h>

#include "gocb.h"

static int fail(const cb_client *c, int r, struct gocb_out *o)
{
	if (r < 0)
		snprintf(o->msg, sizeof o->msg, "%s", cb_errmsg(c));
	return r;
}

int gocb_open(cb_client **out, const char *name, unsigned flags,
    struct gocb_out *o)
{
	int r = cb_open(out, name, flags);

	if (r < 0)
		snprintf(o->msg, sizeof o->msg, "%s", cb_open_errmsg());
	return r;
}

int gocb_watch(cb_client *c, uint32_t *gen, int timeout_ms,
    struct gocb_out *o)
{
	return fail(c, cb_watch(c, gen, timeout_ms), o);
}

int gocb_broker_check(cb_client *c, struct gocb_out *o)
{
	return fail(c, cb_broker_check(c), o);
}

int gocb_pool(cb_client *c, const char *name, struct gocb_out *o)
{
	return fail(c, cb_pool(c, name), o);
}

int gocb_pool_info(cb_client *c, int pool, struct cb_pool_info *info,
    struct gocb_out *o)
{
	return fail(c, cb_pool_info(c, pool, info), o);
}

int gocb_reserve(cb_client *c, const struct cb_request *req,
    struct gocb_out *o)
{
	return fail(c, cb_reserve(c, req, &o->ticket,
	    &o->retry_after_ms), o);
}

int gocb_release(cb_client *c, const cb_ticket *t,
    struct gocb_out *o)
{
	return fail(c, cb_release(c, t), o);
}

int gocb_enqueue(cb_client *c, const struct cb_request *req,
    cb_waiter *w, struct gocb_out *o)
{
	return fail(c, cb_enqueue(c, req, w), o);
}

int gocb_queue_position(cb_client *c, const cb_waiter *w,
    struct gocb_out *o)
{
	return fail(c, cb_queue_position(c, w), o);
}

int gocb_wait(cb_client *c, cb_waiter *w, int timeout_ms,
    struct gocb_out *o)
{
	return fail(c, cb_wait(c, w, timeout_ms, &o->ticket,
	    &o->retry_after_ms), o);
}

/* No message: called from a watcher goroutine, and any failure
 * (-ESTALE: the wait was admitted or left) is of no use to it. */
int gocb_wait_cancel(cb_client *c, const cb_waiter *w)
{
	return cb_wait_cancel(c, w);
}

int gocb_dequeue(cb_client *c, cb_waiter *w, struct gocb_out *o)
{
	return fail(c, cb_dequeue(c, w), o);
}

int gocb_pick_worker(cb_client *c, const struct cb_request *req,
    int policy, struct gocb_out *o)
{
	return fail(c, cb_pick_worker(c, req, policy, &o->ticket,
	    o->worker, sizeof o->worker, &o->retry_after_ms), o);
}

int gocb_worker_inflight(cb_client *c, const char *id,
    struct gocb_out *o)
{
	return fail(c, cb_worker_inflight(c, id), o);
}
