// bench/conv_floor: how fast can mnist_conv's convolutions be on this machine?
//
// The f32 step of models/mnist_conv.yaml is bound by its 14 oneDNN
// convolutions (c1..c4 and d2, forward and backward; vaec's own kernels run
// the 32->1 layer x_hat). For each one this program times oneDNN's direct
// algorithm and, where oneDNN has it (3x3, stride 1), its Winograd algorithm,
// as a plan runs them: blocked layouts of oneDNN's choice, on all threads,
// warm caches. Beside them it times the *products* an algorithm with fewer
// multiplications would have to compute, as batched oneDNN matmuls:
//   - 3x3 stride 1: Winograd F(4x4,3x3), 36 products over the 4x4 output
//     tiles (14x14 pads to 16x16), of [tiles x in] x [in x out];
//   - stride 2 (c2, and d2, whose passes are c2's transposed): a polyphase
//     split into stride-1 pieces of 2x2, 2x1, 1x2 and 1x1 taps with Winograd
//     F(2,2) on each 2-tap axis: 25 products of [Ho*Wo/4 x in] x [in x out]
//     per image, against the 36 that the direct algorithm's multiply-adds
//     come to.
// Such an algorithm needs its transforms on top of its products, so the
// products' time is a floor for it: where the floor is not well below
// oneDNN's best, no algorithm of one's own on these products can pay.
// For the 3x3 stride-1 layers the last column is a whole F(4x4,3x3) of
// one's own: transforms written here (vectors of 16 channels or tiles,
// AVX-512), the same products, and the weights' transform each step, as a
// trainer would run it; its results are checked against float64 first.
//
//   build/bench/conv_floor [--batch N] [--rounds N] [--reps N]
//
// Threads: OMP_NUM_THREADS or all cores, as for the trainer. Run it on a
// quiet machine (`nice -n -20 build/bench/conv_floor`).
#include <dnnl.hpp>
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "abi/onednn_conv.h"

namespace {

using dims = dnnl::memory::dims;
using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;
using Args = std::unordered_map<int, dnnl::memory>;

// One convolution layer of mnist_conv: in -> out channels, 3x3 taps,
// padding "same", on an h x w input.
struct Layer {
  const char *name;
  int64_t in, out, h, w, stride;
  bool has_input_gradient;  // false for c1, whose input is the data
};

const Layer kLayers[] = {
    {"c1", 1, 32, 28, 28, 1, false},   {"c2", 32, 64, 28, 28, 2, true}, {"c3", 64, 64, 14, 14, 1, true},
    {"c4", 64, 64, 14, 14, 1, true},   {"d2", 32, 64, 28, 28, 2, true},
};

enum class Pass { forward, input_gradient, weight_gradient };
const char *pass_name(Pass p) {
  return p == Pass::forward ? "forward" : p == Pass::input_gradient ? "input gradient" : "weight gradient";
}

// A memory for every argument, from the primitive's own descriptors.
Args make_args(const dnnl::engine &engine, const std::vector<std::pair<int, dnnl::memory::desc>> &descs) {
  Args args;
  for (const auto &[arg, desc] : descs) {
    dnnl::memory m(desc, engine);
    auto *p = static_cast<float *>(m.get_data_handle());
    for (size_t i = 0; i < desc.get_size() / sizeof(float); ++i) p[i] = 0.01f * static_cast<float>(i % 13) - 0.06f;
    args.emplace(arg, m);
  }
  return args;
}

struct Run {
  std::function<void(dnnl::stream &)> run;
  std::string impl;
};

// The layer's pass as a plan's Conv step runs it (abi/onednn_conv.h: the
// same primitive, with the layouts oneDNN chooses and a user scratchpad;
// `winograd`: oneDNN's Winograd algorithm); an empty impl when oneDNN has
// no implementation for it. Passes of d2 are c2's transposed (d2's forward
// is c2's input gradient and the other way round), so d2 is timed as c2's
// shape.
Run convolution(const dnnl::engine &engine, const Layer &l, Pass pass, bool winograd, int64_t batch) {
  vaec::plan::Step s;
  s.kind = vaec::plan::Step::Conv;
  const std::vector<int64_t> x{batch, l.in, l.h, l.w}, w{l.out, l.in, 3, 3},
      y{batch, l.out, l.h / l.stride, l.w / l.stride};
  if (pass == Pass::forward) s.conv = "conv2d", s.dims_a = x, s.dims_b = w, s.dims_c = y;
  if (pass == Pass::input_gradient) s.conv = "conv2d_bwd_data", s.dims_a = y, s.dims_b = w, s.dims_c = x;
  if (pass == Pass::weight_gradient) s.conv = "conv2d_bwd_weights", s.dims_a = x, s.dims_b = y, s.dims_c = w;
  // "same" padding as vaec (and TensorFlow) place it: stride 2 pads only after the last row and column.
  const int64_t before = l.stride == 1 ? 1 : 0;
  s.stride = {l.stride, l.stride}, s.pad = {before, before, 1, 1};
  s.layout_a = s.layout_b = s.layout_c = "any";
  s.winograd = winograd;
  try {
    const vaec::onednn::ConvPrimitive c = vaec::onednn::conv_primitive(s, engine);
    std::vector<std::pair<int, dnnl::memory::desc>> descs;
    for (int i = 0; i < 3; ++i) descs.emplace_back(c.arg[i], c.desc[i]);
    if (c.scratchpad.get_size() > 0) descs.emplace_back(DNNL_ARG_SCRATCHPAD, c.scratchpad);
    auto args = make_args(engine, descs);
    return {[p = c.primitive, args](dnnl::stream &st) { p.execute(st, args); }, c.impl};
  } catch (const dnnl::error &) {
    return {nullptr, ""};  // oneDNN 2.6 has Winograd only for some shapes
  }
}

// `count` products [m x k] x [k x n] in one batched matmul.
Run products(const dnnl::engine &engine, int64_t count, int64_t m, int64_t k, int64_t n) {
  const dnnl::memory::desc a({count, m, k}, dt::f32, tag::abc), b({count, k, n}, dt::f32, tag::abc),
      c({count, m, n}, dt::f32, tag::abc);
  dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a, b, c), engine);
  auto args = make_args(engine, {{DNNL_ARG_SRC, a}, {DNNL_ARG_WEIGHTS, b}, {DNNL_ARG_DST, c}});
  dnnl::matmul p(pd);
  return {[p, args](dnnl::stream &s) { p.execute(s, args); }, pd.impl_info_str()};
}

// The products of the fewer-multiplications algorithm for this pass (see
// the top of the file), with the operand shapes the pass needs.
Run floor_products(const dnnl::engine &engine, const Layer &l, Pass pass, int64_t batch, std::string &what) {
  int64_t count, tiles;
  if (l.stride == 1) {
    count = 36, tiles = batch * ((l.h + 3) / 4) * ((l.w + 3) / 4);
    what = "F(4x4,3x3)";
  } else {
    count = 25, tiles = batch * (l.h / 2) * (l.w / 2) / 4;
    what = "polyphase";
  }
  if (pass == Pass::forward) return products(engine, count, tiles, l.in, l.out);
  if (pass == Pass::input_gradient) return products(engine, count, tiles, l.out, l.in);
  return products(engine, count, l.out, tiles, l.in);
}

// A whole F(4x4,3x3) Winograd convolution of one's own (3x3, stride 1,
// padding 1; channels a multiple of 16), on activations in oneDNN's
// nChw16c layout and weights kept as [3][3][in][out]. Forward:
//   V[p][t][c] = (B^T d B)  of each 6x6 input tile d,
//   M[p]       = V[p] U[p]  with U[p][c][o] = (G w G^T), 36 products,
//   y          = A^T M A    of each tile, cropped to the image.
// Weight gradient: dM[p][o][t] = (A dy A^T) of each 4x4 tile of dy,
// dU[p] = dM[p] V[p], dw = G^T dU G. The input gradient is the forward
// with in and out swapped and the weights flipped.
constexpr float kG[6][3] = {{1.f / 4, 0, 0},
                            {-1.f / 6, -1.f / 6, -1.f / 6},
                            {-1.f / 6, 1.f / 6, -1.f / 6},
                            {1.f / 24, 1.f / 12, 1.f / 6},
                            {1.f / 24, -1.f / 12, 1.f / 6},
                            {0, 0, 1}};
constexpr float kA[6][4] = {{1, 0, 0, 0}, {1, 1, 1, 1}, {1, -1, 1, -1}, {1, 2, 4, 8}, {1, -2, 4, -8}, {0, 0, 0, 1}};

struct Floats {
  std::unique_ptr<float, decltype(&std::free)> p{nullptr, &std::free};
  explicit Floats(int64_t n) : p(static_cast<float *>(std::aligned_alloc(64, (n * 4 + 63) / 64 * 64)), &std::free) {
    if (!p) throw std::bad_alloc();
    std::mt19937 rng(static_cast<unsigned>(n));
    std::uniform_real_distribution<float> u(-1, 1);
    for (int64_t i = 0; i < n; ++i) p.get()[i] = u(rng);
  }
  float *get() const { return p.get(); }
};

// B^T applied to six 16-lane vectors d[0], d[ds], ... d[5 ds] (strides in
// floats), into out[0], out[os], ... out[5 os].
inline void input_transform_6(const float *d, int64_t ds, float *out, int64_t os) {
#pragma omp simd
  for (int l = 0; l < 16; ++l) {
    const float d0 = d[l], d1 = d[ds + l], d2 = d[2 * ds + l], d3 = d[3 * ds + l], d4 = d[4 * ds + l],
                d5 = d[5 * ds + l];
    const float a = d4 - 4 * d2, b = d3 - 4 * d1, c = d4 - d2, e = 2 * (d3 - d1);
    out[0 * os + l] = 4 * d0 - 5 * d2 + d4;
    out[1 * os + l] = a + b;
    out[2 * os + l] = a - b;
    out[3 * os + l] = c + e;
    out[4 * os + l] = c - e;
    out[5 * os + l] = 4 * d1 - 5 * d3 + d5;
  }
}

// The 36 points' matrices, one after the other (oneDNN's fast batched
// products need them dense).
dnnl::memory::desc points(int64_t rows, int64_t cols) { return dnnl::memory::desc({36, rows, cols}, dt::f32, tag::abc); }

struct Winograd {
  // tp: the tiles and one more, all zeros: with 256 tiles of 64 channels the
  // 36 points would lie 64 KiB apart and the transforms' 36 streams would
  // share the caches' sets.
  int64_t batch, in, out, h, w, tiles_y, tiles_x, tiles, tp;
  dnnl::memory::desc v_desc, u_desc, m_desc;
  dnnl::matmul products;
  Floats x, weights, u, v, m, y;

  Winograd(const dnnl::engine &engine, int64_t batch, int64_t in, int64_t out, int64_t h, int64_t w, bool gradient)
      : batch(batch), in(in), out(out), h(h), w(w), tiles_y((h + 3) / 4), tiles_x((w + 3) / 4),
        tiles(batch * tiles_y * tiles_x), tp(tiles + 1),
        // forward: [t x in] x [in x out]; weight gradient: [out x t] x [t x in]
        v_desc(gradient ? points(out, tp) : points(tp, in)), u_desc(gradient ? points(tp, in) : points(in, out)),
        m_desc(gradient ? points(out, in) : points(tp, out)),
        products(dnnl::matmul::primitive_desc(dnnl::matmul::desc(v_desc, u_desc, m_desc), engine)),
        x(batch * in * h * w), weights(9 * in * out), u(36 * std::max(in * out, tp * in)),
        v(36 * tp * std::max(in, out)), m(36 * std::max(tp * out, out * in)), y(batch * out * h * w) {}

  void multiply(const dnnl::engine &engine, dnnl::stream &stream, float *a, float *b, float *c) {
    products.execute(stream, {{DNNL_ARG_SRC, dnnl::memory(v_desc, engine, a)},
                              {DNNL_ARG_WEIGHTS, dnnl::memory(u_desc, engine, b)},
                              {DNNL_ARG_DST, dnnl::memory(m_desc, engine, c)}});
    stream.wait();
  }

  // V[p][t][c] from x (nChw16c).
  void transform_input(float *to) const {
    const int64_t blocks = in / 16, s = tp * in;
#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t t = 0; t < tp; ++t)
      for (int64_t cb = 0; cb < blocks; ++cb) {
        const int64_t n = t / (tiles_y * tiles_x), ty = t / tiles_x % tiles_y, tx = t % tiles_x;
        alignas(64) float d[6][6][16], r[6][6][16];  // r = B^T d, row by row
        for (int i = 0; i < 6; ++i)
          for (int j = 0; j < 6; ++j) {
            const int64_t yy = ty * 4 - 1 + i, xx = tx * 4 - 1 + j;
            const bool inside = t < tiles && yy >= 0 && yy < h && xx >= 0 && xx < w;
            const float *p = x.get() + (((n * blocks + cb) * h + (inside ? yy : 0)) * w + (inside ? xx : 0)) * 16;
#pragma omp simd
            for (int l = 0; l < 16; ++l) d[i][j][l] = inside ? p[l] : 0.f;
          }
        for (int j = 0; j < 6; ++j) input_transform_6(d[0][j], 6 * 16, r[0][j], 6 * 16);
        for (int k = 0; k < 6; ++k) input_transform_6(r[k][0], 16, to + k * 6 * s + t * in + cb * 16, s);
      }
  }

  // U[p][k][n] = G w G^T from weights [3][3][k][n] (k, n: the product's inner and outer channels).
  static void transform_weights(const float *wt, float *to, int64_t k_count, int64_t n_count) {
#pragma omp parallel for schedule(static)
    for (int64_t k = 0; k < k_count; ++k)
      for (int64_t nb = 0; nb < n_count; nb += 16) {
        alignas(64) float g[6][3][16];
        for (int i = 0; i < 6; ++i)
          for (int b = 0; b < 3; ++b)
#pragma omp simd
            for (int l = 0; l < 16; ++l) {
              float acc = 0;
              for (int a = 0; a < 3; ++a) acc += kG[i][a] * wt[((a * 3 + b) * k_count + k) * n_count + nb + l];
              g[i][b][l] = acc;
            }
        for (int i = 0; i < 6; ++i)
          for (int j = 0; j < 6; ++j) {
            float *o = to + ((i * 6 + j) * k_count + k) * n_count + nb;
#pragma omp simd
            for (int l = 0; l < 16; ++l) o[l] = kG[j][0] * g[i][0][l] + kG[j][1] * g[i][1][l] + kG[j][2] * g[i][2][l];
          }
      }
  }

  // y (nChw16c) from M[p][t][o].
  void transform_output(const float *from) {
    const int64_t blocks = out / 16;
#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t t = 0; t < tiles; ++t)
      for (int64_t ob = 0; ob < blocks; ++ob) {
        const int64_t n = t / (tiles_y * tiles_x), ty = t / tiles_x % tiles_y, tx = t % tiles_x;
        alignas(64) float r[4][6][16];
        for (int j = 0; j < 6; ++j) {
          const float *c[6];
          for (int i = 0; i < 6; ++i) c[i] = from + ((i * 6 + j) * tp + t) * out + ob * 16;
#pragma omp simd
          for (int l = 0; l < 16; ++l) {
            const float a0 = c[0][l], a1 = c[1][l], a2 = c[2][l], a3 = c[3][l], a4 = c[4][l], a5 = c[5][l];
            r[0][j][l] = a0 + a1 + a2 + a3 + a4;
            r[1][j][l] = a1 - a2 + 2 * a3 - 2 * a4;
            r[2][j][l] = a1 + a2 + 4 * a3 + 4 * a4;
            r[3][j][l] = a1 - a2 + 8 * a3 - 8 * a4 + a5;
          }
        }
        for (int i = 0; i < 4 && ty * 4 + i < h; ++i) {
          alignas(64) float o[4][16];
#pragma omp simd
          for (int l = 0; l < 16; ++l) {
            const float a0 = r[i][0][l], a1 = r[i][1][l], a2 = r[i][2][l], a3 = r[i][3][l], a4 = r[i][4][l],
                        a5 = r[i][5][l];
            o[0][l] = a0 + a1 + a2 + a3 + a4;
            o[1][l] = a1 - a2 + 2 * a3 - 2 * a4;
            o[2][l] = a1 + a2 + 4 * a3 + 4 * a4;
            o[3][l] = a1 - a2 + 8 * a3 - 8 * a4 + a5;
          }
          for (int j = 0; j < 4 && tx * 4 + j < w; ++j) {
            float *p = y.get() + (((n * blocks + ob) * h + ty * 4 + i) * w + tx * 4 + j) * 16;
#pragma omp simd
            for (int l = 0; l < 16; ++l) p[l] = o[j][l];
          }
        }
      }
  }

  // dM[p][o][t] = A dy A^T of each 4x4 tile of dy (nChw16c, in y): the
  // lanes are 16 tiles, so that each row of dM is written whole.
  void transform_output_gradient(float *to) const {
#if defined(__AVX512F__)
    const int64_t blocks = out / 16;
#pragma omp parallel for schedule(static)
    for (int64_t tb = 0; tb < (tp + 15) / 16; ++tb) {
      // Where each lane's tile starts in channel 0's plane, and which of its pixels are inside.
      alignas(64) int32_t index[4][4][16];
      __mmask16 mask[4][4];
      for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 4; ++j) mask[i][j] = 0;
      for (int l = 0; l < 16; ++l) {
        const int64_t t = tb * 16 + l, n = t / (tiles_y * tiles_x), ty = t / tiles_x % tiles_y, tx = t % tiles_x;
        for (int i = 0; i < 4; ++i)
          for (int j = 0; j < 4; ++j) {
            const int64_t yy = ty * 4 + i, xx = tx * 4 + j;
            const bool inside = t < tiles && yy < h && xx < w;
            index[i][j][l] = inside ? static_cast<int32_t>(((n * blocks * h + yy) * w + xx) * 16) : 0;
            if (inside) mask[i][j] |= static_cast<__mmask16>(1u << l);
          }
      }
      const __mmask16 valid = tb * 16 + 16 <= tp ? 0xFFFF : static_cast<__mmask16>((1u << (tp % 16)) - 1);
      for (int64_t o = 0; o < out; ++o) {
        const float *base = y.get() + (o / 16) * h * w * 16 + o % 16;
        __m512 g[4][4], r[6][4];
        for (int i = 0; i < 4; ++i)
          for (int j = 0; j < 4; ++j)
            g[i][j] = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), mask[i][j], _mm512_load_si512(index[i][j]),
                                               base, 4);
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
            _mm512_mask_storeu_ps(to + ((p * 6 + q) * out + o) * tp + tb * 16, valid, acc);
          }
      }
    }
#else
    (void)to;
#endif
  }

  // dw [3][3][in][out] = G^T dU G from dU[p][o][c].
  void transform_weight_gradient(const float *from, float *dw) const {
#pragma omp parallel for schedule(static)
    for (int64_t o = 0; o < out; ++o)
      for (int64_t cb = 0; cb < in; cb += 16) {
        alignas(64) float g[3][6][16] = {};
        for (int i = 0; i < 6; ++i)
          for (int j = 0; j < 6; ++j) {
            const float *c = from + ((i * 6 + j) * out + o) * in + cb;
            for (int a = 0; a < 3; ++a)
              if (kG[i][a] != 0)
#pragma omp simd
                for (int l = 0; l < 16; ++l) g[a][j][l] += kG[i][a] * c[l];
          }
        for (int a = 0; a < 3; ++a)
          for (int b = 0; b < 3; ++b) {
            alignas(64) float r[16];
#pragma omp simd
            for (int l = 0; l < 16; ++l) {
              float acc = 0;
              for (int j = 0; j < 6; ++j) acc += kG[j][b] * g[a][j][l];
              r[l] = acc;
            }
            for (int l = 0; l < 16; ++l) dw[((a * 3 + b) * in + cb + l) * out + o] = r[l];
          }
      }
  }

  float x_at(int64_t n, int64_t c, int64_t yy, int64_t xx) const {
    return x.get()[(((n * (in / 16) + c / 16) * h + yy) * w + xx) * 16 + c % 16];
  }
  float y_at(int64_t n, int64_t o, int64_t yy, int64_t xx) const {
    return y.get()[(((n * (out / 16) + o / 16) * h + yy) * w + xx) * 16 + o % 16];
  }
};

// One forward (or, with in and out swapped, input gradient) of Winograd,
// timed as a trainer would run it: the weights' transform, the input's, the
// products and the output's. `check` gets the largest error against float64
// relative to the largest output.
Run own_forward(const dnnl::engine &engine, const Layer &l, int64_t batch, bool input_gradient, double &error) {
  const int64_t in = input_gradient ? l.out : l.in, out = input_gradient ? l.in : l.out;
  auto wg = std::make_shared<Winograd>(engine, batch, in, out, l.h, l.w, false);
  auto run = [wg, in, out, engine](dnnl::stream &stream) {
    Winograd &g = *wg;
    Winograd::transform_weights(g.weights.get(), g.u.get(), in, out);
    g.transform_input(g.v.get());
    g.multiply(engine, stream, g.v.get(), g.u.get(), g.m.get());
    g.transform_output(g.m.get());
  };
  dnnl::stream stream(engine);
  run(stream);
  double worst = 0, largest = 0;
  for (int64_t n = 0; n < batch; n += std::max<int64_t>(1, batch / 3))
    for (int64_t o = 0; o < out; o += 7)
      for (int64_t yy = 0; yy < l.h; ++yy)
        for (int64_t xx = 0; xx < l.w; ++xx) {
          double acc = 0;
          for (int64_t c = 0; c < in; ++c)
            for (int a = 0; a < 3; ++a)
              for (int b = 0; b < 3; ++b) {
                const int64_t sy = yy + a - 1, sx = xx + b - 1;
                if (sy >= 0 && sy < l.h && sx >= 0 && sx < l.w)
                  acc += double(wg->x_at(n, c, sy, sx)) * wg->weights.get()[((a * 3 + b) * in + c) * out + o];
              }
          worst = std::max(worst, std::fabs(acc - wg->y_at(n, o, yy, xx)));
          largest = std::max(largest, std::fabs(acc));
        }
  error = worst / largest;
  return {run, "own F(4x4,3x3)"};
}

// The weight gradient: the input's transform, dy's, the products and dU's.
Run own_weight_gradient(const dnnl::engine &engine, const Layer &l, int64_t batch, double &error) {
  auto wg = std::make_shared<Winograd>(engine, batch, l.in, l.out, l.h, l.w, true);
  auto run = [wg, engine](dnnl::stream &stream) {
    Winograd &g = *wg;
    g.transform_input(g.u.get());             // V[p][t][c]: the products' right operand
    g.transform_output_gradient(g.v.get());   // dM[p][o][t]: their left
    g.multiply(engine, stream, g.v.get(), g.u.get(), g.m.get());
    g.transform_weight_gradient(g.m.get(), g.weights.get());
  };
  dnnl::stream stream(engine);
  run(stream);
  double worst = 0, largest = 0;
  for (int64_t o = 0; o < l.out; o += 5)
    for (int64_t c = 0; c < l.in; c += 3)
      for (int a = 0; a < 3; ++a)
        for (int b = 0; b < 3; ++b) {
          double acc = 0;
          for (int64_t n = 0; n < batch; ++n)
            for (int64_t yy = 0; yy < l.h; ++yy)
              for (int64_t xx = 0; xx < l.w; ++xx) {
                const int64_t sy = yy + a - 1, sx = xx + b - 1;
                if (sy >= 0 && sy < l.h && sx >= 0 && sx < l.w)
                  acc += double(wg->x_at(n, c, sy, sx)) * wg->y_at(n, o, yy, xx);
              }
          worst = std::max(worst, std::fabs(acc - wg->weights.get()[((a * 3 + b) * l.in + c) * l.out + o]));
          largest = std::max(largest, std::fabs(acc));
        }
  error = worst / largest;
  return {run, "own F(4x4,3x3)"};
}

bool parse_args(int argc, char **argv, int64_t &batch, int64_t &rounds, int64_t &reps) {
  for (int i = 1; i < argc; i += 2) {
    const std::string name = argv[i];
    int64_t *target = name == "--batch" ? &batch : name == "--rounds" ? &rounds : name == "--reps" ? &reps : nullptr;
    if (!target) {
      std::fprintf(stderr, "usage: conv_floor [--batch N] [--rounds N] [--reps N]   (unknown argument '%s')\n",
                   argv[i]);
      return false;
    }
    char *end = nullptr;
    const long long v = i + 1 < argc ? std::strtoll(argv[i + 1], &end, 10) : 0;
    if (i + 1 >= argc || *end || v < 1 || v > (target == &batch ? 1024 : 100000)) {
      std::fprintf(stderr, "conv_floor: %s needs a whole number from 1 to %d\n", name.c_str(),
                   target == &batch ? 1024 : 100000);
      return false;
    }
    *target = v;
  }
  return true;
}

struct Row {
  std::string label, floor_what;
  Run direct, winograd, floor, own;
  double own_error = 0;
  std::vector<double> ms[4];
};

double best(std::vector<double> &v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v.front();
}

}  // namespace

int main(int argc, char **argv) {
  int64_t batch = 16, rounds = 15, reps = 20;
  if (!parse_args(argc, argv, batch, rounds, reps)) return 2;
  try {
    dnnl::engine engine(dnnl::engine::kind::cpu, 0);
    dnnl::stream stream(engine);
    std::vector<Row> rows;
    for (const Layer &l : kLayers)
      for (Pass pass : {Pass::forward, Pass::input_gradient, Pass::weight_gradient}) {
        if (pass == Pass::input_gradient && !l.has_input_gradient) continue;
        Row row;
        // d2 is a transposed convolution: its forward is c2's input gradient and the other way round.
        Pass as = pass;
        if (l.name == std::string("d2") && pass != Pass::weight_gradient)
          as = pass == Pass::forward ? Pass::input_gradient : Pass::forward;
        row.label = std::string(l.name) + " " + pass_name(pass);
        row.direct = convolution(engine, l, as, false, batch);
        row.winograd = convolution(engine, l, as, true, batch);
        if (l.in >= 16) row.floor = floor_products(engine, l, as, batch, row.floor_what);
#if defined(__AVX512F__)
        if (l.stride == 1 && l.in % 16 == 0 && l.out % 16 == 0)
          row.own = as == Pass::weight_gradient ? own_weight_gradient(engine, l, batch, row.own_error)
                                                : own_forward(engine, l, batch, as == Pass::input_gradient, row.own_error);
#endif
        rows.push_back(std::move(row));
      }
    auto time = [&](Run &r, std::vector<double> &out) {
      if (!r.run) return;
      const auto start = std::chrono::steady_clock::now();
      for (int64_t i = 0; i < reps; ++i) r.run(stream);
      stream.wait();
      out.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count() /
                    static_cast<double>(reps));
    };
    for (int warm = 0; warm < 2; ++warm)
      for (Row &r : rows)
        for (Run *run : {&r.direct, &r.winograd, &r.floor, &r.own})
          if (run->run) run->run(stream);
    stream.wait();
    // Round robin, so that a change in the machine's speed hits every line alike.
    for (int64_t round = 0; round < rounds; ++round)
      for (Row &r : rows)
        time(r.direct, r.ms[0]), time(r.winograd, r.ms[1]), time(r.floor, r.ms[2]), time(r.own, r.ms[3]);

    std::printf("mnist_conv's convolutions at batch %lld on %d threads (ms, best of %lld rounds of %lld)\n",
                static_cast<long long>(batch), omp_get_max_threads(), static_cast<long long>(rounds),
                static_cast<long long>(reps));
    std::printf("  %-20s %9s %9s %9s  %-12s %7s %9s  %s\n", "convolution", "direct", "Winograd", "best",
                "products of", "floor", "own whole", "(its error)");
    double sum_best = 0, sum_floor = 0, sum_own = 0;
    for (Row &r : rows) {
      const double d = best(r.ms[0]), w = best(r.ms[1]), f = best(r.ms[2]), o = best(r.ms[3]);
      const double b = w > 0 ? std::min(d, w) : d;
      sum_best += b;
      sum_floor += f > 0 ? std::min(b, f) : b;
      sum_own += o > 0 ? std::min(b, o) : b;
      auto cell = [](double v) {
        char text[16] = "-";
        if (v > 0) std::snprintf(text, sizeof text, "%.3f", v);
        return std::string(text);
      };
      char error[32] = "";
      if (o > 0) std::snprintf(error, sizeof error, "(%.1e)", r.own_error);
      std::printf("  %-20s %9.3f %9s %9.3f  %-12s %7s %9s  %s\n", r.label.c_str(), d, cell(w).c_str(), b,
                  r.floor_what.empty() ? "-" : r.floor_what.c_str(), cell(f).c_str(), cell(o).c_str(), error);
    }
    std::printf("the step's convolutions: %.3f ms with oneDNN's best algorithm for each;\n"
                "  %.3f ms (%.0f %%) with each one's products floor where it is lower (transforms free);\n"
                "  %.3f ms (%.0f %%) with the own F(4x4,3x3) where it is faster\n",
                sum_best, sum_floor, 100.0 * sum_floor / sum_best, sum_own, 100.0 * sum_own / sum_best);
  } catch (const dnnl::error &e) {
    std::fprintf(stderr, "conv_floor: oneDNN: %s\n", e.what());
    return 1;
  }
  return 0;
}
