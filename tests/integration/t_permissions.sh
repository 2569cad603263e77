# Permissions: the slots segment and socket belong to the configured
# group (mode 0660, umask-proof); its members may attach and reserve,
# only the broker's uid, root or the admin group may change the broker
# (a refused change is logged with the peer's uid and pid, rate-limited:
# issue 13, item 10); outsiders may only observe.
. "$(dirname "$0")/lib.sh"

if [ "$(id -u)" -ne 0 ] || ! command -v setpriv >/dev/null ||
    ! getent group users >/dev/null || ! getent group nogroup >/dev/null; then
	say "(skipped: needs root, setpriv and the groups users and nogroup)"
	exit 0
fi
SOCK="$CAPBROKER_RUNDIR/$NAME.sock"
CONF="$CAPBROKER_RUNDIR/perm.conf"
chmod 0755 "$CAPBROKER_RUNDIR"
printf 'group = users\nadmin_group = nogroup\n' >"$CONF"

# as UID GID GROUPS CMD...: run a command as an unprivileged user.
as() {
	uid=$1 gid=$2 groups=$3
	shift 3
	setpriv --reuid="$uid" --regid="$gid" --groups="$groups" "$@"
}

say "segments and socket carry the configured group, umask-proof"
(umask 077 && "$BIN/capbrokerd" -n "$NAME" -c "$CONF" >>"$LOG" 2>&1) &
BROKER=$!
PIDS="$PIDS $BROKER"
i=0
until ctl ping >/dev/null 2>&1; do
	i=$((i + 1)); [ $i -lt 100 ] || fail "broker did not come up"; sleep 0.05
done
expect_eq "$(stat -c '%a %G' "/dev/shm/capbroker.$NAME.slots")" "660 users" "slots segment"
expect_eq "$(stat -c '%a' "/dev/shm/capbroker.$NAME.state")" "644" "state segment"
expect_eq "$(stat -c '%a %G' "$SOCK")" "660 users" "socket"
ctl pool set p --limit 1 >/dev/null || fail "pool set as root"

say "a member of the group reserves; it may not change the broker"
out=$(as 65534 100 100 "$BIN/capctl" -n "$NAME" run --pool p -- echo held)
expect_eq "$?:$out" "0:held" "group member runs with a slot"
out=$(as 65534 100 100 "$BIN/capctl" -n "$NAME" override 5 2>&1)
expect_eq "$?" 1 "group member may not override"
expect_match "$out" "may not change" "EPERM message"
out=$(as 65534 100 100 "$BIN/capctl" -n "$NAME" pool del p 2>&1)
expect_eq "$?" 1 "group member may not delete a pool"
expect_match "$out" "may not change" "pool del: EPERM message"
expect_match "$(ctl pool list)" "^p +1 " "pool p still there"

say "a refused change is logged with the verb, uid and pid, not flooded"
grep -Eq "control: refused OVERRIDE from uid 65534 pid [0-9]+: not an admin" \
    "$LOG" || fail "refused override not logged"
# 200 more in one burst (one connection): the quiet period's first
# line was logged already; the rest go to the once-per-10-s summary.
yes 'POOL DEL p force' | head -n 200 |
    as 65534 100 100 "$BIN/tests/cbsend" "$SOCK" >"$CAPBROKER_RUNDIR/flood"
expect_eq "$(grep -c '^ERR EPERM' "$CAPBROKER_RUNDIR/flood")" 200 \
    "every change in the burst refused"
expect_eq "$(grep -c 'control: refused [A-Z ]* from uid' "$LOG")" 1 \
    "lines logged for 202 refused changes"

say "the admin group may change it (supplementary group, SO_PEERGROUPS)"
as 65534 100 100,65534 "$BIN/capctl" -n "$NAME" pool set p --limit 2 >/dev/null ||
    fail "admin group member refused"
expect_match "$(ctl pool list)" "^p +1 +fixed +2 +2 " "limit changed by the admin group"

say "an outsider may observe only"
out=$(as 65534 65534 65534 "$BIN/tests/cbprobe" "$NAME" current 2>&1)
expect_eq "$?" 23 "outsider cannot reserve (-EACCES)"
as 65534 65534 65534 "$BIN/capdump" -n "$NAME" >/dev/null 2>&1
expect_eq "$?" 0 "outsider observes with capdump"
out=$(as 65534 65534 65534 "$BIN/capctl" -n "$NAME" ping 2>&1)
expect_eq "$?" 77 "outsider cannot reach the socket (EX_NOPERM)"
expect_match "$out" "Permission denied" "outsider: why"
out=$(as 65534 65534 65534 "$BIN/capctl" -n "$NAME" run -- true 2>&1)
expect_eq "$?" 77 "outsider cannot reserve with capctl run (EX_NOPERM)"

say "a client cannot register another process's entry (HELLO is checked)"
out=$(printf 'HELLO 0 %s\n' "$((1 << 32 | 1))" | "$BIN/tests/cbsend" "$SOCK")
expect_match "$out" "^ERR EPERM" "forged HELLO refused"
