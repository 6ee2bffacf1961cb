#!/usr/bin/env python3
"""two_trainers.py TRAIN ARGS...: start `TRAIN ARGS...` (ARGS must hold
--out DIR and train long enough), wait until it has started writing DIR
(DIR/metrics.csv exists), then run `TRAIN ARGS...` a second time: it must be
refused with exit status 1 while the first runs. Prints the second run's
output, then kills the first (it must still be running) and exits 0; exits
1 with a message otherwise."""
import os
import signal
import subprocess
import sys
import time

cmd = sys.argv[1:]
out = cmd[cmd.index("--out") + 1]
first = subprocess.Popen(cmd + ["--quiet"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
try:
    deadline = time.monotonic() + 120
    while first.poll() is None and time.monotonic() < deadline and not os.path.exists(os.path.join(out, "metrics.csv")):
        time.sleep(0.01)
    if first.poll() is not None or not os.path.exists(os.path.join(out, "metrics.csv")):
        sys.exit(f"two_trainers: the first run never started writing {out} (status {first.poll()})")
    second = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
    sys.stdout.buffer.write(second.stdout)
    if first.poll() is not None:
        sys.exit(f"two_trainers: the first run ended (status {first.returncode}) before the second was refused; "
                 "give it more epochs")
    if second.returncode != 1:
        sys.exit(f"two_trainers: the second run exited with {second.returncode}, expected 1")
finally:
    if first.poll() is None:
        first.send_signal(signal.SIGKILL)
    first.wait()
