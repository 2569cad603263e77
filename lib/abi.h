/*
 * abi.h - the layout of capbroker's shared-memory segments.
 *
 * Every process that maps a segment (broker, libcapbroker, capdump)
 * compiles against this file, so it is the ABI.  The rules:
 *
 *   - The header comes first and describes everything after it: magic,
 *     ABI major/minor, header size, total size, endian marker, word
 *     size, and a table of regions (offset, size, count, stride).
 *     Validation checks that table against this build's layout: each
 *     region this build knows where it puts it, with its stride and at
 *     least its count.  After that, readers locate records through
 *     their own layout (segment.h), never through the table, which
 *     whoever can write the segment could point anywhere.  So a minor
 *     version may append regions and use padding, never move or grow a
 *     region.  A major mismatch is refused.
 *   - Offsets and indexes only, never pointers.  Every index read from
 *     shared memory is bounds-checked before use.
 *   - Shared words are lock-free C11 atomics of at most 8 bytes
 *     (static_assert'ed below); each hot word sits on its own 64-byte
 *     line.
 *   - Multi-field data is published under a seqlock (seqlock.h) and is
 *     made of 8-byte words, so it can be copied with relaxed atomic
 *     loads (no data race for the memory model or for TSan).
 *
 * Two segments per broker instance NAME:
 *
 *   /capbroker.NAME.state  written only by the broker, mapped PROT_READ
 *                          by everyone else (mode 0644 or 0640);
 *   /capbroker.NAME.slots  written by clients (futex waiter counts, and
 *                          the reservation table), mode 0660.  The
 *                          broker treats every byte of it as hostile.
 *
 * Who writes each field, and with which ordering, is written beside the
 * field.  "broker" means the broker's publisher or main thread as noted;
 * "creator" means written once before the magic is published.
 */
#ifndef CB_ABI_H
#define CB_ABI_H

#include <assert.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define CB_ABI_MAJOR 1
#define CB_ABI_MINOR 4 /* 1: CB_RL_WAITERS (fair queueing); worker
                          placement: CB_RL_WORKERS, CB_RL_BINDS,
                          cb_worker_rec.slot and .limit;
                          2: CB_RL_LANES (per-thread hold records);
                          3: global pools: CB_LIMIT_GLOBAL,
                          cb_pool_conf.share_deadline_ns,
                          cb_pool_def.hold_max_s, CB_RS_CLUSTER;
                          4: a global pool's hold aging: cb_pool_conf.age,
                          CB_AGE_MARK in U (lib/age.h) */

#define CB_MAGIC_STATE 0x4b52425041435354ull /* "TSCAPBRK" little-endian */
#define CB_MAGIC_SLOTS 0x4b52425041434c53ull /* "SLCAPBRK" */
#define CB_ENDIAN_MARK 0x0102u

#define CB_CACHE_LINE 64
#define CB_LINE_ALIGNED _Alignas(CB_CACHE_LINE)

#define CB_NAME_MAX 31       /* instance name: [A-Za-z0-9._-], 1..31 */
#define CB_WORKER_ID_MAX 63  /* worker id: [A-Za-z0-9._:@-], 1..63 */
#define CB_MAX_WORKERS 1024  /* published worker table capacity */
#define CB_EVENT_RING 256    /* events kept for capdump (power of 2) */
#define CB_MAX_POOLS 64      /* pool 0 is "default" */
#define CB_POOL_NAME_MAX 31  /* pool name: [A-Za-z0-9._-], 1..31 */
#ifndef CB_FUZZ_SMALL_TABLES
#define CB_MAX_CLIENTS 1024  /* client table entries */
#define CB_MAX_LAUNCHES 4096 /* launch reservation entries */
#define CB_BINDS_PER_CLIENT 256 /* holds bound to a worker, per client */
#else
/* tests/fuzz/fuzz_slots only: the same code over scaled-down tables, so
 * that one input is a fraction of a millisecond, not ten.  A segment of
 * this layout is refused by every normal build (region counts). */
#define CB_MAX_CLIENTS 64
#define CB_MAX_LAUNCHES 256
#define CB_BINDS_PER_CLIENT 16
#endif
#ifndef CB_FUZZ_SMALL_TABLES
#define CB_MAX_WAITERS 1024  /* queued (blocked) reservers, all pools */
#else
#define CB_MAX_WAITERS 64
#endif
#define CB_MAX_BINDS (CB_MAX_CLIENTS * CB_BINDS_PER_CLIENT)
#ifndef CB_FUZZ_SMALL_TABLES
#define CB_MAX_LANES 4096    /* per-thread hold records, all clients */
#else
#define CB_MAX_LANES 128
#endif

#define CB_CAPACITY_MAX 65535u

enum cb_seg_kind { CB_SEG_STATE = 1, CB_SEG_SLOTS = 2 };

/* Regions of the state segment, by index in the header's table. */
enum cb_state_region {
	CB_RS_HOT = 0,     /* struct cb_state_hot */
	CB_RS_INFO = 1,    /* struct cb_info_block */
	CB_RS_WORKERS = 2, /* struct cb_worker_table + records */
	CB_RS_EVENTS = 3,  /* struct cb_event_ring + records */
	CB_RS_POOLS = 4,   /* struct cb_pool_conf[CB_MAX_POOLS] */
	CB_RS_CLUSTER = 5, /* struct cb_cluster_block (1.3) */
	CB_RS_COUNT = 6,
};

/* Regions of the slots segment. */
enum cb_slots_region {
	CB_RL_HOT = 0,      /* struct cb_slots_hot */
	CB_RL_CLIENTS = 1,  /* struct cb_client_slot[CB_MAX_CLIENTS] */
	CB_RL_POOLS = 2,    /* struct cb_pool_slot[CB_MAX_POOLS] */
	CB_RL_LAUNCHES = 3, /* struct cb_launch_slot[CB_MAX_LAUNCHES] */
	CB_RL_WAITERS = 4,  /* struct cb_waiter_slot[CB_MAX_WAITERS] (1.1) */
	CB_RL_WORKERS = 5,  /* struct cb_worker_slot[CB_MAX_WORKERS] (1.1) */
	CB_RL_BINDS = 6,    /* struct cb_bind_slot[CB_MAX_BINDS] (1.1) */
	CB_RL_LANES = 7,    /* struct cb_lane_slot[CB_MAX_LANES] (1.2) */
	CB_RL_COUNT = 8,
};

#define CB_REGION_MAX 16 /* room in the header's table */

struct cb_region {
	uint64_t offset; /* from the segment start; CB_CACHE_LINE aligned */
	uint64_t size;   /* bytes, offset + size <= total_size */
	uint32_t count;  /* array regions: entries; blocks: 1 */
	uint32_t stride; /* array regions: bytes per entry */
};

/*
 * The header, at offset 0 of both segments.
 *
 * Creator-written fields are plain: they are written before `magic` is
 * stored with release, and a reader that acquire-loads a valid magic
 * sees them.  The fields after `instance` are the broker's, and change
 * while the segment is live.
 */
struct cb_seg_header {
	_Atomic uint64_t magic;   /* creator, stored last (release) */
	uint16_t abi_major;       /* creator */
	uint16_t abi_minor;       /* creator */
	uint16_t endian;          /* creator: CB_ENDIAN_MARK, native order */
	uint8_t word_size;        /* creator: sizeof(long) */
	uint8_t kind;             /* creator: enum cb_seg_kind */
	uint32_t header_size;     /* creator: sizeof(struct cb_seg_header) */
	uint32_t region_count;    /* creator: regions in use */
	uint64_t total_size;      /* creator: bytes mapped */
	uint64_t instance;        /* creator: random, equal in both segments */
	char name[CB_NAME_MAX + 1];               /* creator, NUL-terminated */
	struct cb_region region[CB_REGION_MAX];   /* creator */

	/*
	 * Broker identity.  Main thread writes under ident_seq (seqlock.h)
	 * when it starts or adopts the segment; readers use the seqlock
	 * read loop so they never pair one broker's pid with another's
	 * start time.
	 */
	CB_LINE_ALIGNED _Atomic uint32_t ident_seq;
	_Atomic uint32_t broker_pid;
	_Atomic uint64_t broker_start;  /* /proc/PID/stat starttime, ticks */
	_Atomic uint64_t epoch;         /* +1 per broker start or adoption */

	/*
	 * Heartbeat: CLOCK_MONOTONIC ns, stored relaxed by the broker's
	 * main thread several times a second.  Readers compare it with
	 * their own clock; no ordering with other fields is implied.
	 */
	CB_LINE_ALIGNED _Atomic uint64_t heartbeat_ns;
	/* Set (release) when this segment was replaced by a new one. */
	_Atomic uint32_t retired;
	uint32_t reserved0;
	/*
	 * The broker's PID namespace (inode of /proc/self/ns/pid), written
	 * with the identity.  Client entries hold pids, which mean nothing
	 * in another namespace: a client whose namespace differs must not
	 * reserve (the broker would judge it dead and undo its holds).
	 */
	_Atomic uint64_t broker_pidns;
	/*
	 * Control-socket pressure (broker/control.c), state segment only:
	 * stored relaxed by the main thread about once a second; each is
	 * a count of its own, ordered with nothing.  In ABI 1.1's reserved
	 * words: zeros from a broker that predates them.
	 */
	_Atomic uint32_t ctl_fds;       /* open file descriptors */
	_Atomic uint32_t ctl_fd_limit;  /* RLIMIT_NOFILE (soft) */
	_Atomic uint32_t ctl_conns;     /* open control connections */
	uint32_t reserved1;
	_Atomic uint64_t ctl_refused;   /* connections refused at accept */
	_Atomic uint64_t ctl_cut;       /* connections cut: idle, slow,
	                                   replies not drained */
	uint64_t reserved[1];
};

/*
 * State segment, region CB_RS_HOT: the words a hot path touches.
 */
struct cb_state_hot {
	/*
	 * The state word (capbroker.h: CB_STATE_*): written only by the
	 * publisher thread with a release store; read with one acquire
	 * load.  The release pairs with cb_state_load()'s acquire.
	 */
	CB_LINE_ALIGNED _Atomic uint64_t state_word;
	/*
	 * Watch futex word: the publisher increments it (seq_cst) after
	 * every state-word store, then calls FUTEX_WAKE iff the waiter
	 * count in the slots segment is non-zero.  See futex.h for the
	 * eventcount protocol.
	 */
	CB_LINE_ALIGNED _Atomic uint32_t watch_seq;
};

/*
 * Seqlock-protected settings and counters (region CB_RS_INFO).
 * Only the publisher thread writes (it is the seqlock's only writer).
 */
struct cb_info {
	uint32_t capacity;          /* as in the state word */
	uint32_t source;
	uint32_t generation;
	uint32_t flags;
	uint32_t override;          /* configured override, 0 = derive */
	uint32_t slots_per_worker;  /* mixed tier: per non-reporter */
	uint32_t legacy_max;        /* fallback tier */
	uint32_t workers_total;
	uint32_t workers_ready;
	uint32_t workers_reporting; /* ready workers that report */
	uint64_t publishes;         /* snapshots published = capacity
	                               recomputes (each one recomputes from
	                               a full registry snapshot) */
	uint64_t capacity_changes;
	uint64_t source_changes;
	uint64_t override_rejects;  /* out-of-range overrides refused */
	uint64_t events;            /* registry events drained */
	uint64_t published_ns;      /* CLOCK_REALTIME of the last publish */
	uint32_t retry_after_ms;    /* default hint for cb_reserve -EAGAIN */
	uint32_t reserved0;
	uint64_t reserved[7];
};

struct cb_info_block {
	_Atomic uint32_t seq;
	uint32_t reserved0;
	struct cb_info info;
};

enum cb_worker_state {
	CB_WORKER_READY = 1,
	CB_WORKER_NOT_READY = 2,
	CB_WORKER_DRAINING = 3,
};

/*
 * One published worker; 8-byte words only (seqlock copy).
 *
 * slot and limit (ABI 1.1) are for placement (place.h) and are filled
 * in by the publisher, never by the registry: slot is the worker's
 * entry in the slots segment's CB_RL_WORKERS region, stable for as
 * long as the worker is registered, whatever order the table is
 * republished in; limit is the most holds pickers may bind to it:
 * max_running, or slots_per_worker for a worker that does not report
 * (the same figure the mixed tier counts for it).
 */
struct cb_worker_rec {
	char id[CB_WORKER_ID_MAX + 1]; /* NUL-padded */
	uint32_t state;                /* enum cb_worker_state */
	uint32_t max_running;          /* 0 = does not report */
	uint32_t slot;                 /* < CB_MAX_WORKERS (1.1) */
	uint32_t limit;                /* placement limit (1.1) */
};

/*
 * Region CB_RS_WORKERS: the published worker table.  `seq` guards
 * `count` and the records; region.count is the table's capacity and
 * region.stride the record size.
 */
struct cb_worker_table {
	_Atomic uint32_t seq;
	uint32_t count;
	uint64_t reserved[7];
	/* followed by region.count records of region.stride bytes */
};

enum cb_event_type {
	CB_EV_PUBLISH = 1,   /* capacity and/or source changed */
	CB_EV_START = 2,     /* broker started or adopted the segment */
	CB_EV_STOP = 3,      /* broker stopping */
	CB_EV_OVERRIDE_REJECTED = 4,
};

/*
 * Region CB_RS_EVENTS: the last CB_EVENT_RING events, for capdump.
 * The publisher is the only writer.  Event number n (0-based) lives in
 * rec[n % ring]; its `seq` is odd (2n+1) while being written and 2n+2
 * once complete (release).  `head` counts events written (release
 * after the record is complete).  A reader acquire-loads head, copies
 * a record, and keeps it only if its seq read before and after the
 * copy is 2n+2.
 */
struct cb_event_rec {
	_Atomic uint64_t seq;
	uint64_t time_ns;       /* CLOCK_REALTIME */
	uint32_t type;          /* enum cb_event_type */
	uint32_t generation;
	uint32_t old_capacity;
	uint32_t new_capacity;
	uint32_t old_source;
	uint32_t new_source;
	uint64_t value;         /* type-specific (rejected override, pid) */
	uint64_t reserved[2];
};

struct cb_event_ring {
	_Atomic uint64_t head;
	uint64_t reserved[7];
	/* followed by region.count records of region.stride bytes */
};

/*
 * Slots segment, region CB_RL_HOT.
 */
struct cb_slots_hot {
	/*
	 * Watchers blocked in cb_watch(): incremented (seq_cst) before a
	 * watcher re-checks the state word and sleeps, decremented after.
	 * Client-written, so the broker only uses it as a hint: a wrong
	 * value costs a spurious FUTEX_WAKE, or (too low) a watcher that
	 * wakes at its next time slice instead (cb_watch sleeps in slices).
	 */
	CB_LINE_ALIGNED _Atomic uint32_t watch_waiters;
	/*
	 * Blocked pickers of every pool (lib/place.h): raised and lowered
	 * (seq_cst) with the pool's own `pickers`; a release that gives a
	 * worker a unit back wakes the other pools' pickers only when it
	 * is non-zero.  Padding in ABI 1.1 (zeros); the sweeper repairs
	 * it from the pickers' records.
	 */
	_Atomic uint32_t pickers;
};

/*
 * Pools.  The definition is the broker's (state segment, below); the
 * admission counter and wake-up word are the clients' (slots segment,
 * struct cb_pool_slot).  See reserve.h for the protocol.
 */
enum cb_limit_kind {
	CB_LIMIT_CAPACITY = 1, /* follows the broker's capacity (pool 0) */
	CB_LIMIT_FIXED = 2,    /* def.value units */
	CB_LIMIT_SHARE = 3,    /* def.value percent of capacity, >= 1 */
	CB_LIMIT_GLOBAL = 4,   /* def.value units for every broker of the
	                          cluster; the limit is this host's share
	                          (1.3, broker/cluster.h) */
};

/*
 * Pool definition flags.  ACTIVE: the pool exists (admits; readers look
 * at this bit only).  DELETED, never with ACTIVE: a deleted pool whose
 * index is not free yet (broker/pools.h: a tombstone, kept until the
 * sweeper proves nothing in the slots segment can still act on the
 * index; published so a restarted broker neither brings the pool back
 * nor reuses the index early).  FILE: the configuration file defines
 * the pool (a reload that no longer names it deletes it); without it
 * the pool was created at run time (POOL SET) and only POOL DEL
 * deletes it.  Readers of ABI 1.1 before these bits ignore both.
 */
#define CB_POOL_F_ACTIVE 0x1u
#define CB_POOL_F_DELETED 0x2u
#define CB_POOL_F_FILE 0x4u

/* Seqlock-protected part of a pool's definition. */
struct cb_pool_def {
	uint32_t flags;                   /* CB_POOL_F_* */
	uint32_t kind;                    /* enum cb_limit_kind */
	char name[CB_POOL_NAME_MAX + 1];
	uint32_t value;                   /* fixed limit or share percent */
	uint32_t window_ms;               /* launch visibility window */
	uint32_t hold_max_s;              /* CB_LIMIT_GLOBAL: the longest a
	                                     hold counts (1.3; 0 before) */
	uint32_t reserved;
};

/*
 * Region CB_RS_POOLS: one per pool, written only by the broker.
 *   seq, def        publisher thread (seqlock);
 *   limit, observed publisher thread, release stores; clients load with
 *                   acquire before admitting (pool 0's limit is the
 *                   state word's capacity, read from there);
 *   the rest        sweeper thread, relaxed (statistics and hints).
 */
struct cb_pool_conf {
	_Atomic uint32_t seq;
	uint32_t reserved0;
	struct cb_pool_def def;
	CB_LINE_ALIGNED _Atomic uint32_t limit;
	_Atomic uint32_t observed;        /* last published observation */
	_Atomic uint64_t earliest_deadline_ns; /* CLOCK_MONOTONIC, 0 none */
	_Atomic uint64_t reclaimed;       /* holds of dead clients undone */
	_Atomic uint64_t expired;         /* launches aged out */
	_Atomic uint64_t repaired;        /* counter drift corrected */
	_Atomic uint64_t drift;           /* sum of |drift| corrected */
	/*
	 * Global pools (ABI 1.3; zero before, and in every local pool):
	 * admission is allowed only while CLOCK_MONOTONIC_COARSE reads
	 * below this (ns), checked once per admission after its CAS
	 * (still_fits(), lib/lane.h).  Non-zero marks the pool global; 1
	 * is "no valid share".  Publisher thread, release stores, after the
	 * limit it goes with (broker/cluster.h has the rule); clients load
	 * it with acquire before the limit.  On the limit's line, which
	 * the re-check loads anyway.
	 */
	_Atomic uint64_t share_deadline_ns;
	/*
	 * A global pool's hold aging (ABI 1.4, lib/age.h): P << 32 |
	 * eps_ms, P the sweeper's current epoch of eps_ms milliseconds,
	 * 0 when the pool's U is not in the aging layout.  Sweeper thread,
	 * release stores: before it marks U, after it advanced U to P,
	 * after it unmarked U; clients load it with acquire.  Zero before
	 * 1.4 (it was reserved).
	 */
	_Atomic uint64_t age;
};

/*
 * Region CB_RS_CLUSTER (ABI 1.3): what this broker knows of its cluster
 * of brokers sharing global pools through etcd (broker/cluster.h), for
 * capdump and for a restarted broker to adopt its lease.  Written only
 * by the broker's cluster thread, under the seqlock `seq`; all zeros
 * when no etcd is configured.  Strings are NUL-terminated; readers
 * check anyway.
 */
#define CB_CLUSTER_HOSTS 16     /* hosts shown per cluster */
#define CB_HOST_NAME_MAX 63     /* host name: [A-Za-z0-9._-], 1..63 */
#define CB_CLUSTER_NAME_MAX 63  /* cluster name (key prefix), same set */
#define CB_CLUSTER_F_ON 0x1u        /* etcd configured */
#define CB_CLUSTER_F_REACHABLE 0x2u /* the last etcd request answered */
#define CB_CLUSTER_F_LEASE 0x4u     /* lease_id is held (alive/HOST) */

struct cb_cluster_pool {
	uint32_t limit;          /* L, the cluster's limit (0: not global) */
	uint32_t share;          /* this host's share, as committed in etcd */
	uint32_t local_limit;    /* what this host admits up to now */
	uint32_t demand;         /* this host's published demand */
	uint32_t target;         /* its max-min fair share of L */
	uint32_t quarantined;    /* units frozen for dead hosts */
	uint32_t host_share[CB_CLUSTER_HOSTS];   /* by hosts[] index */
	uint32_t host_demand[CB_CLUSTER_HOSTS];
};

struct cb_cluster_block {
	_Atomic uint32_t seq;
	uint32_t flags;                   /* CB_CLUSTER_F_* */
	uint64_t lease_id;                /* this broker's etcd lease */
	uint64_t valid_until_ns;          /* the share deadline (CLOCK_MONOTONIC) */
	uint64_t last_ok_ns;              /* last answer from etcd */
	uint64_t errors;                  /* failed etcd requests */
	uint32_t ttl_s;                   /* lease TTL */
	uint32_t nhosts;                  /* entries of hosts[] in use */
	char host[CB_HOST_NAME_MAX + 1];        /* this broker's */
	char cluster[CB_CLUSTER_NAME_MAX + 1];
	char last_error[256];             /* "" when none */
	char hosts[CB_CLUSTER_HOSTS][CB_HOST_NAME_MAX + 1]; /* alive ones */
	struct cb_cluster_pool pool[CB_MAX_POOLS];
};

/*
 * Slots segment, region CB_RL_POOLS: the clients' side of a pool.
 * Written by every client (and the sweeper), so hostile to the broker.
 */
struct cb_pool_slot {
	/*
	 * Admission counter: held (low 32) | launching (high 32).  Changed
	 * only by compare-and-swap (seq_cst), never beyond the limit by an
	 * admission; see reserve.h.
	 */
	CB_LINE_ALIGNED _Atomic uint64_t usage;
	/* Release eventcount (futex.h): bumped after every release, expiry,
	 * reclaim or limit raise; waiters counts blocked reservers (from
	 * ABI 1.1: queued ones, raised before the waiter entry is claimed
	 * and lowered after it is freed; only a queue's head sleeps on
	 * release_seq, lib/queue.h). */
	CB_LINE_ALIGNED _Atomic uint32_t release_seq;
	_Atomic uint32_t waiters;
	/*
	 * Fair queueing (lib/queue.h).  queued: waiter entries of this
	 * pool, a hint for the reserve hot path (one relaxed load: 0 means
	 * nobody to pass); raised before an entry is claimed and lowered
	 * after it is freed, by whoever frees it (seq_cst); the sweeper
	 * corrects a drift it sees twice in a row.  On this read-mostly
	 * line, not the statistics line every admission writes: there,
	 * the hot path's load of it missed whenever another process had
	 * just been admitted (capbench, docs/BENCHMARKS.md).
	 */
	_Atomic uint64_t queued;
	/*
	 * Blocked pickers (lib/place.h), in ABI 1.1's padding (zeros when
	 * no one picks).  pickers: cb_pick_worker callers asleep for room
	 * in this pool, raised (seq_cst) before a picker's record is
	 * claimed and lowered after it is freed (or turned into the
	 * picker's bind), by the picker or the sweeper's reclaim of a dead
	 * one; the recount repairs it from the records.  pick_seq: their futex word, bumped (seq_cst) and woken
	 * one sleeper at a time by whoever frees room while pickers != 0.
	 */
	_Atomic uint32_t pickers;
	_Atomic uint32_t pick_seq;
	/*
	 * Barging (lib/queue.h), in ABI 1.1's padding (zeros: no hand-off,
	 * no ceiling, what every older client left there).  One word on
	 * this line, so a blocking arrival that found `queued` non-zero
	 * decides with one more load of a line it already has:
	 *   CB_BARGE_HANDOFF  set by a head that waited past the hand-off
	 *                     bound; cleared by the head once admitted, by
	 *                     the waiter that set it when it leaves
	 *                     unadmitted, and by a leaver or the sweeper
	 *                     that finds no live waiter of the pool;
	 *   version           +1 by every change, so a lowering CAS from
	 *                     the value it read fails if anyone moved it;
	 *   ceiling           priority + 2^31 (0: none), at least the
	 *                     priority of every live waiter: raised by
	 *                     each enqueuer after its CAS to WAITING,
	 *                     lowered to the head's by a leaver's or the
	 *                     sweeper's scan.
	 * Every change is a seq_cst CAS; arrivals load it seq_cst (a plain
	 * load on x86-64).  queue.h says what each pairs with.
	 */
	_Atomic uint64_t barge;
	/* Statistics, relaxed. */
	CB_LINE_ALIGNED _Atomic uint64_t admitted;
	_Atomic uint64_t rejected;        /* over the limit (EAGAIN/timeout) */
	_Atomic uint64_t stale_releases;  /* ESTALE */
	/* queue_next: the next arrival ticket of the pool's fair queue,
	 * fetch_add (seq_cst) by each waiter as it enqueues. */
	_Atomic uint64_t queue_next;
	uint64_t reserved_q;              /* ABI 1.0's queue_serving, unused */
	/* Earliest launch deadline a launcher has set (CAS-min): the
	 * retry-after hint until the sweeper publishes its own.  A hint
	 * only: readers clamp it to the pool's window. */
	_Atomic uint64_t launch_hint_ns;
	uint64_t reserved[2];
};

/*
 * Slots segment, region CB_RL_CLIENTS: one entry per attached process.
 *
 * owner: CB_OWNER(gen, pid).  Free entries have pid 0 and keep their
 * generation; cb_open claims one by CAS (gen, 0) -> (gen + 1, pid),
 * then stores start (release).  The broker frees a dead client's entry
 * by CAS (gen, pid) -> (gen, 0) after undoing its holds.
 *
 * seq: the death-window word of reserve.h: low 8 bits count operations
 * in flight, the rest is a version bumped when each one ends.  Only
 * the owning process writes it (any of its threads).
 *
 * holds[p]: holds this process has in pool p (admitted and recorded).
 *
 * admitted[p]: admissions to pool p not yet added to the pool's
 * `admitted` statistic.  The owning process adds 1 per admission
 * (relaxed, its own lines) and moves the batch to the pool's counter
 * (exchange, then add) once it reaches CB_ADMITTED_BATCH; cb_close
 * and the broker's reclaim move what is left (a free entry's count is
 * garbage, which the broker's scrub clears).
 * So the pool's counter only grows, lags each live client by less than
 * CB_ADMITTED_BATCH, and no admission writes a line other processes
 * write (capbench, docs/BENCHMARKS.md).
 */
#define CB_BARGE_HANDOFF (1ull << 63)
#define CB_BARGE_VERSION(b) ((uint32_t)((b) >> 32) & 0x7fffffffu)
#define CB_BARGE_CEILING(b) ((uint32_t)(b))
#define CB_BARGE_WORD(handoff, version, ceiling) \
	((handoff) | ((uint64_t)((version) & 0x7fffffffu) << 32) | \
	(uint32_t)(ceiling))
/* A priority as the ceiling holds it: order-preserving, INT32_MIN -> 0. */
#define CB_BARGE_PRIO(p) ((uint32_t)(int32_t)(p) ^ 0x80000000u)

#define CB_ADMITTED_BATCH 64
#define CB_OWNER(gen, pid) (((uint64_t)(gen) << 32) | (uint32_t)(pid))
#define CB_OWNER_PID(o) ((uint32_t)(o))
#define CB_OWNER_GEN(o) ((uint32_t)((o) >> 32))
#define CB_SEQ_INFLIGHT(s) ((s) & 0xffu)

struct cb_client_slot {
	CB_LINE_ALIGNED _Atomic uint64_t owner;
	_Atomic uint64_t start;           /* owner's /proc starttime */
	_Atomic uint32_t seq;
	_Atomic uint32_t last_pool;       /* diagnostics: last pool used */
	uint64_t reserved[5];
	CB_LINE_ALIGNED _Atomic uint32_t holds[CB_MAX_POOLS];
	CB_LINE_ALIGNED _Atomic uint32_t admitted[CB_MAX_POOLS];  /* 1.1 */
};

/*
 * Slots segment, region CB_RL_LANES (ABI 1.2): per-thread hold records
 * ("lanes", lib/reserve.h).  A lane belongs to one client entry and is
 * written by one thread of that process at a time, with plain
 * (release) stores, so that a hold pair needs no locked instruction
 * besides the pool counter's CAS.
 *
 *   word    CB_LANE_WORD(client index, low 22 bits of the client
 *           entry's owner generation, pid): whose lane it is; pid 0:
 *           free.  Claimed by the client (CAS from a free word, seq_cst)
 *           while its client entry is owned; freed by the client at
 *           cb_close, by the broker's reclaim of the dead client, or by
 *           its scrub when the named client entry no longer has that
 *           owner (CAS on the exact word).  A lane is live iff its word
 *           matches the owner word of the client entry it names.
 *   seq     S_l: the lane's death window, CB_SEQ_INFLIGHT() 0 or 1,
 *           version above (+0x100 at each close); written by the lane's
 *           writer only: the open store relaxed (ordered before the
 *           counter's CAS by that CAS), the close store release.
 *   holds   H_l[p]: holds of pool p recorded in this lane; written by
 *           the lane's writer only, release stores.
 * The broker reads all three with seq_cst loads (the recount, reclaim
 * and scrub, lib/sweep_reserve.c); reserve.h has the argument.
 */
#define CB_LANE_WORD(client, gen, pid)                                     \
	((uint64_t)(uint32_t)(pid) | ((uint64_t)(client) & 0x3ff) << 32 |  \
	 ((uint64_t)(gen) & 0x3fffff) << 42)
#define CB_LANE_PID(w)    ((uint32_t)(w))
#define CB_LANE_CLIENT(w) ((uint32_t)(((w) >> 32) & 0x3ff))
#define CB_LANE_GEN(w)    ((uint32_t)((w) >> 42))
/* The lane word of client entry `client` owned by owner word o. */
#define CB_LANE_OF(client, o) \
	CB_LANE_WORD(client, CB_OWNER_GEN(o), CB_OWNER_PID(o))

struct cb_lane_slot {
	CB_LINE_ALIGNED _Atomic uint64_t word;
	_Atomic uint32_t seq;
	uint32_t reserved32;
	uint64_t reserved[6];
	CB_LINE_ALIGNED _Atomic uint32_t holds[CB_MAX_POOLS];
};

/*
 * Slots segment, region CB_RL_LAUNCHES: launch reservations.
 *
 * word: CB_LAUNCH_WORD(state, pool, client, nonce).  A free entry keeps
 * its nonce; a claim CASes (FREE, nonce) -> (CLAIMING, pool, client,
 * nonce + 1), stores the deadline, then stores LIVE (release).  Release
 * and expiry CAS the exact LIVE word back to (FREE, nonce): only one of
 * them can win, so only one decrements the pool's launching count.  A
 * ticket carries the word, so a stale one fails its CAS.
 */
enum cb_launch_state {
	CB_LAUNCH_FREE = 0,
	CB_LAUNCH_CLAIMING = 1,
	CB_LAUNCH_LIVE = 2,
};

#define CB_LAUNCH_WORD(st, pool, client, nonce)                          \
	((uint64_t)(st) | ((uint64_t)(pool) & 0x3f) << 2 |               \
	 ((uint64_t)(client) & 0x3ff) << 8 | (uint64_t)(nonce) << 18)
#define CB_LAUNCH_STATE(w)  ((unsigned)((w) & 0x3))
#define CB_LAUNCH_POOL(w)   ((unsigned)(((w) >> 2) & 0x3f))
#define CB_LAUNCH_CLIENT(w) ((unsigned)(((w) >> 8) & 0x3ff))
#define CB_LAUNCH_NONCE(w)  ((w) >> 18)

struct cb_launch_slot {
	_Atomic uint64_t word;
	_Atomic uint64_t deadline_ns;     /* CLOCK_MONOTONIC */
};

/*
 * Slots segment, region CB_RL_WAITERS (ABI 1.1): blocked reservers in
 * priority order, FIFO within a priority (protocol: lib/queue.h).
 *
 * word: CB_WAITER_WORD(state, pool, client, nonce), like a launch
 * word.  A free entry keeps its nonce; an enqueuer CASes (FREE, nonce)
 * -> (CLAIMING, pool, client, nonce + 1), stores owner, priority and
 * ticket, then CASes CLAIMING -> WAITING (seq_cst).  Whoever frees it
 * (its waiter leaving, a client that finds its owner gone, the
 * sweeper) CASes the exact word back to (FREE, nonce): one winner,
 * which lowers the pool's `queued` and `waiters`.
 *   owner     the enqueuer's client-entry owner word: the entry is
 *             live only while that client entry still holds it;
 *   ticket    the pool's queue_next at arrival;
 *   priority  struct cb_request.priority (higher first);
 *   wake      the waiter's own futex word: bumped (seq_cst) and woken
 *             by whoever makes it the head of its pool.
 * owner, ticket and priority are written before WAITING; while it stays
 * WAITING only the sweeper changes one of them: its re-base of a pool
 * whose tickets a hostile write put out of order renumbers live tickets
 * by CAS (lib/sweep_queue.c).  Readers re-check the word after reading
 * them, and scans compare the ticket as stored.
 */
enum cb_waiter_state {
	CB_WAITER_FREE = 0,
	CB_WAITER_CLAIMING = 1,
	CB_WAITER_WAITING = 2,
};

#define CB_WAITER_WORD(st, pool, client, nonce) \
	CB_LAUNCH_WORD(st, pool, client, nonce)
#define CB_WAITER_STATE(w)  CB_LAUNCH_STATE(w)
#define CB_WAITER_POOL(w)   CB_LAUNCH_POOL(w)
#define CB_WAITER_CLIENT(w) CB_LAUNCH_CLIENT(w)
#define CB_WAITER_NONCE(w)  CB_LAUNCH_NONCE(w)

struct cb_waiter_slot {
	CB_LINE_ALIGNED _Atomic uint64_t word;
	_Atomic uint64_t owner;
	_Atomic uint64_t ticket;
	_Atomic int32_t priority;
	_Atomic uint32_t wake;
	uint64_t reserved[4];
};

/*
 * Slots segment, region CB_RL_WORKERS (ABI 1.1): placement's per-worker
 * in-flight counters, indexed by cb_worker_rec.slot (lib/place.h has
 * the protocol).  Hostile like everything in the slots segment.
 *
 * inflight: holds bound to the worker (I[w] in place.h).  Changed only
 *           by compare-and-swap (seq_cst): a picker adds one iff
 *           inflight + 1 <= the record's limit; a release, cb_close and
 *           the sweeper's reclaim subtract one per bind they free; the
 *           sweeper's recount corrects drift against the binds table.
 * the rest  statistics, relaxed: picks by pickers; reclaimed and
 *           repaired by the sweeper.
 */
struct cb_worker_slot {
	CB_LINE_ALIGNED _Atomic uint32_t inflight;
	uint32_t reserved0;
	_Atomic uint64_t picks;           /* holds bound here */
	_Atomic uint64_t reclaimed;       /* binds of dead clients undone */
	_Atomic uint64_t repaired;        /* counter drift corrected */
	uint64_t reserved[4];
};

/*
 * Slots segment, region CB_RL_BINDS (ABI 1.1): which worker each bound
 * hold is on.  Partitioned by client entry: client c owns entries
 * [c * CB_BINDS_PER_CLIENT, (c + 1) * CB_BINDS_PER_CLIENT), so a claim
 * never contends with another process and a dead client's binds are
 * found in CB_BINDS_PER_CLIENT entries.
 *
 * word: CB_BIND_WORD(state, pool, worker slot, nonce).  A free entry
 * keeps its nonce; its client claims it with one CAS (FREE, nonce) ->
 * (BOUND, pool, worker, nonce + 1) after the worker's counter admitted
 * it; release, cb_close and the sweeper's reclaim CAS the exact BOUND
 * word back to (FREE, nonce), so only one of them decrements the
 * worker's counter.  A ticket carries the word: a stale one fails.
 * A picker that blocks marks one entry (PICKING, pool, 0, nonce + 1)
 * while it is counted in the pool's `pickers` (lib/place.h), and frees
 * it the same way, or, admitted, CASes it from that exact word to its
 * BOUND word; the sweeper's reclaim frees a dead one's and lowers the
 * counts.
 */
enum cb_bind_state {
	CB_BIND_FREE = 0,
	CB_BIND_BOUND = 1,
	CB_BIND_PICKING = 2,  /* a blocked picker's record: pool, no worker */
};

#define CB_BIND_WORD(st, pool, worker, nonce)                            \
	((uint64_t)(st) | ((uint64_t)(pool) & 0x3f) << 2 |               \
	 ((uint64_t)(worker) & 0x3ff) << 8 | (uint64_t)(nonce) << 18)
#define CB_BIND_STATE(w)  ((unsigned)((w) & 0x3))
#define CB_BIND_POOL(w)   ((unsigned)(((w) >> 2) & 0x3f))
#define CB_BIND_WORKER(w) ((unsigned)(((w) >> 8) & 0x3ff))
#define CB_BIND_NONCE(w)  ((w) >> 18)

struct cb_bind_slot {
	_Atomic uint64_t word;
};

/* The ABI admits only lock-free atomics of at most 8 bytes. */
static_assert(sizeof(_Atomic uint64_t) == 8, "64-bit atomics");
static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "64-bit atomics lock-free");
static_assert(ATOMIC_INT_LOCK_FREE == 2, "32-bit atomics lock-free");
static_assert(sizeof(struct cb_seg_header) % CB_CACHE_LINE == 0,
    "header is whole lines");
static_assert(offsetof(struct cb_state_hot, watch_seq) == CB_CACHE_LINE,
    "state word and watch word on their own lines");
static_assert(sizeof(struct cb_info) % 8 == 0, "info is 8-byte words");
static_assert(sizeof(struct cb_worker_rec) % 8 == 0, "records are words");
static_assert(sizeof(struct cb_worker_table) == 64, "table header");
static_assert(sizeof(struct cb_event_rec) == 64, "event records");
static_assert((CB_EVENT_RING & (CB_EVENT_RING - 1)) == 0, "ring power of 2");
static_assert(sizeof(struct cb_pool_def) % 8 == 0, "pool def is words");
static_assert(sizeof(struct cb_pool_conf) == 128, "pool conf: 2 lines");
static_assert(sizeof(struct cb_pool_slot) == 192, "pool slot: 3 lines");
static_assert(offsetof(struct cb_pool_slot, pick_seq) < 2 * CB_CACHE_LINE,
    "pickers on the release line, in ABI 1.1's padding");
static_assert(offsetof(struct cb_pool_slot, barge) / CB_CACHE_LINE ==
    offsetof(struct cb_pool_slot, queued) / CB_CACHE_LINE,
    "barge on the queued hint's line, in ABI 1.1's padding");
static_assert(sizeof(struct cb_slots_hot) == CB_CACHE_LINE, "slots hot");
static_assert(sizeof(struct cb_client_slot) == 576, "client slot");
static_assert(sizeof(struct cb_lane_slot) == 320, "lane slot");
static_assert(sizeof(struct cb_launch_slot) == 16, "launch slot");
static_assert(sizeof(struct cb_worker_slot) == 64, "worker slot: a line");
static_assert(sizeof(struct cb_bind_slot) == 8, "bind slot");
static_assert(CB_MAX_WORKERS <= 1024, "bind word packs 10 worker bits");
static_assert(sizeof(struct cb_waiter_slot) == 64, "waiter slot: a line");
static_assert(offsetof(struct cb_cluster_block, flags) == 4 &&
    offsetof(struct cb_cluster_block, lease_id) == 8 &&
    sizeof(struct cb_cluster_block) % 8 == 0,
    "cluster block: seq and flags, then 8-byte words (seqlock copies)");
static_assert(CB_MAX_POOLS <= 64 && CB_MAX_CLIENTS <= 1024,
    "launch word packs 6 pool bits and 10 client bits");

/* Segment object names: "/capbroker.NAME.state" / ".slots". */
#define CB_SHM_PREFIX "/capbroker."
#define CB_SHM_NAME_MAX (sizeof(CB_SHM_PREFIX) + CB_NAME_MAX + 8)

#endif /* CB_ABI_H */
