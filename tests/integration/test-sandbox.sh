#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The sandbox, measured on real mounts (docs/sandbox.md).  Needs a test build (-Dtest_hooks=true):
# the server's self-test hook (FUSE4FS_SELFTEST=probe,..., triggered by SIGUSR1) makes calls from
# inside the sandbox and logs each result.
#
# Service mode (the staged install under systemd in systemd-nspawn):
#  - systemd-analyze verify of the three units, and security --offline=yes --threshold=3;
#  - the running server: not root, not the caller, no capabilities, no_new_privs, seccomp, only lo,
#    an empty root; open /etc/passwd, an AF_UNIX socket, fork and executable memory fail (EPERM);
#  - socket(AF_INET), mount, ptrace and execve kill the server (SIGSYS); so do SIGKILL and the
#    watchdog (the server is stopped with SIGSTOP): every time the mount answers ENOTCONN, its
#    user unmounts it with fuservicemount -u, and another mount goes on being served;
#  - resource use of a server that read the whole test image, against the unit's limits.
# Direct mode (root, the built server): the sandboxed server process has no capabilities (bounding
# set included), no_new_privs and the filter; the same probes fail or kill, and a killed server's
# mount is removed by its monitor.
#
#   test-sandbox.sh --fuse4fs PATH --build-root DIR --prefix P --bindir D --sbindir D --unitdir D
set -euo pipefail
# shellcheck source=tests/lib/common.sh
source "$(dirname "$0")/../lib/common.sh"
# shellcheck source=tests/lib/mkimage.sh
source "$F4_LIB_DIR/mkimage.sh"
# shellcheck source=tests/lib/nspawn.sh
source "$F4_LIB_DIR/nspawn.sh"
# shellcheck source=tests/lib/sandbox-probes.sh
source "$F4_LIB_DIR/sandbox-probes.sh"

BUILD=
FUSE4FS=
while (($#)); do
	case $1 in
	--fuse4fs) FUSE4FS=$2; shift 2 ;;
	*)
		install_option "$1" "${2-}" || die "unknown argument '$1'"
		shift 2
		;;
	esac
done
[[ -d $BUILD ]] || die "--build-root DIR is required"
[[ -x $FUSE4FS ]] || die "--fuse4fs PATH to the built server is required"

require_root
command -v systemd-nspawn >/dev/null || die "systemd-nspawn is missing: run tools/setup.sh"
make_workdir
ensure_test_user
lock_sockdir

# Calls that must fail with an errno, and calls the filter kills for (shared with
# test-contained.sh).
ERRNO_PROBES=("${F4_ERRNO_PROBES[@]}")
KILL_PROBES=("${F4_KILL_PROBES[@]}")
WATCHDOG_SEC=10 # fuse4fs@.service WatchdogSec=

step "staging the install and building the image"
stage_install "$BUILD" "$F4_WORK/stage"
mktree "$F4_WORK/tree"
mkimage "$F4_WORK/tree" "$F4_WORK/disk.img"
chmod 0644 "$F4_WORK/disk.img"
install -d -o "$F4_TEST_UID" -g "$F4_TEST_GID" -m 0755 "$F4_WORK/mnt" "$F4_WORK/mnt2"
defer "f4_umount_if_mounted '$F4_WORK/mnt'; f4_umount_if_mounted '$F4_WORK/mnt2'"
H=$F4_HELPER

step "booting systemd in a container"
nspawn_start "$F4_WORK/stage"
ct systemctl start fuse4fs.socket

step "the units: systemd-analyze verify and security"
UNITS=/etc/systemd/system
if ct systemd-analyze verify "$UNITS/fuse4fs.socket" "$UNITS/fuse4fs@.socket" \
	"$UNITS/fuse4fs@.service" >"$F4_WORK/verify.txt" 2>&1; then
	pass "systemd-analyze verify accepts the three units"
else
	cat "$F4_WORK/verify.txt" >&2
	fail "systemd-analyze verify complained (above)"
fi
# --threshold is in tenths: 3 fails above an exposure of 0.3.
if ct systemd-analyze security --offline=yes --threshold=3 --no-pager \
	"$UNITS/fuse4fs@.service" >"$F4_WORK/security.txt" 2>&1; then
	pass "systemd-analyze security: $(grep -o 'Overall exposure level.*' "$F4_WORK/security.txt")"
else
	grep -E '✗|Overall' "$F4_WORK/security.txt" >&2 || cat "$F4_WORK/security.txt" >&2
	fail "systemd-analyze security --offline=yes --threshold=3 failed (above)"
fi

# selftest_env PROBES: what the next server instance will probe (a drop-in on the template).
selftest_env() {
	local d=/proc/$F4_CT/root$UNITS/fuse4fs@.service.d
	mkdir -p "$d"
	printf '[Service]\nEnvironment=FUSE4FS_SELFTEST=%s\n' "$1" >"$d/selftest.conf"
	ct systemctl daemon-reload
}

# mount_new MNT: mount as the test user; sets NEW to the pid of the server that appeared.
mount_new() {
	local mnt=$1 before p rc=0
	before=" $(ct_server_pids | tr '\n' ' ') "
	as_user "$H" "$F4_WORK/disk.img" "$mnt" >"$F4_WORK/helper.out" 2>&1 || rc=$?
	NEW=
	if ((rc != 0)); then
		cat "$F4_WORK/helper.out" >&2
		fail "fuservicemount disk.img $mnt exited $rc"
		return 1
	fi
	for p in $(ct_server_pids); do [[ $before == *" $p "* ]] || NEW=$p; done
	[[ -n $NEW ]] || { fail "no new server process for $mnt"; return 1; }
}

# dump_threads PID [DEV]: where each thread of a server that should have gone is stuck, and which
# processes still see its mount (DEV, major:minor as in mountinfo): a mount copied into another
# mount namespace keeps the FUSE connection alive after the unmount.
dump_threads() {
	local t p
	[[ -d /proc/$1 ]] || return 0
	if [[ -n ${2:-} ]]; then
		for p in /proc/[0-9]*; do
			awk -v d="$2" '$3 == d { found = 1 } END { exit !found }' "$p/mountinfo" 2>/dev/null &&
				printf '  pid %s (%s) still has the mount (mnt ns %s)\n' "${p#/proc/}" \
					"$(cat "$p/comm" 2>/dev/null)" "$(readlink "$p/ns/mnt")" >&2
		done
	fi
	for t in "/proc/$1"/task/*; do
		printf '  thread %s (%s): wchan %s, syscall %s\n' "${t##*/}" "$(cat "$t/comm")" \
			"$(cat "$t/wchan" 2>/dev/null)" "$(cut -d' ' -f1-3 "$t/syscall" 2>/dev/null)" >&2
		sed 's/^/    /' "$t/stack" >&2 2>/dev/null || true
	done
}
journal() { ct journalctl --no-pager -q -o cat "$@" 2>/dev/null || true; }
# wait_journal PATTERN [SECONDS]: until a fuse4fs log line matches (journald may lag a little).
wait_journal() {
	local t=$((${2:-5} * 10))
	while ((t-- > 0)); do
		journal -t fuse4fs | grep -qE "$1" && return 0
		sleep 0.1
	done
	return 1
}
# dead_mount_checks LABEL MNT: the state a killed server must leave behind, and the way out.
dead_mount_checks() {
	f4_dead_mount_checks "$1" "$2" "$H" "$F4_WORK/mnt/files/hello.txt" \
		"$F4_WORK/tree/files/hello.txt"
}

step "service mode: the running server's sandbox"
selftest_env "$(IFS=,; echo "${ERRNO_PROBES[*]}")"
if mount_new "$F4_WORK/mnt"; then
	SERVER=$NEW
	check_sandbox "$SERVER" "$F4_CT"
	check "server uid is not the caller's ($F4_TEST_UID)" \
		test "$(status_field "$SERVER" Uid)" != "$F4_TEST_UID"

	step "service mode: calls from inside the server that must fail"
	kill -USR1 "$SERVER"
	if wait_journal 'selftest: done'; then
		journal -t fuse4fs | grep 'selftest:' | tail -n $((2 * ${#ERRNO_PROBES[@]} + 1)) >&2
		for p in "${ERRNO_PROBES[@]}"; do
			check "[service] $p fails with EPERM inside the server" \
				wait_journal "selftest: $p: failed: .*\(errno 1\)" 1
		done
	else
		fail "[service] the self-test did not report (is this a -Dtest_hooks=true build?)"
	fi
	check "[service] the server survived the failing calls" test -d "/proc/$SERVER"

	step "service mode: resource use after reading the whole image"
	as_user "$F4_PYTHON" "$F4_LIB_DIR/compare-tree.py" --source "$F4_WORK/tree" \
		"$F4_WORK/tree" "$F4_WORK/mnt" >/dev/null 2>&1 || true
	as_user tar -cf /dev/null -C "$F4_WORK/mnt" . 2>/dev/null || true
	MEM_HWM=$(status_field "$SERVER" VmHWM)
	THREADS=$(status_field "$SERVER" Threads)
	NFDS=$(find "/proc/$SERVER/fd" -mindepth 1 | wc -l)
	printf '  measured: VmHWM %s kB, threads %s, open fds %s\n' "$MEM_HWM" "$THREADS" "$NFDS" >&2
	UNIT=$(grep -o 'fuse4fs@[^/]*\.service' "/proc/$SERVER/cgroup" | head -n 1)
	MEM_MAX=$(ct systemctl show -P MemoryMax "$UNIT")
	TASKS_MAX=$(ct systemctl show -P TasksMax "$UNIT")
	NOFILE=$(ct systemctl show -P LimitNOFILE "$UNIT")
	printf '  %s limits: MemoryMax %s, TasksMax %s, LimitNOFILE %s\n' "$UNIT" "$MEM_MAX" \
		"$TASKS_MAX" "$NOFILE" >&2
	# The margins docs/sandbox.md promises: memory and fds four times what was used, tasks
	# room for a second worker pool.
	check "peak memory ${MEM_HWM} kB is under a quarter of MemoryMax" \
		test $((MEM_HWM * 1024 * 4)) -le "$MEM_MAX"
	check "$NFDS open fds are under a quarter of LimitNOFILE" test $((NFDS * 4)) -le "$NOFILE"
	check "$THREADS threads are under half of TasksMax" test $((THREADS * 2)) -le "$TASKS_MAX"

	for p in "${KILL_PROBES[@]}"; do
		step "service mode: $p kills the server"
		selftest_env "$p"
		NSYS0=$(journal -u 'fuse4fs@*' | grep -c 'status=31/SYS' || true)
		mount_new "$F4_WORK/mnt2" || continue
		kill -USR1 "$NEW"
		check "[$p] the server is gone" wait_pid_gone "$NEW" 10
		check "[$p] it was calling $p" wait_journal "selftest: $p: calling" 2
		check "[$p] and never returned from it" \
			eval "! journal -t fuse4fs | grep -qE 'selftest: $p: (failed|SUCCEEDED)'"
		check "[$p] systemd saw it die of SIGSYS" \
			test "$(journal -u 'fuse4fs@*' | grep -c 'status=31/SYS')" -gt "$NSYS0"
		dead_mount_checks "$p" "$F4_WORK/mnt2"
	done
	rm -rf "/proc/$F4_CT/root$UNITS/fuse4fs@.service.d"
	ct systemctl daemon-reload

	step "service mode: SIGKILL"
	if mount_new "$F4_WORK/mnt2"; then
		kill -KILL "$NEW"
		check "[sigkill] the server is gone" wait_pid_gone "$NEW" 5
		dead_mount_checks sigkill "$F4_WORK/mnt2"
	fi

	step "service mode: a stopped server is killed by the watchdog"
	if mount_new "$F4_WORK/mnt2"; then
		kill -STOP "$NEW"
		T0=$(date +%s)
		if wait_pid_gone "$NEW" $((WATCHDOG_SEC * 2 + 5)); then
			pass "[watchdog] the stopped server was killed after $(($(date +%s) - T0)) s"
		else
			fail "[watchdog] the stopped server still exists after $((WATCHDOG_SEC * 2 + 5)) s"
			kill -KILL "$NEW" 2>/dev/null || true
		fi
		check "[watchdog] systemd says: watchdog timeout" \
			eval "journal -u 'fuse4fs@*' | grep -q 'Watchdog timeout'"
		dead_mount_checks watchdog "$F4_WORK/mnt2"
	fi

	step "service mode: the surviving mount unmounts normally"
	MNT_DEV=$(awk -v m="$F4_WORK/mnt" '$5 == m { print $3 }' /proc/self/mountinfo)
	as_user "$H" -u "$F4_WORK/mnt" >/dev/null 2>&1 || fail "fuservicemount -u $F4_WORK/mnt failed"
	if wait_pid_gone "$SERVER" 10; then
		pass "its server exits after the unmount"
	elif f4_conn_alive "${MNT_DEV#*:}"; then
		# Someone's unshare or container copied the mount table while this was mounted:
		# the copy keeps the connection, and so the server, alive. Not the sandbox's doing.
		log "warning: the FUSE connection outlived the unmount (the mount lives on in another mount namespace); aborting it"
		dump_threads "$SERVER" "$MNT_DEV"
		echo 1 >"$F4_FUSECTL/${MNT_DEV#*:}/abort"
		check "its server exits once its connection is aborted" wait_pid_gone "$SERVER" 10
	else
		fail "its server still runs 10 s after the unmount, its connection gone:"
		dump_threads "$SERVER" "$MNT_DEV"
	fi
fi
check "no fuse4fs server left in the container" test -z "$(ct_server_pids)"
nspawn_stop

# ---- direct mode ----------------------------------------------------------------------------
# direct_start LABEL PROBES: `fuse4fs -f` as root with the self-test armed; sets DPID (the
# monitor, our child) and DSRV (the sandboxed server, its child).
direct_start() {
	local label=$1 probes=$2 t
	FUSE4FS_SELFTEST=$probes "$FUSE4FS" -f "$F4_WORK/disk.img" "$F4_WORK/mnt" \
		2>"$F4_WORK/direct-$label.log" &
	DPID=$!
	defer "f4_umount_if_mounted '$F4_WORK/mnt'; f4_kill_pid $DPID"
	DSRV=
	for ((t = 0; t < 100; t++)); do
		[[ -z $DSRV ]] && DSRV=$(pgrep -P "$DPID" -x fuse4fs || true)
		[[ -n $DSRV && $(mount_fstype "$F4_WORK/mnt" 2>/dev/null) == fuse* ]] &&
			grep -q 'self-test hook armed' "$F4_WORK/direct-$label.log" && return 0
		[[ -d /proc/$DPID ]] || break
		sleep 0.1
	done
	cat "$F4_WORK/direct-$label.log" >&2
	fail "[direct $label] fuse4fs did not mount and start its server"
	return 1
}
wait_log() { f4_wait_log "$1" "$2"; } # wait_log FILE PATTERN

step "direct mode: the sandboxed server process"
if direct_start errno "$(IFS=,; echo "${ERRNO_PROBES[*]}")"; then
	printf '  monitor %s, server %s\n' "$DPID" "$DSRV" >&2
	for v in CapEff CapPrm CapBnd CapAmb; do
		check "[direct] server $v is empty" test "$(status_field "$DSRV" "$v")" = 0000000000000000
	done
	check "[direct] server NoNewPrivs is 1" test "$(status_field "$DSRV" NoNewPrivs)" = 1
	check "[direct] server Seccomp is 2" test "$(status_field "$DSRV" Seccomp)" = 2
	check "[direct] the monitor holds no /dev/fuse fd" \
		eval "! ls -l /proc/$DPID/fd | grep -q /dev/fuse"
	check "[direct] the monitor holds no fd of the image" \
		eval "! ls -l /proc/$DPID/fd | grep -q disk.img"
	kill -USR1 "$DSRV"
	if wait_log "$F4_WORK/direct-errno.log" 'selftest: done'; then
		for p in "${ERRNO_PROBES[@]}"; do
			check "[direct] $p fails with EPERM inside the server" \
				grep -qE "selftest: $p: failed: .*\(errno 1\)" "$F4_WORK/direct-errno.log"
		done
	else
		cat "$F4_WORK/direct-errno.log" >&2
		fail "[direct] the self-test did not report"
	fi
	check "[direct] the mount still works" cmp -s "$F4_WORK/mnt/files/hello.txt" "$F4_WORK/tree/files/hello.txt"
	umount "$F4_WORK/mnt"
	check "[direct] fuse4fs exits after the unmount" wait_pid_gone "$DPID" 10
	wait "$DPID" && rc=0 || rc=$?
	check "[direct] with status 0 (got $rc)" test "$rc" = 0
fi

for p in "${KILL_PROBES[@]}"; do
	step "direct mode: $p kills the server, the monitor unmounts"
	direct_start "$p" "$p" || continue
	kill -USR1 "$DSRV"
	check "[direct $p] the server is gone" wait_pid_gone "$DSRV" 10
	check "[direct $p] fuse4fs exits" wait_pid_gone "$DPID" 10
	wait "$DPID" && rc=0 || rc=$?
	check "[direct $p] with status 1 (got $rc)" test "$rc" = 1
	check "[direct $p] the log names SIGSYS" \
		wait_log "$F4_WORK/direct-$p.log" 'killed by signal 31 .*forbidden system call'
	check "[direct $p] the mount is gone" eval "! is_mounted '$F4_WORK/mnt'"
done
finish
