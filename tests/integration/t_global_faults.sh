# Global pools (issue 15) when things fail: three etcd members, three
# brokers (h1..h3) sharing pool backend (limit 12, lease TTL 3 s,
# hold_max 6 s), clients hammering all three, and the validator sampling
# every broker's segment throughout: units in use never above 12.
#   4. h3's broker SIGSTOPped for 3x the TTL while its clients keep
#      trying: they stop being admitted before its lease expires (its
#      alive key vanishes); the others take its units only once the
#      quarantine (hold_max) is over; SIGCONT: it rejoins.
#   5. h2's broker kill -9 and restarted within the TTL: it adopts its
#      lease and its share, and its clients are admitted throughout.
#   3. the etcd leader killed: admission goes on; a second member
#      killed (quorum lost): admission stops on every host within the
#      TTL; the member back: admission resumes, and a client blocked in
#      cb_reserve on the expired share is woken.
# Skipped in sanitizer builds (t_global_shares.sh runs there): the
# timings assume an unslowed broker.
. "$(dirname "$0")/lib.sh"

have_etcd || { echo "skipped: /usr/bin/etcd missing (Debian etcd-server)"; exit 0; }
case $BIN in
*-address* | *-thread*)
	echo "skipped in sanitizer builds (timing); t_global_shares.sh runs"
	exit 0 ;;
esac
etcd_start_cluster 3
GB_HOLD_MAX=6
TTL_MS=$((GB_TTL * 1000))

for i in 1 2 3; do
	gb_start $i
done
gb_validate 1 2 3
for i in 1 2 3; do
	gb_hammer $i
done

sum_limits() {	# I...
	_s=0
	for _i in "$@"; do
		_s=$((_s + $(gb_limit "$_i")))
	done
	echo $_s
}
alive_gone() {	# I
	[ -z "$(etcd_get 1 "/capbroker/$GB_CLUSTER/alive/h$1")" ]
}
admits() {	# I: hammer I admits again within SECONDS
	_a=$(gb_admitted "$1")
	wait_until "$2" admitted_more "$1" "$_a"
}
admitted_more() {	# I COUNT
	[ "$(gb_admitted "$1")" -gt "$2" ]
}

wait_until 10 gb_converged 3 5 1 2 3 || fail "no 4/4/4 to start from"

say "4. h3's broker stopped (SIGSTOP) for 3x the TTL"
t_stop=$(mono_ms)
kill -STOP "$GB_PID_3"
wait_until 10 alive_gone 3 || fail "h3's lease did not expire"
t_gone=$(mono_ms)
last=$(gb_last_admit 3)
say "stopped at 0 ms; h3's clients last admitted at $((last - t_stop)) ms; \
its lease gone by $((t_gone - t_stop)) ms"
[ "$last" -lt "$t_gone" ] || fail "h3's clients were admitted after its \
lease expired"
[ "$last" -le $((t_stop + TTL_MS)) ] || fail "h3's clients admitted past \
the TTL after the stop"
wait_until 5 grep -Eq "host h3 is gone: its share [0-9]+ -> 0 \(frozen" \
    "$CAPBROKER_RUNDIR/g1.log" "$CAPBROKER_RUNDIR/g2.log" ||
    fail "h3's share was not frozen"
h3_share=$(cat "$CAPBROKER_RUNDIR/g1.log" "$CAPBROKER_RUNDIR/g2.log" |
    sed -n 's/.*host h3 is gone: its share \([0-9]*\) -> 0 (frozen.*/\1/p' |
    head -n 1)
say "h3's share of $h3_share frozen for hold_max ($GB_HOLD_MAX s)"
sleep $((GB_HOLD_MAX / 2))
s=$(sum_limits 1 2)
say "during the quarantine h1 + h2 = $s"
[ "$s" -le $((12 - h3_share)) ] || fail "h1 + h2 took h3's frozen units \
($s > 12 - $h3_share)"
wait_until $((GB_HOLD_MAX + 5)) gb_converged 5 7 1 2 ||
    fail "h1, h2 did not take h3's units after the quarantine: \
$(gb_limit 1) $(gb_limit 2)"
say "after the quarantine h1 + h2 = $(sum_limits 1 2)"
now=$(mono_ms)
[ $((now - t_stop)) -ge $((3 * TTL_MS)) ] ||
    sleep $(((3 * TTL_MS - (now - t_stop)) / 1000 + 1))
kill -CONT "$GB_PID_3"
wait_until 5 grep -q "is gone (expired): taking a new one" \
    "$CAPBROKER_RUNDIR/g3.log" || gb_fail 3 "h3 did not take a new lease"
wait_until 15 gb_converged 3 5 1 2 3 || fail "h3 did not rejoin: \
$(gb_limit 1) $(gb_limit 2) $(gb_limit 3)"
admits 3 5 || fail "h3's clients not admitted after it rejoined"
say "h3 rejoined: $(gb_limit 1)/$(gb_limit 2)/$(gb_limit 3)"

say "5. h2's broker kill -9, restarted"
lease=$(sed -n 's/.*etcd: lease \([0-9a-f]*\) .*for host h2 .*/\1/p' \
    "$CAPBROKER_RUNDIR/g2.log" | tail -n 1)
before=$(gb_limit 2)
kill -9 "$GB_PID_2"
wait "$GB_PID_2" 2>/dev/null
t_kill=$(mono_ms)
gb_start 2
t_up=$(mono_ms)
grep -q "adopting lease $lease of host h2" "$CAPBROKER_RUNDIR/g2.log" ||
    gb_fail 2 "did not adopt lease $lease"
expect_eq "$(gb_limit 2)" "$before" "h2's local limit across the restart"
admits 2 2 || fail "h2's clients not admitted after the restart"
say "restart took $((t_up - t_kill)) ms; lease $lease and limit $before kept"
grep -q "taking a new one" "$CAPBROKER_RUNDIR/g2.log" &&
    gb_fail 2 "h2 lost its lease over the restart"

say "3. the etcd leader killed"
leader=$(etcd_leader)
[ -n "$leader" ] || fail "no etcd leader"
etcd_kill_member "$leader"
sleep 2
for i in 1 2 3; do
	admits $i 10 || fail "h$i not admitting after the leader died"
done
second=1
[ "$second" -ne "$leader" ] || second=2
say "then m$second too: no quorum"
etcd_kill_member "$second"
t_q=$(mono_ms)
# A leader that lost its quorum keeps renewing leases (a renewal is no
# raft proposal) until it steps down: raft's check-quorum runs once per
# election timeout (1 s here) and steps down when no quorum was heard in
# the last one, so up to two of them after the kill.  Renewals answered
# until then are real ones (no lease can expire without a quorum
# either).  So admission must stop within TTL + 2 s of the kill (plus
# the hammer's 100 ms reports and a little slack).
sleep $((GB_TTL + 3))
for i in 1 2 3; do
	last=$(gb_last_admit $i)
	say "h$i last admitted $((last - t_q)) ms after the quorum was lost"
	[ "$last" -le $((t_q + TTL_MS + 2000 + 300)) ] ||
	    fail "h$i admitted past TTL + 2 election timeouts without a \
quorum"
done
a1=$(gb_admitted 1)
sleep 1
expect_eq "$(gb_admitted 1)" "$a1" "h1 admissions without a quorum"
say "a client of h3 blocks in cb_reserve on the expired share"
gb_hammer_stop 3
w=$CAPBROKER_RUNDIR/waiter.out
"$BIN/tests/cbhold" "$NAME-g3" "$GB_POOL" hold 30000 0 >"$w" 2>&1 &
waiter=$!
PIDS="$PIDS $waiter"
wait_until 5 grep -q '^waiting' "$w" || fail "cbhold did not start: $(cat "$w")"
sleep 0.5
grep -q '^ok' "$w" && fail "admitted on an expired share: $(cat "$w")"
say "m$second back"
etcd_start_member "$second"
t_back=$(mono_ms)
# The share coming back (its limit set again from etcd, its deadline
# renewed) wakes the pool's waiters (the publisher); unwoken, it would
# sleep out its 30 s.
wait_until 25 grep -q '^ok' "$w" ||
    gb_fail 3 "the waiter was not woken when the share came back: $(cat "$w")"
say "the waiter admitted $(($(mono_ms) - t_back)) ms after m$second came back"
wait "$waiter" || fail "cbhold: $(cat "$w")"
gb_hammer 3
for i in 1 2 3; do
	admits $i 20 || fail "h$i not admitting after the quorum came back"
done
say "admitting again: h1 $(gb_limit 1), h2 $(gb_limit 2), h3 $(gb_limit 3)"

for i in 1 2 3; do
	gb_hammer_stop $i
done
gb_validate_end
