#!/usr/bin/env python3
"""signal_run.py SIGNALS DIR CMD...: start a training run, send it signals
once it has written a new checkpoint mid-run, and report how it ended.

CMD is the trainer (or an `exec` of it), with --out DIR and a
--checkpoint-every that writes DIR/checkpoint.bin within the first epoch: that new checkpoint (another file
than the one DIR held at the start) is the sign that training is under way,
with no --max-steps to stop it. SIGNALS is a comma-separated list of INT,
TERM or KILL: the first is sent as soon as the checkpoint appears, each next
one as soon as a temporary checkpoint file (DIR/checkpoint.bin.tmp.*)
exists, i.e. while the trainer writes the checkpoint of the interruption
(or after two seconds). Prints `exit status N` (`killed by SIGKILL`), then
the run's stderr; exits 1 if the run ended before the checkpoint appeared."""
import glob
import os
import signal
import subprocess
import sys
import time


def identity(path):
    try:
        st = os.stat(path)
        return (st.st_ino, st.st_mtime_ns)
    except FileNotFoundError:
        return None


def main():
    signals = [getattr(signal, "SIG" + name) for name in sys.argv[1].split(",")]
    out, cmd = sys.argv[2], sys.argv[3:]
    checkpoint = os.path.join(out, "checkpoint.bin")
    before = identity(checkpoint)
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while identity(checkpoint) == before:
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            sys.exit(f"signal_run: the run wrote no new checkpoint (status {proc.wait()}):\n"
                     + proc.stderr.read().decode())
        time.sleep(0.002)
    proc.send_signal(signals[0])
    for sig in signals[1:]:
        wait_until = time.monotonic() + 2
        while not glob.glob(checkpoint + ".tmp.*") and proc.poll() is None and time.monotonic() < wait_until:
            time.sleep(0.0005)
        if proc.poll() is None:
            proc.send_signal(sig)
    stderr = proc.communicate(timeout=120)[1].decode()
    status = proc.returncode
    print("killed by SIGKILL" if status == -signal.SIGKILL else f"exit status {status}")
    sys.stdout.write(stderr)


main()
