#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Which reads update atime on this mount: prints "recent=yes|no older=yes|no".

    atime-probe.py DIR

recent: a read of a file whose atime is newer than its mtime and ctime and under a day old
(relatime leaves it, strictatime updates it, noatime leaves it).  older: a read of a file whose
atime is older than its mtime (relatime and strictatime update it, noatime leaves it).  Each
read comes after the page cache is dropped, so that it reaches the filesystem.
"""

import os
import sys
import time


def probe(path, atime, mtime):
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, b"atime probe\n")
        os.fsync(fd)
        os.utime(fd, ns=(atime, mtime))
        time.sleep(0.05)  # ctime (now, from the utime) must be older than a new atime
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        before = os.fstat(fd).st_atime_ns
        os.pread(fd, 100, 0)
        after = os.fstat(fd).st_atime_ns
    finally:
        os.close(fd)
    os.unlink(path)
    return "yes" if after != before else "no"


def main():
    d = sys.argv[1]
    now = time.time_ns()
    # ctime is "now" after utime: a recent atime must also be newer than ctime, so put it
    # slightly in the future; a day is the relatime limit.
    recent = probe(os.path.join(d, "atime-recent"), now + 30 * 10**9, now - 3600 * 10**9)
    older = probe(os.path.join(d, "atime-older"), now - 7200 * 10**9, now - 3600 * 10**9)
    print(f"recent={recent} older={older}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
