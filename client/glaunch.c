/*
 * glaunch.c - launches of a global pool (broker/cluster.h): exact across
 * the hosts of a cluster, so each is an etcd transaction, which the
 * broker runs for us.  cb_reserve(CB_LAUNCH) on such a pool sends
 *
 *   LAUNCH POOL OBSERVED      -> OK 0 id=ID window_ms=MS
 *                                ERR EAGAIN retry_after_ms=MS ...
 *
 * over a connection of its own to the control socket, and cb_release of
 * its ticket sends UNLAUNCH POOL ID (-> OK 0 released, or ERR ESTALE).
 * One round trip to the broker and one or more to etcd: the fleet cap's
 * launches are rare and slow; holds never come here.  The ticket:
 * opaque[0] = TICKET_GLAUNCH | pool << 8, opaque[1] = the launch's id.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "handle.h"
#include "lane.h"
#include "proto.h"
#include "snapshot.h"

#define ANSWER_MS 10000      /* etcd may fail over between members */

int cb_handle_pool_global(const cb_client *c, int pool)
{
	const struct cb_pool_conf *conf = cb_seg_record(c->state, CB_RS_POOLS,
	    0, (uint32_t)pool);

	/* Relaxed: a global pool stays global while it exists; a pool
	 * made global a moment ago may still take one local launch. */
	return pool > 0 && pool < CB_MAX_POOLS && atomic_load_explicit(
	    &conf->share_deadline_ns, memory_order_relaxed) != 0;
}

/* Send line and read one answer line into buf (without the '\n').
 * Returns 0, or -ENOTCONN (no broker answering), -ETIMEDOUT. */
static int ask(cb_client *c, const char *line, char *buf, size_t len)
{
	uint64_t deadline = cb_monotonic_ns() + ANSWER_MS * 1000000ull;
	size_t got = 0;
	int fd, r = -ETIMEDOUT;

	fd = cb_handle_dial(c, line);
	if (fd < 0)
		return -ENOTCONN;
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		uint64_t now = cb_monotonic_ns();
		ssize_t k;

		if (now >= deadline ||
		    poll(&pfd, 1, (int)((deadline - now) / 1000000u) + 1) <= 0)
			break;
		k = recv(fd, buf + got, len - 1 - got, 0);
		if (k <= 0) {
			r = -ENOTCONN;
			break;
		}
		got += (size_t)k;
		if (memchr(buf, '\n', got) != NULL) {
			*(char *)memchr(buf, '\n', got) = '\0';
			r = 0;
			break;
		}
		if (got == len - 1) {
			r = -ENOTCONN;     /* no line: not our broker */
			break;
		}
	}
	close(fd);
	return r;
}

/* "ERR NAME MESSAGE": -errno (cb_errno_parse: EIO when unknown), *msg
 * at MESSAGE. */
static int answer_err(const char *a, char *name, size_t len,
    const char **msg)
{
	size_t n;

	*msg = "";
	if (strncmp(a, "ERR ", 4) != 0)
		return -EPROTO;
	n = strcspn(a + 4, " ");
	*msg = a[4 + n] == ' ' ? a + 5 + n : "";
	if (n >= len)
		return -EIO;
	memcpy(name, a + 4, n);
	name[n] = '\0';
	return -cb_errno_parse(name);
}

static void sleep_ms(uint32_t ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

int cb_handle_global_launch(cb_client *c, const struct cb_request *req,
    cb_ticket *ticket, uint32_t *retry_after_ms)
{
	uint64_t deadline = req->timeout_ms > 0 ? cb_monotonic_ns() +
	    (uint64_t)req->timeout_ms * 1000000u : 0;
	struct cb_pool_def def;
	char line[96], a[256], name[24];
	unsigned long long id;
	unsigned window;
	const char *msg;
	int r;

	if (cb_snapshot_pool(c->state, req->pool, &def) < 0)
		return cb_handle_fail(c, -ENOENT, "no pool %d", req->pool);
	snprintf(line, sizeof(line), "LAUNCH %s %u\n", def.name,
	    req->observed);
	for (;;) {
		uint32_t retry = 100;

		r = ask(c, line, a, sizeof(a));
		if (r == 0 && sscanf(a, "OK 0 id=%16llx window_ms=%u", &id,
		    &window) == 2) {
			ticket->opaque[0] = (uint64_t)TICKET_GLAUNCH |
			    (uint64_t)req->pool << 8;
			ticket->opaque[1] = id;
			return 0;
		}
		if (r == 0) {
			r = answer_err(a, name, sizeof(name), &msg);
			if (r == -EAGAIN)
				sscanf(msg, "retry_after_ms=%u", &retry);
			else
				return cb_handle_fail(c, r, "pool %s: launch "
				    "refused by the broker: %s", def.name, msg);
		} else {
			r = -EAGAIN;
			msg = "the broker does not answer (a global pool's "
			    "launches go through it)";
		}
		if (req->timeout_ms == 0 || (deadline != 0 &&
		    cb_monotonic_ns() + (uint64_t)retry * 1000000u >=
		    deadline)) {
			if (retry_after_ms != NULL)
				*retry_after_ms = retry;
			return cb_handle_fail(c, req->timeout_ms == 0 ?
			    -EAGAIN : -ETIMEDOUT, "pool %s: %s", def.name,
			    msg);
		}
		sleep_ms(retry);
	}
}

int cb_handle_global_release(cb_client *c, const cb_ticket *ticket)
{
	int pool = (int)((ticket->opaque[0] >> 8) & 0xff);
	struct cb_pool_def def;
	char line[96], a[256], name[24];
	const char *msg;
	int r;

	if (pool <= 0 || pool >= CB_MAX_POOLS ||
	    cb_snapshot_pool(c->state, pool, &def) < 0)
		return cb_handle_fail(c, -EINVAL, "not a ticket of a pool "
		    "that exists");
	snprintf(line, sizeof(line), "UNLAUNCH %s %016llx\n", def.name,
	    (unsigned long long)ticket->opaque[1]);
	r = ask(c, line, a, sizeof(a));
	if (r < 0)
		return cb_handle_fail(c, -EAGAIN, "pool %s: the broker does "
		    "not answer; the launch ages out with its window",
		    def.name);
	if (strncmp(a, "OK ", 3) == 0)
		return 0;
	r = answer_err(a, name, sizeof(name), &msg);
	return cb_handle_fail(c, r, "pool %s: %s", def.name, msg);
}
