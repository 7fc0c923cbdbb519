# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck shell=bash
# Builds the test trees and ext4 images from them with `mkfs.ext4 -d`.
#
#   mktree DIR [small]   source tree with every inode type the server must present; "small"
#                        leaves out the 10,000-entry directory and the 4 GiB sparse file (demo)
#   mkimage TREE IMG [BLOCKSIZE [SIZE]]   ext4 image of TREE (default 4096-byte blocks)
#
# Known content matters more than random content: the multi-MiB file is a keyed stream whose
# every 4 KiB block differs, so a block served from the wrong offset changes the hash.

# shellcheck source=tests/lib/common.sh
[[ -n ${F4_LIB_DIR:-} ]] || source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

# Fixed ids, not the test user's: permission checks then go through the "other" bits and ACLs
# the same way on the kernel mount and the FUSE mount.
F4_TREE_UID=1234
F4_TREE_GID=5678

f4_pattern() { # f4_pattern FILE BYTES SEED: deterministic content
	"$F4_PYTHON" - "$1" "$2" "$3" <<'EOF'
import hashlib, sys
path, size, seed = sys.argv[1], int(sys.argv[2]), sys.argv[3].encode()
with open(path, "wb") as f:
    block = 0
    while size > 0:
        # 4 KiB per block index: 128 digests of (seed, block, i)
        chunk = b"".join(hashlib.sha256(seed + b"%d:%d" % (block, i)).digest() for i in range(128))
        f.write(chunk[:size])
        size -= len(chunk)
        block += 1
EOF
}

mktree() {
	local t=$1 mode=${2:-full} i d
	mkdir -p "$t"
	chmod 0755 "$t"

	# Regular files: empty, tiny, block boundaries, a few MiB.
	mkdir "$t/files"
	: >"$t/files/empty"
	printf 'hello from fuse4fs\n' >"$t/files/hello.txt"
	f4_pattern "$t/files/one-byte" 1 a
	f4_pattern "$t/files/4095" 4095 b
	f4_pattern "$t/files/4096" 4096 c
	f4_pattern "$t/files/4097" 4097 d
	f4_pattern "$t/files/1MiB+1" $((1024 * 1024 + 1)) e
	f4_pattern "$t/files/big-9MiB" $((9 * 1024 * 1024 + 123)) f

	# Sparse: holes at the start, in the middle and at the end.
	mkdir "$t/sparse"
	truncate -s 1M "$t/sparse/hole-then-data"
	printf 'data after a 1 MiB hole\n' >>"$t/sparse/hole-then-data"
	f4_pattern "$t/sparse/data-hole-data" 8192 g
	truncate -s 3M "$t/sparse/data-hole-data"
	printf 'tail\n' >>"$t/sparse/data-hole-data"
	if [[ $mode == full ]]; then
		# Apparent size over 4 GiB: offsets beyond 32 bits.
		printf 'head\n' >"$t/sparse/over-4GiB"
		truncate -s $((4 * 1024 * 1024 * 1024 + 4096 * 3)) "$t/sparse/over-4GiB"
		printf 'after four gibibytes\n' >>"$t/sparse/over-4GiB"
	fi
	truncate -s 100000 "$t/sparse/all-hole"

	# Directories: deep, wide, odd names.
	d=$t/deep
	for ((i = 1; i <= 30; i++)); do d=$d/level-$i; done
	mkdir -p "$d"
	printf 'thirty levels down\n' >"$d/bottom.txt"
	if [[ $mode == full ]]; then
		mkdir "$t/wide"
		# 10,000 entries: an htree directory several blocks deep.
		(cd "$t/wide" && seq -f 'entry-%05g' 1 10000 | xargs touch)
		printf 'last\n' >"$t/wide/entry-10000"
	fi
	mkdir "$t/names"
	: >"$t/names/$(printf 'n%.0s' {1..255})"
	printf 'grüße\n' >"$t/names/grüße-ünïcödé.txt"
	printf 'cjk\n' >"$t/names/日本語のファイル"
	printf 'emoji\n' >"$t/names/🙂 with spaces"
	: >"$t/names/.hidden"
	: >"$t/names/-dash"
	: >"$t/names/a\\backslash"
	: >"$t/names/new
line"
	mkdir "$t/empty-dir"

	# Links.
	mkdir "$t/links"
	printf 'linked twice\n' >"$t/links/target"
	ln "$t/links/target" "$t/links/hardlink"
	ln "$t/links/target" "$t/files/hardlink-elsewhere"
	ln -s target "$t/links/fast-symlink"
	ln -s "../$(printf 'x%.0s' {1..40})/../../links/$(printf 'y%.0s' {1..60})/target" \
		"$t/links/long-symlink"
	ln -s nowhere "$t/links/dangling"
	ln -s ../deep/level-1 "$t/links/dir-symlink"
	# A 1000-byte target: several hundred bytes past the inode, still within one 1 KiB block.
	ln -s "$(printf 'z%.0s' {1..1000})" "$t/links/very-long-symlink"

	# Special files (mkfs.ext4 -d copies fifos, sockets and device nodes).
	mkdir "$t/special"
	mkfifo "$t/special/fifo"
	mknod "$t/special/null-char" c 1 3
	mknod "$t/special/loop-block" b 7 200
	mknod "$t/special/big-major" c 300 70000
	"$F4_PYTHON" -c 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' \
		"$t/special/socket"

	# Extended attributes and ACLs.
	mkdir "$t/xattr"
	printf 'with xattrs\n' >"$t/xattr/file"
	setfattr -n user.comment -v "a short value" "$t/xattr/file"
	setfattr -n user.empty "$t/xattr/file"
	setfattr -n user.binary -v 0x00ff10fe "$t/xattr/file"
	setfattr -n user.big -v "$(printf 'v%.0s' {1..800})" "$t/xattr/file"
	mkdir "$t/xattr/dir"
	setfattr -n user.on-a-dir -v yes "$t/xattr/dir"
	printf 'acl\n' >"$t/xattr/acl-file"
	setfacl -m u:4242:rw,g:4343:r "$t/xattr/acl-file"
	mkdir "$t/xattr/acl-dir"
	setfacl -m u:4242:rwx -d -m u:4242:rx "$t/xattr/acl-dir"

	# Modes and owners.
	mkdir "$t/modes"
	printf 'setuid\n' >"$t/modes/setuid"
	chmod 4755 "$t/modes/setuid"
	printf 'setgid\n' >"$t/modes/setgid"
	chmod 2755 "$t/modes/setgid"
	mkdir "$t/modes/sticky-dir"
	chmod 1777 "$t/modes/sticky-dir"
	printf 'secret\n' >"$t/modes/secret"
	chmod 0600 "$t/modes/secret"
	mkdir "$t/modes/private-dir"
	printf 'inside\n' >"$t/modes/private-dir/inside"
	chmod 0700 "$t/modes/private-dir"
	printf 'no perms\n' >"$t/modes/zero"
	chmod 0000 "$t/modes/zero"
	printf 'exec\n' >"$t/modes/exec"
	chmod 0711 "$t/modes/exec"
	chown -R "$F4_TREE_UID:$F4_TREE_GID" "$t/modes" "$t/files"
	chown 0:"$F4_TREE_GID" "$t/modes/setgid"
	chown -h 4321:8765 "$t/links/fast-symlink"
	chown 65534:65534 "$t/names/.hidden"

	# Timestamps: fixed and distinct, with nanoseconds, before and after 2038.
	touch -h -d '2001-02-03 04:05:06.123456789 UTC' "$t/files/hello.txt"
	touch -h -a -d '2040-01-01 00:00:00.5 UTC' "$t/files/hello.txt"
	touch -h -d '1969-07-20 20:17:40 UTC' "$t/files/4095"
	touch -h -d '2037-12-31 23:59:59.999999999 UTC' "$t/files/4096"
	touch -h -d '2009-02-13 23:31:30 UTC' "$t/links/fast-symlink"
}

mkimage() { # mkimage TREE IMG [BLOCKSIZE [SIZE]]
	local tree=$1 img=$2 bs=${3:-4096} size=${4:-128M}
	rm -f "$img"
	# -N: the wide directory alone needs 10,000 inodes; the default ratio gives far fewer.
	# -E root_owner: keep the root directory as the tree has it, not the caller's.
	mkfs.ext4 -q -F -b "$bs" -N 16384 -L fuse4fs-test -U 0b2c3d4e-5f60-4718-8293-a4b5c6d7e8f9 \
		-E root_owner=0:0 -d "$tree" "$img" "$size" >/dev/null
	# mkfs.ext4 -d stores 32-bit seconds only: give lost+found (which the source tree lacks, so
	# the source comparison skips it) times past 2038 and 2106 to exercise the extra epoch bits.
	debugfs -w -R "sif /lost+found mtime 21001231235959" "$img" >/dev/null 2>&1
	debugfs -w -R "sif /lost+found atime @4294967400" "$img" >/dev/null 2>&1
	# The image must be valid before anything else is judged by it.
	e2fsck -fn "$img" >/dev/null 2>&1 || die "mkfs.ext4 -d produced an image that e2fsck rejects: $img"
}
