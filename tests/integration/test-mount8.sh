#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# mount(8) integration: `mount -t fuse.fuse4fs` and fstab entries with `user`/`users` go through
# the installed mount.fuse.fuse4fs glue and the setuid fuservicemount to the contained service,
# for root and for an ordinary user; umount(8) undoes them; the direct (uncontained) fallback
# happens only when the administrator's configuration allows it, with a warning.
#
# Nothing on the host's /etc or /sbin is touched: the whole test runs in a private mount
# namespace where a private fstab is bound over /etc/fstab, the staged prefix over /usr/local
# and a copy of /usr/sbin holding the glue over /usr/sbin (libmount looks for helpers only in
# /sbin). Only /etc/fuse4fs/fuservicemount.conf is written for the fallback step (restored).
#
#   test-mount8.sh --build-root DIR --prefix P --bindir D --sbindir D --unitdir D
set -euo pipefail
if [[ -z ${F4_MOUNT8_NS:-} && $(id -u) == 0 ]]; then
	F4_MOUNT8_NS=1 exec unshare -m --propagation private -- "$0" "$@"
fi
# shellcheck source=tests/lib/common.sh
source "$(dirname "$0")/../lib/common.sh"
# shellcheck source=tests/lib/mkimage.sh
source "$F4_LIB_DIR/mkimage.sh"
# shellcheck source=tests/lib/nspawn.sh
source "$F4_LIB_DIR/nspawn.sh"

parse_install_args "$@"

require_root
command -v systemd-nspawn >/dev/null || die "systemd-nspawn is missing: run tools/setup.sh"
make_workdir
ensure_test_user
lock_sockdir

W=$F4_WORK
U=$F4_TEST_UID
step "preparing the image, the private fstab and the glue"
stage_install "$BUILD" "$W/stage"
GLUE=$W/stage${F4_SBINDIR:-$F4_PREFIX/sbin}/mount.fuse.fuse4fs
[[ -x $GLUE ]] || die "meson install did not install an executable $GLUE"
mkdir "$W/tree"
printf 'small\n' >"$W/tree/file"
mkimage "$W/tree" "$W/good.img" 4096 16M
chmod 0644 "$W/good.img"
install -m 0600 "$W/good.img" "$W/secret.img"
install -d -o "$U" -g "$F4_TEST_GID" "$W/u" "$W/u/fst" "$W/u/fst2" "$W/u/fst3" "$W/u/adhoc"
install -d -m 0755 "$W/rootmnt"
defer "for m in '$W/u/fst' '$W/u/fst2' '$W/u/fst3' '$W/u/adhoc' '$W/rootmnt' /etc; do f4_umount_if_mounted \$m; done"
cat >"$W/fstab" <<EOF
# fuse4fs test-mount8.sh private fstab
$W/good.img $W/u/fst fuse.fuse4fs noauto,user,ro 0 0
$W/good.img $W/u/fst2 fuse.fuse4fs noauto,users,noatime 0 0
$W/secret.img $W/u/fst3 fuse.fuse4fs noauto,user,ro 0 0
$W/good.img /etc fuse.fuse4fs noauto,user,ro 0 0
EOF
chmod 0644 "$W/fstab"
# Private mount namespace (see the header): these binds vanish with the test.
mkdir "$W/real-sbin" "$W/sbin"
mount --bind /usr/sbin "$W/real-sbin"
for f in "$W/real-sbin"/*; do ln -s "$f" "$W/sbin/${f##*/}"; done
ln -sf "${F4_SBINDIR:-$F4_PREFIX/sbin}/mount.fuse.fuse4fs" "$W/sbin/mount.fuse.fuse4fs"
mount --bind "$W/sbin" /usr/sbin
mount --bind "$W/fstab" /etc/fstab
mount --bind "$W/stage$F4_PREFIX" "$F4_PREFIX"
defer "umount -l '$F4_PREFIX' /etc/fstab /usr/sbin '$W/real-sbin' 2>/dev/null"

nspawn_start "$W/stage"
ct systemctl start fuse4fs.socket

fuse4fs_mounts() { awk '$3 == "fuse.fuse4fs" { print $2 }' /proc/self/mounts | grep -c "^$W/" || true; }
run_user() { # run_user LABEL CMD...: sets RC, OUT
	local label=$1
	shift
	RC=0
	OUT=$(as_user "$@" 2>&1) || RC=$?
	printf '  [%s] exit %s: %s\n' "$label" "$RC" "${OUT:0:400}" >&2
}
mnt_field() { # mnt_field MNT FIELD(1-based, /proc/self/mountinfo after the separator: 1 type, 2 source, 3 super)
	awk -v m="$1" -v f="$2" '$5 == m { for (i = 7; i <= NF && $i != "-"; i++); print $(i + f) }' /proc/self/mountinfo
}
served() { as_user cat "$1/file" 2>/dev/null | grep -qx small; }

step "an ordinary user, fstab entry with 'user'"
run_user fstab-user mount "$W/u/fst"
check "[fstab-user] mount exits 0" test "$RC" = 0
check "[fstab-user] mounted, type fuse.fuse4fs" test "$(mnt_field "$W/u/fst" 1)" = fuse.fuse4fs
check "[fstab-user] owned by the user (user_id=$U)" grep -qw "user_id=$U" <<<"$(mnt_field "$W/u/fst" 3 | tr , ' ')"
check "[fstab-user] the user reads the file through the service" served "$W/u/fst"
check "[fstab-user] served by a sandboxed server in the container" test -n "$(ct_server_pids)"
run_user fstab-user-umount umount "$W/u/fst"
check "[fstab-user] umount(8) by the user exits 0" test "$RC" = 0
check "[fstab-user] unmounted" test "$(fuse4fs_mounts)" = 0

step "fstab entry with 'users' and the implied rw"
run_user fstab-users mount "$W/u/fst2"
check "[fstab-users] mount exits 0" test "$RC" = 0
check "[fstab-users] mounted" is_mounted "$W/u/fst2"
check "[fstab-users] read-only, nosuid, nodev" \
	grep -Eq '(^|,)ro(,.*)?' <<<"$(awk -v m="$W/u/fst2" '$5 == m { print $6 }' /proc/self/mountinfo)"
check "[fstab-users] says it mounted read-only (or mounted rw on request)" \
	grep -Eqi "read-only|^$" <<<"$OUT"
run_user fstab-users-umount umount "$W/u/fst2"
check "[fstab-users] unmounted" test "$(fuse4fs_mounts)" = 0

step "what an fstab entry cannot give a user"
run_user fstab-secret mount "$W/u/fst3"
check "[fstab-secret] someone else's image is refused" test "$RC" != 0
check "[fstab-secret] nothing mounted" test "$(fuse4fs_mounts)" = 0
run_user fstab-etc mount /etc
check "[fstab-etc] mounting over /etc is refused" test "$RC" != 0
check "[fstab-etc] says why (write access)" grep -qi "write access" <<<"$OUT"
check "[fstab-etc] /etc is not a fuse mount" test "$(mount_fstype /etc 2>/dev/null || echo none)" != fuse.fuse4fs
run_user fstab-options mount -o suid "$W/u/fst"
check "[fstab-options] a user may not add suid on the command line" test "$RC" != 0
check "[fstab-options] nothing mounted" test "$(fuse4fs_mounts)" = 0

step "mount -t fuse.fuse4fs without fstab"
run_user adhoc-user mount -t fuse.fuse4fs -o ro "$W/good.img" "$W/u/adhoc"
check "[adhoc-user] an ordinary user: exits 0" test "$RC" = 0
check "[adhoc-user] mounted" is_mounted "$W/u/adhoc"
check "[adhoc-user] user_id=$U" grep -qw "user_id=$U" <<<"$(mnt_field "$W/u/adhoc" 3 | tr , ' ')"
run_user adhoc-user-umount umount "$W/u/adhoc"
check "[adhoc-user] umount(8) exits 0" test "$RC" = 0
RC=0
mount -t fuse.fuse4fs "$W/good.img" "$W/rootmnt" >"$W/adhoc.out" 2>&1 || RC=$?
OUT=$(cat "$W/adhoc.out")
printf '  [adhoc-root] exit %s: %s\n' "$RC" "$OUT" >&2
check "[adhoc-root] root: exits 0" test "$RC" = 0
check "[adhoc-root] mounted through the service" test "$(mnt_field "$W/rootmnt" 1)" = fuse.fuse4fs
check "[adhoc-root] served" grep -qx small "$W/rootmnt/file"
# A remount goes through the glue too: the kernel's remount, no new server, the same mount.
for flag in ro rw; do
	RC=0
	mount -o "remount,$flag" "$W/rootmnt" >"$W/remount.out" 2>&1 || RC=$?
	printf '  [remount-%s] exit %s: %s\n' "$flag" "$RC" "$(cat "$W/remount.out")" >&2
	check "[remount-$flag] mount -o remount,$flag exits 0" test "$RC" = 0
	check "[remount-$flag] the mount is $flag now" \
		grep -qw "$flag" <<<"$(mnt_field "$W/rootmnt" 3 | tr , ' ')"
	check "[remount-$flag] still one fuse4fs mount, still served" \
		test "$(fuse4fs_mounts)" = 1 -a "$(cat "$W/rootmnt/file")" = small
done
if touch "$W/rootmnt/after-remount" 2>/dev/null; then
	pass "[remount-rw] a create works again"
else
	fail "[remount-rw] a create fails after remount,rw"
fi
umount "$W/rootmnt" || fail "[adhoc-root] umount failed"
check "[adhoc-root] unmounted" test "$(fuse4fs_mounts)" = 0

step "no service: the direct fallback only when configured"
ct systemctl stop fuse4fs.socket
RC=0
OUT=$(mount -t fuse.fuse4fs -o ro "$W/good.img" "$W/rootmnt" 2>&1) || RC=$?
printf '  [no-fallback] exit %s: %s\n' "$RC" "$OUT" >&2
check "[no-fallback] fails without the configuration" test "$RC" != 0
check "[no-fallback] and says to start the service" grep -q "systemctl start fuse4fs" <<<"$OUT"
check "[no-fallback] nothing mounted" test "$(fuse4fs_mounts)" = 0
# The configuration file, in a private /etc/fuse4fs (this namespace only).
mkdir -p "$W/etc-fuse4fs"
printf 'direct_fallback = yes\n' >"$W/etc-fuse4fs/fuservicemount.conf"
[[ -d /etc/fuse4fs ]] || { mkdir -m 0755 /etc/fuse4fs; defer "rmdir /etc/fuse4fs 2>/dev/null || true"; }
mount --bind "$W/etc-fuse4fs" /etc/fuse4fs
defer "umount -l /etc/fuse4fs 2>/dev/null"
# To a file, not through $(...): the daemonised direct server may keep the inherited stdio
# open for as long as it serves, and a command substitution would wait for it.
RC=0
# (Nor may it inherit the socket-directory lock: it outlives nothing, but be safe.)
mount -t fuse.fuse4fs -o ro "$W/good.img" "$W/rootmnt" >"$W/fallback.out" 2>&1 {F4_LOCK_FD}>&- || RC=$?
OUT=$(cat "$W/fallback.out")
printf '  [fallback] exit %s: %s\n' "$RC" "$OUT" >&2
check "[fallback] mounts with direct_fallback = yes" test "$RC" = 0
check "[fallback] warns that it is not contained" grep -q "WITHOUT the sandbox" <<<"$OUT"
check "[fallback] mounted" is_mounted "$W/rootmnt"
check "[fallback] served" grep -qx small "$W/rootmnt/file"
umount "$W/rootmnt" || f4_umount_if_mounted "$W/rootmnt"
# The fallback is for root's configuration only: a user-owned file does not count.
chown "$U" "$W/etc-fuse4fs/fuservicemount.conf"
RC=0
mount -t fuse.fuse4fs -o ro "$W/good.img" "$W/rootmnt" >"$W/fallback2.out" 2>&1 || RC=$?
check "[fallback-user-owned] no fallback from a file root does not own" test "$RC" != 0
check "[fallback-user-owned] nothing mounted" test "$(fuse4fs_mounts)" = 0
finish
