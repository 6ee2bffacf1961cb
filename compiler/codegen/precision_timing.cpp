// f32 against bf16 timings (contract in precision_timing.h).
#include "codegen/precision_timing.h"

#include <omp.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <optional>
#include <functional>
#include <tuple>
#include <unordered_map>
#include <vector>

#include <dnnl.hpp>

#include "abi/bf16_rounding.h"
#include "abi/onednn_conv.h"
#include "abi/onednn_matmul.h"
#include "abi/own_winograd.h"
#include "abi/thin_product.h"

namespace vaec {

namespace {

using dt = dnnl::memory::data_type;

// The fastest seconds of each of `runs`, run in turns (after two turns that
// make their kernels) so that a busy moment hits all of them alike; the
// fastest run is what a kernel costs, as another process only adds time.
std::vector<double> fastest_seconds(const std::vector<std::function<void()>> &runs) {
  using Clock = std::chrono::steady_clock;
  for (int i = 0; i < 2; ++i)
    for (const auto &run : runs) run();
  std::vector<double> best(runs.size(), 1e30);
  const Clock::time_point start = Clock::now();
  for (int turn = 0; turn < 9 || (turn < 101 && Clock::now() - start < std::chrono::milliseconds(40)); ++turn)
    for (size_t i = 0; i < runs.size(); ++i) {
      const Clock::time_point t0 = Clock::now();
      runs[i]();
      best[i] = std::min(best[i], std::chrono::duration<double>(Clock::now() - t0).count());
    }
  return best;
}


// A primitive with its arguments, ready to run.
struct Runnable {
  dnnl::primitive primitive;
  std::unordered_map<int, dnnl::memory> args;
};

void run_once(dnnl::stream &stream, const Runnable &r) { r.primitive.execute(stream, r.args), stream.wait(); }

// A call that runs `r` on `stream` (both outlive the call).
std::function<void()> runner(dnnl::stream &stream, const Runnable &r) {
  return [&stream, p = &r] { run_once(stream, *p); };
}

// Zeroed memory on cache lines, as the trainer's arena places every tensor:
// some oneDNN kernels (Winograd's) load aligned vectors and fault elsewhere.
class Buffers {
 public:
  char *add(size_t bytes) {
    const size_t size = (bytes + 64 + 63) / 64 * 64;
    all_.emplace_back(static_cast<char *>(std::aligned_alloc(64, size)));
    if (!all_.back()) throw std::bad_alloc();
    std::memset(all_.back().get(), 0, size);
    return all_.back().get();
  }
  char *operator[](size_t i) const { return all_[i].get(); }

 private:
  struct Free {
    void operator()(char *p) const { std::free(p); }
  };
  std::vector<std::unique_ptr<char, Free>> all_;
};

// Convolution `c` on zeroed operands, bias and scratchpad taken from
// `memory` in that order (a, b, c first).
Runnable prepare_conv(const onednn::ConvPrimitive &c, const dnnl::engine &engine, Buffers &memory) {
  Runnable r{c.primitive, {}};
  for (int i = 0; i < 3; ++i) r.args[c.arg[i]] = dnnl::memory(c.desc[i], engine, memory.add(c.desc[i].get_size()));
  if (c.bias.get_size() > 0) r.args[DNNL_ARG_BIAS] = dnnl::memory(c.bias, engine, memory.add(c.bias.get_size()));
  if (c.scratchpad.get_size() > 0)
    r.args[DNNL_ARG_SCRATCHPAD] = dnnl::memory(c.scratchpad, engine, memory.add(c.scratchpad.get_size()));
  return r;
}

// Step `s` in vaec's own Winograd on zeroed operands from `memory`, ready to run.
struct OwnRun {
  std::unique_ptr<onednn::OwnWinograd> conv;
  std::array<dnnl::memory::desc, 3> desc;  // a, b, c in the step's layouts
  float *operand[4] = {};                  // a, b, c, bias
  char *scratch = nullptr;
  bool bias = false;

  OwnRun(const plan::Step &s, const dnnl::engine &engine, Buffers &memory)
      : conv(std::make_unique<onednn::OwnWinograd>(s, omp_get_max_threads())), bias(s.bias >= 0) {
    const std::vector<int64_t> *dims[3] = {&s.dims_a, &s.dims_b, &s.dims_c};
    const std::string *layouts[3] = {&s.layout_a, &s.layout_b, &s.layout_c};
    for (int i = 0; i < 3; ++i) {
      desc[i] = onednn::layout_desc(*dims[i], *layouts[i]);
      operand[i] = reinterpret_cast<float *>(memory.add(desc[i].get_size()));
    }
    operand[3] = reinterpret_cast<float *>(memory.add(s.dims_c[1] * sizeof(float)));
    scratch = memory.add(conv->scratch_bytes());
  }
  // A call that runs it on `stream` (both outlive the call).
  std::function<void()> runner() const {
    return [this] {
      conv->run(operand[0], operand[1], bias ? operand[3] : nullptr, operand[2], scratch);
    };
  }
};

}  // namespace

PrecisionTiming time_product(const dnnl::engine &engine, int64_t m, int64_t n, int64_t k, bool ta, bool tb, bool bias,
                    const std::string &post) {
  dnnl::stream stream(engine);
  std::vector<float> a(m * k, 0.5f), b(k * n, 0.25f), c(m * n), bias_v(n, 0.125f);
  std::vector<uint16_t> a16(m * k), b16(k * n);
  PrecisionTiming t;
  auto product = [&](dt type, void *pa, void *pb, std::string &impl) {
    const auto ad = onednn::matrix_desc(m, k, ta, type), bd = onednn::matrix_desc(k, n, tb, type),
               cd = onednn::matrix_desc(m, n, false), biasd = onednn::matrix_desc(1, n, false);
    const auto pd = onednn::matmul_pd(engine, ad, bd, cd, bias ? &biasd : nullptr, post, false);
    impl = pd.impl_info_str();
    Runnable r{dnnl::matmul(pd),
               {{DNNL_ARG_SRC, dnnl::memory(ad, engine, pa)},
                {DNNL_ARG_WEIGHTS, dnnl::memory(bd, engine, pb)},
                {DNNL_ARG_DST, dnnl::memory(cd, engine, c.data())}}};
    if (bias) r.args[DNNL_ARG_BIAS] = dnnl::memory(biasd, engine, bias_v.data());
    return r;
  };
  const Runnable f32 = product(dt::f32, a.data(), b.data(), t.f32_impl);
  try {
    const Runnable bf16 = product(dt::bf16, a16.data(), b16.data(), t.bf16_impl);
    if (t.bf16_impl.rfind("ref", 0) == 0) {  // never faster
      t.bf16_impl.clear();
      t.f32 = fastest_seconds({runner(stream, f32)})[0];
      return t;
    }
    // As the executor rounds a plan's bf16 copies: a chunk per thread.
    const int threads = omp_get_max_threads();
    auto round = [threads](const float *from, uint16_t *to, int64_t count) {
      return [=] {
#pragma omp parallel num_threads(threads)
        {
          const int64_t i = omp_get_thread_num(), per = (count + threads - 1) / threads;
          const int64_t begin = std::min(count, i * per), end = std::min(count, begin + per);
          rt::round_bf16(from + begin, to + begin, end - begin);
        }
      };
    };
    const std::vector<double> best = fastest_seconds({runner(stream, f32), runner(stream, bf16),
                                                      round(a.data(), a16.data(), m * k),
                                                      round(b.data(), b16.data(), k * n)});
    t.f32 = best[0], t.bf16 = best[1], t.rounding_a = best[2], t.rounding_b = best[3];
    t.rounding = t.rounding_a + t.rounding_b;
  } catch (const dnnl::error &) {
    t.bf16_impl.clear();  // oneDNN has no bf16 product of this kind here
    t.f32 = fastest_seconds({runner(stream, f32)})[0];
  }
  return t;
}

SwapTiming time_swap(const dnnl::engine &engine, const plan::Step &s, int64_t m, int64_t n, int64_t k, int threads,
                     int64_t min_macs) {
  using dims = dnnl::memory::dims;
  const bool by_rows = s.split == plan::Step::Rows;
  const int slices =
      s.split == plan::Step::Rows || s.split == plan::Step::Columns ? onednn::slice_count(by_rows ? m : n, threads) : 0;
  SwapTiming t;
  t.k = k;
  t.m = slices > 0 && by_rows ? onednn::slice_share(m, 0, slices).second : m;
  t.n = slices > 0 && !by_rows ? onednn::slice_share(n, 0, slices).second : n;
  // The executor's views (slice 0 starts at row and column 0): a [t.m, k] of
  // op(a), b [k, t.n] of op(b), c [t.m, t.n] of c; swapped, their transposes.
  const dims sa = s.ta ? dims{1, m} : dims{k, 1}, sb = s.tb ? dims{1, k} : dims{n, 1};
  const auto f32 = dnnl::memory::data_type::f32;
  const dnnl::memory::desc a(dims{t.m, k}, f32, sa), b(dims{k, t.n}, f32, sb), c(dims{t.m, t.n}, f32, dims{n, 1}),
      bias = onednn::matrix_desc(1, t.n, false), at(dims{k, t.m}, f32, dims{sa[1], sa[0]}),
      bt(dims{t.n, k}, f32, dims{sb[1], sb[0]}), ct = onednn::matrix_desc(t.n, t.m, false);
  const int before = omp_get_max_threads();
  omp_set_num_threads(slices > 0 ? 1 : threads);
  struct Restore {
    int threads;
    ~Restore() { omp_set_num_threads(threads); }
  } restore{before};
  const auto pd = onednn::matmul_pd(engine, a, b, c, s.bias >= 0 ? &bias : nullptr, s.post, false);
  const auto swapped_pd = onednn::matmul_pd(engine, bt, at, ct, nullptr, "", false);
  t.impl = pd.impl_info_str(), t.swapped_impl = swapped_pd.impl_info_str();
  if (t.impl == t.swapped_impl || t.m * t.n * k < min_macs) return t;
  std::vector<float> va(m * k, 0.5f), vb(k * n, 0.25f), vc(m * n), vbias(n, 0.125f), vct(t.m * t.n);
  dnnl::stream stream(engine);
  Runnable as_is{dnnl::matmul(pd),
                 {{DNNL_ARG_SRC, dnnl::memory(a, engine, va.data())},
                  {DNNL_ARG_WEIGHTS, dnnl::memory(b, engine, vb.data())},
                  {DNNL_ARG_DST, dnnl::memory(c, engine, vc.data())}}};
  if (s.bias >= 0) as_is.args[DNNL_ARG_BIAS] = dnnl::memory(bias, engine, vbias.data());
  const Runnable swapped{dnnl::matmul(swapped_pd),
                         {{DNNL_ARG_SRC, dnnl::memory(bt, engine, vb.data())},
                          {DNNL_ARG_WEIGHTS, dnnl::memory(at, engine, va.data())},
                          {DNNL_ARG_DST, dnnl::memory(ct, engine, vct.data())}}};
  const std::vector<double> best = fastest_seconds(
      {runner(stream, as_is), [&] {
         run_once(stream, swapped);
         onednn::unswap(vct.data(), t.m, t.n, 0, t.m, vc.data(), n, s.bias >= 0 ? vbias.data() : nullptr, s.post);
       }});
  t.as_is = best[0], t.swapped = best[1];
  return t;
}

ThinTiming time_thin(const dnnl::engine &engine, const plan::Step &s, int64_t m, int64_t n, int64_t k, int threads) {
  using dims = dnnl::memory::dims;
  const auto f32 = dnnl::memory::data_type::f32;
  const bool by_rows = s.split == plan::Step::Rows;
  ThinTiming t;
  t.slices = s.split == plan::Step::Rows || s.split == plan::Step::Columns
                 ? std::max(0, onednn::slice_count(by_rows ? m : n, threads))
                 : 0;
  std::vector<float> va(m * k), vb(k * n), vc(m * n), vbias(n, 0.125f);
  for (size_t i = 0; i < va.size(); ++i) va[i] = static_cast<float>(i % 7) * 0.25f - 0.75f;
  for (size_t i = 0; i < vb.size(); ++i) vb[i] = static_cast<float>(i % 5) * 0.25f - 0.5f;
  const int before = omp_get_max_threads();
  struct Restore {
    int threads;
    ~Restore() { omp_set_num_threads(threads); }
  } restore{before};
  // oneDNN as the executor makes its calls (split_matmul's views).
  std::vector<Runnable> calls;
  omp_set_num_threads(t.slices > 0 ? 1 : threads);
  for (int p = 0; p < std::max(1, t.slices); ++p) {
    const auto [x0, x1] = t.slices > 0 ? onednn::slice_share(by_rows ? m : n, p, t.slices)
                                       : std::pair<int64_t, int64_t>{0, by_rows ? m : n};
    const int64_t m0 = by_rows ? x0 : 0, rows = by_rows ? x1 - x0 : m;
    const int64_t n0 = by_rows ? 0 : x0, cols = by_rows ? n : x1 - x0;
    const dims sa = s.ta ? dims{1, m} : dims{k, 1}, sb = s.tb ? dims{1, k} : dims{n, 1};
    const dnnl::memory::desc a(dims{rows, k}, f32, sa), b(dims{k, cols}, f32, sb), c(dims{rows, cols}, f32, dims{n, 1}),
        bias = onednn::matrix_desc(1, cols, false);
    const auto pd = onednn::matmul_pd(engine, a, b, c, s.bias >= 0 ? &bias : nullptr, s.post, false);
    t.impl = pd.impl_info_str();
    Runnable r{dnnl::matmul(pd),
               {{DNNL_ARG_SRC, dnnl::memory(a, engine, va.data() + m0 * sa[0])},
                {DNNL_ARG_WEIGHTS, dnnl::memory(b, engine, vb.data() + n0 * sb[1])},
                {DNNL_ARG_DST, dnnl::memory(c, engine, vc.data() + m0 * n + n0)}}};
    if (s.bias >= 0) r.args[DNNL_ARG_BIAS] = dnnl::memory(bias, engine, vbias.data() + n0);
    calls.push_back(std::move(r));
  }
  omp_set_num_threads(before);
  const onednn::ThinProduct thin(m, n, k, s.ta, s.tb, s.bias >= 0, s.post);
  t.thin_impl = thin.impl();
  std::vector<float> scratch(thin.scratch_bytes() / 4 + 16), vthin(m * n);
  dnnl::stream stream(engine);
  const int slices = t.slices;
  const std::vector<double> best = fastest_seconds(
      {[&] {
         if (slices == 0) return run_once(stream, calls[0]);
#pragma omp parallel num_threads(slices)
         {
           dnnl::stream own(engine);
           for (int p = omp_get_thread_num(); p < slices; p += omp_get_num_threads()) {
             calls[p].primitive.execute(own, calls[p].args);
             own.wait();
           }
         }
       },
       [&] {
#pragma omp parallel num_threads(threads)
         thin.run_part(omp_get_thread_num(), omp_get_num_threads(), va.data(), vb.data(), vbias.data(), vthin.data(),
                       scratch.data());
#pragma omp parallel num_threads(threads)
         thin.finish(omp_get_thread_num(), omp_get_num_threads(), vbias.data(), vthin.data(), scratch.data());
       }});
  t.onednn = best[0], t.thin = best[1];
  return t;
}

PrecisionTiming time_conv(const dnnl::engine &engine, const plan::Step &f32_step, const plan::Step &bf16_step,
                          const std::string &reorder_c_to) {
  const bool reorder_c = !reorder_c_to.empty();
  dnnl::stream stream(engine);
  PrecisionTiming t;
  plan::Step f32_only = f32_step;
  f32_only.bf16 = false;
  Buffers f32_memory, bf16_memory, c_memory;
  // The f32 side as the plan has it: oneDNN's kernel, or vaec's own Winograd.
  std::optional<OwnRun> own;
  Runnable f32;
  if (f32_only.own_winograd) {
    own.emplace(f32_only, engine, f32_memory);
    t.f32_impl = onednn::OwnWinograd::impl();
  } else {
    const onednn::ConvPrimitive f32_conv = onednn::conv_primitive(f32_only, engine);
    t.f32_impl = f32_conv.impl;
    f32 = prepare_conv(f32_conv, engine, f32_memory);
  }
  const std::function<void()> f32_run = own ? own->runner() : runner(stream, f32);
  try {
    plan::Step in_bf16 = bf16_step;
    in_bf16.bf16 = true;
    in_bf16.winograd = in_bf16.own_winograd = false;
    const onednn::ConvPrimitive bf16_conv = onednn::conv_primitive(in_bf16, engine);
    t.bf16_impl = bf16_conv.impl;
    if (t.bf16_impl.rfind("ref", 0) == 0) {
      t.bf16_impl.clear();
      t.f32 = fastest_seconds({f32_run})[0];
      return t;
    }
    const Runnable bf16 = prepare_conv(bf16_conv, engine, bf16_memory);
    std::vector<Runnable> extra;  // rounding a and b, then reordering c
    for (int i = 0; i < 2; ++i) {
      dnnl::memory from(bf16_conv.f32_inputs[i], engine, c_memory.add(bf16_conv.f32_inputs[i].get_size())),
          to(bf16_conv.desc[i], engine, bf16_memory[i]);
      extra.push_back({dnnl::reorder(from, to), {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}}});
    }
    if (reorder_c) {
      const bool tw = onednn::is_transpose_weights(in_bf16.conv, 2);
      const dnnl::memory::desc target = onednn::layout_desc(in_bf16.dims_c, reorder_c_to, tw);
      dnnl::memory from(bf16_conv.desc[2], engine, bf16_memory[2]), to(target, engine, c_memory.add(target.get_size()));
      extra.push_back({dnnl::reorder(from, to), {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}}});
    }
    std::vector<std::function<void()>> runs = {f32_run, runner(stream, bf16),
                                               [&] { run_once(stream, extra[0]), run_once(stream, extra[1]); }};
    if (reorder_c) runs.push_back(runner(stream, extra[2]));
    const std::vector<double> best = fastest_seconds(runs);
    t.f32 = best[0], t.bf16 = best[1], t.rounding = best[2], t.reorder_c = reorder_c ? best[3] : 0;
    t.reorder_c_to = reorder_c_to;
  } catch (const dnnl::error &) {
    t.bf16_impl.clear();  // oneDNN has no bf16 kernel for it here
    t.f32 = fastest_seconds({f32_run})[0];
  }
  return t;
}

namespace {

// Reorders of the operands `from` has in other layouts than `to`: a and b
// from `from`'s layouts to `to`'s, c back.
std::vector<Runnable> operand_reorders(const std::array<dnnl::memory::desc, 3> &from,
                                       const std::array<dnnl::memory::desc, 3> &to, const dnnl::engine &engine,
                                       Buffers &memory) {
  std::vector<Runnable> reorders;
  for (int i = 0; i < 3; ++i) {
    if (from[i] == to[i]) continue;
    const dnnl::memory::desc &src = i < 2 ? from[i] : to[i], &dst = i < 2 ? to[i] : from[i];
    dnnl::memory f(src, engine, memory.add(src.get_size())), g(dst, engine, memory.add(dst.get_size()));
    reorders.push_back({dnnl::reorder(f, g), {{DNNL_ARG_FROM, f}, {DNNL_ARG_TO, g}}});
  }
  return reorders;
}

std::function<void()> run_all(dnnl::stream &stream, const std::vector<Runnable> &rs) {
  return [&stream, &rs] {
    for (const Runnable &r : rs) run_once(stream, r);
  };
}

}  // namespace

AlgorithmTiming time_conv_algorithms(const dnnl::engine &engine, const plan::Step &direct_step,
                                     const plan::Step *winograd_step, const plan::Step *own_step, bool beside) {
  dnnl::stream stream(engine);
  AlgorithmTiming t;
  Buffers memory;
  const onednn::ConvPrimitive direct_conv = onednn::conv_primitive(direct_step, engine);
  t.direct_impl = direct_conv.impl;
  const Runnable direct = prepare_conv(direct_conv, engine, memory);
  std::vector<std::function<void()>> runs = {runner(stream, direct)};
  int winograd_at = -1, winograd_reorders_at = -1, own_at = -1, own_reorders_at = -1;
  Runnable winograd;
  std::vector<Runnable> winograd_reorders, own_reorders;
  if (winograd_step) {
    const onednn::ConvPrimitive winograd_conv = onednn::conv_primitive(*winograd_step, engine);
    t.winograd_impl = winograd_conv.impl;
    winograd = prepare_conv(winograd_conv, engine, memory);
    winograd_reorders = operand_reorders(direct_conv.desc, winograd_conv.desc, engine, memory);
    winograd_at = static_cast<int>(runs.size());
    runs.push_back(runner(stream, winograd));
    if (!winograd_reorders.empty()) {
      winograd_reorders_at = static_cast<int>(runs.size());
      runs.push_back(run_all(stream, winograd_reorders));
    }
  }
  std::optional<OwnRun> own;
  if (own_step) {
    own.emplace(*own_step, engine, memory);
    own_reorders = operand_reorders(direct_conv.desc, own->desc, engine, memory);
    own_at = static_cast<int>(runs.size());
    runs.push_back(own->runner());
    if (!own_reorders.empty()) {
      own_reorders_at = static_cast<int>(runs.size());
      runs.push_back(run_all(stream, own_reorders));
    }
  }
  // The layer's input gradient (dy [N,K,H,W] and w [K,C,3,3] to dx) in
  // vaec's own kernel, alone and side by side with this one.
  std::optional<OwnRun> partner;
  int partner_at = -1, pair_at = -1;
  if (beside && own && own_step->conv == "conv2d_bwd_weights") {
    plan::Step data = *own_step;
    data.conv = "conv2d_bwd_data";
    data.dims_a = own_step->dims_b, data.dims_b = own_step->dims_c, data.dims_c = own_step->dims_a;
    const std::array<std::string, 3> layouts = onednn::own_winograd_layouts(data);
    data.layout_a = layouts[0], data.layout_b = layouts[1], data.layout_c = layouts[2];
    if (onednn::own_winograd_unsupported(data).empty()) {
      partner.emplace(data, engine, memory);
      partner_at = static_cast<int>(runs.size());
      runs.push_back(partner->runner());
      pair_at = static_cast<int>(runs.size());
      runs.push_back([&] {
#pragma omp parallel num_threads(2)
        {
          omp_set_num_threads(1);
          (omp_get_thread_num() == 0 ? partner->runner() : own->runner())();
        }
      });
    }
  }
  const std::vector<double> best = fastest_seconds(runs);
  t.direct = best[0];
  if (pair_at >= 0) t.own_beside = std::max(best[pair_at] - best[partner_at], 1e-6);
  if (winograd_at >= 0) t.winograd = best[winograd_at];
  if (winograd_reorders_at >= 0) t.reorders = best[winograd_reorders_at];
  if (own_at >= 0) t.own = best[own_at];
  if (own_reorders_at >= 0) t.own_reorders = best[own_reorders_at];
  return t;
}

namespace {

std::string ms(double seconds) {
  char text[32];
  std::snprintf(text, sizeof text, "%.3f ms", seconds * 1e3);
  return text;
}

}  // namespace

std::string ThinTiming::note() const {
  return thin_impl + " " + ms(thin) + "; oneDNN " + impl + " " + ms(onednn) +
         (slices > 0 ? " (" + std::to_string(slices) + " slices, one per thread)" : "");
}

std::string PrecisionTiming::note(bool bf16_chosen, bool a_shared, bool b_shared) const {
  if (f32 <= 0) return "f32 " + f32_impl;
  std::string text = std::string(bf16_chosen ? "bf16" : "f32") + " (f32 " + f32_impl + " " + ms(f32);
  if (bf16_impl.empty()) return text + "; oneDNN has no fast bf16 kernel for it here)";
  text += "; bf16 " + bf16_impl + " " + ms(bf16);
  if (a_shared && b_shared) text += ", a and b rounded for earlier products";
  else if (a_shared) text += " + " + ms(rounding_b) + " rounding b (a rounded for an earlier product)";
  else if (b_shared) text += " + " + ms(rounding_a) + " rounding a (b rounded for an earlier product)";
  else text += " + " + ms(rounding) + " rounding a and b";
  if (!reorder_c_to.empty()) text += " + " + ms(reorder_c) + " reordering c to " + onednn::layout_name(reorder_c_to);
  return text + ")";
}

std::string SwapTiming::note() const {
  const std::string call = "[" + std::to_string(m) + "," + std::to_string(k) + "]x[" + std::to_string(k) + "," +
                           std::to_string(n) + "]";
  return "as oneDNN runs its call " + call + " on " + impl + " in " + ms(as_is) + " and swapped on " + swapped_impl +
         " in " + ms(swapped) + " (transposition included)";
}

AlgorithmTiming::Choice AlgorithmTiming::choice() const {
  Choice chosen = Direct;
  double fastest = 0.9 * direct;  // another algorithm must be 10 % faster
  if (!winograd_impl.empty() && winograd + reorders < fastest) chosen = Winograd, fastest = winograd + reorders;
  const double own_time = own_beside > 0 ? std::min(own, own_beside) : own;
  if (own > 0 && own_time + own_reorders < fastest) chosen = Own;
  return chosen;
}

std::string AlgorithmTiming::note(Choice chosen) const {
  if (winograd_impl.empty() && own <= 0) return "f32 direct " + direct_impl;
  std::string text = std::string("f32 ") +
                     (chosen == Own ? "own-winograd" : chosen == Winograd ? "winograd" : "direct") + " (direct " +
                     direct_impl + " " + ms(direct);
  if (!winograd_impl.empty()) {
    text += "; winograd " + winograd_impl + " " + ms(winograd);
    if (reorders > 0) text += " + " + ms(reorders) + " reordering operands to its layouts";
  }
  if (own > 0) {
    text += std::string("; own-winograd ") + onednn::OwnWinograd::impl() + " " + ms(own);
    if (own_beside > 0) text += " (+" + ms(own_beside) + " beside its input gradient)";
    if (own_reorders > 0) text += " + " + ms(own_reorders) + " reordering operands to its layouts";
  }
  return text + ")";
}

}  // namespace vaec
