// Rounding f32 to bfloat16: what a plan's `reorder` of plain f32 into a
// plain bf16 buffer computes, the operands of bf16 products. The executor runs
// it in chunks any team can take (a oneDNN reorder took ~2.5x the time:
// docs/BENCHMARKS.md), and `vaec compile` times it when it weighs a bf16
// product against f32 (codegen/choose_precision.h).
//
// Exactly AVX512-BF16's vcvtneps2bf16, which oneDNN's reorders use on CPUs
// that have it: to nearest, ties to even; a zero or denormal f32 becomes a
// zero of its sign; a NaN keeps its sign and top payload bits and is made
// quiet. The instruction where the CPU has it, the same bits in plain C++
// elsewhere.
#pragma once

#include <cstdint>

namespace vaec::rt {

uint16_t round_bf16(float x);

// dst[i] = round_bf16(src[i]) for i in [0, n).
void round_bf16(const float *src, uint16_t *dst, int64_t n);

// Whether this CPU has AVX512-BF16 with AVX512-BW and -VL, which
// round_bf16 then uses (and code that rounds in its own loops may too).
bool has_avx512_bf16();

}  // namespace vaec::rt
