#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The opt-in udev rule (units/70-fuse4fs.rules.in), run for real by udevadm against a loop device
# carrying a real ext4 or vfat filesystem, with the distribution's rules around it (blkid sets
# ID_FS_TYPE): which device events start fuse4fs@dev-<name>.socket (SYSTEMD_WANTS, or a RUN
# start for a medium that arrives with a "change") and which stop it (RUN stop on removal, and on
# a "change" after which the medium is not a removable ext2/3/4 one any more).
#
#   test-udev-rule.sh --rule BUILD/helper/70-fuse4fs.rules \
#       [--build-root DIR --prefix P --bindir D --sbindir D --unitdir D]
#
# With the install paths, a second part hands what the rule produced to real systemd in
# systemd-nspawn: `systemctl start` of the unit SYSTEMD_WANTS names (what systemd does with it
# when a device appears; there is no udev daemon to hand it over) and the RUN command of the
# remove event, verbatim. In between, the test user mounts the device through the helper: the
# started socket is the administrator's opt-in (socket_devices); after the remove event's command
# the same mount is refused.
#
# No udev daemon runs here and none is started: `udevadm test` applies the rules to one device
# and prints the result, and runs no RUN program. It does write its database to /run/udev/data
# and device links to /dev, so each run happens in a private mount namespace whose /run and /dev
# are tmpfs instances of the test's own (/dev holding only the loop device's node); the database
# directory is the test's, kept from one event to the next as udevd would keep it.
#
# Honest about what a loop device is not: the real rule leaves loop devices out (KERNEL), and a
# loop device's sysfs "removable" is 0. The real rule is run as is to show loop devices get
# nothing even when removable. For the other cases a copy of the rule differs in exactly one
# line, KERNEL!="loop*" in place of the sd/mmcblk/sr/vd list (checked), and "removable" is a
# file with "1" (or "0") bind-mounted over the device's sysfs attribute in that namespace: udev
# reads sysfs as files, so it sees exactly what a card reader would show. Not covered: the
# ID_BUS=usb|ieee1394 branch (udev derives ID_BUS from the device's parents, which a loop device
# does not have), and a udev daemon handing the result over to systemd.
set -euo pipefail
# shellcheck source=tests/lib/common.sh
source "$(dirname "$0")/../lib/common.sh"
# shellcheck source=tests/lib/nspawn.sh
source "$F4_LIB_DIR/nspawn.sh"

RULE=""
BUILD=""
while (($#)); do
	case $1 in
	--rule) RULE=$2; shift 2 ;;
	*)
		install_option "$1" "${2-}" || die "unknown argument '$1'"
		shift 2
		;;
	esac
done
[[ -f $RULE ]] || die "--rule PATH (the configured 70-fuse4fs.rules) is required"
require_root
command -v udevadm >/dev/null || skip "udevadm is missing: run tools/setup.sh"
command -v mkfs.vfat >/dev/null || skip "mkfs.vfat is missing: run tools/setup.sh"
make_workdir
W=$F4_WORK

step "a loop device and the rules"
truncate -s 16M "$W/disk.img"
mkfs.ext4 -q -F "$W/disk.img"
loop_attach "$W/disk.img"
LOOP=$F4_LOOP
K=${LOOP#/dev/}
SYS=$(realpath "/sys/class/block/$K")
INST=$(systemd-escape --path "$LOOP")
check "the socket instance the helper looks for is dev-$K" test "$INST" = "dev-$K"
cp "$RULE" "$W/rule-real"
sed 's/^KERNEL!="sd\*|mmcblk\*|sr\*|vd\*", GOTO="fuse4fs_withdraw"$/KERNEL!="loop*", GOTO="fuse4fs_withdraw"/' \
	"$RULE" >"$W/rule-loop"
check "the loop copy of the rule differs in exactly the KERNEL line" \
	test "$(diff "$W/rule-real" "$W/rule-loop" | grep -c '^[<>]')" = 2
mkdir "$W/db"

# The private namespace: see the top of this file. Runs as root; exits with udevadm's status.
cat >"$W/in-ns.sh" <<'EOF'
set -eu
RULE=$1 SYS=$2 K=$3 DB=$4 REM=$5 ACTION=$6
mount -t tmpfs -o mode=0755 f4-udev-run /run
mkdir -p /run/udev/rules.d /run/udev/data
cp "$RULE" /run/udev/rules.d/70-fuse4fs.rules
mount --bind "$DB" /run/udev/data
# An administrator's rules (or an enabled copy of ours) in /etc would take precedence.
if [ -d /etc/udev/rules.d ]; then mount -t tmpfs -o mode=0755 f4-udev-etc /etc/udev/rules.d; fi
read -r MAJMIN <"$SYS/dev"
mount -t tmpfs -o mode=0755 f4-udev-dev /dev
mknod -m 0660 "/dev/$K" b "${MAJMIN%:*}" "${MAJMIN#*:}"
mknod -m 0666 /dev/null c 1 3
mount --bind "$REM" "$SYS/removable"
exec udevadm test --action="$ACTION" "$SYS"
EOF
# event NAME RULE REMOVABLE ACTION: one event through udevadm; its output in $W/NAME.out.
event() {
	local name=$1 rule=$2 removable=$3 action=$4
	printf '%s\n' "$removable" >"$W/removable"
	if ! unshare -m --propagation private sh "$W/in-ns.sh" "$rule" "$SYS" "$K" "$W/db" \
		"$W/removable" "$action" >"$W/$name.out" 2>"$W/$name.err"; then
		tail -n 20 "$W/$name.err" >&2
		fail "[$name] udevadm test failed"
	fi
	printf '  [%s] %s, removable=%s: %s\n' "$name" "$action" "$removable" \
		"$(grep -E '^(ID_FS_TYPE|FUSE4FS_SOCKET|SYSTEMD_WANTS)=|^run:' "$W/$name.out" | tr '\n' ' ')" >&2
}
wants() { grep -qx "SYSTEMD_WANTS=fuse4fs@$INST.socket" "$W/$1.out" && grep -q '^TAGS=.*:systemd:' "$W/$1.out"; }
runs() { grep -qxF "run: '/usr/bin/systemctl --no-block $2 fuse4fs@$INST.socket'" "$W/$1.out"; }
silent() { ! grep -q 'fuse4fs\|FUSE4FS' "$W/$1.out"; } # neither a socket nor a mark
MAJMIN=$(cat "$SYS/dev")
in_db() { grep -qx 'E:FUSE4FS_SOCKET=1' "$W/db/b$MAJMIN"; }
udev_reset() { rm -f "$W/db"/*; }

step "the real rule: loop devices are left out, even removable ones"
event real-loop "$W/rule-real" 1 add
check "[real-loop] ID_FS_TYPE is ext4 (blkid ran)" grep -qx ID_FS_TYPE=ext4 "$W/real-loop.out"
check "[real-loop] no socket for a loop device" silent real-loop
udev_reset

step "removable ext4: the socket comes with the device and goes with it"
event add-removable "$W/rule-loop" 1 add
check "[add-removable] wants fuse4fs@$INST.socket, tagged systemd" wants add-removable
check "[add-removable] no RUN on add (SYSTEMD_WANTS starts it)" test -z "$(grep '^run:' "$W/add-removable.out" || true)"
check "[add-removable] the mark is in the database" in_db
event remove "$W/rule-loop" 1 remove
check "[remove] stops fuse4fs@$INST.socket" runs remove stop
udev_reset

step "not removable, not ext4: nothing"
event add-fixed "$W/rule-loop" 0 add
check "[add-fixed] no socket for a non-removable device" silent add-fixed
event remove-fixed "$W/rule-loop" 0 remove
check "[remove-fixed] nothing to stop" silent remove-fixed
udev_reset
mkfs.vfat "$LOOP" >/dev/null
event add-vfat "$W/rule-loop" 1 add
check "[add-vfat] ID_FS_TYPE is vfat" grep -qx ID_FS_TYPE=vfat "$W/add-vfat.out"
check "[add-vfat] no socket for a removable non-ext4 device" silent add-vfat

step "the medium changes"
# vfat -> ext4 with a "change" (a card put into a reader): started by RUN, systemd would not
# act on SYSTEMD_WANTS for a device that is already there.
mkfs.ext4 -q -F "$LOOP"
event change-grant "$W/rule-loop" 1 change
check "[change-grant] starts fuse4fs@$INST.socket" runs change-grant start
check "[change-grant] and marks it" in_db
# Still ext4 at the next change (udev's watch after a write): already started, no second start.
event change-same "$W/rule-loop" 1 change
check "[change-same] no second start" test -z "$(grep '^run:' "$W/change-same.out" || true)"
check "[change-same] the mark stays" in_db
# ext4 -> vfat: the socket for the old medium must go, and removal has nothing left to stop.
mkfs.vfat "$LOOP" >/dev/null
event change-withdraw "$W/rule-loop" 1 change
check "[change-withdraw] stops fuse4fs@$INST.socket" runs change-withdraw stop
check "[change-withdraw] the mark is gone" test -z "$(grep FUSE4FS "$W/db/b$MAJMIN" || true)"
event remove-after "$W/rule-loop" 1 remove
check "[remove-after] nothing left to stop" silent remove-after
udev_reset
# ext4 -> ext4 on a device whose add had the mark, then the medium is taken out (no
# filesystem): withdrawn too.
mkfs.ext4 -q -F "$LOOP"
event add-again "$W/rule-loop" 1 add
wipefs -q -a "$LOOP"
event change-empty "$W/rule-loop" 1 change
check "[change-empty] a medium taken out stops the socket" runs change-empty stop

step "nothing of the test leaked to the machine"
check "no /run/udev on the host" test ! -e /run/udev/data/b"$MAJMIN"
check "no udev links in the host's /dev" test -z "$(find /dev -maxdepth 3 -lname "*$K" 2>/dev/null || true)"
check "the device's removable attribute is the kernel's again" test "$(cat "$SYS/removable")" = 0

[[ -n $BUILD ]] || { log "no --build-root: the part with systemd and the helper is skipped"; finish; }
step "what the rule produced, handed to systemd; the helper grants and then refuses"
command -v systemd-nspawn >/dev/null || die "systemd-nspawn is missing: run tools/setup.sh"
ensure_test_user
lock_sockdir
stage_install "$BUILD" "$W/stage"
H=$F4_HELPER
mkfs.ext4 -q -F "$LOOP"
install -d -o "$F4_TEST_UID" -g "$F4_TEST_GID" "$W/mnt"
defer "f4_umount_if_mounted '$W/mnt'"
udev_reset
event e2e-add "$W/rule-loop" 1 add
WANTS=$(sed -n 's/^SYSTEMD_WANTS=//p' "$W/e2e-add.out")
check "[e2e] the add event wants fuse4fs@$INST.socket" test "$WANTS" = "fuse4fs@$INST.socket"
user_mount() { RC=0; OUT=$(as_user "$H" -o ro "$LOOP" "$W/mnt" 2>&1) || RC=$?; printf '  [%s] exit %s: %s\n' "$1" "$RC" "${OUT:0:300}" >&2; }
user_mount e2e-before
check "[e2e] before: a device the user cannot open is refused" test "$RC" = 2
nspawn_start "$W/stage"
ct systemctl start "$WANTS"
check "[e2e] systemd listens on $F4_SOCKDIR/$INST.sock" test -S "$F4_SOCKDIR/$INST.sock"
user_mount e2e-granted
check "[e2e] with the socket started the user mounts it" test "$RC" = 0
check "[e2e] mounted from $LOOP" test "$(awk -v m="$W/mnt" '$2 == m { print $1 }' /proc/self/mounts)" = "$LOOP"
as_user "$H" -u "$W/mnt" || fail "[e2e] the user could not unmount"
event e2e-remove "$W/rule-loop" 1 remove
RUNCMD=$(sed -n "s/^run: '\(.*\)'\$/\1/p" "$W/e2e-remove.out")
check "[e2e] the remove event runs a command" test -n "$RUNCMD"
# shellcheck disable=SC2086  # the command line as udev would split it
ct $RUNCMD
for ((t = 0; t < 50; t++)); do [[ -S $F4_SOCKDIR/$INST.sock ]] || break; sleep 0.1; done
check "[e2e] after the remove event's command the socket is gone" test ! -e "$F4_SOCKDIR/$INST.sock"
user_mount e2e-after
check "[e2e] and the same mount is refused again" test "$RC" = 2
check "[e2e] nothing mounted" test -z "$(awk -v m="$W/mnt" '$2 == m' /proc/self/mounts)"
finish
