# The broker under runit: the shipped service directory
# (dist/runit/capbrokerd, run + log/run) run by runsv in this test's
# private directory, never by runsvdir and never in /etc/service.  A
# kill -9 is answered by runsv with a new broker that adopts the
# segment: workers, pools and a live client's hold survive, and the
# holder releases it.  `sv hup` reloads, `sv down` stops cleanly.
# Skipped (exit 0, with a note) when runsv is not installed (Debian
# package runit).
. "$(dirname "$0")/lib.sh"

if ! command -v runsv >/dev/null 2>&1 || ! command -v sv >/dev/null 2>&1 ||
    ! command -v svlogd >/dev/null 2>&1; then
	say "runsv, sv or svlogd not installed (Debian package runit): skipped"
	exit 0
fi

DIST="$(cd "$(dirname "$0")/../.." && pwd)/dist/runit/capbrokerd"
BIN_ABS=$(cd "$BIN" && pwd)
# The directory name names the instance (capbrokerd-NAME).
SV="$CAPBROKER_RUNDIR/sv/capbrokerd-$NAME"
SVLOG="$CAPBROKER_RUNDIR/svlog"
LOG="$SVLOG/current"	# what fail() shows: the broker's stderr, via svlogd
HOLD_OUT="$CAPBROKER_RUNDIR/hold.out"
RUNSV=""

# Stop the service and runsv (also on failure), then lib.sh's cleanup.
runit_stop() {
	if [ -n "$RUNSV" ] && kill -0 "$RUNSV" 2>/dev/null; then
		sv -w 5 down "$SV" >/dev/null 2>&1
		sv exit "$SV" >/dev/null 2>&1
		i=0
		while kill -0 "$RUNSV" 2>/dev/null && [ $i -lt 50 ]; do
			i=$((i + 1))
			sleep 0.1
		done
	fi
	# Whatever survived runsv (it does not kill its children when it
	# is killed itself): the brokers and svlogd this test started.
	for p in $(cat "$CAPBROKER_RUNDIR"/*.pid 2>/dev/null) ${SVLOGD:-}; do
		kill -9 "$p" 2>/dev/null
	done
}
trap 'runit_stop; cleanup' EXIT

# The pid runsv reports for the service ("run: DIR: (pid N) ...").
sv_pid() {
	sv status "$SV" 2>/dev/null | sed -n 's/^run: [^(]*(pid \([0-9]*\)).*/\1/p'
}

broker_pid() {
	ctl status 2>/dev/null | awk '$1 == "pid:" { print $2 }'
}

# Wait until a broker other than $1 answers; its pid in NEWPID.
wait_broker() {	# OLD_PID
	i=0
	while :; do
		NEWPID=$(broker_pid)
		[ -n "$NEWPID" ] && [ "$NEWPID" != "$1" ] && break
		i=$((i + 1))
		[ $i -lt 100 ] || fail "no new broker answered within 10 s" \
		    "(runsv: $(sv status "$SV" 2>&1))"
		sleep 0.1
	done
}

wait_log() {	# PATTERN WHAT
	i=0
	until grep -Eq -- "$1" "$LOG" 2>/dev/null; do
		i=$((i + 1))
		[ $i -lt 100 ] || fail "$2: /$1/ not in the svlogd log"
		sleep 0.1
	done
}

say "the shipped service directory, with ./conf for this test"
mkdir -p "$SV/log" || fail "mkdir $SV"
{ cp "$DIST/run" "$SV/run" && cp "$DIST/log/run" "$SV/log/run"; } ||
    fail "copy $DIST"
# Test-only: runsv runs ./finish with ./run's exit code and wait status.
cat >"$SV/finish" <<EOF
#!/bin/sh
echo "\$1 \$2" >>"$CAPBROKER_RUNDIR/finish.log"
EOF
chmod 755 "$SV/run" "$SV/log/run" "$SV/finish"
cat >"$SV/conf" <<EOF
CAPBROKER_RUNDIR=$CAPBROKER_RUNDIR
CAPBROKERD=$BIN_ABS/capbrokerd
LOGDIR=$SVLOG
EOF
runsv "$SV" >"$CAPBROKER_RUNDIR/runsv.out" 2>&1 &
RUNSV=$!
PIDS="$PIDS $RUNSV"
wait_broker ""
pid1=$NEWPID
expect_eq "$(sv_pid)" "$pid1" "runsv's pid is the broker"
wait_log "ready: created /capbroker\\.$NAME\\.state" "broker stderr reaches svlogd"
SVLOGD=$(sv status "$SV" | sed -n 's/.*; run: log: (pid \([0-9]*\)).*/\1/p')

ctl worker set w1 --state ready --max-running 20 >/dev/null || fail "worker set"
ctl pool set rp --limit 3 --window 60 >/dev/null || fail "pool set"

say "a long-lived client takes a hold"
"$BIN/tests/cbhold" "$NAME" rp hold 0 -1 >"$HOLD_OUT" 2>&1 &
HOLDER=$!
PIDS="$PIDS $HOLDER"
i=0
until grep -q '^ok ' "$HOLD_OUT" 2>/dev/null; do
	i=$((i + 1))
	[ $i -lt 100 ] || fail "hold not taken: $(cat "$HOLD_OUT")"
	sleep 0.05
done
expect_match "$(ctl pool list)" "^rp +[0-9]+ +fixed +3 +3 +60 +0 +1 +0 +local +-$" \
    "pool rp holds 1 before the kill"

say "sv hup reloads (no -c: nothing to reload)"
sv hup "$SV" >/dev/null || fail "sv hup"
wait_log "SIGHUP: no configuration file" "reload logged"
expect_eq "$(broker_pid)" "$pid1" "same broker after sv hup"

say "kill -9: runsv starts a new broker that adopts the segment"
kill -9 "$pid1"
wait_broker "$pid1"
pid2=$NEWPID
expect_eq "$(cat "$CAPBROKER_RUNDIR/finish.log")" "-1 9" \
    "./finish saw the broker killed by signal 9"
expect_eq "$(sv_pid)" "$pid2" "runsv's pid is the new broker"
wait_log "ready: adopted /capbroker\\.$NAME\\.state" "adoption logged"
expect_match "$(ctl status)" "epoch: *2" "epoch 2"
expect_eq "$(probe check)" "alive" "alive again"
expect_match "$(ctl worker list)" "w1 +ready +20" "worker kept"
expect_eq "$(probe current | cut -d' ' -f1,2)" "20 reported" "capacity kept"
expect_match "$(ctl pool list)" "^rp +[0-9]+ +fixed +3 +3 +60 +0 +1 +0 +local +-$" \
    "pool rp and its hold kept"

say "the holder releases its hold: ok"
kill -USR1 "$HOLDER"
wait "$HOLDER"
st=$?
expect_eq "$(tail -n 1 "$HOLD_OUT")" "released ok" "holder's release"
expect_eq "$st" 0 "holder's exit status"
expect_match "$(ctl pool list)" "^rp +[0-9]+ +fixed +3 +3 +60 +0 +0 +0 +local +-$" \
    "pool rp empty"

say "sv down stops it cleanly (SIGTERM, exit 0); runsv does not restart it"
sv -w 5 down "$SV" >/dev/null || fail "sv down: $(sv status "$SV" 2>&1)"
expect_match "$(sv status "$SV")" "^down: " "service down"
wait_log "stopped; segments kept for the next broker" "clean stop logged"
i=0
until [ "$(tail -n 1 "$CAPBROKER_RUNDIR/finish.log")" = "0 0" ]; do
	i=$((i + 1))
	[ $i -lt 50 ] || fail "./finish saw '$(tail -n 1 \
	    "$CAPBROKER_RUNDIR/finish.log")', expected exit status 0"
	sleep 0.1
done
out=$(probe check)
expect_eq "$?:$out" "1:broker stopped" "clients see the broker stopped"
sleep 1.2
expect_match "$(sv status "$SV")" "^down: " "still down a second later"
sv exit "$SV" >/dev/null 2>&1
i=0
while kill -0 "$RUNSV" 2>/dev/null; do
	i=$((i + 1))
	[ $i -lt 50 ] || fail "runsv did not exit after sv exit"
	sleep 0.1
done
wait "$RUNSV" 2>/dev/null
RUNSV=""
