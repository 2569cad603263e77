#!/bin/sh
# run.sh MODE DIR SECONDS WORKERS NAME... - run libFuzzer harnesses
# DIR/fuzz_NAME (built by tests/fuzz/fuzz.mk).
#
#   check  each harness SECONDS seconds in one process, all side by side,
#          on a scratch copy of its seed corpus (DIR/check-NAME/,
#          replaced each run);
#   long   each harness SECONDS seconds in WORKERS processes (-jobs
#          -workers), new inputs kept in tests/fuzz/corpus-run-NAME/ so
#          the next long run starts where this one stopped.
#
# Seeds (tests/fuzz/corpus/NAME/) and a dictionary (tests/fuzz/NAME.dict)
# are used when present.  A crash, sanitizer report, invariant abort,
# leak, timeout (-timeout=10) or out-of-memory fails the harness; the
# input that did it is left in DIR/artifacts/NAME/ and the report is
# shown.  One line per harness with the execs libFuzzer counted
# (-print_final_stats=1), then "fuzz: N passed, N failed"; exit status 1
# when anything failed.

if [ $# -lt 5 ]; then
	echo "usage: sh tests/fuzz/run.sh check|long DIR SECONDS WORKERS NAME..." >&2
	exit 2
fi
mode=$1 dir=$2 secs=$3 workers=$4
shift 4
case $mode in check|long) ;; *) echo "run.sh: bad mode '$mode'" >&2; exit 2 ;; esac

top=$(pwd)
case $dir in /*) ;; *) dir=$top/$dir ;; esac
# Stack traces for UBSan too; keep whatever the caller asked for.
UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
export UBSAN_OPTIONS

pass=0 fail=0 total_execs=0 total_crashes=0

# Sum of a final-stats field over the logs given.
stat_sum() {
	field=$1
	shift
	cat "$@" 2>/dev/null | awk -v f="stat::$field:" \
	    '$1 == f { s += $2 } END { printf "%d\n", s }'
}

# fuzz_opts NAME: sets bin, seeds, art (emptied) and opts for fuzzer NAME.
fuzz_opts() {
	bin=$dir/fuzz_$1
	seeds=$top/tests/fuzz/corpus/$1
	art=$dir/artifacts/$1
	rm -rf "$art"
	mkdir -p "$art"
	dict=
	[ -f "$top/tests/fuzz/$1.dict" ] && dict=-dict=$top/tests/fuzz/$1.dict
	opts="-max_total_time=$secs -timeout=10 -print_final_stats=1
	    -artifact_prefix=$art/ $dict"
}

# check: every fuzzer at once (one process each; a smoke test, so they
# share the CPUs), from a copy of its seeds; each is judged below.
if [ "$mode" = check ]; then
	for name in "$@"; do
		fuzz_opts "$name"
		work=$dir/check-$name
		rm -rf "$work"
		mkdir -p "$work"
		[ -d "$seeds" ] && cp "$seeds"/* "$work"/ 2>/dev/null
		# shellcheck disable=SC2086
		"$bin" $opts "$work" >"$dir/check-$name.log" 2>&1 &
		echo $! >"$dir/check-$name.pid"
	done
fi

for name in "$@"; do
	if [ "$mode" = check ]; then
		art=$dir/artifacts/$name   # emptied before the start
	else
		fuzz_opts "$name"
	fi

	if [ "$mode" = check ]; then
		work=$dir/check-$name
		logs=$dir/check-$name.log
		wait "$(cat "$dir/check-$name.pid")"
		rc=$?
	else
		work=$top/tests/fuzz/corpus-run-$name
		run=$dir/long-$name
		mkdir -p "$work"
		rm -rf "$run"
		mkdir -p "$run"
		# -jobs writes each job's output to fuzz-JOB.log in the
		# current directory.  New inputs go to the first corpus
		# directory; the seeds are only read.
		# shellcheck disable=SC2086
		(cd "$run" && "$bin" -jobs="$workers" -workers="$workers" \
		    $opts "$work" "$seeds" >"$run/main.log" 2>&1)
		rc=$?
		logs=$(ls "$run"/fuzz-*.log 2>/dev/null)
		[ -n "$logs" ] || logs=$run/main.log
	fi

	# shellcheck disable=SC2086
	execs=$(stat_sum number_of_executed_units $logs)
	# slow-unit-* (over -report_slow_units) is information, not a
	# failure; crash-, leak-, timeout- and oom- inputs are.
	crashes=$(($(find "$art" -type f ! -name 'slow-unit-*' | wc -l)))
	slow=$(($(find "$art" -type f -name 'slow-unit-*' | wc -l)))
	corpus=$(($(find "$work" -type f | wc -l)))
	rate=$((execs / (secs > 0 ? secs : 1)))
	total_execs=$((total_execs + execs))
	total_crashes=$((total_crashes + crashes))
	# shellcheck disable=SC2086
	if [ "$rc" -eq 0 ] && [ "$crashes" -eq 0 ] &&
	    ! grep -qE '^==[0-9]+==ERROR|runtime error:|invariant .* violated' $logs; then
		pass=$((pass + 1))
		echo "ok   fuzz_$name: $execs execs in ${secs}s (~$rate/s," \
		    "$workers process(es)), corpus $corpus inputs"
		[ "$slow" -eq 0 ] ||
		    echo "     $slow slow input(s) (over 10 s once) in $art/"
	else
		fail=$((fail + 1))
		echo "FAIL fuzz_$name: exit status $rc, $crashes input(s) in $art/"
		find "$art" -type f ! -name 'slow-unit-*' | sed 's/^/     /'
		# The first report in the logs: sanitizer or invariant.
		# shellcheck disable=SC2086
		grep -hE -A40 '^==[0-9]+==|runtime error:|invariant .* violated' \
		    $logs | head -60 | sed 's/^/     /'
		echo "     logs: $logs"
	fi
done

if [ "$mode" = long ]; then
	echo "fuzz-long: $total_execs execs in total, $total_crashes crash(es)"
fi
echo "fuzz: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
