/*
 * publisher.h - the publisher thread.
 *
 * Registry and settings changes are posted as events on a liburcu
 * wait-free concurrent queue (wfcqueue) plus an eventfd kick.  The
 * publisher drains every queued event, then recomputes the capacity
 * from a full registry snapshot, so events coalesce and the published
 * state can never lag behind a change it has seen.  It publishes, in
 * order:
 *
 *   1. the worker table (each worker with its stable placement slot
 *      and limit, slotmap.h) and the info block (seqlocks);
 *   2. on a change of capacity, source or flags: an event record, the
 *      state word with generation + 1 (release), a log line
 *      "capacity OLD -> NEW, source OLD -> NEW", and an eventcount
 *      notify of the watch futex word.
 *
 * So a reader that sees a new state word also sees the info and workers
 * that produced it.  cb_publisher_wait() lets the control thread answer
 * a request only once its change is published.
 */
#ifndef CB_PUBLISHER_H
#define CB_PUBLISHER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <urcu/wfcqueue.h>

#include "abi.h"

struct cb_broker;
struct cb_slotmap;

enum cb_pub_event {
	CB_PUB_REGISTRY = 1,   /* a worker was set or deleted */
	CB_PUB_SETTINGS = 2,   /* override or tier settings changed */
	CB_PUB_STOP = 3,       /* publish the stopping flag and exit */
	CB_PUB_POOLS = 4,      /* a pool definition changed */
};

struct cb_publisher {
	struct cds_wfcq_head head;
	struct cds_wfcq_tail tail;
	int kick_fd;                    /* eventfd */
	pthread_t thread;
	bool running;
	_Atomic uint64_t posted;        /* last event number handed out */
	pthread_mutex_t lock;           /* guards applied */
	pthread_cond_t cond;
	uint64_t applied;               /* last event number published */
	/* Publisher-thread private from here on. */
	uint64_t word;                  /* last state word published */
	bool adopting;                  /* first publish on adopted segments */
	struct cb_info info;            /* last info published */
	struct cb_worker_rec *workers;  /* CB_MAX_WORKERS scratch */
	struct cb_slotmap *slotmap;     /* workers' placement slots */
	struct cb_pool_def pool_def[CB_MAX_POOLS];  /* as last published */
	uint32_t pool_limit[CB_MAX_POOLS];
	uint32_t pool_observed[CB_MAX_POOLS];
	uint64_t pool_deadline[CB_MAX_POOLS];   /* share_deadline_ns */
};

/*
 * Set up and do the first publish synchronously (before the thread
 * exists, so the single-writer rule holds).  On adopted segments the
 * generation continues from the segment's.  Returns 0 or -errno.
 */
int cb_publisher_init(struct cb_broker *b);
int cb_publisher_start(struct cb_broker *b);

/* Queue an event (main thread).  Returns its number for wait(). */
uint64_t cb_publisher_post(struct cb_broker *b, enum cb_pub_event type);

/* Wait until event number seq is published.  0 or -ETIMEDOUT. */
int cb_publisher_wait(struct cb_broker *b, uint64_t seq, int timeout_ms);

/* Publish the stopping flag, join the thread, free everything. */
void cb_publisher_stop(struct cb_broker *b);

#endif /* CB_PUBLISHER_H */
