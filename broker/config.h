/*
 * config.h - the broker's configuration file.
 *
 * Format: one setting per line, '#' starts a comment, blank lines are
 * ignored.
 *
 *   slots_per_worker = 64                  # mixed tier, 1..65535
 *   legacy_max_concurrent_requests = 1024  # fallback tier, 1..65535
 *   override = 0                           # 0 derives; 1..65535 pins
 *   retry_after_ms = 100                   # hint when a pool is full
 *   group = NAME          # group of the slots segment and the socket
 *                         # (mode 0660): who may attach and reserve
 *   admin_group = NAME    # may also change workers, override, pools
 *   state_mode = 0644     # or 0640: the state segment, group `group`
 *   pool NAME limit=N|share=PCT [window=SECONDS] [observed=N]
 *        [global|local] [hold_max=SECONDS]
 *                         # as capctl pool set / POOL SET
 *   worker ID STATE [MAX_RUNNING]          # STATE: ready|not_ready|draining
 *
 * Global pools (one limit for a cluster of brokers, cluster.h):
 *
 *   etcd = http://10.0.0.1:2379[,https://HOST:PORT...]
 *                         # 1..16 endpoints, http:// or https://,
 *                         # HOST (a name, an IPv4 address or [IPv6])
 *                         # and :PORT (1..65535) each, comma-separated;
 *                         # not set: no cluster, no global pool
 *   cluster = capbroker   # the key prefix in etcd, 1..63 of
 *                         # A-Z a-z 0-9 . _ -
 *   host = NAME           # this broker in the cluster, same charset;
 *                         # default: gethostname(), which must then be
 *                         # such a name (else an error: set host =)
 *   lease_ttl = 10        # seconds, 2..3600
 *
 * `global` on a pool line makes the pool's limit= the cluster's (the
 * pool then needs limit= on one of its lines, excludes share=, and is
 * refused for pool default); hold_max= (1..86400 s, default 300) is
 * the longest a hold of a global pool counts, refused on a pool that
 * is not global; `local` on a later line makes a global pool fixed
 * again.  A file with a global pool and no etcd = is an error naming
 * the pool's first line.  cluster, host and lease_ttl without etcd are
 * accepted and unused.
 *
 * Without -c the embedded defaults apply (the values above, no
 * workers).  A bad line is an error naming FILE:LINE, except an
 * out-of-range override, which is ignored with a warning and counted
 * (an override is never clamped or silently dropped).
 *
 * Lines naming one worker or one pool again amend the first: a worker's
 * later line replaces its state and max_running, a pool's later keys
 * replace the earlier ones (limit= and share= replace each other).  So
 * the parsed config holds one entry per worker and per pool, in the
 * order of their first lines, and only distinct pools count toward the
 * CB_MAX_POOLS limit (pool "default" included).  Every pool but
 * "default" needs limit= or share= on one of its lines; "default"
 * takes neither (it follows the capacity).
 *
 * A reload (SIGHUP) parses the whole file into a private struct
 * cb_config first and applies nothing unless all of it is valid and
 * fits (main.c); its outcome is kept for STATUS (cb_reload_status).
 * A reload that changes etcd, cluster, host or lease_ttl is refused as
 * a whole: those need a restart (cb_config_cluster_diff).
 */
#ifndef CB_CONFIG_H
#define CB_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "abi.h"
#include "cluster.h"
#include "proto.h"

struct cb_config_worker {
	char id[CB_WORKER_ID_MAX + 1];
	uint32_t state;
	uint32_t max_running;
	unsigned line;                /* its first line in the file */
};

struct cb_config_pool {
	struct cb_ctl_req req;        /* POOL SET, the file's lines merged */
	unsigned line;                /* its first line in the file */
};

struct cb_config {
	uint32_t slots_per_worker;
	uint32_t legacy_max;
	uint32_t retry_after_ms;      /* cb_reserve hint without launches */
	uint32_t override;
	bool override_set;            /* the file has an override line */
	gid_t group;                  /* (gid_t)-1: the broker's own */
	gid_t admin_group;            /* (gid_t)-1: none */
	unsigned state_mode;          /* 0644 or 0640 */
	long long override_rejected;  /* last out-of-range value seen */
	unsigned override_rejects;    /* how many were ignored */
	struct cb_config_worker *workers;
	size_t nworkers;
	struct cb_config_pool *pools;
	size_t npools;
	struct cb_cluster_conf cluster; /* etcd "" = none; host "" until
	                                   the file's end (gethostname) */
	unsigned etcd_line;           /* the etcd line; 0: none */
	const char *path;             /* the file (messages); NULL: none */
};

void cb_config_defaults(struct cb_config *c);
void cb_config_free(struct cb_config *c);

/* Parse f (named path in messages) on top of c.  Returns 0, or -EINVAL
 * / -ENOMEM with "path:line: what" in err. */
int cb_config_parse(struct cb_config *c, FILE *f, const char *path,
    char *err, size_t errlen);

/* Defaults, then the file at path.  Returns 0 or -errno (message in
 * err). */
int cb_config_load(struct cb_config *c, const char *path, char *err,
    size_t errlen);

/*
 * The default host name: sysname (gethostname()'s) if it is a valid
 * host name, copied into c->cluster.host.  Returns 0, or -EINVAL with
 * "path:line: what" in err naming the etcd line when etcd is set (a
 * cluster needs a name for this broker); without etcd the host stays
 * "" and that is no error.  cb_config_parse calls it at the file's end
 * when no host = line was given.
 */
int cb_config_default_host(struct cb_config *c, const char *sysname,
    const char *path, char *err, size_t errlen);

/* 1 if name is a valid host or cluster name: [A-Za-z0-9._-]{1,max}. */
int cb_config_name_valid(const char *name, size_t max);

/*
 * The first cluster setting that differs between a and b ("etcd",
 * "cluster", "host" or "lease_ttl"), or NULL: those a reload cannot
 * change (the cluster thread holds a lease under its host name).
 */
const char *cb_config_cluster_diff(const struct cb_cluster_conf *a,
    const struct cb_cluster_conf *b);

/*
 * Write c to f in the file's own syntax, every setting spelled out
 * (defaults too), so that parsing the output gives c back
 * (capbrokerd -t).  Returns 0, or -errno if writing failed.
 */
int cb_config_print(const struct cb_config *c, FILE *f);

/*
 * The outcome of the last reload, for STATUS.  The main thread is the
 * only caller of both: reload() notes, the control handler (also run
 * from the main loop) reads; no other thread touches the record.
 *
 * cb_reload_init: at start-up, the configuration file in use (NULL:
 * none; the pointer must outlive the broker, e.g. argv).
 * cb_reload_note: after each SIGHUP; error is NULL for a reload that
 * applied, or its message (FILE:LINE: what); changed says whether an
 * applied reload changed anything.
 */
void cb_reload_init(const char *path);
void cb_reload_note(const char *error, bool changed);

/*
 * Line i (0 .. CB_RELOAD_STATUS_LINES - 1) of STATUS about the
 * configuration, "KEY VALUE" without a newline, control characters
 * replaced:
 *   config PATH            or "-" (embedded defaults)
 *   reload_time TIME       ISO 8601 UTC of the last SIGHUP, or "never"
 *   reload_result RESULT   "ok", "ok unchanged", "error MESSAGE", or
 *                          "none" before the first SIGHUP
 */
#define CB_RELOAD_STATUS_LINES 3
void cb_reload_status(unsigned i, char *buf, size_t len);

#endif /* CB_CONFIG_H */
