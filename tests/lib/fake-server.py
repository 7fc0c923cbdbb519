#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""A service socket that misbehaves, standing in for fuse4fs.socket in the helper's failure tests.

    fake-server.py SOCKET hang|close

hang:  accept connections and never answer (a server stuck before HELLO_REPLY).
close: accept and close each connection at once (a server that dies on start).
Listens until killed; removes SOCKET when it gets SIGTERM.
"""

import os
import signal
import socket
import sys
import time


def main():
    path, mode = sys.argv[1], sys.argv[2]
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.bind(path)
    os.chmod(path, 0o600)
    s.listen(8)

    def stop(*_):
        os.unlink(path)
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    held = []
    print("listening", flush=True)
    while True:
        c, _ = s.accept()
        if mode == "close":
            c.close()
        else:
            held.append(c)  # keep it open and silent
            time.sleep(0.01)


if __name__ == "__main__":
    main()
