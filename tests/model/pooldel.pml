/*
 * pooldel.pml - Promela model of a pool deleted while in use and its
 * index given to a new pool (issue 13, item 11; broker/pools.h: the
 * tombstone; lib/sweep_reserve.c: cb_rsv_pool_idle; broker/sweeper.c:
 * sweep_deleted, reap_deleted; broker/publisher.c: reset_pool_slot).
 * tests/model/run.sh checks it.
 *
 * One pool index.  Its old pool P (limit LOLD) is deleted by force
 * while O holds a unit of it; the broker then gives the index to a new
 * pool Q (limit LNEW) once its proof says nothing holds it.
 *
 *   O        holds one unit of P from the start (U = 1, H[O] = 1);
 *            releases it at any time, as lib/reserve.c does: open its
 *            window; H - 1; U - 1 (never below 0); close.
 *   T        a straggler: reads the limit at any time (P's, 0 once
 *            deleted, or Q's), then, as much later as it likes: open;
 *            CAS U + 1 iff U + 1 <= the limit it read; re-check against
 *            the limit published now (still_fits): over it, give the
 *            unit back; else record H[T] + 1; close; and later release
 *            it.  It stands for a client that looked the limit up
 *            before the deletion and admits only after the reuse.
 *   N        a client of Q: once Q exists, the same admission as T
 *            (limit read just before), then a release; twice.
 *   broker   delete: limit := 0 (the tombstone, published).  Then the
 *            proof, repeated until it holds: u1 = U (must be 0); every
 *            S and H; u2 = U; S again; idle iff u1 == u2 == 0, every H
 *            0 and every S unchanged.  Then reuse: (BUG_RESET: U := 0,
 *            the publisher's reset of a fresh slot) limit := LNEW.
 *
 * S[c] counts client c's window opens and closes (a version: "changed
 * since read" is all the proof learns from it).
 *
 * Ghost: gu = units really in use at the index: O's until it starts
 * releasing; T's and N's from the re-check that keeps the unit (the
 * caller is admitted only then: between the CAS and a re-check that
 * gives the unit back, U over-counts by it, as for any limit lowered
 * while an admission is in flight, lib/reserve.h) until they start
 * releasing.
 *
 * Properties (monitor, every reachable state):
 *   U >= gu                    U never under-counts what is in use
 *   reused -> gu <= LNEW       Q's limit holds, stragglers included
 *
 * Switches (negative controls, each must give a counterexample):
 *   -DBUG_RESET     the reused index's U is reset, as for a slot never
 *                   used: a straggler admitted just before the reset
 *                   and re-checked against Q's limit is lost from U
 *   -DBUG_NO_PROOF  reuse without the proof, and with the reset: O's
 *                   unit, still held, is wiped and Q admits beyond it
 *   -DCOVER=k       coverage probes: 1 a straggler's unit kept in Q,
 *                   2 the proof foiled by a window that moved, 3 O's
 *                   release after the deletion
 */

#ifndef LOLD
#define LOLD 2
#endif
#ifndef LNEW
#define LNEW 1
#endif

#define O 0
#define T 1
#define N 2

#if defined(COVER)
#define REACHED(k, cond)  assert(!(COVER == k && (cond)))
#else
#define REACHED(k, cond)  skip
#endif

byte U = 1;
byte limit = LOLD;
byte H[3];
byte S[3];
byte gu = 1;
bit deleted = 0;
bit reused = 0;

/* One admission of client c against the limit it read, lim. */
inline admit(c, lim, kept)
{
	S[c]++;
	kept = 0;
	atomic {
		if
		:: U + 1 <= lim -> U++; kept = 1
		:: else -> skip
		fi
	}
	atomic {
		if
		:: kept && U > limit ->
			if
			:: U > 0 -> U--
			:: else -> skip
			fi;
			kept = 0
		:: kept && U <= limit -> gu++
		:: else -> skip
		fi
	}
	if
	:: kept -> H[c]++
	:: else -> skip
	fi;
	S[c]++
}

/* Release of client c's one recorded unit: H first, then U. */
inline release(c)
{
	S[c]++;
	atomic { gu--; H[c]-- };
	atomic {
		if
		:: U > 0 -> U--
		:: else -> skip
		fi
	};
	S[c]++
}

active proctype old()
{
	H[O] = 1;
	REACHED(3, deleted);
	release(O)
}

active proctype straggler()
{
	byte lim;
	bit kept;

	lim = limit;
	admit(T, lim, kept);
	REACHED(1, kept && reused);
	if
	:: kept -> release(T)
	:: else -> skip
	fi
}

active proctype newclient()
{
	byte lim, i;
	bit kept;

	reused;
	for (i : 1 .. 2) {
		lim = limit;
		admit(N, lim, kept);
		if
		:: kept -> release(N)
		:: else -> skip
		fi
	}
}

active proctype broker()
{
	byte u1, u2, s1[3], h;

	limit = 0;
	deleted = 1;
#ifndef BUG_NO_PROOF
	do
	:: u1 = U;
		if
		:: u1 != 0 -> goto retry
		:: else -> skip
		fi;
		s1[O] = S[O]; s1[T] = S[T]; s1[N] = S[N];
		h = H[O] + H[T] + H[N];
		u2 = U;
		if
		:: h == 0 && u2 == 0 && s1[O] == S[O] && s1[T] == S[T] &&
		   s1[N] == S[N] -> break
		:: else ->
			REACHED(2, h == 0 && u2 == 0)
		fi;
retry:
		skip
	od;
#endif
#if defined(BUG_RESET) || defined(BUG_NO_PROOF)
	U = 0;
#endif
	atomic { limit = LNEW; reused = 1 }
}

active proctype monitor()
{
end:
	atomic {
		!(U >= gu && (!reused || gu <= LNEW)) ->
		assert(U >= gu && (!reused || gu <= LNEW))
	}
}
