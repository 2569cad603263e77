#!/bin/sh
# Install the Debian packages capbroker needs to build and test.
#
# Runs `apt-get update` once, and only when something is missing; then
# installs only the missing packages.  Safe to run repeatedly: with
# everything present it does nothing and prints nothing.
#
# Not root: prints what is missing and fails, so `make` never hides it.
#
# `install-deps.sh bench` (make bench, make bench-report) also installs
# what only the benchmark uses: redis-server (capbench's Redis
# comparison) and gnuplot-nox (the plot in docs/BENCHMARKS.md), so make
# check never waits for them.  capbench runs without them (it skips
# Redis with a note), so for these two a non-root caller is only warned.
set -eu

BENCH_PACKAGES=""
[ "${1:-}" = bench ] && BENCH_PACKAGES="redis-server gnuplot-nox"

# prometheus: promtool (t_metrics); python3, python3-pytest: the Python
# binding's tests; curl: the gateway example's test (t_gateway).
# valgrind: make valgrind-check (unit tests, part of make check).
# rustc, cargo, golang-go: the Rust and Go bindings (client/rust,
# client/go) and their tests; Debian's toolchains, offline (no crate or
# module registry is used).
# etcd-server, libcurl4-openssl-dev, libjson-c-dev: the broker's etcd
# client (broker/etcd.c, the coming global pools) and its tests, which
# start etcd members of their own on loopback.
PACKAGES="gcc make pkg-config liburcu-dev libbsd-dev libcmocka-dev \
libsystemd-dev spin mandoc util-linux runit clang libclang-rt-14-dev \
prometheus python3 python3-pytest curl valgrind rustc cargo golang-go \
etcd-server libcurl4-openssl-dev libjson-c-dev"

missing=""
optional=""
for p in $PACKAGES $BENCH_PACKAGES; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
	    grep -q 'install ok installed'; then
		missing="$missing $p"
		case " $BENCH_PACKAGES " in
		*" $p "*) optional="$optional $p" ;;
		esac
	fi
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing Debian packages:$missing" >&2
	echo "install-deps: run as root, or: apt-get install$missing" >&2
	[ "$missing" = "$optional" ] && exit 0
	exit 1
fi

echo "install-deps: installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086 # word splitting is the point
apt-get install -y -qq --no-install-recommends $missing
