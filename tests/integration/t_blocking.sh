# Blocking reservations: a blocked reserver is woken by a release, a
# limit raise, for timeout -1 too; it sleeps (no busy loop); timeouts
# end it with ETIMEDOUT, timeout 0 with EAGAIN and a retry-after hint;
# shrinking a limit never revokes live holds.
. "$(dirname "$0")/lib.sh"

D=$CAPBROKER_RUNDIR

# hold FILE POOL KIND TIMEOUT_MS HOLD_MS: cbhold in the background,
# output in $D/FILE, pid in $LAST (and PIDS).
hold() {
	f=$1
	shift
	"$BIN/tests/cbhold" "$NAME" "$@" >"$D/$f" 2>&1 &
	LAST=$!
	PIDS="$PIDS $LAST"
	eval "pid_$f=$LAST"
}

# admit FILE POOL: a holder that holds until SIGUSR1; wait until admitted.
admit() {
	hold "$1" "$2" hold 0 -1
	wait_for "$1" '^(ok|E[A-Z]+) ' 10 || fail "$1: no answer"
	grep -q '^ok ' "$D/$1" || fail "$1: not admitted: $(cat "$D/$1")"
}

# A reserver must still be blocked: nothing but "waiting" in its output.
still_blocked() {
	expect_eq "$(cat "$D/$1")" "waiting" "$1 still blocked ($2)"
	kill -0 "$(pid_of "$1")" 2>/dev/null || fail "$1 exited while blocked"
}

elapsed() {	# FILE: the ELAPSED_MS of its result line
	sed -n 's/^[A-Za-z]* \([0-9]*\).*/\1/p' "$D/$1" | head -n 1
}

info() {	# POOL FIELD
	"$BIN/tests/cbburst" "$NAME" info "$1" | tr ' ' '\n' |
	    sed -n "s/^$2=//p"
}

cpu_ticks() {	# PID: utime + stime
	awk '{ print $14 + $15 }' "/proc/$1/stat"
}

start_broker
ctl pool set one --limit 1 >/dev/null || fail "pool set one"

say "a reserver blocked (timeout 10 s) is woken by a release and admitted"
admit h1 one
hold w1 one hold 10000 -1
wait_for w1 '^waiting' 10 || fail "w1 did not start"
sleep 1.2
still_blocked w1 "the pool is full"
say "while blocked it sleeps: CPU time stays small (no busy loop)"
ticks=$(cpu_ticks "$(pid_of w1)")
[ "$ticks" -lt 50 ] || fail "blocked reserver used $ticks ticks in ~1.2 s"
echo "      CPU ticks used by the blocked reserver: $ticks"
let_go h1
wait_for w1 '^(ok|E[A-Z]+) ' 5 || fail "w1 not woken within 5 s of the release"
expect_match "$(cat "$D/w1")" "^ok " "w1 admitted"
e=$(elapsed w1)
[ "$e" -ge 1000 ] && [ "$e" -lt 9000 ] ||
    fail "w1 admitted after $e ms: expected after the release (>= 1.2 s)" \
        "and well before its 10 s timeout"
echo "      admitted $e ms after it started waiting"

say "two blocked reservers, one release: exactly one is admitted"
hold w2a one hold 10000 -1
hold w2b one hold 10000 -1
wait_for w2a '^waiting' 10 && wait_for w2b '^waiting' 10 ||
    fail "waiters did not start"
sleep 0.5
still_blocked w2a "w1 holds the only unit"
still_blocked w2b "w1 holds the only unit"
let_go w1
wait_until 5 grep -qs '^ok ' "$D/w2a" "$D/w2b" ||
    fail "neither waiter woken within 5 s of the release"
sleep 0.5
if grep -q '^ok ' "$D/w2a"; then first=w2a second=w2b; else first=w2b second=w2a; fi
still_blocked "$second" "$first was admitted to the only unit"
expect_eq "$(info one held)" 1 "held with one waiter admitted"
let_go "$first"
wait_for "$second" '^(ok|E[A-Z]+) ' 5 ||
    fail "$second not woken within 5 s of the second release"
expect_match "$(cat "$D/$second")" "^ok " "$second admitted"

say "a hold ticket can be released only by its own handle"
t=$(sed -n 's/^ok .*ticket=//p' "$D/$second")
out=$("$BIN/tests/cbburst" "$NAME" release "$t")
expect_eq "$out" "EINVAL" "another process releasing a hold"
expect_eq "$(info one held)" 1 "the hold is still counted"

say "timeout 300 ms over the limit: ETIMEDOUT, not before ~300 ms"
out=$("$BIN/tests/cbhold" "$NAME" one hold 300 0)
expect_eq "$?" 1 "exit status"
expect_match "$out" "^ETIMEDOUT [0-9]+ " "result"
e=$(printf '%s\n' "$out" | sed -n 's/^ETIMEDOUT \([0-9]*\).*/\1/p')
[ "$e" -ge 295 ] && [ "$e" -lt 5000 ] ||
    fail "ETIMEDOUT after $e ms, expected ~300 ms (295..5000)"
echo "      ETIMEDOUT after $e ms"

say "timeout 0 over the limit: EAGAIN at once, retry-after set"
out=$("$BIN/tests/cbhold" "$NAME" one hold 0 0)
expect_eq "$?" 1 "exit status"
expect_match "$out" "^EAGAIN [0-9]+ retry=[1-9][0-9]*$" "result"
e=$(printf '%s\n' "$out" | sed -n 's/^EAGAIN \([0-9]*\).*/\1/p')
[ "$e" -lt 1000 ] || fail "EAGAIN took $e ms, expected at once"
echo "      $(printf '%s\n' "$out" | grep '^EAGAIN')"

say "raising the limit wakes a blocked reserver"
hold w3 one hold 10000 -1
wait_for w3 '^waiting' 10 || fail "w3 did not start"
sleep 0.5
still_blocked w3 "limit 1, held 1"
ctl pool set one --limit 5 >/dev/null || fail "pool set --limit 5"
wait_for w3 '^(ok|E[A-Z]+) ' 5 || fail "w3 not woken within 5 s of the raise"
expect_match "$(cat "$D/w3")" "^ok " "w3 admitted"
expect_eq "$(info one held):$(info one limit)" "2:5" "held and limit"
let_go w3
let_go "$second"
expect_eq "$(info one held)" 0 "pool one empty"

say "a reserver blocked with timeout -1 is woken by a release"
ctl pool set inf --limit 1 >/dev/null || fail "pool set inf"
admit h4 inf
hold w4 inf hold -1 -1
wait_for w4 '^waiting' 10 || fail "w4 did not start"
sleep 0.5
still_blocked w4 "the pool is full"
let_go h4
wait_for w4 '^(ok|E[A-Z]+) ' 5 || fail "w4 not woken within 5 s of the release"
expect_match "$(cat "$D/w4")" "^ok " "w4 admitted"
let_go w4

say "a blocked launch is woken by a released launch"
ctl pool set lw --limit 1 --window 60 >/dev/null || fail "pool set lw"
out=$("$BIN/tests/cbburst" "$NAME" launch lw 0 1)
expect_match "$out" "^ok " "first launch"
lt=${out#ok }
hold w5 lw launch 10000 0
wait_for w5 '^waiting' 10 || fail "w5 did not start"
sleep 0.5
still_blocked w5 "one launch live"
expect_eq "$("$BIN/tests/cbburst" "$NAME" release "$lt")" ok "release launch"
wait_for w5 '^(ok|E[A-Z]+) ' 5 || fail "w5 not woken within 5 s of the release"
expect_match "$(cat "$D/w5")" "^ok " "w5 admitted"
wait_for w5 '^released ' 5 || fail "w5 did not release"
expect_eq "$(sed -n 's/^released //p' "$D/w5")" ok "w5 release"

say "limit shrink 3 -> 1 with 3 holds: nothing revoked, nothing new admitted"
ctl pool set shrink --limit 3 >/dev/null || fail "pool set shrink"
admit s1 shrink
admit s2 shrink
admit s3 shrink
expect_eq "$(info shrink held)" 3 "three holds"
ctl pool set shrink --limit 1 >/dev/null || fail "pool set --limit 1"
expect_eq "$(info shrink limit):$(info shrink held)" "1:3" \
    "limit 1, the three holds kept"
out=$("$BIN/tests/cbhold" "$NAME" shrink hold 0 0)
expect_match "$out" "^EAGAIN " "new reserve at usage 3 > limit 1"
let_go s1
let_go s2
expect_eq "$(info shrink held)" 1 "one hold left"
out=$("$BIN/tests/cbhold" "$NAME" shrink hold 0 0)
expect_match "$out" "^EAGAIN " "new reserve at usage 1 = limit 1"
let_go s3
expect_eq "$(info shrink held)" 0 "no holds left"
out=$("$BIN/tests/cbhold" "$NAME" shrink hold 0 0)
expect_eq "$?" 0 "exit status"
expect_match "$out" "^ok " "admitted once usage < limit"
expect_match "$out" "released ok" "released"
expect_eq "$(info shrink held)" 0 "pool shrink empty"

kill -0 "$BROKER" 2>/dev/null || fail "broker died"
