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
    ("statfs", "statfs() round trip, µs", False),
    ("create", "create, files/s", True),
    ("stat-cold", "stat cold, files/s", True),
    ("stat-warm", "stat warm, files/s", True),
    ("rename", "rename, files/s", True),
    ("unlink", "unlink, files/s", True),
    ("untar", "untar + syncfs, s", False),
    ("findcat", "cold find \\| xargs cat, s", False),
    ("rmrf", "rm -rf + syncfs, s", False),
    ("rss", "server peak RSS (VmHWM), MiB", False),
]
NAMES = {"kernel": "kernel ext4", "service": "fuse4fs (service)", "direct": "fuse4fs (direct)",
         "fuse2fs": "fuse2fs", "floor": "FUSE floor (nullfs)"}


def fmt(v):
    if v >= 100:
        return "%.0f" % v
    if v >= 10:
        return "%.1f" % v
    return "%.2f" % v


def per_rep(samples, metric):
    """One value per repetition: the highest peak RSS of its sessions, the median otherwise."""
    return {r: (max(v) if metric == "rss" else statistics.median(v)) for r, v in samples.items()}


def main():
    path, systems = sys.argv[1], sys.argv[2].split(",")
    # (system, metric) -> rep -> [values]
    samples, reasons = {}, {}
    with open(path) as f:
        for line in f:
            rep, system, metric, value = line.rstrip("\n").split("\t", 3)
            if value.startswith("n/a"):
                reasons[(system, metric)] = value
                continue
            samples.setdefault((system, metric), {}).setdefault(rep, []).append(float(value))
    reps = {k: per_rep(v, k[1]) for k, v in samples.items()}
    # The value shown: the median of the repetitions' values; for mount and unmount, of every
    # (re)mount of the run.
    med = {}
    for k, v in samples.items():
        if k[1] in ("mount", "umount"):
            med[k] = statistics.median([x for r in v.values() for x in r])
        else:
            med[k] = statistics.median(reps[k].values())
    # The ratio shown: the median of the per-repetition ratios to the kernel.  Each system ran
    # each workload within minutes of the kernel in the same repetition, so a ratio cancels the
    # load the machine had then; a ratio of medians would not.
    ratios = {}
    for (s, metric), byrep in reps.items():
        base = reps.get(("kernel", metric))
        if s == "kernel" or not base:
            continue
        rs = [byrep[r] / base[r] for r in byrep if base.get(r)]
        if rs:
            ratios[(s, metric)] = rs
    nreps = max((len(v) for v in reps.values()), default=0)
    print("| workload | " + " | ".join(NAMES.get(s, s) for s in systems) + " |")
    print("|---|" + "---:|" * len(systems))
    notes, spread = {}, []
    for metric, label, higher in METRICS:
        if not any((s, metric) in med or (s, metric) in reasons for s in systems):
            continue
        cells, rcells = [], []
        for s in systems:
            rs = ratios.get((s, metric))
            if (s, metric) in med:
                cell = fmt(med[(s, metric)])
                if rs:
                    # Rates as a share of the kernel's, times as a multiple of the kernel's:
                    # the way issue 6 states its targets.
                    r = statistics.median(rs)
                    cell += " (%.0f%%)" % (100 * r) if higher else " (%.1fx)" % r
                    rcells.append(", ".join(("%.0f%%" % (100 * x)) if higher else ("%.1fx" % x)
                                            for x in rs))
                elif s != "kernel":
                    rcells.append("-")
            elif (s, metric) in reasons:
                cell = "n/a"
                # One line per system and reason: the floor has the same one for many rows.
                notes.setdefault((NAMES.get(s, s), reasons[(s, metric)][4:].strip()), []).append(label)
                if s != "kernel":
                    rcells.append("n/a")
            else:
                cell = "-"
                if s != "kernel":
                    rcells.append("-")
            cells.append(cell)
        print("| %s | %s |" % (label, " | ".join(cells)))
        if "kernel" in systems and any(c not in ("-", "n/a") for c in rcells):
            spread.append("| %s | %s |" % (label, " | ".join(rcells)))
    print()
    print("Medians of %d repetition(s); mount and unmount: medians of every (re)mount. In "
          "brackets: the median of the per-repetition ratios to the kernel, rates as a share "
          "of the kernel's, times as a multiple of the kernel's." % nreps)
    for (name, why), labels in sorted(notes.items()):
        print("- n/a: %s, %s: %s" % (name, "; ".join(labels), why))
    others = [s for s in systems if s != "kernel"]
    if spread and nreps > 1:
        print()
        print("Per-repetition ratios to the kernel (the spread behind each median):")
        print()
        print("| workload | " + " | ".join(NAMES.get(s, s) for s in others) + " |")
        print("|---|" + "---|" * len(others))
        for line in spread:
            print(line)
    floor_table(systems, reps)


def floor_table(systems, reps):
    """Each FUSE system's rates as a share of the floor's (times as multiples): the part of its
    gap to the kernel that is the server's own; the rest is what any FUSE server pays."""
    others = [s for s in systems if s not in ("kernel", "floor")]
    if "floor" not in systems or not others:
        return
    rows = []
    for metric, label, higher in METRICS:
        base = reps.get(("floor", metric))
        if not base or metric in ("rss",):
            continue
        cells = []
        for s in others:
            byrep = reps.get((s, metric), {})
            rs = [byrep[r] / base[r] for r in byrep if base.get(r)]
            if not rs:
                cells.append("-")
            elif higher:
                cells.append("%.0f%%" % (100 * statistics.median(rs)))
            else:
                cells.append("%.1fx" % statistics.median(rs))
        rows.append("| %s | %s |" % (label, " | ".join(cells)))
    if rows:
        print()
        print("Against the FUSE floor (the median of the per-repetition ratios to nullfs; what "
              "separates each server from the best any FUSE server does here):")
        print()
        print("| workload | " + " | ".join(NAMES.get(s, s) for s in others) + " |")
        print("|---|" + "---:|" * len(others))
        for line in rows:
            print(line)


if __name__ == "__main__":
    main()
