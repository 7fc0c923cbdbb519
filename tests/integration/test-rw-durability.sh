#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Durability and interchange of a read-write fuse4fs:
#  - crash: a workload makes changes durable with fsync (tests/conformance/durability.py), the
#    server gets SIGKILL the moment the last fsync returns, the dead mount (ENOTCONN) is
#    unmounted, and the fsynced data and metadata must be there through the kernel's read-only
#    mount without journal replay (noload) and through a fresh fuse4fs mount; after that
#    mount's clean unmount e2fsck -fn must be clean (the orphan left open is not leaked).
#    Direct mode, and service mode through the helper as the test user.
#  - fuse4fs writes, the kernel reads: a tree with every inode kind copied in through fuse4fs
#    must read back through the kernel's ext4 exactly as the source (compare-tree.py), and
#    kernel and fuse4fs must then agree on everything, inode numbers and times included.
#  - the kernel writes, fuse4fs reads and modifies: the same tree copied in by the kernel,
#    compared through fuse4fs; then changed through fuse4fs and read back by the kernel.
#
#   test-rw-durability.sh --fuse4fs PATH [--build-root DIR --prefix P --bindir D --sbindir D
#                         --unitdir D] [--only MODES]
# MODES: a comma list of crash, crash-service, fuse-to-kernel, kernel-to-fuse (default: all).
set -euo pipefail
# shellcheck source=tests/lib/common.sh
source "$(dirname "$0")/../lib/common.sh"
# shellcheck source=tests/lib/mkimage.sh
source "$F4_LIB_DIR/mkimage.sh"
# shellcheck source=tests/lib/nspawn.sh
source "$F4_LIB_DIR/nspawn.sh"
# shellcheck source=tests/lib/rw.sh
source "$F4_LIB_DIR/rw.sh"
f4_private_mounts "$@"

FUSE4FS=""
BUILD=""
MODES=crash,crash-service,fuse-to-kernel,kernel-to-fuse
while (($#)); do
	case $1 in
	--fuse4fs) FUSE4FS=$2; shift 2 ;;
	--only) MODES=$2; shift 2 ;;
	*)
		install_option "$1" "${2-}" || die "unknown argument '$1'"
		shift 2
		;;
	esac
done
want() { [[ ,$MODES, == *,$1,* ]]; }
[[ -x $FUSE4FS ]] || die "--fuse4fs PATH to the built server is required"

require_root
[[ -c /dev/fuse ]] || die "/dev/fuse is missing"
make_workdir
ensure_test_user
DUR=$F4_WORK/durability.py
install -m 0755 "$(dirname "$0")/../conformance/durability.py" "$DUR"
COMPARE=$F4_LIB_DIR/compare-tree.py

dur_verify() { # LABEL WHERE ROOT [as_user]
	local label=$1 where=$2 root=$3 runner=()
	[[ ${4:-} == as_user ]] && runner=(as_user)
	if "${runner[@]}" "$F4_PYTHON" "$DUR" verify "$root" "$F4_WORK/manifest-$label" \
		>"$F4_WORK/verify-$label.out" 2>&1; then
		pass "[$label] $where: $(tail -n 1 "$F4_WORK/verify-$label.out")"
	else
		head -n 40 "$F4_WORK/verify-$label.out" >&2
		fail "[$label] $where: fsynced changes are missing (above)"
	fi
}

# The mount of a killed server answers ENOTCONN; it must still be possible to unmount it.
dead_mount_check() { # LABEL MNT [as_user]
	local label=$1 mnt=$2 err runner=()
	# (A mount without allow_other answers everyone but its user EACCES, root included.)
	[[ ${3:-} == as_user ]] && runner=(as_user)
	err=$("${runner[@]}" stat "$mnt/not-there" 2>&1 >/dev/null) || true
	check "[$label] the dead mount says 'Transport endpoint is not connected' (got: ${err:-success})" \
		grep -q 'not connected' <<<"$err"
	if umount "$mnt" 2>/dev/null || umount -l "$mnt"; then
		pass "[$label] the dead mount unmounts"
	else
		fail "[$label] cannot unmount the dead mount"
	fi
}

# After the crash: the kernel without replaying any journal, then fuse4fs, then a clean
# unmount and e2fsck.
after_crash() { # LABEL IMG MOUNT_FN UMOUNT_FN [as_user]
	local label=$1 img=$2 mount_fn=$3 umount_fn=$4 who=${5:-}
	local out
	# What e2fsck says right after the kill is worth seeing, whatever it is.
	out=$(e2fsck -fn "$img" 2>&1) || log "[$label] e2fsck -fn right after the kill (informational):"$'\n'"$(tail -n 15 <<<"$out")"
	kernel_mount_rw "$img" "$F4_WORK/ref-$label" ro
	dur_verify "$label" "the kernel's ro,noload mount after the kill" "$F4_WORK/ref-$label/dur"
	kernel_umount "$F4_WORK/ref-$label"
	if "$mount_fn" "$label-remount" "$img" "$F4_WORK/mnt-$label"; then
		dur_verify "$label" "a fresh fuse4fs mount after the kill" "$F4_WORK/mnt-$label/dur" "$who"
		"$umount_fn" "$label-remount" "$F4_WORK/mnt-$label"
		fsck_check "$label, after the remount's clean unmount" "$img"
	fi
}

if want crash; then
	step "crash: SIGKILL of the server (direct mode) right after fsync"
	label=crash
	img=$F4_WORK/$label.img
	rw_mkimage "$img" 4096 512M
	if direct_mount_rw "$label" "$img" "$F4_WORK/mnt-$label"; then
		mkdir "$F4_WORK/mnt-$label/dur"
		killed=$F4_SERVER_PID
		if "$F4_PYTHON" "$DUR" write "$F4_WORK/mnt-$label/dur" "$F4_WORK/manifest-$label" \
			--kill "$killed" >"$F4_WORK/write-$label.out" 2>&1; then
			pass "[$label] $(tail -n 1 "$F4_WORK/write-$label.out")"
		else
			cat "$F4_WORK/write-$label.out" >&2
			fail "[$label] the durability workload failed"
		fi
		rc=0
		wait "$killed" || rc=$?
		check "[$label] the server died of SIGKILL (exit status $rc)" test "$rc" = 137
		dead_mount_check "$label" "$F4_WORK/mnt-$label"
		[[ -s $F4_WORK/manifest-$label ]] &&
			after_crash "$label" "$img" direct_mount_rw direct_umount
	fi
	rm -f "$img"
fi

if want crash-service; then
	[[ -d $BUILD ]] || die "--build-root DIR is required for service mode"
	command -v systemd-nspawn >/dev/null || die "systemd-nspawn is missing: run tools/setup.sh"
	lock_sockdir
	step "crash in service mode: $F4_TEST_USER's workload, SIGKILL of the contained server"
	stage_install "$BUILD" "$F4_WORK/stage"
	nspawn_start "$F4_WORK/stage"
	ct systemctl start fuse4fs.socket
	label=crash-service
	img=$F4_WORK/$label.img
	mnt=$F4_WORK/mnt-$label
	rw_mkimage "$img" 4096 512M "$F4_TEST_UID:$F4_TEST_GID"
	chown "$F4_TEST_UID:$F4_TEST_GID" "$img"
	install -d -o "$F4_TEST_UID" -g "$F4_TEST_GID" -m 0755 "$mnt"
	install -d -o "$F4_TEST_UID" -g "$F4_TEST_GID" -m 0755 "$F4_WORK/manifests"
	if service_mount_rw "$label" "$img" "$mnt"; then
		as_user mkdir "$mnt/dur"
		# The user may not signal the server (another uid): the kill follows the workload's
		# exit, a few milliseconds after its last fsync.
		if as_user "$F4_PYTHON" "$DUR" write "$mnt/dur" "$F4_WORK/manifests/$label" \
			>"$F4_WORK/write-$label.out" 2>&1; then
			kill -KILL "$F4_SERVER_PID"
			pass "[$label] $(tail -n 1 "$F4_WORK/write-$label.out"); server $F4_SERVER_PID killed"
		else
			kill -KILL "$F4_SERVER_PID"
			cat "$F4_WORK/write-$label.out" >&2
			fail "[$label] the durability workload failed"
		fi
		cp "$F4_WORK/manifests/$label" "$F4_WORK/manifest-$label" 2>/dev/null || true
		check "[$label] the killed server is gone" wait_pid_gone "$F4_SERVER_PID" 10
		dead_mount_check "$label" "$mnt" as_user
		[[ -s $F4_WORK/manifest-$label ]] &&
			after_crash "$label" "$img" service_mount_rw service_umount as_user
	fi
fi

compare() { # LABEL WHAT ARGS...
	local label=$1 what=$2
	shift 2
	if "$F4_PYTHON" "$COMPARE" "$@" >"$F4_WORK/compare-$label.txt" 2>&1; then
		pass "[$label] $what: $(tail -n 1 "$F4_WORK/compare-$label.txt")"
	else
		head -n 60 "$F4_WORK/compare-$label.txt" >&2
		fail "[$label] $what: compare-tree found differences (above)"
	fi
}

statvfs_line() { # DIR: the numbers df shows
	"$F4_PYTHON" -c 'import os, sys
v = os.statvfs(sys.argv[1])
print(" ".join(f"{f}={getattr(v, f)}" for f in ("f_bsize", "f_blocks", "f_bfree", "f_bavail",
      "f_files", "f_ffree", "f_namemax")))' "$1"
}

# fuse4fs read-only (its default) next to the kernel's ro,noload mount of the same image.
compare_kernel_and_fuse() { # LABEL IMG [SOURCE]
	local label=$1 img=$2 src=${3:-} args=()
	[[ -n $src ]] && args=(--source "$src")
	kernel_mount_rw "$img" "$F4_WORK/ref-$label" ro
	mkdir -p "$F4_WORK/ro-$label"
	"$FUSE4FS" -f -o ro "$img" "$F4_WORK/ro-$label" 2>"$F4_WORK/server-ro-$label.log" &
	F4_SERVER_PID=$!
	defer "f4_umount_if_mounted '$F4_WORK/ro-$label'; f4_kill_pid $F4_SERVER_PID"
	if f4_wait_fuse_mount "$F4_WORK/ro-$label" "$F4_SERVER_PID"; then
		F4_FUSE_CONN=$(mountpoint -d "$F4_WORK/ro-$label" | cut -d: -f2)
		compare "$label" "kernel and fuse4fs agree${src:+, and both equal the source}" \
			"${args[@]}" "$F4_WORK/ref-$label" "$F4_WORK/ro-$label"
		# compare-tree only warns about block counts; the issue asks for the kernel's numbers.
		local k f
		k=$(statvfs_line "$F4_WORK/ref-$label")
		f=$(statvfs_line "$F4_WORK/ro-$label")
		check "[$label] statvfs: fuse4fs '$f', the kernel '$k'" test "$f" = "$k"
		direct_umount "ro-$label" "$F4_WORK/ro-$label"
	else
		cat "$F4_WORK/server-ro-$label.log" >&2
		fail "[$label] fuse4fs (read-only) did not mount"
	fi
	kernel_umount "$F4_WORK/ref-$label"
}

if want fuse-to-kernel || want kernel-to-fuse; then
	step "building the source tree"
	mktree "$F4_WORK/tree"
	# Every byte of it is read through FUSE by each comparison (holes are trusted only on the
	# kernel's side): 4 GiB three times is minutes.  The conformance suite covers offsets past
	# 4 GiB.
	rm "$F4_WORK/tree/sparse/over-4GiB"
fi

if want fuse-to-kernel; then
	step "fuse4fs writes, the kernel reads"
	label=fuse-to-kernel
	img=$F4_WORK/$label.img
	rw_mkimage "$img" 4096 1G
	if direct_mount_rw "$label" "$img" "$F4_WORK/mnt-$label"; then
		# cp -a: contents, sparseness, owners, modes, nanosecond times, hard links, xattrs and
		# ACLs, fifos, sockets, device nodes
		if cp -a "$F4_WORK/tree/." "$F4_WORK/mnt-$label/" 2>"$F4_WORK/cp-$label.err"; then
			pass "[$label] cp -a of the tree through fuse4fs"
		else
			head -n 20 "$F4_WORK/cp-$label.err" >&2
			fail "[$label] cp -a of the tree through fuse4fs failed"
		fi
		direct_umount "$label" "$F4_WORK/mnt-$label"
		fsck_check "$label" "$img"
		kernel_mount_rw "$img" "$F4_WORK/ref-$label" ro
		compare "$label" "the kernel reads what fuse4fs wrote" \
			--source-only --source "$F4_WORK/tree" "$F4_WORK/ref-$label"
		kernel_umount "$F4_WORK/ref-$label"
		compare_kernel_and_fuse "$label-both" "$img"
	fi
	rm -f "$img"
fi

if want kernel-to-fuse; then
	step "the kernel writes, fuse4fs reads and changes, the kernel reads again"
	label=kernel-to-fuse
	img=$F4_WORK/$label.img
	rw_mkimage "$img" 4096 1G
	kernel_mount_rw "$img" "$F4_WORK/k-$label"
	cp -a "$F4_WORK/tree/." "$F4_WORK/k-$label/"
	kernel_umount "$F4_WORK/k-$label"
	compare_kernel_and_fuse "$label" "$img" "$F4_WORK/tree"

	# The same changes to a copy of the source and, through fuse4fs, to the kernel-made image.
	cp -a "$F4_WORK/tree" "$F4_WORK/tree2"
	modify() { # DIR
		local d=$1 i n
		for ((i = 1; i <= 10000; i += 2)); do printf -v n 'entry-%05d' "$i"; rm "$d/wide/$n"; done
		printf 'appended through fuse4fs\n' >>"$d/files/big-9MiB"
		dd if=/dev/zero of="$d/files/1MiB+1" bs=4096 seek=10 count=3 conv=notrunc status=none
		truncate -s 5000 "$d/files/4097"
		mv "$d/deep/level-1" "$d/names/moved-deep"
		mkdir "$d/newdir"
		ln "$d/links/target" "$d/newdir/third-link"
		setfattr -n user.added -v "by fuse4fs" "$d/files/hello.txt"
		setfattr -x user.big "$d/xattr/file"
		chmod 0640 "$d/files/4096"
		printf 'new\n' >"$d/newdir/new-file"
		printf 'after three mebibytes\n' | dd of="$d/sparse/hole-then-data" bs=1 seek=$((3 << 20)) conv=notrunc status=none
		rm -r "$d/special"
		# The comparison with the source covers mtimes: make them the same on both sides.
		find "$d" -exec touch -h -d '2020-02-02 02:02:02' {} +
	}
	if direct_mount_rw "$label-rw" "$img" "$F4_WORK/mnt-$label"; then
		modify "$F4_WORK/tree2"
		if (modify "$F4_WORK/mnt-$label") 2>"$F4_WORK/modify-$label.err"; then
			pass "[$label] changes through fuse4fs on a kernel-made image"
		else
			head -n 20 "$F4_WORK/modify-$label.err" >&2
			fail "[$label] changing the kernel-made image through fuse4fs failed"
		fi
		direct_umount "$label-rw" "$F4_WORK/mnt-$label"
		fsck_check "$label-rw" "$img"
		compare_kernel_and_fuse "$label-changed" "$img" "$F4_WORK/tree2"
	fi
	rm -f "$img"
fi
finish
