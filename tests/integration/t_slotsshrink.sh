# A slots segment shrunk by a member of its group kills nobody (issue 12,
# step 7: "shrinking the slots segment kills everyone").  `truncate -s
# 4096` on the slots file (mode 0660: any member of its group may) used
# to make the broker, every attached client and `capdump --watch` die of
# SIGBUS (exit 135), and a restarted broker refuse the segment ("header
# says N bytes, segment is 4096"), so only --replace recovered, losing
# runtime pools and workers.
#
# Now every mapping of it is guarded (lib/sigbus.h): a process with the
# file open read-write puts its size back when it touches a cut page, a
# read-only one (capdump) gets private zeros and says the segment is
# damaged, and the broker restores the size and logs it; a broker that
# starts on a shrunk file extends it back and adopts it.
#
# Who touches a cut page first is forced, not raced: the broker is
# stopped (SIGSTOP) during the truncation, so capdump (reading every
# second), then a client whose ftruncate must fail (cbshrunk:
# RLIMIT_FSIZE), then the holder (told to release) are the ones that
# fault, in that order.
. "$(dirname "$0")/lib.sh"

D=$CAPBROKER_RUNDIR
SLOTS="/dev/shm/capbroker.$NAME.slots"

size() {
	stat -c %s "$SLOTS"
}

alive() {	# PID WHAT
	kill -0 "$1" 2>/dev/null && return
	wait "$1"
	fail "$2 died (exit status $?; 135: SIGBUS)"
}

start_broker
want=$(size)
ctl pool set sh --limit 5 >/dev/null || fail "pool set sh"
ctl worker set w1 --state ready >/dev/null || fail "worker set w1"
hold a sh hold 0 -1
admitted a
"$BIN/tests/cbshrunk" "$NAME" sh >"$D/shrunk" 2>&1 &
pid_shrunk=$!
PIDS="$PIDS $pid_shrunk"
wait_for shrunk '^ready' 10 || fail "cbshrunk: $(cat "$D/shrunk")"
"$BIN/capdump" -n "$NAME" --watch --json >"$D/watch" 2>"$D/watch.err" &
watcher=$!
PIDS="$PIDS $watcher"
wait_for watch '"slots_damaged":false' 10 || fail "capdump --watch: no dump"

say "nothing shrunk yet: no false alarm, though clients wrote new pages"
# Pages first written through a mapping move the file's mtime on recent
# kernels; the broker used to take that for a shrink undone.  Two more
# clients write pages of their own; a few heartbeats (250 ms) pass.
ctl run --pool sh -- true >/dev/null || fail "a client's hold"
ctl run --pool sh -- sleep 1 >/dev/null || fail "a client's hold, longer"
expect_eq "$(grep -c 'truncated by a member' "$LOG")" 0 \
    "shrinks reported before any"

say "shrunk with the broker stopped: capdump faults first, keeps running"
kill -STOP "$BROKER"
truncate -s 4096 "$SLOTS" || fail "truncate"
if ! wait_for watch '"slots_damaged":true' 10; then
	alive "$watcher" "capdump --watch"
	fail "capdump did not report the damage: $(tail -n 3 "$D/watch.err")"
fi
alive "$watcher" "capdump --watch"
expect_eq "$(size)" 4096 "size (nobody with a writable fd touched it yet)"

say "a client that cannot put the size back stops admitting, alive"
kill -USR1 "$pid_shrunk"
wait_for shrunk '^reserve ' 10 || fail "cbshrunk did not answer"
wait "$pid_shrunk"
expect_eq "$?" 0 "cbshrunk exit status (135: SIGBUS)"
expect_match "$(cat "$D/shrunk")" "^reserve EPROTO .*was shrunk" \
    "the damaged handle's reserve"
expect_eq "$(size)" 4096 "size (cbshrunk could not restore it)"

say "the holder's release faults: its guard puts the size back"
kill -USR1 "$pid_a"
wait_for a '^released ' 10 || fail "the holder did not answer"
wait "$pid_a"
st=$?
[ "$st" -eq 0 ] || [ "$st" -eq 2 ] ||
    fail "holder exit status $st (135: SIGBUS): $(cat "$D/a")"
expect_eq "$(size)" "$want" "size restored by the client"

say "the broker, let go, logs it; capdump attaches again"
kill -CONT "$BROKER"
wait_until 10 grep -q "truncated by a member of its group" "$LOG" ||
    fail "the broker did not log the shrink"
alive "$BROKER" "the broker"
wait_until 10 sh -c "tail -n 1 '$D/watch' | grep -q '\"slots_damaged\":false'" ||
    fail "capdump did not attach again"
alive "$watcher" "capdump --watch"
out=$(ctl run --pool sh -- true 2>&1) || fail "a new client reserving: $out"
expect_match "$(ctl pool list)" "^sh " "pool kept"
expect_match "$(ctl worker list)" "w1" "worker kept"

say "shrunk with the broker running: it restores the size itself"
hold b sh hold 0 -1
admitted b
n0=$(grep -c "truncated by a member of its group" "$LOG")
truncate -s 4096 "$SLOTS" || fail "truncate"
wait_until 10 yields "$want" size || fail "size not restored: $(size)"
wait_until 10 sh -c "[ \$(grep -c 'truncated by a member of its group' \
    '$LOG') -gt $n0 ]" || fail "the broker did not log the second shrink"
alive "$BROKER" "the broker"
alive "$watcher" "capdump --watch"
alive "$pid_b" "the second holder"
kill -USR1 "$pid_b"
wait_for b '^released ' 10 || fail "the second holder did not answer"
wait "$pid_b"
st=$?
[ "$st" -eq 0 ] || [ "$st" -eq 2 ] || fail "second holder exit status $st"
out=$(ctl run --pool sh -- true 2>&1) || fail "reserving after: $out"

kill -TERM "$watcher"
wait "$watcher"
expect_eq "$?" 0 "capdump --watch exit status on SIGTERM"

say "shrunk while no broker runs: the next one extends it and adopts"
kill -9 "$BROKER"
wait "$BROKER" 2>/dev/null
truncate -s 4096 "$SLOTS" || fail "truncate"
: >"$LOG"
start_broker
grep -q "ready: adopted" "$LOG" || fail "not adopted: $(cat "$LOG")"
grep -q "while no broker ran; extending it back" "$LOG" || fail "not logged"
expect_eq "$(size)" "$want" "size after the restart"
expect_match "$(ctl pool list)" "^sh " "pool kept across the restart"
expect_match "$(ctl worker list)" "w1" "worker kept across the restart"
out=$(ctl run --pool sh -- true 2>&1) || fail "reserving after adoption: $out"

say "header cut too (truncate -s 0): rebuilt from the state segment"
kill -9 "$BROKER"
wait "$BROKER" 2>/dev/null
truncate -s 0 "$SLOTS" || fail "truncate"
: >"$LOG"
start_broker
grep -q "ready: adopted" "$LOG" || fail "not adopted: $(cat "$LOG")"
grep -q "restoring the header" "$LOG" || fail "header not rebuilt"
expect_match "$(ctl pool list)" "^sh " "pool kept (header cut)"
expect_match "$(ctl worker list)" "w1" "worker kept (header cut)"
out=$(ctl run --pool sh -- true 2>&1) || fail "reserving: $out"
