#!/usr/bin/env python3
"""bench/blas_core.py THREADS: which OpenBLAS core PyTorch should run with.

OpenBLAS picks its kernels by CPU model; Debian's 0.3.21 does not know newer
CPUs and falls back to older kernels (Prescott on Xeon model 207, Haswell's
AVX2 ones on AVX-512 AMD EPYCs), which makes PyTorch an unfair anchor. For the
core OpenBLAS picks by itself and for each AVX-512 core the CPU can run
(SkylakeX; Cooperlake with avx512_bf16), a child process (environment
OPENBLAS_CORETYPE) times a float32 product of mnist_mlp's shape
(128x784 by 784x400, torch.mm, THREADS threads, best of 40) and its largest
relative error against a float64 product computed without BLAS. A core is
chosen over the detected one when it agrees with float64 as well (at most
twice the detected core's error, or 1e-5) and is at least 10 % faster.

Prints one JSON line: detected, chosen (null: keep the detected core), and
per core its GFLOP/s and error. Run it with the environment PyTorch runs
with (LD_LIBRARY_PATH, OPENBLAS_NUM_THREADS).
"""
import json
import os
import subprocess
import sys

CHILD = r"""
import json, sys, time, torch
torch.set_num_threads(int(sys.argv[1]))
g = torch.Generator().manual_seed(1)
a = torch.rand(128, 784, generator=g) - 0.5
b = torch.rand(784, 400, generator=g) - 0.5
c = torch.mm(a, b)  # the first call prints the core (OPENBLAS_VERBOSE=2)
best = float("inf")
for _ in range(40):
    t = time.perf_counter()
    torch.mm(a, b, out=c)
    best = min(best, time.perf_counter() - t)
ad, bd = a.double(), b.double()
ref = torch.cat([(ad[i:i + 16, :, None] * bd[None]).sum(1) for i in range(0, 128, 16)])
bound = torch.cat([(ad[i:i + 16, :, None].abs() * bd[None].abs()).sum(1) for i in range(0, 128, 16)])
err = ((c.double() - ref).abs() / bound).max().item()  # against sum |a| |b|, as rounding bounds go
print(json.dumps({"gflops": 2 * 128 * 784 * 400 / best / 1e9, "err": err}))
"""


def probe(threads, core):
    env = dict(os.environ, OPENBLAS_VERBOSE="2")
    env.pop("OPENBLAS_CORETYPE", None)
    if core:
        env["OPENBLAS_CORETYPE"] = core
    r = subprocess.run([sys.executable, "-c", CHILD, threads], env=env, capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        return None
    out = json.loads(r.stdout.strip().splitlines()[-1])
    names = [l.split(":", 1)[1].strip() for l in r.stderr.splitlines() if l.startswith("Core:")]
    out["core"] = names[0] if names else "unknown"
    return out


def main():
    threads = sys.argv[1] if len(sys.argv) > 1 else "1"
    flags = set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    break
    except OSError:
        pass
    inherited = os.environ.get("OPENBLAS_CORETYPE") or None
    detected = probe(threads, None)
    cores = {}
    if detected:
        cores[detected["core"]] = detected
    for name in [inherited] + (["SkylakeX"] if "avx512f" in flags else []) + \
            (["Cooperlake"] if "avx512_bf16" in flags else []):
        if name and name not in cores:
            r = probe(threads, name)
            if r:
                cores[r["core"] if r["core"] != "unknown" else name] = r
    # What PyTorch would run with as it is: the inherited setting, else the detected core.
    baseline = next((k for k in cores if inherited and k.lower() == inherited.lower()),
                    detected["core"] if detected else None)
    chosen = None
    if baseline:
        base = cores[baseline]
        fast = [k for k, v in cores.items()
                if v["err"] <= max(2 * base["err"], 1e-6) and v["gflops"] >= 1.1 * base["gflops"]]
        if fast:
            chosen = max(fast, key=lambda k: cores[k]["gflops"])
    print(json.dumps({"inherited": inherited, "detected": detected["core"] if detected else None,
                      "baseline": baseline, "chosen": chosen,
                      "cores": {k: {"gflops": round(v["gflops"], 1), "err": float(f"{v['err']:.2g}")}
                                for k, v in cores.items()}}))


main()
