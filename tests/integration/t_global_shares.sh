# Global pools (issue 15), shares following demand: three etcd members
# and three brokers (hosts h1..h3) in one cluster sharing pool backend,
# limit 12, with clients hammering it; a validator samples every
# broker's segment throughout and fails if the units in use on all
# three together ever exceed 12.
#   0. idle: 4/4/4, and a renewal (a later deadline on a valid share)
#      wakes none of the pool's waiters;
#   1. steady load on all three: the local limits converge to 4/4/4 +-1;
#   2. load on h1 only: it reaches >= 11 of 12; then moved to h2: h2 does;
#   7. bad input: a share key written by hand with garbage is refused,
#      logged and not trusted (counted as taken, never as free), and the
#      limit holds; a second broker claiming host h1 refuses to start.
# Last, the pool made local on h1 (capctl pool set --local): h1's share
# key leaves etcd.
# The renewal period is a ninth of the TTL (3 s here): 333 ms.  How long
# each convergence took is printed; the bound asserted is generous (the
# machines are noisy), the figures are for docs/OPERATIONS.md.
. "$(dirname "$0")/lib.sh"

have_etcd || { echo "skipped: /usr/bin/etcd missing (Debian etcd-server)"; exit 0; }
etcd_start_cluster 3

for i in 1 2 3; do
	gb_start $i
done
gb_validate 1 2 3

say "idle: renewals move the share's deadline and wake nobody"
wait_until 10 gb_converged 4 4 1 2 3 ||
    fail "idle shares not 4/4/4: $(gb_limit 1) $(gb_limit 2) $(gb_limit 3)"
# The start of a hold-aging epoch (every hold_max + 0.1 s) wakes the
# pool's waiters too (a lagging epoch refuses admissions until the
# sweeper moves it): a window it falls in says nothing about renewals
# and is taken again; the next start is hold_max ($GB_HOLD_MAX s) away.
for try in 1 2; do
	w1=$("$BIN/tests/cbglobal" wakes "$NAME-g1" "$GB_POOL") ||
	    fail "cbglobal wakes"
	sleep 1.2     # three or four renewals (every 333 ms)
	w2=$("$BIN/tests/cbglobal" wakes "$NAME-g1" "$GB_POOL") ||
	    fail "cbglobal wakes"
	set -- $w1 $w2     # seq S deadline D epoch E (twice)
	[ "${12}" -eq "$6" ] && break
	say "an aging epoch began in the window ($w1 / $w2): again"
done
[ "${12}" -eq "$6" ] || fail "two windows each saw an epoch begin: $w1 / $w2"
[ "${10}" -gt "$4" ] || fail "the deadline did not move in 1.2 s: $w1 / $w2"
[ "$8" -eq "$2" ] || fail "renewals woke the pool's waiters: $w1 / $w2"
say "deadline +$(((${10} - $4) / 1000000)) ms, wake sequence still $2"

# time_until SECONDS WHAT COMMAND...: run wait_until; fail with WHAT if
# it never held.  How long it took, from T0 (mono_ms, set by the
# caller), by the hammers' own reports (every 100 ms): when hammer H
# (HOSTS, a list) first held N units at once after T0, the latest of
# them.  Polling capdump is too slow a clock for that.
time_until() {
	_s=$1
	_what=$2
	shift 2
	wait_until "$_s" "$@" || fail "$_what: not within $_s s (limits: \
$(gb_limit 1) $(gb_limit 2) $(gb_limit 3))"
	_worst=0
	for _h in $HOSTS; do
		_t=$(awk -v t0="$T0" -v n="$N" \
		    '$1 >= t0 && $7 >= n { print $1 - t0; exit }' \
		    "$CAPBROKER_RUNDIR/h$_h.out")
		[ -n "$_t" ] || _t=-1
		[ "$_t" -gt "$_worst" ] && _worst=$_t
	done
	say "$_what: hosts $HOSTS held >= $N after $_worst ms"
}

say "1. steady load on h1, h2, h3"
T0=$(mono_ms) HOSTS="1 2 3" N=3
for i in 1 2 3; do
	gb_hammer $i
done
time_until 10 "shares converged to 4/4/4 +-1" gb_converged 3 5 1 2 3
sleep 2
gb_converged 3 5 1 2 3 || fail "shares moved away from 4/4/4: $(gb_limit 1) \
$(gb_limit 2) $(gb_limit 3)"
for i in 1 2 3; do
	a=$(gb_admitted $i)
	[ "$a" -gt 0 ] || fail "h$i admitted nothing"
done
say "admitted: h1 $(gb_admitted 1), h2 $(gb_admitted 2), h3 $(gb_admitted 3)"

say "2. load on h1 only"
gb_hammer_stop 2
gb_hammer_stop 3
T0=$(mono_ms) HOSTS=1 N=11
time_until 10 "h1 reached >= 11 of 12" gb_converged 11 12 1
say "the load moves to h2"
gb_hammer_stop 1
T0=$(mono_ms) HOSTS=2 N=11
gb_hammer 2
time_until 10 "h2 reached >= 11 of 12" gb_converged 11 12 2
gb_converged 0 1 1 || fail "h1 kept $(gb_limit 1) without demand"

say "7. garbage in etcd: a live host h9 (by hand) whose share is no count"
lease=$(etcd_call 1 /v3/lease/grant '{"TTL":"60"}' |
    sed -n 's/.*"ID":"\([0-9]*\)".*/\1/p')
[ -n "$lease" ] || fail "etcd lease grant"
etcd_call 1 /v3/kv/put "{\"key\":\"$(b64 "/capbroker/$GB_CLUSTER/alive/h9")\",\
\"value\":\"$(b64 "by hand")\",\"lease\":\"$lease\"}" >/dev/null ||
    fail "etcd put alive/h9"
etcd_put 1 "/capbroker/$GB_CLUSTER/pool/$GB_POOL/share/h9" "lots" ||
    fail "etcd put share/h9"
for i in 1 2 3; do
	wait_until 10 grep -q "share/h9 holds lots: not a count" \
	    "$CAPBROKER_RUNDIR/g$i.log" || gb_fail $i "garbage not logged"
done
say "logged by all three: $(grep -m1 'share/h9 holds' \
    "$CAPBROKER_RUNDIR/g1.log" | cut -d' ' -f3- | cut -c1-90)..."
# Not trusted: counted as all of L.  The load moves to h1; h2 gives its
# units back, and h1 may not take them while share/h9 is garbage.
gb_hammer_stop 2
gb_hammer 1
wait_until 10 gb_converged 0 0 2 || fail "h2 kept its units without demand"
sleep 1
gb_converged 0 0 1 || fail "h1 grew into units a garbage share may cover: \
$(gb_limit 1)"
say "with the garbage: h1 $(gb_limit 1), h2 $(gb_limit 2), h3 $(gb_limit 3)"
etcd_put 1 "/capbroker/$GB_CLUSTER/pool/$GB_POOL/share/h9" "0" ||
    fail "etcd put share/h9"
T0=$(mono_ms) HOSTS=1 N=11
time_until 10 "share/h9 = 0: h1 reached >= 11 of 12" gb_converged 11 12 1

say "7. a second broker claiming host h1 refuses to start"
gb_conf 1
if "$BIN/capbrokerd" -n "$NAME-dup" -c "$CAPBROKER_RUNDIR/g1.conf" \
    >"$CAPBROKER_RUNDIR/dup.log" 2>&1; then
	fail "a second broker with host h1 started"
fi
grep -q "host name 'h1' is already in cluster" "$CAPBROKER_RUNDIR/dup.log" ||
    fail "no clear message: $(tail -n 3 "$CAPBROKER_RUNDIR/dup.log")"
say "refused: $(grep -m1 "host name 'h1'" "$CAPBROKER_RUNDIR/dup.log" |
    cut -c1-100)..."
gb_limit 1 >/dev/null || fail "the first h1 broker is gone"

say "the pool made local on h1: h1's share goes back to the cluster"
"$BIN/capctl" -n "$NAME-g1" pool set "$GB_POOL" --local >/dev/null ||
    fail "pool set --local"
share_h1_gone() {
	[ -z "$(etcd_get 2 "/capbroker/$GB_CLUSTER/pool/$GB_POOL/share/h1")" ]
}
wait_until 10 share_h1_gone || gb_fail 1 "share/h1 still in etcd"
grep -q "pool $GB_POOL: global no more here: share [0-9]* -> 0" \
    "$CAPBROKER_RUNDIR/g1.log" || gb_fail 1 "not logged"
gb_hammer_stop 1
gb_validate_end
