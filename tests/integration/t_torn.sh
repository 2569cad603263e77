# No reader ever sees a (capacity, source) pair that was never
# published, while the broker flips between known pairs.
. "$(dirname "$0")/lib.sh"

READERS=4
SECS=3
PAIRS="200:reported,300:override,1024:fallback"

start_broker
ctl worker set w1 --state ready --max-running 200 >/dev/null

i=0
while [ $i -lt $READERS ]; do
	"$BIN/tests/cbprobe" "$NAME" hammer $SECS "$PAIRS" >"$CAPBROKER_RUNDIR/r$i" 2>&1 &
	PIDS="$PIDS $!"
	eval "reader$i=$!"
	i=$((i + 1))
done

flips=0
end=$(($(date +%s) + SECS))
while [ "$(date +%s)" -lt $end ]; do
	ctl override 300 >/dev/null || fail "override 300"
	ctl override 0 >/dev/null || fail "override 0"
	ctl worker set w1 --state not_ready --max-running 200 >/dev/null
	ctl worker set w1 --state ready --max-running 200 >/dev/null
	flips=$((flips + 4))
done

i=0
while [ $i -lt $READERS ]; do
	eval "pid=\$reader$i"
	wait "$pid" || fail "reader $i saw a torn or unpublished state: $(cat "$CAPBROKER_RUNDIR/r$i")"
	gens=$(sed -n 's/.*generations \([0-9]*\).*/\1/p' "$CAPBROKER_RUNDIR/r$i")
	[ "${gens:-0}" -ge 3 ] || fail "reader $i saw only ${gens:-0} generations (no flips observed)"
	i=$((i + 1))
done
say "$READERS readers, $flips published flips: $(cat "$CAPBROKER_RUNDIR/r0")"
