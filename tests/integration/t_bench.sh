# capbench --smoke: every section runs (or says why it was skipped), the
# JSON is well formed, and nothing is left in /dev/shm.  No timing is
# checked: the numbers of a smoke run mean nothing.
. "$(dirname "$0")/lib.sh"

say "capbench --smoke runs every section"
json="$CAPBROKER_RUNDIR/bench.json"
# Its own instance name under lib.sh's prefix, so run.sh's leftover check
# and this test's cleanup cover its segments too.
out=$("$BIN/capbench" --smoke -n "$NAME" --json "$json" 2>&1) ||
	fail "capbench --smoke failed: $out"
expect_match "$out" '^### Targets' "human table"
expect_match "$out" '^/dev/shm entries left behind: 0$' "shm report"
# The floors of the hold section and the before of issue 14 (the
# shared entry's path): a column each in the hold table, and a ratio
# to POSIX sem for each floor.
expect_match "$out" '^\| procs \|.* protocol floor \(8 RMW\) \| store floor \(2 RMW \+ stores\) \| capbroker hold, shared entry \(no lanes\) \| lane floor \(store floor \+ checks\) \| API floor \(lane floor \+ calls, lane lookup, bias\) \| inline floor \(lane floor \+ bias, no call\) \| word floor \(inline, one-word record, bias on release only\) \| capbroker hold, global pool \|$' \
    "hold table with the floors, the shared entry and the global pool"
expect_match "$out" '\| store floor \(2 RMW \+ stores\) vs POSIX sem \| lane floor \(store floor \+ checks\) vs POSIX sem \| API floor \(lane floor \+ calls, lane lookup, bias\) vs POSIX sem \| inline floor \(lane floor \+ bias, no call\) vs POSIX sem \| word floor \(inline, one-word record, bias on release only\) vs POSIX sem \|$' \
    "the floors' ratios to POSIX sem"
# The global pool beside its local twin (issue 15), global for real on
# an etcd capbench starts, or skipped saying so.
if have_etcd; then
	expect_match "$out" '^\| procs \| local ns/pair \| global ns/pair \| global - local ns \| global / local \|$' \
	    "global vs local pool table"
	expect_match "$out" '^\| 1 \| [0-9.]+ \| [0-9.]+ \| [-+][0-9.]+ \| [0-9.]+x \|$' \
	    "global vs local pool, 1 process"
else
	expect_match "$out" '^skipped: etcd not installed' \
	    "global pool skipped without etcd"
fi
expect_match "$out" '^\| procs \| limit \| capbroker pairs/s \| max/min \| p99 wait \| max wait \| POSIX sem pairs/s \|' \
    "contention table with the waits of both methods"

say "the JSON is well formed and every section ran or was skipped with a reason"
python3 - "$json" <<'PY' || fail "bad JSON report: $(cat "$json")"
import json, sys
d = json.load(open(sys.argv[1]))
want = ["read", "hold", "launch", "watch", "publish", "reclaim",
        "contention"]
secs = d["sections"]
assert sorted(secs) == sorted(want), secs.keys()
for name in want:
    s = secs[name]
    assert s["status"] in ("ok", "skipped"), (name, s)
    if s["status"] == "skipped":
        assert s["reason"], (name, "skipped without a reason")
    elif name not in ("publish", "reclaim"):
        assert len(s["rows"]) == len(d["procs"]), (name, s)
hold = secs["hold"]["rows"]
for row in hold:
    for m in ("capbroker", "posix_sem", "sysv_sem_undo", "flock",
              "protocol_floor", "store_floor", "capbroker_shared",
              "lane_floor", "api_floor", "inline_floor", "word_floor"):
        assert row[m] and row[m]["ops_per_s"] > 0, (m, row)
    # The global pool needs etcd (capbench starts one): measured with
    # its local twin, or skipped with the reason.
    if row["capbroker_global"] or "etcd" not in secs["hold"]["reason"]:
        for m in ("capbroker_global", "capbroker_local_pool"):
            assert row[m] and row[m]["ops_per_s"] > 0, (m, row)
    # Redis is optional: measured, or skipped with a reason.
    assert row["redis"] or "redis" in secs["hold"]["reason"], row
if secs["contention"]["status"] == "ok":
    for row in secs["contention"]["rows"]:
        for m in ("capbroker", "posix_sem"):
            t = row[m]
            assert t["waits"] > 0, (m, row)
            assert 0 <= t["wait_p99_us"] <= t["wait_max_us"], (m, row)
assert d["shm_leftovers"] == 0
assert len(d["targets"]) == 11
PY

say "the broker, redis-server, etcd and every worker process are gone"
left=$(ls -A /dev/shm | grep "^\.\{0,1\}capbroker\.$NAME\." || true)
expect_eq "$left" "" "segments left in /dev/shm"
if pgrep -f "capbrokerd -n $NAME " >/dev/null; then
	fail "capbench left its broker running"
fi
# capbench's etcd (tools/capbench/etcd.c), its only member named bench.
if pgrep -f "etcd --name bench --data-dir .*/capbench\." >/dev/null; then
	fail "capbench left its etcd running"
fi
