# Out of file descriptors, the broker backs off instead of spinning
# (issue 13, item 6).  A broker limited to 64 descriptors is filled by
# 80 busy connections of a non-admin uid: accept4() fails with EMFILE,
# and the level-triggered listener used to spin the main loop, logging
# every failure (a million lines a second) while `capctl ping` waited
# in the backlog forever.  Now the listener is not watched until a
# descriptor frees, the shortage is logged once when it starts and once
# with a count when it ends, a reserved descriptor still serves root's
# `capctl ping` and sheds the others, and capdump shows the pressure.
. "$(dirname "$0")/lib.sh"

ctl_peers_or_skip

fds() {
	ls "/proc/$BROKER/fd" | wc -l
}
pings() {	# WHEN: the broker answers a ping within a generous 10 s
	timeout 10 "$BIN/capctl" -n "$NAME" ping >/dev/null 2>&1 ||
	    fail "capctl ping got no answer $1"
}
lines() {
	wc -l <"$LOG"
}
json() {
	"$BIN/capdump" -n "$NAME" --json
}

say "a broker with 64 descriptors (hard limit: it cannot raise it)"
# The subshell execs the broker: $! is the broker's pid.
(ulimit -n 64 && exec "$BIN/capbrokerd" -n "$NAME") >>"$LOG" 2>&1 &
BROKER=$!
PIDS="$PIDS $BROKER"
wait_until 10 ctl ping >/dev/null 2>&1 || fail "broker did not come up"
grep -q "control: file descriptor limit 64$" "$LOG" || fail "limit not logged"
chmod 0777 "$CAPBROKER_RUNDIR"
chmod 0666 "$SOCK"
fd0=$(fds)
say "  ($fd0 fds open)"

say "80 busy connections of uid 65534 exhaust them"
setpriv --reuid=65534 --regid=65534 --clear-groups \
    "$BIN/tests/cbconns" -n 80 -k 1000 "$SOCK" >"$D/attack" 2>&1 &
ATTACK=$!
PIDS="$PIDS $ATTACK"
wait_for attack '^connected ' 30 || fail "attack did not start"
wait_until 10 grep -q "Too many open files" "$LOG" || fail "no EMFILE seen"
l0=$(lines)
pings "out of descriptors (root, on the reserved one)"
pings "out of descriptors, again"
# The shortage goes on; the log must not.  (The old loop logged an
# accept failure on every turn: thousands of lines by now.)
l1=$(lines)
[ $((l1 - l0)) -le 3 ] || fail "$((l1 - l0)) log lines while out of descriptors"
grep -q "control: out of file descriptors (Too many open files, limit 64): accepting only as they free" "$LOG" ||
    fail "shortage not logged"
# What waited in the backlog beyond the limit was shed (closed at once).
shed() {
	n=$(tail -1 "$D/attack" | sed -n 's/^open //p')
	[ -n "$n" ] && [ "$n" -lt 80 ]
}
wait_until 10 shed || fail "nothing shed: $(tail -1 "$D/attack")"
control_is() {
	json | grep -Eq "\"control\":\{$WANT"
}
control() {	# PATTERN: capdump --json's control object matches, soon
	WANT=$1
	wait_until 5 control_is
}
control '"fds":6[4-9],"fd_limit":64,"connections":[0-9]+,"refused":[1-9]' ||
    fail "capdump: $(json | grep -o '"control":{[^}]*}')"
say "  (capdump: $(json | grep -o '"control":{[^}]*}'))"
out=$("$BIN/capdump" -n "$NAME" --prometheus)
expect_match "$out" "capbroker_fd_limit\{broker=\"$NAME\"\} 64" "prometheus fd limit"

say "descriptors free again: logged once, with the count"
kill "$ATTACK"
wait_until 10 yields "$fd0" fds || fail "fds: $(fds), $fd0 before"
wait_until 10 grep -Eq "control: file descriptors free again after [0-9]+ s; [1-9][0-9]* connections? refused meanwhile" "$LOG" ||
    fail "recovery not logged"
pings "after"
control "\"fds\":$fd0,\"fd_limit\":64," ||
    fail "capdump after: $(json | grep -o '"control":{[^}]*}')"

say "the shipped unit's LimitNOFILE fits a full broker: no warning under it"
unit="$(dirname "$0")/../../dist/capbrokerd@.service"
n=$(sed -n 's/^LimitNOFILE=\([0-9]*\)$/\1/p' "$unit")
[ -n "$n" ] || fail "no LimitNOFILE= in $unit"
stop_broker
mark=$(wc -l <"$LOG")
(ulimit -n "$n" && exec "$BIN/capbrokerd" -n "$NAME") >>"$LOG" 2>&1 &
BROKER=$!
PIDS="$PIDS $BROKER"
wait_until 10 ctl ping >/dev/null 2>&1 || fail "broker did not come up"
since=$(tail -n +"$((mark + 1))" "$LOG")
expect_match "$since" "control: file descriptor limit $n\$" "the unit's limit, logged"
printf '%s\n' "$since" | grep -q "raise the limit" &&
    fail "LimitNOFILE=$n is too low for a full broker: $(printf '%s\n' "$since" | grep 'raise the limit')"
true
