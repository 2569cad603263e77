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
