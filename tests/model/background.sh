#!/bin/sh
# background.sh start|finish|stop DIR - the model check (run.sh) beside
# the rest of make check.
#
#   start   run tests/model/run.sh in its own process group, at nice 19
#           and one check at a time (MODEL_JOBS, default 1), its output
#           to DIR/model.log and its exit status to DIR/model.rc; a
#           third argument, make's pid: the run is killed if make goes
#           (interrupted) without finish or stop;
#   finish  wait for it, print its output, exit with its status;
#   stop    kill it (make check failed before finish).
#
# spin's searches are CPU-bound and single-threaded (about 8 minutes of
# one CPU), while the integration tests mostly wait on timers and
# sockets: at nice 19 the searches take what the tests leave idle, and
# a test that wants a CPU gets it at once (its weight is 68 times the
# search's), so nothing the tests time is slowed.
set -u
[ $# -ge 2 ] || { echo "usage: sh $0 start|finish|stop DIR [PID]" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd) || exit 2
dir=$2
log=$dir/model.log rc=$dir/model.rc pidf=$dir/model.pid

case $1 in
start)
	mkdir -p "$dir" || exit 2
	rm -f "$log" "$rc" "$pidf"
	MODEL_JOBS=${MODEL_JOBS:-1} setsid sh -c '
		echo $$ >"$3"
		if [ -n "$5" ]; then
			(while kill -0 "$5" 2>/dev/null; do sleep 5; done
			 kill -TERM -$$) &
			watch=$!
		fi
		nice -n 19 sh "$4/run.sh" >"$1" 2>&1
		echo $? >"$2.tmp" && mv "$2.tmp" "$2"
		[ -z "$5" ] || kill "$watch" 2>/dev/null' \
	    sh "$log" "$rc" "$pidf" "$here" "${3:-}" </dev/null >/dev/null 2>&1 &
	echo "model check: started in the background (nice 19; its lines" \
	    "come at the end)"
	;;
finish)
	# Up to 90 minutes: CI's own limit.
	i=0
	while [ ! -f "$rc" ] && [ $i -lt 5400 ]; do
		sleep 1
		i=$((i + 1))
	done
	echo "model check (run in the background since the start):"
	cat "$log" 2>/dev/null
	if [ ! -f "$rc" ]; then
		echo "FAIL the model check did not end"
		sh "$0" stop "$dir"
		exit 1
	fi
	exit "$(cat "$rc")"
	;;
stop)
	[ -f "$pidf" ] && kill -TERM "-$(cat "$pidf")" 2>/dev/null
	exit 0
	;;
*)
	echo "usage: sh $0 start|finish|stop DIR" >&2
	exit 2
	;;
esac
