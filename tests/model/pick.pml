/*
 * pick.pml - blocked pickers (lib/place.h, "Blocked pickers"; issue 12,
 * step 7): the wake-one hand-off of cb_place_wait, cb_place_wake and
 * pass_on, with a release of several units, a raised limit, a barger,
 * and a picker killed at any step.  tests/model/run.sh checks it with
 * spin.
 *
 * Mapping to lib/place.c (its names):
 *
 *   U, LIM   the pool's held count and its limit; pickers want one
 *            unit each and keep it.  (A worker's room is the same game
 *            on I[w]; one counter stands for both.)
 *   P        the pool's `pickers`; K its `pick_seq`, the futex word.
 *   sl[i]    the kernel's side of futex_wait: picker i asleep on K.
 *            futex_wait(K, k) is one step "sleep iff K == k"; FUTEX_WAKE
 *            with n = 1 is one step that wakes one sleeper, any one, if
 *            there is one; the bump of K before it is a step of its own.
 *
 *   picker(i)  enter: P + 1 (with its record; a picker killed between
 *            the two is the recount's, not modelled).  Then loop { k =
 *            K; attempt: U + 1 iff U < LIM, admitted lowering P in the
 *            same window (the record turned into the bind); refused:
 *            futex_wait(K, k) }.  Admitted: pass_on (iff P != 0 and
 *            U < LIM: wake).
 *   wake()   cb_place_wake: iff P != 0: K + 1, then FUTEX_WAKE(K, 1).
 *            Every releaser calls it after the RMW that frees room.
 *   holder   holds the pool's 2 units at the start and gives both back
 *            in one step, with one wake (cb_close, a reclaim or a
 *            recount: a free of several units).
 *   raiser   raises the limit by one (the publisher), then one wake
 *            (cb_rsv_wake); none with -DNORAISE (then NP = 2).
 *   barger   with -DBARGER: a fail-fast pick (no wait, uncounted) that
 *            may take a unit a woken picker was sent for, and gives it
 *            back later with a wake.
 *   sweeper  with -DMORTAL=i: picker i may be killed at any step, asleep
 *            or not.  Once it is dead, the reclaim gives back its unit
 *            (with a wake, cb_rsv_wake) and frees its record: P - 1 and
 *            the wake sent again, as cb_place_free_partition does (the
 *            picker may have been woken and died before its attempt).
 *
 * There are no backstop slices here: a sleep ends only by a wake.  The
 * units suffice for every picker (2 freed + 1 raised for NP = 3, 2
 * freed for NP = 2 with -DNORAISE; the dead one's is given back), so a
 * live picker that sleeps for ever is a lost wakeup, which spin reports
 * as an invalid end state.  No herd: FUTEX_WAKE(1) wakes at most one;
 * that the C code sends it so is the unit test's
 * (tests/unit/test_tp_place.c).  Properties: no lost wakeup; U <= LIM;
 * P never under-counts the counted pickers (a dead one's until the
 * reclaim).
 *
 * Negative controls (run.sh expects a counterexample, an invalid end
 * state):
 *   -DBUG_LATE_READ     the picker reads K after its attempt: a release
 *                       between the two is missed
 *   -DBUG_NO_PASS_ON    an admitted picker does not pass a wake on: a
 *                       free of several units wakes one picker only
 *   -DBUG_NO_RESEND     (with -DMORTAL) the reclaim frees a dead
 *                       picker's record without waking: a wake it took
 *                       before dying is lost
 *   -DBUG_WAKE_FIRST    the releaser looks at P before it frees the unit
 * Coverage probes (-DCOVER=k): 1 a pass-on wake admits a picker, 2 a
 * woken picker refused (with -DBARGER: the unit went to the barger), 3
 * the mortal picker woken, before its attempt (where it may die), 4 the
 * reclaim's wake admits a picker.
 */

#ifndef NP
#define NP 3            /* pickers, 2..4 */
#endif
#ifndef MORTAL
#define MORTAL NP       /* NP: nobody dies */
#endif

#ifdef COVER
#define REACHED(k, cond) assert(!(COVER == k && (cond)))
#else
#define REACHED(k, cond) skip
#endif

byte U = 2;             /* held by `holder` at the start */
byte LIM = 2;           /* 3 once raised (2 with -DNORAISE) */
byte P;
byte K;
bit sl[NP];             /* asleep on K */
byte ph[NP];            /* 0 out, 1 counted, 2 admitted */
bit killed;
byte why[NP];           /* who sent the wake that ended i's sleep (probes):
                           0 none, 1 a release, 2 pass_on, 3 the reclaim */

/* FUTEX_WAKE(K, 1): one sleeper, any one, if any. */
inline futex_wake_one(by)
{
	atomic {
		if
		:: sl[0] -> sl[0] = 0; why[0] = by
		:: sl[1] -> sl[1] = 0; why[1] = by
#if NP > 2
		:: sl[2] -> sl[2] = 0; why[2] = by
#endif
#if NP > 3
		:: sl[3] -> sl[3] = 0; why[3] = by
#endif
		:: else -> skip
		fi
	}
}

/* cb_place_wake: the load of P, the bump, the wake: three steps. */
inline wake(by)
{
	if
	:: P != 0 ->
		K++;
		futex_wake_one(by)
	:: else -> skip
	fi
}

/*
 * The invariants, after each change of U, LIM, P or ph: the limit
 * holds, and P counts every counted picker (live, or dead and not yet
 * reclaimed): P never under-counts.
 */
inline check()
{
	assert(U <= LIM);
	assert(P >= (ph[0] == 1) + (ph[1] == 1)
#if NP > 2
	    + (ph[2] == 1)
#endif
#if NP > 3
	    + (ph[3] == 1)
#endif
	    )
}

/* A kill of the mortal picker here (it dies with what it holds). */
#if MORTAL < NP
#define DIE(i) \
	if \
	:: i == MORTAL && !killed -> killed = 1; goto dead \
	:: true -> skip \
	fi
#else
#define DIE(i) skip
#endif

proctype picker(byte i)
{
	byte k;
	bit ok;

	atomic { P++; ph[i] = 1; check() };
	do
	::
#ifndef BUG_LATE_READ
		k = K;
#endif
		/* Killed here or anywhere up to here (a local read or none
		 * since the last kill point): before its attempt. */
		DIE(i);
		atomic {
			if
			:: U < LIM -> U++; P--; ph[i] = 2; ok = 1
			:: else -> ok = 0
			fi;
			check();
			REACHED(1, ok && why[i] == 2);
			REACHED(4, ok && why[i] == 3);
			REACHED(2, !ok && why[i] != 0);
			why[i] = 0
		};
		if
		:: ok -> break
		:: else -> skip
		fi;
#ifdef BUG_LATE_READ
		k = K;
#endif
		atomic {
			if
			:: K == k -> sl[i] = 1
			:: else -> skip
			fi
		};
		/* Killed asleep, or once awake (woken or not asleep at
		 * all), before it reads K again. */
		if
		:: sl[i] == 0 -> skip
#if MORTAL < NP
		:: i == MORTAL && !killed -> atomic { sl[i] = 0; killed = 1 };
			goto dead
#endif
		fi;
		REACHED(3, i == MORTAL && why[i] != 0)
	od;
	/* Killed admitted, before it passes the wake on. */
	DIE(i);
#ifndef BUG_NO_PASS_ON
	/* pass_on: P (seq_cst), then the pool full or not. */
	if
	:: P != 0 ->
		if
		:: U < LIM ->
			K++;
			futex_wake_one(2)
		:: else -> skip
		fi
	:: else -> skip
	fi;
#endif
	goto done;
dead:
	skip;
done:
	skip
}

proctype holder()
{
#ifdef BUG_WAKE_FIRST
	if
	:: P != 0 -> U = U - 2; K++; futex_wake_one(1)
	:: else -> U = U - 2
	fi
#else
	U = U - 2;
	wake(1)
#endif
}

proctype raiser()
{
	LIM++;
	wake(1)
}

#ifdef BARGER
proctype barger()
{
	bit got;

	atomic {
		if
		:: U < LIM -> U++; got = 1
		:: else -> skip
		fi
	};
	if
	:: got ->
		U--;
		wake(1)
	:: else -> skip
	fi
}
#endif

#if MORTAL < NP
/* The broker: the reclaim of the dead picker's client (sweep_reserve.c
 * cb_rsv_reclaim, then cb_place_free_partition). */
proctype sweeper()
{
end_idle:
	killed;
	if
	:: ph[MORTAL] == 2 ->
		atomic { U--; ph[MORTAL] = 0; check() };
		wake(1)
	:: ph[MORTAL] == 1 ->
		atomic { P--; ph[MORTAL] = 0; check() };
#ifndef BUG_NO_RESEND
		wake(3)
#endif
	:: else -> skip
	fi
}
#endif

init
{
	byte k;

	atomic {
		k = 0;
		do
		:: k < NP -> run picker(k); k++
		:: else -> break
		od;
		run holder();
#ifndef NORAISE
		run raiser();
#endif
#ifdef BARGER
		run barger();
#endif
#if MORTAL < NP
		run sweeper()
#endif
	}
}
