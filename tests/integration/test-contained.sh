#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Contained mode (docs/sandbox.md): no systemd at all, `contained_fallback = yes`, and the
# installed setuid helper, run by an ordinary user, starts fuse4fs itself in its own sandbox.
# Needs a test build (-Dtest_hooks=true): the helper hands FUSE4FS_SELFTEST on to the server.
#
#  - with the key off: exit 3, a message naming the key, no server started, nothing mounted;
#  - a contained_uids range holding only the caller's uid: exit 2, nothing started;
#  - no server at the compiled-in path: exit 3 naming the failed step, nothing mounted;
#  - a mount is served; the server's uid is in contained_uids, not root, not the caller's; no
#    capabilities (bounding set included), no_new_privs, seccomp; its own pid (it is pid 1),
#    mount, network (only lo), IPC, UTS and cgroup namespaces; a root holding only usr, lib,
#    lib64; its own session; the caller cannot signal it; its uid lock is held;
#  - open /etc/passwd, AF_UNIX sockets, fork, executable memory fail with EPERM inside it;
#  - socket(AF_INET), mount, ptrace and execve kill it, and so does SIGKILL: each time the mount
#    answers ENOTCONN, its user removes it with fuservicemount -u, another mount goes on being
#    served, and the uid lock is free again;
#  - a stopped server (there is no watchdog without systemd): its user still unmounts it, and
#    it ends once resumed;
#  - a read-write mount of an image the user owns: written, unmounted, e2fsck clean.
#
#   test-contained.sh --build-root DIR --prefix P --bindir D --sbindir D --unitdir D
set -euo pipefail
# The helper runs the server at its compiled-in path and reads /etc/fuse4fs: both are replaced
# for this test only, in a mount namespace of its own.
if [[ -z ${F4_CONTAINED_NS:-} ]]; then
	F4_CONTAINED_NS=1 exec unshare -m --propagation private -- "$0" "$@"
fi
# shellcheck source=tests/lib/common.sh
source "$(dirname "$0")/../lib/common.sh"
# shellcheck source=tests/lib/mkimage.sh
source "$F4_LIB_DIR/mkimage.sh"
# shellcheck source=tests/lib/nspawn.sh
source "$F4_LIB_DIR/nspawn.sh"
# shellcheck source=tests/lib/sandbox-probes.sh
source "$F4_LIB_DIR/sandbox-probes.sh"

parse_install_args "$@"
require_root
# Our namespace copied the host's mount table, other tests' FUSE mounts included: a copy keeps
# such a mount's connection (and its server) alive after its owner unmounts it. Drop them here,
# in this namespace only (private propagation: the host's stay).
findmnt -rn -o FSTYPE,TARGET | awk '$1 ~ /^fuse/ { print $2 }' | sort -r |
	while read -r m; do umount -l "$(printf '%b' "$m")" 2>/dev/null || true; done
make_workdir
ensure_test_user

UID_MIN=2146435072 # helper/helper.h HELPER_CONTAINED_UID_MIN..MAX, the default contained_uids
UID_MAX=2146439167
LOCKDIR=/run/fuse4fs-contained

step "staging the install, in place of the install prefix (this namespace only)"
stage_install "$BUILD" "$F4_WORK/stage"
H=$F4_HELPER
mount --bind "$F4_WORK/stage$F4_PREFIX" "$F4_PREFIX"
defer "umount -l '$F4_PREFIX'"
[[ -x ${F4_SBINDIR:-$F4_PREFIX/sbin}/fuse4fs ]] || die "no server at the compiled-in path"
# No service socket: an empty tmpfs over the socket directory, in this namespace only, whatever
# other tests run at the same time. Shadowing it leaves the real one alone; only when it does
# not exist yet is it created, through the lock (held until we exit, a few seconds).
[[ -d $F4_SOCKDIR ]] || lock_sockdir
mount -t tmpfs -o mode=0755,size=64k fuse4fs-test-nosockets "$F4_SOCKDIR"
defer "umount -l '$F4_SOCKDIR'"
# The configuration, in a private /etc/fuse4fs.
mkdir -p "$F4_WORK/etc-fuse4fs"
[[ -d /etc/fuse4fs ]] || { mkdir -m 0755 /etc/fuse4fs; defer "rmdir /etc/fuse4fs 2>/dev/null || true"; }
mount --bind "$F4_WORK/etc-fuse4fs" /etc/fuse4fs
defer "umount -l /etc/fuse4fs"
conf() { printf '%s\n' "$@" >/etc/fuse4fs/fuservicemount.conf; }

mkdir -p "$F4_WORK/tree/files"
printf 'hello from fuse4fs\n' >"$F4_WORK/tree/files/hello.txt"
install -d -o "$F4_TEST_UID" -g "$F4_TEST_GID" "$F4_WORK/tree/mine" # for the read-write round
mkimage "$F4_WORK/tree" "$F4_WORK/disk.img" 4096 16M
chmod 0644 "$F4_WORK/disk.img"
install -d -o "$F4_TEST_UID" -g "$F4_TEST_GID" -m 0755 "$F4_WORK/mnt" "$F4_WORK/mnt2"
defer "f4_umount_if_mounted '$F4_WORK/mnt'; f4_umount_if_mounted '$F4_WORK/mnt2'"
REF=$F4_WORK/tree/files/hello.txt

# Contained servers: fuse4fs processes with a uid of the range.
contained_pids() {
	local p u
	for p in $(fuse4fs_pids); do
		u=$(status_field "$p" Uid 2>/dev/null) || continue
		[[ -n $u ]] && ((u >= UID_MIN && u <= UID_MAX)) && echo "$p"
	done
	return 0
}
# mount_new LABEL MNT [PROBES]: mount as the test user (helper's and server's stderr in
# LABEL.log); sets NEW to the server that appeared.
mount_new() {
	local label=$1 mnt=$2 probes=${3:-} before p rc=0
	before=" $(contained_pids | tr '\n' ' ') "
	T0=$(date +%s%N)
	as_user env ${probes:+FUSE4FS_SELFTEST=$probes} "$H" "$F4_WORK/disk.img" "$mnt" \
		>"$F4_WORK/$label.log" 2>&1 || rc=$?
	MOUNT_MS=$((($(date +%s%N) - T0) / 1000000))
	NEW=
	for p in $(contained_pids); do [[ $before == *" $p "* ]] || NEW=$p; done
	[[ -n $NEW ]] && defer "f4_kill_pid $NEW"
	if ((rc != 0)); then
		cat "$F4_WORK/$label.log" >&2
		fail "[$label] fuservicemount disk.img $mnt exited $rc"
		return 1
	fi
	[[ -n $NEW ]] || { fail "[$label] no contained server appeared for $mnt"; return 1; }
}
# shellcheck disable=SC2317  # called through check and eval
lock_held() { ! flock -n "$LOCKDIR/uid-$1.lock" true; }

step "the key off: exit 3, nothing started"
conf "contained_fallback = no"
BEFORE=$(contained_pids | wc -l)
RC=0
as_user "$H" "$F4_WORK/disk.img" "$F4_WORK/mnt" >"$F4_WORK/off.log" 2>&1 || RC=$?
cat "$F4_WORK/off.log" >&2
check "[off] the helper exits 3 (no service)" test "$RC" = 3
check "[off] and names the key" grep -q "contained_fallback = yes" "$F4_WORK/off.log"
check "[off] nothing mounted" eval "! is_mounted '$F4_WORK/mnt'"
check "[off] no server started" test "$(contained_pids | wc -l)" = "$BEFORE"

step "a range holding only the caller's uid: refused, nothing started"
conf "contained_fallback = yes" "contained_uids = $F4_TEST_UID-$F4_TEST_UID"
RC=0
as_user "$H" "$F4_WORK/disk.img" "$F4_WORK/mnt" >"$F4_WORK/own-uid.log" 2>&1 || RC=$?
cat "$F4_WORK/own-uid.log" >&2
check "[own-uid] the helper exits 2 (no uid free)" test "$RC" = 2
check "[own-uid] nothing mounted" eval "! is_mounted '$F4_WORK/mnt'"
check "[own-uid] no server runs as the caller" \
	test -z "$(for p in $(fuse4fs_pids); do [[ $(status_field "$p" Uid) == "$F4_TEST_UID" ]] && echo "$p"; done)"

step "no server at the compiled-in path: exit 3, the failed step named, nothing mounted"
conf "contained_fallback = yes"
SRVBIN=${F4_SBINDIR:-$F4_PREFIX/sbin}/fuse4fs
mv "$SRVBIN" "$SRVBIN.away"
RC=0
as_user "$H" "$F4_WORK/disk.img" "$F4_WORK/mnt" >"$F4_WORK/noexec.log" 2>&1 || RC=$?
mv "$SRVBIN.away" "$SRVBIN"
cat "$F4_WORK/noexec.log" >&2
check "[no-server] the helper exits 3" test "$RC" = 3
check "[no-server] and names the step" grep -q "cannot start the contained server: execute" "$F4_WORK/noexec.log"
check "[no-server] nothing mounted" eval "! is_mounted '$F4_WORK/mnt'"

step "a contained mount and its server"
if mount_new main "$F4_WORK/mnt" "$(IFS=,; echo "${F4_ERRNO_PROBES[*]}")"; then
	SRV=$NEW
	SUID=$(status_field "$SRV" Uid)
	check "[main] served" as_user cmp -s "$F4_WORK/mnt/files/hello.txt" "$REF"
	check "[main] fstype fuse.fuse4fs" test "$(mount_fstype "$F4_WORK/mnt")" = fuse.fuse4fs
	check_sandbox "$SRV" "$$"
	# Its fds: 0-2 /dev/null (readlink says /null: /dev is not below its root), 2 the caller's
	# stderr with the self-test armed, the uid lock, the image, /dev/fuse (the connection is
	# closed once it serves); nothing else of the helper's or the caller's.
	FDS=$(for f in "/proc/$SRV/fd"/*; do printf '%s=%s\n' "${f##*/}" "$(readlink "$f")"; done | sort -n)
	printf '  fds: %s\n' "$(tr '\n' ' ' <<<"$FDS")" >&2
	check "its fds are /dev/null, its uid lock, the image and /dev/fuse, nothing else" \
		test "$(grep -vcE "^[0-2]=(/dev)?/null\$|^2=$F4_WORK/main\.log\$|^4=$LOCKDIR/uid-$SUID\.lock\$|^[0-9]+=/dev/fuse\$|^[0-9]+=$F4_WORK/disk\.img\$" <<<"$FDS")" = 0 -a "$(wc -l <<<"$FDS")" = 6
	printf '  measured: mount %s ms; VmHWM %s kB, threads %s\n' "$MOUNT_MS" \
		"$(status_field "$SRV" VmHWM)" "$(status_field "$SRV" Threads)" >&2
	check "[main] its environment is the self-test list only" \
		test "$(tr '\0' '\n' <"/proc/$SRV/environ")" = "FUSE4FS_SELFTEST=$(IFS=,; echo "${F4_ERRNO_PROBES[*]}")"
	check "server uid $SUID is in contained_uids" test "$SUID" -ge $UID_MIN -a "$SUID" -le $UID_MAX
	check "server gid is its uid" test "$(status_field "$SRV" Gid)" = "$SUID"
	check "server has no supplementary groups" test -z "$(status_field "$SRV" Groups)"
	for ns in pid mnt net ipc uts cgroup; do
		check "server has a $ns namespace of its own" \
			test "$(readlink "/proc/$SRV/ns/$ns")" != "$(readlink "/proc/$$/ns/$ns")"
	done
	check "server is pid 1 of its pid namespace" \
		test "$(awk '/^NSpid:/ { print $NF }' "/proc/$SRV/status")" = 1
	if command -v ip >/dev/null; then
		LINKS=$(nsenter -t "$SRV" -n ip -o link | awk -F': ' '{ print $2 }' | tr '\n' ' ')
		check "ip link in its network namespace: only lo (got: $LINKS)" test "$LINKS" = "lo "
	fi
	# shellcheck disable=SC2012  # a listing
	ROOTLS=$(ls -A "/proc/$SRV/root" | tr '\n' ' ')
	check "its root holds only usr lib lib64 (got: $ROOTLS)" \
		eval "[[ '$ROOTLS' == 'lib lib64 usr ' || '$ROOTLS' == 'lib usr ' ]]"
	# Nothing of the caller's mount table is left in its namespace (a copy of someone's FUSE
	# mount there would keep that connection alive after its owner unmounts it).
	OTHER=$(awk '$5 != "/" && $5 !~ "^/(usr|lib|lib64)(/|$)" { print $5 }' "/proc/$SRV/mountinfo" | tr '\n' ' ')
	check "its mount table holds only its root and the binds (extra: '$OTHER')" test -z "$OTHER"
	check "its root is read-only" \
		eval "awk '\$5 == \"/\" { print \$6 }' /proc/$SRV/mountinfo | grep -q '^ro'"
	read -r -a ST <"/proc/$SRV/stat"
	check "its own session, not the caller's (sid ${ST[5]})" test "${ST[5]}" != "$(ps -o sid= $$ | tr -d ' ')"
	check "not in the caller's process group" test "${ST[4]}" != "$(ps -o pgid= $$ | tr -d ' ')"
	# (/proc/PID itself always shows the euid; its files show root for a non-dumpable task.)
	check "it is not dumpable (/proc/PID/mem owned by root)" test "$(stat -c %u "/proc/$SRV/mem")" = 0
	check "it holds its uid lock" lock_held "$SUID"
	if OUT=$(as_user kill -TERM "$SRV" 2>&1); then
		fail "the caller could signal its server"
	else
		check "the caller cannot signal it (EPERM): $OUT" grep -q "Operation not permitted" <<<"$OUT"
	fi
	# PTRACE_ATTACH (16) from the caller: refused, with EPERM.
	PT=$(as_user "$F4_PYTHON" -c 'import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
r = libc.ptrace(16, int(sys.argv[1]), None, None)
print(r, os.strerror(ctypes.get_errno()))' "$SRV" 2>&1)
	check "the caller cannot ptrace it (got: $PT)" test "$PT" = "-1 Operation not permitted"
	check "the caller cannot read its memory or environment" \
		eval "! as_user cat /proc/$SRV/environ >/dev/null 2>&1"
	check "[main] the server survived" test -d "/proc/$SRV"

	step "calls from inside the server that must fail"
	kill -USR1 "$SRV"
	if f4_wait_log "$F4_WORK/main.log" 'selftest: done'; then
		grep 'selftest:' "$F4_WORK/main.log" >&2
		for p in "${F4_ERRNO_PROBES[@]}"; do
			check "$p fails with EPERM inside the server" \
				grep -qE "selftest: $p: failed: .*\(errno 1\)" "$F4_WORK/main.log"
		done
	else
		cat "$F4_WORK/main.log" >&2
		fail "the self-test did not report (is this a -Dtest_hooks=true build?)"
	fi
	check "the server survived the failing calls" test -d "/proc/$SRV"

	for p in "${F4_KILL_PROBES[@]}" sigkill; do
		step "$p kills the server"
		mount_new "$p" "$F4_WORK/mnt2" "$([[ $p == sigkill ]] || echo "$p")" || continue
		KUID=$(status_field "$NEW" Uid)
		check "[$p] a second server has its own uid ($KUID, not $SUID)" test "$KUID" != "$SUID"
		if [[ $p == sigkill ]]; then
			kill -KILL "$NEW"
		else
			kill -USR1 "$NEW"
		fi
		check "[$p] the server is gone" wait_pid_gone "$NEW" 10
		if [[ $p != sigkill ]]; then
			check "[$p] it was calling $p" f4_wait_log "$F4_WORK/$p.log" "selftest: $p: calling" 2
			check "[$p] and never returned from it" \
				eval "! grep -qE 'selftest: $p: (failed|SUCCEEDED)' '$F4_WORK/$p.log'"
		fi
		f4_dead_mount_checks "$p" "$F4_WORK/mnt2" "$H" "$F4_WORK/mnt/files/hello.txt" "$REF"
		check "[$p] its uid lock is free again" eval "! lock_held $KUID"
	done

	# No watchdog without systemd: a stopped (or hung) server keeps its mount, but its user
	# can still remove it, and the server goes once it runs again.
	step "a stopped server: its user unmounts, the server ends when resumed"
	if mount_new stop "$F4_WORK/mnt2"; then
		KUID=$(status_field "$NEW" Uid)
		kill -STOP "$NEW"
		RC=0
		OUT=$(as_user timeout 30 "$H" -u "$F4_WORK/mnt2" 2>&1) || RC=$?
		check "[stop] its user unmounts it with fuservicemount -u (exit $RC: $OUT)" test "$RC" = 0
		check "[stop] nothing mounted at mnt2 any more" eval "! is_mounted '$F4_WORK/mnt2'"
		check "[stop] the other mount is still served" \
			as_user cmp -s "$F4_WORK/mnt/files/hello.txt" "$REF"
		kill -CONT "$NEW"
		check "[stop] the resumed server ends (its connection is gone)" wait_pid_gone "$NEW" 10
		check "[stop] its uid lock is free again" eval "! lock_held $KUID"
	fi

	step "read-write: an image the user owns"
	cp "$F4_WORK/disk.img" "$F4_WORK/rw.img"
	chown "$F4_TEST_UID:$F4_TEST_GID" "$F4_WORK/rw.img"
	RC=0
	as_user "$H" "$F4_WORK/rw.img" "$F4_WORK/mnt2" >"$F4_WORK/rw.log" 2>&1 || RC=$?
	RWSRV=
	for p in $(contained_pids); do [[ $p == "$SRV" ]] || RWSRV=$p; done
	[[ -n $RWSRV ]] && defer "f4_kill_pid $RWSRV"
	check "[rw] mounted (exit $RC)" test "$RC" = 0
	check "[rw] read-write" eval "awk -v m='$F4_WORK/mnt2' '\$2 == m { print \$4 }' /proc/self/mounts | grep -q '^rw,'"
	check "[rw] the user writes a file" as_user sh -c "printf 'written\n' >'$F4_WORK/mnt2/mine/new.txt' && sync '$F4_WORK/mnt2/mine/new.txt'"
	check "[rw] and reads it back" test "$(as_user cat "$F4_WORK/mnt2/mine/new.txt")" = written
	check "[rw] unmounted by its user" as_user "$H" -u "$F4_WORK/mnt2"
	[[ -n $RWSRV ]] && check "[rw] its server exits" wait_pid_gone "$RWSRV" 10
	check "[rw] e2fsck -fn finds the image clean" fsck_quiet "$F4_WORK/rw.img"
	check "[rw] the file is in the image" \
		eval "debugfs -R 'cat /mine/new.txt' '$F4_WORK/rw.img' 2>/dev/null | grep -qx written"

	step "the surviving mount unmounts normally"
	check "unmounted by its user" as_user "$H" -u "$F4_WORK/mnt"
	check "its server exits after the unmount" wait_pid_gone "$SRV" 10
	check "its uid lock is free again" eval "! lock_held $SUID"
fi
finish
