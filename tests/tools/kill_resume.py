#!/usr/bin/env python3
"""kill_resume.py ROUNDS SEED TRAIN ARGS...: kill -9 a training run at random
moments and check that its checkpoint always loads.

Each round starts `TRAIN ARGS... --quiet` (with --resume once a checkpoint
exists; the first round waits for the first checkpoint), kills it with
SIGKILL after a random delay, then runs
`TRAIN ARGS... --resume --epochs 0`, which loads the checkpoint and only
evaluates it: that must succeed, and the checkpoint's epoch must never go
back. At the end, DIR/metrics.csv must list every epoch once, in order.
ARGS must contain --out DIR. Prints one line per round and exits 1 at the
first checkpoint that does not load."""
import os
import random
import re
import signal
import subprocess
import sys
import time


def main():
    rounds, seed, cmd = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
    out = cmd[cmd.index("--out") + 1]
    rng = random.Random(seed)
    last = (-1, -1)
    for r in range(rounds):
        resume = ["--resume"] if os.path.exists(os.path.join(out, "checkpoint.bin")) else []
        proc = subprocess.Popen(cmd + resume + ["--quiet"], stdout=subprocess.DEVNULL)
        # The first run lives until its first checkpoint, however busy the machine.
        deadline = time.monotonic() + 120
        while not resume and proc.poll() is None and time.monotonic() < deadline and \
                not os.path.exists(os.path.join(out, "checkpoint.bin")):
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.8))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        if proc.returncode != -signal.SIGKILL:
            sys.exit(f"kill_resume: round {r}: the run ended by itself (status {proc.returncode}); give it more epochs")
        if not os.path.exists(os.path.join(out, "checkpoint.bin")):
            sys.exit(f"kill_resume: round {r}: no checkpoint after two minutes")
        check = subprocess.run(cmd + ["--resume", "--epochs", "0"], capture_output=True, text=True, timeout=120)
        if check.returncode != 0:
            sys.exit(f"kill_resume: round {r}: the checkpoint does not load after kill -9:\n{check.stderr}")
        m = re.search(r"\(epoch (\d+)(?: and (\d+) steps)?, global step (\d+)\)", check.stdout)
        if not m:
            sys.exit(f"kill_resume: round {r}: unexpected output:\n{check.stdout}")
        now = (int(m.group(1)), int(m.group(3)))
        if now < last:
            sys.exit(f"kill_resume: round {r}: the checkpoint went back from {last} to {now}")
        print(f"round {r}: killed; checkpoint at epoch {now[0]}, global step {now[1]} loads")
        last = now
    if last[0] < 1:
        sys.exit("kill_resume: no checkpoint was ever written")
    # Resumes trimmed the metrics to their checkpoints: each epoch once, in order.
    with open(os.path.join(out, "metrics.csv")) as f:
        epochs = [int(line.split(",")[0]) for line in f.readlines()[1:]]
    if epochs != list(range(1, len(epochs) + 1)) or len(epochs) < last[0]:
        sys.exit(f"kill_resume: metrics.csv lists epochs {epochs}, checkpoint at epoch {last[0]}")
    print(f"metrics.csv: epochs 1 to {len(epochs)}, each once")


main()
