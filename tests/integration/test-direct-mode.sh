#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Direct mode, as root: `fuse4fs -f IMG MNT` must present exactly what the kernel's ext4 driver
# presents for the same image (inode numbers, attributes, times, content, xattrs, directories),
# for 4 KiB and 1 KiB block sizes, then unmount cleanly and leave the image untouched.
#
#   test-direct-mode.sh --fuse4fs PATH
set -euo pipefail
# shellcheck source=tests/lib/common.sh
source "$(dirname "$0")/../lib/common.sh"
# shellcheck source=tests/lib/mkimage.sh
source "$F4_LIB_DIR/mkimage.sh"
# shellcheck source=tests/lib/rw.sh
source "$F4_LIB_DIR/rw.sh"

parse_fuse4fs_only "$@"

require_root
[[ -c /dev/fuse ]] || die "/dev/fuse is missing"
make_workdir

# One round: mount IMG with the server in the foreground, compare, unmount, check.
direct_round() { # direct_round LABEL TREE IMG [OPTIONS]
	local label=$1 tree=$2 img=$3 opts=${4:-} mnt=$F4_WORK/mnt-$1 ref=$F4_WORK/ref-$1 pid t conn
	local sum_before
	sum_before=$(sha256sum <"$img")
	kernel_mount_ref "$img" "$ref"
	mkdir -p "$mnt"
	# -o ro: this round checks that a read-only mount writes nothing (the default, like
	# mount(8), is read-write).
	"$FUSE4FS" -f -o "ro${opts:+,$opts}" "$img" "$mnt" 2>"$F4_WORK/server-$label.log" &
	pid=$!
	defer "f4_umount_if_mounted '$mnt'; f4_kill_pid $pid"
	for ((t = 0; t < 100; t++)); do
		[[ $(mount_fstype "$mnt" 2>/dev/null) == fuse* ]] && break
		if ! [[ -d /proc/$pid ]]; then
			cat "$F4_WORK/server-$label.log" >&2
			die "[$label] fuse4fs exited before mounting"
		fi
		sleep 0.1
	done
	check "[$label] mounted as fuse.fuse4fs" test "$(mount_fstype "$mnt")" = fuse.fuse4fs
	conn=$(mountpoint -d "$mnt" | cut -d: -f2)
	check "[$label] mount is read-only" \
		grep -q "^[^ ]* $mnt fuse.fuse4fs ro[, ]" /proc/self/mounts

	if "$F4_PYTHON" "$F4_LIB_DIR/compare-tree.py" --source "$tree" "$ref" "$mnt" \
		>"$F4_WORK/compare-$label.txt" 2>&1; then
		pass "[$label] FUSE mount equals the kernel mount and the source tree"
		tail -n 1 "$F4_WORK/compare-$label.txt" >&2
	else
		head -n 60 "$F4_WORK/compare-$label.txt" >&2
		fail "[$label] compare-tree found differences (above)"
	fi
	# A write must fail with EROFS, not succeed in some cache.
	if touch "$mnt/files/new-file" 2>"$F4_WORK/touch.err"; then
		fail "[$label] creating a file on the read-only mount succeeded"
	else
		check "[$label] a write fails with 'Read-only file system'" \
			grep -q 'Read-only file system' "$F4_WORK/touch.err"
	fi

	umount "$mnt"
	if wait_pid_gone "$pid" 10; then
		wait "$pid" && rc=0 || rc=$?
		check "[$label] server exits 0 after the unmount (got $rc)" test "$rc" = 0
	elif f4_conn_alive "$conn"; then
		# Not the server's doing: another mount namespace (someone's container or unshare
		# on this machine) copied the mount and keeps its connection alive.
		log "[$label] warning: the FUSE connection outlived our unmount; aborting it"
		echo 1 2>/dev/null >"$F4_FUSECTL/$conn/abort" || true
		wait_pid_gone "$pid" 10 || fail "[$label] server still running after the abort"
	else
		fail "[$label] server still running 10 s after the unmount"
	fi
	if grep -Eiq 'error|corrupt|warn' "$F4_WORK/server-$label.log"; then
		fail "[$label] server logged problems:"
		head -n 20 "$F4_WORK/server-$label.log" >&2
	fi
	umount "$ref"
	check "[$label] e2fsck -fn finds the image clean" fsck_quiet "$img"
	check "[$label] image bytes unchanged" test "$(sha256sum <"$img")" = "$sum_before"
}

step "building the test tree and images"
mktree "$F4_WORK/tree"
mkimage "$F4_WORK/tree" "$F4_WORK/img4k" 4096
mkimage "$F4_WORK/tree" "$F4_WORK/img1k" 1024

step "direct mode, 4 KiB blocks"
direct_round 4k "$F4_WORK/tree" "$F4_WORK/img4k"
step "direct mode, 1 KiB blocks, the worker sleeping between requests (busy_poll=0)"
direct_round 1k "$F4_WORK/tree" "$F4_WORK/img1k" busy_poll=0

# The worker busy-polls /dev/fuse for a while after each request (service/session-io.c); an idle
# mount must still sleep. Measured: the server's CPU time over 2 idle seconds after a burst.
step "busy-polling stops when the mount is idle"
mkdir -p "$F4_WORK/mnt-idle"
"$FUSE4FS" -f -o ro,busy_poll=1000 "$F4_WORK/img4k" "$F4_WORK/mnt-idle" 2>"$F4_WORK/server-idle.log" &
idle_pid=$!
defer "f4_umount_if_mounted '$F4_WORK/mnt-idle'; f4_kill_pid $idle_pid"
f4_wait_fuse_mount "$F4_WORK/mnt-idle" "$idle_pid" || die "[idle] fuse4fs did not mount"
server=$(pgrep -P "$idle_pid" | head -n1)
[[ -n $server ]] || die "[idle] no server process under the monitor $idle_pid"
find "$F4_WORK/mnt-idle" -type f -exec cat {} + >/dev/null
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
before=$(cpu_ticks "$server")
sleep 2
after=$(cpu_ticks "$server")
hz=$(getconf CLK_TCK)
check "[idle] the server used under 0.2 s of CPU in 2 idle seconds (used $((after - before)) of $hz ticks/s)" \
	test $((after - before)) -lt $((hz / 5))
umount "$F4_WORK/mnt-idle"
wait "$idle_pid" || fail "[idle] server exited with $? after the unmount"

# Out-of-range values are refused before anything is mounted.
for bad in abc -1 1001 ''; do
	rc=0
	"$FUSE4FS" -f -o "ro,busy_poll=$bad" "$F4_WORK/img4k" "$F4_WORK/mnt-idle" \
		2>"$F4_WORK/bad-poll.log" || rc=$?
	check "[busy_poll=$bad] refused with exit 2 (got $rc)" test "$rc" = 2
	check "[busy_poll=$bad] the message names the option" \
		grep -q "busy-poll time in microseconds" "$F4_WORK/bad-poll.log"
	if is_mounted "$F4_WORK/mnt-idle"; then
		fail "[busy_poll=$bad] something was mounted"
	else
		pass "[busy_poll=$bad] nothing mounted"
	fi
done
finish
