/*
 * proto.h - the control protocol: request parsing and shared vocabulary.
 *
 * A request is one line of at most CB_PROTO_LINE_MAX bytes including
 * its '\n', words separated by spaces or tabs, printable ASCII only.
 * Every reply starts with a status line:
 *
 *   OK N [TEXT]          N (0..) data lines follow
 *   ERR ERRNAME MESSAGE  ERRNAME is an errno name (EINVAL, ENOENT, ...)
 *
 * Requests (docs/PROTOCOL.md has the replies):
 *
 *   PING
 *   STATUS
 *   WORKER SET ID ready|not_ready|draining [MAX_RUNNING]
 *   WORKER DEL ID
 *   WORKER LIST
 *   OVERRIDE N
 *   POOL SET NAME [limit=N] [share=PCT] [window=SECONDS] [observed=N]
 *            [global|local] [hold_max=SECONDS]
 *   POOL DEL NAME [force]
 *   POOL LIST
 *   HELLO INDEX OWNER
 *   LAUNCH POOL OBSERVED   a global pool's launch (broker/cluster.h)
 *   UNLAUNCH POOL ID       its early release (ID: 16 hex digits)
 *
 * The parser checks syntax, word counts, the id charset and number
 * syntax (strtonum); a handler checks meaning (an override outside
 * 0..65535 parses, so the broker can count and log the rejection).
 * Broker and capctl use this file; it needs libbsd, so it is not part
 * of libcapbroker.
 */
#ifndef CB_PROTO_H
#define CB_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "abi.h"

#define CB_PROTO_LINE_MAX 512
#define CB_PROTO_WORDS_MAX 8

enum cb_ctl_verb {
	CB_CTL_PING = 1,
	CB_CTL_STATUS,
	CB_CTL_WORKER_SET,
	CB_CTL_WORKER_DEL,
	CB_CTL_WORKER_LIST,
	CB_CTL_OVERRIDE,
	CB_CTL_POOL_SET,
	CB_CTL_POOL_LIST,
	CB_CTL_HELLO,
	CB_CTL_POOL_DEL,
	CB_CTL_LAUNCH,
	CB_CTL_UNLAUNCH,
};

/* POOL SET keys present. */
#define CB_POOL_SET_LIMIT    0x1u
#define CB_POOL_SET_SHARE    0x2u
#define CB_POOL_SET_WINDOW   0x4u
#define CB_POOL_SET_OBSERVED 0x8u
#define CB_POOL_SET_GLOBAL   0x10u  /* bare word: CB_LIMIT_GLOBAL */
#define CB_POOL_SET_LOCAL    0x20u  /* bare word: back to a fixed limit */
#define CB_POOL_SET_HOLD_MAX 0x40u

struct cb_ctl_req {
	int verb;                          /* enum cb_ctl_verb */
	char id[CB_WORKER_ID_MAX + 1];     /* WORKER SET/DEL */
	uint32_t worker_state;             /* WORKER SET: cb_worker_state */
	uint32_t max_running;              /* WORKER SET: 0 = not given */
	long long number;                  /* OVERRIDE, unchecked range */
	char pool[CB_POOL_NAME_MAX + 1];   /* POOL SET, POOL DEL */
	unsigned pool_keys;                /* CB_POOL_SET_* given */
	unsigned force;                    /* POOL DEL: 1 = force */
	uint32_t limit;                    /* 0..65535 */
	uint32_t share;                    /* 1..100 percent */
	uint32_t window_s;                 /* 1..86400 */
	uint32_t observed;                 /* 0..65535 */
	uint32_t hold_max_s;               /* 1..86400, global pools */
	uint32_t client;                   /* HELLO: entry index */
	uint64_t owner;                    /* HELLO: owner word */
	uint64_t launch_id;                /* UNLAUNCH */
};

/*
 * Parse one request line (without its '\n').  Returns 0, or -EINVAL
 * (malformed) / -E2BIG (too long) with a message in err.
 */
int cb_ctl_parse(const char *line, struct cb_ctl_req *req, char *err,
    size_t errlen);

/* 1 if name is a valid pool name: [A-Za-z0-9._-]{1,31}. */
int cb_pool_name_valid(const char *name);

/* 1 if id is a valid worker id: [A-Za-z0-9._:@-]{1,63}. */
int cb_worker_id_valid(const char *id);

/* "ready" / "not_ready" / "draining"; NULL if unknown. */
const char *cb_worker_state_name(uint32_t state);
/* enum cb_worker_state from its name, or 0. */
uint32_t cb_worker_state_parse(const char *name);

/* "EINVAL" etc. for an errno (either sign); "EIO" if unknown.  These
 * two are in errname.c, part of libcapbroker too. */
const char *cb_errno_name(int err);
/* The errno named by name (positive), or EIO if unknown. */
int cb_errno_parse(const char *name);

#endif /* CB_PROTO_H */
