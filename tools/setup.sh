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
	# udevadm, to test units/70-fuse4fs.rules (installed without starting a udev daemon: below);
	# pam_systemd, for real logind sessions in the container (tests/integration/test-seat.sh)
	udev libpam-systemd
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
# No service may start during the install: PID 1 is not systemd here, so maintainer scripts
# would start daemons through invoke-rc.d (udev's would start systemd-udevd, which would then
# apply the distribution's rules to every device on the machine). A policy-rc.d that answers
# 101 ("action forbidden") stops that; ours is removed afterwards, someone else's is left.
POLICY_RC=/usr/sbin/policy-rc.d
own_policy=
if [[ ! -e $POLICY_RC ]]; then
	printf '#!/bin/sh\nexit 101\n' >"$POLICY_RC"
	chmod 0755 "$POLICY_RC"
	own_policy=1
	trap 'rm -f "$POLICY_RC"' EXIT
fi
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
if [[ -n $own_policy ]]; then
	rm -f "$POLICY_RC"
	trap - EXIT
fi
if pgrep -x systemd-udevd >/dev/null; then
	echo "setup: WARNING: systemd-udevd is running (pid $(pgrep -x systemd-udevd | tr '\n' ' '))" >&2
	echo "setup: the tests do not need it, and it applies udev rules to every device here" >&2
fi
echo "setup: done"
