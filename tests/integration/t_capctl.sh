# capctl: exit statuses and messages a script can rely on.
. "$(dirname "$0")/lib.sh"

say "no broker: exit 69 with a hint"
out=$(ctl ping 2>&1)
expect_eq "$?" 69 "unreachable exit status"
expect_match "$out" "is capbrokerd -n $NAME running" "hint"

start_broker
say "usage errors: exit 64, nothing sent"
ctl worker set w1 --state sideways >/dev/null 2>&1
expect_eq "$?" 64 "bad state"
ctl worker set 'bad id' --state ready >/dev/null 2>&1
expect_eq "$?" 64 "bad id"
ctl worker set w1 --state ready --max-running 65536 >/dev/null 2>&1
expect_eq "$?" 64 "max-running out of range"
ctl override twelve >/dev/null 2>&1
expect_eq "$?" 64 "override not a number"
ctl frobnicate >/dev/null 2>&1
expect_eq "$?" 64 "unknown command"
"$BIN/capctl" -n 'no/slash' ping >/dev/null 2>&1
expect_eq "$?" 64 "bad instance name"
expect_eq "$(ctl worker list | wc -l)" 1 "nothing was registered"

say "broker refusals: exit 1 with the broker's message"
out=$(ctl worker del ghost 2>&1)
expect_eq "$?" 1 "unknown worker"
expect_match "$out" "no such worker 'ghost'" "message"

say "help and version exit 0"
ctl --help | grep -q "worker set" || fail "--help lacks worker set"
ctl worker --help >/dev/null || fail "worker --help"
ctl -V | grep -q '^capctl ' || fail "-V"

say "a broker that runs with another CAPBROKER_RUNDIR: exit 69, and the hint says so"
other=$CAPBROKER_RUNDIR/other
mkdir "$other"
out=$(CAPBROKER_RUNDIR=$other "$BIN/capctl" -n "$NAME" ping 2>&1)
expect_eq "$?" 69 "wrong run directory exit status"
expect_match "$out" "is running, so its socket is elsewhere: set CAPBROKER_RUNDIR" \
    "wrong run directory hint"
rmdir "$other"

say "-T SECONDS bounds the wait for a broker that does not answer"
ctl -T 0 ping >/dev/null 2>&1
expect_eq "$?" 64 "-T 0"
kill -STOP "$BROKER"
out=$(ctl -T 1 ping 2>&1)
rc=$?
kill -CONT "$BROKER"
expect_eq "$rc" 69 "stopped broker, -T 1"
expect_match "$out" "within 1 s" "the timeout is the one asked for"

say "run -E CODE: a full pool exits CODE, told apart from COMMAND's own 75"
ctl pool set one --limit 1 >/dev/null || fail "pool set one"
ctl run --pool one -- sh -c '
	"$0" -n "$1" run --pool one -- true 2>/dev/null; echo "$?" >"$2.full"
	"$0" -n "$1" run -E 3 --pool one -- true 2>/dev/null; echo "$?" >"$2.E"' \
    "$BIN/capctl" "$NAME" "$CAPBROKER_RUNDIR/rc" || fail "outer run"
expect_eq "$(cat "$CAPBROKER_RUNDIR/rc.full")" 75 "full, default"
expect_eq "$(cat "$CAPBROKER_RUNDIR/rc.E")" 3 "full, -E 3"
ctl run -E 3 --pool one -- sh -c 'exit 75'
expect_eq "$?" 75 "not full: COMMAND's own 75"
ctl run -E 256 --pool one -- true >/dev/null 2>&1
expect_eq "$?" 64 "-E out of range"

say "global pools (issue 15): refused by a broker without etcd, usage errors exit 64"
out=$(ctl pool set g --limit 5 --global 2>&1)
expect_eq "$?" 1 "--global without etcd"
expect_match "$out" "no etcd configured \(etcd = in the config file\)" "message"
ctl pool list | grep -q '^g ' && fail "pool g created without etcd"
ctl pool set one --global >/dev/null 2>&1
expect_eq "$?" 1 "--global on a fixed pool without etcd"
expect_match "$(ctl pool list)" "^one +[0-9]+ +fixed +1 +1 .* local +-$" "pool one stays local"
out=$(ctl pool set one --hold-max 30 2>&1)
expect_eq "$?" 1 "--hold-max on a local pool"
expect_match "$out" "hold_max= applies to global pools only" "hold-max message"
for args in "--global --share 5" "--limit 1 --global --local" \
    "--limit 1 --local --hold-max 5" "--limit 1 --global --hold-max 0" \
    "--limit 1 --global --hold-max 86401" "--hold-max x"; do
	# shellcheck disable=SC2086
	ctl pool set g $args >/dev/null 2>&1
	expect_eq "$?" 64 "pool set g $args"
done
expect_match "$(ctl pool set g --global --share 5 2>&1)" \
    "--global and --share are mutually exclusive" "--global --share message"
expect_match "$(ctl pool set g --limit 1 --local --hold-max 5 2>&1)" \
    "--hold-max applies to global pools" "--local --hold-max message"
ctl pool set one --local >/dev/null || fail "--local on a local pool"
expect_match "$(ctl pool list)" "^POOL .* SCOPE +HOLD_MAX$" "pool list header"
