#!/usr/bin/env python3
"""expect_exit.py CODE CMD [ARGS...]: run CMD, forward its output, and exit 0
only if CMD exited with status CODE. A crash (signal) or any other status
fails, with a message saying what happened."""
import subprocess
import sys

want = int(sys.argv[1])
proc = subprocess.run(sys.argv[2:], stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
sys.stdout.buffer.write(proc.stdout)
sys.stdout.flush()
sys.stderr.buffer.write(proc.stderr)
sys.stderr.flush()
if proc.returncode != want:
    how = f"was killed by signal {-proc.returncode}" if proc.returncode < 0 else f"exited with {proc.returncode}"
    sys.stderr.write(f"expect_exit: {' '.join(sys.argv[2:])} {how}, expected exit status {want}\n")
    sys.exit(1)
sys.exit(0)
