#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Write the seed corpus of fuzz-proto-decode: every message type, valid, plus one malformed
input per decoder rejection. Run once from the source tree; the output is committed:

    python3 tests/fuzz/gen-proto-corpus.py tests/fuzz/corpus/proto-decode

This is an independent writer of the wire format (fuservice-proto.h), not the C encoder, so
the seeds do not inherit an encoder bug."""
import os
import struct
import sys

MAGIC = 0x46345356
CRIT = 1
HELLO, HELLO_REPLY, MOUNT_CONTEXT, MOUNT_REQUEST, MOUNT_RESULT, READY, ERROR = range(1, 8)
(VERSION_MIN, VERSION_MAX, VERSION, DEVICE_PATH, MOUNTPOINT, UID, GID, MOUNT_FLAGS, OPTIONS,
 SOURCE, SUBTYPE, FUSE_OPTIONS, ERRNO, MESSAGE) = range(1, 15)


def rec(tag, value, flags=CRIT, vlen=None, pad=None):
    if isinstance(value, str):
        value = value.encode()
    n = len(value) if vlen is None else vlen
    padding = b'\0' * (-len(value) % 4) if pad is None else pad
    return struct.pack('>HHI', tag, flags, n) + value + padding


def u16(tag, v, **kw):
    return rec(tag, struct.pack('>H', v), **kw)


def u32(tag, v, **kw):
    return rec(tag, struct.pack('>I', v), **kw)


def msg(mtype, *records, version=1, magic=MAGIC, length=None, reserved=0):
    body = b''.join(records)
    n = 16 + len(body) if length is None else length
    return struct.pack('>IHHII', magic, version, mtype, n, reserved) + body


def context(*extra):
    return msg(MOUNT_CONTEXT, rec(DEVICE_PATH, '/dev/sdb1'), rec(MOUNTPOINT, '/media/alice/stick'),
               u32(UID, 1000), u32(GID, 1000), u32(MOUNT_FLAGS, 1), *extra)


hello = msg(HELLO, u16(VERSION_MIN, 1), u16(VERSION_MAX, 1))
error = msg(ERROR, u32(ERRNO, 5), rec(MESSAGE, 'bad superblock', flags=0))

seeds = {
    # valid
    'hello': hello,
    'hello-newer-peer': msg(HELLO, rec(0x4242, 'future', flags=0), u16(VERSION_MAX, 7),
                            u16(VERSION_MIN, 1)),
    'hello-reply': msg(HELLO_REPLY, u16(VERSION, 1)),
    'mount-context': context(),
    'mount-context-options': context(rec(OPTIONS, 'allow_other,ro')),
    'mount-request': msg(MOUNT_REQUEST, rec(SOURCE, '/dev/sdb1'), rec(MOUNTPOINT, '/media/alice/stick'),
                         rec(SUBTYPE, 'fuse4fs'), u32(MOUNT_FLAGS, 1),
                         rec(FUSE_OPTIONS, 'default_permissions')),
    'mount-request-max-strings': msg(MOUNT_REQUEST, rec(SOURCE, '/' + 'a' * 4095),
                                     rec(MOUNTPOINT, '/' + 'b' * 4095), rec(SUBTYPE, 'c' * 4096),
                                     u32(MOUNT_FLAGS, 0), rec(FUSE_OPTIONS, 'd' * 4096)),
    'mount-result-ok': msg(MOUNT_RESULT, u32(ERRNO, 0)),
    'mount-result-eperm': msg(MOUNT_RESULT, u32(ERRNO, 1)),
    'ready': msg(READY),
    'ready-64-unknown': msg(READY, *[rec(0x7777, b'', flags=0)] * 64),
    'error': error,
    'error-no-message': msg(ERROR, u32(ERRNO, 5)),
    'error-utf8': msg(ERROR, u32(ERRNO, 117), rec(MESSAGE, 'Dateisystem beschädigt', flags=0)),
    # malformed: one per rejection
    'bad-empty': b'',
    'bad-short-header': hello[:15],
    'bad-over-max': msg(READY, rec(0x7777, b'\0' * 65536, flags=0)),
    'bad-magic': msg(READY, magic=0x46345357),
    'bad-version-0': msg(READY, version=0),
    'bad-version-2': msg(READY, version=2),
    'bad-type-0': msg(0),
    'bad-type-8': msg(8),
    'bad-length-long': msg(READY, length=20),
    'bad-length-trailing': hello + b'\0\0\0\0',
    'bad-reserved': msg(READY, reserved=1),
    'bad-truncated-record-header': msg(READY, b'\x77\x77\0\0'),
    'bad-truncated-value': msg(HELLO_REPLY, rec(VERSION, b'\0\1', vlen=8)),
    'bad-huge-vlen': msg(HELLO_REPLY, rec(VERSION, b'\0\1', vlen=0xfffffffd)),
    'bad-padding-nonzero': msg(HELLO_REPLY, rec(VERSION, b'\0\1', pad=b'\0\1')),
    'bad-padding-missing': msg(ERROR, u32(ERRNO, 5), rec(MESSAGE, 'bad superblock', flags=0, pad=b'')),
    'bad-flag': msg(HELLO_REPLY, u16(VERSION, 1, flags=3)),
    'bad-u16-size': msg(HELLO_REPLY, rec(VERSION, b'\0\0\0\1')),
    'bad-u32-size': msg(MOUNT_RESULT, rec(ERRNO, b'\0\0')),
    'bad-empty-string': msg(ERROR, u32(ERRNO, 5), rec(MESSAGE, b'', flags=0)),
    'bad-nul': msg(ERROR, u32(ERRNO, 5), rec(MESSAGE, b'bad\0superblock', flags=0)),
    'bad-control-char': msg(ERROR, u32(ERRNO, 5), rec(MESSAGE, 'two\nlines', flags=0)),
    'bad-string-over-max': msg(MOUNT_REQUEST, rec(SOURCE, 's' * 4097), rec(MOUNTPOINT, '/m'),
                               rec(SUBTYPE, 'fuse4fs'), u32(MOUNT_FLAGS, 0)),
    'bad-message-over-max': msg(ERROR, u32(ERRNO, 5), rec(MESSAGE, 'm' * 1025, flags=0)),
    'bad-duplicate': msg(HELLO_REPLY, u16(VERSION, 1), u16(VERSION, 1)),
    'bad-unknown-critical': msg(READY, rec(99, b'\xde\xad\xbe\xef')),
    'bad-not-allowed': msg(HELLO_REPLY, u16(VERSION, 1), u32(ERRNO, 0)),
    'bad-missing-required': msg(HELLO, u16(VERSION_MIN, 1)),
    'bad-too-many-records': msg(READY, *[rec(0x7777, b'', flags=0)] * 65),
    'bad-mount-flags': context()[:-4] + b'\0\0\0\3',
    'bad-version-range': msg(HELLO, u16(VERSION_MIN, 2), u16(VERSION_MAX, 1)),
    'bad-errno-range': msg(MOUNT_RESULT, u32(ERRNO, 4096)),
    'bad-error-errno-0': msg(ERROR, u32(ERRNO, 0)),
}


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else 'corpus/proto-decode'
    os.makedirs(out, exist_ok=True)
    for name, data in seeds.items():
        with open(os.path.join(out, name), 'wb') as f:
            f.write(data)
    print(f'{len(seeds)} files in {out}')


if __name__ == '__main__':
    main()
