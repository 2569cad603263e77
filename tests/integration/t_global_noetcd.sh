# Global pools (issue 15) with etcd unreachable at start: the broker
# starts, says why its global pools admit nothing, and they admit
# nothing (a local pool next to them admits as usual); capdump shows no
# valid share.
. "$(dirname "$0")/lib.sh"

port=$("$BIN/tests/cbports" 1) || fail "cbports"
D=$CAPBROKER_RUNDIR
cat >"$D/c.conf" <<CONF
etcd = http://127.0.0.1:$port
cluster = nowhere
host = h1
lease_ttl = 2
pool backend limit=12 global
pool local limit=2
CONF
start_broker -c "$D/c.conf"
wait_until 10 grep -q "etcd unreachable" "$LOG" ||
    fail "the broker did not say etcd is unreachable"
say "$(grep -m1 'etcd unreachable' "$LOG" | cut -d' ' -f3- | cut -c1-110)"
hold g1 backend hold 0 0
wait_for g1 '^(ok|E[A-Z]+) ' 10 || fail "g1: no answer"
expect_match "$(cat "$D/g1")" '^EAGAIN ' "a global pool without etcd"
hold l1 local hold 0 0
admitted l1
json=$("$BIN/capdump" -n "$NAME" --json)
printf '%s' "$json" | python3 -c '
import json, sys
d = json.load(sys.stdin)
p = [q for q in d["pools"] if q["name"] == "backend"][0]
assert p["limit"] == 0, p
assert p.get("scope", "global") == "global", p
assert p.get("share_valid_ms", 0) == 0, p
' || fail "capdump: $json"
