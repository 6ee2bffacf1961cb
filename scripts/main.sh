#!/usr/bin/env bash
# The main job on a fresh Debian 12 machine: install what is missing, fetch
# MNIST, build vaec, check, summarise and dump every bundled model, then
# compile the PyTorch-examples MLP VAE and train it for two epochs on MNIST.
# Output: out/<model>/{summary.txt,graph.vir,graph.dot,graph.svg} and the
# trainer with its IR dumps in out/mnist_mlp/trainer/.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/setup.sh
scripts/build.sh
vaec="$root/build/vaec"
out="$root/out"
mkdir -p "$out"
for model in models/*.yaml; do
  name="$(basename "$model" .yaml)"
  mkdir -p "$out/$name"
  echo "== $model"
  "$vaec" check "$model"
  "$vaec" summary "$model" | tee "$out/$name/summary.txt"
  "$vaec" dump "$model" --stage=graph -o "$out/$name/graph.vir"
  "$vaec" dump "$model" --stage=graph --format=dot -o "$out/$name/graph.dot"
  dot -Tsvg "$out/$name/graph.dot" -o "$out/$name/graph.svg"
  echo "wrote $out/$name/{summary.txt,graph.vir,graph.dot,graph.svg}"
done
echo "== compiling models/mnist_mlp.yaml and training it on MNIST"
"$vaec" compile models/mnist_mlp.yaml -o "$out/mnist_mlp/trainer"
"$out/mnist_mlp/trainer/train" --epochs 2
