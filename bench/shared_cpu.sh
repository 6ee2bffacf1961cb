#!/usr/bin/env bash
# bench/shared_cpu.sh [STEPS] [ROUNDS]
#
# A model's training speed (mnist_mlp unless MODEL says another) on a CPU
# shared with another program: the
# trainer with its default settings (the plan's adaptive team, libgomp's own
# spinning) runs on an idle machine and beside one CPU-bound single-threaded
# process (`python3 -c 'while 1: pass'`, the hog); so do two fixed teams of
# all threads on a plan compiled with `--team fixed` (whole products, the
# earlier default; for convolutions, whole ones instead of batch slices):
# `fixed` with libgomp's spinning, and `spin300` bounding it
# with GOMP_SPINCOUNT=300; and `one`, the default plan on one thread
# (`--threads 1`), what the default beside the hog should match. "idle /
# fixed idle" is thus what the adaptive default costs on an idle machine. Each round runs
# every (variant, idle|busy) once, back to back, the order reversed every
# other round; the script prints each run's images/s, then per variant the
# medians and the median over rounds of busy/idle and of idle / fixed idle.
#
#   STEPS    training steps per run (default 2000: the adaptive team
#            measures every half second, so short runs understate it);
#            `fixed` busy runs, many times slower, take FIXED_BUSY_STEPS
#            (default 200)
#   ROUNDS   rounds (default 5)
#
# Environment:
#   MODEL=NAME     models/NAME.yaml (default mnist_mlp), on its data set
#   BATCH=N        vaec compile --batch N (default: the model's)
#   VAEC_COMPILE_FLAGS="..."  more vaec compile options for both plans
#                  (e.g. "--precision bf16")
#   SPINS="N ..."  also measure a fixed team with GOMP_SPINCOUNT=N
#   THREADS=N      the trainer's --threads (default: the plan's, this machine's cores)
#   NICE=N         run the trainer and the hog each in a session of its own at
#                  nice N (e.g. -20, as root; bench/prio.sh), so that other work
#                  on the machine counts less than the hog
#   SKIP_BUILD=1   use build/vaec as it is; VAEC_BUILD_DIR as for scripts/build.sh
set -uo pipefail
ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
BUILD=${VAEC_BUILD_DIR:-$ROOT/build}
STEPS=${1:-2000}
ROUNDS=${2:-5}
FIXED_BUSY_STEPS=${FIXED_BUSY_STEPS:-200}
SPINS=${SPINS:-}
# shellcheck source=bench/prio.sh
source "$ROOT/bench/prio.sh"

die() { printf 'shared_cpu: error: %s\n' "$*" >&2; exit 1; }
[[ $STEPS =~ ^[1-9][0-9]*$ && $ROUNDS =~ ^[1-9][0-9]*$ && $FIXED_BUSY_STEPS =~ ^[1-9][0-9]*$ ]] ||
    die "STEPS, ROUNDS and FIXED_BUSY_STEPS must be positive integers"
[[ -f $ROOT/data/mnist/train-images-idx3-ubyte ]] || die "no data/mnist (run scripts/setup.sh)"
if [[ -z ${SKIP_BUILD:-} ]]; then
    VAEC_BUILD_DIR=$BUILD "$ROOT/scripts/build.sh" >/dev/null || die "scripts/build.sh failed"
fi
OUT=$BUILD/bench/shared_cpu
MODEL=${MODEL:-mnist_mlp}
[[ -f $ROOT/models/$MODEL.yaml ]] || die "no models/$MODEL.yaml"
batch=()
if [[ -n ${BATCH:-} ]]; then
    [[ $BATCH =~ ^[1-9][0-9]*$ ]] || die "BATCH must be a positive integer"
    batch=(--batch "$BATCH")
fi
read -r -a flags <<< "${VAEC_COMPILE_FLAGS:-}"
"$BUILD/vaec" compile "$ROOT/models/$MODEL.yaml" "${batch[@]}" "${flags[@]}" -o "$OUT/adaptive" >/dev/null ||
    die "vaec compile failed"
"$BUILD/vaec" compile "$ROOT/models/$MODEL.yaml" "${batch[@]}" "${flags[@]}" --team fixed -o "$OUT/fixed" >/dev/null ||
    die "vaec compile --team fixed failed"
images_per_step=$(sed -n 's/^config batch \([0-9]*\)$/\1/p' "$OUT/adaptive/ir/plan.txt")
[[ $images_per_step =~ ^[1-9][0-9]*$ ]] || die "the plan states no batch"
threads=()
[[ -n ${THREADS:-} ]] && threads=(--threads "$THREADS")

# variant name -> the environment it runs with ("-": none) and its --team
variants=(default spin300 fixed one)
declare -A env_of=([default]=- [spin300]=GOMP_SPINCOUNT=300 [fixed]=- [one]=-)
declare -A team_of=([default]=adaptive [spin300]=fixed [fixed]=fixed [one]=adaptive)
for n in $SPINS; do
    [[ $n =~ ^[0-9]+$ ]] || die "SPINS must list whole numbers, not '$n'"
    variants+=("spin$n")
    env_of[spin$n]=GOMP_SPINCOUNT=$n
    team_of[spin$n]=fixed
done

hog_pid=
start_hog() {
    if [[ -n ${NICE:-} ]]; then
        setsid bash -c 'echo "$1" >/proc/self/autogroup 2>/dev/null; exec nice -n "$1" python3 -c "while 1: pass"' \
            hog "$NICE" &
    else
        python3 -c 'while 1: pass' &
    fi
    hog_pid=$!
    sleep 0.3  # the hog at full speed before the trainer starts
}
stop_hog() { kill "$hog_pid" 2>/dev/null; wait "$hog_pid" 2>/dev/null; hog_pid=; }
trap '[[ -n $hog_pid ]] && kill "$hog_pid" 2>/dev/null' EXIT

# run VARIANT idle|busy -> prints images/s
run() {
    local variant=$1 mode=$2 steps=$STEPS env=() threads_of=("${threads[@]}")
    [[ ${env_of[$variant]} != - ]] && env=("${env_of[$variant]}")
    [[ $variant == one ]] && threads_of=(--threads 1)
    [[ $variant == fixed && $mode == busy ]] && steps=$FIXED_BUSY_STEPS
    [[ $mode == busy ]] && start_hog
    local result epochs=$(((steps * images_per_step + 59999) / 60000))  # 60,000 training images
    result=$(prio env "${env[@]}" "$OUT/${team_of[$variant]}/train" "${threads_of[@]}" --team "${team_of[$variant]}" --max-steps "$steps" --epochs "$epochs" \
        --checkpoint-every 0 --out "$OUT/run" --quiet 2>/dev/null | sed -n 's/.*"images_per_sec": \([0-9.]*\).*/\1/p')
    [[ $mode == busy ]] && stop_hog
    printf '%s\n' "${result:-nan}"
}

runs=()
for v in "${variants[@]}"; do runs+=("$v idle" "$v busy"); done
results=$(mktemp)
for ((r = 1; r <= ROUNDS; ++r)); do
    order=("${runs[@]}")
    if ((r % 2 == 0)); then
        order=(); for ((i = ${#runs[@]} - 1; i >= 0; --i)); do order+=("${runs[i]}"); done
    fi
    for pair in "${order[@]}"; do
        read -r v mode <<<"$pair"
        ips=$(run "$v" "$mode")
        printf 'round %d  %-12s %-4s %10s img/s\n' "$r" "$v" "$mode" "$ips"
        printf '%d %s %s %s\n' "$r" "$v" "$mode" "$ips" >>"$results"
    done
done

/usr/bin/python3 - "$results" "${variants[@]}" <<'EOF'
import statistics, sys
rows = [line.split() for line in open(sys.argv[1])]
ips = {(int(r), v, m): float(x) for r, v, m, x in rows}
rounds = sorted({k[0] for k in ips})
med = lambda xs: statistics.median(xs) if xs else float("nan")
print(f"\n{len(rounds)} rounds; medians")
print(f"{'variant':<12} {'idle img/s':>11} {'busy img/s':>11} {'busy/idle':>10} {'idle/fixed idle':>16}")
for v in sys.argv[2:]:
    idle = [ips[r, v, "idle"] for r in rounds]
    busy = [ips[r, v, "busy"] for r in rounds]
    ratio = [ips[r, v, "busy"] / ips[r, v, "idle"] for r in rounds]
    vs_fixed = [ips[r, v, "idle"] / ips[r, "fixed", "idle"] for r in rounds]
    print(f"{v:<12} {med(idle):>11,.0f} {med(busy):>11,.0f} {med(ratio):>10.2f} {med(vs_fixed):>16.3f}")
EOF
rm -f "$results"
