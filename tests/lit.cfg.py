# lit configuration for vaec's text tests: IR dumps (tests/lit) and error
# messages (tests/errors). Run through CTest, or: lit -v build/tests
import os
import sys

import lit.formats

config.name = "vaec"
config.test_format = lit.formats.ShTest(execute_external=False)
config.suffixes = [".test", ".yaml", ".vir"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.vaec_build_dir, "tests")
config.excludes = ["unit", "fuzz", "tools", "Inputs", "CMakeLists.txt", "lit.cfg.py", "lit.site.cfg.py.in"]
config.environment["LC_ALL"] = "C"

# A sanitized build (VAEC_SANITIZE=ON, build-asan): vaec and every trainer it
# links carry ASan and UBSan, and a report exits with status 86, not 1
# (runtime/support/sanitizer_options.h), so %exit1 cannot mistake it for a
# refusal. Tests that bound a process's address space are UNSUPPORTED there
# (ASan reserves terabytes of shadow memory up front).
if config.vaec_sanitize:
    config.available_features.add("sanitize")
    config.environment["VAEC_SANITIZED"] = "1"
    for name in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS", "ASAN_SYMBOLIZER_PATH"):
        if name in os.environ:
            config.environment[name] = os.environ[name]

# The reduced sanitized set (unless VAEC_SANITIZE_ALL_TESTS=ON; docs/TESTING.md):
# the tests that run most of the trainer's parts in the least time. Left out:
# the error messages and IR dumps (vaec only; the front end is fuzzed under
# ASan and UBSan), gradcheck (the f64 interpreter, minutes under ASan), MPI
# and the teams (timing, several processes), and one test per further
# feature (schedules, samples, labels ...), mostly on paths these share.
sanitized_set = ["sanitized_trainer.test",  # mnist_mlp and conv + batch norm: train, resume, inspect
                 "inspect.test",            # every inspection command, on mlp and conv
                 "data_formats.test",       # IDX, .npz and PNG folders train alike
                 "data_errors.test",        # malformed data files, refused
                 "tabular.test",            # CSV, standardize, a validation split
                 "condition.test",          # condition inputs from an .npz
                 "files.test",              # the trainer's output files, symlinks, FIFOs
                 "interrupt.test"]          # SIGINT/SIGTERM checkpoints, resumed
if config.vaec_sanitize and not config.vaec_sanitize_all_tests:
    lit_dir = os.path.join(config.test_source_root, "lit")
    config.excludes += ["errors"] + [f for f in os.listdir(lit_dir) if f not in sanitized_set]

tools = os.path.join(config.test_source_root, "tools")
config.substitutions.append(("%vaec", os.path.join(config.vaec_build_dir, "vaec")))
config.substitutions.append(("%models", os.path.join(config.vaec_source_dir, "models")))
# %exit1 CMD...: runs CMD, passes its output through, and succeeds only if CMD
# exited with status 1 (not 0, not a crash, not any other status).
config.substitutions.append(("%exit1", f"{sys.executable} {tools}/expect_exit.py 1"))
config.substitutions.append(("%python", sys.executable))
config.substitutions.append(("FileCheck", os.path.join(config.llvm_bin_dir, "FileCheck")))
config.substitutions.append(("%dot", "dot"))

# A private mount namespace with a tmpfs (unshare -rm, no root needed where
# user namespaces are allowed): the tests that fill a filesystem need one.
import subprocess
import tempfile

with tempfile.TemporaryDirectory() as _mnt:
    try:
        _probe = subprocess.run(["unshare", "-rm", "sh", "-c", f"mount -t tmpfs -o size=64k none {_mnt}"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30)
        if _probe.returncode == 0:
            config.available_features.add("private-tmpfs")
    except (OSError, subprocess.SubprocessError):
        pass

# OpenMPI (tests/lit/mpi.test): mpirun with more ranks than cores, allowed as
# root (containers), and without the single-copy transfers that need ptrace
# rights containers often lack.
import shutil

if shutil.which("mpirun"):
    config.available_features.add("mpi")
    # Sanitized, the ranks leave LeakSanitizer out: OpenMPI's plugins leak at
    # exit from code without frame pointers (one-frame stacks, unloaded
    # modules), which no suppression can name. ASan and UBSan stay on.
    mpirun = "mpirun --oversubscribe"
    if config.vaec_sanitize:
        mpirun = f"env ASAN_OPTIONS={':'.join(o for o in ('detect_leaks=0', os.environ.get('ASAN_OPTIONS')) if o)} {mpirun}"
    config.substitutions.append(("%mpirun", mpirun))
    for name, value in (("OMPI_ALLOW_RUN_AS_ROOT", "1"), ("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1"),
                        ("OMPI_MCA_btl_vader_single_copy_mechanism", "none")):
        config.environment[name] = value
