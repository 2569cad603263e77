#!/bin/sh
# bench-report.sh BUILD_DIR - make bench-report: one full capbench run;
# writes BUILD_DIR/bench/capbench.{md,json,dat}, draws
# docs/capbench-hold.png with gnuplot, and replaces the generated part
# of docs/BENCHMARKS.md (between the capbench-begin/end markers) with
# this run's tables.  The prose around it (targets, profiles) is
# written by hand.
set -eu
O=${1:-build}
out=$O/bench
doc=docs/BENCHMARKS.md
mkdir -p "$out"
"$O/capbench" --json "$out/capbench.json" --dat "$out/capbench.dat" \
    >"$out/capbench.md"
cat "$out/capbench.md"
if command -v gnuplot >/dev/null; then
	gnuplot -e "datafile='$out/capbench.dat'; outfile='docs/capbench-hold.png'" \
	    tools/capbench.gp
	echo "bench-report: docs/capbench-hold.png" >&2
else
	echo "bench-report: gnuplot not installed: plot not redrawn" >&2
fi
if grep -q '^<!-- capbench-begin -->$' "$doc" 2>/dev/null; then
	awk -v gen="$out/capbench.md" '
	    /^<!-- capbench-begin -->$/ { print; while ((getline l < gen) > 0)
	        print l; skip = 1; next }
	    /^<!-- capbench-end -->$/ { skip = 0 }
	    !skip' "$doc" >"$out/BENCHMARKS.md"
	cp "$out/BENCHMARKS.md" "$doc"
	echo "bench-report: $doc tables updated" >&2
fi
