# A client entry is watched on one connection at most (issue 13, item
# 7): registered connections are exempt from the idle timeout and the
# per-uid cap, so they must be bounded by the client table.  A second
# HELLO for an entry whose connection is open gets EBUSY; before, one
# process could register its entry on any number of connections, each
# kept for ever.
. "$(dirname "$0")/lib.sh"

start_broker
say "a handle's entry, said HELLO for again on 3 more connections"
out=$("$BIN/tests/cbhello" "$NAME" 3) || fail "cbhello: $out"
expect_eq "$(printf '%s\n' "$out" | grep -c '^ERR EBUSY client entry [0-9]* already said HELLO')" 3 \
    "second HELLOs refused: $out"
say "the handle's own registration stands; nothing is left after it"
wait_until 10 yields 0 sh -c "\"$BIN/capctl\" -n \"$NAME\" status | sed -n 's/^registered: *//p'" ||
    fail "registered after the handle closed: $(ctl status | grep registered)"
ctl ping >/dev/null || fail "ping"
