# The configuration file: settings and workers at start, SIGHUP reload,
# errors that name the line, out-of-range override ignored with a
# warning (never clamped).
. "$(dirname "$0")/lib.sh"

CONF="$CAPBROKER_RUNDIR/capbroker.conf"
cat >"$CONF" <<'CONF'
# test configuration
slots_per_worker = 10
legacy_max_concurrent_requests = 500
worker a ready
worker b ready 7     # reports
worker c draining 99
pool gpu limit=3 window=30
pool half share=50
CONF

say "settings and workers from the file"
start_broker -c "$CONF"
expect_eq "$(probe current | cut -d' ' -f1,2)" "17 mixed" "a:10 + b:7"

say "pools from the file (limit, share of the capacity, window)"
expect_match "$(ctl pool list)" "gpu +1 +fixed +3 +3 +30 " "fixed pool"
expect_match "$(ctl pool list)" "half +2 +share +50% +8 " "share pool: 50% of 17"

say "SIGHUP reloads: new settings, override and pools from the file"
cat >>"$CONF" <<'CONF'
slots_per_worker = 20
override = 0
pool gpu limit=5
CONF
kill -HUP "$BROKER"
sleep 0.5
expect_eq "$(probe current | cut -d' ' -f1,2)" "27 mixed" "after reload"
expect_match "$(ctl pool list)" "gpu +1 +fixed +5 +5 +30 " "pool limit reloaded, window kept"
expect_match "$(ctl pool list)" "half +2 +share +50% +13 " "share follows the new capacity"
grep -q "SIGHUP: reloaded" "$LOG" || fail "reload not logged"

say "a bad file on SIGHUP keeps the running configuration"
echo "slots_per_worker = lots" >>"$CONF"
kill -HUP "$BROKER"
sleep 0.5
expect_eq "$(probe current | cut -d' ' -f1,2)" "27 mixed" "kept"
grep -q "capbroker.conf:12: slots_per_worker 'lots' is invalid" "$LOG" ||
    fail "reload error does not name the line"
stop_broker

say "a bad file at start is fatal and names the line"
printf 'legacy_max_concurrent_requests = 0\n' >"$CONF"
out=$("$BIN/capbrokerd" -n "$NAME" -c "$CONF" 2>&1)
expect_eq "$?" 1 "exit status"
expect_match "$out" "capbroker.conf:1: legacy_max_concurrent_requests '0' is too small" "message"
printf 'worker x sideways\n' >"$CONF"
out=$("$BIN/capbrokerd" -n "$NAME" -c "$CONF" 2>&1)
expect_match "$out" "capbroker.conf:1: bad worker state" "bad state"
printf '# pools\npool gpu limit=3 share=5\n' >"$CONF"
out=$("$BIN/capbrokerd" -n "$NAME" -c "$CONF" 2>&1)
expect_match "$out" "capbroker.conf:2: pool: limit and share exclude each other" "bad pool"

say "an out-of-range override in the file is ignored with a warning, counted"
printf 'override = 70000\n' >"$CONF"
rm_segments
start_broker -c "$CONF"
expect_eq "$(probe current | cut -d' ' -f1,2)" "1024 fallback" "not clamped"
grep -q "override 70000 ignored: outside 0..65535" "$LOG" || fail "no warning"
expect_match "$(ctl status)" "override_rejects: *1" "counted"
stop_broker

say "a reload that changes only retry_after_ms is published"
# No pool or worker line, so nothing else in the file changes on
# reload.  A full pool of holds with no launch: the -EAGAIN hint is the
# configured default.
printf 'retry_after_ms = 100\n' >"$CONF"
start_broker -c "$CONF"
ctl pool set one --limit 1 >/dev/null || fail "pool set"
ctl run --pool one -- sleep 30 >/dev/null 2>&1 &
holder=$!
one_full() { ctl pool list | grep -Eq 'one +1 +fixed +1 +1 +60 +0 +1 '; }
wait_until 5 one_full || fail "hold not taken: $(ctl pool list)"
expect_match "$(ctl run --pool one -- true 2>&1)" "retry after 100 ms" "default hint"
printf 'retry_after_ms = 250\n' >"$CONF"
reloads=$(grep -c "SIGHUP: " "$LOG")
kill -HUP "$BROKER"
reloaded() { [ "$(grep -c "SIGHUP: " "$LOG")" -gt "$reloads" ]; }
wait_until 5 reloaded || fail "reload not logged"
grep "SIGHUP: " "$LOG" | tail -n 1 | grep -q "SIGHUP: reloaded" ||
    fail "a changed retry_after_ms read as unchanged"
expect_match "$(ctl run --pool one -- true 2>&1)" "retry after 250 ms" \
    "hint after a reload of retry_after_ms alone"
kill "$holder" 2>/dev/null
wait "$holder" 2>/dev/null
stop_broker

say "a usage error: what was wrong, the synopsis and the --help hint, not the whole help (exit 64)"
for args in --bogus -x "-n" extra; do
	err=$("$BIN/capbrokerd" $args 2>&1 >/dev/null)
	expect_eq "$?" 64 "capbrokerd $args"
	expect_match "$err" "^capbrokerd: (unknown option|option .* needs an argument|unexpected argument)" \
	    "capbrokerd $args names the error"
	expect_match "$err" "Try 'capbrokerd --help'" "capbrokerd $args: the hint"
	expect_eq "$(printf '%s\n' "$err" | wc -l)" 4 "capbrokerd $args: four lines, not the help: $err"
done
expect_match "$("$BIN/capbrokerd" --help)" "Configuration \(one per line" "--help still prints the whole help"
