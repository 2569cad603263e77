# Clients register again, by themselves, with a restarted broker.  A
# client's HELLO connection is its death notice; after a kill -9 of the
# broker the new broker adopts the segments (epoch + 1) and a client
# that goes through a slow path (cb_watch, cb_broker_check, a blocked
# cb_reserve) says HELLO to it, so its death is again noticed through
# the socket.  A client that attached while no broker ran registers
# once one comes up (retries back off, 50 ms doubling to 5 s).
. "$(dirname "$0")/lib.sh"

registered() {
	ctl status | sed -n 's/^registered: *//p'
}

# Wait up to 5 s for `registered` to read N.
wait_registered() {	# N WHAT
	i=0
	until [ "$(registered)" = "$1" ]; do
		i=$((i + 1))
		[ $i -lt 100 ] || fail "$2: registered $(registered), \
expected $1"
		sleep 0.05
	done
}

start_linger() {
	: >"$CAPBROKER_RUNDIR/linger.out"
	"$BIN/tests/cbprobe" "$NAME" linger 60 >>"$CAPBROKER_RUNDIR/linger.out" \
	    2>&1 &
	LINGER=$!
	PIDS="$PIDS $LINGER"
	i=0
	until grep -q lingering "$CAPBROKER_RUNDIR/linger.out"; do
		i=$((i + 1))
		[ $i -lt 100 ] || fail "cbprobe linger did not start"
		sleep 0.05
	done
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
stop_broker
say "ok"
