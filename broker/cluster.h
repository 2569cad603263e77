/*
 * cluster.h - global pools: one limit for a cluster of brokers, shares
 * leased from etcd (issue 15; the rule is tests/model/shares.pml's).
 *
 * A broker configured with `etcd = ENDPOINTS` runs a cluster thread,
 * the only user of its etcd client (etcd.h).  It keeps a lease, the
 * key alive/HOST under it, and for each global pool this host's share
 * of the pool's limit; it publishes what the publisher needs through
 * the fields marked "shared" below, and what capdump shows through the
 * state segment's cluster block (abi.h, CB_RS_CLUSTER), of which it is
 * the only writer.
 */
#ifndef CB_CLUSTER_H
#define CB_CLUSTER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "abi.h"

struct cb_broker;
struct cb_etcd;

#define CB_ETCD_CONF_MAX 1024      /* the endpoints setting, bytes */
#define CB_LEASE_TTL_DEFAULT 10u   /* seconds */
#define CB_LEASE_TTL_MIN 2u
#define CB_LEASE_TTL_MAX 3600u
#define CB_HOLD_MAX_DEFAULT 300u   /* seconds, a global pool's */
#define CB_CLUSTER_DEFAULT "capbroker"

/* A global pool's hold_max in seconds: its definition's, or the
 * default (the quarantine's TTL, cluster.c, and the hold aging's
 * epochs, sweeper.c, must agree). */
static inline uint32_t cb_hold_max_s(const struct cb_pool_def *def)
{
	return def->hold_max_s ? def->hold_max_s : CB_HOLD_MAX_DEFAULT;
}

/* The settings (config.h: etcd, cluster, host, lease_ttl).  Set by the
 * main thread before cb_cluster_start(); read-only afterwards. */
struct cb_cluster_conf {
	char etcd[CB_ETCD_CONF_MAX];                /* "" = no cluster */
	char cluster[CB_CLUSTER_NAME_MAX + 1];
	char host[CB_HOST_NAME_MAX + 1];
	uint32_t lease_ttl_s;
};

struct cb_cluster {
	struct cb_cluster_conf conf;
	bool on;                        /* conf.etcd is set */
	/*
	 * Shared with the publisher (which loads both, then publishes the
	 * pool's limit and then its deadline, release stores; abi.h):
	 *   local_limit[p]  what global pool p may admit on this host;
	 *   valid_until_ns  the shares' deadline, as clients compare it
	 *                   (CLOCK_MONOTONIC_COARSE, less the coarse
	 *                   resolution); 0 = none valid.
	 * Written by the cluster thread only, which posts a publisher
	 * event after each change and, where the rule orders a lower limit
	 * before something else (a shrink in etcd, a deadline moved after
	 * a new lease), waits until it is published (cb_publisher_wait).
	 */
	_Atomic uint32_t local_limit[CB_MAX_POOLS];
	_Atomic uint64_t valid_until_ns;
	/* Cluster-thread private from here on. */
	pthread_t thread;
	bool running;
	_Atomic bool stop;
	int wake_fd;                    /* eventfd: stop, or a pool change */
	struct cb_etcd *etcd;
	void *priv;                     /* cluster.c's state */
	void *launch;                   /* cluster.c's launch thread */
};

/*
 * Global launches (the fleet cap across hosts): each is an etcd
 * transaction of its own, run by the cluster's launch thread (its own
 * etcd client, so that launches never delay a renewal).  The control
 * socket (main thread) submits LAUNCH and UNLAUNCH requests and gets
 * the answers back through cb_cluster_done_fd() (an eventfd it polls)
 * and cb_cluster_done_pop().  Keys, under K pool/P/launch/:
 *   LEASE   the launch's key, named by its own lease (hex), TTL the
 *           pool's window: it ages out by itself; the value is its
 *           expiry, CLOCK_REALTIME ms (a hint for retry-after).
 * A launch is admitted iff observed + live launch keys + 1 <= L, by a
 * transaction that puts the new key only if no key under the prefix
 * changed since it counted them (a key that expired meanwhile only
 * lowers the count), so admissions are exact across hosts.
 */
struct cb_launch_job {
	uint64_t conn;          /* the control connection's id */
	int unlaunch;           /* 0: LAUNCH, 1: UNLAUNCH */
	int pool;
	char name[CB_POOL_NAME_MAX + 1];
	uint32_t limit;         /* L */
	uint32_t window_ms;
	uint32_t observed;      /* LAUNCH */
	uint64_t id;            /* UNLAUNCH: the launch's lease */
	/* The answer: */
	int err;                /* 0 or a negative errno */
	uint64_t result_id;     /* LAUNCH: the new launch's id */
	uint32_t retry_ms;      /* -EAGAIN: when the first one expires */
	char msg[160];
};

#define CB_LAUNCH_QUEUE_MAX 256

/* Queue a job (main thread).  -EAGAIN: CB_LAUNCH_QUEUE_MAX queued;
 * -ENOTCONN: no cluster. */
int cb_cluster_launch_submit(struct cb_broker *b,
    const struct cb_launch_job *job);
/* The eventfd that becomes readable when answers are ready (-1: none). */
int cb_cluster_done_fd(struct cb_broker *b);
/* Take one answer; 1 if *job was filled, 0 if none is left. */
int cb_cluster_done_pop(struct cb_broker *b, struct cb_launch_job *job);

/* Zero c (no cluster). */
void cb_cluster_init(struct cb_cluster *c);

/*
 * Before the first publish (main thread): a broker restarted on its
 * segments takes over the lease id, the local limits and the deadline
 * they hold, so that its first publish changes nothing; the thread's
 * first tick checks the lease with etcd.  No-op without etcd.
 */
void cb_cluster_adopt(struct cb_broker *b);

/*
 * Start the cluster thread when etcd is configured (no-op otherwise).
 * It adopts the lease a previous broker of these segments left in the
 * cluster block if etcd still has it.  Returns 0, or -errno with a
 * message logged (a duplicate host name is -EEXIST: another broker
 * holds alive/HOST).
 */
int cb_cluster_start(struct cb_broker *b);

/* A global pool was created, changed or deleted (main thread). */
void cb_cluster_kick(struct cb_broker *b);

/* Stop and join the thread; the lease is left to expire (a restart
 * within the TTL adopts it), the local limits are kept in the segment. */
void cb_cluster_stop(struct cb_broker *b);

#endif /* CB_CLUSTER_H */
