# Capacity through the four tiers, set with capctl, read by a client.
. "$(dirname "$0")/lib.sh"

cap_src() {
	probe current | cut -d' ' -f1,2
}

start_broker
say "no workers: fallback to legacy_max"
expect_eq "$(cap_src)" "1024 fallback" "empty fleet"

say "every ready worker reports: reported = sum"
ctl worker set w1 --state ready --max-running 100 >/dev/null || fail "set w1"
expect_eq "$(cap_src)" "100 reported" "one reporter"
ctl worker set w2 --state ready --max-running 50 >/dev/null || fail "set w2"
expect_eq "$(cap_src)" "150 reported" "two reporters"

say "a non-reporter makes it mixed: reporters + slots_per_worker (64)"
ctl worker set w3 --state ready >/dev/null || fail "set w3"
expect_eq "$(cap_src)" "214 mixed" "mixed"

say "capacity shrinks when workers fail or drain"
ctl worker set w1 --state not_ready --max-running 100 >/dev/null
expect_eq "$(cap_src)" "114 mixed" "w1 not_ready"
ctl worker set w3 --state draining >/dev/null
expect_eq "$(cap_src)" "50 reported" "w3 draining"
ctl worker del w2 >/dev/null || fail "del w2"
expect_eq "$(cap_src)" "1024 fallback" "no ready worker left"

say "override wins, 0 clears it"
ctl override 7 >/dev/null || fail "override 7"
expect_eq "$(cap_src)" "7 override" "override"
ctl worker set w1 --state ready --max-running 100 >/dev/null
expect_eq "$(cap_src)" "7 override" "override beats reported"
ctl override 0 >/dev/null || fail "override 0"
expect_eq "$(cap_src)" "100 reported" "override cleared"

say "out-of-range override rejected, logged, counted; capacity unchanged"
ctl override 70000 2>/dev/null && fail "override 70000 accepted"
ctl override -3 2>/dev/null && fail "override -3 accepted"
expect_eq "$(cap_src)" "100 reported" "after rejected overrides"
expect_match "$(ctl status)" "override_rejects: *2" "rejects counted"
grep -q "override 70000 rejected" "$LOG" || fail "rejection not logged"

say "sums saturate at 65535"
for w in a b c; do
	ctl worker set "s$w" --state ready --max-running 30000 >/dev/null
done
expect_eq "$(cap_src)" "65535 reported" "saturated"

say "each change is logged as old -> new"
grep -q "capacity 1024 -> 100, source fallback -> reported" "$LOG" ||
    fail "no change line in the log"
