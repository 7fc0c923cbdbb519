#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# A bounded libFuzzer run of fuzz-ext4-walk (docs/robustness.md), for CI. Builds the harness with
# clang in a private directory (skips, exit 77, when clang cannot build libFuzzer binaries),
# seeds it with tests/fuzz/corpus/ext4-walk and a freshly generated hostile-image corpus, and
# runs it for F4_FUZZ_SECONDS (default 60). A crash, a timeout or a leak fails the test; the
# input is copied into tests/fuzz/corpus/ext4-walk/ so that it can be committed and replayed by
# `meson test --suite fuzz` from then on.
#
#   run-fuzz-ext4.sh SOURCE-DIR
set -euo pipefail
SRC=$(cd "${1:?usage: run-fuzz-ext4.sh SOURCE-DIR}" && pwd)
SECONDS_BUDGET=${F4_FUZZ_SECONDS:-60}

command -v clang >/dev/null || { echo "run-fuzz-ext4: SKIP: no clang"; exit 77; }
echo 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return 0; }' |
	clang -x c -fsanitize=fuzzer,address,undefined -o /dev/null - 2>/dev/null ||
	{ echo "run-fuzz-ext4: SKIP: clang cannot link libFuzzer"; exit 77; }

W=$(mktemp -d /var/tmp/fuse4fs-fuzz.XXXXXX)
trap 'rm -rf --one-file-system "$W"' EXIT

echo "==> building fuzz-ext4-walk with clang"
CC=clang meson setup "$W/build" "$SRC" -Dfuzz=true -Dintegration_tests=false >"$W/setup.log" 2>&1 ||
	{ cat "$W/setup.log"; exit 1; }
ninja -C "$W/build" tests/fuzz/fuzz-ext4-walk >"$W/build.log" 2>&1 || { tail -n 40 "$W/build.log"; exit 1; }

echo "==> seeds"
mkdir -p "$W/seeds" "$W/new" "$W/art"
python3 "$SRC/tests/corpus/corpus.py" generate --dir "$W/gen" --per-kind 1 --seed "${F4_CORPUS_SEED:-11}" |
	tail -n 1
find "$W/gen" -name '*.img' -exec cp {} "$W/seeds/" \;

echo "==> fuzzing for $SECONDS_BUDGET s"
rc=0
"$W/build/tests/fuzz/fuzz-ext4-walk" -max_total_time="$SECONDS_BUDGET" -max_len=4194304 \
	-timeout=30 -rss_limit_mb=4096 -print_final_stats=1 -artifact_prefix="$W/art/" \
	-close_fd_mask=2 \
	"$W/new" "$SRC/tests/fuzz/corpus/ext4-walk" "$W/seeds" >"$W/fuzz.log" 2>&1 || rc=$?
grep -E '^stat::number_of_executed_units|^stat::peak_rss_mb|^#[0-9]+ +DONE' "$W/fuzz.log" || true
if ((rc != 0)) || [[ -n $(ls -A "$W/art") ]]; then
	tail -n 20 "$W/fuzz.log"
	for a in "$W"/art/*; do
		[[ -e $a ]] || continue
		# The harness's stderr was closed during the run: replay for the report.
		"$W/build/tests/fuzz/fuzz-ext4-walk" "$a" 2>&1 | grep -A 30 -E 'ERROR|runtime error' | head -n 40 || true
		cp "$a" "$SRC/tests/fuzz/corpus/ext4-walk/crash-$(basename "$a")"
		echo "run-fuzz-ext4: kept $(basename "$a") as tests/fuzz/corpus/ext4-walk/crash-$(basename "$a")"
	done
	echo "run-fuzz-ext4: FAIL: the fuzzer found a problem (exit $rc)"
	exit 1
fi
echo "run-fuzz-ext4: ok: no crash, hang or leak in $SECONDS_BUDGET s"
