#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""A service socket that speaks the fuservice protocol (docs/protocol.md) and then misbehaves
on purpose, for tests/integration/test-helper-attacks.sh. One mode per run:

    hostile-server.py SOCKET MODE [LOG]

Modes (each connection is handled the same way):
  fd-flood       HELLO_REPLY carrying 200 fds (a socket); logs 'sendmsg: EPERM' when the
                 helper's SO_PASSRIGHTS=0 made the kernel refuse, then sends ERROR
  fd-type        HELLO_REPLY carrying one fd of an unexpected type (a socket)
  oversized      a 70000-byte datagram
  truncated      a header announcing 64 bytes, 24 sent
  garbage        bytes that are not a message
  twice          HELLO_REPLY twice
  out-of-order   MOUNT_REQUEST before HELLO_REPLY
  close-hello    close after reading HELLO
  close-context  close after reading MOUNT_CONTEXT
  close-result   valid MOUNT_REQUEST, close after MOUNT_RESULT (the mount must be undone)
  linger         valid MOUNT_REQUEST, never READY (the mount must be undone after 10 s)
  silent-context HELLO_REPLY, then never a MOUNT_REQUEST (30 s bound)
  bad-source     MOUNT_REQUEST for SOURCE /dev/sda
  bad-mountpoint MOUNT_REQUEST for MOUNTPOINT /etc
  allow-other    MOUNT_REQUEST adding FUSE_OPTIONS allow_other
  bad-options    MOUNT_REQUEST with FUSE_OPTIONS user_id=0
  bad-flags      MOUNT_REQUEST asking read-write
  error-text     ERROR whose MESSAGE is 1024 bytes of 8-bit CSI sequences and 0xff
Listens until killed; removes SOCKET on SIGTERM. Writes what happened to LOG (default stdout).
"""

import errno
import os
import signal
import socket
import struct
import sys
import time

MAGIC = 0x46345356
HELLO, HELLO_REPLY, MOUNT_CONTEXT, MOUNT_REQUEST, MOUNT_RESULT, READY, ERROR = range(1, 8)
T_VERSION, T_DEVICE, T_MOUNTPOINT = 3, 4, 5
T_MOUNT_FLAGS, T_SOURCE, T_SUBTYPE, T_FUSE_OPTIONS, T_ERRNO, T_MESSAGE = 8, 10, 11, 12, 13, 14


def rec(tag, value, critical=True):
    if isinstance(value, str):
        value = value.encode()
    pad = (-len(value)) % 4
    return struct.pack(">HHI", tag, 1 if critical else 0, len(value)) + value + b"\0" * pad


def u16(v):
    return struct.pack(">H", v)


def u32(v):
    return struct.pack(">I", v)


def msg(mtype, *records):
    body = b"".join(records)
    return struct.pack(">IHHII", MAGIC, 1, mtype, 16 + len(body), 0) + body


def parse(data):
    magic, _ver, mtype, length, _res = struct.unpack_from(">IHHII", data)
    assert magic == MAGIC and length == len(data)
    off, recs = 16, {}
    while off < length:
        tag, _flags, vlen = struct.unpack_from(">HHI", data, off)
        recs[tag] = data[off + 8:off + 8 + vlen]
        off += 8 + vlen + ((-vlen) % 4)
    return mtype, recs


def recv(c):
    data, fds, _flags, _addr = socket.recv_fds(c, 65536, 4)
    for fd in fds:
        os.close(fd)
    return parse(data)


def request(ctx, **over):
    fields = {
        "source": ctx[T_DEVICE].decode(),
        "mountpoint": ctx[T_MOUNTPOINT].decode(),
        "flags": 1,
        "options": None,
    }
    fields.update(over)
    recs = [rec(T_MOUNT_FLAGS, u32(fields["flags"])), rec(T_SOURCE, fields["source"]),
            rec(T_MOUNTPOINT, fields["mountpoint"]), rec(T_SUBTYPE, "fuse4fs")]
    if fields["options"]:
        recs.append(rec(T_FUSE_OPTIONS, fields["options"]))
    recs.sort(key=lambda r: struct.unpack_from(">H", r)[0])
    return msg(MOUNT_REQUEST, *recs)


def handle(c, mode, log):
    reply = msg(HELLO_REPLY, rec(T_VERSION, u16(1)))
    if mode == "out-of-order":
        c.send(msg(MOUNT_REQUEST, rec(T_SOURCE, "/dev/sda")))
    mtype, _ = recv(c)
    log(f"got type {mtype}")
    if mode == "close-hello":
        return
    if mode in ("fd-flood", "fd-type"):
        a, b = socket.socketpair()
        fds = [a.fileno()] * (200 if mode == "fd-flood" else 1)
        try:
            socket.send_fds(c, [reply], fds)
            log("sendmsg: sent")
        except OSError as e:
            log(f"sendmsg: {errno.errorcode.get(e.errno, e.errno)}")
            c.send(msg(ERROR, rec(T_ERRNO, u32(errno.EPERM)), rec(T_MESSAGE, "fds refused", False)))
        time.sleep(15)
        return
    if mode == "oversized":
        c.send(reply + rec(99, b"x" * 70000, False))
        time.sleep(15)
        return
    if mode == "truncated":
        c.send(struct.pack(">IHHII", MAGIC, 1, HELLO_REPLY, 64, 0) + b"\0" * 8)
        time.sleep(15)
        return
    if mode == "garbage":
        c.send(b"GET / HTTP/1.0\r\n\r\n")
        time.sleep(15)
        return
    if mode == "error-text":
        c.send(msg(ERROR, rec(T_ERRNO, u32(5)), rec(T_MESSAGE, (b"\x9b2J\xff" * 256)[:1024], False)))
        return
    c.send(reply)
    if mode == "twice":
        c.send(reply)
    mtype, ctx = recv(c)
    log(f"got type {mtype}")
    if mode in ("close-context", "twice"):
        time.sleep(1 if mode == "close-context" else 15)
        return
    if mode == "silent-context":
        time.sleep(40)
        return
    over = {
        "bad-source": {"source": "/dev/sda"},
        "bad-mountpoint": {"mountpoint": "/etc"},
        "allow-other": {"options": "allow_other"},
        "bad-options": {"options": "user_id=0"},
        "bad-flags": {"flags": 0},
    }.get(mode, {})
    c.send(request(ctx, **over))
    try:
        mtype, recs = recv(c)
        err = struct.unpack(">I", recs.get(T_ERRNO, bytes(4)))[0]
        log(f"got type {mtype} errno {err}")
    except (OSError, AssertionError, struct.error) as e:
        log(f"recv: {e}")
        return
    if mode == "close-result":
        return
    if mode == "linger":
        time.sleep(15)


def main():
    path, mode = sys.argv[1], sys.argv[2]
    out = open(sys.argv[3], "a", buffering=1) if len(sys.argv) > 3 else sys.stdout

    def log(s):
        print(f"{mode}: {s}", file=out, flush=True)

    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.bind(path)
    os.chmod(path, 0o600)
    s.listen(8)

    children = []

    def stop(*_):
        for pid in children:  # only the processes this script started
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            os.unlink(path)
        finally:
            os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    log("listening")
    while True:
        c, _ = s.accept()
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            try:
                handle(c, mode, log)
            except Exception as e:  # the helper hung up: that is its right
                log(f"connection ended: {e!r}")
            os._exit(0)
        children.append(pid)
        c.close()
        try:
            while os.waitpid(-1, os.WNOHANG)[0]:
                pass
        except ChildProcessError:
            pass


if __name__ == "__main__":
    main()
