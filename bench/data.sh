#!/usr/bin/env bash
# bench/data.sh [PAIRS] [EPOCHS]: is loading the bottleneck? mnist_mlp trained
# from MNIST as IDX files, as an .npz and as a folder of PNGs
# (scripts/convert_idx.py), the three runs back to back PAIRS times (default
# 5), EPOCHS epochs each (default 2, at batch 128 with 2 threads). Prints the
# median images/s of each format (the training loop), the median of the
# per-round ratios to IDX, and the median seconds of the whole run, loading
# the data included. Needs a build (scripts/build.sh) and the data
# (scripts/setup.sh). docs/DATA.md quotes it.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PAIRS=${1:-5}
EPOCHS=${2:-2}
work="$ROOT/build/bench/data"
mkdir -p "$work"
[[ -x $ROOT/build/vaec ]] || { echo "bench/data.sh: build first (scripts/build.sh)" >&2; exit 1; }
"$ROOT/build/vaec" compile "$ROOT/models/mnist_mlp.yaml" -o "$work/mlp" > /dev/null
[[ -s $work/mnist.npz ]] || /usr/bin/python3 "$ROOT/scripts/convert_idx.py" "$ROOT/data/mnist" "$work/mnist.npz"
[[ -d $work/png/train ]] || /usr/bin/python3 "$ROOT/scripts/convert_idx.py" "$ROOT/data/mnist" "$work/png" --png
declare -A args=([idx]="--data $ROOT/data/mnist" [npz]="--data $work/mnist.npz"
                 [png]="--data $work/png/train --test $work/png/test")
: > "$work/results.txt"
for ((round = 1; round <= PAIRS; round++)); do
  for f in idx npz png; do
    line=$(OMP_WAIT_POLICY=passive "$work/mlp/train" ${args[$f]} --epochs "$EPOCHS" --threads 2 --seed 1 \
             --out "$work/out_$f" --quiet | grep '^RESULT')
    echo "$round $f $line" >> "$work/results.txt"
  done
done
/usr/bin/python3 - "$work/results.txt" <<'PY'
import json, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    r, f, rest = line.split(" ", 2)
    rows.setdefault(f, {})[int(r)] = json.loads(rest.split(" ", 1)[1])
print(f"{'format':8} {'images/s':>10} {'ratio to IDX':>13} {'seconds':>8}")
for f in ("idx", "npz", "png"):
    ips = [rows[f][r]["images_per_sec"] for r in rows[f]]
    ratio = [rows[f][r]["images_per_sec"] / rows["idx"][r]["images_per_sec"] for r in rows[f]]
    secs = [rows[f][r]["seconds"] for r in rows[f]]
    print(f"{f:8} {statistics.median(ips):10.0f} {statistics.median(ratio):13.3f} {statistics.median(secs):8.2f}")
print(f"(medians of {len(rows['idx'])} rounds; seconds: the whole run, loading included)")
PY
