# A segment's name removed under a running broker is put back, and a
# broker killed before it could do so loses nothing (issue 13, item 2:
# "a deleted segment goes unnoticed, then everything is dropped").
# `rm /dev/shm/capbroker.NAME.state` used to go unlogged, with new
# clients and capdump told "no broker" and the watchdog fed on; the next
# broker logged "unfinished ...slots: ; replacing" (no reason) and
# started empty, dropping pools and holds.
#
# Now the broker keeps a spare link to each segment
# (/dev/shm/.capbroker.NAME.KIND, broker/segments.h "Names"), and its
# heartbeat puts a removed name back (logged); a new broker links a name
# removed under a killed one again from the spare link and adopts; a
# segment with no name left is critical and the watchdog is no longer
# fed; --remove leaves nothing behind.
#
# Nothing is timed: the heartbeat's repair is waited for (wait_until),
# the names are removed together with the broker stopped (SIGSTOP), and
# "no WATCHDOG=1 any more" is judged between two STATUS= lines, which
# only a heartbeat sends, right after its WATCHDOG=1.
. "$(dirname "$0")/lib.sh"

D=$CAPBROKER_RUNDIR
SHM=/dev/shm
STATE="$SHM/capbroker.$NAME.state"
SLOTS="$SHM/capbroker.$NAME.slots"
SPARE_STATE="$SHM/.capbroker.$NAME.state"
SPARE_SLOTS="$SHM/.capbroker.$NAME.slots"

ino() {
	stat -c %i "$1"
}

# The JSON object of pool $1 in capdump's output: its "held" value.
held() {
	"$BIN/capdump" -n "$NAME" --json 2>/dev/null |
	    grep -o "\"name\":\"$1\",[^}]*" | sed -n 's/.*"held":\([0-9]*\).*/\1/p'
}

# A new client, pool sd limit 1 held by a: refused at once.
new_client_refused() {
	"$BIN/tests/cbhold" "$NAME" sd hold 0 0 >"$D/new" 2>&1
	st=$?
	[ $st -eq 1 ] || fail "new client: exit $st: $(cat "$D/new")"
	grep -q '^EAGAIN ' "$D/new" || fail "new client: $(cat "$D/new")"
}

both_back() {
	[ -e "$STATE" ] && [ -e "$SLOTS" ]
}

start_broker
ctl pool set sd --limit 1 >/dev/null || fail "pool set sd"
ctl worker set w1 --state ready >/dev/null || fail "worker set w1"
hold a sd hold 0 -1
admitted a
ino_state=$(ino "$STATE")
ino_slots=$(ino "$SLOTS")
expect_eq "$(ino "$SPARE_STATE")" "$ino_state" "spare link of state"
expect_eq "$(ino "$SPARE_SLOTS")" "$ino_slots" "spare link of slots"
expect_eq "$(held sd)" 1 "held before"

say "(1) both names removed under the running broker: logged, put back"
rm "$STATE" "$SLOTS"
wait_until 10 both_back || fail "the names did not come back"
wait_until 10 grep -q "capbroker.$NAME.slots: linked again" "$LOG" ||
    fail "the repair of slots is not logged"
grep -q "error: $STATE: removed under the running broker" "$LOG" ||
    fail "the removal of state is not logged as an error"
expect_eq "$(ino "$STATE")" "$ino_state" "state inode"
expect_match "$(ctl status)" "^segments: +linked; .*re-linked" "capctl status: the repair"
expect_eq "$(ino "$SLOTS")" "$ino_slots" "slots inode"
expect_eq "$(held sd)" 1 "capdump: held after the repair"
new_client_refused
expect_match "$(ctl worker list)" "w1" "worker kept"

say "(1b) a spare link removed: made again"
rm "$SPARE_STATE"
wait_until 10 test -e "$SPARE_STATE" || fail "the spare link did not come back"
expect_eq "$(ino "$SPARE_STATE")" "$ino_state" "spare link inode"

say "(2) names removed, broker killed before the repair: the next adopts"
kill -STOP "$BROKER"
rm "$STATE" "$SLOTS"
kill -9 "$BROKER"
wait "$BROKER" 2>/dev/null
[ ! -e "$STATE" ] || fail "state name back before the restart"
start_broker
grep -q "$STATE: was removed while the last broker ran" "$LOG" ||
    fail "the re-link at start-up is not logged"
grep -q "ready: adopted" "$LOG" || fail "not adopted"
expect_eq "$(ino "$STATE")" "$ino_state" "state inode after the restart"
expect_eq "$(ino "$SLOTS")" "$ino_slots" "slots inode after the restart"
expect_eq "$(held sd)" 1 "capdump: held after the restart"
new_client_refused
expect_match "$(ctl worker list)" "w1" "worker kept across the restart"
let_go a

say "(3) state and its spare link removed: critical, watchdog not fed"
stop_broker
expect_eq "$STATUS" 0 "broker exit status"
"$BIN/tests/cbnotify" "$D/notify" >"$D/notify.out" 2>&1 &
PIDS="$PIDS $!"
wait_for notify.out listening 5 || fail "cbnotify did not start"
NOTIFY_SOCKET=$D/notify start_broker
wait_for notify.out '^WATCHDOG=1$' 10 || fail "no WATCHDOG=1 at all"
hold b sd hold 0 -1
admitted b
kill -STOP "$BROKER"
rm "$STATE" "$SPARE_STATE"
kill -CONT "$BROKER"
wait_until 10 grep -q "critical: $STATE: cannot be linked again" "$LOG" ||
    fail "no critical line"
ctl override 71 >/dev/null || fail "override 71"
wait_for notify.out '^STATUS=capacity 71 ' 10 || fail "no STATUS for 71"
ctl override 72 >/dev/null || fail "override 72"
wait_for notify.out '^STATUS=capacity 72 ' 10 || fail "no STATUS for 72"
n=$(sed -n '/^STATUS=capacity 71 /,/^STATUS=capacity 72 /p' "$D/notify.out" |
    grep -c '^WATCHDOG=1$')
expect_eq "$n" 0 "WATCHDOG=1 between two heartbeats after the loss"
[ ! -e "$STATE" ] || fail "state name came back"
expect_match "$(ctl status)" "^segments: +UNLINKED; state gone since .*watchdog not fed" \
    "capctl status: the loss"
let_go b

say "(3b) the next broker starts anew, and says why"
kill -9 "$BROKER"
wait "$BROKER" 2>/dev/null
start_broker
grep -q "unfinished /capbroker.$NAME.state: No such file or directory" \
    "$LOG" || fail "replaced without the reason: $(grep unfinished "$LOG")"
grep -q "; replacing" "$LOG" || fail "not replaced"

say "(4) --remove leaves nothing in /dev/shm, spare links included"
stop_broker
start_broker --remove
stop_broker
expect_eq "$STATUS" 0 "broker exit status"
left=$(ls -A "$SHM" | grep "capbroker\.$NAME\." || true)
expect_eq "$left" "" "left in /dev/shm"
say "ok"
