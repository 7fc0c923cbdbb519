#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Random-operation stress for a read-write filesystem, checked against a model.

    stress.py run ROOT MODEL [--procs N] [--ops N] [--seed S]
    stress.py verify ROOT MODEL

`run` forks N workers; worker i owns ROOT/p<i> and the names starting with "p<i>-" in the
directory ROOT/shared that all workers change at once, and does a bounded number of random
operations there (create, write at random offsets, truncate, rename, link, unlink, symlink,
mkdir, rmdir, setxattr, removexattr, fsync, read-back) while keeping a model of what the
subtree must hold: names, types, which names share an inode, contents, user xattrs, link
targets.  Every operation's result is checked as it happens (an unexpected errno is a
failure), and at the end the whole subtree is compared with the model, which is saved to
MODEL.  `verify` compares ROOT with a saved MODEL again, e.g. after an unmount and remount.

Names are disjoint, so the model of each worker is exact while they all run at once.
Every difference is printed; exit 1 if any.  Reproducible: the seed of each worker is
printed and derived from --seed.
"""

import argparse
import base64
import errno
import json
import os
import random
import stat
import sys
import time

MAX_FILE = 3 << 20  # keep the model in memory: a few MiB per file at most
MAX_REPORTED = 50


class Inode:
    def __init__(self, num):
        self.num = num
        self.data = bytearray()
        self.xattrs = {}


SHARED = "shared"


class Model:
    """names: path relative to ROOT -> ('file', inode number) | ('dir', None) |
    ('symlink', target).  The two top directories (the worker's own and the shared one) are
    fixed: never renamed or removed."""

    def __init__(self, own="p0"):
        self.own = own
        self.names = {own: ("dir", None), SHARED: ("dir", None)}
        self.inodes = {}
        self.next_ino = 1

    def files(self):
        return [p for p, (t, _) in self.names.items() if t == "file"]

    def dirs(self):
        return [p for p, (t, _) in self.names.items() if t == "dir"]

    def parents(self):
        """Directories a new name may go in: shallow enough that no path nears PATH_MAX
        even after renames move subtrees around."""
        return [p for p in self.dirs() if len(p) < 1000]

    def children(self, d):
        pre = d + "/" if d else ""
        return [p for p in self.names if p and p.startswith(pre) and "/" not in p[len(pre):]]

    def nlink(self, num):
        return sum(1 for t, v in self.names.values() if t == "file" and v == num)

    def to_json(self):
        return {
            "own": self.own,
            "names": {p: [t, v] for p, (t, v) in self.names.items()},
            "inodes": {
                str(n): {
                    "data": base64.b64encode(bytes(i.data)).decode(),
                    "xattrs": {k: base64.b64encode(v).decode() for k, v in i.xattrs.items()},
                }
                for n, i in self.inodes.items()
            },
        }

    @classmethod
    def from_json(cls, j):
        m = cls(j["own"])
        m.names = {p: (t, v) for p, (t, v) in j["names"].items()}
        for n, i in j["inodes"].items():
            ino = Inode(int(n))
            ino.data = bytearray(base64.b64decode(i["data"]))
            ino.xattrs = {k: base64.b64decode(v) for k, v in i["xattrs"].items()}
            m.inodes[int(n)] = ino
        return m


class Failures:
    def __init__(self, who):
        self.who = who
        self.count = 0

    def __call__(self, msg):
        self.count += 1
        if self.count <= MAX_REPORTED:
            print(f"FAIL [{self.who}] {msg}", flush=True)
        elif self.count == MAX_REPORTED + 1:
            print(f"FAIL [{self.who}] ... further failures counted, not printed", flush=True)


def errname(e):
    return errno.errorcode.get(e, str(e))


class Worker:
    def __init__(self, root, own, seed, fails):
        self.root = root
        self.own = own
        self.rng = random.Random(seed)
        self.m = Model(own)
        self.fail = fails
        self.counter = 0
        self.stats = {}

    def path(self, rel):
        return os.path.join(self.root, rel)

    def new_name(self, parent):
        self.counter += 1
        base = self.rng.choice(["f", "file", "a-much-longer-name-to-fill-directory-blocks", "x"])
        return f"{parent}/{self.own}-{base}{self.counter}"

    def movable(self):
        return [p for p in self.m.names if p not in (self.own, SHARED)]

    def attempt(self, what, fn, *args, expect=None):
        """Run an operation; expect: None for success or an errno it must fail with."""
        try:
            r = fn(*args)
        except OSError as e:
            if expect is None or e.errno != expect:
                self.fail(f"{what}: got {errname(e.errno)}, expected "
                          f"{'success' if expect is None else errname(expect)}")
            return None if expect is None else False
        if expect is not None:
            self.fail(f"{what}: succeeded, expected {errname(expect)}")
            return False
        return True if r is None else r

    # ---- operations ---------------------------------------------------------------------
    def op_create(self):
        d = self.rng.choice(self.m.parents())
        rel = self.new_name(d)
        fd = self.attempt(f"create {rel}", os.open, self.path(rel),
                          os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        if fd is None:
            return
        os.close(fd)
        n = self.m.next_ino
        self.m.next_ino += 1
        self.m.inodes[n] = Inode(n)
        self.m.names[rel] = ("file", n)

    def op_write(self):
        files = self.m.files()
        if not files:
            return self.op_create()
        rel = self.rng.choice(files)
        ino = self.m.inodes[self.m.names[rel][1]]
        off = self.rng.choice([0, len(ino.data), self.rng.randrange(0, 1 << 20),
                               self.rng.randrange(0, 64) * 4096])
        ln = self.rng.choice([1, 100, 4095, 4096, 4097, self.rng.randrange(1, 128 << 10)])
        if off + ln > MAX_FILE:
            off = 0
        data = self.rng.randbytes(ln)
        flags = os.O_WRONLY | (os.O_APPEND if self.rng.random() < 0.1 else 0)
        fd = self.attempt(f"open {rel} for writing", os.open, self.path(rel), flags)
        if fd is None:
            return
        try:
            if flags & os.O_APPEND:
                off = len(ino.data)
                n = os.write(fd, data)
            else:
                n = os.pwrite(fd, data, off)
            if n != ln:
                self.fail(f"write {rel} at {off}: {n} of {ln} bytes")
            if self.rng.random() < 0.1:
                os.fsync(fd)
        except OSError as e:
            self.fail(f"write {rel} at {off}, {ln} bytes: {errname(e.errno)}")
            return
        finally:
            os.close(fd)
        if off > len(ino.data):
            ino.data.extend(bytes(off - len(ino.data)))
        ino.data[off:off + ln] = data

    def op_truncate(self):
        files = self.m.files()
        if not files:
            return
        rel = self.rng.choice(files)
        ino = self.m.inodes[self.m.names[rel][1]]
        size = self.rng.choice([0, len(ino.data) // 2, len(ino.data) + 5000,
                                self.rng.randrange(0, 3 << 19)])
        if self.attempt(f"truncate {rel} to {size}", os.truncate, self.path(rel), size):
            if size < len(ino.data):
                del ino.data[size:]
            else:
                ino.data.extend(bytes(size - len(ino.data)))

    def subtree(self, d):
        return [p for p in self.m.names if p == d or p.startswith(d + "/")]

    def op_rename(self):
        cands = self.movable()
        if not cands:
            return
        src = self.rng.choice(cands)
        st, sv = self.m.names[src]
        dirs = [d for d in self.m.parents()
                if not (st == "dir" and (d == src or d.startswith(src + "/")))]
        dst_dir = self.rng.choice(dirs)
        # sometimes over an existing name of a compatible type
        victims = [p for p in self.m.children(dst_dir) if p != src and
                   self.m.names[p][0] != "dir" and st != "dir"]
        if victims and self.rng.random() < 0.3:
            dst = self.rng.choice(victims)
        else:
            dst = self.new_name(dst_dir)
        if self.m.names.get(dst) == self.m.names[src] and st == "file":
            return  # two names of one inode: rename is a no-op, nothing to learn here
        if not self.attempt(f"rename {src} -> {dst}", os.rename, self.path(src), self.path(dst)):
            return
        moved = {}
        for p in self.subtree(src):
            moved[dst + p[len(src):]] = self.m.names.pop(p)
        self.m.names.pop(dst, None)
        self.m.names.update(moved)
        self.gc()

    def op_link(self):
        files = self.m.files()
        if not files:
            return
        src = self.rng.choice(files)
        dst = self.new_name(self.rng.choice(self.m.parents()))
        if self.attempt(f"link {src} -> {dst}", os.link, self.path(src), self.path(dst)):
            self.m.names[dst] = self.m.names[src]

    def op_symlink(self):
        dst = self.new_name(self.rng.choice(self.m.parents()))
        target = self.rng.choice(["t", "../" * 3 + "x" * 40, "y" * self.rng.randrange(60, 2000)])
        if self.attempt(f"symlink {dst}", os.symlink, target, self.path(dst)):
            self.m.names[dst] = ("symlink", target)

    def op_unlink(self):
        cands = [p for p, (t, _) in self.m.names.items() if t in ("file", "symlink")]
        if not cands:
            return
        rel = self.rng.choice(cands)
        if self.attempt(f"unlink {rel}", os.unlink, self.path(rel)):
            del self.m.names[rel]
            self.gc()

    def op_mkdir(self):
        rel = self.new_name(self.rng.choice(self.m.parents()))
        if self.attempt(f"mkdir {rel}", os.mkdir, self.path(rel), 0o755):
            self.m.names[rel] = ("dir", None)

    def op_rmdir(self):
        dirs = [d for d in self.m.dirs() if d not in (self.own, SHARED)]
        if not dirs:
            return
        d = self.rng.choice(dirs)
        if self.m.children(d):
            self.attempt(f"rmdir non-empty {d}", os.rmdir, self.path(d), expect=errno.ENOTEMPTY)
            # empty it: the files go, subdirectories stay for a later rmdir
            for c in self.m.children(d):
                if self.m.names[c][0] != "dir":
                    if self.attempt(f"unlink {c}", os.unlink, self.path(c)):
                        del self.m.names[c]
            self.gc()
            return
        if self.attempt(f"rmdir {d}", os.rmdir, self.path(d)):
            del self.m.names[d]

    def op_setxattr(self):
        files = self.m.files()
        if not files:
            return
        rel = self.rng.choice(files)
        ino = self.m.inodes[self.m.names[rel][1]]
        name = f"user.k{self.rng.randrange(8)}"
        val = self.rng.randbytes(self.rng.choice([0, 1, 50, 200]))
        if self.attempt(f"setxattr {rel} {name}", os.setxattr, self.path(rel), name, val):
            ino.xattrs[name] = val

    def op_removexattr(self):
        files = [p for p in self.m.files() if self.m.inodes[self.m.names[p][1]].xattrs]
        if not files:
            return self.op_setxattr()
        rel = self.rng.choice(files)
        ino = self.m.inodes[self.m.names[rel][1]]
        name = self.rng.choice(sorted(ino.xattrs))
        if self.attempt(f"removexattr {rel} {name}", os.removexattr, self.path(rel), name):
            del ino.xattrs[name]
        self.attempt(f"removexattr {rel} {name} again", os.removexattr, self.path(rel), name,
                     expect=errno.ENODATA)

    def op_readback(self):
        files = self.m.files()
        if files:
            rel = self.rng.choice(files)
            check_file(self.path(rel), rel, self.m.inodes[self.m.names[rel][1]], self.fail)

    def gc(self):
        live = {v for t, v in self.m.names.values() if t == "file"}
        for n in [n for n in self.m.inodes if n not in live]:
            del self.m.inodes[n]

    OPS = [
        ("create", 12), ("write", 30), ("truncate", 6), ("rename", 10), ("link", 5),
        ("symlink", 3), ("unlink", 8), ("mkdir", 5), ("rmdir", 3), ("setxattr", 6),
        ("removexattr", 3), ("readback", 5),
    ]

    def run(self, n_ops):
        os.mkdir(self.path(self.own), 0o755)
        names = [o for o, _ in self.OPS]
        weights = [w for _, w in self.OPS]
        for _ in range(n_ops):
            op = self.rng.choices(names, weights)[0]
            self.stats[op] = self.stats.get(op, 0) + 1
            getattr(self, "op_" + op)()


def check_file(path, rel, ino, fail):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        fail(f"read {rel}: {errname(e.errno)}")
        return
    if data != bytes(ino.data):
        at = next((i for i, (a, b) in enumerate(zip(data, ino.data)) if a != b),
                  min(len(data), len(ino.data)))
        fail(f"{rel}: content differs from the model: {len(data)} bytes read, model has "
             f"{len(ino.data)}; first difference at byte {at}")


def verify(root, m, fail):
    """The worker's names must be exactly the model: its own subtree, and its names (with
    everything below them) in the shared directory."""
    seen = {m.own: os.path.join(root, m.own), SHARED: os.path.join(root, SHARED)}
    tops = [os.path.join(root, m.own)]
    try:
        for n in os.listdir(os.path.join(root, SHARED)):
            if n.startswith(m.own + "-"):
                full = os.path.join(root, SHARED, n)
                seen[os.path.relpath(full, root)] = full
                if os.path.isdir(full) and not os.path.islink(full):
                    tops.append(full)
    except OSError as e:
        fail(f"listing {SHARED}: {errname(e.errno)}")
    for top in tops:
        for dirpath, dirnames, filenames in os.walk(top):
            for n in dirnames + filenames:
                full = os.path.join(dirpath, n)
                seen[os.path.relpath(full, root)] = full
    for rel in sorted(set(seen) - set(m.names)):
        fail(f"{rel}: exists, the model does not have it")
    inos, by_ino = {}, {}
    for rel, (t, v) in sorted(m.names.items()):
        full = seen.get(rel)
        if full is None:
            fail(f"{rel}: missing ({t} in the model)")
            continue
        st = os.lstat(full)
        if t == "dir":
            if not stat.S_ISDIR(st.st_mode):
                fail(f"{rel}: not a directory (mode {st.st_mode:o})")
                continue
            subdirs = sum(1 for c in m.children(rel) if m.names[c][0] == "dir")
            if rel != SHARED and st.st_nlink != 2 + subdirs:
                fail(f"{rel}: st_nlink {st.st_nlink}, expected {2 + subdirs}")
        elif t == "symlink":
            if not stat.S_ISLNK(st.st_mode):
                fail(f"{rel}: not a symlink (mode {st.st_mode:o})")
            elif os.readlink(full) != v:
                fail(f"{rel}: link target differs from the model")
        else:
            if not stat.S_ISREG(st.st_mode):
                fail(f"{rel}: not a regular file (mode {st.st_mode:o})")
                continue
            ino = m.inodes[v]
            if st.st_size != len(ino.data):
                fail(f"{rel}: st_size {st.st_size}, model {len(ino.data)}")
            if st.st_nlink != m.nlink(v):
                fail(f"{rel}: st_nlink {st.st_nlink}, model {m.nlink(v)}")
            if inos.setdefault(v, st.st_ino) != st.st_ino:
                fail(f"{rel}: st_ino {st.st_ino}, but another name of the same file has "
                     f"{inos[v]}")
            if by_ino.setdefault(st.st_ino, v) != v:
                fail(f"{rel}: st_ino {st.st_ino} is also an unrelated file's")
            check_file(full, rel, ino, fail)
            try:
                names = [n for n in os.listxattr(full) if n.startswith("user.")]
                got = {n: os.getxattr(full, n) for n in names}
            except OSError as e:
                fail(f"{rel}: xattrs: {errname(e.errno)}")
                continue
            if got != ino.xattrs:
                fail(f"{rel}: xattrs {sorted(got)} differ from the model's {sorted(ino.xattrs)}"
                     + ("" if set(got) != set(ino.xattrs) else " (values)"))


def cmd_run(args):
    pids = {}
    t0 = time.monotonic()
    os.mkdir(os.path.join(args.root, SHARED), 0o755)
    for i in range(args.procs):
        seed = args.seed * 1000 + i
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                fails = Failures(f"p{i} seed {seed}")
                w = Worker(args.root, f"p{i}", seed, fails)
                w.run(args.ops)
                verify(w.root, w.m, fails)
                with open(f"{args.model}.p{i}", "w") as f:
                    json.dump(w.m.to_json(), f)
                files = len(w.m.files())
                print(f"stress: p{i} (seed {seed}): {args.ops} operations, {files} files, "
                      f"{len(w.m.dirs())} dirs at the end, {fails.count} failure(s); "
                      f"ops {w.stats}", flush=True)
                code = 1 if fails.count else 0
            except Exception as e:  # pylint: disable=broad-except
                print(f"FAIL [p{i} seed {seed}] crashed: {e!r}", flush=True)
            finally:
                os._exit(code)  # pylint: disable=protected-access
        pids[pid] = i
    bad = 0
    for _ in range(args.procs):
        pid, status = os.wait()
        if not os.WIFEXITED(status) or os.WEXITSTATUS(status) != 0:
            bad += 1
    print(f"stress: {args.procs} workers x {args.ops} operations in "
          f"{time.monotonic() - t0:.1f} s, {bad} worker(s) failed")
    return 1 if bad else 0


def cmd_verify(args):
    total = 0
    i = 0
    while os.path.exists(f"{args.model}.p{i}"):
        with open(f"{args.model}.p{i}") as f:
            m = Model.from_json(json.load(f))
        fails = Failures(f"verify p{i}")
        verify(args.root, m, fails)
        total += fails.count
        i += 1
    if i == 0:
        print(f"stress: no model files {args.model}.p*")
        return 2
    print(f"stress: verified {i} subtrees against the model, {total} difference(s)")
    return 1 if total else 0


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("root")
    r.add_argument("model")
    r.add_argument("--procs", type=int, default=4)
    r.add_argument("--ops", type=int, default=3000)
    r.add_argument("--seed", type=int, default=1)
    v = sub.add_parser("verify")
    v.add_argument("root")
    v.add_argument("model")
    args = p.parse_args()
    return cmd_run(args) if args.cmd == "run" else cmd_verify(args)


if __name__ == "__main__":
    sys.exit(main())
