// Scans of float buffers for NaN and infinity: what the gate, the checked
// optimizer and the trainer's diagnosis read every step.
#pragma once

#include <cstdint>

namespace vaec::rt {

// True when none of the n floats is NaN or infinite: max_abs below, 64k
// floats at a time. Training steps check gradients with it
// (Executor::run_optimizer_if_finite, train_step's gate).
bool all_finite(const float *values, int64_t n);

// The largest |x| of the n floats (0 for n = 0), or +infinity when one is NaN
// or infinite. Executor::train_step bounds weight gradients with it.
float max_abs(const float *values, int64_t n);
// The same of n bfloat16 values (their f32 value).
float max_abs_bf16(const uint16_t *values, int64_t n);

}  // namespace vaec::rt
