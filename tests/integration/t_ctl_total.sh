# Replies queued for every peer together are bounded (broker/control.c,
# "output": OUT_TOTAL_MAX, 16 MiB): while connections that never read
# hold that much, a non-admin peer's listing (WORKER LIST, POOL LIST,
# STATUS) is refused with EAGAIN instead of queuing more, while an admin
# peer's listing and anyone's PING are answered; once those connections
# are gone, listings are answered again.  Four uids of 250 connections
# each send 12 WORKER LIST (~74 KB a reply, 1,024 workers) and never
# read: each stops being read with part of a reply queued (what the
# socket did not take: ~33 KB on average measured, 16.8 MB for 500
# connections), ~33 MB in all.
. "$(dirname "$0")/lib.sh"

ctl_peers_or_skip

ctl_workers_1024 "$D/workers.conf"
start_broker -c "$D/workers.conf"
chmod 0777 "$CAPBROKER_RUNDIR"
chmod 0666 "$SOCK"
expect_eq "$(ctl worker list | grep -c "^$id63")" 1024 "workers registered"

# A non-admin peer's listing: "ok" with the workers, or the error.
peer_list() {
	out=$(as_uid 65000 "$BIN/capctl" -n "$NAME" worker list 2>&1)
	if [ $? -eq 0 ]; then
		echo "ok $(printf '%s\n' "$out" | grep -c "^$id63")"
	else
		printf '%s\n' "$out" | tail -1
	fi
}
expect_eq "$(peer_list)" "ok 1024" "a non-admin listing before"

say "1,000 connections of four uids send 12 WORKER LIST each and never read"
UIDS="65534 65533 65532 65531"
PEERS=
# (A slow broker, under a sanitizer, may leave a few of them out of a
# full backlog for the 2 s cbconns retries: what counts is that they
# bring the total to the bound, checked below.)
for u in $UIDS; do
	ctl_attack "attack.$u" "$u" 250 -l 'WORKER LIST' -r 12
	n=$(sed -n '1s/^connected \([0-9]*\) .*/\1/p' "$D/attack.$u")
	[ "${n:-0}" -ge 200 ] || fail "attack $u: $(head -1 "$D/attack.$u")"
done

say "  a non-admin listing is refused with EAGAIN, nothing queued for it"
refused() {
	case $(peer_list) in
	*"reply buffers are full"*) return 0 ;;
	esac
	return 1
}
wait_until 10 refused || fail "a non-admin listing: $(peer_list)"
say "  ($(peer_list))"
# The attackers' own listings are refused too once the total is
# reached, so it stays there: 16 MiB plus the reply that crossed it and
# the short refusals (1,000 x 12 lines of ~100 bytes), under 18 MiB,
# where up to a reply per connection (74 MB) could queue without it.
queued=$(peer_list | sed -n 's/.*(\([0-9]*\) bytes queued.*/\1/p')
[ -n "$queued" ] && [ "$queued" -ge 16777216 ] &&
    [ "$queued" -le 18874368 ] ||
    fail "queued for peers that do not read: '$queued' bytes"
out=$(as_uid 65000 "$BIN/capctl" -n "$NAME" pool list 2>&1) &&
    fail "a non-admin POOL LIST was answered: $out"
expect_match "$out" "reply buffers are full" "a non-admin POOL LIST"
say "  an admin's listing and a non-admin PING are answered"
expect_eq "$(ctl worker list | grep -c "^$id63")" 1024 "an admin's listing"
as_uid 65000 "$BIN/capctl" -n "$NAME" ping >/dev/null 2>&1 ||
    fail "a non-admin PING was not answered"
ctl_pings "during the attack"

say "the connections gone, a non-admin listing is answered again"
kill $PEERS
wait_until 10 yields "ok 1024" peer_list ||
    fail "a non-admin listing after: $(peer_list)"
