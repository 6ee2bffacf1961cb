#!/usr/bin/env bash
# The main job on a fresh Debian 12 machine: install what is missing, fetch
# MNIST, build vaec, check, summarise and dump every bundled model, then
# compile the PyTorch-examples MLP VAE and train it for two epochs on MNIST,
# then draw its reconstructions and samples; train the latent-2 MLP VAE for
# five epochs (about 15 s) and draw its latent manifold and scatter plot.
# Output: out/<model>/{summary.txt,graph.vir,graph.dot,graph.svg}, the
# trainers with their IR dumps, checkpoints, metrics and pictures in
# out/mnist_mlp/trainer/ and out/mnist_latent2/trainer/.
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
"$out/mnist_mlp/trainer/train" reconstruct
"$out/mnist_mlp/trainer/train" sample
echo "== compiling models/mnist_latent2.yaml (a 2-d latent) and training it for the manifold picture"
"$vaec" compile models/mnist_latent2.yaml -o "$out/mnist_latent2/trainer"
"$out/mnist_latent2/trainer/train" --epochs 5
"$out/mnist_latent2/trainer/train" manifold
"$out/mnist_latent2/trainer/train" scatter
echo "== pictures of the trained models:"
echo "  reconstructions (test images over them): $out/mnist_mlp/trainer/reconstruct.png"
echo "  samples from the prior:                  $out/mnist_mlp/trainer/sample.png"
echo "  the latent manifold (15x15 grid):        $out/mnist_latent2/trainer/manifold.png"
echo "  test-set mu by digit:                    $out/mnist_latent2/trainer/scatter.png"
echo "  loss curves:                             $out/mnist_mlp/trainer/loss_curve.png, $out/mnist_latent2/trainer/loss_curve.png"
