#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The read pool (service/read-pool.c): reads served outside the filesystem lock must never
# return data of a block that was freed and given to another file while they were in flight.
# read-race.py runs parallel O_DIRECT readers of file A while a writer truncates A and writes
# file B into the blocks A gave back; a read of A that returns anything but A's data fails.
#
# Phase 1 uses the test build's hook (FUSE4FS_TEST_READ_DELAY_US): every read goes to the pool
# and waits there before it reads the device, so the window between mapping a read and reading
# it spans many frees and writes; without the wait for reads in flight that ext4-fs.c's block
# allocation hooks do, B's data shows up in A within seconds. Phase 2 is the release path
# (reads from the page cache in the worker, the rest in the pool) under the same load. After
# each, the unmount must end the server cleanly and e2fsck must find the image clean. Both
# phases also read back single-block writes at once, which libext2fs still holds in its unix
# channel's cache: a pread() of the device would miss them (io_cache_pending()).
#
#   test-read-parallel.sh --fuse4fs PATH [--seconds N]
set -euo pipefail
# shellcheck source=tests/lib/common.sh
source "$(dirname "$0")/../lib/common.sh"
# shellcheck source=tests/lib/rw.sh
source "$F4_LIB_DIR/rw.sh"
f4_private_mounts "$@"

FUSE4FS=""
SECONDS_PER_PHASE=15
while (($#)); do
	case $1 in
	--fuse4fs) FUSE4FS=$2; shift 2 ;;
	--seconds) SECONDS_PER_PHASE=$2; shift 2 ;;
	*) die "unknown argument '$1'" ;;
	esac
done
[[ -x $FUSE4FS ]] || die "--fuse4fs PATH to the built server is required"
require_root
[[ -c /dev/fuse ]] || die "/dev/fuse is missing"
make_workdir
RACE=$(dirname "$0")/read-race.py

race_phase() { # race_phase LABEL DELAY_US
	local label=$1 delay=$2 img=$F4_WORK/$1.img mnt=$F4_WORK/mnt-$1 out=$F4_WORK/race-$1.out
	rw_mkimage "$img" 4096 256M
	export FUSE4FS_TEST_READ_DELAY_US=$delay
	if direct_mount_rw "$label" "$img" "$mnt" read_threads=8; then
		unset FUSE4FS_TEST_READ_DELAY_US
		if "$F4_PYTHON" "$RACE" "$mnt" "$SECONDS_PER_PHASE" >"$out" 2>&1; then
			pass "[$label] $(tail -n 2 "$out" | paste -sd ";")"
		else
			cat "$out" >&2
			fail "[$label] a read returned data other than what the file holds (above)"
		fi
		direct_umount "$label" "$mnt"
		fsck_check "$label" "$img"
	fi
	unset FUSE4FS_TEST_READ_DELAY_US
	rm -f "$img"
}

step "reads held in the pool for 2 ms while A's blocks are freed and reused"
race_phase delayed 2000
step "the release path: cached reads in the worker, the rest in the pool"
race_phase release 0
finish
