// Column masks and masked column copies (contract in zero_columns.h).
#include "exec/zero_columns.h"

#include <immintrin.h>

#include <algorithm>
#include <cstring>

namespace vaec::rt {
namespace {

bool has_avx512() {
  static const bool yes = __builtin_cpu_supports("avx512f");
  return yes;
}

bool has_avx512_bw() {
  static const bool yes = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                          __builtin_cpu_supports("avx512vl");
  return yes;
}

template <typename V>
void or_columns_lanes(const float *x, int64_t rows, int64_t cols, int64_t stride, uint32_t *acc) {
  constexpr int kLanes = sizeof(V) / 4;
  for (int64_t r = 0; r < rows; ++r) {
    const float *row = x + r * stride;
    int64_t j = 0;
    for (; j + kLanes <= cols; j += kLanes) {
      V v, a;
      std::memcpy(&v, row + j, sizeof v);
      std::memcpy(&a, acc + j, sizeof a);
      a |= v;
      std::memcpy(acc + j, &a, sizeof a);
    }
    for (; j < cols; ++j) {
      uint32_t bits;
      std::memcpy(&bits, row + j, 4);
      acc[j] |= bits;
    }
  }
}

__attribute__((target("avx512f"))) void or_columns_avx512(const float *x, int64_t rows, int64_t cols,
                                                           int64_t stride, uint32_t *acc) {
  or_columns_lanes<uint32_t __attribute__((vector_size(64)))>(x, rows, cols, stride, acc);
}

// Register forms of compress and expand with masked loads and stores (the
// memory forms of vcompressps/vexpandps are microcoded on Intel cores); each
// block's destination is precomputed, so no block waits for the one before.
// One row each; `padded` is compress's.
__attribute__((target("avx512f"))) void compress_row_avx512(const float *s, float *d, const KeptColumns &k,
                                                            int64_t padded) {
  for (size_t b = 0; b < k.blocks.size(); ++b) {
    const __mmask16 keep = static_cast<__mmask16>(k.blocks[b].keep);
    if (keep == 0xffff) {
      _mm512_storeu_ps(d + k.blocks[b].at, _mm512_loadu_ps(s + 16 * b));
    } else if (keep) {
      const __m512 v = _mm512_maskz_compress_ps(keep, _mm512_maskz_loadu_ps(keep, s + 16 * b));
      _mm512_mask_storeu_ps(d + k.blocks[b].at, static_cast<__mmask16>((1u << __builtin_popcount(keep)) - 1), v);
    }
  }
  std::fill(d + k.kept, d + padded, 0.0f);
}

__attribute__((target("avx512f"))) void expand_row_avx512(const float *s, float *d, const KeptColumns &k,
                                                          int64_t) {
  for (size_t b = 0; b < k.blocks.size(); ++b) {
    const int64_t left = k.cols - 16 * static_cast<int64_t>(b);
    const __mmask16 live = static_cast<__mmask16>(left >= 16 ? 0xffffu : (1u << left) - 1);
    const __mmask16 keep = static_cast<__mmask16>(k.blocks[b].keep);
    __m512 v;
    if (keep == 0xffff)
      v = _mm512_loadu_ps(s + k.blocks[b].at);
    else if (keep)
      v = _mm512_maskz_expand_ps(
          keep, _mm512_maskz_loadu_ps(static_cast<__mmask16>((1u << __builtin_popcount(keep)) - 1), s + k.blocks[b].at));
    else
      v = _mm512_setzero_ps();
    _mm512_mask_storeu_ps(d + 16 * b, live, v);
  }
}

// bf16: 16 values of a block widened to 32 bits, compressed as floats are,
// narrowed back (AVX512-BW and VL, which every CPU with bf16 products has).
__attribute__((target("avx512f,avx512bw,avx512vl"))) void compress_row16_avx512(const uint16_t *s, uint16_t *d,
                                                                                const KeptColumns &k,
                                                                                int64_t padded) {
  for (size_t b = 0; b < k.blocks.size(); ++b) {
    const __mmask16 keep = static_cast<__mmask16>(k.blocks[b].keep);
    if (keep == 0xffff) {
      _mm256_storeu_si256(reinterpret_cast<__m256i *>(d + k.blocks[b].at),
                          _mm256_loadu_si256(reinterpret_cast<const __m256i *>(s + 16 * b)));
    } else if (keep) {
      const __m512i wide = _mm512_maskz_cvtepu16_epi32(keep, _mm256_maskz_loadu_epi16(keep, s + 16 * b));
      _mm512_mask_cvtepi32_storeu_epi16(d + k.blocks[b].at,
                                        static_cast<__mmask16>((1u << __builtin_popcount(keep)) - 1),
                                        _mm512_maskz_compress_epi32(keep, wide));
    }
  }
  std::fill(d + k.kept, d + padded, uint16_t{0});
}

__attribute__((target("avx512f,avx512bw,avx512vl"))) void or_columns16_avx512(const uint16_t *x, int64_t rows, int64_t cols,
                                                                     int64_t stride, uint32_t *acc) {
  for (int64_t r = 0; r < rows; ++r) {
    const uint16_t *row = x + r * stride;
    for (int64_t j = 0; j < cols; j += 16) {
      const auto live = static_cast<__mmask16>(cols - j >= 16 ? 0xffffu : (1u << (cols - j)) - 1);
      const __m512i v = _mm512_maskz_cvtepu16_epi32(live, _mm256_maskz_loadu_epi16(live, row + j));
      _mm512_mask_storeu_epi32(acc + j, live, _mm512_or_si512(_mm512_maskz_loadu_epi32(live, acc + j), v));
    }
  }
}

// The portable forms.
void compress_row16(const uint16_t *s, uint16_t *d, const KeptColumns &k, int64_t padded) {
  int64_t at = 0;
  for (int64_t j = 0; j < k.cols; ++j)
    if (k.has(j)) d[at++] = s[j];
  std::fill(d + at, d + padded, uint16_t{0});
}

void compress_row(const float *s, float *d, const KeptColumns &k, int64_t padded) {
  int64_t at = 0;
  for (int64_t j = 0; j < k.cols; ++j)
    if (k.has(j)) d[at++] = s[j];
  std::fill(d + at, d + padded, 0.0f);
}

void expand_row(const float *s, float *d, const KeptColumns &k, int64_t) {
  int64_t at = 0;
  for (int64_t j = 0; j < k.cols; ++j) d[j] = k.has(j) ? s[at++] : 0.0f;
}

using RowCopy = void (*)(const float *, float *, const KeptColumns &, int64_t);

void each_row(RowCopy avx512, RowCopy portable, const float *src, int64_t rows, int64_t src_stride,
              const KeptColumns &k, float *dst, int64_t dst_stride, int64_t padded) {
  const RowCopy row = has_avx512() ? avx512 : portable;
  for (int64_t r = 0; r < rows; ++r) row(src + r * src_stride, dst + r * dst_stride, k, padded);
}

}  // namespace

void or_columns(const float *x, int64_t rows, int64_t cols, int64_t stride, uint32_t *acc) {
  if (has_avx512()) return or_columns_avx512(x, rows, cols, stride, acc);
  or_columns_lanes<uint32_t __attribute__((vector_size(16)))>(x, rows, cols, stride, acc);
}

void or_columns(const uint16_t *x, int64_t rows, int64_t cols, int64_t stride, uint32_t *acc) {
  if (has_avx512_bw()) return or_columns16_avx512(x, rows, cols, stride, acc);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < cols; ++j) acc[j] |= x[r * stride + j];
}

void compress_columns(const uint16_t *src, int64_t rows, int64_t src_stride, const KeptColumns &k, uint16_t *dst,
                      int64_t dst_stride, int64_t padded) {
  const auto row = has_avx512_bw() ? compress_row16_avx512 : compress_row16;
  for (int64_t r = 0; r < rows; ++r) row(src + r * src_stride, dst + r * dst_stride, k, padded);
}

void kept_columns(const uint32_t *acc, int64_t cols, KeptColumns &out) {
  out.cols = cols;
  out.kept = 0;
  out.blocks.assign((cols + 15) / 16, {0, 0});
  for (size_t b = 0; b < out.blocks.size(); ++b) {
    out.blocks[b].at = static_cast<int32_t>(out.kept);
    for (int64_t j = 16 * static_cast<int64_t>(b); j < std::min<int64_t>(cols, 16 * (b + 1)); ++j)
      if (acc[j]) out.blocks[b].keep |= 1u << (j % 16), ++out.kept;
  }
}

void compress_columns(const float *src, int64_t rows, int64_t src_stride, const KeptColumns &k, float *dst,
                      int64_t dst_stride, int64_t padded) {
  each_row(compress_row_avx512, compress_row, src, rows, src_stride, k, dst, dst_stride, padded);
}

void expand_columns(const float *src, int64_t rows, int64_t src_stride, const KeptColumns &k, float *dst,
                    int64_t dst_stride) {
  each_row(expand_row_avx512, expand_row, src, rows, src_stride, k, dst, dst_stride, 0);
}

}  // namespace vaec::rt
