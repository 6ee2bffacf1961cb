// Scans for NaN and infinity (contract in finite.h).
#include "exec/finite.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <limits>
#include <type_traits>

namespace vaec::rt {
namespace {

// The largest |x| as the bits of a non-negative float (their unsigned order
// is the floats' order; NaN and infinity, whose exponent bits are all ones,
// sort above every finite value): f32 values as u32, bf16 ones as u16. A
// vector of 64 bytes on AVX-512 (the machines vaec targets), 16 (SSE2,
// x86-64's baseline) elsewhere: GCC does not vectorize the plain loop at
// -O2, and the trainer scans gradients or the gate's operands every step.
using Words = uint32_t __attribute__((vector_size(16)));
using Words16 = uint32_t __attribute__((vector_size(64)));
using Halves = uint16_t __attribute__((vector_size(16)));
using Halves32 = uint16_t __attribute__((vector_size(64)));

template <typename V>
auto max_abs_bits_lanes(const void *values, int64_t n) {
  using T = std::remove_cvref_t<decltype(V{}[0])>;
  constexpr int kLanes = sizeof(V) / sizeof(T);
  constexpr T kMagnitude = std::numeric_limits<T>::max() >> 1;  // all bits but the sign
  const V magnitude = V{} + kMagnitude;
  const auto *bytes = static_cast<const std::byte *>(values);
  V best = V{};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    V x;
    std::memcpy(&x, bytes + i * sizeof(T), sizeof x);
    x &= magnitude;
    best = x > best ? x : best;
  }
  T m = 0;
  for (int l = 0; l < kLanes; ++l) m = std::max<T>(m, best[l]);
  for (; i < n; ++i) {
    T bits;
    std::memcpy(&bits, bytes + i * sizeof(T), sizeof(T));
    m = std::max<T>(m, bits & kMagnitude);
  }
  return m;
}

__attribute__((target("avx512f"))) uint32_t max_abs_bits_avx512(const float *values, int64_t n) {
  return max_abs_bits_lanes<Words16>(values, n);
}

__attribute__((target("avx512f,avx512bw"))) uint16_t max_abs_bf16_avx512(const uint16_t *values, int64_t n) {
  return max_abs_bits_lanes<Halves32>(values, n);
}

}  // namespace

float max_abs(const float *values, int64_t n) {
  static const bool avx512 = __builtin_cpu_supports("avx512f");
  const uint32_t bits = avx512 ? max_abs_bits_avx512(values, n) : max_abs_bits_lanes<Words>(values, n);
  if (bits >= 0x7f800000u) return INFINITY;
  float m;
  std::memcpy(&m, &bits, 4);
  return m;
}

float max_abs_bf16(const uint16_t *values, int64_t n) {
  static const bool avx512 = __builtin_cpu_supports("avx512bw");
  const uint16_t m = avx512 ? max_abs_bf16_avx512(values, n) : max_abs_bits_lanes<Halves>(values, n);
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
