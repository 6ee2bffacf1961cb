// vaec's own Winograd F(4x4,3x3) (contract in own_winograd.h).
#include "abi/own_winograd.h"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <utility>
#include <stdexcept>

#include "abi/onednn_conv.h"

namespace vaec::onednn {
namespace {

#define VAEC_AVX512 __attribute__((target("avx512f")))

// F(4x4,3x3)'s matrices (Lavin and Gray): y = A^T [(G w G^T) . (B^T d B)] A.
constexpr float kG[6][3] = {{1.f / 4, 0, 0},
                            {-1.f / 6, -1.f / 6, -1.f / 6},
                            {-1.f / 6, 1.f / 6, -1.f / 6},
                            {1.f / 24, 1.f / 12, 1.f / 6},
                            {1.f / 24, -1.f / 12, 1.f / 6},
                            {0, 0, 1}};
constexpr float kA[6][4] = {{1, 0, 0, 0}, {1, 1, 1, 1}, {1, -1, 1, -1}, {1, 2, 4, 8}, {1, -2, 4, -8}, {0, 0, 0, 1}};

using Tile = WinogradTile;

// Offsets (floats from a tensor's start, channel block 0, nChw16c with
// `blocks` 16-blocks of channels) of the tile's window elements [r0, r0 + R)
// x [c0, c0 + C), -1 where the canvas has no image element (padding, the
// line between images, or past the batch's last image).
template <int R, int C>
inline void window_offsets(const Tile &t, int r0, int c0, int64_t batch, int64_t blocks, int64_t h, int64_t w,
                           int64_t off[R][C]) {
  for (int i = 0; i < R; ++i)
    for (int j = 0; j < C; ++j) {
      const int64_t n = int64_t{t.row_image[r0 + i]} + t.col_image[c0 + j];
      off[i][j] = t.row_image[r0 + i] < 0 || t.col_image[c0 + j] < 0 || n >= batch
                      ? -1
                      : ((n * blocks * h + t.y[r0 + i]) * w + t.x[c0 + j]) * 16;
    }
}

// A block's tiles in a thread's scratch: tile i's transform of 16 channels
// from 16 cb at point p is 16 floats at i * 36 * channels + (cb * 36 + p) * 16,
// so that one tile's transform is one run of memory and a point's channels
// are a few cache lines.
constexpr int64_t kPoints = 36;
inline int64_t at(int64_t cb, int64_t p) { return (cb * kPoints + p) * 16; }

// B^T (6 x 6) applied to six vectors.
VAEC_AVX512 inline void input_6(const __m512 d[6], __m512 out[6]) {
  const __m512 four = _mm512_set1_ps(4), five = _mm512_set1_ps(5), two = _mm512_set1_ps(2);
  const __m512 a = _mm512_fnmadd_ps(four, d[2], d[4]), b = _mm512_fnmadd_ps(four, d[1], d[3]);
  const __m512 c = _mm512_sub_ps(d[4], d[2]), e = _mm512_mul_ps(two, _mm512_sub_ps(d[3], d[1]));
  out[0] = _mm512_fnmadd_ps(five, d[2], _mm512_fmadd_ps(four, d[0], d[4]));
  out[1] = _mm512_add_ps(a, b);
  out[2] = _mm512_sub_ps(a, b);
  out[3] = _mm512_add_ps(c, e);
  out[4] = _mm512_sub_ps(c, e);
  out[5] = _mm512_fnmadd_ps(five, d[3], _mm512_fmadd_ps(four, d[1], d[5]));
}

// A^T (4 x 6) applied to six vectors.
VAEC_AVX512 inline void output_6(const __m512 m[6], __m512 out[4]) {
  const __m512 two = _mm512_set1_ps(2), four = _mm512_set1_ps(4), eight = _mm512_set1_ps(8);
  const __m512 s12 = _mm512_add_ps(m[1], m[2]), d12 = _mm512_sub_ps(m[1], m[2]);
  const __m512 s34 = _mm512_add_ps(m[3], m[4]), d34 = _mm512_sub_ps(m[3], m[4]);
  out[0] = _mm512_add_ps(_mm512_add_ps(m[0], s12), s34);
  out[1] = _mm512_fmadd_ps(two, d34, d12);
  out[2] = _mm512_fmadd_ps(four, s34, s12);
  out[3] = _mm512_add_ps(_mm512_fmadd_ps(eight, d34, d12), m[5]);
}

// A (6 x 4) applied to four vectors.
VAEC_AVX512 inline void gradient_4(const __m512 g[4], __m512 out[6]) {
  const __m512 two = _mm512_set1_ps(2), four = _mm512_set1_ps(4);
  const __m512 s02 = _mm512_add_ps(g[0], g[2]), s13 = _mm512_add_ps(g[1], g[3]);
  const __m512 q0 = _mm512_fmadd_ps(four, g[2], g[0]), q1 = _mm512_fmadd_ps(four, g[3], g[1]);
  out[0] = g[0];
  out[1] = _mm512_add_ps(s02, s13);
  out[2] = _mm512_sub_ps(s02, s13);
  out[3] = _mm512_fmadd_ps(two, q1, q0);
  out[4] = _mm512_fnmadd_ps(two, q1, q0);
  out[5] = g[3];
}

// The input transform B^T d B of one tile, every channel: x in nChw16c
// [N, ch, h, w] (zero outside the images) to the tile's run in a block.
VAEC_AVX512 void input_tile(const float *x, float *v, int64_t batch, int64_t ch, int64_t h, int64_t w,
                            const Tile &tile) {
  int64_t off[6][6];
  window_offsets<6, 6>(tile, 0, 0, batch, ch / 16, h, w, off);
  for (int64_t cb = 0; cb < ch / 16; ++cb) {
    const float *plane = x + cb * h * w * 16;
    __m512 r[6][6];  // r[k][j] = (B^T d)[k][j]
#pragma GCC unroll 6
    for (int j = 0; j < 6; ++j) {
      __m512 d[6];
#pragma GCC unroll 6
      for (int i = 0; i < 6; ++i)
        d[i] = off[i][j] >= 0 ? _mm512_loadu_ps(plane + off[i][j]) : _mm512_setzero_ps();
      __m512 col[6];
      input_6(d, col);
#pragma GCC unroll 6
      for (int k = 0; k < 6; ++k) r[k][j] = col[k];
    }
#pragma GCC unroll 6
    for (int k = 0; k < 6; ++k) {
      __m512 row[6];
      input_6(r[k], row);
#pragma GCC unroll 6
      for (int q = 0; q < 6; ++q) _mm512_store_ps(v + at(cb, k * 6 + q), row[q]);
    }
  }
}

// The output gradient's transform A g A^T of one tile's 4x4 outputs, the
// channels of 16-blocks [kb0, kb1): dy in nChw16c (outputs off the images
// count as 0).
VAEC_AVX512 void output_gradient_tile(const float *dy, float *dm, int64_t batch, int64_t ch, int64_t h, int64_t w,
                                      const Tile &tile, int64_t kb0, int64_t kb1) {
  int64_t off[4][4];
  window_offsets<4, 4>(tile, 1, 1, batch, ch / 16, h, w, off);
  for (int64_t kb = kb0; kb < kb1; ++kb) {
    const float *plane = dy + kb * h * w * 16;
    __m512 r[6][4];  // r[p][j] = (A g)[p][j]
#pragma GCC unroll 4
    for (int j = 0; j < 4; ++j) {
      __m512 g[4], col[6];
#pragma GCC unroll 4
      for (int i = 0; i < 4; ++i) g[i] = off[i][j] >= 0 ? _mm512_loadu_ps(plane + off[i][j]) : _mm512_setzero_ps();
      gradient_4(g, col);
#pragma GCC unroll 6
      for (int p = 0; p < 6; ++p) r[p][j] = col[p];
    }
#pragma GCC unroll 6
    for (int p = 0; p < 6; ++p) {
      __m512 row[6];
      gradient_4(r[p], row);
#pragma GCC unroll 6
      for (int q = 0; q < 6; ++q) _mm512_store_ps(dm + at(kb, p * 6 + q), row[q]);
    }
  }
}

// The output transform A^T M A of one tile's run in a block, every
// channel, to y in nChw16c [N, ch, h, w], its outputs on the images only,
// with bias and post-op (0 none, 1 relu, 2 sigmoid).
VAEC_AVX512 void output_tile(const float *m, float *y, const float *bias, int post, int64_t batch, int64_t ch,
                             int64_t h, int64_t w, const Tile &tile) {
  int64_t off[4][4];
  window_offsets<4, 4>(tile, 1, 1, batch, ch / 16, h, w, off);
  for (int64_t ob = 0; ob < ch / 16; ++ob) {
    __m512 r[4][6];  // r[i][j] = (A^T M)[i][j]
#pragma GCC unroll 6
    for (int j = 0; j < 6; ++j) {
      __m512 col[6], out[4];
#pragma GCC unroll 6
      for (int i = 0; i < 6; ++i) col[i] = _mm512_load_ps(m + at(ob, i * 6 + j));
      output_6(col, out);
#pragma GCC unroll 4
      for (int i = 0; i < 4; ++i) r[i][j] = out[i];
    }
    const __m512 b = bias ? _mm512_loadu_ps(bias + ob * 16) : _mm512_setzero_ps();
    float *plane = y + ob * h * w * 16;
    for (int i = 0; i < 4; ++i) {
      __m512 out[4];
      output_6(r[i], out);
      for (int j = 0; j < 4; ++j) {
        if (off[i][j] < 0) continue;
        __m512 v = _mm512_add_ps(out[j], b);
        // (the masked form: GCC 12 warns about the unmasked one's undefined pass-through)
        if (post == 1) v = _mm512_maskz_max_ps(0xFFFF, v, _mm512_setzero_ps());
        if (post == 2) {
          alignas(64) float lanes[16];
          _mm512_store_ps(lanes, v);
          for (float &l : lanes) l = 1.0f / (1.0f + std::exp(-l));
          v = _mm512_load_ps(lanes);
        }
        _mm512_storeu_ps(plane + off[i][j], v);
      }
    }
  }
}

// Point p's products for R tiles of a block (runs v_tile and m_tile floats
// apart) and 16 * NK outputs from k0: M[t][k] = sum over c of V[t][c]
// U[p][c][k], U[p] [in][out]. The R x NK sums stay in registers over all
// `in` channels.
template <int R, int NK>
VAEC_AVX512 void point_products(const float *v, const float *u, float *m, int64_t v_tile, int64_t m_tile, int64_t in,
                                int64_t out, int64_t k0, int p) {
  __m512 acc[R][NK];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int j = 0; j < NK; ++j) acc[r][j] = _mm512_setzero_ps();
  for (int64_t cb = 0; cb < in / 16; ++cb) {
    const float *vb = v + at(cb, p), *ub = u + cb * 16 * out + k0;
    for (int c = 0; c < 16; ++c) {
      __m512 uu[NK];
#pragma GCC unroll 4
      for (int j = 0; j < NK; ++j) uu[j] = _mm512_loadu_ps(ub + c * out + j * 16);
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) {
        const __m512 b = _mm512_set1_ps(vb[r * v_tile + c]);
#pragma GCC unroll 4
        for (int j = 0; j < NK; ++j) acc[r][j] = _mm512_fmadd_ps(b, uu[j], acc[r][j]);
      }
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int j = 0; j < NK; ++j) _mm512_store_ps(m + r * m_tile + at(k0 / 16 + j, p), acc[r][j]);
}

// Point p's weight-gradient products over `count` tiles of a block, R rows
// from k0 and 16 * NC columns from c0: dU[p][k][c] += sum over tiles of
// dM[t][k] V[t][c], dU[p] [out][in].
template <int R, int NC>
VAEC_AVX512 void point_gradient(const float *dm, const float *v, float *du, int64_t dm_tile, int64_t v_tile,
                                int64_t count, int64_t in, int64_t k0, int64_t c0, int p) {
  __m512 acc[R][NC];
  int64_t row[R];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
    row[r] = at((k0 + r) / 16, p) + (k0 + r) % 16;
#pragma GCC unroll 4
    for (int j = 0; j < NC; ++j) acc[r][j] = _mm512_setzero_ps();
  }
  for (int64_t t = 0; t < count; ++t) {
    const float *vt = v + t * v_tile, *dt = dm + t * dm_tile;
    __m512 vv[NC];
#pragma GCC unroll 4
    for (int j = 0; j < NC; ++j) vv[j] = _mm512_load_ps(vt + at(c0 / 16 + j, p));
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const __m512 b = _mm512_set1_ps(dt[row[r]]);
#pragma GCC unroll 4
      for (int j = 0; j < NC; ++j) acc[r][j] = _mm512_fmadd_ps(b, vv[j], acc[r][j]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int j = 0; j < NC; ++j) {
      float *to = du + (k0 + r) * in + c0 + j * 16;
      _mm512_storeu_ps(to, _mm512_add_ps(_mm512_loadu_ps(to), acc[r][j]));
    }
}

// The instances by rows (1..6) and vectors (1..4): [(rows - 1) * 4 + vectors - 1].
template <int R, int N>
struct Products {
  static constexpr auto f = &point_products<R, N>;
};
template <int R, int N>
struct Gradient {
  static constexpr auto f = &point_gradient<R, N>;
};
using ProductsFn = decltype(&point_products<1, 1>);
using GradientFn = decltype(&point_gradient<1, 1>);
template <template <int, int> class K, typename Fn, int... I>
constexpr std::array<Fn, 24> instances(std::integer_sequence<int, I...>) {
  return {K<I / 4 + 1, I % 4 + 1>::f...};
}
constexpr std::array<ProductsFn, 24> kProducts =
    instances<Products, ProductsFn>(std::make_integer_sequence<int, 24>{});
constexpr std::array<GradientFn, 24> kGradient =
    instances<Gradient, GradientFn>(std::make_integer_sequence<int, 24>{});
constexpr int kRows = 6;

// U[p][r][q..q+16) = G w G^T for row r of the product's weights, 16
// columns from q. Forward: w [out, in, 3, 3] and U[p][c][k]; input gradient:
// w [in, out, 3, 3] flipped and U[p][k][c].
VAEC_AVX512 void weights_row(const float *wt, float *u, int64_t in, int64_t out, int64_t point, bool flip, int64_t r,
                             int64_t q) {
  // Lane l reads w at base + l * lane_stride + tap.
  const int64_t base = flip ? (r * out + q) * 9 : (q * in + r) * 9, lane_stride = flip ? 9 : in * 9;
  alignas(64) int32_t lanes[16];
  for (int l = 0; l < 16; ++l) lanes[l] = static_cast<int32_t>(l * lane_stride);
  const __m512i index = _mm512_load_si512(lanes);
  __m512 wv[3][3];
  for (int a = 0; a < 3; ++a)
    for (int b = 0; b < 3; ++b) {
      const int tap = flip ? (2 - a) * 3 + (2 - b) : a * 3 + b;
      // (masked forms throughout: GCC 12 warns about the unmasked ones' undefined pass-through)
      wv[a][b] = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), 0xFFFF, index, wt + base + tap, 4);
    }
  __m512 g[6][3];  // (G w)[i][b]
#pragma GCC unroll 6
  for (int i = 0; i < 6; ++i)
    for (int b = 0; b < 3; ++b) {
      __m512 acc = _mm512_setzero_ps();
      for (int a = 0; a < 3; ++a)
        if (kG[i][a] != 0) acc = _mm512_fmadd_ps(_mm512_set1_ps(kG[i][a]), wv[a][b], acc);
      g[i][b] = acc;
    }
#pragma GCC unroll 6
  for (int i = 0; i < 6; ++i)
#pragma GCC unroll 6
    for (int j = 0; j < 6; ++j) {
      __m512 acc = _mm512_setzero_ps();
      for (int b = 0; b < 3; ++b)
        if (kG[j][b] != 0) acc = _mm512_fmadd_ps(_mm512_set1_ps(kG[j][b]), g[i][b], acc);
      _mm512_storeu_ps(u + (i * 6 + j) * point + r * out + q, acc);
    }
}

// dw[k][c..c+16][3][3] = G^T dU G, dU's points `point` floats apart.
VAEC_AVX512 void weight_gradient_row(const float *du, float *dw, int64_t in, int64_t point, int64_t k, int64_t c) {
  __m512 g[3][6];  // (G^T dU)[a][j]
  for (int a = 0; a < 3; ++a)
#pragma GCC unroll 6
    for (int j = 0; j < 6; ++j) g[a][j] = _mm512_setzero_ps();
#pragma GCC unroll 6
  for (int i = 0; i < 6; ++i)
#pragma GCC unroll 6
    for (int j = 0; j < 6; ++j) {
      const float *at = du + (i * 6 + j) * point + k * in + c;
      __m512 v = _mm512_loadu_ps(at);
      for (int a = 0; a < 3; ++a)
        if (kG[i][a] != 0) g[a][j] = _mm512_fmadd_ps(_mm512_set1_ps(kG[i][a]), v, g[a][j]);
    }
  alignas(64) float taps[9][16];
  for (int a = 0; a < 3; ++a)
    for (int b = 0; b < 3; ++b) {
      __m512 acc = _mm512_setzero_ps();
#pragma GCC unroll 6
      for (int j = 0; j < 6; ++j)
        if (kG[j][b] != 0) acc = _mm512_fmadd_ps(_mm512_set1_ps(kG[j][b]), g[a][j], acc);
      _mm512_store_ps(taps[a * 3 + b], acc);
    }
  float *to = dw + (k * in + c) * 9;
  for (int l = 0; l < 16; ++l)
    for (int tap = 0; tap < 9; ++tap) to[l * 9 + tap] = taps[tap][l];
}

size_t round_up(size_t bytes) { return (bytes + 63) / 64 * 64; }

}  // namespace

std::string own_winograd_unsupported(const plan::Step &s) {
  if (s.kind != plan::Step::Conv) return "not a convolution";
  if (s.conv != "conv2d" && s.conv != "conv2d_bwd_data" && s.conv != "conv2d_bwd_weights")
    return "own Winograd runs conv2d and its gradients only";
  if (s.bf16) return "own Winograd is f32";
  if (s.dims_a.size() != 4 || s.dims_b.size() != 4 || s.dims_c.size() != 4) return "operands must have 4 dimensions";
  const std::vector<int64_t> &w = s.conv == "conv2d_bwd_weights" ? s.dims_c : s.dims_b;
  if (w[2] != 3 || w[3] != 3) return "own Winograd needs a 3x3 window";
  if (s.stride != std::vector<int64_t>{1, 1} || s.pad != std::vector<int64_t>{1, 1, 1, 1})
    return "own Winograd needs stride 1 and padding 1";
  if (w[0] % 16 != 0 || w[1] % 16 != 0) return "own Winograd needs channels that are multiples of 16";
  if (s.conv != "conv2d" && (!s.post.empty() || s.bias >= 0)) return "a gradient step has no bias or post-op";
  if (!s.post.empty() && s.post != "relu" && s.post != "sigmoid") return "unknown post-op '" + s.post + "'";
  for (const auto *d : {&s.dims_a, &s.dims_b, &s.dims_c}) {
    int64_t n = 1;
    for (int64_t x : *d) {
      if (x < 1 || x > (1 << 24)) return "dimensions out of range";
      n *= x;
      if (n >= (int64_t{1} << 31)) return "own Winograd addresses tensors of fewer than 2^31 elements";
    }
  }
  if (!__builtin_cpu_supports("avx512f")) return "own Winograd needs AVX-512, which this CPU lacks";
  return "";
}

std::array<std::string, 3> own_winograd_layouts(const plan::Step &s) {
  auto blocked = [](const std::vector<int64_t> &dims) {
    return layout_text(dnnl::memory::desc(dnnl::memory::dims(dims.begin(), dims.end()), dnnl::memory::data_type::f32,
                                          dnnl::memory::format_tag::nChw16c),
                       dims);
  };
  if (s.conv == "conv2d_bwd_weights") return {blocked(s.dims_a), blocked(s.dims_b), "plain"};
  return {blocked(s.dims_a), "plain", blocked(s.dims_c)};
}

std::vector<WinogradTile> OwnWinograd::canvas_tiles(int64_t batch, int64_t h, int64_t w) {
  std::vector<Tile> tiles;
  // An image whose side is not a multiple of 4 leaves outputs of
  // its last tiles unused (14 in tiles of 4: 16, an eighth lost per side).
  // Images side by side on a canvas, one line of zeros between neighbours
  // (the padding of both), waste less: 3 images of 14 across are 44 = 11
  // tiles, 3.67 per image. Each side takes the number of images across
  // (1-8) with the fewest tiles per image, the fewest images on a tie; a
  // tile with no output on an image is left out.
  auto across = [&](int64_t side, int64_t most) {
    int64_t best = 1;
    for (int64_t g = 2; g <= std::min<int64_t>(8, most); ++g)
      if ((g * (side + 1) + 2) / 4 * best < (best * (side + 1) + 2) / 4 * g) best = g;
    return best;
  };
  const int64_t gx = across(w, batch);
  const int64_t gy = across(h, (batch + gx - 1) / gx);
  const int64_t canvas_h = gy * (h + 1) - 1, canvas_w = gx * (w + 1) - 1, per_canvas = gx * gy;
  for (int64_t c = 0; c * per_canvas < batch; ++c)
    for (int64_t y0 = 0; y0 < canvas_h; y0 += 4)
      for (int64_t x0 = 0; x0 < canvas_w; x0 += 4) {
        Tile t;
        auto place = [](int64_t at, int64_t side, int64_t count, int64_t first, int64_t step, int32_t &image,
                        int32_t &pos) {
          const int64_t g = at / (side + 1), p = at % (side + 1);
          const bool on = at >= 0 && g < count && p < side;
          image = on ? static_cast<int32_t>(first + g * step) : -1, pos = on ? static_cast<int32_t>(p) : 0;
        };
        for (int i = 0; i < 6; ++i) {
          place(y0 - 1 + i, h, gy, c * per_canvas, gx, t.row_image[i], t.y[i]);
          place(x0 - 1 + i, w, gx, 0, 1, t.col_image[i], t.x[i]);
        }
        bool any = false;
        for (int i = 1; i < 5; ++i)
          for (int j = 1; j < 5; ++j)
            any |= t.row_image[i] >= 0 && t.col_image[j] >= 0 && t.row_image[i] + t.col_image[j] < batch;
        if (any) tiles.push_back(t);
      }
  return tiles;
}

OwnWinograd::OwnWinograd(const plan::Step &s, int threads) {
  if (std::string why = own_winograd_unsupported(s); !why.empty()) throw std::runtime_error(s.conv + ": " + why);
  const std::array<std::string, 3> want = own_winograd_layouts(s);
  if (s.layout_a != want[0] || s.layout_b != want[1] || s.layout_c != want[2])
    throw std::runtime_error(s.conv + ": own Winograd reads activations in nChw16c and weights plain");
  kind_ = s.conv == "conv2d" ? Forward : s.conv == "conv2d_bwd_data" ? InputGradient : WeightGradient;
  const std::vector<int64_t> &x = kind_ == InputGradient ? s.dims_c : s.dims_a;  // the conv's input side
  const std::vector<int64_t> &w = kind_ == WeightGradient ? s.dims_c : s.dims_b;  // [K, C, 3, 3]
  batch_ = x[0], h_ = x[2], w_ = x[3];
  in_ = kind_ == InputGradient ? w[0] : w[1];
  out_ = kind_ == InputGradient ? w[1] : w[0];
  post_ = s.post == "relu" ? 1 : s.post == "sigmoid" ? 2 : 0;
  if (threads < 1) throw std::runtime_error(s.conv + ": a team of " + std::to_string(threads) + " threads");
  tile_list_ = canvas_tiles(batch_, h_, w_);
  tiles_ = static_cast<int64_t>(tile_list_.size());
  threads_ = threads;
  // Tiles per block: a block's transforms (36 points x (in + out) channels
  // per tile) stay within ~320 KB, beside U in the core's L2. A weight
  // gradient adds each block's sums to its dU in memory, which costs less in
  // larger blocks: twice that; its threads share out the rows (k) of one dU
  // and each goes through every block. Otherwise each thread takes a run of
  // blocks, as many as the others, with a U of its own (a shared one, half
  // written by each thread, is read across cores, slowly whenever other
  // programs fill the L3: docs/BENCHMARKS.md).
  const int64_t budget = (kind_ == WeightGradient ? 640 : 320) * 1024;
  const int64_t most = std::clamp<int64_t>(budget / (kPoints * 4 * (in_ + out_)), 1, 64);
  if (kind_ == WeightGradient) {
    block_ = std::min(most, tiles_);
  } else {
    const int64_t per_thread = (tiles_ + threads_ * most - 1) / (threads_ * most);
    block_ = (tiles_ + per_thread * threads_ - 1) / (per_thread * threads_);
  }
  blocks_ = (tiles_ + block_ - 1) / block_;
  chunks_ = kind_ == WeightGradient ? 1 : static_cast<int>(std::min<int64_t>(threads_, blocks_));
  // Scratch: the U of each thread with blocks (or the one dU), then each
  // thread's block of V and M (or dM). U's (or dU's) points lie plane_
  // floats apart, a cache line more than in * out, so that a weights_row's
  // 36 stores (or a weight_gradient_row's loads) do not all fall into one
  // set of the L1 when in * out is a multiple of 1024.
  plane_ = in_ * out_ + 16;
  shared_floats_ = round_up(kPoints * plane_ * 4) / 4 * chunks_;
  v_floats_ = round_up(block_ * kPoints * in_ * 4) / 4;
  m_floats_ = round_up(block_ * kPoints * out_ * 4) / 4;
  thread_bytes_ = (v_floats_ + m_floats_) * 4;
  scratch_bytes_ = shared_floats_ * 4 + thread_bytes_ * threads_;
}

void OwnWinograd::run(const float *a, const float *b, const float *bias, float *c, void *scratch) const {
  float *shared = static_cast<float *>(scratch);
  const int64_t in = in_, out = out_, plane = plane_, h = h_, w = w_, block = block_, tiles = tiles_, blocks = blocks_,
                in_blocks = in / 16, out_blocks = out / 16, batch = batch_;
  const int64_t v_tile = kPoints * in, m_tile = kPoints * out;
  const int team = std::min(threads_, omp_get_max_threads());
  auto tile = [this](int64_t t) -> const Tile & { return tile_list_[t]; };
  auto thread_scratch = [&](int thread, float *&v, float *&m) {
    v = reinterpret_cast<float *>(reinterpret_cast<std::byte *>(shared + shared_floats_) + thread * thread_bytes_);
    m = v + v_floats_;
  };
  if (kind_ == WeightGradient) {
#pragma omp parallel num_threads(team)
    {
      // This thread's rows of dU: the 16-blocks [kb0, kb1) of the outputs.
      const int me = omp_get_thread_num(), size = omp_get_num_threads();
      const int64_t kb0 = out_blocks * me / size, kb1 = out_blocks * (me + 1) / size, k_lo = kb0 * 16,
                    k_hi = kb1 * 16;
      float *v, *dm;
      thread_scratch(me, v, dm);
      for (int p = 0; p < kPoints; ++p) std::fill(shared + p * plane + k_lo * in, shared + p * plane + k_hi * in, 0.0f);
      for (int64_t blk = 0; blk < blocks && k_lo < k_hi; ++blk) {
        const int64_t first = blk * block, count = std::min(block, tiles - first);
        for (int64_t i = 0; i < count; ++i) {
          input_tile(a, v + i * v_tile, batch, in, h, w, tile(first + i));
          output_gradient_tile(b, dm + i * m_tile, batch, out, h, w, tile(first + i), kb0, kb1);
        }
        const int64_t groups = (k_hi - k_lo + kRows - 1) / kRows;
        for (int p = 0; p < kPoints; ++p)
          for (int64_t c0 = 0; c0 < in; c0 += 64) {
            const int vectors = static_cast<int>(std::min<int64_t>(4, (in - c0) / 16));
            for (int64_t g = 0, k0 = k_lo; g < groups; ++g) {
              const int rows = static_cast<int>((k_hi - k0) / (groups - g));
              kGradient[(rows - 1) * 4 + vectors - 1](dm, v, shared + p * plane, m_tile, v_tile, count, in, k0, c0,
                                                      p);
              k0 += rows;
            }
          }
      }
#pragma omp barrier
#pragma omp for schedule(static)
      for (int64_t i = 0; i < out * in_blocks; ++i)
        weight_gradient_row(shared, c, in, plane, i / in_blocks, i % in_blocks * 16);
    }
    return;
  }
  const bool flip = kind_ == InputGradient;
  const int64_t stride = shared_floats_ / chunks_;
#pragma omp parallel num_threads(team)
  {
    // A thread's blocks: a run of them, none past the chunks_-th thread.
    const int me = omp_get_thread_num(), size = omp_get_num_threads();
    const int64_t per = (blocks + size - 1) / size, from = std::min(blocks, me * per),
                  to = std::min(blocks, from + per);
    float *u = shared + me * stride, *v, *m;
    thread_scratch(me, v, m);
    if (from < to)
      for (int64_t i = 0; i < in * out_blocks; ++i) weights_row(b, u, in, out, plane, flip, i / out_blocks, i % out_blocks * 16);
    for (int64_t blk = from; blk < to; ++blk) {
      const int64_t first = blk * block, count = std::min(block, tiles - first);
      for (int64_t i = 0; i < count; ++i) input_tile(a, v + i * v_tile, batch, in, h, w, tile(first + i));
      for (int p = 0; p < kPoints; ++p)
        for (int64_t k0 = 0; k0 < out; k0 += 64) {
          const int vectors = static_cast<int>(std::min<int64_t>(4, (out - k0) / 16));
          // The block's tiles in groups of at most kRows, as even as can be.
          const int64_t groups = (count + kRows - 1) / kRows;
          for (int64_t g = 0, r0 = 0; g < groups; ++g) {
            const int rows = static_cast<int>((count - r0) / (groups - g));
            kProducts[(rows - 1) * 4 + vectors - 1](v + r0 * v_tile, u + p * plane, m + r0 * m_tile, v_tile,
                                                    m_tile, in, out, k0, p);
            r0 += rows;
          }
        }
      for (int64_t i = 0; i < count; ++i)
        output_tile(m + i * m_tile, c, bias, post_, batch, out, h, w, tile(first + i));
    }
  }
}

}  // namespace vaec::onednn
