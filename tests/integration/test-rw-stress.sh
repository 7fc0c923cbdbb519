#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Random-operation stress (tests/conformance/stress.py): several processes create, write at
# random offsets, truncate, rename, link, unlink, mkdir/rmdir and set/remove xattrs in disjoint
# subtrees, each keeping a model of what its subtree must hold.  Afterwards every file is
# compared with the model; then unmount, e2fsck -fn must be clean, and the image is mounted
# again (fuse4fs, and the kernel read-only) and compared with the model once more.
# The same workload first runs on the kernel's ext4, which proves the model, not the server.
#
#   test-rw-stress.sh --fuse4fs PATH [--build-root DIR --prefix P --bindir D --sbindir D
#                     --unitdir D] [--procs N] [--ops N] [--seed S] [--only MODES]
# MODES: a comma list of kernel, direct, service (default: all).
set -euo pipefail
# shellcheck source=tests/lib/common.sh
source "$(dirname "$0")/../lib/common.sh"
# shellcheck source=tests/lib/nspawn.sh
source "$F4_LIB_DIR/nspawn.sh"
# shellcheck source=tests/lib/rw.sh
source "$F4_LIB_DIR/rw.sh"
f4_private_mounts "$@"

FUSE4FS=""
BUILD=""
PROCS=4
OPS=3000
SEED=${F4_STRESS_SEED:-$(date +%s)}
MODES=kernel,direct,service
while (($#)); do
	case $1 in
	--fuse4fs) FUSE4FS=$2; shift 2 ;;
	--procs) PROCS=$2; shift 2 ;;
	--ops) OPS=$2; shift 2 ;;
	--seed) SEED=$2; shift 2 ;;
	--only) MODES=$2; shift 2 ;;
	*)
		install_option "$1" "${2-}" || die "unknown argument '$1'"
		shift 2
		;;
	esac
done
want() { [[ ,$MODES, == *,$1,* ]]; }
if want direct; then
	[[ -x $FUSE4FS ]] || die "--fuse4fs PATH to the built server is required"
fi

require_root
[[ -c /dev/fuse ]] || die "/dev/fuse is missing"
make_workdir
ensure_test_user
STRESS=$F4_WORK/stress.py
install -m 0755 "$(dirname "$0")/../conformance/stress.py" "$STRESS"
# A failure names its seed; rerun with F4_STRESS_SEED=<seed> (or --seed) to reproduce it.
log "seed $SEED ($PROCS processes x $OPS operations)"

# stress_run LABEL ROOT [as_user]: the workload and its live check.
stress_run() {
	local label=$1 root=$2 runner=()
	[[ ${3:-} == as_user ]] && runner=(as_user)
	if "${runner[@]}" "$F4_PYTHON" "$STRESS" run "$root" "$F4_WORK/model-$label" \
		--procs "$PROCS" --ops "$OPS" --seed "$SEED" >"$F4_WORK/stress-$label.out" 2>&1; then
		pass "[$label] $(tail -n 1 "$F4_WORK/stress-$label.out")"
	else
		head -n 80 "$F4_WORK/stress-$label.out" >&2
		fail "[$label] the stress workload found problems (above; seed $SEED)"
	fi
}
stress_verify() { # LABEL WHEN ROOT [as_user]
	local label=$1 when=$2 root=$3 runner=()
	[[ ${4:-} == as_user ]] && runner=(as_user)
	if "${runner[@]}" "$F4_PYTHON" "$STRESS" verify "$root" "$F4_WORK/model-$label" \
		>"$F4_WORK/verify-$label.out" 2>&1; then
		pass "[$label] $when: $(tail -n 1 "$F4_WORK/verify-$label.out")"
	else
		head -n 60 "$F4_WORK/verify-$label.out" >&2
		fail "[$label] $when: the tree differs from the model (above; seed $SEED)"
	fi
}
# The kernel's view of the same image, read-only and without journal replay.
kernel_verify() { # LABEL IMG
	local label=$1 img=$2 ref=$F4_WORK/ref-$1
	kernel_mount_rw "$img" "$ref" ro
	stress_verify "$label" "through the kernel's read-only mount" "$ref/stress"
	kernel_umount "$ref"
}

if want kernel; then
	step "the reference: the kernel's ext4"
	label=kernel
	rw_mkimage "$F4_WORK/$label.img"
	kernel_mount_rw "$F4_WORK/$label.img" "$F4_WORK/mnt-$label"
	mkdir "$F4_WORK/mnt-$label/stress"
	stress_run "$label" "$F4_WORK/mnt-$label/stress"
	kernel_umount "$F4_WORK/mnt-$label"
	fsck_check "$label" "$F4_WORK/$label.img"
	rm -f "$F4_WORK/$label.img"
fi

if want direct; then
	step "fuse4fs direct mode as root"
	label=direct
	img=$F4_WORK/$label.img
	mnt=$F4_WORK/mnt-$label
	rw_mkimage "$img"
	if direct_mount_rw "$label" "$img" "$mnt"; then
		mkdir "$mnt/stress"
		stress_run "$label" "$mnt/stress"
		direct_umount "$label" "$mnt"
		fsck_check "$label" "$img"
		step "remounting: is everything still there?"
		if direct_mount_rw "$label-remount" "$img" "$mnt"; then
			stress_verify "$label" "after a remount" "$mnt/stress"
			direct_umount "$label-remount" "$mnt"
			fsck_check "$label-remount" "$img"
		fi
		kernel_verify "$label" "$img"
	fi
	rm -f "$img"
fi

if want service; then
	[[ -d $BUILD ]] || die "--build-root DIR is required for service mode"
	command -v systemd-nspawn >/dev/null || die "systemd-nspawn is missing: run tools/setup.sh"
	lock_sockdir
	step "fuse4fs service mode: $F4_TEST_USER mounts through the helper"
	stage_install "$BUILD" "$F4_WORK/stage"
	nspawn_start "$F4_WORK/stage"
	ct systemctl start fuse4fs.socket
	label=service
	img=$F4_WORK/$label.img
	mnt=$F4_WORK/mnt-$label
	rw_mkimage "$img" 4096 1G "$F4_TEST_UID:$F4_TEST_GID"
	chown "$F4_TEST_UID:$F4_TEST_GID" "$img"
	install -d -o "$F4_TEST_UID" -g "$F4_TEST_GID" -m 0755 "$mnt"
	# The model files are the user's to write.
	chown "$F4_TEST_UID:$F4_TEST_GID" "$F4_WORK"
	if service_mount_rw "$label" "$img" "$mnt"; then
		as_user mkdir "$mnt/stress"
		stress_run "$label" "$mnt/stress" as_user
		service_umount "$label" "$mnt"
		fsck_check "$label" "$img"
		if service_mount_rw "$label-remount" "$img" "$mnt"; then
			stress_verify "$label" "after a remount" "$mnt/stress" as_user
			service_umount "$label-remount" "$mnt"
			fsck_check "$label-remount" "$img"
		fi
		kernel_verify "$label" "$img"
	fi
	chown 0:0 "$F4_WORK"
fi
finish
