// vaec's own loops for products with sparse data (contract in sparse_product.h).
#include "abi/sparse_product.h"

#include <immintrin.h>

#include <algorithm>

#include "abi/vector_epilogue.h"

namespace vaec::onednn {

namespace {

// A list's entries may be written a vector past its last one (list_rows
// stores whole vectors), so each list has room for 16 more.
constexpr int64_t kSlack = 16;
// Columns of c per pass (up to five vectors) and rows of b per block: a
// block of b (128 rows of up to 80 floats, 40 KB) stays in the L1 cache
// while every list of a group of lists adds its entries from that block.
constexpr int kVectors = 5;
constexpr int64_t kBlockRows = 128, kGroup = 64;

// Appends the `live` lanes of v that are not 0 (NaN counts: it reaches c as
// in the whole product) and their indices to a list whose next entry is at
// value / index: compressed in registers and stored as whole vectors
// (kSlack; a compressing store to memory is slow on some CPUs). Returns how
// many.
VAEC_AVX512 inline int append_nonzero(__m512 v, __mmask16 live, __m512i indices, float *value, int32_t *index) {
  const __mmask16 nz = _mm512_mask_cmp_ps_mask(live, v, _mm512_setzero_ps(), _CMP_NEQ_UQ);
  _mm512_storeu_ps(value, _mm512_maskz_compress_ps(nz, v));
  _mm512_storeu_si512(index, _mm512_maskz_compress_epi32(nz, indices));
  return __builtin_popcount(nz);
}

// from, from + 1, ..., from + 15
VAEC_AVX512 inline __m512i indices_from(int64_t from) {
  return _mm512_add_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                          _mm512_set1_epi32(static_cast<int>(from)));
}

}  // namespace

void SparseLists::shape(int64_t rows, int64_t cols, bool by_rows) {
  lists = by_rows ? rows : cols;
  capacity = (by_rows ? cols : rows) + kSlack;
  const auto entries = static_cast<size_t>(lists * capacity);
  if (count.size() < static_cast<size_t>(lists)) count.resize(static_cast<size_t>(lists)), start.resize(count.size());
  index.grow(entries), value.grow(entries);
}

int64_t SparseLists::nonzeros() const {
  int64_t n = 0;
  for (int64_t i = 0; i < lists; ++i) n += count[static_cast<size_t>(i)];
  return n;
}

std::string sparse_product_unsupported(int64_t rows, int64_t cols, int64_t n, const std::string &post) {
  if (rows < 1 || cols < 1 || n < 1) return "an empty product";
  if (!post.empty() && post != "relu" && post != "sigmoid") return "unknown post-op '" + post + "'";
  if (rows + kSlack >= (int64_t{1} << 31) || cols + kSlack >= (int64_t{1} << 31) ||
      (rows + kSlack) * (cols + kSlack) >= (int64_t{1} << 40))
    return "sparse products list data of fewer than 2^31 rows and columns";
  if (!__builtin_cpu_supports("avx512f")) return "sparse products need AVX-512, which this CPU lacks";
  return "";
}

VAEC_AVX512 void list_rows(const float *x, int64_t cols, int64_t r0, int64_t r1, SparseLists &l) {
  int64_t at = r0 * l.capacity;
  for (int64_t r = r0; r < r1; ++r) {
    int32_t *index = l.index.data() + at;
    float *value = l.value.data() + at;
    int64_t n = 0;
    const float *row = x + r * cols;
    for (int64_t j = 0; j < cols; j += 16) {
      const __mmask16 in = lanes(cols - j);
      n += append_nonzero(_mm512_maskz_loadu_ps(in, row + j), in, indices_from(j),
                          value + n, index + n);
    }
    l.start[static_cast<size_t>(r)] = at, l.count[static_cast<size_t>(r)] = static_cast<int32_t>(n);
    at += n;
  }
}

namespace {

// GCC 12's unpack intrinsics pass _mm512_undefined_ps() as the unused
// merge source, which -Wmaybe-uninitialized reports once inlined.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
// r[q] = column q of the 16x16 block whose row i was r[i].
VAEC_AVX512 inline void transpose16(__m512 *r) {
  __m512 t[16];
  for (int i = 0; i < 8; ++i)
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]), t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  for (int i = 0; i < 4; ++i) {
    const __m512d a = _mm512_castps_pd(t[4 * i]), b = _mm512_castps_pd(t[4 * i + 1]),
                  c = _mm512_castps_pd(t[4 * i + 2]), d = _mm512_castps_pd(t[4 * i + 3]);
    r[4 * i] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c)), r[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
    r[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d)), r[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
  }
  for (int i = 0; i < 2; ++i)
    for (int k = 0; k < 4; ++k) {
      t[8 * i + k] = _mm512_shuffle_f32x4(r[8 * i + k], r[8 * i + 4 + k], 0x88);
      t[8 * i + 4 + k] = _mm512_shuffle_f32x4(r[8 * i + k], r[8 * i + 4 + k], 0xdd);
    }
  for (int k = 0; k < 8; ++k)
    r[k] = _mm512_shuffle_f32x4(t[k], t[8 + k], 0x88), r[k + 8] = _mm512_shuffle_f32x4(t[k], t[8 + k], 0xdd);
}
#pragma GCC diagnostic pop

}  // namespace

VAEC_AVX512 void list_columns(const float *x, int64_t rows, int64_t cols, int64_t j0, int64_t j1, SparseLists &l) {
  // Sixteen columns at a time, sixteen rows at a time: the block transposed
  // in registers, then each column appended as list_rows appends a row's
  // values: no branch that depends on the values.
  for (int64_t j = j0; j < j1; j += 16) {
    const int64_t width = std::min<int64_t>(16, j1 - j);
    const __mmask16 in = lanes(width);
    int64_t n[16] = {};
    for (int64_t r0 = 0; r0 < rows; r0 += 16) {
      const int64_t height = std::min<int64_t>(16, rows - r0);
      __m512 block[16];
      for (int i = 0; i < 16; ++i)
        block[i] = i < height ? _mm512_maskz_loadu_ps(in, x + (r0 + i) * cols + j) : _mm512_setzero_ps();
      transpose16(block);
      const __mmask16 live = lanes(height);
      const __m512i at = indices_from(r0);
      for (int64_t q = 0; q < width; ++q) {
        const int64_t e = (j + q) * l.capacity + n[q];
        n[q] += append_nonzero(block[q], live, at, l.value.data() + e, l.index.data() + e);
      }
    }
    for (int64_t q = 0; q < width; ++q)
      l.start[static_cast<size_t>(j + q)] = (j + q) * l.capacity, l.count[static_cast<size_t>(j + q)] = static_cast<int32_t>(n[q]);
  }
}

namespace {

// Lists [g0, g1)'s entries with index in [block_begin, block_end) added
// into c's columns [j0, j0 + 16 V) (the last vector's `last_mask` lanes):
// V sums under way per list, each waiting on the one before it.
template <int V>
VAEC_AVX512 void add_block(const SparseLists &l, const float *b, int64_t ldb, const float *bias, int post, float *c,
                           int64_t ldc, __mmask16 last_mask, int64_t g0, int64_t g1, int64_t *cursor, bool first,
                           bool last, int32_t end) {
  __mmask16 mask[V];
  for (int v = 0; v < V; ++v) mask[v] = v + 1 < V ? __mmask16(0xffff) : last_mask;
  for (int64_t i = g0; i < g1; ++i) {
    const int32_t *index = l.index.data() + l.start[static_cast<size_t>(i)];
    const float *value = l.value.data() + l.start[static_cast<size_t>(i)];
    const int64_t count = l.count[static_cast<size_t>(i)];
    int64_t e = cursor[i - g0];
    if (!first && !last && (e == count || index[e] >= end)) continue;  // none in this block: c holds its sums
    float *to = c + i * ldc;
    __m512 acc[V];
#pragma GCC unroll 8
    for (int v = 0; v < V; ++v) acc[v] = first ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(mask[v], to + 16 * v);
    for (; e < count && index[e] < end; ++e) {
      const __m512 x = _mm512_set1_ps(value[e]);
      const float *row = b + index[e] * ldb;
#pragma GCC unroll 8
      for (int v = 0; v + 1 < V; ++v) acc[v] = _mm512_fmadd_ps(x, _mm512_loadu_ps(row + 16 * v), acc[v]);
      acc[V - 1] = _mm512_fmadd_ps(x, _mm512_maskz_loadu_ps(last_mask, row + 16 * (V - 1)), acc[V - 1]);
    }
    cursor[i - g0] = e;
#pragma GCC unroll 8
    for (int v = 0; v < V; ++v) {
      if (!last) {
        _mm512_mask_storeu_ps(to + 16 * v, mask[v], acc[v]);
        continue;
      }
      if (bias) acc[v] = _mm512_add_ps(acc[v], _mm512_maskz_loadu_ps(mask[v], bias + 16 * v));
      store(to + 16 * v, acc[v], mask[v], post);
    }
  }
}

using AddBlock = void (*)(const SparseLists &, const float *, int64_t, const float *, int, float *, int64_t, __mmask16,
                          int64_t, int64_t, int64_t *, bool, bool, int32_t);
constexpr AddBlock kAddBlock[kVectors + 1] = {nullptr, add_block<1>, add_block<2>, add_block<3>, add_block<4>,
                                              add_block<5>};

}  // namespace

VAEC_AVX512 void sparse_times(const SparseLists &l, int64_t lo, int64_t hi, const float *b, int64_t ldb, int64_t n,
                              const float *bias, int post, float *c, int64_t ldc, int64_t i0, int64_t i1) {
  // c's vectors in passes of at most kVectors, as even as they go (400
  // columns: five passes of five vectors, not six of four and one of one).
  const int64_t vectors = (n + 15) / 16, passes = (vectors + kVectors - 1) / kVectors;
  int64_t cursor[kGroup];
  for (int64_t p = 0, v0 = 0; p < passes; ++p) {
    const int64_t v1 = vectors * (p + 1) / passes, j0 = 16 * v0;
    const __mmask16 last_mask = lanes(n - 16 * (v1 - 1));
    for (int64_t g0 = i0; g0 < i1; g0 += kGroup) {
      const int64_t g1 = std::min(i1, g0 + kGroup);
      for (int64_t i = g0; i < g1; ++i) {  // each list's first entry at lo or above
        const int32_t *index = l.index.data() + l.start[static_cast<size_t>(i)];
        cursor[i - g0] = lo == 0 ? 0
                                 : std::lower_bound(index, index + l.count[static_cast<size_t>(i)],
                                                    static_cast<int32_t>(lo)) - index;
      }
      for (int64_t block = lo; block < hi; block += kBlockRows)
        kAddBlock[v1 - v0](l, b + j0, ldb, bias ? bias + j0 : nullptr, post, c + j0, ldc, last_mask, g0, g1, cursor,
                           block == lo, block + kBlockRows >= hi, static_cast<int32_t>(std::min(hi, block + kBlockRows)));
    }
    v0 = v1;
  }
}

VAEC_AVX512 void add_rows(float *c, const float *const *partial, int parts, int64_t ldc, int64_t n, const float *bias,
                          int post, int64_t i0, int64_t i1) {
  for (int64_t i = i0; i < i1; ++i)
    for (int64_t j = 0; j < n; j += 16) {
      const __mmask16 mask = lanes(n - j);
      __m512 x = _mm512_maskz_loadu_ps(mask, c + i * ldc + j);
      for (int q = 0; q < parts; ++q) x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(mask, partial[q] + i * ldc + j));
      if (bias) x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(mask, bias + j));
      store(c + i * ldc + j, x, mask, post);
    }
}

}  // namespace vaec::onednn
