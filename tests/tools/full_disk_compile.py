#!/usr/bin/env python3
"""full_disk_compile.py VAEC MODEL: `VAEC compile MODEL` onto full
filesystems. A first compile into a scratch directory measures what it
writes; then each compile runs in a private mount namespace (unshare -rm)
onto a fresh tmpfs too small for it: one that fills up at the object file,
one at the trainer, and one after the trainer, in the dumps of DIR/ir/.
Each must exit 1 and name what it could not write ("No space left on
device"). Prints one line per run; exits 1 at the first that does not
fail so."""
import os
import shlex
import subprocess
import sys
import tempfile

vaec, model = sys.argv[1], sys.argv[2]


def tree_bytes(root):
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(root) for f in files)


with tempfile.TemporaryDirectory() as scratch:
    out = os.path.join(scratch, "out")
    subprocess.run([vaec, "compile", model, "-o", out], check=True, stdout=subprocess.DEVNULL)
    obj = os.path.getsize(os.path.join(out, "kernels.o"))
    trainer = obj + os.path.getsize(os.path.join(out, "train"))
    total = tree_bytes(out)
    dumps = total - trainer
    if dumps < 64 * 1024:
        sys.exit(f"full_disk_compile: the dumps are only {dumps} bytes; pick a larger model")
    # tmpfs counts whole pages, and a file being replaced is there twice.
    sizes = {"the object file": obj // 2, "the trainer": obj + (trainer - obj) // 2,
             "the dumps": trainer + 4096 * 16 + dumps // 3}
    for what, size in sizes.items():
        mount = os.path.join(scratch, "mnt")
        os.makedirs(mount, exist_ok=True)
        size = (size // 4096) * 4096
        script = (f"mount -t tmpfs -o size={size} none {shlex.quote(mount)} && "
                  f"exec {shlex.quote(vaec)} compile {shlex.quote(model)} -o {shlex.quote(mount)}/out")
        proc = subprocess.run(["unshare", "-rm", "sh", "-c", script], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, timeout=300)
        errors = [line for line in proc.stderr.splitlines() if "error:" in line]
        print(f"full at {what}: exit {proc.returncode}: {errors[0] if errors else '(no error message)'}")
        if proc.returncode != 1 or not errors or "No space left on device" not in proc.stderr:
            sys.stderr.write(proc.stdout + proc.stderr)
            sys.exit(f"full_disk_compile: a compile onto a tmpfs full at {what} did not fail with a message")
