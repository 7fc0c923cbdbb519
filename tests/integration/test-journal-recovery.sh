#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Journal recovery against the kernel's own dirty journals. The kernel's ext4 writes a workload
# (creates, appends, renames, unlinks that leave revoke records, xattrs, symlinks) with commit=60
# so that only fsync() commits, and after each round the backing file is copied while it is still
# mounted: a snapshot of a stick pulled out mid-work, its journal holding committed transactions
# that are not checkpointed. A small 1 KiB-block journal makes the log wrap around. Each snapshot:
#   - read-only through fuse4fs (direct mode): must equal the kernel's view after the kernel
#     replayed a copy (compare-tree.py: inodes, modes, sizes, times, content, xattrs, statvfs),
#     and the image's bytes must not change;
#   - read-write through fuse4fs: replayed onto the device, equal to the kernel's view, and
#     `e2fsck -fn` clean after the unmount;
#   - the replay alone (ext4-walk --replay-only, journal_recover() as a read-write mount does
#     first): must be
#     byte-identical to `e2fsck -E journal_only` except the primary superblock's write time
#     and checksum, and `e2fsck -fn` must be clean afterwards; fuse4fs then mounts it without
#     any recovery and still equals the kernel's view.
#
#   test-journal-recovery.sh --fuse4fs PATH --walk PATH
set -euo pipefail
# shellcheck source=tests/lib/common.sh
source "$(dirname "$0")/../lib/common.sh"

while (($#)); do
	case $1 in
	--fuse4fs) FUSE4FS=$2; shift 2 ;;
	--walk) WALK=$2; shift 2 ;;
	*) die "unknown argument '$1'" ;;
	esac
done
[[ -x ${FUSE4FS:-} && -x ${WALK:-} ]] || die "--fuse4fs PATH and --walk PATH are required"
require_root
[[ -c /dev/fuse ]] || die "/dev/fuse is missing"
make_workdir
W=$F4_WORK

# The workload of round N on the kernel mount at $1; every round ends with fsync so that the
# journal holds it, and round N leaves something for round N+1 to revoke.
workload() { # workload MNT ROUND
	local m=$1 r=$2 i
	mkdir -p "$m/r$r/sub"
	for ((i = 0; i < 20; i++)); do
		head -c $(((i * 997 + r * 131) % 20000 + 1)) /dev/urandom >"$m/r$r/f$i"
	done
	printf 'round %d\n' "$r" >>"$m/log.txt"
	ln -sf "r$r/f1" "$m/latest"
	setfattr -n user.round -v "$r" "$m/r$r/f0"
	mv "$m/r$r/f2" "$m/r$r/sub/moved"
	if ((r > 1)); then
		# Freed metadata blocks: the next transactions revoke them.
		rm -rf "$m/r$((r - 1))/sub" "$m/r$((r - 1))/f3"
		for ((i = 0; i < 60; i++)); do : >"$m/r$r/sub/e$i"; done
	fi
	sync -f "$m/log.txt"
}

# Many rounds of creating and deleting small files: the log fills, the kernel checkpoints and
# moves the journal's start, and later transactions wrap around the end of the journal.
churn() { # churn MNT ROUND
	local m=$1 r=$2 i
	mkdir -p "$m/c$r"
	for ((i = 0; i < 150; i++)); do echo "$r.$i" >"$m/c$r/f$i"; done
	rm -rf "$m/c$((r - 1))"
	sync -f "$m/c$r"
}

# Only the loop devices this test attached, and only while they still hold our image: the
# kernel may have released one already, and its number may be someone else's by now.
loop_detach_mine() { # loop_detach_mine DEV IMG
	[[ $(losetup -n -O BACK-FILE "$1" 2>/dev/null) == "$2"* ]] || return 0
	losetup -d "$1"
}
loop_take() { # loop_take IMG: sets DEV
	DEV=$(losetup -f --show "$1") || die "no free loop device for $1"
	defer "loop_detach_mine '$DEV' '$1'"
}

fuse_mount() { # fuse_mount IMG MNT LABEL ro|rw: sets FPID
	local img=$1 mnt=$2 label=$3 mode=$4 t
	mkdir -p "$mnt"
	"$FUSE4FS" -f -o "$mode" "$img" "$mnt" 2>"$W/server-$label.log" &
	FPID=$!
	defer "f4_umount_if_mounted '$mnt'; f4_kill_pid $FPID"
	for ((t = 0; t < 100; t++)); do
		[[ $(mount_fstype "$mnt" 2>/dev/null) == fuse* ]] && return 0
		[[ -d /proc/$FPID ]] || break
		sleep 0.1
	done
	cat "$W/server-$label.log" >&2
	return 1
}

fuse_umount() { # fuse_umount MNT
	umount "$1"
	wait_pid_gone "$FPID" 10 || fail "server $FPID still running after unmount"
	wait "$FPID" 2>/dev/null || true
}

compare() { # compare LABEL REF TEST
	if "$F4_PYTHON" "$F4_LIB_DIR/compare-tree.py" "$2" "$3" >"$W/compare-$1.txt" 2>&1; then
		pass "[$1] equals the kernel's recovered filesystem ($(tail -n 1 "$W/compare-$1.txt"))"
	else
		head -n 40 "$W/compare-$1.txt" >&2
		fail "[$1] differs from the kernel's recovered filesystem (above)"
	fi
}

# bytes that differ outside the primary superblock (at byte 1024, 1 KiB long)
differing_blocks() { # differing_blocks A B
	{ cmp -l "$1" "$2" || true; } | awk '$1 <= 1024 || $1 > 2048 { n++ } END { print n + 0 }'
}

one_snapshot() { # one_snapshot LABEL SNAP
	local label=$1 snap=$2 sum
	local dump start end
	dump=$(debugfs -R logdump "$snap" 2>/dev/null || true)
	start=$(sed -n 's/^Journal starts at block \([0-9]*\),.*/\1/p' <<<"$dump")
	end=$(sed -n 's/.*(commit block) at block \([0-9]*\)$/\1/p' <<<"$dump" | tail -n 1)
	step "[$label] $(grep -c 'commit block' <<<"$dump") commit blocks in the log, blocks $start..$end$( ((end < start)) && echo ', wrapping around')"
	[[ $label == *-wrap ]] && check "[$label] the log wraps around the end of the journal" test "$end" -lt "$start"
	check "[$label] the snapshot needs recovery" \
		bash -c "dumpe2fs -h '$snap' 2>/dev/null | grep -q needs_recovery"

	# The kernel's recovery is the reference: replay by mounting a copy, then keep it mounted
	# read-only (no atime updates) while comparing.
	cp "$snap" "$W/$label.kernel"
	loop_take "$W/$label.kernel"
	local refdev=$DEV
	mkdir -p "$W/ref-$label"
	mount -t ext4 -o ro "$refdev" "$W/ref-$label"
	defer "f4_umount_if_mounted '$W/ref-$label'"

	# Read-only: recovered in memory, nothing written.
	sum=$(sha256sum <"$snap")
	if fuse_mount "$snap" "$W/ro-$label" "ro-$label" ro; then
		compare "ro-$label" "$W/ref-$label" "$W/ro-$label"
		fuse_umount "$W/ro-$label"
		check "[ro-$label] the server said it recovered in memory" \
			grep -q 'Recovered the journal' "$W/server-ro-$label.log"
	else
		fail "[ro-$label] fuse4fs refused the dirty image"
	fi
	check "[ro-$label] the image's bytes are unchanged" test "$(sha256sum <"$snap")" = "$sum"

	# Read-write through the server: replayed onto the device at mount.
	cp "$snap" "$W/$label.srv"
	if fuse_mount "$W/$label.srv" "$W/srv-$label" "srv-$label" rw; then
		compare "srv-$label" "$W/ref-$label" "$W/srv-$label"
		fuse_umount "$W/srv-$label"
		check "[srv-$label] the server replayed the journal onto the device" \
			grep -q 'Replayed the journal' "$W/server-srv-$label.log"
		check "[srv-$label] e2fsck -fn is clean after the read-write mount" \
			fsck_quiet "$W/$label.srv"
	else
		fail "[srv-$label] fuse4fs refused the dirty image read-write"
	fi

	# The read-write open and walk in-process (svc_fs_open as a read-write mount does it).
	cp "$snap" "$W/$label.walk"
	"$WALK" --rw "$W/$label.walk" >"$W/walk-$label.txt" 2>&1 || true
	check "[walk-$label] read-write open and walk finished without errors" \
		grep -q 'walked:.* 0 errors' "$W/walk-$label.txt"
	check "[walk-$label] e2fsck -fn is clean afterwards" fsck_quiet "$W/$label.walk"
	rm -f "$W/$label.walk"

	# The replay alone (ext4-walk --replay-only: journal_recover() for a read-write mount
	# and nothing else), to compare it byte for byte with e2fsck's.
	cp "$snap" "$W/$label.rw"
	cp "$snap" "$W/$label.e2fsck"
	e2fsck -E journal_only -y "$W/$label.e2fsck" >/dev/null 2>&1 || true
	"$WALK" --replay-only "$W/$label.rw" >"$W/replay-$label.txt" 2>&1 || true
	check "[rw-$label] the replay was written" grep -Eq '(^|: )replayed$' "$W/replay-$label.txt"
	check "[rw-$label] needs_recovery is cleared" \
		bash -c "! dumpe2fs -h '$W/$label.rw' 2>/dev/null | grep -q needs_recovery"
	check "[rw-$label] e2fsck -fn is clean after the replay" fsck_quiet "$W/$label.rw"
	local nd
	nd=$(differing_blocks "$W/$label.rw" "$W/$label.e2fsck")
	check "[rw-$label] identical to e2fsck's replay outside the superblock ($nd bytes differ)" \
		test "$nd" = 0
	if fuse_mount "$W/$label.rw" "$W/rw-$label" "rw-$label" ro; then
		compare "rw-$label" "$W/ref-$label" "$W/rw-$label"
		fuse_umount "$W/rw-$label"
		check "[rw-$label] a replayed image mounts without recovery" \
			bash -c "! grep -q 'journal' '$W/server-rw-$label.log'"
	else
		fail "[rw-$label] fuse4fs refused the replayed image"
	fi
	umount "$W/ref-$label"
	loop_detach_mine "$refdev" "$W/$label.kernel"
	rm -f "$W/$label".*
}

run_config() { # run_config NAME WORKLOAD "ROUNDS TO TEST" SIZE MOUNT-OPTIONS MKFS-ARGS...
	local name=$1 work=$2 tested=$3 size=$4 mopts=$5 r last
	shift 5
	last=${tested##* }
	[[ $last == wrap ]] && last=30
	step "$name: mkfs.ext4 $* (size $size), mount -o $mopts, $last rounds of $work"
	mkfs.ext4 -q -F "$@" "$W/$name.img" "$size"
	loop_take "$W/$name.img"
	mkdir -p "$W/k-$name"
	mount -t ext4 -o "data=ordered,commit=60,$mopts" "$DEV" "$W/k-$name"
	defer "f4_umount_if_mounted '$W/k-$name'"
	for ((r = 1; r <= last; r++)); do
		"$work" "$W/k-$name" "$r"
		# The loop driver writes through the backing file's page cache: a plain copy sees
		# exactly what a pulled stick would hold.
		[[ " $tested " == *" $r "* ]] && cp "$W/$name.img" "$W/$name.snap$r"
		# "wrap": the first round whose log runs past the end of the journal; when the
		# kernel checkpoints varies a little, so look at every round.
		if [[ " $tested " == *" wrap "* && ! -e $W/$name.snapwrap ]]; then
			local dump s e
			dump=$(debugfs -R logdump "$W/$name.img" 2>/dev/null || true)
			s=$(sed -n 's/^Journal starts at block \([0-9]*\),.*/\1/p' <<<"$dump")
			e=$(sed -n 's/.*(commit block) at block \([0-9]*\)$/\1/p' <<<"$dump" | tail -n 1)
			[[ -n $s && -n $e ]] && ((e < s)) && cp "$W/$name.img" "$W/$name.snapwrap"
		fi
	done
	[[ " $tested " != *" wrap "* || -e $W/$name.snapwrap ]] ||
		fail "[$name] no round wrapped the log around the journal's end"
	umount "$W/k-$name"
	loop_detach_mine "$DEV" "$W/$name.img"
	for r in $tested; do
		[[ -e $W/$name.snap$r ]] || continue
		one_snapshot "$name-$r" "$W/$name.snap$r"
		rm -f "$W/$name.snap$r"
	done
	rm -f "$W/$name.img"
}

# Default ext4: metadata_csum, so journal checksum v3 with 64-bit block tags.
run_config v3-64bit-4k workload "1 2 3" 128M noatime -b 4096
# 1 KiB blocks, 32-bit tags, a 1 MiB journal that the rounds fill: the kernel checkpoints and the
# log wraps around the end of the journal (the first round where it does, and round 25).
run_config v3-32bit-1k churn "wrap 25" 32M noatime -b 1024 -J size=1 -O ^64bit
# ext3-era journal checksums (v1, crc32 over the transaction in the commit block).
run_config v1-csum workload "2" 64M journal_checksum -b 4096 -O ^metadata_csum,^64bit
# No journal checksums at all.
run_config no-csum workload "2" 64M noatime -b 4096 -O ^metadata_csum
finish
