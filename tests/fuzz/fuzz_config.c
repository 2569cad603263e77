/*
 * fuzz_config.c - libFuzzer harness for the broker's configuration
 * parser (cb_config_parse, broker/config.c), fed the input through
 * fmemopen(3).  A violated invariant traps:
 *
 *   - the return is 0, -EINVAL or -ENOMEM;
 *   - on 0: slots_per_worker, legacy_max_concurrent_requests and
 *     retry_after_ms are in 1..65535; the override is 0..65535 and 0
 *     unless the file set one; a counted rejected override is outside
 *     0..65535 (never clamped, never taken); at most CB_MAX_WORKERS
 *     workers, each with a valid id, a known state and max_running
 *     <= 65535;
 *   - on error: the message is non-empty, NUL-terminated inside the
 *     buffer, and starts with "PATH:LINE: ";
 *   - the same input parses the same way twice;
 *   - cb_config_free releases everything (LeakSanitizer checks).
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "proto.h"
#include "tier.h"

#define ERRLEN 256
#define PATH "fuzz.conf"

#define FUZZ_NAME "fuzz_config"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int parse(const uint8_t *data, size_t size, struct cb_config *c,
    char *err)
{
	FILE *f;
	int r;

	cb_config_defaults(c);
	memset(err, 0xa5, ERRLEN);
	/* fmemopen refuses a zero size on some libcs: an empty file is
	 * then an empty file of /dev/null's kind. */
	f = size > 0 ? fmemopen((void *)data, size, "r") :
	    fopen("/dev/null", "r");
	CHECK(f != NULL);
	r = cb_config_parse(c, f, PATH, err, ERRLEN);
	fclose(f);
	return r;
}

/* The cluster settings (issue 15) and the global pools they allow. */
static void check_cluster(const struct cb_config *c)
{
	const struct cb_cluster_conf *cc = &c->cluster;
	size_t len = strnlen(cc->etcd, sizeof(cc->etcd));

	CHECK(len < sizeof(cc->etcd));
	CHECK(len == 0 || strncmp(cc->etcd, "http://", 7) == 0 ||
	    strncmp(cc->etcd, "https://", 8) == 0);
	CHECK((len == 0) == (c->etcd_line == 0));
	CHECK(cb_config_name_valid(cc->cluster, CB_CLUSTER_NAME_MAX));
	CHECK(cc->host[0] == '\0' ||
	    cb_config_name_valid(cc->host, CB_HOST_NAME_MAX));
	CHECK(len == 0 || cc->host[0] != '\0');
	CHECK(cc->lease_ttl_s >= CB_LEASE_TTL_MIN &&
	    cc->lease_ttl_s <= CB_LEASE_TTL_MAX);
	for (size_t i = 0; i < c->npools; i++) {
		unsigned k = c->pools[i].req.pool_keys;

		if (k & CB_POOL_SET_GLOBAL)
			CHECK(len > 0 && (k & CB_POOL_SET_LIMIT) &&
			    !(k & CB_POOL_SET_LOCAL));
		if (k & CB_POOL_SET_HOLD_MAX)
			CHECK(k & CB_POOL_SET_GLOBAL);
	}
}

static void check_ok(const struct cb_config *c)
{
	CHECK(c->slots_per_worker >= 1 &&
	    c->slots_per_worker <= CB_CAPACITY_MAX);
	CHECK(c->legacy_max >= 1 && c->legacy_max <= CB_CAPACITY_MAX);
	CHECK(c->retry_after_ms >= 1 && c->retry_after_ms <= CB_CAPACITY_MAX);
	CHECK(cb_tier_override_valid(c->override));
	CHECK(c->override_set || c->override == 0);
	/* Any integer is an override that parses (config.c); the last
	 * one out of range is kept to be logged. */
	if (c->override_rejects > 0)
		CHECK(!cb_tier_override_valid(c->override_rejected));
	else
		CHECK(c->override_rejected == 0);
	CHECK(c->nworkers <= CB_MAX_WORKERS);
	CHECK(c->nworkers == 0 || c->workers != NULL);
	for (size_t i = 0; i < c->nworkers; i++) {
		const struct cb_config_worker *w = &c->workers[i];

		CHECK(memchr(w->id, '\0', sizeof(w->id)) != NULL);
		CHECK(cb_worker_id_valid(w->id));
		CHECK(cb_worker_state_name(w->state) != NULL);
		CHECK(w->max_running <= CB_CAPACITY_MAX);
	}
	check_cluster(c);
}

static int same_config(const struct cb_config *a, const struct cb_config *b)
{
	if (a->slots_per_worker != b->slots_per_worker ||
	    a->legacy_max != b->legacy_max ||
	    a->retry_after_ms != b->retry_after_ms ||
	    a->override != b->override || a->override_set != b->override_set ||
	    a->override_rejected != b->override_rejected ||
	    a->override_rejects != b->override_rejects ||
	    a->nworkers != b->nworkers ||
	    cb_config_cluster_diff(&a->cluster, &b->cluster) != NULL)
		return 0;
	for (size_t i = 0; i < a->nworkers; i++)
		if (strcmp(a->workers[i].id, b->workers[i].id) != 0 ||
		    a->workers[i].state != b->workers[i].state ||
		    a->workers[i].max_running != b->workers[i].max_running)
			return 0;
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cb_config c, c2;
	char *err = malloc(ERRLEN), *err2 = malloc(ERRLEN);
	int r, r2;

	CHECK(err != NULL && err2 != NULL);
	r = parse(data, size, &c, err);
	CHECK(r == 0 || r == -EINVAL || r == -ENOMEM);
	if (r == 0) {
		check_ok(&c);
	} else if (r == -EINVAL) {
		CHECK(memchr(err, '\0', ERRLEN) != NULL);
		CHECK(strncmp(err, PATH ":", strlen(PATH ":")) == 0);
		CHECK(strstr(err, ": ") != NULL);
	}
	r2 = parse(data, size, &c2, err2);
	CHECK(r2 == r);
	if (r == 0)
		CHECK(same_config(&c, &c2));
	else if (r == -EINVAL)
		CHECK(strcmp(err, err2) == 0);
	cb_config_free(&c);
	cb_config_free(&c2);
	free(err);
	free(err2);
	return 0;
}
