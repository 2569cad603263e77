/*
 * test_broker_pools.c - pool definitions and limit sources
 * (broker/pools.c), driven by POOL SET requests parsed with
 * cb_ctl_parse (lib/proto.c) exactly as the control socket does.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "abi.h"
#include "cluster.h"
#include "pools.h"
#include "proto.h"
#include "segment.h"
#include "seqlock.h"

struct fx {
	struct cb_pools ps;
	char err[256];
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	cb_pools_init(&f->ps);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	cb_pools_destroy(&f->ps);
	free(f);
	return 0;
}

/* Parse a request line; it must parse. */
static struct cb_ctl_req req_of(const char *line)
{
	struct cb_ctl_req req;
	char err[256] = "";
	int r = cb_ctl_parse(line, &req, err, sizeof(err));

	if (r != 0)
		fail_msg("'%s' did not parse: %d %s", line, r, err);
	return req;
}

static int pool_set(struct fx *f, const char *line)
{
	struct cb_ctl_req req = req_of(line);

	assert_int_equal(req.verb, CB_CTL_POOL_SET);
	f->err[0] = '\0';
	return cb_pools_set(&f->ps, &req, f->err, sizeof(f->err));
}

static uint32_t limit_of(uint32_t kind, uint32_t value, uint32_t capacity)
{
	const struct cb_limit_source *src = cb_limit_source(kind);
	struct cb_pool_def def;

	assert_non_null(src);
	memset(&def, 0, sizeof(def));
	def.kind = kind;
	def.value = value;
	return src->limit(&def, capacity);
}

/* ---- limit sources ------------------------------------------------------ */

static void test_source_table(void **state)
{
	(void)state;
	assert_null(cb_limit_source(0));
	assert_null(cb_limit_source(CB_LIMIT_GLOBAL + 1));
	assert_null(cb_limit_source(0xffffffffu));
	assert_string_equal(cb_limit_source(CB_LIMIT_CAPACITY)->name,
	    "capacity");
	assert_string_equal(cb_limit_source(CB_LIMIT_FIXED)->name, "fixed");
	assert_string_equal(cb_limit_source(CB_LIMIT_SHARE)->name, "share");
	assert_string_equal(cb_limit_source(CB_LIMIT_GLOBAL)->name, "global");
}

/* A global pool's local limit is the cluster thread's share, which the
 * publisher takes instead: the source itself gives nothing, whatever L
 * and the capacity. */
static void test_source_global(void **state)
{
	(void)state;
	assert_int_equal(limit_of(CB_LIMIT_GLOBAL, 10, 100), 0);
	assert_int_equal(limit_of(CB_LIMIT_GLOBAL, 65535, 65535), 0);
	assert_int_equal(limit_of(CB_LIMIT_GLOBAL, 0, 0), 0);
}

static void test_source_capacity(void **state)
{
	(void)state;
	assert_int_equal(limit_of(CB_LIMIT_CAPACITY, 0, 0), 0);
	assert_int_equal(limit_of(CB_LIMIT_CAPACITY, 7, 12), 12);
	assert_int_equal(limit_of(CB_LIMIT_CAPACITY, 0, 65535), 65535);
}

static void test_source_fixed(void **state)
{
	(void)state;
	assert_int_equal(limit_of(CB_LIMIT_FIXED, 4, 100), 4);
	assert_int_equal(limit_of(CB_LIMIT_FIXED, 4, 0), 4);
	assert_int_equal(limit_of(CB_LIMIT_FIXED, 0, 100), 0);
	assert_int_equal(limit_of(CB_LIMIT_FIXED, 65535, 1), 65535);
}

static void test_source_share(void **state)
{
	(void)state;
	/* Rounds down... */
	assert_int_equal(limit_of(CB_LIMIT_SHARE, 50, 3), 1);
	assert_int_equal(limit_of(CB_LIMIT_SHARE, 50, 4), 2);
	assert_int_equal(limit_of(CB_LIMIT_SHARE, 33, 100), 33);
	assert_int_equal(limit_of(CB_LIMIT_SHARE, 66, 10), 6);
	assert_int_equal(limit_of(CB_LIMIT_SHARE, 99, 65535), 64879);
	/* ...but never a non-empty capacity down to nothing. */
	assert_int_equal(limit_of(CB_LIMIT_SHARE, 1, 50), 1);
	assert_int_equal(limit_of(CB_LIMIT_SHARE, 1, 1), 1);
	assert_int_equal(limit_of(CB_LIMIT_SHARE, 50, 1), 1);
	assert_int_equal(limit_of(CB_LIMIT_SHARE, 1, 199), 1);
	assert_int_equal(limit_of(CB_LIMIT_SHARE, 1, 200), 2);
	/* An empty capacity stays empty. */
	assert_int_equal(limit_of(CB_LIMIT_SHARE, 100, 0), 0);
	assert_int_equal(limit_of(CB_LIMIT_SHARE, 1, 0), 0);
	/* Whole capacity, at the top of the range: no overflow. */
	assert_int_equal(limit_of(CB_LIMIT_SHARE, 100, 65535), 65535);
	assert_int_equal(limit_of(CB_LIMIT_SHARE, 100, 1), 1);
}

/* ---- init --------------------------------------------------------------- */

static void test_init(void **state)
{
	struct fx *f = *state;
	struct cb_pool_def def[CB_MAX_POOLS];
	uint32_t observed[CB_MAX_POOLS];

	memset(observed, 0xff, sizeof(observed));
	cb_pools_copy(&f->ps, def, observed);
	assert_true(def[0].flags & CB_POOL_F_ACTIVE);
	assert_int_equal(def[0].kind, CB_LIMIT_CAPACITY);
	assert_string_equal(def[0].name, "default");
	assert_int_equal(def[0].window_ms, CB_DEFAULT_WINDOW_MS);
	assert_int_equal(CB_DEFAULT_WINDOW_MS, 60000);
	for (int p = 1; p < CB_MAX_POOLS; p++)
		assert_false(def[p].flags & CB_POOL_F_ACTIVE);
	for (int p = 0; p < CB_MAX_POOLS; p++)
		assert_int_equal(observed[p], 0);
}

/* ---- POOL SET ------------------------------------------------------------ */

static void test_create_fixed(void **state)
{
	struct fx *f = *state;
	struct cb_pool_def *d = &f->ps.def[1];

	assert_int_equal(pool_set(f, "POOL SET batch limit=4"), 1);
	assert_true(d->flags & CB_POOL_F_ACTIVE);
	assert_string_equal(d->name, "batch");
	assert_int_equal(d->kind, CB_LIMIT_FIXED);
	assert_int_equal(d->value, 4);
	assert_int_equal(d->window_ms, CB_DEFAULT_WINDOW_MS);
	assert_int_equal(f->ps.observed[1], 0);
	/* The same name again is the same pool. */
	assert_int_equal(pool_set(f, "POOL SET batch limit=5"), 1);
	assert_int_equal(d->value, 5);
	assert_false(f->ps.def[2].flags & CB_POOL_F_ACTIVE);
	/* A limit of 0 is a pool that admits nothing, not "no limit". */
	assert_int_equal(pool_set(f, "POOL SET closed limit=0"), 2);
	assert_int_equal(f->ps.def[2].kind, CB_LIMIT_FIXED);
	assert_int_equal(f->ps.def[2].value, 0);
}

static void test_create_share_with_everything(void **state)
{
	struct fx *f = *state;
	struct cb_pool_def *d = &f->ps.def[1];

	assert_int_equal(pool_set(f,
	    "POOL SET web share=25 window=90 observed=3"), 1);
	assert_string_equal(d->name, "web");
	assert_int_equal(d->kind, CB_LIMIT_SHARE);
	assert_int_equal(d->value, 25);
	assert_int_equal(d->window_ms, 90000);
	assert_int_equal(f->ps.observed[1], 3);
	/* The largest window does not overflow milliseconds. */
	assert_int_equal(pool_set(f, "POOL SET web window=86400"), 1);
	assert_int_equal(d->window_ms, 86400000u);
}

static void test_create_needs_limit_or_share(void **state)
{
	struct fx *f = *state;

	assert_int_equal(pool_set(f, "POOL SET nolimit window=5"), -EINVAL);
	assert_non_null(strstr(f->err, "nolimit"));
	assert_non_null(strstr(f->err, "limit="));
	assert_int_equal(pool_set(f, "POOL SET nolimit observed=5"), -EINVAL);
	assert_int_equal(pool_set(f, "POOL SET nolimit"), -EINVAL);
	/* Nothing was created. */
	for (int p = 1; p < CB_MAX_POOLS; p++)
		assert_false(f->ps.def[p].flags & CB_POOL_F_ACTIVE);
	assert_int_equal(f->ps.observed[1], 0);
}

static void test_default_pool(void **state)
{
	struct fx *f = *state;
	struct cb_pool_def *d = &f->ps.def[0];

	assert_int_equal(pool_set(f, "POOL SET default limit=3"), -EINVAL);
	assert_non_null(strstr(f->err, "default"));
	assert_int_equal(pool_set(f, "POOL SET default share=50"), -EINVAL);
	assert_int_equal(pool_set(f, "POOL SET default limit=3 window=5"),
	    -EINVAL);
	/* Refused entirely: not even the window changed. */
	assert_int_equal(d->window_ms, CB_DEFAULT_WINDOW_MS);
	assert_int_equal(d->kind, CB_LIMIT_CAPACITY);
	assert_int_equal(d->value, 0);

	assert_int_equal(pool_set(f, "POOL SET default window=30 observed=2"),
	    0);
	assert_int_equal(d->window_ms, 30000);
	assert_int_equal(f->ps.observed[0], 2);
	assert_int_equal(d->kind, CB_LIMIT_CAPACITY);
	assert_string_equal(d->name, "default");
	assert_int_equal(pool_set(f, "POOL SET default"), 0);
	assert_int_equal(d->window_ms, 30000);
	assert_int_equal(f->ps.observed[0], 2);
	/* No other pool appeared. */
	for (int p = 1; p < CB_MAX_POOLS; p++)
		assert_false(f->ps.def[p].flags & CB_POOL_F_ACTIVE);
}

static void test_change_only_given_keys(void **state)
{
	struct fx *f = *state;
	struct cb_pool_def *d = &f->ps.def[1];

	assert_int_equal(pool_set(f,
	    "POOL SET batch limit=4 window=10 observed=1"), 1);

	assert_int_equal(pool_set(f, "POOL SET batch window=20"), 1);
	assert_int_equal(d->kind, CB_LIMIT_FIXED);
	assert_int_equal(d->value, 4);
	assert_int_equal(d->window_ms, 20000);
	assert_int_equal(f->ps.observed[1], 1);

	assert_int_equal(pool_set(f, "POOL SET batch observed=7"), 1);
	assert_int_equal(d->value, 4);
	assert_int_equal(d->window_ms, 20000);
	assert_int_equal(f->ps.observed[1], 7);

	/* limit <-> share switch the kind. */
	assert_int_equal(pool_set(f, "POOL SET batch share=50"), 1);
	assert_int_equal(d->kind, CB_LIMIT_SHARE);
	assert_int_equal(d->value, 50);
	assert_int_equal(d->window_ms, 20000);
	assert_int_equal(f->ps.observed[1], 7);
	assert_int_equal(pool_set(f, "POOL SET batch limit=9"), 1);
	assert_int_equal(d->kind, CB_LIMIT_FIXED);
	assert_int_equal(d->value, 9);

	/* Nothing given: nothing changes. */
	assert_int_equal(pool_set(f, "POOL SET batch"), 1);
	assert_int_equal(d->kind, CB_LIMIT_FIXED);
	assert_int_equal(d->value, 9);
	assert_int_equal(d->window_ms, 20000);
	assert_int_equal(f->ps.observed[1], 7);
	assert_string_equal(d->name, "batch");
	assert_true(d->flags & CB_POOL_F_ACTIVE);
}

/* POOL SET global: kind CB_LIMIT_GLOBAL, def.value the cluster's L,
 * hold_max_s defaulting to CB_HOLD_MAX_DEFAULT. */
static void test_global_create(void **state)
{
	struct fx *f = *state;
	struct cb_pool_def *d = &f->ps.def[1];

	assert_int_equal(pool_set(f, "POOL SET g global"), -EINVAL);
	assert_non_null(strstr(f->err, "limit="));
	assert_false(d->flags & CB_POOL_F_ACTIVE);
	assert_int_equal(pool_set(f, "POOL SET g global hold_max=5"),
	    -EINVAL);
	assert_false(d->flags & CB_POOL_F_ACTIVE);

	assert_int_equal(pool_set(f, "POOL SET g limit=40 global"), 1);
	assert_int_equal(d->kind, CB_LIMIT_GLOBAL);
	assert_int_equal(d->value, 40);
	assert_int_equal(d->hold_max_s, CB_HOLD_MAX_DEFAULT);
	assert_int_equal(d->hold_max_s, 300);
	assert_int_equal(d->window_ms, CB_DEFAULT_WINDOW_MS);

	assert_int_equal(pool_set(f,
	    "POOL SET h limit=7 global hold_max=86400 window=9"), 2);
	assert_int_equal(f->ps.def[2].kind, CB_LIMIT_GLOBAL);
	assert_int_equal(f->ps.def[2].value, 7);
	assert_int_equal(f->ps.def[2].hold_max_s, 86400);
	assert_int_equal(f->ps.def[2].window_ms, 9000);
}

/* limit= on a global pool changes L and keeps it global; hold_max=
 * alone changes the hold bound; global again keeps hold_max. */
static void test_global_change(void **state)
{
	struct fx *f = *state;
	struct cb_pool_def *d = &f->ps.def[1];

	assert_int_equal(pool_set(f, "POOL SET g limit=40 global "
	    "hold_max=60"), 1);
	assert_int_equal(pool_set(f, "POOL SET g limit=50"), 1);
	assert_int_equal(d->kind, CB_LIMIT_GLOBAL);
	assert_int_equal(d->value, 50);
	assert_int_equal(d->hold_max_s, 60);
	assert_int_equal(pool_set(f, "POOL SET g hold_max=120"), 1);
	assert_int_equal(d->kind, CB_LIMIT_GLOBAL);
	assert_int_equal(d->value, 50);
	assert_int_equal(d->hold_max_s, 120);
	assert_int_equal(pool_set(f, "POOL SET g global window=5"), 1);
	assert_int_equal(d->kind, CB_LIMIT_GLOBAL);
	assert_int_equal(d->value, 50);
	assert_int_equal(d->hold_max_s, 120);
	assert_int_equal(d->window_ms, 5000);
}

/* global on a fixed pool keeps its value as L; on a share pool it
 * needs limit=.  local makes a global pool fixed at L, share= a share
 * pool; a local pool has no hold_max and refuses one. */
static void test_global_local_switch(void **state)
{
	struct fx *f = *state;
	struct cb_pool_def *d = &f->ps.def[1];

	assert_int_equal(pool_set(f, "POOL SET p limit=8"), 1);
	assert_int_equal(pool_set(f, "POOL SET p hold_max=10"), -EINVAL);
	assert_non_null(strstr(f->err, "global"));
	assert_int_equal(d->kind, CB_LIMIT_FIXED);
	assert_int_equal(d->hold_max_s, 0);
	assert_int_equal(pool_set(f, "POOL SET p global"), 1);
	assert_int_equal(d->kind, CB_LIMIT_GLOBAL);
	assert_int_equal(d->value, 8);
	assert_int_equal(d->hold_max_s, CB_HOLD_MAX_DEFAULT);

	assert_int_equal(pool_set(f, "POOL SET p local"), 1);
	assert_int_equal(d->kind, CB_LIMIT_FIXED);
	assert_int_equal(d->value, 8);
	assert_int_equal(d->hold_max_s, 0);
	/* local on a local pool: nothing changes. */
	assert_int_equal(pool_set(f, "POOL SET p local"), 1);
	assert_int_equal(d->kind, CB_LIMIT_FIXED);
	assert_int_equal(d->value, 8);

	assert_int_equal(pool_set(f, "POOL SET p global hold_max=30"), 1);
	assert_int_equal(d->hold_max_s, 30);
	assert_int_equal(pool_set(f, "POOL SET p share=25"), 1);
	assert_int_equal(d->kind, CB_LIMIT_SHARE);
	assert_int_equal(d->value, 25);
	assert_int_equal(d->hold_max_s, 0);
	assert_int_equal(pool_set(f, "POOL SET p local"), 1);
	assert_int_equal(d->kind, CB_LIMIT_SHARE);
	/* A share pool has no count to keep as L. */
	assert_int_equal(pool_set(f, "POOL SET p global"), -EINVAL);
	assert_non_null(strstr(f->err, "limit="));
	assert_int_equal(d->kind, CB_LIMIT_SHARE);
	assert_int_equal(d->value, 25);
	assert_int_equal(pool_set(f, "POOL SET p global limit=6"), 1);
	assert_int_equal(d->kind, CB_LIMIT_GLOBAL);
	assert_int_equal(d->value, 6);
	/* local with limit=: fixed at the new value. */
	assert_int_equal(pool_set(f, "POOL SET p local limit=3"), 1);
	assert_int_equal(d->kind, CB_LIMIT_FIXED);
	assert_int_equal(d->value, 3);
}

/* Pool default follows the capacity: no scope, no hold_max. */
static void test_global_not_default(void **state)
{
	struct fx *f = *state;
	struct cb_pool_def *d = &f->ps.def[0];

	assert_int_equal(pool_set(f, "POOL SET default global"), -EINVAL);
	assert_non_null(strstr(f->err, "default"));
	assert_int_equal(pool_set(f, "POOL SET default limit=5 global"),
	    -EINVAL);
	assert_int_equal(pool_set(f, "POOL SET default local"), -EINVAL);
	assert_int_equal(pool_set(f, "POOL SET default hold_max=5"), -EINVAL);
	assert_int_equal(d->kind, CB_LIMIT_CAPACITY);
	assert_int_equal(d->hold_max_s, 0);
}

static void test_pools_are_independent(void **state)
{
	struct fx *f = *state;

	assert_int_equal(pool_set(f, "POOL SET a limit=1 observed=1"), 1);
	assert_int_equal(pool_set(f, "POOL SET b share=10 window=5"), 2);
	assert_int_equal(pool_set(f, "POOL SET c limit=3"), 3);
	assert_int_equal(pool_set(f, "POOL SET b observed=4"), 2);
	assert_int_equal(pool_set(f, "POOL SET a limit=2"), 1);
	assert_int_equal(f->ps.def[1].value, 2);
	assert_int_equal(f->ps.observed[1], 1);
	assert_int_equal(f->ps.def[2].kind, CB_LIMIT_SHARE);
	assert_int_equal(f->ps.def[2].value, 10);
	assert_int_equal(f->ps.def[2].window_ms, 5000);
	assert_int_equal(f->ps.observed[2], 4);
	assert_int_equal(f->ps.def[3].value, 3);
	assert_int_equal(f->ps.def[3].window_ms, CB_DEFAULT_WINDOW_MS);
	assert_int_equal(f->ps.observed[3], 0);
	/* Names are case-sensitive. */
	assert_int_equal(pool_set(f, "POOL SET A limit=8"), 4);
}

static void test_table_full(void **state)
{
	struct fx *f = *state;
	char line[64];

	for (int p = 1; p < CB_MAX_POOLS; p++) {
		snprintf(line, sizeof(line), "POOL SET p%02d limit=%d", p, p);
		assert_int_equal(pool_set(f, line), p);
	}
	assert_int_equal(pool_set(f, "POOL SET onemore limit=1"), -ENOSPC);
	assert_non_null(strstr(f->err, "64"));
	/* Existing pools can still change when the table is full. */
	assert_int_equal(pool_set(f, "POOL SET p07 limit=70"), 7);
	assert_int_equal(f->ps.def[7].value, 70);
	assert_int_equal(pool_set(f, "POOL SET default window=1"), 0);
	/* Nothing was overwritten. */
	for (int p = 1; p < CB_MAX_POOLS; p++) {
		snprintf(line, sizeof(line), "p%02d", p);
		assert_string_equal(f->ps.def[p].name, line);
		assert_int_equal(f->ps.def[p].value,
		    p == 7 ? 70u : (uint32_t)p);
	}
	/* A freed slot is found again (a slot neither active nor a
	 * tombstone still to be reaped is free). */
	f->ps.def[30].flags = 0;
	assert_int_equal(pool_set(f, "POOL SET onemore limit=1"), 30);
	assert_string_equal(f->ps.def[30].name, "onemore");
	assert_int_equal(f->ps.def[30].window_ms, CB_DEFAULT_WINDOW_MS);
	assert_int_equal(f->ps.observed[30], 0);
}

/* A reused slot starts from zero: nothing of its old pool leaks in. */
static void test_reused_slot_starts_clean(void **state)
{
	struct fx *f = *state;
	struct cb_pool_def *d = &f->ps.def[1];

	assert_int_equal(pool_set(f,
	    "POOL SET old share=40 window=7 observed=9"), 1);
	d->reserved = 0xdeadbeef;   /* say, adopted from an old segment */
	d->flags = 0;
	assert_int_equal(pool_set(f, "POOL SET new limit=2"), 1);
	assert_string_equal(d->name, "new");
	assert_int_equal(d->kind, CB_LIMIT_FIXED);
	assert_int_equal(d->value, 2);
	assert_int_equal(d->window_ms, CB_DEFAULT_WINDOW_MS);
	assert_int_equal(f->ps.observed[1], 0);
	assert_int_equal(d->reserved, 0);
}

/* A zeroed slots segment of this build's layout (cb_pools_busy reads
 * the pool slots through it). */
static void *slots_new(void)
{
	struct cb_layout l;
	void *sl;

	cb_layout_init(&l, CB_SEG_SLOTS);
	sl = aligned_alloc(4096, (l.total_size + 4095) / 4096 * 4096);
	assert_non_null(sl);
	memset(sl, 0, l.total_size);
	return sl;
}

static int pool_del(struct fx *f, const void *sl, const char *line,
    struct cb_pool_busy *busy)
{
	struct cb_ctl_req req = req_of(line);

	assert_int_equal(req.verb, CB_CTL_POOL_DEL);
	f->err[0] = '\0';
	return cb_pools_del(&f->ps, req.pool, (int)req.force, sl, busy,
	    f->err, sizeof(f->err));
}

/*
 * POOL DEL (issue 13, item 11): refused in use unless forced; the pool
 * becomes a tombstone that no name finds and no new pool takes until
 * the sweeper reaps it; then its index is free again.
 */
static void test_delete_lifecycle(void **state)
{
	struct fx *f = *state;
	struct cb_pool_busy busy;
	void *sl = slots_new();
	struct cb_pool_slot *ps = cb_slots_record(sl, CB_RL_POOLS, 1);
	int room;

	assert_int_equal(pool_set(f, "POOL SET a limit=4"), 1);
	assert_int_equal(pool_set(f, "POOL SET b limit=4"), 2);
	room = cb_pools_room(&f->ps);
	assert_int_equal(room, CB_MAX_POOLS - 3);
	atomic_store(&ps->usage, 2 | 1ull << 32);   /* 2 held, 1 launching */
	atomic_store(&ps->queued, 3);
	assert_int_equal(pool_del(f, sl, "POOL DEL a", &busy), -EBUSY);
	assert_non_null(strstr(f->err,
	    "pool a is in use: 2 holds, 1 launch, 3 waiters"));
	assert_true(f->ps.def[1].flags & CB_POOL_F_ACTIVE);
	assert_int_equal(pool_del(f, sl, "POOL DEL a force", &busy), 1);
	assert_int_equal(busy.held, 2);
	assert_int_equal(busy.launching, 1);
	assert_int_equal(busy.queued, 3);
	assert_int_equal(f->ps.def[1].flags, CB_POOL_F_DELETED);
	/* Gone by name; its index neither found nor free. */
	assert_int_equal(pool_set(f, "POOL SET a window=3"), -EINVAL);
	assert_int_equal(pool_del(f, sl, "POOL DEL a", &busy), -ENOENT);
	assert_int_equal(cb_pools_room(&f->ps), room);
	assert_int_equal(cb_pools_pending(&f->ps), 1ull << 1);
	assert_int_equal(pool_set(f, "POOL SET c limit=1"), 3);
	/* Proved idle: the index is free for the next new pool. */
	assert_int_equal(cb_pools_reap(&f->ps, 1), 1);
	assert_int_equal(cb_pools_reap(&f->ps, 1), 0);
	assert_int_equal(cb_pools_reap(&f->ps, 2), 0);     /* active */
	assert_int_equal(cb_pools_pending(&f->ps), 0);
	assert_int_equal(pool_set(f, "POOL SET a limit=7"), 1);
	assert_int_equal(f->ps.def[1].flags, CB_POOL_F_ACTIVE);
	assert_int_equal(f->ps.def[1].value, 7);
	/* An idle pool goes at once; default never. */
	assert_int_equal(pool_del(f, sl, "POOL DEL b", &busy), 2);
	assert_int_equal(busy.held + busy.launching + busy.queued, 0);
	assert_int_equal(pool_del(f, sl, "POOL DEL default force", &busy),
	    -EINVAL);
	assert_non_null(strstr(f->err, "cannot be deleted"));
	free(sl);
}

/* CB_POOL_F_FILE: set by the file's lines, kept by capctl's. */
static void test_file_origin(void **state)
{
	struct fx *f = *state;
	struct cb_ctl_req req = req_of("POOL SET filed limit=2");

	assert_int_equal(cb_pools_set_file(&f->ps, &req, f->err,
	    sizeof(f->err)), 1);
	assert_int_equal(f->ps.def[1].flags,
	    CB_POOL_F_ACTIVE | CB_POOL_F_FILE);
	assert_int_equal(pool_set(f, "POOL SET filed limit=3"), 1);
	assert_true(f->ps.def[1].flags & CB_POOL_F_FILE);
	assert_int_equal(pool_set(f, "POOL SET runtime limit=3"), 2);
	assert_false(f->ps.def[2].flags & CB_POOL_F_FILE);
	/* default is nobody's to delete: never marked. */
	req = req_of("POOL SET default window=5");
	assert_int_equal(cb_pools_set_file(&f->ps, &req, f->err,
	    sizeof(f->err)), 0);
	assert_false(f->ps.def[0].flags & CB_POOL_F_FILE);
}

static void test_copy(void **state)
{
	struct fx *f = *state;
	struct cb_pool_def def[CB_MAX_POOLS];
	uint32_t observed[CB_MAX_POOLS];

	assert_int_equal(pool_set(f, "POOL SET a limit=1 observed=6"), 1);
	cb_pools_copy(&f->ps, def, observed);
	assert_memory_equal(def, f->ps.def, sizeof(def));
	assert_int_equal(observed[1], 6);
	assert_string_equal(def[1].name, "a");
}

/*
 * The sweeper's pin: while the pools are pinned a POOL SET cannot
 * create a pool (it waits), other readers can still copy them, and the
 * set goes through after the unpin.  The sweeper frees entries naming a
 * pool unknown to its pinned copy; a pool created mid-pass would have
 * its first entries freed under their clients (seen in t_placement).
 */
struct setter {
	struct fx *f;
	atomic_int done;
	int ret;
};

static void *set_pool(void *arg)
{
	struct setter *s = arg;

	s->ret = pool_set(s->f, "POOL SET late limit=3");
	atomic_store(&s->done, 1);
	return NULL;
}

static void test_pin_holds_off_pool_set(void **state)
{
	struct fx *f = *state;
	struct cb_pool_def pinned[CB_MAX_POOLS], other[CB_MAX_POOLS];
	uint32_t observed[CB_MAX_POOLS];
	struct setter s = { .f = f };
	pthread_t t;

	cb_pools_pin(&f->ps, pinned, observed);
	assert_int_equal(pthread_create(&t, NULL, set_pool, &s), 0);
	/* Long enough for the setter to have run to completion, were it
	 * not held off; no amount of waiting may see it done. */
	for (int i = 0; i < 50; i++) {
		struct timespec ms = { 0, 1000000 };

		nanosleep(&ms, NULL);
		assert_int_equal(atomic_load(&s.done), 0);
	}
	cb_pools_copy(&f->ps, other, observed);  /* a reader is not held */
	assert_false(other[1].flags & CB_POOL_F_ACTIVE);
	assert_false(f->ps.def[1].flags & CB_POOL_F_ACTIVE);
	cb_pools_unpin(&f->ps);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(atomic_load(&s.done), 1);
	assert_int_equal(s.ret, 1);
	assert_string_equal(f->ps.def[1].name, "late");
	assert_false(pinned[1].flags & CB_POOL_F_ACTIVE);
}

/* ---- the parser's side of POOL SET ----------------------------------------- */

static void test_parse_pool_requests(void **state)
{
	struct cb_ctl_req req;
	char err[256];
	static const char *const bad[] = {
		"POOL",
		"POOL SET",
		"POOL GET a",
		"POOL SET a limit=1 share=5",
		"POOL SET a limit=65536",
		"POOL SET a limit=-1",
		"POOL SET a limit=",
		"POOL SET a limit=1x",
		"POOL SET a share=0",
		"POOL SET a share=101",
		"POOL SET a window=0",
		"POOL SET a window=86401",
		"POOL SET a observed=65536",
		"POOL SET a limit=1 limit=2",
		"POOL SET a speed=3",
		"POOL SET a limit=1 global local",
		"POOL SET a limit=1 global global",
		"POOL SET a local local",
		"POOL SET a share=5 global",
		"POOL SET a local hold_max=5",
		"POOL SET a global hold_max=0",
		"POOL SET a global hold_max=86401",
		"POOL SET a global hold_max=",
		"POOL SET a hold_max=1 hold_max=2",
		"POOL SET a globally",
		"POOL SET a limit",
		"POOL SET a/b limit=1",
		"POOL SET abcdefghijklmnopqrstuvwxyz012345 limit=1",
		"POOL LIST extra",
	};

	(void)state;
	req = req_of("POOL SET x.y_z-1 limit=65535 window=86400 observed=0");
	assert_int_equal(req.verb, CB_CTL_POOL_SET);
	assert_string_equal(req.pool, "x.y_z-1");
	assert_int_equal(req.pool_keys, CB_POOL_SET_LIMIT |
	    CB_POOL_SET_WINDOW | CB_POOL_SET_OBSERVED);
	assert_int_equal(req.limit, 65535);
	assert_int_equal(req.window_s, 86400);
	assert_int_equal(req.observed, 0);
	req = req_of("POOL SET s share=100");
	assert_int_equal(req.pool_keys, CB_POOL_SET_SHARE);
	assert_int_equal(req.share, 100);
	req = req_of("POOL SET abcdefghijklmnopqrstuvwxyz01234 limit=1");
	assert_int_equal(strlen(req.pool), CB_POOL_NAME_MAX);
	req = req_of("POOL LIST");
	assert_int_equal(req.verb, CB_CTL_POOL_LIST);
	req = req_of("POOL SET g limit=9 global hold_max=86400");
	assert_int_equal(req.pool_keys, CB_POOL_SET_LIMIT |
	    CB_POOL_SET_GLOBAL | CB_POOL_SET_HOLD_MAX);
	assert_int_equal(req.limit, 9);
	assert_int_equal(req.hold_max_s, 86400);
	req = req_of("POOL SET g hold_max=1");
	assert_int_equal(req.pool_keys, CB_POOL_SET_HOLD_MAX);
	assert_int_equal(req.hold_max_s, 1);
	req = req_of("POOL SET g local limit=2");
	assert_int_equal(req.pool_keys, CB_POOL_SET_LOCAL | CB_POOL_SET_LIMIT);
	req = req_of("POOL SET g share=5 local");
	assert_int_equal(req.pool_keys, CB_POOL_SET_LOCAL | CB_POOL_SET_SHARE);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (cb_ctl_parse(bad[i], &req, err, sizeof(err)) != -EINVAL)
			fail_msg("'%s' was not refused with EINVAL", bad[i]);
		if (err[0] == '\0')
			fail_msg("'%s': no message", bad[i]);
	}
}

/* ---- adopting the definitions of a state segment ------------------------- */

static void conf_write(void *st, int p, uint32_t flags, uint32_t kind,
    const char *name, uint32_t value, uint32_t window_ms, uint32_t observed)
{
	struct cb_pool_conf *c = cb_seg_record(st, CB_RS_POOLS, 0,
	    (uint32_t)p);
	struct cb_pool_def def;

	memset(&def, 0, sizeof(def));
	def.flags = flags;
	def.kind = kind;
	memcpy(def.name, name, strnlen(name, sizeof(def.name)));
	def.value = value;
	def.window_ms = window_ms;
	cb_seqlock_write(&c->seq, &c->def, &def, sizeof(def));
	atomic_store(&c->observed, observed);
}

static void test_adopt(void **state)
{
	struct fx *f = *state;
	struct cb_layout l;
	void *st;
	char err[CB_ERRMSG_MAX];

	cb_layout_init(&l, CB_SEG_STATE);
	st = aligned_alloc(4096, l.total_size);
	assert_non_null(st);
	memset(st, 0, l.total_size);
	cb_seg_header_init(st, CB_SEG_STATE, "pools", 1, &l);
	cb_seg_header_publish(st, CB_SEG_STATE);
	assert_int_equal(cb_seg_validate(st, l.total_size, CB_SEG_STATE,
	    "pools", err, sizeof(err)), 0);

	conf_write(st, 0, CB_POOL_F_ACTIVE, CB_LIMIT_CAPACITY, "default", 0,
	    15000, 4);
	conf_write(st, 1, CB_POOL_F_ACTIVE, CB_LIMIT_FIXED, "batch", 6, 2000,
	    2);
	conf_write(st, 2, CB_POOL_F_ACTIVE, CB_LIMIT_SHARE, "web", 30, 3000,
	    0);
	/* Refused: inactive, unknown kind, bad name. */
	conf_write(st, 3, 0, CB_LIMIT_FIXED, "off", 1, 1000, 0);
	conf_write(st, 4, CB_POOL_F_ACTIVE, 9, "weird", 1, 1000, 0);
	conf_write(st, 5, CB_POOL_F_ACTIVE, CB_LIMIT_FIXED, "bad/name", 1,
	    1000, 0);
	conf_write(st, 6, CB_POOL_F_ACTIVE, CB_LIMIT_FIXED,
	    "0123456789abcdef0123456789abcdefXX", 1, 1000, 0);
	/* A deleted pool: adopted as a tombstone, neither a pool nor a
	 * free index until this broker's sweeper reaps it. */
	conf_write(st, 7, CB_POOL_F_DELETED, CB_LIMIT_FIXED, "gone", 1, 1000,
	    0);

	cb_pools_adopt(&f->ps, st);
	assert_int_equal(f->ps.def[0].window_ms, 15000);
	assert_int_equal(f->ps.def[0].kind, CB_LIMIT_CAPACITY);
	assert_string_equal(f->ps.def[0].name, "default");
	assert_int_equal(f->ps.observed[0], 4);
	assert_string_equal(f->ps.def[1].name, "batch");
	assert_int_equal(f->ps.def[1].kind, CB_LIMIT_FIXED);
	assert_int_equal(f->ps.def[1].value, 6);
	assert_int_equal(f->ps.def[1].window_ms, 2000);
	assert_int_equal(f->ps.observed[1], 2);
	assert_string_equal(f->ps.def[2].name, "web");
	assert_int_equal(f->ps.def[2].kind, CB_LIMIT_SHARE);
	for (int p = 3; p <= 5; p++)
		assert_false(f->ps.def[p].flags & CB_POOL_F_ACTIVE);
	/* An unterminated name is cut to the longest valid one, never read
	 * past its field. */
	assert_true(f->ps.def[6].flags & CB_POOL_F_ACTIVE);
	assert_string_equal(f->ps.def[6].name,
	    "0123456789abcdef0123456789abcde");
	/* The adopted pools are found by name. */
	assert_int_equal(pool_set(f, "POOL SET batch window=1"), 1);
	assert_int_equal(f->ps.def[1].value, 6);
	/* A new one takes the first free slot. */
	assert_int_equal(pool_set(f, "POOL SET new limit=1"), 3);
	assert_int_equal(pool_set(f, "POOL SET new2 limit=1"), 4);
	assert_int_equal(f->ps.def[7].flags, CB_POOL_F_DELETED);
	assert_int_equal(cb_pools_pending(&f->ps), 1ull << 7);
	assert_int_equal(pool_set(f, "POOL SET gone limit=1"), 5);
	free(st);
}

#define POOL_TEST(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_source_table),
		cmocka_unit_test(test_source_capacity),
		cmocka_unit_test(test_source_fixed),
		cmocka_unit_test(test_source_share),
		cmocka_unit_test(test_source_global),
		POOL_TEST(test_init),
		POOL_TEST(test_create_fixed),
		POOL_TEST(test_create_share_with_everything),
		POOL_TEST(test_create_needs_limit_or_share),
		POOL_TEST(test_global_create),
		POOL_TEST(test_global_change),
		POOL_TEST(test_global_local_switch),
		POOL_TEST(test_global_not_default),
		POOL_TEST(test_default_pool),
		POOL_TEST(test_change_only_given_keys),
		POOL_TEST(test_pools_are_independent),
		POOL_TEST(test_table_full),
		POOL_TEST(test_reused_slot_starts_clean),
		POOL_TEST(test_delete_lifecycle),
		POOL_TEST(test_file_origin),
		POOL_TEST(test_copy),
		POOL_TEST(test_pin_holds_off_pool_set),
		cmocka_unit_test(test_parse_pool_requests),
		POOL_TEST(test_adopt),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
