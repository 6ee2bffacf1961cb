#!/usr/bin/env python3
"""run_bounded.py EXIT SECONDS MIB CMD [ARGS...]: run CMD with its address
space limited to 1 GiB (ulimit -v 1048576), forward its output, and exit 0
only if CMD exited with status EXIT within SECONDS of wall time and its peak
resident memory stayed under MIB MiB. For hostile inputs that must be
refused quickly and cheaply, not merely refused."""
import resource
import subprocess
import sys
import time

want, seconds, mib, cmd = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), sys.argv[4:]


def limit():
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))


start = time.monotonic()
try:
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=limit,
                          timeout=max(10 * seconds, 30))
except subprocess.TimeoutExpired:
    sys.exit(f"run_bounded: {' '.join(cmd)} did not end within {max(10 * seconds, 30):.0f} s")
elapsed = time.monotonic() - start
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # KiB on Linux
sys.stdout.buffer.write(proc.stdout)
sys.stdout.flush()
sys.stderr.buffer.write(proc.stderr)
sys.stderr.flush()
problems = []
if proc.returncode != want:
    problems.append(f"killed by signal {-proc.returncode}" if proc.returncode < 0 else f"exited with {proc.returncode}")
if elapsed > seconds:
    problems.append(f"took {elapsed:.2f} s, more than {seconds:g} s")
if peak > mib:
    problems.append(f"peaked at {peak:.0f} MiB resident, more than {mib:g} MiB")
if problems:
    sys.exit(f"run_bounded: {' '.join(cmd)}: " + "; ".join(problems))
