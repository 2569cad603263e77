/*
 * aging.pml - a global pool's hold aging (lib/age.h; issue 15, rule (c)
 * of broker/cluster.c), with spin: the word's operations under every
 * interleaving of clients and the sweeper, against the holds they stand
 * for.
 *
 * shares.pml checks the cluster with rule (c) as given: "a hold counts
 * until it ends or reaches hold_max".  This model checks that the
 * usage word keeps that promise: no hold granted to a client stops
 * counting (leaves cur + prev for aged) before it is hold_max old, and
 * a release that finds its hold aged (-ESTALE) is of a hold at least
 * hold_max old.
 *
 * Time in ticks: an epoch is E ticks, hold_max H ticks, E = H + a
 * margin that covers how far the coarse clock trails (LAG ticks): the
 * code's eps = hold_max + CB_AGE_MARGIN_MS against a coarse tick of a
 * few ms.  The word is (held, aged, prev, e) with cur = held - aged -
 * prev, each operation one atomic step, as each is one CAS in the code:
 *
 *   admit     a client's CAS: held + 1 into cur if cur + prev < L; the
 *             hold's epoch is the word's e (admit(), stored);
 *   check     later, the client's coarse clock c (now - LAG .. now):
 *             granted, dated e, if c < (e + 1) * E (age_dated()); else
 *             the unit is given back from the oldest bucket (undated:
 *             cb_rsv_usage_sub(), age_take_front());
 *   release   a granted hold from its epoch's bucket by the word's
 *             epoch now (age_put(), age_pos()): two or more behind is
 *             aged, a late release;
 *   reclaim   a granted hold given back undated, from the oldest bucket
 *             (a dead client's reclaim, the recount's trim);
 *   sweep     the sweeper at any time: the word into epoch now / E,
 *             prev folded into aged and cur into prev (one epoch), or
 *             both into aged (more) (cb_rsv_age(), age_advance()).
 *
 * Every step may be delayed as long as the search likes (a client or a
 * sweeper stopped), the clock runs to TMAX.  Negative controls:
 * BUG_NO_CHECK (no clock check after the CAS: a word left behind dates
 * a hold in an old epoch), BUG_NO_MARGIN (the coarse clock trails by
 * more than the margin), BUG_FRONT_NEWEST (an undated take from the
 * newest bucket), BUG_POS (a hold one epoch behind taken for aged).
 * Coverage probes (-DCOVER=k): 1 a granted hold aged while held, 2 a
 * check refused at an epoch boundary, 3 a late release, 4 a unit
 * admitted while an aged hold is still held (aging freed it).
 *
 * tests/model/run.sh runs it with the others.
 */

#define E 3
#define H 3
#ifdef BUG_NO_MARGIN
#define LAG 2
#else
#define LAG 1
#endif
#define L 2
#define N 3
#ifndef TMAX
#define TMAX 10
#endif

#ifdef COVER
#define REACHED(k, cond) assert(!(COVER == k && (cond)))
#else
#define REACHED(k, cond) skip
#endif

/* client states */
#define IDLE 0
#define CHECKING 1
#define GRANTED 2

byte now;
byte held, aged, prev, ep;      /* the word */
byte st[N];                     /* each client's one hold */
byte at[N];                     /* when it was granted */
byte date[N];                   /* its epoch (the word's at the CAS) */

#define CUR (held - aged - prev)
#define YOUNG(i) (st[i] == GRANTED && now - at[i] < H)
#define NYOUNG (YOUNG(0) + YOUNG(1) + YOUNG(2))
#define NHELD ((st[0] != IDLE) + (st[1] != IDLE) + (st[2] != IDLE))
#define AGED_HELD ((st[0] == GRANTED && date[0] + 2 <= ep) + \
	(st[1] == GRANTED && date[1] + 2 <= ep) + \
	(st[2] == GRANTED && date[2] + 2 <= ep))

/* Take one count from the oldest non-empty bucket. */
inline take_front()
{
#ifdef BUG_FRONT_NEWEST
	if
	:: CUR > 0 -> skip
	:: CUR == 0 && prev > 0 -> prev--
	:: else -> aged--
	fi;
#else
	if
	:: aged > 0 -> aged--
	:: aged == 0 && prev > 0 -> prev--
	:: else -> skip
	fi;
#endif
	held--
}

/* Take one from bucket pos (0 cur, 1 prev, 2 aged), else the oldest. */
inline take(pos)
{
	if
	:: pos == 2 && aged > 0 -> aged--; held--
	:: pos == 1 && prev > 0 -> prev--; held--
	:: pos == 0 && CUR > 0 -> held--
	:: else -> take_front()
	fi
}

active proctype monitor()
{
	/* every state: the young granted holds are counted, and the word
	 * counts every hold there is */
	assert(prev + CUR >= NYOUNG && held == NHELD)
}

active [N] proctype client()
{
	byte c, pos;

	do
	:: atomic { st[_pid - 1] == IDLE && prev + CUR < L && now < TMAX ->
		REACHED(4, AGED_HELD > 0);
		held++;
		at[_pid - 1] = now;
		date[_pid - 1] = ep;
		st[_pid - 1] = CHECKING }
	:: atomic { st[_pid - 1] == CHECKING ->
		select(c : 0 .. LAG);
		if
		:: c <= now -> c = now - c
		:: else -> c = 0
		fi;
#ifdef BUG_NO_CHECK
		if
		:: true -> st[_pid - 1] = GRANTED; at[_pid - 1] = now
		fi;
#else
		if
		:: c < (date[_pid - 1] + 1) * E ->
			st[_pid - 1] = GRANTED;
			at[_pid - 1] = now       /* granted: its age from here */
		:: else ->
			REACHED(2, true);
			take_front();
			st[_pid - 1] = IDLE
		fi;
#endif
		c = 0 }
	:: atomic { st[_pid - 1] == GRANTED ->
#ifdef BUG_POS
		if
		:: ep - date[_pid - 1] >= 1 -> pos = 2
		:: else -> pos = 0
		fi;
#else
		if
		:: ep - date[_pid - 1] >= 2 -> pos = 2
		:: else -> pos = ep - date[_pid - 1]
		fi;
#endif
		if
		:: pos == 2 ->
			REACHED(3, true);
			assert(now - at[_pid - 1] >= H)
		:: else
		fi;
		take(pos);
		st[_pid - 1] = IDLE;
		pos = 0 }
	:: atomic { st[_pid - 1] == GRANTED ->
		take_front();
		st[_pid - 1] = IDLE }
	:: now >= TMAX && st[_pid - 1] != CHECKING -> break
	od
}

active proctype world()
{
	byte e, cur;

	do
	:: atomic { now < TMAX -> now++ }
	:: atomic { now / E > ep ->
		e = now / E;
		if
		:: e - ep == 1 ->
			cur = CUR;
			aged = aged + prev;
			prev = cur;
			cur = 0
		:: else ->
			aged = held;
			prev = 0
		fi;
		ep = e;
		REACHED(1, AGED_HELD > 0);
		e = 0 }
	:: now >= TMAX -> break
	od
}
