# The broker speaks systemd's notification protocol (Type=notify,
# WatchdogSec): a stand-in NOTIFY_SOCKET (cbnotify) receives READY=1
# once the broker serves, a STATUS= line with the capacity (again when
# it changes), WATCHDOG=1 from the heartbeat (every 250 ms, well inside
# the unit's WatchdogSec=5), RELOADING=1 then READY=1 around a SIGHUP
# reload, and STOPPING=1 on SIGTERM.  With NOTIFY_SOCKET unset nothing is sent (sd_notify is a
# no-op) and the broker runs as usual.
. "$(dirname "$0")/lib.sh"

D=$CAPBROKER_RUNDIR
SOCK="$D/notify"
MSGS="$D/notify.out"
CONF="$D/broker.conf"

: >"$MSGS"
"$BIN/tests/cbnotify" "$SOCK" >>"$MSGS" 2>&1 &
PIDS="$PIDS $!"
wait_for notify.out listening 5 || fail "cbnotify did not start"

# Wait up to 5 s for a line matching PATTERN (grep -E) in the messages.
wait_msg() {	# PATTERN WHAT
	wait_for notify.out "$1" 5 || fail "$2: no /$1/ in: $(cat "$MSGS")"
}

count() {	# PATTERN
	grep -Ec -- "$1" "$MSGS"
}

echo "override = 40" >"$CONF"
say "READY=1 and STATUS once serving; WATCHDOG=1 from the heartbeat"
NOTIFY_SOCKET=$SOCK start_broker -c "$CONF"
wait_msg '^READY=1$' "ready"
wait_msg '^STATUS=capacity 40 \(source override\)' "status"
ctl ping >/dev/null || fail "ping after READY"
wait_msg '^WATCHDOG=1$' "watchdog"
sleep 1.1
n=$(count '^WATCHDOG=1$')
[ "$n" -ge 3 ] || fail "only $n WATCHDOG=1 in 1.1 s (heartbeat every 250 ms)"

say "STATUS follows the capacity"
ctl override 77 >/dev/null || fail "override 77"
wait_msg '^STATUS=capacity 77 \(source override\)' "status after override"

say "SIGHUP: RELOADING=1, then READY=1 again"
echo "override = 55" >"$CONF"
kill -HUP "$BROKER"
wait_msg '^RELOADING=1$' "reloading"
ready_again() {
	[ "$(count '^READY=1$')" -ge 2 ]
}
wait_until 5 ready_again || fail "no READY=1 after the reload"
wait_msg '^STATUS=capacity 55 \(source override\)' "status after reload"

say "SIGTERM: STOPPING=1, exit 0"
stop_broker
expect_eq "$STATUS" 0 "broker exit status"
wait_msg '^STOPPING=1$' "stopping"

say "without NOTIFY_SOCKET nothing is sent"
: >"$MSGS"
start_broker
ctl ping >/dev/null || fail "ping"
sleep 0.6
stop_broker
expect_eq "$STATUS" 0 "broker exit status"
expect_eq "$(wc -l <"$MSGS" | tr -d ' ')" 0 "messages without NOTIFY_SOCKET"
say "ok"
