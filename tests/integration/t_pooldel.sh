# Deleting pools (issue 13, item 11): capctl pool del.
#   - an idle pool: gone from pool list and capdump, and still gone
#     after a broker restart (the segment's tombstone is not adopted
#     as a pool); "default" cannot be deleted;
#   - a pool in use is refused (exit 1, the holds named), unless forced;
#   - forced with a hold outstanding: new reserves get ENOENT (also by
#     an index looked up before), the deleted pool's index is not
#     reused while the hold is out (a pool created meanwhile, after a
#     broker restart, gets another index), the late release succeeds
#     into the deleted pool and leaves the new pool's count alone (it
#     still refuses beyond its limit); once nothing holds it, the
#     index is free and a pool created there starts at 0 held with its
#     own limit;
#   - a launch out when the pool is deleted by force: the index is
#     freed (the launch entry with it) and the ticket's release fails as
#     stale;
#   - a queued waiter is sent out with ENOENT by the forced deletion,
#     long before its timeout;
#   - reload: a pool whose line left the file is deleted, one created
#     with capctl survives; one in use fails the reload (named), and
#     goes at the next reload once idle.
. "$(dirname "$0")/lib.sh"

D=$CAPBROKER_RUNDIR
CONF="$D/capbroker.conf"

# The pools capctl lists, by name, one line.
pools() {
	ctl pool list | awk 'NR > 1 { print $1 }' | tr '\n' ' ' | sed 's/ $//'
}

# Column N (1-based) of pool P's row in capctl pool list.
pool_col() {
	ctl pool list | awk -v p="$1" -v n="$2" '$1 == p { print $n }'
}

# The pools capdump --json lists, and P's "waiting".
dump_pools() {
	"$BIN/capdump" -n "$NAME" --json | python3 -c '
import json, sys
print(" ".join(p["name"] for p in json.load(sys.stdin)["pools"]))'
}
dump_waiting() {
	"$BIN/capdump" -n "$NAME" --json | python3 -c '
import json, sys
n = [p["waiting"] for p in json.load(sys.stdin)["pools"]
    if p["name"] == sys.argv[1]]
print(n[0] if n else "none")' "$1"
}

# freed POOL INDEX: the sweeper logged POOL's index INDEX free.
freed() {
	grep -q "pool $1 (index $2): deleted, and nothing holds it any more" \
	    "$LOG"
}

cat >"$CONF" <<'CONF'
pool filed limit=4
pool kept limit=2
CONF
start_broker -c "$CONF"

say "an idle pool: deleted, gone from pool list and capdump"
ctl pool set idle --limit 3 >/dev/null || fail "pool set idle"
expect_eq "$(pools)" "default filed kept idle" "pools before"
out=$(ctl pool del idle) || fail "pool del idle: $out"
expect_match "$out" "^pool idle \(index 3\): deleted$" "pool del output"
expect_eq "$(pools)" "default filed kept" "pool list after del"
expect_eq "$(dump_pools)" "default filed kept" "capdump after del"
out=$(ctl pool del idle 2>&1)
expect_eq "$?" 1 "deleting it again"
expect_match "$out" "no pool 'idle'" "deleting it again"
out=$(ctl pool del default 2>&1)
expect_eq "$?" 1 "deleting default"
expect_match "$out" "default .*cannot be deleted" "deleting default"

say "the deletion survives a restart"
stop_broker
expect_eq "$STATUS" 0 "broker exit"
start_broker -c "$CONF"
expect_eq "$(pools)" "default filed kept" "pool list after restart"
expect_eq "$(dump_pools)" "default filed kept" "capdump after restart"

say "a pool in use is refused, with its holds named"
ctl pool set busy --limit 1 >/dev/null || fail "pool set busy"
busy_index=$(pool_col busy 2)
hold h1 busy hold 0 -1
admitted h1
# A client that looks the pool up now and reserves after the deletion.
"$BIN/tests/cbcached" "$NAME" busy >"$D/cached" 2>&1 &
pid_cached=$!
PIDS="$PIDS $pid_cached"
wait_for cached '^ready ' 10 || fail "cbcached: $(cat "$D/cached")"
out=$(ctl pool del busy 2>&1)
expect_eq "$?" 1 "pool del of a pool in use"
expect_match "$out" "pool busy is in use: 1 hold, 0 launches, 0 waiters" \
    "refusal"
expect_eq "$(pool_col busy 8)" 1 "busy still holds 1"

say "forced: the pool goes at once, new reserves get ENOENT"
out=$(ctl pool del busy --force) || fail "pool del --force: $out"
expect_match "$out" "deleted by force, in use by 1 hold, 0 launches, 0 waiters" \
    "forced output"
expect_eq "$(pools)" "default filed kept" "pool list after force"
out=$("$BIN/tests/cbhold" "$NAME" busy hold 0 0 2>&1)
expect_match "$out" "pool busy: ENOENT" "reserve by name after force"
out=$("$BIN/tests/cbhold" "$NAME" "#$busy_index" hold 0 0 2>&1)
expect_match "$out" "^ENOENT " "reserve by the index, new client"
kill -USR1 "$pid_cached"
wait_for cached '^blocking ' 30 || fail "cbcached: $(cat "$D/cached")"
expect_match "$(cat "$D/cached")" "failfast ENOENT pool [0-9]+ was deleted" \
    "cached index, fail-fast"
expect_match "$(cat "$D/cached")" "blocking ENOENT (no pool|pool [0-9]+ was)" \
    "cached index, blocking"

say "its index is not reused while the hold is out, across a restart too"
stop_broker
start_broker -c "$CONF"
expect_eq "$(pools)" "default filed kept" "pool list after restart"
ctl pool set newer --limit 1 >/dev/null || fail "pool set newer"
newer_index=$(pool_col newer 2)
[ "$newer_index" != "$busy_index" ] ||
    fail "pool newer took index $busy_index of the deleted pool, held"
hold h2 newer hold 0 -1
admitted h2
say "the late release succeeds and leaves the new pool's count alone"
let_go h1
expect_eq "$(pool_col newer 8)" 1 "newer held after the late release"
out=$("$BIN/tests/cbhold" "$NAME" newer hold 0 0 2>&1)
expect_match "$out" "^EAGAIN " "newer still full after the late release"
let_go h2

say "once nothing holds it, the index is free: a new pool starts at 0"
wait_until 10 freed busy "$busy_index" || fail "index $busy_index never freed"
ctl pool set reused --limit 2 >/dev/null || fail "pool set reused"
expect_eq "$(pool_col reused 2)" "$busy_index" "reused index"
expect_eq "$(pool_col reused 5) $(pool_col reused 8) $(pool_col reused 9)" \
    "2 0 0" "reused: limit, held, launching"
hold h3 reused hold 0 -1
admitted h3
hold h4 reused hold 0 -1
admitted h4
out=$("$BIN/tests/cbhold" "$NAME" reused hold 0 0 2>&1)
expect_match "$out" "^EAGAIN " "reused refuses beyond its limit"
let_go h3
let_go h4

say "forced with a launch out: its ticket goes stale, the index is freed"
ctl pool set l --limit 2 >/dev/null || fail "pool set l"
l_index=$(pool_col l 2)
t=$(ctl launch --pool l) || fail "launch in l"
out=$(ctl pool del l 2>&1)
expect_eq "$?" 1 "pool del l, one launch"
expect_match "$out" "0 holds, 1 launch, 0 waiters" "refusal names the launch"
ctl pool del l --force >/dev/null || fail "pool del l --force"
wait_until 10 freed l "$l_index" || fail "index $l_index never freed"
out=$(ctl release "$t" 2>&1)
expect_eq "$?" 1 "release of the deleted pool's launch"
expect_match "$out" "already released, reclaimed or expired" "stale launch"

say "forced: a queued waiter is sent out with ENOENT"
ctl pool set q --limit 1 >/dev/null || fail "pool set q"
hold h5 q hold 0 -1
admitted h5
hold w1 q hold 60000 0
wait_until 10 yields 1 dump_waiting q || fail "w1 never queued"
out=$(ctl pool del q 2>&1)
expect_eq "$?" 1 "pool del q, one queued"
expect_match "$out" "1 hold, 0 launches, 1 waiter" "refusal names the waiter"
ctl pool del q --force >/dev/null || fail "pool del q --force"
wait_for w1 '^E[A-Z]+ ' 30 || fail "w1 still waiting"
expect_match "$(cat "$D/w1")" "^ENOENT " "waiter's error"
let_go h5

say "forced: a picker blocked with no timeout is woken with ENOENT"
# Without the wake it slept until a unit was freed in a pool that no
# longer exists: for ever, holding the index.
ctl worker set pw --state ready --max-running 5 >/dev/null ||
    fail "worker set pw"
ctl pool set pk --limit 1 >/dev/null || fail "pool set pk"
"$BIN/tests/cbpick" "$NAME" hold pk spread >"$D/pk1" 2>&1 &
PIDS="$PIDS $!"
wait_for pk1 '^picked ' 10 || fail "first pick: $(cat "$D/pk1")"
"$BIN/tests/cbpick" "$NAME" hold pk spread -1 >"$D/pk2" 2>&1 &
PIDS="$PIDS $!"
wait_until 10 sh -c "\"$BIN/capdump\" -n \"$NAME\" --json | grep -q '\"name\":\"pk\"[^}]*\"pickers\":1'" ||
    fail "the second picker never blocked: $(cat "$D/pk2")"
ctl pool del pk --force >/dev/null || fail "pool del pk --force"
wait_for pk2 '^E[A-Z]+' 10 || fail "the blocked picker still waits"
expect_eq "$(cat "$D/pk2")" ENOENT "the blocked picker's error"

say "reload: a pool whose line is gone is deleted; capctl's pools stay"
ctl pool set runtime --limit 5 >/dev/null || fail "pool set runtime"
printf 'pool kept limit=2\n' >"$CONF"
hup
grep -q "SIGHUP: reloaded" "$LOG" || fail "reload failed"
grep -q "pool filed (index [0-9]*) no longer in the file: deleted" "$LOG" ||
    fail "deletion by reload not logged"
expect_eq "$(pools)" "default kept reused newer runtime" "pools after reload"

say "reload: a pool in use whose line is gone fails the reload"
hold h6 kept hold 0 -1
admitted h6
: >"$CONF"
hup
grep -q "pool kept is no longer in the file but is in use: 1 hold, 0 launches, 0 waiters.*keeping the running configuration" "$LOG" ||
    fail "busy pool did not fail the reload"
expect_eq "$(pools)" "default kept reused newer runtime" "pools after failed reload"
let_go h6
hup
expect_eq "$(pools)" "default reused newer runtime" "pools after the next reload"
say "and after a restart with it gone from the file"
stop_broker
start_broker -c "$CONF"
expect_eq "$(pools)" "default reused newer runtime" "pools after restart"
