# Finding 4 of issue 12: a /proc read error is not a death.  With /proc
# mounted hidepid=2 and the broker running as its own user, the broker
# sees no /proc entry for its clients; it reclaimed every one at HELLO
# ("is gone") and later scrubbed their holds as garbage, so pools
# admitted beyond their limits.
#
# The test-point broker reads a /proc of our making (CB_TEST_PROC,
# lib/proc.c) that shows only itself, as hidepid=2 would.  Its sweeper
# is held at "sweeper:drained" once it has handled A's HELLO: by then a
# reclaim would have been logged.  Then a client killed with -9 must
# still be reclaimed (its pidfd is proof), A must keep its hold, and a
# client that cannot read its own PID namespace must be refused.
. "$(dirname "$0")/lib.sh"

D=$CAPBROKER_RUNDIR
TPD=$D/tp
POINT=sweeper:drained
FAKE=$D/proc
mkdir -p "$TPD" "$FAKE"
ln -s /proc/self "$FAKE/self"

held() {
	"$BIN/tests/cbburst" "$NAME" info hp | tr ' ' '\n' |
	    sed -n 's/^held=//p'
}

# The broker sees itself (its pid is the shell's, which execs it) and
# nothing else.
CB_TESTPOINT=$POINT CB_TESTPOINT_DIR=$TPD CB_TEST_PROC=$FAKE \
    sh -c 'ln -s /proc/$$ "$CB_TEST_PROC/$$" && exec "$0" -n "$1"' \
    "$BIN/tests/capbrokerd-tp" "$NAME" >>"$LOG" 2>&1 &
BROKER=$!
PIDS="$PIDS $BROKER"
wait_until 5 ctl ping >/dev/null 2>&1 || fail "broker did not come up"
ctl pool set hp --limit 2 >/dev/null || fail "pool set hp"

say "a live client whose /proc entry the broker cannot read keeps its hold"
hold a hp hold 0 -1
admitted a
wait_until 10 test -e "$TPD/$POINT.reached" ||
    fail "the sweeper did not reach $POINT after A's HELLO"
if grep -E "client pid $(pid_of a) \\(entry [0-9]+\\)" "$LOG" >&2; then
	fail "live client A (pid $(pid_of a)) was reclaimed at HELLO"
fi
touch "$TPD/$POINT.go"
wait_until 10 test ! -e "$TPD/$POINT.go" || fail "the sweeper did not go on"

say "a client killed with -9 is still reclaimed: the pidfd is proof"
hold d hp hold 0 -1
admitted d
kill -9 "$(pid_of d)"
wait_for broker.log "client pid $(pid_of d) \\(entry [0-9]+\\) died: reclaimed 1 hold\$" 10 ||
    fail "D's death was not reclaimed"
# Nor since: no reclaim of A's entry, no scrub of its hold.
grep -E "client pid $(pid_of a) |holding garbage" "$LOG" >&2 &&
    fail "A's entry or hold was reclaimed or scrubbed"
expect_eq "$(held)" 1 "held: A's unit still counted"
let_go a
expect_eq "$(held)" 0 "held after A's release"

say "a queued waiter whose /proc entry a client cannot read is not pruned"
# The queue's own check of a stalled head (lib/queue.c owner_dead, run
# by fail-fast requests and blocked waiters alike) must treat "unknown"
# as alive too: it used to prune such a head as dead.
hold f1 hp hold 0 -1
admitted f1
hold f2 hp hold 0 -1
admitted f2
"$BIN/tests/cbqueue" "$NAME" hp 0 -1 q "$D/grants" >"$D/q" 2>&1 &
pid_q=$!
PIDS="$PIDS $pid_q"
wait_for q '^queued pos=0' 10 || fail "the waiter did not queue: $(cat "$D/q")"
# This client sees only itself in its /proc, not the waiter.
out=$(CB_TEST_PROC=$FAKE "$BIN/tests/tp_open" "$NAME" failfast hp 3)
expect_eq "$out" "ok
EAGAIN
EAGAIN
EAGAIN" "fail-fast requests behind the waiter"
"$BIN/capdump" -n "$NAME" --json | grep -q "\"waiters\":\[{\"pool\":\"hp\",[^]]*\"pid\":$pid_q," ||
    fail "the waiter (pid $pid_q) was pruned: $("$BIN/capdump" -n "$NAME" --json | grep -o '"waiters":\[[^]]*\]')"
let_go f1
wait_for q '^granted' 10 || fail "the waiter was not granted: $(cat "$D/q")"
let_go q
let_go f2

say "a client that cannot read /proc/self/ns/pid is refused; observers are not"
out=$(CB_TEST_PROC=$D/empty "$BIN/tests/tp_open" "$NAME")
expect_match "$out" '^EXDEV: cannot read /proc/self/ns/pid' "tp_open, no /proc"
out=$(CB_TEST_PROC=$D/empty "$BIN/tests/tp_open" "$NAME" rdonly)
expect_eq "$out" ok "tp_open rdonly, no /proc"
out=$("$BIN/tests/tp_open" "$NAME")
expect_eq "$out" ok "tp_open with /proc"
say "ok"
