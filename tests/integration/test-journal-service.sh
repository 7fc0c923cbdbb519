#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Journal recovery through the contained service: an ordinary user mounts, with the setuid
# helper, an image the kernel left with a dirty journal (snapshotted mid-workload, see
# test-journal-recovery.sh), served by fuse4fs@.service in a systemd-nspawn container with its
# whole sandbox. Read-only: the user sees the kernel's recovered tree and the image's bytes do
# not change. Read-write: the same tree, and after the unmount e2fsck -fn is clean.
#
#   test-journal-service.sh --build-root DIR --prefix P --bindir D --sbindir D --unitdir D
set -euo pipefail
# shellcheck source=tests/lib/common.sh
source "$(dirname "$0")/../lib/common.sh"
# shellcheck source=tests/lib/nspawn.sh
source "$F4_LIB_DIR/nspawn.sh"

parse_install_args "$@"
require_root
command -v systemd-nspawn >/dev/null || die "systemd-nspawn is missing: run tools/setup.sh"
make_workdir
ensure_test_user
lock_sockdir
W=$F4_WORK

step "a dirty journal from the kernel"
mkfs.ext4 -q -F -b 4096 "$W/img" 64M
DEV=$(losetup -f --show "$W/img") || die "no free loop device"
defer "[[ \$(losetup -n -O BACK-FILE '$DEV' 2>/dev/null) == '$W/img'* ]] && losetup -d '$DEV' || true"
mkdir -p "$W/k"
mount -t ext4 -o data=ordered,commit=60 "$DEV" "$W/k"
defer "f4_umount_if_mounted '$W/k'"
chmod 0755 "$W/k"
mkdir -p "$W/k/docs/old"
for ((i = 0; i < 30; i++)); do head -c $((i * 1531 + 7)) /dev/urandom >"$W/k/docs/f$i"; done
ln -s docs/f1 "$W/k/link"
setfattr -n user.note -v "written before the crash" "$W/k/docs/f0"
sync -f "$W/k/docs"
rm -rf "$W/k/docs/old" "$W/k/docs/f5"
mv "$W/k/docs/f6" "$W/k/renamed"
echo "the last committed write" >"$W/k/last.txt"
sync -f "$W/k/last.txt"
chmod -R a+rX "$W/k"
sync -f "$W/k/last.txt"
cp "$W/img" "$W/snap"
umount "$W/k"
losetup -d "$DEV"
check "the snapshot needs recovery" bash -c "dumpe2fs -h '$W/snap' 2>/dev/null | grep -q needs_recovery"

# The reference: the kernel's own recovery of a copy, mounted read-only for the comparison.
cp "$W/snap" "$W/ref.img"
REFDEV=$(losetup -f --show "$W/ref.img") || die "no free loop device"
defer "[[ \$(losetup -n -O BACK-FILE '$REFDEV' 2>/dev/null) == '$W/ref.img'* ]] && losetup -d '$REFDEV' || true"
mkdir -p "$W/ref"
mount -t ext4 -o ro "$REFDEV" "$W/ref"
defer "f4_umount_if_mounted '$W/ref'"

step "booting systemd in a container"
stage_install "$BUILD" "$W/stage"
nspawn_start "$W/stage"
ct systemctl start fuse4fs.socket

for mode in ro rw; do
	img=$W/user-$mode.img
	mnt=$W/mnt-$mode
	cp "$W/snap" "$img"
	chown "$F4_TEST_UID:$F4_TEST_GID" "$img"
	install -d -o "$F4_TEST_UID" -g "$F4_TEST_GID" -m 0755 "$mnt"
	defer "f4_umount_if_mounted '$mnt'"
	sum=$(sha256sum <"$img")
	rc=0
	as_user "$F4_HELPER" -o "$mode" "$img" "$mnt" >"$W/helper-$mode.out" 2>&1 || rc=$?
	if ((rc != 0)); then
		cat "$W/helper-$mode.out" >&2
		fail "[$mode] fuservicemount -o $mode of the dirty image exited $rc"
		continue
	fi
	pass "[$mode] $F4_TEST_USER mounted the dirty image -o $mode through the service"
	if as_user "$F4_PYTHON" "$F4_LIB_DIR/compare-tree.py" "$W/ref" "$mnt" >"$W/compare-$mode.txt" 2>&1; then
		pass "[$mode] the user sees the kernel's recovered tree ($(tail -n 1 "$W/compare-$mode.txt"))"
	else
		head -n 40 "$W/compare-$mode.txt" >&2
		fail "[$mode] differs from the kernel's recovered tree (above)"
	fi
	check "[$mode] the last committed write is there" \
		as_user grep -qx "the last committed write" "$mnt/last.txt"
	rc=0
	as_user "$F4_HELPER" -u "$mnt" >"$W/umount-$mode.out" 2>&1 || rc=$?
	check "[$mode] fuservicemount -u exits 0 (got $rc)" test "$rc" = 0
	for ((t = 0; t < 100; t++)); do [[ -z $(ct_server_pids) ]] && break; sleep 0.1; done
	check "[$mode] the server exited after the unmount" test -z "$(ct_server_pids)"
	if [[ $mode == ro ]]; then
		check "[ro] the image's bytes are unchanged" test "$(sha256sum <"$img")" = "$sum"
	else
		check "[rw] the journal was replayed onto the image" \
			bash -c "! dumpe2fs -h '$img' 2>/dev/null | grep -q needs_recovery"
		check "[rw] e2fsck -fn is clean after the unmount" fsck_quiet "$img"
	fi
done
if ct journalctl --no-pager -q -u 'fuse4fs@*' | grep -q 'ecovered the journal\|eplayed the journal'; then
	pass "the service logged the recovery to the journal"
else
	fail "no recovery message in the container's journal"
fi
umount "$W/ref"
finish
