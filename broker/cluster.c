/*
 * cluster.c - global pools' shares leased from etcd (cluster.h).
 *
 * Keys, under K = "/capbroker/CLUSTER/":
 *
 *   K alive/HOST               "PID LEASE" under HOST's lease: HOST is
 *                              in the cluster.  Created only if absent
 *                              (a second broker of the same host name
 *                              is refused).
 *   K pool/P/share/HOST        HOST's units of global pool P, under no
 *                              lease: a share never vanishes by itself.
 *   K pool/P/demand/HOST       what HOST wants (in use + queued + the
 *                              refusals since its last tick, at most
 *                              L), under HOST's lease.
 *   K pool/P/quar/HOST.LEASE   units frozen when HOST's alive key was
 *                              found gone, under a lease of their own
 *                              with TTL hold_max.
 *
 * The rule (tests/model/shares.pml, which checks it):
 *   (a) the deadline is sent_ns + TTL - margin, sent_ns read before the
 *       keepalive (or grant) that was answered;
 *   (b) a share grows only by a transaction that compares every share
 *       and quarantine key of the pool against the revision it read
 *       (no key under either prefix modified since) and that this
 *       host's alive key is still under its lease; the local limit is
 *       raised once it committed.  A share shrinks the other way:
 *       the local limit first (published: cb_publisher_wait), then,
 *       once local use fits, etcd;
 *   (c) a hold counts toward its host's share until it ends or is
 *       hold_max old, never less; then it stops counting and its
 *       release is -ESTALE (lib/age.h: the sweeper ages the pool's
 *       usage word by epochs of hold_max + 0.1 s, and a client dates
 *       each hold by its epoch; tests/model/aging.pml);
 *   (d) a share whose host's alive key is gone moves to a quarantine
 *       key under a new lease of TTL hold_max, in one transaction
 *       (alive absent, share as read);
 *   (e) after losing its lease a broker takes a new one and sets its
 *       local limits to its shares as etcd has them now (0 once frozen),
 *       published before its deadline moves again.
 *
 * Everything here runs on the cluster thread, which alone uses the
 * etcd client and writes the cluster block; the publisher reads
 * local_limit[] and valid_until_ns (cluster.h).
 */
#include "cluster.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <bsd/stdlib.h>
#include <bsd/string.h>
#include <urcu/wfcqueue.h>

#include "broker.h"
#include "clock.h"
#include "etcd.h"
#include "log.h"
#include "seqlock.h"
#include "segment.h"
#include "slots.h"

#define KEY_MAX 256
/* Renewal margin: what the deadline keeps back from the lease's TTL,
 * for the time between the clients' coarse clock read and their CAS,
 * and clock steps between us and etcd's own lease timer (none on one
 * host; the rule does not rely on it). */
#define MARGIN_MIN_NS 200000000ull
#define GARBAGE_SEEN 16
/* Share ticks per renewal period (cluster_main). */
#define TICKS_PER_PERIOD 4

struct pool_state {
	bool global;
	char name[CB_POOL_NAME_MAX + 1];
	uint32_t limit;           /* L */
	uint32_t hold_max_s;
	uint32_t share;           /* committed in etcd (as last read) */
	int64_t share_mod;        /* its mod_revision; 0: absent */
	bool own_garbage;         /* our share key holds no count */
	uint32_t demand;
	uint32_t demand_put;      /* the demand key's value, */
	int64_t demand_lease;     /* under this lease (0: not put) */
	bool leaving;             /* no longer global here: give it back */
	uint32_t target;
	uint32_t quarantined;
	uint64_t rejected_seen;   /* the pool's statistic at the last tick */
	uint32_t nhosts_seen;
	char hosts[CB_CLUSTER_HOSTS][CB_HOST_NAME_MAX + 1];
	uint32_t host_share[CB_CLUSTER_HOSTS];
	uint32_t host_demand[CB_CLUSTER_HOSTS];
};

struct priv {
	char prefix[96];                    /* K: at most 11 + 63 + 1 */
	int64_t lease;                      /* 0: none */
	uint64_t margin_ns;
	int period_ms;                      /* between renewals */
	uint64_t renewed_ns;                /* when the last renewal was sent */
	bool claimed;                       /* alive/HOST is under lease */
	bool was_down;                      /* etcd failed since it answered */
	uint64_t garbage_seen[GARBAGE_SEEN]; /* keys warned of (hashes) */
	unsigned garbage_next;
	bool duplicate;                     /* alive/HOST is another's */
	bool reachable;
	uint64_t errors;
	char last_error[256];
	uint32_t nalive;
	char alive[CB_CLUSTER_HOSTS][CB_HOST_NAME_MAX + 1];
	struct pool_state pool[CB_MAX_POOLS];
};

static struct cb_cluster_block *block_of(struct cb_broker *b)
{
	return cb_seg_region(b->seg.state, CB_RS_CLUSTER);
}

static void failed(struct priv *pv, struct cb_etcd *e, const char *what)
{
	const char *why = cb_etcd_error(e);

	pv->errors++;
	if (strcmp(pv->last_error, why) != 0)
		log_warnx("etcd: %s: %s", what, why);
	strlcpy(pv->last_error, why, sizeof(pv->last_error));
}

/* Key K pool/POOL/KIND NAME (KIND "share/", "demand/", "quar/" or
 * "launch/"; NAME a host, HOST.LEASE or a launch's id), or with NAME ""
 * the prefix of KIND's keys (KIND "" too: the pool's). */
static void pool_key(char *k, const char *root, const char *pool,
    const char *kind, const char *name)
{
	snprintf(k, KEY_MAX, "%spool/%s/%s%s", root, pool, kind, name);
}

/* Parse a decimal count of at most max from an etcd value (hostile). */
static int parse_units(const struct cb_etcd_kv *kv, uint32_t max,
    uint32_t *out)
{
	char buf[16];
	const char *errstr;
	long long v;

	if (kv->value_len == 0 || kv->value_len >= sizeof(buf) ||
	    memchr(kv->value, '\0', kv->value_len) != NULL)
		return -EPROTO;
	memcpy(buf, kv->value, kv->value_len);
	buf[kv->value_len] = '\0';
	v = strtonum(buf, 0, max, &errstr);
	if (errstr != NULL)
		return -EPROTO;
	*out = (uint32_t)v;
	return 0;
}

/* The last path component of kv's key after prefix, if a valid name. */
static const char *key_name(const struct cb_etcd_kv *kv, const char *prefix)
{
	size_t pl = strlen(prefix);
	const char *n;

	if (kv->key_len <= pl || memcmp(kv->key, prefix, pl) != 0 ||
	    memchr(kv->key, '\0', kv->key_len) != NULL)
		return NULL;
	n = kv->key + pl;
	if (strlen(n) > CB_HOST_NAME_MAX + 24 || strchr(n, '/') != NULL)
		return NULL;
	return n;
}

static int host_valid(const char *n)
{
	size_t len = strlen(n);

	return len > 0 && len <= CB_HOST_NAME_MAX && strspn(n,
	    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789._-") == len;
}

static void warn_garbage(struct priv *pv, const struct cb_etcd_kv *kv)
{
	/* Once per key and version: a key left as it is would otherwise
	 * be logged at every tick. */
	uint64_t h = (uint64_t)kv->mod_revision * 0x9e3779b97f4a7c15ull;

	for (size_t i = 0; i < kv->key_len; i++)
		h = (h ^ (unsigned char)kv->key[i]) * 0x100000001b3ull;
	for (int i = 0; i < GARBAGE_SEEN; i++)
		if (pv->garbage_seen[i] == h)
			return;
	pv->garbage_seen[pv->garbage_next++ % GARBAGE_SEEN] = h;
	pv->errors++;
	log_warnx("etcd: key %.*s holds %.*s%s: not a count, ignored "
	    "(not trusted)", (int)(kv->key_len > 200 ? 200 : kv->key_len),
	    kv->key, (int)(kv->value_len > 32 ? 32 : kv->value_len),
	    kv->value, kv->value_len > 32 ? "..." : "");
	snprintf(pv->last_error, sizeof(pv->last_error), "garbage in key "
	    "%.*s", (int)(kv->key_len > 200 ? 200 : kv->key_len), kv->key);
}

/* ---------------------------------------------------------------- */
/* Publishing to the publisher and to capdump.                        */

/* Set pool p's local limit; returns the publisher event to wait for. */
static uint64_t set_local(struct cb_broker *b, int p, uint32_t v,
    const char *why)
{
	uint32_t old = atomic_load_explicit(&b->cluster.local_limit[p],
	    memory_order_relaxed);

	if (old != v)
		log_info("pool %s: local limit %u -> %u (%s)",
		    ((struct priv *)b->cluster.priv)->pool[p].name, old, v,
		    why);
	/* Relaxed: ordered before the publisher's loads by the event
	 * queue (cb_publisher_post's release, the publisher's acquire). */
	atomic_store_explicit(&b->cluster.local_limit[p], v,
	    memory_order_relaxed);
	return cb_publisher_post(b, CB_PUB_POOLS);
}

static void set_deadline(struct cb_broker *b, uint64_t dl)
{
	/* Release: after the local limits it goes with (global_limit()
	 * in publisher.c loads it with acquire, then the limits). */
	atomic_store_explicit(&b->cluster.valid_until_ns, dl,
	    memory_order_release);
	cb_publisher_post(b, CB_PUB_POOLS);
}

/* Publish and wait: the rule orders a lower limit before what follows. */
static int publish_wait(struct cb_broker *b, uint64_t ev)
{
	return cb_publisher_wait(b, ev, 5000);
}

static void write_block(struct cb_broker *b)
{
	struct cb_cluster *c = &b->cluster;
	struct priv *pv = c->priv;
	struct cb_cluster_block *blk = block_of(b);
	static struct cb_cluster_block nb;    /* cluster thread only */

	memset(&nb, 0, sizeof(nb));
	nb.flags = CB_CLUSTER_F_ON | (pv->reachable ?
	    CB_CLUSTER_F_REACHABLE : 0) | (pv->lease != 0 && !pv->duplicate ?
	    CB_CLUSTER_F_LEASE : 0);
	nb.lease_id = (uint64_t)pv->lease;
	nb.valid_until_ns = atomic_load_explicit(&c->valid_until_ns,
	    memory_order_relaxed);
	{
		struct cb_etcd_status st;

		cb_etcd_status(c->etcd, &st);
		nb.last_ok_ns = (uint64_t)st.last_ok_ns;
	}
	nb.errors = pv->errors;
	nb.ttl_s = c->conf.lease_ttl_s;
	strlcpy(nb.host, c->conf.host, sizeof(nb.host));
	strlcpy(nb.cluster, c->conf.cluster, sizeof(nb.cluster));
	strlcpy(nb.last_error, pv->last_error, sizeof(nb.last_error));
	nb.nhosts = pv->nalive;
	for (uint32_t h = 0; h < pv->nalive; h++)
		strlcpy(nb.hosts[h], pv->alive[h], sizeof(nb.hosts[h]));
	for (int p = 0; p < CB_MAX_POOLS; p++) {
		const struct pool_state *ps = &pv->pool[p];
		struct cb_cluster_pool *cp = &nb.pool[p];

		if (!ps->global)
			continue;
		cp->limit = ps->limit;
		cp->share = ps->share;
		cp->local_limit = atomic_load_explicit(&c->local_limit[p],
		    memory_order_relaxed);
		cp->demand = ps->demand;
		cp->target = ps->target;
		cp->quarantined = ps->quarantined;
		for (uint32_t h = 0; h < pv->nalive; h++)
			for (uint32_t k = 0; k < ps->nhosts_seen; k++)
				if (strcmp(ps->hosts[k], pv->alive[h]) == 0) {
					cp->host_share[h] = ps->host_share[k];
					cp->host_demand[h] = ps->host_demand[k];
				}
	}
	/* Everything after the seq word: flags (4 bytes, beside seq), then
	 * the rest from offset 8 in aligned 8-byte words (seqlock.h). */
	cb_seqlock_write_begin(&blk->seq);
	__atomic_store_n(&blk->flags, nb.flags, __ATOMIC_RELAXED);
	cb_seq_copy_in((char *)blk + 8, (const char *)&nb + 8,
	    sizeof(nb) - 8);
	cb_seqlock_write_end(&blk->seq);
}

/* ---------------------------------------------------------------- */
/* The lease.                                                         */

static void key_alive(const struct priv *pv, const char *host, char *k)
{
	snprintf(k, KEY_MAX, "%salive/%s", pv->prefix, host);
}

/*
 * Put alive/HOST under our lease if it is absent, or already ours.
 * Returns 0, -EEXIST (another broker's), or an etcd error.
 */
static int claim_alive(struct cb_broker *b, struct cb_etcd *e)
{
	struct priv *pv = b->cluster.priv;
	char k[KEY_MAX], v[64];
	struct cb_etcd_compare cmp[1];
	struct cb_etcd_op put, get;
	struct cb_etcd_txn txn;
	struct cb_etcd_txn_result res;
	int r, n;

	key_alive(pv, b->cluster.conf.host, k);
	n = snprintf(v, sizeof(v), "%ld %" PRIx64, (long)getpid(),
	    (uint64_t)pv->lease);
	cmp[0] = (struct cb_etcd_compare){ .key = k, .target = CB_ETCD_CREATE,
	    .cmp = CB_ETCD_EQ, .number = 0 };
	put = (struct cb_etcd_op){ .kind = CB_ETCD_OP_PUT, .key = k,
	    .value = v, .value_len = (size_t)n, .lease = pv->lease };
	get = (struct cb_etcd_op){ .kind = CB_ETCD_OP_RANGE, .key = k };
	txn = (struct cb_etcd_txn){ .compare = cmp, .ncompare = 1,
	    .success = &put, .nsuccess = 1, .failure = &get, .nfailure = 1 };
	r = cb_etcd_txn_run(e, &txn, &res);
	if (r < 0)
		return r;
	if (res.succeeded) {
		cb_etcd_txn_result_free(&res);
		return 0;
	}
	r = -EEXIST;
	if (res.nresults == 1 && res.results[0].range.nkvs == 1 &&
	    res.results[0].range.kvs[0].lease == pv->lease) {
		r = 0;          /* ours already (an adopted lease) */
	} else if (!pv->duplicate) {
		const struct cb_etcd_kv *kv = res.nresults == 1 &&
		    res.results[0].range.nkvs == 1 ?
		    &res.results[0].range.kvs[0] : NULL;

		log_errx("host name '%s' is already in cluster '%s': key %s "
		    "is held by another broker (%.*s, lease %" PRIx64 "); "
		    "give each broker its own host = in its configuration. "
		    "This broker's global pools admit nothing until the "
		    "name is free", b->cluster.conf.host,
		    b->cluster.conf.cluster, k, kv ? (int)(kv->value_len > 40 ?
		    40 : kv->value_len) : 1, kv ? kv->value : "?",
		    kv ? (uint64_t)kv->lease : 0);
		snprintf(pv->last_error, sizeof(pv->last_error), "host name "
		    "'%s' is held by another broker", b->cluster.conf.host);
	}
	cb_etcd_txn_result_free(&res);
	return r;
}

/* Read this host's committed shares (rule (e)): a new lease starts
 * from what etcd says now.  Returns 0 or an etcd error. */
static int read_own_shares(struct cb_broker *b, struct cb_etcd *e)
{
	struct priv *pv = b->cluster.priv;

	for (int p = 1; p < CB_MAX_POOLS; p++) {
		struct pool_state *ps = &pv->pool[p];
		struct cb_etcd_range rg;
		char k[KEY_MAX];
		uint32_t v = 0;
		int r;

		if (!ps->global)
			continue;
		pool_key(k, pv->prefix, ps->name, "share/",
		    b->cluster.conf.host);
		r = cb_etcd_get(e, k, &rg);
		if (r < 0)
			return r;
		ps->share_mod = 0;
		if (rg.nkvs == 1) {
			/* Garbage: nothing is ours (others count it as
			 * all of L, read_pool()). */
			if (parse_units(&rg.kvs[0], ps->limit, &v) < 0) {
				warn_garbage(pv, &rg.kvs[0]);
				v = 0;
			}
			ps->share_mod = rg.kvs[0].mod_revision;
		}
		cb_etcd_range_free(&rg);
		ps->share = v;
	}
	return 0;
}

/*
 * Take a new lease (rule (e)): first the local limits come down to the
 * shares etcd has for us now, published, and only then is the deadline
 * moved.  Returns 0, -EEXIST, or an etcd error.
 */
static int limits_to_shares(struct cb_broker *b, struct cb_etcd *e,
    bool only_lower)
{
	struct cb_cluster *c = &b->cluster;
	struct priv *pv = c->priv;
	uint64_t ev = 0;
	int r;

	r = read_own_shares(b, e);
	if (r < 0)
		return r;
	for (int p = 1; p < CB_MAX_POOLS; p++) {
		uint32_t l = atomic_load_explicit(&c->local_limit[p],
		    memory_order_relaxed);

		if (pv->pool[p].global && (only_lower ?
		    l > pv->pool[p].share : l != pv->pool[p].share))
			ev = set_local(b, p, pv->pool[p].share, "new lease: "
			    "the share etcd has");
	}
	if (ev != 0 && publish_wait(b, ev) < 0)
		return -ETIMEDOUT;
	return 0;
}

static int new_lease(struct cb_broker *b, struct cb_etcd *e)
{
	struct cb_cluster *c = &b->cluster;
	struct priv *pv = c->priv;
	struct cb_etcd_lease l;
	int r;

	pv->claimed = false;
	r = limits_to_shares(b, e, false);
	if (r < 0)
		return r;
	r = cb_etcd_lease_grant(e, c->conf.lease_ttl_s, &l);
	if (r < 0)
		return r;
	pv->lease = l.id;
	r = claim_alive(b, e);
	if (r < 0) {
		/* Not ours to keep: let it go (it expires anyway). */
		(void)cb_etcd_lease_revoke(e, l.id);
		pv->lease = 0;
		pv->duplicate = r == -EEXIST;
		return r;
	}
	if (pv->duplicate)
		log_info("host name '%s' is free again: joined cluster '%s'",
		    c->conf.host, c->conf.cluster);
	pv->duplicate = false;
	pv->claimed = true;
	/* A share frozen by another broker between our read and the claim
	 * (it saw no alive key) is ours no more: lower to what etcd has
	 * once more, now that nobody can freeze it, before the deadline. */
	r = limits_to_shares(b, e, true);
	if (r < 0)
		return r;
	log_info("etcd: lease %" PRIx64 " (TTL %" PRId64 " s) for host %s "
	    "in cluster %s", (uint64_t)l.id, l.ttl, c->conf.host,
	    c->conf.cluster);
	pv->renewed_ns = (uint64_t)l.sent_ns;
	set_deadline(b, (uint64_t)l.sent_ns + (uint64_t)l.ttl * 1000000000u -
	    pv->margin_ns);
	return 0;
}

/* etcd says our lease is gone (it expired while we were stopped or cut
 * off): the next renewal takes a new one (new_lease()). */
static void lease_gone(struct priv *pv)
{
	log_warnx("etcd: lease %" PRIx64 " is gone (expired): taking a new "
	    "one", (uint64_t)pv->lease);
	pv->lease = 0;
}

/* Renew (rule (a)), or take a new lease when it is gone. */
static int renew(struct cb_broker *b, struct cb_etcd *e)
{
	struct cb_cluster *c = &b->cluster;
	struct priv *pv = c->priv;
	struct cb_etcd_lease l;
	int r;

	if (pv->lease == 0)
		return new_lease(b, e);
	r = cb_etcd_lease_keepalive(e, pv->lease, &l);
	if (r == -ENOENT || (r == 0 && l.ttl <= 0)) {
		lease_gone(pv);
		return new_lease(b, e);
	}
	if (r < 0)
		return r;
	if (!pv->claimed) {
		/* An adopted lease: its alive key must be ours too. */
		r = claim_alive(b, e);
		if (r == -EEXIST) {
			pv->duplicate = true;
			return r;
		}
		if (r < 0)
			return r;
		pv->claimed = true;
	}
	/* The TTL etcd renewed it to, from when we sent the request. */
	pv->renewed_ns = (uint64_t)l.sent_ns;
	set_deadline(b, (uint64_t)l.sent_ns + (uint64_t)l.ttl * 1000000000u -
	    pv->margin_ns);
	return 0;
}

/* ---------------------------------------------------------------- */
/* Shares.                                                            */

static int alive_index(const struct priv *pv, const char *host)
{
	for (uint32_t h = 0; h < pv->nalive; h++)
		if (strcmp(pv->alive[h], host) == 0)
			return (int)h;
	return -1;
}

static int read_alive(struct cb_broker *b, struct cb_etcd *e)
{
	struct priv *pv = b->cluster.priv;
	struct cb_etcd_range rg;
	char prefix[KEY_MAX];
	int r;

	snprintf(prefix, sizeof(prefix), "%salive/", pv->prefix);
	r = cb_etcd_range(e, prefix, &rg);
	if (r < 0)
		return r;
	pv->nalive = 0;
	for (size_t i = 0; i < rg.nkvs; i++) {
		const char *n = key_name(&rg.kvs[i], prefix);

		if (n == NULL || !host_valid(n)) {
			warn_garbage(pv, &rg.kvs[i]);
			continue;
		}
		if (pv->nalive < CB_CLUSTER_HOSTS)
			strlcpy(pv->alive[pv->nalive++], n,
			    sizeof(pv->alive[0]));
	}
	cb_etcd_range_free(&rg);
	return 0;
}

/* Max-min fair split of limit over the alive hosts' demands; what is
 * left when every demand is met is spread evenly (headroom), so a host
 * alone with demand gets all of L and idle hosts keep only leftovers. */
static uint32_t fair_target(const struct pool_state *ps,
    const struct priv *pv, const char *me, uint32_t my_demand)
{
	uint32_t n = pv->nalive, dem[CB_CLUSTER_HOSTS], got[CB_CLUSTER_HOSTS];
	uint32_t left = ps->limit, unmet, mine = 0;
	int me_i = alive_index(pv, me);

	if (n == 0 || me_i < 0)
		return 0;
	for (uint32_t h = 0; h < n; h++) {
		dem[h] = 0;
		got[h] = 0;
		for (uint32_t k = 0; k < ps->nhosts_seen; k++)
			if (strcmp(ps->hosts[k], pv->alive[h]) == 0)
				dem[h] = ps->host_demand[k];
	}
	dem[me_i] = my_demand;
	/* Water-filling, one unit at a time round the hosts that still
	 * want more: L is at most 65535, hosts at most 16. */
	for (;;) {
		bool gave = false;

		for (uint32_t h = 0; h < n && left > 0; h++)
			if (got[h] < dem[h]) {
				got[h]++;
				left--;
				gave = true;
			}
		if (!gave || left == 0)
			break;
	}
	unmet = 0;
	for (uint32_t h = 0; h < n; h++)
		unmet += got[h] < dem[h];
	if (left > 0 && unmet == 0) {
		/* Headroom: the rest evenly, the remainder by position. */
		mine = left / n + ((uint32_t)me_i < left % n);
	}
	return got[me_i] + mine;
}

/* This host's demand of pool p: in use + queued + refusals since the
 * last tick (when full), at most L. */
static uint32_t local_demand(struct cb_broker *b, int p,
    struct pool_state *ps)
{
	const struct cb_pool_slot *sl = cb_slots_pool(b->seg.slots, p);
	struct cb_pool_busy busy;
	uint64_t rej = atomic_load_explicit(&sl->rejected,
	    memory_order_relaxed), d;

	cb_pools_busy(b->seg.slots, p, &busy);
	d = (uint64_t)busy.live + busy.launching + busy.queued;
	/* Refusals are unmet demand only while the pool is full now: a
	 * host whose load just stopped would otherwise keep asking for a
	 * period more. */
	if (rej > ps->rejected_seen && busy.live + busy.launching >=
	    atomic_load_explicit(&b->cluster.local_limit[p],
	    memory_order_relaxed))
		d += rej - ps->rejected_seen;
	ps->rejected_seen = rej;
	return d > ps->limit ? ps->limit : (uint32_t)d;
}

/*
 * Freeze the share of a host whose alive key is gone (rule (d)): in one
 * transaction, if alive/HOST is still absent and share/HOST is as read,
 * move its units to quar/HOST.LEASE under a new lease of TTL hold_max.
 */
static void freeze(struct cb_broker *b, struct cb_etcd *e,
    struct pool_state *ps, const char *host, uint32_t units, int64_t mod)
{
	struct priv *pv = b->cluster.priv;
	char ka[KEY_MAX], ks[KEY_MAX], kq[KEY_MAX], qn[96], v[16];
	struct cb_etcd_compare cmp[2];
	struct cb_etcd_op ops[2];
	struct cb_etcd_txn txn;
	struct cb_etcd_txn_result res;
	struct cb_etcd_lease ql = { 0 };
	size_t nops = 1;
	int r, n;

	key_alive(pv, host, ka);
	pool_key(ks, pv->prefix, ps->name, "share/", host);
	if (units > 0) {
		r = cb_etcd_lease_grant(e, ps->hold_max_s, &ql);
		if (r < 0) {
			failed(pv, e, "quarantine lease");
			return;
		}
		snprintf(qn, sizeof(qn), "%s.%" PRIx64, host,
		    (uint64_t)ql.id);
		pool_key(kq, pv->prefix, ps->name, "quar/", qn);
		n = snprintf(v, sizeof(v), "%u", units);
		ops[1] = (struct cb_etcd_op){ .kind = CB_ETCD_OP_PUT,
		    .key = kq, .value = v, .value_len = (size_t)n,
		    .lease = ql.id };
		nops = 2;
	}
	cmp[0] = (struct cb_etcd_compare){ .key = ka, .target = CB_ETCD_CREATE,
	    .cmp = CB_ETCD_EQ, .number = 0 };
	cmp[1] = (struct cb_etcd_compare){ .key = ks, .target = CB_ETCD_MOD,
	    .cmp = CB_ETCD_EQ, .number = mod };
	ops[0] = (struct cb_etcd_op){ .kind = CB_ETCD_OP_DELETE, .key = ks };
	txn = (struct cb_etcd_txn){ .compare = cmp, .ncompare = 2,
	    .success = ops, .nsuccess = nops };
	r = cb_etcd_txn_run(e, &txn, &res);
	if (r < 0) {
		failed(pv, e, "freeze");
		return;
	}
	if (res.succeeded)
		log_info("pool %s: host %s is gone: its share %u -> 0 "
		    "(frozen for hold_max %u s)", ps->name, host, units,
		    ps->hold_max_s);
	else if (ql.id != 0)
		(void)cb_etcd_lease_revoke(e, ql.id);
	cb_etcd_txn_result_free(&res);
}

/*
 * Read pool p's keys: shares (and their mod revisions), demands and
 * quarantines; freeze the shares of hosts that are gone.  *rev: the
 * store's revision of the read; *others: units of other hosts' shares
 * and of quarantines.
 */
static int read_pool(struct cb_broker *b, struct cb_etcd *e, int p,
    int64_t *rev, uint32_t *others)
{
	struct priv *pv = b->cluster.priv;
	struct pool_state *ps = &pv->pool[p];
	const char *me = b->cluster.conf.host;
	char prefix[KEY_MAX], sp[KEY_MAX], dp[KEY_MAX], qp[KEY_MAX];
	struct cb_etcd_range rg;
	uint64_t sum = 0;
	int r;

	pool_key(prefix, pv->prefix, ps->name, "", "");
	pool_key(sp, pv->prefix, ps->name, "share/", "");
	pool_key(dp, pv->prefix, ps->name, "demand/", "");
	pool_key(qp, pv->prefix, ps->name, "quar/", "");
	r = cb_etcd_range(e, prefix, &rg);
	if (r < 0)
		return r;
	*rev = rg.revision;
	ps->nhosts_seen = 0;
	ps->own_garbage = false;
	ps->quarantined = 0;
	ps->share = 0;
	ps->share_mod = 0;
	for (size_t i = 0; i < rg.nkvs; i++) {
		const struct cb_etcd_kv *kv = &rg.kvs[i];
		const char *n;
		uint32_t v;
		bool share;

		if ((n = key_name(kv, qp)) != NULL) {
			/* A quarantine counts whatever its value: garbage
			 * counts as all of L (never trusted to be small). */
			if (parse_units(kv, ps->limit, &v) < 0) {
				warn_garbage(pv, kv);
				v = ps->limit;
			}
			ps->quarantined += v;
			sum += v;
			continue;
		}
		share = (n = key_name(kv, sp)) != NULL;
		if (!share && (n = key_name(kv, dp)) == NULL)
			continue;
		if (!host_valid(n)) {
			warn_garbage(pv, kv);
			if (share)
				sum += ps->limit;
			continue;
		}
		if (parse_units(kv, ps->limit, &v) < 0) {
			warn_garbage(pv, kv);
			/* Another's share we cannot read is taken, all of it;
			 * our own is none of ours (tick_pool rewrites it). */
			v = share && strcmp(n, me) != 0 ? ps->limit : 0;
			if (share && strcmp(n, me) == 0)
				ps->own_garbage = true;
		}
		if (share && strcmp(n, me) == 0) {
			ps->share = v;
			ps->share_mod = kv->mod_revision;
		} else if (share) {
			sum += v;
			if (alive_index(pv, n) < 0)
				freeze(b, e, ps, n, v, kv->mod_revision);
		}
		{
			uint32_t k;

			for (k = 0; k < ps->nhosts_seen; k++)
				if (strcmp(ps->hosts[k], n) == 0)
					break;
			if (k == ps->nhosts_seen) {
				if (k == CB_CLUSTER_HOSTS)
					continue;
				strlcpy(ps->hosts[k], n, sizeof(ps->hosts[k]));
				ps->host_share[k] = 0;
				ps->host_demand[k] = 0;
				ps->nhosts_seen++;
			}
			if (share)
				ps->host_share[k] = v;
			else
				ps->host_demand[k] = v;
		}
	}
	cb_etcd_range_free(&rg);
	*others = sum > ps->limit ? ps->limit : (uint32_t)sum;
	return 0;
}

/* Put share/HOST = v; grow: compare every share and quarantine key of
 * the pool against rev, and our alive key's lease.  Returns 1 if it
 * committed, 0 if a compare failed, or an etcd error. */
static int commit_share(struct cb_broker *b, struct cb_etcd *e,
    struct pool_state *ps, uint32_t v, bool grow, int64_t rev)
{
	struct priv *pv = b->cluster.priv;
	char ka[KEY_MAX], ks[KEY_MAX], sp[KEY_MAX], qp[KEY_MAX], val[16];
	struct cb_etcd_compare cmp[4];
	struct cb_etcd_op put;
	struct cb_etcd_txn txn;
	struct cb_etcd_txn_result res;
	size_t nc = 0;
	int r, n;

	key_alive(pv, b->cluster.conf.host, ka);
	pool_key(ks, pv->prefix, ps->name, "share/", b->cluster.conf.host);
	pool_key(sp, pv->prefix, ps->name, "share/", "");
	pool_key(qp, pv->prefix, ps->name, "quar/", "");
	n = snprintf(val, sizeof(val), "%u", v);
	cmp[nc++] = (struct cb_etcd_compare){ .key = ka,
	    .target = CB_ETCD_LEASE, .cmp = CB_ETCD_EQ, .number = pv->lease };
	cmp[nc++] = (struct cb_etcd_compare){ .key = ks,
	    .target = CB_ETCD_MOD, .cmp = CB_ETCD_EQ, .number = ps->share_mod };
	if (grow) {
		cmp[nc++] = (struct cb_etcd_compare){ .key = sp, .prefix = true,
		    .target = CB_ETCD_MOD, .cmp = CB_ETCD_LT,
		    .number = rev + 1 };
		cmp[nc++] = (struct cb_etcd_compare){ .key = qp, .prefix = true,
		    .target = CB_ETCD_MOD, .cmp = CB_ETCD_LT,
		    .number = rev + 1 };
	}
	put = (struct cb_etcd_op){ .kind = CB_ETCD_OP_PUT, .key = ks,
	    .value = val, .value_len = (size_t)n };
	txn = (struct cb_etcd_txn){ .compare = cmp, .ncompare = nc,
	    .success = &put, .nsuccess = 1 };
	r = cb_etcd_txn_run(e, &txn, &res);
	if (r < 0)
		return r;
	r = res.succeeded;
	if (r) {
		ps->share_mod = res.revision;
	}
	cb_etcd_txn_result_free(&res);
	return r;
}

/* One global pool's tick: publish demand, freeze the gone, move our
 * share toward its fair target by the rule's order. */
static int tick_pool(struct cb_broker *b, struct cb_etcd *e, int p)
{
	struct cb_cluster *c = &b->cluster;
	struct priv *pv = c->priv;
	struct pool_state *ps = &pv->pool[p];
	char kd[KEY_MAX], val[16], why[96];
	uint32_t others, room, local, want;
	struct cb_pool_busy busy;
	int64_t rev;
	int r, n;

	ps->demand = local_demand(b, p, ps);
	pool_key(kd, pv->prefix, ps->name, "demand/", c->conf.host);
	if (ps->demand != ps->demand_put || ps->demand_lease != pv->lease) {
		n = snprintf(val, sizeof(val), "%u", ps->demand);
		r = cb_etcd_put(e, kd, val, (size_t)n, pv->lease, NULL);
		if (r < 0)
			return r;
		ps->demand_put = ps->demand;
		ps->demand_lease = pv->lease;
	}
	r = read_pool(b, e, p, &rev, &others);
	if (r < 0)
		return r;
	ps->target = fair_target(ps, pv, c->conf.host, ps->demand);
	local = atomic_load_explicit(&c->local_limit[p], memory_order_relaxed);
	if (ps->own_garbage) {
		/* Our share key holds garbage (written by hand?): nothing
		 * is ours by it (the others count it as all of L).  Down to
		 * zero here, published, then write what is still in use
		 * over it: the units that are out are ours. */
		if (local > 0 && publish_wait(b, set_local(b, p, 0,
		    "our share key holds garbage")) < 0)
			return -ETIMEDOUT;
		cb_pools_busy(b->seg.slots, p, &busy);
		want = busy.live + busy.launching;
		r = commit_share(b, e, ps, want, false, rev);
		if (r == 1) {
			log_warnx("pool %s: our share key held garbage: "
			    "rewritten to %u, what is in use", ps->name, want);
			ps->share = want;
		}
		return r < 0 ? r : 0;
	}
	if (local > ps->share) {
		/* Never above what etcd has (a share lowered by hand, or
		 * garbage read as 0). */
		if (publish_wait(b, set_local(b, p, ps->share,
		    "above the share etcd has")) < 0)
			return -ETIMEDOUT;
		local = ps->share;
	}
	if (ps->target > ps->share) {
		room = ps->limit > others ? ps->limit - others : 0;
		want = ps->target < room ? ps->target : room;
		if (want > ps->share) {
			r = commit_share(b, e, ps, want, true, rev);
			if (r < 0)
				return r;
			if (r == 1) {
				log_info("pool %s: share %u -> %u (grow: demand "
				    "%u, fair share %u)", ps->name, ps->share,
				    want, ps->demand, ps->target);
				ps->share = want;
			}
		}
		if (local < ps->share)
			set_local(b, p, ps->share, "the share committed");
		return 0;
	}
	if (ps->target < ps->share) {
		/* Local limit first, published; then etcd, down to what is
		 * in use now (not below it: those units are out). */
		if (local > ps->target && publish_wait(b, set_local(b, p,
		    ps->target, "shrinking toward the fair share")) < 0)
			return -ETIMEDOUT;
		/* Holds are short, mostly: give them up to half a tick to
		 * come down to the new limit, so that the units reach
		 * their new host a tick sooner. */
		for (int i = 0;; i++) {
			cb_pools_busy(b->seg.slots, p, &busy);
			if (busy.live + busy.launching <= ps->target ||
			    i >= pv->period_ms / (TICKS_PER_PERIOD * 20))
				break;
			poll(NULL, 0, 10);
		}
		want = busy.live + busy.launching;
		if (want < ps->target)
			want = ps->target;
		if (want >= ps->share)
			return 0;
		r = commit_share(b, e, ps, want, false, rev);
		if (r < 0)
			return r;
		if (r == 1) {
			snprintf(why, sizeof(why), "shrink: demand %u, fair "
			    "share %u", ps->demand, ps->target);
			log_info("pool %s: share %u -> %u (%s)", ps->name,
			    ps->share, want, why);
			ps->share = want;
		}
		return 0;
	}
	if (local < ps->share)
		set_local(b, p, ps->share, "the share committed");
	return 0;
}

/* Bring the private pool table in line with the definitions. */
static void refresh_pools(struct cb_broker *b)
{
	struct priv *pv = b->cluster.priv;
	struct cb_pool_def def[CB_MAX_POOLS];
	uint32_t observed[CB_MAX_POOLS];

	cb_pools_copy(&b->pools, def, observed);
	for (int p = 1; p < CB_MAX_POOLS; p++) {
		struct pool_state *ps = &pv->pool[p];
		bool g = (def[p].flags & CB_POOL_F_ACTIVE) &&
		    def[p].kind == CB_LIMIT_GLOBAL;

		/* Global no more here (made local, deleted, renamed into
		 * another pool's index): our keys go (give_back()). */
		if (ps->global && (!g || strcmp(ps->name, def[p].name) != 0))
			ps->leaving = true;
		if (g && (!ps->global || strcmp(ps->name, def[p].name) != 0)) {
			if (ps->leaving)
				continue;      /* first the old keys */
			memset(ps, 0, sizeof(*ps));
			strlcpy(ps->name, def[p].name, sizeof(ps->name));
			ps->rejected_seen = atomic_load_explicit(
			    &cb_slots_pool(b->seg.slots, p)->rejected,
			    memory_order_relaxed);
		}
		if (ps->leaving)
			continue;
		ps->global = g;
		if (g) {
			ps->limit = def[p].value;
			ps->hold_max_s = cb_hold_max_s(&def[p]);
		}
	}
}

/*
 * A pool that is global no more on this host: delete our share and
 * demand keys (the units of the share are free for the others at
 * once: what this host admits now counts against its local limit, not
 * the cluster's), then forget it.  The local limit goes first.
 */
static int give_back(struct cb_broker *b, struct cb_etcd *e, int p)
{
	struct priv *pv = b->cluster.priv;
	struct pool_state *ps = &pv->pool[p];
	char k[KEY_MAX];
	int r;

	atomic_store_explicit(&b->cluster.local_limit[p], 0,
	    memory_order_relaxed);
	pool_key(k, pv->prefix, ps->name, "share/", b->cluster.conf.host);
	r = cb_etcd_delete(e, k, NULL);
	if (r < 0)
		return r;
	pool_key(k, pv->prefix, ps->name, "demand/", b->cluster.conf.host);
	r = cb_etcd_delete(e, k, NULL);
	if (r < 0)
		return r;
	log_info("pool %s: global no more here: share %u -> 0 (given back)",
	    ps->name, ps->share);
	memset(ps, 0, sizeof(*ps));
	return 0;
}

static void tick(struct cb_broker *b)
{
	struct cb_cluster *c = &b->cluster;
	struct priv *pv = c->priv;
	struct cb_etcd *e = c->etcd;
	int r;

	refresh_pools(b);
	/* The lease once a period; shares every tick. */
	if (pv->lease != 0 && pv->claimed && pv->reachable &&
	    cb_monotonic_ns() - pv->renewed_ns <
	    (uint64_t)pv->period_ms * 1000000u - 1000000u)
		r = 0;
	else
		r = renew(b, e);
	if (r == -EEXIST) {
		pv->reachable = true;
		goto out;
	}
	if (r < 0) {
		failed(pv, e, pv->lease ? "renewing the lease" :
		    "taking a lease");
		pv->reachable = false;
		pv->was_down = true;
		goto out;
	}
	if (pv->was_down)
		log_info("etcd: reachable again");
	pv->was_down = false;
	pv->reachable = true;
	if (read_alive(b, e) < 0) {
		failed(pv, e, "reading the cluster's hosts");
		goto out;
	}
	for (int p = 1; p < CB_MAX_POOLS; p++) {
		if (pv->pool[p].leaving) {
			r = give_back(b, e, p);
			if (r < 0) {
				failed(pv, e, pv->pool[p].name);
				break;
			}
			continue;
		}
		if (!pv->pool[p].global)
			continue;
		r = tick_pool(b, e, p);
		if (r == -ENOENT) {
			/* Our lease went since the renewal (once a period:
			 * a broker stopped in between finds out here). */
			lease_gone(pv);
			break;
		}
		if (r < 0) {
			failed(pv, e, pv->pool[p].name);
			break;
		}
	}
	if (r >= 0 && pv->reachable)
		pv->last_error[0] = '\0';
out:
	write_block(b);
}

static void *cluster_main(void *arg)
{
	struct cb_broker *b = arg;
	struct cb_cluster *c = &b->cluster;
	struct priv *pv = c->priv;
	uint64_t n;

	while (!atomic_load_explicit(&c->stop, memory_order_acquire)) {
		struct pollfd pfd = { .fd = c->wake_fd, .events = POLLIN };
		uint64_t t0 = cb_monotonic_ns(), spent;
		int period = pv->period_ms / TICKS_PER_PERIOD;

		tick(b);
		spent = (cb_monotonic_ns() - t0) / 1000000u;
		if (spent >= (uint64_t)period)
			continue;
		if (poll(&pfd, 1, period - (int)spent) > 0)
			(void)read(c->wake_fd, &n, sizeof(n));
	}
	return NULL;
}

void cb_cluster_init(struct cb_cluster *c)
{
	memset(c, 0, sizeof(*c));
	c->wake_fd = -1;
}

static int launcher_init(struct cb_cluster *c);
static int launcher_start(struct cb_broker *b);
static void launcher_stop(struct cb_cluster *c);

/*
 * Before the first publish: a broker restarted on its segments carries
 * on from them (the lease id, the shares' deadline and the local
 * limits), so that the first publish republishes what was there and a
 * restart within the TTL loses nothing.  The lease is checked with etcd
 * by the thread's first tick (a keepalive): a lease that is gone means
 * a new one and the shares etcd has (rule (e)).
 */
void cb_cluster_adopt(struct cb_broker *b)
{
	struct cb_cluster *c = &b->cluster;
	const struct cb_cluster_block *blk = block_of(b);
	static struct cb_cluster_block old;   /* main thread, once */
	struct priv *pv;

	if (!c->on)
		return;
	pv = calloc(1, sizeof(*pv));
	if (pv == NULL || launcher_init(c) < 0) {
		free(pv);
		return;
	}
	c->priv = pv;
	/* The whole block, seq too (8-aligned, as capdump reads it). */
	if (cb_seqlock_read(&blk->seq, &old, blk, sizeof(old)) < 0 ||
	    !(old.flags & CB_CLUSTER_F_ON) ||
	    !(old.flags & CB_CLUSTER_F_LEASE) ||
	    strncmp(old.host, c->conf.host, sizeof(old.host)) != 0 ||
	    strncmp(old.cluster, c->conf.cluster, sizeof(old.cluster)) != 0)
		return;
	pv->lease = (int64_t)old.lease_id;
	for (int p = 1; p < CB_MAX_POOLS; p++) {
		const struct cb_pool_conf *conf = cb_seg_record(b->seg.state,
		    CB_RS_POOLS, 0, (uint32_t)p);

		if (atomic_load_explicit(&conf->share_deadline_ns,
		    memory_order_relaxed) == 0)
			continue;
		atomic_store_explicit(&c->local_limit[p],
		    atomic_load_explicit(&conf->limit, memory_order_relaxed),
		    memory_order_relaxed);
	}
	atomic_store_explicit(&c->valid_until_ns, old.valid_until_ns,
	    memory_order_relaxed);
	log_info("cluster %s: adopting lease %" PRIx64 " of host %s from the "
	    "segment", c->conf.cluster, old.lease_id, c->conf.host);
}

int cb_cluster_start(struct cb_broker *b)
{
	struct cb_cluster *c = &b->cluster;
	struct priv *pv;
	char err[CB_ETCD_ERRMSG_MAX];
	struct cb_etcd_opts o = { 0 };
	int r;

	if (!c->on)
		return 0;
	if (c->priv == NULL)
		cb_cluster_adopt(b);
	pv = c->priv;
	if (pv == NULL)
		return -ENOMEM;
	snprintf(pv->prefix, sizeof(pv->prefix), "/capbroker/%s/",
	    c->conf.cluster);
	pv->margin_ns = (uint64_t)c->conf.lease_ttl_s * 100000000u;
	if (pv->margin_ns < MARGIN_MIN_NS)
		pv->margin_ns = MARGIN_MIN_NS;
	pv->margin_ns += cb_monotonic_coarse_margin_ns();
	/* The renewal period: a ninth of the TTL (a lease survives eight
	 * lost renewals), at least 100 ms.  Shares are looked at
	 * TICKS_PER_PERIOD times as often: a move takes a tick for the
	 * gaining host's demand to be put, one for the giving host to see
	 * it and shrink, one for the gainer to grow into what was freed. */
	pv->period_ms = (int)(c->conf.lease_ttl_s * 1000u / 9u);
	if (pv->period_ms < 100)
		pv->period_ms = 100;
	/* A request must end well inside a renewal period. */
	o.timeout_ms = c->conf.lease_ttl_s * 1000 / 6;
	o.connect_timeout_ms = o.timeout_ms / 2;
	r = cb_etcd_open(&c->etcd, c->conf.etcd, &o, err, sizeof(err));
	if (r < 0) {
		log_errx("etcd = %s: %s", c->conf.etcd, err);
		return r;
	}
	c->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (c->wake_fd < 0) {
		r = -errno;
		cb_etcd_close(c->etcd);
		return r;
	}
	/* The first tick here: a duplicate host name refuses the start
	 * (when etcd answers; unreachable, the thread keeps trying). */
	tick(b);
	if (pv->duplicate) {
		cb_etcd_close(c->etcd);
		c->etcd = NULL;
		close(c->wake_fd);
		c->wake_fd = -1;
		return -EEXIST;
	}
	if (!pv->reachable)
		log_errx("etcd unreachable (%s): global pools admit nothing "
		    "until it answers", pv->last_error);
	r = pthread_create(&c->thread, NULL, cluster_main, b);
	if (r != 0)
		return -r;
	c->running = true;
	return launcher_start(b);
}

void cb_cluster_kick(struct cb_broker *b)
{
	uint64_t one = 1;

	if (b->cluster.running && write(b->cluster.wake_fd, &one,
	    sizeof(one)) < 0)
		log_warn("cluster: eventfd write");
}

void cb_cluster_stop(struct cb_broker *b)
{
	struct cb_cluster *c = &b->cluster;

	if (c->running) {
		atomic_store_explicit(&c->stop, true, memory_order_release);
		cb_cluster_kick(b);
		pthread_join(c->thread, NULL);
		c->running = false;
	}
	if (c->etcd != NULL)
		cb_etcd_close(c->etcd);
	c->etcd = NULL;
	if (c->wake_fd >= 0)
		close(c->wake_fd);
	c->wake_fd = -1;
	free(c->priv);
	c->priv = NULL;
	launcher_stop(c);
}

/* ---------------------------------------------------------------- */
/* Global launches (cluster.h): the launch thread.                   */

struct launch_node {
	struct cds_wfcq_node node;
	struct cb_launch_job job;
};

struct launcher {
	struct cds_wfcq_head in_head, done_head;
	struct cds_wfcq_tail in_tail, done_tail;
	_Atomic uint32_t queued;        /* jobs submitted, not yet popped */
	int in_fd;                      /* eventfd: a job, or stop */
	int done_fd;                    /* eventfd: an answer */
	struct cb_etcd *etcd;           /* the launch thread's own */
	pthread_t thread;
	bool running;
	_Atomic bool stop;
	char prefix[96];                /* K */
};

static uint64_t realtime_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void job_fail(struct cb_launch_job *j, int err, const char *msg,
    struct cb_etcd *e)
{
	j->err = err;
	snprintf(j->msg, sizeof(j->msg), "%s%s%s", msg, e ? ": " : "",
	    e ? cb_etcd_error(e) : "");
}

/*
 * One LAUNCH: count the live launch keys of the pool at a revision; if
 * observed + count + 1 <= L, put a new key under a new lease of TTL
 * window, in a transaction that holds only if no key under the prefix
 * was modified after that revision.  A lost race reads again (a few
 * times, then -EAGAIN).
 */
static void do_launch(struct launcher *ln, struct cb_launch_job *j)
{
	struct cb_etcd *e = ln->etcd;
	char prefix[KEY_MAX], key[KEY_MAX], val[24], id[17];
	uint32_t window_s = (j->window_ms + 999) / 1000;

	if (window_s == 0)
		window_s = 1;
	pool_key(prefix, ln->prefix, j->name, "launch/", "");
	for (int attempt = 0; attempt < 8; attempt++) {
		struct cb_etcd_range rg;
		struct cb_etcd_lease l;
		struct cb_etcd_compare cmp[2];
		struct cb_etcd_op put;
		struct cb_etcd_txn txn;
		struct cb_etcd_txn_result res;
		uint64_t now = realtime_ms(), first = 0;
		int64_t rev;
		size_t live;
		int r, n;

		r = cb_etcd_range(e, prefix, &rg);
		if (r < 0) {
			job_fail(j, r, "etcd", e);
			return;
		}
		live = rg.nkvs;
		for (size_t i = 0; i < rg.nkvs; i++) {
			char buf[24];
			const char *errstr;
			long long x;

			if (rg.kvs[i].value_len == 0 ||
			    rg.kvs[i].value_len >= sizeof(buf))
				continue;
			memcpy(buf, rg.kvs[i].value, rg.kvs[i].value_len);
			buf[rg.kvs[i].value_len] = '\0';
			x = strtonum(buf, 0, LLONG_MAX, &errstr);
			if (errstr == NULL && (first == 0 ||
			    (uint64_t)x < first))
				first = (uint64_t)x;
		}
		rev = rg.revision;
		cb_etcd_range_free(&rg);
		if ((uint64_t)j->observed + live + 1 > j->limit) {
			uint64_t wait = first > now ? first - now : 1;

			if (wait > j->window_ms)
				wait = j->window_ms;
			j->err = -EAGAIN;
			j->retry_ms = (uint32_t)wait;
			snprintf(j->msg, sizeof(j->msg), "fleet cap: %u "
			    "observed + %zu launching of %u", j->observed,
			    live, j->limit);
			return;
		}
		r = cb_etcd_lease_grant(e, window_s, &l);
		if (r < 0) {
			job_fail(j, r, "etcd lease", e);
			return;
		}
		snprintf(id, sizeof(id), "%016" PRIx64, (uint64_t)l.id);
		pool_key(key, ln->prefix, j->name, "launch/", id);
		n = snprintf(val, sizeof(val), "%" PRIu64,
		    now + (uint64_t)window_s * 1000u);
		cmp[0] = (struct cb_etcd_compare){ .key = prefix,
		    .prefix = true, .target = CB_ETCD_MOD, .cmp = CB_ETCD_LT,
		    .number = rev + 1 };
		cmp[1] = (struct cb_etcd_compare){ .key = key,
		    .target = CB_ETCD_CREATE, .cmp = CB_ETCD_EQ, .number = 0 };
		put = (struct cb_etcd_op){ .kind = CB_ETCD_OP_PUT, .key = key,
		    .value = val, .value_len = (size_t)n, .lease = l.id };
		txn = (struct cb_etcd_txn){ .compare = cmp, .ncompare = 2,
		    .success = &put, .nsuccess = 1 };
		r = cb_etcd_txn_run(e, &txn, &res);
		if (r < 0) {
			(void)cb_etcd_lease_revoke(e, l.id);
			job_fail(j, r, "etcd", e);
			return;
		}
		n = res.succeeded;
		cb_etcd_txn_result_free(&res);
		if (n) {
			j->err = 0;
			j->result_id = (uint64_t)l.id;
			return;
		}
		/* Another launch (or release) since we counted: again. */
		(void)cb_etcd_lease_revoke(e, l.id);
	}
	j->err = -EAGAIN;
	j->retry_ms = 10;
	snprintf(j->msg, sizeof(j->msg), "contended: launches of other "
	    "hosts changed the count 8 times running");
}

/* One UNLAUNCH: delete the launch's key and its lease.  -ESTALE if the
 * key is gone (released, or aged out). */
static void do_unlaunch(struct launcher *ln, struct cb_launch_job *j)
{
	struct cb_etcd *e = ln->etcd;
	char key[KEY_MAX], id[17];
	int64_t deleted = 0;
	int r;

	snprintf(id, sizeof(id), "%016" PRIx64, j->id);
	pool_key(key, ln->prefix, j->name, "launch/", id);
	r = cb_etcd_delete(e, key, &deleted);
	if (r < 0) {
		job_fail(j, r, "etcd", e);
		return;
	}
	if (deleted == 0) {
		j->err = -ESTALE;
		snprintf(j->msg, sizeof(j->msg), "no launch %016" PRIx64
		    " in pool %s (released, or aged out)", j->id, j->name);
		return;
	}
	(void)cb_etcd_lease_revoke(e, (int64_t)j->id);
	j->err = 0;
}

static void *launch_main(void *arg)
{
	struct launcher *ln = arg;
	uint64_t one = 1, n;

	while (!atomic_load_explicit(&ln->stop, memory_order_acquire)) {
		struct pollfd pfd = { .fd = ln->in_fd, .events = POLLIN };
		struct cds_wfcq_node *node;

		while ((node = __cds_wfcq_dequeue_blocking(&ln->in_head,
		    &ln->in_tail)) != NULL) {
			struct launch_node *ev = caa_container_of(node,
			    struct launch_node, node);

			if (ev->job.unlaunch)
				do_unlaunch(ln, &ev->job);
			else
				do_launch(ln, &ev->job);
			cds_wfcq_node_init(&ev->node);
			cds_wfcq_enqueue(&ln->done_head, &ln->done_tail,
			    &ev->node);
			if (write(ln->done_fd, &one, sizeof(one)) < 0)
				log_warn("cluster: eventfd write");
		}
		if (poll(&pfd, 1, -1) > 0)
			(void)read(ln->in_fd, &n, sizeof(n));
	}
	return NULL;
}

static int launcher_start(struct cb_broker *b)
{
	struct cb_cluster *c = &b->cluster;
	struct launcher *ln = c->launch;
	struct cb_etcd_opts o = { 0 };
	char err[CB_ETCD_ERRMSG_MAX];
	int r;

	snprintf(ln->prefix, sizeof(ln->prefix), "/capbroker/%s/",
	    c->conf.cluster);
	o.timeout_ms = 2000;
	o.connect_timeout_ms = 500;
	r = cb_etcd_open(&ln->etcd, c->conf.etcd, &o, err, sizeof(err));
	if (r < 0) {
		log_errx("etcd = %s: %s", c->conf.etcd, err);
		return r;
	}
	r = pthread_create(&ln->thread, NULL, launch_main, ln);
	if (r != 0) {
		cb_etcd_close(ln->etcd);
		ln->etcd = NULL;
		return -r;
	}
	ln->running = true;
	return 0;
}

static void launcher_stop(struct cb_cluster *c)
{
	struct launcher *ln = c->launch;
	struct cds_wfcq_node *node;
	uint64_t one = 1;

	if (ln == NULL)
		return;
	if (ln->running) {
		atomic_store_explicit(&ln->stop, true, memory_order_release);
		if (write(ln->in_fd, &one, sizeof(one)) < 0)
			log_warn("cluster: eventfd write");
		pthread_join(ln->thread, NULL);
		ln->running = false;
	}
	while ((node = __cds_wfcq_dequeue_blocking(&ln->in_head,
	    &ln->in_tail)) != NULL)
		free(caa_container_of(node, struct launch_node, node));
	while ((node = __cds_wfcq_dequeue_blocking(&ln->done_head,
	    &ln->done_tail)) != NULL)
		free(caa_container_of(node, struct launch_node, node));
	if (ln->etcd != NULL)
		cb_etcd_close(ln->etcd);
	close(ln->in_fd);
	close(ln->done_fd);
	free(ln);
	c->launch = NULL;
}

int cb_cluster_launch_submit(struct cb_broker *b,
    const struct cb_launch_job *job)
{
	struct launcher *ln = b->cluster.launch;
	struct launch_node *ev;
	uint64_t one = 1;

	if (ln == NULL || !ln->running)
		return -ENOTCONN;
	if (atomic_load_explicit(&ln->queued, memory_order_relaxed) >=
	    CB_LAUNCH_QUEUE_MAX)
		return -EAGAIN;
	ev = malloc(sizeof(*ev));
	if (ev == NULL)
		return -ENOMEM;
	ev->job = *job;
	atomic_fetch_add_explicit(&ln->queued, 1, memory_order_relaxed);
	cds_wfcq_node_init(&ev->node);
	cds_wfcq_enqueue(&ln->in_head, &ln->in_tail, &ev->node);
	if (write(ln->in_fd, &one, sizeof(one)) < 0)
		log_warn("cluster: eventfd write");
	return 0;
}

int cb_cluster_done_fd(struct cb_broker *b)
{
	struct launcher *ln = b->cluster.launch;

	return ln != NULL ? ln->done_fd : -1;
}

int cb_cluster_done_pop(struct cb_broker *b, struct cb_launch_job *job)
{
	struct launcher *ln = b->cluster.launch;
	struct cds_wfcq_node *node;
	struct launch_node *ev;
	uint64_t n;

	if (ln == NULL)
		return 0;
	(void)read(ln->done_fd, &n, sizeof(n));
	node = __cds_wfcq_dequeue_blocking(&ln->done_head, &ln->done_tail);
	if (node == NULL)
		return 0;
	ev = caa_container_of(node, struct launch_node, node);
	*job = ev->job;
	free(ev);
	atomic_fetch_sub_explicit(&ln->queued, 1, memory_order_relaxed);
	return 1;
}

static int launcher_init(struct cb_cluster *c)
{
	struct launcher *ln = calloc(1, sizeof(*ln));

	if (ln == NULL)
		return -ENOMEM;
	cds_wfcq_init(&ln->in_head, &ln->in_tail);
	cds_wfcq_init(&ln->done_head, &ln->done_tail);
	ln->in_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	ln->done_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (ln->in_fd < 0 || ln->done_fd < 0) {
		if (ln->in_fd >= 0)
			close(ln->in_fd);
		if (ln->done_fd >= 0)
			close(ln->done_fd);
		free(ln);
		return -errno;
	}
	c->launch = ln;
	return 0;
}
