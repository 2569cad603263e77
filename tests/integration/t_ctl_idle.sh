# Idle connections do not lock everyone out (issue 13, item 7): a
# non-admin uid holds at most 256 connections before HELLO, the last 16
# of the 4,096 slots are for admin peers, a connection that does not
# complete a request line within 10 s is cut (an idle one, or one that
# dribbles a line), and a registered client's connection (HELLO: its
# death notice) or an admin's is not cut for being quiet.  Without the limits every
# connection of one uid is kept, and 4,096 of them leave root's
# `capctl ping` unanswered.
. "$(dirname "$0")/lib.sh"

ctl_peers_or_skip

fds() {
	ls "/proc/$BROKER/fd" | wc -l
}
# What the broker's descriptors lead to, for a failure message.
fd_targets() {
	for f in /proc/"$BROKER"/fd/*; do
		readlink "$f"
	done | sed 's/:\[[0-9]*\]$//' | sort | uniq -c | tr '\n' ';'
}
open_is() {	# TAG K: TAG's last report is "open K"
	[ "$(tail -1 "$D/$1")" = "open $2" ]
}

start_broker
chmod 0777 "$CAPBROKER_RUNDIR"
chmod 0666 "$SOCK"
mkdir "$D/peers"
PEERS=
ctl_pings "before"
fd0=$(fds)

say "a registered client (HELLO) is kept however quiet it is"
hold h1 default hold 0 -1
admitted h1
expect_match "$(ctl status)" "registered: +1$" "registered"
fd1=$(fds)
fdt1=$(fd_targets)

# The peers that fill slots keep busy (-k: a PING a second), so that
# only the limits under test, not the idle timeout, decide what stays.
say "one uid: 300 connections, 256 kept before HELLO"
ctl_attack peers/a 65534 300 -k 1000
wait_until 10 open_is peers/a 256 ||
    fail "uid 65534 kept $(tail -1 "$D/peers/a") of 300"
ctl_pings "with uid 65534 at its cap"
out=$(as_uid 65533 "$BIN/capctl" -n "$NAME" status 2>&1) ||
    fail "another uid locked out: $out"
wait_until 10 grep -q "control: refused a connection of uid 65534 pid [0-9]*: too many connections of this uid before HELLO" "$LOG" ||
    fail "refusal not logged"

say "sixteen uids fill every slot but the admins' 16"
i=1
while [ $i -le 15 ]; do
	ctl_attack "peers/x$i" $((65534 - i)) 256 -k 1000
	i=$((i + 1))
done
# 4,096 - 16 (admins) - 1 (h1) - 256 (a) = 3,823 for x1..x15: of their
# 15 * 256 = 3,840, the last 17 are refused.
total() {
	t=0
	for f in "$D"/peers/*; do
		n=$(tail -1 "$f" | sed -n 's/^open //p')
		t=$((t + ${n:-0}))
	done
	echo $t
}
wait_until 20 yields 4079 total ||
    fail "non-admin peers hold $(total) slots, expected 4,079"
out=$(as_uid 65000 "$BIN/capctl" -n "$NAME" status 2>&1) &&
    fail "a seventeenth uid got a slot of the admins' reserve"
ctl_pings "with every non-admin slot taken"
say "  ($(fds) broker fds; root still answered)"
kill $PEERS
wait_until 20 yields "$fd1" fds ||
    fail "fds: $(fds), $fd1 before: now $(fd_targets), before $fdt1"

say "idle connections, and a line dribbled a byte every 500 ms, are cut after 10 s"
# Root's quiet connection first: were it cut, it would go no later.
"$BIN/tests/cbconns" -n 1 "$SOCK" >"$D/root" 2>&1 &
PIDS="$PIDS $!"
ROOT=$!
wait_for root '^connected 1 ' 10 || fail "root's connection"
ctl_attack idle 65534 50
ctl_attack slow 65533 1 -d 500 -l PING
wait_until 30 open_is idle 0 || fail "idle connections not cut ($(tail -1 "$D/idle"))"
wait_until 30 open_is slow 0 || fail "a slow line was not cut"
wait_until 10 grep -Eq "control: cut [0-9]+ connections? after 10 s: [1-9][0-9]* idle, " "$LOG" ||
    fail "idle cut not logged"
wait_until 10 grep -Eq "control: cut [0-9]+ connections? after 10 s: [0-9]+ idle, 1 request line too slow" "$LOG" ||
    fail "slow-line cut not logged"
expect_match "$(ctl status)" "registered: +1$" "registered client kept"
expect_eq "$(fds)" $((fd1 + 1)) "fds: h1's and root's connections kept"
kill "$ROOT"
wait_until 10 yields "$fd1" fds ||
    fail "fds: $(fds), $fd1 before: now $(fd_targets), before $fdt1"
ctl_pings "after"
let_go h1
