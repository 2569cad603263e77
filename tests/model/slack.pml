/*
 * slack.pml - Promela model of hostile writes of a death-window word
 * (issue 12, finding 6; lib/reserve.c window_open()/window_close(),
 * lib/reserve.h CB_RSV_INFLIGHT_MAX and cb_rsv_slack(), the recount of
 * lib/sweep_reserve.c).  tests/model/run.sh checks it.
 *
 * Two owned client entries in one pool: V, an honest client (one
 * process, NT threads), and X, the hostile member's own.  The hostile
 * process writes, at any moment and at most NWRITE times, a higher
 * in-flight count (MAX, or FMAX: 0xfe, 0xff, "more than a process can
 * have") into V's window word, or FMAX into its own.  A lower count
 * hides V's windows from the recount, which may then trim a unit in
 * flight: no better than forging U, which a member can do anyway (the
 * trust model); -DLOWER adds writes of 0 and checks only that nobody
 * is wedged and that the leak is trimmed (U >= gh and the under-run
 * check are off).  U starts LEAK units above
 * the records (a leak, or a forged U) and there is one pool.
 *
 *   S[e]     entry e's window word: Sf[e] the in-flight count; V's
 *            version, for thread t of V, is Vch[t] = "S[V] written since
 *            t read it" (the CAS of window_open compares the whole
 *            word; a write never restores an earlier word here: no
 *            ABA); Sch[e] = "written
 *            since the recount read it".
 *   windows  V's private count (no other process can write it) of
 *            its threads from just before their opening CAS to just
 *            after their close.  In the C code (lib/reserve.c,
 *            windows_mine) it is a sum: struct cb_rsv.windows plus the
 *            LOCAL_INWIN marks of the private hold table, one per hold
 *            or release in a window, each written by its own thread
 *            (set before the opening CAS, cleared after the close).
 *            The repair reads it entry by entry, not in one step as
 *            here: a thread that S counts was marked before its CAS,
 *            so after the repairer's seq_cst load of S, and stays
 *            marked until its close changes S (the repair's CAS from
 *            that S then fails); one marked after the load is not in
 *            that S.  So the sum read is one of the values this
 *            model's windows takes between the load and the CAS.
 *   thread   of V: one hold, then its release, each in a window
 *            (open; CAS U; H + 1; close / open; H - 1; U - 1; close).
 *   window_open (the C code's loop): windows + 1; load S; while the
 *            count is below MAX, CAS +1 (a failed CAS reloads); at MAX
 *            or above, reload S (seq_cst) and windows: a count >=
 *            windows is someone else's excess, repaired by one CAS from
 *            exactly that word to min(windows, MAX) (the opener's own
 *            window included); below windows, the count is full of
 *            V's own windows: step out of windows and wait until S or
 *            windows changes (the C code yields and reloads; waiting
 *            for a change is the same loop without its idle turns),
 *            step back in, reload.
 *   window_close  count - 1 and version + 1 in one add (a count of 0,
 *            hostile, borrows: the C word's low byte becomes 0xff,
 *            here FMAX); then windows - 1.
 *   sweeper  recounts (MAXRECOUNT while the clients run, then until one
 *            is consistent once everything has stopped): u1 = U; per
 *            entry S and H; u2 = U; S again; consistent iff nothing
 *            moved; then fill a deficit, trim the excess beyond the
 *            slack k, which counts at most MAX per entry whatever S
 *            says (cb_rsv_slack).
 *
 * Ghost: gh = holds in use (from the admitting CAS until the release
 * starts).
 *
 * Properties:
 *   monitor    U >= gh (the limit's premise: U never under-counts), U
 *              never under-runs a decrement (*)
 *   end states no thread of V waits for ever (a forged count wedges
 *              nobody)
 *   sweeper    at the end, U <= H + 2 * MAX: the leak is trimmed down to
 *              at most one bounded slack per entry, however the hostile
 *              wrote the words
 *   (*) auxiliary: -DCORE_ONLY leaves it out.
 *
 * Negative controls:
 *   -DBUG_OLD_WAIT      window_open as before 72844c7: wait while the
 *                       count is at FMAX (0xfe), no repair: a forged
 *                       count wedges V (invalid end state)
 *   -DBUG_NO_SLACK_BOUND  the recount takes S's count as the slack: a
 *                       forged count stops the trim (the end assertion)
 *   -DBUG_REPAIR_LOW    the repair sets the count to windows - 1 (not
 *                       counting the opener): the recount trims a unit
 *                       in flight (U >= gh)
 *   -DBUG_REPAIR_KEEP   the repair keeps the version: a repair that
 *                       writes the count it found leaves the word as it
 *                       was, so another thread's stale repair CAS from
 *                       that word (its windows read before the first
 *                       repair's opener counted itself) succeeds and
 *                       hides a window (U >= gh); reserve.c's repair
 *                       bumps the version for this
 *
 * The repair writes only a count that covers every window of V's
 * (reserve.c: repair iff windows <= CB_RSV_INFLIGHT_MAX, else step out
 * and wait like a count full of V's own).  Checked with NT > MAX, so
 * both paths are taken.  -DBUG_REPAIR_CAPPED is the repair as 72844c7
 * first had it, capping the count at MAX: with more of V's threads than
 * MAX contending and S raised by someone else, S then counts one window
 * fewer than V has open and a recount trims that unit ("assertion
 * violated 0": U under-ran after a trim).
 *
 * Coverage (-DCOVER=k): 1 a forged count repaired, 2 a thread of V
 * waits for its own windows, 3 a recount trims with a forged count in
 * an entry, 4 a close borrows from a count forged to 0.
 */

#ifndef NT
#define NT 2            /* V's threads, 1..3 */
#endif
#ifndef MAX
#define MAX 1           /* CB_RSV_INFLIGHT_MAX, scaled down */
#endif
#ifndef FMAX
#define FMAX 3          /* a forged count: 0xfe, 0xff */
#endif
#ifndef NWRITE
#define NWRITE 2        /* hostile writes */
#endif
#ifndef LEAK
#define LEAK (2 * MAX + 1)      /* U's excess at the start: beyond the
				 * slack of both entries */
#endif
#ifndef LIMIT
#define LIMIT (LEAK + NT)
#endif
#ifndef MAXRECOUNT
#define MAXRECOUNT 1
#endif

byte U = LEAK;          /* the pool's usage (held) */
byte H;                 /* V's holds recorded */
byte Sf[2];             /* in-flight counts: V (0), X (1) */
bool Vch[3];            /* S[V] written since thread t read it */
bool Sch[2];            /* S[e] written since the recount read it */
bool rcing;             /* a recount is collecting */
byte windows;           /* V's private count */
byte ndone;             /* V's threads finished */
bool hdone;             /* the hostile process is finished */
byte gh;                /* ghost: holds in use */

#if defined(COVER)
#define REACHED(k, cond)  assert(!(COVER == k && (cond)))
#else
#define REACHED(k, cond)  skip
#endif
#if defined(CORE_ONLY) || defined(LOWER)
#define NOCLAMP  skip
#else
#define NOCLAMP  assert(false)  /* U under-ran: it was under-counting */
#endif

#define WRITE_V  Vch[0] = 1; Vch[1] = 1; Vch[2] = 1; Sch[0] = (Sch[0] || rcing)
#define READ_V   sc = Sf[0]; Vch[me] = 0

#ifdef BUG_REPAIR_LOW
#define REPAIRED(m)  ((m) - 1)
#else
#define REPAIRED(m)  ((m) > MAX -> MAX : (m))
#endif

/* The repair's CAS: (version + 1, count); -DBUG_REPAIR_KEEP writes
 * (version, count), the same word when the count is the same. */
#ifdef BUG_REPAIR_KEEP
#define REPAIR_WRITE \
	if \
	:: Sf[0] != REPAIRED(mine) -> Sf[0] = REPAIRED(mine); WRITE_V \
	:: else -> skip \
	fi
#else
#define REPAIR_WRITE  Sf[0] = REPAIRED(mine); WRITE_V
#endif

#ifdef BUG_REPAIR_CAPPED
#define REPAIR_OK  true
#else
#define REPAIR_OK  (mine <= MAX)
#endif

#ifdef BUG_OLD_WAIT
/* Before 72844c7: wait (for ever, if no window of ours will close)
 * while the count is at 0xfe or above; no repair. */
inline wopen()
{
	atomic { READ_V };
	do
	:: atomic { sc < FMAX && !Vch[me] -> Sf[0]++; WRITE_V; break }
	:: atomic { sc < FMAX && Vch[me] -> READ_V }
	:: atomic { sc >= FMAX && Vch[me] -> READ_V }
	od
}
#else
inline wopen()
{
	windows++;
	atomic { READ_V };                 /* relaxed load */
	do
	:: atomic { sc < MAX && !Vch[me] -> Sf[0]++; WRITE_V; break }
	:: atomic { sc < MAX && Vch[me] -> READ_V }
	:: sc >= MAX ->
		atomic { READ_V };         /* seq_cst reload */
		if
		:: sc < MAX -> skip
		:: else ->
			mine = windows;
			if
			:: sc >= mine && REPAIR_OK ->   /* someone else's excess */
				if
				:: atomic { !Vch[me] ->
					REPAIR_WRITE;
					REACHED(1, true); break }
				:: atomic { Vch[me] -> READ_V }
				fi
			:: else ->                      /* full of our own (or, with
							 * more of ours than
							 * MAX) */
				atomic { windows--; REACHED(2, true) };
				atomic { (Vch[me] || windows + 1 != mine) ->
					windows++ };
				atomic { READ_V }
			fi
		fi
	od;
	atomic { sc = 0; mine = 0 }
}
#endif

#ifdef BUG_OLD_WAIT
#define WIN_OUT  skip
#else
#define WIN_OUT  windows--
#endif
inline wclose()
{
	atomic {
		if
		:: Sf[0] > 0 -> Sf[0]--
		:: else -> Sf[0] = FMAX; REACHED(4, true)      /* borrows */
		fi;
		WRITE_V
	};
	WIN_OUT
}

proctype thread(byte me)
{
	byte sc, mine;
	bool got;

	/* hold, reserve */
	wopen();
	atomic {                                        /* CAS U */
		if
		:: U + 1 <= LIMIT -> U++; gh++; got = 1
		:: else -> skip
		fi
	};
	if :: got -> H++ :: else -> skip fi;            /* record */
	wclose();
	/* hold, release */
	if
	:: got ->
		wopen();
		atomic { gh--; H-- };                   /* stop using; record */
		atomic { if :: U > 0 -> U-- :: else -> NOCLAMP fi };
		wclose()
	:: else -> skip
	fi;
	ndone++
}

active proctype hostile()
{
	byte n;

	do
	:: n < NWRITE ->
		n++;
		if
		:: atomic { Sf[0] < MAX -> Sf[0] = MAX; WRITE_V }
		:: atomic { Sf[0] < FMAX -> Sf[0] = FMAX; WRITE_V }
		:: atomic { Sf[1] = FMAX; Sch[1] = (Sch[1] || rcing) }
#ifdef LOWER
		:: atomic { Sf[0] = 0; WRITE_V }
		:: atomic { Sf[1] = 0; Sch[1] = (Sch[1] || rcing) }
#endif
		fi
	:: break
	od;
	hdone = 1
}

/* The recount's slack of one entry (cb_rsv_slack). */
#ifdef BUG_NO_SLACK_BOUND
#define SLACK(x)  (x)
#else
#define SLACK(x)  ((x) < MAX -> (x) : MAX)
#endif
#define CORR(u, rec) ((u) < (rec) -> (rec) : ((u) > (rec) + k -> (rec) + k : (u)))

active proctype sweeper()
{
	byte u1, h, k;
	bool fin, ok;

	/* One recount while the clients run (the sweeper starts it at
	 * any moment), or none. */
	if
	:: MAXRECOUNT > 0 -> skip
	:: true -> goto final
	fi;
recount:
	atomic { u1 = U; rcing = 1 };
	atomic { Sch[0] = 0; k = SLACK(Sf[0]) };
	h = H;
	atomic { Sch[1] = 0; k = k + SLACK(Sf[1]) };
	if :: U != u1 -> goto rc_end :: else -> skip fi;
	if :: Sch[0] || Sch[1] -> goto rc_end :: else -> skip fi;
	atomic {
		if
		:: U == u1 ->
			ok = 1;
			REACHED(3, u1 > h + k && (Sf[0] > MAX || Sf[1] > MAX));
			U = CORR(u1, h)
		:: else -> skip
		fi
	};
rc_end:
	atomic {
		rcing = 0; Sch[0] = 0; Sch[1] = 0; u1 = 0; h = 0; k = 0;
		if
		:: !fin -> ok = 0; goto final
		:: fin && !ok -> goto recount
		:: else -> skip
		fi
	};
	assert(U <= H + 2 * MAX);       /* the leak is trimmed */
	goto stop;
final:
	/* Everything stopped: recount until one is consistent. */
	atomic { ndone == NT && hdone -> fin = 1 };
	goto recount;
stop:
	skip
}

#ifndef LOWER
active proctype monitor()
{
end:
	atomic { !(U >= gh) -> assert(U >= gh) }
}
#endif

init
{
	atomic {
		byte i;
		for (i : 0 .. NT - 1) {
			run thread(i)
		}
	}
}
