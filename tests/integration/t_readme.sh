#!/bin/sh
# t_readme.sh - the README's examples run as written.
#
# Every ```sh block of README.md but the set-up one (make run / make
# check: CI runs those itself) is run verbatim, in order, by sh -e in a
# scratch directory.  The programs it names are shims there (on PATH
# for capbrokerd, capctl and capdump; build/examples/ for the gateway
# and the fake backends) that run this build's programs on private
# instances: "-n X" (or no -n: "default") becomes "-n $NAME-X", so the
# README's instance names stay as they are and nothing touches a real
# broker.  Programs the README starts in the foreground (the broker,
# the gateway) are started in the background and waited for.  The
# placeholders the README leaves to the reader (./call-backend.sh,
# count_visible_workers, start_worker, make deploy) are stubs.
#
# Then what the README says happens is checked: the capacity and
# source its commands lead to, `capctl run` exiting 75 over the limit,
# and the gateway answering 200 through its backends (not 502).  The
# C fragments are compiled (with stubs for the reader's functions)
# and the Python one byte-compiled.
. "$(dirname "$0")/lib.sh"

BIN=$(cd "$BIN" && pwd)
README=$(dirname "$0")/../../README.md
D=$CAPBROKER_RUNDIR/readme
mkdir -p "$D/bin" "$D/build/examples" "$D/work"
PIDFILE=$D/pids
: >"$PIDFILE"

cleanup_readme() {
	# TERM first: the gateway takes its pre-forked workers with it.
	for p in $(cat "$PIDFILE" 2>/dev/null); do
		kill -TERM "$p" 2>/dev/null
	done
	sleep 0.2
	for p in $(cat "$PIDFILE" 2>/dev/null); do
		kill -9 "$p" 2>/dev/null
	done
	for f in /dev/shm/capbroker."$NAME"-* /dev/shm/.capbroker."$NAME"-*; do
		[ -e "$f" ] && rm -f "$f"
	done
	cleanup
}
trap cleanup_readme EXIT

# The README's sh blocks, one file each: $D/block.N
awk -v dir="$D" '
	/^```sh$/ { n++; f = dir "/block." n; inb = 1; next }
	/^```/ { if (inb) close(f); inb = 0; next }
	inb { print > f }
	END { print n > (dir "/blocks") }' "$README"
nblocks=$(cat "$D/blocks")
[ "$nblocks" -ge 4 ] || fail "README: only $nblocks sh blocks found"

# A shim: rewrite -n, run the real program; MODE bg starts it in the
# background, records its pid and waits until WAITCMD succeeds.
shim() {	# FILE REAL MODE [WAITCMD]
	cat >"$1" <<EOF
#!/bin/sh
prefix="$NAME"
out=""
seen=0
while [ \$# -gt 0 ]; do
	case "\$1" in
	-n) out="\$out -n \$prefix-\$2"; seen=1; shift 2; continue ;;
	esac
	out="\$out '\$(printf '%s' "\$1" | sed "s/'/'\\\\\\\\''/g")'"
	shift
done
[ \$seen = 1 ] || out="-n \$prefix-default \$out"
EOF
	case $3 in
	fg)
		printf 'eval "exec %s $out"\n' "$2" >>"$1" ;;
	bg)
		cat >>"$1" <<EOF
eval "exec $2 \$out" >>"$D/\$(basename "\$0").log" 2>&1 </dev/null &
echo \$! >>"$PIDFILE"
i=0
until $4; do
	i=\$((i + 1))
	[ \$i -lt 200 ] || { echo "\$0: did not come up" >&2; exit 1; }
	sleep 0.05
done
EOF
		;;
	esac
	chmod +x "$1"
}
# The broker: ready once its control socket answers.
shim "$D/bin/capbrokerd" "$BIN/capbrokerd" bg \
    "eval \"$BIN/capctl\" \$(printf '%s\n' \"\$out\" | grep -o -- '-n [^ ]*') ping >/dev/null 2>&1"
shim "$D/bin/capctl" "$BIN/capctl" fg
shim "$D/bin/capdump" "$BIN/capdump" fg
# The gateway: ready once its port answers.
shim "$D/build/examples/gateway" "$BIN/examples/gateway" bg \
    "curl -s -o /dev/null http://127.0.0.1:8080/"
# The fake backends take no -n: run them as they are.
cat >"$D/build/examples/fakebackend" <<EOF
#!/bin/sh
echo \$\$ >>"$PIDFILE"
exec "$BIN/examples/fakebackend" "\$@"
EOF
chmod +x "$D/build/examples/fakebackend"

# The reader's placeholders.
printf '#!/bin/sh\necho called-backend >>"%s/work/calls"\n' "$D" \
    >"$D/work/call-backend.sh"
chmod +x "$D/work/call-backend.sh"
printf 'deploy:\n\t@echo deployed >>"%s/work/calls"\n' "$D" \
    >"$D/work/Makefile"
cat >"$D/prelude.sh" <<EOF
PATH="$D/bin:\$PATH"
count_visible_workers() { echo 0; }
start_worker() { return 0; }
EOF

# The gateway block needs the README's ports.
for port in 8080 9001 9002; do
	if curl -s -o /dev/null "http://127.0.0.1:$port/" 2>/dev/null; then
		fail "port $port is in use: the README's gateway example needs it"
	fi
done

i=1
ran=0
while [ "$i" -le "$nblocks" ]; do
	b=$D/block.$i
	if grep -q '^make check' "$b"; then
		i=$((i + 1))
		continue
	fi
	dir=$D/work
	grep -q 'build/examples' "$b" && dir=$D
	(cd "$dir" && cat "$D/prelude.sh" "$b" | sh -e) >"$D/out.$i" 2>&1 ||
	    fail "README sh block $i failed (exit $?):
$(cat "$b")
--- output:
$(cat "$D/out.$i")"
	say "block $i: $(grep -c . "$b") lines ran"
	ran=$((ran + 1))
	i=$((i + 1))
done
[ "$ran" -ge 4 ] || fail "only $ran blocks ran"

# What the README says its commands lead to.
dump() { "$BIN/capdump" -n "$NAME-default" --json; }
expect_match "$(cat "$D/out.2")" 'capacity 100 \(source override\)' \
    "'capctl override 100' prints the pinned capacity"
expect_match "$(dump)" '"source": *"override"' "capdump after the README"
expect_eq "$(grep -c called-backend "$D/work/calls")" 1 \
    "capctl run ran ./call-backend.sh once"
expect_eq "$(grep -c deployed "$D/work/calls")" 1 "capctl run ran make deploy"

# Over the limit: exit 75, as the README says.
"$BIN/capctl" -n "$NAME-default" pool set one --limit 1 >/dev/null ||
    fail "pool set one"
"$BIN/capctl" -n "$NAME-default" run --pool one -- sh -c '
	"$0" -n "$1" run --pool one -- true 2>"$2"; echo $? >"$3"' \
    "$BIN/capctl" "$NAME-default" "$D/over.err" "$D/over.rc" ||
    fail "capctl run (outer)"
expect_eq "$(cat "$D/over.rc")" 75 "capctl run over the limit"
expect_match "$(cat "$D/over.err")" 'retry after [0-9]+ ms' \
    "over the limit: when to retry"
say "capctl run over the limit: exit 75, $(cat "$D/over.err")"

# The gateway answers through its backends: 8 requests at once, within
# the pool's 12 and the backends' 2 x 8, so spread placement uses every
# worker of the instance.
for n in 1 2 3 4 5 6 7 8; do
	curl -s -o /dev/null -w '%{http_code}\n' http://127.0.0.1:8080/ \
	    >"$D/curl.$n" &
done
wait
codes=$(cat "$D"/curl.* | sort | uniq -c | tr -s ' ' | tr '\n' ',')
expect_eq "$codes" " 8 200," "gateway replies (count code)"
say "gateway: 8 concurrent requests, all HTTP 200"

# The C fragments compile; the Python one byte-compiles.
awk -v dir="$D" '
	/^```c$/ { n++; f = dir "/frag." n ".c"; inb = 1; next }
	/^```/ { if (inb) close(f); inb = 0; next }
	inb { print > f }
	/^```python$/ { p = 1; next }
	END { print n > (dir "/cfrags") }' "$README"
awk '/^```python$/ { inb = 1; next } /^```/ { inb = 0 } inb' "$README" \
    >"$D/frag.py"
nc=$(cat "$D/cfrags")
[ "$nc" -ge 3 ] || fail "README: only $nc C fragments found"
CC=${CC:-cc}
i=1
while [ "$i" -le "$nc" ]; do
	f=$D/frag.$i.c
	{
		echo '#include <err.h>'
		echo '#include <errno.h>'
		echo '#include <stdint.h>'
		echo '#include <stdio.h>'
		echo '#include <capbroker.h>'
		grep '^#include' "$f"
		echo 'static void call_backend(void) {}'
		echo 'static void reply_429(uint32_t ms) { (void)ms; }'
		echo 'static void report_position(int p) { (void)p; }'
		# Each fragment goes on from the earlier ones: the names
		# they set up (c, pool, t) are parameters.
		echo 'void frag(cb_client *c, int pool, cb_ticket t);'
		echo 'void frag(cb_client *c, int pool, cb_ticket t) {'
		echo '(void)c; (void)pool; (void)t; {'
		grep -v '^#include' "$f"
		echo '}}'
	} >"$D/wrap.$i.c"
	"$CC" -std=c11 -Wall -Werror -Wno-unused-variable -Wno-unused-function \
	    -I"$(dirname "$0")/../../include" -fsyntax-only "$D/wrap.$i.c" \
	    2>"$D/cc.$i" || fail "README C fragment $i does not compile:
$(cat "$D/cc.$i")"
	i=$((i + 1))
done
say "$nc C fragments compile"
python3 -c 'import ast, sys; ast.parse(open(sys.argv[1]).read())' \
    "$D/frag.py" || fail "README Python fragment does not parse"
say "the Python fragment parses"
exit 0
