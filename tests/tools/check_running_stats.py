#!/usr/bin/env python3
"""check_running_stats.py MODEL.safetensors IMAGES.npy NAME: the running mean
and variance NAME.running_mean / NAME.running_var exported after a run whose
last batch was every image of IMAGES.npy (momentum 1) must be those images'
per-channel mean and unbiased variance."""
import json
import struct
import sys

import numpy as np

blob = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", blob[:8])[0]
header = json.loads(blob[8:8 + n])


def tensor(name):
    start, end = header[name]["data_offsets"]
    return np.frombuffer(blob[8 + n + start:8 + n + end], dtype=np.float32)


x = np.load(sys.argv[2]).astype(np.float64)  # [N, C, H, W]
axes = (0, 2, 3)
mean, var = x.mean(axis=axes), x.var(axis=axes, ddof=1)
got_mean, got_var = tensor(sys.argv[3] + ".running_mean"), tensor(sys.argv[3] + ".running_var")
err = max(np.abs(got_mean - mean).max() / max(1e-6, np.abs(mean).max()), np.abs(got_var - var).max() / var.max())
print(f"running statistics: max relative error {err:.1e}")
sys.exit(0 if err < 1e-5 else 1)
