#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""What fsync promises: a workload that makes changes durable with fsync, then (optionally)
kills the filesystem server at once; and the check, after a fresh mount, that every change
it made durable is there.

    durability.py write ROOT MANIFEST [--kill PID] [--seed S]
    durability.py verify ROOT MANIFEST

`write` creates, overwrites, truncates, renames, links, unlinks, makes directories and sets
xattrs under ROOT, each followed by fsync of the file and of the directories whose entries
changed (what POSIX asks of a careful program), records the expected result in MANIFEST
(written and fsynced outside ROOT), leaves an unlinked file open with fsynced data (an orphan
the filesystem must not leak), writes one file without fsync (no promise about it), and with
--kill sends SIGKILL to PID the moment the last fsync returned.

`verify` checks names, types, sizes, modes, contents (sha256), link counts, xattrs and the
names that must be gone.  Exit 1 on any difference, each printed.
"""

import argparse
import hashlib
import json
import os
import random
import signal
import stat
import sys


def fsync_path(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def put(path, data, mode=0o644):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def cmd_write(args):
    rng = random.Random(args.seed)
    root = args.root
    exp = {"files": {}, "dirs": [], "absent": [], "xattrs": {}}

    def rec(rel, data):
        exp["files"][rel] = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest(),
                             "mode": stat.S_IMODE(os.stat(os.path.join(root, rel)).st_mode)}

    os.mkdir(os.path.join(root, "d"))
    fsync_path(root)
    exp["dirs"].append("d")
    # Sizes around block and extent boundaries, and some larger files with many extents.
    sizes = [0, 1, 4095, 4096, 4097, 65536, (1 << 20) + 3, 8 << 20, 32 << 20]
    for i, size in enumerate(sizes):
        rel = f"d/f{i}"
        data = rng.randbytes(size)
        put(os.path.join(root, rel), data, 0o640 if i % 2 else 0o600)
        rec(rel, data)
    fsync_path(os.path.join(root, "d"))

    # overwrite in the middle of an existing file
    rel = "d/f7"
    path = os.path.join(root, rel)
    with open(path, "r+b") as f:
        f.seek(12345)
        patch = rng.randbytes(100000)
        f.write(patch)
        f.flush()
        os.fsync(f.fileno())
    with open(path, "rb") as f:
        rec(rel, f.read())

    # truncate down and up
    os.truncate(os.path.join(root, "d/f6"), 5000)
    fsync_path(os.path.join(root, "d/f6"))
    with open(os.path.join(root, "d/f6"), "rb") as f:
        rec("d/f6", f.read())
    os.truncate(os.path.join(root, "d/f5"), 1 << 20)
    fsync_path(os.path.join(root, "d/f5"))
    with open(os.path.join(root, "d/f5"), "rb") as f:
        rec("d/f5", f.read())

    # nested directories
    os.makedirs(os.path.join(root, "d/a/b/c"))
    for p in ("d/a/b/c", "d/a/b", "d/a", "d"):
        fsync_path(os.path.join(root, p))
    exp["dirs"] += ["d/a", "d/a/b", "d/a/b/c"]
    data = rng.randbytes(10000)
    put(os.path.join(root, "d/a/b/c/deep"), data)
    fsync_path(os.path.join(root, "d/a/b/c"))
    rec("d/a/b/c/deep", data)

    # rename across directories: the old name must be gone
    os.rename(os.path.join(root, "d/f3"), os.path.join(root, "d/a/moved"))
    fsync_path(os.path.join(root, "d"))
    fsync_path(os.path.join(root, "d/a"))
    exp["files"]["d/a/moved"] = exp["files"].pop("d/f3")
    exp["absent"].append("d/f3")

    # a hard link
    os.link(os.path.join(root, "d/f2"), os.path.join(root, "d/a/b/link"))
    fsync_path(os.path.join(root, "d/a/b"))
    exp["files"]["d/a/b/link"] = dict(exp["files"]["d/f2"])
    exp["files"]["d/a/b/link"]["nlink"] = 2
    exp["files"]["d/f2"]["nlink"] = 2

    # an unlink
    os.unlink(os.path.join(root, "d/f1"))
    fsync_path(os.path.join(root, "d"))
    del exp["files"]["d/f1"]
    exp["absent"].append("d/f1")

    # xattrs and a mode change
    path = os.path.join(root, "d/f4")
    os.setxattr(path, "user.durable", b"value-1")
    os.setxattr(path, "user.big", b"x" * 1000)
    os.chmod(path, 0o751)
    fsync_path(path)
    exp["xattrs"]["d/f4"] = {"user.durable": "value-1", "user.big": "x" * 1000}
    exp["files"]["d/f4"]["mode"] = 0o751

    # a directory with many entries (an htree by the end)
    os.mkdir(os.path.join(root, "d/many"))
    for i in range(2000):
        fd = os.open(os.path.join(root, f"d/many/entry-{i:05d}-long-name-padding"),
                     os.O_CREAT | os.O_WRONLY, 0o644)
        os.close(fd)
    fsync_path(os.path.join(root, "d/many"))
    fsync_path(os.path.join(root, "d"))
    exp["dirs"].append("d/many")
    exp["many"] = 2000

    # an orphan: unlinked, open, with fsynced data; the kill leaves it on the orphan list
    orphan = os.open(os.path.join(root, "d/orphan"), os.O_CREAT | os.O_RDWR, 0o644)
    os.unlink(os.path.join(root, "d/orphan"))
    os.write(orphan, rng.randbytes(4 << 20))
    os.fsync(orphan)
    fsync_path(os.path.join(root, "d"))
    exp["absent"].append("d/orphan")

    # no promise: written, never fsynced
    fd = os.open(os.path.join(root, "d/unsynced"), os.O_CREAT | os.O_WRONLY, 0o644)
    os.write(fd, rng.randbytes(300000))
    os.close(fd)

    # the manifest is written (and made durable) outside the filesystem under test
    with open(args.manifest, "w") as f:
        json.dump(exp, f)
        f.flush()
        os.fsync(f.fileno())
    # the last fsync of the filesystem under test, then the kill at once
    fsync_path(os.path.join(root, "d/f0"))
    if args.kill:
        os.kill(args.kill, signal.SIGKILL)
    print(f"durability: {len(exp['files'])} files, {len(exp['dirs'])} directories written and "
          f"fsynced{'; server killed' if args.kill else ''}")
    try:
        os.close(orphan)
    except OSError:
        pass  # with the server killed, the release fails with ENOTCONN: expected
    return 0


def cmd_verify(args):
    with open(args.manifest) as f:
        exp = json.load(f)
    root = args.root
    bad = 0

    def fail(msg):
        nonlocal bad
        bad += 1
        print(f"DIFF {msg}")

    for rel in exp["dirs"]:
        try:
            if not stat.S_ISDIR(os.lstat(os.path.join(root, rel)).st_mode):
                fail(f"{rel}: not a directory")
        except OSError as e:
            fail(f"{rel}: directory missing ({e.strerror})")
    for rel, want in sorted(exp["files"].items()):
        path = os.path.join(root, rel)
        try:
            st = os.lstat(path)
            with open(path, "rb") as f:
                data = f.read()
        except OSError as e:
            fail(f"{rel}: fsynced file missing or unreadable ({e.strerror})")
            continue
        if st.st_size != want["size"] or len(data) != want["size"]:
            fail(f"{rel}: size {st.st_size} (read {len(data)}), fsynced {want['size']}")
        elif hashlib.sha256(data).hexdigest() != want["sha256"]:
            fail(f"{rel}: content differs from what was fsynced")
        if stat.S_IMODE(st.st_mode) != want["mode"]:
            fail(f"{rel}: mode {stat.S_IMODE(st.st_mode):o}, fsynced {want['mode']:o}")
        if st.st_nlink != want.get("nlink", 1):
            fail(f"{rel}: st_nlink {st.st_nlink}, expected {want.get('nlink', 1)}")
    for rel in exp["absent"]:
        if os.path.lexists(os.path.join(root, rel)):
            fail(f"{rel}: exists, but its removal was fsynced")
    for rel, xs in exp["xattrs"].items():
        for n, v in xs.items():
            try:
                got = os.getxattr(os.path.join(root, rel), n).decode()
            except OSError as e:
                fail(f"{rel}: xattr {n} missing ({e.strerror})")
                continue
            if got != v:
                fail(f"{rel}: xattr {n} differs")
    try:
        n = len(os.listdir(os.path.join(root, "d/many")))
        if n != exp["many"]:
            fail(f"d/many: {n} entries, fsynced {exp['many']}")
    except OSError as e:
        fail(f"d/many: {e.strerror}")
    print(f"durability: {len(exp['files'])} files, {len(exp['dirs'])} directories checked, "
          f"{bad} difference(s)")
    return 1 if bad else 0


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("write")
    w.add_argument("root")
    w.add_argument("manifest")
    w.add_argument("--kill", type=int, default=0, help="SIGKILL this pid after the last fsync")
    w.add_argument("--seed", type=int, default=1)
    v = sub.add_parser("verify")
    v.add_argument("root")
    v.add_argument("manifest")
    args = p.parse_args()
    return cmd_write(args) if args.cmd == "write" else cmd_verify(args)


if __name__ == "__main__":
    sys.exit(main())
