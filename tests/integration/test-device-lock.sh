#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# One fuse4fs server writing an image at a time (service/device-lock.c): a second read-write or
# read-only mount of an image that is mounted read-write waits, then is refused, and mounts
# nothing; read-only mounts share it; and `umount; mount` back to back, which used to let the
# new server open the image while the old one still wrote it back (a corrupt superblock), now
# waits for the old server and leaves the image clean.
#
#   test-device-lock.sh --fuse4fs PATH
set -euo pipefail
# Our mounts live in a mount namespace of our own: another test's `unshare -m` elsewhere on the
# machine would otherwise copy them, keeping their servers, and so the image's lock, alive after
# our unmount (the waits below would then measure that test, not ours).
if [[ -z ${F4_DEVICE_LOCK_NS:-} ]]; then
	exec env F4_DEVICE_LOCK_NS=1 unshare -m --propagation private "$0" "$@"
fi
# shellcheck source=tests/lib/common.sh
source "$(dirname "$0")/../lib/common.sh"
# shellcheck source=tests/lib/rw.sh
source "$F4_LIB_DIR/rw.sh"

parse_fuse4fs_only "$@"
require_root
[[ -c /dev/fuse ]] || die "/dev/fuse is missing"
make_workdir

IMG=$F4_WORK/img
A=$F4_WORK/mnt-a
B=$F4_WORK/mnt-b
mkdir -p "$A" "$B"
rw_mkimage "$IMG" 4096 256M

# second_mount LABEL OPTS: a mount of IMG on B while A holds it; must fail, slowly, cleanly.
second_mount() {
	local label=$1 opts=$2 rc=0 t0 t1
	t0=$(date +%s)
	"$FUSE4FS" -o "$opts" "$IMG" "$B" 2>"$F4_WORK/$label.err" || rc=$?
	t1=$(date +%s)
	check "[$label] refused (exit $rc)" test "$rc" != 0
	check "[$label] after waiting for the other server ($((t1 - t0)) s)" test $((t1 - t0)) -ge 9
	check "[$label] says the image is in use" grep -q "in use by another fuse4fs mount" "$F4_WORK/$label.err"
	if is_mounted "$B"; then
		fail "[$label] something was mounted on B"
		umount -l "$B"
	else
		pass "[$label] nothing mounted on B"
	fi
}

step "a read-write mount holds the image"
direct_mount_rw rw-a "$IMG" "$A" || die "the first mount failed"
echo first >"$A/file"
second_mount second-rw rw
second_mount second-ro ro
check "[rw-a] the first mount still works" grep -qx first "$A/file"
direct_umount rw-a "$A"
fsck_check after-refusals "$IMG"

step "read-only mounts share the image"
"$FUSE4FS" -o ro "$IMG" "$A" 2>"$F4_WORK/ro-a.err" || fail "[ro-a] did not mount: $(cat "$F4_WORK/ro-a.err")"
defer "f4_umount_if_mounted '$A'"
"$FUSE4FS" -o ro "$IMG" "$B" 2>"$F4_WORK/ro-b.err" || fail "[ro-b] did not mount: $(cat "$F4_WORK/ro-b.err")"
defer "f4_umount_if_mounted '$B'"
check "[ro-a,ro-b] both read the file" test "$(cat "$A/file" "$B/file")" = "$(printf 'first\nfirst')"
rc=0
"$FUSE4FS" -o rw "$IMG" "$F4_WORK/mnt-c" 2>"$F4_WORK/rw-c.err" || rc=$?
check "[rw-c] a read-write mount beside them is refused (exit $rc)" test "$rc" != 0
umount "$A"
umount "$B"

# The server writes back after the kernel's unmount returned; the next server must wait for it.
step "umount; mount, back to back, eight times"
for i in 1 2 3 4 5 6 7 8; do
	if ! "$FUSE4FS" -o rw "$IMG" "$A" 2>"$F4_WORK/loop-$i.err"; then
		fail "[loop-$i] mount failed: $(cat "$F4_WORK/loop-$i.err")"
		break
	fi
	mkdir "$A/r$i"
	for ((k = 0; k < 400; k++)); do printf 'data %d %d\n' "$i" "$k" >"$A/r$i/f$k"; done
	umount "$A"
done
# The last server may still be writing back: wait for the lock like the next mount would.
flock -w 30 "$IMG" true || fail "the last server still holds the image after 30 s"
fsck_check back-to-back "$IMG"
"$FUSE4FS" -o ro "$IMG" "$A" 2>"$F4_WORK/verify.err" || die "verify mount failed: $(cat "$F4_WORK/verify.err")"
for i in 1 2 3 4 5 6 7 8; do
	check "[loop-$i] all 400 files are there" test "$(find "$A/r$i" -type f | wc -l)" = 400
done
umount "$A"
finish
