/*
 * revoke.pml - Promela model of biased ownership of a thread's private
 * ticket entries, revoked with membarrier(2), under x86-TSO (issue 14:
 * "a ticket released from another thread than the one that took it may
 * take a slower path; keep -ESTALE exact").  tests/model/run.sh checks
 * it.
 *
 * Process-private memory, threads of ONE process:
 *   E[t]     the private ticket-table entry of ticket t: its nonce while
 *            the hold is out, 0 once released.  Ticket t's nonce is
 *            t + 1.
 *   active   the owner's "on the fast path" flag.  Written only by the
 *            owner (plain stores).
 *   revoke   "the bias is revoked": written only by a foreign releaser,
 *            under the mutex (plain store), never cleared.
 *   shared   "revocation done": written and read only under the mutex.
 *   mutex    the slow path's lock (lock and unlock: locked RMWs).
 *
 *   owner    releases its tickets 0 .. NTK-1 in order, each on the fast
 *            path with NO locked instruction:
 *              o1 active := 1                  (plain, buffered)
 *              o2 (a compiler barrier only) revoke == 1: active := 0
 *                 (plain), then the slow path
 *              o3 E[t] == nonce: E[t] := 0 (plain) and "released" (the
 *                 U decrement etc., abstracted: rel[t] += 1); else
 *                 -ESTALE
 *              o4 active := 0                  (plain)
 *            slow path: lock; CAS E[t] nonce -> 0 ("released" on
 *            success, else -ESTALE); unlock.
 *   foreign  another thread of the process, releasing a copy of one of
 *            the owner's tickets (any one):
 *              f1 lock; if !shared: revoke := 1 (plain); membarrier():
 *                 every thread of the process executes a full barrier
 *                 (the owner's store buffer and the foreign's own drain
 *                 entirely); wait until active == 0; shared := 1
 *              f2 CAS E[t] nonce -> 0 ("released" on success, else
 *                 -ESTALE); unlock
 *   TSO      each thread has a FIFO store buffer (BN entries; a store
 *            waits while it is full, which never happens here); its own
 *            loads see its newest buffered store of the word (forwarding)
 *            or memory; the memory process drains one store of any
 *            non-empty buffer at a time; a locked RMW (CAS, lock, unlock)
 *            waits for its buffer to drain and is one atomic step.
 *            membarrier is one step of the foreign thread that drains
 *            both buffers: the point in the owner's instruction stream
 *            where the IPI (or its last context switch) put the barrier
 *            is the owner's position at that step.
 *
 * Ghosts: rel[t] = times ticket t was released.
 *
 * Properties:
 *   monitor   rel[t] <= 1: a ticket is released once
 *   checker   at the end, rel[t] == 1 for every ticket: each was
 *             released exactly once, so the other attempt was -ESTALE
 *             (-ESTALE exact: never a double release, never a lost one)
 *   end states no deadlock (the foreign waits for active == 0 holding
 *             the mutex; the owner's slow path waits for the mutex
 *             after clearing active)
 *
 * Configurations: NTK = 1 (one ticket, the owner's release racing the
 * foreign's), NTK = 2 (two successive owner releases of different
 * tickets, the foreign releasing either).
 *
 * Negative control:
 *   -DBUG_NO_MEMBARRIER  f1 uses a local fence only (the foreign's own
 *            buffer drains): store buffering.  The owner's active := 1
 *            is still buffered when the foreign reads active == 0, and
 *            the owner's load of revoke was satisfied before the
 *            foreign's store reached memory: both release (rel == 2).
 *   -DBUG_SLOW_KEEPS_ACTIVE  the owner turns to the slow path without
 *            clearing active: the foreign waits for active == 0 holding
 *            the mutex, the owner waits for the mutex (invalid end
 *            state: the no-deadlock check is not vacuous).
 *
 * C11 / ARM: the owner's fast path is relaxed stores and loads plus
 * atomic_signal_fence (a compiler barrier) between o1 and o2; the
 * ordering the fast path lacks (store active -> load revoke, the
 * store-buffering pattern, which no release/acquire pair gives) is
 * supplied from the other side by membarrier(MEMBARRIER_CMD_PRIVATE_
 * EXPEDITED), which runs a full barrier (smp_mb) on every running thread
 * of the process: the pair is the foreign's store of revoke -> membarrier
 * -> its load of active against the owner's store of active -> (the
 * barrier the IPI puts somewhere in its stream) -> its load of revoke.
 * The owner's o3 store E := 0 and o4 active := 0 must be ordered (o4 a
 * release store, and the foreign's loads of active acquire): a foreign
 * that reads active == 0 then sees E == 0 in its CAS.  On x86 the FIFO
 * buffer gives that order.
 */

#ifndef NTK
#define NTK 1           /* the owner's tickets, 1..2 */
#endif
#define BN 8            /* store buffer entries */

/* Words (indices into mem). */
#define E0      0       /* E[t] = mem[E0 + t] */
#define ACTIVE  2
#define REVOKE  3
#define SHARED  4
#define MUTEX   5
#define NW      6

#define OWN     0       /* threads: buffer index */
#define FOR     1

byte mem[NW];
byte bw[2 * BN];        /* buffered stores: word, value; thread T's at */
byte bv[2 * BN];        /* [T * BN .. T * BN + blen[T] - 1], oldest first */
byte blen[2];
byte rel[2];            /* ghost: releases of ticket t */
bool odone, fdone;

#define NONCE(t) ((t) + 1)

/* A plain store: into the thread's buffer (waits while it is full). */
#define ST(T, w, v) \
	atomic { \
		blen[T] < BN -> \
		bw[T * BN + blen[T]] = w; bv[T * BN + blen[T]] = v; blen[T]++ \
	}

/* A load (inside a d_step or atomic): the thread's newest buffered store
 * of the word, else memory. */
inline load(T, w, res)
{
	res = mem[w];
	i = 0;
	do
	:: i < blen[T] ->
		if
		:: bw[T * BN + i] == w -> res = bv[T * BN + i]
		:: else -> skip
		fi;
		i++
	:: else -> i = 0; break
	od
}

/* The oldest store of thread T's buffer reaches memory. */
inline drain1(T)
{
	mem[bw[T * BN]] = bv[T * BN];
	j = 0;
	do
	:: j + 1 < blen[T] ->
		bw[T * BN + j] = bw[T * BN + j + 1];
		bv[T * BN + j] = bv[T * BN + j + 1];
		j++
	:: else -> break
	od;
	bw[T * BN + j] = 0; bv[T * BN + j] = 0;
	blen[T]--;
	j = 0
}

/* Thread T's whole buffer, in order (membarrier, a fence). */
inline drainall(T)
{
	do
	:: blen[T] > 0 -> drain1(T)
	:: else -> break
	od
}

/* Coverage probes: with -DCOVER=k, REACHED(k, cond) fails there when
 * cond holds: 1 the owner turns to the slow path; 2 the foreign, after
 * membarrier, finds the owner on its fast path (waits); 3 the owner's
 * fast path finds its ticket released (-ESTALE): unreachable, run.sh
 * checks that it is (the fast path runs only while the bias holds, so
 * nobody else can have released the ticket); 4 the foreign's CAS fails
 * (-ESTALE); 5 the owner's slow path CAS fails (-ESTALE). */
#ifdef COVER
#define REACHED(k, cond)  assert(!(COVER == k && (cond)))
#else
#define REACHED(k, cond)  skip
#endif

#define DRAINED(T)  (blen[T] == 0)
/* Locked RMWs: wait for the buffer to drain, then one atomic step. */
#define LOCK(T)     atomic { DRAINED(T) && mem[MUTEX] == 0 -> mem[MUTEX] = 1 }
#define UNLOCK(T)   atomic { DRAINED(T) -> mem[MUTEX] = 0 }
/* CAS E[t] nonce -> 0; ok = success. */
#define CASE(T, t, ok) \
	atomic { \
		DRAINED(T) -> \
		if \
		:: mem[E0 + t] == NONCE(t) -> mem[E0 + t] = 0; rel[t]++; ok = 1 \
		:: else -> ok = 0 \
		fi \
	}

proctype memory()
{
	byte j;
end:
	do
	:: d_step { blen[OWN] > 0 -> drain1(OWN) }
	:: d_step { blen[FOR] > 0 -> drain1(FOR) }
	od
}

proctype owner()
{
	byte t, v, i, j;
	bool ok;

	do
	:: t < NTK ->
		ST(OWN, ACTIVE, 1);                             /* o1 */
		d_step { load(OWN, REVOKE, v) };                /* o2 */
		if
#ifdef BUG_SLOW_KEEPS_ACTIVE
		:: v -> REACHED(1, true); goto slow
#else
		:: v -> REACHED(1, true); ST(OWN, ACTIVE, 0); goto slow
#endif
		:: else -> skip
		fi;
		d_step { load(OWN, E0 + t, v) };                /* o3 */
		if
		:: v == NONCE(t) ->
			atomic { ST(OWN, E0 + t, 0); rel[t]++ }  /* released */
		:: else -> REACHED(3, true)                     /* -ESTALE */
		fi;
		ST(OWN, ACTIVE, 0);                             /* o4 */
		goto next;
slow:
		LOCK(OWN);
		CASE(OWN, t, ok);
		REACHED(5, !ok);
		UNLOCK(OWN);
next:
		atomic { t++; v = 0; ok = 0 }
	:: else -> break
	od;
	odone = 1
}

proctype foreign()
{
	byte t, v, i, j;
	bool ok;

	if                                              /* a copy of any ticket */
	:: t = 0
#if NTK > 1
	:: t = 1
#endif
	fi;
	LOCK(FOR);                                      /* f1 */
	d_step { load(FOR, SHARED, v) };
	if
	:: !v ->
		ST(FOR, REVOKE, 1);
#ifdef BUG_NO_MEMBARRIER
		d_step { drainall(FOR) };               /* a local fence only */
#else
		d_step {                                /* membarrier() */
			drainall(OWN); drainall(FOR);
			REACHED(2, mem[ACTIVE] == 1)
		};
#endif
		mem[ACTIVE] == 0;                       /* wait (never buffered here) */
		ST(FOR, SHARED, 1)
	:: else -> skip
	fi;
	CASE(FOR, t, ok);                               /* f2 */
	REACHED(4, !ok);
	UNLOCK(FOR);
	fdone = 1
}

proctype monitor()
{
end:
	atomic {
		!(rel[0] <= 1 && rel[1] <= 1) ->
		assert(rel[0] <= 1 && rel[1] <= 1)      /* released once */
	}
}

proctype checker()
{
	odone && fdone;
	/* -ESTALE exact: every ticket released exactly once */
	assert(rel[0] == 1 && (NTK < 2 || rel[1] == 1))
}

init
{
	atomic {
		mem[E0] = NONCE(0);
#if NTK > 1
		mem[E0 + 1] = NONCE(1);
#endif
		run memory();
		run owner();
		run foreign();
		run monitor();
		run checker()
	}
}
