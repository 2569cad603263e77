# Regression (issue 12, finding 7): with the broker down, a queued
# waiter killed -9 must not block fail-fast reserves for ever.  Nobody
# reclaims its client entry while the broker is down, so its waiter
# entry still looks live; cb_wq_blocked used to treat it as a live head
# and refuse every fail-fast reserve of the (empty) pool.  The order is
# forced: the waiter is queued and the broker dead before the waiter is
# killed and reaped, and the pool's only unit is released after that,
# so nothing but the fail-fast path itself can prune the dead head.
. "$(dirname "$0")/lib.sh"

D=$CAPBROKER_RUNDIR

# failfast: one fail-fast reserve (timeout 0), released at once.
failfast() {
	"$BIN/tests/cbhold" "$NAME" ff hold 0 0 >"$D/ff" 2>&1
	grep -q '^ok ' "$D/ff"
}

start_broker
ctl pool set ff --limit 1 >/dev/null || fail "pool set ff"

say "limit 1, held; one waiter queued behind the hold"
"$BIN/tests/cbhold" "$NAME" ff hold 0 -1 >"$D/h1" 2>&1 &
pid_h1=$!
PIDS="$PIDS $pid_h1"
wait_for h1 '^(ok|E[A-Z]+) ' 10 || fail "h1: no answer"
grep -q '^ok ' "$D/h1" || fail "h1: not admitted: $(cat "$D/h1")"
"$BIN/tests/cbqueue" "$NAME" ff 0 -1 w "$D/grants" >"$D/w" 2>&1 &
pid_w=$!
PIDS="$PIDS $pid_w"
wait_for w '^(queued|E[A-Z]+) ' 10 || fail "w: did not start"
grep -q '^queued pos=0$' "$D/w" || fail "w: not the head: $(cat "$D/w")"
failfast && fail "a fail-fast reserve passed the live head"

say "kill -9 the broker, then the waiter; release the hold"
kill -9 "$BROKER"
wait "$BROKER" 2>/dev/null
kill -9 "$pid_w"
wait "$pid_w" 2>/dev/null
let_go h1

say "broker down, pool empty, head dead: fail-fast reserves succeed"
wait_until 5 failfast || fail "fail-fast reserve still refused: $(cat "$D/ff")"
failfast || fail "second fail-fast reserve refused: $(cat "$D/ff")"
[ ! -s "$D/grants" ] || fail "the dead waiter was granted: $(cat "$D/grants")"
exit 0
