# make install / uninstall under DESTDIR: the library with its soname,
# static archive, header, pkg-config file, programs and the supervisor
# files (systemd unit, runit service directory) pointing at the
# installed broker; only cb_ symbols exported; a program built against
# the installed copy works, and so does the installed Python binding.
# And a plain `make` builds no test, so it needs no cmocka.
. "$(dirname "$0")/lib.sh"

case "$BIN" in
build) ;;
*) say "(skipped in sanitizer builds: the example links the plain library)"
   exit 0 ;;
esac
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
DEST="$CAPBROKER_RUNDIR/dest"
PREFIX=/opt/cbtest

say "install under DESTDIR"
make -s -C "$ROOT" install PREFIX=$PREFIX DESTDIR="$DEST" >/dev/null ||
    fail "make install"
for f in lib/libcapbroker.so.0.1.0 lib/libcapbroker.so.0 lib/libcapbroker.so \
    lib/libcapbroker.a include/capbroker.h lib/pkgconfig/capbroker.pc \
    bin/capctl bin/capdump sbin/capbrokerd; do
	[ -e "$DEST$PREFIX/$f" ] || fail "missing $PREFIX/$f"
done
[ ! -e "$DEST$PREFIX/include/abi.h" ] || fail "internal header installed"

say "supervisor files: the unit and the runit service run the installed broker"
unit="$DEST$PREFIX/lib/systemd/system/capbrokerd@.service"
sv="$DEST$PREFIX/etc/sv/capbrokerd"
[ -f "$unit" ] || fail "missing $PREFIX/lib/systemd/system/capbrokerd@.service"
[ -x "$sv/run" ] && [ -x "$sv/log/run" ] || fail "missing $PREFIX/etc/sv/capbrokerd/run or log/run"
expect_match "$(grep '^ExecStart=' "$unit")" "^ExecStart=$PREFIX/sbin/capbrokerd -n %i" "unit ExecStart"
expect_match "$(grep '^CAPBROKERD=' "$sv/run")" "^CAPBROKERD=$PREFIX/sbin/capbrokerd\$" "runit CAPBROKERD"
sh -n "$sv/run" && sh -n "$sv/log/run" || fail "runit scripts do not parse"
rdest="$CAPBROKER_RUNDIR/dest-etc"
make -s -C "$ROOT" install PREFIX=/usr DESTDIR="$rdest" >/dev/null ||
    fail "make install PREFIX=/usr"
[ -x "$rdest/etc/sv/capbrokerd/run" ] && [ -f "$rdest/usr/lib/systemd/system/capbrokerd@.service" ] ||
    fail "PREFIX=/usr: runit directory not in /etc/sv or unit not in /usr/lib/systemd/system"
make -s -C "$ROOT" uninstall PREFIX=/usr DESTDIR="$rdest" >/dev/null ||
    fail "make uninstall PREFIX=/usr"
left=$(find "$rdest" -type f -o -type l)
expect_eq "$left" "" "files left after uninstall PREFIX=/usr"

say "make builds the library and programs, no test (no cmocka needed)"
plan=$(make -n -C "$ROOT" O="$CAPBROKER_RUNDIR/nobuild" all 2>&1)
printf '%s\n' "$plan" | grep -q 'libcapbroker.so' || fail "make -n all builds no library"
printf '%s\n' "$plan" | grep -Eq 'cmocka|tests/unit/' && fail "make all builds the unit tests"

say "soname and exports"
soname=$(readelf -d "$DEST$PREFIX/lib/libcapbroker.so.0.1.0" |
    sed -n 's/.*SONAME.*\[\(.*\)\]/\1/p')
expect_eq "$soname" "libcapbroker.so.0" "soname"
bad=$(nm -D --defined-only "$DEST$PREFIX/lib/libcapbroker.so.0.1.0" |
    awk '$2 ~ /[TDBR]/ { print $3 }' | grep -v '^cb_' || true)
expect_eq "$bad" "" "symbols exported besides cb_*"
ldd "$DEST$PREFIX/lib/libcapbroker.so.0.1.0" | grep -Eq 'urcu|bsd|systemd' &&
    fail "libcapbroker depends on more than libc"

say "an example built with pkg-config against the installed copy runs"
sed -i "s|^prefix=.*|prefix=$DEST$PREFIX|; s|^libdir=.*|libdir=$DEST$PREFIX/lib|; s|^includedir=.*|includedir=$DEST$PREFIX/include|" \
    "$DEST$PREFIX/lib/pkgconfig/capbroker.pc"
flags=$(PKG_CONFIG_PATH="$DEST$PREFIX/lib/pkgconfig" pkg-config --cflags --libs capbroker) ||
    fail "pkg-config"
cc -Wall -Werror -o "$CAPBROKER_RUNDIR/capacity" "$ROOT/examples/capacity.c" \
    $flags || fail "compile example"
start_broker
ctl worker set g --state ready --max-running 12 >/dev/null
out=$(LD_LIBRARY_PATH="$DEST$PREFIX/lib" "$CAPBROKER_RUNDIR/capacity" "$NAME" 0)
expect_match "$out" "^capacity 12 source reported generation [0-9]+$" "example output"

say "the installed Python binding loads the installed library"
py=$(find "$DEST$PREFIX/lib" -path '*/dist-packages/capbroker/__init__.py')
[ -n "$py" ] || fail "Python package not installed"
pydir=$(dirname "$(dirname "$py")")
out=$(cd / && PYTHONPATH="$pydir" PYTHONDONTWRITEBYTECODE=1 \
    CAPBROKER_LIB="$DEST$PREFIX/lib/libcapbroker.so.0" /usr/bin/python3 -c \
    "import capbroker; c = capbroker.Client('$NAME'); print(c.current, c.source)") ||
    fail "python3 -c 'import capbroker' from $pydir"
expect_eq "$out" "12 reported" "Python binding output"

say "uninstall removes every file"
make -s -C "$ROOT" uninstall PREFIX=$PREFIX DESTDIR="$DEST" >/dev/null ||
    fail "make uninstall"
left=$(find "$DEST" -type f -o -type l)
expect_eq "$left" "" "files left after uninstall"
