/*
 * gocb.h - the cgo wrappers of the Go binding (gocb.c).
 *
 * Each wrapper makes one libcapbroker call and, when it fails, copies
 * the library's message (cb_errmsg, per OS thread) into o->msg before
 * returning to Go: see native.go for why.
 */
#ifndef GOCB_H
#define GOCB_H

#include <stdint.h>
#include <capbroker.h>

#define GOCB_MSG_LEN 256

/* What a call takes and hands back besides its return value.  Allocated by Go
 * (no Go pointers inside), written only by the wrapper during the call,
 * read by Go after it returns. */
struct gocb_out {
	struct cb_request req;  /* in: the request, here to spare an
	                           allocation per call */
	cb_ticket ticket;
	uint32_t retry_after_ms;
	char worker[CB_WORKER_ID_STRLEN];
	char msg[GOCB_MSG_LEN];
};

int gocb_open(cb_client **out, const char *name, unsigned flags,
    struct gocb_out *o);
int gocb_watch(cb_client *c, uint32_t *gen, int timeout_ms,
    struct gocb_out *o);
int gocb_broker_check(cb_client *c, struct gocb_out *o);
int gocb_pool(cb_client *c, const char *name, struct gocb_out *o);
int gocb_pool_info(cb_client *c, int pool, struct cb_pool_info *info,
    struct gocb_out *o);
int gocb_reserve(cb_client *c, const struct cb_request *req,
    struct gocb_out *o);
int gocb_release(cb_client *c, const cb_ticket *t, struct gocb_out *o);
int gocb_enqueue(cb_client *c, const struct cb_request *req, cb_waiter *w,
    struct gocb_out *o);
int gocb_queue_position(cb_client *c, const cb_waiter *w,
    struct gocb_out *o);
int gocb_wait(cb_client *c, cb_waiter *w, int timeout_ms,
    struct gocb_out *o);
int gocb_wait_cancel(cb_client *c, const cb_waiter *w);
int gocb_dequeue(cb_client *c, cb_waiter *w, struct gocb_out *o);
int gocb_pick_worker(cb_client *c, const struct cb_request *req, int policy,
    struct gocb_out *o);
int gocb_worker_inflight(cb_client *c, const char *id, struct gocb_out *o);

#endif /* GOCB_H */
