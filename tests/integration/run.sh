#!/bin/sh
# run.sh BUILD_DIR [t_NAME...] - run every integration test
# (tests/integration/t_*.sh), or only those named, against the programs
# in BUILD_DIR; print one line per test and a closing
# "integration: N passed, N failed".
dir=$(dirname "$0")
BIN=${1:-build}
export BIN
[ $# -gt 0 ] && shift
pass=0
fail=0
if [ $# -gt 0 ]; then
	tests=
	for n in "$@"; do
		t="$dir/${n%.sh}.sh"
		[ -f "$t" ] || { echo "run.sh: no test $t" >&2; exit 64; }
		tests="$tests $t"
	done
else
	tests=$(ls "$dir"/t_*.sh)
fi
for t in $tests; do
	name=$(basename "$t" .sh)
	out=$(sh "$t" 2>&1)
	if [ $? -eq 0 ]; then
		pass=$((pass + 1))
		echo "ok   $name"
	else
		fail=$((fail + 1))
		echo "FAIL $name"
	fi
	printf '%s\n' "$out" | sed 's/^/     /'
done
# The public names and the broker's spare links (dot names).
left=$(ls -A /dev/shm 2>/dev/null | grep '^\.\{0,1\}capbroker\.it' || true)
if [ -n "$left" ]; then
	fail=$((fail + 1))
	echo "FAIL leftovers: segments left in /dev/shm: $left"
fi
echo "integration: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
