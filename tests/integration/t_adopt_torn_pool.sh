# Issue 12 (found on the way): a broker killed inside a POOL SET leaves
# that pool's definition seqlock odd.  The next broker read the
# definitions (cb_pools_adopt) before it repaired the seqlocks, so it
# dropped the pool: its holders' pool gone, its launches freed as
# garbage by the sweeper without lowering U.  It must repair first and
# keep the pool, its usage and what the POOL SET wrote.
#
# The test-point broker adopts a pool with one hold and two launches;
# "pool set --limit 4" stops its publisher at "publisher:pool-def"
# (the definition written, the sequence still odd) and it is killed
# there with -9.  A normal broker then adopts the segments.
. "$(dirname "$0")/lib.sh"

D=$CAPBROKER_RUNDIR
TPD=$D/tp
POINT=publisher:pool-def
mkdir -p "$TPD"

usage() {	# "limit=L held=H launching=N" of pool ad, as a client reads it
	"$BIN/tests/cbburst" "$NAME" info ad 2>&1 | tr ' ' '\n' |
	    grep -E '^(limit|held|launching)=' | tr '\n' ' ' | sed 's/ $//'
}

start_broker
ctl pool set ad --limit 3 >/dev/null || fail "pool set ad"
hold h ad hold 0 -1
hold l1 ad launch 0 -1
hold l2 ad launch 0 -1
admitted h
admitted l1
admitted l2
expect_eq "$(usage)" "limit=3 held=1 launching=2" "before"
stop_broker

say "the test-point broker adopts the pool; killed in a POOL SET"
CB_TESTPOINT=$POINT CB_TESTPOINT_DIR=$TPD \
    "$BIN/tests/capbrokerd-tp" -n "$NAME" >>"$LOG" 2>&1 &
BROKER=$!
PIDS="$PIDS $BROKER"
wait_until 5 ctl ping >/dev/null 2>&1 || fail "test-point broker did not come up"
expect_eq "$(usage)" "limit=3 held=1 launching=2" "adopted by the test-point broker"
"$BIN/capctl" -n "$NAME" pool set ad --limit 4 >"$D/set" 2>&1 &
PIDS="$PIDS $!"
setter=$!
wait_until 10 test -e "$TPD/$POINT.reached" ||
    fail "the publisher did not reach $POINT"
kill -9 "$BROKER"
wait "$BROKER" 2>/dev/null
wait "$setter" 2>/dev/null

say "the next broker keeps the pool, its usage and the new limit"
start_broker
ctl pool list | grep -q '^ad ' || fail "pool ad was dropped: $(ctl pool list)"
expect_eq "$(usage)" "limit=4 held=1 launching=2" "after adoption"
grep -q "pool ad: the previous broker died writing its definition; kept as written" "$LOG" ||
    fail "the repair was not logged"
let_go h
let_go l1
let_go l2
expect_eq "$(usage)" "limit=4 held=0 launching=0" "after the releases"
say "ok"
