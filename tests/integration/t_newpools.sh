# Pools created while the broker's sweeper is mid-pass keep their first
# reservations.  The sweeper frees launch, waiter and bind entries that
# name a pool it does not know as garbage; a pool created after it read
# the pool table, and used at once, once had its first bind freed under
# the client (the release then failed as stale and its pool hold stayed
# counted).  Every pool here is used the moment it exists, a launch and
# a bound hold across several sweeps, and each release must succeed
# with nothing repaired.  (Sanitizer builds, whose sweeps are slow, lost
# about one pool in fifteen this way.)
. "$(dirname "$0")/lib.sh"

D=$CAPBROKER_RUNDIR
POOLS=40

start_broker
ctl worker set w1 --state ready --max-running 1000 >/dev/null || fail "w1"

say "$POOLS pools, each used as soon as it is created"
: >"$D/err"
for i in $(seq 1 $POOLS); do
	ctl pool set "p$i" --limit 5 >/dev/null || fail "pool set p$i"
	ctl run --pool "p$i" --pick consolidate -- sleep 0.15 \
	    2>>"$D/err" &
	run=$!
	PIDS="$PIDS $run"
	t=$(ctl launch --pool "p$i" --observed 0 2>>"$D/err") ||
	    fail "launch in p$i refused: $(cat "$D/err")"
	sleep 0.15
	ctl release "$t" >/dev/null 2>>"$D/err" ||
	    fail "launch release in p$i: $(cat "$D/err")"
	wait $run || fail "run in p$i: $(cat "$D/err")"
done
[ -s "$D/err" ] && fail "errors: $(cat "$D/err")"
say "every release succeeded; no entry was taken for garbage"
grep -q 'garbage' "$LOG" && fail "the sweeper freed live entries"
say "every pool is back to nothing held or launching"
ctl pool list >"$D/pools" || fail "pool list"
for i in $(seq 1 $POOLS); do
	row=$(awk -v p="p$i" '$1 == p { print $8, $9 }' "$D/pools")
	expect_eq "$row" "0 0" "p$i held and launching"
done
