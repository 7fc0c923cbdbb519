#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Compare a FUSE mount of an ext4 image with the kernel's mount of the same image.

    compare-tree.py [--source SRC] REF TEST     REF: kernel mount (ro,noload), TEST: FUSE mount
    compare-tree.py --source-only SRC TEST      no kernel reference: compare TEST with SRC only

Against REF everything the kernel reports must be identical: inode numbers, mode, nlink, uid, gid,
size, blocks, rdev, the three timestamps in nanoseconds, content, xattrs, link targets, every
directory's names with their d_ino, and statvfs.  Against the source tree (what mkfs.ext4 -d
copied) only what mkfs preserves is compared: names, types and modes, owners, sizes, content,
link targets, xattrs, device numbers and mtimes.

An operation that fails must fail with the same errno on both sides: run as an ordinary user,
unreadable files are compared by their EACCES.  Every difference is printed; exit 1 if any.
"""

import argparse
import errno
import hashlib
import os
import stat
import sys

MAX_REPORTED = 300


class Diff:
    def __init__(self):
        self.count = 0
        self.warnings = 0

    def report(self, path, what, a, b, la, lb):
        self.count += 1
        if self.count <= MAX_REPORTED:
            print(f"DIFF {path!r}: {what}: {la}={a!r} {lb}={b!r}")
        elif self.count == MAX_REPORTED + 1:
            print("... (further differences counted, not printed)")

    def warn(self, path, what, a, b, la, lb):
        self.warnings += 1
        print(f"warning {path!r}: {what}: {la}={a!r} {lb}={b!r}")


def attempt(fn, *args):
    """(result, None) or (None, errno name): failures are values to compare."""
    try:
        return fn(*args), None
    except OSError as e:
        return None, errno.errorcode.get(e.errno, str(e.errno))


ZEROS = bytes(1 << 20)


def content_hash(path, trust_holes=False):
    """sha256 and length of the content.  With trust_holes (the kernel mount and the source,
    never the FUSE side), ranges that SEEK_HOLE reports as holes are hashed as zeros without
    reading them: the 4 GiB sparse file then costs nothing there."""
    h = hashlib.sha256()
    # O_NOFOLLOW: the tree walk decided this is a regular file; never read through a swapped link.
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    try:
        size = os.fstat(fd).st_size
        buf = bytearray(1 << 20)
        view = memoryview(buf)
        pos = total = 0
        while True:
            data_end = None
            if trust_holes and pos < size:
                try:
                    data = os.lseek(fd, pos, os.SEEK_DATA)
                except OSError as e:
                    if e.errno != errno.ENXIO:
                        raise
                    data = size
                while pos < data:
                    n = min(len(ZEROS), data - pos)
                    h.update(ZEROS[:n])
                    pos += n
                    total += n
                if pos >= size:
                    break
                data_end = os.lseek(fd, pos, os.SEEK_HOLE)
            want = len(buf) if data_end is None else min(len(buf), data_end - pos)
            n = os.preadv(fd, [view[:want]], pos)
            if n == 0:
                break
            h.update(view[:n])
            pos += n
            total += n
    finally:
        os.close(fd)
    return h.hexdigest(), total


def xattrs(path, only_portable):
    names = os.listxattr(path, follow_symlinks=False)
    out = {}
    for n in sorted(names):
        if only_portable and not (n.startswith("user.") or n.startswith("system.posix_acl")):
            continue
        v, err = attempt(lambda: os.getxattr(path, n, follow_symlinks=False))
        out[n] = v if err is None else "error " + err
    return out


def dir_entries(path):
    with os.scandir(path) as it:
        return {e.name: e.inode() for e in it}


def fmt_mode(m):
    return f"{stat.filemode(m)} ({m:o})"


class Comparer:
    def __init__(self, a_root, b_root, la, lb, full, diff):
        self.a_root, self.b_root = a_root, b_root
        self.la, self.lb = la, lb
        self.full = full  # a and b are the same filesystem image: compare everything
        self.diff = diff
        self.paths = 0

    def d(self, rel, what, a, b):
        self.diff.report(rel, what, a, b, self.la, self.lb)

    def same(self, rel, what, a, b):
        if a != b:
            self.d(rel, what, a, b)
            return False
        return True

    def run(self):
        if self.full:
            self.compare_statvfs()
        self.walk("")
        return self.paths

    def compare_statvfs(self):
        a, ea = attempt(os.statvfs, self.a_root)
        b, eb = attempt(os.statvfs, self.b_root)
        if not self.same("/", "statvfs error", ea, eb) or ea:
            return
        for f in ("f_bsize", "f_files", "f_ffree", "f_namemax"):
            self.same("/", "statvfs " + f, getattr(a, f), getattr(b, f))
        # The kernel subtracts its metadata overhead from f_blocks; a server may count otherwise.
        # Worth seeing, not worth failing over.
        for f in ("f_blocks", "f_bfree", "f_bavail"):
            if getattr(a, f) != getattr(b, f):
                self.diff.warn("/", "statvfs " + f, getattr(a, f), getattr(b, f), self.la, self.lb)

    def walk(self, rel):
        pa = os.path.join(self.a_root, rel) if rel else self.a_root
        pb = os.path.join(self.b_root, rel) if rel else self.b_root
        self.paths += 1
        name = "/" + rel
        sa, ea = attempt(os.lstat, pa)
        sb, eb = attempt(os.lstat, pb)
        if not self.same(name, "lstat error", ea, eb) or ea:
            return
        if not self.compare_stat(name, sa, sb):
            return  # different types: nothing below is comparable
        if self.full or rel:  # a tree's own root carries no meaningful xattrs from mkfs -d
            xa, exa = attempt(xattrs, pa, not self.full)
            xb, exb = attempt(xattrs, pb, not self.full)
            if self.same(name, "listxattr error", exa, exb) and not exa:
                for n in sorted(set(xa) | set(xb)):
                    self.same(name, f"xattr {n}", xa.get(n, "<absent>"), xb.get(n, "<absent>"))
        m = sa.st_mode
        if stat.S_ISREG(m):
            ha, eha = attempt(content_hash, pa, True)
            hb, ehb = attempt(content_hash, pb, False)
            if self.same(name, "read error", eha, ehb) and not eha:
                self.same(name, "content sha256, bytes read", ha, hb)
                self.same(name, "bytes read vs st_size", hb[1], sb.st_size)
        elif stat.S_ISLNK(m):
            ta, eta = attempt(os.readlink, pa)
            tb, etb = attempt(os.readlink, pb)
            if self.same(name, "readlink error", eta, etb) and not eta:
                self.same(name, "link target", ta, tb)
        elif stat.S_ISDIR(m):
            self.compare_dir(rel, name, pa, pb, sa, sb)

    def compare_stat(self, name, a, b):  # pylint: disable=too-many-branches
        if not self.same(name, "file type", stat.S_IFMT(a.st_mode), stat.S_IFMT(b.st_mode)):
            return False
        if a.st_mode != b.st_mode:
            self.d(name, "mode", fmt_mode(a.st_mode), fmt_mode(b.st_mode))
        fields = ["st_uid", "st_gid"]
        if not stat.S_ISDIR(a.st_mode):
            # A source directory's size is its own filesystem's business; files and links are not.
            fields.append("st_size")
            fields.append("st_nlink")
        if stat.S_ISCHR(a.st_mode) or stat.S_ISBLK(a.st_mode):
            fields.append("st_rdev")
        if self.full:
            fields += ["st_ino", "st_nlink", "st_size", "st_blocks", "st_rdev", "st_atime_ns",
                       "st_mtime_ns", "st_ctime_ns"]
        elif not stat.S_ISLNK(a.st_mode) and name != "/":
            # (The image root's mtime is when mkfs added lost+found to it.)
            # mkfs.ext4 -d keeps mtimes (to the second) of everything it can set times on.
            if a.st_mtime_ns // 10**9 != b.st_mtime_ns // 10**9:
                self.d(name, "mtime (s)", a.st_mtime_ns // 10**9, b.st_mtime_ns // 10**9)
        for f in dict.fromkeys(fields):
            self.same(name, f, getattr(a, f), getattr(b, f))
        return True

    def compare_dir(self, rel, name, pa, pb, sa, sb):
        ea_, eea = attempt(dir_entries, pa)
        eb_, eeb = attempt(dir_entries, pb)
        if not self.same(name, "readdir error", eea, eeb) or eea:
            return
        if not self.full and not rel and ("lost+found" in ea_) != ("lost+found" in eb_):
            # mkfs.ext4 creates lost+found in the image's root; the source has none.
            ea_.pop("lost+found", None)
            eb_.pop("lost+found", None)
        names_a, names_b = set(ea_), set(eb_)
        for n in sorted(names_a - names_b):
            self.d(name, "entry only on one side", n, None)
        for n in sorted(names_b - names_a):
            self.d(name, "entry only on one side", None, n)
        if self.full:
            for n in sorted(names_a & names_b):
                self.same(os.path.join(name, n), "d_ino", ea_[n], eb_[n])
            if rel:
                # '..' must lead to the same parent (the root's '..' leaves the mount).
                pa_, epa = attempt(os.stat, os.path.join(pa, ".."))
                pb_, epb = attempt(os.stat, os.path.join(pb, ".."))
                if self.same(name, "stat .. error", epa, epb) and not epa:
                    self.same(name, "inode of ..", pa_.st_ino, pb_.st_ino)
        for n in sorted(names_a & names_b):
            self.walk(os.path.join(rel, n) if rel else n)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--source", help="the tree the image was built from (mkfs.ext4 -d)")
    p.add_argument("--source-only", action="store_true",
                   help="no kernel reference: compare TEST with --source only")
    p.add_argument("ref", nargs="?", help="kernel mount of the image (omit with --source-only)")
    p.add_argument("test", help="the FUSE mount under test")
    args = p.parse_args()
    if args.source_only and (not args.source or args.ref):
        p.error("--source-only takes --source SRC and TEST only")
    if not args.source_only and not args.ref:
        p.error("REF is required (or use --source-only)")
    for d in filter(None, (args.source, args.ref, args.test)):
        if not os.path.isdir(d):
            print(f"compare-tree: '{d}' is not a directory", file=sys.stderr)
            return 2

    diff = Diff()
    if args.ref:
        n = Comparer(args.ref, args.test, "kernel", "fuse", True, diff).run()
        print(f"compare-tree: {n} paths compared, kernel mount vs FUSE mount")
    if args.source:
        n = Comparer(args.source, args.test, "source", "fuse", False, diff).run()
        print(f"compare-tree: {n} paths compared, source tree vs FUSE mount")
    if diff.count:
        print(f"compare-tree: {diff.count} difference(s)")
        return 1
    print(f"compare-tree: identical ({diff.warnings} warning(s))")
    return 0


if __name__ == "__main__":
    sys.exit(main())
