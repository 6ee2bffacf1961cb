"""with_hogs.py N|cpus-1 CMD...: runs CMD beside N CPU-bound processes
(busy loops), then stops them; exits with CMD's status. `cpus-1` is one
fewer than the CPUs this process may run on, so that CMD has one CPU left
whatever the machine."""
import os
import subprocess
import sys

n = sys.argv[1]
count = len(os.sched_getaffinity(0)) - 1 if n == "cpus-1" else int(n)
hogs = [subprocess.Popen([sys.executable, "-c", "while 1: pass"]) for _ in range(max(0, count))]
try:
    status = subprocess.call(sys.argv[2:])
finally:
    for h in hogs:
        h.kill()
        h.wait()
sys.exit(status)
