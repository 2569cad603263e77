# Fair waiting (lib/queue.h) with real processes: on a pool of one unit,
# waiters of priorities 0, 0, 5, 0, 5 arriving in that order are served
# 5, 5, 0, 0, 0, in arrival order within a priority; every waiter reads
# its position (cb_queue_position) and capdump shows the same queue; a
# waiter killed -9 in the middle is skipped, one that times out is
# pruned, and the priority-0 waiters are all served once the high ones
# are gone.  Arrivals are sequenced (each waiter starts once the one
# before it is queued), so the order is fully determined.
. "$(dirname "$0")/lib.sh"

D=$CAPBROKER_RUNDIR

# hold FILE POOL: a cbhold holder (holds until SIGUSR1), admitted.
hold() {
	"$BIN/tests/cbhold" "$NAME" "$2" hold 0 -1 >"$D/$1" 2>&1 &
	PIDS="$PIDS $!"
	eval "pid_$1=$!"
	wait_for "$1" '^(ok|E[A-Z]+) ' 10 || fail "$1: no answer"
	grep -q '^ok ' "$D/$1" || fail "$1: not admitted: $(cat "$D/$1")"
}

# queue LABEL POOL PRIORITY TIMEOUT_MS: a waiter, started once it is
# queued; its grants go to $D/grants.POOL.
queue() {
	"$BIN/tests/cbqueue" "$NAME" "$2" "$3" "$4" "$1" "$D/grants.$2" \
	    >"$D/$1" 2>&1 &
	PIDS="$PIDS $!"
	eval "pid_$1=$!"
	wait_for "$1" '^(queued|E[A-Z]+) ' 10 || fail "$1: did not start"
	grep -q '^queued ' "$D/$1" || fail "$1: not queued: $(cat "$D/$1")"
}

# The last position a waiter reported.
pos() {
	sed -n 's/^queued pos=\([0-9]*\)$/\1/p; s/^pos \([0-9-]*\)$/\1/p' \
	    "$D/$1" | tail -n 1
}

# expect_pos LABEL N: its reported position becomes N within 5 s.
expect_pos() {
	wait_until 5 yields "$2" pos "$1" ||
	    fail "$1: position $(pos "$1"), expected $2"
}

grants() {	# POOL: the order of service so far, one line
	tr '\n' ' ' 2>/dev/null <"$D/grants.$1" | sed 's/ $//'
}

# expect_grants POOL "A B ...": within 5 s, and stays so for 0.3 s.
expect_grants() {
	wait_until 5 yields "$2" grants "$1" ||
	    fail "grants in $1: '$(grants "$1")'," "expected '$2'"
	sleep 0.3
	expect_eq "$(grants "$1")" "$2" "grants in $1 (no one else)"
}

json_waiters() {	# POOL: "position:priority" of its waiters, in order
	"$BIN/capdump" -n "$NAME" --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
pool = sys.argv[1]
print(" ".join("%d:%d" % (w["position"], w["priority"])
    for w in d["waiters"] if w["pool"] == pool))
n = [p["waiting"] for p in d["pools"] if p["name"] == pool]
print(n[0] if n else "none")' "$1"
}

start_broker
ctl pool set fq --limit 1 >/dev/null || fail "pool set fq"

say "limit 1, held; waiters of priorities 0 0 5 0 5 arrive in order"
hold h1 fq
queue a fq 0 -1
expect_pos a 0
queue b fq 0 -1
expect_pos b 1
queue c fq 5 -1
expect_pos c 0
queue d fq 0 -1
expect_pos d 3
queue e fq 5 -1
expect_pos e 1

say "positions: c 0, e 1, a 2, b 3, d 4 (the others moved back)"
expect_pos a 2
expect_pos b 3
expect_pos c 0
expect_pos d 4
expect_pos e 1
out=$(json_waiters fq)
expect_eq "$(echo "$out" | head -n 1)" "0:5 1:5 2:0 3:0 4:0" \
    "capdump --json waiters of fq"
expect_eq "$(echo "$out" | tail -n 1)" 5 "capdump --json pools[].waiting"
"$BIN/capdump" -n "$NAME" | grep -q '^WAITERS (5)' ||
    fail "capdump: no WAITERS (5) section"

say "fail-fast over the limit with waiters queued: EAGAIN + retry-after"
out=$("$BIN/tests/cbhold" "$NAME" fq hold 0 0)
expect_match "$out" "^EAGAIN [0-9]+ retry=[1-9][0-9]*$" "fail-fast"

say "the holder releases: served 5, 5, 0, 0, 0, FIFO within a priority"
let_go h1
expect_grants fq "c"
expect_pos e 0
expect_pos a 1
expect_pos b 2
expect_pos d 3
let_go c
expect_grants fq "c e"
let_go e
expect_grants fq "c e a"
expect_pos b 0
expect_pos d 1
let_go a
expect_grants fq "c e a b"
let_go b
expect_grants fq "c e a b d"
let_go d
expect_eq "$(json_waiters fq | tail -n 1)" 0 "fq queue empty"

say "a waiter killed -9 in the middle is skipped; one that times out is pruned"
ctl pool set fk --limit 1 >/dev/null || fail "pool set fk"
hold h2 fk
queue f fk 0 -1
queue g fk 0 -1
queue k fk 0 -1
queue t fk 0 3000
queue m fk 0 -1
expect_pos m 4
kill -9 "$(pid_of g)"
wait "$(pid_of g)" 2>/dev/null
expect_pos k 1
expect_pos t 2
expect_pos m 3
wait_for t '^ETIMEDOUT ' 5 || fail "t did not time out: $(cat "$D/t")"
expect_pos m 2
expect_pos k 1
expect_eq "$(json_waiters fk | head -n 1)" "0:0 1:0 2:0" \
    "capdump: f k m queued, g and t gone"
let_go h2
expect_grants fk "f"
let_go f
expect_grants fk "f k"
let_go k
expect_grants fk "f k m"
let_go m

say "the head killed -9 while a unit is free: the next one is served"
ctl pool set fh --limit 1 >/dev/null || fail "pool set fh"
hold h3 fh
queue n fh 9 -1
queue o fh 0 -1
kill -STOP "$(pid_of n)"
let_go h3
sleep 0.3
expect_eq "$(grants fh)" "" "nobody passes a stopped head"
kill -9 "$(pid_of n)"
expect_grants fh "o"
let_go o

say "the broker survived, pools are empty, the queues are empty"
kill -0 "$BROKER" 2>/dev/null || fail "broker died"
for p in fq fk fh; do
	expect_eq "$(json_waiters "$p" | tail -n 1)" 0 "$p: no waiters"
done
list=$(ctl pool list) || fail "pool list"
empty=' +[0-9]+ +fixed +1 +1 +[0-9]+ +[0-9]+ +0 +0 +local +-$'
for p in fq fk fh; do
	expect_match "$list" "^$p$empty" "pool $p empty"
done
