// main() of every generated trainer: the plan and the kernels come from the
// object file `vaec compile` emits (see program.h).
#include <cstdlib>

#include <unistd.h>

#include "program/program.h"
#include "train/trainer_options.h"

extern "C" const char vaec_plan_text[];
extern "C" const vaec_kernel_entry vaec_kernels[];

int main(int argc, char **argv) {
  // libgomp reads its wait policy when it is loaded, before main(), and by
  // default spins for milliseconds at every barrier: beside one busy program
  // that starves the thread everyone waits for (docs/BENCHMARKS.md, "A shared
  // CPU"). Unless the user chose, the trainer bounds the spinning and runs
  // itself again; should that fail, it carries on as it is.
  if (!std::getenv("OMP_WAIT_POLICY") && !std::getenv("GOMP_SPINCOUNT") &&
      setenv("GOMP_SPINCOUNT", vaec::rt::kSpinCount, 1) == 0)
    execv("/proc/self/exe", argv);
  return vaec_trainer_main(argc, argv, vaec_plan_text, vaec_kernels);
}
