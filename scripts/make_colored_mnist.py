#!/usr/bin/env python3
"""make_colored_mnist.py SRC OUT.npz [--train N] [--test N] [--seed S]

Coloured MNIST for examples/colored_mnist.yaml: each digit's strokes in one
colour drawn per image, on black. For image i (training images first, then
test images) a generator numpy.random.default_rng(S) draws a hue
h ~ U[0, 1); the colour is HSV (h, 1, 1) as RGB, and pixel = round(intensity
* colour), intensity the MNIST byte / 255. The result is channels-last,
as PNGs and most .npy files are: x (N, 28, 28, 3) uint8, y (N,) int64 the
digit, and x_test, y_test; saved with np.savez (stored, so vaec maps it
without copying). Defaults: all 60,000 training and 10,000 test images,
seed 0."""
import argparse
import colorsys
import os
import struct
import sys

import numpy as np


def read_idx(path, count):
    with open(path, "rb") as f:
        magic = f.read(4)
        rank = magic[3]
        dims = list(struct.unpack(f">{rank}I", f.read(4 * rank)))
        n = min(count, dims[0])
        row = int(np.prod(dims[1:])) if rank > 1 else 1
        data = np.frombuffer(f.read(n * row), dtype=np.uint8)
    if data.size != n * row:
        sys.exit(f"make_colored_mnist: {path}: truncated")
    return data.reshape([n] + dims[1:])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("src")
    ap.add_argument("out")
    ap.add_argument("--train", type=int, default=60000)
    ap.add_argument("--test", type=int, default=10000)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    arrays = {}
    for suffix, prefix, count in (("", "train", a.train), ("_test", "t10k", a.test)):
        images = read_idx(os.path.join(a.src, f"{prefix}-images-idx3-ubyte"), count)
        labels = read_idx(os.path.join(a.src, f"{prefix}-labels-idx1-ubyte"), count)
        hues = rng.random(len(images))
        colours = np.array([colorsys.hsv_to_rgb(h, 1.0, 1.0) for h in hues])  # (N, 3) in [0, 1]
        x = np.rint(images[..., None].astype(np.float64) * colours[:, None, None, :]).astype(np.uint8)
        arrays["x" + suffix] = x
        arrays["y" + suffix] = labels.astype(np.int64)
    tmp = a.out + ".tmp.npz"
    np.savez(tmp, **arrays)
    os.replace(tmp, a.out)


if __name__ == "__main__":
    main()
