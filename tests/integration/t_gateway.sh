# The gateway example (examples/gateway) under real concurrent HTTP
# clients (curl): pre-forked workers admit every request through one
# shared pool and place it with cb_pick_worker, so the requests in
# flight at the backends, summed over every gateway process, never
# exceed the pool's limit (nor one backend's max_running); over the
# limit the answer is 429 with a Retry-After; a gateway worker killed
# with -9 mid-request leaks no pool hold and no backend slot.
. "$(dirname "$0")/lib.sh"

D=$CAPBROKER_RUNDIR
GW=$BIN/examples/gateway
FB=$BIN/examples/fakebackend
LIMIT=5
PER_BACKEND=3

command -v curl >/dev/null 2>&1 || fail "curl not found (make deps)"
[ -x "$GW" ] && [ -x "$FB" ] || fail "$GW or $FB not built"

# wait_line FILE PATTERN: until a line of $D/FILE matches (10 s).
wait_line() {
	wait_for "$1" "$2" 10 ||
	    fail "no '$2' in $D/$1: $(cat "$D/$1" 2>/dev/null)"
}

# pool_held: the pool's holds as capdump reads them.
pool_held() {
	"$BIN/capdump" -n "$NAME" --prometheus |
	    sed -n "s/^capbroker_pool_held{broker=\"$NAME\",pool=\"gw\"} //p"
}

reclaimed() {
	"$BIN/capdump" -n "$NAME" --prometheus |
	    sed -n "s/^capbroker_reclaimed_total{broker=\"$NAME\",pool=\"gw\"} //p"
}

# inflight: "ID N" per backend, as the broker counts them.
inflight() {
	"$BIN/tests/cbinflight" "$NAME" $BACKENDS
}

# idle: pool holds and every backend slot at 0.
idle() {
	[ "$(pool_held)" = 0 ] && ! inflight | grep -qv ' 0$'
}

# until_idle: idle within 10 s.
until_idle() {
	wait_until 10 idle ||
	    fail "not idle: pool held $(pool_held); $(inflight | tr '\n' ' ')"
}

stat_of() {	# KEY [PORT]: a number from the backend's /stats
	s=$(curl -s "http://127.0.0.1:$FIRST_PORT/stats") || fail "/stats"
	if [ $# -eq 1 ]; then
		printf '%s\n' "$s" | sed -n "s/^$1 //p"
	else
		printf '%s\n' "$s" | sed -n "s/^port $2 .*$1 \([0-9]*\).*/\1/p"
	fi
}

start_broker

say "three backends (max_running $PER_BACKEND each), pool gw limit $LIMIT"
"$FB" -d 300 0 0 0 >"$D/fb.out" 2>&1 &
PIDS="$PIDS $!"
wait_line fb.out '^ready$'
PORTS=$(sed -n 's/^listening 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$D/fb.out")
FIRST_PORT=$(printf '%s\n' "$PORTS" | head -n 1)
BACKENDS=""
for p in $PORTS; do
	ctl worker set "127.0.0.1:$p" --state ready --max-running $PER_BACKEND \
	    >/dev/null || fail "worker set"
	BACKENDS="$BACKENDS 127.0.0.1:$p"
done
ctl pool set gw --limit $LIMIT >/dev/null || fail "pool set"

say "gateway: 4 pre-forked workers x 16 threads"
"$GW" -n "$NAME" -p gw -l 127.0.0.1:0 -w 4 -t 16 >"$D/gw.out" 2>"$D/gw.err" &
GWPID=$!
PIDS="$PIDS $GWPID"
wait_line gw.out '^listening '
URL="http://$(sed -n 's/^listening //p' "$D/gw.out")"

say "one request is proxied to a backend"
body=$(curl -s -w ' %{http_code}' "$URL/hello?delay=0") || fail "curl"
expect_match "$body" "^backend 127\.0\.0\.1:[0-9]+ /hello\?delay=0
 200$" "proxied answer"
until_idle

# burst N BOUND: N concurrent curl clients; the backends (all, and each
# one) and capdump's samples of the pool must never see more than BOUND
# (each backend: PER_BACKEND) in flight; every answer is 200 or a 429
# with Retry-After in whole seconds >= 1.
burst() {
	curl -s "http://127.0.0.1:$FIRST_PORT/reset" >/dev/null
	rm -f "$D"/h.* "$D/stop"
	: >"$D/samples"
	(
		while [ ! -e "$D/stop" ]; do
			pool_held >>"$D/samples"
		done
	) &
	SAMPLER=$!
	PIDS="$PIDS $SAMPLER"
	seq 1 "$1" | xargs -P "$1" -I{} curl -s -o /dev/null -D "$D/h.{}" \
	    -w '%{http_code}\n' "$URL/burst/{}" >"$D/codes"
	touch "$D/stop"
	wait $SAMPLER
	ok=$(grep -c '^200$' "$D/codes")
	busy=$(grep -c '^429$' "$D/codes")
	other=$(grep -cv '^\(200\|429\)$' "$D/codes")
	say "$ok answered, $busy refused with 429"
	expect_eq "$other" 0 "answers other than 200 and 429"
	[ "$ok" -ge "$2" ] || fail "only $ok requests served"
	[ "$busy" -gt 0 ] || fail "no 429 at $1 concurrent requests, bound $2"
	max=$(stat_of max)
	say "the backends saw at most $max at once (bound $2)"
	[ "$max" -le "$2" ] || fail "backends saw $max in flight, bound $2"
	[ "$max" -ge 2 ] || fail "backends saw only $max in flight: no concurrency"
	expect_eq "$(stat_of total)" "$ok" "requests at the backends"
	for p in $PORTS; do
		m=$(stat_of max "$p")
		[ "$m" -le $PER_BACKEND ] ||
		    fail "backend $p saw $m at once, max_running $PER_BACKEND"
	done
	high=$(sort -n "$D/samples" | tail -n 1)
	say "capdump: $(wc -l <"$D/samples") samples of pool held, highest $high"
	[ -n "$high" ] && [ "$high" -le "$2" ] ||
	    fail "capdump saw pool held '$high' (bound $2)"
	for h in "$D"/h.*; do
		head -n 1 "$h" | grep -q ' 429 ' || continue
		ra=$(tr -d '\r' <"$h" | sed -n 's/^Retry-After: //p')
		expect_match "$ra" '^[1-9][0-9]*$' "Retry-After of $(basename "$h")"
	done
	until_idle
}

say "120 concurrent clients, pool limit $LIMIT: never more in flight"
burst 120 $LIMIT

say "pool limit 100: the backends' max_running (3 x $PER_BACKEND) binds"
ctl pool set gw --limit 100 >/dev/null || fail "pool set"
burst 120 $((3 * PER_BACKEND))
ctl pool set gw --limit $LIMIT >/dev/null || fail "pool set"

say "kill -9 of a gateway worker mid-request leaks nothing"
before=$(reclaimed)
for i in 1 2 3 4; do
	curl -s -o /dev/null "$URL/slow/$i?delay=3000" &
	PIDS="$PIDS $!"
done
wait_until 10 yields 4 pool_held ||
    fail "slow requests not admitted: held $(pool_held)"
sum=$(inflight | awk '{ n += $2 } END { print n }')
expect_eq "$sum" 4 "backend slots bound to the slow requests"
sum=$("$BIN/capdump" -n "$NAME" --prometheus |
    awk -F'} ' '/^capbroker_worker_inflight\{/ { n += $2 } END { print n }')
expect_eq "$sum" 4 "capdump: capbroker_worker_inflight summed"
# The gateway worker holding the most; its count from the client table.
victim=$("$BIN/capdump" -n "$NAME" --json | grep -o '"pid":[0-9]*,"held":[1-9][0-9]*' |
    sed 's/"pid":\([0-9]*\),"held":\([0-9]*\)/\2 \1/' | sort -n | tail -n 1)
held=${victim% *}
victim=${victim#* }
[ -n "$victim" ] || fail "no gateway worker holds anything"
ps -o ppid= -p "$victim" | grep -qw "$GWPID" ||
    fail "pid $victim holding is not a gateway worker"
kill -9 "$victim"
say "killed worker $victim holding $held"
until_idle
expect_eq "$(reclaimed)" $((before + held)) "holds reclaimed from the killed worker"
wait_line gw.err "worker $victim killed by signal 9; restarting"

say "the restarted gateway serves again"
wait_until 5 yields 200 curl -s -o /dev/null -w '%{http_code}' \
    "$URL/again?delay=0" || fail "no 200 after the restart"
until_idle

say "SIGTERM stops the gateway and its workers"
kill -TERM "$GWPID"
wait "$GWPID"
expect_eq "$?" 0 "gateway exit status"
