# capdump -o FILE: the file is replaced whole on every dump and never
# keeps saying "up" once the broker is stale or gone (the textfile
# collector recipe); and an observer outside the broker's group is told
# that it cannot see the pools, instead of being shown none.
. "$(dirname "$0")/lib.sh"

D=$CAPBROKER_RUNDIR
F=$D/out/capbroker.prom
mkdir "$D/out"
dumpo() {
	"$BIN/capdump" -n "$NAME" "$@"
}
up_is() {	# VALUE: the file says capbroker_broker_up VALUE
	grep -q "^capbroker_broker_up{broker=\"$NAME\"} $1\$" "$F"
}
no_temporaries() {
	[ "$(ls "$D/out" | grep -c '\.tmp\.')" = 0 ] ||
	    fail "temporary files left: $(ls "$D/out")"
}

start_broker
ctl pool set p --limit 3 >/dev/null || fail "pool set"

say "a live broker: exit 0, the file says up 1, mode 0644"
dumpo --prometheus -o "$F"
expect_eq "$?" 0 "exit status, live"
up_is 1 || fail "live: $(grep broker_up "$F")"
grep -q "^capbroker_pool_limit{broker=\"$NAME\",pool=\"p\"} 3\$" "$F" ||
    fail "pool p missing from the file"
expect_eq "$(stat -c %a "$F")" 644 "file mode"
no_temporaries

say "the broker killed: exit 1, and the file is still replaced (up 0)"
kill -9 "$BROKER"
wait "$BROKER" 2>/dev/null
dumpo --prometheus -o "$F" 2>/dev/null
expect_eq "$?" 1 "exit status, stale"
up_is 0 || fail "stale: $(grep broker_up "$F")"
no_temporaries

say "the segments gone: exit 2, and the file says up 0 and why"
rm_segments
dumpo --prometheus -o "$F" 2>/dev/null
expect_eq "$?" 2 "exit status, cannot attach"
up_is 0 || fail "unattached: $(cat "$F")"
grep -q '^# warning: cannot attach: ' "$F" || fail "no reason in the file"
dumpo --json -o "$D/out/j.json" 2>/dev/null
expect_eq "$?" 2 "json, cannot attach"
expect_match "$(cat "$D/out/j.json")" "\"attached\":false,\"error\":\"" \
    "json says it could not attach"
no_temporaries

say "--watch -o: the file follows the broker from up to down"
start_broker
"$BIN/capdump" -n "$NAME" --prometheus --watch -o "$F" 2>/dev/null &
W=$!
PIDS="$PIDS $W"
wait_until 10 up_is 1 || fail "watch: never up: $(cat "$F")"
kill -9 "$BROKER"
wait "$BROKER" 2>/dev/null
wait_until 10 up_is 0 || fail "watch: still says up after the broker died"
kill "$W"
wait "$W"
expect_eq "$?" 0 "watch ends on SIGTERM"
no_temporaries

say "an observer outside the broker's group: told, not shown empty pools"
rm_segments
start_broker
ctl pool set p --limit 3 >/dev/null || fail "pool set"
if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null; then
	chmod 0755 "$D"
	nobody() {
		setpriv --reuid=65534 --regid=65534 --clear-groups "$@"
	}
	j=$(nobody "$BIN/capdump" -n "$NAME" --json 2>"$D/err")
	expect_eq "$?" 0 "outsider, live broker: exit 0"
	expect_match "$j" '"slots_readable":false' "json: slots_readable"
	expect_match "$j" '"pools":null,"clients":null,"launches":null,"waiters":null' \
	    "json: the slots tables are null, not empty"
	expect_match "$(cat "$D/err")" "slots segment not readable" \
	    "a warning on stderr"
	p=$(nobody "$BIN/capdump" -n "$NAME" --prometheus 2>/dev/null)
	expect_match "$p" "^capbroker_slots_readable\\{broker=\"$NAME\"\\} 0\$" \
	    "prometheus: capbroker_slots_readable 0"
	h=$(nobody "$BIN/capdump" -n "$NAME" 2>/dev/null)
	expect_match "$h" "not readable" "human report says so"
	expect_match "$(dumpo --json)" '"slots_readable":true' \
	    "root reads the slots"
	expect_match "$(dumpo --prometheus)" \
	    "capbroker_slots_readable\\{broker=\"$NAME\"\\} 1" "root: 1"
else
	say "(outsider part skipped: needs root and setpriv)"
fi
exit 0
