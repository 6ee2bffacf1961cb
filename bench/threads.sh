#!/usr/bin/env bash
# bench/threads.sh [MODEL] [STEPS] [ROUNDS]
#
# Finds PyTorch's best thread setting on this machine: runs bench/torch_vae.py
# (default: mnist_mlp, 300 steps, batch of the model) for every combination of
#   BLAS            OpenBLAS pthread / OpenBLAS OpenMP build (picked with
#                   LD_LIBRARY_PATH, whatever update-alternatives says)
#   --threads       torch.set_num_threads 1, 2
#   OPENBLAS_NUM_THREADS   1, 2
#   OMP_NUM_THREADS        unset, 1, 2
# ROUNDS times (default 3), the combinations interleaved inside each round so
# that a burst of load elsewhere hits them alike, and prints best and median
# images/s of each, fastest first, with CPU time / wall time of the loop.
# Environment: VARIANTS, TORCH_THREADS, OPENBLAS_THREADS, OMP_THREADS narrow
# the lists ('-' is unset); BATCH=N overrides the model's batch; REFERENCE=1
# adds Debian's reference BLAS (libblas3) once, for scale; NICE=N as in
# run.sh.  Needs libopenblas0-pthread and libopenblas0-openmp.  Raw results
# go to BUILD/bench/logs/threads-MODEL-bBATCH.tsv.
set -uo pipefail
ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
BUILD=${VAEC_BUILD_DIR:-$ROOT/build}
LIB=/usr/lib/x86_64-linux-gnu
MODEL=${1:-mnist_mlp}
STEPS=${2:-300}
ROUNDS=${3:-3}
VARIANTS=${VARIANTS:-openblas-pthread openblas-openmp}
TORCH_THREADS=${TORCH_THREADS:-1 2}
OPENBLAS_THREADS=${OPENBLAS_THREADS:-1 2}
OMP_THREADS=${OMP_THREADS:-- 1 2}
BATCH=${BATCH:-0}
OUT=$BUILD/bench/logs/threads-$MODEL-b$BATCH.tsv
mkdir -p "$(dirname "$OUT")"
# shellcheck source=bench/prio.sh
source "$ROOT/bench/prio.sh"  # prio CMD...: CMD at nice $NICE in a session of its own

for v in $VARIANTS; do
    [[ -f $LIB/$v/libblas.so.3 ]] ||
        { echo "threads: $LIB/$v missing (apt-get install libopenblas0-${v#openblas-})" >&2; exit 1; }
done

run() {  # run BLASDIR TORCH_THREADS OPENBLAS_NUM_THREADS OMP_NUM_THREADS(- = unset)
    local env=(LD_LIBRARY_PATH="$LIB/$1" OPENBLAS_NUM_THREADS="$3")
    [[ $4 != - ]] && env+=(OMP_NUM_THREADS="$4")
    local line
    line=$(prio env -u OMP_NUM_THREADS "${env[@]}" /usr/bin/python3 "$ROOT/bench/torch_vae.py" \
        --model "$MODEL" --batch "$BATCH" --epochs 1 --max-steps "$STEPS" --threads "$2" --no-test | grep '^RESULT ')
    /usr/bin/python3 - "$1" "$2" "$3" "$4" "${line#RESULT }" <<'PY'
import json, sys
blas, t, ob, omp, js = sys.argv[1:]
r = json.loads(js)
print("\t".join([blas, t, ob, omp, str(r["images_per_sec"]),
                 "%.2f" % (r["train_cpu_seconds"] / r["train_seconds"]), "%.2f" % r["loadavg"]]))
PY
}

printf 'blas\ttorch_threads\tOPENBLAS_NUM_THREADS\tOMP_NUM_THREADS\timages_per_sec\tcpu_per_wall\tloadavg\n' >"$OUT"
if [[ -n ${REFERENCE:-} ]]; then
    run blas 1 1 - | tee -a "$OUT"
fi
for ((r = 1; r <= ROUNDS; r++)); do
    for v in $VARIANTS; do
        for t in $TORCH_THREADS; do
            for ob in $OPENBLAS_THREADS; do
                for omp in $OMP_THREADS; do
                    run "$v" "$t" "$ob" "$omp" | tee -a "$OUT"
                done
            done
        done
    done
done

echo
echo "best and median images/s over $ROUNDS rounds ($MODEL, batch ${BATCH/#0/default}, $STEPS steps):"
/usr/bin/python3 - "$OUT" <<'PY'
import collections, statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])][1:]
runs = collections.defaultdict(list)
for b, t, ob, omp, ips, cpw, load in rows:
    runs[(b, t, ob, omp)].append((float(ips), float(cpw), float(load)))
print("%-17s %6s %9s %5s %10s %10s %8s %8s" % ("blas", "torch", "OPENBLAS", "OMP", "best", "median",
                                             "cpu/wall", "load"))
for k, v in sorted(runs.items(), key=lambda kv: -max(x[0] for x in kv[1])):
    print("%-17s %6s %9s %5s %10.0f %10.0f %8.2f %8.2f" % (
        k[0], k[1], k[2], k[3], max(x[0] for x in v), statistics.median(x[0] for x in v),
        statistics.median(x[1] for x in v), statistics.median(x[2] for x in v)))
PY
