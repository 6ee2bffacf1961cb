// vaec's own Winograd F(4x4,3x3) (contract in own_winograd.h).
#include "abi/own_winograd.h"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>
#include <unordered_map>

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

// Where tile t of the padded tile list starts.
struct Tile {
  int64_t n, y, x;
};

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

// The input transform of one tile and one block of 16 channels: x in
// nChw16c [N, ch, h, w] to row `row` of V[p][row][ch] (points `point`
// floats apart); zeros for a tile past the last.
VAEC_AVX512 void input_tile(const float *x, float *v, int64_t ch, int64_t h, int64_t w, Tile tile, bool zero,
                            int64_t cb, int64_t row, int64_t point) {
  float *to = v + row * ch + cb * 16;
  if (zero) {
    for (int p = 0; p < 36; ++p) _mm512_storeu_ps(to + p * point, _mm512_setzero_ps());
    return;
  }
  const float *plane = x + ((tile.n * (ch / 16) + cb) * h) * w * 16;
  __m512 r[6][6];  // r[k][j] = (B^T d)[k][j]
  for (int j = 0; j < 6; ++j) {
    const int64_t xx = tile.x - 1 + j;
    __m512 d[6];
    for (int i = 0; i < 6; ++i) {
      const int64_t yy = tile.y - 1 + i;
      d[i] = yy >= 0 && yy < h && xx >= 0 && xx < w ? _mm512_loadu_ps(plane + (yy * w + xx) * 16)
                                                     : _mm512_setzero_ps();
    }
    __m512 col[6];
    input_6(d, col);
    for (int k = 0; k < 6; ++k) r[k][j] = col[k];
  }
  for (int k = 0; k < 6; ++k) {
    __m512 row[6];
    input_6(r[k], row);
    for (int q = 0; q < 6; ++q) _mm512_storeu_ps(to + (k * 6 + q) * point, row[q]);
  }
}

// The output transform of one tile and one block of 16 channels: row `row`
// of M[p][row][ch] to y in nChw16c [N, ch, h, w], with bias and post-op (0 none, 1 relu, 2 sigmoid).
VAEC_AVX512 void output_tile(const float *m, float *y, const float *bias, int post, int64_t ch, int64_t h, int64_t w,
                             Tile tile, int64_t ob, int64_t row, int64_t point) {
  const float *from = m + row * ch + ob * 16;
  __m512 r[4][6];  // r[i][j] = (A^T M)[i][j]
  for (int j = 0; j < 6; ++j) {
    __m512 col[6], out[4];
    for (int i = 0; i < 6; ++i) col[i] = _mm512_loadu_ps(from + (i * 6 + j) * point);
    output_6(col, out);
    for (int i = 0; i < 4; ++i) r[i][j] = out[i];
  }
  const __m512 b = bias ? _mm512_loadu_ps(bias + ob * 16) : _mm512_setzero_ps();
  float *plane = y + ((tile.n * (ch / 16) + ob) * h) * w * 16;
  for (int i = 0; i < 4 && tile.y + i < h; ++i) {
    __m512 out[4];
    output_6(r[i], out);
    for (int j = 0; j < 4 && tile.x + j < w; ++j) {
      __m512 v = _mm512_add_ps(out[j], b);
      if (post == 1) v = _mm512_maskz_max_ps(0xFFFF, v, _mm512_setzero_ps());
      float *p = plane + ((tile.y + i) * w + tile.x + j) * 16;
      if (post == 2) {
        alignas(64) float lanes[16];
        _mm512_store_ps(lanes, v);
        for (float &l : lanes) l = 1.0f / (1.0f + std::exp(-l));
        v = _mm512_load_ps(lanes);
      }
      _mm512_storeu_ps(p, v);
    }
  }
}

// dM[p][k][col..col+count) = A dy A^T for the tiles from `first` (one per
// lane, count <= 16), each channel k of dy in nChw16c [N, ch, h, w]; rows
// of dM are `row` floats long, points `point` apart; tiles at or past
// `tiles` are 0.
VAEC_AVX512 void output_gradient_tiles(const float *dy, float *dm, int64_t ch, int64_t h, int64_t w, int64_t tiles_y,
                                       int64_t tiles_x, int64_t tiles, int64_t first, int64_t count, int64_t row,
                                       int64_t col, int64_t point) {
  alignas(64) int32_t index[4][4][16];
  __mmask16 inside[4][4] = {};
  for (int l = 0; l < 16; ++l) {
    const int64_t t = first + l, n = t / (tiles_y * tiles_x), ty = t / tiles_x % tiles_y, tx = t % tiles_x;
    for (int i = 0; i < 4; ++i)
      for (int j = 0; j < 4; ++j) {
        const int64_t yy = ty * 4 + i, xx = tx * 4 + j;
        const bool in = l < count && t < tiles && yy < h && xx < w;
        index[i][j][l] = in ? static_cast<int32_t>(((n * (ch / 16) * h + yy) * w + xx) * 16) : 0;
        if (in) inside[i][j] = static_cast<__mmask16>(inside[i][j] | (1u << l));
      }
  }
  const __mmask16 store = static_cast<__mmask16>((1u << count) - 1);
  for (int64_t k = 0; k < ch; ++k) {
    const float *base = dy + (k / 16) * h * w * 16 + k % 16;
    __m512 g[4][4], r[6][4];
    for (int i = 0; i < 4; ++i)
      for (int j = 0; j < 4; ++j)
        g[i][j] = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), inside[i][j], _mm512_load_si512(index[i][j]), base,
                                           4);
    for (int p = 0; p < 6; ++p)
      for (int j = 0; j < 4; ++j) {
        __m512 acc = _mm512_setzero_ps();
        for (int i = 0; i < 4; ++i)
          if (kA[p][i] != 0) acc = _mm512_fmadd_ps(_mm512_set1_ps(kA[p][i]), g[i][j], acc);
        r[p][j] = acc;
      }
    for (int p = 0; p < 6; ++p)
      for (int q = 0; q < 6; ++q) {
        __m512 acc = _mm512_setzero_ps();
        for (int j = 0; j < 4; ++j)
          if (kA[q][j] != 0) acc = _mm512_fmadd_ps(_mm512_set1_ps(kA[q][j]), r[p][j], acc);
        _mm512_mask_storeu_ps(dm + (p * 6 + q) * point + k * row + col, store, acc);
      }
  }
}

// U[p][r][q..q+16) = G w G^T for row r of the product's weights, 16
// columns from q. Forward: w [out, in, 3, 3] and U[p][c][k]; input gradient:
// w [in, out, 3, 3] flipped and U[p][k][c].
VAEC_AVX512 void weights_row(const float *wt, float *u, int64_t in, int64_t out, bool flip, int64_t r, int64_t q) {
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
  for (int i = 0; i < 6; ++i)
    for (int b = 0; b < 3; ++b) {
      __m512 acc = _mm512_setzero_ps();
      for (int a = 0; a < 3; ++a)
        if (kG[i][a] != 0) acc = _mm512_fmadd_ps(_mm512_set1_ps(kG[i][a]), wv[a][b], acc);
      g[i][b] = acc;
    }
  const int64_t point = in * out;
  for (int i = 0; i < 6; ++i)
    for (int j = 0; j < 6; ++j) {
      __m512 acc = _mm512_setzero_ps();
      for (int b = 0; b < 3; ++b)
        if (kG[j][b] != 0) acc = _mm512_fmadd_ps(_mm512_set1_ps(kG[j][b]), g[i][b], acc);
      _mm512_storeu_ps(u + (i * 6 + j) * point + r * out + q, acc);
    }
}

// dw[k][c..c+16][3][3] = G^T dU G, dU[p][k][c] the sum of the chunks'
// partial sums (`chunks` of them, `stride` floats apart), added in order.
VAEC_AVX512 void weight_gradient_row(const float *du, int64_t chunks, int64_t stride, float *dw, int64_t in,
                                     int64_t out, int64_t k, int64_t c) {
  const int64_t point = out * in;
  __m512 g[3][6];  // (G^T dU)[a][j]
  for (int a = 0; a < 3; ++a)
    for (int j = 0; j < 6; ++j) g[a][j] = _mm512_setzero_ps();
  for (int i = 0; i < 6; ++i)
    for (int j = 0; j < 6; ++j) {
      const float *at = du + (i * 6 + j) * point + k * in + c;
      __m512 v = _mm512_loadu_ps(at);
      for (int64_t part = 1; part < chunks; ++part) v = _mm512_add_ps(v, _mm512_loadu_ps(at + part * stride));
      for (int a = 0; a < 3; ++a)
        if (kG[i][a] != 0) g[a][j] = _mm512_fmadd_ps(_mm512_set1_ps(kG[i][a]), v, g[a][j]);
    }
  alignas(64) float taps[9][16];
  for (int a = 0; a < 3; ++a)
    for (int b = 0; b < 3; ++b) {
      __m512 acc = _mm512_setzero_ps();
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

OwnWinograd::OwnWinograd(const plan::Step &s, const dnnl::engine &engine) {
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
  tiles_y_ = (h_ + 3) / 4, tiles_x_ = (w_ + 3) / 4, tiles_ = batch_ * tiles_y_ * tiles_x_;
  // Tiles per block: 32, whose transforms and products stay in the core's
  // L2 (36 points x 32 tiles x 64 channels x 2 is 0.6 MB). A block's 36
  // points' matrices lie one after the other; where their distance is a
  // multiple of 16 cache lines, the transforms' 36 streams share too few
  // cache sets (1.5x slower): zero rows are added until it is not.
  auto spread = [](int64_t lines) { return std::gcd(lines, int64_t{64}) <= 8; };
  block_ = 32;
  rows_ = block_;
  while (!spread(rows_ * in_ / 16) || !spread(rows_ * out_ / 16)) ++rows_;
  blocks_ = (tiles_ + block_ - 1) / block_;
  threads_ = std::max(1, omp_get_max_threads());
  chunks_ = kind_ == WeightGradient ? static_cast<int>(std::min<int64_t>(threads_, blocks_)) : 1;
  using dims = dnnl::memory::dims;
  auto points = [](int64_t rows, int64_t cols) {
    return dnnl::memory::desc(dims{36, rows, cols}, dnnl::memory::data_type::f32, dnnl::memory::format_tag::abc);
  };
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  if (kind_ == WeightGradient) {
    left_ = points(out_, rows_), right_ = points(rows_, in_), result_ = points(out_, in_);
    dnnl::post_ops accumulate;  // each chunk sums its blocks' products
    accumulate.append_sum(1.0f);
    attr.set_post_ops(accumulate);
  } else {
    left_ = points(rows_, in_), right_ = points(in_, out_), result_ = points(rows_, out_);
  }
  dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(left_, right_, result_), attr, engine);
  products_ = dnnl::matmul(pd);
  scratch_desc_ = pd.scratchpad_desc();
  // Scratch: the shared part (U, or each chunk's dU), then each thread's
  // block of V and M (or dM) and the products' scratchpad.
  shared_floats_ = round_up(36 * in_ * out_ * 4) / 4 * chunks_;
  v_floats_ = round_up(36 * rows_ * in_ * 4) / 4;
  m_floats_ = round_up(36 * rows_ * out_ * 4) / 4;
  thread_bytes_ = (v_floats_ + m_floats_) * 4 + round_up(scratch_desc_.get_size());
  scratch_bytes_ = shared_floats_ * 4 + thread_bytes_ * threads_;
}

void OwnWinograd::run(dnnl::stream &stream, const float *a, const float *b, const float *bias, float *c,
                      void *scratch) const {
  float *shared = static_cast<float *>(scratch);
  const int64_t in = in_, out = out_, h = h_, w = w_, rows = rows_, block = block_, tiles = tiles_, tiles_y = tiles_y_,
                tiles_x = tiles_x_, blocks = blocks_, in_blocks = in / 16, out_blocks = out / 16;
  const int team = std::min(threads_, omp_get_max_threads());
  const dnnl::engine engine = stream.get_engine();
  auto tile = [=](int64_t t) { return Tile{t / (tiles_y * tiles_x), t / tiles_x % tiles_y * 4, t % tiles_x * 4}; };
  // Block `blk`'s V (its tiles' input transform; rows past the last tile 0) into `v`.
  auto transform_input = [&](int64_t blk, float *v) {
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t t = blk * block + r;
      const bool zero = r >= block || t >= tiles;
      for (int64_t cb = 0; cb < in_blocks; ++cb)
        input_tile(a, v, in, h, w, tile(zero ? 0 : t), zero, cb, r, rows * in);
    }
  };
  // One thread's oneDNN call (inside a parallel region oneDNN runs on the calling thread).
  auto multiply = [&](float *left, const float *right, float *result, std::byte *pad) {
    std::unordered_map<int, dnnl::memory> args = {
        {DNNL_ARG_SRC, dnnl::memory(left_, engine, left)},
        {DNNL_ARG_WEIGHTS, dnnl::memory(right_, engine, const_cast<float *>(right))},
        {DNNL_ARG_DST, dnnl::memory(result_, engine, result)}};
    if (scratch_desc_.get_size() > 0) args[DNNL_ARG_SCRATCHPAD] = dnnl::memory(scratch_desc_, engine, pad);
    products_.execute(stream, args);
  };
  auto thread_scratch = [&](int thread, float *&v, float *&m, std::byte *&pad) {
    std::byte *base = reinterpret_cast<std::byte *>(shared + shared_floats_) + thread * thread_bytes_;
    v = reinterpret_cast<float *>(base), m = v + v_floats_, pad = reinterpret_cast<std::byte *>(m + m_floats_);
  };
  if (kind_ == WeightGradient) {
    const int64_t stride = shared_floats_ / chunks_, chunks = chunks_;
#pragma omp parallel num_threads(team)
    {
      float *v, *dm;
      std::byte *pad;
      thread_scratch(omp_get_thread_num(), v, dm, pad);
      // Chunk j sums blocks [j B / chunks, (j + 1) B / chunks) in order, on whichever thread.
      for (int64_t j = omp_get_thread_num(); j < chunks; j += omp_get_num_threads()) {
        float *du = shared + j * stride;
        std::fill_n(du, 36 * out * in, 0.0f);
        for (int64_t blk = j * blocks / chunks; blk < (j + 1) * blocks / chunks; ++blk) {
          transform_input(blk, v);
          for (int64_t col = 0; col < rows; col += 16)  // the zero rows' tiles are past `tiles`
            output_gradient_tiles(b, dm, out, h, w, tiles_y, tiles_x, col < block ? tiles : 0, blk * block + col,
                                  std::min<int64_t>(16, rows - col), rows, col, out * rows);
          multiply(dm, v, du, pad);
        }
      }
#pragma omp barrier
#pragma omp for schedule(static)
      for (int64_t i = 0; i < out * in_blocks; ++i)
        weight_gradient_row(shared, chunks, stride, c, in, out, i / in_blocks, i % in_blocks * 16);
    }
    return;
  }
  const bool flip = kind_ == InputGradient;
#pragma omp parallel num_threads(team)
  {
#pragma omp for schedule(static)
    for (int64_t i = 0; i < in * out_blocks; ++i)
      weights_row(b, shared, in, out, flip, i / out_blocks, i % out_blocks * 16);
    float *v, *m;
    std::byte *pad;
    thread_scratch(omp_get_thread_num(), v, m, pad);
#pragma omp for schedule(static)
    for (int64_t blk = 0; blk < blocks; ++blk) {
      transform_input(blk, v);
      multiply(v, shared, m, pad);
      for (int64_t r = 0; r < block && blk * block + r < tiles; ++r)
        for (int64_t ob = 0; ob < out_blocks; ++ob)
          output_tile(m, c, bias, post_, out, h, w, tile(blk * block + r), ob, r, rows * out);
    }
  }
}

}  // namespace vaec::onednn
