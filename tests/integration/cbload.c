/*
 * cbload - a fleet of clients that must live through a kill -9 and
 * restart of the broker (t_restart.sh).
 *
 *   cbload NAME run MAP HP LP QP
 *	The fleet (run it in the background).  Creates MAP (a file every
 *	other subcommand maps: the clients' own bookkeeping and the
 *	commands), forks the clients below and a validator, prints
 *	"ready" once every long-lived hold and launch is taken, and then
 *	serves commands until "cmd stop".  Exit 0 iff no client saw an
 *	unexpected error, the validator saw no violation and sampled
 *	enough; one summary line either way.
 *   cbload NAME cmd MAP pause|resume|newcomer|qlaunch|release|stop
 *	pause     loopers stop at their next checkpoint (some holding a
 *	          unit, some not) and stay there; waits until all did
 *	resume    they go on
 *	newcomer  the fleet forks a new client that cb_opens and takes a
 *	          hold (HP) and a launch (LP), while the broker is down
 *	qlaunch   the fleet forks the expiry watcher: it takes one launch
 *	          in QP (a short window), notes its deadline and watches
 *	          the pool until it expires ("cbload expiry" has the verdict)
 *	release   every long-lived holder releases its tickets; each must
 *	          return 0
 *	stop      every client stops; the fleet exits with the verdict
 *   cbload NAME kill MAP ROLE
 *	Mark client ROLE dying (the validator stops counting it), SIGKILL
 *	it and wait until the fleet has reaped it.  Prints its pid.
 *   cbload NAME check MAP TIMEOUT_MS
 *	With the loopers paused: the pools' counters against the clients'
 *	own bookkeeping.  HP held must equal the holds the live clients
 *	took and have not released; LP launching must equal the launch
 *	tickets not yet released.  A counter below that is a loss (fails
 *	at once); above it, the dead clients' units are not reclaimed yet
 *	(polled until TIMEOUT_MS).  Then each live client's entry in the
 *	client table must record exactly its holds, no dead client may
 *	still own an entry, and every saved launch ticket's entry must
 *	still be LIVE with its original deadline.  Prints
 *	"hp held=H lp launching=L clients=N".
 *   cbload NAME progress MAP MS
 *	Loop admissions and releases over MS ms (fails if none).
 *   cbload NAME expiry MAP TIMEOUT_MS
 *	The expiry watcher's verdict (waits for it).
 *   cbload NAME release-launches MAP
 *	Release every saved launch ticket from this (another) process;
 *	each must return 0.
 *
 * Clients (roles):
 *   holder-0, holder-1      take 2 and 1 holds in HP and keep them
 *   victim-down             1 hold, killed while the broker is down
 *   victim-after            2 holds, killed after the restart
 *   looper-0..3             reserve / hold 0-2 ms / release in HP, in a
 *                           loop; odd ones fail fast, even ones wait up
 *                           to 50 ms; 0 and 1 pause holding a unit
 *   llooper                 the same with launches in LP
 *   launcher                takes 3 launches in LP, saves the tickets
 *   newcomer, qwatch        forked on command (above)
 *
 * Bookkeeping: each client owns one word in MAP: holds in HP (bits
 * 0-7), launches in LP (bits 8-15), DYING (bit 16), a version above.
 * A client adds a unit after cb_reserve returned it and removes it
 * before calling cb_release, so the words never count more than the
 * pool admitted.  Every change bumps the version, so a value never
 * repeats and the validator's double collect (read every word twice,
 * keep the snapshot only if nothing changed) is an atomic snapshot.
 * The validator checks, for every sample, the whole run long (the
 * broker up, dead and restarted): every pool's usage word <= its
 * limit, and the holds the live clients count <= HP's limit.  A client
 * is marked DYING before it is killed and is not counted from then on:
 * the broker can only reclaim its units after it died.
 *
 * Every process here dies with the fleet (PR_SET_PDEATHSIG), and the
 * fleet gives up after WATCHDOG_S.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "abi.h"
#include "capbroker.h"
#include "cbtest.h"
#include "client_internal.h"
#include "reserve.h"
#include "segment.h"
#include "slots.h"
#include "snapshot.h"

#define MAX_CL 16
#define MAX_LAUNCH 16
#define MAX_HOLDS 4
#define ROLE_MAX 16
#define MSG_MAX 512
#define WATCHDOG_S 90
#define MIN_SNAPSHOTS 1000
#define MAP_MAGIC 0x64616f6c62636263ull

#define W_HOLD 1ull
#define W_LAUNCH (1ull << 8)
#define W_DYING (1ull << 16)
#define W_VER (1ull << 17)
#define W_HOLDS(w) ((unsigned)((w) & 0xff))
#define W_LAUNCHES(w) ((unsigned)(((w) >> 8) & 0xff))

enum kind { K_HOLDER = 1, K_LOOPER, K_LLOOPER, K_LAUNCHER, K_NEWCOMER,
    K_QWATCH };
enum state { S_NONE = 0, S_STARTING, S_RUNNING, S_PAUSED, S_RELEASED,
    S_DONE, S_FAILED };
enum { P_HP = 0, P_LP = 1, P_QP = 2, NPOOLS = 3 };
enum { CMD_NEWCOMER = 1, CMD_QLAUNCH = 2 };

struct client {
	CB_LINE_ALIGNED _Atomic uint64_t word;
	_Atomic int pid;
	_Atomic int state;
	_Atomic int reaped;
	_Atomic int status;             /* wait status once reaped */
	int kind;
	int nholds;                     /* holder: holds to take */
	int fast;                       /* looper: fail fast */
	int pause_holding;              /* looper: pause with a unit */
	char role[ROLE_MAX];
	_Atomic uint64_t admissions, releases, refusals;
	_Atomic int release_rc[MAX_HOLDS];
	_Atomic int nreleased;
	_Atomic int broker_down_at_open; /* newcomer: cb_broker_check != 0 */
};

struct launch {
	_Atomic int state;              /* 0 empty, 1 taken, 2 released */
	int pool;                       /* P_LP */
	char ticket[CB_TICKET_STRLEN];
	uint64_t live;                  /* the entry's LIVE word */
	uint32_t entry;
	uint64_t deadline_ns;           /* as the entry had it when taken */
	char by[ROLE_MAX];
};

struct shared {
	uint64_t magic;
	int fleet_pid;
	char name[CB_NAME_MAX + 1];
	char pool_name[NPOOLS][CB_POOL_NAME_MAX + 1];
	int pool[NPOOLS];
	uint32_t limit[NPOOLS];
	int nclients;
	struct client c[MAX_CL];
	CB_LINE_ALIGNED _Atomic int pause_req;
	_Atomic int release_req;
	_Atomic int stop_req;
	_Atomic int stop_validator;
	_Atomic int cmd, cmd_seq, ack_seq, cmd_rc;
	char cmd_msg[MSG_MAX];
	_Atomic int nlaunches;
	struct launch l[MAX_LAUNCH];
	/* validator */
	CB_LINE_ALIGNED _Atomic uint64_t samples, snapshots, torn;
	_Atomic uint32_t max_usage[NPOOLS], max_inside;
	_Atomic uint32_t violations;
	_Atomic int msg_taken;
	char msg[MSG_MAX];
	/* client errors */
	_Atomic uint32_t errors;
	_Atomic int err_taken;
	char err[MSG_MAX];
	/* expiry watcher */
	_Atomic int q_state;            /* 0 none, 1 watching, 2 ok, 3 bad */
	char q_msg[MSG_MAX];
};

static struct shared *sh;
static const char *name;

/* ---- helpers ---- */

static void sleep_us(long us)
{
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static uint64_t rng_state;

static uint32_t rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (uint32_t)((rng_state * 0x2545f4914f6cdd1dull) >> 32);
}

static void keep_msg(_Atomic int *taken, char *dst, const char *src)
{
	int expected = 0;

	if (atomic_compare_exchange_strong(taken, &expected, 1)) {
		size_t n = strnlen(src, MSG_MAX - 1);

		memcpy(dst, src, n);
		dst[n] = '\0';
	}
}

__attribute__((format(printf, 1, 2)))
static void violation(const char *fmt, ...)
{
	char buf[MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (atomic_fetch_add(&sh->violations, 1) < 5)
		fprintf(stderr, "cbload: VIOLATION: %s\n", buf);
	keep_msg(&sh->msg_taken, sh->msg, buf);
}

/* A client met something it must not: record it and leave. */
__attribute__((format(printf, 2, 3), noreturn))
static void client_fail(struct client *c, const char *fmt, ...)
{
	char buf[MSG_MAX], line[MSG_MAX + 64];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	snprintf(line, sizeof(line), "%s (pid %d): %.400s", c->role,
	    (int)getpid(), buf);
	if (atomic_fetch_add(&sh->errors, 1) < 5)
		fprintf(stderr, "cbload: ERROR: %s\n", line);
	keep_msg(&sh->err_taken, sh->err, line);
	atomic_store(&c->state, S_FAILED);
	_exit(3);
}

static void map_open(const char *path, int create)
{
	int fd = open(path, create ? O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC :
	    O_RDWR | O_CLOEXEC, 0600);

	if (fd < 0 || (create && ftruncate(fd, sizeof(*sh)) < 0)) {
		fprintf(stderr, "cbload: %s: %s\n", path, strerror(errno));
		exit(2);
	}
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED, fd,
	    0);
	close(fd);
	if (sh == MAP_FAILED) {
		fprintf(stderr, "cbload: mmap %s: %s\n", path,
		    strerror(errno));
		exit(2);
	}
	if (!create && sh->magic != MAP_MAGIC) {
		fprintf(stderr, "cbload: %s is not a cbload map\n", path);
		exit(2);
	}
}

static struct client *by_role(const char *role)
{
	for (int i = 0; i < sh->nclients; i++)
		if (strcmp(sh->c[i].role, role) == 0)
			return &sh->c[i];
	fprintf(stderr, "cbload: no client '%s'\n", role);
	exit(2);
}

/* Started, not marked dying, not reaped, not finished. */
static int live(const struct client *c)
{
	int st = atomic_load(&c->state);

	return atomic_load(&c->pid) > 0 && !atomic_load(&c->reaped) &&
	    !(atomic_load(&c->word) & W_DYING) && st != S_DONE &&
	    st != S_FAILED && st != S_NONE;
}

static int dead(const struct client *c)
{
	return atomic_load(&c->pid) > 0 && atomic_load(&c->reaped);
}

static uint64_t bump(struct client *c, int64_t delta)
{
	return atomic_fetch_add(&c->word, W_VER + (uint64_t)delta) + W_VER +
	    (uint64_t)delta;
}

static const struct cb_pool_slot *usage_of(cb_client *h, int p)
{
	return cb_slots_record(cb_client_slots(h), CB_RL_POOLS,
	    (uint32_t)sh->pool[p]);
}

static const struct cb_launch_slot *launch_entry(cb_client *h, uint32_t e)
{
	return e < CB_MAX_LAUNCHES ? cb_slots_record(cb_client_slots(h),
	    CB_RL_LAUNCHES, e) : NULL;
}

static const struct cb_client_slot *client_entry(cb_client *h, uint32_t i)
{
	return cb_slots_record(cb_client_slots(h), CB_RL_CLIENTS, i);
}

/* What entry i records of pool p: its own H and its lanes' (holds go
 * through the thread's lane, lib/reserve.h). */
static uint64_t entry_holds(cb_client *h, uint32_t i, int p)
{
	return cb_slots_client_holds(cb_client_slots(h), i,
	    atomic_load(&client_entry(h, i)->owner), p);
}

static long entry_of_pid(cb_client *h, int pid)
{
	for (uint32_t i = 0; i < CB_MAX_CLIENTS; i++)
		if (CB_OWNER_PID(atomic_load(&client_entry(h, i)->owner)) ==
		    (uint32_t)pid)
			return i;
	return -1;
}

static cb_client *open_rdonly(void)
{
	cb_client *h;
	int r = cb_open(&h, name, CB_OPEN_RDONLY);

	if (r < 0) {
		fprintf(stderr, "cbload: cb_open %s: %s\n", name,
		    cb_open_errmsg());
		exit(2);
	}
	return h;
}

/* ---- clients ---- */

static cb_client *client_open(struct client *c)
{
	cb_client *h;
	int r;

	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 ||
	    getppid() != sh->fleet_pid)
		_exit(70);
	rng_state = cb_monotonic_ns() ^ ((uint64_t)getpid() << 32);
	r = cb_open(&h, name, 0);
	if (r < 0)
		client_fail(c, "cb_open: %s (%s)", errname(r),
		    cb_open_errmsg());
	for (int p = 0; p < NPOOLS; p++) {
		r = cb_pool(h, sh->pool_name[p]);
		if (r != sh->pool[p])
			client_fail(c, "cb_pool(%s) = %d, expected %d",
			    sh->pool_name[p], r, sh->pool[p]);
	}
	return h;
}

static int reserve(cb_client *h, int p, int kind, int timeout_ms,
    cb_ticket *t)
{
	struct cb_request req = {
		.pool = sh->pool[p], .kind = kind, .observed = 0,
		.timeout_ms = timeout_ms, .priority = 0,
	};
	uint32_t retry = 0;

	return cb_reserve(h, &req, t, &retry);
}

/* Save a launch ticket (and where its entry is) for later checks. */
static void save_launch(cb_client *h, struct client *c, int p,
    const cb_ticket *t)
{
	int i = atomic_fetch_add(&sh->nlaunches, 1);
	struct launch *l;
	const struct cb_launch_slot *ls;

	if (i >= MAX_LAUNCH)
		client_fail(c, "launch table of the map is full");
	l = &sh->l[i];
	l->pool = p;
	l->live = t->opaque[1];
	l->entry = (uint32_t)(t->opaque[0] >> 32);
	ls = launch_entry(h, l->entry);
	if (ls == NULL || atomic_load(&ls->word) != l->live)
		client_fail(c, "launch entry %u does not hold the ticket's "
		    "word", l->entry);
	l->deadline_ns = atomic_load(&ls->deadline_ns);
	snprintf(l->by, sizeof(l->by), "%s", c->role);
	if (cb_ticket_format(t, l->ticket, sizeof(l->ticket)) < 0)
		client_fail(c, "cb_ticket_format failed");
	atomic_store(&l->state, 1);
}

/* Long-lived holds: take them, keep them until "release" or "stop". */
static void hold_until_told(cb_client *h, struct client *c,
    cb_ticket *t, int n)
{
	atomic_store(&c->state, S_RUNNING);
	while (!atomic_load(&sh->release_req) && !atomic_load(&sh->stop_req))
		sleep_us(2000);
	if (atomic_load(&sh->release_req) && !atomic_load(&sh->stop_req)) {
		for (int k = 0; k < n; k++) {
			bump(c, -(int64_t)W_HOLD);
			atomic_store(&c->release_rc[k], cb_release(h, &t[k]));
			atomic_fetch_add(&c->nreleased, 1);
		}
		atomic_store(&c->state, S_RELEASED);
		while (!atomic_load(&sh->stop_req))
			sleep_us(2000);
	} else {
		for (int k = 0; k < n; k++)
			bump(c, -(int64_t)W_HOLD);
	}
	cb_close(h);
}

static void holder(struct client *c)
{
	cb_client *h = client_open(c);
	cb_ticket t[MAX_HOLDS];

	for (int k = 0; k < c->nholds; k++) {
		int r = reserve(h, P_HP, CB_HOLD, 5000, &t[k]);

		if (r < 0)
			client_fail(c, "hold %d: %s (%s)", k, errname(r),
			    cb_errmsg(h));
		bump(c, W_HOLD);
	}
	hold_until_told(h, c, t, c->nholds);
}

static void newcomer(struct client *c)
{
	cb_client *h = client_open(c);
	cb_ticket t, lt;
	int r;

	atomic_store(&c->broker_down_at_open, cb_broker_check(h) != 0);
	r = reserve(h, P_HP, CB_HOLD, 5000, &t);
	if (r < 0)
		client_fail(c, "hold: %s (%s)", errname(r), cb_errmsg(h));
	bump(c, W_HOLD);
	r = reserve(h, P_LP, CB_LAUNCH, 5000, &lt);
	if (r < 0)
		client_fail(c, "launch: %s (%s)", errname(r), cb_errmsg(h));
	save_launch(h, c, P_LP, &lt);
	hold_until_told(h, c, &t, 1);
}

static void launcher(struct client *c)
{
	cb_client *h = client_open(c);

	for (int k = 0; k < 3; k++) {
		cb_ticket t;
		int r = reserve(h, P_LP, CB_LAUNCH, 0, &t);

		if (r < 0)
			client_fail(c, "launch %d: %s (%s)", k, errname(r),
			    cb_errmsg(h));
		save_launch(h, c, P_LP, &t);
	}
	atomic_store(&c->state, S_RUNNING);
	while (!atomic_load(&sh->stop_req))
		sleep_us(2000);
	cb_close(h);      /* the launches stay: they are the pool's */
}

/* Stay at a checkpoint while a pause is requested. */
static void checkpoint(struct client *c)
{
	if (!atomic_load(&sh->pause_req))
		return;
	atomic_store(&c->state, S_PAUSED);
	while (atomic_load(&sh->pause_req) && !atomic_load(&sh->stop_req))
		sleep_us(500);
	atomic_store(&c->state, S_RUNNING);
}

/* Loopers: reserve, hold a moment, release, all through the restart. */
static void looper(struct client *c)
{
	cb_client *h = client_open(c);
	int p = c->kind == K_LLOOPER ? P_LP : P_HP;
	int kind = c->kind == K_LLOOPER ? CB_LAUNCH : CB_HOLD;
	uint64_t unit = c->kind == K_LLOOPER ? W_LAUNCH : W_HOLD;
	int tries = 0;

	atomic_store(&c->state, S_RUNNING);
	while (!atomic_load(&sh->stop_req)) {
		cb_ticket t;
		int r;

		if (atomic_load(&sh->pause_req)) {
			/* Some pause with a unit: give them a few tries. */
			if (!c->pause_holding || ++tries > 50) {
				checkpoint(c);
				tries = 0;
				continue;
			}
		} else {
			tries = 0;
		}
		r = reserve(h, p, kind, c->fast ? 0 : 50, &t);
		if (r == -EAGAIN || r == -ETIMEDOUT) {
			atomic_fetch_add_explicit(&c->refusals, 1,
			    memory_order_relaxed);
			if (c->fast)
				sleep_us(300);
			continue;
		}
		if (r < 0)
			client_fail(c, "cb_reserve: %s (%s)", errname(r),
			    cb_errmsg(h));
		bump(c, (int64_t)unit);
		atomic_fetch_add_explicit(&c->admissions, 1,
		    memory_order_relaxed);
		if (c->pause_holding)
			checkpoint(c);
		if (rng() % 3)
			sleep_us(rng() % 2000);
		bump(c, -(int64_t)unit);
		r = cb_release(h, &t);
		if (r < 0)
			client_fail(c, "cb_release of a live %s: %s (%s)",
			    kind == CB_HOLD ? "hold" : "launch", errname(r),
			    cb_errmsg(h));
		atomic_fetch_add_explicit(&c->releases, 1,
		    memory_order_relaxed);
	}
	cb_close(h);
}

__attribute__((format(printf, 2, 3)))
static void q_verdict(int ok, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(sh->q_msg, sizeof(sh->q_msg), fmt, ap);
	va_end(ap);
	atomic_store(&sh->q_state, ok ? 2 : 3);
}

static uint64_t epoch_of(cb_client *h)
{
	struct cb_ident id;

	return cb_snapshot_ident(cb_client_state(h), &id) == 0 ? id.epoch : 0;
}

/*
 * The expiry watcher: one launch in QP, taken before the broker dies,
 * must expire at its own deadline, not a window after the restart.
 */
static void qwatch(struct client *c)
{
	cb_client *h = client_open(c);
	const struct cb_pool_slot *ps = usage_of(h, P_QP);
	const struct cb_launch_slot *ls;
	struct cb_pool_info pi;
	uint64_t taken, deadline, restart = 0, expired = 0, epoch0, e, bound;
	uint64_t fresh, live, late_deadline = 0;
	uint32_t window;
	cb_ticket t;
	int r;

	epoch0 = epoch_of(h);
	r = reserve(h, P_QP, CB_LAUNCH, 0, &t);
	taken = cb_monotonic_ns();
	if (r < 0)
		client_fail(c, "launch: %s (%s)", errname(r), cb_errmsg(h));
	ls = launch_entry(h, (uint32_t)(t.opaque[0] >> 32));
	live = t.opaque[1];
	if (ls == NULL || atomic_load(&ls->word) != live)
		client_fail(c, "launch entry does not hold the ticket");
	deadline = atomic_load(&ls->deadline_ns);
	if (cb_pool_info(h, sh->pool[P_QP], &pi) < 0)
		client_fail(c, "cb_pool_info: %s", cb_errmsg(h));
	window = pi.window_ms;
	atomic_store(&sh->q_state, 1);
	atomic_store(&c->state, S_RUNNING);

	for (;;) {
		uint64_t now = cb_monotonic_ns(), u;

		e = epoch_of(h);
		if (restart == 0 && e > epoch0 && cb_broker_check(h) == 0)
			restart = now;
		if (atomic_load(&ls->word) == live)
			late_deadline = atomic_load(&ls->deadline_ns);
		u = atomic_load(&ps->usage);
		if (CB_USAGE_LAUNCHING(u) == 0 &&
		    atomic_load(&ls->word) != live) {
			expired = now;
			break;
		}
		if (now > deadline + 20000000000ull)
			break;
		sleep_us(2000);
	}
	if (expired == 0) {
		q_verdict(0, "the launch taken before the kill never expired "
		    "(20 s past its deadline)");
		goto out;
	}
	if (restart == 0) {
		q_verdict(0, "the launch expired, but no restarted broker "
		    "(epoch > %llu) was ever seen alive",
		    (unsigned long long)epoch0);
		goto out;
	}
	/* A fresh window from the restart would end here. */
	fresh = restart + (uint64_t)window * 1000000u;
	bound = (restart <= deadline ? deadline : restart) + 1500000000ull;
	if (bound > fresh - 250000000ull)
		bound = fresh - 250000000ull;
	if (late_deadline != deadline) {
		q_verdict(0, "the launch's deadline changed across the "
		    "restart: %+lld ms", (long long)(late_deadline -
		    deadline) / 1000000);
	} else if (expired < deadline) {
		q_verdict(0, "the launch expired %lld ms before its deadline",
		    (long long)(deadline - expired) / 1000000);
	} else if (expired > bound) {
		q_verdict(0, "the launch expired %lld ms after its deadline "
		    "(%lld ms after the restart; window %u ms): a fresh "
		    "window, not the original deadline",
		    (long long)(expired - deadline) / 1000000,
		    (long long)(expired - restart) / 1000000, window);
	} else if ((r = cb_release(h, &t)) != -ESTALE) {
		q_verdict(0, "release of the expired launch: %s, expected "
		    "ESTALE", errname(r));
	} else {
		q_verdict(1, "launch taken %lld ms before the restart, window "
		    "%u ms: expired %lld ms after its original deadline "
		    "(%lld ms after the restart; a fresh window would end "
		    "%lld ms after the restart); deadline unchanged; release "
		    "ESTALE", (long long)(restart - taken) / 1000000, window,
		    (long long)(expired - deadline) / 1000000,
		    (long long)(expired - restart) / 1000000,
		    (long long)(fresh - restart) / 1000000);
	}
out:
	atomic_store(&c->state, S_RUNNING);
	while (!atomic_load(&sh->stop_req))
		sleep_us(2000);
	cb_close(h);
}

/* ---- the validator ---- */

static void max32(_Atomic uint32_t *p, uint32_t v)
{
	uint32_t old = atomic_load(p);

	while (v > old && !atomic_compare_exchange_weak(p, &old, v))
		;
}

static void validator(void)
{
	uint64_t w1[MAX_CL], w2[MAX_CL];
	cb_client *h;

	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 ||
	    getppid() != sh->fleet_pid)
		_exit(70);
	h = open_rdonly();
	while (!atomic_load(&sh->stop_validator)) {
		uint32_t inside = 0;
		int same = 1;

		for (int p = 0; p < NPOOLS; p++) {
			uint64_t u = atomic_load(&usage_of(h, p)->usage);
			uint64_t used = (uint64_t)CB_USAGE_HELD(u) +
			    CB_USAGE_LAUNCHING(u);

			if (used > sh->limit[p])
				violation("pool %s: usage word %#llx: held %u "
				    "+ launching %u > limit %u",
				    sh->pool_name[p], (unsigned long long)u,
				    CB_USAGE_HELD(u), CB_USAGE_LAUNCHING(u),
				    sh->limit[p]);
			max32(&sh->max_usage[p], (uint32_t)used);
		}
		for (int i = 0; i < MAX_CL; i++)
			w1[i] = atomic_load(&sh->c[i].word);
		for (int i = 0; i < MAX_CL; i++) {
			w2[i] = atomic_load(&sh->c[i].word);
			same &= w1[i] == w2[i];
		}
		if (same) {
			for (int i = 0; i < MAX_CL; i++)
				if (!(w1[i] & W_DYING))
					inside += W_HOLDS(w1[i]);
			if (inside > sh->limit[P_HP])
				violation("%u holds in pool %s are inside "
				    "their live holders at once: limit %u",
				    inside, sh->pool_name[P_HP],
				    sh->limit[P_HP]);
			max32(&sh->max_inside, inside);
			atomic_fetch_add_explicit(&sh->snapshots, 1,
			    memory_order_relaxed);
		} else {
			atomic_fetch_add_explicit(&sh->torn, 1,
			    memory_order_relaxed);
		}
		atomic_fetch_add_explicit(&sh->samples, 1,
		    memory_order_relaxed);
		sleep_us(50);
	}
	cb_close(h);
	_exit(0);
}

/* ---- the fleet ---- */

static pid_t validator_pid;

static void kill_all(void)
{
	for (int i = 0; i < sh->nclients; i++)
		if (sh->c[i].pid > 0 && !sh->c[i].reaped)
			kill(sh->c[i].pid, SIGKILL);
	if (validator_pid > 0)
		kill(validator_pid, SIGKILL);
}

static void on_alarm(int sig)
{
	static const char msg[] = "cbload: watchdog: the fleet ran far too "
	    "long\n";

	(void)sig;
	kill_all();
	if (write(2, msg, sizeof(msg) - 1) < 0)
		_exit(3);
	_exit(3);
}

static void on_term(int sig)
{
	(void)sig;
	kill_all();
	_exit(4);
}

static struct client *add(const char *role, int kind)
{
	struct client *c = &sh->c[sh->nclients++];

	snprintf(c->role, sizeof(c->role), "%s", role);
	c->kind = kind;
	return c;
}

static int spawn(struct client *c)
{
	pid_t pid;

	atomic_store(&c->state, S_STARTING);
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		perror("cbload: fork");
		return -1;
	}
	if (pid == 0) {
		switch (c->kind) {
		case K_HOLDER: holder(c); break;
		case K_LOOPER:
		case K_LLOOPER: looper(c); break;
		case K_LAUNCHER: launcher(c); break;
		case K_NEWCOMER: newcomer(c); break;
		case K_QWATCH: qwatch(c); break;
		}
		atomic_store(&c->state, S_DONE);
		_exit(0);
	}
	atomic_store(&c->pid, pid);
	return 0;
}

/* Reap whatever exited; note unexpected deaths. */
static void reap(void)
{
	int st;
	pid_t pid;

	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		if (pid == validator_pid) {
			validator_pid = -pid;
			if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
				violation("validator ended with status %#x",
				    st);
			continue;
		}
		for (int i = 0; i < sh->nclients; i++) {
			struct client *c = &sh->c[i];

			if (c->pid != pid)
				continue;
			atomic_store(&c->status, st);
			atomic_store(&c->reaped, 1);
			if (!(atomic_load(&c->word) & W_DYING) &&
			    (!WIFEXITED(st) || WEXITSTATUS(st) != 0) &&
			    c->state != S_FAILED) {
				char buf[MSG_MAX];

				snprintf(buf, sizeof(buf), "%s (pid %d) died "
				    "unexpectedly (status %#x)", c->role,
				    (int)pid, st);
				atomic_fetch_add(&sh->errors, 1);
				keep_msg(&sh->err_taken, sh->err, buf);
			}
		}
	}
}

/* Wait (reaping) until c is running, or failed. */
static int wait_running(struct client *c, int ms)
{
	uint64_t end = cb_monotonic_ns() + (uint64_t)ms * 1000000u;

	while (cb_monotonic_ns() < end) {
		int st = atomic_load(&c->state);

		reap();
		if (st == S_RUNNING || st == S_PAUSED)
			return 0;
		if (st == S_FAILED || c->reaped)
			return -1;
		sleep_us(1000);
	}
	return -1;
}

/* Start every client of kind a or b and wait until each runs. */
static int start_kinds(int a, int b)
{
	for (int i = 0; i < sh->nclients; i++) {
		struct client *c = &sh->c[i];

		if ((int)c->kind != a && (int)c->kind != b)
			continue;
		if (spawn(c) < 0 || wait_running(c, 10000) < 0) {
			fprintf(stderr, "cbload: %s did not start: %s\n",
			    c->role, sh->err);
			return -1;
		}
	}
	return 0;
}

static void ack(int rc, const char *fmt, ...) __attribute__((format(printf,
    2, 3)));

static void ack(int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(sh->cmd_msg, sizeof(sh->cmd_msg), fmt, ap);
	va_end(ap);
	atomic_store(&sh->cmd_rc, rc);
	atomic_store(&sh->ack_seq, atomic_load(&sh->cmd_seq));
}

static void serve(int cmd)
{
	struct client *c;

	switch (cmd) {
	case CMD_NEWCOMER:
		c = by_role("newcomer");
		if (c->pid > 0 || spawn(c) < 0 || wait_running(c, 10000) < 0) {
			ack(1, "newcomer did not start: %s", sh->err);
			return;
		}
		ack(0, "newcomer pid %d: cb_open (broker %s), a hold in %s "
		    "and a launch in %s", c->pid, c->broker_down_at_open ?
		    "down" : "ALIVE", sh->pool_name[P_HP],
		    sh->pool_name[P_LP]);
		return;
	case CMD_QLAUNCH:
		c = by_role("qwatch");
		if (c->pid > 0 || spawn(c) < 0 || wait_running(c, 5000) < 0) {
			ack(1, "expiry watcher did not start: %s", sh->err);
			return;
		}
		ack(0, "qwatch pid %d: one launch in %s", c->pid,
		    sh->pool_name[P_QP]);
		return;
	}
	ack(1, "unknown command %d", cmd);
}

static int fleet(const char *map, char **pools)
{
	struct client *c;
	cb_client *h;
	char role[ROLE_MAX];
	int bad = 0, st;
	uint64_t adm = 0, rel = 0, ref = 0;

	map_open(map, 1);
	sh->magic = MAP_MAGIC;
	sh->fleet_pid = getpid();
	snprintf(sh->name, sizeof(sh->name), "%s", name);
	h = open_rdonly();
	for (int p = 0; p < NPOOLS; p++) {
		struct cb_pool_info pi;

		snprintf(sh->pool_name[p], sizeof(sh->pool_name[p]), "%s",
		    pools[p]);
		sh->pool[p] = cb_pool(h, pools[p]);
		if (sh->pool[p] < 0 || cb_pool_info(h, sh->pool[p], &pi) < 0) {
			fprintf(stderr, "cbload: pool %s: %s\n", pools[p],
			    cb_errmsg(h));
			return 2;
		}
		sh->limit[p] = pi.limit;
	}
	cb_close(h);
	if (sh->limit[P_HP] < 8 || sh->limit[P_LP] < 5 || sh->limit[P_QP] < 1) {
		fprintf(stderr, "cbload: limits %u/%u/%u too small (want >= "
		    "8, 5, 1)\n", sh->limit[P_HP], sh->limit[P_LP],
		    sh->limit[P_QP]);
		return 2;
	}

	add("holder-0", K_HOLDER)->nholds = 2;
	add("holder-1", K_HOLDER)->nholds = 1;
	add("victim-down", K_HOLDER)->nholds = 1;
	add("victim-after", K_HOLDER)->nholds = 2;
	add("launcher", K_LAUNCHER);
	for (int i = 0; i < 4; i++) {
		snprintf(role, sizeof(role), "looper-%d", i);
		c = add(role, K_LOOPER);
		c->fast = i & 1;
		c->pause_holding = i < 2;
	}
	c = add("llooper", K_LLOOPER);
	c->fast = 1;
	c->pause_holding = 1;
	add("newcomer", K_NEWCOMER);
	add("qwatch", K_QWATCH);

	signal(SIGALRM, on_alarm);
	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	alarm(WATCHDOG_S);
	fflush(NULL);
	validator_pid = fork();
	if (validator_pid < 0) {
		perror("cbload: fork");
		return 2;
	}
	if (validator_pid == 0)
		validator();
	/* The long-lived holds and launches first, then the loopers. */
	if (start_kinds(K_HOLDER, K_LAUNCHER) < 0 ||
	    start_kinds(K_LOOPER, K_LLOOPER) < 0) {
		kill_all();
		return 1;
	}
	printf("ready\n");
	fflush(stdout);

	while (!atomic_load(&sh->stop_req)) {
		int seq = atomic_load(&sh->cmd_seq);

		reap();
		if (seq != atomic_load(&sh->ack_seq))
			serve(atomic_load(&sh->cmd));
		sleep_us(1000);
	}

	/* Stop: every client, then the validator. */
	uint64_t end = cb_monotonic_ns() + 10000000000ull;
	for (;;) {
		int left = 0;

		reap();
		for (int i = 0; i < sh->nclients; i++)
			left += sh->c[i].pid > 0 && !sh->c[i].reaped;
		if (left == 0)
			break;
		if (cb_monotonic_ns() > end) {
			violation("%d clients did not stop within 10 s", left);
			kill_all();
			break;
		}
		sleep_us(1000);
	}
	atomic_store(&sh->stop_validator, 1);
	if (validator_pid > 0 && waitpid(validator_pid, &st, 0) == validator_pid &&
	    (!WIFEXITED(st) || WEXITSTATUS(st) != 0))
		violation("validator ended with status %#x", st);
	for (int i = 0; i < sh->nclients; i++) {
		c = &sh->c[i];
		if (c->kind == K_LOOPER || c->kind == K_LLOOPER) {
			adm += c->admissions;
			rel += c->releases;
			ref += c->refusals;
		}
	}
	if (atomic_load(&sh->snapshots) < MIN_SNAPSHOTS)
		violation("the validator took only %llu consistent snapshots "
		    "(want >= %d)", (unsigned long long)sh->snapshots,
		    MIN_SNAPSHOTS);
	printf("loops: admissions %llu, releases %llu, refusals %llu; "
	    "validator: samples %llu, snapshots %llu (torn %llu), max in use "
	    "%s %u/%u, %s %u/%u, %s %u/%u, max inside %u/%u; violations %u, "
	    "client errors %u\n", (unsigned long long)adm,
	    (unsigned long long)rel, (unsigned long long)ref,
	    (unsigned long long)sh->samples,
	    (unsigned long long)sh->snapshots, (unsigned long long)sh->torn,
	    sh->pool_name[P_HP], sh->max_usage[P_HP], sh->limit[P_HP],
	    sh->pool_name[P_LP], sh->max_usage[P_LP], sh->limit[P_LP],
	    sh->pool_name[P_QP], sh->max_usage[P_QP], sh->limit[P_QP],
	    sh->max_inside, sh->limit[P_HP], sh->violations, sh->errors);
	if (sh->violations) {
		printf("FAILED: first violation: %s\n", sh->msg);
		bad = 1;
	}
	if (sh->errors) {
		printf("FAILED: first client error: %s\n", sh->err);
		bad = 1;
	}
	return bad;
}

/* ---- commands from the test ---- */

static int loopers_paused(char *why, size_t len)
{
	for (int i = 0; i < sh->nclients; i++) {
		const struct client *c = &sh->c[i];

		if ((c->kind == K_LOOPER || c->kind == K_LLOOPER) && live(c) &&
		    atomic_load(&c->state) != S_PAUSED) {
			snprintf(why, len, "%s (pid %d) is not paused",
			    c->role, c->pid);
			return 0;
		}
	}
	return 1;
}

static int wait_for_fleet(int ms)
{
	uint64_t end = cb_monotonic_ns() + (uint64_t)ms * 1000000u;

	while (atomic_load(&sh->ack_seq) != atomic_load(&sh->cmd_seq)) {
		if (cb_monotonic_ns() > end) {
			printf("the fleet did not answer within %d ms\n", ms);
			return 1;
		}
		sleep_us(1000);
	}
	printf("%s\n", sh->cmd_msg);
	return atomic_load(&sh->cmd_rc);
}

static int command(const char *what)
{
	char why[128];
	uint64_t end = cb_monotonic_ns() + 5000000000ull;

	if (strcmp(what, "pause") == 0) {
		atomic_store(&sh->pause_req, 1);
		while (!loopers_paused(why, sizeof(why))) {
			if (cb_monotonic_ns() > end) {
				printf("pause: %s after 5 s\n", why);
				return 1;
			}
			sleep_us(500);
		}
		printf("paused\n");
		return 0;
	}
	if (strcmp(what, "resume") == 0) {
		atomic_store(&sh->pause_req, 0);
		printf("resumed\n");
		return 0;
	}
	if (strcmp(what, "release") == 0) {
		int bad = 0, n = 0;

		atomic_store(&sh->release_req, 1);
		for (int i = 0; i < sh->nclients; i++) {
			struct client *c = &sh->c[i];

			if ((c->kind != K_HOLDER && c->kind != K_NEWCOMER) ||
			    !live(c))
				continue;
			while (atomic_load(&c->state) != S_RELEASED &&
			    live(c)) {
				if (cb_monotonic_ns() > end) {
					printf("%s did not release within "
					    "5 s\n", c->role);
					return 1;
				}
				sleep_us(500);
			}
			int k = c->kind == K_NEWCOMER ? 1 : c->nholds;
			for (int j = 0; j < k; j++, n++) {
				int rc = atomic_load(&c->release_rc[j]);

				if (rc != 0) {
					printf("%s (pid %d): cb_release of "
					    "hold %d: %s, expected ok\n",
					    c->role, c->pid, j, errname(rc));
					bad = 1;
				}
			}
		}
		if (!bad)
			printf("released %d long-lived holds: all ok\n", n);
		return bad;
	}
	if (strcmp(what, "stop") == 0) {
		atomic_store(&sh->pause_req, 0);
		atomic_store(&sh->stop_req, 1);
		printf("stopping\n");
		return 0;
	}
	if (strcmp(what, "newcomer") == 0 || strcmp(what, "qlaunch") == 0) {
		atomic_store(&sh->cmd, strcmp(what, "newcomer") == 0 ?
		    CMD_NEWCOMER : CMD_QLAUNCH);
		atomic_fetch_add(&sh->cmd_seq, 1);
		return wait_for_fleet(15000);
	}
	fprintf(stderr, "cbload: unknown command '%s'\n", what);
	return 64;
}

static int kill_role(const char *role)
{
	struct client *c = by_role(role);
	uint64_t end = cb_monotonic_ns() + 5000000000ull;
	int pid = atomic_load(&c->pid);

	if (!live(c)) {
		printf("%s is not running\n", role);
		return 1;
	}
	/* DYING first: from now on the broker may reclaim its units. */
	atomic_fetch_or(&c->word, W_DYING);
	kill(pid, SIGKILL);
	while (!atomic_load(&c->reaped)) {
		if (cb_monotonic_ns() > end) {
			printf("%s (pid %d) was not reaped within 5 s\n", role,
			    pid);
			return 1;
		}
		sleep_us(500);
	}
	printf("%d\n", pid);
	return 0;
}

static int check(int timeout_ms)
{
	uint64_t end = cb_monotonic_ns() + (uint64_t)timeout_ms * 1000000u;
	unsigned exp_hp = 0, exp_lp = 0, nlive = 0;
	struct cb_pool_info hp, lp;
	char why[128];
	cb_client *h;
	int bad = 0;

	if (!loopers_paused(why, sizeof(why))) {
		printf("check: %s (run cmd pause first)\n", why);
		return 1;
	}
	for (int i = 0; i < sh->nclients; i++) {
		uint64_t w = atomic_load(&sh->c[i].word);

		if (!live(&sh->c[i]))
			continue;
		nlive++;
		exp_hp += W_HOLDS(w);
		exp_lp += W_LAUNCHES(w);
	}
	for (int i = 0; i < atomic_load(&sh->nlaunches) && i < MAX_LAUNCH;
	    i++)
		if (atomic_load(&sh->l[i].state) == 1 &&
		    sh->l[i].pool == P_LP)
			exp_lp++;

	h = open_rdonly();
	/* The counters: never below the bookkeeping (a loss); above it
	 * only until the dead clients' units are reclaimed. */
	for (;;) {
		if (cb_pool_info(h, sh->pool[P_HP], &hp) < 0 ||
		    cb_pool_info(h, sh->pool[P_LP], &lp) < 0) {
			printf("cb_pool_info: %s\n", cb_errmsg(h));
			return 1;
		}
		if (hp.held < exp_hp || lp.launching < exp_lp) {
			printf("LOSS: pool %s held %u, but the live clients "
			    "hold %u; pool %s launching %u, but %u launch "
			    "tickets are outstanding\n", sh->pool_name[P_HP],
			    hp.held, exp_hp, sh->pool_name[P_LP],
			    lp.launching, exp_lp);
			return 1;
		}
		if (hp.held == exp_hp && lp.launching == exp_lp &&
		    hp.launching == 0 && lp.held == 0)
			break;
		if (cb_monotonic_ns() > end) {
			printf("after %d ms: pool %s held %u launching %u "
			    "(clients hold %u), pool %s held %u launching %u "
			    "(%u launch tickets outstanding): units of dead "
			    "clients not reclaimed\n", timeout_ms,
			    sh->pool_name[P_HP], hp.held, hp.launching, exp_hp,
			    sh->pool_name[P_LP], lp.held, lp.launching, exp_lp);
			return 1;
		}
		sleep_us(5000);
	}
	/* The client table: every live client's entry records its holds;
	 * no dead client still owns one. */
	for (;;) {
		char msg[MSG_MAX] = "";

		for (int i = 0; i < sh->nclients && !msg[0]; i++) {
			const struct client *c = &sh->c[i];
			long e;

			if (live(c)) {
				uint64_t w = atomic_load(&c->word);

				e = entry_of_pid(h, c->pid);
				if (e < 0)
					snprintf(msg, sizeof(msg), "%s (pid "
					    "%d) has no client entry", c->role,
					    c->pid);
				else if (entry_holds(h, (uint32_t)e,
				    sh->pool[P_HP]) != W_HOLDS(w))
					snprintf(msg, sizeof(msg), "%s (pid "
					    "%d): entry %ld and its lanes "
					    "record %llu holds, it took %u",
					    c->role, c->pid, e,
					    (unsigned long long)entry_holds(h,
					    (uint32_t)e, sh->pool[P_HP]),
					    W_HOLDS(w));
			} else if (dead(c) && (e = entry_of_pid(h, c->pid)) >=
			    0) {
				snprintf(msg, sizeof(msg), "dead %s (pid %d) "
				    "still owns client entry %ld", c->role,
				    c->pid, e);
			}
		}
		if (!msg[0])
			break;
		if (cb_monotonic_ns() > end) {
			printf("%s\n", msg);
			return 1;
		}
		sleep_us(5000);
	}
	/* Saved launch tickets: the same entries, the same deadlines. */
	for (int i = 0; i < atomic_load(&sh->nlaunches) && i < MAX_LAUNCH;
	    i++) {
		const struct launch *l = &sh->l[i];
		const struct cb_launch_slot *ls = launch_entry(h, l->entry);

		if (atomic_load(&l->state) != 1)
			continue;
		if (ls == NULL || atomic_load(&ls->word) != l->live) {
			printf("launch %s (by %s): entry %u no longer holds "
			    "it\n", l->ticket, l->by, l->entry);
			bad = 1;
		} else if (atomic_load(&ls->deadline_ns) != l->deadline_ns) {
			printf("launch %s (by %s): deadline moved by %+lld ms\n",
			    l->ticket, l->by, ((long long)atomic_load(
			    &ls->deadline_ns) - (long long)l->deadline_ns) /
			    1000000);
			bad = 1;
		}
	}
	cb_close(h);
	if (!bad)
		printf("hp held=%u lp launching=%u clients=%u\n", hp.held,
		    lp.launching, nlive);
	return bad;
}

static int progress(int ms)
{
	uint64_t a0 = 0, r0 = 0, a1 = 0, r1 = 0;

	for (int i = 0; i < sh->nclients; i++)
		if (live(&sh->c[i]) && (sh->c[i].kind == K_LOOPER ||
		    sh->c[i].kind == K_LLOOPER)) {
			a0 += atomic_load(&sh->c[i].admissions);
			r0 += atomic_load(&sh->c[i].releases);
		}
	sleep_us((long)ms * 1000);
	for (int i = 0; i < sh->nclients; i++)
		if (live(&sh->c[i]) && (sh->c[i].kind == K_LOOPER ||
		    sh->c[i].kind == K_LLOOPER)) {
			a1 += atomic_load(&sh->c[i].admissions);
			r1 += atomic_load(&sh->c[i].releases);
		}
	printf("%llu admissions and %llu releases in %d ms\n",
	    (unsigned long long)(a1 - a0), (unsigned long long)(r1 - r0), ms);
	return a1 > a0 && r1 > r0 ? 0 : 1;
}

static int expiry(int ms)
{
	uint64_t end = cb_monotonic_ns() + (uint64_t)ms * 1000000u;

	while (atomic_load(&sh->q_state) < 2) {
		if (atomic_load(&sh->q_state) == 0) {
			printf("no expiry watcher (cmd qlaunch)\n");
			return 1;
		}
		if (cb_monotonic_ns() > end) {
			printf("no verdict within %d ms\n", ms);
			return 1;
		}
		sleep_us(2000);
	}
	printf("%s\n", sh->q_msg);
	return atomic_load(&sh->q_state) == 2 ? 0 : 1;
}

static int release_launches(void)
{
	cb_client *h;
	int r, bad = 0, n = 0;

	r = cb_open(&h, name, 0);
	if (r < 0) {
		printf("cb_open: %s\n", cb_open_errmsg());
		return 1;
	}
	for (int i = 0; i < atomic_load(&sh->nlaunches) && i < MAX_LAUNCH;
	    i++) {
		struct launch *l = &sh->l[i];
		cb_ticket t;

		if (atomic_load(&l->state) != 1)
			continue;
		r = cb_ticket_parse(l->ticket, &t);
		if (r == 0)
			r = cb_release(h, &t);
		if (r != 0) {
			printf("release of launch %s (by %s): %s, expected "
			    "ok\n", l->ticket, l->by, errname(r));
			bad = 1;
		}
		atomic_store(&l->state, 2);
		n++;
	}
	cb_close(h);
	if (!bad)
		printf("released %d launch tickets: all ok\n", n);
	return bad;
}

static int usage(void)
{
	fprintf(stderr, "usage: cbload NAME run MAP HP LP QP | cmd MAP WHAT | "
	    "kill MAP ROLE | check MAP MS | progress MAP MS | expiry MAP MS "
	    "| release-launches MAP\n");
	return 64;
}

int main(int argc, char **argv)
{
	const char *verb;

	if (argc < 4)
		return usage();
	setvbuf(stdout, NULL, _IOLBF, 0);
	name = argv[1];
	verb = argv[2];
	if (strcmp(verb, "run") == 0)
		return argc == 7 ? fleet(argv[3], argv + 4) : usage();
	map_open(argv[3], 0);
	if (strcmp(verb, "cmd") == 0 && argc == 5)
		return command(argv[4]);
	if (strcmp(verb, "kill") == 0 && argc == 5)
		return kill_role(argv[4]);
	if (strcmp(verb, "check") == 0 && argc == 5)
		return check(atoi(argv[4]));
	if (strcmp(verb, "progress") == 0 && argc == 5)
		return progress(atoi(argv[4]));
	if (strcmp(verb, "expiry") == 0 && argc == 5)
		return expiry(atoi(argv[4]));
	if (strcmp(verb, "release-launches") == 0 && argc == 4)
		return release_launches();
	return usage();
}
