#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Installs the Debian 12 packages needed to build fuse4fs and run every test suite.
# Idempotent and quick when everything is there: apt is not touched unless a package is missing.
set -euo pipefail

PACKAGES=(
	# build
	meson ninja-build pkg-config gcc clang lld
	libfuse3-dev libext2fs-dev comerr-dev libsystemd-dev libseccomp-dev libcap-ng-dev
	# run and test: FUSE, ext4 tools, the container, image contents, process inspection
	fuse3 e2fsprogs dosfstools systemd systemd-container util-linux mount
	attr acl iproute2 procps python3 coreutils findutils gawk shellcheck
)

missing=()
for p in "${PACKAGES[@]}"; do
	# Installed means status "install ok installed", not merely known to dpkg.
	if [[ $(dpkg-query -W -f '${db:Status-Abbrev}' "$p" 2>/dev/null) != ii* ]]; then
		missing+=("$p")
	fi
done
if ((${#missing[@]} == 0)); then
	echo "setup: all ${#PACKAGES[@]} packages are installed"
	exit 0
fi
if [[ $(id -u) != 0 ]]; then
	echo "setup: missing packages: ${missing[*]}" >&2
	echo "setup: run as root (sudo $0) to install them" >&2
	exit 1
fi
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "setup: done"
