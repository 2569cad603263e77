# Checking a configuration and reloading it (issue 13, item 4):
# capbrokerd -t validates and prints the settings in the file's own
# syntax without touching the instance; a SIGHUP applies the whole file
# or nothing of it and logs why with FILE:LINE; the systemd unit's
# ExecReload runs the check first, so a bad file fails the reload.
. "$(dirname "$0")/lib.sh"

CONF="$CAPBROKER_RUNDIR/capbroker.conf"
D="$CAPBROKER_RUNDIR"
UNIT="$(dirname "$0")/../../dist/capbrokerd@.service"

# Nothing of instance $NAME exists: no segment, pidfile or socket.
nothing_of_instance() {
	for f in "/dev/shm/capbroker.$NAME.state" \
	    "/dev/shm/capbroker.$NAME.slots" "$D/$NAME.pid" "$D/$NAME.sock"; do
		[ ! -e "$f" ] || fail "-t created $f"
	done
}

say "-t: a valid file prints its settings (fed back: the same) and exits 0"
cat >"$CONF" <<'CONF'
slots_per_worker = 10
worker a ready 5
pool gpu limit=3 window=30
worker a ready 6        # amends the line above
pool gpu share=50       # replaces limit=3, keeps window=30
pool default window=9
CONF
"$BIN/capbrokerd" -n "$NAME" -t -c "$CONF" >"$D/t1.out" 2>"$D/t1.err"
expect_eq "$?" 0 "-t exit status, valid file"
grep -qx 'slots_per_worker = 10' "$D/t1.out" || fail "-t: $(cat "$D/t1.out")"
grep -qx 'legacy_max_concurrent_requests = 1024' "$D/t1.out" ||
    fail "-t does not print the defaults"
grep -qx 'pool gpu share=50 window=30' "$D/t1.out" || fail "-t: pool merged"
grep -qx 'worker a ready 6' "$D/t1.out" || fail "-t: worker amended"
grep -q 'configuration ok' "$D/t1.err" || fail "-t: $(cat "$D/t1.err")"
"$BIN/capbrokerd" -t -c "$D/t1.out" >"$D/t2.out" 2>/dev/null ||
    fail "-t refuses its own output"
cmp -s "$D/t1.out" "$D/t2.out" || fail "-t output fed back differs"
nothing_of_instance

say "-t: a bad file exits 1 with FILE:LINE, touches nothing"
printf 'worker a ready\n\npool default limit=4\n' >"$D/bad.conf"
err=$("$BIN/capbrokerd" -n "$NAME" -t -c "$D/bad.conf" 2>&1 >/dev/null)
expect_eq "$?" 1 "-t exit status, bad file"
expect_match "$err" "bad.conf:3: pool default follows the capacity" "-t message"
err=$("$BIN/capbrokerd" -t -c "$D" 2>&1 >/dev/null)
expect_eq "$?" 1 "-t exit status, a directory"
expect_match "$err" "$D: is a directory" "-t on a directory"
nothing_of_instance

say "-t beside a running broker leaves it alone"
start_broker -c "$CONF"
pid_before=$(cat "$D/$NAME.pid")
"$BIN/capbrokerd" -n "$NAME" -t -c "$CONF" >/dev/null 2>&1 ||
    fail "-t with a broker running"
expect_eq "$(cat "$D/$NAME.pid")" "$pid_before" "pidfile after -t"
[ -S "$D/$NAME.sock" ] || fail "socket gone after -t"
ctl ping >/dev/null || fail "broker does not answer after -t"
expect_eq "$(capacity)" 6 "capacity after -t"

say "a reload is all or nothing: one bad line, nothing applied"
expect_match "$(ctl pool list)" "^gpu +1 +share +50% +3 +30 " "pool before"
cat >"$CONF" <<'CONF'
slots_per_worker = 20
worker a ready 9
worker b ready
pool gpu limit=5
pool extra limit=2
pool half window=30
CONF
hup
grep -q "capbroker.conf:6: pool half: needs limit= or share=; keeping the running configuration" "$LOG" ||
    fail "failed reload not logged with FILE:LINE"
grep -q "SIGHUP: reloaded" "$LOG" && fail "a failed reload logged as reloaded"
expect_eq "$(capacity)" 6 "capacity after a failed reload"
list=$(ctl pool list)
expect_match "$list" "^gpu +1 +share +50% +3 +30 " "gpu kept"
printf '%s\n' "$list" | grep -q '^extra ' && fail "pool extra applied"
ctl worker list | grep -q '^b ' && fail "worker b applied"
st=$(ctl status)
expect_match "$st" "^config: +$CONF\$" "capctl status: the file"
expect_match "$st" "^reload_time: +20[0-9-]+T[0-9:]+Z\$" "capctl status: when"
expect_match "$st" "^reload_result: +error .*capbroker.conf:6: pool half: needs limit= or share=" \
    "capctl status: the failed reload, with FILE:LINE"

say "the same file, fixed: all of it applied"
sed -i 's/^pool half window=30$/pool half share=50/' "$CONF"
hup
grep -q "SIGHUP: reloaded" "$LOG" || fail "reload not logged"
expect_match "$(ctl status)" "^reload_result: +ok\$" "capctl status: the reload's result"
expect_eq "$(capacity)" 29 "a:9 + b:20"
list=$(ctl pool list)
expect_match "$list" "^gpu +1 +fixed +5 +5 +30 " "gpu"
expect_match "$list" "^extra +[0-9]+ +fixed +2 +2 " "extra"
expect_match "$list" "^half +[0-9]+ +share +50% +14 " "half"

say "a file whose new pool does not fit the running pools: nothing applied"
i=0
while [ $i -lt 60 ]; do
	ctl pool set "cli$i" --limit 1 >/dev/null || fail "pool set cli$i"
	i=$((i + 1))
done
# default, gpu, extra, half and 60 more: all 64 in use.
printf 'slots_per_worker = 30\npool gpu limit=5\npool late limit=1\n' >"$CONF"
hup
grep -q "capbroker.conf:3: pool late: all 64 pools are in use" "$LOG" ||
    fail "pool table full not logged with FILE:LINE"
expect_eq "$(capacity)" 29 "slots_per_worker not applied"

say "the unit's ExecReload checks the file first"
# Run the unit's ExecReload lines as systemd does: in order, stopping
# at the first that fails (which fails the reload).
grep '^ExecReload=' "$UNIT" >"$D/reload.cmds" || fail "unit has no ExecReload"
[ "$(wc -l <"$D/reload.cmds")" -ge 2 ] || fail "ExecReload does not check first"
exec_reload() {
	while IFS= read -r line; do
		cmd=${line#ExecReload=}
		cmd=$(printf '%s\n' "$cmd" | sed -e "s|/usr/local/sbin/capbrokerd|$BIN/capbrokerd|" \
		    -e "s|%i|$NAME|g" -e "s|\\\$CAPBROKERD_ARGS|-c $CONF|" \
		    -e "s|\\\$MAINPID|$BROKER|")
		sh -c "$cmd" >/dev/null 2>&1 || return 1
	done <"$D/reload.cmds"
}
n=$(grep -c 'SIGHUP:' "$LOG")
printf 'pool default limit=4\n' >"$CONF"
exec_reload && fail "ExecReload accepted a bad file"
expect_eq "$(grep -c 'SIGHUP:' "$LOG")" "$n" "broker signalled after a failed check"
printf 'slots_per_worker = 30\n' >"$CONF"
exec_reload || fail "ExecReload refused a good file"
wait_until 10 hup_done "$n" || fail "ExecReload sent no SIGHUP"
wait_until 10 yields 39 capacity || fail "reload after ExecReload: $(state)"

say "a reload that sets etcd is refused as a whole: a restart is needed"
n=$(grep -c 'SIGHUP:' "$LOG")
printf 'slots_per_worker = 31\netcd = http://127.0.0.1:1\n' >"$CONF"
hup
grep -q "capbroker.conf: etcd changed: etcd, cluster, host and lease_ttl need a restart of the broker, not a reload; keeping the running configuration" "$LOG" ||
    fail "reload changing etcd not refused: $(tail -n 3 "$LOG")"
expect_match "$(ctl status)" "^reload_result: +error .*etcd changed: .*need a restart" \
    "capctl status: the refused reload"
expect_eq "$(capacity)" 39 "slots_per_worker of the refused file not applied"
stop_broker
expect_eq "$STATUS" 0 "exit status"

say "with etcd: cluster settings need a restart, global on and off reloads"
rm_segments
cat >"$CONF" <<'CONF'
etcd = http://127.0.0.1:1
host = it-host
worker a ready 3
pool rg limit=2 global
pool rl limit=5
CONF
start_broker -c "$CONF"
expect_match "$(ctl pool list)" "^rg +1 +global +2 .* global +300$" "rg global at start"
for change in 'etcd = http://127.0.0.1:2' 'cluster = other' 'host = other-host' \
    'lease_ttl = 11'; do
	key=${change%% *}
	cp "$CONF" "$D/keep.conf"
	{ grep -v "^$key = " "$D/keep.conf"
	  printf '%s\npool rl limit=6\n' "$change"; } >"$CONF"
	hup
	grep -q "capbroker.conf: $key changed: .* need a restart" "$LOG" ||
	    fail "reload changing $key not refused: $(tail -n 3 "$LOG")"
	expect_match "$(ctl pool list)" "^rl +2 +fixed +5 " "$key: pool rl not applied"
	cp "$D/keep.conf" "$CONF"
done
# The same cluster settings: pool changes apply, global on and off
# among them.
cat >"$CONF" <<'CONF'
etcd = http://127.0.0.1:1
host = it-host
worker a ready 3
pool rg limit=2
pool rl limit=5 global hold_max=50
CONF
hup
grep "SIGHUP: " "$LOG" | tail -n 1 | grep -q "SIGHUP: reloaded" ||
    fail "global on/off not reloaded: $(tail -n 3 "$LOG")"
list=$(ctl pool list)
expect_match "$list" "^rg +1 +fixed +2 +2 .* local +-$" "global taken out of the file: fixed"
expect_match "$list" "^rl +2 +global +5 .* global +50$" "global put into the file"
stop_broker
expect_eq "$STATUS" 0 "exit status"
echo "ok"
