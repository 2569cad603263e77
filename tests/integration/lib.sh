# lib.sh - shared helpers for the integration tests (POSIX sh).
#
# Every test gets its own instance name and a private CAPBROKER_RUNDIR,
# and an EXIT trap that kills every process it started and removes its
# segments, so a failing test leaves nothing behind in /dev/shm.
#
# Set by run.sh: BIN (build directory).

set -u
: "${BIN:?BIN must name the build directory}"
NAME="it$$-$(basename "$0" .sh | cut -c3-16)"
CAPBROKER_RUNDIR=$(mktemp -d "${TMPDIR:-/tmp}/capbroker-it.XXXXXX")
export CAPBROKER_RUNDIR
LOG="$CAPBROKER_RUNDIR/broker.log"
PIDS=""

# The instance's segments, under their public names and the broker's
# spare links (broker/segments.h, "Names"; .new: a link on its way).
rm_segments() {
	for _k in state slots; do
		rm -f "/dev/shm/capbroker.$NAME.$_k" \
		    "/dev/shm/.capbroker.$NAME.$_k" \
		    "/dev/shm/.capbroker.$NAME.$_k.new"
	done
	# Tests that run several brokers name them $NAME-SUFFIX.
	rm -f "/dev/shm/capbroker.$NAME-"* "/dev/shm/.capbroker.$NAME-"*
}

cleanup() {
	for p in $PIDS; do
		kill -9 "$p" 2>/dev/null
	done
	wait 2>/dev/null
	rm_segments
	rm -rf "$CAPBROKER_RUNDIR"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

fail() {
	echo "FAIL: $*" >&2
	if [ -s "$LOG" ]; then
		echo "--- broker log:" >&2
		tail -n 30 "$LOG" >&2
	fi
	exit 1
}

say() {
	echo "  - $*"
}

expect_eq() {	# ACTUAL EXPECTED WHAT
	[ "$1" = "$2" ] || fail "$3: got '$1', expected '$2'"
}

expect_match() {	# TEXT PATTERN WHAT   (grep -E)
	printf '%s\n' "$1" | grep -Eq -- "$2" || fail "$3: '$1' !~ /$2/"
}

ctl() {
	"$BIN/capctl" -n "$NAME" "$@"
}

probe() {
	"$BIN/tests/cbprobe" "$NAME" "$@"
}

# Start a broker in the background; wait until it answers.
start_broker() {
	"$BIN/capbrokerd" -n "$NAME" "$@" >>"$LOG" 2>&1 &
	BROKER=$!
	PIDS="$PIDS $BROKER"
	i=0
	until ctl ping >/dev/null 2>&1; do
		i=$((i + 1))
		[ $i -lt 100 ] || fail "broker did not come up"
		kill -0 "$BROKER" 2>/dev/null || fail "broker exited at start"
		sleep 0.05
	done
}

# SIGTERM the broker and wait for it; its exit status in STATUS.
stop_broker() {
	kill -TERM "$BROKER"
	wait "$BROKER"
	STATUS=$?
}

# The capacity, source and generation a client reads, as "C S G".
state() {
	probe current
}

capacity() {
	probe current | cut -d' ' -f1
}

# Background processes the cleanup must kill are started with the
# binary itself (not through ctl/probe, whose subshell would be the pid
# killed while the program lived on).

# wait_until SECONDS COMMAND [ARG...]: run COMMAND (a function too)
# every 50 ms until it succeeds; returns 1 if SECONDS pass first.
wait_until() {
	_wu_n=$(($1 * 20))
	_wu_i=0
	shift
	until "$@"; do
		_wu_i=$((_wu_i + 1))
		[ $_wu_i -le "$_wu_n" ] || return 1
		sleep 0.05
	done
}

# yields VALUE COMMAND [ARG...]: COMMAND prints exactly VALUE.
yields() {
	_y_want=$1
	shift
	[ "$("$@")" = "$_y_want" ]
}

# wait_for FILE PATTERN SECONDS: until a line of $D/FILE matches
# PATTERN (grep -E); returns 1 if SECONDS pass first.  The test sets D.
wait_for() {
	wait_until "$3" grep -Eq -- "$2" "$D/$1" 2>/dev/null
}

# hup: send the broker one SIGHUP and wait until it has logged the
# outcome (every reload logs exactly one "SIGHUP:" line).
hup() {
	_n=$(grep -c 'SIGHUP:' "$LOG")
	kill -HUP "$BROKER"
	wait_until 10 hup_done "$_n" || fail "SIGHUP not handled"
}
hup_done() {
	[ "$(grep -c 'SIGHUP:' "$LOG")" -gt "$1" ]
}

# hold FILE POOL KIND TIMEOUT_MS HOLD_MS: cbhold in the background,
# output in $D/FILE, pid in pid_FILE (and PIDS).  (t_blocking and
# t_fairqueue have their own.)
hold() {
	f=$1
	shift
	"$BIN/tests/cbhold" "$NAME" "$@" >"$D/$f" 2>&1 &
	PIDS="$PIDS $!"
	eval "pid_$f=$!"
}

# admitted FILE: the holder writing $D/FILE answered, and was admitted.
admitted() {
	wait_for "$1" '^(ok|E[A-Z]+) ' 10 || fail "$1: no answer"
	grep -q '^ok ' "$D/$1" || fail "$1: not admitted: $(cat "$D/$1")"
}

# The pid a test stored in pid_NAME (eval "pid_$NAME=$!").
pid_of() {
	eval "echo \$pid_$1"
}

# let_go NAME: SIGUSR1 the holder (or granted waiter) started as NAME,
# writing to $D/NAME; it must print "released ok" and exit 0.
let_go() {
	p=$(pid_of "$1")
	kill -USR1 "$p"
	wait_for "$1" '^released ' 10 || fail "$1: did not release"
	expect_eq "$(sed -n 's/^released //p' "$D/$1")" ok "$1: release"
	wait "$p"
	expect_eq "$?" 0 "$1: exit status"
}

# ---- etcd members (issue 15: the global pools' shares live in etcd) ----
#
# etcd_start_cluster N: N members (m1..mN) of one new cluster on
# loopback, ports from cbports, data and logs under
# $CAPBROKER_RUNDIR/etcd (so cleanup removes them); waits until each
# answers.  Sets ETCD_ENDPOINTS (http://127.0.0.1:P1,...) for a broker's
# config.  Each member dies with the test's shell (setpriv --pdeathsig),
# and cleanup kills it too (its pid is in PIDS).
# etcd_kill_member I: kill -9 member I and wait for it.
# etcd_start_member I: start member I again, on its data (after a kill).
# etcd_stop_all: kill every member and remove their directories.
# The tests that need etcd skip themselves without it: have_etcd || ...
ETCD_N=0
ETCD_DIR="$CAPBROKER_RUNDIR/etcd"
ETCD_ENDPOINTS=""

have_etcd() {
	[ -x /usr/bin/etcd ]
}

etcd_start_cluster() {	# N
	ETCD_N=$1
	mkdir -p "$ETCD_DIR" || fail "mkdir $ETCD_DIR"
	_ports=$("$BIN/tests/cbports" $((2 * ETCD_N))) || fail "cbports"
	_i=1
	_cluster=""
	ETCD_ENDPOINTS=""
	for _p in $_ports; do
		if [ $_i -le "$ETCD_N" ]; then
			eval "ETCD_CPORT_$_i=$_p"
			ETCD_ENDPOINTS="$ETCD_ENDPOINTS${ETCD_ENDPOINTS:+,}http://127.0.0.1:$_p"
		else
			_m=$((_i - ETCD_N))
			eval "ETCD_PPORT_$_m=$_p"
			_cluster="$_cluster${_cluster:+,}m$_m=http://127.0.0.1:$_p"
		fi
		_i=$((_i + 1))
	done
	ETCD_CLUSTER=$_cluster
	_i=1
	while [ $_i -le "$ETCD_N" ]; do
		etcd_start_member $_i
		_i=$((_i + 1))
	done
	_i=1
	while [ $_i -le "$ETCD_N" ]; do
		wait_until 30 etcd_healthy $_i ||
		    etcd_fail $_i "etcd member m$_i did not come up"
		_i=$((_i + 1))
	done
}

etcd_start_member() {	# I
	_c=$(etcd_endpoint "$1")
	eval "_pp=\$ETCD_PPORT_$1"
	setpriv --pdeathsig KILL -- /usr/bin/etcd --name "m$1" \
	    --data-dir "$ETCD_DIR/m$1" \
	    --listen-client-urls "$_c" --advertise-client-urls "$_c" \
	    --listen-peer-urls "http://127.0.0.1:$_pp" \
	    --initial-advertise-peer-urls "http://127.0.0.1:$_pp" \
	    --initial-cluster "$ETCD_CLUSTER" \
	    --initial-cluster-token "cb-$NAME" --initial-cluster-state new \
	    --log-level warn >>"$ETCD_DIR/m$1.log" 2>&1 &
	eval "ETCD_PID_$1=$!"
	PIDS="$PIDS $!"
}

etcd_kill_member() {	# I
	eval "_p=\${ETCD_PID_$1:-}"
	[ -n "$_p" ] || return 0
	kill -9 "$_p" 2>/dev/null
	wait "$_p" 2>/dev/null
	PIDS=$(printf ' %s ' $PIDS | sed "s/ $_p / /")
	eval "ETCD_PID_$1="
}

etcd_stop_all() {
	_i=1
	while [ $_i -le "$ETCD_N" ]; do
		etcd_kill_member $_i
		_i=$((_i + 1))
	done
	rm -rf "$ETCD_DIR"
}

# fail, with the tail of member I's log.
etcd_fail() {	# I MESSAGE
	echo "--- etcd m$1 log:" >&2
	tail -n 20 "$ETCD_DIR/m$1.log" >&2 2>/dev/null
	fail "$2"
}

etcd_endpoint() {	# I
	eval "echo http://127.0.0.1:\$ETCD_CPORT_$1"
}

etcd_healthy() {	# I
	[ "$(curl -s -m 1 -o /dev/null -w '%{http_code}' \
	    "$(etcd_endpoint "$1")/health")" = 200 ]
}

# etcd_call I PATH JSON: POST to member I's JSON gateway (2 s at most);
# prints the answer, fails unless it came and carries no error.
etcd_call() {	# I PATH JSON
	_out=$(curl -s -m 2 -X POST "$(etcd_endpoint "$1")$2" -d "$3") ||
	    return 1
	printf '%s\n' "$_out"
	case $_out in
	*'"header"'*) ! printf '%s' "$_out" | grep -q '"error"' ;;
	*) return 1 ;;
	esac
}

b64() {
	printf %s "$1" | base64 -w0
}

etcd_put() {	# I KEY VALUE
	etcd_call "$1" /v3/kv/put \
	    "{\"key\":\"$(b64 "$2")\",\"value\":\"$(b64 "$3")\"}" >/dev/null
}

# etcd_get I KEY: the value of KEY read through member I (a
# linearizable read: it needs a quorum too).
etcd_get() {	# I KEY
	_out=$(etcd_call "$1" /v3/kv/range "{\"key\":\"$(b64 "$2")\"}") ||
	    return 1
	printf '%s' "$_out" | sed -n 's/.*"value":"\([^"]*\)".*/\1/p' |
	    base64 -d
}

# etcd_leader: the index of the member that is the leader, asked of
# the live members; empty when none knows one.
etcd_leader() {
	_i=1
	while [ $_i -le "$ETCD_N" ]; do
		eval "_p=\${ETCD_PID_$_i:-}"
		if [ -n "$_p" ]; then
			_st=$(etcd_call $_i /v3/maintenance/status '{}') &&
			    etcd_leader_of "$_st" && return 0
		fi
		_i=$((_i + 1))
	done
}
etcd_leader_of() {	# STATUS: print the index of the member it names
	_lid=$(printf '%s' "$1" | sed -n 's/.*"leader":"\([0-9]*\)".*/\1/p')
	[ -n "$_lid" ] || return 1
	_j=1
	while [ $_j -le "$ETCD_N" ]; do
		eval "_p=\${ETCD_PID_$_j:-}"
		if [ -n "$_p" ] &&
		    etcd_call $_j /v3/maintenance/status '{}' |
		    grep -q "\"member_id\":\"$_lid\""; then
			echo $_j
			return 0
		fi
		_j=$((_j + 1))
	done
	return 1
}

# ---- global pools (issue 15): brokers of one cluster on this host ----
#
# gb_start I [EXTRA_CONFIG_LINE...]: broker $NAME-gI, host hI, in the
# cluster $GB_CLUSTER on $ETCD_ENDPOINTS with lease_ttl $GB_TTL and the
# pool $GB_POOL (limit $GB_LIMIT, hold_max $GB_HOLD_MAX), logging to
# $CAPBROKER_RUNDIR/gI.log; waits until it answers.  Its pid in GB_PID_I.
# gb_limit I: the pool's published (local) limit on broker I.
# gb_json I EXPR: a Python expression over capdump --json of broker I
# (d: the document, p: the pool's object).
GB_CLUSTER="c$$"
GB_TTL=3
GB_POOL=backend
GB_LIMIT=12
GB_HOLD_MAX=300

gb_conf() {	# I [EXTRA...]
	_i=$1
	shift
	{
		echo "etcd = $ETCD_ENDPOINTS"
		echo "cluster = $GB_CLUSTER"
		echo "host = h$_i"
		echo "lease_ttl = $GB_TTL"
		echo "pool $GB_POOL limit=$GB_LIMIT global hold_max=$GB_HOLD_MAX"
		for _l in "$@"; do
			echo "$_l"
		done
	} >"$CAPBROKER_RUNDIR/g$_i.conf"
}

gb_start() {	# I [EXTRA...]
	gb_conf "$@"
	"$BIN/capbrokerd" -n "$NAME-g$1" -c "$CAPBROKER_RUNDIR/g$1.conf" \
	    >>"$CAPBROKER_RUNDIR/g$1.log" 2>&1 &
	eval "GB_PID_$1=$!"
	PIDS="$PIDS $!"
	_i=0
	until "$BIN/capctl" -n "$NAME-g$1" ping >/dev/null 2>&1; do
		_i=$((_i + 1))
		[ $_i -lt 200 ] || gb_fail "$1" "broker g$1 did not come up"
		eval "kill -0 \$GB_PID_$1" 2>/dev/null ||
		    gb_fail "$1" "broker g$1 exited at start"
		sleep 0.05
	done
}

gb_fail() {	# I MESSAGE
	echo "--- broker g$1 log:" >&2
	tail -n 25 "$CAPBROKER_RUNDIR/g$1.log" >&2 2>/dev/null
	fail "$2"
}

gb_json() {	# I EXPR
	"$BIN/capdump" -n "$NAME-g$1" --json 2>/dev/null | python3 -c '
import json, sys
d = json.load(sys.stdin)
p = [q for q in d["pools"] if q["name"] == sys.argv[1]][0]
print(eval(sys.argv[2]))' "$GB_POOL" "$2"
}

gb_limit() {	# I
	gb_json "$1" 'p["limit"]'
}

# gb_converged LO HI I...: every broker I has a local limit in LO..HI.
gb_converged() {
	_lo=$1
	_hi=$2
	shift 2
	for _i in "$@"; do
		_l=$(gb_limit "$_i") || return 1
		[ "$_l" -ge "$_lo" ] && [ "$_l" -le "$_hi" ] || return 1
	done
}

# gb_hammer I: cbglobal hammer on broker I (20 ms holds), output in
# $CAPBROKER_RUNDIR/hI.out, pid in GB_HAMMER_I.
gb_hammer() {	# I
	"$BIN/tests/cbglobal" hammer "$NAME-g$1" "$GB_POOL" 20 \
	    >"$CAPBROKER_RUNDIR/h$1.out" 2>&1 &
	eval "GB_HAMMER_$1=$!"
	PIDS="$PIDS $!"
}

gb_hammer_stop() {	# I
	eval "kill -TERM \$GB_HAMMER_$1; wait \$GB_HAMMER_$1"
}

# gb_admitted I: what hammer I has admitted so far (its last report).
gb_admitted() {	# I
	tail -n 1 "$CAPBROKER_RUNDIR/h$1.out" | awk '{print $3}'
}

# gb_last_admit I: CLOCK_MONOTONIC ms of hammer I's first report that
# shows its final admitted count (when it last got a unit, to 100 ms).
gb_last_admit() {	# I
	awk '$3 != last { last = $3; t = $1 } END { print t }' \
	    "$CAPBROKER_RUNDIR/h$1.out"
}

# gb_validate NAME...: the validator over brokers $NAME-gI, in the
# background; gb_validate_end checks it saw no more than $GB_LIMIT.
gb_validate() {
	_names=""
	for _i in "$@"; do
		_names="$_names $NAME-g$_i"
	done
	# shellcheck disable=SC2086 # one word per broker
	"$BIN/tests/cbglobal" validate "$GB_POOL" "$GB_LIMIT" $_names \
	    >"$CAPBROKER_RUNDIR/validate.out" 2>&1 &
	GB_VALIDATOR=$!
	PIDS="$PIDS $!"
}

gb_validate_end() {
	kill -TERM "$GB_VALIDATOR"
	wait "$GB_VALIDATOR"
	_rc=$?
	say "validator: $(cat "$CAPBROKER_RUNDIR/validate.out")"
	[ $_rc -eq 0 ] || fail "units in use above $GB_LIMIT: $(cat \
	    "$CAPBROKER_RUNDIR/validate.out")"
}

mono_ms() {
	"$BIN/tests/cbglobal" now
}

# The control-socket limit tests (t_ctl_*.sh).
# ctl_peers_or_skip: peers of other uids need root and setpriv; the
# test skips without them.  Sets SOCK and D.
ctl_peers_or_skip() {
	if [ "$(id -u)" -ne 0 ] || ! command -v setpriv >/dev/null; then
		say "(skipped: needs root and setpriv for peers of other uids)"
		exit 0
	fi
	SOCK="$CAPBROKER_RUNDIR/$NAME.sock"
	D="$CAPBROKER_RUNDIR"
}
ctl_pings() {	# WHEN: the broker answers a ping within a generous 10 s
	timeout 10 "$BIN/capctl" -n "$NAME" ping >/dev/null 2>&1 ||
	    fail "capctl ping got no answer $1"
}
as_uid() {	# UID CMD...: CMD as a non-admin uid (root and setpriv)
	u=$1
	shift
	setpriv --reuid="$u" --regid="$u" --clear-groups "$@"
}
# ctl_attack TAG UID N [cbconns options]: cbconns as UID in the
# background, N connections to SOCK, its output in $D/TAG, its pid added
# to PIDS and PEERS; returns once it says how many connected.
ctl_attack() {
	tag=$1 u=$2 n=$3
	shift 3
	# setpriv execs cbconns: $! is its pid (a function would fork).
	setpriv --reuid="$u" --regid="$u" --clear-groups \
	    "$BIN/tests/cbconns" -n "$n" "$@" "$SOCK" >"$D/$tag" 2>&1 &
	PIDS="$PIDS $!"
	PEERS="$PEERS $!"
	wait_for "$tag" '^connected ' 30 || fail "$tag did not start"
}
# ctl_workers_1024 FILE: a configuration of 1,024 workers with the
# longest ids, so that a WORKER LIST reply is ~74 KB; id63 is their
# common prefix.
ctl_workers_1024() {
	id63=$(printf 'w%062d' 0 | cut -c1-58)
	i=0
	while [ $i -lt 1024 ]; do
		printf 'worker %s%05d ready 1\n' "$id63" $i
		i=$((i + 1))
	done >"$1"
}
