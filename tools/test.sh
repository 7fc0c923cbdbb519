#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Builds fuse4fs with warnings as errors and runs every test suite: unit, fuzz (corpus replay)
# and integration (real mounts, the service under systemd-nspawn).  Root only: the integration
# tests need loop devices, mounts and containers.
#
#   tools/test.sh [MESON TEST ARGS...]     e.g. tools/test.sh --suite unit
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ $(id -u) != 0 ]]; then
	echo "test: must run as root (mounts, loop devices, systemd-nspawn): sudo $0 $*" >&2
	exit 1
fi

bash tools/setup.sh

BUILD=${BUILD:-build-test}
# The default prefix on purpose: the service test binds the staged prefix over /usr/local in its
# container and refuses /usr. test_hooks: the sandbox test drives the server's self-test hook
# (docs/sandbox.md); a release build never has it.
if [[ -f $BUILD/build.ninja ]]; then
	meson setup --reconfigure -Dwerror=true -Dtest_hooks=true "$BUILD" >/dev/null
else
	meson setup -Dwerror=true -Dtest_hooks=true "$BUILD" >/dev/null
fi
ninja -C "$BUILD"
if (($#)); then
	exec meson test -C "$BUILD" --print-errorlogs "$@"
fi
meson test -C "$BUILD" --print-errorlogs

# The setuid helper and the protocol code again under AddressSanitizer and UBSan: unit tests
# and the fuzz corpus replay (no integration tests: they stage the non-sanitized install).
SAN=${BUILD}-san
san_opts=(-Dwerror=true -Db_sanitize=address,undefined -Db_lundef=false -Dintegration_tests=false)
if [[ -f $SAN/build.ninja ]]; then
	meson setup --reconfigure "${san_opts[@]}" "$SAN" >/dev/null
else
	meson setup "${san_opts[@]}" "$SAN" >/dev/null
fi
ninja -C "$SAN"
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ASAN_OPTIONS=detect_leaks=1 \
	meson test -C "$SAN" --print-errorlogs --suite unit --suite fuzz
# The attacks on the setuid helper again, with the sanitized helper installed setuid in the
# staged install (same arguments as the integration test of the main build).
mapfile -t ATTACKS < <(meson introspect --tests "$BUILD" | /usr/bin/python3 -c '
import json, sys
t = [t for t in json.load(sys.stdin) if t["name"] == "integration-helper-attacks"]
print("\n".join(t[0]["cmd"]) if t else "")')
if [[ -n ${ATTACKS[0]:-} ]]; then
	bash "${ATTACKS[@]}" --helper "$SAN/helper/fuservicemount"
fi

# A bounded libFuzzer run of the protocol decoder (clang), seeded with the corpus; a crash
# fails CI and leaves the input in $FUZZ/artifacts.
FUZZ=${BUILD}-fuzz
FUZZ_SECONDS=${FUZZ_SECONDS:-120}
if command -v clang >/dev/null; then
	if [[ ! -f $FUZZ/build.ninja ]]; then
		CC=clang meson setup -Dfuzz=true -Dintegration_tests=false "$FUZZ" >/dev/null
	fi
	ninja -C "$FUZZ" tests/fuzz/fuzz-proto-decode
	mkdir -p "$FUZZ/artifacts" "$FUZZ/corpus"
	"$FUZZ/tests/fuzz/fuzz-proto-decode" -max_total_time="$FUZZ_SECONDS" -timeout=10 \
		-artifact_prefix="$FUZZ/artifacts/" -print_final_stats=1 \
		"$FUZZ/corpus" tests/fuzz/corpus/proto-decode 2>&1 | tail -n 15
	test "${PIPESTATUS[0]}" = 0
else
	echo "test: clang is missing, no fuzzing run (tools/setup.sh installs it)" >&2
	exit 1
fi

# One closing line over every meson test that ran (main and sanitizer builds), in the plain
# "N passed, N failed" form CI reads; any failure already stopped the script above.
/usr/bin/python3 - "$BUILD/meson-logs/testlog.json" "$SAN/meson-logs/testlog.json" <<'PY'
import json, sys
counts = {"passed": 0, "failed": 0, "skipped": 0}
for path in sys.argv[1:]:
    for line in open(path):
        r = json.loads(line)["result"]
        key = {"OK": "passed", "SKIP": "skipped", "EXPECTEDFAIL": "passed"}.get(r, "failed")
        counts[key] += 1
print(f"tests: {counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped")
PY
