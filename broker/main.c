/*
 * main.c - capbrokerd: start-up, the main event loop, shutdown.
 *
 * Start-up order matters:
 *   1. config (embedded defaults, or -c FILE) - errors are fatal here;
 *   2. the pidfile lock: one broker per instance name;
 *   3. segments: create, adopt or refuse (segments.h);
 *   4. registry and settings, from the adopted segment and the config;
 *   5. first publish, then the magic numbers (clients can attach);
 *   6. control socket, signals, heartbeat, publisher thread, READY.
 * The main loop multiplexes the control socket, a signalfd and a
 * heartbeat timerfd with epoll.  SIGTERM/SIGINT stop cleanly (exit 0):
 * the stopping flag is published and the segments are left for the
 * next broker unless --remove.  SIGHUP reloads the config file.
 */
#include <bsd/libutil.h>
#include <bsd/string.h>
#include <bsd/unistd.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>
#include <urcu.h>

#include "broker.h"
#include "capbroker.h"
#include "control.h"
#include "futex.h"
#include "log.h"
#include "proc.h"
#include "proto.h"
#include "rundir.h"
#include "segment.h"
#include "seqlock.h"
#include "snapshot.h"
#include "tier.h"

#define HEARTBEAT_MS 250

struct options {
	const char *name;
	const char *config;
	int remove;
	int replace;
	int test;      /* -t: check the configuration and exit */
};

#define USAGE_LINES \
"usage: capbrokerd [-f] [-n NAME] [-c CONFIG] [--replace] [--remove]\n" \
"       capbrokerd -t [-c CONFIG]\n"

static void usage(FILE *f)
{
	fprintf(f,
USAGE_LINES
"\n"
"Publish a fleet's capacity in shared memory for libcapbroker clients.\n"
"Runs in the foreground and logs to stderr (any supervisor will do).\n"
"\n"
"  -n, --name NAME    instance name (default \"default\"): segments\n"
"                     /dev/shm/capbroker.NAME.{state,slots}, socket\n"
"                     RUNDIR/NAME.sock, pidfile RUNDIR/NAME.pid\n"
"  -c, --config FILE  configuration file (default: embedded defaults)\n"
"  -f, --foreground   run in the foreground (the default; accepted for\n"
"                     supervisors that pass it)\n"
"      --replace      retire an incompatible or corrupt segment and\n"
"                     create a new one instead of refusing to start\n"
"      --remove       unlink the segments on exit (default: keep them\n"
"                     so the next broker adopts them)\n"
"  -t, --test-config  check the configuration, print the settings it\n"
"                     gives in the file's own syntax and exit: 0 valid,\n"
"                     1 not (FILE:LINE on stderr); touches no segment,\n"
"                     socket or pidfile\n"
"  -h, --help         this text\n"
"  -V, --version      print the version\n"
"\n"
"Configuration (one per line, # comments):\n"
"  slots_per_worker = 64                  mixed tier, per non-reporter\n"
"  legacy_max_concurrent_requests = 1024  fallback tier\n"
"  override = 0                           0 derives, 1..65535 pins\n"
"  retry_after_ms = 100                   cb_reserve hint when a pool\n"
"                                         without launches is full\n"
"  worker ID ready|not_ready|draining [MAX_RUNNING]\n"
"  group = NAME                           slots segment and socket group\n"
"                                         (mode 0660): may attach, reserve\n"
"  admin_group = NAME                     may also change workers,\n"
"                                         override and pools\n"
"  state_mode = 0644                      or 0640 (then only `group`\n"
"                                         reads the capacity)\n"
"  pool NAME limit=N|share=PCT [window=SECONDS] [observed=N]\n"
"       [global|local] [hold_max=SECONDS]\n"
"                                         global: limit= is the cluster's\n"
"  etcd = http://HOST:PORT[,...]          global pools' cluster (none)\n"
"  cluster = capbroker                    its key prefix in etcd\n"
"  host = NAME                            this broker (gethostname())\n"
"  lease_ttl = 10                         seconds, 2..3600\n"
"\n"
"Signals: TERM/INT stop (exit 0), HUP reloads the configuration: all\n"
"of it, or nothing if any line is bad (logged with FILE:LINE) or etcd,\n"
"cluster, host or lease_ttl changed (those need a restart).\n"
"Environment: CAPBROKER_RUNDIR (default " CB_RUNDIR_DEFAULT ").\n");
}

/* A usage error: what was wrong, the synopsis and where the help is,
 * not the whole help (exit 64, EX_USAGE). */
static void usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("capbrokerd: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\n" USAGE_LINES
	    "Try 'capbrokerd --help' for more information.\n", stderr);
	exit(64);
}

static void parse_args(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{ "name", required_argument, NULL, 'n' },
		{ "config", required_argument, NULL, 'c' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "replace", no_argument, NULL, 'R' },
		{ "remove", no_argument, NULL, 'X' },
		{ "test-config", no_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	memset(o, 0, sizeof(*o));
	o->name = "default";
	/* Our own messages, with the usage hint, instead of getopt's. */
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":n:c:fthV", longopts,
	    NULL)) != -1)
		switch (ch) {
		case 'n': o->name = optarg; break;
		case 'c': o->config = optarg; break;
		case 'f': break;
		case 'R': o->replace = 1; break;
		case 'X': o->remove = 1; break;
		case 't': o->test = 1; break;
		case 'h': usage(stdout); exit(0);
		case 'V':
			printf("capbrokerd %d.%d (ABI %d.%d)\n",
			    CB_VERSION_MAJOR, CB_VERSION_MINOR, CB_ABI_MAJOR,
			    CB_ABI_MINOR);
			exit(0);
		case ':':
			usage_error("option '%s' needs an argument",
			    argv[optind - 1]);
			break;
		default:
			/* optopt names a short option even inside "-fx". */
			if (optopt != 0)
				usage_error("unknown option '-%c'", optopt);
			usage_error("unknown option '%s'", argv[optind - 1]);
		}
	if (optind != argc)
		usage_error("unexpected argument '%s'", argv[optind]);
	if (!cb_name_valid(o->name)) {
		fprintf(stderr, "capbrokerd: bad instance name '%s' (1-%d of "
		    "A-Z a-z 0-9 . _ -)\n", o->name, CB_NAME_MAX);
		exit(64);
	}
}

static void note_override_rejects(struct cb_broker *b,
    const struct cb_config *cfg, const char *path)
{
	if (cfg->override_rejects == 0)
		return;
	log_warnx("%s: override %lld ignored: outside 0..%u (%u such "
	    "line%s)", path, cfg->override_rejected, CB_CAPACITY_MAX,
	    cfg->override_rejects, cfg->override_rejects == 1 ? "" : "s");
	atomic_store_explicit(&b->set.override_rejected,
	    cfg->override_rejected, memory_order_relaxed);
	atomic_fetch_add_explicit(&b->set.override_rejects,
	    cfg->override_rejects, memory_order_relaxed);
}

/* Whether the file cfg names pool `name`. */
static int config_names_pool(const struct cb_config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->npools; i++)
		if (strcmp(cfg->pools[i].req.pool, name) == 0)
			return 1;
	return 0;
}

/*
 * Pools that the configuration file defined (CB_POOL_F_FILE) and that
 * cfg no longer names: bit p each, their definitions in def.  None
 * without a file (-c absent: the file says nothing).  Pools created
 * with capctl are not the file's to delete.
 */
static uint64_t config_dropped_pools(struct cb_broker *b,
    const struct cb_config *cfg, struct cb_pool_def def[CB_MAX_POOLS])
{
	uint32_t observed[CB_MAX_POOLS];
	uint64_t m = 0;

	cb_pools_copy(&b->pools, def, observed);
	if (cfg->path == NULL)
		return 0;
	for (int p = 1; p < CB_MAX_POOLS; p++)
		if ((def[p].flags & CB_POOL_F_ACTIVE) &&
		    (def[p].flags & CB_POOL_F_FILE) &&
		    !config_names_pool(cfg, def[p].name))
			m |= 1ull << p;
	return m;
}

/*
 * Delete the pools whose lines cfg dropped, as an unforced POOL DEL
 * would.  At start-up one in use is kept and said so (a restart must
 * not fail for it); the next reload tries again.  A reload has passed
 * config_busy() just before (reloading): a unit admitted since must
 * not make it half applied, so the deletion is forced, and that unit
 * releases into the deleted pool (pools.h).  Returns how many were
 * deleted.
 */
static int delete_dropped_pools(struct cb_broker *b,
    const struct cb_config *cfg, int reloading)
{
	struct cb_pool_def def[CB_MAX_POOLS];
	uint64_t m = config_dropped_pools(b, cfg, def);
	struct cb_pool_busy busy;
	char err[256];
	int n = 0;

	for (int p = 1; p < CB_MAX_POOLS; p++) {
		if (!(m & (1ull << p)))
			continue;
		if (cb_pools_del(&b->pools, def[p].name, reloading,
		    b->seg.slots, &busy, err, sizeof(err)) < 0) {
			log_warnx("%s: pool %s no longer in the file, kept: "
			    "%s", cfg->path, def[p].name, err);
			continue;
		}
		log_info("%s: pool %s (index %d) no longer in the file: "
		    "deleted", cfg->path, def[p].name, p);
		n++;
	}
	return n;
}

/*
 * A reload is all or nothing: a pool whose line is gone but which is
 * in use fails it, naming the pool and what holds it (the running
 * configuration, that pool included, stays).  Returns 0 or -EBUSY.
 */
static int config_busy(struct cb_broker *b, const struct cb_config *cfg,
    char *err, size_t errlen)
{
	struct cb_pool_def def[CB_MAX_POOLS];
	uint64_t m = config_dropped_pools(b, cfg, def);
	struct cb_pool_busy busy;
	char counts[96];

	for (int p = 1; p < CB_MAX_POOLS; p++)
		if ((m & (1ull << p)) &&
		    cb_pools_busy(b->seg.slots, p, &busy)) {
			cb_pools_busy_say(&busy, counts, sizeof(counts));
			snprintf(err, errlen, "%s: pool %s is no longer in "
			    "the file but is in use: %s (delete it with "
			    "capctl pool del --force, or reload once it is "
			    "idle)", cfg->path, def[p].name, counts);
			return -EBUSY;
		}
	return 0;
}

/*
 * Apply a configuration: settings always; the override only when the
 * file names one (a runtime override survives restarts and reloads
 * otherwise); pools and workers are set.  Workers are never deleted
 * (runtime registrations are not the file's to remove); a pool the
 * file defined and no longer names is deleted (delete_dropped_pools),
 * while one created with capctl stays until capctl pool del.  Returns
 * non-zero if anything may have changed.
 */
static int apply_config(struct cb_broker *b, const struct cb_config *cfg,
    int reloading)
{
	int changed = 0;

	/* Relaxed (broker.h): the next cb_publisher_post() (release), or
	 * at start-up the publisher thread's creation, orders these before
	 * the publisher's loads.  This thread is their only writer, so
	 * each exchange returns its own last store. */
	changed |= atomic_exchange_explicit(&b->set.slots_per_worker,
	    cfg->slots_per_worker, memory_order_relaxed) !=
	    cfg->slots_per_worker;
	changed |= atomic_exchange_explicit(&b->set.legacy_max,
	    cfg->legacy_max, memory_order_relaxed) != cfg->legacy_max;
	changed |= atomic_exchange_explicit(&b->set.retry_after_ms,
	    cfg->retry_after_ms, memory_order_relaxed) != cfg->retry_after_ms;
	if (cfg->override_set)
		changed |= atomic_exchange_explicit(&b->set.override,
		    cfg->override, memory_order_relaxed) != cfg->override;
	changed |= delete_dropped_pools(b, cfg, reloading) > 0;
	for (size_t i = 0; i < cfg->npools; i++) {
		const struct cb_config_pool *p = &cfg->pools[i];
		struct cb_ctl_req req = p->req;
		char err[256];
		int r;

		/* The file says what its pools are: one whose lines do not
		 * say global is local, whatever it was (a global pool whose
		 * `global` was taken out of the file becomes fixed). */
		if (!(req.pool_keys & CB_POOL_SET_GLOBAL) &&
		    strcmp(req.pool, "default") != 0)
			req.pool_keys |= CB_POOL_SET_LOCAL;
		r = cb_pools_set_file(&b->pools, &req, err, sizeof(err));

		/* config_fits() and the parser rule out every refusal. */
		if (r < 0)
			log_warnx("%s:%u: pool %s: %s", cfg->path, p->line,
			    p->req.pool, err);
		changed |= r >= 0;
	}
	for (size_t i = 0; i < cfg->nworkers; i++) {
		const struct cb_config_worker *w = &cfg->workers[i];
		int r = cb_registry_set(&b->reg, w->id, w->state,
		    w->max_running);

		if (r < 0)
			log_warnx("%s:%u: worker %s: %s", cfg->path, w->line,
			    w->id, strerror(-r));
		changed |= r > 0;
	}
	return changed;
}

/* Whether id is among the n workers of a registry snapshot. */
static int has_worker(const struct cb_worker_rec *w, size_t n,
    const char *id)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(w[i].id, id) == 0)
			return 1;
	return 0;
}

/*
 * Whether cfg can be applied in full: its new pools fit the free pool
 * slots (capctl may have defined some; a deleted pool's index is free
 * only once nothing holds it, pools.h), its new workers the registry.
 * The main thread is the only writer of both (broker.h), so what this
 * finds still holds when apply_config() runs right after it.  Returns 0, or -ENOSPC with FILE:LINE in err.
 */
static int config_fits(struct cb_broker *b, const struct cb_config *cfg,
    char *err, size_t errlen)
{
	struct cb_pool_def def[CB_MAX_POOLS];
	uint32_t observed[CB_MAX_POOLS];
	struct cb_worker_rec *w;
	size_t n, room, free_slots = 0;
	int r = 0;

	cb_pools_copy(&b->pools, def, observed);
	free_slots = (size_t)cb_pools_room(&b->pools);
	for (size_t i = 0; i < cfg->npools; i++) {
		const struct cb_config_pool *cp = &cfg->pools[i];
		int known = 0;

		for (int p = 0; p < CB_MAX_POOLS && !known; p++)
			known = (def[p].flags & CB_POOL_F_ACTIVE) &&
			    strcmp(def[p].name, cp->req.pool) == 0;
		if (!known && free_slots-- == 0) {
			snprintf(err, errlen, "%s:%u: pool %s: all %d pools "
			    "are in use (capctl pool del deletes one)",
			    cfg->path, cp->line, cp->req.pool, CB_MAX_POOLS);
			return -ENOSPC;
		}
	}
	w = calloc(CB_MAX_WORKERS, sizeof(*w));
	if (w == NULL) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	n = cb_registry_snapshot(&b->reg, w, CB_MAX_WORKERS);
	room = CB_MAX_WORKERS - n;
	for (size_t i = 0; i < cfg->nworkers && r == 0; i++) {
		const struct cb_config_worker *cw = &cfg->workers[i];

		if (!has_worker(w, n, cw->id) && room-- == 0) {
			snprintf(err, errlen, "%s:%u: worker %s: all %d "
			    "workers are registered", cfg->path, cw->line,
			    cw->id, CB_MAX_WORKERS);
			r = -ENOSPC;
		}
	}
	free(w);
	return r;
}

/* On adoption: the registry and settings come back from the segment. */
static void restore_from_segment(struct cb_broker *b)
{
	struct cb_worker_rec *w = calloc(CB_MAX_WORKERS, sizeof(*w));
	struct cb_info in;
	uint32_t n = 0;

	if (w == NULL)
		fatalx("out of memory");
	if (cb_snapshot_workers(b->seg.state, w, CB_MAX_WORKERS, &n) < 0)
		log_warnx("adopted worker table is unreadable; starting "
		    "with no workers");
	for (uint32_t i = 0; i < n; i++) {
		w[i].id[CB_WORKER_ID_MAX] = '\0';
		if (cb_worker_state_name(w[i].state) == NULL ||
		    cb_registry_set(&b->reg, w[i].id, w[i].state,
		    w[i].max_running) < 0)
			log_warnx("adopted worker record %u is invalid; "
			    "dropped", i);
	}
	free(w);
	if (cb_snapshot_info(b->seg.state, &in) == 0 &&
	    cb_tier_override_valid(in.override))
		/* Relaxed (broker.h): start-up, before the publisher
		 * thread is created. */
		atomic_store_explicit(&b->set.override, in.override,
		    memory_order_relaxed);
	cb_pools_adopt(&b->pools, b->seg.state);
}

static void set_identity(struct cb_broker *b)
{
	struct cb_seg_header *h = b->seg.state;
	uint64_t start = 0, epoch;

	cb_proc_start_time(getpid(), &start);
	cb_seqlock_repair(&h->ident_seq);
	epoch = atomic_load_explicit(&h->epoch, memory_order_relaxed) + 1;
	cb_seqlock_write_begin(&h->ident_seq);
	atomic_store_explicit(&h->broker_pid, (uint32_t)getpid(),
	    memory_order_relaxed);
	atomic_store_explicit(&h->broker_start, start, memory_order_relaxed);
	atomic_store_explicit(&h->epoch, epoch, memory_order_relaxed);
	cb_seqlock_write_end(&h->ident_seq);
	atomic_store_explicit(&h->broker_pidns, cb_proc_pidns(),
	    memory_order_relaxed);
	atomic_store_explicit(&h->heartbeat_ns, cb_monotonic_ns(),
	    memory_order_relaxed);
}

/*
 * The cluster settings are the cluster thread's, which holds a lease
 * and keys under them: a reload that changes one is refused as a whole
 * (pools included), the file's new values waiting for a restart.
 * Returns 0, or -EINVAL with the message in err.
 */
static int config_restart(struct cb_broker *b, const struct cb_config *cfg,
    char *err, size_t errlen)
{
	const char *what = cb_config_cluster_diff(&b->cluster.conf,
	    &cfg->cluster);

	if (what == NULL)
		return 0;
	snprintf(err, errlen, "%s: %s changed: etcd, cluster, host and "
	    "lease_ttl need a restart of the broker, not a reload",
	    cfg->path, what);
	return -EINVAL;
}

/*
 * SIGHUP.  All or nothing: the whole file is parsed into a private
 * config and checked against what is running (config_fits); only then
 * is any of it applied.  A failure logs FILE:LINE and keeps every
 * running setting; either way the outcome is noted for STATUS.
 */
static void reload(struct cb_broker *b)
{
	struct cb_config cfg;
	char err[512];
	int changed;

	if (b->config_path == NULL) {
		log_info("SIGHUP: no configuration file (-c); nothing to "
		    "reload");
		cb_reload_note(NULL, false);
		return;
	}
	if (cb_config_load(&cfg, b->config_path, err, sizeof(err)) < 0) {
		log_warnx("SIGHUP: %s; keeping the running configuration",
		    err);
		cb_reload_note(err, false);
		return;
	}
	if (config_restart(b, &cfg, err, sizeof(err)) < 0 ||
	    config_fits(b, &cfg, err, sizeof(err)) < 0 ||
	    config_busy(b, &cfg, err, sizeof(err)) < 0) {
		log_warnx("SIGHUP: %s; keeping the running configuration",
		    err);
		cb_reload_note(err, false);
		cb_config_free(&cfg);
		return;
	}
	note_override_rejects(b, &cfg, b->config_path);
	changed = apply_config(b, &cfg, 1) || cfg.override_rejects;
	if (changed) {
		log_info("SIGHUP: reloaded %s", b->config_path);
		cb_publisher_wait(b, cb_publisher_post(b, CB_PUB_SETTINGS),
		    2000);
		/* A pool may have become global, changed or become local:
		 * the cluster thread looks at them all again. */
		if (b->cluster.on)
			cb_cluster_kick(b);
	} else {
		log_info("SIGHUP: %s unchanged", b->config_path);
	}
	cb_reload_note(NULL, changed);
	cb_config_free(&cfg);
}

static void heartbeat(struct cb_broker *b, int tfd)
{
	struct cb_seg_header *h = b->seg.state;
	const struct cb_state_hot *hot = cb_seg_region(h, CB_RS_HOT);
	static uint64_t last_word;
	uint64_t expirations, w;

	if (read(tfd, &expirations, sizeof(expirations)) < 0)
		return;
	atomic_store_explicit(&h->heartbeat_ns, cb_monotonic_ns(),
	    memory_order_relaxed);
	/* Fed only while new clients can find the segments: a name
	 * that cannot be linked again is for a restart to repair
	 * (segments.h, "Names"). */
	if (cb_segments_check(&b->seg))
		sd_notify(0, "WATCHDOG=1");
	w = atomic_load_explicit(&hot->state_word, memory_order_relaxed);
	if (w != last_word) {
		last_word = w;
		sd_notifyf(0, "STATUS=capacity %u (source %s), generation %u",
		    CB_STATE_CAPACITY(w), cb_source_name(CB_STATE_SOURCE(w)),
		    CB_STATE_GENERATION(w));
		/* ps shows the instance and what it publishes. */
		setproctitle("%s: capacity %u (%s)", b->name,
		    CB_STATE_CAPACITY(w), cb_source_name(CB_STATE_SOURCE(w)));
	}
}

/* Returns 1 to keep running, 0 to stop. */
static int on_signal(struct cb_broker *b, int sfd)
{
	struct signalfd_siginfo si;

	while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGHUP) {
			/* systemd shows "reloading" until READY=1 again
			 * (sd_notify(3)), whatever the outcome. */
			sd_notify(0, "RELOADING=1");
			reload(b);
			sd_notify(0, "READY=1");
			continue;
		}
		log_info("signal %d from pid %u: stopping", si.ssi_signo,
		    si.ssi_pid);
		return 0;
	}
	return 1;
}

/*
 * The signals the main loop takes from its signalfd.  They must be
 * blocked in every thread of the process, or the kernel may deliver
 * one to a thread that has it unblocked and the default action (exit
 * 129 on HUP, 143 on TERM: no stopping flag, pidfile and socket left)
 * runs instead of the signalfd read.  A thread inherits its creator's
 * mask, and threads appear before the signalfd exists: liburcu starts
 * its call_rcu thread at the first call_rcu(), which applying the
 * configuration does as soon as it changes a worker the adopted
 * segment already had.  So main() blocks them first thing, before any
 * library can start a thread.
 */
static void broker_sigset(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGHUP);
}

static void block_signals(void)
{
	sigset_t set;

	broker_sigset(&set);
	if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0)
		fatalx("cannot block signals");
	signal(SIGPIPE, SIG_IGN);
}

static int make_signalfd(void)
{
	sigset_t set;

	broker_sigset(&set);
	return signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

static int make_timerfd(void)
{
	struct itimerspec its = {
		.it_interval = { 0, HEARTBEAT_MS * 1000000L },
		.it_value = { 0, HEARTBEAT_MS * 1000000L },
	};
	int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);

	if (fd >= 0 && timerfd_settime(fd, 0, &its, NULL) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void loop(struct cb_broker *b, int epfd, int sfd, int tfd)
{
	struct epoll_event ev[64];
	int n;

	for (;;) {
		n = epoll_wait(epfd, ev, 64, -1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			fatal("epoll_wait");
		for (int i = 0; i < n; i++) {
			struct cb_pollable *p = ev[i].data.ptr;

			switch (p->kind) {
			case CB_POLL_LISTEN:
				cb_control_accept(b, epfd);
				break;
			case CB_POLL_CONN:
				cb_control_io(b, p, ev[i].events);
				break;
			case CB_POLL_TIMER:
				heartbeat(b, tfd);
				break;
			case CB_POLL_SIGNAL:
				if (!on_signal(b, sfd))
					return;
				break;
			}
		}
	}
}

static void make_rundir(void)
{
	const char *dir = cb_rundir();

	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		fatal("cannot create run directory %s", dir);
}

/* The instance's pidfile, removed by any exit after lock_instance()
 * (a fatal error at start-up left an empty one behind), and by the
 * clean one in main(). */
static struct pidfh *instance_pidfh;

static void drop_pidfile(void)
{
	if (instance_pidfh != NULL)
		pidfile_remove(instance_pidfh);
	instance_pidfh = NULL;
}

static struct pidfh *lock_instance(const char *name)
{
	char path[256];
	struct pidfh *pfh;
	pid_t other;

	if (cb_rundir_path(path, sizeof(path), name, "pid") < 0)
		fatalx("run directory path too long");
	pfh = pidfile_open(path, 0644, &other);
	if (pfh == NULL && errno == EEXIST)
		fatalx("instance '%s' is already running (pid %d, %s)", name,
		    (int)other, path);
	if (pfh == NULL)
		fatal("pidfile %s", path);
	instance_pidfh = pfh;
	atexit(drop_pidfile);
	return pfh;
}

/* A global pool adopted from a broker that had etcd, this one without:
 * nothing gives it a share, so it admits nothing. */
static void warn_global_without_cluster(struct cb_broker *b)
{
	struct cb_pool_def def[CB_MAX_POOLS];
	uint32_t observed[CB_MAX_POOLS];

	if (b->cluster.on)
		return;
	cb_pools_copy(&b->pools, def, observed);
	for (int p = 1; p < CB_MAX_POOLS; p++)
		if ((def[p].flags & CB_POOL_F_ACTIVE) &&
		    def[p].kind == CB_LIMIT_GLOBAL)
			log_warnx("pool %s is global but no etcd is "
			    "configured: it admits nothing (capctl pool set "
			    "%s --local, or etcd = in the file)", def[p].name,
			    def[p].name);
}

static void open_segments(struct cb_broker *b, const struct options *o,
    const struct cb_config *cfg)
{
	struct cb_seg_opts so = { cfg->state_mode, 0660, cfg->group,
	    o->replace != 0 };
	char err[512];

	if (cb_segments_open(&b->seg, b->name, &so, err, sizeof(err)) < 0)
		fatalx("%s", err);
	if (b->seg.adopted)
		restore_from_segment(b);
	if (config_fits(b, cfg, err, sizeof(err)) < 0)
		fatalx("%s", err);
	note_override_rejects(b, cfg, o->config);
	apply_config(b, cfg, 0);
	warn_global_without_cluster(b);
	set_identity(b);
	cb_cluster_adopt(b);
	if (cb_publisher_init(b) < 0)
		fatalx("cannot set up the publisher");
	if (!b->seg.adopted)
		cb_segments_publish(&b->seg);
}

static void start(struct cb_broker *b, const struct options *o,
    struct cb_config *cfg)
{
	char err[512];

	if (cb_config_load(cfg, o->config, err, sizeof(err)) < 0)
		fatalx("%s", err);
	snprintf(b->name, sizeof(b->name), "%s", o->name);
	b->config_path = o->config;
	cb_reload_init(o->config);
	b->uid = geteuid();
	b->admin_group = cfg->admin_group;
	b->group = cfg->group;
	b->control_fd = -1;
	if (cb_rundir_path(b->socket_path, sizeof(b->socket_path), b->name,
	    "sock") < 0)
		fatalx("socket path %s/%s.sock is too long", cb_rundir(),
		    b->name);
	/* Relaxed (broker.h): the publisher thread is created later. */
	atomic_store_explicit(&b->set.slots_per_worker, cfg->slots_per_worker,
	    memory_order_relaxed);
	atomic_store_explicit(&b->set.legacy_max, cfg->legacy_max,
	    memory_order_relaxed);
	atomic_store_explicit(&b->set.retry_after_ms, cfg->retry_after_ms,
	    memory_order_relaxed);
	cb_pools_init(&b->pools);
	/* Before the pools are applied (open_segments): POOL SET global
	 * and the file's global pools need b->cluster.on. */
	cb_cluster_init(&b->cluster);
	b->cluster.conf = cfg->cluster;
	b->cluster.on = cfg->cluster.etcd[0] != '\0';
	rcu_register_thread();
	if (cb_registry_init(&b->reg) < 0)
		fatalx("cannot create the worker registry");
}

/*
 * capbrokerd -t: load the configuration as start-up would, print what
 * it sets in the file's own syntax, exit 0 or 1.  Runs before anything
 * of the instance exists (run directory, pidfile, segments, socket), so
 * it cannot disturb a running broker.  What only the running broker
 * knows (pools or workers defined with capctl taking the room a new one
 * needs) is checked again by the reload itself.
 */
static int test_config(const struct options *o)
{
	const char *what = o->config != NULL ? o->config :
	    "the embedded defaults";
	struct cb_config cfg;
	char err[512];
	int r;

	if (cb_config_load(&cfg, o->config, err, sizeof(err)) < 0) {
		fprintf(stderr, "capbrokerd: %s\n", err);
		return 1;
	}
	if (cfg.override_rejects > 0)
		fprintf(stderr, "capbrokerd: warning: %s: override %lld "
		    "ignored: outside 0..%u (%u such line%s)\n", what,
		    cfg.override_rejected, CB_CAPACITY_MAX,
		    cfg.override_rejects, cfg.override_rejects == 1 ? "" :
		    "s");
	r = cb_config_print(&cfg, stdout);
	cb_config_free(&cfg);
	if (r < 0) {
		fprintf(stderr, "capbrokerd: standard output: %s\n",
		    strerror(-r));
		return 1;
	}
	fprintf(stderr, "capbrokerd: %s: configuration ok\n", what);
	return 0;
}

int main(int argc, char **argv)
{
	static struct cb_broker broker;
	struct cb_broker *b = &broker;
	struct cb_pollable sig_poll = { CB_POLL_SIGNAL };
	struct cb_pollable tim_poll = { CB_POLL_TIMER };
	struct epoll_event ev = { .events = EPOLLIN };
	struct options o;
	struct cb_config cfg;
	struct pidfh *pfh;
	int epfd, sfd, tfd, r;

	setproctitle_init(argc, argv, environ);
	parse_args(argc, argv, &o);
	if (o.test)
		return test_config(&o);
	block_signals();
	log_init(o.name);
	start(b, &o, &cfg);
	make_rundir();
	pfh = lock_instance(b->name);
	open_segments(b, &o, &cfg);
	cb_config_free(&cfg);

	sfd = make_signalfd();
	tfd = make_timerfd();
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (sfd < 0 || tfd < 0 || epfd < 0)
		fatal("signalfd/timerfd/epoll");
	ev.data.ptr = &sig_poll;
	epoll_ctl(epfd, EPOLL_CTL_ADD, sfd, &ev);
	ev.data.ptr = &tim_poll;
	epoll_ctl(epfd, EPOLL_CTL_ADD, tfd, &ev);
	r = cb_control_open(b, epfd);
	if (r < 0)
		fatalx("control socket %s: %s", b->socket_path, strerror(-r));
	if (cb_publisher_start(b) < 0)
		fatalx("cannot start the publisher thread");
	if (cb_sweeper_start(b) < 0)
		fatalx("cannot start the sweeper thread");
	/* After the publisher, which it posts to; its reasons logged. */
	r = cb_cluster_start(b);
	if (r == -EEXIST)
		fatalx("refusing to start: host name '%s' is taken in cluster "
		    "'%s' (see above)", b->cluster.conf.host,
		    b->cluster.conf.cluster);
	if (r < 0)
		fatalx("cannot start the cluster thread: %s", strerror(-r));
	pidfile_write(pfh);

	const struct cb_state_hot *hot = cb_seg_region(b->seg.state,
	    CB_RS_HOT);
	/* Relaxed: only logged. */
	uint64_t w = atomic_load_explicit(&hot->state_word,
	    memory_order_relaxed);
	log_info("ready: %s %s, capacity %u (source %s), generation %u, "
	    "socket %s", b->seg.adopted ? "adopted" : "created",
	    b->seg.state_name, CB_STATE_CAPACITY(w),
	    cb_source_name(CB_STATE_SOURCE(w)), CB_STATE_GENERATION(w),
	    b->socket_path);
	sd_notify(0, "READY=1");

	loop(b, epfd, sfd, tfd);

	sd_notify(0, "STOPPING=1");
	cb_control_close(b);
	/* Before the publisher it posts to and waits on goes. */
	cb_cluster_stop(b);
	cb_sweeper_stop(b);
	cb_publisher_stop(b);
	cb_registry_fini(&b->reg);
	cb_segments_close(&b->seg, o.remove != 0);
	rcu_unregister_thread();
	drop_pidfile();
	close(epfd);
	close(sfd);
	close(tfd);
	log_info("stopped%s", o.remove ? "; segments removed" :
	    "; segments kept for the next broker");
	return 0;
}
