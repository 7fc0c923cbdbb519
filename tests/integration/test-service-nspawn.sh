#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The whole product, for real: the units from a staged `meson install` run under a real systemd
# (systemd-nspawn), and an ordinary user on the host mounts an ext4 image through the installed
# setuid helper.  Checks what the user sees (identical to the kernel's mount of the image), what
# the server is allowed (dynamic uid, no capabilities, no_new_privs, seccomp, no network, an
# empty root), that unmounting ends the server and leaves the image clean, and that a block
# device with its own fuse4fs@<dev>.socket is served through that socket.
#
#   test-service-nspawn.sh --build-root DIR --prefix P --bindir D --sbindir D --unitdir D
set -euo pipefail
# shellcheck source=tests/lib/common.sh
source "$(dirname "$0")/../lib/common.sh"
# shellcheck source=tests/lib/mkimage.sh
source "$F4_LIB_DIR/mkimage.sh"
# shellcheck source=tests/lib/nspawn.sh
source "$F4_LIB_DIR/nspawn.sh"

parse_install_args "$@"

require_root
# Not a skip: this test is the proof that the product works, CI must run it.
command -v systemd-nspawn >/dev/null || die "systemd-nspawn is missing: run tools/setup.sh"
make_workdir
ensure_test_user
lock_sockdir

step "staging the install and building the image"
stage_install "$BUILD" "$F4_WORK/stage"
mktree "$F4_WORK/tree"
mkimage "$F4_WORK/tree" "$F4_WORK/disk.img"
chmod 0644 "$F4_WORK/disk.img"
IMG_SUM=$(sha256sum <"$F4_WORK/disk.img")
kernel_mount_ref "$F4_WORK/disk.img" "$F4_WORK/ref"
install -d -o "$F4_TEST_UID" -g "$F4_TEST_GID" -m 0755 "$F4_WORK/mnt" "$F4_WORK/mnt2"
defer "f4_umount_if_mounted '$F4_WORK/mnt'; f4_umount_if_mounted '$F4_WORK/mnt2'"

step "booting systemd in a container"
nspawn_start "$F4_WORK/stage"
ct systemctl start fuse4fs.socket
check "fuse4fs.socket is listening" ct systemctl -q is-active fuse4fs.socket
check "the socket appears on the host as $F4_SOCKDIR/fuse4fs.sock" test -S "$F4_SOCKDIR/fuse4fs.sock"

# mount_as_user LABEL DEVICE MNT: the helper as the test user; prints its output on failure.
mount_as_user() {
	local label=$1 dev=$2 mnt=$3 rc=0 t0 t1
	t0=$(date +%s%N)
	as_user "$F4_HELPER" "$dev" "$mnt" >"$F4_WORK/helper-$label.out" 2>&1 || rc=$?
	t1=$(date +%s%N)
	if ((rc != 0)); then
		cat "$F4_WORK/helper-$label.out" >&2
		fail "[$label] fuservicemount $dev $mnt as $F4_TEST_USER exited $rc"
		return 1
	fi
	pass "[$label] fuservicemount as $F4_TEST_USER mounted in $(((t1 - t0) / 1000000)) ms"
}

mount_line() { awk -v m="$1" '$2 == m' /proc/self/mounts; }

check_mount_entry() { # LABEL MNT DEVICE
	local label=$1 mnt=$2 dev=$3 line opts
	line=$(mount_line "$mnt")
	printf '  %s\n' "$line" >&2
	check "[$label] mounted as fuse.fuse4fs" test "$(awk '{ print $3 }' <<<"$line")" = fuse.fuse4fs
	check "[$label] source is the device as given" test "$(awk '{ print $1 }' <<<"$line")" = "$dev"
	opts=,$(awk '{ print $4 }' <<<"$line"),
	local o
	for o in ro nosuid nodev "user_id=$F4_TEST_UID" "group_id=$F4_TEST_GID" default_permissions; do
		check "[$label] mount option $o" test "${opts/,$o,/}" != "$opts"
	done
	check "[$label] no allow_other unless asked for" test "${opts/,allow_other,/}" = "$opts"
}

compare_as_user() { # LABEL MNT
	local label=$1 mnt=$2
	if as_user "$F4_PYTHON" "$F4_LIB_DIR/compare-tree.py" --source "$F4_WORK/tree" \
		"$F4_WORK/ref" "$mnt" >"$F4_WORK/compare-$label.txt" 2>&1; then
		pass "[$label] as $F4_TEST_USER: FUSE mount equals the kernel mount and the source tree"
	else
		head -n 60 "$F4_WORK/compare-$label.txt" >&2
		fail "[$label] compare-tree found differences (above)"
	fi
}

unmount_as_user() { # LABEL MNT SERVER_PID
	local label=$1 mnt=$2 pid=$3 rc=0
	as_user "$F4_HELPER" -u "$mnt" >"$F4_WORK/umount-$label.out" 2>&1 || rc=$?
	if ((rc != 0)); then
		cat "$F4_WORK/umount-$label.out" >&2
		fail "[$label] fuservicemount -u as $F4_TEST_USER exited $rc"
	fi
	check "[$label] nothing mounted at $mnt any more" eval "! is_mounted '$mnt'"
	if [[ -n $pid ]]; then
		check "[$label] the server exits after the unmount" wait_pid_gone "$pid" 10
	fi
}

step "mounting an image file through the shared socket, as $F4_TEST_USER"
NACC0=$(ct systemctl show -P NAccepted fuse4fs.socket)
if mount_as_user file "$F4_WORK/disk.img" "$F4_WORK/mnt"; then
	check_mount_entry file "$F4_WORK/mnt" "$F4_WORK/disk.img"
	check "[file] fuse4fs.socket accepted the connection" \
		test "$(ct systemctl show -P NAccepted fuse4fs.socket)" = $((NACC0 + 1))
	mapfile -t SERVERS < <(ct_server_pids)
	check "[file] exactly one fuse4fs server runs in the container (${SERVERS[*]:-none})" \
		test "${#SERVERS[@]}" = 1
	SERVER=${SERVERS[0]:-}
	if [[ -n $SERVER ]]; then
		step "the server's sandbox, seen from the host"
		check_sandbox "$SERVER" "$F4_CT"
	fi
	step "comparing the FUSE mount with the kernel's mount of the same image"
	compare_as_user file "$F4_WORK/mnt"

	step "a second, concurrent mount gets its own server and its own dynamic user"
	if mount_as_user second "$F4_WORK/disk.img" "$F4_WORK/mnt2"; then
		mapfile -t S2 < <(ct_server_pids)
		check "[second] two servers run" test "${#S2[@]}" = 2
		if ((${#S2[@]} == 2)); then
			check "[second] the two servers have different uids" test \
				"$(status_field "${S2[0]}" Uid)" != "$(status_field "${S2[1]}" Uid)"
		fi
		check "[second] the second mount shows the same files" \
			as_user cmp -s "$F4_WORK/mnt2/files/big-9MiB" "$F4_WORK/tree/files/big-9MiB"
		OTHER=
		for p in "${S2[@]}"; do [[ $p != "$SERVER" ]] && OTHER=$p; done
		unmount_as_user second "$F4_WORK/mnt2" "$OTHER"
		check "[second] the first mount is still served" \
			as_user cat "$F4_WORK/mnt/files/hello.txt"
	fi

	step "unmounting as $F4_TEST_USER"
	unmount_as_user file "$F4_WORK/mnt" "$SERVER"
fi
check "no fuse4fs server left in the container" test -z "$(ct_server_pids)"
check "the image is unchanged" test "$(sha256sum <"$F4_WORK/disk.img")" = "$IMG_SUM"
check "e2fsck -fn finds the image clean" fsck_quiet "$F4_WORK/disk.img"
# A server that failed (crash, seccomp kill, non-zero exit) is logged by systemd as such.
if ct journalctl --no-pager -q -u 'fuse4fs@*' | grep -E 'Failed with result|code=(killed|dumped)|status=[1-9]' >&2; then
	fail "a fuse4fs@ service ended badly (journal lines above)"
else
	pass "every fuse4fs@ service ended cleanly"
fi

step "mounting a block device through its own fuse4fs@<device>.socket"
loop_attach "$F4_WORK/disk.img" ro
LOOP=$F4_LOOP
INSTANCE=$(systemd-escape --path "$LOOP")
# The test user gets read access to this one loop device, as a disk group member would; the
# node outlives our use of it, so its owner and mode are put back.
# shellcheck disable=SC2016
defer "chown $(stat -c %u:%g "$LOOP") '$LOOP'; chmod $(stat -c %a "$LOOP") '$LOOP'"
chown "$F4_TEST_UID" "$LOOP"
chmod 0400 "$LOOP"
ct systemctl start "fuse4fs@$INSTANCE.socket"
check "fuse4fs@$INSTANCE.socket is listening" test -S "$F4_SOCKDIR/$INSTANCE.sock"
NACC_DEV0=$(ct systemctl show -P NAccepted "fuse4fs@$INSTANCE.socket")
NACC0=$(ct systemctl show -P NAccepted fuse4fs.socket)
if mount_as_user device "$LOOP" "$F4_WORK/mnt"; then
	check_mount_entry device "$F4_WORK/mnt" "$LOOP"
	check "[device] the per-device socket took the connection" \
		test "$(ct systemctl show -P NAccepted "fuse4fs@$INSTANCE.socket")" = $((NACC_DEV0 + 1))
	check "[device] the shared socket did not" \
		test "$(ct systemctl show -P NAccepted fuse4fs.socket)" = "$NACC0"
	mapfile -t SERVERS < <(ct_server_pids)
	check "[device] one server runs" test "${#SERVERS[@]}" = 1
	compare_as_user device "$F4_WORK/mnt"
	unmount_as_user device "$F4_WORK/mnt" "${SERVERS[0]:-}"
fi
ct systemctl stop "fuse4fs@$INSTANCE.socket" fuse4fs.socket
check "stopping the sockets removes them" \
	test ! -e "$F4_SOCKDIR/$INSTANCE.sock" -a ! -e "$F4_SOCKDIR/fuse4fs.sock"
finish
