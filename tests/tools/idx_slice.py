#!/usr/bin/env python3
"""idx_slice.py SRC DST TRAIN TEST: copy the first TRAIN training and TEST
test examples of the IDX data set in SRC (train-images-idx3-ubyte,
train-labels-idx1-ubyte, t10k-...) to DST, with headers giving the new
counts: real data, small enough for end-to-end tests to train in seconds."""
import os
import struct
import sys


def slice_idx(src, dst, count):
    with open(src, "rb") as f:
        magic = f.read(4)
        if len(magic) != 4 or magic[:2] != b"\0\0":
            sys.exit(f"idx_slice: {src}: not an IDX file")
        rank = magic[3]
        dims = list(struct.unpack(f">{rank}I", f.read(4 * rank)))
        if count > dims[0]:
            sys.exit(f"idx_slice: {src} has {dims[0]} examples, fewer than {count}")
        row = 1
        for d in dims[1:]:
            row *= d
        body = f.read(count * row)
    if len(body) != count * row:
        sys.exit(f"idx_slice: {src}: truncated")
    dims[0] = count
    with open(dst, "wb") as f:
        f.write(magic + struct.pack(f">{rank}I", *dims) + body)


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    src, dst, train, test = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    os.makedirs(dst, exist_ok=True)
    for split, count in (("train", train), ("t10k", test)):
        for kind in ("images-idx3", "labels-idx1"):
            name = f"{split}-{kind}-ubyte"
            slice_idx(os.path.join(src, name), os.path.join(dst, name), count)


main()
