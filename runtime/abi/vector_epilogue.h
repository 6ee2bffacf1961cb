// The last step of vaec's own AVX-512 product loops (thin_product.cpp,
// sparse_product.cpp): masks for a row's last vector and the post-ops, as
// oneDNN computes them, so that a loop and oneDNN agree on every value.
#pragma once

#include <immintrin.h>

#include <cmath>
#include <cstdint>
#include <string>

namespace vaec::onednn {

#define VAEC_AVX512 __attribute__((target("avx512f")))

// The first `left` lanes (none when left <= 0).
VAEC_AVX512 inline __mmask16 lanes(int64_t left) {
  return left >= 16 ? __mmask16(0xffff) : left <= 0 ? __mmask16(0) : __mmask16((1u << left) - 1);
}

// As oneDNN's relu (alpha 0) and logistic: NaN stays NaN, a negative x gives x * 0.
VAEC_AVX512 inline __m512 relu(__m512 x) {
  const __mmask16 positive = _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_GT_OQ);
  return _mm512_mask_mov_ps(_mm512_mul_ps(x, _mm512_setzero_ps()), positive, x);
}

// post: 0 none, 1 relu, 2 sigmoid.
inline float post_scalar(float x, int post) {
  if (post == 1) return x > 0 ? x : x * 0.0f;
  if (post == 2) return 1.0f / (1.0f + std::exp(-x));
  return x;
}

// A Matmul step's post-op ("", "relu" or "sigmoid") as post_scalar's code.
inline int post_code(const std::string &post) { return post == "relu" ? 1 : post == "sigmoid" ? 2 : 0; }

// Stores the `mask` lanes of post(x) at `to`.
VAEC_AVX512 inline void store(float *to, __m512 x, __mmask16 mask, int post) {
  if (post == 1) x = relu(x);
  _mm512_mask_storeu_ps(to, mask, x);
  if (post == 2)
    for (int i = 0; i < 16; ++i)
      if (mask >> i & 1) to[i] = post_scalar(to[i], post);
}

}  // namespace vaec::onednn
