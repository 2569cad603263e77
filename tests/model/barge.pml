/*
 * barge.pml - barging with a hand-off bound (lib/queue.h, Barging;
 * issue 14), checked with spin.  Two parts, chosen at compile time.
 *
 * Hand-off (the default).  A pool of one unit, held at the start by
 * arrival 0.  One waiter is queued: the head H.  NA arrival processes
 * each do ROUNDS pairs: arrive, hold, release, come back.  An arrival
 * barges (tries the CAS on U) when nobody is queued, or when the
 * hand-off flag F reads clear; otherwise it queues behind H (modelled
 * as waiting until H was admitted: the waiters behind a head are
 * queue.pml's subject) and arrives again.  A refused try spins (tries
 * again) or queues.  H, each round: s = R (seq_cst, before its try);
 * if it is past the bound (a clock that may tick at any moment, and
 * stays past once past), set F; try; admitted: clear F, leave; refused:
 * futex_wait(R, s), a sleep that only a move of R ends.  A release
 * frees U (seq_cst CAS), then moves R since a waiter is counted
 * (cb_eventcount_notify_sc, futex.h).
 *
 *   - no lost wakeup: spin's invalid end state (H asleep on R, or an
 *     arrival waiting behind H, for ever) never occurs;
 *   - the bound: once F is set, an arrival that read F after it was
 *     set never takes a unit before H; at most the NA arrivals that
 *     read it clear before may each take one (they decided first):
 *     assert(late <= NA), late counting units taken by arrivals while
 *     F is set and H not yet admitted.
 *
 * Negative controls: -DBUG_IGNORE_FLAG (arrivals never look at F: H is
 * passed again and again, late exceeds NA), -DBUG_LATE_READ (H reads R
 * after its try: a release between the two is a lost wakeup).
 *
 * Ceiling (-DCEILING).  The ceiling C with its version V (one word,
 * every change a CAS that bumps V): an enqueuer E of priority 5 claims
 * WAITING, then announces (C = max(C, 5), V + 1); a leaver L (priority
 * 1, C starts at 1) frees its entry, loads (C, V), scans (sees E iff E
 * is WAITING), and CASes (C, V) -> (head's priority or 0, V + 1).  At
 * the end, with E still queued: C >= 5, so no arrival of a lower
 * priority passes E.  -DBUG_ANNOUNCE_FIRST (announce before the claim)
 * must break it: L loads after the announce and scans before the claim.
 *
 * tests/model/run.sh runs both parts, the controls and the probes.
 */

#ifndef NA
#define NA 2
#endif

/* Coverage probes (-DCOVER=k): 1 an arrival barges past the queued
 * head (F clear), 2 an arrival that read F clear takes the unit after
 * F was set, 3 H refused, asleep, woken and admitted. */
#ifdef COVER
#define REACHED(k, cond) assert(!(COVER == k && (cond)))
#else
#define REACHED(k, cond) skip
#endif
#ifndef ROUNDS
#define ROUNDS 2
#endif

#ifndef CEILING

byte U = 1;             /* units held, limit 1: arrival 0 holds it */
byte R = 0;             /* release_seq */
bit queued = 1;         /* Q[p].queued: H is queued */
bit F = 0;              /* the hand-off flag */
bit past = 0;           /* H has waited past the bound */
bit admitted = 0;       /* H got its unit */
byte late = 0;          /* units arrivals took with F set, before H's */

inline release()
{
	atomic { U = 0; if :: queued -> R++ :: else -> skip fi }
}

proctype Head()
{
	byte s;
	bit slept = 0;

again:
#ifndef BUG_LATE_READ
	s = R;
#endif
	if
	:: past -> F = 1
	:: else -> skip
	fi;
	if
	:: atomic { U == 0 -> U = 1; admitted = 1 }
		REACHED(3, slept);
		F = 0;
		queued = 0;
		release();
		goto done
	:: atomic { U != 0 -> skip }
	fi;
#ifdef BUG_LATE_READ
	s = R;
#endif
	atomic { R != s -> skip };      /* futex_wait(R, s) */
	slept = 1;
	goto again;
done:
	skip
}

/* The clock: past the bound at any moment, and for good. */
proctype Clock()
{
	past = 1
}

proctype Arrival(byte i)
{
	byte r = 0;
	bit f;

	if
	:: i == 0 -> goto holding       /* starts with the unit */
	:: else -> skip
	fi;
arrive:
	if
	:: r == ROUNDS -> goto end
	:: else -> skip
	fi;
	if
	:: !queued -> goto try
	:: else -> skip
	fi;
	f = F;
#ifdef BUG_IGNORE_FLAG
	f = 0;
#endif
	if
	:: f -> goto wait
	:: else -> skip
	fi;
try:
	if
	:: atomic { U == 0 -> U = 1;
		if
		:: F && !admitted -> late++
		:: else -> skip
		fi }
		assert(late <= NA);
		REACHED(1, queued && !F && !admitted);
		REACHED(2, late > 0);
		goto holding
	:: atomic { U != 0 -> skip }
		if
		:: goto arrive          /* spin: arrive again */
		:: goto wait            /* spun out: queue */
		fi
	fi;
wait:
	/* Behind H: served after it. */
	admitted;
	goto arrive;
holding:
	r++;
	release();
	goto arrive;
end:
	skip
}

init {
	atomic {
		run Head();
		run Clock();
		byte k = 0;
		do
		:: k < NA -> run Arrival(k); k++
		:: else -> break
		od
	}
}

#else /* CEILING */

byte C = 1;             /* the ceiling: L's priority */
byte V = 0;             /* its version */
bit ew = 0;             /* E's entry is WAITING */
bit edone = 0, ldone = 0;

inline announce()
{
	byte xc, xv;

	do
	:: atomic { xc = C; xv = V }
		if
		:: atomic { C == xc && V == xv -> C = (xc > 5 -> xc : 5); V++ }
			break
		:: atomic { !(C == xc && V == xv) -> skip }
		fi
	od
}

proctype Enqueuer()
{
#ifdef BUG_ANNOUNCE_FIRST
	announce();
	ew = 1;
#else
	ew = 1;
	announce();
#endif
	edone = 1
}

proctype Leaver()
{
	byte xc, xv, m = 0;

	/* L's own entry freed: nothing of it left to scan. */
	atomic { xc = C; xv = V };
	if
	:: ew -> m = 5
	:: else -> skip
	fi;
	atomic {
		if
		:: C == xc && V == xv -> C = m; V++
		:: else -> skip
		fi
	}
	ldone = 1
}

init {
	atomic { run Enqueuer(); run Leaver() };
	(edone && ldone);
	assert(!ew || C >= 5)
}

#endif /* CEILING */
