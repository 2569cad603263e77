#!/bin/sh
# run.sh - model-check the reservation protocol (tests/model/reserve.pml).
#
#   sh tests/model/run.sh
#
# Builds spin's verifier for each configuration in a temporary
# directory (spin -a, cc -DSAFETY, ./pan) and checks:
#
#   - the protocol, in several configurations: exhaustive search, 0
#     errors (the limit holds, U never under-counts what is in use, U
#     never under-runs, recount never sees a deficit, U == 0 at the end);
#   - negative controls: a broken variant of the protocol must produce
#     a counterexample against one of the properties that matter (the
#     auxiliary checks are off: -DCORE_ONLY);
#   - coverage probes: points the checks rely on (pool full, refusal,
#     -ENOSPC, a stale release, a broker crash, a recount that is foiled
#     and one that repairs) must be reachable, or the model is vacuous.
#
# One line per check, in the order written, though the checks run side
# by side (one per CPU, memory permitting; MODEL_JOBS=N to choose); the
# last line is always "model: N passed, N failed"; the exit status is 1
# when anything failed.
#
# tests/model/queue.pml (fair waiting, lib/queue.h) is checked the same
# way at the end: no lost wakeup, grant order, its negative controls;
# then tests/model/reuse.pml (a client entry reused under a pending
# death notice), tests/model/slack.pml (hostile writes of window
# words), tests/model/pooldel.pml (a deleted pool's index reused),
# tests/model/budget.pml (one entry's slack across pools and workers,
# cb_close's one window across pools, A -> B -> A writes) and
# tests/model/eventcount.pml (lib/futex.h, both notifier halves).
#
# tests/model/pick.pml (blocked pickers, lib/place.h: the wake-one
# hand-off) comes next, then the two models of issue 14 under x86-TSO
# (store buffers): tests/model/lanes.pml (the hold pair with one record
# per client thread, plain stores, U the one CAS) and
# tests/model/revoke.pml (a thread's private ticket entry released
# from another thread: biased ownership revoked with membarrier).
#
# MODEL_DEEP=1 adds the three-client model with a concurrent recount
# (with a broker crash: about 7.4*10^7 states, 2-3 minutes, about 4 GiB),
# budget.pml's bigger runs (about a minute more) and lanes.pml with two
# takes in each thread (1.1*10^8 states, about 5 minutes, 5.3 GiB).
#
# tests/model/barge.pml (barging with a hand-off bound, lib/queue.h)
# runs right after queue.pml.
#
# tests/model/shares.pml (issue 15: one limit across hosts, shares
# leased from etcd) comes next: the rule the broker's etcd code
# follows (broker/cluster.c).  MODEL_DEEP=1 adds 12 ticks (6*10^6
# states, about 10 s).  Last, tests/model/aging.pml: a global pool's
# hold aging (lib/age.h), the usage word keeping rule (c) of
# shares.pml: a hold counts until it is hold_max old.

here=$(cd "$(dirname "$0")" && pwd) || exit 2
model=$here/reserve.pml
CC=${CC:-cc}

pass=0
fail=0

finish() {
	while [ -n "$queue" ]; do
		reap_oldest
	done
	echo "model: $pass passed, $fail failed"
	[ "$fail" -eq 0 ]
	exit $?
}

if ! command -v spin >/dev/null 2>&1; then
	echo "FAIL spin is not installed: the protocol model cannot be checked" \
	    "(scripts/install-deps.sh installs it; Debian package 'spin')"
	fail=1
	finish
fi
if [ ! -r "$model" ]; then
	echo "FAIL $model: not found"
	fail=1
	finish
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/cbmodel.XXXXXX") || exit 2
# A check still running when we stop dies with us (a verifier of the
# deep runs can take minutes and gigabytes).
trap 'for j in $queue; do kill "${j#*:}" 2>/dev/null; done; rm -rf "$tmp"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
n=0

# Checks run $jobs at a time (each verifier is one single-threaded
# process): one per CPU, at most one per 4 GiB of available memory (a
# big search may use 3 GiB; MODEL_JOBS overrides).  Their lines are
# printed in the order the checks are written, each once it is done.
cpus=$(nproc 2>/dev/null || echo 1)
mem_gib=$(awk '/^MemAvailable:/ { print int($2 / 4194304) }' \
    /proc/meminfo 2>/dev/null)
jobs=${MODEL_JOBS:-$cpus}
[ -n "$mem_gib" ] && [ -z "${MODEL_JOBS:-}" ] && [ "$mem_gib" -lt "$jobs" ] &&
    jobs=$mem_gib
[ "$jobs" -ge 1 ] 2>/dev/null || jobs=1
queue=''          # "n:pid ..." of the checks started, oldest first
running=0

# job FUNCTION ARGS...: run one check in the background, its output to
# $tmp/res.N; wait for the oldest while $jobs are running.
job() {
	n=$((n + 1))
	("$@"; rm -rf "${tmp:?}/$n") >"$tmp/res.$n" 2>&1 &
	queue="$queue $n:$!"
	running=$((running + 1))
	while [ "$running" -ge "$jobs" ]; do
		reap_oldest
	done
}

# Wait for the oldest check, print its lines and count its verdict.
reap_oldest() {
	set -- $queue
	j=$1
	shift
	queue=$*
	wait "${j#*:}"
	res=$tmp/res.${j%%:*}
	cat "$res"
	pass=$((pass + $(grep -c '^ok ' "$res")))
	fail=$((fail + $(grep -c '^FAIL' "$res")))
	if ! grep -q '^ok \|^FAIL' "$res"; then
		echo "FAIL check $n said nothing (killed?)"
		fail=$((fail + 1))
	fi
	running=$((running - 1))
}

# verify CC-FLAGS SPIN-FLAGS...: build and run one verifier in a fresh
# directory; leaves its output in $dir/out.  CC-FLAGS: -O2 for the big
# searches, -O0 where compiling costs more than the search.  Returns 1
# if it could not be built or run.
verify() {
	opt=$1
	shift
	dir=$tmp/$n
	mkdir "$dir" || return 1
	cp "$model" "$dir/reserve.pml" || return 1
	(
		cd "$dir" || exit 1
		spin "$@" -a reserve.pml >spin.log 2>&1 || exit 1
		# shellcheck disable=SC2086 # $CC and $opt are word lists
		$CC $opt -DSAFETY -w -o pan pan.c \
		    >cc.log 2>&1 || exit 1
		./pan -m100000 >out 2>&1
		exit 0
	) || {
		cat "$dir/spin.log" "$dir/cc.log" 2>/dev/null | sed 's/^/    /'
		return 1
	}
}

# Fields of a pan report.
errors() { sed -n 's/.*errors: \([0-9][0-9]*\).*/\1/p' "$dir/out" | head -n 1; }
states() { sed -n 's/^ *\([0-9.e+]*\) states, stored.*/\1/p' "$dir/out" | head -n 1; }
secs()   { sed -n 's/^pan: elapsed time \([0-9.e+]*\) seconds.*/\1/p' "$dir/out" | head -n 1; }
violated() {
	sed -n 's/^pan:[0-9]*: *\(.*\) (at depth.*/\1/p' "$dir/out" | head -n 1
}
incomplete() {
	grep -E 'max search depth too small|out of memory|MEMLIM|aborted' \
	    "$dir/out" >/dev/null
}

# expect_ok NAME CC-FLAGS SPIN-FLAGS...: exhaustive search, no error.
expect_ok() { job check_ok "$@"; }
check_ok() {
	name=$1
	shift
	if ! verify "$@"; then
		echo "FAIL $name: verifier not built"
		return
	fi
	e=$(errors)
	if [ "$e" = 0 ] && ! incomplete; then
		echo "ok   $name: 0 errors, $(states) states, $(secs) s"
	else
		echo "FAIL $name: errors=${e:-?} $(violated)"
		grep -E 'pan:|error|violated|too small|memory' "$dir/out" |
		    head -n 5 | sed 's/^/    /'
	fi
}

# expect_cex NAME PATTERNS SPIN-FLAGS...: a counterexample whose violated
# assertion contains one of PATTERNS (fixed strings, separated by ';').
# $said: what "ok" says.
said=counterexample
expect_cex() { job check_cex "$@"; }
# reach PREFIX DESC N [FLAGS]: the model's coverage probe COVER=N is
# reachable (its assertion "violated"), named "PREFIX reachable: DESC".
# shellcheck disable=SC2086 # $4: a list of flags
reach() { expect_cex "${1:+$1 }reachable: $2" "(($3==$3)" -DCOVER=$3 $4; }
check_cex() {
	name=$1
	pat=$2
	shift 2
	if ! verify "-O0 -DMEMLIM=2048" "$@"; then
		echo "FAIL $name: verifier not built"
		return
	fi
	e=$(errors)
	v=$(violated)
	hit=0
	oldifs=$IFS
	IFS=';'
	for p in $pat; do
		case $v in
		*"$p"*) hit=1 ;;
		esac
	done
	IFS=$oldifs
	if [ "$hit" = 1 ] && [ "${e:-0}" -ge 1 ]; then
		if [ "$said" = counterexample ]; then
			echo "ok   $name: counterexample, $v"
		else
			echo "ok   $name: $said"
		fi
	else
		echo "FAIL $name: expected a violation of $pat," \
		    "got errors=${e:-?} ${v:-none}"
	fi
}

# The protocol (reserve.pml's defaults: 2 clients, 2 admissions each,
# limit 2, 2 launch entries, a concurrent recount, one broker crash).
big="-O2 -DMEMLIM=3072"
expect_ok "protocol" "$big"
expect_ok "protocol, 3 clients contending (no concurrent recount, no crash)" \
    "$big" -DNC=3 -DROUNDS=1 -DMAXCRASH=0 -DMAXRECOUNT=0
expect_ok "protocol, 1 launch entry (-ENOSPC)" "$big" -DNL=1
expect_ok "protocol, limit 1" "$big" -DLIMIT=1
expect_ok "protocol, reclaim in its own thread (in the dead client's window)" \
    "$big" -DROUNDS=1 -DRECLAIM_THREAD
expect_ok "protocol, strict recount (gives up on any open window)" \
    "$big" -DRECOUNT_STRICT
# Issue 12, finding 3: the publisher lowers the limit (2 -> 1) at any
# moment while admissions are in flight; each re-checks after its CAS.
expect_ok "protocol, limit lowered while admissions are in flight" \
    "$big" -DLIMIT_DROP -DROUNDS=1
# Issue 12, finding 2: cb_close with two holds left releases them one
# at a time in its window (the variant that takes them all at once
# under-runs U here: the auxiliary check).
expect_ok "protocol, cb_close releases the holds left" \
    "$big" -DCLOSE_HOLDS -DMAXCRASH=0 -DNL=1
if [ "${MODEL_DEEP:-0}" = 1 ]; then
	expect_ok "protocol, cb_close releases the holds left, limit 3 (deep)" \
	    "$big" -DCLOSE_HOLDS -DLIMIT=3 -DMAXCRASH=0 -DNL=1
	expect_ok "protocol, 3 clients with a concurrent recount (deep)" \
	    "-O2 -DCOLLAPSE -DMEMLIM=16384" -DNC=3 -DROUNDS=1
	expect_ok "protocol, limit lowered, 3 clients contending (deep)" \
	    "$big" -DLIMIT_DROP -DNC=3 -DROUNDS=1 -DMAXCRASH=0 -DMAXRECOUNT=0
fi

# Negative controls: each must break the limit or "U >= in use" (the
# convergence one: U == 0 at the end).
safe='(gh+gl)<=;(Uh>=gh)'
conv='((Uh==0)&&(Ul==0))'
# shellcheck disable=SC2086 # $3: a list of flags
neg() { expect_cex "negative $1" "$2" -DROUNDS=1 -DCORE_ONLY $3; }
neg "reserve records the hold before the CAS"     "$safe" -DBUGGY_ORDER
neg "release decrements U before H"               "$safe" -DBUGGY_RELEASE
neg "recount without the second collect of S"     "$safe" -DRECOUNT_NO_S2
neg "recount ignores windows in flight (no slack)" "$safe" -DRECOUNT_NO_INFLIGHT
neg "launch release outside a window (reserve.h as written)" \
    "$safe" -DSPEC_LAUNCH_RELEASE_NO_WINDOW
neg "reclaim leaves CLAIMING entries (reserve.h as written)" \
    "$conv" -DSPEC_NO_CLAIMING_RECLAIM
neg "reclaim subtracts U before zeroing H, broker crash" \
    "$safe" -DRECLAIM_U_FIRST
neg "reclaim thread without the dead client's window" \
    "$safe" "-DRECLAIM_THREAD -DRECLAIM_NO_WINDOW"
expect_cex "negative cb_close takes every hold, then subtracts them" \
    "$safe" -DCORE_ONLY -DCLOSE_HOLDS -DBUGGY_CLOSE_SWAP -DLIMIT=3 \
    -DMAXCRASH=0 -DNL=1
lowered='(gh+gl)<=lim'
neg "admission without the re-check of a lowered limit" \
    "$lowered" "-DLIMIT_DROP -DNO_LIMIT_RECHECK"
neg "re-check of the value its own CAS stored, not U" \
    "$lowered" "-DLIMIT_DROP -DRECHECK_OWN_VALUE"

# Coverage probes.
said=reached
cover() { reach "" "$@"; }
cover "pool full"                        1 -DROUNDS=1
cover "admission refused over the limit" 2
cover "-ENOSPC"                          3 "-DROUNDS=1 -DNL=1"
cover "stale launch release (expired)"   4 -DROUNDS=1
cover "broker crash"                     5 -DROUNDS=1
cover "reclaim of a CLAIMING entry"      6 -DROUNDS=1
cover "recount foiled by a window"       7 -DROUNDS=1
cover "recount repairs an excess"        8 -DROUNDS=1
cover "re-check gives back over a lowered limit" 9 "-DROUNDS=1 -DLIMIT_DROP"

# Fair waiting (queue.pml, lib/queue.h): 3 waiters of priorities
# 0, 0, 5 arriving in that order on a pool of one unit.  No lost wakeup
# (spin's invalid end state: a waiter asleep for ever), grants in
# priority order, FIFO within a priority.  "none" = index 3.
model=$here/queue.pml
said=counterexample
q="-O2 -DMEMLIM=2048"
expect_ok "queue: 3 waiters, no lost wakeup, grants in order" "$q" \
    -DMORTAL=3 -DLEAVER=3
expect_ok "queue: the first waiter times out (any time)" "$q" \
    -DMORTAL=3 -DLEAVER=0
expect_ok "queue: the middle waiter is killed (queued, holding, mid-leave)" \
    "$q" -DMORTAL=1 -DLEAVER=3
expect_ok "queue: the high-priority head is killed" "$q" -DMORTAL=2 -DLEAVER=3
# Enqueue in its steps (issue 12, finding 8): a claim freed as stuck by
# the queue sweep; the enqueuer raises waiters again and claims again.
expect_ok "queue: the first enqueuer's claim is freed as stuck" "$q" \
    -DMORTAL=3 -DLEAVER=3 -DSTUCK=0
expect_ok "queue: the high-priority enqueuer's claim is freed as stuck" \
    "$q" -DMORTAL=3 -DLEAVER=3 -DSTUCK=2
# Broker down (issue 12, finding 7): no sweeper; a fail-fast reserve
# prunes a dead head (and so rescues the waiters behind it).  Two
# waiters ("none" = index 2), priorities 0 0 unless said.
ff="-DNW=2 -DFAILFAST -DNOBROKER"
# shellcheck disable=SC2086 # $ff: a list of flags
expect_ok "queue: broker down, the last waiter killed, a fail-fast reserve" \
    "$q" $ff -DMORTAL=1 -DLEAVER=2
# shellcheck disable=SC2086
expect_ok "queue: broker down, the head killed, a fail-fast reserve" \
    "$q" $ff -DMORTAL=0 -DLEAVER=2
# shellcheck disable=SC2086
expect_ok "queue: broker down, a priority-5 head killed, the other times out" \
    "$q" $ff -DP1=5 -DMORTAL=1 -DLEAVER=0
lost='invalid end state'
# shellcheck disable=SC2086 # $3: a list of flags
qneg() { expect_cex "queue negative $1" "$2" $3; }
qneg "waiter reads its own word after the scan" "$lost" \
    "-DBUG_LATE_READ -DMORTAL=3 -DLEAVER=3"
qneg "leaver does not hand over" "$lost" \
    "-DBUG_NO_HANDOVER -DMORTAL=3 -DLEAVER=3"
qneg "sweeper frees a dead head without waking the next" "$lost" \
    "-DBUG_SWEEP_NOWAKE -DMORTAL=2 -DLEAVER=3"
qneg "a stale head keeps a unit an arrival ahead of it waits for" "lastp" \
    "-DBUG_NO_GIVE_BACK -DMORTAL=3 -DLEAVER=3"
qneg "an enqueuer claims again without raising waiters" "$lost" \
    "-DBUG_NO_RECOUNT -DSTUCK=0 -DMORTAL=3 -DLEAVER=3"
qneg "broker down, fail-fast path blind to a dead head" "$lost" \
    "$ff -DBUG_FAILFAST_NOPRUNE -DMORTAL=1 -DLEAVER=2"
said=reached
qcover() { reach "queue" "$@"; }
qcover "a waiter killed while queued"    1 "-DMORTAL=1 -DLEAVER=3"
qcover "a waiter killed holding its unit" 2 "-DMORTAL=1 -DLEAVER=3"
qcover "the head times out"               3 "-DMORTAL=3 -DLEAVER=0"
qcover "a claim freed as stuck, claimed again" 4 \
    "-DMORTAL=3 -DLEAVER=3 -DSTUCK=0"
qcover "the fail-fast path prunes a dead head" 5 \
    "$ff -DMORTAL=1 -DLEAVER=2"

# Barging with a hand-off bound (barge.pml, lib/queue.h, issue 14): a
# head and NA arrivals that hold, release and come back on a one-unit
# pool.  No lost wakeup; once the head set the hand-off flag, at most
# the arrivals already past their look at it take a unit before the
# head.  The ceiling: an enqueuer's announce after its WAITING against
# a leaver's settle (load, scan, CAS).
model=$here/barge.pml
said=counterexample
expect_ok "barge: 2 arrivals, no lost wakeup, the head handed its unit" "-O2"
expect_ok "barge: 3 arrivals" "-O2 -DMEMLIM=2048" -DNA=3
expect_ok "barge: the ceiling never drops below a live waiter" "-O0" -DCEILING
# shellcheck disable=SC2086 # $3: a list of flags
bgneg() { expect_cex "barge negative $1" "$2" $3; }
bgneg "arrivals ignore the hand-off flag (passed for ever)" "late<=" \
    -DBUG_IGNORE_FLAG
bgneg "the head reads release_seq after its try" "$lost" -DBUG_LATE_READ
bgneg "the enqueuer announces before its claim" "(C>=5)" \
    "-DCEILING -DBUG_ANNOUNCE_FIRST"
said=reached
bgcover() { reach "barge" "$@"; }
bgcover "an arrival passes the queued head"              1
bgcover "an arrival in flight takes a unit after the flag" 2
bgcover "the head refused, asleep, woken, admitted"      3

# Entry reuse (reuse.pml, issue 12 finding 1: broker/sweeper.c): a
# client entry freed and claimed again by a new owner while one epoll
# batch still holds the old owner's pidfd event.  A live client's holds
# are never reclaimed, U never under-counts, a dead owner is always
# reclaimed (no invalid end state).
model=$here/reuse.pml
said=counterexample
expect_ok "reuse: a stale death notice, tag and death checked" "-O0"
expect_ok "reuse: the death re-check alone" "-O0" -DNO_TAG_CHECK
expect_ok "reuse: the tag check alone" "-O0" -DNO_DEATH_RECHECK
expect_cex "reuse negative an event handled by index (before c1f4280)" \
    '(U>=gh);(gh<=' -DCORE_ONLY -DBUG_INDEX_ONLY
said=reached
rcover() { reach "reuse" "$@"; }
rcover "a stale event handled after the new owner's watch" 1
rcover "a dead owner reclaimed with its hold"              2
rcover "the entry claimed again while a batch holds the old event" 3

# Hostile writes of window words (slack.pml, issue 12 finding 6:
# lib/reserve.c window_open, cb_rsv_slack): a member raises another
# client's in-flight count (or its own) at any time.  The honest client
# is never wedged (no invalid end state), U never under-counts, and a
# leak beyond one bounded slack per entry is trimmed, with at most MAX
# threads of the client and with more (the repair then waits).
model=$here/slack.pml
said=counterexample
sl="-DMAX=2 -DNWRITE=1"
# shellcheck disable=SC2086 # $sl: a list of flags
expect_ok "slack: hostile raises, 2 threads, at most 2 in flight" "-O2" $sl
# shellcheck disable=SC2086
expect_ok "slack: hostile also zeroes the words (no wedge, leak trimmed)" \
    "-O2" $sl -DLOWER
expect_ok "slack: repair waits over the maximum, 2 threads, at most 1" \
    "-O2 -DMEMLIM=2048"
expect_cex "slack negative window_open waits on a forged count (before 72844c7)" \
    "$lost" -DCORE_ONLY -DBUG_OLD_WAIT
expect_cex "slack negative the recount's slack unbounded (before 72844c7)" \
    "(U<=(H+" -DCORE_ONLY -DBUG_NO_SLACK_BOUND
expect_cex "slack negative the repair capped at the maximum (72844c7 as first made)" \
    "(U>=gh);assertion violated 0" -DCORE_ONLY -DBUG_REPAIR_CAPPED -DNT=2 -DMAX=1
expect_cex "slack negative the repair leaves out the opener's window" \
    "(U>=gh)" -DCORE_ONLY -DBUG_REPAIR_LOW -DMAX=2
# shellcheck disable=SC2086 # $sl: a list of flags
expect_cex "slack negative the repair keeps the version (a stale repair wins)" \
    "(U>=gh)" -DCORE_ONLY -DBUG_REPAIR_KEEP $sl
said=reached
scover() { reach "slack" "$@"; }
scover "a forged count repaired"                 1 "$sl"
scover "a thread waits for its own windows"      2
scover "a recount trims beside a forged count"   3 "$sl"
scover "a close borrows from a count forged to 0" 4 "$sl -DLOWER"

# A pool deleted in use and its index reused (pooldel.pml, issue 13
# item 11: broker/pools.h, cb_rsv_pool_idle, reset_pool_slot): a hold
# out at the deletion, a straggler that read the old limit, a client
# of the new pool.  U never under-counts and the new pool's limit holds.
model=$here/pooldel.pml
said=counterexample
expect_ok "pooldel: proof of idleness, no reset at reuse" "-O0"
expect_cex "pooldel negative the reused index's U reset" \
    "(U>=gu)" -DBUG_RESET
expect_cex "pooldel negative reuse without the proof (with the reset)" \
    "(U>=gu)" -DBUG_NO_PROOF
said=reached
pcover() { reach "pooldel" "$@"; }
pcover "a straggler's unit kept in the new pool"   1
pcover "the proof foiled"                          2
pcover "the old hold released after the deletion"  3

# One entry's slack across pools (budget.pml, issue 12 findings 2 and
# 6: lib/sweep_reserve.c cb_rsv_recount, lib/sweep_place.c
# cb_place_recount, cb_rsv_release_all): one window word per client
# entry, each pool's recount (or the one worker recount) granting it
# in full; cb_close's one window across two pools; hostile raises and
# A -> B -> A writes of the word.  No recount trims a unit in flight in
# either pool (U >= gh), the leak is trimmed.  The controls run with
# X's own word honest (-DXC=0: its forged slack would cover the unit a
# broken recount trims) against the run above them without the flag.
model=$here/budget.pml
said=counterexample
b="-O2 -DMEMLIM=2048"      # -O0 up to about 10^6 states (compiling
bb="-DNWRITE=0 -DXC=0"    # costs more than the search)
# shellcheck disable=SC2086 # $bb: a list of flags
expect_ok "budget: 2 threads in two pools, each recount grants the whole slack" \
    "-O0" $bb
# shellcheck disable=SC2086 # $3: a list of flags
bneg() { expect_cex "budget negative $1" "(U[0]>=gh[0])" "-DCORE_ONLY -DXC=0 $2"; }
bneg "the slack one budget drawn down across the pools" \
    "-DNWRITE=0 -DBUG_SHARED_BUDGET"
bneg "the slack granted only in the entry's last pool" \
    "-DNWRITE=0 -DBUG_LAST_POOL"
bneg "recount without the second read of S" "-DNWRITE=0 -DBUG_NO_SEQ_CHECK"
bneg "recount CAS on a re-read value, not u1" "-DNWRITE=0 -DBUG_CAS_REREAD"
expect_ok "budget: a hostile raise and an A->B->A by CAS, 1 thread, 2 writes" \
    "-O0" -DNT=1 -DNWRITE=2 -DABA
expect_ok "budget: cb_close's one window across two pools, a hostile raise" \
    "$b" -DCLOSE
expect_ok "budget: cb_close's one window across two pools (controls' base)" \
    "-O0" -DCLOSE -DNWRITE=0 -DXC=0
bneg "the close's window drawn on a budget across the pools" \
    "-DCLOSE -DNWRITE=0 -DBUG_SHARED_BUDGET"
# shellcheck disable=SC2086 # $bb: a list of flags
expect_ok "budget: worker recount (one collect), 2 threads in two workers" \
    "-O0" -DONE_COLLECT $bb
bneg "worker recount CAS on a re-read value, not u1[w]" \
    "-DONE_COLLECT -DNWRITE=0 -DBUG_CAS_REREAD"
expect_ok "budget: worker recount, cb_close across two workers, a hostile raise" \
    "$b" -DONE_COLLECT -DCLOSE
# Two threads in one pool: the close + open pairs the version is for.
expect_ok "budget: 2 threads in one pool, a hostile raise" "$b" \
    -DSAMEPOOL -DXC=0
bneg "S check compares counts, not versions" \
    "-DSAMEPOOL -DNWRITE=0 -DBUG_COUNT_ONLY"
bneg "the repair keeps the version" "-DSAMEPOOL -DBUG_REPAIR_KEEP"
bneg "the repair rolls the version back" "-DSAMEPOOL -DBUG_REPAIR_ROLLBACK"
# A limitation (budget.pml's header, docs/OPERATIONS.md trust model): a
# member that stores back an old word over an honest close + open
# hides the pair, like writing U downwards; the next recount fills it.
bneg "(limitation) the hostile stores an old word back" \
    "-DSAMEPOOL -DABA_STORE -DABA_ONLY"
if [ "${MODEL_DEEP:-0}" = 1 ]; then
	expect_ok "budget: 2 threads in two pools, a hostile raise (deep)" \
	    "-O2 -DMEMLIM=4096"
	expect_ok "budget: 2 threads in one pool, an A->B->A by CAS (deep)" \
	    "-O2 -DMEMLIM=4096" -DSAMEPOOL -DXC=0 -DABA -DABA_ONLY
	expect_ok "budget: 2 threads in two pools, an A->B->A by CAS (deep)" \
	    "-O2 -DCOLLAPSE -DMEMLIM=8192" -DABA
fi
said=reached
bcover() { reach "budget" "$@"; }
bcover "a trim in one pool, V's window open in the other" 1 \
    "-DNWRITE=0 -DXC=0"
bcover "pool 1 recounted in the close's window, after pool 0" 2 \
    "-DCLOSE -DNWRITE=0"
bcover "a recount's two reads of S straddle an A->B->A" 3 \
    "-DNT=1 -DNWRITE=2 -DABA"
bcover "a forged count repaired"             4 "-DNT=1 -DNWRITE=2"
bcover "a recount grants the whole bound"    5 "-DNT=1 -DNWRITE=2"

# The eventcount (eventcount.pml, lib/futex.h): 2 waiters, 2 notifiers,
# both notifier halves; no lost wakeup.
model=$here/eventcount.pml
said=counterexample
expect_ok "eventcount: notify (bump, then wake iff waiters)" "-O2"
expect_ok "eventcount: notify_sc (bump and wake only iff waiters)" "-O2" -DSC
# shellcheck disable=SC2086 # $3: a list of flags
eneg() { expect_cex "eventcount negative $1" "$lost" $2; }
eneg "notify_sc looks for waiters before publishing" \
    "-DSC -DBUG_NOTIFY_FIRST"
eneg "notify wakes without moving the sequence" "-DBUG_NO_BUMP"

# Blocked pickers (pick.pml, lib/place.h; issue 12, step 7): one wake
# per release to one sleeper, passed on by the admitted picker; no lost
# wakeup with a free of several units, a raised limit, a barger and a
# picker killed at any step.  A few seconds in all.
model=$here/pick.pml
said=counterexample
expect_ok "pick: 3 pickers, a free of 2 units and a raised limit" "-O0"
expect_ok "pick: a picker killed at any step (asleep, woken, admitted)" \
    "-O2" -DMORTAL=0
expect_ok "pick: 2 pickers, a free of 2 units, a barger" "-O0" \
    -DNP=2 -DNORAISE -DBARGER
expect_ok "pick: 2 pickers, a barger, a picker killed" "-O0" \
    -DNP=2 -DNORAISE -DBARGER -DMORTAL=0
if [ "${MODEL_DEEP:-0}" = 1 ]; then
	expect_ok "pick: 3 pickers, a barger, a picker killed (deep)" \
	    "-O2 -DMEMLIM=4096" -DBARGER -DMORTAL=0
fi
# shellcheck disable=SC2086 # $2: a list of flags
pkneg() { expect_cex "pick negative $1" "$lost" $2; }
pkneg "picker reads pick_seq after its attempt" -DBUG_LATE_READ
pkneg "admitted picker does not pass a wake on" -DBUG_NO_PASS_ON
pkneg "reclaim frees a dead picker's record without a wake" \
    "-DMORTAL=0 -DBUG_NO_RESEND"
pkneg "releaser looks at pickers before it frees the unit" -DBUG_WAKE_FIRST
said=reached
pkcover() { reach "pick" "$@"; }
pkcover "a pass-on wake admits a picker"       1
pkcover "a woken picker refused (a barger)"    2 "-DNP=2 -DNORAISE -DBARGER"
pkcover "the mortal picker woken, before its attempt" 3 -DMORTAL=0
pkcover "the reclaim's wake admits a picker"   4 -DMORTAL=0

# The hold pair with one lane per client thread (lanes.pml, issue 14):
# the window word and the record of each thread written with plain
# stores, U the one CAS, under x86-TSO (a store buffer per thread,
# drained at any time and before each CAS; a killed thread's buffer
# still drains before the broker learns of the death), a concurrent
# recount, a broker crash.  U never under-counts, the limit holds, and
# at the end U == the records == the holds that survive.
model=$here/lanes.pml
said=counterexample
lc="-O2 -DCOLLAPSE -DMEMLIM=2048"
expect_ok "lanes: 2 threads in 2 processes, a take and a release each" "-O2"
expect_ok "lanes: limit 1" "-O2" -DLIM=1
expect_ok "lanes: 2 recounts while the threads run" "-O2" -DMAXRECOUNT=2
expect_ok "lanes: 2 takes in thread 0" "$lc" -DROUNDS=2 -DROUNDS1=1
expect_ok "lanes: 2 threads of one process (killed together)" "-O2" \
    -DSAMEPROC
# A ticket passed between the threads of one process, released on the
# releaser's lane (its record goes below zero): the reclaim of the
# process takes the sum of its lanes.
expect_ok "lanes: a ticket released by the other thread of its process" \
    "-O2" -DSAMEPROC -DFOREIGN
if [ "${MODEL_DEEP:-0}" = 1 ]; then
	expect_ok "lanes: 2 takes in each thread (deep)" \
	    "-O2 -DCOLLAPSE -DMEMLIM=8192" -DROUNDS=2
fi
# shellcheck disable=SC2086 # $3: a list of flags
lneg() { expect_cex "lanes negative $1" "$2" "-DCORE_ONLY $3"; }
lneg "take opens its window after the CAS" "(U>=gh)" -DBUG_OPEN_LATE
lneg "release records after the CAS" "(U>=gh)" -DBUG_RECORD_EARLY
lneg "recount without the second read of S" "(U>=gh)" -DBUG_NO_RECHECK
lneg "the CAS does not drain the store buffer (weaker than TSO)" "(U>=gh)" \
    -DBUG_NO_DRAIN
lneg "S and H stores relaxed, not release (drain in any order)" "(U>=gh)" \
    -DBUG_RELAXED_STORES
# A finding (lanes.pml's header): a ticket released by another process,
# on that process's lane, is subtracted again by the reclaim of the
# process that took it, and the recount then sees nothing to fill.
lneg "(finding) a ticket released by another process on its own lane" \
    "(U>=gh);(U==(H[0]+H[1]))" -DFOREIGN
said=reached
lcover() { reach "lanes" "$@"; }
lcover "the pool full"                            1
lcover "a take refused before its window"         2 -DLIM=1
lcover "a take refused by its CAS"                3 -DLIM=1
lcover "a recount foiled by S alone (u1 == u2)"   4
lcover "a recount trims beside an open window"    5
lcover "a broker crash"                           6
lcover "a recount reads S closed, the open buffered" 7
lcover "a reclaim of a lane that died in its window" 8

# Biased ownership of a private ticket entry (revoke.pml, issue 14): the
# owner releases on a fast path of plain stores; a foreign thread of the
# process revokes the bias with membarrier and releases by CAS.  A
# ticket is released exactly once (-ESTALE exact), no deadlock.
model=$here/revoke.pml
said=counterexample
expect_ok "revoke: the owner's release races a foreign one" "-O0"
expect_ok "revoke: two owner releases race a foreign one" "-O0" -DNTK=2
# Probe 3 must stay unreachable: the fast path runs only while the bias
# holds, so it never finds its ticket released by another thread.
expect_ok "revoke: the fast path never finds a foreign release" "-O0" \
    -DNTK=2 -DCOVER=3
expect_cex "revoke negative a local fence, no membarrier" \
    "(rel[0]<=1)" -DBUG_NO_MEMBARRIER
expect_cex "revoke negative a local fence, two owner releases" \
    "(rel[0]<=1)" -DBUG_NO_MEMBARRIER -DNTK=2
expect_cex "revoke negative the slow path keeps active set (deadlock)" \
    "$lost" -DBUG_SLOW_KEEPS_ACTIVE
said=reached
vcover() { reach "revoke" "$@"; }
vcover "the owner turns to the slow path"             1
vcover "the foreign waits for the owner's fast path"  2
vcover "the foreign gets -ESTALE"                     4
vcover "the owner's slow path gets -ESTALE"           5

# One limit across hosts (shares.pml, issue 15): shares leased from
# etcd, the renewal deadline, lease expiry and the quarantine of a dead
# host's share.  The units in use on all hosts never exceed L.
model=$here/shares.pml
said=counterexample
expect_ok "shares: two hosts, limit 2, 8 ticks" "-O2 -DMEMLIM=2048"
expect_ok "shares: limit 3" "-O2 -DMEMLIM=2048" -DL=3
if [ "${MODEL_DEEP:-0}" = 1 ]; then
	expect_ok "shares: 12 ticks (deep)" "-O2 -DMEMLIM=2048" -DTMAX=12
fi
inuse="(((held[(0*3)]+"
expect_cex "shares negative the deadline from the answer's arrival" \
    "$inuse" -DBUG_DL_RECV
expect_cex "shares negative a dead host's share freed at once" \
    "$inuse" -DBUG_NO_QUARANTINE
expect_cex "shares negative a grow that does not compare what it read" \
    "((share[0]+share[1])+quar)" -DBUG_NO_COMPARE
expect_cex "shares negative etcd lowered before the local limit" \
    "$inuse" -DBUG_SHRINK_ETCD_FIRST
expect_cex "shares negative a new lease keeps the old local limit" \
    "$inuse" -DBUG_REGRANT_KEEPS_LIM
said=reached
scover() { reach "shares" "$@"; }
scover "frozen units granted again after the quarantine"  1
scover "one host holds every unit"                         2
scover "an admission at the last tick before a deadline"   3
scover "a lease expires while its host holds units"        4

# A global pool's hold aging (aging.pml, lib/age.h): no granted hold
# stops counting before it is hold_max old, and a late release (-ESTALE)
# is of a hold at least hold_max old; three clients, limit 2, the
# sweeper and the clients' coarse clocks at any pace.
model=$here/aging.pml
said=counterexample
expect_ok "aging: three clients, limit 2, 10 ticks" "-O2 -DMEMLIM=2048"
young="(prev+((held-aged)-prev))>=;(now-at["
expect_cex "aging negative no clock check after the admitting CAS" \
    "$young" -DBUG_NO_CHECK
expect_cex "aging negative an epoch no longer than hold_max + the lag" \
    "$young" -DBUG_NO_MARGIN
expect_cex "aging negative an undated unit taken from the newest bucket" \
    "$young" -DBUG_FRONT_NEWEST
expect_cex "aging negative a hold one epoch behind taken for aged" \
    "$young" -DBUG_POS
said=reached
acover() { reach "aging" "$@"; }
acover "a granted hold aged while it is held"            1
acover "an admission refused at an epoch boundary"       2
acover "a late release"                                  3
acover "a unit admitted beside an aged hold"             4

finish
