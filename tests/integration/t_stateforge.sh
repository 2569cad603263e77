# The state segment's region table is read by validation only (issue
# 12, step 7).  Its header is the broker's to write, but one stray write
# by the broker's uid (this test runs as it) to a region offset used to
# make every attached client and the broker itself fault, and a region
# moved inside the segment was followed without a word.  Now: a client
# attached before the write keeps reading the right records; new
# clients and capdump are refused with what is wrong; the broker keeps
# publishing and, after its next publication, has put the table back,
# so new clients attach again.  Nothing here waits on timing: the
# reader acts on SIGUSR1, and a publication is acknowledged (capctl
# returns) only after the table is restored.
. "$(dirname "$0")/lib.sh"

D=$CAPBROKER_RUNDIR
forge() {
	"$BIN/tests/cbstateforge" "$NAME" "$1" || fail "cbstateforge $1"
}

# read_round FILE K: let reader FILE do round K; its line must show
# pool p (index 1, limit 3) held and released, and worker w1 picked and
# released.
read_round() {
	kill -USR1 "$(pid_of "$1")"
	wait_for "$1" "^round $2 " 10 ||
	    fail "$1: no round $2 (it died?): $(cat "$D/$1")"
	expect_eq "$(sed -n "s/^round $2 //p" "$D/$1")" \
	    "pool=1 limit=3 hold=ok release=ok pick=ok:w1 unpick=ok" \
	    "$1: round $2, through the forged table"
}

# reader FILE ROUNDS: a client attached now (pool p found), reading
# on each SIGUSR1.
reader() {
	"$BIN/tests/cbstateforge" "$NAME" read p "$2" >"$D/$1" 2>&1 &
	PIDS="$PIDS $!"
	eval "pid_$1=$!"
	wait_for "$1" '^attached pool=1$' 10 || fail "$1: $(cat "$D/$1")"
}

# refused WHAT PATTERN: a new client (cb_open: -EPROTO, exit 81) and
# capdump (exit 2) refuse the segment, saying PATTERN.
refused() {
	out=$(probe current)
	expect_eq "$?" 81 "$1: a new client must be refused (-EPROTO)"
	expect_match "$out" "$2" "$1: the client's message"
	out=$("$BIN/capdump" -n "$NAME" 2>&1)
	expect_eq "$?" 2 "$1: capdump must refuse to attach"
	expect_match "$out" "$2" "$1: capdump's message"
}

# restored WHAT: a publication (acknowledged once the publisher has put
# the table back) from a broker that is still alive; then new clients
# and capdump attach again.
restored() {
	ctl worker set "w-$1" --state not_ready >/dev/null ||
	    fail "$1: the broker did not publish"
	kill -0 "$BROKER" 2>/dev/null || fail "$1: the broker died"
	grep -q "capbroker.$NAME.state: its header was overwritten.*region table restored" \
	    "$LOG" || fail "$1: the restoration was not logged"
	expect_eq "$(probe current | cut -d' ' -f1,2)" "4 reported" \
	    "$1: a new client after the restoration"
	out=$("$BIN/capdump" -n "$NAME" --json) ||
	    fail "$1: capdump after the restoration: $out"
	expect_match "$out" '"name":"p","index":1,"kind":"fixed","limit":3' \
	    "$1: capdump's pool p"
}

start_broker
ctl worker set w1 --state ready --max-running 4 >/dev/null || fail "w1"
ctl pool set p --limit 3 >/dev/null || fail "pool p"
reader r1 3
read_round r1 1

say "every region offset 2^40 bytes out, the event count 0"
forge far
read_round r1 2
refused far "region 0: .* past the segment end"
restored far
: >"$LOG"

say "the pools region moved onto the event ring (aligned, in bounds)"
reader r2 1
forge moved
read_round r1 3
read_round r2 1
refused moved "state region 4 at offset [0-9]+ stride 128, this build has it at"
restored moved
for r in r1 r2; do
	wait "$(pid_of $r)"
	expect_eq "$?" 0 "$r: exit status"
done
