/*
 * tier.c - the four-tier capacity function (see tier.h).
 */
#include "tier.h"

#include "abi.h"
#include "capbroker.h"

static uint32_t sat_add(uint32_t a, uint32_t b)
{
	uint32_t s = a + b;

	if (s < a || s > CB_CAPACITY_MAX)
		return CB_CAPACITY_MAX;
	return s;
}

static uint32_t clamp_capacity(uint32_t v)
{
	if (v == 0)
		return 1;
	return v > CB_CAPACITY_MAX ? CB_CAPACITY_MAX : v;
}

void cb_tier_compute(const struct cb_tier_settings *set,
    const struct cb_tier_worker *workers, size_t n,
    struct cb_tier_result *out)
{
	uint32_t reported_sum = 0, ready = 0, reporting = 0;

	for (size_t i = 0; i < n; i++) {
		if (workers[i].state != CB_WORKER_READY)
			continue;
		ready++;
		if (workers[i].max_running > 0) {
			reporting++;
			reported_sum = sat_add(reported_sum,
			    workers[i].max_running);
		}
	}

	out->ready = ready;
	out->reporting = reporting;
	out->override_ignored = set->override > CB_CAPACITY_MAX;

	if (set->override >= 1 && set->override <= CB_CAPACITY_MAX) {
		out->capacity = set->override;
		out->source = CB_SOURCE_OVERRIDE;
	} else if (ready == 0) {
		out->capacity = clamp_capacity(set->legacy_max);
		out->source = CB_SOURCE_FALLBACK;
	} else if (reporting == ready) {
		out->capacity = reported_sum;
		out->source = CB_SOURCE_REPORTED;
	} else {
		uint64_t fill = (uint64_t)(ready - reporting) *
		    set->slots_per_worker;

		out->capacity = clamp_capacity(sat_add(reported_sum,
		    fill > CB_CAPACITY_MAX ? CB_CAPACITY_MAX : (uint32_t)fill));
		out->source = CB_SOURCE_MIXED;
	}
}

/* Exported from libcapbroker (capbroker.h); the broker and tools use it
 * from here, so none of them needs the client library. */
const char *cb_source_name(int source)
{
	static const char *const names[] = {
		[CB_SOURCE_OVERRIDE] = "override",
		[CB_SOURCE_REPORTED] = "reported",
		[CB_SOURCE_MIXED] = "mixed",
		[CB_SOURCE_FALLBACK] = "fallback",
	};

	if (source < 0 || source > CB_SOURCE_FALLBACK)
		return "unknown";
	return names[source];
}
