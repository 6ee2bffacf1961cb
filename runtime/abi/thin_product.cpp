// vaec's own loops for thin products (contract in thin_product.h).
#include "abi/thin_product.h"

#include "abi/vector_epilogue.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <type_traits>

namespace vaec::onednn {

namespace {

constexpr int64_t kThin = 4;

// [begin, end) of `count` items for part p of `parts`.
std::pair<int64_t, int64_t> share(int64_t count, int p, int parts) {
  return {count * p / parts, count * (p + 1) / parts};
}

}  // namespace

std::string thin_product_unsupported(int64_t m, int64_t n, int64_t k, const std::string &post) {
  if (m < 1 || n < 1 || k < 1) return "an empty product";
  if (k > kThin && n > kThin) return "no inner dimension or column count of at most 4";
  if (!post.empty() && post != "relu" && post != "sigmoid") return "unknown post-op '" + post + "'";
  if (m >= (int64_t{1} << 31) / 16 || n >= (int64_t{1} << 31) / 16 || k >= (int64_t{1} << 31) / 16 ||
      m * n >= (int64_t{1} << 31) || m * k >= (int64_t{1} << 31) || k * n >= (int64_t{1} << 31))
    return "thin products address operands of fewer than 2^31 elements";
  if (!__builtin_cpu_supports("avx512f")) return "thin products need AVX-512, which this CPU lacks";
  return "";
}

std::string thin_product_unsupported(const plan::Step &s) {
  if (s.kind != plan::Step::Matmul) return "not a product";
  if (s.bf16) return "thin products are f32";
  if (s.split == plan::Step::KSlices || s.zeros != plan::Step::Keep || s.zero_units || s.swapped)
    return "thin products take no k-slices, zero columns, units or swapping";
  return thin_product_unsupported(s.m, s.n, s.k, s.post);
}

ThinProduct::ThinProduct(int64_t m, int64_t n, int64_t k, bool ta, bool tb, bool bias, const std::string &post)
    : m_(m), n_(n), k_(k), ta_(ta), tb_(tb), bias_(bias) {
  if (std::string why = thin_product_unsupported(m, n, k, post); !why.empty())
    throw std::runtime_error("thin product: " + why);
  post_ = post_code(post);
  shape_ = k <= kThin ? Outer : ta ? Columns : Dots;
  size_t floats = 0;
  if (shape_ == Dots) {
    pieces_ = (k + kPieceK - 1) / kPieceK;
    floats = pieces_ * m * n;
  }
  if (shape_ == Outer && tb) floats = k * n;
  scratch_bytes_ = (floats * 4 + 63) / 64 * 64;
}

std::string ThinProduct::impl() const {
  return std::string("own thin (") + (shape_ == Outer ? "outer" : shape_ == Dots ? "dots" : "columns") + ")";
}

namespace {


// The sum of x's 16 lanes, pairwise (GCC 12's _mm512_reduce_add_ps reads an
// undefined vector and warns).
VAEC_AVX512 inline float sum_lanes(__m512 x) {
  alignas(64) float lane[16];
  _mm512_store_ps(lane, x);
  for (int width = 8; width >= 1; width /= 2)
    for (int i = 0; i < width; ++i) lane[i] += lane[i + width];
  return lane[0];
}

// Lane t of index vector `which` (0: from vectors 0-1, 1: from 2-3) for
// column j of 16 rows of N floats: element j + N t of the rows' 16 N floats.
template <int N>
VAEC_AVX512 inline __m512i column_index(int j) {
  alignas(64) int32_t at[16];
  for (int t = 0; t < 16; ++t) at[t] = (j + N * t) % 32;
  return _mm512_load_si512(at);
}
template <int N>
VAEC_AVX512 inline __mmask16 upper_half(int j) {  // lanes whose element is in vectors 2-3
  unsigned mask = 0;
  for (int t = 0; t < 16; ++t) mask |= unsigned(j + N * t >= 32) << t;
  return __mmask16(mask);
}

// out[j] lane t = p[t N + j] for t < rows (0 beyond): 16 rows of an [*, N]
// row-major array, one vector per column.
template <int N>
VAEC_AVX512 inline void load_columns(const float *p, int64_t rows, __m512 out[N]) {
  const int64_t count = rows * N;
  __m512 v[4];
  for (int i = 0; i < N; ++i) v[i] = _mm512_maskz_loadu_ps(lanes(count - 16 * i), p + 16 * i);
  if constexpr (N == 1) {
    out[0] = v[0];
  } else {
    for (int j = 0; j < N; ++j) {
      __m512 x = _mm512_permutex2var_ps(v[0], column_index<N>(j), v[1]);
      if constexpr (N > 2)
        x = _mm512_mask_mov_ps(x, upper_half<N>(j),
                               _mm512_permutex2var_ps(v[2], column_index<N>(j), N == 4 ? v[3] : v[2]));
      out[j] = x;
    }
  }
}

// p[t N + j] = in[j] lane t for t < rows: the inverse of load_columns.
template <int N>
VAEC_AVX512 inline void store_columns(const __m512 in[N], int64_t rows, float *p) {
  const int64_t count = rows * N;
  if constexpr (N == 1) {
    _mm512_mask_storeu_ps(p, lanes(count), in[0]);
  } else {
    // Output vector o, lane u: element e = 16 o + u, row e / N of column e % N,
    // which is lane e / N of in[e % N], index (e % N) * 16 + e / N in in[0..3].
    for (int o = 0; o < N; ++o) {
      alignas(64) int32_t at[16];
      unsigned upper = 0;
      for (int u = 0; u < 16; ++u) {
        const int e = 16 * o + u, index = (e % N) * 16 + e / N;
        at[u] = index % 32, upper |= unsigned(index >= 32) << u;
      }
      const __m512i idx = _mm512_load_si512(at);
      __m512 x = _mm512_permutex2var_ps(in[0], idx, in[1]);
      if constexpr (N > 2) x = _mm512_mask_mov_ps(x, __mmask16(upper), _mm512_permutex2var_ps(in[2], idx, in[N == 4 ? 3 : 2]));
      _mm512_mask_storeu_ps(p + 16 * o, lanes(count - 16 * o), x);
    }
  }
}

// Outer: c[i, j..j+16) = post(sum over l < K of op(a)[i, l] bt[l, j..j+16) + bias), l in order;
// bt [K, n] with leading dimension ldb. Rows in fours, each four along the part's columns.
template <int K>
VAEC_AVX512 void outer(int64_t v0, int64_t v1, int64_t m, int64_t n, const float *a, bool ta, const float *bt,
                       int64_t ldb, const float *bias, float *c, int post) {
  constexpr int kRows = 4;
  const int64_t step = ta ? m : 1;
  for (int64_t i0 = 0; i0 < m; i0 += kRows) {
    const int rows = static_cast<int>(std::min<int64_t>(kRows, m - i0));
    __m512 av[kRows][K];
    for (int r = 0; r < rows; ++r) {
      const float *ai = ta ? a + i0 + r : a + (i0 + r) * K;  // op(a)[i, l] = ai[l * step]
      for (int l = 0; l < K; ++l) av[r][l] = _mm512_set1_ps(ai[l * step]);
    }
    for (int64_t v = v0; v < v1; ++v) {
      const int64_t j = v * 16;
      const __mmask16 mask = lanes(n - j);
      __m512 bv[K];
      for (int l = 0; l < K; ++l) bv[l] = _mm512_maskz_loadu_ps(mask, bt + l * ldb + j);
      const __m512 biasv = bias ? _mm512_maskz_loadu_ps(mask, bias + j) : _mm512_setzero_ps();
      for (int r = 0; r < rows; ++r) {
        __m512 acc = _mm512_mul_ps(av[r][0], bv[0]);
        for (int l = 1; l < K; ++l) acc = _mm512_fmadd_ps(av[r][l], bv[l], acc);
        if (bias) acc = _mm512_add_ps(acc, biasv);
        store(c + (i0 + r) * n + j, acc, mask, post);
      }
    }
  }
}

// bt[l, j] = b[j, l] for the part's columns j in [16 v0, 16 v1) of b [n, K].
template <int K>
VAEC_AVX512 void transpose_columns(int64_t v0, int64_t v1, int64_t n, const float *b, float *bt) {
  for (int64_t v = v0; v < v1; ++v) {
    const int64_t j = v * 16, rows = std::min<int64_t>(16, n - j);
    __m512 col[K];
    load_columns<K>(b + j * K, rows, col);
    for (int l = 0; l < K; ++l) _mm512_mask_storeu_ps(bt + l * n + j, lanes(rows), col[l]);
  }
}

// Dots, pieces [q0, q1): partial[q, i, j] = sum over l in piece q of
// a[i, l] op(b)[l, j], as 16 lanes summed at the end.
template <int N>
VAEC_AVX512 void dots(int64_t q0, int64_t q1, int64_t m, int64_t k, const float *a, const float *b, bool tb,
                      float *partial) {
  constexpr int kRows = N <= 2 ? 8 : 4;
  for (int64_t q = q0; q < q1; ++q) {
    const int64_t l0 = q * ThinProduct::kPieceK, l1 = std::min(k, l0 + ThinProduct::kPieceK);
    for (int64_t i0 = 0; i0 < m; i0 += kRows) {
      const int rows = static_cast<int>(std::min<int64_t>(kRows, m - i0));
      __m512 acc[kRows][N];
      for (int r = 0; r < kRows; ++r)
        for (int j = 0; j < N; ++j) acc[r][j] = _mm512_setzero_ps();
      for (int64_t l = l0; l < l1; l += 16) {
        const int64_t left = std::min<int64_t>(16, l1 - l);
        const __mmask16 mask = lanes(left);
        __m512 bv[N];
        if (tb)
          for (int j = 0; j < N; ++j) bv[j] = _mm512_maskz_loadu_ps(mask, b + j * k + l);
        else
          load_columns<N>(b + l * N, left, bv);
        if (rows == kRows) {
          for (int r = 0; r < kRows; ++r) {
            const __m512 av = _mm512_maskz_loadu_ps(mask, a + (i0 + r) * k + l);
            for (int j = 0; j < N; ++j) acc[r][j] = _mm512_fmadd_ps(av, bv[j], acc[r][j]);
          }
          continue;
        }
        for (int r = 0; r < rows; ++r) {
          const __m512 av = _mm512_maskz_loadu_ps(mask, a + (i0 + r) * k + l);
          for (int j = 0; j < N; ++j) acc[r][j] = _mm512_fmadd_ps(av, bv[j], acc[r][j]);
        }
      }
      for (int r = 0; r < rows; ++r)
        for (int j = 0; j < N; ++j) partial[(q * m + i0 + r) * N + j] = sum_lanes(acc[r][j]);
    }
  }
}

// Columns: c[i..i+16, j] = post(sum over l of a[l, i..i+16) op(b)[l, j] + bias[j]), l in order.
// kBlocks blocks of 16 rows at a time: each row of a [k, m] is read as a run
// of kBlocks vectors (one block alone walked k lines m floats apart, one
// cache miss after another), kBlocks N accumulators in registers.
template <int N, bool TB>
VAEC_AVX512 void columns_of(int64_t v0, int64_t v1, int64_t m, int64_t k, const float *a, const float *b,
                            const float *bias, float *c, int post) {
  constexpr int kBlocks = 24 / N;
  for (int64_t w = v0; w < v1; w += kBlocks) {
    const int blocks = static_cast<int>(std::min<int64_t>(kBlocks, v1 - w));
    __mmask16 mask[kBlocks];
    __m512 acc[kBlocks][N];
    for (int u = 0; u < kBlocks; ++u) {
      mask[u] = lanes(u < blocks ? m - (w + u) * 16 : 0);
      for (int j = 0; j < N; ++j) acc[u][j] = _mm512_setzero_ps();
    }
    for (int64_t l = 0; l < k; ++l) {
      __m512 bl[N];
      for (int j = 0; j < N; ++j) bl[j] = _mm512_set1_ps(TB ? b[j * k + l] : b[l * N + j]);
      const float *row = a + l * m + w * 16;
      for (int u = 0; u < kBlocks; ++u) {
        if (u >= blocks) break;
        const __m512 av = _mm512_maskz_loadu_ps(mask[u], row + 16 * u);
        for (int j = 0; j < N; ++j) acc[u][j] = _mm512_fmadd_ps(av, bl[j], acc[u][j]);
      }
    }
    for (int u = 0; u < blocks; ++u) {
      const int64_t i = (w + u) * 16, rows = std::min<int64_t>(16, m - i);
      for (int j = 0; j < N; ++j) {
        if (bias) acc[u][j] = _mm512_add_ps(acc[u][j], _mm512_set1_ps(bias[j]));
        if (post == 1) acc[u][j] = relu(acc[u][j]);
      }
      float *to = c + i * N;
      store_columns<N>(acc[u], rows, to);
      if (post == 2)
        for (int64_t e = 0; e < rows * N; ++e) to[e] = post_scalar(to[e], post);
    }
  }
}
template <int N>
void columns(int64_t v0, int64_t v1, int64_t m, int64_t k, const float *a, const float *b, bool tb,
             const float *bias, float *c, int post) {
  if (tb) return columns_of<N, true>(v0, v1, m, k, a, b, bias, c, post);
  columns_of<N, false>(v0, v1, m, k, a, b, bias, c, post);
}

// f(std::integral_constant<int, x>{}) for an extent x of 1-4.
template <typename F>
void by_extent(int64_t x, F &&f) {
  switch (x) {
    case 1: f(std::integral_constant<int, 1>{}); break;
    case 2: f(std::integral_constant<int, 2>{}); break;
    case 3: f(std::integral_constant<int, 3>{}); break;
    default: f(std::integral_constant<int, 4>{}); break;
  }
}

}  // namespace

void ThinProduct::run_part(int part, int parts, const float *a, const float *b, const float *bias, float *c,
                           void *scratch) const {
  const int64_t m = m_, n = n_, k = k_;
  const float *with_bias = bias_ ? bias : nullptr;
  if (shape_ == Outer) {
    const auto [v0, v1] = share((n + 15) / 16, part, parts);
    if (v0 >= v1) return;
    // b [n, k]: this part's columns of op(b) transposed into scratch [k, n] first.
    float *bt = static_cast<float *>(scratch);
    by_extent(k, [&](auto K) {
      if (tb_) transpose_columns<K()>(v0, v1, n, b, bt);
      outer<K()>(v0, v1, m, n, a, ta_, tb_ ? bt : b, n, with_bias, c, post_);
    });
    return;
  }
  if (shape_ == Columns) {
    const auto [v0, v1] = share((m + 15) / 16, part, parts);
    by_extent(n, [&](auto N) { columns<N()>(v0, v1, m, k, a, b, tb_, with_bias, c, post_); });
    return;
  }
  const auto [q0, q1] = share(pieces_, part, parts);
  by_extent(n, [&](auto N) { dots<N()>(q0, q1, m, k, a, b, tb_, static_cast<float *>(scratch)); });
}

void ThinProduct::finish(int part, int parts, const float *bias, float *c, const void *scratch) const {
  if (shape_ != Dots) return;
  const float *partial = static_cast<const float *>(scratch);
  const int64_t elements = m_ * n_;
  const auto [e0, e1] = share(elements, part, parts);
  for (int64_t e = e0; e < e1; ++e) {
    float x = partial[e];
    for (int64_t q = 1; q < pieces_; ++q) x += partial[q * elements + e];
    if (bias_) x += bias[e % n_];
    c[e] = post_scalar(x, post_);
  }
}

}  // namespace vaec::onednn
