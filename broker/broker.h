/*
 * broker.h - the broker's process-wide state.
 *
 * Threads:
 *   main       control socket, signals, heartbeat, registry updates,
 *              config (re)loads; the only writer of the registry, the
 *              settings below and the header's identity.
 *   publisher  drains registry events, recomputes the capacity from a
 *              registry snapshot and publishes it: the only writer of
 *              the state word, the info and worker blocks, the event
 *              ring and the pool records (publisher.h).
 *   sweeper    watches clients (pidfds) and reclaims the dead ones'
 *              holds, expires launches, recounts and repairs the
 *              slots segment (sweeper.h).
 *   cluster    with etcd configured only: the lease and the global
 *              pools' shares (cluster.h); the only writer of the
 *              cluster block.
 *   launch     with etcd configured only: a global pool's LAUNCH and
 *              UNLAUNCH, one etcd transaction each, on an etcd client
 *              of its own (cluster.h); writes no shared memory.
 * The publisher and the sweeper are registered RCU threads.
 */
#ifndef CB_BROKER_H
#define CB_BROKER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "abi.h"
#include "cluster.h"
#include "config.h"
#include "pools.h"
#include "publisher.h"
#include "registry.h"
#include "segments.h"
#include "sweeper.h"

/*
 * Tier settings: stored by the main thread (relaxed) before it posts a
 * settings event; the publisher loads them after draining the event
 * queue, whose enqueue/dequeue orders the two.
 */
struct cb_settings {
	_Atomic uint32_t override;
	_Atomic uint32_t slots_per_worker;
	_Atomic uint32_t legacy_max;
	_Atomic uint64_t override_rejects;
	_Atomic int64_t override_rejected;  /* the last refused value */
	_Atomic uint32_t retry_after_ms;    /* default cb_reserve hint */
};

struct cb_broker {
	char name[CB_NAME_MAX + 1];
	const char *config_path;     /* NULL: embedded defaults */
	uid_t uid;                   /* admin verbs: this uid or root, */
	gid_t admin_group;           /* or a member of this group */
	gid_t group;                 /* slots segment and socket group */
	struct cb_segments seg;
	struct cb_registry reg;
	struct cb_settings set;
	struct cb_publisher pub;
	struct cb_pools pools;
	struct cb_sweeper sweeper;
	struct cb_cluster cluster;
	int control_fd;
	char socket_path[108];
	volatile bool stopping;
};

#endif /* CB_BROKER_H */
