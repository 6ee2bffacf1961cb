#!/usr/bin/env python3
"""make_tabular.py OUT.csv [--rows N] [--seed S]

A synthetic table for examples/tabular.yaml (a tabular VAE with
train.standardize), made by scripts/setup.sh: no package ships a suitable
real one. Eight sensor readings of a machine in one of three regimes
(idle, load, fault), driven by two hidden factors, on very different
scales, so that standardizing matters:

  regime r ~ uniform{0, 1, 2}; a, b ~ N(0, 1) plus the regime's offset
  temperature_c = 40 + 8 a + 2 b        pressure_kpa = 1000 + 30 tanh(a - b)
  vibration_mm_s = 2 + exp(0.5 b)       rpm = 1500 + 400 a
  current_a = 12 + 3 a + 0.5 a^2        voltage_v = 400 - 2 a
  flow_l_min = 60 + 10 sigmoid(2 b)     noise_db = 70 + 4 b + 2 r
each plus 2 % noise of its scale. Columns: the eight readings, then
`regime` (the label column). Deterministic: numpy default_rng(S)."""
import argparse
import os

import numpy as np


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--rows", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    n = a.rows
    regime = rng.integers(0, 3, n)
    offset = np.array([[-1.0, -0.5], [1.0, 0.0], [0.0, 1.5]])[regime]
    f = rng.standard_normal((n, 2)) * 0.6 + offset
    x, y = f[:, 0], f[:, 1]
    cols = {
        "temperature_c": 40 + 8 * x + 2 * y,
        "pressure_kpa": 1000 + 30 * np.tanh(x - y),
        "vibration_mm_s": 2 + np.exp(0.5 * y),
        "rpm": 1500 + 400 * x,
        "current_a": 12 + 3 * x + 0.5 * x * x,
        "voltage_v": 400 - 2 * x,
        "flow_l_min": 60 + 10 / (1 + np.exp(-2 * y)),
        "noise_db": 70 + 4 * y + 2 * regime,
    }
    table = np.stack([v + 0.02 * v.std() * rng.standard_normal(n) for v in cols.values()], axis=1)
    tmp = a.out + ".tmp"
    with open(tmp, "w") as out:
        out.write(",".join(list(cols) + ["regime"]) + "\n")
        for row, r in zip(table, regime):
            out.write(",".join(f"{v:.6g}" for v in row) + f",{r}\n")
    os.replace(tmp, a.out)


if __name__ == "__main__":
    main()
