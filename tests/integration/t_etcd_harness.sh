# The etcd harness of lib.sh (issue 15), which the global pools' tests
# build on: a cluster of three members on loopback answers through each
# member; with its leader killed the other two still answer; with a
# second member killed (quorum lost) writes fail; with that member
# restarted they work again.  Skipped, saying why, without etcd.
. "$(dirname "$0")/lib.sh"

have_etcd || { echo "skipped: /usr/bin/etcd missing (Debian etcd-server)"; exit 0; }

etcd_start_cluster 3
say "3 members: a write through each, read back through each"
for i in 1 2 3; do
	etcd_put $i "/h/k$i" "v$i" || fail "put through m$i"
done
for i in 1 2 3; do
	for j in 1 2 3; do
		expect_eq "$(etcd_get $i "/h/k$j")" "v$j" "m$i reads k$j"
	done
done

leader=$(etcd_leader)
[ -n "$leader" ] || fail "no member names a leader"
say "the leader (m$leader) killed: the other two still answer"
etcd_kill_member "$leader"
others=""
for i in 1 2 3; do
	[ $i -eq "$leader" ] || others="$others $i"
done
# shellcheck disable=SC2086 # word splitting is the point
set -- $others
# A new leader is elected within a few election timeouts (1 s each).
wait_until 15 etcd_put "$1" /h/after-leader x ||
    etcd_fail "$1" "no write through m$1 after the leader died"
expect_eq "$(etcd_get "$2" /h/after-leader)" x "m$2 reads it"
expect_eq "$(etcd_get "$1" /h/k$leader)" "v$leader" "m$1 reads k$leader"

say "m$2 killed too: quorum lost, a write through m$1 fails"
etcd_kill_member "$2"
if etcd_put "$1" /h/no-quorum x; then
	fail "a write went through without a quorum"
fi

say "m$2 restarted: writes work again"
etcd_start_member "$2"
wait_until 15 etcd_put "$1" /h/back y ||
    etcd_fail "$2" "no write through m$1 after m$2 came back"
expect_eq "$(etcd_get "$2" /h/back)" y "m$2 reads it"

say "etcd_stop_all: every member gone, and its directory"
pids="$ETCD_PID_1 $ETCD_PID_2 $ETCD_PID_3"
etcd_stop_all
for p in $pids; do
	! kill -0 "$p" 2>/dev/null || fail "member $p still running"
done
[ ! -e "$ETCD_DIR" ] || fail "etcd_stop_all left $ETCD_DIR"
