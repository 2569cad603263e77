# Clients register again, by themselves, with a restarted broker.  A
# client's HELLO connection is its death notice; after a kill -9 of the
# broker the new broker adopts the segments (epoch + 1) and a client
# that goes through a slow path (cb_watch, cb_broker_check, the start
# of a blocking cb_reserve or cb_wait) says HELLO to it, so its death is
# again noticed through the socket.  A client that attached while no
# broker ran registers once one comes up (retries back off, 50 ms
# doubling to 5 s).  A client on no slow path (a holder asleep in
# sigwait) stays unregistered: the broker watches it through its table
# scan only.
. "$(dirname "$0")/lib.sh"
D=$CAPBROKER_RUNDIR

registered() {
	ctl status | sed -n 's/^registered: *//p'
}

# Wait up to 5 s for `registered` to read N.
wait_registered() {	# N WHAT
	wait_until 5 yields "$1" registered ||
	    fail "$2: registered $(registered), expected $1"
}

start_linger() {
	: >"$D/linger.out"
	"$BIN/tests/cbprobe" "$NAME" linger 60 >>"$D/linger.out" \
	    2>&1 &
	LINGER=$!
	PIDS="$PIDS $LINGER"
	wait_for linger.out lingering 5 || fail "cbprobe linger did not start"
}

say "a client registers at cb_open"
start_broker
expect_eq "$(registered)" 0 "registered with no client"
start_linger
wait_registered 1 "after cb_open"

say "kill -9 the broker, start another: the client registers again"
kill -9 "$BROKER"
wait "$BROKER" 2>/dev/null
sleep 0.3
start_broker
expect_match "$(ctl status)" "epoch: *2" "the new broker adopted"
wait_registered 1 "after the restart"
say "its connection is the death notice again"
kill -9 "$LINGER"
wait "$LINGER" 2>/dev/null
wait_registered 0 "after the client died"

say "a client attached while no broker ran registers when one starts"
stop_broker
expect_eq "$STATUS" 0 "broker exit status"
start_linger
sleep 0.5
start_broker
expect_match "$(ctl status)" "epoch: *3" "the third broker adopted"
wait_registered 1 "after the broker came up"
kill -9 "$LINGER"
wait "$LINGER" 2>/dev/null
wait_registered 0 "after the late client died"

say "a fair-queue waiter registers again from its next cb_wait"
ctl pool set q --limit 1 >/dev/null || fail "pool set q"
"$BIN/tests/cbhold" "$NAME" q hold 0 -1 >"$D/holder" 2>&1 &
HOLDER=$!
PIDS="$PIDS $HOLDER"
wait_for holder '^ok ' 10 || fail "holder not admitted: $(cat "$D/holder")"
"$BIN/tests/cbqueue" "$NAME" q 0 -1 w "$D/grants" >"$D/waiter" 2>&1 &
WAITER=$!
PIDS="$PIDS $WAITER"
wait_for waiter '^queued ' 10 || fail "waiter not queued: $(cat "$D/waiter")"
wait_registered 2 "holder and waiter"
kill -9 "$BROKER"
wait "$BROKER" 2>/dev/null
sleep 0.3
start_broker
expect_match "$(ctl status)" "epoch: *4" "the fourth broker adopted"
wait_registered 1 "the waiter (cb_wait in 50 ms steps), not the holder"
kill -9 "$WAITER"
wait "$WAITER" 2>/dev/null
wait_registered 0 "after the waiter died"
kill -9 "$HOLDER"
wait "$HOLDER" 2>/dev/null
stop_broker
say "ok"
