/*
 * etcd.h - a small etcd v3 client for the broker (issue 15: the global
 * pools' shares are leased from etcd, docs/ARCHITECTURE.md).
 *
 * It speaks to etcd's JSON gateway (etcd 3.4: POST
 * http://HOST:PORT/v3/..., keys and values base64 in the JSON bodies,
 * 64-bit ids, revisions and TTLs as JSON strings) through libcurl's easy
 * interface, and reads the answers with json-c.  Only the broker links
 * it: the client library never talks to etcd, and nothing on a client's
 * admission path waits for it.  Today nothing in capbrokerd calls it
 * yet: tests/unit/test_etcd.c does; the global pools will, from a thread
 * of their own.
 *
 * Threads.  Every call blocks for at most the request's timeouts per
 * endpoint tried, so it is meant for a broker thread of its own.  A
 * client object (one curl handle, one receive buffer, the messages) is
 * used by one thread at a time; what other threads need (reachability
 * for capdump) that thread copies out with cb_etcd_status().
 *
 * Endpoints.  "http://a:2379,http://b:2379": a request goes to the last
 * endpoint that answered, and moves on to the next one, each endpoint
 * tried once, when the connection fails or the request times out.  An
 * answer is never retried elsewhere, whatever it says (an etcd error, or
 * garbage): the member answered.  A request that timed out may still
 * have been applied by that member when it is sent to the next: every
 * write of the broker's is a transaction comparing the revisions it
 * read (a replay fails its compare and the caller re-reads), a put of
 * the same value, or a lease grant (a lease nobody keeps alive expires
 * by itself).
 *
 * Input from the network is hostile: an answer over max_response bytes
 * is refused, every field is type-checked (the ones etcd leaves out when
 * they are zero may be missing), base64 is decoded strictly, numbers are
 * range-checked.  Anything else is -EPROTO with a message, never trusted.
 *
 * Errors: every function returns 0 (or what it says) or a negative
 * errno, and keeps a message of the failure (cb_etcd_error()): the
 * endpoint, the HTTP status, what etcd said ({"error":...,"code":...}).
 *   -ECONNREFUSED  no endpoint could be reached (-ETIMEDOUT: the last
 *                  one tried timed out)
 *   -EPROTO        an answer that is not what etcd sends
 *   -ENOENT        etcd: not found (a lease that is gone)
 *   -EINVAL        etcd refused the request as invalid (or the caller's
 *                  arguments were)
 *   -EIO           any other etcd error (the message has its code)
 *   -ENOMEM
 */
#ifndef CB_ETCD_H
#define CB_ETCD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cb_etcd;

/* Limits of the client object.  Zero fields take the defaults. */
struct cb_etcd_opts {
	long connect_timeout_ms;	/* per request and endpoint; 1000 */
	long timeout_ms;		/* the whole request; 2000 */
	size_t max_response;		/* bytes of one answer; 4 MiB */
};

#define CB_ETCD_ENDPOINTS_MAX	16
#define CB_ETCD_ERRMSG_MAX	512

/*
 * Open a client for the comma-separated endpoints (http:// or https://,
 * at most CB_ETCD_ENDPOINTS_MAX).  Connects to nothing yet.  The first
 * call does libcurl's curl_global_init (once per process, thread-safe);
 * curl_global_cleanup, at exit, is the program's.
 * Returns: 0 and *out, -EINVAL (the message in err, errlen bytes), or
 * -ENOMEM.
 */
int cb_etcd_open(struct cb_etcd **out, const char *endpoints,
    const struct cb_etcd_opts *opts, char *err, size_t errlen);
void cb_etcd_close(struct cb_etcd *e);

/* The message of the last failure ("" when none yet).  Valid until the
 * next call on e. */
const char *cb_etcd_error(const struct cb_etcd *e);

/* Reachability, for monitoring (capdump). */
struct cb_etcd_status {
	size_t nendpoints;
	size_t current;		/* the endpoint the next request goes to */
	int64_t last_ok_ns;	/* CLOCK_MONOTONIC of the last answer; 0: none */
	int64_t last_fail_ns;	/* ... of the last failure; 0: none */
	int last_err;		/* its negative errno; 0: none */
};
void cb_etcd_status(const struct cb_etcd *e, struct cb_etcd_status *st);
/* Endpoint i's URL, and the message of its last failure ("" when none);
 * NULL when i is out of range. */
const char *cb_etcd_endpoint(const struct cb_etcd *e, size_t i);
const char *cb_etcd_endpoint_error(const struct cb_etcd *e, size_t i);

/*
 * Leases.  sent_ns is CLOCK_MONOTONIC read just before the request that
 * was answered went out: etcd (re)started the lease's TTL no earlier, so
 * sent_ns + ttl is no later than its expiry (the share's deadline rule,
 * tests/model/shares.pml (a)).
 */
struct cb_etcd_lease {
	int64_t id;
	int64_t ttl;		/* seconds */
	int64_t sent_ns;
};

/* Returns: 0 and *l (etcd's id and granted TTL), or an error. */
int cb_etcd_lease_grant(struct cb_etcd *e, int64_t ttl, struct cb_etcd_lease *l);
/* One keepalive.  Returns: 0 and *l (ttl: what it was renewed to),
 * -ENOENT when the lease is gone, or an error. */
int cb_etcd_lease_keepalive(struct cb_etcd *e, int64_t id,
    struct cb_etcd_lease *l);
/* Returns: 0, -ENOENT when the lease is gone, or an error. */
int cb_etcd_lease_revoke(struct cb_etcd *e, int64_t id);
/* Returns: 0 and *l (ttl: seconds left), -ENOENT, or an error. */
int cb_etcd_lease_timetolive(struct cb_etcd *e, int64_t id,
    struct cb_etcd_lease *l);

/* One key as read.  key and value are NUL-terminated after their
 * lengths, and may hold NULs of their own. */
struct cb_etcd_kv {
	char *key;
	size_t key_len;
	char *value;
	size_t value_len;
	int64_t create_revision;
	int64_t mod_revision;
	int64_t version;
	int64_t lease;		/* 0: none */
};

/* What a range read returns; free with cb_etcd_range_free(). */
struct cb_etcd_range {
	int64_t revision;	/* the store's, when read */
	size_t nkvs;
	struct cb_etcd_kv *kvs;
	bool more;
};
void cb_etcd_range_free(struct cb_etcd_range *r);

/* Put key (a C string) = value (len bytes), under lease (0: none).
 * Returns: 0 (*revision, when not NULL: the store's after it) or an
 * error (-ENOENT: no such lease). */
int cb_etcd_put(struct cb_etcd *e, const char *key, const void *value,
    size_t len, int64_t lease, int64_t *revision);
/* Read key (0 or 1 kvs), or every key under prefix, in key order.
 * Returns: 0 and *r, or an error (*r is then empty). */
int cb_etcd_get(struct cb_etcd *e, const char *key, struct cb_etcd_range *r);
int cb_etcd_range(struct cb_etcd *e, const char *prefix,
    struct cb_etcd_range *r);
/* Delete key.  Returns: 0 (*deleted, when not NULL: 0 or 1) or an
 * error. */
int cb_etcd_delete(struct cb_etcd *e, const char *key, int64_t *deleted);

/*
 * Transactions: if every compare holds, the success ops run, else the
 * failure ops, atomically at one revision.
 */
enum cb_etcd_target {
	CB_ETCD_CREATE,		/* create_revision (0: absent) */
	CB_ETCD_MOD,		/* mod_revision */
	CB_ETCD_VERSION,
	CB_ETCD_VALUE,
	CB_ETCD_LEASE,
};

enum cb_etcd_cmp {
	CB_ETCD_EQ,
	CB_ETCD_NE,
	CB_ETCD_LT,
	CB_ETCD_GT,
};

/* "target(key) cmp number (or value)".  With prefix, the compare holds
 * for every key under key ("mod_revision of every key under PREFIX <
 * R": etcd's range_end). */
struct cb_etcd_compare {
	const char *key;
	bool prefix;
	enum cb_etcd_target target;
	enum cb_etcd_cmp cmp;
	int64_t number;		/* every target but CB_ETCD_VALUE */
	const void *value;	/* CB_ETCD_VALUE */
	size_t value_len;
};

enum cb_etcd_op_kind {
	CB_ETCD_OP_PUT,
	CB_ETCD_OP_DELETE,
	CB_ETCD_OP_RANGE,
};

/* prefix: DELETE and RANGE act on every key under key. */
struct cb_etcd_op {
	enum cb_etcd_op_kind kind;
	const char *key;
	bool prefix;
	const void *value;	/* PUT */
	size_t value_len;
	int64_t lease;		/* PUT; 0: none */
};

struct cb_etcd_txn {
	const struct cb_etcd_compare *compare;
	size_t ncompare;
	const struct cb_etcd_op *success;
	size_t nsuccess;
	const struct cb_etcd_op *failure;
	size_t nfailure;
};

#define CB_ETCD_TXN_OPS_MAX	64

/* One op's result, in the order of the branch taken. */
struct cb_etcd_op_result {
	enum cb_etcd_op_kind kind;
	int64_t deleted;		/* DELETE */
	struct cb_etcd_range range;	/* RANGE */
};

/* Free with cb_etcd_txn_result_free(). */
struct cb_etcd_txn_result {
	bool succeeded;
	int64_t revision;
	size_t nresults;
	struct cb_etcd_op_result *results;
};
void cb_etcd_txn_result_free(struct cb_etcd_txn_result *t);

/* Returns: 0 and *res (succeeded or not), or an error (*res is then
 * empty). */
int cb_etcd_txn_run(struct cb_etcd *e, const struct cb_etcd_txn *txn,
    struct cb_etcd_txn_result *res);

#endif /* CB_ETCD_H */
