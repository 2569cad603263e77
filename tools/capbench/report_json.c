/*
 * report_json.c - the results as JSON (--json: every section with its
 * status and reason, the targets; tests/integration/t_bench.sh reads
 * it) and the hold-pair throughput as gnuplot data (--dat:
 * tools/capbench.gp plots it).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "capbench.h"

/* JSON: every string capbench writes is its own or checked ASCII, but
 * escape anyway. */
static void jstr(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch < 0x20 || ch >= 0x7f)
			fprintf(f, "\\u%04x", ch);
		else
			fputc(ch, f);
	}
	fputc('"', f);
}

static void jnum(FILE *f, const char *key, double v, int comma)
{
	fprintf(f, "\"%s\": %.6g%s", key, v, comma ? ", " : "");
}

static void json_tput(FILE *f, const char *key, const struct tput *t)
{
	fprintf(f, "\"%s\": ", key);
	if (!t->done) {
		fprintf(f, "null");
		return;
	}
	fprintf(f, "{");
	jnum(f, "ops_per_s", t->ops_s, 1);
	jnum(f, "ns_per_pair", t->ns_pair, 1);
	jnum(f, "fairness", t->fairness, 1);
	if (t->waits > 0) {
		fprintf(f, "\"waits\": %llu, ",
		    (unsigned long long)t->waits);
		jnum(f, "wait_p99_us", t->wait_p99_us, 1);
		jnum(f, "wait_max_us", t->wait_max_us, 1);
	}
	fprintf(f, "\"refused\": %llu}", (unsigned long long)t->refused);
}

static void json_lat(FILE *f, const struct lat *l)
{
	fprintf(f, "\"samples\": %d, ", l->samples);
	jnum(f, "p50_us", l->p50, 1);
	jnum(f, "p99_us", l->p99, 1);
	jnum(f, "max_us", l->max, 0);
}

/* The fields of section s's row for process count ci. */
static void json_row(FILE *f, enum section s, const struct bench_results *res,
    int ci)
{
	switch (s) {
	case S_READ:
		jnum(f, "raw_ns", res->read[ci].raw, 1);
		jnum(f, "state_word_ns", res->read[ci].word, 1);
		jnum(f, "oneload_ns", res->read[ci].oneload, 1);
		jnum(f, "current_ns", res->read[ci].current, 0);
		break;
	case S_HOLD:
		for (int m = 0; m < M_COUNT; m++) {
			json_tput(f, method_name[m], &res->hold[m][ci]);
			fprintf(f, ", ");
		}
		/* capbroker_global's local twin (capbench.h). */
		json_tput(f, "capbroker_local_pool", &res->hold_local[ci]);
		fprintf(f, ", ");
		jnum(f, "coarse_read_ns", res->coarse_read_ns, 0);
		break;
	case S_LAUNCH:
		json_tput(f, "launch", &res->launch[ci]);
		fprintf(f, ", ");
		json_tput(f, "hold", &res->hold[M_CB][ci]);
		break;
	case S_WATCH:
		json_lat(f, &res->watch[ci]);
		break;
	case S_CONTEND:
		fprintf(f, "\"limit\": %d, ", res->contend_limit[ci]);
		json_tput(f, "capbroker", &res->contend[0][ci]);
		fprintf(f, ", ");
		json_tput(f, "posix_sem", &res->contend[1][ci]);
		break;
	default:
		break;
	}
}

static void json_rows(FILE *f, enum section s, const struct bench_opts *opt,
    const struct bench_results *res)
{
	for (int ci = 0; ci < opt->ncounts; ci++) {
		fprintf(f, "%s\n      {\"procs\": %d, ", ci ? "," : "",
		    opt->counts[ci]);
		json_row(f, s, res, ci);
		fprintf(f, "}");
	}
}

/* Section 5: the verbs, and a row per worker count. */
static void json_publish(FILE *f, const struct bench_results *res)
{
	fprintf(f, ", \"verbs_p50_us\": {");
	jnum(f, "ping", res->verb_ping, 1);
	jnum(f, "status", res->verb_status, 1);
	jnum(f, "worker_set", res->verb_set, 0);
	fprintf(f, "}, \"rows\": [");
	for (int i = 0; i < res->npub; i++) {
		const struct pub_row *r = &res->pub[i];

		fprintf(f, "%s\n      {\"workers\": %d, \"registered\": "
		    "%d, ", i ? "," : "", r->want, r->have);
		jnum(f, "set_p50_us", r->set_p50, 1);
		jnum(f, "set_p99_us", r->set_p99, 1);
		jnum(f, "ping_p50_us", r->ping_p50, 1);
		jnum(f, "publish_bound_us", r->bound, 1);
		jnum(f, "model_us", r->model, 0);
		fprintf(f, "}");
	}
	fprintf(f, "]}");
}

static void json_section(FILE *f, enum section s,
    const struct bench_opts *opt, const struct bench_results *res)
{
	fprintf(f, "    \"%s\": {\"status\": \"%s\", \"reason\": ",
	    section_name[s], status_name[res->sec[s].st]);
	jstr(f, res->sec[s].why);
	if (res->sec[s].st != ST_OK) {
		fprintf(f, "}");
		return;
	}
	switch (s) {
	case S_PUBLISH:
		json_publish(f, res);
		return;
	case S_RECLAIM:
		fprintf(f, ", ");
		json_lat(f, &res->reclaim);
		fprintf(f, "}");
		return;
	default:
		fprintf(f, ", \"rows\": [");
		json_rows(f, s, opt, res);
		fprintf(f, "]}");
	}
}

static void json_machine(FILE *f, const struct bench_opts *opt,
    const struct machine_info *mi)
{
	fprintf(f, "{\n  \"machine\": {\"cpu\": ");
	jstr(f, mi->cpu_model);
	fprintf(f, ", \"cpus\": %d, \"kernel\": ", mi->ncpu);
	jstr(f, mi->kernel);
	fprintf(f, ", \"loadavg_start\": ");
	jstr(f, mi->load_start);
	fprintf(f, ", \"loadavg_end\": ");
	jstr(f, mi->load_end);
	fprintf(f, "},\n  \"command\": ");
	jstr(f, opt->cmdline);
	fprintf(f, ",\n  \"smoke\": %s, \"duration_ms\": %d, \"reps\": %d, "
	    "\"procs\": [", opt->smoke ? "true" : "false", opt->dur_ms,
	    opt->reps);
	for (int ci = 0; ci < opt->ncounts; ci++)
		fprintf(f, "%s%d", ci ? ", " : "", opt->counts[ci]);
	fprintf(f, "],\n");
}

static void json_targets(FILE *f, const struct bench_targets *tg)
{
	fprintf(f, "  \"targets\": [");
	for (int i = 0; i < tg->n; i++) {
		const struct target *t = &tg->t[i];

		fprintf(f, "%s\n    {\"name\": ", i ? "," : "");
		jstr(f, t->name);
		fprintf(f, ", \"goal\": ");
		jstr(f, t->goal);
		fprintf(f, ", \"value\": ");
		if (t->met < 0)
			fprintf(f, "null");
		else
			fprintf(f, "%.6g", t->value);
		fprintf(f, ", \"unit\": \"%s\", \"met\": %s, \"note\": ",
		    t->unit, t->met < 0 ? "null" : t->met ? "true" : "false");
		jstr(f, t->note);
		fprintf(f, "}");
	}
	fprintf(f, "\n  ],\n");
}

/* The JSON report to path ("-": stdout).  Returns 0 or -errno. */
int write_json(const char *path, const struct bench_opts *opt,
    const struct bench_results *res, const struct bench_targets *tg)
{
	FILE *f = strcmp(path, "-") == 0 ? stdout : fopen(path, "w");

	if (f == NULL)
		return -errno;
	json_machine(f, opt, &res->machine);
	fprintf(f, "  \"sections\": {\n");
	for (int s = 0; s < S_COUNT; s++) {
		json_section(f, (enum section)s, opt, res);
		fprintf(f, "%s\n", s + 1 < S_COUNT ? "," : "");
	}
	fprintf(f, "  },\n");
	json_targets(f, tg);
	fprintf(f, "  \"shm_leftovers\": %d\n}\n", res->shm_left);
	if (f != stdout)
		return fclose(f) == 0 ? 0 : -errno;
	return 0;
}

/* gnuplot data: hold pair throughput per method ("?" = not measured). */
int write_dat(const char *path, const struct bench_opts *opt,
    const struct bench_results *res)
{
	FILE *f = fopen(path, "w");

	if (f == NULL)
		return -errno;
	fprintf(f, "# procs");
	for (int m = 0; m < M_COUNT; m++)
		fprintf(f, " %s", method_name[m]);
	fprintf(f, "   (hold pairs per second, all processes)\n");
	for (int ci = 0; ci < opt->ncounts; ci++) {
		fprintf(f, "%d", opt->counts[ci]);
		for (int m = 0; m < M_COUNT; m++)
			if (res->hold[m][ci].done)
				fprintf(f, " %.0f", res->hold[m][ci].ops_s);
			else
				fprintf(f, " ?");
		fprintf(f, "\n");
	}
	return fclose(f) == 0 ? 0 : -errno;
}
