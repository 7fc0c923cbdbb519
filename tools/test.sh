#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Builds fuse4fs with warnings as errors and runs every test suite: unit, fuzz (corpus replay)
# and integration (real mounts, the service under systemd-nspawn).  Root only: the integration
# tests need loop devices, mounts and containers.
#
#   tools/test.sh [MESON TEST ARGS...]     e.g. tools/test.sh --suite unit
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ $(id -u) != 0 ]]; then
	echo "test: must run as root (mounts, loop devices, systemd-nspawn): sudo $0 $*" >&2
	exit 1
fi

bash tools/setup.sh

BUILD=${BUILD:-build-test}
# The default prefix on purpose: the service test binds the staged prefix over /usr/local in its
# container and refuses /usr.
if [[ -f $BUILD/build.ninja ]]; then
	meson setup --reconfigure -Dwerror=true "$BUILD" >/dev/null
else
	meson setup -Dwerror=true "$BUILD" >/dev/null
fi
ninja -C "$BUILD"
exec meson test -C "$BUILD" --print-errorlogs "$@"
