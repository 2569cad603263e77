# Launch reservations: the fleet-burst regression (a cold-start burst
# from many processes never overshoots the pool's limit), release frees
# a slot at once, expiry frees it after the visibility window, stale
# releases are refused, and observed units count against the limit.
. "$(dirname "$0")/lib.sh"

burst() {
	"$BIN/tests/cbburst" "$NAME" "$@"
}

# The tickets ("ok TICKET" lines) of a cbburst launch output.
tickets() {
	printf '%s\n' "$1" | sed -n 's/^ok //p'
}

admitted() {
	printf '%s\n' "$1" | grep -c '^ok '
}

# info POOL FIELD: one field of "cbburst info".
info() {
	burst info "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"
}

start_broker
ctl pool set burst --limit 5 --window 10 >/dev/null || fail "pool set burst"
expect_match "$(ctl pool list)" "burst" "pool list shows the new pool"
expect_eq "$(info burst limit):$(info burst window)" "5:10000" \
    "limit and window a client reads"

say "fleet burst: 50 processes launch at the same instant, 200 rounds," \
    "limit 5, fleet list blind: exactly 5 admitted every round"
out=$(burst burst burst 50 200 5)
st=$?
printf '%s\n' "$out" | sed 's/^/      /'
expect_eq "$st" 0 "burst rounds"
expect_match "$out" "^rounds 200 procs 50 admitted 1000 refused 9000 " \
    "burst totals"
expect_eq "$(info burst held):$(info burst launching)" "0:0" \
    "pool empty after the burst"

ctl pool set longwin --limit 5 --window 60 >/dev/null ||
    fail "pool set longwin"

say "a launch survives the process that took it"
out=$(burst launch longwin 0 5)
expect_eq "$(admitted "$out")" 5 "five launches admitted"
set -- $(tickets "$out")
expect_eq "$(info longwin launching)" 5 "launching after the launcher exited"

say "over the limit: EAGAIN with a retry-after hint within the window"
out=$(burst launch longwin 0 1)
expect_match "$out" "^EAGAIN retry=[0-9]+$" "sixth launch refused"
retry=${out#EAGAIN retry=}
[ "$retry" -gt 0 ] && [ "$retry" -le 61000 ] ||
    fail "retry_after $retry ms, expected 1..61000 (earliest deadline)"

say "a released launch frees its slot at once (released by another process)"
expect_eq "$(burst release "$1")" "ok" "release of launch 1"
expect_eq "$(info longwin launching)" 4 "launching after one release"
out=$(burst launch longwin 0 1)
expect_eq "$(admitted "$out")" 1 "a new launch right after the release"
sixth=$(tickets "$out")

say "a second release of the same ticket is ESTALE and frees nothing"
expect_eq "$(burst release "$1")" "ESTALE" "double release"
expect_eq "$(info longwin launching)" 5 "launching unchanged by it"
expect_match "$(burst release not-a-ticket)" "^EINVAL$" "garbage ticket"

say "forged tickets (entry index out of range; a live entry with a wrong" \
    "nonce) are refused (EINVAL or ESTALE) and free nothing"
a=$(printf '%s\n' "$2" | cut -d- -f2)
b=$(printf '%s\n' "$2" | cut -d- -f3)
low=$(printf '%s\n' "$a" | cut -c9-16)
expect_match "$(burst release "cb1-ffffffff$low-$b")" "^(EINVAL|ESTALE)$" \
    "entry index 0xffffffff"
top=$(printf '%s\n' "$b" | cut -c1)
rest=$(printf '%s\n' "$b" | cut -c2-16)
[ "$top" = f ] && other=e || other=f
expect_match "$(burst release "cb1-$a-$other$rest")" "^(EINVAL|ESTALE)$" \
    "a wrong nonce"
expect_eq "$(info longwin launching)" 5 "launching unchanged by forgeries"

shift
out=$(burst release "$@" "$sixth")
expect_eq "$(printf '%s\n' "$out" | sort -u)" "ok" "releasing the rest"
expect_eq "$(info longwin held):$(info longwin launching)" "0:0" \
    "pool empty again"

say "an expired launch frees its slot after the window (1 s), and" \
    "releasing it afterwards is ESTALE"
ctl pool set short --limit 5 --window 1 >/dev/null || fail "pool set short"
out=$(burst expiry short 5 1000)
st=$?
printf '%s\n' "$out" | sed 's/^/      /'
expect_eq "$st" 0 "expiry"

say "observed units count: limit 5, caller observes 3 -> 2 admitted"
ctl pool set obs --limit 5 --window 60 >/dev/null || fail "pool set obs"
out=$(burst launch obs 3 5)
expect_eq "$(admitted "$out")" 2 "admitted with observed 3"
expect_eq "$(printf '%s\n' "$out" | sed -n '3,5p' | cut -d' ' -f1 | sort -u)" \
    "EAGAIN" "the rest refused"
expect_eq "$(burst release $(tickets "$out") | sort -u)" "ok" "release them"

say "the pool's published observation counts: --observed 4 -> 1 admitted" \
    "to a caller that observes 0 (and to one that observes 2)"
ctl pool set obs --observed 4 >/dev/null || fail "pool set --observed"
expect_eq "$(info obs observed)" 4 "observation a client reads"
out=$(burst launch obs 0 5)
expect_eq "$(admitted "$out")" 1 "admitted with published observed 4"
t1=$(tickets "$out")
out=$(burst launch obs 2 1)
expect_match "$out" "^EAGAIN retry=" "full at 4 observed + 1 launching"
expect_eq "$(burst release "$t1")" "ok" "release it"
out=$(burst launch obs 2 3)
expect_eq "$(admitted "$out")" 1 "max(published 4, caller 2) -> 1"
expect_eq "$(burst release $(tickets "$out"))" "ok" "release it"

say "observation at or over the limit admits nothing; clearing it admits 5"
out=$(burst launch obs 6 1)
expect_match "$out" "^EAGAIN retry=[1-9]" "caller observes 6 > limit 5"
ctl pool set obs --observed 5 >/dev/null || fail "pool set --observed 5"
out=$(burst launch obs 0 1)
expect_match "$out" "^EAGAIN retry=[1-9]" "published 5 = limit"
ctl pool set obs --observed 0 >/dev/null || fail "pool set --observed 0"
out=$(burst launch obs 0 6)
expect_eq "$(admitted "$out")" 5 "observation cleared"
expect_eq "$(burst release $(tickets "$out") | sort -u)" "ok" "release them"
expect_eq "$(info obs held):$(info obs launching)" "0:0" "pool empty at the end"

say "the broker is still healthy"
kill -0 "$BROKER" 2>/dev/null || fail "broker died"
ctl ping >/dev/null || fail "broker stopped answering"
