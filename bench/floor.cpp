// bench/floor: how fast can an mnist_mlp training step be on this machine?
//
// The step of models/mnist_mlp.yaml (batch 128, 784-400-20-400-784, Adam)
// is bound by its five large matmuls (each 128 x 784 x 400, 80 MFLOP) and by
// Adam's pass over all 652,848 parameters with their gradients and two
// moments (10.4 MB read, 7.8 MB written). This program runs exactly those
// two parts with nothing else around them: the same oneDNN matmuls on the
// same shapes and strides as vaec's executor, and Adam as one vectorized
// loop split over the threads. It times them alone (warm caches) and the way
// a training step runs them, one after the other in a loop, where the
// parameters, gradients and moments no longer stay in the caches from one
// step to the next. The last line is the implied ceiling in images/s for a
// step made of these oneDNN calls and this update (kernels of one's own
// could pass it: --peak shows how far oneDNN's products stay from the
// cores'); compare it with vaec's and PyTorch's images/s from bench/run.sh.
//
//   build/bench/floor [--rounds N] [--reps N]
//   build/bench/floor --peak     the machine's f32 peak as oneDNN reaches it
//                                (a 2048^3 product, best of 10) and as the
//                                cores reach it (multiply-adds in registers)
//
// Threads: OMP_NUM_THREADS or all cores, as for the trainer (oneDNN and the
// Adam loop share libgomp's pool). Run it on a quiet machine (NICE=-20 as in
// bench/run.sh: `nice -n -20 build/bench/floor`).
#include <dnnl.hpp>
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace {

constexpr int64_t kBatch = 128, kIn = 784, kHidden = 400, kLatent = 20;

// mnist_mlp's parameters in vaec's order, each on a 64-byte line (runtime/abi/plan.h).
struct Layout {
  int64_t w1 = 0, w4 = 0, count = 0;
  Layout() {
    const int64_t sizes[] = {kHidden * kIn, kHidden, kLatent * kHidden, kLatent, kLatent * kHidden, kLatent,
                             kHidden * kLatent, kHidden, kIn * kHidden, kIn};
    int64_t at = 0;
    for (int i = 0; i < 10; ++i) {
      at = (at + 15) / 16 * 16;
      if (i == 0) w1 = at;
      if (i == 8) w4 = at;
      at += sizes[i];
    }
    count = at;
  }
};

struct Floats {
  std::unique_ptr<float, decltype(&std::free)> p{nullptr, &std::free};
  explicit Floats(int64_t n) {
    p.reset(static_cast<float *>(std::aligned_alloc(64, (n * 4 + 63) / 64 * 64)));
    if (!p) {
      std::fprintf(stderr, "floor: out of memory\n");
      std::exit(1);
    }
    for (int64_t i = 0; i < n; ++i) p.get()[i] = 0.01f * static_cast<float>(i % 13) - 0.06f;
  }
  float *get() const { return p.get(); }
};

// The executor's matrix descriptor: row-major, or its transpose through strides.
dnnl::memory::desc matrix(int64_t rows, int64_t cols, bool transposed) {
  using dims = dnnl::memory::dims;
  return dnnl::memory::desc(dims{rows, cols}, dnnl::memory::data_type::f32,
                            transposed ? dims{1, rows} : dims{cols, 1});
}

struct Product {
  dnnl::matmul primitive;
  std::unordered_map<int, dnnl::memory> args;
};

// c[m,n] = op(a) op(b), as a plan's matmul step (ta/tb: read transposed).
Product product(const dnnl::engine &engine, float *a, float *b, float *c, int64_t m, int64_t n, int64_t k, bool ta,
                bool tb) {
  auto da = matrix(m, k, ta), db = matrix(k, n, tb), dc = matrix(m, n, false);
  dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(da, db, dc), engine);
  return {dnnl::matmul(pd),
          {{DNNL_ARG_SRC, dnnl::memory(da, engine, a)},
           {DNNL_ARG_WEIGHTS, dnnl::memory(db, engine, b)},
           {DNNL_ARG_DST, dnnl::memory(dc, engine, c)}}};
}

// PyTorch's Adam with bias corrections folded into two scalars, as vaec's kernel.
void adam(float *p, const float *g, float *m, float *v, int64_t begin, int64_t end, float step_size, float rsqrt_bc2) {
  const float b1 = 0.9f, b2 = 0.999f, eps = 1e-8f;
#pragma omp simd
  for (int64_t i = begin; i < end; ++i) {
    m[i] = b1 * m[i] + (1 - b1) * g[i];
    v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
    p[i] -= step_size * m[i] / (std::sqrt(v[i]) * rsqrt_bc2 + eps);
  }
}

struct Timing {
  std::string name;
  std::function<void()> run;
  std::vector<double> ms;
};

// --rounds N and --reps N, each a whole number from 1 to 100000; false after
// a message on anything else.
bool parse_args(int argc, char **argv, int64_t &rounds, int64_t &reps, bool &peak) {
  for (int i = 1; i < argc; i += 2) {
    const std::string name = argv[i];
    if (name == "--peak") {
      peak = true, --i;
      continue;
    }
    int64_t *target = name == "--rounds" ? &rounds : name == "--reps" ? &reps : nullptr;
    if (!target) {
      std::fprintf(stderr, "usage: floor [--rounds N] [--reps N] | --peak   (unknown argument '%s')\n", argv[i]);
      return false;
    }
    char *end = nullptr;
    const long long v = i + 1 < argc ? std::strtoll(argv[i + 1], &end, 10) : 0;
    if (i + 1 >= argc || *end || v < 1 || v > 100000) {
      std::fprintf(stderr, "floor: %s needs a whole number from 1 to 100000\n", name.c_str());
      return false;
    }
    *target = v;
  }
  return true;
}

// The f32 GFLOP/s of oneDNN's best case here: a large square product on all
// threads, the best of 10 after a warm-up.
double peak_gflops(const dnnl::engine &engine, dnnl::stream &stream) {
  constexpr int64_t kN = 2048;
  Floats a(kN * kN), b(kN * kN), c(kN * kN);
  Product p = product(engine, a.get(), b.get(), c.get(), kN, kN, kN, false, false);
  double best = 1e30;
  for (int i = 0; i < 12; ++i) {
    const auto start = std::chrono::steady_clock::now();
    p.primitive.execute(stream, p.args);
    stream.wait();
    if (i >= 2) best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  return 2.0 * kN * kN * kN / best * 1e-9;
}

// The cores' f32 multiply-add peak: on every thread, 16 independent chains
// of vector multiply-adds in registers (no loads), best of 5; how far
// oneDNN's products stay from it is in docs/BENCHMARKS.md. 0 when the build
// has no FMA vectors.
double fma_peak_gflops() {
#if defined(__AVX512F__) || defined(__FMA__)
#if defined(__AVX512F__)
  using Vec = __m512;
  auto fma = [](Vec a, Vec b, Vec c) { return _mm512_fmadd_ps(a, b, c); };
#else
  using Vec = __m256;
  auto fma = [](Vec a, Vec b, Vec c) { return _mm256_fmadd_ps(a, b, c); };
#endif
  constexpr int kLanes = sizeof(Vec) / sizeof(float);
  auto splat = [](float x) { return Vec{} + x; };  // GCC's vector arithmetic
  constexpr int kChains = 16;
  constexpr int64_t kIters = 20'000'000;
  double best = 1e30, sink = 0;
  for (int round = 0; round < 6; ++round) {
    const auto start = std::chrono::steady_clock::now();
#pragma omp parallel reduction(+ : sink)
    {
      Vec acc[kChains];
      for (int i = 0; i < kChains; ++i) acc[i] = splat(float(i));
      const Vec a = splat(0.999999f), b = splat(1e-7f);
      for (int64_t it = 0; it < kIters; ++it)
#pragma GCC unroll 16
        for (int i = 0; i < kChains; ++i) acc[i] = fma(acc[i], a, b);
      for (int i = 1; i < kChains; ++i) acc[0] = fma(acc[i], a, acc[0]);
      for (int l = 0; l < kLanes; ++l) sink += acc[0][l];
    }
    const double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (round >= 1) best = std::min(best, t);
  }
  if (!std::isfinite(sink)) return 0;  // keeps the chains from being optimized away
  return 2.0 * kLanes * kChains * kIters * omp_get_max_threads() / best * 1e-9;
#else
  return 0;
#endif
}

}  // namespace

int main(int argc, char **argv) {
  int64_t rounds = 15, reps = 40;
  bool peak = false;
  if (!parse_args(argc, argv, rounds, reps, peak)) return 2;
  try {
    dnnl::engine engine(dnnl::engine::kind::cpu, 0);
    dnnl::stream stream(engine);
    if (peak) {
      std::printf("peak f32 GFLOP/s: %.1f (a 2048^3 oneDNN product on %d threads, best of 10)\n",
                  peak_gflops(engine, stream), omp_get_max_threads());
      if (const double fma = fma_peak_gflops(); fma > 0)
        std::printf("cores' f32 GFLOP/s: %.1f (vector multiply-adds in registers on %d threads, best of 5)\n", fma,
                    omp_get_max_threads());
      return 0;
    }
    const Layout layout;
    const int64_t n = layout.count;
    Floats params(n), grads(n), m(n), v(n);
    std::memset(m.get(), 0, n * 4), std::memset(v.get(), 0, n * 4);
    Floats x(kBatch * kIn), h(kBatch * kHidden), y(kBatch * kIn), dy(kBatch * kIn), dh(kBatch * kHidden),
        h3(kBatch * kHidden);
    float *w1 = params.get() + layout.w1, *w4 = params.get() + layout.w4;
    float *dw1 = grads.get() + layout.w1, *dw4 = grads.get() + layout.w4;
    // The five products of a step, with the executor's operand orders:
    // h = x w1^T, y = h3 w4^T, dh3 = dy w4, dw4 = dy^T h3, dw1 = dh^T x.
    std::vector<Product> products;
    products.push_back(product(engine, x.get(), w1, h.get(), kBatch, kHidden, kIn, false, true));
    products.push_back(product(engine, h3.get(), w4, y.get(), kBatch, kIn, kHidden, false, true));
    products.push_back(product(engine, dy.get(), w4, dh.get(), kBatch, kHidden, kIn, false, false));
    products.push_back(product(engine, dy.get(), h3.get(), dw4, kIn, kHidden, kBatch, true, false));
    products.push_back(product(engine, dh.get(), x.get(), dw1, kHidden, kIn, kBatch, true, false));
    auto matmuls = [&] {
      for (Product &p : products) p.primitive.execute(stream, p.args);
      stream.wait();
    };
    auto update = [&] {
#pragma omp parallel
      {
        const int64_t t = omp_get_thread_num(), threads = omp_get_num_threads();
        const int64_t begin = n * t / threads / 16 * 16, end = t + 1 == threads ? n : n * (t + 1) / threads / 16 * 16;
        adam(params.get(), grads.get(), m.get(), v.get(), begin, end, 1e-3f, 1.0f);
      }
    };
    std::vector<Timing> timings = {{"the five large matmuls, alone", matmuls, {}},
                                   {"Adam over all parameters, alone", update, {}},
                                   {"both, one after the other, as a step runs them",
                                    [&] {
                                      matmuls();
                                      update();
                                    },
                                    {}}};
    for (Timing &t : timings)
      for (int i = 0; i < 10; ++i) t.run();
    // Round robin, so that a change in the machine's speed hits every line alike.
    for (int64_t r = 0; r < rounds; ++r)
      for (Timing &t : timings) {
        const auto start = std::chrono::steady_clock::now();
        for (int64_t i = 0; i < reps; ++i) t.run();
        t.ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count() /
                       static_cast<double>(reps));
      }
    std::printf("mnist_mlp's step floor on %d threads (ms per step; min and median of %lld rounds of %lld)\n",
                omp_get_max_threads(), static_cast<long long>(rounds), static_cast<long long>(reps));
    double step = 0;
    for (Timing &t : timings) {
      std::sort(t.ms.begin(), t.ms.end());
      std::printf("  %-48s %7.3f %7.3f\n", t.name.c_str(), t.ms.front(), t.ms[t.ms.size() / 2]);
      step = t.ms.front();  // the last line's best round
    }
    const double gflops = 5.0 * 2 * kBatch * kIn * kHidden / (timings[0].ms.front() * 1e6);
    std::printf("  the matmuls alone run at %.0f GFLOP/s\n", gflops);
    std::printf("ceiling: %.0f images/s at batch %lld for a step that computes these five products with these "
                "oneDNN calls and this update (the rest of a step, ~0.35 ms in vaec, comes on top)\n",
                kBatch / (step / 1e3), static_cast<long long>(kBatch));
  } catch (const dnnl::error &e) {
    std::fprintf(stderr, "floor: oneDNN: %s\n", e.what());
    return 1;
  }
  return 0;
}
