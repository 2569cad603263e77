# Restart is lossless, under load.  A fleet of clients (cbload.c) holds
# units for the whole run, loops reserve/release, and keeps launch
# tickets; the broker is SIGKILLed while the loops run.  While it is
# down clients keep the last capacity and keep reserving (a new client
# can even attach and reserve), and probes report it gone.  The
# restarted broker adopts the segments (epoch 2) and loses nothing:
# every pool counter equals what the live clients' own bookkeeping says
# they hold, each client's entry still records its holds, launches keep
# their entries and deadlines (a short-window launch expires at its
# original deadline, not a window after the restart), long-lived
# holders release with 0, and the units of a client killed while the
# broker was down, and of one killed after the restart (found by the
# new broker's scan: its HELLO went to the old broker), are reclaimed.
# A validator samples the pools the whole time: never over the limit.
. "$(dirname "$0")/lib.sh"

MAP="$CAPBROKER_RUNDIR/load.map"
OUT="$CAPBROKER_RUNDIR/load.out"
HP_LIMIT=8
LP_LIMIT=5
QP_WINDOW=5

# cbload VERB MAP ARG: print its output indented; fail with WHAT.
loadc() {	# WHAT VERB [ARG]
	what=$1
	shift
	out=$("$BIN/tests/cbload" "$NAME" "$1" "$MAP" ${2+"$2"} 2>&1)
	st=$?
	printf '%s\n' "$out" | sed 's/^/      /'
	[ $st -eq 0 ] || fail "$what (cbload $1 ${2-}: exit $st)"
	LAST=$out
}

# A field "key=value" of the last check line.
field() {
	printf '%s\n' "$LAST" | tr ' ' '\n' | sed -n "s/^$1=//p"
}

# POOL LIST row of pool $1: "HELD LAUNCHING".
pool_row() {
	ctl pool list | awk -v p="$1" '$1 == p { print $8, $9 }'
}

start_broker
ctl worker set w1 --state ready --max-running 40 >/dev/null || fail "worker set"
ctl pool set hp --limit "$HP_LIMIT" >/dev/null || fail "pool set hp"
ctl pool set lp --limit "$LP_LIMIT" --window 30 >/dev/null || fail "pool set lp"
ctl pool set qp --limit 2 --window "$QP_WINDOW" >/dev/null || fail "pool set qp"
before=$(probe current)
expect_eq "$before" "40 reported 2" "capacity before"

say "a fleet: 4 long-lived holders (6 holds), 4 hold loopers, a launch" \
    "looper, 3 saved launches, a validator sampling throughout"
"$BIN/tests/cbload" "$NAME" run "$MAP" hp lp qp >"$OUT" 2>&1 &
FLEET=$!
PIDS="$PIDS $FLEET"
i=0
until grep -q '^ready$' "$OUT" 2>/dev/null; do
	i=$((i + 1))
	kill -0 "$FLEET" 2>/dev/null || { cat "$OUT" >&2; fail "fleet exited"; }
	[ $i -lt 200 ] || { cat "$OUT" >&2; fail "fleet not ready in 10 s"; }
	sleep 0.05
done
sleep 0.5
loadc "pause before the kill" cmd pause
loadc "counts before the kill" check 2000
held0=$(field held)
launching0=$(field launching)
expect_eq "$(pool_row hp | cut -d' ' -f1)" "$held0" "capctl pool list: hp held"
expect_eq "$(pool_row lp | cut -d' ' -f2)" "$launching0" \
    "capctl pool list: lp launching"
loadc "resume" cmd resume
loadc "a launch in qp (window ${QP_WINDOW}s) just before the kill" cmd qlaunch

say "kill -9 the broker while the loops run"
sleep 0.2
kill -9 "$BROKER"
wait "$BROKER" 2>/dev/null

say "broker down: the last capacity, probes say gone, capdump exit 1"
expect_eq "$(probe current)" "$before" "capacity while down"
out=$(probe check)
expect_eq "$?" 1 "probe check exit status while down"
expect_match "$out" "gone" "probe check message"
json=$("$BIN/capdump" -n "$NAME" --json 2>/dev/null)
expect_eq "$?" 1 "capdump exit status while down"
expect_match "$json" '"stale":true' "capdump --json stale"

say "broker down: the loops go on reserving and releasing"
loadc "loop progress while down" progress 1000
say "broker down: a new client attaches, holds and launches"
loadc "newcomer while down" cmd newcomer
expect_match "$LAST" "broker down" "newcomer saw the broker down"
say "broker down: kill -9 a holder and a looper (reclaimed after the restart)"
loadc "kill victim-down" kill victim-down
victim_down=$LAST
loadc "kill looper-1" kill looper-1
loadc "loop progress while down, after the kills" progress 500
sleep 1   # down long enough that a fresh launch window would show

say "restart: same name, same run directory"
start_broker
expect_match "$(grep 'ready:' "$LOG" | tail -n 1)" "ready: adopted" \
    "the new broker adopted the segments"
expect_match "$(ctl status)" "epoch: *2" "epoch bumped"
expect_eq "$(probe check)" "alive" "alive again"
after=$(probe current)
expect_eq "$(echo "$after" | cut -d' ' -f1,2)" "40 reported" \
    "capacity after the restart"
[ "$(echo "$after" | cut -d' ' -f3)" -gt 2 ] ||
    fail "generation did not move on: $before -> $after"
expect_match "$(ctl worker list)" "w1 +ready +40" "worker kept"
expect_match "$(ctl pool list)" "hp +[0-9]+ +fixed +$HP_LIMIT +$HP_LIMIT +60 " \
    "pool hp kept"
expect_match "$(ctl pool list)" "lp +[0-9]+ +fixed +$LP_LIMIT +$LP_LIMIT +30 " \
    "pool lp kept"

say "nothing lost: counters = the live clients' bookkeeping; the dead" \
    "clients' units reclaimed; launch entries and deadlines unchanged"
loadc "pause after the restart" cmd pause
loadc "counts after the restart" check 3000
expect_match "$(cat "$LOG")" \
    "client pid $victim_down \\(entry [0-9]+\\) (is gone|died): reclaimed 1 hold$" \
    "reclaim of the client killed while the broker was down"
# holder-0 2, holder-1 1, victim-after 2, newcomer 1, plus the loopers'
[ "$(field held)" -ge 6 ] || fail "hp held $(field held), expected >= 6"

say "a client killed after the restart is reclaimed at once (found by scan)"
loadc "kill victim-after" kill victim-after
victim_after=$LAST
loadc "counts after killing victim-after" check 2000
expect_match "$(cat "$LOG")" \
    "client pid $victim_after \\(entry [0-9]+\\) died: reclaimed 2 holds$" \
    "reclaim of the client killed after the restart (pidfd watch)"
loadc "resume after the restart" cmd resume
sleep 1

say "the long-lived holders release their tickets: 0, not ESTALE"
loadc "release of the long-lived holds" cmd release
loadc "pause after the releases" cmd pause
loadc "counts after the releases" check 2000
loadc "resume" cmd resume

say "the saved launch tickets release from another process: 0"
loadc "release of the saved launches" release-launches

say "the launch taken before the kill expired at its original deadline"
loadc "qp launch expiry" expiry $((QP_WINDOW * 1000 + 20000))

say "stop the fleet: the validator never saw a pool over its limit"
loadc "stop" cmd stop
wait "$FLEET"
st=$?
sed 's/^/      /' "$OUT"
[ $st -eq 0 ] || fail "cbload fleet exited $st"
expect_eq "$(pool_row hp)" "0 0" "hp empty at the end"
expect_eq "$(pool_row lp)" "0 0" "lp empty at the end"
expect_eq "$(pool_row qp)" "0 0" "qp empty at the end"
kill -0 "$BROKER" 2>/dev/null || fail "the restarted broker died"
! grep -q 'fatal' "$LOG" || fail "fatal line in the broker log"
say "broker log: $(grep -c 'reclaimed' "$LOG") reclaim lines," \
    "$(grep -c 'drift repaired' "$LOG") drift repairs"
