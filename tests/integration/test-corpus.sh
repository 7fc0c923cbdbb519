#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The hostile-image corpus (tests/corpus/corpus.py, docs/robustness.md): a few hundred damaged
# images, each opened and walked in-process (ext4-walk), every third also opened read-write
# (journal replay onto the image and the read-write checks), every sixth also mounted for real
# in direct mode and walked with stat/read/readlink/getxattr; then the same images again under
# ASan and UBSan when the build has the instrumented walker. Outcome per image: refused with a
# message, or walked. A crash, a hang (timeout), a sanitizer report or a server that does not
# exit after its unmount fails the test. Memory: 1 GiB of address space per process (not under
# ASan, whose shadow memory needs terabytes of it).
#
#   test-corpus.sh --fuse4fs PATH --walk PATH [--walk-asan PATH] [--per-kind N] [--seed N]
set -euo pipefail
# shellcheck source=tests/lib/common.sh
source "$(dirname "$0")/../lib/common.sh"

PER_KIND=4
SEED=${F4_CORPUS_SEED:-7}
WALK_ASAN=
while (($#)); do
	case $1 in
	--fuse4fs) FUSE4FS=$2; shift 2 ;;
	--walk) WALK=$2; shift 2 ;;
	--walk-asan) WALK_ASAN=$2; shift 2 ;;
	--per-kind) PER_KIND=$2; shift 2 ;;
	--seed) SEED=$2; shift 2 ;;
	*) die "unknown argument '$1'" ;;
	esac
done
[[ -x ${FUSE4FS:-} && -x ${WALK:-} ]] || die "--fuse4fs PATH and --walk PATH are required"
require_root
make_workdir
W=$F4_WORK
CORPUS=$F4_SRC_DIR/tests/corpus/corpus.py

# Journals that need recovery, written by the kernel: the corpus damages their logs. One with
# checksum v3 (metadata_csum), one without checksums, so that both the checksum checks and the
# parsing behind them meet damaged input.
dirty_image() { # dirty_image IMG MKFS-FEATURES
	local img=$1 dev i
	mkfs.ext4 -q -F -b 1024 -J size=1 -O "$2" "$img" 3M
	dev=$(losetup -f --show "$img") || die "no free loop device"
	defer "[[ \$(losetup -n -O BACK-FILE '$dev' 2>/dev/null) == '$img'* ]] && losetup -d '$dev' || true"
	mkdir -p "$W/k"
	mount -t ext4 -o data=ordered,commit=60 "$dev" "$W/k"
	defer "f4_umount_if_mounted '$W/k'"
	mkdir "$W/k/d"
	for ((i = 0; i < 40; i++)); do echo "$i" >"$W/k/d/f$i"; done
	setfattr -n user.x -v y "$W/k/d/f1"
	rm "$W/k/d/f3"
	sync -f "$W/k/d"
	for ((i = 40; i < 60; i++)); do echo "$i" >"$W/k/d/f$i"; done
	rm -f "$W/k/d/f4" "$W/k/d/f5"
	sync -f "$W/k/d"
	cp "$img" "$img.dirty"
	umount "$W/k"
	losetup -d "$dev"
	dumpe2fs -h "$img.dirty" 2>/dev/null | grep -q needs_recovery ||
		die "the kernel left no journal to recover in $img.dirty"
}
step "making dirty journals with the kernel"
dirty_image "$W/dirty-v3.img" metadata_csum
dirty_image "$W/dirty-nocsum.img" ^metadata_csum,^uninit_bg

step "corpus: in-process walks, read-write opens and real mounts"
if "$F4_PYTHON" "$CORPUS" run --dir "$W" --walk "$WALK" --fuse4fs "$FUSE4FS" --seed "$SEED" \
	--per-kind "$PER_KIND" --mount-every 6 --rw-every 3 --mem-mb 1024 --timeout 30 \
	--dirty "$W/dirty-v3.img.dirty" --dirty "$W/dirty-nocsum.img.dirty" \
	--list "$W/outcomes.txt" --keep-failures "$W/failed" >"$W/summary.txt" 2>&1; then
	pass "$(head -n 1 "$W/summary.txt")"
else
	cat "$W/summary.txt" >&2
	fail "the corpus found crashes, hangs or unexpected outcomes (above)"
fi

if [[ -n $WALK_ASAN ]]; then
	step "corpus under ASan and UBSan"
	if ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
		"$F4_PYTHON" "$CORPUS" run --dir "$W" --walk "$WALK_ASAN" --seed "$SEED" \
		--per-kind "$PER_KIND" --rw-every 3 --timeout 60 \
		--dirty "$W/dirty-v3.img.dirty" --dirty "$W/dirty-nocsum.img.dirty" \
		--keep-failures "$W/failed-asan" >"$W/summary-asan.txt" 2>&1; then
		pass "ASan/UBSan: $(head -n 1 "$W/summary-asan.txt")"
	else
		cat "$W/summary-asan.txt" >&2
		fail "the corpus under ASan/UBSan found problems (above)"
	fi
else
	log "no instrumented walker in this build: the ASan/UBSan pass is skipped"
fi
if [[ -d $W/failed || -d $W/failed-asan ]]; then
	mkdir -p "${F4_KEEP_DIR:-/var/tmp/fuse4fs-corpus-failures}"
	cp -r "$W"/failed* "${F4_KEEP_DIR:-/var/tmp/fuse4fs-corpus-failures}/"
	log "failing images kept in ${F4_KEEP_DIR:-/var/tmp/fuse4fs-corpus-failures}"
fi
finish
