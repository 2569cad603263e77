# A retired segment admits nothing, on every admission path (finding 5
# of issue 12).  A client attached to an instance whose segments the
# next broker retires (capbrokerd --replace, here because the state
# segment's region table is broken) must be refused -- EPROTO, not
# admitted against a segment no broker counts any more -- by cb_wait on
# a place it queued before, fail-fast holds and launches, blocking
# reserves, cb_enqueue, and cb_pick_worker (fail-fast and waiting).
# Before the fix every one of them was admitted by the old segment.
. "$(dirname "$0")/lib.sh"

D=$CAPBROKER_RUNDIR
start_broker
ctl worker set w1 --state ready --max-running 3 >/dev/null || fail "w1"

say "a client queues in the default pool; the broker is killed"
"$BIN/tests/cbretired" "$NAME" >"$D/client" 2>&1 &
CLIENT=$!
PIDS="$PIDS $CLIENT"
wait_for client '^queued ok' 10 || fail "client did not queue: $(cat "$D/client")"
# SIGKILL, not SIGTERM: a clean stop unpublishes the workers, and the
# pickers below must have a ready worker to be admitted to.
kill -9 "$BROKER"
wait "$BROKER" 2>/dev/null

say "the next broker, --replace, retires the segments and serves new ones"
"$BIN/tests/cbseg" "$NAME" break-state || fail "cbseg"
start_broker --replace
grep -q "incompatible /capbroker.$NAME.state" "$LOG" || fail "not replaced"
expect_eq "$(probe current | cut -d' ' -f1,2)" "1024 fallback" "new segment"

say "the old client is refused on every admission path"
kill -USR1 "$CLIENT"
wait "$CLIENT"
expect_eq "$?" 0 "client exit status"
got=""
want=""
for path in wait hold launch blocking enqueue pick pickwait; do
	got="$got $path=$(sed -n "s/^$path //p" "$D/client")"
	want="$want $path=EPROTO"
done
expect_eq "$got" "$want" "admission paths on a retired segment"
expect_match "$(cat "$D/client")" "^message .*retired" "the message"
