#!/bin/sh
# run-broker.sh BUILD_DIR - `make run`: start capbrokerd in the
# foreground on its embedded default configuration, instance "default".
#
# As root the run directory is /run/capbroker, as anyone else
# $XDG_RUNTIME_DIR/capbroker or /tmp/capbroker-$USER (unless
# CAPBROKER_RUNDIR is set).  Ctrl-C stops it; the segments stay in
# /dev/shm for the next start (capbrokerd --remove to drop them).
set -eu
O=${1:-build}
if [ -z "${CAPBROKER_RUNDIR:-}" ] && [ "$(id -u)" -ne 0 ]; then
	CAPBROKER_RUNDIR=${XDG_RUNTIME_DIR:-/tmp}/capbroker
	[ -n "${XDG_RUNTIME_DIR:-}" ] || CAPBROKER_RUNDIR=/tmp/capbroker-$(id -un)
	export CAPBROKER_RUNDIR
fi
rundir=${CAPBROKER_RUNDIR:-/run/capbroker}
env_hint=""
[ -z "${CAPBROKER_RUNDIR:-}" ] || env_hint="CAPBROKER_RUNDIR=$rundir "
cat <<EOT
capbrokerd: instance "default", run directory $rundir
From another terminal:
  ${env_hint}$O/capctl status
  ${env_hint}$O/capctl worker set gpu-0 --state ready --max-running 32
  ${env_hint}$O/capctl worker list
  $O/capdump            (or --json, --watch)
Ctrl-C stops the broker.

EOT
exec "$O/capbrokerd" -n default
