#!/bin/sh
# run-unit.sh - run cmocka unit test binaries and total their results.
#
#   sh tests/run-unit.sh BIN...
#
# Each binary prints its own cmocka report.  Test cases are counted from
# cmocka's summary lines:
#
#   [  PASSED  ] N test(s).
#   [  FAILED  ] N test(s), listed below:
#    N FAILED TEST(S)        (also counts setup/teardown errors)
#
# A binary that exits non-zero without reporting a failure (a crash, a
# sanitizer abort, a failed setup) counts as one failure; so does one
# that exits 0 without a summary (it did not run its tests).  The last
# line is always "unit: N passed, N failed"; the exit status is 1 when
# anything failed.
#
# RUN_UNIT_WRAPPER, when set, is put in front of each binary (make
# valgrind-check: valgrind with --error-exitcode, so a memory error or
# leak is a non-zero exit and counts as a failure).
#
# Each binary runs under timeout(1): one that is still running after
# RUN_UNIT_TIMEOUT seconds (default 900: the slowest, under valgrind or
# ThreadSanitizer, take about a minute) is killed, says so and counts
# as a failure, so a hung test fails the run instead of stalling it.

if [ $# -eq 0 ]; then
	echo "usage: sh tests/run-unit.sh BIN..." >&2
	exit 2
fi

# The standard report format is the one parsed below, whatever the
# caller's environment asks for.
CMOCKA_MESSAGE_OUTPUT=STDOUT
export CMOCKA_MESSAGE_OUTPUT
unset CMOCKA_XML_FILE

out=$(mktemp "${TMPDIR:-/tmp}/run-unit.XXXXXX") || exit 2
trap 'rm -f "$out"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

total_pass=0
total_fail=0

for bin in "$@"; do
	echo "== $bin"
	case $bin in
	*/*) cmd=$bin ;;
	*) cmd=./$bin ;;
	esac
	# shellcheck disable=SC2086 # the wrapper is a command line
	timeout -k 10 "${RUN_UNIT_TIMEOUT:-900}" \
	    ${RUN_UNIT_WRAPPER:-} "$cmd" >"$out" 2>&1
	rc=$?
	cat "$out"
	if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
		echo "$bin: still running after ${RUN_UNIT_TIMEOUT:-900} s:" \
		    "killed (a hang)"
	fi

	# passed, failed, failed-including-errors, summary lines seen
	read -r pass fail errs seen <<EOF
$(awk '
		/^\[  PASSED  \] [0-9]+ test\(s\)\./ { p += $4; s++ }
		/^\[  FAILED  \] [0-9]+ test\(s\)/   { f += $4; s++ }
		/^ [0-9]+ FAILED TEST\(S\)/          { e += $1 }
		END { printf "%d %d %d %d\n", p, f, e, s }' "$out")
EOF
	[ "$errs" -gt "$fail" ] && fail=$errs

	if [ "$rc" -ne 0 ] && [ "$fail" -eq 0 ]; then
		echo "run-unit: $bin exited with status $rc without" \
		    "reporting a failed test; counted as 1 failure"
		fail=1
	elif [ "$rc" -eq 0 ] && [ "$seen" -eq 0 ]; then
		echo "run-unit: $bin printed no cmocka summary;" \
		    "counted as 1 failure"
		fail=1
	fi
	total_pass=$((total_pass + pass))
	total_fail=$((total_fail + fail))
done

echo "unit: $total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
