#!/usr/bin/env python3
"""convert_idx.py: MNIST-style IDX files as the other formats vaec reads.

    convert_idx.py SRC OUT.npz [--train N] [--test N]
    convert_idx.py SRC OUT_DIR --png [--classes] [--train N] [--test N]

SRC is a directory with train-images-idx3-ubyte, train-labels-idx1-ubyte,
t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte (data/mnist after
scripts/setup.sh). The first N training and test examples (default: all)
are written, in the IDX order, as

  .npz   x (N, 28, 28) uint8, y (N,) int64, x_test, y_test   (np.savez)
  --png  OUT_DIR/train/00000.png ... and OUT_DIR/test/...      8-bit grey PNGs;
         file names in example order, so the folder reads back in the IDX
         order; with --classes OUT_DIR/train/<label>/00000.png (labels from
         the sub-folders, torchvision ImageFolder's layout: read back class
         by class)

The same examples in any of these formats train bit-identically
(tests/lit/data_formats.test). Needs numpy only for .npz; PNGs are written
with zlib."""
import argparse
import os
import struct
import sys
import zlib


def read_idx(path, count):
    with open(path, "rb") as f:
        magic = f.read(4)
        if len(magic) != 4 or magic[:3] != b"\0\0\x08":
            sys.exit(f"convert_idx: {path}: not a uint8 IDX file")
        rank = magic[3]
        dims = list(struct.unpack(f">{rank}I", f.read(4 * rank)))
        n = dims[0] if count is None else min(count, dims[0])
        row = 1
        for d in dims[1:]:
            row *= d
        body = f.read(n * row)
    if len(body) != n * row:
        sys.exit(f"convert_idx: {path}: truncated")
    return [n] + dims[1:], body


def png_bytes(width, height, pixels):
    """An 8-bit greyscale PNG of `pixels` (height * width bytes, row-major)."""
    raw = b"".join(b"\0" + pixels[y * width:(y + 1) * width] for y in range(height))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b"")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("src")
    ap.add_argument("out")
    ap.add_argument("--png", action="store_true", help="write a folder of PNGs instead of an .npz")
    ap.add_argument("--classes", action="store_true", help="PNGs in one sub-folder per label")
    ap.add_argument("--train", type=int, default=None)
    ap.add_argument("--test", type=int, default=None)
    a = ap.parse_args()
    splits = {}
    for name, prefix, count in (("train", "train", a.train), ("test", "t10k", a.test)):
        dims, images = read_idx(os.path.join(a.src, f"{prefix}-images-idx3-ubyte"), count)
        _, labels = read_idx(os.path.join(a.src, f"{prefix}-labels-idx1-ubyte"), count)
        splits[name] = (dims, images, labels)
    if not a.png:
        import numpy as np
        arrays = {}
        for name, (dims, images, labels) in splits.items():
            suffix = "" if name == "train" else "_test"
            arrays["x" + suffix] = np.frombuffer(images, dtype=np.uint8).reshape(dims)
            arrays["y" + suffix] = np.frombuffer(labels, dtype=np.uint8).astype(np.int64)
        np.savez(a.out, **arrays)
        return
    for name, (dims, images, labels) in splits.items():
        n, h, w = dims[0], dims[1], dims[2]
        width = max(5, len(str(n - 1)))
        for i in range(n):
            folder = os.path.join(a.out, name, str(labels[i])) if a.classes else os.path.join(a.out, name)
            os.makedirs(folder, exist_ok=True)
            with open(os.path.join(folder, f"{i:0{width}d}.png"), "wb") as f:
                f.write(png_bytes(w, h, images[i * h * w:(i + 1) * h * w]))


if __name__ == "__main__":
    main()
