#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Direct mode opens and checks the file system before it mounts (service/direct-mode.c): an
# image the server refuses is never mounted, not even for an instant, and fuse4fs exits 1 with
# the reason. A good image still mounts, which is also what shows the two checks below can see
# a mount when there is one:
#  - the debug log (-d) says "Mounted" only after the file system was opened;
#  - with strace installed, no mount(2) (nor fusermount3) is ever called for a refused image.
#
#   test-direct-refusal.sh --fuse4fs PATH
set -euo pipefail
# shellcheck source=tests/lib/common.sh
source "$(dirname "$0")/../lib/common.sh"
# shellcheck source=tests/lib/mkimage.sh
source "$F4_LIB_DIR/mkimage.sh"

parse_fuse4fs_only "$@"
require_root
make_workdir
W=$F4_WORK
mkdir -p "$W/tree/files" "$W/mnt"
printf 'hello\n' >"$W/tree/files/hello.txt"
mkimage "$W/tree" "$W/good.img" 4096 16M
defer "f4_umount_if_mounted '$W/mnt'"
STRACE=$(command -v strace || true)
[[ -n $STRACE ]] || log "strace is not installed: only the log order is checked"

# Refused images: no superblock; and an incompatible feature this server does not know.
cp "$W/good.img" "$W/nosb.img"
dd if=/dev/zero of="$W/nosb.img" bs=1024 seek=1 count=1 conv=notrunc status=none
cp "$W/good.img" "$W/feature.img"
debugfs -w -R "feature FEATURE_I31" "$W/feature.img" >/dev/null 2>&1 ||
	die "debugfs could not set an unknown incompat feature"

# run_direct LABEL IMG: fuse4fs -d in the foreground (strace'd when possible), until it exits
# or serves; sets RC (empty while it still runs) and PID.
run_direct() {
	local label=$1 img=$2 t
	local cmd=("$FUSE4FS" -d -o ro "$img" "$W/mnt")
	[[ -n $STRACE ]] && cmd=("$STRACE" -f -qq -e 'trace=mount,fsmount,move_mount,execve' \
		-o "$W/$label.trace" "${cmd[@]}")
	"${cmd[@]}" >"$W/$label.log" 2>&1 &
	PID=$!
	defer "f4_kill_pid $PID"
	RC=
	for ((t = 0; t < 100; t++)); do
		if ! [[ -d /proc/$PID ]] || [[ $(awk '/^State:/ { print $2 }' "/proc/$PID/status") == Z ]]; then
			wait "$PID" && RC=0 || RC=$?
			return 0
		fi
		grep -q "Serving" "$W/$label.log" && return 0
		sleep 0.1
	done
}
mounts_in_trace() { # the mount calls in a trace, fusermount3 included
	[[ -n $STRACE ]] || return 0
	# strace -f pads the pid column: "12345 mount(" but "6239  mount(".
	grep -E '(^|[0-9] +)(mount|fsmount|move_mount)\(|execve\("[^"]*fusermount' "$W/$1.trace" || true
}

step "a good image: opened first, then mounted"
run_direct good "$W/good.img"
check "[good] serves" test -z "$RC"
check "[good] mounted" is_mounted "$W/mnt"
check "[good] the debug log says Mounted" grep -q "Mounted" "$W/good.log"
umount "$W/mnt"
check "[good] fuse4fs exits 0 after the unmount" eval "wait_pid_gone $PID 10 && wait $PID"
# Only once strace has exited: it need not have written the line out while the mount serves.
if [[ -n $STRACE ]]; then
	check "[good] strace sees the mount" test -n "$(mounts_in_trace good)"
fi

for label in nosb feature; do
	step "a refused image ($label): never mounted"
	run_direct "$label" "$W/$label.img"
	cat "$W/$label.log" >&2
	check "[$label] fuse4fs exits 1 (got '$RC')" test "$RC" = 1
	check "[$label] and says why" grep -qiE 'superblock|magic|feature|does not hold an ext' "$W/$label.log"
	check "[$label] it never mounted (debug log)" eval "! grep -q 'Mounted' '$W/$label.log'"
	if [[ -n $STRACE ]]; then
		check "[$label] no mount call at all (strace)" test -z "$(mounts_in_trace "$label")"
	fi
	check "[$label] nothing mounted" eval "! is_mounted '$W/mnt'"
done

# As an ordinary user, in the background (the mount goes through fusermount3, and the user's
# process waits for the server): the same order.
step "as $F4_TEST_USER, in the background"
ensure_test_user
install -d -o "$F4_TEST_UID" -g "$F4_TEST_GID" "$W/umnt"
defer "f4_umount_if_mounted '$W/umnt'"
RC=0
as_user "$FUSE4FS" -o ro "$W/good.img" "$W/umnt" >"$W/user-good.log" 2>&1 || RC=$?
check "[user good] exits 0 once it serves (got $RC)" test "$RC" = 0
check "[user good] served" as_user grep -qx hello "$W/umnt/files/hello.txt"
check "[user good] the user unmounts it" as_user fusermount3 -u "$W/umnt"
RC=0
as_user "$FUSE4FS" -o ro "$W/nosb.img" "$W/umnt" >"$W/user-nosb.log" 2>&1 || RC=$?
cat "$W/user-nosb.log" >&2
check "[user nosb] exits 1 (got $RC)" test "$RC" = 1
check "[user nosb] and says why" grep -q 'does not hold an ext' "$W/user-nosb.log"
check "[user nosb] nothing mounted" eval "! is_mounted '$W/umnt'"
finish
