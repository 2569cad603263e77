# Watching: late subscribers get the latest value at once; a waiting
# subscriber is woken by a change; a quiet watch times out.
. "$(dirname "$0")/lib.sh"

start_broker
ctl worker set w1 --state ready --max-running 40 >/dev/null
gen=$(probe current | cut -d' ' -f3)

say "a subscriber arriving after the change sees it immediately"
expect_eq "$(probe watch 0 0)" "40 reported $gen" "late subscriber"

say "a subscriber already at the latest generation waits and times out"
out=$(probe watch "$gen" 200)
expect_eq "$?:$out" "3:timeout" "quiet watch"

say "a waiting subscriber wakes on the next change"
"$BIN/tests/cbprobe" "$NAME" watch "$gen" 10000 >"$CAPBROKER_RUNDIR/w1" &
w1=$!
"$BIN/tests/cbprobe" "$NAME" watch "$gen" 10000 >"$CAPBROKER_RUNDIR/w2" &
w2=$!
PIDS="$PIDS $w1 $w2"
sleep 0.3
ctl worker set w1 --state ready --max-running 41 >/dev/null
wait $w1 || fail "watcher 1 failed"
wait $w2 || fail "watcher 2 failed"
expect_eq "$(cat "$CAPBROKER_RUNDIR/w1")" "41 reported $((gen + 1))" "watcher 1"
expect_eq "$(cat "$CAPBROKER_RUNDIR/w2")" "41 reported $((gen + 1))" "watcher 2"

say "a change that leaves capacity and source alone does not bump it"
ctl worker set w9 --state not_ready --max-running 5 >/dev/null
expect_eq "$(probe current)" "41 reported $((gen + 1))" "no-op change"
