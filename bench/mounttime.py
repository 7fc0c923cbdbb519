# SPDX-License-Identifier: GPL-2.0-or-later
"""Mount latency as the user sees it, for bench/run.sh: runs the mount command, then waits
until MNT is a mount of FSTYPE and statfs answers on it, and prints the milliseconds from just
before the command to that moment.  Timed inside one process, so that starting python (and
the bench's setpriv) is not charged to the mount.

  mounttime.py MNT FSTYPE CMD [ARG...]

Exits non-zero, with the command's status, if the command fails; 1 if the mount does not
answer within 20 s."""
import os
import subprocess
import sys
import time


def mounted_type(mnt):
    with open("/proc/self/mounts") as f:
        for line in f:
            fields = line.split()
            if fields[1] == mnt:
                return fields[2]
    return None


def main():
    mnt, fstype, cmd = sys.argv[1], sys.argv[2], sys.argv[3:]
    t0 = time.perf_counter()
    rc = subprocess.call(cmd)
    if rc != 0:
        sys.exit(rc)
    while time.perf_counter() - t0 < 20:
        if mounted_type(mnt) == fstype:
            try:
                os.statvfs(mnt)
                print("%.3f" % ((time.perf_counter() - t0) * 1000))
                return
            except OSError:
                pass
        time.sleep(0.001)
    sys.exit("mounttime.py: %s is not a %s mount 20 s after '%s'" % (mnt, fstype, " ".join(cmd)))


if __name__ == "__main__":
    main()
