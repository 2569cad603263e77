/*
 * eventcount.pml - the eventcount of lib/futex.h, both notifier halves:
 *
 *   cb_eventcount_notify     S + 1, then FUTEX_WAKE(S) iff W != 0
 *                            (for conditions published by a plain
 *                            release store: the bump synchronises)
 *   cb_eventcount_notify_sc  iff W != 0: S + 1 and FUTEX_WAKE(S)
 *                            (for conditions published by a seq_cst
 *                            CAS and read back with seq_cst loads: a
 *                            release that nobody waits for leaves S
 *                            alone)
 *
 * NW waiters each: W + 1; loop { s = S; if C: break; futex_wait(S, s) }
 * (sleep iff S == s, in one step); W - 1.  NN notifiers each publish
 * the condition (C = 1) and notify.  Spin's interleavings are
 * sequentially consistent, which is what the seq_cst operations give.
 * There are no timeouts: a waiter that sleeps for ever while C holds is
 * a lost wakeup, an invalid end state.
 *
 *   -DSC                 the notify_sc variant (default: notify)
 *   -DBUG_NOTIFY_FIRST   notify_sc looks at W before publishing C
 *   -DBUG_NO_BUMP        notify wakes without moving S
 */
#ifndef NW
#define NW 2
#endif
#ifndef NN
#define NN 2
#endif

bit C;          /* the condition */
byte S;         /* the sequence word */
byte W;         /* waiters */
bit asleep[NW];

inline wake()
{
	atomic {
		j = 0;
		do
		:: j < NW -> asleep[j] = 0; j++
		:: else -> break
		od
	}
}

proctype notifier()
{
	byte j;

#if defined(SC) && defined(BUG_NOTIFY_FIRST)
	if
	:: W > 0 -> C = 1; S++; wake()
	:: else -> C = 1
	fi
#elif defined(SC)
	C = 1;
	if
	:: W > 0 -> S++; wake()
	:: else -> skip
	fi
#elif defined(BUG_NO_BUMP)
	C = 1;
	if
	:: W > 0 -> wake()
	:: else -> skip
	fi
#else
	C = 1;
	S++;
	if
	:: W > 0 -> wake()
	:: else -> skip
	fi
#endif
}

proctype waiter(byte i)
{
	byte s;

	W++;
	do
	:: s = S;
	   if
	   :: C -> break
	   :: else -> skip
	   fi;
	   atomic { if :: S == s -> asleep[i] = 1 :: else -> skip fi };
	   (asleep[i] == 0)
	od;
	W--
}

init
{
	byte k;

	atomic {
		k = 0;
		do
		:: k < NW -> run waiter(k); k++
		:: else -> break
		od;
		k = 0;
		do
		:: k < NN -> run notifier(); k++
		:: else -> break
		od
	}
}
