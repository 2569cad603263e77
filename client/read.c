/*
 * read.c - reading what the broker publishes: the capacity and its
 * source (one acquire load of the state word), watching it change (the
 * eventcount of futex.h on the watch futex word), whether the broker
 * is alive, and pools by name and by index.  Works on read-only
 * handles too; nothing here writes shared memory except a watcher's
 * count of itself.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "handle.h"

#include "clock.h"
#include "futex.h"
#include "proc.h"
#include "snapshot.h"


/* A watcher wakes at least this often to re-check on its own, so a lost
 * or never-sent wake (a read-only watcher cannot count itself as a
 * waiter; a hostile client can zero the count) costs latency, never a
 * hang. */
#define WATCH_SLICE_MS 1000
#define WATCH_SLICE_RDONLY_MS 50

static uint64_t load_state(const cb_client *c)
{
	/* Pairs with the release stores of the state word in publish()
	 * (broker/publisher.c) and retire() (broker/segments.c). */
	return atomic_load_explicit(c->state_word, memory_order_acquire);
}

unsigned cb_current(const cb_client *c)
{
	return CB_STATE_CAPACITY(load_state(c));
}

const uint64_t *cb_state_word(const cb_client *c)
{
	return (const uint64_t *)c->state_word;
}

int cb_source(const cb_client *c)
{
	return CB_STATE_SOURCE(load_state(c));
}

/*
 * The waiter half of the eventcount (futex.h).  Sleeps in slices so a
 * missing wake (read-only watcher, hostile waiter count, dead broker)
 * bounds latency instead of hanging.
 */
static int watch_sleep(cb_client *c, uint32_t *generation, int timeout_ms)
{
	struct timespec deadline, slice;
	long slice_ms = c->watch_waiters != NULL ? WATCH_SLICE_MS :
	    WATCH_SLICE_RDONLY_MS;
	int r;

	if (timeout_ms > 0)
		deadline = cb_deadline_after_ms(timeout_ms);
	/* Pairs with the seq_cst load of the waiter count in
	 * cb_eventcount_notify() (lib/futex.h, from publish() in
	 * broker/publisher.c): it sees us and wakes, or our load of
	 * watch_seq below sees its increment (futex.h has the argument). */
	if (c->watch_waiters != NULL)
		atomic_fetch_add_explicit(c->watch_waiters, 1,
		    memory_order_seq_cst);
	for (;;) {
		/* Pairs with the seq_cst fetch_add of watch_seq in
		 * cb_eventcount_notify() (publish(), broker/publisher.c)
		 * and in retire() (broker/segments.c). */
		uint32_t s = atomic_load_explicit(c->watch_seq,
		    memory_order_seq_cst);
		uint64_t w = load_state(c);

		if (CB_STATE_GENERATION(w) != *generation) {
			*generation = CB_STATE_GENERATION(w);
			r = 0;
			break;
		}
		slice = cb_deadline_after_ms(slice_ms);
		if (timeout_ms > 0) {
			if (!cb_timespec_before(&slice, &deadline)) {
				struct timespec now = cb_deadline_after_ms(0);

				if (!cb_timespec_before(&now, &deadline)) {
					r = -ETIMEDOUT;
					break;
				}
				slice = deadline;
			}
		}
		/* Woken, EAGAIN (seq moved), EINTR or slice over: re-check. */
		cb_futex_wait(c->watch_seq, s, &slice);
		cb_handle_rehello(c);
	}
	/* Pairs with the same load in cb_eventcount_notify(): a notifier
	 * that still counts us only wakes nobody. */
	if (c->watch_waiters != NULL)
		atomic_fetch_sub_explicit(c->watch_waiters, 1,
		    memory_order_seq_cst);
	return r;
}

int cb_watch(cb_client *c, uint32_t *generation, int timeout_ms)
{
	uint64_t w;

	if (c == NULL || generation == NULL || timeout_ms < -1)
		return -EINVAL;
	w = load_state(c);
	if (CB_STATE_GENERATION(w) != *generation) {
		*generation = CB_STATE_GENERATION(w);
		return 0;
	}
	if (timeout_ms == 0)
		return cb_handle_fail(c, -ETIMEDOUT, "no change since "
		    "generation %u", *generation);
	int r = watch_sleep(c, generation, timeout_ms);
	if (r < 0)
		cb_handle_fail(c, r, "no change since generation %u within "
		    "%d ms", *generation, timeout_ms);
	return r;
}

int cb_broker_check(cb_client *c)
{
	const struct cb_seg_header *h = c->state_hdr;
	uint64_t w = load_state(c), start, beat, now, ns;
	struct cb_ident id;
	uint32_t pid;

	/* Pairs with the release store of retired in retire()
	 * (broker/segments.c). */
	if (atomic_load_explicit(&h->retired, memory_order_acquire) ||
	    (CB_STATE_FLAGS(w) & CB_STATE_F_RETIRED))
		return cb_handle_fail(c, -EPROTO, "segment retired: the "
		    "broker replaced it; re-open");
	if (CB_STATE_FLAGS(w) & CB_STATE_F_STOPPING)
		return cb_handle_fail(c, -ESRCH, "broker stopped");
	/* Bounded: a broker killed inside the identity seqlock must not
	 * make this spin (seqlock.h). */
	if (cb_snapshot_ident(c->state, &id) < 0)
		return cb_handle_fail(c, -ESRCH, "broker identity unreadable "
		    "(a broker died while writing it)");
	pid = id.pid;
	start = id.start;
	/* From another PID namespace the broker's pid means nothing here:
	 * judge by the heartbeat alone. */
	ns = atomic_load_explicit(&h->broker_pidns, memory_order_relaxed);
	if ((ns == 0 || ns == cb_proc_pidns()) &&
	    !cb_proc_alive((pid_t)pid, start))
		return cb_handle_fail(c, -ESRCH, "broker pid %u is gone",
		    pid);
	beat = atomic_load_explicit(&h->heartbeat_ns, memory_order_relaxed);
	now = cb_monotonic_ns();
	if (now > beat && now - beat > (uint64_t)CB_STALE_MS * 1000000u)
		return cb_handle_fail(c, -ETIMEDOUT, "broker pid %u has not "
		    "heartbeaten for %llu ms", pid,
		    (unsigned long long)((now - beat) / 1000000u));
	cb_handle_rehello(c);
	return 0;
}

int cb_pool(cb_client *c, const char *pool_name)
{
	struct cb_pool_def def;

	if (pool_name == NULL)
		return cb_handle_fail(c, -EINVAL, "no pool name");
	/* This build's pool count, never the header's (segment.h). */
	for (uint32_t p = 0; p < CB_MAX_POOLS; p++) {
		if (cb_snapshot_pool(c->state, (int)p, &def) < 0 ||
		    !(def.flags & CB_POOL_F_ACTIVE))
			continue;
		def.name[CB_POOL_NAME_MAX] = '\0';
		if (strcmp(def.name, pool_name) == 0) {
			/* Relaxed: a cache that spares the lookup; its
			 * load in cb_handle_pool_valid() is relaxed, and
			 * admission acquires the limit itself
			 * (cb_rsv_limit()).  A deleted pool publishes
			 * limit 0, and a refusal then checks the
			 * definition (cb_handle_pool_gone()), which
			 * clears the bit. */
			atomic_fetch_or_explicit(&c->pools_known, 1ull << p,
			    memory_order_relaxed);
			return (int)p;
		}
	}
	return cb_handle_fail(c, -ENOENT, "no pool '%.40s' in broker '%s' "
	    "(capctl pool set creates one)", pool_name, c->name);
}

int cb_handle_pool_valid(cb_client *c, int pool)
{
	if (cb_handle_pool_known(c, pool))
		return 1;
	if (pool < 0 || pool >= CB_MAX_POOLS)
		return 0;
	struct cb_pool_def def;
	if (cb_snapshot_pool(c->state, pool, &def) == 0 &&
	    (def.flags & CB_POOL_F_ACTIVE)) {
		/* Relaxed: as in cb_pool(). */
		atomic_fetch_or_explicit(&c->pools_known, 1ull << pool,
		    memory_order_relaxed);
		return 1;
	}
	return 0;
}

int cb_handle_pool_gone(cb_client *c, int pool)
{
	struct cb_pool_def def;

	/* A deleted pool's limit is 0 (publish_pools(), broker): one load
	 * first, so a full pool's refusals read no definition. */
	if (pool <= 0 || pool >= CB_MAX_POOLS ||
	    cb_rsv_limit(c->state, pool) != 0 ||
	    cb_snapshot_pool(c->state, pool, &def) < 0 ||
	    (def.flags & CB_POOL_F_ACTIVE))
		return 0;
	/* Relaxed: as in cb_pool(); the cache only spares a lookup. */
	atomic_fetch_and_explicit(&c->pools_known, ~(1ull << pool),
	    memory_order_relaxed);
	return 1;
}

int cb_pool_info(cb_client *c, int pool, struct cb_pool_info *out)
{
	const struct cb_pool_conf *conf;
	struct cb_pool_def def;
	uint64_t u;

	if (out == NULL || !cb_handle_pool_valid(c, pool) ||
	    cb_snapshot_pool(c->state, pool, &def) < 0)
		return cb_handle_fail(c, -ENOENT, "no pool %d", pool);
	if (c->slots == NULL)
		return cb_handle_fail(c, -EACCES, "slots segment not "
		    "readable: pool usage needs the broker's group");
	conf = cb_seg_record(c->state, CB_RS_POOLS, 0, (uint32_t)pool);
	/* Pairs with the seq_cst CASes on usage in admit() and
	 * cb_rsv_usage_sub() (lib/reserve.c) and the sweeper's recount,
	 * and the publisher's reset_pool_slot() (broker/publisher.c).
	 * Held and launching share the word, so they are never torn;
	 * nothing read after it depends on the ordering. */
	u = atomic_load_explicit(&((struct cb_pool_slot *)cb_slots_record(
	    c->slots, CB_RL_POOLS, (uint32_t)pool))->usage,
	    memory_order_acquire);
	memset(out, 0, sizeof(*out));
	memcpy(out->name, def.name, CB_POOL_NAME_MAX);
	out->limit = cb_rsv_limit(c->state, pool);
	out->observed = atomic_load_explicit(&conf->observed,
	    memory_order_relaxed);
	/* A global pool's holds past hold_max no longer count (age.h). */
	out->held = usage_live(u);
	out->launching = CB_USAGE_LAUNCHING(u);
	out->window_ms = def.window_ms;
	return 0;
}
