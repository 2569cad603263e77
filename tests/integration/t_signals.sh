# Signals reach the broker's signalfd, never a default action (issue
# 13, item 1).  Applying the start-up configuration can start liburcu's
# call_rcu thread (a worker the adopted segment already had, changed by
# the file); a thread created before the signals were blocked had them
# unblocked, so SIGHUP killed the broker (exit 129) and SIGTERM killed
# it without a clean stop (143: pidfile and socket left).
#
# The test forces that thread into existence before the signalfd (a
# restart with an edited worker line), reads the mask of every thread
# of the broker from /proc, then sends 1,000 SIGHUPs while clients
# reserve and release and the file toggles between two valid versions:
# the broker must live, answer, apply the final file, and stop cleanly
# on SIGTERM.
. "$(dirname "$0")/lib.sh"

CONF="$CAPBROKER_RUNDIR/capbroker.conf"

# SigBlk of every thread must hold HUP (1), INT (2) and TERM (15):
# bits 0, 1 and 14, in the low 32 bits of the mask.
check_masks() {
	n=0
	for st in /proc/"$BROKER"/task/*/status; do
		m=$(sed -n 's/^SigBlk:[[:space:]]*//p' "$st") ||
		    fail "cannot read $st"
		[ -n "$m" ] || continue  # the thread just ended
		low=$(printf '%s' "$m" | tail -c 8)
		[ $((0x$low & 0x4003)) -eq $((0x4003)) ] ||
		    fail "thread ${st%/status} has HUP/INT/TERM unblocked" \
		    "(SigBlk $m)"
		n=$((n + 1))
	done
	# main, publisher, sweeper, liburcu's call_rcu thread (at least)
	[ $n -ge 4 ] || fail "only $n threads: the call_rcu thread is missing"
}

say "a worker the adopted segment has, edited by the file at restart"
printf 'worker a ready 5\n' >"$CONF"
start_broker -c "$CONF"
stop_broker
expect_eq "$STATUS" 0 "first broker's exit status"
printf 'worker a ready 6\nworker a ready 7\npool storm limit=4\n' >"$CONF"
start_broker -c "$CONF"
expect_eq "$(capacity)" 7 "the edited line applied"

say "every thread of the broker blocks HUP, INT and TERM"
check_masks

say "1,000 SIGHUPs under load, the file toggling between two versions"
cat >"$CONF.a" <<'CONF'
pool storm limit=4
worker a ready
slots_per_worker = 10
CONF
cat >"$CONF.b" <<'CONF'
pool storm limit=4
worker a ready 20
worker b not_ready
CONF
out="$CAPBROKER_RUNDIR/storm.out"
# 12 kills spread over 4 s: the load lasts that long (one kill ended
# the storm at once, sometimes before the check below saw a hold).
"$BIN/tests/cbstorm" "$NAME" storm 4 12 4 6 >"$out" 2>&1 &
storm=$!
PIDS="$PIDS $storm"
# The load is on once the storm's workers hold units.
storm_holds() { ctl pool list | grep -Eq '^storm +.* [1-4] +0 +local +-$'; }
wait_until 10 storm_holds || fail "the storm holds nothing: $(cat "$out")"
i=0
while [ $i -lt 1000 ]; do
	# A new file is renamed into place, so a reload reads one version
	# or the other, never half of one.
	if [ $((i % 10)) -eq 0 ]; then
		if [ $((i % 20)) -eq 0 ]; then v=a; else v=b; fi
		cp "$CONF.$v" "$CONF.new" && mv "$CONF.new" "$CONF" ||
		    fail "cannot switch the file"
	fi
	kill -HUP "$BROKER" 2>/dev/null || fail "broker gone after $i SIGHUPs"
	i=$((i + 1))
done
wait $storm
st=$?
[ $st -eq 0 ] || { sed 's/^/    /' "$out"; fail "cbstorm exited $st"; }
kill -0 "$BROKER" 2>/dev/null || fail "broker died"
ctl ping >/dev/null || fail "broker does not answer ping"
check_masks

say "the final file is applied"
printf 'pool storm limit=4\nworker a ready 33\n' >"$CONF.new"
mv "$CONF.new" "$CONF"
kill -HUP "$BROKER"
wait_until 10 yields 33 capacity || fail "final file not applied: $(state)"

say "SIGTERM stops cleanly: exit 0, pidfile and socket removed"
stop_broker
expect_eq "$STATUS" 0 "exit status"
[ ! -e "$CAPBROKER_RUNDIR/$NAME.pid" ] || fail "pidfile left"
[ ! -e "$CAPBROKER_RUNDIR/$NAME.sock" ] || fail "socket left"
grep -q "stopped; segments kept" "$LOG" || fail "no clean stop logged"

say "SIGHUP then SIGTERM with --remove: segments removed"
printf 'worker a ready 34\n' >"$CONF"
start_broker -c "$CONF" --remove
check_masks
kill -HUP "$BROKER"
stop_broker
expect_eq "$STATUS" 0 "exit status with --remove"
[ ! -e "/dev/shm/capbroker.$NAME.state" ] || fail "--remove ignored"
echo "ok"
