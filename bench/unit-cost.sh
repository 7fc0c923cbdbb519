#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# What each directive of fuse4fs@.service costs at mount time: the service's mount latency
# (helper start to the mount answering statfs, bench/mounttime.py) with the unit as shipped
# and with each DROPIN (a drop-in that changes it), in one container, rounds rotated so that
# machine noise hits every variant alike.  docs/units.md, "What the sandbox costs", holds a
# run's table.
#
#   bench/unit-cost.sh [--rounds N] [--mounts N] [--build DIR] [--out FILE] [DROPIN...]
#
# e.g.  printf '[Service]\nProtectKernelTunables=no\n' >/tmp/notun.conf
#       sudo bench/unit-cost.sh /tmp/notun.conf
# Not part of the test suite.  Needs root.
set -euo pipefail
BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
# shellcheck disable=SC2034  # read by the sourced tests/lib helpers
F4_NAME=unit-cost
# shellcheck source=tests/lib/common.sh
source "$BENCH_DIR/../tests/lib/common.sh"
# shellcheck source=tests/lib/nspawn.sh
source "$F4_LIB_DIR/nspawn.sh"
# shellcheck source=bench/lib.sh
source "$BENCH_DIR/lib.sh"

ROUNDS=3
MOUNTS=4
BUILD=$F4_SRC_DIR/build-bench
OUT=
DROPINS=()
ARGS=("$@")
while (($#)); do
	case $1 in
	--rounds) ROUNDS=$2; shift 2 ;;
	--mounts) MOUNTS=$2; shift 2 ;;
	--build) BUILD=$2; shift 2 ;;
	--out) OUT=$2; shift 2 ;;
	-h | --help) sed -n '/^#   bench/,/^# Not part/p' "$0" | sed 's/^# \{0,3\}//'; exit 0 ;;
	-*) die "unknown argument '$1'" ;;
	*) [[ -f $1 ]] || die "drop-in '$1' is not a file"; DROPINS+=("$(realpath "$1")"); shift ;;
	esac
done
require_root
# Our own mount namespace, as in run.sh: copies of our FUSE mounts elsewhere would keep them.
if [[ -z ${BENCH_IN_NS:-} ]]; then
	exec unshare --mount --propagation private env BENCH_IN_NS=1 "$0" "${ARGS[@]}"
fi

"$F4_SRC_DIR/tools/setup.sh" >/dev/null
bench_build "$BUILD"
make_workdir
ensure_test_user
bench_lock_sockdir
stage_install "$BUILD" "$F4_WORK/stage"
nspawn_start "$F4_WORK/stage"
ct systemctl start fuse4fs.socket

MNT=$F4_WORK/mnt
install -d -o "$F4_TEST_UID" -g "$F4_TEST_GID" -m 0755 "$MNT"
mkfs.ext4 -q -F -b 4096 -I 256 -E "root_owner=$F4_TEST_UID:$F4_TEST_GID" "$F4_WORK/img" 1G
chown "$F4_TEST_UID:$F4_TEST_GID" "$F4_WORK/img"
defer "f4_umount_if_mounted '$MNT'"
# The unit as shipped is the empty drop-in.
printf '[Service]\n' >"$F4_WORK/as-shipped.conf"
VARIANTS=("$F4_WORK/as-shipped.conf" "${DROPINS[@]}")
RES=$F4_WORK/unit-cost.tsv
: >"$RES"
DROPIN_DIR=/proc/$F4_CT/root/etc/systemd/system/fuse4fs@.service.d
for ((r = 0; r < ROUNDS; r++)); do
	for ((k = 0; k < ${#VARIANTS[@]}; k++)); do
		v=${VARIANTS[(k + r) % ${#VARIANTS[@]}]}
		rm -rf "$DROPIN_DIR"
		install -D -m 0644 "$v" "$DROPIN_DIR/bench.conf"
		ct systemctl daemon-reload
		for ((i = 0; i < MOUNTS; i++)); do
			before=" $(ct_server_pids | tr '\n' ' ') "
			ms=$(as_user "$F4_PYTHON" "$BENCH_DIR/mounttime.py" "$MNT" fuse.fuse4fs \
				"$F4_HELPER" -o rw "$F4_WORK/img" "$MNT") || die "the mount failed with $v"
			srv=
			for p in $(ct_server_pids); do [[ $before == *" $p "* ]] || srv=$p; done
			as_user "$F4_HELPER" -u "$MNT"
			# The image is only free once the server has closed it.
			[[ -z $srv ]] || wait_pid_gone "$srv" 20 || die "server $srv still runs after the unmount"
			printf '%s\t%s\n' "$(basename "$v" .conf)" "$ms" >>"$RES"
		done
	done
done
[[ -z $OUT ]] || cp "$RES" "$OUT"
"$F4_PYTHON" - "$RES" <<'PY'
import collections, statistics, sys
d = collections.defaultdict(list)
for line in open(sys.argv[1]):
    k, v = line.split()
    d[k].append(float(v))
base = statistics.median(d["as-shipped"])
print("| unit | mounts | median, ms | vs as shipped, ms | min, ms |")
print("|---|---:|---:|---:|---:|")
for k, v in sorted(d.items(), key=lambda kv: statistics.median(kv[1])):
    m = statistics.median(v)
    print("| %s | %d | %.1f | %+.1f | %.1f |" % (k, len(v), m, m - base, min(v)))
PY
