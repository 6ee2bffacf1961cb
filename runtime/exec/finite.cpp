// Scans for NaN and infinity (contract in finite.h).
#include "exec/finite.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace vaec::rt {
namespace {

// The largest |x| as the bits of a non-negative float (their unsigned order
// is the floats' order; NaN and infinity, whose 8 exponent bits are all
// ones, sort above every finite value). Sixteen lanes on AVX-512 (the
// machines vaec targets), four (SSE2, x86-64's baseline) elsewhere: GCC does
// not vectorize the plain loop at -O2, and the trainer scans gradients or
// the gate's operands with this every step.
using Lanes = uint32_t __attribute__((vector_size(16)));
using Lanes16 = uint32_t __attribute__((vector_size(64)));
// bf16 magnitudes likewise, as u16: 32 lanes (AVX-512BW) or 8.
using Halves = uint16_t __attribute__((vector_size(16)));
using Halves32 = uint16_t __attribute__((vector_size(64)));

template <typename V>
uint16_t max_abs_bf16_lanes(const uint16_t *values, int64_t n) {
  constexpr int kLanes = sizeof(V) / 2;
  const V magnitude = V{} + 0x7fff;
  V best = V{};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    V x;
    std::memcpy(&x, values + i, sizeof x);
    x &= magnitude;
    best = x > best ? x : best;
  }
  uint16_t m = 0;
  for (int l = 0; l < kLanes; ++l) m = std::max<uint16_t>(m, best[l]);
  for (; i < n; ++i) m = std::max<uint16_t>(m, values[i] & 0x7fffu);
  return m;
}

__attribute__((target("avx512f,avx512bw"))) uint16_t max_abs_bf16_avx512(const uint16_t *values, int64_t n) {
  return max_abs_bf16_lanes<Halves32>(values, n);
}

template <typename V>
uint32_t max_abs_bits_lanes(const float *values, int64_t n) {
  constexpr int kLanes = sizeof(V) / 4;
  const V magnitude = V{} + 0x7fffffffu;
  V best = V{};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    V x;
    std::memcpy(&x, values + i, sizeof x);
    x &= magnitude;
    best = x > best ? x : best;
  }
  uint32_t m = 0;
  for (int l = 0; l < kLanes; ++l) m = std::max(m, best[l]);
  for (; i < n; ++i) {
    uint32_t bits;
    std::memcpy(&bits, values + i, 4);
    m = std::max(m, bits & 0x7fffffffu);
  }
  return m;
}

__attribute__((target("avx512f"))) uint32_t max_abs_bits_avx512(const float *values, int64_t n) {
  return max_abs_bits_lanes<Lanes16>(values, n);
}

}  // namespace

float max_abs(const float *values, int64_t n) {
  static const bool avx512 = __builtin_cpu_supports("avx512f");
  const uint32_t bits = avx512 ? max_abs_bits_avx512(values, n) : max_abs_bits_lanes<Lanes>(values, n);
  if (bits >= 0x7f800000u) return INFINITY;
  float m;
  std::memcpy(&m, &bits, 4);
  return m;
}

float max_abs_bf16(const uint16_t *values, int64_t n) {
  static const bool avx512 = __builtin_cpu_supports("avx512bw");
  const uint16_t m = avx512 ? max_abs_bf16_avx512(values, n) : max_abs_bf16_lanes<Halves>(values, n);
  if (m >= 0x7f80u) return INFINITY;
  const uint32_t bits = uint32_t{m} << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

bool all_finite(const float *values, int64_t n) {
  static_assert(sizeof(float) == sizeof(uint32_t));
  // 64k floats at a time: an early exit without a branch per element.
  constexpr int64_t kBlock = 1 << 16;
  for (int64_t i = 0; i < n; i += kBlock)
    if (max_abs(values + i, std::min(kBlock, n - i)) == INFINITY) return false;
  return true;
}

}  // namespace vaec::rt
