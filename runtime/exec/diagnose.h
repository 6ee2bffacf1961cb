// Finding where a training step first produced a NaN or an infinity, so the
// trainer can name the tensor and the YAML line instead of only the loss.
#pragma once

#include <cstdint>
#include <string>

#include "exec/executor.h"

namespace vaec::rt {

struct NonFinite {
  bool found = false;
  std::string buffer;  // the plan buffer, named after its IR value ("d.h.w" is h.w's gradient)
  float value = 0;     // its first non-finite element
  bool parameter = false;  // a parameter that was already non-finite before the step
  size_t step = 0;     // index in the program
  std::string op;      // the step: "kernel NAME", "matmul", a convolution's op ("conv2d_bwd_data"), "reorder" or "zero"
  std::string where;   // file:line:col of the YAML op, when the plan knows it
};

// Replays `program` on `batch` examples (0: its plan batch) with rng step
// `rng_step` one plan step at a time and
// returns the first f32 buffer that holds a non-finite value after a step
// (or a parameter that holds one before the first). The caller restores
// the program's input first; parameters are read, never changed, so the
// replay computes what the failed run computed. The gradient region is
// zeroed first, so the failed run's values cannot be mistaken for new ones. `found` is false when the
// replay produces no such value.
NonFinite find_first_non_finite(Executor &exec, const plan::Program &program, uint64_t rng_step,
                                int64_t batch = 0);

// "'d.h.w' (nan), computed by train step 12 (kernel fused_3) at m.yaml:9:5"
std::string describe(const NonFinite &f, const std::string &program);

}  // namespace vaec::rt
