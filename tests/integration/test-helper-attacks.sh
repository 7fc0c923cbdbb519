#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Attacks on the installed setuid fuservicemount, as an ordinary user: one block per defence
# in docs/security.md, each written so that it fails if the defence is removed.  A real server
# (the staged install under systemd-nspawn) where a mount must succeed; a hostile server
# (tests/lib/hostile-server.py) for the protocol.  /etc/fuse.conf and
# /etc/fuse4fs/fuservicemount.conf are changed for a few steps and restored by the trap.
#
#   test-helper-attacks.sh --build-root DIR --prefix P --bindir D --sbindir D --unitdir D \
#       [--helper PATH]
# --helper installs another build of fuservicemount (the ASan/UBSan one, from tools/test.sh)
# setuid in place of the staged one; the rlimit attacks are skipped for it (the sanitizer
# runtime itself needs a large stack and address space).
set -euo pipefail
# shellcheck source=tests/lib/common.sh
source "$(dirname "$0")/../lib/common.sh"
# shellcheck source=tests/lib/mkimage.sh
source "$F4_LIB_DIR/mkimage.sh"
# shellcheck source=tests/lib/nspawn.sh
source "$F4_LIB_DIR/nspawn.sh"

BUILD=
ALT_HELPER=
while (($#)); do
	case $1 in
	--helper) ALT_HELPER=$2; shift 2 ;;
	*)
		install_option "$1" "${2-}" || die "unknown argument '$1'"
		shift 2
		;;
	esac
done
[[ -d $BUILD ]] || die "--build-root DIR is required"

require_root
command -v systemd-nspawn >/dev/null || die "systemd-nspawn is missing: run tools/setup.sh"
make_workdir
ensure_test_user
lock_sockdir

W=$F4_WORK
U=$F4_TEST_UID
step "preparing the image, directories and the service"
stage_install "$BUILD" "$W/stage"
H=$F4_HELPER
if [[ -n $ALT_HELPER ]]; then
	install -m 4755 -o root -g root "$ALT_HELPER" "$H"
	log "testing $ALT_HELPER as $H"
fi
mkdir "$W/tree"
printf 'small\n' >"$W/tree/file"
mkimage "$W/tree" "$W/good.img" 4096 16M
chmod 0644 "$W/good.img"
install -m 0600 "$W/good.img" "$W/secret.img"         # root's image, not readable by the user
printf 'top secret\n' >"$W/secret"
chmod 0644 "$W/secret"
install -d -o "$U" -g "$F4_TEST_GID" "$W/u" "$W/u/mnt" "$W/u/mnt2" "$W/u/own"
install -d -m 0755 "$W/rootdir" "$W/rootmnt"
install -d -m 1777 "$W/sticky"
defer "for m in '$W/u/mnt' '$W/u/mnt2' '$W/u/own' '$W/rootdir' '$W/rootmnt' '$W/sticky'; do f4_umount_if_mounted \$m; done"

# /etc files this test changes: saved now, restored by the trap whatever happens.
save_etc() { # save_etc FILE
	if [[ -e $1 ]]; then
		cp -a "$1" "$W/saved-${1//\//_}"
		defer "cp -a '$W/saved-${1//\//_}' '$1'"
	else
		defer "rm -f '$1'"
	fi
}
save_etc /etc/fuse.conf
[[ -d /etc/fuse4fs ]] || { mkdir -m 0755 /etc/fuse4fs; defer "rmdir /etc/fuse4fs 2>/dev/null || true"; }
save_etc /etc/fuse4fs/fuservicemount.conf
rm -f /etc/fuse4fs/fuservicemount.conf

nspawn_start "$W/stage"
ct systemctl start fuse4fs.socket

fuse4fs_mounts() { awk '$3 == "fuse.fuse4fs" { print $2 }' /proc/self/mounts | grep -c "^$W/" || true; }
# run_user LABEL CMD...: as the test user; sets RC and OUT (and prints them).
run_user() {
	local label=$1
	shift
	RC=0
	OUT=$(as_user "$@" 2>&1) || RC=$?
	printf '  [%s] exit %s: %s\n' "$label" "$RC" "${OUT:0:400}" >&2
}
# refused LABEL STATUS REGEX CMD...: exits STATUS, says REGEX, nothing mounted.
refused() {
	local label=$1 want=$2 regex=$3
	shift 3
	run_user "$label" "$@"
	check "[$label] exits $want" test "$RC" = "$want"
	check "[$label] says /$regex/" grep -Eqi -- "$regex" <<<"$OUT"
	check "[$label] nothing mounted" test "$(fuse4fs_mounts)" = 0
}
umount_user() { as_user "$H" -u "$1" >/dev/null 2>&1 || f4_umount_if_mounted "$1"; }
# The pid of the helper running from $H (there is at most one at a time here).
helper_pid() {
	local p
	for p in /proc/[0-9]*; do
		[[ $(readlink "$p/exe" 2>/dev/null) == "$H" ]] && { echo "${p#/proc/}"; return 0; }
	done
	return 1
}
wait_helper_pid() {
	local t
	for ((t = 0; t < 50; t++)); do helper_pid && return 0; sleep 0.1; done
	return 1
}
start_hostile() { # start_hostile MODE
	rm -f "$F4_SOCKDIR/fuse4fs.sock"
	"$F4_PYTHON" "$F4_LIB_DIR/hostile-server.py" "$F4_SOCKDIR/fuse4fs.sock" "$1" "$W/hostile.log" &
	HOSTILE=$!
	defer "f4_kill_pid $HOSTILE"
	local t
	for ((t = 0; t < 50; t++)); do [[ -S $F4_SOCKDIR/fuse4fs.sock ]] && return 0; sleep 0.1; done
	die "hostile server did not start"
}
stop_hostile() { f4_kill_pid "$HOSTILE"; rm -f "$F4_SOCKDIR/fuse4fs.sock"; }

# ---------------------------------------------------------------------------------------------
step "helper start: argc 0"
# Linux 5.18+ turns an empty argv into {""}; older kernels hand the helper argc 0 with argv[1]
# aliasing envp (CVE-2021-4034). Either way: no crash, a usage error, nothing mounted.
cat >"$W/argc0.c" <<'EOF'
#include <unistd.h>
int main(int argc, char **argv)
{
	char *const none[] = { NULL };
	char *const env[] = { argv[2], argv[3], "-o", "suid", NULL };

	(void)argc;
	execve(argv[1], none, env);
	return 127;
}
EOF
gcc -o "$W/argc0" "$W/argc0.c"
chmod 0755 "$W/argc0"
run_user argc0 "$W/argc0" "$H" "$W/good.img" "$W/u/mnt"
check "[argc0] exits 1 (not by a signal, not 127)" test "$RC" = 1
check "[argc0] nothing mounted" test "$(fuse4fs_mounts)" = 0

step "helper start: hostile environment"
# A preload library that would leave a marker if any code of it ran in the helper, plus every
# variable that has steered a setuid program before. The mount must work exactly as usual.
cat >"$W/evil.c" <<EOF
#include <fcntl.h>
__attribute__((constructor)) static void evil(void) { open("$W/u/preload-ran", O_CREAT | O_WRONLY, 0644); }
EOF
gcc -shared -fPIC -o "$W/evil.so" "$W/evil.c"
chmod 0755 "$W/evil.so"
mkdir -p "$W/bin"
run_user hostile-env env LD_PRELOAD="$W/evil.so" LD_LIBRARY_PATH="$W" LD_AUDIT="$W/evil.so" \
	GCONV_PATH="$W" LANG=xx_XX.UTF-8 LC_ALL=xx_XX LC_MESSAGES=xx LANGUAGE=xx PATH="$W/bin" \
	MALLOC_CHECK_=3 MALLOC_PERTURB_=85 GLIBC_TUNABLES=glibc.malloc.check=3 TMPDIR="$W/u" \
	POSIXLY_CORRECT=1 IFS=/ HOSTALIASES="$W/secret" LOCALDOMAIN=x TZ="$W/secret" \
	"$H" "$W/good.img" "$W/u/mnt"
check "[hostile-env] mounts as usual" test "$RC" = 0
check "[hostile-env] no code of the preload library ran" test ! -e "$W/u/preload-ran"
umount_user "$W/u/mnt"
# And an error message stays in plain English: no locale was loaded from the environment.
refused hostile-env-msg 1 "unknown or unsupported option" \
	env LANG=de_DE.UTF-8 LC_ALL=de_DE.UTF-8 "$H" -o bogus "$W/good.img" "$W/u/mnt"

step "helper start: inherited fds, closed stdio, no_new_privs, non-dumpable"
# While the helper waits on a silent server, look at what it holds: fds 0-2 must be /dev/null
# (not the device or /dev/fuse), the caller's fd to a secret file must be gone, and the kernel
# must report NoNewPrivs and a non-dumpable process.
ct systemctl stop fuse4fs.socket
start_hostile silent-context
(as_user bash -c 'exec 7<"$1" 8<"$2" 9</ 0<&- 1>&- 2>&-; exec "$3" "$4" "$5"' _ \
	"$W/secret" "$W/u" "$H" "$W/good.img" "$W/u/mnt") &
BG=$!
defer "f4_kill_pid $BG"
if wait_helper_pid; then
	HP=$(helper_pid)
	sleep 0.5
	FDS=$(for f in /proc/"$HP"/fd/*; do printf '%s=%s\n' "${f##*/}" "$(readlink "$f")"; done)
	printf '  helper %s holds:\n%s\n' "$HP" "$FDS" >&2
	# (glibc reopens closed 0-2 for setuid programs too, /dev/full for 0; the helper does
	# it itself as well, so it does not depend on that.)
	for n in 0 1 2; do
		check "[stdio] fd $n is /dev/null or /dev/full" grep -Eqx "$n=/dev/(null|full)" <<<"$FDS"
	done
	check "[inherited-fds] the secret file is not open" test -z "$(grep -F "$W/secret" <<<"$FDS" || true)"
	check "[inherited-fds] the caller's directory is not open" test -z "$(grep -x "[0-9]*=$W/u" <<<"$FDS" || true)"
	check "[inherited-fds] the root directory fd is gone" test -z "$(grep -x '[0-9]*=/' <<<"$FDS" || true)"
	check "[no_new_privs] NoNewPrivs is set" test "$(status_field "$HP" NoNewPrivs)" = 1
	# Ours to end (started above): saves waiting out the 30 s bound, tested further down.
	kill -KILL "$HP"
else
	fail "[inherited-fds] the helper did not start"
fi
wait "$BG" || true
stop_hostile
check "[inherited-fds] nothing mounted after the silent server" test "$(fuse4fs_mounts)" = 0
ct systemctl start fuse4fs.socket

# Started with no_new_privs, the setuid bit does nothing: the helper must refuse, not half-work.
refused no-new-privs 6 "not running as root" setpriv --no-new-privs "$H" "$W/good.img" "$W/u/mnt"

step "helper start: tiny rlimits"
if [[ -z $ALT_HELPER ]]; then
for n in 3 4 5 6 7 8 9 10 12 16; do
	run_user "nofile=$n" prlimit --nofile="$n" -- "$H" "$W/good.img" "$W/u/mnt"
	check "[nofile=$n] not killed by a signal" test "$RC" -lt 128
	if ((RC == 0)); then
		check "[nofile=$n] exit 0 means mounted" is_mounted "$W/u/mnt"
		umount_user "$W/u/mnt"
	else
		check "[nofile=$n] failure means nothing mounted" test "$(fuse4fs_mounts)" = 0
	fi
done
# stderr to a file with RLIMIT_FSIZE 0: writing the error must not kill the helper (SIGXFSZ).
RC=0
as_user bash -c 'exec prlimit --fsize=0 -- "$@" 2>"'"$W/u/fsize.err"'"' _ "$H" -o bogus "$W/good.img" "$W/u/mnt" || RC=$?
check "[fsize=0] exits 1, not by SIGXFSZ (got $RC)" test "$RC" = 1
# The helper lifts the limits it depends on (stack, fds, memory) to a floor. A soft limit it
# can always lift: these must mount. Hard limits too, with CAP_SYS_RESOURCE, which some
# container environments (this test machine's) keep out of the bounding set: then a signal
# death is tolerated as long as nothing is left mounted.
SYS_RESOURCE=$(((0x$(awk '/^CapBnd:/ { print $2 }' /proc/self/status) >> 24) & 1))
for lim in "--stack=16384:unlimited" "--as=30000000:unlimited" "--data=1000000:unlimited" \
	"--nofile=4:1024"; do
	run_user "$lim" prlimit "$lim" -- "$H" "$W/good.img" "$W/u/mnt"
	check "[$lim] the helper lifted the soft limit and mounted" test "$RC" = 0
	if ((RC == 0)); then umount_user "$W/u/mnt"; fi
	check "[$lim] nothing left mounted" test "$(fuse4fs_mounts)" = 0
done
for lim in "--as=30000000" "--as=200000000" "--cpu=1" "--stack=16384" "--nproc=0" "--memlock=0" \
	"--data=1000000"; do
	run_user "$lim" prlimit "$lim" -- "$H" "$W/good.img" "$W/u/mnt"
	if ((SYS_RESOURCE)) || [[ $lim == --cpu=* || $lim == --nproc=* || $lim == --memlock=* ]]; then
		check "[$lim] not killed by a signal" test "$RC" -lt 128
	fi
	case $lim in
	--stack=* | --as=3* | --data=*)
		((SYS_RESOURCE)) && check "[$lim] the helper lifted the limit and mounted" test "$RC" = 0 ;;
	esac
	if ((RC == 0)); then umount_user "$W/u/mnt"; fi
	check "[$lim] nothing left mounted" test "$(fuse4fs_mounts)" = 0
done
else
	log "rlimit attacks skipped for $ALT_HELPER"
fi

# ---------------------------------------------------------------------------------------------
step "mountpoint attacks"
refused not-writable 2 "write access" "$H" "$W/good.img" "$W/rootdir"
refused shared-sticky 2 "sticky" "$H" "$W/good.img" "$W/sticky"
refused dev-shm 2 "sticky|may not" "$H" "$W/good.img" /dev/shm
refused proc-self 2 "write access|may not|permission" "$H" "$W/good.img" /proc/self/fd
# A cgroup directory delegated to the user is writable: only the type allowlist stops it.
CGD=/sys/fs/cgroup/unified/f4-attack-$$
if mkdir "$CGD" 2>/dev/null; then
	defer "rmdir '$CGD'"
	chown "$U" "$CGD"
	refused cgroup-dir 2 "file system of type" "$H" "$W/good.img" "$CGD"
else
	log "no cgroup2 hierarchy at /sys/fs/cgroup/unified: skipping the delegated-cgroup case"
fi
# devtmpfs reports tmpfs's statfs magic: only mountinfo's type name tells a directory in /dev
# from one on a tmpfs. Root mounts the devtmpfs (the kernel's one /dev superblock, seen at a
# path of the test's own: the directory appears in /dev too, for the length of this block) and
# a tmpfs, each with a directory the user owns; the user may mount on the tmpfs one only.
mkdir "$W/devt" "$W/tmpfs"
mount -t devtmpfs f4-devtmpfs "$W/devt"
defer "f4_umount_if_mounted '$W/devt'"
DEVDIR=$W/devt/fuse4fs-attack-$$
install -d -o "$U" -g "$F4_TEST_GID" "$DEVDIR"
defer "[[ ! -d '$DEVDIR' ]] || rmdir '$DEVDIR'"
defer "f4_umount_if_mounted '$DEVDIR'"
mount -t tmpfs -o mode=0755 f4-tmpfs "$W/tmpfs"
defer "f4_umount_if_mounted '$W/tmpfs'"
install -d -o "$U" -g "$F4_TEST_GID" "$W/tmpfs/d"
defer "f4_umount_if_mounted '$W/tmpfs/d'"
check "[devtmpfs-dir] the same statfs magic as a tmpfs ($(stat -f -c %t "$DEVDIR"))" \
	test "$(stat -f -c %t "$DEVDIR")" = "$(stat -f -c %t "$W/tmpfs/d")"
refused devtmpfs-dir 2 "file system of type devtmpfs" "$H" "$W/good.img" "$DEVDIR"
run_user tmpfs-dir "$H" "$W/good.img" "$W/tmpfs/d"
check "[tmpfs-dir] a user-owned directory on a tmpfs is fine" test "$RC" = 0
check "[tmpfs-dir] mounted" is_mounted "$W/tmpfs/d"
umount_user "$W/tmpfs/d"
f4_umount_if_mounted "$DEVDIR"
umount "$W/tmpfs" && rmdir "$DEVDIR" && umount "$W/devt"
# overlayfs (container roots) encodes no file handles: the mount id comes from statx there.
mkdir -p "$W/ovl/lower" "$W/ovl/work" "$W/ovl/merged"
install -d -o "$U" -g "$F4_TEST_GID" "$W/ovl/upper"
mount -t overlay f4-overlay -o "lowerdir=$W/ovl/lower,upperdir=$W/ovl/upper,workdir=$W/ovl/work" "$W/ovl/merged"
defer "f4_umount_if_mounted '$W/ovl/merged'"
run_user overlay-dir "$H" "$W/good.img" "$W/ovl/merged"
check "[overlay-dir] a user-owned overlayfs directory is fine" test "$RC" = 0
umount_user "$W/ovl/merged"
umount "$W/ovl/merged"

# Symlink swap race: the user flips a name between their own directory and a directory they
# may not write, as fast as they can, while mounting on the name. Every mount must land on
# their own directory; none may ever appear on the other one.
# Started without a subshell so that $! is the loop itself (setpriv execs bash), and without
# the socket-directory lock fd, which must not outlive the test.
setpriv --reuid="$U" --regid="$F4_TEST_GID" --clear-groups \
	bash -c 'cd /; while :; do ln -sfn "$1" "$3.t" && mv -T "$3.t" "$3"; ln -sfn "$2" "$3.t" && mv -T "$3.t" "$3"; done' \
	_ "$W/u/own" "$W/rootdir" "$W/u/race" {F4_LOCK_FD}>&- &
FLIP=$!
defer "f4_kill_pid $FLIP"
landed=0 refusals=0
for ((i = 0; i < 25; i++)); do
	rc=0
	as_user "$H" "$W/good.img" "$W/u/race" >/dev/null 2>&1 || rc=$?
	if is_mounted "$W/rootdir"; then
		fail "[symlink-race] a mount landed on $W/rootdir"
		f4_umount_if_mounted "$W/rootdir"
	fi
	if ((rc == 0)); then
		landed=$((landed + 1))
		umount_user "$W/u/own"
	else
		refusals=$((refusals + 1))
	fi
done
f4_kill_pid "$FLIP"
log "symlink race: $landed mounts on the user's own directory, $refusals refusals"
check "[symlink-race] never mounted outside the user's directory" test "$(fuse4fs_mounts)" = 0

# ---------------------------------------------------------------------------------------------
step "options"
refused opt-unknown 1 "unknown" "$H" -o frobnicate "$W/good.img" "$W/u/mnt"
refused opt-escaped-comma 1 "escaped" "$H" -o 'noatime\,allow_other' "$W/good.img" "$W/u/mnt"
refused opt-space 1 "control, space" "$H" -o 'noatime, allow_other' "$W/good.img" "$W/u/mnt"
refused opt-empty-item 1 "empty" "$H" -o 'noatime,,ro' "$W/good.img" "$W/u/mnt"
LONG=$(printf 'noatime,%.0s' {1..40})ro
refused opt-overlong 1 "too long" "$H" -o "$LONG" "$W/good.img" "$W/u/mnt"
refused opt-overlong-split 1 "too long" "$H" -o "${LONG:0:200}" -o "${LONG:0:200}" "$W/good.img" "$W/u/mnt"
for o in fd=0 rootmode=40000 user_id=0 group_id=0 blksize=4096 max_read=1 subtype=x \
	fsname=/dev/sda source=/dev/sda default_permissions fuseblk allow_root; do
	refused "opt-$o" 1 "unknown" "$H" -o "$o" "$W/good.img" "$W/u/mnt"
done
refused opt-suid 2 "only allowed to root" "$H" -o suid "$W/good.img" "$W/u/mnt"
refused opt-dev 2 "only allowed to root" "$H" -o dev "$W/good.img" "$W/u/mnt"
# What the kernel actually got: flags on the mount itself and the helper-made super options.
run_user opt-flags "$H" -o noexec,nosuid "$W/good.img" "$W/u/mnt"
check "[opt-flags] mounted" test "$RC" = 0
MI=$(awk -v m="$W/u/mnt" '$5 == m' /proc/self/mountinfo)
printf '  mountinfo: %s\n' "$MI" >&2
MOPTS=$(awk '{ print $6 }' <<<"$MI")
SOPTS=$(awk '{ for (i = 7; i <= NF && $i != "-"; i++); print $(i + 3) }' <<<"$MI")
FST=$(awk '{ for (i = 7; i <= NF && $i != "-"; i++); print $(i + 1) }' <<<"$MI")
for f in ro nosuid nodev noexec; do
	check "[opt-flags] mount flag $f (from fsmount)" grep -qw "$f" <<<"${MOPTS//,/ }"
done
check "[opt-flags] type fuse.fuse4fs, not fuseblk" test "$FST" = fuse.fuse4fs
check "[opt-flags] user_id is the caller's" grep -qw "user_id=$U" <<<"${SOPTS//,/ }"
check "[opt-flags] group_id is the caller's" grep -qw "group_id=$F4_TEST_GID" <<<"${SOPTS//,/ }"
check "[opt-flags] default_permissions" grep -qw default_permissions <<<"${SOPTS//,/ }"
check "[opt-flags] no allow_other" test -z "$(grep -w allow_other <<<"${SOPTS//,/ }" || true)"
umount_user "$W/u/mnt"

# allow_other: only with user_allow_other in /etc/fuse.conf.
printf '# test\n' >/etc/fuse.conf
refused allow-other-denied 2 "user_allow_other" "$H" -o allow_other "$W/good.img" "$W/u/mnt"
chmod 0600 /etc/fuse.conf
printf 'user_allow_other\n' >/etc/fuse.conf
chmod 0000 /etc/fuse.conf
# Unreadable to the user does not matter (read as root); a FIFO must mean "refuse".
run_user allow-other-ok "$H" -o allow_other "$W/good.img" "$W/u/mnt"
check "[allow-other-ok] mounted" test "$RC" = 0
check "[allow-other-ok] allow_other on the mount" grep -q allow_other <<<"$(awk -v m="$W/u/mnt" '$5 == m' /proc/self/mountinfo)"
umount_user "$W/u/mnt"
rm -f /etc/fuse.conf
mkfifo -m 0644 /etc/fuse.conf
refused allow-other-fifo 2 "fuse.conf|too large|cannot read" "$H" -o allow_other "$W/good.img" "$W/u/mnt"
rm -f /etc/fuse.conf
cp -a "$W/saved-_etc_fuse.conf" /etc/fuse.conf 2>/dev/null || true

# ---------------------------------------------------------------------------------------------
step "configuration file"
C=/etc/fuse4fs/fuservicemount.conf
# The test user may hold mounts of other tests running at the same time: allow one more.
HELD=$(awk -v u="user_id=$U" '$3 == "fuse.fuse4fs" && ("," $4 ",") ~ ("," u ",")' /proc/self/mounts | wc -l)
printf 'mount_max = %d\n' $((HELD + 1)) >"$C"
run_user mount-max-1 "$H" "$W/good.img" "$W/u/mnt"
check "[mount-max] the first mount works" test "$RC" = 0
run_user mount-max-2 "$H" "$W/good.img" "$W/u/mnt2"
check "[mount-max] the second is refused with exit 2" test "$RC" = 2
check "[mount-max] and says mount_max" grep -q mount_max <<<"$OUT"
check "[mount-max] it did not mount" test "$(fuse4fs_mounts)" = 1
check "[mount-max] (mount_max was $((HELD + 1)))" true
umount_user "$W/u/mnt"
printf 'mount_max = 0\n' >"$C"
refused mount-max-0 2 "does not allow" "$H" "$W/good.img" "$W/u/mnt"
printf 'mount_max = 5\nseat_device = yes\n' >"$C"
refused config-typo 2 "unknown key" "$H" "$W/good.img" "$W/u/mnt"
printf 'mount_max = lots\n' >"$C"
refused config-bad-value 2 "mount_max must be" "$H" "$W/good.img" "$W/u/mnt"
printf 'mount_max = 5\n' >"$C"
chmod 0666 "$C"
refused config-world-writable 2 "owned by root" "$H" "$W/good.img" "$W/u/mnt"
chmod 0644 "$C"
chown "$U" "$C"
refused config-user-owned 2 "owned by root" "$H" "$W/good.img" "$W/u/mnt"
chown root "$C"
chmod 0777 /etc/fuse4fs
refused config-dir-writable 2 "owned by root" "$H" "$W/good.img" "$W/u/mnt"
chmod 0755 /etc/fuse4fs
rm -f "$C"

# ---------------------------------------------------------------------------------------------
step "device policy"
refused others-image 2 "you need read" "$H" "$W/secret.img" "$W/u/mnt"
loop_attach "$W/good.img" ro
LOOP=$F4_LOOP
INST=$(systemd-escape --path "$LOOP")
refused system-device 2 "system device" "$H" "$LOOP" "$W/u/mnt"
# The admin opts the device in by starting its socket: now the user may mount it.
ct systemctl start "fuse4fs@$INST.socket"
run_user socket-opt-in "$H" -o ro "$LOOP" "$W/u/mnt"
check "[socket-opt-in] mounted" test "$RC" = 0
check "[socket-opt-in] the source is the device" test "$(awk -v m="$W/u/mnt" '$2 == m { print $1 }' /proc/self/mounts)" = "$LOOP"
umount_user "$W/u/mnt"
# The grant is read-only: -o rw is refused, the default falls back to a read-only mount.
refused socket-opt-in-rw 2 "read-only" "$H" -o rw "$LOOP" "$W/u/mnt"
run_user socket-opt-in-default "$H" "$LOOP" "$W/u/mnt"
check "[socket-opt-in-default] mounted" test "$RC" = 0
check "[socket-opt-in-default] read-only" \
	grep -Eq '^ro(,|$)' <<<"$(awk -v m="$W/u/mnt" '$5 == m { print $6 }' /proc/self/mountinfo)"
umount_user "$W/u/mnt"
# ... and a user cannot fake that opt-in with a socket of their own: the directory is root's.
ct systemctl stop "fuse4fs@$INST.socket"
refused socket-opt-out 2 "system device" "$H" "$LOOP" "$W/u/mnt"
printf 'socket_devices = no\n' >"$C"
ct systemctl start "fuse4fs@$INST.socket"
refused socket-opt-in-disabled 2 "system device" "$H" "$LOOP" "$W/u/mnt"
ct systemctl stop "fuse4fs@$INST.socket"
rm -f "$C"
# A loop device is not removable: being at a seat would not help (the seat grant: test-seat.sh).

# ---------------------------------------------------------------------------------------------
step "protocol: a hostile server"
ct systemctl stop fuse4fs.socket
# hostile MODE STATUS MAXSECONDS: the helper exits STATUS within MAXSECONDS, nothing mounted.
hostile() {
	local mode=$1 want=$2 max=$3 t0 t1
	: >"$W/hostile.log"
	start_hostile "$mode"
	t0=$(date +%s)
	run_user "proto-$mode" "$H" "$W/good.img" "$W/u/mnt"
	t1=$(date +%s)
	check "[proto-$mode] exits $want" test "$RC" = "$want"
	check "[proto-$mode] within ${max}s (took $((t1 - t0))s)" test $((t1 - t0)) -le "$max"
	check "[proto-$mode] nothing mounted" test "$(fuse4fs_mounts)" = 0
	check "[proto-$mode] output has no control characters" \
		test -z "$(LC_ALL=C tr -d '\n\t -~' <<<"$OUT")"
	stop_hostile
}
hostile fd-flood 4 5
check "[proto-fd-flood] the kernel refused the fds at the sender (SO_PASSRIGHTS)" \
	grep -q "sendmsg: EPERM" "$W/hostile.log"
hostile fd-type 4 5
check "[proto-fd-type] the kernel refused the fd at the sender (SO_PASSRIGHTS)" \
	grep -q "sendmsg: EPERM" "$W/hostile.log"
hostile oversized 4 5
hostile truncated 4 5
hostile garbage 4 5
hostile twice 4 5
hostile out-of-order 4 5
hostile close-hello 4 5
hostile close-context 4 5
hostile close-result 4 5
hostile bad-source 4 5
hostile bad-mountpoint 4 5
hostile allow-other 4 5
hostile bad-options 4 5
hostile bad-flags 4 5
hostile error-text 4 5
check "[proto-error-text] the server's 8-bit CSI is shown escaped" grep -qF '\x9b' <<<"$OUT"
hostile linger 5 15
check "[proto-linger] the helper told the server the mount existed" grep -q "got type 5 errno 0" "$W/hostile.log"
hostile silent-context 5 35
ct systemctl start fuse4fs.socket

# ---------------------------------------------------------------------------------------------
step "unmount"
"$H" -o ro "$W/good.img" "$W/rootmnt" || fail "[unmount] root could not mount"
check "[unmount] root's mount exists" is_mounted "$W/rootmnt"
refused_mount() { # the user tries to unmount root's mount: exit 2, still mounted
	run_user "$1" "$H" -u "$2"
	check "[$1] exits 2" test "$RC" = 2
	check "[$1] root's mount stays" is_mounted "$W/rootmnt"
}
refused_mount unmount-others "$W/rootmnt"
as_user ln -s "$W/rootmnt" "$W/u/link-to-rootmnt"
refused_mount unmount-through-symlink "$W/u/link-to-rootmnt"
# A symlink flipping between the user's own mount and root's while the user unmounts through
# it: root's mount stays, whatever the timing.
install -d -o "$U" -g "$F4_TEST_GID" "$W/u/flipdir" "$W/u/flipdir/m"
defer "f4_umount_if_mounted '$W/u/flipdir/m'"
setpriv --reuid="$U" --regid="$F4_TEST_GID" --clear-groups \
	bash -c 'cd /; while :; do ln -sfn "$1" "$3.t" && mv -T "$3.t" "$3"; ln -sfn "$2" "$3.t" && mv -T "$3.t" "$3"; done' \
	_ "$W/u/flipdir/m" "$W/rootmnt" "$W/u/flip" {F4_LOCK_FD}>&- &
FLIP=$!
defer "f4_kill_pid $FLIP"
gone=0 own=0
for ((i = 0; i < 20; i++)); do
	is_mounted "$W/u/flipdir/m" || as_user "$H" "$W/good.img" "$W/u/flipdir/m" >/dev/null 2>&1 || true
	as_user "$H" -u "$W/u/flip" >/dev/null 2>&1 || true
	is_mounted "$W/u/flipdir/m" || own=$((own + 1))
	if ! is_mounted "$W/rootmnt"; then
		gone=$((gone + 1))
		"$H" -o ro "$W/good.img" "$W/rootmnt" || true
	fi
done
f4_kill_pid "$FLIP"
umount_user "$W/u/flipdir/m"
log "unmount through a flipping symlink: the user's own mount removed $own times of 20"
check "[unmount-symlink-race] root's mount was never unmounted" test "$gone" = 0

# Stacked mounts: root mounts a tmpfs over a directory of the user's whose root is the user's
# (as for a bind-mounted home), and the user mounts fuse4fs on top of it. A "-u" that judges
# the top mount and then unmounts by name falls through to root's tmpfs if the user's mount
# goes away in between, and the user can make that happen with a second "-u" at the right
# moment (they may also SIGSTOP the helper: the real uid is theirs). To hit the moment every
# time instead of after many tries, `stopper` traces the helper as root (only root's tracing
# keeps a setuid exec setuid) and, when it enters umount2(), runs the second "-u" as the user
# before letting the call go on. Root's tmpfs must stay every time. (Against the name-based
# unmount of the previous helper, root's tmpfs was gone in every round.)
cat >"$W/stopper.c" <<'EOF'
#define _GNU_SOURCE
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* stopper UID GID REMOVER HELPER ARGS...: run HELPER ARGS as UID:GID, traced by us (root), and
 * at its umount2() system call, before the kernel acts on it, run REMOVER (sh -c) once.
 * Prints "hit" when that happened; exits with the helper's status. */
int main(int argc, char **argv)
{
	int st, hit = 0;
	pid_t pid;

	if (argc < 5)
		return 2;
	pid = fork();
	if (pid == 0) {
		gid_t gid = (gid_t)atoi(argv[2]);
		uid_t uid = (uid_t)atoi(argv[1]);

		/* Traced before dropping to the user: the kernel records the tracer's
		 * credentials at this moment (root's), so the setuid exec stays setuid. */
		if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) < 0)
			_exit(125);
		if (setgroups(0, NULL) || setresgid(gid, gid, gid) || setresuid(uid, uid, uid))
			_exit(126);
		execv(argv[4], argv + 4);
		_exit(127);
	}
	/* The exec stop first. */
	if (waitpid(pid, &st, 0) < 0 || !WIFSTOPPED(st))
		return 2;
	ptrace(PTRACE_SETOPTIONS, pid, NULL, (void *)(long)(PTRACE_O_TRACESYSGOOD | PTRACE_O_EXITKILL));
	for (;;) {
		struct __ptrace_syscall_info info;

		if (ptrace(PTRACE_SYSCALL, pid, NULL, NULL) < 0 || waitpid(pid, &st, 0) < 0)
			return 2;
		if (WIFEXITED(st) || WIFSIGNALED(st))
			break;
		if (!WIFSTOPPED(st) || WSTOPSIG(st) != (SIGTRAP | 0x80))
			continue; /* (a signal stop: not expected here; it is not passed on) */
		if (ptrace(PTRACE_GET_SYSCALL_INFO, pid, (void *)sizeof(info), &info) <= 0)
			return 2;
		if (!hit && info.op == PTRACE_SYSCALL_INFO_ENTRY && info.entry.nr == SYS_umount2) {
			hit = 1;
			if (system(argv[3]) == -1)
				return 2;
		}
	}
	if (hit)
		printf("hit\n");
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}
EOF
gcc -Wall -o "$W/stopper" "$W/stopper.c"
install -d -o "$U" -g "$F4_TEST_GID" "$W/u/home"
mount -t tmpfs -o "mode=0755,uid=$U,gid=$F4_TEST_GID" f4-home "$W/u/home"
defer "f4_umount_if_mounted '$W/u/home'"
# The type of the top mount at the user's directory, from mountinfo.
home_top() {
	awk -v m="$W/u/home" '$5 == m { for (i = 7; $i != "-"; i++); t = $(i + 1) } END { print t }' \
		/proc/self/mountinfo
}
SECOND="setpriv --reuid=$U --regid=$F4_TEST_GID --clear-groups $H -u $W/u/home >/dev/null 2>&1"
lost=0 hits=0 rounds=0
for ((i = 0; i < 5; i++)); do
	if ! as_user "$H" "$W/good.img" "$W/u/home" >/dev/null 2>&1; then
		fail "[unmount-stacked-race] round $i: the user could not mount over the tmpfs"
		break
	fi
	rounds=$((rounds + 1))
	SOUT=$("$W/stopper" "$U" "$F4_TEST_GID" "$SECOND" "$H" -u "$W/u/home" 2>/dev/null || true)
	[[ $SOUT == hit ]] && hits=$((hits + 1))
	case $(home_top) in
	tmpfs) ;;
	fuse.fuse4fs) fail "[unmount-stacked-race] round $i: the user's mount stayed"; umount_user "$W/u/home" ;;
	*)
		lost=$((lost + 1))
		mount -t tmpfs -o "mode=0755,uid=$U,gid=$F4_TEST_GID" f4-home "$W/u/home"
		;;
	esac
done
log "stacked unmount race: $rounds rounds, $hits with the second -u inside the window, root's tmpfs removed $lost times"
check "[unmount-stacked-race] the second -u ran inside the window every time" test "$hits" = "$rounds"
check "[unmount-stacked-race] root's tmpfs was never unmounted" test "$lost" = 0
# Without a race, on top of a mount that is not theirs, the user's "-u" still works (lazily).
run_user unmount-stacked "$H" "$W/good.img" "$W/u/home"
run_user unmount-stacked "$H" -u "$W/u/home"
check "[unmount-stacked] exits 0" test "$RC" = 0
check "[unmount-stacked] the user's mount is gone, root's tmpfs stays" test "$(home_top)" = tmpfs
umount "$W/u/home"

# Directly on the user's own directory, "-u" stays a plain unmount: busy while in use.
run_user unmount-busy-mount "$H" "$W/good.img" "$W/u/mnt"
setpriv --reuid="$U" --regid="$F4_TEST_GID" --clear-groups \
	bash -c 'cd "$1" && exec sleep 60' _ "$W/u/mnt" {F4_LOCK_FD}>&- &
SLEEPER=$!
defer "f4_kill_pid $SLEEPER"
sleep 0.3
run_user unmount-busy "$H" -u "$W/u/mnt"
check "[unmount-busy] exits 6" test "$RC" = 6
check "[unmount-busy] says busy" grep -q busy <<<"$OUT"
check "[unmount-busy] still mounted" is_mounted "$W/u/mnt"
f4_kill_pid "$SLEEPER"
run_user unmount-busy-after "$H" -u "$W/u/mnt"
check "[unmount-busy] unmounts once nothing uses it" test "$RC" = 0
check "[unmount-busy] gone" test "$(fuse4fs_mounts)" = 1 # root's own, below

"$H" -u "$W/rootmnt" || fail "[unmount] root could not unmount its own mount"
check "[unmount] root's mount is gone" test "$(fuse4fs_mounts)" = 0

finish
