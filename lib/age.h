/*
 * age.h - a global pool's hold aging (issue 15, rule (c) of
 * broker/cluster.c; ABI 1.4): after hold_max a hold stops counting
 * toward the share, and its late release is -ESTALE.
 *
 * Where the ages are.  A global pool has no local launches (its
 * launches are etcd transactions, client/glaunch.c), so the high half
 * of its usage word U, a launch count elsewhere, keeps the ages of its
 * holds, in the same word as the count the admitting CAS checks:
 *
 *   bit 63      CB_AGE_MARK: this layout (else the high half is
 *               `launching`, as in every local pool)
 *   bits 52-62  prev: holds of epoch E - 1          (at most 2,047)
 *   bits 40-51  aged: holds of epochs E - 2 and older (at most 4,095)
 *   bits 32-39  E mod 256, the word's epoch
 *   bits 0-31   held: every hold, aged or not (what every reader of
 *               CB_USAGE_HELD and the recount see, as before)
 *
 * and cur = held - aged - prev are the holds of epoch E.  A hold counts
 * (toward the limit: usage_live) while it is in cur or prev.
 *
 * Epochs.  Epoch e is [e * eps, (e + 1) * eps) of CLOCK_MONOTONIC, eps
 * = hold_max + CB_AGE_MARGIN_MS, the same for every process (one clock
 * on one host).  The broker's sweeper (cb_rsv_age(), every sweep)
 * moves every global pool's U into the current epoch and publishes the
 * age word cb_pool_conf.age = P << 32 | eps_ms, P that epoch; a client
 * resolves the word's E against P (age_epoch: within 127 epochs of it).
 *
 * The rule, and why a hold never stops counting before hold_max:
 *  - An admission adds to cur (held + 1) by the CAS that checks
 *    cur + prev + 1 <= limit, and takes the word's epoch W as the
 *    hold's.  After the CAS it reads the coarse clock anyway (the share
 *    deadline, lane.h); unless that reading is before (W + 1) * eps it
 *    gives the unit back (age_dated(): the sweeper has not moved the
 *    word into the new epoch yet, for at most a sweep after each
 *    boundary, or it is stopped, and then the share's deadline comes
 *    soon anyway).  So a hold of epoch W was granted before
 *    (W + 1) * eps by a coarse clock, before (W + 1) * eps + one tick
 *    in truth.
 *  - Only the sweeper's advance ages: moving to epoch E + 1 folds prev
 *    into aged and cur into prev, and it reads the clock at
 *    (E + 1) * eps or later.  A hold of epoch W reaches aged at
 *    E = W + 2, at (W + 2) * eps or later: more than eps - tick >=
 *    hold_max after it was granted.
 *  - A release names the hold's epoch (its 15 low bits, kept in the
 *    ticket: lane.h, ticket_date_set) and takes one count from that
 *    epoch's bucket in one CAS with held - 1 (age_put); a hold found
 *    in aged is a late release (-ESTALE, the unit given back all the
 *    same).
 *  - Counts only ever move to a NEWER bucket than their holds' epochs
 *    (a full field leaves the rest in cur; a bucket found empty gives
 *    from the oldest non-empty one instead, age_take), never to an
 *    older one: so for every k the holds in the k newest buckets are
 *    counted there or newer, and a hold counts at least as long as its
 *    epoch says.  A count taken without an epoch (the reclaim of a dead
 *    client, a drift trimmed by the recount, a unit given back after a
 *    refused re-check) comes from the oldest non-empty bucket
 *    (age_take_front), which keeps that true whichever hold it was:
 *    tests/unit/test_age.c runs the operations against a list of
 *    holds with their true ages, and tests/model/aging.pml checks them
 *    under every interleaving of clients and the sweeper.
 *
 * Hostile writes (docs/OPERATIONS.md, trust model): a forged field is
 * read clamped (aged <= held, prev <= held - aged); an epoch ahead of
 * the broker's clock is put back by the sweeper (every hold counted
 * again: the safe direction), the mark on a local pool's word removed
 * within a sweep (its admissions refused meanwhile: nothing to date
 * them against).  A member that forges aged counts in its own host's
 * word can overshoot that host's share, as one that forges held can
 * (reserve.h, "Trust").
 */
#ifndef CB_AGE_H
#define CB_AGE_H

#include <stdint.h>

#define CB_AGE_MARK (1ull << 63)
#define CB_AGE_PREV_MAX 0x7ffu
#define CB_AGE_AGED_MAX 0xfffu
#define CB_AGE_E8(u) ((uint32_t)((u) >> 32) & 0xffu)
#define CB_AGE_AGED_RAW(u) ((uint32_t)((u) >> 40) & CB_AGE_AGED_MAX)
#define CB_AGE_PREV_RAW(u) ((uint32_t)((u) >> 52) & CB_AGE_PREV_MAX)
/* What an epoch adds to hold_max: more than the coarse clock trails
 * the precise one (clock.h measures ~5 ms). */
#define CB_AGE_MARGIN_MS 100u

/* Positions of a hold (age_take): its epoch's bucket by age, or none
 * known (the oldest non-empty bucket). */
enum { AGE_CUR = 0, AGE_PREV = 1, AGE_AGED = 2, AGE_FRONT = -1 };

/* A marked word, split and clamped: held = aged + prev + cur. */
struct cb_age {
	uint32_t held, aged, prev, cur, e8;
};

static inline void age_split(uint64_t u, struct cb_age *a)
{
	a->held = (uint32_t)u;
	a->aged = CB_AGE_AGED_RAW(u);
	if (a->aged > a->held)
		a->aged = a->held;
	a->prev = CB_AGE_PREV_RAW(u);
	if (a->prev > a->held - a->aged)
		a->prev = a->held - a->aged;
	a->cur = a->held - a->aged - a->prev;
	a->e8 = CB_AGE_E8(u);
}

static inline uint64_t age_join(const struct cb_age *a)
{
	return CB_AGE_MARK | (uint64_t)a->prev << 52 |
	    (uint64_t)a->aged << 40 | (uint64_t)(a->e8 & 0xffu) << 32 |
	    a->held;
}

/* The holds that count (prev + cur = held - aged, aged clamped as
 * age_split() does): all of them in a local pool's word. */
static inline uint32_t usage_live(uint64_t u)
{
	uint32_t held = (uint32_t)u, aged = CB_AGE_AGED_RAW(u);

	if (__builtin_expect(!(u & CB_AGE_MARK), 1))
		return held;
	return aged < held ? held - aged : 0;
}

/* The full epoch of word u, resolved against the published epoch P
 * (the word is within 127 epochs of it). */
static inline int64_t age_epoch(uint64_t u, uint64_t P)
{
	return (int64_t)P + (int8_t)(uint8_t)(CB_AGE_E8(u) - (uint8_t)P);
}

/* Move the word d > 0 epochs forward, to epoch e: prev into aged, cur
 * into prev (d == 1) or both into aged (d >= 2).  A full field leaves
 * the rest counted in cur (newer: safe). */
static inline void age_advance(struct cb_age *a, int64_t d, uint64_t e)
{
	uint64_t fold = (uint64_t)a->prev + (d >= 2 ? a->cur : 0);
	uint64_t aged = a->aged + fold;

	a->aged = aged > CB_AGE_AGED_MAX ? CB_AGE_AGED_MAX : (uint32_t)aged;
	if (d >= 2)
		a->prev = 0;
	else
		a->prev = a->cur > CB_AGE_PREV_MAX ? CB_AGE_PREV_MAX : a->cur;
	a->cur = a->held - a->aged - a->prev;
	a->e8 = (uint32_t)e & 0xffu;
}

/* Take one hold from position pos (its epoch's bucket), or, if that
 * bucket is empty or the position unknown, from the oldest non-empty
 * one.  Returns the bucket taken from, -1 if held is 0. */
static inline int age_take(struct cb_age *a, int pos)
{
	if (a->held == 0)
		return -1;
	if (pos == AGE_AGED && a->aged > 0)
		a->aged--;
	else if (pos == AGE_PREV && a->prev > 0)
		a->prev--;
	else if (pos == AGE_CUR && a->cur > 0)
		a->cur--;
	else if (a->aged > 0)
		pos = AGE_AGED, a->aged--;
	else if (a->prev > 0)
		pos = AGE_PREV, a->prev--;
	else
		pos = AGE_CUR, a->cur--;
	a->held--;
	return pos;
}

/* Take n holds (at most held) from the oldest buckets; returns how
 * many. */
static inline uint32_t age_take_front(struct cb_age *a, uint32_t n)
{
	uint32_t take = n < a->held ? n : a->held, k = take, m;

	m = k < a->aged ? k : a->aged;
	a->aged -= m;
	k -= m;
	m = k < a->prev ? k : a->prev;
	a->prev -= m;
	k -= m;
	a->cur -= k;
	a->held -= take;
	return take;
}

/* The position of a hold of epoch t in a word at epoch w. */
static inline int age_pos(int64_t w, int64_t t)
{
	if (t > w)
		return AGE_FRONT;      /* impossible honestly: no guess */
	return w - t >= 2 ? AGE_AGED : (int)(w - t);
}

#endif /* CB_AGE_H */
