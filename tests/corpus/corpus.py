#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Hostile-image corpus: generate damaged ext2/3/4 images and walk each one.

    corpus.py run --walk EXT4-WALK --dir DIR [--seed N] [--per-kind N] [--dirty IMG]
                  [--timeout S] [--mem-mb M] [--keep-failures DIR]
    corpus.py generate --dir DIR [--seed N] [--per-kind N] [--dirty IMG]

Small fresh filesystems are made with mkfs.ext4 -d from a tree that has every structure worth
damaging (regular, sparse and multi-extent files, an htree directory, in-inode and block xattrs,
fast and slow symlinks, inline data, block maps, a journal), their metadata is located with
debugfs, and each corruption kind damages one structure on purpose, deterministically from
the seed. --dirty adds an image whose journal needs recovery (made by the kernel, see
tests/integration/test-corpus.sh) for the journal corruptions.

`run` walks every image with ext4-walk (tests/fuzz/fuzz-ext4-walk.c: svc_fs_open and the ext4
modules the FUSE handlers use) in its own process, under a timeout and an address-space limit,
one image at a time (images are deleted once walked unless they fail). The outcome must be
"refused: ..." or "walked: ..."; a crash, a timeout, a sanitizer report or anything else is a
failure. Prints the counts and exits 1 on any failure.
"""

import argparse
import os
import random
import re
import resource
import shutil
import struct
import subprocess
import sys
import tempfile

BLOCKSIZE_SMALL = 1024

# ---- base images -----------------------------------------------------------------------------


def write_tree(root, rng):
    """The source tree: small enough to be quick, with every structure the kinds damage."""
    os.makedirs(root)
    with open(os.path.join(root, "small.txt"), "w") as f:
        f.write("hello\n")
    with open(os.path.join(root, "big"), "wb") as f:
        f.write(bytes(rng.randrange(256) for _ in range(4096)) * 40)
    # Data blocks separated by holes: one extent each, more than the inode's four, so the
    # extent tree gets an index level; with block maps, indirect blocks.
    with open(os.path.join(root, "sparse"), "wb") as f:
        for i in range(16):
            f.seek(i * 8192)
            f.write(bytes([i + 1]) * 1024)
    d = os.path.join(root, "dir")
    os.makedirs(d)
    for i in range(220):
        with open(os.path.join(d, "entry-with-a-longish-name-%04d" % i), "w") as f:
            f.write(str(i))
    os.makedirs(os.path.join(root, "sub/deep/nested"))
    with open(os.path.join(root, "sub/deep/nested/file"), "w") as f:
        f.write("nested\n")
    os.link(os.path.join(root, "small.txt"), os.path.join(root, "hardlink"))
    os.symlink("small.txt", os.path.join(root, "fastlink"))
    os.symlink("sub/deep/nested/" + "x" * 180 + "/../file", os.path.join(root, "slowlink"))
    x = os.path.join(root, "xattrs")
    with open(x, "w") as f:
        f.write("xattrs\n")
    try:
        os.setxattr(x, "user.small", b"v")
        os.setxattr(x, "user.medium", b"m" * 60)
        os.setxattr(x, "user.big", b"B" * 700)
    except OSError:
        pass  # a scratch filesystem without user xattrs: the kinds that need them skip


# name, block size, size, mkfs -O features, extra mkfs args, index directories afterwards
BASES = [
    ("ext4-4k", 4096, "4M", "^metadata_csum,^uninit_bg,^has_journal", [], True),
    ("ext4-1k", 1024, "2M", "^metadata_csum,^uninit_bg,^has_journal", [], True),
    ("inline-1k", 1024, "2M", "inline_data,^metadata_csum,^uninit_bg,^has_journal", ["-I", "256"], True),
    ("blockmap-1k", 1024, "2M", "^extent,^flex_bg,^metadata_csum,^uninit_bg,^has_journal,^64bit", [], True),
    ("csum-4k", 4096, "4M", "^has_journal", [], True),
    ("journal-1k", 1024, "3M", "^metadata_csum,^uninit_bg", ["-J", "size=1"], False),
]


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, **kw)


def debugfs(img, cmds):
    """Runs debugfs commands on img; returns the output of each, in order."""
    out = []
    for c in cmds:
        r = subprocess.run(["debugfs", "-R", c, img], stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, text=True)
        out.append(r.stdout)
    return out


class Base:
    def __init__(self, name, path, bs):
        self.name, self.path, self.bs = name, path, bs
        self.data = open(path, "rb").read()
        sb = self.data[1024:2048]
        self.inodes_count, = struct.unpack_from("<I", sb, 0)
        self.first_data_block, = struct.unpack_from("<I", sb, 20)
        self.inode_size, = struct.unpack_from("<H", sb, 88)
        self.incompat, = struct.unpack_from("<I", sb, 96)
        self.desc_size = struct.unpack_from("<H", sb, 254)[0] if self.incompat & 0x80 else 32
        if self.desc_size < 32:
            self.desc_size = 32
        self.gdt = (self.first_data_block + 1) * bs
        self.paths = {}
        self.inode_loc = {}
        self.blocks = {}
        self.meta_blocks = {}
        self.file_acl = {}
        names = ["/", "/small.txt", "/big", "/sparse", "/dir", "/sub/deep/nested/file",
                 "/fastlink", "/slowlink", "/xattrs", "/sub"]
        outs = debugfs(path, ["stat %s" % n for n in names])
        for n, o in zip(names, outs):
            m = re.search(r"Inode: (\d+)", o)
            if not m:
                continue
            ino = int(m.group(1))
            self.paths[n] = ino
            m = re.search(r"File ACL: (\d+)", o)
            self.file_acl[n] = int(m.group(1)) if m else 0
            self.meta_blocks[n] = [int(b) for b in re.findall(r"\((?:ETB\d+|IND|DIND|TIND)\):(\d+)", o)]
        for n, o in zip(self.paths, debugfs(path, ["imap <%d>" % i for i in self.paths.values()])):
            m = re.search(r"located at block (\d+), offset 0x([0-9a-f]+)", o)
            if m:
                self.inode_loc[n] = int(m.group(1)) * bs + int(m.group(2), 16)
        for n, o in zip(self.paths, debugfs(path, ["blocks <%d>" % i for i in self.paths.values()])):
            self.blocks[n] = [int(b) for b in o.split()]
        o = debugfs(path, ["blocks <8>"])[0]
        self.journal = [int(b) for b in o.split()]


def make_bases(work, rng, dirty):
    tree = os.path.join(work, "tree")
    write_tree(tree, rng)
    bases = []
    for name, bs, size, feats, extra, index in BASES:
        img = os.path.join(work, name + ".base")
        run(["mkfs.ext4", "-q", "-F", "-b", str(bs), "-O", feats, "-E", "root_owner=0:0",
             "-N", "512", "-d", tree] + extra + [img, size])
        if index:
            # e2fsck -D builds htree indexes for the big directory.
            subprocess.run(["e2fsck", "-fyD", img], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
        bases.append(Base(name, img, bs))
    for i, d in enumerate(dirty):
        bs = 1 << (10 + struct.unpack_from("<I", open(d, "rb").read(2048), 1024 + 24)[0])
        bases.append(Base("dirty%d" % i, d, bs))
    return bases


# ---- corruptions -----------------------------------------------------------------------------
# Each kind takes (base, image bytearray, rng) and returns a short description, or None when it
# does not apply to this base.

EDGE32 = [0, 1, 2, 0x7fffffff, 0x80000000, 0xffffffff, 0xfffffffe, 0x10000, 12, 1 << 20]
EDGE16 = [0, 1, 0xffff, 0x7fff, 0x8000, 4, 12, 0xfff0]
EDGE8 = [0, 1, 0xff, 0x7f, 0x80, 2, 5, 0xfe]


def put(img, off, fmt, val):
    if 0 <= off and off + struct.calcsize(fmt) <= len(img):
        struct.pack_into(fmt, img, off, val)


def edge(rng, size, old=None):
    pool = {1: EDGE8, 2: EDGE16, 4: EDGE32}[size]
    v = rng.choice(pool)
    if old is not None and rng.random() < 0.3:
        v = (old + rng.choice([-1, 1, 2, -2, 7])) % (1 << (8 * size))
    if rng.random() < 0.2:
        v = rng.randrange(1 << (8 * size))
    return v


def field(img, off, size, rng):
    fmt = {1: "<B", 2: "<H", 4: "<I"}[size]
    old = struct.unpack_from(fmt, img, off)[0] if off + size <= len(img) else 0
    v = edge(rng, size, old)
    put(img, off, fmt, v)
    return v


SB_FIELDS = [(0, 4, "s_inodes_count"), (4, 4, "s_blocks_count"), (20, 4, "s_first_data_block"),
             (24, 4, "s_log_block_size"), (28, 4, "s_log_cluster_size"),
             (32, 4, "s_blocks_per_group"), (36, 4, "s_clusters_per_group"),
             (40, 4, "s_inodes_per_group"), (58, 2, "s_state"), (60, 2, "s_errors"),
             (76, 4, "s_rev_level"), (84, 4, "s_first_ino"), (88, 2, "s_inode_size"),
             (92, 4, "s_feature_compat"), (96, 4, "s_feature_incompat"),
             (100, 4, "s_feature_ro_compat"), (204, 1, "s_prealloc_dir_blocks"),
             (206, 2, "s_reserved_gdt_blocks"), (224, 4, "s_journal_inum"),
             (252, 1, "s_def_hash_version"), (254, 2, "s_desc_size"),
             (260, 4, "s_first_meta_bg"), (348, 2, "s_min_extra_isize"),
             (350, 2, "s_want_extra_isize"), (336, 4, "s_blocks_count_hi"),
             (372, 1, "s_log_groups_per_flex"), (0x175, 1, "s_checksum_type")]


def k_superblock(b, img, rng):
    off, size, name = rng.choice(SB_FIELDS)
    v = field(img, 1024 + off, size, rng)
    return "superblock %s=%#x" % (name, v)


GD_FIELDS = [(0, 4, "bg_block_bitmap"), (4, 4, "bg_inode_bitmap"), (8, 4, "bg_inode_table"),
             (12, 2, "bg_free_blocks_count"), (14, 2, "bg_free_inodes_count"),
             (16, 2, "bg_used_dirs_count"), (18, 2, "bg_flags"), (28, 2, "bg_itable_unused")]


def k_group_desc(b, img, rng):
    off, size, name = rng.choice(GD_FIELDS)
    group = rng.choice([0, 0, 1])
    v = field(img, b.gdt + group * b.desc_size + off, size, rng)
    return "group %d %s=%#x" % (group, name, v)


def k_bitmap(b, img, rng):
    gd = b.gdt
    which = rng.choice([0, 4])
    blk = struct.unpack_from("<I", img, gd + which)[0]
    if blk * b.bs >= len(img):
        return None
    for _ in range(rng.randrange(1, 16)):
        img[blk * b.bs + rng.randrange(b.bs)] = rng.randrange(256)
    return "%s bitmap of group 0 scribbled" % ("block" if which == 0 else "inode")


INODE_FIELDS = [(0, 2, "i_mode"), (4, 4, "i_size"), (108, 4, "i_size_high"),
                (26, 2, "i_links_count"), (28, 4, "i_blocks"), (32, 4, "i_flags"),
                (104, 4, "i_file_acl"), (128, 2, "i_extra_isize"), (40, 4, "i_block[0]"),
                (44, 4, "i_block[1]"), (52, 4, "i_block[3]"), (56, 4, "i_block[4]"),
                (88, 4, "i_block[12]"), (100, 4, "i_generation"), (116, 2, "i_blocks_hi")]


def pick_inode(b, rng, names=None):
    names = [n for n in (names or list(b.inode_loc)) if n in b.inode_loc]
    if not names:
        return None, None
    n = rng.choice(names)
    return n, b.inode_loc[n]


def k_inode(b, img, rng):
    n, off = pick_inode(b, rng)
    if off is None:
        return None
    fo, size, name = rng.choice(INODE_FIELDS)
    if fo >= b.inode_size:
        fo, size, name = 0, 2, "i_mode"
    if name == "i_flags" and rng.random() < 0.7:
        # Meaningful flag flips: extents, inline data, htree index, EA inode, huge file.
        flags = struct.unpack_from("<I", img, off + 32)[0]
        bit = rng.choice([0x80000, 0x10000000, 0x1000, 0x200000, 0x40000, 0x4000])
        put(img, off + 32, "<I", flags ^ bit)
        return "inode %s i_flags ^= %#x" % (n, bit)
    if name == "i_mode" and rng.random() < 0.6:
        mode = struct.unpack_from("<H", img, off)[0]
        t = rng.choice([0x1000, 0x2000, 0x4000, 0x6000, 0x8000, 0xA000, 0xC000, 0xF000, 0])
        put(img, off, "<H", (mode & 0o7777) | t)
        return "inode %s type %#o" % (n, t)
    v = field(img, off + fo, size, rng)
    return "inode %s %s=%#x" % (n, name, v)


def k_extent(b, img, rng):
    """Extent headers and entries, in the inode and in tree blocks; loops and depth lies."""
    cands = [n for n in ("/big", "/sparse", "/dir", "/") if n in b.inode_loc]
    n, off = pick_inode(b, rng, cands)
    if off is None:
        return None
    if struct.unpack_from("<H", img, off + 40)[0] != 0xF30A:
        return None  # block-mapped base
    where = off + 40
    trees = b.meta_blocks.get(n, [])
    if trees and rng.random() < 0.5:
        where = trees[0] * b.bs
    choice = rng.randrange(7)
    if choice == 0:
        put(img, where, "<H", rng.choice([0, 0xF30B, 0x0AF3]))
        return "extent header of %s: bad magic" % n
    if choice == 1:
        put(img, where + 2, "<H", rng.choice([5, 100, 0xffff]))  # entries > max
        return "extent header of %s: eh_entries over eh_max" % n
    if choice == 2:
        put(img, where + 6, "<H", rng.choice([0, 1, 2, 5, 32, 0xffff]))
        return "extent header of %s: eh_depth lies" % n
    if choice == 3:
        put(img, where + 4, "<H", rng.choice([0, 1, 0xffff]))
        return "extent header of %s: eh_max" % n
    if choice == 4 and trees:
        # The index points at the block that holds it: a cycle.
        put(img, off + 40 + 12 + 4, "<I", trees[0])
        blk = trees[0] * b.bs
        put(img, blk + 6, "<H", 1)
        put(img, blk + 2, "<H", 1)
        put(img, blk + 12 + 4, "<I", trees[0])
        put(img, blk + 12 + 8, "<H", 0)
        return "extent tree of %s: index node points at itself" % n
    # An entry: logical block, length, physical start.
    e = where + 12 + 12 * rng.randrange(2)
    what = rng.choice([(0, 4, "ee_block"), (4, 2, "ee_len"), (6, 2, "ee_start_hi"),
                       (8, 4, "ee_start_lo")])
    v = field(img, e + what[0], what[1], rng)
    return "extent entry of %s: %s=%#x" % (n, what[2], v)


def k_blockmap(b, img, rng):
    cands = [n for n in ("/big", "/sparse", "/dir", "/slowlink") if n in b.inode_loc]
    n, off = pick_inode(b, rng, cands)
    if off is None or struct.unpack_from("<H", img, off + 40)[0] == 0xF30A:
        return None
    ind = b.meta_blocks.get(n, [])
    choice = rng.randrange(4)
    if choice == 0 and ind:
        # The indirect block lists itself (and the same block many times).
        for i in range(0, b.bs // 4, rng.choice([1, 3, 17])):
            put(img, ind[0] * b.bs + 4 * i, "<I", ind[0])
        return "indirect block of %s points at itself" % n
    if choice == 1 and ind:
        for i in range(rng.randrange(1, 8)):
            put(img, ind[0] * b.bs + 4 * rng.randrange(b.bs // 4), "<I", edge(rng, 4))
        return "indirect block of %s: bad entries" % n
    slot = rng.choice([0, 5, 11, 12, 13, 14])
    v = field(img, off + 40 + 4 * slot, 4, rng)
    return "block map of %s: i_block[%d]=%#x" % (n, slot, v)


def dir_block(b, rng, name):
    blocks = b.blocks.get(name, [])
    if not blocks:
        return None
    return rng.choice(blocks) * b.bs


def k_dirent(b, img, rng):
    name = rng.choice(["/", "/dir", "/sub"])
    base = dir_block(b, rng, name)
    if base is None:
        return None
    # Walk to the k-th entry of the block (bounded), then damage it.
    pos, k = base, rng.randrange(6)
    for _ in range(k):
        rl = struct.unpack_from("<H", img, pos + 4)[0]
        if rl < 12 or pos + rl >= base + b.bs:
            break
        pos += rl
    what = rng.randrange(6)
    if what == 0:
        v = rng.choice([0, 1, 4, 8, 13, b.bs, b.bs + 4, 0xfffc])
        put(img, pos + 4, "<H", v)
        return "dirent in %s: rec_len=%d" % (name, v)
    if what == 1:
        v = rng.choice([0, 255, 200, 13])
        put(img, pos + 6, "<B", v)
        return "dirent in %s: name_len=%d" % (name, v)
    if what == 2:
        v = rng.choice([0, 1, 7, 8, b.inodes_count, b.inodes_count + 1, 0xffffffff, 11])
        put(img, pos, "<I", v)
        return "dirent in %s: inode=%d" % (name, v)
    if what == 3:
        put(img, pos + 7, "<B", rng.choice([0, 2, 7, 8, 0xde]))
        return "dirent in %s: file type" % name
    if what == 4:
        img[pos + 8:pos + 8 + 4] = rng.choice([b"/\0..", b"..\0\0", b"\0\0\0\0", b"../x"])
        return "dirent in %s: name with '/' or NUL" % name
    for _ in range(rng.randrange(1, 32)):
        img[base + rng.randrange(b.bs)] = rng.randrange(256)
    return "directory block of %s scribbled" % name


def k_htree(b, img, rng):
    blocks = b.blocks.get("/dir", [])
    n, off = pick_inode(b, rng, ["/dir"])
    if not blocks or off is None:
        return None
    if not struct.unpack_from("<I", img, off + 32)[0] & 0x1000:
        return None  # not indexed in this base
    root = blocks[0] * b.bs
    # dx_root: '.' (12) and '..' (rec_len to the end) entries, then dx_root_info at 24:
    # reserved(4) hash_version(1) info_length(1) indirect_levels(1) unused_flags(1),
    # then limit(2) count(2) block(4) and the entries (hash 4, block 4).
    what = rng.randrange(8)
    if what == 0:
        v = rng.choice([1, 2, 3, 8, 0xff])
        put(img, root + 24 + 6, "<B", v)
        return "htree root: indirect_levels=%d" % v
    if what == 1:
        v = rng.choice([0, 1, 0xffff, 500])
        put(img, root + 32 + 2, "<H", v)
        return "htree root: count=%d" % v
    if what == 2:
        v = rng.choice([0, 1, 0xffff, 3])
        put(img, root + 32, "<H", v)
        return "htree root: limit=%d" % v
    if what == 3:
        v = rng.choice([0, 4, 6, 0xff])
        put(img, root + 24 + 4, "<B", v)
        return "htree root: hash_version=%d" % v
    if what == 4:
        v = rng.choice([0, 7, 9, 0xff])
        put(img, root + 24 + 5, "<B", v)
        return "htree root: info_length=%d" % v
    if what == 5:
        # A leaf pointer back to the root block, or far outside the directory.
        v = rng.choice([0, len(blocks), 0xffff, 0x7fffffff])
        put(img, root + 32 + 4 + 8 * rng.randrange(2), "<I", v)
        return "htree root: block pointer=%#x" % v
    if what == 6:
        # Hashes out of order.
        put(img, root + 32 + 8, "<I", 0xffffffff)
        return "htree root: hashes out of order"
    for _ in range(rng.randrange(1, 16)):
        img[root + 24 + rng.randrange(b.bs - 24)] = rng.randrange(256)
    return "htree root scribbled"


def k_inline(b, img, rng):
    if not b.incompat & 0x8000:
        return None
    n, off = pick_inode(b, rng, ["/small.txt", "/sub", "/sub/deep/nested/file", "/"])
    if off is None:
        return None
    what = rng.randrange(4)
    if what == 0:
        put(img, off + 4, "<I", rng.choice([0, 59, 61, 200, 4096, 0xffffffff]))
        return "inline %s: i_size" % n
    if what == 1:
        for _ in range(rng.randrange(1, 12)):
            img[off + 40 + rng.randrange(60)] = rng.randrange(256)
        return "inline %s: i_block scribbled" % n
    # The system.data xattr in the inode body, after i_extra_isize.
    extra = struct.unpack_from("<H", img, off + 128)[0]
    body = off + 128 + extra
    if what == 2:
        put(img, body + 4 + 8, "<I", rng.choice([0xffff, 100, 0x7fffffff]))  # e_value_size
        return "inline %s: system.data value size" % n
    for _ in range(rng.randrange(1, 8)):
        p = body + rng.randrange(max(1, b.inode_size - 128 - extra))
        if p < off + b.inode_size:
            img[p] = rng.randrange(256)
    return "inline %s: in-inode xattr area scribbled" % n


def k_xattr(b, img, rng):
    n, off = pick_inode(b, rng, ["/xattrs"])
    if off is None:
        return None
    blk = b.file_acl.get("/xattrs", 0)
    if blk and rng.random() < 0.6:
        base = blk * b.bs
        what = rng.randrange(6)
        if what == 0:
            put(img, base, "<I", rng.choice([0, 0xEA020001, 0x12345678]))
            return "xattr block: magic"
        if what == 1:
            put(img, base + 8, "<I", rng.choice([0, 2, 0xffffffff]))
            return "xattr block: h_blocks"
        e = base + 32
        if what == 2:
            put(img, e + 2, "<H", rng.choice([0, b.bs, 0xfffc, b.bs - 4]))  # e_value_offs
            return "xattr block: e_value_offs"
        if what == 3:
            put(img, e + 8, "<I", rng.choice([0xffffffff, b.bs, 0x10000]))  # e_value_size
            return "xattr block: e_value_size"
        if what == 4:
            put(img, e, "<B", rng.choice([0, 255, 200]))  # e_name_len
            return "xattr block: e_name_len"
        for _ in range(rng.randrange(1, 24)):
            img[base + rng.randrange(b.bs)] = rng.randrange(256)
        return "xattr block scribbled"
    if blk and rng.random() < 0.3:
        put(img, off + 104, "<I", rng.choice([1, 0xffffffff, b.blocks.get("/dir", [0])[0]]))
        return "i_file_acl points elsewhere"
    extra = struct.unpack_from("<H", img, off + 128)[0]
    body = off + 128 + extra
    what = rng.randrange(4)
    if what == 0:
        put(img, body, "<I", rng.choice([0, 0xEA020001]))
        return "in-inode xattrs: magic"
    if what == 1:
        put(img, body + 4 + 2, "<H", rng.choice([0xffff, 0x200, 0]))
        return "in-inode xattrs: e_value_offs"
    if what == 2:
        put(img, off + 128, "<H", rng.choice([0, 2, 3, 160, 0xfffc]))
        return "in-inode xattrs: i_extra_isize"
    for _ in range(rng.randrange(1, 12)):
        p = body + rng.randrange(max(1, b.inode_size - 128 - extra))
        if p < off + b.inode_size:
            img[p] = rng.randrange(256)
    return "in-inode xattrs scribbled"


def k_symlink(b, img, rng):
    n, off = pick_inode(b, rng, ["/fastlink", "/slowlink"])
    if off is None:
        return None
    what = rng.randrange(4)
    if what == 0:
        v = rng.choice([0, 59, 60, 61, 4095, 4096, 65536, 0xffffffff])
        put(img, off + 4, "<I", v)
        return "symlink %s: i_size=%d" % (n, v)
    if what == 1:
        put(img, off + 28, "<I", rng.choice([0, 2, 8, 0xffff]))
        return "symlink %s: i_blocks" % n
    if what == 2:
        for i in range(60):
            img[off + 40 + i] = rng.choice([0, 0x2f, 0xff])
        return "symlink %s: i_block rewritten" % n
    blocks = b.blocks.get(n, [])
    if blocks:
        img[blocks[0] * b.bs:blocks[0] * b.bs + b.bs] = bytes([rng.choice([0, 0x41])]) * b.bs
        return "symlink %s: target block without NUL" % n
    return None


def jblock(b, i):
    return b.journal[i] * b.bs if i < len(b.journal) else None


def k_journal(b, img, rng):
    if not b.journal:
        return None
    sb = jblock(b, 0)
    # Ask for recovery so that the journal is read at all.
    incompat = struct.unpack_from("<I", img, 1024 + 96)[0]
    put(img, 1024 + 96, "<I", incompat | 0x4)
    what = rng.randrange(9)
    if what < 4:
        off, size, name = rng.choice([(12, 4, "s_blocksize"), (16, 4, "s_maxlen"),
                                      (20, 4, "s_first"), (24, 4, "s_sequence"),
                                      (28, 4, "s_start"), (36, 4, "s_feature_compat"),
                                      (40, 4, "s_feature_incompat"), (4, 4, "h_blocktype"),
                                      (80, 1, "s_checksum_type"), (84, 4, "s_num_fc_blks")])
        v = field(img, sb + off, size, rng)
        if name == "s_start" and rng.random() < 0.5:
            struct.pack_into(">I", img, sb + off, rng.randrange(1, 40))
        else:
            struct.pack_into(">I" if size == 4 else ">B", img, sb + off, v)
        return "journal superblock %s" % name
    # The log itself: the first blocks after the superblock hold the transactions. A clean
    # journal gets a start so that its (stale) blocks are scanned at all.
    if struct.unpack_from(">I", img, sb + 28)[0] == 0:
        struct.pack_into(">I", img, sb + 28, struct.unpack_from(">I", img, sb + 20)[0])
    i = rng.randrange(1, min(len(b.journal), 24))
    base = jblock(b, i)
    if what == 4:
        struct.pack_into(">I", img, base + 12 + 4 * rng.randrange(8), edge(rng, 4))
        return "journal block %d: a tag or count field" % i
    if what == 5:
        # A descriptor full of tags for huge and repeated block numbers.
        struct.pack_into(">III", img, base, 0xC03B3998, 1, struct.unpack_from(">I", img, sb + 24)[0])
        for t in range(12, b.bs - 16, 16):
            struct.pack_into(">IIII", img, base + t, rng.choice([0, 1, 0xffffffff, 5]),
                             rng.choice([0, 2, 8, 1]), rng.choice([0, 0xffffffff]), 0)
        return "journal block %d: forged descriptor" % i
    if what == 6:
        # A revoke block with a count beyond the block.
        struct.pack_into(">IIII", img, base, 0xC03B3998, 5,
                         struct.unpack_from(">I", img, sb + 24)[0], rng.choice([0, 15, 0xffffffff, b.bs + 4]))
        return "journal block %d: forged revoke block" % i
    if what == 7:
        struct.pack_into(">I", img, base + 4, rng.choice([0, 2, 3, 6, 0xffffffff]))
        return "journal block %d: block type" % i
    for _ in range(rng.randrange(1, 32)):
        img[base + rng.randrange(b.bs)] = rng.randrange(256)
    return "journal block %d scribbled" % i


def k_random_meta(b, img, rng):
    """Byte flips anywhere in the metadata: superblock, descriptors, inode table."""
    region = rng.choice(["sb", "gdt", "itable"])
    if region == "sb":
        lo, hi = 1024, 2048
    elif region == "gdt":
        lo, hi = b.gdt, b.gdt + b.bs
    else:
        lo = min(b.inode_loc.values())
        hi = lo + 32 * b.inode_size
    for _ in range(rng.randrange(1, 24)):
        img[rng.randrange(lo, hi)] ^= 1 << rng.randrange(8)
    return "bit flips in the %s" % region


KINDS = [("superblock", k_superblock), ("group-desc", k_group_desc), ("bitmap", k_bitmap),
         ("inode", k_inode), ("extent", k_extent), ("blockmap", k_blockmap),
         ("dirent", k_dirent), ("htree", k_htree), ("inline", k_inline), ("xattr", k_xattr),
         ("symlink", k_symlink), ("journal", k_journal), ("random", k_random_meta)]


def images(work, seed, per_kind, dirty):
    """Yields (name, path, description) for every generated image, written one at a time."""
    rng = random.Random(seed)
    bases = make_bases(work, rng, dirty)
    for b in bases:
        path = os.path.join(work, "%s-pristine.img" % b.name)
        open(path, "wb").write(b.data)
        yield "%s-pristine" % b.name, path, "undamaged"
    for kind, fn in KINDS:
        for b in bases:
            n = 0
            for attempt in range(per_kind * 3):
                if n >= per_kind:
                    break
                r = random.Random("%d-%s-%s-%d" % (seed, kind, b.name, attempt))
                img = bytearray(b.data)
                try:
                    what = fn(b, img, r)
                except (struct.error, IndexError, ValueError):
                    what = None
                if what is None:
                    continue
                # Some damage in twos: one structure's check may hide another's bug.
                if r.random() < 0.15:
                    k2 = r.choice(KINDS)[1]
                    try:
                        w2 = k2(b, img, r)
                    except (struct.error, IndexError, ValueError):
                        w2 = None
                    if w2:
                        what += "; " + w2
                n += 1
                name = "%s-%s-%d" % (b.name, kind, attempt)
                path = os.path.join(work, name + ".img")
                open(path, "wb").write(img)
                yield name, path, what


# ---- running ---------------------------------------------------------------------------------

SANITIZER = re.compile(r"ERROR: (Address|Leak|Memory|Undefined)Sanitizer|runtime error:")


def walk(walker, path, rw, timeout, mem_mb):
    def limits():
        if mem_mb:
            resource.setrlimit(resource.RLIMIT_AS, (mem_mb << 20, mem_mb << 20))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    cmd = [walker] + (["--rw"] if rw else []) + [path]
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           errors="replace", timeout=timeout, preexec_fn=limits)
    except subprocess.TimeoutExpired:
        return "hang", "timed out after %d s" % timeout
    out = p.stdout.strip().split(": ", 1)[-1] if p.stdout else ""
    if p.returncode != 0:
        return "crash", "exit %d: %s" % (p.returncode, p.stderr.strip()[-400:])
    if SANITIZER.search(p.stderr):
        return "sanitizer", p.stderr.strip()[-600:]
    if out.startswith("refused:"):
        return "refused", out
    if out.startswith("walked:"):
        return "walked", out
    return "other", "unexpected output %r" % p.stdout[-200:]


MOUNT_WALK = r"""
import os, sys
root, limit = sys.argv[1], 8 << 20
done = 0
for d, dirs, files in os.walk(root, onerror=lambda e: None):
    for n in dirs + files:
        p = os.path.join(d, n)
        try:
            st = os.lstat(p)
            for x in os.listxattr(p, follow_symlinks=False):
                try:
                    os.getxattr(p, x, follow_symlinks=False)
                except OSError:
                    pass
            if os.path.islink(p):
                os.readlink(p)
            elif os.path.isfile(p) and done < limit:
                with open(p, "rb") as f:
                    while done < limit:
                        b = f.read(1 << 16)
                        if not b:
                            break
                        done += len(b)
        except OSError:
            pass
"""


def fuse_conn_abort(mnt):
    """Ends a hung FUSE connection: its requests fail with ENOTCONN and the walker returns."""
    try:
        dev = os.stat(mnt).st_dev
    except OSError:
        return
    path = "/sys/fs/fuse/connections/%d/abort" % os.minor(dev)
    try:
        with open(path, "w") as f:
            f.write("1")
    except OSError:
        pass


def mount_walk(fuse4fs, img, mnt, timeout, mem_mb):
    """A real direct-mode mount (read-only) walked with find/stat/read/readlink/getxattr."""
    import time
    os.makedirs(mnt, exist_ok=True)

    def limits():
        if mem_mb:
            resource.setrlimit(resource.RLIMIT_AS, (mem_mb << 20, mem_mb << 20))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    srv = subprocess.Popen([fuse4fs, "-f", "-o", "ro", img, mnt], stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True, errors="replace",
                           preexec_fn=limits)
    mounted = False
    for _ in range(100):
        if srv.poll() is not None:
            break
        if any(line.split()[1] == mnt for line in open("/proc/self/mounts")):
            mounted = True
            break
        time.sleep(0.05)
    if not mounted:
        try:
            err = srv.communicate(timeout=10)[1]
        except subprocess.TimeoutExpired:
            srv.kill()
            return "hang", "server neither mounted nor exited"
        if srv.returncode == 1 and err.strip():
            return "refused", err.strip().splitlines()[-1]
        return "crash", "server exit %s before mounting: %s" % (srv.returncode, err[-300:])
    outcome, detail = "walked", ""
    try:
        subprocess.run([sys.executable, "-c", MOUNT_WALK, mnt], timeout=timeout,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        outcome, detail = "hang", "walk of the mount timed out after %d s" % timeout
        fuse_conn_abort(mnt)
    if srv.poll() is not None:
        # Direct mode mounts before the confined server child opens the image (docs/sandbox.md),
        # so a refused image can be seen mounted for a moment: the monitor then removes the
        # mount and exits 1 with the reason. That is a refusal; any other exit is a crash.
        err = srv.stderr.read()
        if srv.returncode == 1 and err.strip() and not SANITIZER.search(err):
            outcome, detail = "refused", err.strip().splitlines()[-1]
        else:
            outcome, detail = "crash", "server died during the walk: exit %s: %s" % (
                srv.returncode, err[-300:])
    subprocess.run(["umount", mnt], stderr=subprocess.DEVNULL)
    if any(line.split()[1] == mnt for line in open("/proc/self/mounts")):
        fuse_conn_abort(mnt)
        subprocess.run(["umount", "-l", mnt], stderr=subprocess.DEVNULL)
    try:
        err = srv.communicate(timeout=10)[1]
    except subprocess.TimeoutExpired:
        try:
            wchan = open("/proc/%d/wchan" % srv.pid).read()
            threads = os.listdir("/proc/%d/task" % srv.pid)
            state = "; ".join("%s:%s" % (t, open("/proc/%d/task/%s/wchan" % (srv.pid, t)).read())
                              for t in threads)
        except OSError:
            wchan, state = "?", "?"
        srv.kill()
        err = srv.communicate()[1]
        if outcome == "walked":
            outcome, detail = "hang", "server still running 10 s after the unmount (%s; %s; %s)" % (
                wchan, state, (err or "")[-300:])
    if outcome == "walked" and srv.returncode != 0:
        outcome, detail = "crash", "server exit %s after the unmount" % srv.returncode
    if SANITIZER.search(err or ""):
        outcome, detail = "sanitizer", err[-600:]
    return outcome, detail


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("mode", choices=["run", "generate"])
    ap.add_argument("--dir", required=True)
    ap.add_argument("--walk")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--per-kind", type=int, default=4)
    ap.add_argument("--dirty", action="append", default=[],
                    help="an image whose journal needs recovery (repeatable)")
    ap.add_argument("--timeout", type=int, default=20)
    ap.add_argument("--mem-mb", type=int, default=0)
    ap.add_argument("--rw-every", type=int, default=3,
                    help="also walk every Nth image read-write (on a copy), 0: never")
    ap.add_argument("--keep-failures")
    ap.add_argument("--fuse4fs", help="also mount every --mount-every'th image with this server")
    ap.add_argument("--mount-every", type=int, default=8)
    ap.add_argument("--list", help="write 'outcome name description' lines here")
    args = ap.parse_args()

    os.makedirs(args.dir, exist_ok=True)
    work = tempfile.mkdtemp(prefix="corpus.", dir=args.dir)
    counts = {}
    failures = []
    listing = open(args.list, "w") if args.list else None
    total = 0
    try:
        for i, (name, path, what) in enumerate(images(work, args.seed, args.per_kind, args.dirty)):
            total += 1
            if args.mode == "generate":
                continue
            outcome, detail = walk(args.walk, path, False, args.timeout, args.mem_mb)
            counts[outcome] = counts.get(outcome, 0) + 1
            if listing:
                listing.write("%s %s: %s -> %s\n" % (outcome, name, what, detail))
            if outcome not in ("refused", "walked"):
                failures.append((name, what, outcome, detail))
            elif args.rw_every and i % args.rw_every == 0:
                # Read-write opening: recovery onto the image and the read-write checks.
                o2, d2 = walk(args.walk, path, True, args.timeout, args.mem_mb)
                counts["rw-" + o2] = counts.get("rw-" + o2, 0) + 1
                if o2 not in ("refused", "walked"):
                    failures.append((name + " (rw)", what, o2, d2))
            if args.fuse4fs and args.mount_every and i % args.mount_every == 0:
                o3, d3 = mount_walk(args.fuse4fs, path, os.path.join(work, "mnt"),
                                    args.timeout, args.mem_mb)
                counts["mount-" + o3] = counts.get("mount-" + o3, 0) + 1
                if listing:
                    listing.write("mount-%s %s: %s -> %s\n" % (o3, name, what, d3))
                if o3 not in ("refused", "walked"):
                    failures.append((name + " (mount)", what, o3, d3))
            if args.keep_failures and failures and failures[-1][0].split(" ")[0] == name:
                os.makedirs(args.keep_failures, exist_ok=True)
                shutil.copy(path, os.path.join(args.keep_failures, name + ".img"))
            if args.mode == "run":
                os.unlink(path)
    finally:
        if listing:
            listing.close()
        if args.mode == "run":
            shutil.rmtree(work, ignore_errors=True)

    if args.mode == "generate":
        print("corpus: %d images in %s" % (total, work))
        return 0
    print("corpus: %d images: %d refused with a message, %d mounted and walked; "
          "read-write opens: %d refused, %d walked; real mounts: %d refused, %d walked; "
          "%d failures" %
          (total, counts.get("refused", 0), counts.get("walked", 0), counts.get("rw-refused", 0),
           counts.get("rw-walked", 0), counts.get("mount-refused", 0),
           counts.get("mount-walked", 0), len(failures)))
    for name, what, outcome, detail in failures[:50]:
        print("FAIL %s (%s): %s: %s" % (name, what, outcome, detail))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
