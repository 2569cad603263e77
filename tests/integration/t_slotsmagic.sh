# The slots segment's header is the clients' to write: it must never
# make the broker give up a live instance (finding 5 of issue 12).
#
# With the broker down, a member of the slots group zeroes the slots
# magic.  The next broker used to take the pair for one whose creation
# never ended and replace it without --replace: the runtime pool was
# lost and the clients still attached kept admitting against the old
# segment while new ones admitted against the new -- 3 + 3 holds at
# limit 3.  Now the state segment (the broker's alone) says the pair
# was published, so the broker restores the slots header and adopts:
# the pool, its holds and its limit are kept.  (With the broker running
# the sweeper already restored it, check_header(): checked at the end.)
. "$(dirname "$0")/lib.sh"

D=$CAPBROKER_RUNDIR
start_broker
ctl pool set sl --limit 3 >/dev/null || fail "pool set"

hold() {	# NAME: a holder of pool sl, until SIGUSR1, writing $D/NAME
	"$BIN/tests/cbhold" "$NAME" sl hold 0 -1 >"$D/$1" 2>&1 &
	eval "pid_$1=$!"
	PIDS="$PIDS $!"
	wait_for "$1" '^(ok|E)' 10 || fail "$1: no answer"
}

held() {
	ctl pool list | awk '$1 == "sl" { print $8 }'
}

say "two holds in pool sl (limit 3); the broker stops"
hold h1
hold h2
expect_match "$(cat "$D/h1" "$D/h2")" "^ok" "first holds"
stop_broker
expect_eq "$STATUS" 0 "broker exit status"

say "a client zeroes the slots magic; the next broker repairs, not replaces"
"$BIN/tests/cbseg" "$NAME" zero-magic || fail "cbseg"
start_broker
grep -Eq "(unfinished|incompatible) /capbroker" "$LOG" && fail "the broker replaced a published instance"
grep -q "restoring the header" "$LOG" || fail "repair not logged"
expect_eq "$(held)" 2 "holds kept in pool sl"

say "one more hold is admitted, the fourth is refused: one instance"
hold h3
expect_match "$(cat "$D/h3")" "^ok" "third hold"
out=$("$BIN/tests/cbhold" "$NAME" sl hold 0 0)
expect_match "$out" "^EAGAIN" "a fourth hold at limit 3"
expect_eq "$(held)" 3 "holds in pool sl"
let_go h1
let_go h2
let_go h3
expect_eq "$(held)" 0 "holds after release"

say "with the broker running, a zeroed magic is restored and logged"
"$BIN/tests/cbseg" "$NAME" zero-magic || fail "cbseg"
wait_until 5 grep -q "slots segment header was overwritten; restored" "$LOG" ||
    fail "not logged"
out=$(probe current) || fail "a new client after the repair: $out"
