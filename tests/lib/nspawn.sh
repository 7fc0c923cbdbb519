# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck shell=bash
# A throw-away systemd in systemd-nspawn for the service tests and the demo, on machines whose
# PID 1 is not systemd.  The container boots the host's /usr on a volatile root, sees the staged
# `meson install --destdir` tree at its prefix, and shares the socket directory with the host, so
# the setuid helper on the host connects to sockets the container's systemd listens on.
#
#   stage_install BUILD STAGE     meson install into STAGE; sets F4_HELPER (setuid copy) etc.
#   nspawn_start STAGE            boot; sets F4_CT (container's PID 1 as the host sees it)
#   ct CMD...                     run CMD inside the container (all of its namespaces)
#   nspawn_stop                   deferred by nspawn_start; also prints the journal on failure
#
# Recipe and traps: /work/shared/docs/TESTING-ON-THIS-MACHINE.md (never boot systemd on the
# host's root: its tmpfiles setup empties /tmp).

# shellcheck source=tests/lib/common.sh
[[ -n ${F4_LIB_DIR:-} ]] || source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

# Install paths as meson computed them; the integration tests pass them as options, the demo
# reads them from `meson introspect`.
F4_PREFIX=${F4_PREFIX:-/usr/local}

stage_install() { # stage_install BUILD STAGE
	local build=$1 stage=$2
	[[ $F4_PREFIX != /usr && $F4_PREFIX != / ]] ||
		die "the test build must not use prefix $F4_PREFIX: the container binds the staged prefix over it"
	meson install -C "$build" --no-rebuild --quiet --destdir "$stage" >"$stage.install.log" 2>&1 ||
		{ cat "$stage.install.log" >&2; die "meson install --destdir $stage failed"; }
	F4_HELPER=$stage${F4_BINDIR:-$F4_PREFIX/bin}/fuservicemount
	F4_SERVER_STAGED=$stage${F4_SBINDIR:-$F4_PREFIX/sbin}/fuse4fs
	F4_UNITS_STAGED=$stage${F4_UNITDIR:-$F4_PREFIX/lib/systemd/system}
	[[ -x $F4_HELPER ]] || die "meson install did not install $F4_HELPER"
	[[ -x $F4_SERVER_STAGED ]] || die "meson install did not install $F4_SERVER_STAGED"
	[[ -f $F4_UNITS_STAGED/fuse4fs.socket ]] || die "meson install did not install units in $F4_UNITS_STAGED"
	# The install must have made the helper setuid root; the test must not paper over it.
	local m
	m=$(stat -c '%a %U' "$F4_HELPER")
	[[ $m == "4755 root" ]] || die "installed helper is '$m', expected '4755 root' (helper/meson.build install_mode)"
	# The test user runs the helper from here: every directory on the way must be traversable.
	local d=$F4_HELPER
	while d=$(dirname "$d") && [[ $d != / ]]; do chmod o+x "$d"; done
}

# The install-path arguments tests/integration/meson.build passes to every test that stages an
# install. install_option ARG VALUE takes one of them (setting BUILD or an F4_* path) and returns
# 1 for any other argument, so a test with options of its own can still parse them itself;
# parse_install_args ARGS... is the whole loop for tests that have none.
install_option() {
	case $1 in
	--build-root) BUILD=$2 ;;
	--prefix) F4_PREFIX=$2 ;;
	--bindir) F4_BINDIR=$2 ;;
	--sbindir) F4_SBINDIR=$2 ;;
	--unitdir) F4_UNITDIR=$2 ;;
	*) return 1 ;;
	esac
}

parse_install_args() {
	BUILD=
	while (($#)); do
		install_option "$1" "${2-}" || die "unknown argument '$1'"
		shift 2
	done
	[[ -d $BUILD ]] || die "--build-root DIR is required"
}

ct() { nsenter -t "$F4_CT" -a -- "$@"; }

nspawn_start() { # nspawn_start STAGE
	local stage=$1 t
	command -v systemd-nspawn >/dev/null || die "systemd-nspawn is missing: run tools/setup.sh"
	F4_CT_NAME=f4t$$
	F4_CG=fuse-test-$F4_CT_NAME
	for t in unified systemd; do mkdir -p "/sys/fs/cgroup/$t/$F4_CG"; done
	F4_NSPAWN_LOG=$F4_WORK/nspawn.log
	# The bash below joins the cgroup, then execs nspawn: $! is nspawn's pid.
	# --register=no: no machined on the host.  --private-network: the container (and so every
	# server) has no way out even before PrivateNetwork= applies.
	# shellcheck disable=SC2016  # expanded by the inner bash
	setsid bash -c '
		for h in unified systemd; do echo $$ >"/sys/fs/cgroup/$h/$1/cgroup.procs"; done
		shift
		exec systemd-nspawn "$@"' nspawn "$F4_CG" \
		-D / --volatile=yes --overlay=/etc::/etc -b -M "$F4_CT_NAME" \
		--register=no --keep-unit --private-network --console=passive \
		--bind-ro="$stage$F4_PREFIX:$F4_PREFIX" --bind="$F4_SOCKDIR:$F4_SOCKDIR" \
		>"$F4_NSPAWN_LOG" 2>&1 </dev/null &
	F4_NSPAWN=$!
	defer nspawn_stop
	F4_CT=
	for ((t = 0; t < 300; t++)); do
		[[ -d /proc/$F4_NSPAWN ]] || { cat "$F4_NSPAWN_LOG" >&2; die "systemd-nspawn exited early"; }
		if [[ -z $F4_CT ]]; then
			F4_CT=$(pgrep -P "$F4_NSPAWN" -x systemd || true)
		fi
		[[ -n $F4_CT && -S /proc/$F4_CT/root/run/systemd/private ]] && break
		sleep 0.1
	done
	[[ -n $F4_CT ]] || { cat "$F4_NSPAWN_LOG" >&2; die "the container's systemd did not start within 30 s"; }
	# Units the host enables but that cannot run here (databases and the like) leave the system
	# "degraded"; that is not ours to judge, so only "starting" counts as not ready.
	local state
	state=$(timeout 120 nsenter -t "$F4_CT" -a systemctl is-system-running --wait 2>/dev/null || true)
	case $state in
	running | degraded) ;;
	*) die "the container's systemd did not finish booting (state '$state')" ;;
	esac
	# The units come from the staged install; /etc in the container is a throw-away overlay.
	cp "$F4_UNITS_STAGED"/fuse4fs*.socket "$F4_UNITS_STAGED"/fuse4fs*.service \
		"/proc/$F4_CT/root/etc/systemd/system/"
	ct systemctl daemon-reload
}

# Shown when the test fails: what the container's services said.
nspawn_journal() {
	[[ -n ${F4_CT:-} && -d /proc/$F4_CT ]] || return 0
	echo "---- container journal (fuse4fs units, last 200 lines) ----" >&2
	ct journalctl --no-pager -o short-monotonic -n 200 \
		-u 'fuse4fs*' -t fuse4fs -t systemd >&2 2>/dev/null || true
	echo "---- end of journal ----" >&2
}

nspawn_stop() {
	local rc=${F4_EXIT_RC:-0} t i
	if [[ $rc != 0 ]] || ((F4_FAILURES > 0)); then
		nspawn_journal
	fi
	if [[ -d /proc/$F4_NSPAWN ]]; then
		# SIGTERM asks the container's systemd for a clean poweroff.
		kill -TERM "$F4_NSPAWN" 2>/dev/null
		wait_pid_gone "$F4_NSPAWN" 30 || {
			log "systemd-nspawn did not stop within 30 s, killing it"
			kill -KILL "$F4_NSPAWN" 2>/dev/null
		}
	fi
	wait "$F4_NSPAWN" 2>/dev/null || true
	if [[ ${rc} != 0 && -s $F4_NSPAWN_LOG ]]; then
		echo "---- systemd-nspawn output (last 30 lines) ----" >&2
		tail -n 30 "$F4_NSPAWN_LOG" >&2
	fi
	# Cgroups left by the container's systemd: deepest first.  A process still in there would
	# keep them busy; say so rather than hide it.
	for t in unified systemd; do
		[[ -d /sys/fs/cgroup/$t/$F4_CG ]] || continue
		for ((i = 0; i < 20; i++)); do
			find "/sys/fs/cgroup/$t/$F4_CG" -depth -type d -exec rmdir {} + 2>/dev/null
			[[ -d /sys/fs/cgroup/$t/$F4_CG ]] || break
			sleep 0.2
		done
		[[ -d /sys/fs/cgroup/$t/$F4_CG ]] && log "could not remove cgroup $t/$F4_CG"
	done
	return 0
}

# The fuse4fs servers the container's systemd runs (children of its PID 1).
ct_server_pids() {
	local p
	for p in $(fuse4fs_pids); do
		[[ $(awk '/^PPid:/ { print $2 }' "/proc/$p/status" 2>/dev/null) == "$F4_CT" ]] && echo "$p"
	done
	return 0
}
