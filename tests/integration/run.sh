#!/bin/sh
# run.sh BUILD_DIR - run every integration test (tests/integration/t_*.sh)
# against the programs in BUILD_DIR; print one line per test and a
# closing "integration: N passed, N failed".
dir=$(dirname "$0")
BIN=${1:-build}
export BIN
pass=0
fail=0
for t in "$dir"/t_*.sh; do
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
left=$(ls /dev/shm 2>/dev/null | grep '^capbroker\.it' || true)
if [ -n "$left" ]; then
	fail=$((fail + 1))
	echo "FAIL leftovers: segments left in /dev/shm: $left"
fi
echo "integration: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
