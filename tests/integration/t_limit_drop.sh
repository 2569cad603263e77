# Issue 12, finding 3, end to end: once `capctl pool set --limit` has
# answered OK, no admission exceeds the new limit -- not even one that
# read the old limit and was about to CAS.  Reproduced at 36130e5:
# `capctl pool set sl --limit 1` returned OK while a reserver was held
# before its CAS; then held=2 at limit 1.
#
# The reserver is the test build's client (tp_open failfast), stopped
# at "reserve:before-cas" (lib/reserve.c try_hold: limit read, window
# open, CAS next) while the limit is lowered through the broker.
. "$(dirname "$0")/lib.sh"

D=$CAPBROKER_RUNDIR
TPD=$D/tp
POINT=reserve:before-cas
mkdir -p "$TPD"

held() {
	"$BIN/tests/cbburst" "$NAME" info sl | tr ' ' '\n' |
	    sed -n 's/^held=//p'
}

start_broker
ctl pool set sl --limit 2 >/dev/null || fail "pool set sl --limit 2"
hold a sl hold 0 -1
admitted a
expect_eq "$(held)" 1 "held before"

say "a reserver stopped before its CAS, with room at limit 2"
CB_TESTPOINT=$POINT CB_TESTPOINT_DIR=$TPD \
    "$BIN/tests/tp_open" "$NAME" failfast sl 1 >"$D/r" 2>&1 &
R=$!
PIDS="$PIDS $R"
wait_until 10 test -e "$TPD/$POINT.reached" ||
    fail "the reserver did not reach $POINT: $(cat "$D/r")"

say "the limit lowered to 1 and acknowledged; then the reserver goes on"
out=$(ctl pool set sl --limit 1) || fail "pool set sl --limit 1: $out"
touch "$TPD/$POINT.go"
wait "$R"
expect_eq "$(cat "$D/r")" "ok
EAGAIN" "the reserver, after the lower limit was acknowledged"
expect_eq "$(held)" 1 "held at limit 1"
let_go a
expect_eq "$(held)" 0 "held after the release"
say "ok"
