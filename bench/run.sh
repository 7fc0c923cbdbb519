#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The benchmark of issue 6: the same workloads on the kernel's ext4 (loop device), fuse4fs
# through the contained service (setuid helper + socket activation under a real systemd in
# systemd-nspawn, mounted by an ordinary user), fuse4fs in direct mode, Debian's fuse2fs and the
# FUSE floor (nullfs.c: a FUSE server that does no filesystem work), interleaved (every
# repetition runs every system, in a rotated order, so that machine noise hits them all alike),
# then a table of medians and ratios to the kernel.  See bench/README.md.
#
#   bench/run.sh [--quick] [--reps N] [--only W[,W...]] [--systems S[,S...]] [--build DIR]
#                [--out FILE] [--strace] [--dropin FILE] [--direct-opts OPTS]
#
# Not part of the test suite.  Needs root; installs fio and fuse2fs itself when missing.
set -euo pipefail
BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
# shellcheck disable=SC2034  # F4_* are read by the sourced tests/lib helpers
F4_NAME=bench
# shellcheck source=tests/lib/common.sh
source "$BENCH_DIR/../tests/lib/common.sh"
# shellcheck source=tests/lib/nspawn.sh
source "$F4_LIB_DIR/nspawn.sh"
# shellcheck source=bench/lib.sh
source "$BENCH_DIR/lib.sh"

BENCH_ARGS=("$@")
WORKLOADS=(mount seq fio files untar)
SYSTEMS=kernel,service,direct,fuse2fs,floor
BUILD=$F4_SRC_DIR/build-bench
QUICK=0
REPS=
ONLY=
OUT=
STRACE=0
DROPIN=
DIRECT_OPTS=
usage() {
	sed -n '/^#   bench/,/^#   *\[--out/p' "$0" | sed 's/^# \{0,3\}//'
	echo "workloads: ${WORKLOADS[*]} (mount and unmount latency and the server's peak RSS are"
	echo "recorded by every workload); systems: $SYSTEMS"
}
while (($#)); do
	case $1 in
	--quick) QUICK=1; shift ;;
	--reps) REPS=$2; shift 2 ;;
	--only) ONLY=$2; shift 2 ;;
	--systems) SYSTEMS=$2; shift 2 ;;
	--build) BUILD=$2; shift 2 ;;
	--out) OUT=$2; shift 2 ;;
	--strace) STRACE=1; shift ;;
	--dropin) DROPIN=$(realpath "$2"); shift 2 ;;
	--direct-opts) DIRECT_OPTS=,$2; shift 2 ;;
	-h | --help) usage; exit 0 ;;
	*) usage >&2; die "unknown argument '$1'" ;;
	esac
done
for w in ${ONLY//,/ }; do
	[[ " ${WORKLOADS[*]} " == *" $w "* ]] || die "unknown workload '$w' (${WORKLOADS[*]})"
done
IFS=, read -r -a SYS <<<"$SYSTEMS"
for s in "${SYS[@]}"; do
	[[ $s == @(kernel|service|direct|fuse2fs|floor) ]] || die "unknown system '$s'"
done
want() { [[ -z $ONLY || ",$ONLY," == *",$1,"* ]]; }

# Sizes.  --quick is for developing the script on a shared machine: small and one repetition.
MOUNTS=10 # warm remounts per repetition of the mount workload
if ((QUICK)); then
	MOUNTS=5
	REPS=${REPS:-1} SEQ_MIB=64 FIO_MIB=32 FIO_SECS=1 NFILES=2000 TAR_DIRS=(usr/include/linux)
else
	REPS=${REPS:-3} SEQ_MIB=1024 FIO_MIB=256 FIO_SECS=3 NFILES=20000
	# About 270 MB of real source text, documentation and small files.
	TAR_DIRS=(usr/include usr/share/doc)
fi
NDIRS=20
IMG_SIZE=4G

require_root
# A mount namespace of our own: every container or unshare another user starts on this shared
# machine copies the mounts it sees, and a copy of one of our FUSE mounts keeps its connection,
# and so its server, alive after our unmount.  Private propagation also keeps ours out of theirs.
if [[ -z ${BENCH_IN_NS:-} ]]; then
	exec unshare --mount --propagation private env BENCH_IN_NS=1 "$0" "${BENCH_ARGS[@]}"
fi

step "packages and build"
# The bench's own extras stay out of tools/setup.sh so that CI does not install them.
missing=()
extras=(fio fuse2fs)
((STRACE)) && extras+=(strace)
for p in "${extras[@]}"; do
	[[ $(dpkg-query -W -f '${db:Status-Abbrev}' "$p" 2>/dev/null) == ii* ]] || missing+=("$p")
done
if ((${#missing[@]})); then
	log "installing ${missing[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" \
		>/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }
fi
"$F4_SRC_DIR/tools/setup.sh" >/dev/null
bench_build "$BUILD"

make_workdir
ensure_test_user
RES=$F4_WORK/results.tsv
: >"$RES"
# The test user runs every workload on every system: a mount through the helper answers only
# its owner, and the same uid everywhere keeps permission checks the same.
install -d -o "$F4_TEST_UID" -g "$F4_TEST_GID" -m 0755 "$F4_WORK/mnt"
MNT=$F4_WORK/mnt
SRV_PID=
KLOOP=
CUR_IMG=

if [[ " ${SYS[*]} " == *" service "* ]]; then
	step "booting systemd in a container for the service"
	bench_lock_sockdir
	stage_install "$BUILD" "$F4_WORK/stage"
	nspawn_start "$F4_WORK/stage"
	if [[ -n $DROPIN ]]; then
		# What one unit directive costs: the service with a drop-in that changes it.
		[[ -f $DROPIN ]] || die "--dropin $DROPIN is not a file"
		install -D -m 0644 "$DROPIN" "/proc/$F4_CT/root/etc/systemd/system/fuse4fs@.service.d/bench.conf"
		ct systemctl daemon-reload
		log "fuse4fs@.service with the drop-in $DROPIN"
	fi
	ct systemctl start fuse4fs.socket
fi
# After the container's: runs before it stops, while the service can still answer.
defer bench_teardown

step "the tree to untar"
# Deterministic for a given machine: sorted names, fixed owners and times.
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 --ignore-failed-read \
	-cf "$F4_WORK/src.tar" -C / "${TAR_DIRS[@]}" 2>/dev/null || true
chmod 0644 "$F4_WORK/src.tar"
log "src.tar: $(($(stat -c %s "$F4_WORK/src.tar") / 1000000)) MB, $(tar -tf "$F4_WORK/src.tar" | wc -l) entries"

# ---- helpers ------------------------------------------------------------------------------
now() { date +%s%N; }
ms() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", (b - a) / 1e6 }'; }
rec() { printf '%s\t%s\t%s\t%s\n' "$REP" "$1" "$2" "$3" >>"$RES"; }
drop_caches() { sync; echo 3 >/proc/sys/vm/drop_caches; }
# The workloads run as the test user; a shell for pipes and redirections.
ush() { as_user /bin/sh -c "$1"; }
# Seconds with fractions, of a command run as the test user; "n/a: " and its first error line
# if it failed (a failed untar or sync must not enter the table as a fast one).
timed_sh() {
	local t0 t1
	t0=$(now)
	if ! ush "$1" >/dev/null 2>"$F4_WORK/timed.err"; then
		log "failed: $1: $(head -n 3 "$F4_WORK/timed.err")"
		echo "n/a: $(grep -m1 -v '^$' "$F4_WORK/timed.err" | tr '\t' ' ' | cut -c1-120)"
		return 0
	fi
	t1=$(now)
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.6f", (b - a) / 1e9 }'
}
# rec_rate SYS METRIC AMOUNT SECS: AMOUNT per second, or SECS's "n/a: reason".
rec_rate() {
	if [[ $4 == n/a* ]]; then
		rec "$1" "$2" "$4"
	else
		rec "$1" "$2" "$(awk -v n="$3" -v s="$4" 'BEGIN { print n / s }')"
	fi
}
mounted_type() { # the fs type at MNT, from our own mount table without forking
	local _d m t _r
	while read -r _d m t _r; do [[ $m == "$MNT" ]] && { echo "$t"; return 0; }; done </proc/self/mounts
	return 1
}
wait_answering() { # until MNT is a mount of TYPE and statfs on it works, or PID (if any) died
	local type=$1 pid=${2:-} who=${3:-root} i
	for ((i = 0; i < 20000; i++)); do
		if [[ $(mounted_type) == "$type" ]]; then
			if [[ $who == user ]]; then
				as_user stat -f "$MNT" >/dev/null 2>&1 && return 0
			else
				stat -f "$MNT" >/dev/null 2>&1 && return 0
			fi
		fi
		[[ -z $pid || -d /proc/$pid ]] || return 1
		sleep 0.001
	done
	return 1
}
# The highest VmHWM of PID and its children: direct mode serves from a confined child.
peak_kib() {
	local p kids max=0 v
	kids=$(cat /proc/"$1"/task/*/children 2>/dev/null || true)
	for p in "$1" $kids; do
		v=$(awk '/^VmHWM:/ { print $2 }' "/proc/$p/status" 2>/dev/null || true)
		((${v:-0} > max)) && max=$v
	done
	echo "$max"
}

# sys_mount SYS IMG: mount, record the latency (command start to mountpoint answering) and set
# SRV_PID for the FUSE servers.
sys_mount() {
	local sys=$1 img=$2 t0 t1 before p
	# Which servers run already: before the clock starts (a scan of /proc takes a while).
	[[ $sys == service ]] && before=" $(ct_server_pids | tr '\n' ' ') "
	t0=$(now)
	case $sys in
	kernel)
		mount -t ext4 "$KLOOP" "$MNT"
		wait_answering ext4 || die "kernel mount of $img did not answer"
		;;
	service)
		# The user's own view: from running the helper to the mount answering statfs (only its
		# owner gets answers from this mount, root gets EACCES), timed inside one process of
		# the user's so that the bench's setpriv and process starts are not charged to it.
		SVC_MS=$(as_user "$F4_PYTHON" "$BENCH_DIR/mounttime.py" "$MNT" fuse.fuse4fs \
			"$F4_HELPER" -o rw "$img" "$MNT" 2>"$F4_WORK/helper.out") ||
			{ cat "$F4_WORK/helper.out" >&2; die "fuservicemount -o rw $img failed"; }
		t1=$(now)
		# Wall-clock times, to line up with the container's journal (journal.txt).
		log "service: fuservicemount from $(date -d "@${t0:0:-9}.${t0: -9}" +%T.%6N)" \
			"to $(date -d "@${t1:0:-9}.${t1: -9}" +%T.%6N): $SVC_MS ms"
		SRV_PID=
		for p in $(ct_server_pids); do [[ $before == *" $p "* ]] || SRV_PID=$p; done
		;;
	direct)
		"$FUSE4FS" -f -o "rw,allow_other$DIRECT_OPTS" "$img" "$MNT" 2>>"$F4_WORK/direct.log" &
		SRV_PID=$!
		wait_answering fuse.fuse4fs "$SRV_PID" || { cat "$F4_WORK/direct.log" >&2; die "fuse4fs direct did not mount"; }
		;;
	floor)
		# Mounted as direct mode is (root, allow_other, default_permissions, rw); its root
		# belongs to the test user, as the images' root does (mkfs -E root_owner).
		"$NULLFS" -o allow_other --owner "$F4_TEST_UID:$F4_TEST_GID" "$MNT" 2>>"$F4_WORK/floor.log" &
		SRV_PID=$!
		wait_answering fuse.nullfs "$SRV_PID" || { cat "$F4_WORK/floor.log" >&2; die "nullfs did not mount"; }
		;;
	fuse2fs)
		# -f keeps it our child, so that its pid and its peak RSS are ours to read.
		fuse2fs "$img" "$MNT" -f -o rw,allow_other 2>>"$F4_WORK/fuse2fs.log" &
		SRV_PID=$!
		wait_answering fuse.ext4 "$SRV_PID" || { cat "$F4_WORK/fuse2fs.log" >&2; die "fuse2fs did not mount"; }
		;;
	esac
	if [[ $sys == service ]]; then
		rec "$sys" mount "$SVC_MS"
	else
		t1=$(now)
		rec "$sys" mount "$(ms "$t0" "$t1")"
	fi
	if ((STRACE)) && [[ -n $SRV_PID ]]; then
		# Count the server's system calls per mount; strace writes its table when the server
		# exits.  Slows every request: a --strace run's timings are not benchmark numbers.
		local kids spid=$SRV_PID
		kids=$(cat /proc/"$SRV_PID"/task/*/children 2>/dev/null || true)
		[[ -n $kids ]] && spid=${kids%% *}
		STRACE_N=$((STRACE_N + 1))
		strace -c -f -p "$spid" -o "$F4_WORK/strace-$REP-$sys-$STRACE_N.txt" 2>/dev/null &
		STRACE_PID=$!
		defer "f4_kill_pid $STRACE_PID"
		sleep 0.3
	fi
}
STRACE_N=0
STRACE_PID=

# sys_umount SYS: record the server's peak RSS and the unmount latency, wait for it to exit.
sys_umount() {
	local sys=$1 t0 t1 kib
	if [[ -n $SRV_PID ]]; then
		kib=$(peak_kib "$SRV_PID")
		((kib > PEAK_KIB)) && PEAK_KIB=$kib
	fi
	t0=$(now)
	case $sys in
	service) as_user "$F4_HELPER" -u "$MNT" ;;
	*) umount "$MNT" ;;
	esac
	t1=$(now)
	rec "$sys" umount "$(ms "$t0" "$t1")"
	if [[ -n $SRV_PID ]]; then
		# The image is only free once the server has closed it.
		wait_pid_gone "$SRV_PID" 60 || die "$sys server $SRV_PID still runs 60 s after the unmount"
		[[ $sys == service ]] || wait "$SRV_PID" 2>/dev/null || log "$sys server exited non-zero"
		SRV_PID=
	fi
	if [[ -n $STRACE_PID ]]; then
		wait "$STRACE_PID" 2>/dev/null || true
		STRACE_PID=
	fi
}
# A cold start: unmount, drop every cache (the image's pages on the host included), mount.
remount_cold() {
	if [[ $1 == floor ]]; then
		# The floor's tree (names, sizes) lives in its process, which a remount would end.
		# Dropping the kernel's caches forgets every dentry, inode and page of the mount just
		# the same: the next lstat()s send the LOOKUPs, and the next reads the READs, that
		# they send after a remount (counted with -d: the same requests as fuse4fs's), which
		# is what cold means to a FUSE server.  The statfs lets the server take the FORGETs
		# first.
		drop_caches
		as_user stat -f "$MNT" >/dev/null
		return 0
	fi
	sys_umount "$1"
	drop_caches
	sys_mount "$1" "$2"
}

bench_teardown() {
	f4_umount_if_mounted "$MNT" || true
	[[ -n $SRV_PID ]] && f4_kill_pid "$SRV_PID"
	[[ -n $KLOOP ]] && f4_detach_if_ours "$KLOOP" "$CUR_IMG"
	return 0
}
f4_detach_if_ours() { # the loop device, only while it still holds our image
	local back
	back=$(losetup -n -O BACK-FILE "$1" 2>/dev/null) || return 0
	[[ $back == "$2" ]] && losetup -d "$1"
	return 0
}

# fio_job SYS NAME RW DIRECT QD: one random 4 KiB job on a cold mount, IOPS or n/a.
fio_job() {
	local sys=$1 name=$2 rw=$3 direct=$4 qd=$5 out iops
	out=$F4_WORK/fio-$sys-$name.json
	if as_user fio --name="$name" --filename="$MNT/fio.dat" --size="${FIO_MIB}M" --rw="$rw" \
		--bs=4k --ioengine=libaio --iodepth="$qd" --direct="$direct" --time_based \
		--runtime="$FIO_SECS" --randrepeat=1 --norandommap --output-format=json \
		>"$out" 2>"$out.err"; then
		iops=$("$F4_PYTHON" -c 'import json,sys; j=json.load(open(sys.argv[1]))["jobs"][0]
print("%.1f" % (j["read"]["iops"] + j["write"]["iops"]))' "$out")
		rec "$sys" "$name" "$iops"
	else
		rec "$sys" "$name" "n/a: fio: $(grep -m1 -v '^$' "$out.err" | tr '\t' ' ' | cut -c1-120)"
	fi
}

# ---- one session: a fresh image, one workload, on one system ------------------------------
session_begin() {
	local sys=$1 img=$F4_WORK/$1.img
	CUR_IMG=$img
	local features=()
	if [[ $sys == floor ]]; then
		drop_caches
		sys_mount floor ""
		return 0
	fi
	# fuse2fs 1.47 refuses to mount a journalled filesystem read-write ("Writing to the journal
	# is not supported"): it gets the same image without a journal, and so writes less.
	[[ $sys == fuse2fs ]] && features=(-O ^has_journal)
	rm -f "$img"
	mkfs.ext4 -q -F -b 4096 -I 256 -L bench -E "root_owner=$F4_TEST_UID:$F4_TEST_GID" \
		"${features[@]}" "$img" "$IMG_SIZE" >/dev/null
	# The helper opens the image as the test user (read-write).
	chown "$F4_TEST_UID:$F4_TEST_GID" "$img"
	if [[ $sys == kernel ]]; then
		KLOOP=$(losetup -f --show "$img") || die "no free loop device ('losetup -a' shows who holds them)"
	fi
	drop_caches
	sys_mount "$sys" "$img"
}

session_end() {
	local sys=$1 img=$F4_WORK/$1.img
	sys_umount "$sys"
	# One sample per session; table.py keeps the highest of a repetition.
	[[ $sys == kernel ]] || rec "$sys" rss "$(awk -v k="$PEAK_KIB" 'BEGIN { print k / 1024 }')"
	PEAK_KIB=0
	if [[ -n $KLOOP ]]; then
		f4_detach_if_ours "$KLOOP" "$img"
		KLOOP=
	fi
	[[ $sys == floor ]] && return 0 # no image
	# Every run leaves a clean filesystem, or the numbers are not worth reading.
	e2fsck -fn "$img" >"$F4_WORK/fsck-$sys.txt" 2>&1 ||
		{ head -n 20 "$F4_WORK/fsck-$sys.txt" >&2; log "e2fsck found problems after $sys (above)"; }
	rm -f "$img"
}
PEAK_KIB=0

# The workloads; each runs on a mounted fresh image and leaves it mounted.
w_mount() { # warm remounts: what a user waits for when the image is in the page cache
	local i
	for ((i = 0; i < MOUNTS; i++)); do
		sys_umount "$1"
		sys_mount "$1" "$CUR_IMG"
	done
}

w_seq() {
	local sys=$1 img=$CUR_IMG secs
	secs=$(timed_sh "dd if=/dev/zero of='$MNT/seq.dat' bs=1M count=$SEQ_MIB conv=fsync status=none")
	rec_rate "$sys" seqwrite "$(awk -v m="$SEQ_MIB" 'BEGIN { print m * 1.048576 }')" "$secs"
	remount_cold "$sys" "$img"
	secs=$(timed_sh "dd if='$MNT/seq.dat' of=/dev/null bs=1M status=none")
	rec_rate "$sys" seqread "$(awk -v m="$SEQ_MIB" 'BEGIN { print m * 1.048576 }')" "$secs"
	ush "rm -f '$MNT/seq.dat'"
}

w_fio() {
	local sys=$1 img=$CUR_IMG mode rw qd direct
	# A fully allocated file, laid out once; each job starts on a cold mount.
	ush "dd if=/dev/zero of='$MNT/fio.dat' bs=1M count=$FIO_MIB conv=fsync status=none"
	for mode in buf direct; do
		direct=0
		[[ $mode == direct ]] && direct=1
		for rw in randread randwrite; do
			for qd in 1 16; do
				remount_cold "$sys" "$img"
				fio_job "$sys" "fio-$mode-$rw-qd$qd" "$rw" "$direct" "$qd"
			done
		done
	done
	ush "rm -f '$MNT/fio.dat'"
}

w_files() {
	local sys=$1 img=$CUR_IMG op secs
	ush "mkdir '$MNT/files'"
	secs=$(as_user "$F4_PYTHON" "$BENCH_DIR/fsops.py" statfs "$MNT/files" "$NFILES" "$NDIRS")
	rec "$sys" statfs "$(awk -v n="$NFILES" -v s="$secs" 'BEGIN { print s / n * 1000000 }')"
	secs=$(as_user "$F4_PYTHON" "$BENCH_DIR/fsops.py" create "$MNT/files" "$NFILES" "$NDIRS")
	rec "$sys" create "$(awk -v n="$NFILES" -v s="$secs" 'BEGIN { print n / s }')"
	remount_cold "$sys" "$img"
	secs=$(as_user "$F4_PYTHON" "$BENCH_DIR/fsops.py" stat "$MNT/files" "$NFILES" "$NDIRS")
	rec "$sys" stat-cold "$(awk -v n="$NFILES" -v s="$secs" 'BEGIN { print n / s }')"
	for op in stat rename unlink; do
		secs=$(as_user "$F4_PYTHON" "$BENCH_DIR/fsops.py" "$op" "$MNT/files" "$NFILES" "$NDIRS")
		[[ $op == stat ]] && op=stat-warm
		rec "$sys" "$op" "$(awk -v n="$NFILES" -v s="$secs" 'BEGIN { print n / s }')"
	done
	ush "rmdir '$MNT/files'"
}

w_untar() {
	local sys=$1 img=$CUR_IMG
	ush "mkdir '$MNT/src'"
	# syncfs: the kernel's ext4 would otherwise be timed on its page cache alone.
	rec "$sys" untar "$(timed_sh "tar -xf '$F4_WORK/src.tar' -C '$MNT/src' && sync -f '$MNT'")"
	remount_cold "$sys" "$img"
	rec "$sys" findcat "$(timed_sh "cd '$MNT/src' && find . -type f -print0 | xargs -0 cat >/dev/null")"
	rec "$sys" rmrf "$(timed_sh "rm -rf '$MNT/src' && sync -f '$MNT'")"
}

# ---- the run ------------------------------------------------------------------------------
# Interleaved per workload, not per system: every system runs a workload within a minute or
# two of the others, so a burst of load from other users of the machine hits them alike, and
# table.py compares each system to the kernel within the same repetition.
START=$(now)
RUN=()
for w in "${WORKLOADS[@]}"; do want "$w" && RUN+=("$w"); done
for ((REP = 1; REP <= REPS; REP++)); do
	for ((wi = 0; wi < ${#RUN[@]}; wi++)); do
		w=${RUN[wi]}
		# Rotate the order: no system always runs first or last.
		for ((i = 0; i < ${#SYS[@]}; i++)); do
			s=${SYS[(i + REP - 1 + wi) % ${#SYS[@]}]}
			step "repetition $REP/$REPS: $w on $s"
			t0=$(now)
			session_begin "$s"
			"w_$w" "$s"
			session_end "$s"
			log "$w on $s: $((($(now) - t0) / 1000000000)) s"
		done
	done
done

step "results after $((($(now) - START) / 1000000000)) s (raw samples: ${OUT:-$RES})"
{
	echo "fuse4fs $(git -C "$F4_SRC_DIR" describe --always --dirty 2>/dev/null || echo '?'), kernel $(uname -r)," \
		"$(nproc) CPUs, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)," \
		"image $IMG_SIZE ext4 4 KiB blocks in a file on $(df --output=source "$F4_WORK" | tail -n 1)," \
		"seq ${SEQ_MIB} MiB, fio ${FIO_MIB} MiB file for ${FIO_SECS} s, $NFILES files in $NDIRS dirs," \
		"untar $(($(stat -c %s "$F4_WORK/src.tar") / 1000000)) MB${DIRECT_OPTS:+, direct mode with -o ${DIRECT_OPTS#,}}"
	echo
	"$F4_PYTHON" "$BENCH_DIR/table.py" "$RES" "$SYSTEMS"
} | tee "$F4_WORK/table.md"
if [[ -n ${F4_CT:-} ]]; then
	# Where the service's mount time goes: socket accept, unit start, open, serve.
	ct journalctl --no-pager -o short-iso-precise 2>&1 | grep fuse4fs >"$F4_WORK/journal.txt" || true
fi
if [[ -n $OUT ]]; then
	[[ -s $F4_WORK/journal.txt ]] && cp "$F4_WORK/journal.txt" "${OUT%.tsv}.journal"
	cp "$RES" "$OUT"
	if ((STRACE)); then cp "$F4_WORK"/strace-*.txt "$(dirname "$OUT")/" 2>/dev/null || true; fi
	cp "$F4_WORK/table.md" "${OUT%.tsv}.md"
fi
