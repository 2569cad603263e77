/*
 * sweeper.h - the sweeper thread: the broker's side of the reservation
 * table (reserve.h).  The code that repairs the table is lib/sweep_*.c
 * (sweep.h); this thread decides when, and logs and counts what it did.
 *
 * It owns everything the broker does to the slots segment:
 *
 *   - watches every attached client with a pidfd (registered by HELLO,
 *     or found by scanning the client table, e.g. after a restart) and
 *     the moment one dies undoes its holds and frees its entry;
 *   - every sweep (CB_SWEEP_MS): expires launches past their deadline,
 *     settles launch entries a dead claimer left half-made, publishes
 *     each pool's earliest deadline (the retry-after hint);
 *   - every CB_RECOUNT_SWEEPS sweeps: scans the client table (unwatched
 *     or dead entries, garbage in free ones), recounts every active
 *     pool and repairs drift, checks the slots header;
 *   - logs and counts every repair.
 *
 * The slots segment is writable by every client, so the sweeper treats
 * each word it reads there as hostile: indexes are bounds-checked,
 * states validated, counters never trusted beyond what the records
 * support.  It is the only broker thread that writes the slots segment
 * (apart from wake-ups), so its repairs never race each other.
 */
#ifndef CB_SWEEPER_H
#define CB_SWEEPER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <urcu/wfcqueue.h>

#include "abi.h"
#include "log.h"

#define CB_SWEEP_MS 20
#define CB_RECOUNT_SWEEPS 5

struct cb_broker;
struct cb_sweep_scratch;
struct cb_wq_sweep;

struct cb_watch {
	int pidfd;           /* -1: not watched */
	uint64_t owner;      /* the owner word it was watched for */
	uint64_t tag;        /* its epoll tag (sweeper.c), unique per watch */
};

struct cb_sweeper {
	pthread_t thread;
	bool running;
	int epfd, kick_fd, timer_fd;
	struct cds_wfcq_head head;   /* requests from the main thread */
	struct cds_wfcq_tail tail;
	_Atomic bool stop;
	/* Sweeper-thread private from here on. */
	struct cb_watch watch[CB_MAX_CLIENTS];
	uint64_t watch_seq;                 /* the last watch's seq */
	uint64_t claiming[CB_MAX_LAUNCHES];     /* cb_rsv_settle's prev */
	int64_t worker_drift[CB_MAX_WORKERS];   /* cb_place_recount's drift */
	struct cb_seg_header slots_header;  /* as created, for repair */
	unsigned long sweeps;
	unsigned long logged, unlogged;     /* reclaim lines this sweep */
	struct cb_wq_sweep *wq;             /* pool queues (sweep.h) */
	struct cb_sweep_scratch *scratch;   /* the recounts' (sweep.h) */
	/* The limiters of the repair lines a member can provoke every
	 * sweep (log.h): one per kind, per pool where the line names one. */
	struct {
		struct log_rl scrub, lanes, header, launches, queues, binds;
		struct log_rl drift[CB_MAX_POOLS], age[CB_MAX_POOLS];
	} rl;
};

int cb_sweeper_start(struct cb_broker *b);
void cb_sweeper_stop(struct cb_broker *b);

/* From the main thread: a client said HELLO (watch it now), or its
 * connection closed (check whether it died). */
void cb_sweeper_hello(struct cb_broker *b, uint32_t index, uint64_t owner);
void cb_sweeper_check(struct cb_broker *b, uint32_t index, uint64_t owner);

#endif /* CB_SWEEPER_H */
