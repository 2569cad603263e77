#!/bin/sh
# Install the Debian packages capbroker needs to build and test.
#
# Runs `apt-get update` once, and only when something is missing; then
# installs only the missing packages.  Safe to run repeatedly: with
# everything present it does nothing and prints nothing.
#
# Not root: prints what is missing and fails, so `make` never hides it.
set -eu

PACKAGES="gcc make pkg-config liburcu-dev libbsd-dev libcmocka-dev \
libsystemd-dev spin mandoc util-linux runit clang libclang-rt-14-dev"

missing=""
for p in $PACKAGES; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
	    grep -q 'install ok installed'; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing Debian packages:$missing" >&2
	echo "install-deps: run as root, or: apt-get install$missing" >&2
	exit 1
fi

echo "install-deps: installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086 # word splitting is the point
apt-get install -y -qq --no-install-recommends $missing
