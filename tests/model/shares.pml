/*
 * shares.pml - one limit across hosts: shares leased from etcd (issue
 * 15: the rule, checked before the code that will follow it), with
 * spin.
 *
 * The rule.  A global pool has one limit L for the brokers of a
 * cluster.  In etcd each host h has:
 *
 *   alive/h   a key under h's lease (TTL): h is in the cluster;
 *   share/h   h's units, a key under NO lease: a share never vanishes
 *             by itself, it moves only by transactions;
 *   quar/h    units frozen when h's lease expired, under a lease of
 *             their own with TTL hold_max, granted when they froze;
 *
 * and every transaction that gives units to a host compares what it
 * read (etcd: the mod revisions of the keys), so at every revision
 *
 *     sum(share) + sum(quar) <= L.                                (1)
 *
 * On a host the pool's local limit is its share, and admission is
 * allowed only before a deadline dl_h kept in the segment, which
 * clients check with one coarse clock read:
 *
 *   (a) dl_h = t_send + TTL - margin, t_send being when the broker
 *       SENT the keepalive (or grant) whose answer it got: etcd renews
 *       the lease when it receives the request, at or after t_send, so
 *       dl_h < the lease's expiry.  A broker killed, stopped or cut off
 *       gets no answers, and its clients stop admitting before etcd can
 *       expire its lease.
 *   (b) A share grows only by a transaction ((1) holds after it), and
 *       the local limit is raised only once it committed.  A share
 *       shrinks the other way round: the local limit first, then wait
 *       until local use fits, then etcd.
 *   (c) A hold counts until it ends or reaches hold_max, the pool's
 *       request timeout, by which it has ended (the application's
 *       contract); then it stops counting, and a late release is
 *       -ESTALE.
 *   (d) A share whose host's alive key is gone is never reused at once:
 *       a broker moves it to quar/h in one transaction (alive/h
 *       absent, share/h as read) under a new lease of TTL hold_max.
 *       The dead host's holds were all admitted before dl_h < expiry
 *       <= the move, so when etcd expires the quarantine (>= move +
 *       hold_max) every one of them has ended or aged out.
 *   (e) A broker whose lease is gone takes a new one, and sets its
 *       local limit to what etcd says its share is now (0 once frozen)
 *       before its deadline moves again.
 *
 * The invariant: at every instant, the units in use on all hosts
 * together are <= L (and (1)).
 *
 * The model.  Two hosts, L = 2, time in ticks: TTL 2, hold_max 3 (a
 * request may outlive a lease), margin 1, up to TMAX.  Host V (0) is
 * the one that fails: its keepalives' answers come late or never (a
 * broker killed, SIGSTOPped or cut off from etcd is one whose steps are
 * not taken, for as long as the search likes; a restarted one carries
 * on from its segment: deadline, local limit, lease id), its lease may
 * expire, it takes a new one, it shrinks and grows.  Host T (1) stays
 * in the cluster (its own renewals are V's case again) and takes what
 * the rule lets it take: it freezes V's share and grows.  Every step
 * below is one atomic transition, chosen nondeterministically:
 *
 *   tick          time passes: every hold ages; one of age hold_max
 *                 ends (c)
 *   admit h       a client of h: now < dl_h (T: always), use_h < lim_h
 *   release       a hold ends early
 *   renew         V's keepalive, sent and processed by etcd now (the
 *                 earliest expiry it can get: the worst case); its
 *                 answer arrives later (dl_V moves, (a)) or never
 *   expire        etcd ends V's lease at or after its expiry, the
 *                 quarantine at or after its own
 *   regrant       V takes a new lease (e)
 *   read h        h reads share/V, share/T, quar/V
 *   grow h        txn: what h read unchanged, (1) after, h alive
 *   raise h       the committed grow reaches h's local limit
 *   shrink        V: local limit first; once use fits, the txn
 *   freeze        T: txn: alive/V absent, what T read unchanged:
 *                 share/V to quar/V under a lease of TTL hold_max
 *
 * Not modelled: launches (each is an etcd transaction of its own, exact
 * without shares), demand and the fair split (they choose how much a
 * grow or shrink asks for; any amount is allowed here), etcd losing
 * quorum (no transaction commits and no lease is renewed: V's case).
 *
 * Negative controls (each must give a counterexample):
 *   -DBUG_DL_RECV           the deadline counted from the answer's
 *                           arrival instead of the request's sending
 *   -DBUG_NO_QUARANTINE     a dead host's share freed at once
 *   -DBUG_NO_COMPARE        a grow that does not compare what it read
 *   -DBUG_SHRINK_ETCD_FIRST etcd lowered before the local limit
 *   -DBUG_REGRANT_KEEPS_LIM a new lease, the old local limit kept
 *
 * A quarantine shorter than hold_max by up to margin + 1 ticks passes
 * here too: V's last admission is at least that long before the
 * freeze.  The rule keeps hold_max, which needs no argument about the
 * margin.
 *
 * Coverage probes (-DCOVER=k, must be reached): 1 T grows into units
 * that were frozen, after the quarantine expired, 2 one host holds all
 * L units, 3 an admission at the last tick before V's deadline, 4 V's
 * lease expires while V still holds units.
 *
 * tests/model/run.sh runs it with the others.
 */

#ifndef L
#define L 2
#endif
#define TTL 2
#define HOLD_MAX 3
#define MARGIN 1
#ifndef TMAX
#define TMAX 8
#endif
#define NONE 255
#define V 0
#define T 1

#ifdef COVER
#define REACHED(k, cond) assert(!(COVER == k && (cond)))
#else
#define REACHED(k, cond) skip
#endif

byte now;

/* etcd */
bool alive = 1;                 /* alive/V (alive/T never expires) */
byte expiry = TTL;              /* alive/V's lease */
byte share[2];
byte quar;                      /* quar/V */
byte qexp;                      /* quar/V's lease */

/* the hosts: segments (they survive their brokers) and brokers */
byte lim[2];
byte dl = TTL - MARGIN;         /* V's deadline (T's is never reached) */
byte held[2 * HOLD_MAX];        /* held[h * HOLD_MAX + age] */
byte ka_done = NONE;            /* V's answer in flight: sent at */
bool rd[2];                     /* h has read: */
byte rd_v[2];                   /*   share/V */
byte rd_t[2];                   /*   share/T */
byte rd_q[2];                   /*   quar/V */
byte raise_to[2] = NONE;        /* a grow committed, lim not raised */
byte shrink_to = NONE;          /* V shrinking to it */
bool qexpired;                  /* coverage: a quarantine ended */

#define USE(h) (held[(h) * HOLD_MAX] + held[(h) * HOLD_MAX + 1] + \
	held[(h) * HOLD_MAX + 2])
#define UNCHANGED(h) (rd[h] && share[V] == rd_v[h] && \
	share[T] == rd_t[h] && quar == rd_q[h])
#define FREE_READ(h) (L - rd_v[h] - rd_t[h] - rd_q[h])
#define CHECK \
	assert(USE(V) + USE(T) <= L); \
	assert(share[V] + share[T] + quar <= L); \
	REACHED(2, USE(V) == L || USE(T) == L)

active proctype world()
{
	byte h, k;

	share[V] = L / 2;
	share[T] = L - L / 2;
	lim[V] = share[V];
	lim[T] = share[T];

	do
	/* time passes; holds age, and end at hold_max (rule (c)) */
	:: atomic { now < TMAX ->
		for (h : 0 .. 1) {
			held[h * HOLD_MAX + 2] = held[h * HOLD_MAX + 1];
			held[h * HOLD_MAX + 1] = held[h * HOLD_MAX];
			held[h * HOLD_MAX] = 0
		}
		now++;
		CHECK;
		h = 0 }

	/* a client admits: before the deadline, within the limit */
	:: atomic { now < dl && USE(V) < lim[V] ->
		REACHED(3, now + 1 == dl);
		held[V * HOLD_MAX]++;
		CHECK }
	:: atomic { USE(T) < lim[T] ->
		held[T * HOLD_MAX]++;
		CHECK }

	/* a hold ends early */
	:: atomic { select(k : 0 .. 2 * HOLD_MAX - 1);
		if
		:: held[k] > 0 -> held[k]--
		:: else
		fi;
		k = 0 }

	/* V renews: processed by etcd now, answered later or never */
	:: atomic { ka_done == NONE && alive && now < expiry ->
		expiry = now + TTL;
		ka_done = now }
	:: atomic { ka_done != NONE ->
#ifdef BUG_DL_RECV
		k = now + TTL - MARGIN;
#else
		k = ka_done + TTL - MARGIN;      /* rule (a) */
#endif
		if
		:: k > dl -> dl = k
		:: else
		fi;
		ka_done = NONE;
		k = 0 }
	:: atomic { ka_done != NONE -> ka_done = NONE }   /* lost */

	/* etcd expires V's lease, the quarantine (at or after their time) */
	:: atomic { alive && now >= expiry ->
		REACHED(4, USE(V) > 0);
		alive = 0 }
	:: atomic { quar > 0 && now >= qexp ->
		quar = 0;
		qexpired = 1 }

	/* V takes a new lease, its limit set to its share first (e) */
	:: atomic { !alive ->
		alive = 1;
		expiry = now + TTL;
#ifndef BUG_REGRANT_KEEPS_LIM
		lim[V] = share[V];
		raise_to[V] = NONE;
		shrink_to = NONE;
#endif
		if
		:: now + TTL - MARGIN > dl -> dl = now + TTL - MARGIN
		:: else
		fi }

	/* a host reads the pool's keys */
	:: atomic { select(h : 0 .. 1);
		rd[h] = 1;
		rd_v[h] = share[V];
		rd_t[h] = share[T];
		rd_q[h] = quar;
		h = 0 }

	/* grow: a txn on what the host read (rule (b)) */
	:: atomic { select(h : 0 .. 1);
		if
		:: rd[h] && FREE_READ(h) > 0 && raise_to[h] == NONE &&
		    (h == T || shrink_to == NONE) ->
			select(k : 1 .. FREE_READ(h));
			if
#ifdef BUG_NO_COMPARE
			:: h == T || alive ->
#else
			:: (h == T || alive) && UNCHANGED(h) ->
#endif
				share[h] = (h == V -> rd_v[h] : rd_t[h]) + k;
				raise_to[h] = share[h];
				REACHED(1, h == T && qexpired && share[T] == L)
			:: else          /* refused: read again */
			fi;
			rd[h] = 0;
			CHECK
		:: else
		fi;
		h = 0;
		k = 0 }
	/* the committed grow reaches the local limit */
	:: atomic { select(h : 0 .. 1);
		if
		:: raise_to[h] != NONE ->
			lim[h] = raise_to[h];
			raise_to[h] = NONE;
			CHECK
		:: else
		fi;
		h = 0 }

	/* V shrinks: the local limit first, etcd once use fits (b) */
	:: atomic { shrink_to == NONE && raise_to[V] == NONE && share[V] > 0 ->
		select(k : 0 .. share[V] - 1);
		shrink_to = k;
#ifdef BUG_SHRINK_ETCD_FIRST
		share[V] = k;
#endif
		lim[V] = k;
		k = 0 }
	:: atomic { shrink_to != NONE && USE(V) <= shrink_to ->
		if
		:: alive && share[V] > shrink_to -> share[V] = shrink_to
		:: else          /* frozen meanwhile: nothing left to give */
		fi;
		shrink_to = NONE;
		CHECK }

	/* T freezes V's share: alive/V absent, as read (rule (d)) */
	:: atomic { !alive && UNCHANGED(T) && share[V] > 0 ->
#ifndef BUG_NO_QUARANTINE
		quar = quar + share[V];
		qexp = now + HOLD_MAX;
#endif
		share[V] = 0;
		rd[T] = 0;
		CHECK }

	:: now == TMAX -> break
	od
}
