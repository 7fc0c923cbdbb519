#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The conformance suite (tests/conformance) three times on fresh images: on the kernel's ext4
# (the reference: it must pass there, or the suite is wrong), on fuse4fs in direct mode as root,
# and on fuse4fs in service mode as an ordinary user through the helper (tests that need root
# say SKIP there).  After each: unmount, the server exits, e2fsck -fn is clean.  Direct mode
# also runs the slow 100,000-entry directory and checks on disk that it is an htree.  Then
# an inline_data image (kernel and direct mode), and a full 64 MiB filesystem (ENOSPC, exact
# counts afterwards).  Then mount options: relatime, strictatime
# and noatime must update atime as the kernel does, -o ro
# must write nothing, remount ro/rw must stop and allow writes.
#
#   test-rw-conformance.sh --fuse4fs PATH --conformance PATH --build-root DIR --prefix P
#                          --bindir D --sbindir D --unitdir D [--no-slow] [--only MODES]
# MODES: a comma list of kernel, direct, direct1k, writeback, inline, enospc, options, service
# (default: all).  writeback: direct mode with -o writeback_cache (conformance --writeback-cache).
set -euo pipefail
# shellcheck source=tests/lib/common.sh
source "$(dirname "$0")/../lib/common.sh"
# shellcheck source=tests/lib/nspawn.sh
source "$F4_LIB_DIR/nspawn.sh"
# shellcheck source=tests/lib/rw.sh
source "$F4_LIB_DIR/rw.sh"
f4_private_mounts "$@"

FUSE4FS=""
CONFORMANCE=""
BUILD=""
SLOW=--slow
MODES=kernel,direct,direct1k,writeback,inline,enospc,options,service
while (($#)); do
	case $1 in
	--fuse4fs) FUSE4FS=$2; shift 2 ;;
	--conformance) CONFORMANCE=$2; shift 2 ;;
	--no-slow) SLOW=; shift ;;
	--only) MODES=$2; shift 2 ;;
	*)
		install_option "$1" "${2-}" || die "unknown argument '$1'"
		shift 2
		;;
	esac
done
want() { [[ ,$MODES, == *,$1,* ]]; }
if want direct || want direct1k || want writeback || want inline || want enospc || want options; then
	[[ -x $FUSE4FS ]] || die "--fuse4fs PATH to the built server is required"
fi
[[ -x $CONFORMANCE ]] || die "--conformance PATH to the built suite is required"

require_root
[[ -c /dev/fuse ]] || die "/dev/fuse is missing"
make_workdir
ensure_test_user
# The test user runs the suite binary from the build tree: give it a private copy.
install -m 0755 "$CONFORMANCE" "$F4_WORK/conformance"
CONFORMANCE=$F4_WORK/conformance

# The slow directory must be an htree on disk: a lookup that scans 100,000 entries is a bug
# the timing alone might not show on a fast machine.
check_bigdir_indexed() { # LABEL IMG
	local label=$1 img=$2 flags
	flags=$(debugfs -R "stat /conf/bigdir" "$img" 2>/dev/null | sed -n 's/.*Flags: \(0x[0-9a-f]*\).*/\1/p')
	if [[ -z $flags ]]; then
		fail "[$label] debugfs cannot stat /conf/bigdir"
	elif (((flags & 0x1000) == 0)); then
		fail "[$label] /conf/bigdir is not hash-indexed on disk (flags $flags, EXT4_INDEX_FL 0x1000 missing)"
	else
		pass "[$label] /conf/bigdir is an htree on disk (flags $flags)"
	fi
}

if want kernel; then
	for bs in 4096 1024; do
		label=kernel-$bs
		step "the reference: the kernel's ext4, $bs-byte blocks"
		rw_mkimage "$F4_WORK/$label.img" "$bs"
		kernel_mount_rw "$F4_WORK/$label.img" "$F4_WORK/mnt-$label"
		mkdir "$F4_WORK/mnt-$label/conf"
		slow=
		[[ $bs == 4096 ]] && slow=$SLOW
		run_tap "$label" "$F4_WORK/$label.tap" "$CONFORMANCE" ${slow:+"$slow"} "$F4_WORK/mnt-$label/conf" || true
		kernel_umount "$F4_WORK/mnt-$label"
		fsck_check "$label" "$F4_WORK/$label.img"
		[[ -n $slow ]] && check_bigdir_indexed "$label" "$F4_WORK/$label.img"
		rm -f "$F4_WORK/$label.img"
	done
fi

direct_round() { # LABEL BLOCKSIZE SLOW [EXTRA_OPTS CONFORMANCE_FLAG]
	local label=$1 bs=$2 slow=$3 extra=${4:-} flag=${5:-} img=$F4_WORK/$1.img mnt=$F4_WORK/mnt-$1
	step "fuse4fs direct mode as root, $bs-byte blocks"
	rw_mkimage "$img" "$bs"
	# allow_other: the suite acts as other uids (EACCES, sticky, ACLs); without it FUSE would
	# refuse them everything and those checks would prove nothing.
	direct_mount_rw "$label" "$img" "$mnt" allow_other${extra:+,$extra} || return 0
	mkdir "$mnt/conf" || { fail "[$label] mkdir on the mount failed"; }
	run_tap "$label" "$F4_WORK/$label.tap" "$CONFORMANCE" ${slow:+"$slow"} ${flag:+"$flag"} "$mnt/conf" || true
	direct_umount "$label" "$mnt"
	fsck_check "$label" "$img"
	[[ -n $slow ]] && check_bigdir_indexed "$label" "$img"
	rm -f "$img"
}
want direct && direct_round direct-4096 4096 "$SLOW"
# busy_poll=0: the worker that sleeps in read() (libfuse's own I/O) stays covered too.
want direct1k && direct_round direct-1024 1024 "" busy_poll=0
want writeback && direct_round direct-writeback 4096 "" writeback_cache --writeback-cache

# inline_data: small files and directories live in the inode and must grow into blocks.
if want inline; then
	step "inline_data: the kernel, then fuse4fs direct mode"
	rw_mkimage "$F4_WORK/inline-k.img" 4096 1G 0:0 inline_data
	kernel_mount_rw "$F4_WORK/inline-k.img" "$F4_WORK/mnt-inline-k"
	mkdir "$F4_WORK/mnt-inline-k/conf"
	run_tap kernel-inline "$F4_WORK/kernel-inline.tap" "$CONFORMANCE" --inline-data \
		"$F4_WORK/mnt-inline-k/conf" || true
	kernel_umount "$F4_WORK/mnt-inline-k"
	fsck_check kernel-inline "$F4_WORK/inline-k.img"
	rm -f "$F4_WORK/inline-k.img"
	img=$F4_WORK/inline.img
	rw_mkimage "$img" 4096 1G 0:0 inline_data
	if direct_mount_rw direct-inline "$img" "$F4_WORK/mnt-inline" allow_other; then
		mkdir "$F4_WORK/mnt-inline/conf"
		run_tap direct-inline "$F4_WORK/direct-inline.tap" "$CONFORMANCE" --inline-data \
			"$F4_WORK/mnt-inline/conf" || true
		direct_umount direct-inline "$F4_WORK/mnt-inline"
		fsck_check direct-inline "$img"
	fi
	rm -f "$img"
fi

# A full filesystem, small images: ENOSPC, exact counts afterwards, e2fsck clean.  As root and
# as the test user (who may not take the reserved blocks).
if want enospc; then
	step "ENOSPC: filling a 64 MiB filesystem, the kernel and fuse4fs, as root and as $F4_TEST_USER, and with the writeback cache"
	fill_round() { # LABEL kernel|direct root|user [writeback]
		local label=$1 how=$2 who=$3 img=$F4_WORK/$1.img mnt=$F4_WORK/mnt-$1 runner=()
		local opts=allow_other flag= only=fill,fill-close
		# fill counts what write() accepted as written: with the writeback cache a write()
		# that succeeded can still fail at write-back (reported by fsync and close).
		if [[ ${4:-} == writeback ]]; then
			opts+=,writeback_cache
			flag=--writeback-cache
			only=fill-close
		fi
		rw_mkimage "$img" 4096 64M
		if [[ $how == kernel ]]; then
			kernel_mount_rw "$img" "$mnt"
		else
			direct_mount_rw "$label" "$img" "$mnt" "$opts" || return 0
		fi
		mkdir "$mnt/conf"
		if [[ $who == user ]]; then
			chown "$F4_TEST_UID:$F4_TEST_GID" "$mnt/conf"
			runner=(as_user)
		fi
		run_tap "$label" "$F4_WORK/$label.tap" "${runner[@]}" "$CONFORMANCE" ${flag:+"$flag"} \
			--only "$only" "$mnt/conf" || true
		if [[ $how == kernel ]]; then
			kernel_umount "$mnt"
		else
			direct_umount "$label" "$mnt"
			if grep -Ei 'corrupt|could not' "$F4_WORK/server-$label.log" >&2; then
				fail "[$label] the server reported problems (above)"
			fi
		fi
		fsck_check "$label" "$img"
		rm -f "$img"
	}
	fill_round fill-kernel-root kernel root
	fill_round fill-kernel-user kernel user
	fill_round fill-direct-root direct root
	fill_round fill-direct-user direct user
	# With the writeback cache write() cannot see ENOSPC; close() must (fill-close).
	fill_round fill-direct-writeback direct root writeback
fi

# Mount options: atime policies as the kernel applies them, ro, and remount.
if want options; then
	step "mount options: relatime, strictatime, noatime, ro, remount"
	atime_flags() { # MNT: the atime flags among the mount's options, e.g. "relatime"
		awk -v m="$1" '$2 == m { print $4 }' /proc/self/mounts | tr , '\n' |
			{ grep -E '^(relatime|noatime|strictatime|nodiratime)$' || true; } | tr '\n' ' '
	}
	PROBE=$F4_WORK/atime-probe.py
	install -m 0755 "$(dirname "$0")/../conformance/atime-probe.py" "$PROBE"
	declare -A KERNEL_ATIME=(
		[relatime]="recent=no older=yes"
		[strictatime]="recent=yes older=yes"
		[noatime]="recent=no older=no"
	)
	rw_mkimage "$F4_WORK/opts.img" 4096 256M
	for o in relatime strictatime noatime; do
		kernel_mount_rw "$F4_WORK/opts.img" "$F4_WORK/mnt-kopts"
		mount -o "remount,$o" "$F4_WORK/mnt-kopts"
		got=$("$F4_PYTHON" "$PROBE" "$F4_WORK/mnt-kopts")
		katime=$(atime_flags "$F4_WORK/mnt-kopts")
		kernel_umount "$F4_WORK/mnt-kopts"
		check "[options] the kernel with $o: '$got' (the expectation: '${KERNEL_ATIME[$o]}')" \
			test "$got" = "${KERNEL_ATIME[$o]}"
		direct_mount_rw "options-$o" "$F4_WORK/opts.img" "$F4_WORK/mnt-opts" "$o" || continue
		got=$("$F4_PYTHON" "$PROBE" "$F4_WORK/mnt-opts")
		check "[options] fuse4fs -o rw,$o: reads update atime like the kernel's ('$got')" \
			test "$got" = "${KERNEL_ATIME[$o]}"
		# What mount(8) and /proc/mounts show must be what the kernel shows for the option.
		fatime=$(atime_flags "$F4_WORK/mnt-opts")
		check "[options] /proc/mounts, atime flags for -o $o: fuse4fs '$fatime', the kernel '$katime'" \
			test "$fatime" = "$katime"
		direct_umount "options-$o" "$F4_WORK/mnt-opts"
	done

	# -o ro: nothing may be written, and the image must not change.
	sum=$(sha256sum <"$F4_WORK/opts.img")
	mkdir -p "$F4_WORK/mnt-opts"
	"$FUSE4FS" -f -o ro "$F4_WORK/opts.img" "$F4_WORK/mnt-opts" 2>"$F4_WORK/server-options-ro.log" &
	F4_SERVER_PID=$!
	defer "f4_umount_if_mounted '$F4_WORK/mnt-opts'; f4_kill_pid $F4_SERVER_PID"
	if f4_wait_fuse_mount "$F4_WORK/mnt-opts" "$F4_SERVER_PID"; then
		F4_FUSE_CONN=$(mountpoint -d "$F4_WORK/mnt-opts" | cut -d: -f2)
		check "[options] -o ro mounts read-only" \
			grep -q "^[^ ]* $F4_WORK/mnt-opts fuse.fuse4fs ro[, ]" /proc/self/mounts
		err=$(mkdir "$F4_WORK/mnt-opts/x" 2>&1) || true
		check "[options] -o ro: mkdir fails with EROFS (got: ${err:-success})" grep -q 'Read-only' <<<"$err"
		direct_umount options-ro "$F4_WORK/mnt-opts"
		check "[options] -o ro left the image byte for byte unchanged" \
			test "$(sha256sum <"$F4_WORK/opts.img")" = "$sum"
	else
		fail "[options] fuse4fs -o ro did not mount"
	fi

	# remount: ro stops writes, rw allows them again, the data survives both.  (mount -i: the
	# kernel's remount itself, not mount.fuse's helper.)
	if direct_mount_rw options-remount "$F4_WORK/opts.img" "$F4_WORK/mnt-opts"; then
		echo before >"$F4_WORK/mnt-opts/file"
		check "[options] mount -o remount,ro succeeds" mount -i -o remount,ro "$F4_WORK/mnt-opts"
		err=$(touch "$F4_WORK/mnt-opts/new" 2>&1) || true
		check "[options] after remount,ro a create fails with EROFS (got: ${err:-success})" \
			grep -q 'Read-only' <<<"$err"
		check "[options] after remount,ro the data reads back" \
			grep -qx before "$F4_WORK/mnt-opts/file"
		check "[options] mount -o remount,rw succeeds" mount -i -o remount,rw "$F4_WORK/mnt-opts"
		check "[options] after remount,rw a create works" touch "$F4_WORK/mnt-opts/new"
		direct_umount options-remount "$F4_WORK/mnt-opts"
		fsck_check options-remount "$F4_WORK/opts.img"
	fi
	rm -f "$F4_WORK/opts.img"
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
	# The user's own disk image: theirs to open read-write, with a root directory they own.
	rw_mkimage "$img" 4096 1G "$F4_TEST_UID:$F4_TEST_GID"
	chown "$F4_TEST_UID:$F4_TEST_GID" "$img"
	install -d -o "$F4_TEST_UID" -g "$F4_TEST_GID" -m 0755 "$F4_WORK/mnt-$label"
	if service_mount_rw "$label" "$img" "$F4_WORK/mnt-$label"; then
		as_user mkdir "$F4_WORK/mnt-$label/conf" || fail "[$label] mkdir on the mount failed"
		log "[$label] running as $F4_TEST_USER: tests that need root report SKIP"
		run_tap "$label" "$F4_WORK/$label.tap" as_user "$CONFORMANCE" "$F4_WORK/mnt-$label/conf" || true
		service_umount "$label" "$F4_WORK/mnt-$label"
	fi
	fsck_check "$label" "$img"
fi
finish
