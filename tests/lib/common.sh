# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck shell=bash
# Shared shell helpers for the integration tests and tools/demo.sh: logging, a cleanup stack run
# from one EXIT trap, the private work directory, the unprivileged test user, loop devices, the
# socket-directory lock and the checks on a running server's sandbox.
#
# Source it from a `set -euo pipefail` script.  Nothing here kills by name: every process,
# mount and loop device is recorded when it is created and undone by the cleanup stack.

# shellcheck disable=SC2034  # variables here are used by the scripts that source this file

F4_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
F4_SRC_DIR=$(cd "$F4_LIB_DIR/../.." && pwd)
F4_TEST_USER=${F4_TEST_USER:-fuse4fs-test}
# The installed units and the helper agree on this directory (meson option socketdir).
F4_SOCKDIR=${F4_SOCKDIR:-/run/fuse4fs}
# Python from Debian, not whatever `python3` resolves to for root (a pyenv shim in /root is not
# usable by the test user).
F4_PYTHON=${F4_PYTHON:-/usr/bin/python3}

F4_NAME=${F4_NAME:-$(basename "$0" .sh)}
F4_FAILURES=0

log() { printf '%s: %s\n' "$F4_NAME" "$*" >&2; }
step() { printf '\n==> %s\n' "$*"; }
die() {
	printf '%s: FATAL: %s\n' "$F4_NAME" "$*" >&2
	exit 1
}
skip() {
	printf '%s: SKIP: %s\n' "$F4_NAME" "$*" >&2
	exit 77
}
# A failed check is recorded and the test goes on, so one run reports every problem it can see.
fail() {
	printf '%s: FAIL: %s\n' "$F4_NAME" "$*" >&2
	F4_FAILURES=$((F4_FAILURES + 1))
}
pass() { printf '%s: ok: %s\n' "$F4_NAME" "$*" >&2; }
check() { # check DESCRIPTION CMD...
	local what=$1
	shift
	if "$@"; then pass "$what"; else fail "$what"; fi
}
finish() {
	if ((F4_FAILURES > 0)); then
		printf '%s: %d check(s) FAILED\n' "$F4_NAME" "$F4_FAILURES" >&2
		exit 1
	fi
	printf '%s: all checks passed\n' "$F4_NAME" >&2
	exit 0
}

# ---- cleanup stack -------------------------------------------------------------------------
# Each entry is a command line run with eval, newest first, by the EXIT trap.  Failures during
# cleanup are reported but do not stop the rest of the cleanup.
F4_CLEANUP=()
defer() { F4_CLEANUP+=("$*"); }
f4_run_cleanup() {
	local rc=$? f4_cleanup_idx
	F4_EXIT_RC=$rc
	trap - EXIT INT TERM HUP
	set +e
	# (A name no cleanup step uses: bash locals are visible to the functions called here.)
	for ((f4_cleanup_idx = ${#F4_CLEANUP[@]} - 1; f4_cleanup_idx >= 0; f4_cleanup_idx--)); do
		eval "${F4_CLEANUP[f4_cleanup_idx]}" ||
			log "cleanup step failed: ${F4_CLEANUP[f4_cleanup_idx]}"
	done
	F4_CLEANUP=()
	return "$rc"
}
trap f4_run_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

require_root() {
	[[ $(id -u) == 0 ]] || skip "needs root (loop devices, mounts, systemd-nspawn)"
}

# ---- work directory ------------------------------------------------------------------------
# Not under /tmp: anything that boots systemd wrongly can empty /tmp, and the test user must be
# able to traverse it.  Everything the test creates lives below F4_WORK.
make_workdir() {
	F4_WORK=$(mktemp -d /var/tmp/fuse4fs-test.XXXXXX)
	chmod 0755 "$F4_WORK"
	defer "f4_remove_workdir '$F4_WORK'"
}
f4_remove_workdir() {
	local dir=$1
	# Never rm -rf through a mount that is still there (a FUSE mount would be read-only anyway, but
	# a kernel mount of a scratch image must not lose its files through us either).
	if grep -q " ${dir}[/ ]" /proc/self/mounts; then
		log "not removing $dir: still has mounts:"
		grep " ${dir}[/ ]" /proc/self/mounts >&2
		return 1
	fi
	rm -rf --one-file-system "$dir"
}

# ---- test user -----------------------------------------------------------------------------
ensure_test_user() {
	if ! id -u "$F4_TEST_USER" >/dev/null 2>&1; then
		# A system user with no home and no login shell is enough: it only runs the helper.
		useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin \
			"$F4_TEST_USER" 2>/dev/null || id -u "$F4_TEST_USER" >/dev/null ||
			die "cannot create user $F4_TEST_USER"
	fi
	F4_TEST_UID=$(id -u "$F4_TEST_USER")
	F4_TEST_GID=$(id -g "$F4_TEST_USER")
}
# as_user CMD...: run as the test user with a clean environment, from a directory it may enter.
as_user() {
	(cd / && setpriv --reuid="$F4_TEST_UID" --regid="$F4_TEST_GID" --clear-groups \
		env -i PATH=/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8 "$@")
}

# The arguments of a script whose one argument is --fuse4fs PATH (the built server): sets FUSE4FS.
parse_fuse4fs_only() {
	FUSE4FS=
	while (($#)); do
		case $1 in
		--fuse4fs) FUSE4FS=$2; shift 2 ;;
		*) die "unknown argument '$1'" ;;
		esac
	done
	[[ -x $FUSE4FS ]] || die "--fuse4fs PATH to the built server is required"
}

# ---- loop devices --------------------------------------------------------------------------
# Only 8 loop devices exist on the test machines and other work shares them: take one with
# `losetup -f`, remember it, detach only that one.
# Sets F4_LOOP (not printed: a $(...) subshell would lose the deferred detach).
loop_attach() { # loop_attach IMG [ro]
	local img=$1 ro=${2:-} out
	local args=(-f --show)
	[[ $ro == ro ]] && args+=(-r)
	if ! out=$(losetup "${args[@]}" "$img" 2>&1); then
		die "no free loop device for $img ($out); 'losetup -a' shows who holds them"
	fi
	F4_LOOP=$out
	defer "losetup -d '$F4_LOOP'"
}

# ---- mounts --------------------------------------------------------------------------------
is_mounted() { # is_mounted PATH (exact mount point, as /proc/mounts spells it)
	awk -v m="$1" '$2 == m { found = 1 } END { exit !found }' /proc/self/mounts
}
mount_fstype() {
	awk -v m="$1" '$2 == m { t = $3 } END { if (t == "") exit 1; print t }' /proc/self/mounts
}
# The kernel's FUSE control filesystem, where a connection can be seen and aborted. Mounted
# only if the machine has not, and then unmounted when the test ends: a test leaves no mount.
F4_FUSECTL=/sys/fs/fuse/connections
f4_fusectl() {
	grep -q " $F4_FUSECTL fusectl " /proc/self/mounts && return 0
	mount -t fusectl fusectl "$F4_FUSECTL" 2>/dev/null || return 1
	defer "umount '$F4_FUSECTL'"
}

# Whether the kernel still has FUSE connection N: a superblock that another mount namespace
# still holds (someone's unshare or container copied the mount table while it was mounted)
# keeps the connection, and so the server, alive after our unmount.  Not the server's fault.
f4_conn_alive() { # f4_conn_alive N
	[[ -n $1 ]] && f4_fusectl && [[ -d $F4_FUSECTL/$1 ]]
}

# Deferred by whoever mounts: lazily detach whatever is still mounted at PATH.
f4_umount_if_mounted() {
	local mnt=$1
	while is_mounted "$mnt"; do
		umount "$mnt" 2>/dev/null || umount -l "$mnt" || return 1
	done
}
kernel_mount_ref() { # kernel_mount_ref IMG MNT: the reference mount, read-only, no journal replay
	local img=$1 mnt=$2
	loop_attach "$img" ro
	mkdir -p "$mnt"
	mount -t ext4 -o ro,noload "$F4_LOOP" "$mnt"
	defer "f4_umount_if_mounted '$mnt'"
}

# e2fsck -fn, quiet unless it finds something.
fsck_quiet() {
	local out
	out=$(e2fsck -fn "$1" 2>&1) && return 0
	printf '%s\n' "$out" >&2
	return 1
}

# ---- processes -----------------------------------------------------------------------------
# Wait up to SECONDS for a pid (not necessarily our child) to disappear.
wait_pid_gone() { # wait_pid_gone PID SECONDS
	local pid=$1 t=$((${2:-10} * 10))
	while ((t-- > 0)); do
		[[ -d /proc/$pid ]] || return 0
		# A zombie of ours counts as gone once reaped; a zombie of someone else's is gone for us.
		[[ $(awk '/^State:/ { print $2 }' "/proc/$pid/status" 2>/dev/null) == Z ]] && return 0
		sleep 0.1
	done
	return 1
}
f4_kill_pid() { # the cleanup for a process we started: TERM, then KILL, by pid only
	local pid=$1
	[[ -d /proc/$pid ]] || return 0
	kill -TERM "$pid" 2>/dev/null || return 0
	wait_pid_gone "$pid" 5 || kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null || true
}
# All fuse4fs server processes on the host (any container), by their executable's name.
fuse4fs_pids() {
	local p
	for p in /proc/[0-9]*; do
		[[ $(cat "$p/comm" 2>/dev/null) == fuse4fs ]] && echo "${p#/proc/}"
	done
	return 0
}

# ---- socket directory lock -----------------------------------------------------------------
# /run/fuse4fs is a fixed path compiled into the helper: two test runs on one machine must not
# bind their containers' sockets onto it at the same time.
lock_sockdir() {
	exec {F4_LOCK_FD}>/run/fuse4fs-test.lock
	if ! flock -w 600 "$F4_LOCK_FD"; then
		die "another fuse4fs test holds /run/fuse4fs-test.lock for more than 10 minutes"
	fi
	if [[ -e $F4_SOCKDIR ]] && [[ -n $(ls -A "$F4_SOCKDIR" 2>/dev/null) ]] &&
		! grep -q " $F4_SOCKDIR " /proc/self/mounts; then
		# Leftovers of a killed run (sockets have no owner any more): they would confuse the helper.
		# shellcheck disable=SC2012  # a listing for people to read
		log "removing stale files in $F4_SOCKDIR: $(ls -A "$F4_SOCKDIR" | tr '\n' ' ')"
		find "$F4_SOCKDIR" -mindepth 1 -maxdepth 1 -type s -delete
	fi
	if [[ ! -d $F4_SOCKDIR ]]; then
		mkdir -m 0755 "$F4_SOCKDIR"
		defer "rmdir '$F4_SOCKDIR' 2>/dev/null"
	fi
	chown root:root "$F4_SOCKDIR"
	chmod 0755 "$F4_SOCKDIR"
}

# ---- sandbox checks on a running server ----------------------------------------------------
status_field() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }

# check_sandbox PID [PARENT_PID]: what the unit promises, observed from outside.  Also prints a
# short report (the demo shows it).  Returns the number of failed checks via fail().
check_sandbox() {
	local pid=$1 parent=${2:-} uid gid v entry
	uid=$(awk '/^Uid:/ { print $2, $3, $4, $5 }' "/proc/$pid/status")
	gid=$(awk '/^Gid:/ { print $2, $3, $4, $5 }' "/proc/$pid/status")
	printf '  server pid %s: uid (real eff saved fs) %s, gid %s\n' "$pid" "$uid" "$gid"
	local ruid=${uid%% *}
	check "server runs as a dynamic user, not root" test "$ruid" != 0
	[[ -n ${F4_TEST_UID:-} ]] && check "server uid is not the mounting user's" test "$ruid" != "$F4_TEST_UID"
	for v in $uid; do
		[[ $v == "$ruid" ]] || fail "uid fields differ: $uid"
	done
	for v in CapInh CapPrm CapEff CapBnd CapAmb; do
		printf '  %s %s\n' "$v" "$(status_field "$pid" "$v")"
	done
	for v in CapEff CapPrm CapBnd; do
		check "$v is empty" test "$(status_field "$pid" "$v")" = 0000000000000000
	done
	printf '  NoNewPrivs %s, Seccomp %s\n' "$(status_field "$pid" NoNewPrivs)" "$(status_field "$pid" Seccomp)"
	check "NoNewPrivs is set" test "$(status_field "$pid" NoNewPrivs)" = 1
	check "a seccomp filter is installed" test "$(status_field "$pid" Seccomp)" = 2
	# Network: the server's own namespace (PrivateNetwork=), holding nothing but lo.
	local ifaces
	ifaces=$(awk -F: 'NR > 2 { gsub(/ /, "", $1); print $1 }' "/proc/$pid/net/dev" | tr '\n' ' ')
	printf '  network interfaces: %s\n' "$ifaces"
	check "only the loopback interface is visible" test "$ifaces" = "lo "
	if [[ -n $parent ]]; then
		check "server has a network namespace of its own" \
			test "$(readlink "/proc/$pid/ns/net")" != "$(readlink "/proc/$parent/ns/net")"
		check "server has a mount namespace of its own" \
			test "$(readlink "/proc/$pid/ns/mnt")" != "$(readlink "/proc/$parent/ns/mnt")"
	fi
	# Root directory: the empty tree from DATADIR/fuse4fs/root.  Everything in it must be a mount
	# point (what the unit binds or mounts) or a directory leading only to mount points.
	local root=/proc/$pid/root
	# shellcheck disable=SC2012  # a listing for people to read
	printf '  its root directory holds: %s\n' "$(ls -A "$root" | tr '\n' ' ')"
	local -A mps=()
	while read -r entry; do mps[$entry]=1; done < <(awk '{ print $5 }' "/proc/$pid/mountinfo")
	f4_root_is_empty() { # DIR relative to the server's root ("" is the root)
		local rel=$1 e p
		for p in "$root$rel"/* "$root$rel"/.[!.]*; do
			[[ -e $p || -L $p ]] || continue
			e=${p##*/}
			if [[ -n ${mps[$rel/$e]:-} ]]; then
				continue
			elif [[ -d $root$rel/$e && ! -L $root$rel/$e ]]; then
				f4_root_is_empty "$rel/$e"
			else
				fail "server root holds '$rel/$e', which is neither a mount point nor a directory"
			fi
		done
	}
	f4_root_is_empty ""
	# It gets its device and /dev/fuse as fds from the helper; it must not be able to open any.
	check "server sees no /dev/fuse" test ! -e "$root/dev/fuse"
	check "server sees no block devices" test -z "$(find "$root/dev" -type b 2>/dev/null)"
	check "the root directory is not the host's (no /etc, /home)" \
		test ! -e "$root/etc/passwd" -a ! -e "$root/home"
}
