# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck shell=bash
# Read-write mounts for the test-rw-*.sh tests: empty images, the kernel's ext4 read-write as
# the reference, fuse4fs in direct mode, fuse4fs through the helper (service mode), and the
# checks every rw test repeats after an unmount (the server exits 0, e2fsck -fn is clean).
#
#   rw_mkimage IMG [BS [SIZE [UID:GID [FEATURES]]]] empty ext4, 256-byte inodes, many inodes
#   kernel_mount_rw IMG MNT [ro]                     loop device + mount (ro: ro,noload)
#   kernel_umount MNT                                umount and detach that loop device
#   direct_mount_rw LABEL IMG MNT [OPTS]             fuse4fs -f -o rw[,OPTS]; sets F4_SERVER_PID
#   direct_umount LABEL MNT                          umount, wait for the server, exit status 0
#   service_mount_rw LABEL IMG MNT                   the helper as the test user, -o rw;
#                                                    sets F4_SERVER_PID (the container's server)
#   service_umount LABEL MNT                         fuservicemount -u as the test user
#   fsck_check LABEL IMG                             e2fsck -fn must be clean (prints it if not)
#
# Needs FUSE4FS (direct mode) or the nspawn.sh state (service mode) from the caller.

# shellcheck source=tests/lib/common.sh
[[ -n ${F4_LIB_DIR:-} ]] || source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

# Our mounts in a mount namespace of our own (private propagation): other work on the machine
# that starts a container or an unshare copies the host's mount table, and a copy of one of
# our mounts keeps its superblock alive after we unmount it: a FUSE server then never ends,
# and a kernel ext4 is never written back, so e2fsck sees a journal still to recover.  Call
# it first, with the script's arguments: it re-executes the script inside the namespace.
f4_private_mounts() { # f4_private_mounts "$@"
	[[ ${F4_PRIVATE_MNTNS:-} == 1 ]] && return 0
	[[ $(id -u) == 0 ]] || return 0
	F4_PRIVATE_MNTNS=1 exec unshare --mount --propagation private -- "$BASH" "$0" "$@"
}

rw_mkimage() { # rw_mkimage IMG [BLOCKSIZE [SIZE [UID:GID [FEATURES]]]]
	local img=$1 bs=${2:-4096} size=${3:-1G} owner=${4:-0:0} features=${5:-}
	local feat=()
	[[ -n $features ]] && feat=(-O "$features")
	rm -f "$img"
	# -N: the 100,000-entry directory needs that many inodes and a little more.
	# -I 256: nanosecond times and dates past 2038 (mkfs's default, said out loud).
	mkfs.ext4 -q -F -b "$bs" -I 256 -N 131072 -L fuse4fs-rw -E "root_owner=$owner" \
		"${feat[@]}" "$img" "$size" >/dev/null || die "mkfs.ext4 failed for $img"
}

# The kernel's mounts take a loop device each and give it back at once: only 8 exist, shared.
# The deferred cleanup detaches the device only while it still holds our image (the number
# may belong to someone else by then).
f4_detach_if_ours() { # f4_detach_if_ours LOOP IMG
	local loop=$1 img=$2 back
	back=$(losetup -n -O BACK-FILE "$loop" 2>/dev/null) || return 0
	[[ $back == "$(realpath "$img" 2>/dev/null || echo "$img")" ]] || [[ $back == "$img" ]] ||
		return 0
	losetup -d "$loop"
}
kernel_mount_rw() { # kernel_mount_rw IMG MNT [ro]: ro means ro,noload (no journal replay)
	local img=$1 mnt=$2 ro=${3:-} out opts=rw args=(-f --show)
	[[ $ro == ro ]] && opts=ro,noload args+=(-r)
	out=$(losetup "${args[@]}" "$img" 2>&1) ||
		die "no free loop device for $img ($out); 'losetup -a' shows who holds them"
	F4_KLOOP=$out
	defer "f4_umount_if_mounted '$mnt'; f4_detach_if_ours '$F4_KLOOP' '$img'"
	mkdir -p "$mnt"
	mount -t ext4 -o "$opts" "$F4_KLOOP" "$mnt" || die "mount -t ext4 -o $opts $F4_KLOOP $mnt failed"
}
kernel_umount() { # kernel_umount MNT: unmount and detach the loop device under it
	local mnt=$1 dev
	dev=$(awk -v m="$mnt" '$2 == m { d = $1 } END { print d }' /proc/self/mounts)
	umount "$mnt"
	[[ $dev == /dev/loop* ]] && losetup -d "$dev" 2>/dev/null
	return 0
}

# Wait until MNT is a FUSE mount or the server PID is gone.
f4_wait_fuse_mount() { # f4_wait_fuse_mount MNT PID
	local mnt=$1 pid=$2 t
	for ((t = 0; t < 100; t++)); do
		[[ $(mount_fstype "$mnt" 2>/dev/null) == fuse* ]] && return 0
		[[ -d /proc/$pid ]] || return 1
		sleep 0.1
	done
	return 1
}

direct_mount_rw() { # direct_mount_rw LABEL IMG MNT [EXTRA_OPTS]
	local label=$1 img=$2 mnt=$3 extra=${4:-} opts=rw
	[[ -n $extra ]] && opts+=",$extra"
	mkdir -p "$mnt"
	"$FUSE4FS" -f -o "$opts" "$img" "$mnt" 2>"$F4_WORK/server-$label.log" &
	F4_SERVER_PID=$!
	defer "f4_umount_if_mounted '$mnt'; f4_kill_pid $F4_SERVER_PID"
	if ! f4_wait_fuse_mount "$mnt" "$F4_SERVER_PID"; then
		cat "$F4_WORK/server-$label.log" >&2
		fail "[$label] fuse4fs -f -o $opts $img $mnt did not mount"
		return 1
	fi
	if ! grep -q "^[^ ]* $mnt fuse.fuse4fs rw[, ]" /proc/self/mounts; then
		grep " $mnt " /proc/self/mounts >&2
		fail "[$label] the mount is not fuse.fuse4fs rw"
		return 1
	fi
	# The FUSE connection's number (the minor of the mount's st_dev), for f4_conn_alive.
	F4_FUSE_CONN=$(mountpoint -d "$mnt" | cut -d: -f2)
	pass "[$label] fuse4fs -o $opts mounted $img"
}

# What a stuck server is doing: kernel wait channels always, user stacks when gdb is there.
f4_show_stacks() { # f4_show_stacks PID [MOUNTPOINT]
	local pid=$1 t p
	# Direct mode is a monitor and, below it, the sandboxed server: both are of interest.
	for p in "$pid" $(pgrep -P "$pid" || true); do
		for t in /proc/"$p"/task/*; do
			printf '  pid %s thread %s: %s, in %s\n' "$p" "${t##*/}" \
				"$(awk '/^State:/ { print $2 }' "$t/status" 2>/dev/null)" \
				"$(cat "$t/wchan" 2>/dev/null)" >&2
		done
	done
	# A server whose unmount does not end it usually has its mount alive in another mount
	# namespace (copied by someone's unshare or container while it was mounted).
	local holders
	holders=$(grep -l -F " ${2:-/nonexistent} " /proc/[0-9]*/mountinfo 2>/dev/null |
		sed 's|/proc/\([0-9]*\)/mountinfo|\1|' | head -n 5 | tr '\n' ' ')
	[[ -z $holders ]] || printf '  the mount is still present in the mount namespaces of pids: %s\n  (%s)\n' \
		"$holders" "$(for h in $holders; do tr '\0' ' ' <"/proc/$h/cmdline" | cut -c1-80; echo; done | head -n 5 | tr '\n' ';')" >&2
	if command -v gdb >/dev/null; then
		for p in $(pgrep -P "$pid" || true) "$pid"; do
			timeout 20 gdb -p "$p" -batch -ex 'thread apply all bt 20' 2>/dev/null |
				grep -E '^(#|Thread)' | head -n 60 >&2 || true
		done
	fi
	return 0
}

direct_umount() { # direct_umount LABEL MNT
	local label=$1 mnt=$2 rc
	umount "$mnt" || { fail "[$label] umount $mnt failed"; umount -l "$mnt"; }
	if wait_pid_gone "$F4_SERVER_PID" 10 ||
		{ ! f4_conn_alive "${F4_FUSE_CONN:-}" && wait_pid_gone "$F4_SERVER_PID" 20; }; then
		wait "$F4_SERVER_PID" && rc=0 || rc=$?
		check "[$label] server exits 0 after the unmount (got $rc)" test "$rc" = 0
	elif f4_conn_alive "${F4_FUSE_CONN:-}"; then
		log "[$label] warning: the FUSE connection outlived our unmount (its mount lives on in another mount namespace); aborting it"
		f4_show_stacks "$F4_SERVER_PID" "$mnt"
		echo 1 2>/dev/null >"$F4_FUSECTL/$F4_FUSE_CONN/abort" || true
		wait_pid_gone "$F4_SERVER_PID" 10 || f4_kill_pid "$F4_SERVER_PID"
		wait "$F4_SERVER_PID" 2>/dev/null || true
	else
		fail "[$label] server still running 30 s after the unmount, its connection gone; where its threads wait:"
		f4_show_stacks "$F4_SERVER_PID" "$mnt"
		f4_kill_pid "$F4_SERVER_PID"
	fi
	if grep -Eiq 'error|corrupt' "$F4_WORK/server-$label.log"; then
		log "[$label] server log (first 20 lines):"
		head -n 20 "$F4_WORK/server-$label.log" >&2
	fi
}

# Service mode: the test user mounts through the installed setuid helper; nspawn_start and
# `ct systemctl start fuse4fs.socket` must have run.
service_mount_rw() { # service_mount_rw LABEL IMG MNT
	local label=$1 img=$2 mnt=$3 rc=0 before after p
	before=" $(ct_server_pids | tr '\n' ' ') "
	as_user "$F4_HELPER" -o rw "$img" "$mnt" >"$F4_WORK/helper-$label.out" 2>&1 || rc=$?
	if ((rc != 0)); then
		cat "$F4_WORK/helper-$label.out" >&2
		fail "[$label] fuservicemount -o rw $img $mnt as $F4_TEST_USER exited $rc"
		return 1
	fi
	defer "f4_umount_if_mounted '$mnt'"
	F4_SERVER_PID=
	after=$(ct_server_pids)
	for p in $after; do [[ $before == *" $p "* ]] || F4_SERVER_PID=$p; done
	if ! grep -q "^[^ ]* $mnt fuse.fuse4fs rw[, ]" /proc/self/mounts; then
		grep " $mnt " /proc/self/mounts >&2
		fail "[$label] the mount is not fuse.fuse4fs rw"
		return 1
	fi
	pass "[$label] $F4_TEST_USER mounted $img read-write through the helper (server ${F4_SERVER_PID:-?})"
}

service_umount() { # service_umount LABEL MNT
	local label=$1 mnt=$2 rc=0
	as_user "$F4_HELPER" -u "$mnt" >"$F4_WORK/umount-$label.out" 2>&1 || rc=$?
	if ((rc != 0)); then
		cat "$F4_WORK/umount-$label.out" >&2
		fail "[$label] fuservicemount -u as $F4_TEST_USER exited $rc"
		f4_umount_if_mounted "$mnt"
	fi
	if [[ -n ${F4_SERVER_PID:-} ]]; then
		check "[$label] the server exits after the unmount" wait_pid_gone "$F4_SERVER_PID" 30
	fi
}

fsck_check() { # fsck_check LABEL IMG
	local label=$1 img=$2 out
	if out=$(e2fsck -fn "$img" 2>&1); then
		pass "[$label] e2fsck -fn finds the image clean"
	else
		printf '%s\n' "$out" | head -n 40 >&2
		fail "[$label] e2fsck -fn found problems (above)"
	fi
}

# run_tap LABEL OUTFILE CMD...: runs a TAP program, keeps its output, shows the failures.
run_tap() {
	local label=$1 out=$2 rc=0 t0 t1
	shift 2
	t0=$(date +%s)
	"$@" >"$out" 2>&1 || rc=$?
	t1=$(date +%s)
	grep -E '^not ok|^#   |# SKIP' "$out" | head -n 200 >&2 || true
	log "[$label] $(tail -n 1 "$out") in $((t1 - t0)) s"
	if ((rc != 0)); then
		fail "[$label] $(grep -c '^not ok' "$out") assertion(s) failed (exit $rc); full output: $out"
		return 1
	fi
	pass "[$label] every assertion held"
}
