# A hostile client scribbles over the slots segment (the broker treats
# every byte of it as untrusted): random bytes over the client, pool and
# launch regions; the header too; absurd counters and launch entries.
# Each time the broker keeps serving, does not crash, logs the repair,
# and converges: pool usage returns to what real clients hold and a
# fresh client reserves and releases normally.
. "$(dirname "$0")/lib.sh"

D=$CAPBROKER_RUNDIR
# What the broker logs when it repairs the slots segment (broker/
# sweeper.c): counters set right, launch entries fixed, the header.
DRIFT='pool [a-z0-9]+: counter drift repaired'
LAUNCHES='repaired [0-9]+ launch entr(y|ies) holding garbage'
HEADER='slots segment header was overwritten; restored'

rogue() {
	"$BIN/tests/cbrogue" "$NAME" "$@"
}

burst() {
	"$BIN/tests/cbburst" "$NAME" "$@"
}

# usage POOL: "held:launching" as a client reads it (empty if it cannot
# attach).
usage() {
	burst info "$1" 2>/dev/null | tr ' ' '\n' |
	    awk -F= '$1 == "held" { h = $2 } $1 == "launching" { l = $2 }
	        END { if (h != "") print h ":" l }'
}

index_of() {
	burst info "$1" | tr ' ' '\n' | sed -n 's/^index=//p'
}

# converge "POOL=HELD:LAUNCHING ..." LIVE CLIENTS: poll up to 10 s until
# every pool shows what real clients hold, the launch table holds the
# LIVE real launches only (in the pools that exist; nothing claiming,
# no impossible state) and the client table only the real clients.
converge() {
	want_pools=$1
	want_table="claiming 0 live $2 bad 0 clients $3"
	i=0
	while :; do
		got_pools=""
		for pw in $1; do
			got_pools="$got_pools ${pw%%=*}=$(usage "${pw%%=*}")"
		done
		got_pools=${got_pools# }
		got_table=$(rogue count "$ACTIVE" |
		    sed 's/^free [0-9]* //; s/ stray [0-9]*$//')
		[ "$got_pools" = "$want_pools" ] &&
		    [ "$got_table" = "$want_table" ] && break
		i=$((i + 1))
		if [ $i -gt 50 ]; then
			[ "$got_pools" = "$want_pools" ] ||
			    fail "pool usage did not converge within 10 s:" \
			        "got '$got_pools', expected '$want_pools'"
			fail "the launch/client table did not converge within" \
			    "10 s: got '$got_table', expected '$want_table'"
		fi
		sleep 0.2
	done
}

# healthy WHAT: the broker answers ping and pool list, its pid lives.
healthy() {
	if kill -0 "$BROKER" 2>/dev/null && ctl ping >/dev/null 2>&1 &&
	    ctl pool list >/dev/null 2>&1; then
		return 0
	fi
	if ! kill -0 "$BROKER" 2>/dev/null; then
		wait "$BROKER"
		fail "$1: the broker died (exit status $?)"
	fi
	fail "$1: the broker is alive but does not answer ping/pool list"
}

# logged SINCE WHAT PATTERN...: each pattern matches a line logged
# after line SINCE of the log.
logged() {
	since=$1
	what=$2
	shift 2
	for pat; do
		tail -n +"$((since + 1))" "$LOG" | grep -Eq -- "$pat" ||
		    fail "$what: the repair was not logged (/$pat/)"
	done
}

# fresh WHAT: a new client holds and launches in g1 and releases.
fresh() {
	out=$("$BIN/tests/cbhold" "$NAME" g1 hold 0 0)
	expect_eq "$?" 0 "$1: fresh hold"
	expect_match "$out" "released ok" "$1: fresh hold released"
	out=$("$BIN/tests/cbhold" "$NAME" g1 launch 0 0)
	expect_eq "$?" 0 "$1: fresh launch"
	expect_match "$out" "released ok" "$1: fresh launch released"
	out=$("$BIN/tests/cbhold" "$NAME" default hold 0 0)
	expect_eq "$?" 0 "$1: fresh hold in default"
	expect_eq "$(usage g1):$(usage default)" "0:0:0:0" "$1: empty after"
}

start_broker
ctl pool set g1 --limit 4 --window 1 >/dev/null || fail "pool set g1"
ctl pool set g2 --share 50 --window 1 >/dev/null || fail "pool set g2"
# Every pool has a 1 s window while garbage is about: a LIVE entry with
# a deadline no window can produce may stand for a real launch whose
# deadline was overwritten, so it counts (the safe side) for one window.
ctl pool set keep --limit 3 --window 1 >/dev/null || fail "pool set keep"
ctl pool set tiny --limit 1 --window 1 >/dev/null || fail "pool set tiny"
ctl pool set default --window 1 >/dev/null || fail "pool set default"
g1=$(index_of g1)
g2=$(index_of g2)
keep=$(index_of keep)
tiny=$(index_of tiny)
ACTIVE="0,$g1,$g2,$keep,$tiny"
ALL0="default=0:0 g1=0:0 g2=0:0 keep=0:0 tiny=0:0"
converge "$ALL0" 0 0

say "random bytes over the client, pool and launch regions"
mark=$(wc -l <"$LOG")
rogue random 1 >/dev/null || fail "cbrogue random"
sleep 0.5	# a few sweeps over the garbage
healthy "random"
say "  the broker repairs it: usage back to 0, garbage entries freed"
converge "$ALL0" 0 0
healthy "random"
logged "$mark" "random" "$DRIFT" "$LAUNCHES"
fresh "random"

say "  a pool created after the garbage starts empty: launch entries" \
    "naming a pool that did not exist were never admitted"
ctl pool set late --limit 5 --window 1 >/dev/null || fail "pool set late"
late=$(index_of late)
ACTIVE="$ACTIVE,$late"
ALL0="$ALL0 late=0:0"
converge "$ALL0" 0 0
out=$(burst launch late 0 5)
expect_eq "$(printf '%s\n' "$out" | grep -c '^ok ')" 5 \
    "launches admitted in the new pool"
expect_eq "$(burst release $(printf '%s\n' "$out" | sed -n 's/^ok //p') |
    sort -u)" "ok" "released"

say "random bytes over the slots header as well"
mark=$(wc -l <"$LOG")
rogue header 2 >/dev/null || fail "cbrogue header"
sleep 0.5	# a few sweeps over the garbage
healthy "header"
say "  the broker restores the header: clients can attach again"
wait_until 10 burst info g1 >/dev/null 2>&1 ||
    fail "header: clients still refused after 10 s:" "$(burst info g1)"
converge "$ALL0" 0 0
healthy "header"
logged "$mark" "header" "$HEADER" "$DRIFT" "$LAUNCHES"
fresh "header"

say "random bytes over the header alone, with clients attached: a holder" \
    "and a reserver blocked on the full pool"
"$BIN/tests/cbhold" "$NAME" tiny hold 0 -1 >"$D/hh" 2>&1 &
hh=$!
PIDS="$PIDS $hh"
wait_for hh '^(ok|E[A-Z]+) ' 10 || fail "holder did not answer"
expect_match "$(cat "$D/hh")" "^ok " "holder admitted"
"$BIN/tests/cbhold" "$NAME" tiny hold 30000 0 >"$D/hw" 2>&1 &
hw=$!
PIDS="$PIDS $hw"
wait_for hw '^waiting' 10 || fail "reserver did not start"
sleep 0.3
expect_eq "$(cat "$D/hw")" "waiting" "reserver blocked"
mark=$(wc -l <"$LOG")
rogue hdronly 4 >/dev/null || fail "cbrogue hdronly"
sleep 0.5	# a few sweeps over the garbage
healthy "header alone"
wait_until 10 burst info tiny >/dev/null 2>&1 ||
    fail "header alone: clients still refused after 10 s"
logged "$mark" "header alone" "$HEADER"
say "  the attached clients live on and the holder releases normally"
for p in $hh $hw; do
	kill -0 "$p" 2>/dev/null && continue
	wait "$p"
	fail "header alone: attached client $p died (exit status $?)"
done
converge "default=0:0 g1=0:0 g2=0:0 keep=0:0 tiny=1:0 late=0:0" 0 2
kill -USR1 "$hh"
wait_for hh '^released ' 10 || fail "holder did not release"
expect_eq "$(sed -n 's/^released //p' "$D/hh")" ok "holder's release"
say "  the blocked reserver is admitted after the release"
wait_for hw '^released ' 10 || fail "reserver not admitted within 10 s"
expect_match "$(cat "$D/hw")" "^ok " "reserver admitted"
expect_eq "$(sed -n 's/^released //p' "$D/hw")" ok "reserver's release"
converge "$ALL0" 0 0
fresh "header alone"

say "absurd counters and launch entries, with real holds and a real" \
    "launch in place"
"$BIN/tests/cbhold" "$NAME" g1 hold 0 -1 >"$D/hg1" 2>&1 &
hg1=$!
PIDS="$PIDS $hg1"
"$BIN/tests/cbhold" "$NAME" default hold 0 -1 >"$D/hdef" 2>&1 &
hdef=$!
PIDS="$PIDS $hdef"
wait_for hg1 '^(ok|E[A-Z]+) ' 10 && wait_for hdef '^(ok|E[A-Z]+) ' 10 ||
    fail "holders did not answer"
expect_match "$(cat "$D/hg1")" "^ok " "holder in g1 admitted"
expect_match "$(cat "$D/hdef")" "^ok " "holder in default admitted"
ctl pool set keep --window 60 >/dev/null || fail "pool set keep --window"
out=$(burst launch keep 0 1)
expect_match "$out" "^ok " "a real launch in keep"
keep_ticket=${out#ok }
REAL="default=1:0 g1=1:0 g2=0:0 keep=0:1 tiny=0:0 late=0:0"
converge "$REAL" 1 2
mark=$(wc -l <"$LOG")
# Absurd entries in the 1 s pools, and in pools that do not exist
# (never in keep, whose 60 s window they would rightly occupy).
rogue counters 3 "0,$g1,$g2,50,63" >/dev/null || fail "cbrogue counters"
sleep 0.5	# a few sweeps over the garbage
healthy "counters"
say "  the broker repairs it: usage back to the real holds and launch"
converge "$REAL" 1 2
healthy "counters"
logged "$mark" "counters" "$DRIFT" "$LAUNCHES"
say "  the real holders and the real launch release normally"
kill -USR1 "$hg1" "$hdef"
wait_for hg1 '^released ' 10 && wait_for hdef '^released ' 10 ||
    fail "holders did not release"
expect_eq "$(sed -n 's/^released //p' "$D/hg1" "$D/hdef")" "ok
ok" "real holds released"
expect_eq "$(burst release "$keep_ticket")" "ok" "real launch released"
converge "$ALL0" 0 0
fresh "counters"
healthy "the end"

say "forged in-flight counts on 600 worker slots: repaired, said in one line, not 600"
mark=$(wc -l <"$LOG")
rogue workers 5 600 >/dev/null || fail "cbrogue workers"
wait_until 10 yields 1 sh -c "tail -n +$((mark + 1)) '$LOG' | grep -c 'in-flight drift repaired against the binds: 600 worker slots'" ||
    fail "no summary of the 600 slots: $(tail -n +$((mark + 1)) "$LOG" | grep drift | head -3)"
say "  forged again and again: one line for all of it, not one per sweep"
# Eight forgeries 300 ms apart, each repaired by a sweep (100 ms) that
# has drift to report: one line per sweep would be eight more.
i=0
while [ $i -lt 8 ]; do
	rogue workers $((6 + i)) 600 >/dev/null || fail "cbrogue workers, again"
	sleep 0.3
	i=$((i + 1))
done
healthy "workers"
lines=$(tail -n +"$((mark + 1))" "$LOG" | grep -c 'placement: .*drift')
[ "$lines" -le 2 ] || fail "$lines drift lines for nine forgeries"

say "a member that scribbles over the header again and again: every" \
    "scribble repaired, at most 10 lines at once, then one every 6 s that" \
    "says how many it held back (broker/log.h, LOG_RL_*)"
# A broker of its own (it adopts the pools): its limiters start full,
# none spent by the repairs above.
stop_broker
expect_eq "$STATUS" 0 "the broker's exit status"
start_broker
mark=$(wc -l <"$LOG")
held_line() {
	tail -n +"$((mark + 1))" "$LOG" | grep "$HEADER" |
	    grep -q 'more like it held back'
}
start=$(mono_ms)
n=0
i=0
# Until the line that tells what was held back (a token 6 s after the
# first line, once the burst of 10 is spent), at most 15 s.
while ! held_line; do
	[ $(($(mono_ms) - start)) -lt 15000 ] ||
	    fail "no header line told what it held back within 15 s"
	# cbrogue attaches first: it is refused until the broker restored
	# the last scribble, so only the scribbles made are counted.
	rogue hdronly $((100 + i)) >/dev/null 2>&1 && n=$((n + 1))
	i=$((i + 1))
	sleep 0.05
done
elapsed=$(($(mono_ms) - start))
healthy "header flood"
wait_until 10 burst info g1 >/dev/null 2>&1 ||
    fail "header flood: clients still refused after 10 s"
fresh "header flood"
lines=$(tail -n +"$((mark + 1))" "$LOG" | grep -c "$HEADER")
say "  $n scribbles in $elapsed ms, $lines header lines, the last telling" \
    "what it held back"
[ "$n" -gt 12 ] || fail "only $n scribbles: the flood proves nothing"
expect_eq "$lines" 11 "header lines for $n scribbles: 10 at once, then the one"
[ "$elapsed" -ge 6000 ] ||
    fail "the held-back line came after $elapsed ms: before a period (6 s)"
