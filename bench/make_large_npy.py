#!/usr/bin/env python3
"""make_large_npy.py SRC OUT.npy [--rows N]: a float32 .npy larger than
memory is comfortable with, for measuring that training maps it instead of
reading it in: MNIST's 60,000 training images as intensities in [0, 1]
(byte / 255), repeated to N rows (default 700,000: 2.2 GB), written in
blocks so making it needs little memory. Not committed; docs/DATA.md quotes
the peak RSS of training on it."""
import argparse
import os
import struct

import numpy as np


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("src")
    ap.add_argument("out")
    ap.add_argument("--rows", type=int, default=700000)
    a = ap.parse_args()
    with open(os.path.join(a.src, "train-images-idx3-ubyte"), "rb") as f:
        f.seek(4)
        n, h, w = struct.unpack(">3I", f.read(12))
        images = np.frombuffer(f.read(n * h * w), dtype=np.uint8).reshape(n, h, w)
    out = np.lib.format.open_memmap(a.out, mode="w+", dtype=np.float32, shape=(a.rows, h, w))
    for start in range(0, a.rows, n):
        k = min(n, a.rows - start)
        out[start:start + k] = images[:k].astype(np.float32) / 255.0
    out.flush()


if __name__ == "__main__":
    main()
