/*
 * queue.pml - Promela model of fair waiting (lib/queue.h): the waiter
 * loop, hand-over, the release eventcount, a waiter that times out, a
 * waiter killed while queued or while holding, and the broker's
 * reclaim.  tests/model/run.sh checks it with spin.
 *
 * Mapping to lib/queue.h (its names):
 *
 *   U        the pool's usage counter; LIMIT units (one, held at the
 *            start by `holder`).
 *   R, Rw    the release eventcount: release_seq and waiters.
 *   est[i]   waiter i's entry: FREE, CLAIMING or WAITING (scans see
 *            WAITING only); prio[i], tick[i] its priority and arrival
 *            ticket, fixed while WAITING.
 *   wake[i]  its own futex word.
 *   sl[i]    the kernel's side of futex_wait: AWAKE, asleep on R, or
 *            asleep on wake[i].  futex_wait(word, val) is one atomic
 *            step "sleep iff word == val"; FUTEX_WAKE is one step that
 *            wakes the sleepers on that word; the bump before it is a
 *            step of its own.
 *
 *   waiter(i)  enqueue in its steps (cb_wq_enqueue): Rw + 1; claim
 *            (CLAIMING); CAS CLAIMING -> WAITING with its ticket, and
 *            if the claim was freed meanwhile, Rw + 1 again and claim
 *            again; then loop { o = wake[i]; r = R; scan (one step per
 *            entry); head: CAS U (admitted: leave, hand over, hold,
 *            release) or futex_wait(R, r); else futex_wait(wake[i], o) }.
 *            Leave = free the entry, Rw - 1, hand over (scan for the
 *            head, bump its word, wake it).  Release = U - 1, then iff
 *            Rw != 0: R + 1 and FUTEX_WAKE(R).
 *            Waiter LEAVER may time out whenever it sleeps (a timeout
 *            wakes it) and leave.  Waiter MORTAL may be killed while it
 *            sleeps in the queue, while it holds its unit, or between
 *            freeing its entry and handing over.
 *   holder   holds the only unit until every waiter is queued (so the
 *            order of service is fully determined), then releases it.
 *   sweeper  the broker: once MORTAL is dead, undoes its unit (release
 *            as above), frees its entry if still WAITING, and wakes
 *            the head (cb_wq_reclaim wakes every queued pool's head).
 *   failfast with -DFAILFAST: a fail-fast reserve (priority 0), arriving
 *            once every waiter is queued; blocked, it checks the head
 *            and prunes it if dead (cb_wq_blocked).  With -DNOBROKER
 *            there is no sweeper, and MORTAL dies only in the queue
 *            (a unit the dead hold stays held until a broker runs).
 *   staller  the broker's queue sweep (cb_wq_sweep) with -DSTUCK=k:
 *            once, while waiter k is between its claim and its CAS
 *            (stopped there for two sweeps), frees the claim as stuck
 *            and lowers Rw (saturating), as cb_wq_entry_free does.
 *
 * There are no time slices here: a sleep ends only by a wake, so a
 * lost wakeup is a state where some waiter sleeps for ever, which spin
 * reports as an invalid end state.  Properties:
 *   - no lost wakeup: every waiter that is neither killed nor timed
 *     out is admitted and finishes (no invalid end state);
 *   - order: when a waiter is admitted, no WAITING entry is ahead of
 *     it (priority higher, or equal with an earlier ticket): grants
 *     come in priority order, FIFO within a priority;
 *   - the limit: U <= LIMIT.
 * Negative controls (run.sh expects a counterexample):
 *   -DBUG_LATE_READ    the waiter reads its own word after the scan
 *   -DBUG_NO_HANDOVER  a leaving waiter does not wake the next head
 *   -DBUG_SWEEP_NOWAKE the sweeper frees a dead waiter's entry but does
 *                      not wake the head
 *   -DBUG_FAILFAST_NOPRUNE (with -DFAILFAST -DNOBROKER) the fail-fast
 *                      path treats a dead head as live (issue 12,
 *                      finding 7): it is refused for ever
 *   -DBUG_NO_RECOUNT   (with -DSTUCK) an enqueuer whose claim was freed
 *                      claims again without raising Rw (issue 12,
 *                      finding 8): Rw under-counts and a release skips
 *                      the wake a head asleep on R needs
 * Coverage probes (-DCOVER=k): 1 MORTAL killed while queued, 2 MORTAL
 * killed holding its unit, 3 LEAVER timed out at the head, 4 a claim
 * freed as stuck and claimed again, 5 the fail-fast path prunes a dead
 * head.
 */

#ifndef NW
#define NW 3            /* waiters, 2..4 */
#endif
#ifndef MORTAL
#define MORTAL 1        /* the waiter that may be killed (NW: none) */
#endif
#ifndef LEAVER
#define LEAVER 0        /* the waiter that may time out (NW: none) */
#endif
#ifndef STUCK
#define STUCK 255       /* the waiter whose claim is freed (255: none) */
#endif
#ifndef P0
#define P0 0
#endif
#ifndef P1
#define P1 0
#endif
#ifndef P2
#define P2 5
#endif
#ifndef P3
#define P3 0
#endif

#define LIMIT 1
#define NONE 255

#define FREE 0
#define CLAIMING 1
#define WAITING 2

#define AWAKE 0
#define ON_R 1
#define ON_OWN 2

byte U = 1;             /* the holder's unit */
byte R;                 /* release_seq */
byte Rw;                /* waiters */
byte est[NW];
byte prio[NW];
byte tick[NW];
byte wake[NW];
byte sl[NW];
byte qnext;
byte enq;               /* waiters enqueued: the holder's gate */
bool dead[NW];
bool holding[NW];

#define AHEAD(j, i) \
	(prio[j] > prio[i] || (prio[j] == prio[i] && tick[j] < tick[i]))

#ifdef COVER
#define REACHED(k, cond) assert(!(COVER == k && (cond)))
#else
#define REACHED(k, cond) skip
#endif

/* FUTEX_WAKE(R): every sleeper on R. */
inline wake_R()
{
	atomic {
		k = 0;
		do
		:: k < NW -> if :: sl[k] == ON_R -> sl[k] = AWAKE
			     :: else -> skip fi; k++
		:: else -> break
		od
	}
}

/* Release one unit: CAS U; iff Rw != 0, bump R and wake
 * (cb_eventcount_notify_sc, whose own model is eventcount.pml). */
inline release()
{
	U--;
	if
	:: Rw > 0 -> R++; wake_R()
	:: else -> skip
	fi
}

/* Hand-over: scan for the head (one step per entry), bump its word,
 * FUTEX_WAKE it. */
inline handover()
{
	h = NONE;
	j = 0;
	do
	:: j < NW ->
		if
		:: est[j] == WAITING && (h == NONE || AHEAD(j, h)) -> h = j
		:: else -> skip
		fi;
		j++
	:: else -> break
	od;
	if
	:: h != NONE ->
		wake[h]++;
		atomic { if :: sl[h] == ON_OWN -> sl[h] = AWAKE
			 :: else -> skip fi }
	:: else -> skip
	fi
}

/* Grant order: the grants kept come in (priority desc, ticket asc)
 * order: each one after the last. */
bool granted_any;
byte lastp, lastt;

inline order_check(i)
{
	atomic {
		assert(!granted_any || lastp > prio[i] ||
		    (lastp == prio[i] && lastt < tick[i]));
		granted_any = 1;
		lastp = prio[i];
		lastt = tick[i]
	}
}

proctype waiter(byte i)
{
	byte o, r, j, k, h, ahead;
	bool claimed;

	/* Enqueue, step 1: the counters (queued, waiters) first. */
	Rw++;
claim:
	/* Steps 2-3: claim an entry, store owner, priority... */
	est[i] = CLAIMING;
	/* Step 4: CAS CLAIMING -> WAITING (the ticket is taken in step 3;
	 * taking it here keeps arrivals in index order). */
	atomic {
		if
		:: est[i] == CLAIMING ->
			est[i] = WAITING; tick[i] = qnext; qnext++; enq++;
			claimed = 1
		:: else -> claimed = 0
		fi
	};
	if
	:: !claimed ->
		/* The staller freed the claim and lowered Rw. */
		REACHED(4, true);
#ifndef BUG_NO_RECOUNT
		Rw++;
#endif
		goto claim
	:: else -> skip
	fi;
loop:
#ifndef BUG_LATE_READ
	o = wake[i];
#endif
	r = R;
	ahead = 0;
	j = 0;
	do
	:: j < NW ->
		if
		:: j != i && est[j] == WAITING && AHEAD(j, i) -> ahead++
		:: else -> skip
		fi;
		j++
	:: else -> break
	od;
#ifdef BUG_LATE_READ
	o = wake[i];
#endif
	if
	:: ahead == 0 ->
		atomic {
			if
			:: U < LIMIT -> U++; assert(U <= LIMIT);
				holding[i] = 1
			:: else -> skip
			fi
		};
		if
		:: holding[i] -> goto granted
		:: else -> skip
		fi;
		atomic { if :: R == r -> sl[i] = ON_R :: else -> skip fi }
	:: else ->
		atomic { if :: wake[i] == o -> sl[i] = ON_OWN
			 :: else -> skip fi }
	fi;
	/* Asleep until woken; LEAVER's timeout and MORTAL's death can
	 * end the sleep too. */
	if
	:: sl[i] == AWAKE -> goto loop
	:: i == LEAVER && sl[i] != AWAKE ->
		REACHED(3, ahead == 0);
		sl[i] = AWAKE; goto leave
	:: i == MORTAL && sl[i] != AWAKE ->
		REACHED(1, true);
		sl[i] = AWAKE; dead[i] = 1; goto end_dead
	fi;
granted:
	/* Scan again: a waiter that arrived ahead of us between our scan
	 * and our CAS gets the unit back (release wakes it). */
	ahead = 0;
	j = 0;
	do
	:: j < NW ->
		if
		:: j != i && est[j] == WAITING && AHEAD(j, i) -> ahead++
		:: else -> skip
		fi;
		j++
	:: else -> break
	od;
#ifndef BUG_NO_GIVE_BACK
	if
	:: ahead > 0 -> holding[i] = 0; release(); goto loop
	:: else -> skip
	fi;
#endif
	order_check(i);
	/* Leave the queue, hand over, hold, release. */
	est[i] = FREE;
#ifndef NOBROKER
	/* (With no broker a unit held by the dead stays held: only a
	 * death in the queue is modelled there.) */
	if
	:: i == MORTAL -> REACHED(2, true); dead[i] = 1; goto end_dead
	:: true -> skip
	fi;
#endif
	Rw--;
#ifndef BUG_NO_HANDOVER
	handover();
#endif
	holding[i] = 0;
	release();
	goto end_done;
leave:
	est[i] = FREE;
	Rw--;
#ifndef BUG_NO_HANDOVER
	handover();
#endif
end_done:
	skip;
end_dead:
	skip
}

active proctype holder()
{
	byte k;

	(enq == NW);
	release()
}

#ifndef NOBROKER
/* The broker's reclaim of MORTAL once it is dead. */
active proctype sweeper()
{
	byte j, k, h;

end_idle:
	(MORTAL < NW && dead[MORTAL]);
	if
	:: holding[MORTAL] -> holding[MORTAL] = 0; release()
	:: else -> skip
	fi;
	if
	:: est[MORTAL] == WAITING -> est[MORTAL] = FREE; Rw--
	:: else -> skip
	fi;
#ifndef BUG_SWEEP_NOWAKE
	handover();
#endif
end_swept:
	skip
}

#endif /* NOBROKER */

#ifdef FAILFAST
/*
 * A fail-fast reserve of priority 0 (every waiter blocks it) arriving
 * once every waiter is queued (cb_wq_blocked, lib/queue.c): with no
 * live blocker it takes a unit if one is free; blocked, it checks the
 * head and, dead, prunes it and hands over.  A refused caller retries,
 * and a retry that sees the same table decides the same, so retrying
 * is modelled as waiting until what it decided on changes.
 */
bool ffheld;

active proctype failfast()
{
	byte j, k, h;

	(enq == NW);
again:
	/* The head (one step per entry). */
	h = NONE;
	j = 0;
	do
	:: j < NW ->
		if
		:: est[j] == WAITING && (h == NONE || AHEAD(j, h)) -> h = j
		:: else -> skip
		fi;
		j++
	:: else -> break
	od;
	if
	:: h == NONE ->
		atomic {
			if
			:: U < LIMIT -> U++; assert(U <= LIMIT); ffheld = 1
			:: else -> skip
			fi
		};
		if
		:: ffheld -> ffheld = 0; release(); goto end_ff
		:: else -> (U < LIMIT); goto again
		fi
#ifndef BUG_FAILFAST_NOPRUNE
	:: h != NONE && dead[h] ->
		/* Dead on proof: prune it, hand over. */
		REACHED(5, true);
		atomic {
			if
			:: est[h] == WAITING -> est[h] = FREE; Rw--
			:: else -> skip
			fi
		};
		handover();
		goto again
	:: h != NONE && !dead[h] ->
		(est[h] != WAITING || dead[h]); goto again
#else
	:: h != NONE -> (est[h] != WAITING); goto again
#endif
	fi;
end_ff:
	skip
}
#endif

#if STUCK < NW
/* The queue sweep's free of a claim stuck for two sweeps (STUCK). */
active proctype staller()
{
end_idle:
	atomic {
		est[STUCK] == CLAIMING ->
		est[STUCK] = FREE;
		if
		:: Rw > 0 -> Rw--
		:: else -> skip
		fi
	}
}
#endif

init
{
	atomic {
		prio[0] = P0;
		prio[1] = P1;
#if NW > 2
		prio[2] = P2;
#endif
#if NW > 3
		prio[3] = P3;
#endif
	};
	/* Arrivals in index order (tickets 0, 1, ...): each waiter
	 * starts once the one before it is queued. */
	run waiter(0);
	(enq == 1);
	run waiter(1);
#if NW > 2
	(enq == 2);
	run waiter(2);
#endif
#if NW > 3
	(enq == 3);
	run waiter(3);
#endif
}
