# capdump --prometheus: every scrape passes `promtool check metrics`
# (HELP/TYPE, counters ending in _total, no duplicate families), and the
# documented metrics carry the right values: capacity and its source
# tier, available workers, recomputes, per-pool limit/held/launching/
# observed, per-worker placement limit and in-flight holds, reclaimed
# holds of a kill -9'd holder, stale releases, broker liveness and
# restarts.
. "$(dirname "$0")/lib.sh"

D=$CAPBROKER_RUNDIR

if ! command -v promtool >/dev/null 2>&1; then
	fail "promtool not found (Debian package prometheus; make deps)"
fi

# scrape: capdump --prometheus into $PROM, validated by promtool.  The
# exit status of capdump (1 while the broker is down) is in $DUMPST.
scrape() {
	"$BIN/capdump" -n "$NAME" --prometheus >"$D/prom" 2>"$D/prom.err"
	DUMPST=$?
	PROM=$(cat "$D/prom")
	lint=$(promtool check metrics <"$D/prom" 2>&1) ||
	    fail "promtool check metrics: $lint"
	[ -z "$lint" ] || fail "promtool lint: $lint"
	dups=$(sed -n 's/^# TYPE \([^ ]*\) .*/\1/p' "$D/prom" | sort | uniq -d)
	expect_eq "$dups" "" "duplicate metric families"
}

# metric NAME [LABELS]: the value of one sample of the last scrape,
# LABELS as printed after broker (e.g. ',pool="gw"').
metric() {
	printf '%s\n' "$PROM" | awk -v k="$1{broker=\"$NAME\"${2:-}}" \
	    '$1 == k { print $2; n++ } END { exit n != 1 }' ||
	    fail "no single sample $1{broker=\"$NAME\"${2:-}}"
}

expect_metric() {	# NAME LABELS EXPECTED
	expect_eq "$(metric "$1" "$2")" "$3" "$1$2"
}

scraped_is() {	# NAME LABELS EXPECTED: a new scrape reads EXPECTED
	scrape
	[ "$(metric "$1" "$2")" = "$3" ]
}

# until_metric NAME LABELS EXPECTED SECONDS: scrape until it matches.
until_metric() {
	wait_until "$4" scraped_is "$1" "$2" "$3" ||
	    expect_metric "$1" "$2" "$3"
}

source_is() {	# TIER: 1 for TIER, 0 for the other three
	for s in override reported mixed fallback; do
		want=0
		[ "$s" = "$1" ] && want=1
		expect_metric capbroker_capacity_source ",source=\"$s\"" $want
	done
}

start_broker

say "fallback: no worker"
scrape
expect_eq "$DUMPST" 0 "capdump exit status"
expect_metric capbroker_capacity "" 1024
source_is fallback
expect_metric capbroker_workers_available "" 0
expect_metric capbroker_broker_up "" 1
expect_metric capbroker_broker_restarts_total "" 0
for m in '# TYPE capbroker_capacity gauge' \
    '# TYPE capbroker_capacity_source gauge' \
    '# TYPE capbroker_workers_available gauge' \
    '# TYPE capbroker_capacity_recompute_total counter' \
    '# TYPE capbroker_broker_up gauge' \
    '# TYPE capbroker_broker_restarts_total counter' \
    '# TYPE capbroker_pool_limit gauge' '# TYPE capbroker_pool_held gauge' \
    '# TYPE capbroker_pool_launching gauge' \
    '# TYPE capbroker_pool_observed gauge' \
    '# TYPE capbroker_reclaimed_total counter' \
    '# TYPE capbroker_stale_release_total counter'; do
	printf '%s\n' "$PROM" | grep -qx -- "$m" || fail "missing '$m'"
done
recomputes=$(metric capbroker_capacity_recompute_total)

say "reported, mixed, override"
ctl worker set w1 --state ready --max-running 8 >/dev/null
ctl worker set w2 --state ready --max-running 4 >/dev/null
ctl worker set w3 --state not_ready --max-running 16 >/dev/null
scrape
expect_metric capbroker_capacity "" 12
source_is reported
expect_metric capbroker_workers_available "" 2
expect_metric capbroker_workers ',state="not_ready"' 1
now=$(metric capbroker_capacity_recompute_total)
[ "$now" -ge $((recomputes + 3)) ] ||
    fail "recompute_total $recomputes -> $now after three worker changes"
ctl worker set w3 --state ready >/dev/null
scrape
expect_metric capbroker_capacity "" $((8 + 4 + 64))
source_is mixed
expect_metric capbroker_workers_available "" 3
expect_metric capbroker_worker_limit ',worker="w1"' 8
expect_metric capbroker_worker_limit ',worker="w3"' 64
expect_metric capbroker_worker_inflight ',worker="w1"' 0
ctl override 40 >/dev/null
scrape
expect_metric capbroker_capacity "" 40
source_is override
expect_metric capbroker_pool_limit ',pool="default"' 40

say "pool held, launching and observed after holds"
ctl pool set gw --limit 5 --observed 1 >/dev/null
for h in 1 2 3; do
	"$BIN/tests/cbhold" "$NAME" gw hold 0 -1 >"$D/h$h" 2>&1 &
	eval "holder$h=$!"
	PIDS="$PIDS $!"
done
for h in 1 2 3; do
	wait_for "h$h" '^ok ' 10 ||
		fail "holder $h not admitted: $(cat "$D/h$h" 2>/dev/null)"
done
t=$(ctl launch --pool gw --observed 1) || fail "launch refused"
scrape
expect_metric capbroker_pool_limit ',pool="gw"' 5
expect_metric capbroker_pool_held ',pool="gw"' 3
expect_metric capbroker_pool_launching ',pool="gw"' 1
expect_metric capbroker_pool_observed ',pool="gw"' 1
expect_metric capbroker_pool_held ',pool="default"' 0
expect_metric capbroker_reclaimed_total ',pool="gw"' 0

say "stale release counted"
ctl release "$t" >/dev/null || fail "release"
ctl release "$t" >/dev/null 2>&1 && fail "second release succeeded"
scrape
expect_metric capbroker_pool_launching ',pool="gw"' 0
expect_metric capbroker_stale_release_total ',pool="gw"' 1

say "kill -9 of a holder: reclaimed"
# shellcheck disable=SC2154 # set by eval above
kill -9 "$holder2"
wait "$holder2" 2>/dev/null
until_metric capbroker_pool_held ',pool="gw"' 2 5
until_metric capbroker_reclaimed_total ',pool="gw"' 1 5

say "broker down: up 0; restarted: restarts 1, nothing lost"
kill -9 "$BROKER"
wait "$BROKER" 2>/dev/null
scrape
expect_eq "$DUMPST" 1 "capdump exit status, broker gone"
expect_metric capbroker_broker_up "" 0
start_broker
scrape
expect_eq "$DUMPST" 0 "capdump exit status after the restart"
expect_metric capbroker_broker_up "" 1
expect_metric capbroker_broker_restarts_total "" 1
expect_metric capbroker_epoch "" 2
expect_metric capbroker_capacity "" 40
expect_metric capbroker_pool_held ',pool="gw"' 2
expect_metric capbroker_reclaimed_total ',pool="gw"' 1
stop_broker
expect_eq "$STATUS" 0 "broker exit status"
start_broker
scrape
expect_metric capbroker_broker_restarts_total "" 2
