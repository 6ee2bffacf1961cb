#!/usr/bin/env python3
"""idx_invert.py SRC DST: copy the IDX data set in SRC to DST with every
image byte v written as 255 - v (labels unchanged): digits dark on white,
data with nearly every pixel nonzero."""
import os
import shutil
import sys


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    src, dst = sys.argv[1], sys.argv[2]
    os.makedirs(dst, exist_ok=True)
    for name in sorted(os.listdir(src)):
        if "images-idx3" in name:
            with open(os.path.join(src, name), "rb") as f:
                data = f.read()
            header = 4 + 4 * data[3]  # magic, then one 4-byte size per dimension
            with open(os.path.join(dst, name), "wb") as f:
                f.write(data[:header] + bytes(255 - b for b in data[header:]))
        elif "labels-idx1" in name:
            shutil.copyfile(os.path.join(src, name), os.path.join(dst, name))


if __name__ == "__main__":
    main()
