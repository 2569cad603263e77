/*
 * publisher.c - the publisher thread (see publisher.h).
 */
#include "publisher.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <urcu.h>

#include "broker.h"
#include "capbroker.h"
#include "futex.h"
#include "log.h"
#include "place.h"
#include "reserve.h"
#include "segment.h"
#include "seqlock.h"
#include "slotmap.h"
#include "slots.h"
#include "snapshot.h"
#include "state_word.h"
#include "testpoint.h"
#include "tier.h"

/* An event for the publisher thread, through a liburcu wfcqueue.
 * `posted` states the queue's hand-off in C11 for ThreadSanitizer,
 * which cannot see liburcu's uatomic primitives: stored with release
 * once `type` is written (cb_publisher_post), loaded with acquire by
 * drain() before it reads `type` and frees the node. */
struct pub_node {
	struct cds_wfcq_node node;
	enum cb_pub_event type;
	_Atomic int posted;
};

/* What one drain of the queue found. */
struct drained {
	uint64_t events;
	bool stop;
};

static void event_append(struct cb_broker *b, struct cb_event_rec *ev)
{
	struct cb_event_ring *ring = cb_seg_region(b->seg.state,
	    CB_RS_EVENTS);
	uint64_t n = atomic_load_explicit(&ring->head, memory_order_relaxed);
	/* This build's ring size, never the header's (segment.h). */
	struct cb_event_rec *rec = cb_seg_record(b->seg.state, CB_RS_EVENTS,
	    sizeof(*ring), (uint32_t)(n % CB_EVENT_RING));

	ev->time_ns = cb_realtime_ns();
	atomic_store_explicit(&rec->seq, 2 * n + 1, memory_order_relaxed);
	/* Odd seq before the payload; pairs with the reader's acquire
	 * fence in cb_snapshot_events(). */
	atomic_thread_fence(memory_order_release);
	cb_seq_copy_in((char *)rec + sizeof(rec->seq),
	    (char *)ev + sizeof(ev->seq), sizeof(*ev) - sizeof(ev->seq));
	/* Pairs with the reader's acquire load of rec->seq in
	 * cb_snapshot_events() (lib/snapshot.c). */
	atomic_store_explicit(&rec->seq, 2 * n + 2, memory_order_release);
	/* Pairs with the reader's acquire load of head in
	 * cb_snapshot_events(). */
	atomic_store_explicit(&ring->head, n + 1, memory_order_release);
}

static void write_workers(struct cb_broker *b, size_t n)
{
	struct cb_worker_table *t = cb_seg_region(b->seg.state, CB_RS_WORKERS);

	cb_seqlock_write_begin(&t->seq);
	__atomic_store_n(&t->count, (uint32_t)n, __ATOMIC_RELAXED);
	for (size_t i = 0; i < n; i++)
		cb_seq_copy_in(cb_seg_record(b->seg.state, CB_RS_WORKERS,
		    sizeof(*t), (uint32_t)i), &b->pub.workers[i],
		    sizeof(struct cb_worker_rec));
	cb_seqlock_write_end(&t->seq);
}

/* A slot's live in-flight count, for the slot map's choice of a free
 * slot (a hint: the slots segment is the clients'). */
static uint32_t slot_inflight(uint32_t slot, void *slots)
{
	const struct cb_worker_slot *ws = cb_slots_worker(slots, slot);

	return atomic_load_explicit(&ws->inflight, memory_order_relaxed);
}

static void compute(struct cb_broker *b, size_t n, struct cb_tier_result *res,
    struct cb_tier_settings *set)
{
	static struct cb_tier_worker tw[CB_MAX_WORKERS];  /* publisher only */

	for (size_t i = 0; i < n; i++) {
		tw[i].state = b->pub.workers[i].state;
		tw[i].max_running = b->pub.workers[i].max_running;
	}
	set->override = atomic_load_explicit(&b->set.override,
	    memory_order_relaxed);
	set->slots_per_worker = atomic_load_explicit(
	    &b->set.slots_per_worker, memory_order_relaxed);
	set->legacy_max = atomic_load_explicit(&b->set.legacy_max,
	    memory_order_relaxed);
	cb_tier_compute(set, tw, n, res);
}

static void update_info(struct cb_broker *b, size_t n,
    const struct cb_tier_result *res, const struct cb_tier_settings *set,
    uint64_t word, uint64_t events)
{
	struct cb_info *in = &b->pub.info;
	struct cb_info_block *blk = cb_seg_region(b->seg.state, CB_RS_INFO);
	uint64_t old = b->pub.word;

	/* The very first publication (old == 0) is a start, not a change. */
	if (old != 0) {
		in->capacity_changes += CB_STATE_CAPACITY(old) != res->capacity;
		in->source_changes += CB_STATE_SOURCE(old) != res->source;
	}
	in->capacity = res->capacity;
	in->source = (uint32_t)res->source;
	in->generation = CB_STATE_GENERATION(word);
	in->flags = CB_STATE_FLAGS(word);
	in->override = set->override;
	in->slots_per_worker = set->slots_per_worker;
	in->legacy_max = set->legacy_max;
	in->workers_total = (uint32_t)n;
	in->workers_ready = res->ready;
	in->workers_reporting = res->reporting;
	in->publishes++;
	in->override_rejects = atomic_load_explicit(&b->set.override_rejects,
	    memory_order_relaxed);
	in->events += events;
	in->published_ns = cb_realtime_ns();
	in->retry_after_ms = atomic_load_explicit(&b->set.retry_after_ms,
	    memory_order_relaxed);
	cb_seqlock_write(&blk->seq, &blk->info, in, sizeof(*in));
}

/*
 * A new pool's slot starts from zero.  At an index a deleted pool had
 * (its tombstone, the last definition published here), U is left as it
 * is: the sweeper proved it zero before it freed the index (pools.h),
 * and a unit there now can only be a straggler's, a reserver that read
 * the deleted pool's limit before the deletion and CASes only now; its
 * re-check reads the new limit (still_fits(), reserve.c) and its unit
 * is counted, where a reset would have lost it.
 */
static void reset_pool_slot(struct cb_broker *b, int i, int reused)
{
	struct cb_pool_slot *ps = cb_slots_pool(b->seg.slots, i);

	/* seq_cst like every write of U (reserve.c).  No client admits
	 * here before it acquires the pool's non-zero limit (cb_rsv_limit),
	 * which publish_pools() stores with release after this reset: its
	 * CAS on U (admit(), reserve.c) comes after it. */
	if (!reused)
		atomic_store_explicit(&ps->usage, 0, memory_order_seq_cst);
	atomic_store_explicit(&ps->admitted, 0, memory_order_relaxed);
	atomic_store_explicit(&ps->rejected, 0, memory_order_relaxed);
	atomic_store_explicit(&ps->stale_releases, 0, memory_order_relaxed);
	atomic_store_explicit(&ps->launch_hint_ns, 0, memory_order_relaxed);
}

/*
 * A global pool's limit and deadline (abi.h, share_deadline_ns): this
 * host's local limit from the cluster thread, never above the pool's L,
 * and the shares' deadline; 1 (never valid) when there is none.  The
 * deadline first (acquire, pairing with the cluster thread's release
 * store, which follows its stores of the local limits): a deadline
 * extended for a new lease comes with that lease's limits.
 */
static void global_limit(struct cb_broker *b, int i,
    const struct cb_pool_def *def, uint32_t *limit, uint64_t *deadline)
{
	uint64_t dl = atomic_load_explicit(&b->cluster.valid_until_ns,
	    memory_order_acquire);
	uint32_t l = atomic_load_explicit(&b->cluster.local_limit[i],
	    memory_order_relaxed);

	*limit = l < def->value ? l : def->value;
	*deadline = dl > 1 ? dl : 1;
}

/*
 * A later deadline wakes a global pool's waiters only if the earlier one
 * had passed or was about to (a client refused for an expired share
 * waits for it): the cluster thread renews every few hundred
 * milliseconds, and a valid share made longer admits nobody new.  The
 * margin covers the moments between this check and the store below.
 */
#define DEADLINE_WAKE_MARGIN_NS 1000000000ull

static int deadline_revives(uint64_t old, uint64_t new)
{
	return new > old && old <= cb_monotonic_ns() + DEADLINE_WAKE_MARGIN_NS;
}

/*
 * Pool records: definitions (seqlock) when they change, then limits and
 * observations (release stores), then a global pool's deadline.  A
 * limit that rose, an observation that fell or an expired share renewed
 * may admit blocked reservers: wake them.
 */
static void publish_pools(struct cb_broker *b, uint32_t capacity)
{
	struct cb_publisher *p = &b->pub;
	struct cb_pool_def def[CB_MAX_POOLS];
	uint32_t observed[CB_MAX_POOLS];

	cb_pools_copy(&b->pools, def, observed);
	for (int i = 0; i < CB_MAX_POOLS; i++) {
		struct cb_pool_conf *conf = cb_seg_record(b->seg.state,
		    CB_RS_POOLS, 0, (uint32_t)i);
		const struct cb_limit_source *src = cb_limit_source(
		    def[i].kind);
		uint32_t limit = (def[i].flags & CB_POOL_F_ACTIVE) && src ?
		    src->limit(&def[i], capacity) : 0;
		uint64_t deadline = 0;
		int wake;

		if ((def[i].flags & CB_POOL_F_ACTIVE) &&
		    def[i].kind == CB_LIMIT_GLOBAL)
			global_limit(b, i, &def[i], &limit, &deadline);
		wake = limit > p->pool_limit[i] ||
		    observed[i] < p->pool_observed[i] ||
		    deadline_revives(p->pool_deadline[i], deadline);
		/* Deleted (POOL DEL): its blocked pickers leave with
		 * -ENOENT (its waiters are sent out by the sweeper). */
		int gone = (p->pool_def[i].flags & CB_POOL_F_ACTIVE) &&
		    !(def[i].flags & CB_POOL_F_ACTIVE);

		/* A pool coming into existence starts from zero, whatever a
		 * client scribbled on its unused slot (nothing could have
		 * been admitted against a pool that did not exist). */
		if ((def[i].flags & CB_POOL_F_ACTIVE) &&
		    !(p->pool_def[i].flags & CB_POOL_F_ACTIVE) && !p->adopting)
			reset_pool_slot(b, i, (p->pool_def[i].flags &
			    CB_POOL_F_DELETED) != 0);
		if (memcmp(&def[i], &p->pool_def[i], sizeof(def[i])) != 0) {
			cb_seqlock_write_begin(&conf->seq);
			cb_seq_copy_in(&conf->def, &def[i], sizeof(def[i]));
			/* Tests kill the broker here, the sequence odd, in a
			 * POOL SET (not at start-up): t_adopt_torn_pool.sh. */
			if (i > 0 && !p->adopting)
				CB_TESTPOINT("publisher:pool-def");
			cb_seqlock_write_end(&conf->seq);
			p->pool_def[i] = def[i];
		}
		/* Pairs with the acquire load in cb_rsv_limit(). */
		atomic_store_explicit(&conf->limit, limit,
		    memory_order_release);
		/* After the limit it goes with: pairs with the acquire load
		 * in share_expired() (lib/lane.h), which comes before the
		 * limit's, so a client that sees this deadline sees that
		 * limit (cluster.h: a new lease's limit before its
		 * deadline). */
		atomic_store_explicit(&conf->share_deadline_ns, deadline,
		    memory_order_release);
		p->pool_deadline[i] = deadline;
		/* Pairs with the acquire load in launch_floor()
		 * (lib/reserve.c), before and after a launch's CAS;
		 * cb_pool_info() and capdump read it relaxed, alone. */
		atomic_store_explicit(&conf->observed, observed[i],
		    memory_order_release);
		p->pool_limit[i] = limit;
		p->pool_observed[i] = observed[i];
		if (wake)
			cb_rsv_wake(b->seg.slots, i);
		if (gone)
			cb_place_wake_all(b->seg.slots, i);
	}
	/*
	 * A lowered limit is acknowledged (the control thread answers OK)
	 * only after this publish.  The fence puts the limit stores above
	 * in the single total order with the admitting reservers' seq_cst
	 * CAS and their seq_cst re-load of the limit (still_fits(),
	 * lib/reserve.c): a reserver whose re-check read the old limit
	 * CASed before this point, so any reader of U after the OK sees
	 * its unit, and one that CASes later reads the new limit.  Without
	 * it, release stores followed by a load elsewhere are the
	 * store-buffering case C11 allows.
	 */
	atomic_thread_fence(memory_order_seq_cst);
}

/* Record refused overrides (counted by the main thread) in the ring. */
static void note_rejects(struct cb_broker *b)
{
	uint64_t rejects = atomic_load_explicit(&b->set.override_rejects,
	    memory_order_relaxed);
	struct cb_event_rec ev = {
		.type = CB_EV_OVERRIDE_REJECTED,
		.generation = CB_STATE_GENERATION(b->pub.word),
		.old_capacity = CB_STATE_CAPACITY(b->pub.word),
		.new_capacity = CB_STATE_CAPACITY(b->pub.word),
		.old_source = (uint32_t)CB_STATE_SOURCE(b->pub.word),
		.new_source = (uint32_t)CB_STATE_SOURCE(b->pub.word),
		.value = (uint64_t)atomic_load_explicit(
		    &b->set.override_rejected, memory_order_relaxed),
	};

	if (rejects != b->pub.info.override_rejects)
		event_append(b, &ev);
}

static void announce(struct cb_broker *b, uint64_t old, uint64_t word,
    int type)
{
	struct cb_event_rec ev = {
		.type = (uint32_t)type,
		.generation = CB_STATE_GENERATION(word),
		.old_capacity = CB_STATE_CAPACITY(old),
		.new_capacity = CB_STATE_CAPACITY(word),
		.old_source = (uint32_t)CB_STATE_SOURCE(old),
		.new_source = (uint32_t)CB_STATE_SOURCE(word),
		.value = (uint64_t)getpid(),
	};

	event_append(b, &ev);
	if (type == CB_EV_PUBLISH)
		log_info("capacity %u -> %u, source %s -> %s (generation %u)",
		    CB_STATE_CAPACITY(old), CB_STATE_CAPACITY(word),
		    cb_source_name(CB_STATE_SOURCE(old)),
		    cb_source_name(CB_STATE_SOURCE(word)),
		    CB_STATE_GENERATION(word));
}

/*
 * One publication.  type is CB_EV_START for the first one, CB_EV_STOP
 * for the last, CB_EV_PUBLISH otherwise: the first two always bump the
 * generation so watchers notice a new broker or a stopping one.
 */
static void publish(struct cb_broker *b, uint64_t events, int type)
{
	struct cb_publisher *p = &b->pub;
	struct cb_state_hot *hot = cb_seg_region(b->seg.state, CB_RS_HOT);
	struct cb_slots_hot *shot = cb_slots_hot(b->seg.slots);
	struct cb_tier_settings set;
	struct cb_tier_result res;
	unsigned flags = type == CB_EV_STOP ? CB_STATE_F_STOPPING : 0;
	uint64_t old = p->word, word;
	uint32_t gen = CB_STATE_GENERATION(old);
	size_t n;

	n = cb_registry_snapshot(&b->reg, p->workers, CB_MAX_WORKERS);
	compute(b, n, &res, &set);
	if (type != CB_EV_PUBLISH || res.capacity != CB_STATE_CAPACITY(old) ||
	    res.source != CB_STATE_SOURCE(old) || flags != CB_STATE_FLAGS(old))
		gen = gen + 1 == 0 ? 1 : gen + 1;
	word = cb_state_pack(res.capacity, res.source, flags, gen);
	cb_slotmap_assign(p->slotmap, p->workers, n, set.slots_per_worker,
	    slot_inflight, b->seg.slots);
	write_workers(b, n);
	/* A worker that turned ready, or got room, may fit blocked
	 * pickers of any pool (place.h). */
	cb_place_wake_table(b->seg.slots);
	note_rejects(b);
	update_info(b, n, &res, &set, word, events);
	if (word != old) {
		announce(b, old, word, type);
		/* Pairs with the acquire load in cb_state_load(). */
		atomic_store_explicit(&hot->state_word, word,
		    memory_order_release);
		p->word = word;
		cb_eventcount_notify(&hot->watch_seq, &shot->watch_waiters);
		/* Pool 0's limit is the capacity: its reservers may fit. */
		cb_rsv_wake(b->seg.slots, 0);
	}
	publish_pools(b, res.capacity);
}

/* Must region entry r be put back to this build's entry want?  When a
 * fresh validation would refuse it, or it places records elsewhere. */
static bool region_damaged(const struct cb_region *r,
    const struct cb_region *want)
{
	return r->offset != want->offset || r->stride != want->stride ||
	    r->count < want->count || r->size < want->size;
}

/*
 * The state header's region table is the broker's: only its uid can
 * write the segment.  Neither the broker nor any client reads it after
 * validation (segment.h: records are located through this build's
 * layout), so a stray write there moves no reader; but every new client
 * validates it before attaching, and a damaged table would lock them
 * all out.  After each publication, put back from this build's layout
 * what validation would refuse: validation required the regions to sit
 * there when the segment was created or adopted, and they have not
 * moved.  These are creator fields: written once before the magic, and
 * from then on by this thread only.  A client validating while they are
 * rewritten is refused once, with the message of what it read.
 */
static void restore_region_table(struct cb_broker *b)
{
	struct cb_seg_header *h = b->seg.state;
	char why[CB_ERRMSG_MAX];
	struct cb_layout l;
	bool fixed = false;

	if (cb_seg_validate(h, b->seg.state_size, CB_SEG_STATE, b->name, why,
	    sizeof(why)) == 0)
		return;
	cb_layout_init(&l, CB_SEG_STATE);
	if (h->total_size != b->seg.state_size) {
		h->total_size = b->seg.state_size;
		fixed = true;
	}
	if (h->region_count < l.region_count ||
	    h->region_count > CB_REGION_MAX) {
		h->region_count = l.region_count;
		fixed = true;
	}
	for (uint32_t i = 0; i < l.region_count; i++) {
		if (region_damaged(&h->region[i], &l.region[i])) {
			h->region[i] = l.region[i];
			fixed = true;
		}
	}
	if (fixed)
		log_warnx("%s: its header was overwritten (%s): region table "
		    "restored from this build's layout", b->seg.state_name,
		    why);
}

static struct drained drain(struct cb_publisher *p)
{
	struct cds_wfcq_node *node;
	struct drained d = { 0, false };

	while ((node = cds_wfcq_dequeue_blocking(&p->head, &p->tail)) !=
	    NULL) {
		struct pub_node *ev = caa_container_of(node, struct pub_node,
		    node);

		/* Pairs with the release store in cb_publisher_post(). */
		(void)atomic_load_explicit(&ev->posted, memory_order_acquire);
		d.events++;
		d.stop |= ev->type == CB_PUB_STOP;
		free(ev);
	}
	return d;
}

static void *publisher_main(void *arg)
{
	struct cb_broker *b = arg;
	struct cb_publisher *p = &b->pub;
	struct drained d = { 0, false };
	uint64_t kicks, upto;

	rcu_register_thread();
	while (!d.stop) {
		if (read(p->kick_fd, &kicks, sizeof(kicks)) < 0 &&
		    errno != EINTR && errno != EAGAIN) {
			log_warn("publisher: eventfd read");
			continue;
		}
		/* Every event numbered up to here is in the registry or the
		 * settings already: they were changed before being posted.
		 * Pairs with the release fetch_add in cb_publisher_post(). */
		upto = atomic_load_explicit(&p->posted, memory_order_acquire);
		d = drain(p);
		/* A post whose node could not be allocated has no event but
		 * still moved `posted`: publish for it too. */
		if (d.events == 0 && !d.stop && upto == p->applied)
			continue;
		publish(b, d.events, d.stop ? CB_EV_STOP : CB_EV_PUBLISH);
		/* Before the acknowledgement: a change the control socket
		 * confirmed finds new clients able to attach. */
		restore_region_table(b);
		pthread_mutex_lock(&p->lock);
		p->applied = upto;
		pthread_cond_broadcast(&p->cond);
		pthread_mutex_unlock(&p->lock);
	}
	rcu_unregister_thread();
	return NULL;
}

/* Workers keep their placement slots across a restart: their bound
 * holds are counted there.  The scratch table is free until the first
 * publish. */
static void adopt_slots(struct cb_broker *b)
{
	uint32_t n = 0;

	if (cb_snapshot_workers(b->seg.state, b->pub.workers, CB_MAX_WORKERS,
	    &n) < 0)
		log_warnx("adopted worker table is unreadable: workers get "
		    "new placement slots");
	cb_slotmap_adopt(b->pub.slotmap, b->pub.workers, n);
}

/* Take over counters and generation from an adopted segment. */
static void adopt_state(struct cb_broker *b)
{
	struct cb_info_block *blk = cb_seg_region(b->seg.state, CB_RS_INFO);
	struct cb_worker_table *t = cb_seg_region(b->seg.state, CB_RS_WORKERS);
	struct cb_state_hot *hot = cb_seg_region(b->seg.state, CB_RS_HOT);

	/* A broker killed mid-write left an odd sequence: both blocks are
	 * rewritten by the first publish, inside write_begin/end. */
	if (cb_seqlock_repair(&blk->seq) | cb_seqlock_repair(&t->seq))
		log_warnx("repaired a half-written snapshot left by the "
		    "previous broker");
	if (cb_snapshot_info(b->seg.state, &b->pub.info) < 0)
		memset(&b->pub.info, 0, sizeof(b->pub.info));
	adopt_slots(b);
	b->pub.word = atomic_load_explicit(&hot->state_word,
	    memory_order_relaxed);
	for (int i = 0; i < CB_MAX_POOLS; i++) {
		struct cb_pool_conf *conf = cb_seg_record(b->seg.state,
		    CB_RS_POOLS, 0, (uint32_t)i);

		/* Its seqlock was repaired by cb_pools_adopt() (main.c,
		 * restore_from_segment), before the definitions were
		 * read: a repair here, after, dropped the pool. */
		/* Relaxed: the last limit published, only the baseline
		 * of publish_pools()' wake test; loaded before the
		 * publisher thread exists, it orders nothing. */
		b->pub.pool_limit[i] = atomic_load_explicit(&conf->limit,
		    memory_order_relaxed);
		b->pub.pool_deadline[i] = atomic_load_explicit(
		    &conf->share_deadline_ns, memory_order_relaxed);
	}
}

int cb_publisher_init(struct cb_broker *b)
{
	struct cb_publisher *p = &b->pub;
	pthread_condattr_t ca;

	p->workers = calloc(CB_MAX_WORKERS, sizeof(*p->workers));
	p->slotmap = malloc(sizeof(*p->slotmap));
	p->kick_fd = eventfd(0, EFD_CLOEXEC);
	if (p->workers == NULL || p->slotmap == NULL || p->kick_fd < 0)
		return -ENOMEM;
	cb_slotmap_init(p->slotmap);
	cds_wfcq_init(&p->head, &p->tail);
	pthread_mutex_init(&p->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&p->cond, &ca);
	pthread_condattr_destroy(&ca);
	/* Adopted pools are live, with live reservations: the first
	 * publication must not mistake them for new ones. */
	p->adopting = b->seg.adopted;
	if (b->seg.adopted)
		adopt_state(b);
	publish(b, 0, CB_EV_START);
	p->adopting = false;
	return 0;
}

int cb_publisher_start(struct cb_broker *b)
{
	int r = pthread_create(&b->pub.thread, NULL, publisher_main, b);

	b->pub.running = r == 0;
	return -r;
}

uint64_t cb_publisher_post(struct cb_broker *b, enum cb_pub_event type)
{
	struct cb_publisher *p = &b->pub;
	struct pub_node *ev = malloc(sizeof(*ev));
	uint64_t one = 1, seq;

	/* Release: orders the registry/settings change before the number
	 * the publisher acquires in publisher_main(). */
	seq = atomic_fetch_add_explicit(&p->posted, 1,
	    memory_order_release) + 1;
	if (ev != NULL) {
		ev->type = type;
		/* Pairs with the acquire load in drain(). */
		atomic_store_explicit(&ev->posted, 1, memory_order_release);
		cds_wfcq_node_init(&ev->node);
		cds_wfcq_enqueue(&p->head, &p->tail, &ev->node);
	} else if (type == CB_PUB_STOP) {
		fatalx("out of memory stopping the publisher");
	}
	/* Without a node the kick still makes the publisher recompute;
	 * only the event count is off by one. */
	if (write(p->kick_fd, &one, sizeof(one)) < 0)
		log_warn("publisher: eventfd write");
	return seq;
}

int cb_publisher_wait(struct cb_broker *b, uint64_t seq, int timeout_ms)
{
	struct cb_publisher *p = &b->pub;
	struct timespec deadline = cb_deadline_after_ms(timeout_ms);
	int r = 0;

	pthread_mutex_lock(&p->lock);
	while (p->applied < seq && r == 0)
		r = pthread_cond_timedwait(&p->cond, &p->lock, &deadline);
	r = p->applied >= seq ? 0 : -ETIMEDOUT;
	pthread_mutex_unlock(&p->lock);
	return r;
}

void cb_publisher_stop(struct cb_broker *b)
{
	struct cb_publisher *p = &b->pub;

	if (p->running) {
		cb_publisher_post(b, CB_PUB_STOP);
		pthread_join(p->thread, NULL);
		p->running = false;
	} else if (b->seg.state != NULL && p->workers != NULL) {
		publish(b, 0, CB_EV_STOP);
	}
	drain(p);
	if (p->kick_fd >= 0)
		close(p->kick_fd);
	free(p->workers);
	p->workers = NULL;
	free(p->slotmap);
	p->slotmap = NULL;
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->cond);
}
