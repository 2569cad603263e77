/*
 * run.c - one dump, or --watch: gather, print, and (watching) compare
 * successive dumps to decide what is worth printing, wait for the
 * published state to change, and follow a broker that moved to new
 * segments.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "capdump.h"
#include "client_internal.h"

#define WATCH_PERIOD_MS	1000	/* redraw at least this often */
/*
 * cb_watch() retries EINTR on its own, so a signal alone cannot cut a
 * wait short; waiting in short slices bounds how long SIGINT takes.
 */
#define WATCH_SLICE_MS	100

/* Set by the SIGINT/SIGTERM handler; ends --watch. */
static volatile sig_atomic_t stop_requested;

static void print_dump(const struct dump *d, enum format f)
{
	switch (f) {
	case FMT_JSON:
		print_json(d);
		break;
	case FMT_PROMETHEUS:
		print_prometheus(d);
		break;
	default:
		print_human(d);
	}
}

void print_unattached(const char *name, const char *why, enum format f)
{
	switch (f) {
	case FMT_JSON:
		print_json_unattached(name, why);
		break;
	case FMT_PROMETHEUS:
		print_prometheus_unattached(name, why);
		break;
	default:
		printf("capdump: %s: cannot attach: %s\n", name, why);
	}
}

static void warn_stderr(const struct dump *d)
{
	for (int i = 0; i < d->nwarnings; i++)
		fprintf(stderr, "capdump: warning: %s\n", d->warning[i]);
}

/* 0, or EX_IOERR after saying why: a closed pipe or a full disk. */
static int flush_stdout(void)
{
	if (fflush(stdout) == 0 && !ferror(stdout))
		return 0;
	fprintf(stderr, "capdump: writing standard output: %s\n",
	    strerror(errno));
	return EX_IOERR;
}

/* Print d to stdout, or (-o) replace the output file with it. */
static int emit(const struct dump *d, const struct options *o)
{
	struct output out;
	int r;

	if (o->output == NULL) {
		print_dump(d, o->format);
		return flush_stdout();
	}
	if ((r = output_begin(&out, o->output)) != 0)
		return r;
	print_dump(d, o->format);
	return output_commit(&out);
}

int run_once(const struct target *tg, const struct options *o)
{
	struct dump d;
	int r;

	dump_gather(tg, &d);
	warn_stderr(&d);
	r = emit(&d, o);
	dump_free(&d);
	if (r != 0)
		return r;
	return d.check == 0 && !d.slots_damaged ? EXIT_HEALTHY : EXIT_STALE;
}

static int warnings_differ(const struct dump *a, const struct dump *b)
{
	if (a->nwarnings != b->nwarnings)
		return 1;
	for (int i = 0; i < a->nwarnings; i++)
		if (strcmp(a->warning[i], b->warning[i]) != 0)
			return 1;
	return 0;
}

/* Launch entries compare by claim and deadline: expires_in_ms moves
 * on every look, like the heartbeat age. */
static int launches_differ(const struct dump *a, const struct dump *b)
{
	if (a->nlaunches != b->nlaunches)
		return 1;
	for (size_t i = 0; i < a->nlaunches; i++)
		if (a->launches[i].entry != b->launches[i].entry ||
		    a->launches[i].word != b->launches[i].word ||
		    a->launches[i].deadline_ns != b->launches[i].deadline_ns)
			return 1;
	return 0;
}

/*
 * The cluster block, but for the times that move on every etcd answer
 * and share renewal (last_ok_ns, valid_until_ns): --watch prints when
 * something an operator would act on changed.
 */
static int cluster_changed(const struct dump *a, const struct dump *b)
{
	struct cb_cluster_block x = a->cluster, y = b->cluster;

	x.last_ok_ns = y.last_ok_ns = 0;
	x.valid_until_ns = y.valid_until_ns = 0;
	return a->cluster_ok != b->cluster_ok ||
	    memcmp(&x, &y, sizeof(x)) != 0;
}

/* The state word, the broker's identity and liveness, the settings. */
static int broker_changed(const struct dump *a, const struct dump *b)
{
	if (a->state_word != b->state_word || a->retired != b->retired ||
	    a->slots_damaged != b->slots_damaged ||
	    a->instance != b->instance || a->check != b->check ||
	    a->ident_ok != b->ident_ok || a->ident.pid != b->ident.pid ||
	    a->ident.start != b->ident.start ||
	    a->ident.epoch != b->ident.epoch ||
	    (a->heartbeat_age_ms < 0) != (b->heartbeat_age_ms < 0))
		return 1;
	return a->info_ok != b->info_ok ||
	    memcmp(&a->info, &b->info, sizeof(a->info)) != 0;
}

/*
 * The pool rows, a global pool's share deadline only as valid or not:
 * it moves on every renewal, which is no news.
 */
static int pools_differ(const struct dump *a, const struct dump *b)
{
	struct pool_row x, y;

	if (a->npools != b->npools)
		return 1;
	for (size_t i = 0; i < a->npools; i++) {
		x = a->pools[i];
		y = b->pools[i];
		x.share_deadline_ns = share_valid_ms(a, &x) > 0;
		y.share_deadline_ns = share_valid_ms(b, &y) > 0;
		if (memcmp(&x, &y, sizeof(x)) != 0)
			return 1;
	}
	return 0;
}

/* The tables: workers, events, pools, clients, waiters (rows zeroed
 * before filling, so memcmp is exact). */
static int tables_changed(const struct dump *a, const struct dump *b)
{
	if (a->workers_ok != b->workers_ok || a->nworkers != b->nworkers ||
	    (a->nworkers > 0 && memcmp(a->workers, b->workers,
	    a->nworkers * sizeof(*a->workers)) != 0))
		return 1;
	if ((a->worker_inflight == NULL) != (b->worker_inflight == NULL) ||
	    (a->worker_inflight != NULL && memcmp(a->worker_inflight,
	    b->worker_inflight, a->nworkers * sizeof(int64_t)) != 0))
		return 1;
	if (a->nevents != b->nevents || (a->nevents > 0 &&
	    a->events[a->nevents - 1].seq != b->events[b->nevents - 1].seq))
		return 1;
	if (pools_differ(a, b))
		return 1;
	if (a->nclients != b->nclients || (a->nclients > 0 &&
	    memcmp(a->clients, b->clients,
	    a->nclients * sizeof(*a->clients)) != 0))
		return 1;
	return a->nwaiters != b->nwaiters || (a->nwaiters > 0 &&
	    memcmp(a->waiters, b->waiters,
	    a->nwaiters * sizeof(*a->waiters)) != 0);
}

/*
 * Did anything worth a new NDJSON line change?  Everything but the
 * heartbeat age, which moves on every look, and the stale reason's
 * text, which can carry an age too: staleness compares by its code.
 */
static int dump_changed(const struct dump *a, const struct dump *b)
{
	return broker_changed(a, b) || tables_changed(a, b) ||
	    cluster_changed(a, b) ||
	    launches_differ(a, b) || warnings_differ(a, b);
}

static void on_stop_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static void catch_stop_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

/*
 * Sleep until the generation moves or WATCH_PERIOD_MS passes, in
 * slices so a stop signal is noticed promptly (see WATCH_SLICE_MS).
 */
static void wait_for_change(cb_client *c, uint32_t *gen)
{
	for (int waited = 0; waited < WATCH_PERIOD_MS && !stop_requested;
	    waited += WATCH_SLICE_MS)
		if (cb_watch(c, gen, WATCH_SLICE_MS) == 0)
			return;
}

/*
 * A restarted broker adopts the segment we have mapped, but a broker
 * that replaced it (retiring ours) or was started after its
 * predecessor removed the segments lives in new segments under the same
 * name, which our mapping never sees.  So while the broker looks stale,
 * re-open by name and switch when that leads to another instance.
 */
static void follow_instance(struct target *tg, const char *name,
    uint32_t *gen)
{
	const struct cb_seg_header *old = cb_client_state(tg->c), *h;
	struct target next;

	if (target_open(&next, name) < 0)
		return;
	h = cb_client_state(next.c);
	if (h->instance == old->instance) {
		target_close(&next);
		return;
	}
	target_close(tg);
	*tg = next;
	*gen = 0;
}

/*
 * Our slots mapping got private zeros over a cut part (the file was
 * shrunk: gather_damage()); the broker puts the file back within a
 * heartbeat, and a new mapping sees it.  Attach again; on failure keep
 * the damaged one and try next round.
 */
static void reattach(struct target *tg, const char *name, uint32_t *gen)
{
	struct target next;

	if (target_open(&next, name) < 0)
		return;
	target_close(tg);
	*tg = next;
	*gen = 0;
}

/* Print one watch round; returns 0 or EX_IOERR. */
static int watch_print(const struct dump *cur, const struct dump *prev,
    const struct options *o, int tty)
{
	if (prev == NULL || warnings_differ(cur, prev))
		warn_stderr(cur);
	/* A file is replaced every round: it must stay current. */
	if (o->output != NULL)
		return emit(cur, o);
	if (o->format == FMT_JSON) {
		if (prev != NULL && !dump_changed(cur, prev))
			return 0;
	} else if (tty) {
		/* Home the cursor and clear: the report redraws in place. */
		fputs("\033[H\033[2J", stdout);
	} else if (prev != NULL) {
		putchar('\n');
	}
	print_dump(cur, o->format);
	return flush_stdout();
}

int run_watch(struct target *tg, const struct options *o)
{
	struct dump dumps[2], *cur = &dumps[0], *prev = NULL, *t;
	uint32_t gen = 0;
	int tty = isatty(STDOUT_FILENO), r = 0;

	catch_stop_signals();
	while (!stop_requested && r == 0) {
		dump_gather(tg, cur);
		r = watch_print(cur, prev, o, tty);
		if (prev != NULL)
			dump_free(prev);
		t = prev != NULL ? prev : &dumps[1];
		prev = cur;
		cur = t;
		/* Wait for a change from what was just printed. */
		gen = CB_STATE_GENERATION(prev->state_word);
		if (prev->check != 0)
			follow_instance(tg, o->name, &gen);
		else if (prev->slots_damaged)
			reattach(tg, o->name, &gen);
		wait_for_change(tg->c, &gen);
	}
	if (prev != NULL)
		dump_free(prev);
	return r;
}
