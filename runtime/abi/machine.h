// The machine a plan was compiled for (plan `config cpu_features`): part of
// the ABI between compiler/ and runtime/. `vaec compile` records which of
// the instruction sets below its machine has; LLVM compiles the fused
// kernels with no instruction set beyond kernel_features() (and the
// x86-64 baseline they imply), and the plan's timed choices (bf16 steps,
// Winograd, thin and direct kernels) were measured there.
//
// A trainer is a standalone program that may be copied to, or started by
// mpirun on, another machine. There, before anything runs:
//   - a kernel instruction set the plan recorded and this CPU lacks is an
//     error (the kernels would stop on an illegal instruction): compile on
//     this machine. avx512bf16 counts only for a plan with bf16 buffers,
//     whose kernels round to bf16 with it;
//   - bf16 steps timed on a CPU with AMX, run on one without, get a note:
//     oneDNN runs them on slower kernels here, maybe slower than f32.
// A plan without the line (older, or written by hand) is not checked.
#pragma once

#include <string>
#include <vector>

#include "abi/plan.h"

namespace vaec::plan {

// The instruction sets the fused kernels may use (LLVM's and GCC's names:
// popcnt .. AVX-512 F/CD/BW/DQ/VL, AVX512-BF16), in the plan's order.
std::vector<std::string> kernel_features();

// Of those and AMX's (amx-tile, amx-bf16: the timings depend on them),
// the ones this CPU has.
std::vector<std::string> cpu_features();

// Whether `feature` is an x86 extension beyond kernel_features() that code
// for the plan must not use (AVX-512 and AMX extensions outside the list,
// GFNI, VAES, ...): the compiler turns these off in LLVM's target.
bool extension_beyond_kernels(const std::string &feature);

struct MachineCheck {
  std::string error;  // "" when the kernels can run here
  std::string note;   // "" when nothing timed for the plan's machine is missing here
};

// `plan`'s recorded machine against a CPU with the features `here`.
MachineCheck check_machine(const Plan &plan, const std::vector<std::string> &here);

}  // namespace vaec::plan
