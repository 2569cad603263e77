/*
 * budget.pml - Promela model of one client entry's recount slack across
 * several pools, and of hostile A -> B -> A writes of its window word
 * (issue 12, step 7).  tests/model/run.sh checks it.
 *
 * What the C does (the source this follows):
 *   - S[c], the entry's death-window word, is one word per client entry,
 *     not per pool: low byte the operations in flight, the rest a
 *     version (abi.h CB_SEQ_INFLIGHT).  window_open() (lib/reserve.c)
 *     CASes it +1 (the version unchanged); window_close() adds 0x100 - 1
 *     (version + 1, count - 1; from a count of 0 the low byte becomes
 *     0xff and the version does not move); the repair CASes it to
 *     (version + 1, windows).
 *   - Each pool's recount (lib/sweep_reserve.c cb_rsv_recount) is its
 *     own double collect: u1 = U[p]; per entry in index order S (seqs[i])
 *     then H[i][p] (collect()); u2 = U[p]; S again
 *     (cb_rsv_seqs_unchanged: the whole word); then one CAS on exactly
 *     u1 to cb_rsv_corrected(u1, records, K), K = the sum over owned
 *     entries of cb_rsv_slack(seqs[i]) = min(count, CB_RSV_INFLIGHT_MAX).
 *     So an entry's slack is granted in full to every pool's recount:
 *     the per-entry budget is not divided among pools, and a window in
 *     flight in pool 1 also earns slack in pool 0's recount (safe side).
 *     The broker recounts the pools one after another (broker/sweeper.c
 *     recount_pool), each a separate snapshot.
 *   - The worker recount (lib/sweep_place.c cb_place_recount) has the
 *     same structure with workers for pools, bind entries for H and one
 *     collect for all workers: I[*] (u1), every S and K, the BOUND
 *     entries per worker, I[*] again (a worker that moved is skipped),
 *     S again (one check for all), one CAS per worker on exactly u1[w],
 *     every worker granted the same K.  -DONE_COLLECT is that recount;
 *     the clients' steps are the same shape (place.c: I[w] + 1 then the
 *     BOUND entry inside the window; the entry freed, then I[w] - 1).
 *
 * The model: two pools (or, -DONE_COLLECT, two workers), two owned
 * client entries in index order (V, X) and the hostile process:
 *   V  the honest client: NT threads (thread t works in pool t % 2;
 *      -DSAMEPOOL: all in pool 0, and only pool 0 is recounted), each
 *      one hold and its release, each in a window (try_hold: open; CAS
 *      U; H + 1; close; release_hold: open; H - 1; U - 1; close).
 *      -DCLOSE: the threads keep their holds and a closing thread
 *      releases all of them in ONE window, pool 0 then pool 1, one unit
 *      at a time (cb_rsv_release_all): one window hides a unit of pool
 *      0, then one of pool 1.
 *   X  the hostile member's own entry: one hold in each pool, recorded
 *      (so a wrong trim shows as U < gh), and its own window word forged
 *      to XC (default FMAX, 0xfe here: slack MAX in every pool).  The
 *      negative controls run with -DXC=0: X's forged slack would
 *      otherwise cover the unit a broken recount trims from V.
 *   hostile  writes V's word, at most NWRITE times: a byte store that
 *      raises the count (to MAX or FMAX, the version kept).  -DABA: also
 *      an A -> B -> A: B = A with the count raised to FMAX or with
 *      another version, and B -> A back by a CAS on exactly B (it
 *      restores only its own write).  -DABA_STORE: the rollback is a
 *      plain store of a word A read earlier, whatever happened since,
 *      but never a count below V's windows in S (so it only rolls the
 *      version back; a lower count is slack.pml's -DLOWER).  -DABA_ONLY:
 *      no plain raises, only the A -> B -> A.
 * U[p] starts LEAK units above the records (a leak to trim).
 *
 * Ghosts: gh[p] units in use in pool p (V's from the admitting CAS
 * until the release starts, X's one); the others (inS, wp, inclose,
 * rcs, flip, aba) are written only where a probe or -DABA_STORE reads
 * them (CG, SG), so they cost no states in the checks.
 *
 * Properties:
 *   monitor   U[p] >= gh[p] in both pools at every instant: no recount
 *             trims a unit still in flight in either pool
 *   sweeper   K <= NE * MAX in every recount (the slack never exceeds
 *             the bound, whatever the words say); at the end, with
 *             every client stopped, U[p] <= records + 2 * MAX: the leak
 *             is trimmed in both pools
 *   (*)       auxiliary (-DCORE_ONLY leaves it out): U never under-runs
 *             a decrement
 *
 * Runs (run.sh; each a few seconds): two threads in two pools, no
 * hostile write (-DNWRITE=0 -DXC=0, the base of the controls); one
 * thread, two hostile writes, -DABA; the close in one window across
 * both pools, with a hostile raise; -DONE_COLLECT (the worker recount)
 * for the first and the close; two threads in one pool with a hostile
 * raise (-DSAMEPOOL -DXC=0).  MODEL_DEEP=1 adds two threads in two
 * pools with a hostile raise (about 1.2*10^7 states) and with -DABA
 * (two threads, one pool: 10^7; two pools: 3.3*10^7 states, about a
 * minute in all).
 *
 * -DABA_STORE is a limitation, checked as a counterexample: a version
 * rolled back over an honest close + open (one thread's window closes,
 * another's opens, in the same pool; the hostile stores the first word
 * back, its count right) hides that pair from cb_rsv_seqs_unchanged and
 * the recount trims a unit in flight: the same as writing U downwards,
 * which any member can do (docs/OPERATIONS.md, trust model), and filled
 * by the next recount.
 *
 * Negative controls (each against its run without the flag; U >= gh):
 *   -DBUG_SHARED_BUDGET  the entry's slack is one budget of MAX drawn
 *                   down across one sweep's pools (pool 0's recount uses
 *                   it on a leak, pool 1's gets what is left): a window
 *                   in pool 1 then hides a unit pool 1's recount trims;
 *                   with -DCLOSE, the close's one window does the same
 *   -DBUG_LAST_POOL the slack granted only in the pool of the entry's
 *                   last reservation (abi.h last_pool): another
 *                   window's unit in flight is trimmed
 *   -DBUG_NO_SEQ_CHECK   no cb_rsv_seqs_unchanged: a release's window
 *                   opened after the first read of S hides its unit
 *   -DBUG_CAS_REREAD the recount's CAS expects a value of U re-read
 *                   just before it, not u1 (or u1[w]): an admission
 *                   after the collect is overwritten (both recounts)
 *   -DBUG_COUNT_ONLY     the check compares the in-flight counts only,
 *                   not the version: an honest close + open between
 *                   the two reads, in one pool, passes it (-DSAMEPOOL)
 *   -DBUG_REPAIR_ROLLBACK  window_open's repair writes (version - 1,
 *                   windows): after a close it can write the very word
 *                   a recount read before the close (-DSAMEPOOL)
 *   -DBUG_REPAIR_KEEP    the repair keeps the version: a repair that
 *                   leaves the count as it was leaves the word as it
 *                   was, and another thread's stale repair CAS from
 *                   that word succeeds with a smaller count, hiding a
 *                   window (-DSAMEPOOL; slack.pml checks the same)
 *
 * Coverage (-DCOVER=k): 1 a recount trims in one pool with V's window
 * open for the other pool; 2 a consistent recount of pool 1 while the
 * close's one window is in pool 1, after it was in pool 0; 3 a
 * consistent recount whose two reads of S straddle the hostile's
 * A -> B -> A; 4 a forged count repaired; 5 a recount grants the full
 * bound 2 * MAX.
 */

#ifndef NT
#define NT 2            /* V's threads */
#endif
#ifndef MAX
#define MAX 2           /* CB_RSV_INFLIGHT_MAX, scaled down */
#endif
#ifndef FMAX
#define FMAX 3          /* a forged count: 0xfe, 0xff */
#endif
#ifndef XC
#define XC FMAX         /* X's window word's count */
#endif
#ifndef NWRITE
#define NWRITE 1        /* hostile writes */
#endif
#ifndef LEAK
#define LEAK (2 * MAX + 1)      /* U's excess at the start: beyond the
				 * slack of both entries */
#endif
#ifndef LIMIT
#define LIMIT (1 + LEAK + NT)
#endif
#ifndef MAXRECOUNT
#define MAXRECOUNT 1    /* sweeps while the clients run */
#endif
#ifdef SAMEPOOL
#define TPOOL(t)  0     /* every thread in pool 0 ... */
#define NP        1     /* ... and only pool 0 recounted */
#else
#define TPOOL(t)  ((t) % 2)
#define NP        2
#endif
#define VB 100          /* a version V has not reached: the hostile's */
#define NE 2            /* owned entries with a window word: V, X */

byte U[2];              /* pool p's counter (held half) */
byte H[2];              /* V's holds recorded in pool p */
byte Sv, Sc;            /* V's window word: version, count */
byte windows;           /* V's private count (struct cb_rsv.windows
                           plus the hold table's LOCAL_INWIN marks:
                           slack.pml says why one step models it) */
byte lastp;             /* V's last_pool (cb_rsv_try) */
byte ndone;             /* V's threads finished */
bool hdone;             /* the hostile process finished */
byte gh[2];             /* ghost: units in use in pool p */
byte inS;               /* ghost: V's windows counted in S */
byte wp[3];             /* ghost: ... of them for pool p (2: the close) */
bool rcs;               /* ghost: a recount has read S, not yet again */
bool flip;              /* ghost: S left A since (the hostile's B) */
bool aba;               /* ghost: ... and came back to A */
byte inclose;           /* ghost: the close's window is at pool p + 1 */

#if defined(COVER)
#define REACHED(k, cond)  assert(!(COVER == k && (cond)))
#define CG(s)  s                /* a ghost only the probes read */
#else
#define REACHED(k, cond)  skip
#define CG(s)
#endif
#if defined(ABA_STORE)
#define SG(s)  s                /* inS: read by -DABA_STORE's guard */
#else
#define SG(s)
#endif
#ifdef CORE_ONLY
#define NOCLAMP  skip
#else
#define NOCLAMP  assert(false)  /* U under-ran: it was under-counting */
#endif

/* The repair's version: one more than the word it replaces. */
#if defined(BUG_REPAIR_KEEP)
#define REPAIRV(v)  (v)
#elif defined(BUG_REPAIR_ROLLBACK)
#define REPAIRV(v)  ((v) - 1)
#else
#define REPAIRV(v)  ((v) + 1)
#endif

/* The CAS of window_open, from exactly (sv, sc). */
#define SAME  (Sv == sv && Sc == sc)
#define LOAD  sv = Sv; sc = Sc

inline wopen(q)
{
	windows++;
	atomic { LOAD };                   /* relaxed load */
	do
	:: sc < MAX ->
		if
		:: atomic { SAME -> Sc = sc + 1; SG(inS++); CG(wp[q]++); break }
		:: atomic { !SAME -> LOAD }     /* the failed CAS reloads */
		fi
	:: sc >= MAX ->
		atomic { LOAD };           /* seq_cst reload */
		if
		:: sc < MAX -> skip
		:: else ->
			mine = windows;
			if
			:: sc >= mine && mine <= MAX ->    /* someone else's */
				if
				:: atomic { SAME -> Sv = REPAIRV(sv); Sc = mine;
					SG(inS++); CG(wp[q]++); REACHED(4, true);
					break }
				:: atomic { !SAME -> LOAD }
				fi
			:: else ->                         /* full of ours */
				windows--;
				atomic { (!SAME || windows + 1 != mine) ->
					windows++ };
				atomic { LOAD }
			fi
		fi
	od;
	atomic { sv = 0; sc = 0; mine = 0 }
}

inline wclose(q)
{
	atomic {
		if
		:: Sc > 0 -> Sv++; Sc--
		:: else -> Sc = FMAX            /* borrows: version kept */
		fi;
		SG(inS--);
		CG(wp[q]--)
	};
	windows--
}

inline unit_sub(p)
{
	atomic { if :: U[p] > 0 -> U[p]-- :: else -> NOCLAMP fi }
}

proctype thread(byte p)
{
	byte sv, sc, mine;
	bool got;

#ifdef BUG_LAST_POOL
	lastp = p;                                      /* cb_rsv_try */
#endif
	wopen(p);
	atomic {                                        /* CAS U */
		if
		:: U[p] + 1 <= LIMIT -> U[p]++; gh[p]++; got = 1
		:: else -> skip
		fi
	};
	if :: got -> H[p]++ :: else -> skip fi;         /* record */
	wclose(p);
#ifndef CLOSE
	if
	:: got ->
		wopen(p);
		atomic { gh[p]--; H[p]-- };             /* stop using; record */
		unit_sub(p);
		wclose(p)
	:: else -> skip
	fi;
#endif
	ndone++
}

#ifdef CLOSE
/* cb_rsv_release_all: one window, every pool, one unit at a time. */
active proctype closer()
{
	byte sv, sc, mine, p;

	ndone == NT;
	wopen(2);
	for (p : 0 .. 1) {
#ifdef COVER
		inclose = p + 1;
#endif
		do
		:: atomic { H[p] > 0 -> gh[p]--; H[p]-- };   /* holds_dec */
			unit_sub(p)
		:: atomic { H[p] == 0 -> break }
		od
	}
#ifdef COVER
	inclose = 0;
#endif
	wclose(2);
	ndone++
}
#define NDONE (NT + 1)
#else
#define NDONE NT
#endif

active proctype hostile()
{
	byte n, av, ac, bv, bc;

	do
	:: n < NWRITE ->
		n++;
		if
#ifndef ABA_ONLY
		:: atomic { Sc < MAX -> Sc = MAX }      /* byte store */
		:: atomic { Sc < FMAX -> Sc = FMAX }
#endif
#if defined(ABA)
		:: atomic {                             /* A -> B ... */
			av = Sv; ac = Sc;
			if
			:: ac < FMAX -> bv = av; bc = FMAX
			:: bv = av + VB; bc = ac
			fi;
			Sv = bv; Sc = bc; CG(flip = rcs)
		};
			atomic {                        /* ... -> A, by CAS */
				if
				:: Sv == bv && Sc == bc ->
					Sv = av; Sc = ac; CG(aba = flip && rcs)
				:: else -> skip
				fi
			}
#elif defined(ABA_STORE)
		:: atomic { av = Sv; ac = Sc; CG(flip = rcs) };   /* read A */
			atomic {                        /* store A back */
				ac >= inS ->
				CG(aba = flip && rcs && !(Sv == av && Sc == ac));
				Sv = av; Sc = ac
			}
#endif
		:: else -> skip                 /* nothing left to raise */
		fi;
		atomic { av = 0; ac = 0; bv = 0; bc = 0 }
	:: break
	od;
	hdone = 1
}

/* cb_rsv_slack */
#define SLACK(c)  ((c) < MAX -> (c) : MAX)
/* cb_rsv_corrected */
#define CORR(u, rec, k) \
	((u) < (rec) -> (rec) : ((u) > (rec) + (k) -> (rec) + (k) : (u)))

#if defined(BUG_NO_SEQ_CHECK)
#define SEQ_OK  true
#elif defined(BUG_COUNT_ONLY)
#define SEQ_OK  (Sc == s1c)
#else
#define SEQ_OK  (Sv == s1v && Sc == s1c)        /* seqs_unchanged */
#endif

/* V's slack in pool p's recount. */
#if defined(BUG_LAST_POOL)
#define VSLACK(p)  (lastp == (p) -> SLACK(s1c) : 0)
#elif defined(BUG_SHARED_BUDGET)
#define VSLACK(p)  (SLACK(s1c) < left -> SLACK(s1c) : left)
#else
#define VSLACK(p)  SLACK(s1c)
#endif

active proctype sweeper()
{
	byte p, u1, h, k, s1v, s1c, left, nrc;
#ifdef ONE_COLLECT
	byte u1b, hb;
	bool mv0, mv1;
#endif
	bool fin, ok;
#ifdef BUG_CAS_REREAD
	byte cur;                       /* the CAS's expected value */
#define EXP0  cur
#define EXP1  cur
#else
#define EXP0  u1
#define EXP1  u1b
#endif

sweep:
	if
	:: nrc < MAXRECOUNT -> nrc++      /* at any moment, or not at all */
	:: atomic { ndone == NDONE && hdone -> fin = 1 }
	fi;
	atomic { left = MAX; ok = 1 };
#ifndef ONE_COLLECT
	/* recount_pool(p) for each pool in turn: cb_rsv_recount. */
	for (p : 0 .. NP - 1) {
		u1 = U[p];
		atomic {                        /* collect(): V's S, ... */
			s1v = Sv; s1c = Sc; CG(rcs = 1; flip = 0; aba = 0);
			k = VSLACK(p) + SLACK(XC);      /* ... X's */
			assert(k <= NE * MAX);          /* the bound */
			REACHED(5, k == NE * MAX)
		};
		h = H[p] + 1;                   /* V's H, then X's one */
		if
		:: U[p] != u1 -> ok = 0         /* u2 */
		:: else ->
			atomic {
				if
				:: !SEQ_OK -> ok = 0; CG(rcs = 0)
				:: else ->
					REACHED(2, p == 1 && inclose == 2);
					REACHED(3, aba);
					CG(rcs = 0)
				fi
			};
			if
			:: ok ->
#ifdef BUG_CAS_REREAD
				cur = U[p];             /* expected: re-read */
#endif
				atomic {                /* CAS on exactly u1 */
					if
					:: U[p] == EXP0 ->
						REACHED(1, u1 > h + k &&
						    wp[p] == 0 &&
						    wp[1 - p] > 0);
						U[p] = CORR(u1, h, k)
					:: else -> ok = 0
					fi
				}
			:: else -> skip
			fi
		fi;
#ifdef BUG_SHARED_BUDGET
		/* What this pool used of V's budget: the excess it kept. */
		if
		:: ok && u1 > h + SLACK(XC) ->
			left = left - ((u1 - h - SLACK(XC)) < VSLACK(p) ->
			    (u1 - h - SLACK(XC)) : VSLACK(p))
		:: else -> skip
		fi;
#endif
		atomic { CG(rcs = 0; flip = 0; aba = 0;) u1 = 0; h = 0; k = 0;
			s1v = 0; s1c = 0 }
	}
#else
	/* cb_place_recount: one collect for both counters. */
	u1 = U[0];
	u1b = U[1];
	atomic {
		s1v = Sv; s1c = Sc; CG(rcs = 1; flip = 0; aba = 0);
		k = VSLACK(0) + SLACK(XC);
		assert(k <= NE * MAX)
	};
	h = H[0] + 1;
	hb = H[1] + 1;
	mv0 = (U[0] != u1);
	mv1 = (U[1] != u1b);
	atomic {
		if
		:: !SEQ_OK -> ok = 0
		:: else -> REACHED(3, aba)
		fi;
		CG(rcs = 0)
	};
	if
	:: ok ->
#ifdef BUG_CAS_REREAD
		cur = U[0];
#endif
		atomic {                        /* on exactly u1[0] */
			if
			:: !mv0 && U[0] == EXP0 -> U[0] = CORR(u1, h, k)
			:: else -> ok = 0
			fi
		};
#ifdef BUG_CAS_REREAD
		cur = U[1];
#endif
		atomic {                        /* on exactly u1[1] */
			if
			:: !mv1 && U[1] == EXP1 ->
				REACHED(2, inclose == 2);
				U[1] = CORR(u1b, hb, k)
			:: else -> ok = 0
			fi
		}
	:: else -> skip
	fi;
	atomic { CG(flip = 0; aba = 0;) u1 = 0; u1b = 0; h = 0; hb = 0; k = 0;
		s1v = 0; s1c = 0; mv0 = 0; mv1 = 0 }
#endif
	if
	:: !fin -> goto sweep
	:: else -> skip
	fi;
	/* Everything stopped: this sweep was consistent; the leak is
	 * trimmed in both pools. */
	assert(ok);
	assert(U[0] <= H[0] + 1 + 2 * MAX &&
	    (NP == 1 || U[1] <= H[1] + 1 + 2 * MAX))
}

active proctype monitor()
{
end:
	atomic { !(U[0] >= gh[0] && U[1] >= gh[1]) ->
		assert(U[0] >= gh[0] && U[1] >= gh[1]) }
}

init
{
	atomic {
		byte i;
		U[0] = 1 + LEAK;
		U[1] = 1 + LEAK;
		gh[0] = 1;
		gh[1] = 1;
		for (i : 0 .. NT - 1) {
			run thread(TPOOL(i))
		}
	}
}
