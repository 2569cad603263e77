# Hostile control-socket input gets an error reply and never crashes or
# blocks the broker; admin verbs need the broker's uid or root.
. "$(dirname "$0")/lib.sh"

SOCK="$CAPBROKER_RUNDIR/$NAME.sock"
send() {
	"$BIN/tests/cbsend" "$@" "$SOCK"
}

start_broker

say "well-formed requests on one connection are answered in order"
out=$(printf 'PING\nSTATUS\nWORKER LIST\n' | send)
expect_match "$(echo "$out" | head -1)" "^OK 0 pong$" "first reply"
expect_eq "$(echo "$out" | grep -c '^OK')" 3 "three replies"

say "malformed lines get ERR replies with reasons"
out=$(printf 'bogus\nWORKER\nWORKER SET x\nWORKER SET bad/id ready\nWORKER SET w ready 70000\nOVERRIDE 1e3\n\n' | send)
expect_eq "$(echo "$out" | grep -c '^ERR EINVAL ')" 7 "seven EINVAL replies"

say "an over-long line gets E2BIG and the connection is closed"
long=$(head -c 600 /dev/zero | tr '\0' 'A')
out=$(printf '%s\nPING\n' "$long" | send)
expect_match "$out" "^ERR E2BIG" "E2BIG"
echo "$out" | grep -q pong && fail "connection kept after an over-long line"

say "NUL bytes and binary garbage are refused"
out=$(printf 'PI\000NG\n' | send)
expect_match "$out" "^ERR EINVAL" "NUL byte"
head -c 65536 /dev/urandom | send >/dev/null
ctl ping >/dev/null || fail "broker died on garbage"

say "many idle connections do not block others"
out=$(printf 'PING\n' | send -c 300)
expect_match "$out" "pong" "ping with 300 idle connections open"

say "a peer that never reads its replies is dropped, not waited for"
yes 'WORKER LIST' | head -n 200000 | "$BIN/tests/cbsend" "$SOCK" >/dev/null &
sleep 1
ctl ping >/dev/null || fail "broker blocked by a non-reading peer"

say "admin verbs need the broker's uid or root (SO_PEERCRED)"
if command -v setpriv >/dev/null && [ "$(id -u)" -eq 0 ]; then
	chmod 0777 "$CAPBROKER_RUNDIR"
	chmod 0666 "$SOCK"
	out=$(setpriv --reuid=65534 --regid=65534 --clear-groups \
	    "$BIN/capctl" -n "$NAME" override 5 2>&1)
	expect_eq "$?" 1 "unprivileged override exit status"
	expect_match "$out" "may not change" "EPERM message"
	out=$(setpriv --reuid=65534 --regid=65534 --clear-groups \
	    "$BIN/capctl" -n "$NAME" status 2>&1) ||
	    fail "unprivileged status refused: $out"
else
	say "(skipped: needs root and setpriv)"
fi
expect_eq "$(probe current | cut -d' ' -f1,2)" "1024 fallback" "state untouched"
