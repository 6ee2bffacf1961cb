"""kill_rank.py RANK CMD...: start CMD (mpirun ... train ...), kill rank RANK
with SIGKILL once the first epoch line is out, and report how the run
ended: `ended in under 30 s` (or how long it took), `exit status N`, then
its output. Exits 1 if no epoch line came or the run outlived 30 s."""
import os
import signal
import subprocess
import sys
import threading
import time


def rank_pids(rank):
    """The processes whose environment says they are that rank of a job."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                env = f.read().split(b"\0")
        except OSError:
            continue
        if f"OMPI_COMM_WORLD_RANK={rank}".encode() in env and f"VAEC_KILL_RANK_RUN={os.getpid()}".encode() in env:
            found.append(int(pid))
    return found


def main():
    rank = int(sys.argv[1])
    env = dict(os.environ, VAEC_KILL_RANK_RUN=str(os.getpid()))
    p = subprocess.Popen(sys.argv[2:], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    lines = []
    epoch = threading.Event()

    def read():
        for line in p.stdout:
            lines.append(line)
            if line.startswith("epoch "):
                epoch.set()
    reader = threading.Thread(target=read)
    reader.start()
    if not epoch.wait(120):
        p.kill()
        reader.join()
        print("no epoch line:\n" + "".join(lines))
        return 1
    victims = rank_pids(rank)
    for pid in victims:
        os.kill(pid, signal.SIGKILL)
    killed = time.monotonic()
    try:
        status = p.wait(60)
    except subprocess.TimeoutExpired:
        p.kill()
        status = p.wait()
    took = time.monotonic() - killed
    reader.join()
    print(f"killed {len(victims)} process(es) of rank {rank}")
    print("ended in under 30 s" if took < 30 else f"ended after {took:.0f} s")
    print(f"exit status {status}")
    print("".join(lines), end="")
    return 0 if took < 30 else 1


sys.exit(main())
