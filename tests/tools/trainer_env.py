#!/usr/bin/env python3
"""trainer_env.py VAR CMD...: start CMD and print VAR's value in the
environment the running process has (/proc/PID/environ, read until the
process ends: the trainer may run itself again with a changed environment),
as `VAR=value` or `VAR unset`. Exits 1 if CMD fails."""
import subprocess
import sys
import time

var, cmd = sys.argv[1], sys.argv[2:]
proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
seen = None
while proc.poll() is None:
    try:
        with open(f"/proc/{proc.pid}/environ", "rb") as f:
            env = [e.decode(errors="replace") for e in f.read().split(b"\0")]
        seen = next((e for e in env if e.startswith(var + "=")), f"{var} unset")
    except OSError:
        pass
    time.sleep(0.001)
if proc.returncode != 0:
    sys.exit(f"trainer_env: {' '.join(cmd)} exited with {proc.returncode}")
print(seen)
