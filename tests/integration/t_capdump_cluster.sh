# capdump on global pools (issue 15, ABI 1.3): a pool's scope, its share
# and how long it stays valid, and the cluster section, in the human,
# JSON and Prometheus outputs, from segments written by cbclusterforge
# (the broker killed first, so nothing rewrites them); then a hostile
# block (unterminated strings, nhosts 1000) and one whose seqlock is
# stuck odd.  A local pool keeps its old output (t_capdump*.sh).
. "$(dirname "$0")/lib.sh"

dump() {	# exit 1: the broker is gone, which is the point here
	"$BIN/capdump" -n "$NAME" "$@"
}
forge() {
	"$BIN/tests/cbclusterforge" "$NAME" g "$1" || fail "cbclusterforge $1"
}

start_broker
ctl pool set g --limit 3 >/dev/null || fail "pool set g"
ctl pool set l --limit 2 >/dev/null || fail "pool set l"
kill -9 "$BROKER"
wait "$BROKER" 2>/dev/null

say "before: no global pool, no cluster"
json=$(dump --json 2>/dev/null)
expect_match "$json" '"name":"l",[^}]*"repaired":0,"scope":"local"}' \
    "local pool's scope, and nothing more"
case $json in *'"cluster"'*|*'"share"'*) fail "cluster keys: $json";; esac
prom=$(dump --prometheus 2>/dev/null)
case $prom in *capbroker_pool_global*|*capbroker_etcd*)
	fail "global series without a global pool";; esac
case $(dump 2>/dev/null) in *"GLOBAL POOLS"*|*CLUSTER*)
	fail "global sections without a global pool";; esac

forge global
say "JSON: the global pool and the cluster"
json=$(dump --json 2>/dev/null)
expect_match "$json" '"name":"g",[^}]*"kind":"global",[^}]*"scope":"global","share":4,"share_valid_ms":[0-9]+,"local_limit":3,"demand":6,"target":5,"quarantined":1,"hold_max_s":300,"aged":0}' \
    "global pool object"
valid=$(printf '%s' "$json" | sed 's/.*"share_valid_ms":\([0-9]*\).*/\1/')
[ "$valid" -gt 3500000 ] && [ "$valid" -le 3600000 ] ||
    fail "share_valid_ms $valid, not about an hour"
expect_match "$json" '"name":"l",[^}]*"scope":"local"}' "local pool still local"
expect_match "$json" '"cluster":\{"host":"h1","cluster":"c1","lease":true,"lease_id":"1234abcd","ttl_s":10,"etcd_reachable":true,"last_ok_age_s":[0-9.]+,"errors":7,"last_error":"etcd: deadline exceeded","hosts":\[\{"host":"h1","pools":\[\{"pool":"g","host_share":4,"host_demand":6\}\]\},\{"host":"h2","pools":\[\{"pool":"g","host_share":6,"host_demand":3\}\]\}\]\}' \
    "cluster object"
age=$(printf '%s' "$json" | sed 's/.*"last_ok_age_s":\([0-9]*\).*/\1/')
[ "$age" -ge 2 ] && [ "$age" -le 60 ] || fail "last_ok_age_s $age"
if command -v python3 >/dev/null; then
	printf '%s' "$json" | python3 -m json.tool >/dev/null || fail "invalid JSON"
fi

say "human: GLOBAL POOLS and CLUSTER"
out=$(dump 2>/dev/null)
expect_match "$out" "GLOBAL POOLS \(1\)" "global pools table"
expect_match "$out" "^  g +4 +3 +6 +5 +1 +300 +[0-9]+ +0$" "global pool row"
expect_match "$out" "^  host +h1$" "host"
expect_match "$out" "^  cluster +c1$" "cluster"
expect_match "$out" "^  lease +0x1234abcd \(held\), ttl 10 s$" "lease"
expect_match "$out" "^  etcd +reachable, last answer [0-9.]+ s ago, 7 errors$" "etcd"
expect_match "$out" "^  last error +etcd: deadline exceeded$" "last error"
expect_match "$out" "^    h2 +g +6 +3$" "host h2's share and demand"

say "Prometheus: the global pool's gauges and the cluster's"
prom=$(dump --prometheus 2>/dev/null)
B="broker=\"$NAME\""
for line in "capbroker_pool_global{$B,pool=\"g\"} 1" \
    "capbroker_pool_global{$B,pool=\"l\"} 0" \
    "capbroker_pool_share{$B,pool=\"g\"} 4" \
    "capbroker_pool_local_limit{$B,pool=\"g\"} 3" \
    "capbroker_pool_demand{$B,pool=\"g\"} 6" \
    "capbroker_pool_target{$B,pool=\"g\"} 5" \
    "capbroker_pool_quarantined{$B,pool=\"g\"} 1" \
    "capbroker_pool_hold_max_seconds{$B,pool=\"g\"} 300" \
    "capbroker_etcd_reachable{$B} 1" "capbroker_etcd_lease_held{$B} 1" \
    "capbroker_etcd_lease_ttl_seconds{$B} 10" \
    "capbroker_etcd_errors_total{$B} 7" "capbroker_cluster_hosts{$B} 2" \
    "capbroker_pool_host_share{$B,pool=\"g\",host=\"h2\"} 6" \
    "capbroker_pool_host_demand{$B,pool=\"g\",host=\"h1\"} 6"; do
	printf '%s\n' "$prom" | grep -qxF "$line" || fail "no line: $line"
done
expect_match "$prom" "^capbroker_pool_share_valid_seconds\{$B,pool=\"g\"\} 3[0-9]{3}\.[0-9]{3}$" \
    "share_valid_seconds gauge, about an hour"
expect_match "$prom" "^# TYPE capbroker_etcd_errors_total counter$" "TYPE"
expect_match "$prom" "^# HELP capbroker_pool_share " "HELP"
case $prom in *"capbroker_pool_share{$B,pool=\"l\"}"*)
	fail "share series for a local pool";; esac
if command -v promtool >/dev/null; then
	printf '%s\n' "$prom" | promtool check metrics >/dev/null 2>&1 ||
	    fail "promtool check metrics"
fi

say "no valid share: share_valid_ms 0"
forge expired
expect_match "$(dump --json 2>/dev/null)" '"scope":"global","share":4,"share_valid_ms":0,' \
    "JSON, deadline 1"
expect_match "$(dump --prometheus 2>/dev/null)" \
    "capbroker_pool_share_valid_seconds\{$B,pool=\"g\"\} 0\.000" "Prometheus, deadline 1"

say "a hostile block: strings bounded and escaped, 16 hosts at most"
forge hostile
json=$(dump --json 2>/dev/null)
if command -v python3 >/dev/null; then
	printf '%s' "$json" | python3 -c '
import json, sys
d = json.load(sys.stdin)
c = d["cluster"]
assert c["host"] == "A\x1b" + "A" * 61, c["host"]
assert c["cluster"] == "B\"" + "B" * 61, c["cluster"]
assert c["last_error"] == "E\n" + "E" * 253, len(c["last_error"])
assert len(c["hosts"]) == 16, len(c["hosts"])
assert all(h["host"] == "H" * 63 for h in c["hosts"])
assert any("1000 hosts claimed" in w for w in d["warnings"]), d["warnings"]
' || fail "hostile block, JSON: $json"
fi
out=$(dump 2>/dev/null)
expect_match "$out" '^  host +A\\x1bA{61}$' "human: host escaped, bounded"
expect_match "$out" '^  last error +E\\x0aE{253}$' "human: last error"
expect_match "$out" "HOSTS \(16\)" "human: 16 hosts"
case $out in *"$(printf '\033')"*) fail "an escape byte reached the terminal";; esac
prom=$(dump --prometheus 2>/dev/null)
expect_match "$prom" "^capbroker_cluster_hosts\{$B\} 16$" "Prometheus: 16 hosts"
expect_match "$prom" "^# warning: cluster block: 1000 hosts claimed" "Prometheus warning"
[ "$(printf '%s\n' "$prom" | grep -c '^capbroker_pool_host_share{')" = 16 ] ||
    fail "Prometheus: host_share series not 16"
if command -v promtool >/dev/null; then
	printf '%s\n' "$prom" | promtool check metrics >/dev/null 2>&1 ||
	    fail "promtool check metrics, hostile"
fi

say "the seqlock stuck odd: no cluster, a warning, and capdump returns"
forge odd
json=$(timeout 30 "$BIN/capdump" -n "$NAME" --json 2>/dev/null)
expect_eq "$?" 1 "exit status (the broker is gone)"
expect_match "$json" '"cluster":null' "cluster null"
expect_match "$json" 'cluster block: no stable copy' "warning"
expect_match "$json" '"scope":"global","share":0,' "no share figures from an unread block"
case $(dump --prometheus 2>/dev/null) in *capbroker_etcd_*)
	fail "etcd series from an unread block";; esac
exit 0
