/*
 * report.c - what the numbers mean: the targets (evaluate()) and the
 * human report, markdown tables on stdout (print_human()), the part of
 * docs/BENCHMARKS.md that tools/bench-report.sh regenerates.
 * report_json.c writes the same results as JSON and gnuplot data.
 */
#include <stdio.h>

#include "capbench.h"

const char *const status_name[ST_COUNT] = {
	"not_run", "ok", "skipped", "failed",
};

double ratio(double a, double b)
{
	return b > 0 ? a / b : 0;
}

/* ----------------------------------------------------------------- */
/* Targets. */

static struct target *target_add(struct bench_targets *tg, const char *name,
    const char *goal, const char *unit)
{
	struct target *t = &tg->t[tg->n++];

	*t = (struct target){ .name = name, .goal = goal, .unit = unit,
	    .met = -1 };
	return t;
}

/* Worst (highest) ratio over the process counts of two read columns:
 * the state word against the raw load, or (current) cb_current()
 * against the one-load call. */
static void target_read(struct bench_targets *tg, const char *name,
    const struct bench_opts *opt, const struct bench_results *res,
    int current)
{
	struct target *t = target_add(tg, name, "<= 1.2x", "x");

	for (int ci = 0; ci < opt->ncounts && res->sec[S_READ].st == ST_OK;
	    ci++) {
		const struct read_row *r = &res->read[ci];
		double v = current ? ratio(r->current, r->oneload) :
		    ratio(r->word, r->raw);

		if (t->met < 0 || v > t->value)
			t->value = v;
		t->met = t->value <= 1.2;
	}
}

/* Worst ratio over the process counts: cb vs method m (higher better). */
static void target_hold(struct bench_targets *tg, const char *name,
    const char *goal, const struct bench_opts *opt,
    const struct bench_results *res, int m, double min)
{
	struct target *t = target_add(tg, name, goal, "x");

	for (int ci = 0; ci < opt->ncounts; ci++) {
		double v;

		if (!res->hold[M_CB][ci].done || !res->hold[m][ci].done)
			continue;
		v = ratio(res->hold[M_CB][ci].ops_s, res->hold[m][ci].ops_s);
		if (t->met < 0 || v < t->value) {
			t->value = v;
			snprintf(t->note, sizeof(t->note), "worst at %d "
			    "process%s", opt->counts[ci], opt->counts[ci] > 1 ?
			    "es" : "");
		}
		t->met = t->value >= min;
	}
	if (m == M_REDIS && !res->redis_ok)
		bfmt(t->note, sizeof(t->note), "skipped: %s", res->redis_why);
}

/* Section 7, worst ratio over the process counts: capbroker's blocking
 * reserve against the POSIX semaphore's on the same contended pool. */
static void target_contend(struct bench_targets *tg,
    const struct bench_opts *opt, const struct bench_results *res)
{
	struct target *t = target_add(tg, "contended pool / POSIX sem "
	    "throughput", ">= 0.8x", "x");

	for (int ci = 0; ci < opt->ncounts; ci++) {
		const struct tput *c = &res->contend[0][ci];
		const struct tput *p = &res->contend[1][ci];
		double v;

		if (!c->done || !p->done)
			continue;
		v = ratio(c->ops_s, p->ops_s);
		if (t->met < 0 || v < t->value) {
			t->value = v;
			snprintf(t->note, sizeof(t->note), "worst at %d "
			    "process%s", opt->counts[ci], opt->counts[ci] > 1 ?
			    "es" : "");
		}
		t->met = t->value >= 0.8;
	}
}

static void target_launch(struct bench_targets *tg,
    const struct bench_opts *opt, const struct bench_results *res)
{
	struct target *t = target_add(tg, "launch pair / hold pair (ns per "
	    "pair)", "<= 3x", "x");

	for (int ci = 0; ci < opt->ncounts; ci++) {
		double v;

		if (!res->launch[ci].done || !res->hold[M_CB][ci].done)
			continue;
		v = ratio(res->launch[ci].ns_pair, res->hold[M_CB][ci].ns_pair);
		if (t->met < 0 || v > t->value)
			t->value = v;
		t->met = t->value <= 3;
	}
}

static void target_watch(struct bench_targets *tg,
    const struct bench_opts *opt, const struct bench_results *res)
{
	struct target *t = target_add(tg, "watch wake p99", "<= 100 us", "us");

	for (int ci = 0; ci < opt->ncounts && res->sec[S_WATCH].st == ST_OK;
	    ci++) {
		if (t->met < 0 || res->watch[ci].p99 > t->value) {
			t->value = res->watch[ci].p99;
			snprintf(t->note, sizeof(t->note), "worst: %d "
			    "subscriber%s", opt->counts[ci],
			    opt->counts[ci] > 1 ? "s" : "");
		}
		t->met = t->value <= 100;
	}
}

/* The round trip's bound where the broker held all the workers, the
 * in-process model where it could not. */
static void target_publish(struct bench_targets *tg,
    const struct bench_results *res)
{
	struct target *t = target_add(tg, "recompute + publish, 10k workers",
	    "<= 1000 us", "us");
	const struct pub_row *last;
	double bound = 0;

	if (res->sec[S_PUBLISH].st != ST_OK)
		return;
	last = &res->pub[res->npub - 1];
	for (int i = 0; i < res->npub; i++)
		bound = res->pub[i].bound > bound ? res->pub[i].bound : bound;
	t->value = last->have >= last->want ? last->bound : last->model;
	t->met = t->value <= 1000 && bound <= 1000;
	if (last->have < last->want)
		snprintf(t->note, sizeof(t->note), "in-process model at %d; "
		    "the daemon holds %d, round trip bound %.0f us there",
		    last->want, last->have, bound);
}

/* Issue 15: a global pool's hold pair costs at most one coarse clock
 * read more than a local pool's, at 1 process (at more, the pool
 * counter's line moving between CPUs swamps a few ns: BENCHMARKS.md). */
static void target_global(struct bench_targets *tg,
    const struct bench_opts *opt, const struct bench_results *res)
{
	struct target *t = target_add(tg, "global - local hold pair / one "
	    "coarse clock read, 1 process", "<= 1x", "x");
	const struct tput *l = &res->hold_local[0];
	const struct tput *g = &res->hold[M_CB_GLOBAL][0];

	if (opt->counts[0] != 1 || !l->done || !g->done ||
	    res->coarse_read_ns <= 0)
		return;
	t->value = (g->ns_pair - l->ns_pair) / res->coarse_read_ns;
	t->met = t->value <= 1;
	snprintf(t->note, sizeof(t->note), "%+.1f ns; a read %.1f ns",
	    g->ns_pair - l->ns_pair, res->coarse_read_ns);
}

void evaluate(const struct bench_opts *opt, const struct bench_results *res,
    struct bench_targets *tg)
{
	struct target *t;

	tg->n = 0;
	target_read(tg, "state-word read / raw acquire load", opt, res, 0);
	target_read(tg, "cb_current() / one-load call via .so", opt, res, 1);
	target_hold(tg, "hold pair / POSIX sem throughput", ">= 0.8x", opt,
	    res, M_POSIX, 0.8);
	target_hold(tg, "hold pair / SysV SEM_UNDO throughput", ">= 10x",
	    opt, res, M_SYSV, 10);
	target_hold(tg, "hold pair / Redis semaphore throughput",
	    ">= 1000x", opt, res, M_REDIS, 1000);
	target_launch(tg, opt, res);
	target_watch(tg, opt, res);
	target_publish(tg, res);
	t = target_add(tg, "reclaim (kill -9 -> waiter holds), max",
	    "<= 10000 us", "us");
	if (res->sec[S_RECLAIM].st == ST_OK) {
		t->value = res->reclaim.max;
		t->met = t->value <= 10000;
	}
	target_contend(tg, opt, res);
	target_global(tg, opt, res);
}

/* ----------------------------------------------------------------- */
/* The human report. */

static const char *met_word(int met)
{
	return met < 0 ? "n/a" : met ? "met" : "MISSED";
}

static void print_tput_cell(const struct tput *t)
{
	if (t->done)
		printf(" %.3g M/s, %.0f ns |", t->ops_s / 1e6, t->ns_pair);
	else
		printf(" - |");
}

static void print_read(const struct bench_opts *opt,
    const struct bench_results *res)
{
	printf("\n### 1. Capacity read (ns per read, mean over processes)\n\n"
	    "| procs | raw acquire load | cb_state_load(cb_state_word()) | "
	    "one-load call via .so | cb_current() via .so | word / raw | "
	    "current / one-load |\n|---|---|---|---|---|---|---|\n");
	for (int ci = 0; ci < opt->ncounts; ci++) {
		const struct read_row *r = &res->read[ci];

		printf("| %d | %.2f | %.2f | %.2f | %.2f | %.2fx | %.2fx |\n",
		    opt->counts[ci], r->raw, r->word, r->oneload, r->current,
		    ratio(r->word, r->raw), ratio(r->current, r->oneload));
	}
}

/* capbroker's throughput relative to each method, and each floor's
 * relative to POSIX sem. */
static void print_hold_ratios(const struct bench_opts *opt,
    const struct bench_results *res)
{
	static const enum method floors[] = { M_FLOOR, M_STORE_FLOOR,
	    M_LANE_FLOOR, M_API_FLOOR, M_INLINE_FLOOR, M_WORD_FLOOR };
	const int nfloors = (int)(sizeof(floors) / sizeof(floors[0]));

	printf("\ncapbroker throughput relative to each (same run; a "
	    "floor's own ratio to POSIX sem is the best a hold pair with "
	    "its writes can reach):\n\n| procs |");
	for (int m = M_POSIX; m < M_COUNT; m++)
		printf(" vs %s |", method_title[m]);
	for (int i = 0; i < nfloors; i++)
		printf(" %s vs POSIX sem |", method_title[floors[i]]);
	printf("\n|---|");
	for (int m = M_POSIX; m < M_COUNT + nfloors; m++)
		printf("---|");
	printf("\n");
	for (int ci = 0; ci < opt->ncounts; ci++) {
		const struct tput *cb = &res->hold[M_CB][ci];
		const struct tput *px = &res->hold[M_POSIX][ci];

		printf("| %d |", opt->counts[ci]);
		for (int m = M_POSIX; m < M_COUNT; m++)
			if (cb->done && res->hold[m][ci].done)
				printf(" %.3gx |", ratio(cb->ops_s,
				    res->hold[m][ci].ops_s));
			else
				printf(" - |");
		for (int i = 0; i < nfloors; i++) {
			const struct tput *fl = &res->hold[floors[i]][ci];

			if (fl->done && px->done)
				printf(" %.3gx |", ratio(fl->ops_s, px->ops_s));
			else
				printf(" - |");
		}
		printf("\n");
	}
}

/* A global pool's hold pair beside a local pool's of the same kind and
 * limit (issue 15: the share deadline costs one coarse clock read). */
static void print_hold_global(const struct bench_opts *opt,
    const struct bench_results *res)
{
	printf("\nGlobal pool vs local pool (capbroker hold, fixed pools of "
	    "the same limit, each local run just before the global one; "
	    "the global pool has its share from capbench's etcd, and its "
	    "admission also reads the share deadline, the coarse clock and "
	    "the hold's epoch):\n\n");
	if (res->etcd_why[0]) {
		printf("skipped: %s\n", res->etcd_why);
		return;
	}
	printf("| procs | local ns/pair | global ns/pair "
	    "| global - local ns | global / local |\n|---|---|---|---|---|\n");
	for (int ci = 0; ci < opt->ncounts; ci++) {
		const struct tput *l = &res->hold_local[ci];
		const struct tput *g = &res->hold[M_CB_GLOBAL][ci];

		if (!l->done || !g->done) {
			printf("| %d | - | - | - | - |\n", opt->counts[ci]);
			continue;
		}
		printf("| %d | %.1f | %.1f | %+.1f | %.3fx |\n",
		    opt->counts[ci], l->ns_pair, g->ns_pair,
		    g->ns_pair - l->ns_pair, ratio(g->ns_pair, l->ns_pair));
	}
	printf("\nOne CLOCK_MONOTONIC_COARSE read, measured with them: "
	    "%.1f ns (the bar for global - local).\n", res->coarse_read_ns);
}

static void print_hold(const struct bench_opts *opt,
    const struct bench_results *res)
{
	printf("\n### 2. Hold pair: take one unit + give it back "
	    "(total pairs/s, ns per pair per process)\n\n| procs |");
	for (int m = 0; m < M_COUNT; m++)
		printf(" %s |", method_title[m]);
	printf("\n|---|");
	for (int m = 0; m < M_COUNT; m++)
		printf("---|");
	printf("\n");
	for (int ci = 0; ci < opt->ncounts; ci++) {
		printf("| %d |", opt->counts[ci]);
		for (int m = 0; m < M_COUNT; m++)
			print_tput_cell(&res->hold[m][ci]);
		printf("\n");
	}
	print_hold_ratios(opt, res);
	if (opt->methods & (1u << M_CB_GLOBAL))
		print_hold_global(opt, res);
}

static void print_launch(const struct bench_opts *opt,
    const struct bench_results *res)
{
	printf("\n### 3. Launch pair vs hold pair (ns per pair per process)\n"
	    "\n| procs | hold | launch | launch / hold |\n|---|---|---|---|\n");
	for (int ci = 0; ci < opt->ncounts; ci++)
		printf("| %d | %.0f | %.0f | %.2fx |\n", opt->counts[ci],
		    res->hold[M_CB][ci].ns_pair, res->launch[ci].ns_pair,
		    ratio(res->launch[ci].ns_pair,
		    res->hold[M_CB][ci].ns_pair));
}

static void print_watch(const struct bench_opts *opt,
    const struct bench_results *res)
{
	printf("\n### 4. Watch: broker publish -> cb_watch() returns "
	    "(us, %d publications)\n\n| subscribers | samples | p50 | p99 | "
	    "max |\n|---|---|---|---|---|\n", opt->watch_rounds);
	for (int ci = 0; ci < opt->ncounts; ci++)
		printf("| %d | %d | %.1f | %.1f | %.1f |\n", opt->counts[ci],
		    res->watch[ci].samples, res->watch[ci].p50,
		    res->watch[ci].p99, res->watch[ci].max);
}

static void print_publish(const struct bench_opts *opt,
    const struct bench_results *res)
{
	printf("\n### 5. Broker recompute + publish (control round trips, "
	    "us, %d each)\n\n| workers | registered | WORKER SET p50 | "
	    "WORKER SET p99 | PING p50 | recompute+publish <= (SET - PING) | "
	    "in-process tier + copy |\n|---|---|---|---|---|---|---|\n",
	    opt->iters);
	for (int i = 0; i < res->npub; i++) {
		const struct pub_row *r = &res->pub[i];

		printf("| %d | %d | %.1f | %.1f | %.1f | %.1f | %.2f |\n",
		    r->want, r->have, r->set_p50, r->set_p99, r->ping_p50,
		    r->bound, r->model);
	}
	printf("\nControl verbs (p50 round trip, 10 workers): PING %.1f us, "
	    "STATUS %.1f us, WORKER SET %.1f us\n", res->verb_ping,
	    res->verb_status, res->verb_set);
}

static void print_reclaim(const struct bench_results *res)
{
	printf("\n### 6. Reclaim: kill -9 of a holder -> the blocked "
	    "waiter holds (ms, %d rounds)\n\n| p50 | p99 | max |\n"
	    "|---|---|---|\n| %.2f | %.2f | %.2f |\n",
	    res->reclaim.samples, res->reclaim.p50 / 1e3,
	    res->reclaim.p99 / 1e3, res->reclaim.max / 1e3);
}

/* One method's cells of section 7: throughput, max/min share, waits. */
static void print_contend_cells(const struct tput *t)
{
	printf(" %.3g M/s | %.2f | %.1f us | %.1f us |", t->ops_s / 1e6,
	    t->fairness, t->wait_p99_us, t->wait_max_us);
}

static void print_contend(const struct bench_opts *opt,
    const struct bench_results *res)
{
	printf("\n### 7. Contention near the limit (limit = procs/2, blocking "
	    "reserve, %d ns held, %d ns between; wait: from the call to the "
	    "admission, every reserve)\n\n| procs | limit | "
	    "capbroker pairs/s | max/min | p99 wait | max wait | "
	    "POSIX sem pairs/s | max/min | p99 wait | max wait | "
	    "capbroker vs POSIX sem |\n"
	    "|---|---|---|---|---|---|---|---|---|---|---|\n",
	    CONTEND_HOLD_NS, CONTEND_THINK_NS);
	for (int ci = 0; ci < opt->ncounts; ci++) {
		const struct tput *c = &res->contend[0][ci];
		const struct tput *p = &res->contend[1][ci];

		printf("| %d | %d |", opt->counts[ci], res->contend_limit[ci]);
		print_contend_cells(c);
		print_contend_cells(p);
		printf(" %.2fx |\n", ratio(c->ops_s, p->ops_s));
	}
}

/* The machine, the command, and each section that did not just run. */
static void print_header(const struct bench_opts *opt,
    const struct bench_results *res)
{
	const struct machine_info *mi = &res->machine;

	printf("## capbench\n\nMachine: %s, %d CPUs online, %s.  \n"
	    "Load average: %s at start, %s at end.  \n"
	    "Command: `%s`  \nRuns: %d ms per measurement, best of %d.\n",
	    mi->cpu_model, mi->ncpu, mi->kernel, mi->load_start, mi->load_end,
	    opt->cmdline, opt->dur_ms, opt->reps);
	for (int s = 0; s < S_COUNT; s++) {
		const struct section_result *sec = &res->sec[s];

		if (sec->st != ST_OK || sec->why[0])
			printf("\n- %s: %s%s%s", section_name[s],
			    status_name[sec->st], sec->why[0] ? ": " : "",
			    sec->why);
	}
	printf("\n");
}

static void print_targets(const struct bench_targets *tg)
{
	printf("\n### Targets\n\n| target | measured | goal | |\n"
	    "|---|---|---|---|\n");
	for (int i = 0; i < tg->n; i++) {
		const struct target *t = &tg->t[i];

		printf("| %s | ", t->name);
		if (t->met < 0)
			printf("-");
		else
			printf("%.3g%s%s", t->value, t->unit[0] == 'x' ? "" :
			    " ", t->unit);
		printf("%s%s%s | %s | %s |\n", t->note[0] ? " (" : "", t->note,
		    t->note[0] ? ")" : "", t->goal, met_word(t->met));
	}
}

void print_human(const struct bench_opts *opt,
    const struct bench_results *res, const struct bench_targets *tg)
{
	const struct section_result *sec = res->sec;

	print_header(opt, res);
	if (sec[S_READ].st == ST_OK)
		print_read(opt, res);
	if (sec[S_HOLD].st == ST_OK)
		print_hold(opt, res);
	if (sec[S_LAUNCH].st == ST_OK && sec[S_HOLD].st == ST_OK)
		print_launch(opt, res);
	if (sec[S_WATCH].st == ST_OK)
		print_watch(opt, res);
	if (sec[S_PUBLISH].st == ST_OK)
		print_publish(opt, res);
	if (sec[S_RECLAIM].st == ST_OK)
		print_reclaim(res);
	if (sec[S_CONTEND].st == ST_OK)
		print_contend(opt, res);
	print_targets(tg);
	printf("\n/dev/shm entries left behind: %d\n", res->shm_left);
}
