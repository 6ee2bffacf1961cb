#!/usr/bin/env bash
# examples/run.sh: compile, train and draw the examples that bring their own
# data (after scripts/main.sh or scripts/setup.sh + scripts/build.sh):
#   colored_mnist.yaml  a conv VAE on colour images (.npz, channels-last):
#                       2 epochs, colour reconstructions, samples, a manifold
#   tabular.yaml        a VAE on a CSV table with labels, standardize and a
#                       validation split: 10 epochs, a latent scatter plot by label
#   cvae.yaml           a conditional VAE on MNIST's labels: 5 epochs, samples
#                       one class a column and of the digit 3
#   gaussian_learned_var.yaml  a learned per-pixel variance (param): 2 epochs, samples
#   iwae.yaml           the IWAE bound with k = 5 samples: 2 epochs, eval, pictures
#   two_level.yaml      two stochastic layers, declared densities: 2 epochs, eval, pictures
#   conv_bn_dropout.yaml  Fashion-MNIST conv VAE, batch norm, dropout, leaky_relu: 2 epochs
# Results in out/examples/NAME/; about three minutes on 2 cores.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
vaec="$root/build/vaec"
[[ -x $vaec ]] || { echo "examples/run.sh: build first (scripts/main.sh or scripts/build.sh)" >&2; exit 1; }
out="$root/out/examples"
echo "== examples/colored_mnist.yaml"
"$vaec" data "$root/data/colored_mnist.npz"
"$vaec" compile "$root/examples/colored_mnist.yaml" -o "$out/colored_mnist"
"$out/colored_mnist/train"
echo "== examples/tabular.yaml"
"$vaec" data "$root/data/tabular.csv" --label regime --validation 0.1
"$vaec" compile "$root/examples/tabular.yaml" -o "$out/tabular"
"$out/tabular/train"
echo "== examples/gaussian_learned_var.yaml"
"$vaec" compile "$root/examples/gaussian_learned_var.yaml" -o "$out/gaussian_learned_var"
"$out/gaussian_learned_var/train" --epochs 2
"$out/gaussian_learned_var/train" sample
echo "== examples/cvae.yaml"
"$vaec" compile "$root/examples/cvae.yaml" -o "$out/cvae"
"$out/cvae/train"
"$out/cvae/train" sample --count 50
"$out/cvae/train" sample --label 3 --png "$out/cvae/sample_3.png"
for m in iwae two_level conv_bn_dropout; do
  echo "== examples/$m.yaml"
  "$vaec" compile "$root/examples/$m.yaml" -o "$out/$m"
  "$out/$m/train" --epochs 2
  "$out/$m/train" eval --iwae-images 200 --k 1000
  "$out/$m/train" reconstruct
  "$out/$m/train" sample
done
t="$out/colored_mnist/train"
"$t" reconstruct
"$t" sample
"$t" manifold --n 12
"$t" interpolate --from label:3 --to label:8
"$out/tabular/train" scatter
"$out/tabular/train" eval --iwae-images 200 --k 1000
echo "== pictures:"
echo "  colour reconstructions: $out/colored_mnist/reconstruct.png"
echo "  colour samples:         $out/colored_mnist/sample.png"
echo "  colour manifold:        $out/colored_mnist/manifold.png"
echo "  table rows by regime:   $out/tabular/scatter.png"
echo "  cvae, a class a column: $out/cvae/sample.png (and threes: $out/cvae/sample_3.png)"
echo "  learned variance:       $out/gaussian_learned_var/sample.png"
echo "  iwae, two_level, conv_bn_dropout: $out/{iwae,two_level,conv_bn_dropout}/{reconstruct,sample}.png"
