/*
 * lanes.pml - Promela model of the hold pair with one record ("lane")
 * per client thread, written by that thread with plain stores, under
 * x86-TSO (issue 14).  tests/model/run.sh checks it.
 *
 * The protocol (the design of issue 14; lib/reserve.h's window, record
 * and recount, with the window word and the record per thread):
 *
 *   U        the pool's usage counter (units held).  Written by many
 *            processes, every write a CAS (locked RMW).  A decrement
 *            never goes below zero.
 *   S[l]     lane l's window word.  The C word is the in-flight count
 *            (0/1, low byte) + version << 8; here S = version * 2 +
 *            open.  Open keeps the version, close bumps it, so every
 *            write gives a word not seen before (no wrap in the model).
 *            Written only by lane l's thread with PLAIN stores, and by
 *            the broker's reclaim once that thread is dead.
 *   H[l]     holds lane l recorded in the pool.  Written only by lane
 *            l's thread (plain stores), and by the broker's reclaim
 *            (exchange to 0) once that thread is dead.
 *
 *   thread l (one per lane; by default each in its own process) keeps
 *            private copies s (the version) and h (its records):
 *     take     t1 U >= LIM: refuse (a plain load)
 *              t2 S := open                   (plain store, buffered)
 *              t3 CAS U: U + 1 iff U + 1 <= LIM  (locked: drains the
 *                 thread's store buffer, then one atomic step)
 *              t4 if admitted: H := h + 1     (plain store)
 *              t5 S := closed, version + 1    (plain store)
 *     release  r1 S := open; r2 H := h - 1 (plain); r3 CAS U - 1
 *              (locked, drains first); r4 S := closed, version + 1
 *            Up to ROUNDS (thread 1: ROUNDS1) takes, each admitted
 *            hold released or not (a thread may finish holding: those
 *            holds survive).  Which thread releases a ticket is decided
 *            before its release starts (ghost tk: tickets returned, not
 *            released; revoke.pml models how that is made exact).
 *     -DFOREIGN  thread 1 may also release one of thread 0's tickets (a
 *            copy passed to it), on its OWN lane: r1..r4 as above, its
 *            H going below zero (H is signed here).  With -DSAMEPROC
 *            (the same process) the reclaim of the process takes the
 *            sum of its lanes' records; across processes see FINDING.
 *   TSO      each thread has a FIFO store buffer (buf[l], capacity 8,
 *            never full here: a take and a release buffer at most 4);
 *            the memory process drains any non-empty buffer, one store
 *            at a time, in any order between threads.  A thread never
 *            loads S or H (it keeps private copies) and U is never in a
 *            buffer (only CAS writes it), so store forwarding never
 *            shows.  A locked CAS waits until its buffer is empty
 *            (the drain steps interleave with everyone, as on the
 *            machine) and is then one atomic step.
 *   death    a thread (-DSAMEPROC: both threads, one process) is killed
 *            before any of its steps (STEP): it issues nothing more;
 *            its buffered stores still reach memory (the kernel's exit
 *            path serialises), and the broker learns of the death (the
 *            pidfd) only once its buffer is empty.
 *   sweeper  the broker's sweeper thread, at any time: RECOUNT (at most
 *            MAXRECOUNT while threads run): u1 := U; per lane s1 := S,
 *            then h := H; u2 := U; per lane s2 := S; consistent iff
 *            u1 == u2 and every s1 == s2; slack = lanes with s1 open;
 *            records = sum of h; U < records: fill (CAS from u1 to
 *            records); U > records + slack: trim (CAS from u1 to
 *            records + slack).  RECLAIM of a dead lane (death known):
 *            x := exchange(H, 0); CAS U - x (never below 0); S :=
 *            closed, version + 1 (a seq_cst store: locked on x86);
 *            -DSAMEPROC: both lanes of the process, the records summed
 *            before the one CAS.  The
 *            broker has no plain stores in a buffer.  It may crash
 *            between any two of its writes (MAXCRASH times) and carries
 *            on from the segment with its locals lost.  Once every
 *            thread finished or died: reclaim every dead lane, wait for
 *            every buffer to drain, recount until one is consistent.
 *
 * Ghost: gh = holds in use: from the admitting CAS (t3) until the
 * release's CAS (r3), or the death of the process using it (the
 * releaser's, for a ticket being released by another thread).  That is stricter than
 * reserve.pml's convention (until the release starts, r1): U >= gh here
 * implies it there.
 *
 * Properties:
 *   monitor   U >= gh        U never under-counts (the limit relies on it)
 *             gh <= LIM      the limit holds
 *   every CAS U never goes below 0 (*)
 *   sweeper   at the end (everything done or dead, reclaimed, drained,
 *             one consistent recount): U == records == surviving holds
 *   (*) auxiliary: -DCORE_ONLY leaves it out, so a negative control has
 *   to break U >= gh, the limit or the end check.
 *
 * Negative controls (each gives a counterexample):
 *   -DBUG_OPEN_LATE    take opens its window after the CAS (t2 after t3):
 *                      a recount reads U with the unit, S closed and H
 *                      without it, and trims the unit in use (U >= gh)
 *   -DBUG_RECORD_EARLY release writes H after its CAS (r2 after r3): a
 *                      death in between and the reclaim subtracts the
 *                      released unit again (U >= gh)
 *   -DBUG_NO_RECHECK   the recount does not read S again: u1 == u2 alone
 *                      misses a take in one lane and a release in the
 *                      other between the two reads of U (U >= gh)
 *   -DBUG_NO_DRAIN     the CAS does not drain the store buffer (a plain
 *                      relaxed CAS on a machine weaker than TSO: stores
 *                      before it may become visible after it): S open is
 *                      still buffered when the unit is in U, a recount
 *                      reads S closed and trims the unit (U >= gh).  So
 *                      the C code's orderings are needed, not only its
 *                      program order.
 *   -DBUG_RELAXED_STORES the plain stores are relaxed, not release: each
 *                      word's stores stay in order (coherence), but S and
 *                      H drain in any order.  The close reaches memory
 *                      before the record: a recount reads S closed twice,
 *                      H without the unit, U with it, and trims (U >= gh).
 *                      The H store and the close must be release stores.
 *
 * FINDING (-DFOREIGN without -DSAMEPROC; run.sh runs it as a negative
 * control, "(finding) ..."): a ticket taken in process A and released
 * by process B on B's own lane is taken back twice.  Shortest trace:
 * A takes (U = 1, H[A] = 1) and hands the ticket to B; B releases it on
 * its lane (H[B] = -1, U = 0), then takes a hold of its own (U = 1,
 * H[B] = 0, in use 1); A is killed; the reclaim of A subtracts H[A] = 1
 * (U = 0 < 1 in use: the limit admits one more).  A recount then finds
 * U == H[A] + H[B] == 0, consistent, nothing to fill: the under-count
 * lasts until B dies.  (A lane's records are a process's, not a
 * ticket's: a release from another process must either give the unit
 * back through A's lane, which only A writes, or through the broker;
 * within one process the sum over its lanes is right, -DSAMEPROC
 * -DFOREIGN passes.)  A release of a copy that reached another process
 * must therefore take a path other than the lane's plain stores.
 *
 * C11 mapping (what the C code must use on ARM, where nothing of the
 * above is free).  On x86 every plain store is a release store, every
 * load an acquire load, and a locked RMW is a full barrier; the
 * protocol uses no more than release/acquire of that:
 *   S open (t2, r1)   relaxed store.  It is ordered before the CAS by
 *                     the CAS's release half (TSO: the drain at t3/r3).
 *   CAS on U          release at least (the C code: seq_cst).  Pairs
 *                     with the recount's acquire load of U (u1, u2; a
 *                     later RMW of U continues the release sequence):
 *                     a recount whose u1 or u2 includes the unit then
 *                     reads S open or later (BUG_NO_DRAIN breaks this).
 *   H store (t4, r2)  release: ordered after the CAS (t4; TSO: FIFO
 *                     after a drained buffer) and after S open (r2;
 *                     TSO: FIFO).  Pairs with the recount's acquire
 *                     load of H: a recount that reads the new H reads,
 *                     at s2, S open or a later word (so slack covers it,
 *                     or the snapshot is foiled).
 *   S close (t5, r4)  release: ordered after the record (TSO: FIFO).
 *                     Pairs with the recount's acquire load of S (s1 and
 *                     s2): a recount that reads the closed word reads
 *                     the record written before it.
 *   recount loads     acquire (or seq_cst): u1, each s1, each h, u2,
 *                     each s2 in that order, each acquire so that no
 *                     later load is satisfied before it (x86 never
 *                     reorders loads).
 *   reclaim           exchange H and the CAS on U: seq_cst RMWs; the
 *                     reset of S a seq_cst store; after the pidfd says
 *                     dead, when every store of the thread is visible.
 * No step needs a store -> load order (the one thing TSO's locked RMW
 * gives beyond release/acquire): no thread loads a shared word after
 * a store of its own that the load must follow.
 *
 * Bounds: NT = 2 lanes (threads), ROUNDS / ROUNDS1 takes, LIM,
 * MAXRECOUNT recounts while threads run, MAXCRASH broker crashes.  The
 * defaults (1 take each, limit 2, 1 recount, 1 crash) are about 2.8
 * million states, 2 s; ROUNDS=2 ROUNDS1=1 about 1.8 * 10^7 (20 s,
 * -DCOLLAPSE under 1 GiB); ROUNDS=2 about 1.1 * 10^8 (MODEL_DEEP:
 * -DCOLLAPSE, about 5 minutes and 5.3 GiB).
 */

#ifndef LIM
#define LIM 2
#endif
#ifndef ROUNDS
#define ROUNDS 1        /* takes of thread 0, 1..2 */
#endif
#ifndef ROUNDS1
#define ROUNDS1 ROUNDS  /* takes of thread 1 */
#endif
#define MYROUNDS (l == 0 -> ROUNDS : ROUNDS1)
#ifndef MAXRECOUNT
#define MAXRECOUNT 1    /* recounts while threads run */
#endif
#ifndef MAXCRASH
#define MAXCRASH 1      /* broker crashes */
#endif
#define NT 2            /* lanes = client threads */
#define BUFSZ 8

byte U;                 /* pool usage */
byte S[NT];             /* window words: version * 2 + open */
short H[NT];            /* records (-DFOREIGN: below zero too) */
chan buf[NT] = [BUFSZ] of { bit, short }; /* store buffers: (0 S | 1 H, value) */
bool dead[NT];          /* the thread was killed (issues nothing more) */
bool killed[NT];        /* its process was killed (-DSAMEPROC: both) */
bool done[NT];          /* finished normally */
bool reclaimed[NT];
byte crashes;

byte gh;                /* ghost: holds in use */
byte myh[NT];           /* ghost: holds thread l took, in use, not
                         * being released */
byte tk[NT];            /* ghost: tickets thread l returned, not released */
byte rh[NT];            /* ghost: holds in use thread l is releasing
                         * (until its CAS; -DFOREIGN: thread 0's too) */

#ifdef SAMEPROC
#define PROC(l)         0
#else
#define PROC(l)         (l)
#endif

/* Coverage probes: with -DCOVER=k, REACHED(k, cond) fails an assertion
 * there when cond holds: 1 the pool full; 2 a take refused at t1;
 * 3 a take refused by its CAS; 4 a recount foiled by S alone (u1 == u2);
 * 5 a recount trims an excess with a window open; 6 a broker crash;
 * 7 a recount reads a lane's S closed while the thread's open is still
 * in its buffer; 8 a reclaim that takes records of a lane that died in
 * its window. */
#ifdef COVER
#define REACHED(k, cond)  assert(!(COVER == k && (cond)))
#else
#define REACHED(k, cond)  skip
#endif

#ifdef CORE_ONLY
#define NOCLAMP  skip
#else
#define NOCLAMP  assert(false)  /* U under-ran: it was under-counting */
#endif

/* Plain stores: into the thread's buffer. */
#define SST(v)   buf[l]!0,v
#define HST(v)   buf[l]!1,v
/* The locked CAS's precondition: the buffer drained (BUG_NO_DRAIN: not). */
#ifdef BUG_NO_DRAIN
#define DRAINED  true
#else
#define DRAINED  (len(buf[l]) == 0)
#endif

/* The kill: every hold of the process stops being in use (-DSAMEPROC:
 * the other thread's too, done or not; it takes its death path next). */
#ifdef SAMEPROC
#define KILL(l) killed[0] = 1; gh = gh - myh[0] - myh[1] - rh[0] - rh[1]; \
	myh[0] = 0; myh[1] = 0; rh[0] = 0; rh[1] = 0; tk[0] = 0; tk[1] = 0
#else
#define KILL(l) killed[l] = 1; gh = gh - myh[l] - rh[l]; \
	myh[l] = 0; rh[l] = 0; tk[l] = 0
#endif

/* One step of the thread (guard g, then x, atomically), or its death
 * just before it (its process killed: this thread or, -DSAMEPROC, the
 * other).  A dead thread uses nothing. */
#define GSTEP(g, ...) \
	if \
	:: atomic { !killed[PROC(l)] && (g) -> __VA_ARGS__ } \
	:: atomic { KILL(l); dead[l] = 1; goto out } \
	fi
#define STEP(...)  GSTEP(true, __VA_ARGS__)  /* (a store has a comma) */

proctype thread(byte l)
{
	byte s;         /* version of S (private copy) */
	short h;        /* records (private copy of H) */
	byte n;         /* takes attempted */
	bool got;
	bool nf;        /* released a foreign ticket (-DFOREIGN) */

	do
	:: n < MYROUNDS ->
		/* take */
		STEP(n++;                                       /* t1 */
			if
			:: U >= LIM -> got = 0; REACHED(2, true)
			:: else -> got = 1
			fi);
		if
		:: got ->
#ifndef BUG_OPEN_LATE
			STEP(SST(s * 2 + 1));                   /* t2 open */
#endif
			GSTEP(DRAINED,                          /* t3 CAS */
				if
				:: U + 1 <= LIM -> U++; gh++; myh[l]++;
					REACHED(1, gh == LIM)
				:: else -> got = 0; REACHED(3, true)
				fi);
#ifdef BUG_OPEN_LATE
			STEP(SST(s * 2 + 1));                   /* open (late) */
#endif
			if
			:: got -> STEP(h++; HST(h))             /* t4 record */
			:: else -> skip
			fi;
			STEP(s++; SST(s * 2); tk[l] = tk[l] + got; got = 0) /* t5 close */
		:: else -> skip
		fi

	:: atomic {
		tk[l] > 0 && !killed[PROC(l)] ->
		/* release: this hold (its ticket decided, see FOREIGN) */
		tk[l]--; myh[l]--; rh[l]++
	   };
		STEP(SST(s * 2 + 1));                           /* r1 open */
#ifndef BUG_RECORD_EARLY
		STEP(h--; HST(h));                              /* r2 record */
#endif
		GSTEP(DRAINED,                                  /* r3 CAS */
			if
			:: U > 0 -> U--
			:: else -> NOCLAMP
			fi;
			gh--; rh[l]--);
#ifdef BUG_RECORD_EARLY
		STEP(h--; HST(h));                              /* record (late) */
#endif
		STEP(s++; SST(s * 2))                           /* r4 close */

#ifdef FOREIGN
	:: atomic {
		l == 1 && nf == 0 && tk[0] > 0 && !killed[PROC(l)] ->
		/* a copy of thread 0's ticket, released here: which thread
		 * releases it is decided (revoke.pml) */
		nf = 1; tk[0]--; myh[0]--; rh[1]++
	   };
		STEP(SST(s * 2 + 1));                           /* r1 open */
		STEP(h--; HST(h));                              /* r2 own lane */
		GSTEP(DRAINED,                                  /* r3 CAS */
			if
			:: U > 0 -> U--
			:: else -> NOCLAMP
			fi;
			gh--; rh[1]--);
		STEP(s++; SST(s * 2))                           /* r4 close */
#endif

	:: n >= MYROUNDS -> break                 /* done, holding myh[l] */
	od;
	STEP(done[l] = 1)
out:
	skip
}

/* The machine's side of TSO: any thread's oldest buffered store reaches
 * memory, dead thread or not. */
active proctype memory()
{
	bit k;
	short v;
end:
	do
#ifdef BUG_RELAXED_STORES
	/* The oldest store of either word, each word's stores in order
	 * (coherence) but S and H in any order between them. */
	:: atomic { buf[0]??0,v -> S[0] = v; v = 0 }
	:: atomic { buf[0]??1,v -> H[0] = v; v = 0 }
	:: atomic { buf[1]??0,v -> S[1] = v; v = 0 }
	:: atomic { buf[1]??1,v -> H[1] = v; v = 0 }
#else
	:: atomic {
		buf[0]?k,v ->
		if
		:: k == 0 -> S[0] = v
		:: else -> H[0] = v
		fi;
		k = 0; v = 0
	   }
	:: atomic {
		buf[1]?k,v ->
		if
		:: k == 0 -> S[1] = v
		:: else -> H[1] = v
		fi;
		k = 0; v = 0
	   }
#endif
	od
}

#define CRASH \
	if \
	:: crashes < MAXCRASH -> crashes++; REACHED(6, true); goto restart \
	:: true -> skip \
	fi

#define FIN(i)    (done[i] || dead[i])
#define ALLDONE   (FIN(0) && FIN(1))
#define DRAINALL  (len(buf[0]) == 0 && len(buf[1]) == 0)

/* The death is known (pidfd) once the process is dead and the buffers
 * of its threads drained. */
#ifdef SAMEPROC
#define KNOWN(i)  (killed[0] && FIN(0) && FIN(1) && DRAINALL)
#define OWNS(i)   (i == 0)      /* reclaim by process: lane 0 names it */
#else
#define KNOWN(i)  (dead[i] && len(buf[i]) == 0)
#define OWNS(i)   true
#endif
#define PICK(i)   atomic { KNOWN(i) && !reclaimed[i] && OWNS(i) -> c = i }


/* corrected(): fill a deficit, trim an excess beyond the slack k. */
#define CORR(u, rec) ((u) < (rec) -> (rec) : ((u) > (rec) + k -> (rec) + k : (u)))

#ifdef BUG_NO_RECHECK
#define RS2(i)  skip
#else
#define RS2(i) \
	if \
	:: S[i] != s1[i] -> goto rc_end         /* s2 != s1 */ \
	:: else -> skip \
	fi
#endif

active proctype sweeper()
{
	byte c, u1, k, nrc;
	short x, sumh;
	byte s1[NT];
	bool ok, fin;

restart:
	atomic {
		c = 0; x = 0; u1 = 0; sumh = 0; k = 0; ok = 0; fin = 0;
		s1[0] = 0; s1[1] = 0
	};
loop:
	do
	:: PICK(0); goto reclaim
	:: PICK(1); goto reclaim
	:: nrc < MAXRECOUNT -> nrc++; goto recount
	:: ALLDONE -> break
	od;

	/* Every thread finished or died: the final sweeps. */
final:
	fin = 1;
	DRAINALL;
	if
	:: PICK(0); goto reclaim
	:: PICK(1); goto reclaim
	:: else -> skip
	fi;
	goto recount;

reclaim:
	REACHED(8, H[c] > 0 && S[c] % 2 == 1);
	atomic { x = H[c]; H[c] = 0 };                  /* exchange */
	CRASH;
#ifdef SAMEPROC
	atomic { x = x + H[1]; H[1] = 0 };              /* the other lane */
	CRASH;
#endif
	atomic {                                        /* CAS U - x */
		if
		:: U >= x -> U = U - x
		:: else -> NOCLAMP; U = 0
		fi;
		x = 0
	};
	CRASH;
	atomic {                                        /* reset S */
		S[c] = (S[c] / 2 + 1) * 2;
		reclaimed[c] = 1;
#ifdef SAMEPROC
		S[1] = (S[1] / 2 + 1) * 2;
		reclaimed[1] = 1;
#endif
		c = 0
	};
	if
	:: fin -> goto final
	:: else -> goto loop
	fi;

recount:
	u1 = U;
	atomic {
		s1[0] = S[0]; k = S[0] % 2;
		REACHED(7, len(buf[0]) > 0 && S[0] % 2 == 0)
	};
	sumh = H[0];
	atomic { s1[1] = S[1]; k = k + S[1] % 2 };
	sumh = sumh + H[1];
	if
	:: U != u1 -> goto rc_end                       /* u2 != u1 */
	:: else -> skip
	fi;
	REACHED(4, S[0] != s1[0] || S[1] != s1[1]);
	RS2(0);
	RS2(1);
	atomic {                                        /* CAS from u1 */
		ok = 1;
		if
		:: U == u1 ->
			REACHED(5, u1 > sumh + k && k > 0);
			U = CORR(u1, sumh)
		:: else -> skip
		fi
	};
rc_end:
	atomic {
		u1 = 0; sumh = 0; k = 0; s1[0] = 0; s1[1] = 0;
		if
		:: !fin -> ok = 0; goto loop
		:: fin && !ok -> goto recount
		:: else -> skip
		fi
	};
	/* convergence: U == the records == the holds that survive */
	assert(U == H[0] + H[1] && U == gh)
}

active proctype monitor()
{
end:
	atomic {
		!(U >= gh && gh <= LIM) ->
		assert(U >= gh);                /* U never under-counts */
		assert(gh <= LIM)               /* the limit */
	}
}

init
{
	atomic {
		run thread(0);
		run thread(1)
	}
}
