#!/usr/bin/env bash
# bench/learning.sh [MODEL] [EPOCHS]
#
# bf16 against f32 in what a model learns, over several seeds: compiles
# MODEL once in f32 and once with --precision bf16 (bf16's choices are timed
# when compiling, so one plan each keeps the seeds comparable), trains both
# for EPOCHS (default: the model's train.epochs) at each seed of SEEDS, the
# two alternating, and prints each run's final test loss, the means, bf16's
# difference from f32, and the spread of the f32 runs themselves (one seed's
# difference is within that spread; the means are what to compare).
#
#   MODEL   mnist_mlp | mnist_conv | fashion_mlp | a models/*.yaml name (default: mnist_conv)
#
# Environment:
#   SEEDS="1 2 3"    the seeds (default)
#   THREADS=N        vaec compile --threads and the trainers' --threads (default 2)
#   BATCH=N          vaec compile --batch N
#   VAEC_COMPILE_FLAGS="FLAG..."   more vaec compile options for both plans
#   SKIP_BUILD=1     use build/vaec as it is (else scripts/build.sh first)
#   VAEC_BUILD_DIR   build directory (default: build/)
#
# Logs and both plans go to BUILD/bench/learning/MODEL/. A run takes the
# model's whole training: mnist_conv ~8 min per seed and precision on 2
# cores, mnist_mlp ~1 min.
set -uo pipefail

ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
BUILD=${VAEC_BUILD_DIR:-$ROOT/build}
MODEL=${1:-mnist_conv}
EPOCHS=${2:-}
SEEDS=${SEEDS:-1 2 3}
THREADS=${THREADS:-2}

die() { printf 'learning: error: %s\n' "$*" >&2; exit 1; }
say() { printf 'learning: %s\n' "$*" >&2; }

[[ -f $ROOT/models/$MODEL.yaml ]] || die "no models/$MODEL.yaml"
[[ -z $EPOCHS || $EPOCHS =~ ^[1-9][0-9]*$ ]] || die "EPOCHS must be a positive integer, not '$EPOCHS'"
[[ $THREADS =~ ^[1-9][0-9]*$ ]] || die "THREADS must be a positive integer"
[[ -z ${BATCH:-} || $BATCH =~ ^[1-9][0-9]*$ ]] || die "BATCH must be a positive integer"
read -ra seeds <<<"$SEEDS"
((${#seeds[@]} > 0)) || die "SEEDS is empty"
for s in "${seeds[@]}"; do [[ $s =~ ^[0-9]+$ ]] || die "seed '$s' is not a number"; done
read -ra flags <<<"${VAEC_COMPILE_FLAGS:-}"
[[ -n ${BATCH:-} ]] && flags+=(--batch "$BATCH")

case $(sed -n 's/.*data: *\([a-z_]*\).*/\1/p' "$ROOT/models/$MODEL.yaml" | head -1) in
    fashion_mnist) data=$ROOT/data/fashion ;;
    mnist) data=$ROOT/data/mnist ;;
    *) data= ;;  # the model's own path
esac
if [[ -n $data && ! -f $data/train-images-idx3-ubyte ]]; then
    say "$data missing: running scripts/setup.sh"
    "$ROOT/scripts/setup.sh" >&2 || die "scripts/setup.sh failed"
fi
if [[ -z ${SKIP_BUILD:-} ]]; then
    VAEC_BUILD_DIR=$BUILD "$ROOT/scripts/build.sh" >&2 || die "scripts/build.sh failed"
fi
[[ -x $BUILD/vaec ]] || die "no $BUILD/vaec (run scripts/build.sh)"

OUT=$BUILD/bench/learning/$MODEL
mkdir -p "$OUT" || die "cannot create $OUT"
for p in f32 bf16; do
    pflag=(); [[ $p == bf16 ]] && pflag=(--precision bf16)
    say "compiling $MODEL in $p"
    (cd "$ROOT" && "$BUILD/vaec" compile "models/$MODEL.yaml" -o "$OUT/$p" --threads "$THREADS" "${pflag[@]}" "${flags[@]}") \
        >"$OUT/$p.compile.log" 2>&1 || die "vaec compile failed (see $OUT/$p.compile.log)"
done
choice=$(grep -m1 '^ *precision bf16:' "$OUT/bf16.compile.log" | sed 's/^ *//; s/:$//')

# The test loss of a RESULT line, or "" when the run gave none.
test_loss() { sed -n 's/^RESULT .*"test_loss": \([-0-9.e+]*\).*/\1/p' "$1" | tail -1; }

rows=()
for s in "${seeds[@]}"; do
    row=$s
    for p in f32 bf16; do
        log=$OUT/$p.seed$s.log
        eflag=(); [[ -n $EPOCHS ]] && eflag=(--epochs "$EPOCHS")
        dflag=(); [[ -n $data ]] && dflag=(--data "$data")
        say "seed $s, $p"
        "$OUT/$p/train" --seed "$s" --threads "$THREADS" "${eflag[@]}" "${dflag[@]}" --out "$OUT/$p.seed$s" >"$log" 2>&1
        loss=$(test_loss "$log")
        [[ -n $loss ]] || die "the $p trainer gave no test loss at seed $s (see $log)"
        row+=" $loss"
    done
    rows+=("$row")
done

printf '%s\n' "${rows[@]}" | awk -v model="$MODEL" -v choice="$choice" '
    { seed[NR] = $1; f[NR] = $2; b[NR] = $3; sf += $2; sb += $3
      if (NR == 1 || $2 < fmin) fmin = $2; if (NR == 1 || $2 > fmax) fmax = $2 }
    END {
        n = NR; mf = sf / n; mb = sb / n
        printf "%s, final test loss per seed (%s)\n\n", model, choice == "" ? "bf16 plan: see its compile log" : choice
        printf "| seed | f32 | bf16 | bf16 vs f32 |\n| ---: | ---: | ---: | ---: |\n"
        for (i = 1; i <= n; i++) printf "| %s | %.4f | %.4f | %+.2f %% |\n", seed[i], f[i], b[i], 100 * (b[i] - f[i]) / f[i]
        printf "| mean | %.4f | %.4f | **%+.2f %%** |\n\n", mf, mb, 100 * (mb - mf) / mf
        if (n > 1) printf "f32 across its seeds: %.4f to %.4f, a spread of %.2f %% of its mean.\n", fmin, fmax, 100 * (fmax - fmin) / mf
    }'
