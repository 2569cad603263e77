# Finding 1 of issue 12: the sweeper must not reclaim a live client
# because a stale pidfd event of its entry's previous owner is handled
# after the entry changed hands.
#
# The test-point broker holds its sweeper at "sweeper:drained" (the end
# of a batch of requests) right after it started watching client A.
# While it is held: A releases, closes (its entry is freed) and exits,
# so A's pidfd event queues up behind the request eventfd; the broker's
# main thread posts A's death notice; B, a process whose pid makes
# cb_rsv_claim try A's entry first, claims that entry, says HELLO and
# takes a hold.  Let go, the sweeper gets one batch holding the requests
# (A's check, B's HELLO: B is watched) and then A's pidfd event, which
# must be recognised as stale.  Before the fix it reclaimed B by index:
# "client pid B (entry I) died: reclaimed 1 hold", the pool's held count
# 0 while B held 1, and B's release -ESTALE.
. "$(dirname "$0")/lib.sh"

D=$CAPBROKER_RUNDIR
TPD=$D/tp
POINT=sweeper:drained
mkdir -p "$TPD"

# entry_of PID: the client-table index capdump shows for PID.
entry_of() {
	"$BIN/capdump" -n "$NAME" --json |
	    grep -o '"index":[0-9]*,"pid":[0-9]*' |
	    sed -n "s/^\"index\":\([0-9]*\),\"pid\":$1\$/\1/p"
}

held() {
	"$BIN/tests/cbburst" "$NAME" info reuse | tr ' ' '\n' |
	    sed -n 's/^held=//p'
}

# The test-point broker, its sweeper to be held at $POINT.
CB_TESTPOINT=$POINT CB_TESTPOINT_DIR=$TPD \
    "$BIN/tests/capbrokerd-tp" -n "$NAME" >>"$LOG" 2>&1 &
BROKER=$!
PIDS="$PIDS $BROKER"
wait_until 5 ctl ping >/dev/null 2>&1 || fail "broker did not come up"
ctl pool set reuse --limit 3 >/dev/null || fail "pool set reuse"

say "A holds a unit; the sweeper is held right after watching it"
hold a reuse hold 0 -1
admitted a
wait_until 10 test -e "$TPD/$POINT.reached" ||
    fail "the sweeper did not reach $POINT after A's HELLO"
entry=$(entry_of "$(pid_of a)")
[ -n "$entry" ] || fail "A's client entry not found in capdump --json"

say "A releases, closes and exits; B claims A's entry $entry"
let_go a
# The main thread handles A's closed connection (the death notice for
# the sweeper) before it answers a later connection.
ctl ping >/dev/null || fail "ping"
"$BIN/tests/cbpidmod" 1024 "$entry" "$BIN/tests/cbhold" "$NAME" reuse \
    hold 0 -1 >"$D/b" 2>"$D/b.pid" &
PIDS="$PIDS $!"
wait_for b.pid '^pid [0-9]+$' 30 || fail "no process with pid = $entry mod 1024: $(cat "$D/b.pid")"
pid_b=$(sed -n 's/^pid //p' "$D/b.pid")
PIDS="$PIDS $pid_b"
admitted b
expect_eq "$(entry_of "$pid_b")" "$entry" \
    "B's client entry (must be A's, or the test proves nothing)"
expect_eq "$(held)" 1 "held while the sweeper is stopped"

say "the sweeper goes on: A's stale event must not reclaim B"
touch "$TPD/$POINT.go"
wait_until 10 test ! -e "$TPD/$POINT.go" || fail "the sweeper did not go on"
# The sweeper handles its events in order: once it has reclaimed D,
# killed after the go, it has handled the batch with A's event.
hold d reuse hold 0 -1
admitted d
kill -9 "$(pid_of d)"
wait_for broker.log "client pid $(pid_of d) \\(entry [0-9]+\\) died: reclaimed 1 hold\$" 10 ||
    fail "D's death was not reclaimed"
if grep -E "client pid $pid_b \\(entry [0-9]+\\)" "$LOG" >&2; then
	fail "live client B (pid $pid_b) was reclaimed"
fi
expect_eq "$(held)" 1 "held: B's unit still counted"
p=$pid_b
kill -USR1 "$p"
wait_for b '^released ' 10 || fail "b: did not release"
expect_eq "$(sed -n 's/^released //p' "$D/b")" ok "B's release"
expect_eq "$(held)" 0 "held after B's release"
say "ok"
