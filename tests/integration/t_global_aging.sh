# Global pools (issue 15), rule (c): a hold stops counting toward the
# share once it is older than the pool's hold_max, and its late release
# is -ESTALE (lib/age.h).  One etcd member, one broker (h1, alone: its
# share is all of L = 2), pool backend with hold_max=2 (an epoch of
# 2.1 s: a hold ages 2.1-4.2 s after it was admitted).
#   - two holds fill the pool: a third is refused at once;
#   - a blocking third is admitted when the two have aged, and not
#     before hold_max;
#   - capdump shows one or both aged, then both (held 3, aged 2), and
#     cb_pool_info counts 1;
#   - the young one's release is ok, the two late releases are ESTALE
#     (the units given back all the same: held 0 at the end);
#     stale_releases 2.
. "$(dirname "$0")/lib.sh"

have_etcd || { echo "skipped: /usr/bin/etcd missing (Debian etcd-server)"; exit 0; }
etcd_start_cluster 1
GB_LIMIT=2
GB_HOLD_MAX=2
D=$CAPBROKER_RUNDIR
gb_start 1
wait_until 10 gb_converged 2 2 1 || gb_fail 1 "h1 alone did not get L = 2"

holder() {	# FILE TIMEOUT_MS HOLD_MS
	f=$1
	shift
	"$BIN/tests/cbhold" "$NAME-g1" backend hold "$@" >"$D/$f" 2>&1 &
	PIDS="$PIDS $!"
	eval "pid_$f=$!"
}

say "two holds fill the pool"
holder a 0 -1
admitted a
t_a=$(mono_ms)		# a was admitted before this
holder b 0 -1
admitted b
t_full=$(mono_ms)
holder c 0 0
wait_for c '^(ok|E[A-Z]+) ' 10 || fail "c: no answer"
expect_match "$(cat "$D/c")" '^EAGAIN ' "a third, at once"

say "a blocking third waits for them to age"
t_d=$(mono_ms)		# d asked after this
holder d 8000 -1
admitted d
waited=$(sed -n 's/^ok \([0-9]*\) .*/\1/p' "$D/d")
since_full=$(( $(mono_ms) - t_full ))
# d's admission came at least (t_d + waited) - t_a ms after a's, the
# older of the two: no hold may age before hold_max.
after_a=$(( t_d + waited - t_a ))
say "admitted after ${waited} ms, >= ${after_a} ms after a (the pool full for ${since_full} ms)"
[ "$after_a" -ge 2000 ] ||
    fail "admitted $after_a ms after a: before hold_max (2 s)"
[ "$waited" -le 7000 ] || fail "admitted only after $waited ms"

# a and b may have been admitted in different epochs: d came in when
# the older aged, the other ages one epoch (2.1 s) later at most, and
# d one epoch after that at the soonest (its release below is young).
aged_is() {	# N: capdump shows held 3, aged N
	"$BIN/capdump" -n "$NAME-g1" --json | python3 -c '
import json, sys
p = [q for q in json.load(sys.stdin)["pools"] if q["name"] == "backend"][0]
sys.exit(0 if p["held"] == 3 and p["aged"] == int(sys.argv[1]) else 1)
' "$1"
}
aged_is 1 || aged_is 2 || fail "capdump: held 3, aged 1 or 2: $("$BIN/capdump" -n "$NAME-g1" --json)"
wait_until 5 aged_is 2 ||
    fail "capdump: held 3, aged 2: $("$BIN/capdump" -n "$NAME-g1" --json)"
say "capdump: held 3, aged 2"
# cb_pool_info's held: the holds that count (1), which the validator
# (cbglobal validate, t_global_*.sh) sums against a limit of 1 here.
"$BIN/tests/cbglobal" validate backend 1 "$NAME-g1" >"$D/v.out" 2>&1 &
v=$!
sleep 0.3
kill -TERM $v
wait $v || fail "cb_pool_info counted aged holds: $(cat "$D/v.out")"
say "cb_pool_info: $(cat "$D/v.out")"
say "the young hold's release, then the late ones"
let_go d
for f in a b; do
	p=$(pid_of $f)
	kill -USR1 "$p"
	wait_for $f '^released ' 10 || fail "$f: did not release"
	expect_eq "$(sed -n 's/^released //p' "$D/$f")" ESTALE \
	    "$f: a release past hold_max"
	wait "$p"
	expect_eq "$?" 2 "$f: exit status"
done
json=$("$BIN/capdump" -n "$NAME-g1" --json)
printf '%s' "$json" | python3 -c '
import json, sys
d = json.load(sys.stdin)
p = [q for q in d["pools"] if q["name"] == "backend"][0]
assert p["held"] == 0 and p["aged"] == 0, p
assert p["stale_releases"] == 2, p
' || fail "capdump after: $json"
say "held 0, stale_releases 2"
