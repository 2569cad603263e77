/*
 * reuse.pml - Promela model of a client entry freed and claimed again
 * while the sweeper still holds a death notice of its old owner (issue
 * 12, finding 1; broker/sweeper.c: watch(), handle_request(),
 * handle_exit(), scan_clients(), reclaim(); lib/sweep_reserve.c:
 * cb_rsv_reclaim()).  tests/model/run.sh checks it.
 *
 * One client entry, two processes: A claims it first, B claims it
 * once it is free again (after A's cb_close, or after the sweeper
 * reclaimed a dead A).  The owner word `own` is CB_OWNER(gen, pid):
 * each claim is a new generation, so A and B are two values (FREE = a
 * free entry, whatever its generation).
 *
 *   A      claim (CAS FREE -> A); HELLO; one hold (CAS U; H + 1); then
 *          either release it (H - 1; U - 1), cb_close (unclaim: own ->
 *          FREE; the socket closes: CHECK(A)) and exit, or die at any
 *          step (the socket closes: CHECK(A), if it had connected).
 *   B      claim (waits for a free entry: CAS FREE -> B); HELLO; one
 *          hold; then one more admission attempt; lives on, holding.
 *   sweeper  the broker's sweeper thread: the watch of the entry
 *          (wown: the owner watched, 0 none; wtag: its epoll tag's
 *          seq, unique per watch), and an epoll loop: one epoll_wait
 *          returns a batch (the request eventfd if requests are queued,
 *          the watched pidfd if its process has exited (tagged with the
 *          watch's tag at that moment), the timer), whose items are
 *          then handled one by one, in any order, while the clients run
 *          on.  The kick drains the request queue (HELLO(o): watch(o);
 *          CHECK(o): reclaim if o is the watched owner and its pidfd is
 *          readable, else watch(o)); the pidfd event is handle_exit();
 *          the timer is scan_clients().  A request or an item is a few
 *          steps: the clients interleave between them.
 *
 *   watch(o)    already o's: nothing.  Else if own != o: nothing (the
 *               entry changed hands; its new owner's HELLO or the scan
 *               watches it).  Else unwatch; pidfd_open (a step later):
 *               a process already gone is reclaimed ("is gone"), a live
 *               one watched with a fresh tag.
 *   reclaim(o)  unwatch if the watch is o's; cb_rsv_reclaim(i, o):
 *               nothing unless own == o; H to 0, then U - h, then own
 *               CAS o -> FREE.
 *   handle_exit(tag)  only if the watch's tag is still `tag` and its
 *               pidfd is readable now: reclaim(the watched owner).
 *
 * Ghost: gh = holds in use (from the admitting CAS until its holder
 * starts releasing it or dies).
 *
 * Properties:
 *   reclaim    a reclaim that finds its owner in the entry reclaims a
 *              dead process (a live client's holds are never taken) (*)
 *   monitor    gh <= LIMIT and U >= gh (the limit holds)
 *   end states B never waits for ever for the entry (a dead A is
 *              always reclaimed); the sweeper's idle wait is an end
 *   (*) auxiliary: -DCORE_ONLY leaves it out, so a negative control has
 *   to break the limit or U >= in use.
 *
 * Switches:
 *   -DBUG_INDEX_ONLY    (negative control: the code before c1f4280) a
 *                       pidfd event is handled by index: reclaim the
 *                       entry's watched owner, no tag check, no death
 *                       re-check; the batch's stale event of A, handled
 *                       after B's HELLO re-watched the entry, reclaims B
 *   -DNO_TAG_CHECK      the death re-check alone
 *   -DNO_DEATH_RECHECK  the tag check alone
 *   -DCOVER=k           coverage probes: 1 a stale event (its watch
 *                       replaced by B's) handled, 2 a dead A reclaimed
 *                       with its hold, 3 B claims the entry while the
 *                       sweeper holds a batch with A's event
 */

#ifndef LIMIT
#define LIMIT 1
#endif

#define FREE 0
#define A    1
#define B    2

#define HELLO 1
#define CHECK 2

byte own;               /* the entry's owner word */
byte H;                 /* holds the entry records */
byte U;                 /* the pool's usage (held) */
bool alive[3];          /* alive[A], alive[B] */
chan req = [4] of { byte, byte };       /* requests: type, owner */

/* the sweeper's watch of the entry (private to it) */
byte wown;              /* the owner watched, 0: none */
byte wtag;              /* its tag's seq */
byte seq;               /* the last seq given out */
bool batched;           /* a batch holding A's event is being handled */

byte gh;                /* ghost: holds in use */

#if defined(COVER)
#define REACHED(k, cond)  assert(!(COVER == k && (cond)))
#else
#define REACHED(k, cond)  skip
#endif

#define SAFE (gh <= LIMIT && U >= gh)

/* One step of A, or its death just before it. */
#define STEP(x)  if :: atomic { x } :: atomic { DEATH; goto out } fi
#define DEATH \
	alive[A] = 0; gh = gh - myh; myh = 0; \
	if :: conn -> req!CHECK(A) :: else -> skip fi

proctype clientA()
{
	byte myh;       /* ghost: holds in use */
	bool conn;      /* HELLO sent: the socket reports its close */
	bool got;

	STEP(own == FREE -> own = A);                   /* claim */
	STEP(req!HELLO(A); conn = 1);                    /* HELLO */
	STEP(if                                         /* CAS U */
		:: U + 1 <= LIMIT -> U++; gh++; myh++; got = 1
		:: else -> skip
		fi);
	if
	:: got -> STEP(H++)                             /* record */
	:: else -> skip
	fi;
	if
	:: got ->                                       /* release */
		STEP(myh--; gh--; H--);
		STEP(U--)
	:: true -> skip                                 /* or die holding */
	fi;
	if
	:: myh == 0 ->
		STEP(own = FREE);                       /* cb_close: unclaim */
		STEP(req!CHECK(A); conn = 0);            /* the socket closes */
		atomic { alive[A] = 0 }                 /* exit */
	:: else -> skip
	fi;
	/* (with a hold left: it dies holding, at some step below) */
	if
	:: alive[A] -> atomic { DEATH }
	:: else -> skip
	fi;
out:
	skip
}

proctype clientB()
{
	bool got;

	own == FREE -> atomic { own = B; REACHED(3, batched) };  /* claim */
	req!HELLO(B);
	atomic {                                        /* CAS U */
		if
		:: U + 1 <= LIMIT -> U++; gh++; got = 1
		:: else -> skip         /* U over-counts a dead A's unit */
		fi
	};
	if :: got -> H++ :: else -> skip fi;            /* record */
	atomic {                /* one more attempt: refused, at limit 1 */
		if
		:: U + 1 <= LIMIT -> U++; gh++
		:: else -> skip
		fi
	}
	/* and it lives on, holding */
}

/* ------------------------------------------------------------------ */

/* reclaim(i, o) (broker/sweeper.c) and cb_rsv_reclaim(). */
#ifdef CORE_ONLY
#define CHECK_DEAD(o)  skip
#else
#define CHECK_DEAD(o)  assert(!alive[o])       /* never a live client */
#endif
#define RECLAIM(o) \
	atomic { if :: wown == o -> wown = 0; wtag = 0 :: else -> skip fi }; \
	if \
	:: atomic { own == o -> CHECK_DEAD(o); h = H; H = 0 };  /* exchange */ \
	   atomic { U = (U >= h -> U - h : 0); \
		    REACHED(2, o == A && h > 0); h = 0 }; \
	   atomic { own = FREE }                        /* CAS o -> FREE */ \
	:: else -> skip                                 /* not o's: -1 */ \
	fi

/* watch(i, o) */
#define WATCH(o) \
	if \
	:: atomic { wown == o -> skip }                 /* already */ \
	:: atomic { wown != o && own != o -> skip }     /* changed hands */ \
	:: atomic { wown != o && own == o -> wown = 0; wtag = 0 }; \
	   if                                           /* pidfd_open */ \
	   :: atomic { !alive[o] -> skip }; RECLAIM(o)  /* "is gone" */ \
	   :: atomic { alive[o] -> seq++; wown = o; wtag = seq } \
	   fi \
	fi

/* handle_exit(tag): the batch's event of the watch that had tag t. */
#if defined(BUG_INDEX_ONLY)
#define EXIT_OK(t)  (wown != 0)
#elif defined(NO_TAG_CHECK)
#define EXIT_OK(t)  (wown != 0 && !alive[wown])
#elif defined(NO_DEATH_RECHECK)
#define EXIT_OK(t)  (wown != 0 && wtag == t)
#else
#define EXIT_OK(t)  (wown != 0 && wtag == t && !alive[wown])
#endif

active proctype sweeper()
{
	byte ty, o, h, t;
	bool bk, be, bt;        /* the batch: kick, pidfd event, timer */

end:
	do
	:: atomic {                                     /* epoll_wait */
		(len(req) > 0 || (wown != 0 && !alive[wown]) ||
		 (own == FREE && wown != 0) || (own != FREE && wown != own)) ->
		bk = len(req) > 0;
		if
		:: wown != 0 && !alive[wown] -> be = 1; t = wtag;
			batched = (wown == A)
		:: else -> skip
		fi;
		bt = 1
	   };
		do
		:: bk ->                                /* drain the requests */
			bk = 0;
			do
			:: req?ty,o ->
				if
				:: ty == HELLO -> WATCH(o)
				:: else ->                      /* CHECK */
					if
					:: atomic { wown == o && !alive[o] -> skip };
						RECLAIM(o)
					:: atomic { wown == o && alive[o] -> skip }
					:: atomic { wown != o -> skip }; WATCH(o)
					fi
				fi;
				atomic { ty = 0; o = 0 }
			:: empty(req) -> break
			od
		:: be ->                                /* a pidfd event */
			atomic { be = 0; REACHED(1, t != wtag && wown == B) };
			if
			:: atomic { EXIT_OK(t) -> o = wown };
				RECLAIM(o);
				o = 0
			:: else -> skip
			fi;
			atomic { t = 0; batched = 0 }
		:: bt ->                                /* the timer: scan */
			bt = 0;
			atomic { o = own };
			if
			:: o == FREE ->                 /* unwatch */
				atomic { wown = 0; wtag = 0 }
			:: o != FREE && wown != o -> WATCH(o)
			:: else -> skip
			fi;
			o = 0
		:: else -> break
		od
	od
}

active proctype monitor()
{
end:
	atomic {
		!(SAFE) ->
		assert(gh <= LIMIT);            /* within the limit */
		assert(U >= gh)                 /* U >= in use */
	}
}

init
{
	atomic {
		alive[A] = 1; alive[B] = 1;
		run clientA();
		run clientB()
	}
}
