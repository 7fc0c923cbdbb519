# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck shell=bash
# What bench/run.sh and bench/unit-cost.sh share: the release build they measure and the
# socket directory its service listens in.  Sourced after tests/lib/common.sh and nspawn.sh.
#
#   bench_build BUILD     set up (if new) and build BUILD; sets FUSE4FS, NULLFS (the floor,
#                         bench/nullfs.c) and the F4_* install paths stage_install and the
#                         container use
#   bench_lock_sockdir    take the build's socket directory for this run

bench_build() {
	local build=$1
	# A release build of our own: the numbers must not measure assertions or sanitizers.
	# Its own socket directory: the tests lock /run/fuse4fs for the few minutes they need it, a
	# full benchmark would hold it far longer than they wait.
	if [[ ! -f $build/build.ninja ]]; then
		meson setup "$build" --buildtype=release -Dsocketdir=/run/fuse4fs-bench >/dev/null
	fi
	ninja -C "$build" >/dev/null || die "the build in $build failed: ninja -C $build"
	# Not built by default: the normal build and CI never need it.
	ninja -C "$build" bench/nullfs >/dev/null || die "the build in $build failed: ninja -C $build bench/nullfs"
	# shellcheck disable=SC2034  # read by the scripts that source this
	FUSE4FS=$build/service/fuse4fs
	# shellcheck disable=SC2034
	NULLFS=$build/bench/nullfs
	local opts
	opts=$(meson introspect --buildoptions "$build")
	bench_opt() { # the value of option $1; a directory relative to the prefix made absolute
		"$F4_PYTHON" -c 'import json,sys; o={x["name"]: x["value"] for x in json.load(sys.stdin)}
d=o[sys.argv[1]]
print(d if not sys.argv[2:] or d.startswith("/") or not d else o["prefix"] + "/" + d)' "$@" <<<"$opts"
	}
	# shellcheck disable=SC2034  # read by stage_install
	F4_PREFIX=$(bench_opt prefix)
	# shellcheck disable=SC2034
	F4_BINDIR=$(bench_opt bindir dir)
	# shellcheck disable=SC2034
	F4_SBINDIR=$(bench_opt sbindir dir)
	F4_UNITDIR=$(bench_opt systemdunitdir)
	[[ -n $F4_UNITDIR ]] || F4_UNITDIR=$F4_PREFIX/lib/systemd/system
	F4_SOCKDIR=$(bench_opt socketdir)
}

bench_lock_sockdir() {
	if [[ $F4_SOCKDIR == /run/fuse4fs ]]; then
		lock_sockdir # shared with the tests
	else
		exec {BENCH_LOCK_FD}>"$F4_SOCKDIR.lock"
		flock -n "$BENCH_LOCK_FD" || die "another benchmark holds $F4_SOCKDIR.lock"
		find "$F4_SOCKDIR" -mindepth 1 -maxdepth 1 -type s -delete 2>/dev/null || true
		install -d -o root -g root -m 0755 "$F4_SOCKDIR"
		defer "rmdir '$F4_SOCKDIR' 2>/dev/null"
	fi
}
