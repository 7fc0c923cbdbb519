#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# What an ordinary user sees when a mount cannot work: every case must exit non-zero with the
# documented status (fuservicemount(8), EXIT STATUS), say what is wrong and what to do, leave
# nothing mounted and no server running.  Also: a server that hangs or dies before mounting
# (the helper's timeouts), and a server killed under a live mount (the user can still unmount).
#
#   test-bad-input.sh --build-root DIR --prefix P --bindir D --sbindir D --unitdir D
set -euo pipefail
# shellcheck source=tests/lib/common.sh
source "$(dirname "$0")/../lib/common.sh"
# shellcheck source=tests/lib/mkimage.sh
source "$F4_LIB_DIR/mkimage.sh"
# shellcheck source=tests/lib/nspawn.sh
source "$F4_LIB_DIR/nspawn.sh"

parse_install_args "$@"

require_root
command -v systemd-nspawn >/dev/null || die "systemd-nspawn is missing: run tools/setup.sh"
command -v mkfs.vfat >/dev/null || die "mkfs.vfat is missing: run tools/setup.sh"
make_workdir
ensure_test_user
lock_sockdir

W=$F4_WORK
step "preparing images, mountpoints and the service"
stage_install "$BUILD" "$W/stage"
mkdir "$W/tree"
printf 'small\n' >"$W/tree/file"
mkimage "$W/tree" "$W/good.img" 4096 16M
truncate -s 16M "$W/zeros.img"
mkfs.vfat -C "$W/vfat.img" 16384 >/dev/null
# ext4 magic and a sane superblock, garbage where the group descriptors are (block 1).
cp "$W/good.img" "$W/garbage.img"
"$F4_PYTHON" -c '
import sys, random
r = random.Random(4)
with open(sys.argv[1], "r+b") as f:
    f.seek(4096)
    f.write(bytes(r.randrange(256) for _ in range(4096)))' "$W/garbage.img"
chmod 0644 "$W"/*.img
install -d -o "$F4_TEST_UID" -g "$F4_TEST_GID" "$W/mnt" "$W/target"
install -d -m 0755 "$W/rootdir"                   # the user may not write it
ln -s "$W/rootdir" "$W/link-to-rootdir"            # a symlink into it
ln -s "$W/target" "$W/link-to-own"                 # a symlink to the user's own directory
install -d -m 1777 "$W/sticky"
install -d -o 65534 -g 65534 -m 0777 "$W/sticky/someone-elses"
defer "for m in '$W/mnt' '$W/target' '$W/rootdir' '$W/sticky/someone-elses'; do f4_umount_if_mounted \$m; done"

nspawn_start "$W/stage"
ct systemctl start fuse4fs.socket

# shellcheck disable=SC2317  # called through check()
no_match() {
	if grep -qi -- "$1" <<<"$2"; then return 1; fi
}
fuse4fs_mounts() { awk '$3 == "fuse.fuse4fs" { print $2 }' /proc/self/mounts | grep -c "^$W/" || true; }

# The checks every failure shares: the exit status, the message, nothing mounted, no server.
# expect_failure LABEL STATUS REGEX CMD...   (CMD runs as the test user)
expect_failure() {
	local label=$1 want=$2 regex=$3 rc=0 out t0 t1
	shift 3
	t0=$(date +%s)
	out=$(as_user "$@" 2>&1) || rc=$?
	t1=$(date +%s)
	printf '  [%s] exit %s after %ss: %s\n' "$label" "$rc" $((t1 - t0)) "$out" >&2
	check "[$label] exits with status $want" test "$rc" = "$want"
	check "[$label] message matches /$regex/" grep -Eqi -- "$regex" <<<"$out"
	check "[$label] message starts with the program name" grep -q '^fuservicemount' <<<"$out"
	# A raw library code is no explanation (com_err without its message table).
	check "[$label] message has no untranslated error code" no_match "unknown code" "$out"
	check "[$label] nothing is mounted" test "$(fuse4fs_mounts)" = 0
	local t
	for ((t = 0; t < 50; t++)); do
		[[ -z $(ct_server_pids) ]] && break
		sleep 0.1
	done
	check "[$label] no fuse4fs server is left running" test -z "$(ct_server_pids)"
	F4_LAST_SECONDS=$((t1 - t0))
}

H=$F4_HELPER
step "bad devices"
expect_failure missing-device 1 "$W/missing.img.*(no such file|does not exist)" \
	"$H" "$W/missing.img" "$W/mnt"
expect_failure zeros 4 "zeros\.img.*(ext[234]|file ?system|superblock)" "$H" "$W/zeros.img" "$W/mnt"
expect_failure vfat 4 "vfat\.img.*(ext[234]|file ?system|superblock)" "$H" "$W/vfat.img" "$W/mnt"
expect_failure ext4-garbage 4 "garbage\.img.*(ext[234]|file ?system|superblock|descriptor|checksum|corrupt)" \
	"$H" "$W/garbage.img" "$W/mnt"
chmod 0600 "$W/zeros.img"
expect_failure unreadable-device 2 "zeros\.img.*(permission|access)" "$H" "$W/zeros.img" "$W/mnt"
expect_failure directory-as-device 1 "$W/tree" "$H" "$W/tree" "$W/mnt"

step "bad mountpoints"
expect_failure not-writable 2 "rootdir.*(permission|may not|write)" "$H" "$W/good.img" "$W/rootdir"
expect_failure symlink-to-not-writable 2 "rootdir.*(permission|may not|write)" \
	"$H" "$W/good.img" "$W/link-to-rootdir"
expect_failure sticky-not-owned 2 "someone-elses.*sticky" \
	"$H" "$W/good.img" "$W/sticky/someone-elses"
expect_failure missing-mountpoint 1 "nowhere" "$H" "$W/good.img" "$W/nowhere"
expect_failure file-as-mountpoint 1 "good\.img.*not a directory" "$H" "$W/good.img" "$W/good.img"
# A symlink the user owns to a directory the user owns: the helper canonicalises it, so either
# it refuses or the mount lands exactly on the resolved directory, never anywhere else.
rc=0
as_user "$H" "$W/good.img" "$W/link-to-own" >"$W/link.out" 2>&1 || rc=$?
if ((rc == 0)); then
	check "[symlink-to-own] mounted on the resolved directory" is_mounted "$W/target"
	check "[symlink-to-own] and nowhere else" test "$(fuse4fs_mounts)" = 1
	check "[symlink-to-own] unmount through the symlink's target" as_user "$H" -u "$W/target"
else
	cat "$W/link.out" >&2
	check "[symlink-to-own] refused: nothing mounted" test "$(fuse4fs_mounts)" = 0
fi

step "bad options"
# rw needs write access to the device as the caller (without -o rw it would fall back to ro).
expect_failure option-rw-not-writable 2 "read and write access" "$H" -o rw "$W/good.img" "$W/mnt"
expect_failure option-ro-rw 1 "contradict" "$H" -o ro,rw "$W/good.img" "$W/mnt"
expect_failure option-unknown 1 "frobnicate" "$H" -o frobnicate "$W/good.img" "$W/mnt"
expect_failure option-suid 2 "suid" "$H" -o suid "$W/good.img" "$W/mnt"
expect_failure option-comma-injection 1 "user_id|unknown|option" \
	"$H" -o "noatime,user_id=0" "$W/good.img" "$W/mnt"

step "no service"
ct systemctl stop fuse4fs.socket
expect_failure no-socket 3 "systemctl start fuse4fs\.socket" "$H" "$W/good.img" "$W/mnt"

step "a service that accepts and never answers"
FAKE_LOG=$W/fake.log
"$F4_PYTHON" "$F4_LIB_DIR/fake-server.py" "$F4_SOCKDIR/fuse4fs.sock" hang >"$FAKE_LOG" 2>&1 &
FAKE=$!
defer "f4_kill_pid $FAKE; rm -f '$F4_SOCKDIR/fuse4fs.sock'"
for ((t = 0; t < 50; t++)); do [[ -S $F4_SOCKDIR/fuse4fs.sock ]] && break; sleep 0.1; done
expect_failure hanging-server 5 "within [0-9]+ ?s|time" "$H" "$W/good.img" "$W/mnt"
# The bound is 10 s per reply (architecture.md); allow slack for a slow machine, not for a hang.
check "[hanging-server] the helper gave up within 15 s (took ${F4_LAST_SECONDS}s)" \
	test "$F4_LAST_SECONDS" -le 15
check "[hanging-server] and not before its 10 s bound (took ${F4_LAST_SECONDS}s)" \
	test "$F4_LAST_SECONDS" -ge 9
f4_kill_pid "$FAKE"
rm -f "$F4_SOCKDIR/fuse4fs.sock"

step "a service that closes the connection at once"
"$F4_PYTHON" "$F4_LIB_DIR/fake-server.py" "$F4_SOCKDIR/fuse4fs.sock" close >"$FAKE_LOG" 2>&1 &
FAKE=$!
defer "f4_kill_pid $FAKE; rm -f '$F4_SOCKDIR/fuse4fs.sock'"
for ((t = 0; t < 50; t++)); do [[ -S $F4_SOCKDIR/fuse4fs.sock ]] && break; sleep 0.1; done
expect_failure closing-server 4 "clos|connection|server" "$H" "$W/good.img" "$W/mnt"
f4_kill_pid "$FAKE"
rm -f "$F4_SOCKDIR/fuse4fs.sock"

step "a server killed under a live mount"
ct systemctl start fuse4fs.socket
rc=0
as_user "$H" "$W/good.img" "$W/mnt" >"$W/kill.out" 2>&1 || rc=$?
if ((rc != 0)); then
	cat "$W/kill.out" >&2
	fail "[killed-server] the mount failed (exit $rc), cannot test the rest"
else
	check "[killed-server] mounted" is_mounted "$W/mnt"
	# Another ordinary user may not unmount it.
	rc=0
	out=$(cd / && setpriv --reuid=65534 --regid=65534 --clear-groups "$H" -u "$W/mnt" 2>&1) || rc=$?
	printf '  [other-user-unmount] exit %s: %s\n' "$rc" "$out" >&2
	check "[other-user-unmount] exits 2" test "$rc" = 2
	check "[other-user-unmount] the mount stays" is_mounted "$W/mnt"
	mapfile -t SERVERS < <(ct_server_pids)
	check "[killed-server] one server runs" test "${#SERVERS[@]}" = 1
	if ((${#SERVERS[@]} == 1)); then
		kill -KILL "${SERVERS[0]}"
		check "[killed-server] the server is gone" wait_pid_gone "${SERVERS[0]}" 10
	fi
	if out=$(as_user stat "$W/mnt/file" 2>&1); then
		fail "[killed-server] stat still works: $out"
	else
		check "[killed-server] access fails with ENOTCONN ($out)" \
			grep -q 'Transport endpoint is not connected' <<<"$out"
	fi
	rc=0
	out=$(as_user "$H" -u "$W/mnt" 2>&1) || rc=$?
	printf '  [killed-server] unmount: exit %s %s\n' "$rc" "$out" >&2
	check "[killed-server] the user can still unmount with fuservicemount -u" test "$rc" = 0
	check "[killed-server] nothing mounted any more" test "$(fuse4fs_mounts)" = 0
fi
expect_failure unmount-not-mounted 1 "mnt" "$H" -u "$W/mnt"
expect_failure unmount-not-fuse4fs 2 "ref|fuse4fs|not" "$H" -u /proc
finish
