# capdump: read-only report, JSON with the documented keys, Prometheus
# text, --watch following changes, exit 0 healthy / 1 stale / 2 cannot
# attach.
. "$(dirname "$0")/lib.sh"

dump() {
	"$BIN/capdump" -n "$NAME" "$@"
}

say "cannot attach: exit 2 with the reason"
out=$(dump 2>&1)
expect_eq "$?" 2 "no segment"
expect_match "$out" "no broker '$NAME'" "message"

start_broker
ctl worker set w1 --state ready --max-running 8 >/dev/null
ctl worker set w2 --state not_ready >/dev/null
ctl override 70000 >/dev/null 2>&1

say "human report"
out=$(dump)
expect_eq "$?" 0 "healthy exit status"
expect_match "$out" "capacity +8, source reported" "capacity line"
expect_match "$out" "w2 +not_ready" "worker row"
expect_match "$out" "capacity 1024 -> 8, source fallback -> reported" "event"

say "JSON has the documented keys and values"
json=$(dump --json)
for key in '"name":"'"$NAME"'"' '"abi":{"major":1,"minor":4}' \
    '"broker":{"pid":'"$BROKER" '"stale":false' '"capacity":8' \
    '"source":"reported"' '"generation":' \
    '{"id":"w1","state":"ready","max_running":8,"limit":8,"slot":[0-9]+,"inflight":0}' \
    '{"id":"w2","state":"not_ready","max_running":0,"limit":64,"slot":[0-9]+,"inflight":0}' \
    '"pools":\[' '"clients":\[' '"override_rejects":1' \
    '"type":"override_rejected"'; do
	expect_match "$json" "$key" "JSON key $key"
done
if command -v python3 >/dev/null; then
	printf '%s' "$json" | python3 -m json.tool >/dev/null || fail "invalid JSON"
fi

say "Prometheus exposition"
prom=$(dump --prometheus)
expect_match "$prom" "^capbroker_capacity\{broker=\"$NAME\"\} 8$" "capacity gauge"
expect_match "$prom" "^# TYPE capbroker_capacity gauge" "TYPE line"
expect_match "$prom" "capbroker_broker_up\{broker=\"$NAME\"\} 1" "up"

say "--watch --json prints a new line when the capacity changes"
"$BIN/capdump" -n "$NAME" --watch --json >"$CAPBROKER_RUNDIR/watch" &
watcher=$!
PIDS="$PIDS $watcher"
sleep 0.5
ctl worker set w1 --state ready --max-running 9 >/dev/null
sleep 1.5
kill -TERM $watcher
wait $watcher
expect_eq "$?" 0 "watch exit status on SIGTERM"
grep -q '"capacity":8,' "$CAPBROKER_RUNDIR/watch" || fail "first dump missing"
grep -q '"capacity":9,' "$CAPBROKER_RUNDIR/watch" || fail "change not followed"

say "an observer outside the broker's group still reads the capacity"
if command -v setpriv >/dev/null && [ "$(id -u)" -eq 0 ]; then
	out=$(setpriv --reuid=65534 --regid=65534 --clear-groups \
	    "$BIN/capdump" -n "$NAME" --json 2>/dev/null)
	expect_eq "$?" 0 "unprivileged capdump exit status"
	expect_match "$out" '"capacity":9' "capacity read without the slots segment"
	expect_match "$out" "slots segment not readable" "says what it cannot show"
	out=$(setpriv --reuid=65534 --regid=65534 --clear-groups \
	    "$BIN/tests/cbprobe" "$NAME" current 2>&1)
	expect_eq "$?" 23 "a reserving client outside the group gets -EACCES"
else
	say "(skipped: needs root and setpriv)"
fi

say "broker gone: exit 1 and stale=true, dump still printed"
kill -9 "$BROKER"
wait "$BROKER" 2>/dev/null
json=$(dump --json)
expect_eq "$?" 1 "stale exit status"
expect_match "$json" '"stale":true' "stale flag"
expect_match "$json" '"capacity":9' "last capacity still shown"
