# One broker per name; clean stop; kill -9 and restart adopts the
# segment with nothing lost; clients keep reading while it is down and
# can tell it is gone.
. "$(dirname "$0")/lib.sh"

start_broker
ctl worker set w1 --state ready --max-running 30 >/dev/null
ctl worker set w2 --state draining --max-running 5 >/dev/null
ctl override 25 >/dev/null
before=$(probe current)
expect_eq "$(probe check)" "alive" "broker alive"

say "a second broker with the same name is refused"
"$BIN/capbrokerd" -n "$NAME" >"$CAPBROKER_RUNDIR/second" 2>&1 &&
    fail "second broker started"
expect_match "$(cat "$CAPBROKER_RUNDIR/second")" "already running" "message"

say "a broker with another run directory does not adopt a live broker's segments"
other=$(mktemp -d "${TMPDIR:-/tmp}/capbroker-it.XXXXXX")
# Another mode in its configuration: a broker that adopts sets it.
printf 'state_mode = 0640\n' >"$other/conf"
segs="/dev/shm/capbroker.$NAME.state /dev/shm/capbroker.$NAME.slots"
look() { stat -c '%n %i %a %s %g' $segs; }
seen=$(look)
out=$(CAPBROKER_RUNDIR="$other" "$BIN/capbrokerd" -n "$NAME" -c "$other/conf" 2>&1)
st=$?
left=$(ls "$other")
rm -rf "$other"
expect_eq "$st" 1 "second broker exit status"
expect_match "$out" "served by a live broker, pid $BROKER" "message"
expect_eq "$(probe check)" "alive" "first broker undisturbed"
expect_eq "$(look)" "$seen" "the live segments untouched (inode, mode, size, group)"
expect_eq "$left" "conf" "the refused broker's run directory: no pidfile left"
sleep 0.3	# a heartbeat: it would find a file another broker touched
grep -q "truncated by a member\|segment shrunk" "$LOG" &&
    fail "the first broker saw its file touched: $(grep truncated "$LOG")"

say "a hung broker (SIGSTOP) is reported stale from its heartbeat"
kill -STOP "$BROKER"
sleep 2.6
out=$(probe check)
st=$?
kill -CONT "$BROKER"
expect_eq "$st" 1 "check exit status while hung"
expect_match "$out" "has not heartbeaten" "stale message"
sleep 0.5
expect_eq "$(probe check)" "alive" "alive after SIGCONT"

say "kill -9: clients keep the last capacity and see the broker gone"
kill -9 "$BROKER"
wait "$BROKER" 2>/dev/null
expect_eq "$(probe current)" "$before" "capacity while down"
out=$(probe check)
expect_eq "$?" 1 "check exit status while down"
expect_match "$out" "gone" "check message"
"$BIN/capdump" -n "$NAME" >/dev/null 2>&1
expect_eq "$?" 1 "capdump exit status while down"

say "restart adopts the segment: workers, override, generation kept"
start_broker
expect_match "$(cat "$LOG")" "ready: adopted" "adoption logged"
list=$(ctl worker list | tail -n +2 | tr -s ' ')
expect_eq "$list" "$(printf 'w1 ready 30 0\nw2 draining 5 0')" "workers kept"
after=$(probe current)
expect_eq "$(echo "$after" | cut -d' ' -f1,2)" "25 override" "override kept"
[ "$(echo "$after" | cut -d' ' -f3)" -gt "$(echo "$before" | cut -d' ' -f3)" ] ||
    fail "generation did not move on: $before -> $after"
expect_match "$(ctl status)" "epoch: *2" "epoch bumped"
expect_eq "$(probe check)" "alive" "alive again"

say "SIGTERM: exit 0, stopping flag published, segments kept"
stop_broker
expect_eq "$STATUS" 0 "exit status on SIGTERM"
out=$(probe check)
expect_eq "$?:$out" "1:broker stopped" "stopped flag"
[ -e "/dev/shm/capbroker.$NAME.state" ] || fail "segment removed without --remove"

say "--remove unlinks the segments on exit"
start_broker --remove
stop_broker
expect_eq "$STATUS" 0 "exit status"
[ ! -e "/dev/shm/capbroker.$NAME.state" ] || fail "state segment left"
[ ! -e "/dev/shm/capbroker.$NAME.slots" ] || fail "slots segment left"

say "a client in another PID namespace may observe but not reserve"
if command -v unshare >/dev/null && [ "$(id -u)" -eq 0 ] &&
    unshare --pid --fork --mount-proc true 2>/dev/null; then
	start_broker --remove
	out=$(unshare --pid --fork --mount-proc "$BIN/tests/cbprobe" "$NAME" current)
	expect_eq "$?" 28 "reserving client in another namespace: -EXDEV"
	expect_match "$out" "PID namespace" "message"
	unshare --pid --fork --mount-proc "$BIN/capdump" -n "$NAME" >/dev/null
	expect_eq "$?" 0 "observer in another namespace sees a live broker"
	stop_broker
else
	say "(skipped: needs root and unshare --pid)"
fi
