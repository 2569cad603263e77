# Worker placement with real processes: many pickers at once never put
# more holds on a worker than its max_running, nor in the pool more
# than its limit (checked by the pickers themselves in a shared scratch
# file, and by a validator sampling the segment); a picker killed with
# SIGKILL has its worker slot reclaimed; draining and not_ready workers
# are never picked; capctl run --pick, capctl worker list and capdump
# show and use the placement.
. "$(dirname "$0")/lib.sh"

D=$CAPBROKER_RUNDIR
PICKERS=8
SECS=3

# inflight ID: the worker's INFLIGHT column in capctl worker list.
inflight() {
	ctl worker list | awk -v id="$1" '$1 == id { print $4 }'
}

# until_inflight ID N: wait (up to 5 s) for the count to become N.
until_inflight() {
	wait_until 5 yields "$2" inflight "$1" ||
	    fail "$1: in flight $(inflight "$1"), want $2"
}

start_broker
ctl worker set w1 --state ready --max-running 3 >/dev/null || fail "w1"
ctl worker set w2 --state ready --max-running 2 >/dev/null || fail "w2"
ctl worker set w3 --state ready --max-running 1 >/dev/null || fail "w3"
ctl worker set w4 --state draining --max-running 8 >/dev/null || fail "w4"
ctl worker set w5 --state not_ready --max-running 8 >/dev/null || fail "w5"
# The pool is tighter than the workers' sum (6): both limits bind.
ctl pool set place --limit 5 >/dev/null || fail "pool set"
SPEC="w1:3,w2:2,w3:1,w4:0,w5:0"

say "capctl run --pick binds the hold to a worker and exports its id"
out=$(ctl run --pool place --pick consolidate -- sh -c \
    'echo "worker=$CAPBROKER_WORKER"')
expect_eq "$out" "worker=w1" "consolidate on an idle fleet: lowest id"
out=$(ctl run --pool place --pick spread -- sh -c 'echo $CAPBROKER_WORKER')
expect_eq "$out" "w1" "spread: equal ratios, lowest id"
expect_eq "$(inflight w1)" 0 "released after the command"

say "$PICKERS processes pick for ${SECS}s; pickers and a validator check every limit"
: >"$D/scratch"
truncate -s 4096 "$D/scratch"
"$BIN/tests/cbpick" "$NAME" validate place "$SECS" "$SPEC" 5 \
    >"$D/validate" 2>&1 &
VPID=$!
PIDS="$PIDS $VPID"
HP=""
for k in $(seq 1 $PICKERS); do
	case $((k % 4)) in
	0) pol=consolidate ;;
	1) pol=spread ;;
	2) pol=least_loaded ;;
	*) pol=mixed ;;
	esac
	"$BIN/tests/cbpick" "$NAME" hammer place "$pol" "$SECS" \
	    "$D/scratch" "$SPEC" 5 >"$D/hammer.$k" 2>&1 &
	HP="$HP $!"
	PIDS="$PIDS $!"
done
total=0
k=0
for p in $HP; do
	k=$((k + 1))
	wait "$p"
	rc=$?
	[ $rc -eq 0 ] || fail "picker $k exit $rc: $(cat "$D/hammer.$k")"
	n=$(sed -n 's/^picks \([0-9]*\).*/\1/p' "$D/hammer.$k")
	total=$((total + n))
done
wait "$VPID"
rc=$?
[ $rc -eq 0 ] || fail "validator exit $rc: $(cat "$D/validate")"
[ "$total" -gt 100 ] || fail "only $total picks in ${SECS}s"
say "  $total picks, $(cat "$D/validate")"
for w in w1 w2 w3 w4 w5; do
	expect_eq "$(inflight $w)" 0 "$w: nothing left in flight"
done
expect_match "$("$BIN/capdump" -n "$NAME")" "w1 +ready +3 +0" \
    "capdump shows in-flight counts"

say "draining and not_ready workers are never picked"
ctl worker set w1 --state draining --max-running 3 >/dev/null
ctl worker set w2 --state not_ready --max-running 2 >/dev/null
out=$(ctl run --pool place --pick least_loaded -- sh -c \
    'echo $CAPBROKER_WORKER')
expect_eq "$out" "w3" "only w3 is ready"
ctl worker set w3 --state draining --max-running 1 >/dev/null
ctl run --pool place --pick spread -- true 2>"$D/none"
expect_eq "$?" 69 "no ready worker: capctl run exits 69"
expect_match "$(cat "$D/none")" "no ready worker" "message"

say "a holder killed with SIGKILL: its worker slot is reclaimed"
ctl worker set w1 --state ready --max-running 3 >/dev/null
ctl worker set w2 --state ready --max-running 2 >/dev/null
"$BIN/tests/cbpick" "$NAME" hold place consolidate >"$D/h1" 2>&1 &
H1=$!
PIDS="$PIDS $H1"
wait_for h1 '^picked ' 10 || fail "holder: $(cat "$D/h1")"
expect_eq "$(cat "$D/h1")" "picked w1" "holder picked w1"
"$BIN/tests/cbpick" "$NAME" hold place consolidate >"$D/h2" 2>&1 &
H2=$!
PIDS="$PIDS $H2"
wait_for h2 '^picked ' 10 || fail "holder 2: $(cat "$D/h2")"
expect_eq "$(cat "$D/h2")" "picked w1" "consolidate packs w1"
expect_eq "$(inflight w1)" 2 "two holds on w1"
json=$("$BIN/capdump" -n "$NAME" --json)
expect_match "$json" '"id":"w1","state":"ready","max_running":3,"limit":3,"slot":[0-9]+,"inflight":2' \
    "capdump --json inflight"
kill -9 "$H1"
wait "$H1" 2>/dev/null
until_inflight w1 1
expect_match "$(ctl pool list)" "place" "pool listed"
kill -9 "$H2"
wait "$H2" 2>/dev/null
until_inflight w1 0
grep -q "reclaimed 1 hold" "$LOG" || fail "reclaim not logged"

say "a worker added in front keeps the others' slots and counts"
"$BIN/tests/cbpick" "$NAME" hold place least_loaded >"$D/h3" 2>&1 &
H3=$!
PIDS="$PIDS $H3"
wait_for h3 '^picked ' 10 || fail "holder 3: $(cat "$D/h3")"
expect_eq "$(cat "$D/h3")" "picked w1" "least_loaded on idle: w1"
ctl worker set a0 --state not_ready >/dev/null
expect_eq "$(inflight w1)" 1 "w1 keeps its count after a0 sorts first"
kill -9 "$H3"
wait "$H3" 2>/dev/null
until_inflight w1 0

say "a restarted broker keeps the slots and reclaims a holder that dies"
"$BIN/tests/cbpick" "$NAME" hold place spread >"$D/h4" 2>&1 &
H4=$!
PIDS="$PIDS $H4"
wait_for h4 '^picked ' 10 || fail "holder 4: $(cat "$D/h4")"
held_on=$(sed -n 's/^picked //p' "$D/h4")
stop_broker
expect_eq "$STATUS" 0 "broker exit status"
start_broker
expect_eq "$(inflight "$held_on")" 1 "$held_on keeps its count"
ctl worker set "$held_on" --state ready --max-running 1 >/dev/null
ctl run --pool place --pick consolidate -- sh -c 'echo $CAPBROKER_WORKER' \
    >"$D/after" || fail "pick after restart"
[ "$(cat "$D/after")" != "$held_on" ] || fail "$held_on is full (1 of 1)"
kill -9 "$H4"
wait "$H4" 2>/dev/null
until_inflight "$held_on" 0

stop_broker
expect_eq "$STATUS" 0 "broker exit status"
