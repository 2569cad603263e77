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

say "global pools (issue 15): a file with etcd and a global pool starts (etcd unreachable)"
# Port 1 on loopback: nothing answers there; the broker must start all
# the same (the cluster thread keeps trying) and list the pool global.
cat >"$CONF" <<'CONF'
etcd = http://127.0.0.1:1
cluster = it-cluster
host = it-host
lease_ttl = 5
pool backend limit=40 global hold_max=120
pool batch limit=6
pool batch global
pool fixedp limit=3
CONF
rm_segments
start_broker -c "$CONF"
list=$(ctl pool list)
# NAME INDEX KIND VALUE(L) LIMIT WINDOW OBSERVED HELD LAUNCHING SCOPE HOLD_MAX
expect_match "$list" "^backend +1 +global +40 +[0-9]+ +60 +0 +0 +0 +global +120$" \
    "global pool from the file"
expect_match "$list" "^batch +2 +global +6 +[0-9]+ +60 +0 +0 +0 +global +300$" \
    "global on a later line, default hold_max"
expect_match "$list" "^fixedp +3 +fixed +3 +3 +60 +0 +0 +0 +local +-$" "fixed pool"

say "with etcd: capctl pool set --global, --hold-max, --local"
out=$(ctl pool set fixedp --global) || fail "pool set --global: $out"
expect_match "$out" "^pool fixedp \(index 3\): limit [0-9]+, window 60 s, observed 0, global, hold max 300 s$" \
    "pool set --global output"
expect_match "$(ctl pool list)" "^fixedp +3 +global +3 .* global +300$" "fixed pool made global, its limit the cluster's"
ctl pool set fixedp --hold-max 45 >/dev/null || fail "--hold-max on a global pool"
expect_match "$(ctl pool list)" "^fixedp +3 +global +3 .* global +45$" "hold_max changed"
ctl pool set fixedp --limit 9 >/dev/null || fail "--limit on a global pool"
expect_match "$(ctl pool list)" "^fixedp +3 +global +9 .* global +45$" "--limit keeps it global"
out=$(ctl pool set fixedp --local) || fail "pool set --local: $out"
expect_match "$out" "^pool fixedp \(index 3\): limit 9, window 60 s, observed 0$" "pool set --local output"
expect_match "$(ctl pool list)" "^fixedp +3 +fixed +9 +9 .* local +-$" "--local: fixed at L"
ctl pool set newg --limit 2 --global >/dev/null || fail "new global pool"
expect_match "$(ctl pool list)" "^newg +4 +global +2 .* global +300$" "new global pool"
out=$(ctl pool set default --global 2>&1)
expect_eq "$?" 1 "default --global"
expect_match "$out" "pool default follows the capacity" "default --global message"
stop_broker
expect_eq "$STATUS" 0 "exit status with a cluster configured"

say "-t prints the cluster settings and global pools; fed back: the same"
"$BIN/capbrokerd" -t -c "$CONF" >"$CAPBROKER_RUNDIR/t1.out" 2>/dev/null ||
    fail "-t refuses the cluster file"
for l in 'etcd = http://127.0.0.1:1' 'cluster = it-cluster' 'host = it-host' \
    'lease_ttl = 5' 'pool backend limit=40 global hold_max=120' \
    'pool batch limit=6 global'; do
	grep -qxF "$l" "$CAPBROKER_RUNDIR/t1.out" || fail "-t lacks '$l': $(cat "$CAPBROKER_RUNDIR/t1.out")"
done
"$BIN/capbrokerd" -t -c "$CAPBROKER_RUNDIR/t1.out" >"$CAPBROKER_RUNDIR/t2.out" 2>/dev/null ||
    fail "-t refuses its own output"
cmp -s "$CAPBROKER_RUNDIR/t1.out" "$CAPBROKER_RUNDIR/t2.out" || fail "-t output fed back differs"

say "a global pool without etcd = is fatal at start, naming the pool's line"
printf '# no cluster\npool backend limit=8 global\n' >"$CONF"
out=$("$BIN/capbrokerd" -n "$NAME" -c "$CONF" 2>&1)
expect_eq "$?" 1 "exit status"
expect_match "$out" "capbroker.conf:2: pool backend is global: needs etcd = ENDPOINTS" "message"
printf 'etcd = 127.0.0.1:2379\n' >"$CONF"
out=$("$BIN/capbrokerd" -n "$NAME" -c "$CONF" 2>&1)
expect_eq "$?" 1 "bad etcd: exit status"
expect_match "$out" "capbroker.conf:1: etcd: endpoint '127.0.0.1:2379': not http:// or https://" "bad etcd"
