"""close_metrics.py A.csv B.csv [REL [C.csv...]]: the loss columns of two
metrics.csv files agree row by row (same epochs and steps) to a relative
difference below REL (default 1e-4), or, given Cs (A's run in other
summation orders, e.g. another --threads), below twice A's largest
difference from them if that is larger: training amplifies rounding, and
the Cs measure by how much. Prints the largest differences, exits 1 when B
is too far."""
import csv
import sys


def rows(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def difference(a, b):
    if len(a) != len(b) or not a:
        sys.exit(f"{len(a)} rows against {len(b)}")
    worst = 0.0
    for ra, rb in zip(a, b):
        if (ra["epoch"], ra["step"]) != (rb["epoch"], rb["step"]):
            sys.exit(f"row epoch {ra['epoch']} step {ra['step']} against epoch {rb['epoch']} step {rb['step']}")
        for k in ra:
            if k in ("epoch", "step", "images_per_sec", "seconds") or ra[k] == "":
                continue
            x, y = float(ra[k]), float(rb[k])
            worst = max(worst, abs(x - y) / max(abs(x), abs(y), 1e-30))
    return worst


a, b = rows(sys.argv[1]), rows(sys.argv[2])
allowed = float(sys.argv[3]) if len(sys.argv) > 3 else 1e-4
worst = difference(a, b)
print(f"{len(a)} rows; largest relative difference {worst:.1e}")
for path in sys.argv[4:]:
    own = difference(a, rows(path))
    print(f"the same run in another summation order: {own:.1e}")
    allowed = max(allowed, 2 * own)
sys.exit(0 if worst < allowed else 1)
