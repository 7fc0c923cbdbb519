# SPDX-License-Identifier: GPL-2.0-or-later
"""Turns bench/run.sh's raw results into the table of medians and ratios to the kernel.

  table.py RESULTS.tsv SYSTEMS

RESULTS.tsv: one sample per line, "rep<TAB>system<TAB>metric<TAB>value"; value is a number or
"n/a: reason".  Prints a Markdown table (readable as it is in a terminal) and the reasons."""
import statistics
import sys

# metric: (label, unit, higher_is_better)
METRICS = [
    ("mount", "mount, ms", False),
    ("umount", "unmount, ms", False),
    ("seqwrite", "seq write + fsync, MB/s", True),
    ("seqread", "seq read cold, MB/s", True),
]
for mode, mlabel in (("buf", "buffered"), ("direct", "O_DIRECT")):
    for rw in ("randread", "randwrite"):
        for qd in (1, 16):
            METRICS.append(("fio-%s-%s-qd%d" % (mode, rw, qd),
                            "%s 4k %s qd%d, IOPS" % (rw, mlabel, qd), True))
METRICS += [
    ("create", "create, files/s", True),
    ("stat-cold", "stat cold, files/s", True),
    ("stat-warm", "stat warm, files/s", True),
    ("rename", "rename, files/s", True),
    ("unlink", "unlink, files/s", True),
    ("untar", "untar + syncfs, s", False),
    ("findcat", "cold find | xargs cat, s", False),
    ("rmrf", "rm -rf + syncfs, s", False),
    ("rss", "server peak RSS (VmHWM), MiB", False),
]
NAMES = {"kernel": "kernel ext4", "service": "fuse4fs (service)", "direct": "fuse4fs (direct)",
         "fuse2fs": "fuse2fs"}


def fmt(v):
    if v >= 100:
        return "%.0f" % v
    if v >= 10:
        return "%.1f" % v
    return "%.2f" % v


def main():
    path, systems = sys.argv[1], sys.argv[2].split(",")
    samples, reasons = {}, {}
    with open(path) as f:
        for line in f:
            _, system, metric, value = line.rstrip("\n").split("\t", 3)
            if value.startswith("n/a"):
                reasons[(system, metric)] = value
                continue
            samples.setdefault((system, metric), []).append(float(value))
    med = {k: statistics.median(v) for k, v in samples.items()}
    reps = max((len(v) for k, v in samples.items() if k[1] not in ("mount", "umount")), default=0)
    print("| workload | " + " | ".join(NAMES.get(s, s) for s in systems) + " |")
    print("|---|" + "---:|" * len(systems))
    notes = []
    for metric, label, higher in METRICS:
        if not any((s, metric) in med or (s, metric) in reasons for s in systems):
            continue
        cells = []
        base = med.get(("kernel", metric))
        for s in systems:
            if (s, metric) in med:
                v = med[(s, metric)]
                cell = fmt(v)
                if s != "kernel" and base:
                    # Rates as a share of the kernel's, times as a multiple of the kernel's:
                    # the way issue 6 states its targets.
                    cell += " (%.0f%%)" % (100 * v / base) if higher else " (%.1fx)" % (v / base)
            elif (s, metric) in reasons:
                cell = "n/a"
                notes.append("%s, %s: %s" % (NAMES.get(s, s), label, reasons[(s, metric)][4:].strip()))
            else:
                cell = "-"
            cells.append(cell)
        print("| %s | %s |" % (label, " | ".join(cells)))
    print()
    print("Medians of %d repetition(s); mount and unmount: medians of every (re)mount. In "
          "brackets: rates as a share of the kernel's, times as a multiple of the kernel's." % reps)
    for n in sorted(set(notes)):
        print("- n/a: " + n)


if __name__ == "__main__":
    main()
