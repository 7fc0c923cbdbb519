# SPDX-License-Identifier: GPL-2.0-or-later
"""Metadata workloads for bench/run.sh, timed inside one process so that the start-up of
python is not charged to the filesystem.

  fsops.py create|stat|rename|unlink|statfs ROOT NFILES NDIRS

Prints the elapsed seconds of the operations alone.  Names are fixed (d00/f00000), so every
system sees exactly the same directory contents."""
import os
import sys
import time


def names(root, nfiles, ndirs, suffix=""):
    per = nfiles // ndirs
    for d in range(ndirs):
        for f in range(per):
            yield "%s/d%02d/f%05d%s" % (root, d, f, suffix)


def main():
    op, root, nfiles, ndirs = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    if op == "create":
        # The directories are part of the workload: mkdir goes to the server as well.
        t0 = time.perf_counter()
        for d in range(ndirs):
            os.mkdir("%s/d%02d" % (root, d))
        for p in names(root, nfiles, ndirs):
            os.close(os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
    elif op == "stat":
        t0 = time.perf_counter()
        for p in names(root, nfiles, ndirs):
            os.lstat(p)
    elif op == "rename":
        t0 = time.perf_counter()
        for p in names(root, nfiles, ndirs):
            os.rename(p, p + ".r")
    elif op == "statfs":
        # The price of one request: statfs() of a FUSE mount is one STATFS round trip with
        # almost no work in the server; the kernel's ext4 answers from memory.
        t0 = time.perf_counter()
        for _ in range(nfiles):
            os.statvfs(root)
    elif op == "unlink":
        t0 = time.perf_counter()
        for p in names(root, nfiles, ndirs, ".r"):
            os.unlink(p)
        for d in range(ndirs):
            os.rmdir("%s/d%02d" % (root, d))
    else:
        sys.exit("fsops.py: unknown operation '%s'" % op)
    # Durability is not part of these numbers: no fsync; the kernel's ext4 defers the same work.
    print("%.6f" % (time.perf_counter() - t0))


if __name__ == "__main__":
    main()
