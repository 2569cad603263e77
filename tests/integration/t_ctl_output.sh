# Replies nobody reads are not amplified (issue 13, item 8): with 1,024
# workers registered, 250 connections that each send 12 WORKER LIST
# lines and never read must not grow the broker by a queued reply per
# line (the unbounded code queued ~0.7 MB per connection: ~200 MB);
# `capctl ping` answers throughout, and a connection whose replies make
# no progress for 10 s is cut.
. "$(dirname "$0")/lib.sh"

SOCK="$CAPBROKER_RUNDIR/$NAME.sock"
D="$CAPBROKER_RUNDIR"
CONNS=250      # under the per-uid cap (t_ctl_idle.sh)

rss_kb() {
	sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$BROKER/status"
}
fds() {
	ls "/proc/$BROKER/fd" | wc -l
}
# as_peer CMD...: run CMD as a non-admin uid when we can (root and
# setpriv), else as ourselves (an admin peer: the per-connection mark
# still bounds it).
as_peer() {
	if [ -n "$PEER" ]; then
		as_uid 65534 "$@"
	else
		"$@"
	fi
}
PEER=
if command -v setpriv >/dev/null && [ "$(id -u)" -eq 0 ]; then
	PEER=65534
fi

ctl_workers_1024 "$D/workers.conf"
start_broker -c "$D/workers.conf"
if [ -n "$PEER" ]; then
	chmod 0777 "$CAPBROKER_RUNDIR"
	chmod 0666 "$SOCK"
fi
expect_eq "$(ctl worker list | grep -c "^$id63")" 1024 "workers registered"

ctl_pings "before the attack"
rss0=$(rss_kb)
fd0=$(fds)
say "before: VmRSS ${rss0} kB, $fd0 fds"

say "$CONNS connections send 12 WORKER LIST each and never read"
as_peer "$BIN/tests/cbconns" -n $CONNS -l 'WORKER LIST' -r 12 "$SOCK" \
    >"$D/attack.out" 2>&1 &
ATTACK=$!
PIDS="$PIDS $ATTACK"
wait_for attack.out '^connected ' 30 || fail "attack did not start"
out=$(head -1 "$D/attack.out")
expect_eq "$out" "connected $CONNS refused 0 answered $CONNS" "attack"
ctl_pings "during the attack"
rss1=$(rss_kb)
say "during: VmRSS ${rss1} kB, $(fds) fds"
grow=$((rss1 - rss0))
# A sanitizer's allocator keeps freed memory (ASan's quarantine) and
# multiplies what is live (TSan's shadow): its RSS says nothing here.
if nm -D "$BIN/capbrokerd" 2>/dev/null | grep -q '__[at]san_init'; then
	say "  (sanitizer build: VmRSS not bounded)"
else
	[ $grow -lt 65536 ] ||
	    fail "VmRSS grew by $grow kB (>= 64 MB) for replies nobody reads"
fi

say "replies that do not drain for 10 s: their connections are cut"
all_cut() {	# (those whose replies fit the socket: cut as idle)
	[ "$(tail -1 "$D/attack.out")" = "open 0" ]
}
wait_until 40 all_cut || fail "stalled connections not cut: $(tail -1 "$D/attack.out")"
wait_until 10 grep -Eq "control: cut [0-9]+ connections after 10 s: .* [1-9][0-9]* replies not drained" "$LOG" ||
    fail "cut not logged"
wait "$ATTACK"
wait_until 10 yields "$fd0" fds || fail "fds: $(fds), $fd0 before"
ctl_pings "after the attack"
say "after: VmRSS $(rss_kb) kB, $(fds) fds"
