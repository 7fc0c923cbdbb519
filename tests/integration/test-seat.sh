#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The seat grant (helper/policy.c, seat_devices) for real: systemd-logind 252 in systemd-nspawn
# holds real sessions of the test user, opened through PAM and pam_systemd, and fuservicemount
# decides from what sd-login reads in that container's /run/systemd. An ordinary user may mount
# a removable block device they cannot open themselves only while their local session is the
# active session of the device's seat; not without a session, not from an inactive or a closed
# one, not from a remote login that claims the seat (CVE-2025-6018), not a device that is not
# removable, not read-write, and not when the administrator sets seat_devices = no.
#
# Where things run: the helper reads /run/systemd (sd-login) and /sys, so it runs inside the
# container (nsenter into all its namespaces, as the test user, the staged setuid install that
# the container sees at its prefix); the service it talks to is the container's fuse4fs.socket.
# The container's /dev is its own: the test makes the loop device's node and /dev/fuse there.
#
# Honest about the device: a loop device, whose sysfs "removable" is 0. In the container's mount
# namespace only, a file with "1" is bind-mounted over that attribute: the helper reads sysfs as
# a file, so it sees exactly what a card reader shows. The image is root's (0600): the user could
# never open the device themselves, so any mount is the policy's grant. The device carries no
# ID_SEAT (no udev here): seat0, as logind assumes.
#
#   test-seat.sh --build-root DIR --prefix P --bindir D --sbindir D --unitdir D
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
[[ -n $(find /usr/lib -name pam_systemd.so -print -quit 2>/dev/null) ]] ||
	skip "pam_systemd is missing (libpam-systemd, part of the systemd install)"
make_workdir
ensure_test_user
lock_sockdir

W=$F4_WORK
U=$F4_TEST_UID
G=$F4_TEST_GID
step "preparing the device, the install and the container"
stage_install "$BUILD" "$W/stage"
mkdir "$W/tree"
printf 'on the stick\n' >"$W/tree/file"
mkimage "$W/tree" "$W/stick.img" 4096 16M
chmod 0600 "$W/stick.img"
loop_attach "$W/stick.img" ro
LOOP=$F4_LOOP
K=${LOOP#/dev/}
MM=$(cat "/sys/class/block/$K/dev")
SYSREM=$(realpath "/sys/class/block/$K")/removable
nspawn_start "$W/stage"
ct systemctl start fuse4fs.socket
CH=${F4_BINDIR:-$F4_PREFIX/bin}/fuservicemount
MNT=/var/tmp/f4-seat
ct mknod -m 0660 "$LOOP" b "${MM%:*}" "${MM#*:}"
ct chgrp disk "$LOOP"
ct mknod -m 0600 /dev/fuse c 10 229
ct install -d -o "$U" -g "$G" "$MNT"
# The administrator's defaults, written out (the container's /etc is a throw-away overlay).
ct install -d -m 0755 /etc/fuse4fs
ct sh -c 'printf "seat_devices = yes\nsocket_devices = yes\n" >/etc/fuse4fs/fuservicemount.conf'
ct sh -c 'echo 1 >/run/f4-removable-1'

# as_ct_user CMD...: as the test user, inside the container.
as_ct_user() { ct setpriv --reuid="$U" --regid="$G" --clear-groups env -i PATH=/usr/bin:/bin "$@"; }
try() { # try LABEL ARGS...: the helper as the user in the container; sets RC and OUT
	local label=$1
	shift
	RC=0
	OUT=$(as_ct_user "$CH" "$@" 2>&1) || RC=$?
	printf '  [%s] exit %s: %s\n' "$label" "$RC" "${OUT:0:300}" >&2
}
ct_mounted() { ct awk -v m="$MNT" '$5 == m { print; found = 1 } END { exit !found }' /proc/self/mountinfo; }
refused() { # refused LABEL REGEX [OPTIONS]: exit 2 with that reason, nothing mounted
	local label=$1 regex=$2 opts=${3:-ro}
	try "$label" -o "$opts" "$LOOP" "$MNT"
	check "[$label] exits 2" test "$RC" = 2
	check "[$label] says /$regex/" grep -Eq -- "$regex" <<<"$OUT"
	check "[$label] nothing mounted" test -z "$(ct_mounted || true)"
}
granted() { # granted LABEL: mounts read-only as the user's, the file is there; then unmounted
	local label=$1 mi
	try "$label" -o ro "$LOOP" "$MNT"
	check "[$label] exits 0" test "$RC" = 0
	mi=$(ct_mounted || true)
	printf '  %s\n' "$mi" >&2
	check "[$label] a read-only fuse4fs mount of the user's" \
		grep -Eq " ro,nosuid,nodev[^ ]* .* - fuse\.fuse4fs $LOOP ro,user_id=$U," <<<"$mi"
	check "[$label] the user reads the stick" test "$(as_ct_user cat "$MNT/file" 2>&1)" = "on the stick"
	as_ct_user "$CH" -u "$MNT" || fail "[$label] the user could not unmount"
	check "[$label] unmounted" test -z "$(ct_mounted || true)"
}
removable() { # removable 1|0: what the container's helper reads in sysfs
	if [[ $1 == 1 ]]; then
		ct mount --bind /run/f4-removable-1 "$SYSREM"
	else
		ct umount "$SYSREM"
	fi
	check "the container sees removable=$1 (the host $(cat "$SYSREM"))" test "$(ct cat "$SYSREM")" = "$1"
}
# session_start UNIT USER PYTHON-ARGS...: a PAM session of USER through pam_systemd, held by the
# unit's main process; sets SID to its logind session id.
cat >"/proc/$F4_CT/root/run/f4-pam-session.py" <<'EOF'
# f4-pam-session.py SERVICE USER RHOST VAR=VALUE...: open a PAM session as a login would (with
# PAM_RHOST when RHOST is not "-"), then hold it until killed.
import ctypes, sys, time
pam = ctypes.CDLL("libpam.so.0")
CONV = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p)
class Conv(ctypes.Structure):
    _fields_ = [("conv", CONV), ("appdata_ptr", ctypes.c_void_p)]
conv = Conv(CONV(lambda n, m, r, a: 19), None)  # PAM_CONV_ERR: there is nobody to ask
h = ctypes.c_void_p()
service, user, rhost = sys.argv[1], sys.argv[2], sys.argv[3]
if pam.pam_start(service.encode(), user.encode(), ctypes.byref(conv), ctypes.byref(h)) != 0:
    sys.exit("pam_start failed")
if rhost != "-" and pam.pam_set_item(h, 4, rhost.encode()) != 0:  # PAM_RHOST
    sys.exit("pam_set_item failed")
for e in sys.argv[4:]:
    pam.pam_putenv(h, e.encode())
r = pam.pam_open_session(h, 0)
if r != 0:
    sys.exit("pam_open_session: %d" % r)
print("session open", flush=True)
time.sleep(3600)
EOF
session_start() {
	local unit=$1 user=$2 rhost=$3 t leader s
	shift 3
	ct systemd-run --quiet --unit="$unit" /usr/bin/python3 /run/f4-pam-session.py login "$user" "$rhost" "$@"
	defer "ct systemctl stop '$unit' 2>/dev/null || true"
	SID=
	for ((t = 0; t < 50; t++)); do
		leader=$(ct systemctl show -P MainPID "$unit")
		for s in $(ct loginctl list-sessions --no-legend | awk '{ print $1 }'); do
			[[ $(ct loginctl show-session "$s" -P Leader) == "$leader" ]] && SID=$s
		done
		[[ -n $SID ]] && break
		sleep 0.1
	done
	[[ -n $SID ]] || die "no logind session for $unit: $(ct journalctl -u "$unit" --no-pager | tail -5)"
	printf '  session %s (%s): %s\n' "$SID" "$unit" "$(ct loginctl show-session "$SID" \
		-p Name -p Seat -p Class -p Type -p Remote -p RemoteHost -p Active -p State | tr '\n' ' ')" >&2
}
prop() { ct loginctl show-session "$1" -P "$2"; }
seat_active() { ct loginctl show-seat seat0 -P ActiveSession; }

step "no session"
removable 1
refused no-session "active local session at its seat \(seat0\)"

step "a local session of the user, active on seat0"
session_start f4-seat-local "$F4_TEST_USER" - XDG_SEAT=seat0 XDG_SESSION_TYPE=tty XDG_SESSION_CLASS=user
LOCAL=$SID
check "[seat-active] logind: class user, local, on seat0" \
	test "$(prop "$LOCAL" Class) $(prop "$LOCAL" Remote) $(prop "$LOCAL" Seat)" = "user no seat0"
check "[seat-active] logind: active, the seat's active session" \
	test "$(prop "$LOCAL" Active) $(seat_active)" = "yes $LOCAL"
granted seat-active
refused seat-rw "read-only" rw
removable 0
refused not-removable "system device"
removable 1
ct sh -c 'printf "seat_devices = no\n" >/etc/fuse4fs/fuservicemount.conf'
refused seat-devices-no "active local session"
ct sh -c 'printf "seat_devices = yes\nsocket_devices = yes\n" >/etc/fuse4fs/fuservicemount.conf'

step "the session is not the seat's active one"
# Another session on seat0 (root's) takes the seat, as switching users would: on a seat without
# VTs logind makes the newest session the active one.
session_start f4-seat-other root - XDG_SEAT=seat0 XDG_SESSION_TYPE=tty XDG_SESSION_CLASS=user
OTHER=$SID
check "[inactive] logind: the user's session is inactive, root's is the seat's" \
	test "$(prop "$LOCAL" Active) $(seat_active)" = "no $OTHER"
refused inactive "active local session"
ct loginctl activate "$LOCAL"
check "[active-again] logind: the user's session is the seat's again" test "$(seat_active)" = "$LOCAL"
granted active-again
ct systemctl stop f4-seat-other

step "a remote login that claims the seat (CVE-2025-6018)"
# A session opened with PAM_RHOST, as sshd does, that asks for seat0 (what pam_env let ssh users
# do): logind puts it on seat0 and makes it the active session there. The helper must not count
# it, whatever logind says about its seat.
session_start f4-seat-remote "$F4_TEST_USER" 192.0.2.7 XDG_SEAT=seat0 XDG_SESSION_TYPE=tty XDG_SESSION_CLASS=user
REMOTE=$SID
check "[remote] logind: remote, from 192.0.2.7" \
	test "$(prop "$REMOTE" Remote) $(prop "$REMOTE" RemoteHost)" = "yes 192.0.2.7"
printf '  seat0 active session: %s; the local one active: %s\n' "$(seat_active)" "$(prop "$LOCAL" Active)" >&2
check "[remote] logind: the remote session is the seat's active one" test "$(seat_active)" = "$REMOTE"
refused remote "active local session"
ct systemctl stop f4-seat-remote

step "the session is closed"
ct systemctl stop f4-seat-local
for ((t = 0; t < 50; t++)); do
	[[ -z $(ct loginctl list-sessions --no-legend) ]] && break
	sleep 0.1
done
check "[closed] logind: no session left" test -z "$(ct loginctl list-sessions --no-legend)"
refused closed "active local session"
finish
