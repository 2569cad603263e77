# A slots segment grown by a client neither locks new clients out nor
# goes unnoticed (issue 12: "growing it silently blocks every new
# client").  `truncate -s +4096` on the slots file (mode 0660: any member
# of its group may) used to make every cb_open fail with -EPROTO
# ("header says N bytes, segment is N+4096"), capctl run exit 1, the
# broker say nothing, and a restarted broker refuse the segment.  Now a
# larger file is accepted and mapped for what its header says (nothing
# is located past that), even one too large to map whole, and the
# broker trims it back within a heartbeat and logs it; a broker that
# starts on a grown file adopts it, trims it and says so.
. "$(dirname "$0")/lib.sh"

SLOTS="/dev/shm/capbroker.$NAME.slots"

size() {
	stat -c %s "$SLOTS"
}

start_broker
want=$(size)

say "grown while the broker runs: new clients work, the broker trims it"
truncate -s +4096 "$SLOTS" || fail "truncate"
out=$(probe current) || fail "a new client on a grown segment: $out"
out=$(ctl run -- true 2>&1) || fail "capctl run on a grown segment: $out"
wait_until 5 grep -q "grown by a member of its group.*trimming it back" \
    "$LOG" || fail "the broker did not say it"
wait_until 5 yields "$want" size || fail "not trimmed: $(size) bytes"

say "grown past what a process can map (200 TiB, sparse): the same"
truncate -s +200T "$SLOTS" || fail "truncate"
out=$(probe current) || fail "a new client on a 200 TiB segment: $out"
wait_until 5 yields "$want" size || fail "not trimmed: $(size) bytes"

say "grown while the broker is down: the next broker adopts and trims it"
stop_broker
expect_eq "$STATUS" 0 "broker exit status"
truncate -s +8192 "$SLOTS" || fail "truncate"
: >"$LOG"
start_broker
grep -q "ready: adopted" "$LOG" || fail "not adopted"
grep -q "grown by a member of its group" "$LOG" || fail "not logged"
expect_eq "$(size)" "$want" "size after the restart"
out=$(probe current) || fail "a new client after the restart: $out"
