#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Parallel O_DIRECT readers of file A while a writer frees A's blocks and fills new file B.

   read-race.py DIR SECONDS

The filesystem is filled but for a little slack. The writer loops: wait a moment, truncate A
(its blocks are freed), write B (which can only go where A was), fsync, unlink B, rewrite A,
fsync. Every 4 KiB block of A holds
"A%07d" % block_number, of B "B%07d" % block_number. Readers (processes x threads, each
thread one read in flight) read random blocks of A and accept only A's block at that offset
or a short read (A was truncated). Anything else, above all B's data, means a block was freed
and reused while a read of it was in flight. First, single-block writes are read back at
once: the read must see them. Prints counts; exits 1 on a bad read.
"""
import mmap
import os
import random
import sys
import threading
import time

BS = 4096
NBLK = 2048  # 8 MiB files
PROCS = 3
THREADS = 6


def block(tag, k):
    return (b"%c%07d" % (tag, k)) * (BS // 8)


def fill(tag):
    return b"".join(block(tag, k) for k in range(NBLK))


def write_file(path, data, flags):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | flags, 0o644)
    try:
        view = memoryview(data)
        while view:
            n = os.write(fd, view[: 1 << 20])
            view = view[n:]
        os.fsync(fd)
    finally:
        os.close(fd)


def reader(path, deadline, out_fd):
    counts = {"ok": 0, "short": 0, "bad": 0}
    bad = []
    lock = threading.Lock()

    def run(seed):
        rnd = random.Random(seed)
        buf = mmap.mmap(-1, BS)  # page-aligned, as O_DIRECT wants
        fd = os.open(path, os.O_RDONLY | os.O_DIRECT)
        ok = short = 0
        while time.monotonic() < deadline:
            k = rnd.randrange(NBLK)
            n = os.preadv(fd, [buf], k * BS)
            got = buf[:n]
            if n == BS and got == block(ord("A"), k):
                ok += 1
            elif n < BS and got == block(ord("A"), k)[:n]:
                short += 1
            else:
                with lock:
                    counts["bad"] += 1
                    if len(bad) < 5:
                        bad.append("block %d: %d bytes, starting %r" % (k, n, bytes(got[:16])))
        os.close(fd)
        with lock:
            counts["ok"] += ok
            counts["short"] += short

    threads = [threading.Thread(target=run, args=(os.getpid() * 100 + i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    line = "%d %d %d %s\n" % (counts["ok"], counts["short"], counts["bad"], " | ".join(bad))
    os.write(out_fd, line.encode())


def fresh_writes(path):
    """Single-block writes read straight back with O_DIRECT: libext2fs keeps such a write in
    its unix channel's cache until a flush, where a pread() of the device does not see it.
    Returns the number of reads that missed the write."""
    buf = mmap.mmap(-1, BS)
    wfd = os.open(path, os.O_WRONLY)
    rfd = os.open(path, os.O_RDONLY | os.O_DIRECT)
    missed = 0
    for i in range(64):
        k = (i * 97) % NBLK
        os.pwrite(wfd, block(ord("C"), k), k * BS)
        n = os.preadv(rfd, [buf], k * BS)
        if buf[:n] != block(ord("C"), k):
            missed += 1
            print("fresh write of block %d read back as %r" % (k, bytes(buf[:16])))
        os.pwrite(wfd, block(ord("A"), k), k * BS)
    os.fsync(wfd)
    os.close(wfd)
    os.close(rfd)
    return missed


def main():
    d, secs = sys.argv[1], float(sys.argv[2])
    a, b = os.path.join(d, "A"), os.path.join(d, "B")
    data_a, data_b = fill(ord("A")), fill(ord("B"))
    write_file(a, data_a, os.O_TRUNC)
    missed = fresh_writes(a)
    # Fill the filesystem but for a little slack: the only room B then finds is the blocks A
    # has just given back, which readers of A may still be reading.
    st = os.statvfs(d)
    fd = os.open(os.path.join(d, "filler"), os.O_WRONLY | os.O_CREAT, 0o644)
    os.posix_fallocate(fd, 0, st.f_bfree * st.f_frsize - (1 << 20))
    os.close(fd)
    deadline = time.monotonic() + secs
    rfd, wfd = os.pipe()
    pids = []
    for _ in range(PROCS):
        pid = os.fork()
        if pid == 0:
            os.close(rfd)
            try:
                reader(a, deadline, wfd)
            finally:
                os._exit(0)
        pids.append(pid)
    os.close(wfd)
    rounds = 0
    while time.monotonic() < deadline:
        # A stays whole for a while, so that many reads of it are in flight at the truncate.
        time.sleep(0.1)
        os.truncate(a, 0)
        write_file(b, data_b, os.O_TRUNC)
        os.unlink(b)
        write_file(a, data_a, os.O_TRUNC)
        rounds += 1
    for pid in pids:
        os.waitpid(pid, 0)
    ok = short = nbad = 0
    bad = []
    with os.fdopen(rfd) as f:
        for line in f:
            parts = line.rstrip("\n").split(" ", 3)
            ok, short, nbad = ok + int(parts[0]), short + int(parts[1]), nbad + int(parts[2])
            if len(parts) > 3 and parts[3]:
                bad.append(parts[3])
    print("%d writer rounds; reads: %d of A's data, %d short, %d wrong" % (rounds, ok, short, nbad))
    for b_ in bad:
        print("wrong:", b_)
    print("64 single-block writes read back at once: %d missed" % missed)
    sys.exit(1 if nbad or missed or ok == 0 or rounds == 0 else 0)


if __name__ == "__main__":
    main()
