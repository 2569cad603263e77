/*
 * tier.h - the four-tier capacity function.
 *
 * A pure function from (settings, workers) to (capacity, source), with
 * this precedence:
 *
 *   override  an operator-pinned value in 1..65535 wins; 0 derives.
 *             Anything else is ignored and reported in
 *             result.override_ignored so the caller warns and counts it
 *             (never clamped, never silently accepted).
 *   reported  every ready worker reports max_running: their sum.
 *   mixed     some (or none) of the ready workers report: reporters'
 *             values plus slots_per_worker per non-reporter.
 *   fallback  no ready worker: legacy_max.
 *
 * Sums saturate at CB_CAPACITY_MAX (65535).  Only ready workers count:
 * not_ready and draining contribute nothing, so capacity shrinks when a
 * worker fails.  Settings are validated upstream (config, control
 * protocol); here slots_per_worker and legacy_max are taken as given and
 * the result clamped to 1..65535 so a capacity of 0 is never published.
 */
#ifndef CB_TIER_H
#define CB_TIER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CB_DEFAULT_SLOTS_PER_WORKER 64u
#define CB_DEFAULT_LEGACY_MAX 1024u

struct cb_tier_settings {
	uint32_t override;          /* 0 = derive */
	uint32_t slots_per_worker;
	uint32_t legacy_max;
};

struct cb_tier_worker {
	uint32_t state;             /* enum cb_worker_state */
	uint32_t max_running;       /* 0 = does not report */
};

struct cb_tier_result {
	uint32_t capacity;          /* 1..65535 */
	int source;                 /* enum cb_source */
	bool override_ignored;      /* override outside 1..65535 */
	uint32_t ready;             /* ready workers */
	uint32_t reporting;         /* ready workers that report */
};

void cb_tier_compute(const struct cb_tier_settings *set,
    const struct cb_tier_worker *workers, size_t n,
    struct cb_tier_result *out);

/* 1 when v is an acceptable override (0 or 1..65535), else 0. */
static inline int cb_tier_override_valid(long long v)
{
	return v >= 0 && v <= 65535;
}

#endif /* CB_TIER_H */
