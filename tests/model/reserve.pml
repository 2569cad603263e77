/*
 * reserve.pml - Promela model of the reservation protocol of
 * lib/reserve.h: hold reserve / release, launch reserve / release /
 * expiry, client death, the broker's reclaim (and the broker's own
 * crash), and recount.  tests/model/run.sh checks it with spin
 * (spin -a, cc -DSAFETY, ./pan: an exhaustive search) in `make check`.
 *
 * Mapping to lib/reserve.h (its names):
 *
 *   Uh, Ul   U, the pool's usage counter {held, launching}.  One word,
 *            changed only by CAS: every change of U is one atomic step.
 *            A decrement never goes below zero (cb_rsv_usage_sub).
 *   S[c]     client c's death-window word.  The C word is in-flight
 *            (low 8 bits) + version; open = S += 1, close = S += 0x100
 *            - 1.  The model keeps the in-flight count in S[c] and,
 *            for the version, only what a recount learns from it:
 *            Sch[c] = "S[c] was written since the recount read it"
 *            (an ideal version that never wraps).
 *   H[c]     holds client c has recorded (one pool).
 *   L[e]     launch entries: Lst (FREE / CLAIMING / LIVE), Lcl (the
 *            client).  A ticket is (entry, word); since a client holds
 *            at most one ticket here, "LIVE and Lcl == me" is exactly
 *            the C code's CAS on the ticket's LIVE word (nonce
 *            included).  Deadlines are not modelled: the sweeper may
 *            expire any LIVE entry at any time, and all at the end.
 *            `observed` is 0.
 *
 *   client(c)  a process with one thread: up to ROUNDS admissions,
 *            holds and launches in any order (several holds at once),
 *            releases in any order, then cb_close (-DCLOSE_HOLDS: with
 *            holds left, released one at a time) - unless it dies.
 *            STEP(x) is one step of the C code, or the process's death
 *            just before it: a client can be killed between any two
 *            shared-memory accesses (and before its first, after its
 *            last).  Hold reserve: open; CAS U; record H; close.  Hold
 *            release: open; H -= 1; CAS U; close.  Launch reserve: open;
 *            CAS U; claim an entry (CLAIMING) or -ENOSPC (undo the
 *            CAS); LIVE; close.  Launch release: open; CAS L LIVE->FREE;
 *            CAS U; close.
 *   sweeper  the broker's sweeper thread, interleaved with the clients:
 *            reclaim of a dead client, expiry of a LIVE entry, a
 *            recount (MAXRECOUNT of them), in any order.  The broker
 *            may crash between any two of its writes (BCRASH, at most
 *            MAXCRASH times) and restarts with its locals lost.  Once
 *            every client has finished or died: reclaim every dead
 *            client, expire every launch, recount until a snapshot is
 *            consistent, and assert U == 0.
 *   monitor  checks the safety invariants in every reachable state.
 *
 * Ghosts: gh / gl = units really in use (holds / launches).  A hold is
 * in use from its admitting CAS until its holder starts releasing it or
 * dies; a launch from its admitting CAS until its entry is freed (by
 * the one winner of the LIVE->FREE CAS), the -ENOSPC undo, or its
 * client's death before the entry went LIVE (no ticket was returned,
 * nothing was launched).  rh / rl = what the records account for: the
 * sum of H, the entries not FREE.
 *
 * Properties:
 *   monitor    gh + gl <= LIMIT          the pool never exceeds its limit
 *              Uh >= gh && Ul >= gl      U never under-counts the use
 *              Uh >= rh && Ul >= rl      U >= what the records say (*)(s)
 *   recount    a consistent snapshot never shows a deficit (*)(s)
 *   everywhere U never under-runs a decrement (*)
 *   sweeper    at the end, Uh == 0 && Ul == 0        (convergence)
 *   (*) auxiliary: -DCORE_ONLY leaves them out, so a negative control
 *   has to break the limit, U >= in use, or convergence.
 *   (s) strict recount only (-DRECOUNT_STRICT); see TOLERANT below.
 *
 * Where lib/reserve.h leaves a choice open, the model takes the one
 * that is correct; each has a switch that takes the other, and spin
 * finds a counterexample:
 *   - a client's launch release opens its own window (as written in
 *     reserve.h it has none: -DSPEC_LAUNCH_RELEASE_NO_WINDOW, recount
 *     then under-counts);
 *   - reclaim of a dead client frees its CLAIMING entries and gives back
 *     their units (reserve.h: "its launches stay until they expire", but
 *     only LIVE entries expire: -DSPEC_NO_CLAIMING_RECLAIM, an entry and
 *     a unit leak for ever, recount cannot see it);
 *   - reclaim takes H[c] (exchange to 0) before subtracting it from U
 *     (-DRECLAIM_U_FIRST: a broker crash in between and the restarted
 *     broker subtracts it twice);
 *   - reclaim opens the dead client's window while it works, so it may
 *     run on any thread (-DRECLAIM_THREAD runs it beside the recount;
 *     with -DRECLAIM_NO_WINDOW as well, recount under-counts).
 * Negative controls of the protocol's own rules:
 *   -DBUGGY_ORDER          reserve records the hold before the CAS
 *   -DBUGGY_RELEASE        release decrements U before H
 *   -DRECOUNT_NO_S2        recount without the second collect of S
 *   -DRECOUNT_NO_INFLIGHT  recount accepts windows left open
 * A close that releases several units (issue 12, finding 2): with
 * -DCLOSE_HOLDS a client that has made all its admissions may close
 * with two or more holds left (one is a release and a close), which
 * cb_close releases one unit at a time in its one window (a switch:
 * the default configuration with it exceeds run.sh's memory bound);
 * -DBUGGY_CLOSE_SWAP takes H to 0 at once and subtracts them all after
 * (a recount in between trims all but one, the subtraction takes them
 * again).
 * A limit that changes (issue 12, finding 3): -DLIMIT_DROP adds a
 * publisher that lowers the limit once, at any moment, and an
 * admission then re-checks the limit after its CAS (step 2 of
 * reserve.h; at each commit: in use <= the limit published then).
 * Its negative controls: -DNO_LIMIT_RECHECK (commit at the CAS, with
 * the limit read before the window), -DRECHECK_OWN_VALUE (re-check the
 * value its own CAS stored rather than U read after the limit).
 *
 * Granularity: one Promela step per shared-memory access of the C code,
 * with purely local work folded in; recount gives up as soon as its
 * snapshot cannot be consistent (a failed snapshot changes nothing).
 * Bounds: NC clients, ROUNDS admissions each, NL entries, LIMIT, at
 * most MAXRECOUNT recounts while clients run, MAXCRASH broker crashes.
 * The defaults (2, 2, 2, 2, 1, 1) are the main check: about 6.8 million
 * states, a few seconds.
 */

#ifndef NC
#define NC 2            /* clients, 1..4 */
#endif
#ifndef NL
#define NL 2            /* launch entries, 1..3 */
#endif
#ifndef LIMIT
#define LIMIT 2
#endif
#ifndef ROUNDS
#define ROUNDS 2        /* admissions per client */
#endif
#ifndef MAXRECOUNT
#define MAXRECOUNT 1    /* recounts while clients run (the final ones aside) */
#endif
#ifndef MAXCRASH
#define MAXCRASH 1      /* broker crashes */
#endif

#define FREE     0
#define CLAIMING 1
#define LIVE     2

/* The window: open = S += 1, close = S += 0x100 - 1 (version+1,
 * in-flight-1).  The model keeps the in-flight count in S and, instead
 * of the version, the one thing a recount learns from it: Sch[c] says
 * that S[c] was written since the recount read it (a version that never
 * wraps). */
#define OPEN(c)   S[c]++; Sch[c] = (Sch[c] || rcing)
#define CLOSE(c)  S[c]--; Sch[c] = (Sch[c] || rcing)

/* EACH_C(M) / EACH_L(M): M(i) for every client / entry, unrolled, so a
 * scan costs one step per shared read and nothing for the loop. */
#if NC == 1
#define EACH_C(M) M(0)
#define OPT_C(M)  :: M(0)
#elif NC == 2
#define EACH_C(M) M(0); M(1)
#define OPT_C(M)  :: M(0) :: M(1)
#elif NC == 3
#define EACH_C(M) M(0); M(1); M(2)
#define OPT_C(M)  :: M(0) :: M(1) :: M(2)
#elif NC == 4
#define EACH_C(M) M(0); M(1); M(2); M(3)
#define OPT_C(M)  :: M(0) :: M(1) :: M(2) :: M(3)
#else
#error NC must be 1..4
#endif
#if NL == 1
#define EACH_L(M) M(0)
#define OPT_L(M)  :: M(0)
#elif NL == 2
#define EACH_L(M) M(0); M(1)
#define OPT_L(M)  :: M(0) :: M(1)
#elif NL == 3
#define EACH_L(M) M(0); M(1); M(2)
#define OPT_L(M)  :: M(0) :: M(1) :: M(2)
#else
#error NL must be 1..3
#endif

byte Uh, Ul;            /* U = {held, launching} */
byte S[NC];             /* death-window words: operations in flight */
bool Sch[NC];           /* S[c] written since the recount read it */
bool rcing;             /* a recount is collecting */
byte H[NC];             /* holds recorded */
byte Lst[NL], Lcl[NL];
bool dead[NC];          /* death notice (socket closed / pidfd) */
#ifdef LIMIT_DROP
byte lim = LIMIT;       /* the published limit (LIMIT_DROP lowers it) */
#endif
bool reclaimed[NC];     /* broker undid it and freed the client entry */
bool done[NC];          /* finished normally (cb_close) */
byte crashes;           /* broker crashes so far */

/* ghosts */
byte gh, gl;            /* units in use */
byte rh, rl;            /* units the records account for */

/*
 * The recount of lib/reserve.c (the default here) tolerates windows in
 * flight, so the records it adds up can be read mid-operation: it may
 * see more records than U and fill that "deficit" (an over-count, on
 * the safe side, trimmed by a later recount).  "U >= the records" and
 * "no deficit in a consistent snapshot" are therefore properties of
 * the strict recount only (-DRECOUNT_STRICT); the tolerant one is held
 * to the limit, U >= in use, convergence and no under-run.
 */
#if !defined(RECOUNT_STRICT) && !defined(RECOUNT_NO_INFLIGHT)
#define TOLERANT 1
#endif

#if defined(CORE_ONLY) || defined(TOLERANT)
#define SAFE (gh + gl <= LIMIT && Uh >= gh && Ul >= gl)
#else
#define SAFE (gh + gl <= LIMIT && Uh >= gh && Ul >= gl && Uh >= rh && Ul >= rl)
#endif

/* Coverage probes: with -DCOVER=k, REACHED(k, cond) fails an assertion
 * when cond holds there, so spin proves that point reachable (run.sh
 * checks each): 1 the pool full, 2 an admission refused over the limit,
 * 3 -ENOSPC, 4 a stale launch release, 5 a broker crash, 6 reclaim of a
 * CLAIMING entry, 7 a recount foiled by a window, 8 a recount that
 * repairs an excess, 9 an admission given back by its re-check of a
 * lowered limit (-DLIMIT_DROP). */
#if defined(COVER_ALL)
#define REACHED(k, cond)  assert(!(k == k && (cond)))
#elif defined(COVER)
#define REACHED(k, cond)  assert(!(COVER == k && (cond)))
#else
#define REACHED(k, cond)  skip
#endif

/* A CAS loop that decrements one half of U, never below zero
 * (cb_rsv_usage_sub). */
#define USUB(x)  atomic { if :: x > 0 -> x-- :: else -> NOCLAMP fi }
#define DEC(x)   if :: x > 0 -> x-- :: else -> NOCLAMP fi
#define SUBN(x, n) if :: x >= n -> x = x - n :: else -> NOCLAMP; x = 0 fi

/* Auxiliary checks (-DCORE_ONLY leaves them out, so that a negative
 * control has to break one of the properties that matter: the limit,
 * U >= in use, convergence): U never under-runs a decrement, ... */
#ifdef CORE_ONLY
#define NOCLAMP  skip
#else
#define NOCLAMP  assert(false)  /* U under-ran: it was under-counting */
#endif

/*
 * The limit an admission's CAS compares with (MYLIM) was read before
 * its window opened, so with -DLIMIT_DROP (the publisher lowers the
 * limit once, at any moment: capctl pool set, or pool 0's capacity)
 * it may be stale, and the C code re-checks after the CAS (step 2 of
 * reserve.h): limit first, then U; over it, the unit goes back inside
 * the window.  An admission is committed (in use, its ticket returned)
 * when the re-check passes; COMMIT asserts that it does not exceed the
 * limit published at that moment (a lowering never revokes units
 * committed before it).  -DNO_LIMIT_RECHECK (negative control) commits
 * at the CAS.  Without LIMIT_DROP the limit never changes, the re-check
 * can only pass, and it is left out (it would only refuse, inside the
 * window, like the -ENOSPC undo).
 */
#ifdef LIMIT_DROP
#define MYLIM mylim
#define READLIM mylim = lim
#define COMMIT_CHECK assert(gh + gl <= lim)
#else
#define MYLIM LIMIT
#define READLIM skip
#define COMMIT_CHECK skip
#endif
#if defined(LIMIT_DROP) && !defined(NO_LIMIT_RECHECK)
#define RECHECK 1
#endif
#define COMMIT_H myh++; gh++; COMMIT_CHECK; REACHED(1, gh + gl == LIMIT)
#define COMMIT_L gl++; pend = 1; COMMIT_CHECK; REACHED(1, gh + gl == LIMIT)
/* The re-check (limit, then U, in one step: the model's U is one word
 * and lim one more, each read once): keep the unit or give it back.
 * -DRECHECK_OWN_VALUE (negative control) compares the value its own CAS
 * stored instead of U read after the limit: it misses an admission
 * that CASed after it and re-checked (against the old limit) first. */
#ifdef RECHECK_OWN_VALUE
#define NOTE_AFT  aft = Uh + Ul
#define RECHECK_U aft
#else
#define NOTE_AFT  skip
#define RECHECK_U (Uh + Ul)
#endif
#define RECHECK_STEP(commit) \
	if \
	:: got -> STEP(if \
		:: RECHECK_U <= lim -> commit \
		:: else -> got = 0; back = 1; REACHED(9, true) \
		fi) \
	:: else -> skip \
	fi

/* One step of a client, or its death just before that step.  Death is
 * one atomic step with the ghost update: a dead client uses nothing. */
#define STEP(x)  if :: atomic { x } :: atomic { DEATH; goto out } fi
#define DEATH \
	gh = gh - myh; myh = 0; \
	if \
	:: pend -> gl--; pend = 0 \
	:: else -> skip \
	fi; \
	dead[c] = 1; \
	tk = 0; e = 0; n = 0; got = 0

/* ------------------------------------------------------------------ */

proctype client(byte c)
{
	byte n;         /* admissions attempted */
	byte e;         /* ticket: the entry */
	bool tk;        /* holding a launch ticket */
	bool got;
	byte myh;       /* ghost: holds in use */
	bool pend;      /* ghost: launch admitted, entry not LIVE yet */
	byte cl;        /* cb_close: holds still to release */
#ifdef LIMIT_DROP
	byte mylim;     /* the limit read before the window */
#endif
#ifdef RECHECK
	bool back;      /* admitted, over the re-read limit: give it back */
#endif
#ifdef RECHECK_OWN_VALUE
	byte aft;       /* the value of U its CAS stored */
#endif

	do
	:: n < ROUNDS ->
		/* hold, reserve (one attempt) */
		STEP(n++; READLIM; OPEN(c));                    /* 1. open */
#ifdef BUGGY_ORDER
		STEP(H[c]++; rh++);                             /* record first (wrong) */
#endif
#ifdef RECHECK
		STEP(                                           /* 2. CAS U */
			if
			:: Uh + Ul + 1 <= MYLIM -> Uh++; got = 1; NOTE_AFT
			:: else -> got = 0; REACHED(2, true)
			fi);
		RECHECK_STEP(COMMIT_H);                         /* re-check */
		if
		:: back -> STEP(DEC(Uh); back = 0)              /* give back */
		:: else -> skip
		fi;
#else
		STEP(                                           /* 2. CAS U */
			if
			:: Uh + Ul + 1 <= MYLIM -> Uh++; got = 1; COMMIT_H
			:: else -> got = 0; REACHED(2, true)
			fi);
#endif
#ifdef BUGGY_ORDER
		if
		:: !got -> STEP(H[c]--; rh--)                   /* undo the record */
		:: else -> skip
		fi;
#else
		if
		:: got -> STEP(H[c]++; rh++)                    /* 3. record */
		:: else -> skip
		fi;
#endif
		STEP(CLOSE(c); got = 0)                         /* 4. close */

	:: myh > 0 ->
		/* hold, release */
		STEP(myh--; gh--; OPEN(c));                     /* stop using; open */
#ifdef BUGGY_RELEASE
		STEP(DEC(Uh));                                  /* U first (wrong) */
		STEP(H[c]--; rh--);
#else
		STEP(H[c]--; rh--);                             /* record first */
		STEP(DEC(Uh));                                  /* then CAS U */
#endif
		STEP(CLOSE(c))                                  /* close */

	:: n < ROUNDS && !tk ->
		/* launch, reserve (observed = 0) */
		STEP(n++; READLIM; OPEN(c));                    /* open */
#ifdef RECHECK
		STEP(                                           /* CAS U */
			if
			:: Uh + Ul + 1 <= MYLIM -> Ul++; got = 1; NOTE_AFT
			:: else -> got = 0; REACHED(2, true)
			fi);
		RECHECK_STEP(COMMIT_L);                         /* re-check */
		if
		:: back -> STEP(DEC(Ul); back = 0)              /* give back */
		:: else -> skip
		fi;
#else
		STEP(                                           /* CAS U */
			if
			:: Uh + Ul + 1 <= MYLIM -> Ul++; got = 1; COMMIT_L
			:: else -> got = 0; REACHED(2, true)
			fi);
#endif
		if
		:: got ->
			STEP(   /* claim a free entry: CAS FREE -> CLAIMING */
				e = 0;
				do
				:: e < NL && Lst[e] != FREE -> e++
				:: else -> break
				od;
				if
				:: e < NL ->
					Lst[e] = CLAIMING; Lcl[e] = c; rl++
				:: else ->
					gl--; pend = 0; /* ENOSPC: not used */
					REACHED(3, true)
				fi);
			if
			:: e < NL ->
				/* (store the deadline: time is not modelled) */
				STEP(Lst[e] = LIVE; pend = 0; tk = 1)
			:: else ->
				STEP(DEC(Ul); e = 0)    /* undo the CAS */
			fi
		:: else -> skip
		fi;
		STEP(CLOSE(c); got = 0)                         /* close */

	:: tk ->
		/* launch, release (the launch failed: free it at once) */
#ifndef SPEC_LAUNCH_RELEASE_NO_WINDOW
		STEP(OPEN(c));                                  /* open */
#endif
		STEP(   /* CAS the exact LIVE word -> FREE */
			if
			:: Lst[e] == LIVE && Lcl[e] == c ->
				Lst[e] = FREE; Lcl[e] = 0; rl--; gl--; got = 1
			:: else -> got = 0; REACHED(4, true) /* -ESTALE: expired */
			fi;
			tk = 0; e = 0);
		if
		:: got -> STEP(DEC(Ul); got = 0)                /* then CAS U */
		:: else -> skip
		fi;
#ifndef SPEC_LAUNCH_RELEASE_NO_WINDOW
		STEP(CLOSE(c))                                  /* close */
#else
		skip
#endif

	:: n >= ROUNDS && myh == 0 ->
		/* cb_close: no holds left; a ticket not released is a launch
		 * that went ahead, left to expire */
		break

#ifdef CLOSE_HOLDS
	:: n >= ROUNDS && myh > 1 ->
		/* cb_close with holds (cb_rsv_release_all): all stop being
		 * used; one window; every hold, one unit at a time: H - 1,
		 * then CAS U.  -DBUGGY_CLOSE_SWAP (negative control, the code
		 * before issue 12's finding 2): H to 0 by exchange, then U -
		 * all of them, so more than one unit sits between its record
		 * and U under one window's single unit of slack. */
		STEP(cl = myh; gh = gh - myh; myh = 0; OPEN(c));
#ifdef BUGGY_CLOSE_SWAP
		STEP(cl = H[c]; rh = rh - H[c]; H[c] = 0);      /* exchange */
		STEP(SUBN(Uh, cl); cl = 0);                     /* U - h */
#else
		do
		:: cl > 0 ->
			STEP(H[c]--; rh--);                     /* H - 1 */
			STEP(DEC(Uh); cl--)                     /* then U - 1 */
		:: else -> break
		od;
#endif
		STEP(CLOSE(c));
		break
#endif
	od;
	STEP(done[c] = 1; tk = 0; e = 0; n = 0)
out:
	skip
}

/* ------------------------------------------------------------------ */

/* A broker crash: local state is lost, the restarted broker carries on
 * from the segment.  CRASH is BCRASH in the sweeper, skip in the reclaim
 * thread of RECLAIM_THREAD. */
#define BCRASH \
	if \
	:: crashes < MAXCRASH -> crashes++; REACHED(5, true); goto restart \
	:: true -> skip \
	fi

/*
 * Reclaim dead client c (cb_rsv_reclaim): undo H[c], free its CLAIMING
 * entries, reset S[c], free the client entry.
 */
#ifdef RECLAIM_NO_WINDOW
#define RECLAIM_OPEN  skip
#else
#define RECLAIM_OPEN  OPEN(c)   /* open the dead client's window */
#endif

#ifdef RECLAIM_U_FIRST
#define RECLAIM_HOLDS \
	atomic { h = H[c]; SUBN(Uh, h) }; \
	CRASH; \
	atomic { rh = rh - H[c]; H[c] = 0; h = 0 }
#else
#define RECLAIM_HOLDS \
	atomic { h = H[c]; rh = rh - h; H[c] = 0 };     /* exchange */ \
	CRASH; \
	atomic { SUBN(Uh, h); h = 0 }
#endif

#ifdef SPEC_NO_CLAIMING_RECLAIM
#define RCL(i) skip
#else
#define RCL(i) \
	if \
	:: atomic { Lst[i] == CLAIMING && Lcl[i] == c -> Lst[i] = FREE; Lcl[i] = 0; rl--; REACHED(6, true) }; \
	   CRASH; \
	   USUB(Ul) \
	:: else -> skip \
	fi
#endif

#define RECLAIM \
	RECLAIM_OPEN; \
	RECLAIM_HOLDS; \
	CRASH; \
	EACH_L(RCL); \
	CRASH; \
	atomic { \
		S[c] = 0; Sch[c] = rcing;       /* reset: in-flight 0, version+1 */ \
		reclaimed[c] = 1;               /* free the entry (owner CAS) */ \
		c = 0 \
	}

/* Pick a dead client not reclaimed yet (an option of if / do). */
#define PICK(i)  atomic { dead[i] && !reclaimed[i] -> c = i }
#define PICKR(i) PICK(i); goto reclaim

/*
 * Recount (cb_rsv_recount): u1 = U; for every client s1[c] = S[c],
 * h[c] = H[c], k += its windows in flight; count live/claiming
 * entries; u2 = U; s2[c] = S[c].  Consistent iff u1 == u2 and every
 * s1 == s2; then one CAS on exactly u1 corrects both halves: a deficit
 * is filled, an excess beyond k trimmed (-DRECOUNT_STRICT instead gives
 * up on any window in flight and sets U to the records).  It gives up (goto rc_end, ok = 0) as
 * soon as the snapshot cannot be consistent, as the C code may.
 */
#if defined(RECOUNT_NO_INFLIGHT)
/* Broken: open windows accepted and ignored (no slack for them). */
#define RS1(i)  Sch[i] = 0; sumh = sumh + H[i]
#elif defined(RECOUNT_STRICT)
/* The strict variant: any open window foils the snapshot. */
#define RS1(i) \
	atomic { \
		if \
		:: S[i] != 0 -> goto rc_end     /* in flight */ \
		:: else -> Sch[i] = 0           /* s1[i] = S[i] */ \
		fi \
	}; \
	sumh = sumh + H[i]
#else
/* lib/reserve.c: open windows are counted (k), each worth one unit of
 * slack: an excess is trimmed only beyond k. */
#define RS1(i) \
	atomic { Sch[i] = 0; k = k + S[i] };    /* s1[i] = S[i] */ \
	sumh = sumh + H[i]
#endif
/* corrected(): fill a deficit, trim an excess beyond the slack k. */
#define CORR(u, rec) ((u) < (rec) -> (rec) : ((u) > (rec) + k -> (rec) + k : (u)))
#define RL(i)   nl = nl + (Lst[i] != FREE -> 1 : 0)
#ifdef RECOUNT_NO_S2
#define RS2(i)  skip
#else
#define RS2(i)  if :: Sch[i] -> REACHED(7, true); goto rc_end :: else -> skip fi  /* s2 != s1 */
#endif
#define RZ(i)   Sch[i] = 0

/* Expiry (cb_rsv_expire) of entry i, if LIVE and past its deadline:
 * EXP1 (a do option) any LIVE entry at any time; EXPIRE_PASS (final)
 * every LIVE entry. */
#define EXP1(i) \
	atomic { Lst[i] == LIVE -> Lst[i] = FREE; Lcl[i] = 0; rl--; gl-- }; \
	BCRASH; \
	USUB(Ul)
#define EXP(i)  if :: EXP1(i) :: else -> skip fi
#define EXPIRE_PASS  EACH_L(EXP)

#define DONE(i)         (done[i] || dead[i])
#define RECLAIMED(i)    (!dead[i] || reclaimed[i])
#if NC == 1
#define ALLDONE         DONE(0)
#define ALLRECLAIMED    RECLAIMED(0)
#elif NC == 2
#define ALLDONE         (DONE(0) && DONE(1))
#define ALLRECLAIMED    (RECLAIMED(0) && RECLAIMED(1))
#elif NC == 3
#define ALLDONE         (DONE(0) && DONE(1) && DONE(2))
#define ALLRECLAIMED    (RECLAIMED(0) && RECLAIMED(1) && RECLAIMED(2))
#else
#define ALLDONE         (DONE(0) && DONE(1) && DONE(2) && DONE(3))
#define ALLRECLAIMED    (RECLAIMED(0) && RECLAIMED(1) && RECLAIMED(2) && \
			 RECLAIMED(3))
#endif

#ifdef RECLAIM_THREAD
/* Reclaim on the socket's death notice, in a thread of its own. */
#define CRASH skip
active proctype reaper()
{
	byte c, h;

top:
	if
	OPT_C(PICK)
	:: ALLDONE && ALLRECLAIMED -> goto stop
	fi;
	RECLAIM;
	goto top;
stop:
	skip
}
#undef CRASH
#endif

#define CRASH BCRASH
active proctype sweeper()
{
	byte c, h, nl, sumh, u1h, u1l, k;
	bool ok, fin;
	byte nrc;       /* recounts so far (a bound of the model) */

restart:
	atomic {
		c = 0; h = 0; nl = 0; sumh = 0; u1h = 0; u1l = 0; ok = 0;
		k = 0; fin = 0; rcing = 0; EACH_C(RZ)
	};
loop:
	do
#ifndef RECLAIM_THREAD
	OPT_C(PICKR)
#endif
	OPT_L(EXP1)
	:: nrc < MAXRECOUNT -> nrc++; goto recount
	:: ALLDONE -> break
	od;

	/* Every client finished or died: the final sweeps (every deadline
	 * has passed). */
final:
	fin = 1;
#ifdef RECLAIM_THREAD
	ALLRECLAIMED;
#else
	if
	OPT_C(PICKR)
	:: else -> skip
	fi;
#endif
	EXPIRE_PASS;
	goto recount;

#ifndef RECLAIM_THREAD
reclaim:
	RECLAIM;
	if
	:: fin -> goto final
	:: else -> goto loop
	fi;
#endif

recount:
	atomic { u1h = Uh; u1l = Ul; rcing = 1 };
	EACH_C(RS1);
	EACH_L(RL);
	if :: Uh != u1h || Ul != u1l -> goto rc_end :: else -> skip fi;
	EACH_C(RS2);
	atomic {
		ok = 1;
#if !defined(CORE_ONLY) && !defined(TOLERANT)
		assert(u1h >= sumh && u1l >= nl);       /* no deficit */
#endif
		if
		:: Uh == u1h && Ul == u1l ->
			REACHED(8, u1h > sumh + k || u1l > nl + k);
#if defined(RECOUNT_NO_INFLIGHT) || defined(RECOUNT_STRICT)
			Uh = sumh; Ul = nl
#else
			Uh = CORR(u1h, sumh); Ul = CORR(u1l, nl)
#endif
		:: else -> skip
		fi
	};
rc_end:
	atomic {
		nl = 0; sumh = 0; u1h = 0; u1l = 0; k = 0; rcing = 0;
		EACH_C(RZ);
		if
		:: !fin -> ok = 0; goto loop
		:: fin && !ok -> goto recount
		:: else -> skip
		fi
	};
	assert(Uh == 0 && Ul == 0);     /* convergence */
}
#undef CRASH

#ifdef LIMIT_DROP
/* The publisher lowers the limit once, at any moment; the store is the
 * publication, acknowledged (capctl returns) right after it. */
active proctype publisher()
{
	lim = LIMIT - 1
}
#endif

active proctype monitor()
{
end:
	atomic {
		!(SAFE) ->
		assert(gh + gl <= LIMIT);               /* (1) within the limit */
		assert(Uh >= gh && Ul >= gl);           /* (1) U >= in use */
#ifndef CORE_ONLY
		assert(Uh >= rh && Ul >= rl);           /* U >= the records */
#endif
		skip
	}
}

init
{
	atomic {
		run client(0);
#if NC > 1
		run client(1);
#endif
#if NC > 2
		run client(2);
#endif
#if NC > 3
		run client(3);
#endif
	}
}
