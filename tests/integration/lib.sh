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
