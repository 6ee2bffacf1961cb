// f32 to bfloat16 (contract in bf16_rounding.h).
#include "abi/bf16_rounding.h"

#include <immintrin.h>

#include <cstring>

namespace vaec::rt {

bool has_avx512_bf16() {
  static const bool yes = __builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("avx512bw") &&
                          __builtin_cpu_supports("avx512vl");
  return yes;
}

namespace {

__attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16"))) void round_avx512(const float *src, uint16_t *dst,
                                                                                   int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    _mm256_storeu_si256(reinterpret_cast<__m256i *>(dst + i), (__m256i)_mm512_cvtneps_pbh(_mm512_loadu_ps(src + i)));
  if (i < n) {
    const auto tail = static_cast<__mmask16>((1u << (n - i)) - 1);
    _mm256_mask_storeu_epi16(dst + i, tail, (__m256i)_mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(tail, src + i)));
  }
}

}  // namespace

uint16_t round_bf16(float x) {
  uint32_t bits;
  std::memcpy(&bits, &x, 4);
  if ((bits & 0x7f800000u) == 0) return static_cast<uint16_t>((bits >> 16) & 0x8000u);  // zero or denormal
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x40u);  // NaN, made quiet
  bits += 0x7fffu + ((bits >> 16) & 1u);  // to nearest, ties to even (infinity stays, the largest rounds up to it)
  return static_cast<uint16_t>(bits >> 16);
}

void round_bf16(const float *src, uint16_t *dst, int64_t n) {
  if (has_avx512_bf16()) return round_avx512(src, dst, n);
  for (int64_t i = 0; i < n; ++i) dst[i] = round_bf16(src[i]);
}

}  // namespace vaec::rt
