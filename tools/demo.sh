#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The README's "run it" command: builds fuse4fs, starts the contained service, and has an
# ordinary user mount an ext4 image through the setuid helper; shows the files, the sandbox the
# server runs in, and unmounts.  Uses the host's systemd when PID 1 is systemd, else a
# systemd-nspawn container on the host's /usr.  Leaves nothing mounted or running.
#
#   sudo tools/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
F4_NAME=demo
# shellcheck source=tests/lib/common.sh
source tests/lib/common.sh
# shellcheck source=tests/lib/mkimage.sh
source tests/lib/mkimage.sh
# shellcheck source=tests/lib/nspawn.sh
source tests/lib/nspawn.sh

if [[ $(id -u) != 0 ]]; then
	echo "demo: run as root (it installs packages, builds, and starts a service): sudo $0" >&2
	exit 1
fi

step "1. Installing the build and test dependencies (tools/setup.sh)"
bash tools/setup.sh

step "2. Building fuse4fs (build-demo/)"
BUILD="build-demo"
[[ -f $BUILD/build.ninja ]] || meson setup "$BUILD" >/dev/null
ninja -C "$BUILD" | tail -n 1
# Install paths as this build has them.
introspect_dir() { meson introspect --buildoptions "$BUILD" |
	"$F4_PYTHON" -c 'import json,sys; o={x["name"]: x["value"] for x in json.load(sys.stdin)}; p=o["prefix"]; d=o[sys.argv[1]]; print(d if d.startswith("/") else p + "/" + d)' "$1"; }
F4_PREFIX=$(introspect_dir prefix)
F4_BINDIR=$(introspect_dir bindir)
F4_SBINDIR=$(introspect_dir sbindir)
F4_UNITDIR=$(meson introspect --buildoptions "$BUILD" |
	"$F4_PYTHON" -c 'import json,sys; print({x["name"]: x["value"] for x in json.load(sys.stdin)}["systemdunitdir"])')
[[ -n $F4_UNITDIR ]] || F4_UNITDIR=$F4_PREFIX/lib/systemd/system

make_workdir
ensure_test_user
echo "   An ordinary user to mount as: $F4_TEST_USER (uid $F4_TEST_UID)"

step "3. Making a demo ext4 image"
mktree "$F4_WORK/tree" small
printf 'Hello! This file was read by an unprivileged, sandboxed ext4 server.\n' >"$F4_WORK/tree/README.txt"
mkimage "$F4_WORK/tree" "$F4_WORK/demo.img" 4096 64M
chmod 0644 "$F4_WORK/demo.img"
install -d -o "$F4_TEST_UID" -g "$F4_TEST_GID" "$F4_WORK/mnt"
defer "f4_umount_if_mounted '$F4_WORK/mnt'"
echo "   $F4_WORK/demo.img ($(du -h --apparent-size "$F4_WORK/demo.img" | cut -f1)), owned by root, readable by all"

if [[ -d /run/systemd/system && $(cat /proc/1/comm) == systemd ]]; then
	step "4. Installing fuse4fs and starting fuse4fs.socket under this machine's systemd"
	meson install -C "$BUILD" --no-rebuild --quiet
	systemctl daemon-reload
	if ! systemctl -q is-active fuse4fs.socket; then
		systemctl start fuse4fs.socket
		defer "systemctl stop fuse4fs.socket"
	fi
	F4_HELPER=$F4_BINDIR/fuservicemount
	F4_CT=1
	server_pids() {
		local p
		for p in $(fuse4fs_pids); do
			grep -qa -- --service "/proc/$p/cmdline" && echo "$p"
		done
		return 0
	}
	echo "   installed under $F4_PREFIX; the socket: $(ls "$F4_SOCKDIR")"
else
	step "4. PID 1 is not systemd here: booting systemd in a container (systemd-nspawn)"
	lock_sockdir
	stage_install "$BUILD" "$F4_WORK/stage"
	nspawn_start "$F4_WORK/stage"
	ct systemctl start fuse4fs.socket
	server_pids() { ct_server_pids; }
	echo "   container up; the helper is the staged, setuid-root $F4_HELPER"
	echo "   the container listens on $F4_SOCKDIR/fuse4fs.sock, shared with this host"
fi

step "5. Mounting as $F4_TEST_USER:  fuservicemount demo.img mnt"
as_user "$F4_HELPER" "$F4_WORK/demo.img" "$F4_WORK/mnt" || die "the mount failed (message above)"
echo "   $(awk -v m="$F4_WORK/mnt" '$2 == m' /proc/self/mounts)"

step "6. What $F4_TEST_USER sees"
echo "\$ ls -l mnt"
as_user ls -l "$F4_WORK/mnt"
echo "\$ cat mnt/README.txt"
as_user cat "$F4_WORK/mnt/README.txt"
echo "\$ ls -l mnt/links mnt/special"
as_user ls -l "$F4_WORK/mnt/links" "$F4_WORK/mnt/special" | cut -c1-120
echo "\$ df -h mnt"
as_user df -h "$F4_WORK/mnt"
echo "\$ getfattr -d mnt/xattr/file"
as_user getfattr -d "$F4_WORK/mnt/xattr/file" 2>&1 | cut -c1-100

step "7. The server that serves it, and its sandbox"
mapfile -t SERVERS < <(server_pids)
if ((${#SERVERS[@]} == 0)); then
	fail "no fuse4fs server found"
else
	PID=${SERVERS[-1]}
	echo "   command: $(tr '\0' ' ' <"/proc/$PID/cmdline")"
	check_sandbox "$PID" "$F4_CT"
	echo "   network, from inside its namespace (nsenter -t $PID -n ip -br link):"
	nsenter -t "$PID" -n ip -br link | sed 's/^/     /'
	echo "   its root directory (ls /proc/$PID/root):"
	# shellcheck disable=SC2012  # a listing for people to read
	ls -la "/proc/$PID/root/" | sed 's/^/     /'
fi

step "8. Unmounting as $F4_TEST_USER:  fuservicemount -u mnt"
as_user "$F4_HELPER" -u "$F4_WORK/mnt" || fail "fuservicemount -u failed"
if is_mounted "$F4_WORK/mnt"; then fail "still mounted"; else echo "   unmounted"; fi
if [[ -n ${PID:-} ]]; then
	if wait_pid_gone "$PID" 10; then echo "   the server (pid $PID) has exited"; else fail "server $PID still running"; fi
fi

step "9. Cleaning up (container, image, mount point)"
finish
