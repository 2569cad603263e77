# Incompatible or corrupt segments are refused with a message that says
# what differs: by clients (-EPROTO), capdump (exit 2) and the broker
# (unless --replace).
. "$(dirname "$0")/lib.sh"

forge() {
	"$BIN/tests/cbforge" "$NAME" "$1" || fail "cbforge $1"
}

unforge() {
	rm_segments
}

for case in "abi-major:ABI 2\.[0-9]+, this build speaks 1\.[0-9]+" \
    "magic:bad magic" "endian:endian marker" \
    "size:header says [0-9]+ bytes, segment is" \
    "region:region 2: .* past the segment end" \
    "abi-1.0:ABI 1.0 segment has 4 regions"; do
	mode=${case%%:*}
	want=${case#*:}
	say "$mode: refused by clients, capdump and the broker"
	forge "$mode"
	out=$(probe current)
	expect_eq "$?" 81 "$mode: cb_open must fail with -EPROTO"
	expect_match "$out" "$want" "$mode: client message"
	out=$("$BIN/capdump" -n "$NAME" 2>&1)
	expect_eq "$?" 2 "$mode: capdump exit status"
	expect_match "$out" "$want" "$mode: capdump message"
	"$BIN/capbrokerd" -n "$NAME" >"$CAPBROKER_RUNDIR/refused" 2>&1 &&
	    fail "$mode: broker started on a bad segment"
	expect_match "$(cat "$CAPBROKER_RUNDIR/refused")" \
	    "refusing to touch it.*--replace" "$mode: broker message"
	unforge
done

say "--replace retires the bad segment and serves a new one"
forge abi-major
start_broker --replace
expect_eq "$(probe current | cut -d' ' -f1,2)" "1024 fallback" "replaced"
grep -q "incompatible /capbroker.$NAME.state" "$LOG" || fail "not logged"
stop_broker

say "a segment whose creation never finished is replaced without --replace"
unforge
forge uninitialised
start_broker
expect_eq "$(probe current | cut -d' ' -f1,2)" "1024 fallback" "recreated"
