# Global pools (issue 15), the fleet cap across hosts: pool fleet, limit
# 2, global, on three brokers (h1..h3) of one cluster; each launch is an
# etcd transaction the broker runs for the client (LAUNCH on the control
# socket, client/glaunch.c).
#   6. the burst: five spawn deciders spread over the three hosts, the
#      fleet reporting 0 visible (an eventually consistent listing):
#      exactly 2 launches admitted, every round of 50; the refused ones
#      exit 75 with a retry hint; released, the next round starts empty.
#   Then: a released ticket released again is stale (exit 1); a launch
#   ages out after the window (2 s here) and frees its unit by itself;
#   an observation counts (observed 1: one launch left); LAUNCH of a
#   local pool is refused (its launches stay in the client library).
. "$(dirname "$0")/lib.sh"

have_etcd || { echo "skipped: /usr/bin/etcd missing (Debian etcd-server)"; exit 0; }
etcd_start_cluster 3
GB_POOL=fleet
GB_LIMIT=2
D=$CAPBROKER_RUNDIR
for i in 1 2 3; do
	gb_start $i "pool fleet window=2"
done

launch() {	# I OUT [OBSERVED]
	"$BIN/capctl" -n "$NAME-g$1" launch --pool fleet \
	    --observed "${3:-0}" >"$D/$2" 2>&1
	echo $? >"$D/$2.rc"
}

rounds=50
case $BIN in
*-address* | *-thread*) rounds=10 ;;
esac
say "6. $rounds rounds of 5 deciders over h1 h2 h3, cap 2, 0 visible"
r=1
while [ $r -le $rounds ]; do
	deciders=""
	for k in 1 2 3 4 5; do
		launch $(((k - 1) % 3 + 1)) "d$k" &
		deciders="$deciders $!"
	done
	# shellcheck disable=SC2086 # one pid per word; a bare wait would
	# wait for the brokers and etcd members too
	wait $deciders
	ok=0
	for k in 1 2 3 4 5; do
		rc=$(cat "$D/d$k.rc")
		case $rc in
		0) ok=$((ok + 1)) ;;
		75) grep -q 'retry' "$D/d$k" ||
		    fail "round $r: refusal without a retry hint: $(cat "$D/d$k")" ;;
		*) fail "round $r: decider $k exited $rc: $(cat "$D/d$k")" ;;
		esac
	done
	[ $ok -eq 2 ] || fail "round $r: $ok launches admitted, not 2"
	for k in 1 2 3 4 5; do
		[ "$(cat "$D/d$k.rc")" = 0 ] || continue
		"$BIN/capctl" -n "$NAME-g$(((k - 1) % 3 + 1))" release \
		    "$(tail -n 1 "$D/d$k")" >"$D/rel" 2>&1 ||
		    fail "round $r: release: $(cat "$D/rel")"
		last=$(tail -n 1 "$D/d$k")
		lastk=$k
	done
	r=$((r + 1))
done
say "exactly 2 of 5 admitted in each of $rounds rounds"

say "a released ticket released again: stale"
if "$BIN/capctl" -n "$NAME-g$(((lastk - 1) % 3 + 1))" release "$last" \
    >"$D/rel" 2>&1; then
	fail "released twice"
fi
grep -q 'already released' "$D/rel" ||
    fail "no reason given: $(cat "$D/rel")"

say "launches age out after the window (2 s)"
launch 1 a1
launch 2 a2
launch 3 a3
expect_eq "$(cat "$D/a1.rc") $(cat "$D/a2.rc") $(cat "$D/a3.rc")" "0 0 75" \
    "two launches, then a third"
launch_ok() {
	launch "$1" again
	[ "$(cat "$D/again.rc")" = 0 ]
}
wait_until 10 launch_ok 3 || fail "the launches did not age out"

say "an observation counts: observed 1 leaves one launch"
sleep 3
launch 1 o1 1
launch 2 o2 1
expect_eq "$(cat "$D/o1.rc") $(cat "$D/o2.rc")" "0 75" "observed 1 of 2"

say "a local pool's launch is the client library's: LAUNCH refused"
"$BIN/capctl" -n "$NAME-g1" pool set loc --limit 1 >/dev/null ||
    fail "pool set loc"
out=$(echo "LAUNCH loc 0" | "$BIN/tests/cbsend" "$D/$NAME-g1.sock")
expect_match "$out" '^ERR EINVAL pool loc is local' "LAUNCH of a local pool"
"$BIN/capctl" -n "$NAME-g1" launch --pool loc >"$D/l1" 2>&1 ||
    fail "a local launch: $(cat "$D/l1")"
out=$(echo "UNLAUNCH fleet 0123456789abcdef" | "$BIN/tests/cbsend" \
    "$D/$NAME-g1.sock")
expect_match "$out" '^ERR ESTALE ' "UNLAUNCH of no launch"
