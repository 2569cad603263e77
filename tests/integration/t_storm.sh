# The kill -9 storm: workers contending for a small pool are SIGKILLed
# at random moments, many of them inside cb_reserve/cb_release with the
# death window open, some placed exactly where a death leaks a unit,
# some in the middle of cb_open's claim of a client entry.  The pool
# must never exceed its limit (its counter, and the workers actually
# inside: cbstorm's validator), and after every worker is killed at
# once the broker must drain the pool to 0 and free every dead client's
# entry (reclaim + recount).  See tests/integration/cbstorm.c.
. "$(dirname "$0")/lib.sh"

LIMIT=4
KILLS=${STORM_KILLS:-250}
# Under TSan each kill's fork and reap cost ~80 ms, and its ptrace kills
# give way to the SIGSTOP fallbacks (cbstorm.c): fewer kills, the same
# spread over the storm.
case $BIN in *-thread*) KILLS=${STORM_KILLS:-120} ;; esac
SECS=${STORM_SECONDS:-8}
WORKERS=12

start_broker
ctl pool set storm --limit "$LIMIT" >/dev/null || fail "pool set storm"

say "$WORKERS workers on a pool of $LIMIT," \
    "$KILLS SIGKILLs over ${SECS}s, then all at once"
out="$CAPBROKER_RUNDIR/storm.out"
"$BIN/tests/cbstorm" "$NAME" storm "$LIMIT" "$KILLS" "$SECS" "$WORKERS" \
    >"$out" 2>&1 &
storm=$!
PIDS="$PIDS $storm"
wait $storm
st=$?
sed 's/^/    /' "$out"
[ $st -eq 0 ] || fail "cbstorm exited $st"
grep -q '^kills ' "$out" || fail "cbstorm printed no summary"

say "the broker survived and still serves"
kill -0 "$BROKER" 2>/dev/null || fail "broker died during the storm"
ctl ping >/dev/null || fail "broker does not answer ping"
probe check >/dev/null || fail "cb_broker_check: broker not alive"
list=$(ctl pool list) || fail "pool list"
# NAME INDEX KIND VALUE LIMIT WINDOW OBSERVED HELD LAUNCHING SCOPE HOLD_MAX:
# empty again
expect_match "$list" \
    "^storm +[0-9]+ +fixed +$LIMIT +$LIMIT +[0-9]+ +[0-9]+ +0 +0 +local +-\$" \
    "pool list after the storm"

n_reclaim=$(grep -ci 'reclaim' "$LOG")
n_repair=$(grep -ciE 'repair|drift' "$LOG")
say "broker log: $n_reclaim reclaim lines, $n_repair repair/drift lines"
