#!/usr/bin/env bash
# bench/run.sh [MODEL|all] [STEPS]
#
# Runs vaec's generated trainer and the same model in PyTorch one after the
# other in the same run, with the same batch, seed and number of training
# steps, and prints images/s of each, the ratio vaec / PyTorch, each side's
# GFLOP/s and its share of the machine's f32 peak (bench/floor --peak), vaec's
# compile time and the peak RSS of both (/usr/bin/time -v).
#
#   MODEL   mnist_mlp | mnist_conv | fashion_mlp | all      (default: all), or
#           conv_bn_dropout (examples/: batch norm, dropout, strided and
#           transposed convolutions on Fashion-MNIST; not in "all")
#   STEPS   training steps timed on each side               (default: 300), or
#           "full": the model's whole training (train.epochs epochs of full
#           batches, e.g. 4,680 steps for mnist_mlp, the issue's 10-epoch run)
#
# Environment:
#   BATCH=N          override the model's train.batch (both sides; vaec compile --batch N)
#   THREADS=N        vaec compile --threads, the trainer's --threads and
#                    torch.set_num_threads (default: 2, see README)
#   VAEC_COMPILE_FLAGS="FLAG..."
#                    more options for vaec compile, split at spaces, e.g.
#                    "--no-zero-columns" or "--no-split-products --no-late-updates"
#                    (vaec compile --help lists them)
#   BLAS=V           OpenBLAS build PyTorch runs with: openblas-openmp (default, the
#                    fastest here: it shares torch's OpenMP threads) or openblas-pthread
#   BLAS_THREADS=N   OPENBLAS_NUM_THREADS for PyTorch (default: 1, see README)
#
# PyTorch's BLAS core: bench/blas_core.py times OpenBLAS's own choice, an
# inherited OPENBLAS_CORETYPE and the AVX-512 cores the CPU can run on
# mnist_mlp's product shape, checks each against float64, and the PyTorch
# side runs with the fastest that agrees when it is >= 10 % faster than what
# it would run with as is (OPENBLAS_CORETYPE for that side only). The table's
# footer names the core and why.
#   REPEAT=N         run each side N times, alternating (which side goes first alternates
#                    too), keep the fastest of each, and note the ratio of each back-to-back
#                    pair, their median and both sides' images/s in each pair (default: 1)
#   LR=X             pass --lr X to both (default: each model's own)
#   TORCH_FLUSH_DENORMAL=1
#                    run PyTorch with torch.set_flush_denormal(True), as vaec's trainer
#                    flushes denormals (PyTorch's default keeps them)
#   NICE=N           run each side in a session of its own at nice N (e.g. -20, as
#                    root), to shield the measurement from other work on a shared
#                    machine (the session's scheduler autogroup gets nice N too)
#   SKIP_BUILD=1     do not run scripts/build.sh (use build/vaec as it is)
#   VAEC_BUILD_DIR   build directory (default: build/), as for scripts/build.sh
#
# Installs python3-torch, python3-numpy, libopenblas0-openmp (or -pthread)
# and time with apt-get when missing (benchmark dependencies, not test ones);
# fetches the data with scripts/setup.sh when missing.  Logs go to BUILD/bench/logs/.
# While `vaec compile` or the trainer is missing or fails, the vaec columns
# say why and the PyTorch half still runs; the exit status is then 2.
set -uo pipefail

ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
BUILD=${VAEC_BUILD_DIR:-$ROOT/build}
PY=/usr/bin/python3

MODEL=${1:-all}
STEPS=${2:-300}
THREADS=${THREADS:-2}
BLAS=${BLAS:-openblas-openmp}
BLAS_THREADS=${BLAS_THREADS:-1}
REPEAT=${REPEAT:-1}

say() { printf 'bench: %s\n' "$*" >&2; }
die() { printf 'bench: error: %s\n' "$*" >&2; exit 1; }

case $MODEL in
    all) MODELS=(mnist_mlp mnist_conv fashion_mlp) ;;
    mnist_mlp|mnist_conv|fashion_mlp|conv_bn_dropout) MODELS=("$MODEL") ;;
    *) die "unknown model '$MODEL' (mnist_mlp, mnist_conv, fashion_mlp, conv_bn_dropout or all)" ;;
esac
[[ $STEPS =~ ^[1-9][0-9]*$ || $STEPS == full ]] || die "STEPS must be a positive integer or 'full', not '$STEPS'"
[[ -z ${BATCH:-} || ${BATCH} =~ ^[1-9][0-9]*$ ]] || die "BATCH must be a positive integer"
[[ $THREADS =~ ^[1-9][0-9]*$ && $BLAS_THREADS =~ ^[1-9][0-9]*$ && $REPEAT =~ ^[1-9][0-9]*$ ]] ||
    die "THREADS, BLAS_THREADS and REPEAT must be positive integers"
read -ra COMPILE_FLAGS <<<"${VAEC_COMPILE_FLAGS:-}"

case $BLAS in
    openblas-openmp|openblas-pthread) ;;
    *) die "BLAS must be openblas-openmp or openblas-pthread, not '$BLAS'" ;;
esac
# PyTorch loads libblas.so.3 from here, whatever update-alternatives points at.
OPENBLAS_DIR=/usr/lib/x86_64-linux-gnu/$BLAS

# ------------------------------------------------------------ dependencies
missing=()
for p in python3-torch python3-numpy "libopenblas0-${BLAS#openblas-}" time; do
    dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null | grep -q '^ii' || missing+=("$p")
done
if ((${#missing[@]})); then
    sudo=()
    if [[ $(id -u) -ne 0 ]]; then
        command -v sudo >/dev/null || die "missing ${missing[*]}; as root run: apt-get install ${missing[*]}"
        sudo=(sudo)
    fi
    say "installing ${missing[*]} (benchmark dependencies)"
    if ! { "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
           "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
               apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }; then
        die "apt-get install ${missing[*]} failed"
    fi
fi
$PY -c 'import torch, numpy' 2>/dev/null || die "$PY cannot import torch and numpy"

for d in mnist fashion; do
    if [[ ! -f $ROOT/data/$d/t10k-images-idx3-ubyte || ! -f $ROOT/data/$d/train-images-idx3-ubyte ]]; then
        say "data/$d missing: running scripts/setup.sh"
        "$ROOT/scripts/setup.sh" || die "scripts/setup.sh failed"
    fi
done

LOGS=$BUILD/bench/logs
mkdir -p "$LOGS" || die "cannot create $LOGS"

# -------------------------------------------------------------- build vaec
VAEC=$BUILD/vaec
vaec_problem=
if [[ -z ${SKIP_BUILD:-} ]]; then
    if ! VAEC_BUILD_DIR=$BUILD "$ROOT/scripts/build.sh" >"$LOGS/build.log" 2>&1; then
        vaec_problem="build failed (see $LOGS/build.log)"
    fi
fi
if [[ -z $vaec_problem && ! -x $VAEC ]]; then
    vaec_problem="no $VAEC (run scripts/build.sh)"
fi
if [[ -z $vaec_problem ]] && ! "$VAEC" --help 2>&1 | grep -q '^ *compile\b'; then
    vaec_problem="$VAEC has no 'compile' subcommand (an old build? rebuild with scripts/build.sh)"
fi

# ------------------------------------------------------------------ helpers
# shellcheck source=bench/prio.sh
source "$ROOT/bench/prio.sh"  # prio CMD...: CMD at nice $NICE in a session of its own
# result_field FILE KEY: KEY of the JSON on FILE's last 'RESULT ' line.
result_field() {
    $PY - "$1" "$2" <<'PY'
import json, sys
lines = [l for l in open(sys.argv[1], errors="replace") if l.startswith("RESULT ")]
if not lines:
    sys.exit(1)
v = json.loads(lines[-1][len("RESULT "):]).get(sys.argv[2])
print("" if v is None else v)
PY
}

# max_rss_mib FILE: 'Maximum resident set size' of a /usr/bin/time -v report, in MiB.
max_rss_mib() {
    awk -F: '/Maximum resident set size/ { printf "%.1f\n", $2 / 1024 }' "$1" 2>/dev/null
}

# first_error FILE: FILE's first line that says 'error', else its first
# non-empty line, shortened; '(no message)' for none.
first_error() {
    local line
    line=$(grep -m1 -i 'error' "$1" 2>/dev/null || grep -m1 -v '^[[:space:]]*$' "$1" 2>/dev/null)
    [[ -n $line ]] && printf '%s\n' "${line:0:160}" || echo '(no message)'
}

# exit_reason RC: 'exit status N' or 'killed by SIGNAME'.
exit_reason() {
    if (($1 > 128)); then
        echo "killed by SIG$(kill -l $(($1 - 128)) 2>/dev/null || echo $(($1 - 128)))"
    else
        echo "exit status $1"
    fi
}

# The model's YAML, relative to ROOT: a bundled model or an example.
model_yaml() {
    if [[ -f $ROOT/models/$1.yaml ]]; then echo "models/$1.yaml"; else echo "examples/$1.yaml"; fi
}

data_dir() {
    case $(sed -n 's/.*data: *\([a-z_]*\).*/\1/p' "$ROOT/$(model_yaml "$1")" | head -1) in
        fashion_mnist) echo "$ROOT/data/fashion" ;;
        *) echo "$ROOT/data/mnist" ;;
    esac
}

# A number of the model's train section: default_train_value MODEL KEY
default_train_value() {
    $PY - "$ROOT/$(model_yaml "$1")" "$2" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
m = re.search(r"\b" + sys.argv[2] + r":\s*(\d+)", text)
print(m.group(1) if m else "")
PY
}
default_batch() { default_train_value "$1" batch; }

# ------------------------------------------------- the machine
# Its CPU and the instruction sets that decide vaec's choices (AMX makes
# bf16 products ~3x faster; without AVX512-BF16 they are emulated).
has_flag() { grep -m1 '^flags' /proc/cpuinfo 2>/dev/null | grep -qw "$1" && echo yes || echo no; }
machine_line="Machine: $(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//'), $(nproc) CPUs;"
machine_line+=" AVX-512 $(has_flag avx512f), AVX512-BF16 $(has_flag avx512_bf16), AMX $(has_flag amx_bf16)"
say "$machine_line"

# ------------------------------------------------- the anchor's BLAS core
# OpenBLAS may run older kernels than the CPU can (its own fallback on CPUs
# it does not know, or an inherited OPENBLAS_CORETYPE): bench/blas_core.py
# times the candidates on mnist_mlp's product shape and checks them against
# float64; a faster core that agrees is set for the PyTorch side only.
torch_core=()
blas_line="BLAS core: not probed (bench/blas_core.py failed; see $LOGS/blas_core.err)"
if probe=$(env LD_LIBRARY_PATH="$OPENBLAS_DIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
        OPENBLAS_NUM_THREADS="$BLAS_THREADS" $PY "$ROOT/bench/blas_core.py" "$THREADS" 2>"$LOGS/blas_core.err"); then
    echo "$probe" >"$LOGS/blas_core.json"
    blas_line=$($PY - "$probe" <<'PY'
import json, sys
p = json.loads(sys.argv[1])
c = p["cores"]
def show(k):
    return f"{c[k]['gflops']:.0f} GFLOP/s, error {c[k]['err']:.1g}"
how = f"OPENBLAS_CORETYPE={p['inherited']} inherited" if p["inherited"] else "OpenBLAS's own choice"
text = (f"BLAS core: OpenBLAS detects {p['detected']}; as is, PyTorch would run {p['baseline']} ({how}):"
        f" {show(p['baseline'])} on 128x784x400 (error: largest |f32 - f64| / sum |a||b|)")
if p["chosen"]:
    text += f"; the bench runs PyTorch with OPENBLAS_CORETYPE={p['chosen']}: {show(p['chosen'])}"
others = [f"{k}: {show(k)}" for k in c if k not in (p["baseline"], p["chosen"])]
if others:
    text += "; also probed " + "; ".join(others)
print(text)
print(p["chosen"] or "")
PY
) || blas_line="BLAS core: cannot read bench/blas_core.py's answer: $probe"
    chosen=$(tail -1 <<<"$blas_line")
    blas_line=$(head -1 <<<"$blas_line")
    [[ -n $chosen ]] && torch_core=(OPENBLAS_CORETYPE="$chosen")
fi
say "$blas_line"

# ------------------------------------------------- the machine's f32 peak
# bench/floor --peak: oneDNN's best case (a 2048^3 product on THREADS
# threads) and the cores' own (vector multiply-adds in registers), the
# yardsticks for each side's GFLOP/s below.
peak= cores=
peak_line="machine peak: not measured (no $BUILD/bench/floor; scripts/build.sh builds it)"
if [[ -x $BUILD/bench/floor ]]; then
    if peak_out=$(prio env OMP_NUM_THREADS="$THREADS" "$BUILD/bench/floor" --peak 2>&1); then
        peak=$(sed -n 's/^peak f32 GFLOP\/s: \([0-9.]*\).*/\1/p' <<<"$peak_out")
        cores=$(sed -n "s/^cores' f32 GFLOP\/s: \([0-9.]*\).*/\1/p" <<<"$peak_out")
        peak_line="machine's f32 peak: $peak GFLOP/s as oneDNN reaches it (bench/floor --peak: a 2048^3 product on $THREADS threads)"
        [[ -n $cores ]] && peak_line+=", $cores GFLOP/s as the cores reach it (multiply-adds in registers)"
    else
        peak_line="machine peak: bench/floor --peak failed: $peak_out"
    fi
fi
say "$peak_line"
# gflops STEP_GFLOP IMAGES_PER_SEC BATCH: "173 (47 % / 33 %)" of both peaks.
gflops() {
    [[ -n $1 && -n $2 ]] || { echo -; return; }
    awk -v f="$1" -v ips="$2" -v b="$3" -v peak="$peak" -v cores="$cores" 'BEGIN {
        g = f * ips / b; printf "%.0f", g
        if (peak > 0 && cores > 0) printf " (%.0f%% / %.0f%%)", 100 * g / peak, 100 * g / cores
        else if (peak > 0) printf " (%.0f%%)", 100 * g / peak }'
}

# ---------------------------------------------------------------- the runs
ROWS=$LOGS/table.tsv
printf 'model\tbatch\tsteps\tvaec img/s\tPyTorch img/s\tratio\tvaec GFLOP/s\tPyTorch GFLOP/s\tvaec compile s\tvaec peak RSS MiB\tPyTorch peak RSS MiB\n' >"$ROWS"
status=0
notes=()

for m in "${MODELS[@]}"; do
    batch=${BATCH:-$(default_batch "$m")}
    [[ -n $batch ]] || die "no train.batch in $(model_yaml "$m")"
    data=$(data_dir "$m")
    lr=(); [[ -n ${LR:-} ]] && lr=(--lr "$LR")
    tflags=(); [[ ${TORCH_FLUSH_DENORMAL:-0} != 0 ]] && tflags=(--flush-denormal)
    # Both sides train on full batches only (both are told --drop-last) and
    # run as many epochs
    # as STEPS needs: 1 unless STEPS is more than an epoch's batches.
    per_epoch=$((60000 / batch))
    ((per_epoch > 0)) || die "batch $batch is larger than the training set"
    steps=$STEPS
    if [[ $STEPS == full ]]; then
        e=$(default_train_value "$m" epochs)
        [[ -n $e ]] || die "no train.epochs in $(model_yaml "$m")"
        steps=$((e * per_epoch))
    fi
    epochs=$(((steps + per_epoch - 1) / per_epoch))
    tag=$m-b$batch
    load=$(cut -d' ' -f1 /proc/loadavg)
    if awk -v l="$load" -v n="$(nproc)" 'BEGIN { exit !(l > n / 2) }'; then
        if [[ -n ${NICE:-} ]]; then
            notes+=("$m: load average $load at the start on $(nproc) cores (measured at NICE=$NICE)")
        else
            notes+=("$m: load average $load at the start on $(nproc) cores: other work competes, ratios are unreliable (NICE=-20 helps; see bench/README.md)")
        fi
    fi
    say "$m: batch $batch, $steps steps, threads $THREADS (load average $(cut -d' ' -f1-3 /proc/loadavg))"

    # vaec: compile, then the trainer.
    v_rss='' p_rss='' v_compile='' v_note=$vaec_problem
    out=$BUILD/bench/$m
    if [[ -z $v_note ]]; then
        bflag=(); [[ -n ${BATCH:-} ]] && bflag=(--batch "$BATCH")
        t0=$(date +%s.%N)
        # In a subshell of its own, so that a crash is reported here, not by bash.
        (cd "$ROOT" && exec "$VAEC" compile "$(model_yaml "$m")" -o "$out" --threads "$THREADS" "${bflag[@]}" \
            "${COMPILE_FLAGS[@]}") \
            >"$LOGS/$tag.compile.out" 2>"$LOGS/$tag.compile.err"
        rc=$?
        if ((rc == 0)); then
            v_compile=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
            [[ -x $out/train ]] || v_note="vaec compile made no $out/train"
        else
            v_note="vaec compile failed ($(exit_reason $rc)): $(first_error "$LOGS/$tag.compile.err")"
        fi
    fi

    p_best='' v_best='' pair_ratios=() pair_ips=()
    run_vaec() {
        v_ips=''
        [[ -z $v_note ]] || return 0
        prio /usr/bin/time -v -o "$LOGS/$tag.vaec.time" \
            "$out/train" --epochs "$epochs" --batch "$batch" --drop-last --seed 1 --threads "$THREADS" \
            --data "$data" --max-steps "$steps" "${lr[@]}" \
            >"$LOGS/$tag.vaec.out" 2>"$LOGS/$tag.vaec.err"
        rc=$?
        if v_ips=$(result_field "$LOGS/$tag.vaec.out" images_per_sec) && [[ -n $v_ips ]]; then
            if [[ -z $v_best ]] || awk -v a="$v_ips" -v b="$v_best" 'BEGIN { exit !(a > b) }'; then
                v_best=$v_ips v_rss=$(max_rss_mib "$LOGS/$tag.vaec.time")
            fi
        else
            v_ips=''
            v_note="trainer gave no RESULT line ($(exit_reason $rc)): $(first_error "$LOGS/$tag.vaec.err")"
        fi
    }
    run_torch() {
        p_ips=''
        prio env LD_LIBRARY_PATH="$OPENBLAS_DIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
            OPENBLAS_NUM_THREADS="$BLAS_THREADS" "${torch_core[@]}" \
            /usr/bin/time -v -o "$LOGS/$tag.torch.time" \
            $PY "$ROOT/bench/torch_vae.py" --model "$m" --epochs "$epochs" --drop-last --batch "$batch" --seed 1 \
            --threads "$THREADS" --data "$data" --max-steps "$steps" "${lr[@]}" "${tflags[@]}" \
            >"$LOGS/$tag.torch.out" 2>"$LOGS/$tag.torch.err"
        rc=$?
        if p_ips=$(result_field "$LOGS/$tag.torch.out" images_per_sec) && [[ -n $p_ips ]]; then
            if [[ -z $p_best ]] || awk -v a="$p_ips" -v b="$p_best" 'BEGIN { exit !(a > b) }'; then
                p_best=$p_ips p_rss=$(max_rss_mib "$LOGS/$tag.torch.time")
            fi
            got=$(result_field "$LOGS/$tag.torch.out" blas)
            [[ $got == "$BLAS" ]] || notes+=("$m: PyTorch ran with BLAS '$got', not $BLAS")
        else
            p_ips=''
            say "$m: PyTorch gave no RESULT line ($(exit_reason $rc)): $(first_error "$LOGS/$tag.torch.err")"
            status=1
        fi
    }
    # Rounds alternate which side runs first (vaec, PyTorch, PyTorch, vaec,
    # ...): whichever runs first in a pair was measured ~3 % faster here.
    for ((r = 1; r <= REPEAT; r++)); do
        if ((r % 2)); then run_vaec; run_torch; else run_torch; run_vaec; fi
        if [[ -n $v_ips && -n $p_ips ]]; then
            pair_ratios+=("$(awk -v a="$v_ips" -v b="$p_ips" 'BEGIN { printf "%.3f", a / b }')")
            pair_ips+=("$(awk -v a="$v_ips" -v b="$p_ips" 'BEGIN { printf "%.1fk/%.1fk", a / 1000, b / 1000 }')")
        fi
    done
    if ((${#pair_ratios[@]} > 1)); then
        median=$(printf '%s\n' "${pair_ratios[@]}" | sort -g |
            awk '{ v[NR] = $1 } END { printf "%.2f", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }')
        notes+=("$m: ratio in each of the ${#pair_ratios[@]} pairs (run back to back): ${pair_ratios[*]}; median ${median}x")
        # Both sides' images/s too: on a shared VM both slow down together
        # in some hours, which the ratios alone do not show.
        notes+=("$m: images/s in each pair, vaec/PyTorch: ${pair_ips[*]}")
    fi

    v_steps=$(result_field "$LOGS/$tag.vaec.out" steps 2>/dev/null)
    p_steps=$(result_field "$LOGS/$tag.torch.out" steps 2>/dev/null)
    if [[ -n $v_best && -n $p_best && $v_steps != "$p_steps" ]]; then
        notes+=("$m: the sides ran different step counts: vaec $v_steps, PyTorch $p_steps")
    fi
    ratio=-
    if [[ -n $v_best && -n $p_best ]]; then
        ratio=$(awk -v a="$v_best" -v b="$p_best" 'BEGIN { printf "%.2fx", a / b }')
    fi
    if [[ -n $v_note ]]; then
        notes+=("$m: vaec: $v_note")
        ((status == 0)) && status=2
    fi
    v_col=${v_best:-n/a}
    [[ -n $v_note && -z $v_best ]] && v_col=pending
    # The step's nominal GFLOP (vaec's RESULT, from the plan): the same products for both sides.
    step_gflop=$(result_field "$LOGS/$tag.vaec.out" step_gflop 2>/dev/null)
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$m" "$batch" "$steps" "$v_col" "${p_best:-failed}" \
        "$ratio" "$(gflops "$step_gflop" "$v_best" "$batch")" "$(gflops "$step_gflop" "$p_best" "$batch")" \
        "${v_compile:--}" "${v_rss:--}" "${p_rss:--}" >>"$ROWS"
done

echo
column -t -s $'\t' "$ROWS" 2>/dev/null || cat "$ROWS"
echo
echo "ratio = vaec images/s / PyTorch images/s (training loop only; higher is better for vaec)."
if [[ ${TORCH_FLUSH_DENORMAL:-0} != 0 ]]; then
    denormals="PyTorch flushes denormals (TORCH_FLUSH_DENORMAL=1)"
else
    denormals="PyTorch keeps denormals (its default; TORCH_FLUSH_DENORMAL=1 flushes them)"
fi
echo "PyTorch $($PY -c 'import torch; print(torch.__version__)') with $BLAS," \
     "OPENBLAS_NUM_THREADS=$BLAS_THREADS, torch.set_num_threads($THREADS); vaec --threads $THREADS."
((${#COMPILE_FLAGS[@]})) && echo "vaec compile ${COMPILE_FLAGS[*]}"
echo "$denormals; vaec's trainer always flushes them."
echo "$machine_line"
echo "$blas_line"
echo "GFLOP/s: the step's products and convolutions (vaec's step_gflop, from its plan) per second;" \
     "in parentheses their share of the $peak_line${cores:+ (oneDNN's / the cores')}"
echo "Logs: $LOGS"
for n in "${notes[@]}"; do echo "$n"; done
exit $status
