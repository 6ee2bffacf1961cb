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
//     tiles as vaec's own kernel lays them out (images side by side: 13.4
//     tiles per 14x14 image at batch 16, 16 each alone), of [tiles x in] x [in x out];
//   - stride 2 (c2, and d2, whose passes are c2's transposed): a polyphase
//     split into stride-1 pieces of 2x2, 2x1, 1x2 and 1x1 taps with Winograd
//     F(2,2) on each 2-tap axis: 25 products of [Ho*Wo/4 x in] x [in x out]
//     per image, against the 36 that the direct algorithm's multiply-adds
//     come to.
// Such an algorithm needs its transforms on top of its products, so the
// products' time is a floor for it: where the floor is not well below
// oneDNN's best, no algorithm of one's own on these products can pay.
// For the 3x3 stride-1 layers the last column is vaec's own F(4x4,3x3)
// (abi/own_winograd.h: transforms and products fused per block of tiles),
// as a plan's own-winograd step runs it, the weights' transform included;
// its results are checked against float64 first.
//
//   build/bench/conv_floor [--batch N] [--rounds N] [--reps N] [--cold]
//
// --cold: before each run every thread writes 16 MB of its own, so that the
// run finds its operands, weights and scratch in memory, not in a cache, as
// in a training step whose other steps have moved ~25 MB since (the time of
// the writes is not counted).
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
#include "abi/own_winograd.h"

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
    count = 36, tiles = static_cast<int64_t>(vaec::onednn::OwnWinograd::canvas_tiles(batch, l.h, l.w).size());
    what = "F(4x4,3x3)";
  } else {
    count = 25, tiles = batch * (l.h / 2) * (l.w / 2) / 4;
    what = "polyphase";
  }
  if (pass == Pass::forward) return products(engine, count, tiles, l.in, l.out);
  if (pass == Pass::input_gradient) return products(engine, count, tiles, l.out, l.in);
  return products(engine, count, l.out, tiles, l.in);
}

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

// vaec's own Winograd F(4x4,3x3) (abi/own_winograd.h) as a plan's
// own-winograd Conv step runs it: activations in nChw16c, weights plain
// [out, in, 3, 3], made for this team, on random operands. `error`: its
// largest difference from a float64 direct sum (sampled), relative to the
// largest result. An empty run where it cannot run the layer.
Run own_winograd(const Layer &l, Pass pass, int64_t batch, double &error) {
  using vaec::plan::Step;
  Step s;
  s.kind = Step::Conv;
  const std::vector<int64_t> x{batch, l.in, l.h, l.w}, wt{l.out, l.in, 3, 3}, y{batch, l.out, l.h, l.w};
  s.conv = pass == Pass::forward ? "conv2d" : pass == Pass::input_gradient ? "conv2d_bwd_data" : "conv2d_bwd_weights";
  s.dims_a = pass == Pass::input_gradient ? y : x;
  s.dims_b = pass == Pass::forward ? wt : pass == Pass::input_gradient ? wt : y;
  s.dims_c = pass == Pass::forward ? y : pass == Pass::input_gradient ? x : wt;
  s.stride = {l.stride, l.stride}, s.pad = {1, 1, 1, 1};
  if (!vaec::onednn::own_winograd_unsupported(s).empty()) return {};
  const std::array<std::string, 3> layouts = vaec::onednn::own_winograd_layouts(s);
  s.layout_a = layouts[0], s.layout_b = layouts[1], s.layout_c = layouts[2];
  s.own_winograd = true;
  auto conv = std::make_shared<const vaec::onednn::OwnWinograd>(s, omp_get_max_threads());
  auto count = [](const std::vector<int64_t> &d) { return d[0] * d[1] * d[2] * d[3]; };
  auto a = std::make_shared<Floats>(count(s.dims_a)), b = std::make_shared<Floats>(count(s.dims_b)),
       c = std::make_shared<Floats>(count(s.dims_c)),
       scratch = std::make_shared<Floats>(static_cast<int64_t>(conv->scratch_bytes() / 4));
  auto run = [conv, a, b, c, scratch](dnnl::stream &) { conv->run(a->get(), b->get(), nullptr, c->get(), scratch->get()); };
  dnnl::stream none;
  run(none);
  // x, dy and w of the layer, whichever operand holds them; the result.
  const float *xs = pass == Pass::input_gradient ? nullptr : a->get();
  const float *dys = pass == Pass::forward ? nullptr : pass == Pass::input_gradient ? a->get() : b->get();
  const float *ws = pass == Pass::weight_gradient ? nullptr : b->get();
  auto act = [&](const float *t, int64_t ch, int64_t n, int64_t k, int64_t yy, int64_t xx) {
    return double(t[(((n * (ch / 16) + k / 16) * l.h + yy) * l.w + xx) * 16 + k % 16]);
  };
  auto weight = [&](int64_t o, int64_t i, int a_, int b_) { return double(ws[((o * l.in + i) * 3 + a_) * 3 + b_]); };
  auto inside = [&](int64_t yy, int64_t xx) { return yy >= 0 && yy < l.h && xx >= 0 && xx < l.w; };
  double worst = 0, largest = 0;
  auto compare = [&](double want, double got) {
    worst = std::max(worst, std::fabs(want - got));
    largest = std::max(largest, std::fabs(want));
  };
  if (pass == Pass::weight_gradient) {
    for (int64_t o = 0; o < l.out; o += 5)
      for (int64_t i = 0; i < l.in; i += 3)
        for (int a_ = 0; a_ < 3; ++a_)
          for (int b_ = 0; b_ < 3; ++b_) {
            double acc = 0;
            for (int64_t n = 0; n < batch; ++n)
              for (int64_t yy = 0; yy < l.h; ++yy)
                for (int64_t xx = 0; xx < l.w; ++xx)
                  if (inside(yy + a_ - 1, xx + b_ - 1))
                    acc += act(xs, l.in, n, i, yy + a_ - 1, xx + b_ - 1) * act(dys, l.out, n, o, yy, xx);
            compare(acc, c->get()[((o * l.in + i) * 3 + a_) * 3 + b_]);
          }
  } else {
    const bool forward = pass == Pass::forward;
    const int64_t outs = forward ? l.out : l.in, ins = forward ? l.in : l.out;
    for (int64_t n = 0; n < batch; n += std::max<int64_t>(1, batch / 3))
      for (int64_t o = 0; o < outs; o += 7)
        for (int64_t yy = 0; yy < l.h; ++yy)
          for (int64_t xx = 0; xx < l.w; ++xx) {
            double acc = 0;
            for (int64_t i = 0; i < ins; ++i)
              for (int a_ = 0; a_ < 3; ++a_)
                for (int b_ = 0; b_ < 3; ++b_)
                  if (forward && inside(yy + a_ - 1, xx + b_ - 1))
                    acc += act(xs, l.in, n, i, yy + a_ - 1, xx + b_ - 1) * weight(o, i, a_, b_);
                  else if (!forward && inside(yy - a_ + 1, xx - b_ + 1))
                    acc += act(dys, l.out, n, i, yy - a_ + 1, xx - b_ + 1) * weight(i, o, a_, b_);
            compare(acc, act(c->get(), outs, n, o, yy, xx));
          }
  }
  error = worst / largest;
  return {run, vaec::onednn::OwnWinograd::impl()};
}

bool parse_args(int argc, char **argv, int64_t &batch, int64_t &rounds, int64_t &reps, bool &cold) {
  for (int i = 1; i < argc; i += 2) {
    const std::string name = argv[i];
    if (name == "--cold") {
      cold = true;
      --i;
      continue;
    }
    int64_t *target = name == "--batch" ? &batch : name == "--rounds" ? &rounds : name == "--reps" ? &reps : nullptr;
    if (!target) {
      std::fprintf(stderr, "usage: conv_floor [--batch N] [--rounds N] [--reps N] [--cold]   (unknown argument '%s')\n",
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
  bool cold = false;
  if (!parse_args(argc, argv, batch, rounds, reps, cold)) return 2;
  constexpr size_t kFlushFloats = size_t{4} << 20;  // 16 MB per thread
  std::vector<std::vector<float>> flush(omp_get_max_threads(), std::vector<float>(cold ? kFlushFloats : 0));
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
        row.own = own_winograd(l, as, batch, row.own_error);
        rows.push_back(std::move(row));
      }
    auto time = [&](Run &r, std::vector<double> &out) {
      if (!r.run) return;
      double ms = 0;
      for (int64_t i = 0; i < reps; ++i) {
        if (cold) {
#pragma omp parallel
          {
            std::vector<float> &mine = flush[omp_get_thread_num()];
            for (size_t j = 0; j < mine.size(); j += 16) mine[j] += 1.0f;
          }
        }
        const auto start = std::chrono::steady_clock::now();
        r.run(stream);
        stream.wait();
        ms += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
      }
      out.push_back(ms / static_cast<double>(reps));
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

    std::printf("mnist_conv's convolutions at batch %lld on %d threads (ms, best of %lld rounds of %lld%s)\n",
                static_cast<long long>(batch), omp_get_max_threads(), static_cast<long long>(rounds),
                static_cast<long long>(reps), cold ? ", each after a write of 16 MB per thread" : "");
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
