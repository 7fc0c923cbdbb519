# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck shell=bash
# What the sandbox tests share beyond check_sandbox (common.sh): the self-test probes and what
# each must do, and the state a killed server must leave behind (docs/sandbox.md).
#
#   F4_ERRNO_PROBES / F4_KILL_PROBES   calls that must fail with EPERM / that the filter kills for
#   f4_enotconn MNT                    the mount answers its user ENOTCONN (or ECONNABORTED)
#   f4_dead_mount_checks LABEL MNT HELPER LIVE_FILE REF_FILE
#                                      ENOTCONN, its user removes it with HELPER -u, and another
#                                      mount (LIVE_FILE, compared with REF_FILE) is still served
#   f4_wait_log FILE PATTERN [SECONDS] until a line of FILE matches (grep -E)

# shellcheck source=tests/lib/common.sh
[[ -n ${F4_LIB_DIR:-} ]] || source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

# shellcheck disable=SC2034  # used by the scripts that source this file
F4_ERRNO_PROBES=(open socket-unix fork mmap-exec)
# shellcheck disable=SC2034
F4_KILL_PROBES=(socket-inet mount ptrace execve)

# shellcheck disable=SC2317  # called through check
f4_enotconn() {
	local out
	# Listing needs a request (stat could be answered from the kernel's attribute cache).
	out=$(as_user ls "$1" 2>&1) && { printf '  ls %s worked: %s\n' "$1" "$out" >&2; return 1; }
	# ECONNABORTED for a request that was in flight when the server died.
	grep -qE 'Transport endpoint is not connected|Software caused connection abort' <<<"$out" &&
		return 0
	printf '  ls %s: %s\n' "$1" "$out" >&2
	return 1
}

f4_dead_mount_checks() {
	local label=$1 mnt=$2 helper=$3 live=$4 ref=$5 rc=0 out
	check "[$label] the mount answers ENOTCONN (or ECONNABORTED)" f4_enotconn "$mnt"
	out=$(as_user "$helper" -u "$mnt" 2>&1) || rc=$?
	if ((rc != 0)); then
		printf '%s\n' "$out" >&2
		fail "[$label] fuservicemount -u on the dead mount exited $rc"
	else
		pass "[$label] its user unmounted it with fuservicemount -u"
	fi
	check "[$label] nothing mounted at $mnt any more" eval "! is_mounted '$mnt'"
	check "[$label] the other mount is still served" as_user cmp -s "$live" "$ref"
}

f4_wait_log() {
	local t=$((${3:-5} * 10))
	while ((t-- > 0)); do
		grep -qE "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}
