#!/usr/bin/env bash
# bench/mpi.sh [PAIRS]
#
# Data-parallel training on this machine and a model of it on many
# (docs/DISTRIBUTED.md). For mnist_mlp (batch 128) and mnist_conv (batch
# 16): PAIRS back-to-back pairs (default 5; the order alternates) of
# `mpirun -np 2 train --threads 1` against one process on 2 threads, 300
# steps each, and the median of the pairs' images/s ratios (2x1 / 1x2);
# then the gradient bytes each step sums (the plan's parameter region), the
# median time of an MPI_Allreduce of that size between 2 local ranks, one
# rank's step time on 1 thread at the whole batch, and from those a model
# of N machines with one rank each:
#   step(N) = compute(batch / N) + 2 (N - 1) / N * bytes / bandwidth + 2 (N - 1) * latency
# (a ring allreduce, not overlapped with compute: the plan's buckets start
# late in these models' backward passes), compute proportional to the
# rank's rows, at 10 Gbit/s (latency 20 us) and 100 Gbit/s (latency 3 us):
# the step time and efficiency (step(1) / (N step(N))) at the global batch,
# and the rows per rank for 90 % efficiency at any N (weak scaling).
#
# Environment: SKIP_BUILD=1, VAEC_BUILD_DIR, NICE (bench/prio.sh).
set -uo pipefail
ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
BUILD=${VAEC_BUILD_DIR:-$ROOT/build}
PAIRS=${1:-5}
# shellcheck source=bench/prio.sh
source "$ROOT/bench/prio.sh"
die() { printf 'mpi: error: %s\n' "$*" >&2; exit 1; }
[[ $PAIRS =~ ^[1-9][0-9]*$ ]] || die "PAIRS must be a positive integer"
command -v mpirun >/dev/null && command -v mpicxx >/dev/null || die "no mpirun/mpicxx (scripts/setup.sh installs OpenMPI)"
[[ -f $ROOT/data/mnist/train-images-idx3-ubyte ]] || die "no data/mnist (run scripts/setup.sh)"
if [[ -z ${SKIP_BUILD:-} ]]; then
    VAEC_BUILD_DIR=$BUILD "$ROOT/scripts/build.sh" >/dev/null || die "scripts/build.sh failed"
fi
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl_vader_single_copy_mechanism=none
OUT=$BUILD/bench/mpi
mkdir -p "$OUT"
mpicxx -O2 "$ROOT/bench/allreduce_time.cpp" -o "$OUT/allreduce_time" || die "mpicxx failed"

ips() { sed -n 's/.*"images_per_sec": \([0-9.]*\).*/\1/p'; }
results=$OUT/results.txt
: >"$results"
for model in mnist_mlp mnist_conv; do
    "$BUILD/vaec" compile "$ROOT/models/$model.yaml" -o "$OUT/$model" >/dev/null || die "vaec compile $model failed"
    train=$OUT/$model/train
    common=(--data "$ROOT/data/mnist" --max-steps 300 --epochs 1 --checkpoint-every 0 --quiet)
    for ((p = 1; p <= PAIRS; ++p)); do
        one() { prio "$train" "${common[@]}" --threads 2 --out "$OUT/$model.one" | ips; }
        two() { prio mpirun -np 2 --bind-to core "$train" "${common[@]}" --threads 1 --out "$OUT/$model.two" | ips; }
        if ((p % 2)); then a=$(two); b=$(one); else b=$(one); a=$(two); fi
        printf '%s pair %d  2x1 %8s img/s  1x2 %8s img/s\n' "$model" "$p" "$a" "$b"
        echo "$model pair $a $b" >>"$results"
    done
    # One rank's step on 1 thread at the whole batch, and the bytes it sums.
    t1=$(prio "$train" "${common[@]}" --threads 1 --team fixed --out "$OUT/$model.t1" | ips)
    floats=$(awk '$1 == "regions" { print $2 }' "$OUT/$model/ir/plan.txt")
    batch=$(awk '$1 == "config" && $2 == "batch" { print $3 }' "$OUT/$model/ir/plan.txt")
    us=$(mpirun -np 2 --bind-to core "$OUT/allreduce_time" "$floats" 200)
    echo "$model model $batch $floats $t1 $us" >>"$results"
done

/usr/bin/python3 - "$results" <<'PY'
import statistics, sys
pairs, model = {}, {}
for line in open(sys.argv[1]):
    w = line.split()
    if w[1] == "pair":
        pairs.setdefault(w[0], []).append(float(w[2]) / float(w[3]))
    else:
        model[w[0]] = tuple(float(x) for x in w[2:])
print("\n2 ranks x 1 thread against 1 process x 2 threads (median of back-to-back pairs)")
for m, r in pairs.items():
    print(f"  {m:<11} {statistics.median(r):.2f}  ({len(r)} pairs, {min(r):.2f}-{max(r):.2f})")
nets = [("10 Gbit/s", 10e9 / 8, 20e-6), ("100 Gbit/s", 100e9 / 8, 3e-6)]
for m, (batch, floats, ips1, local_us) in model.items():
    nbytes = 4 * floats
    per_row = 1.0 / ips1  # seconds of one rank's step per row, on 1 thread
    print(f"\n{m}: batch {batch:.0f}, {nbytes / 1e6:.2f} MB of gradients summed per step, "
          f"one rank's step {1e3 * batch * per_row:.2f} ms on 1 thread ({ips1:,.0f} img/s); "
          f"an allreduce of them between 2 local ranks {local_us:.0f} us")
    print(f"  {'N':>3} " + " ".join(f"{name + ' step ms':>18} {'eff':>5} {'rows/rank 90%':>14}" for name, _, _ in nets))
    for n in (2, 4, 8, 16, 32, 64):
        cells = []
        for name, bw, lat in nets:
            comm = 2 * (n - 1) / n * nbytes / bw + 2 * (n - 1) * lat
            step = batch / n * per_row + comm
            eff = batch * per_row / (n * step)
            rows90 = 9 * comm / per_row  # compute(rows) >= 9 comm
            cells.append(f"{1e3 * step:>18.3f} {eff:>5.2f} {rows90:>14,.0f}")
        print(f"  {n:>3} " + " ".join(cells))
PY
