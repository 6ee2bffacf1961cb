#!/usr/bin/env bash
# bench/iwae.sh [EPOCHS] [SEEDS]: does the IWAE bound pay? examples/iwae.yaml
# (k = 5) and the same file with samples=1 (a VAE: its bound is the ELBO),
# trained EPOCHS epochs each (default 10) on dynamically binarized MNIST
# with SEEDS seeds (default 1), then scored by `train eval` on the 10,000
# test images (-ELBO) and the first 1,000 (IWAE with k = 5,000), as Burda
# et al. score them. Prints one line per run and the mean difference
# VAE - IWAE of the IWAE-5000 NLL. Needs a build and the data
# (scripts/setup.sh). docs/LANGUAGE.md quotes it.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
EPOCHS=${1:-10}
SEEDS=${2:-1}
work="$ROOT/build/bench/iwae"
mkdir -p "$work"
[[ -x $ROOT/build/vaec ]] || { echo "bench/iwae.sh: build first (scripts/build.sh)" >&2; exit 1; }
sed 's/samples=5/samples=1/; s/log(5)/log(1)/; s/^model: iwae/model: vae_k1/' "$ROOT/examples/iwae.yaml" > "$work/vae_k1.yaml"
"$ROOT/build/vaec" compile "$ROOT/examples/iwae.yaml" -o "$work/iwae" > /dev/null
"$ROOT/build/vaec" compile "$work/vae_k1.yaml" -o "$work/vae_k1" > /dev/null
: > "$work/results.txt"
for ((seed = 1; seed <= SEEDS; seed++)); do
  for m in vae_k1 iwae; do
    OMP_WAIT_POLICY=passive "$work/$m/train" --epochs "$EPOCHS" --seed "$seed" --threads 2 \
      --data "$ROOT/data/mnist" --out "$work/out_${m}_$seed" --quiet > /dev/null
    line=$(OMP_WAIT_POLICY=passive "$work/$m/train" eval --out "$work/out_${m}_$seed" --threads 2 | grep '^EVAL')
    echo "$seed $m $line" | tee -a "$work/results.txt"
  done
done
/usr/bin/python3 - "$work/results.txt" <<'PY'
import json, sys
runs = {}
for line in open(sys.argv[1]):
    seed, model, rest = line.split(" ", 2)
    runs.setdefault(model, []).append(json.loads(rest.split(" ", 1)[1]))
for m in ("vae_k1", "iwae"):
    r = runs[m]
    print(f"{m:7s} -ELBO {sum(x['neg_elbo'] for x in r) / len(r):.2f}  "
          f"IWAE-{r[0]['k']} NLL {sum(x['iwae_nll'] for x in r) / len(r):.2f}  ({len(r)} seeds)")
d = [a["iwae_nll"] - b["iwae_nll"] for a, b in zip(runs["vae_k1"], runs["iwae"])]
print(f"VAE - IWAE (IWAE-5000 NLL): {sum(d) / len(d):+.2f} nats (per seed: {', '.join(f'{x:+.2f}' for x in d)})")
PY
