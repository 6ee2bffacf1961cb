// Products in bfloat16 where oneDNN is faster so (contract in choose_precision.h).
#include "codegen/choose_precision.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <map>
#include <tuple>
#include <stdexcept>
#include <unordered_map>
#include <vector>

#include <dnnl.hpp>

#include "abi/bf16_rounding.h"
#include "abi/onednn_conv.h"

namespace vaec {

namespace {

using dt = dnnl::memory::data_type;

dnnl::memory::desc matrix(int64_t rows, int64_t cols, bool transposed, dt type) {
  using dims = dnnl::memory::dims;
  return dnnl::memory::desc(dims{rows, cols}, type, transposed ? dims{1, rows} : dims{cols, 1});
}

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

struct Timing {
  std::string f32_impl, bf16_impl;  // bf16_impl empty: oneDNN has none
  double f32 = 0, bf16 = 0, rounding = 0;  // seconds
  bool faster() const { return !bf16_impl.empty() && bf16 + rounding < 0.9 * f32; }
};

// A primitive with its arguments, ready to run.
struct Runnable {
  dnnl::primitive primitive;
  std::unordered_map<int, dnnl::memory> args;
};

Timing time_product(const dnnl::engine &engine, int64_t m, int64_t n, int64_t k, bool ta, bool tb, bool bias,
                    const std::string &post) {
  dnnl::stream stream(engine);
  std::vector<float> a(m * k, 0.5f), b(k * n, 0.25f), c(m * n), bias_v(n, 0.125f);
  std::vector<uint16_t> a16(m * k), b16(k * n);
  dnnl::primitive_attr attr;
  if (!post.empty()) {
    dnnl::post_ops ops;
    ops.append_eltwise(1.0f, post == "relu" ? dnnl::algorithm::eltwise_relu : dnnl::algorithm::eltwise_logistic, 0.f, 0.f);
    attr.set_post_ops(ops);
  }
  Timing t;
  auto product = [&](dt type, void *pa, void *pb, std::string &impl) {
    const auto ad = matrix(m, k, ta, type), bd = matrix(k, n, tb, type), cd = matrix(m, n, false, dt::f32),
               biasd = matrix(1, n, false, dt::f32);
    dnnl::matmul::primitive_desc pd(bias ? dnnl::matmul::desc(ad, bd, biasd, cd) : dnnl::matmul::desc(ad, bd, cd),
                                    attr, engine);
    impl = pd.impl_info_str();
    Runnable r{dnnl::matmul(pd),
               {{DNNL_ARG_SRC, dnnl::memory(ad, engine, pa)},
                {DNNL_ARG_WEIGHTS, dnnl::memory(bd, engine, pb)},
                {DNNL_ARG_DST, dnnl::memory(cd, engine, c.data())}}};
    if (bias) r.args[DNNL_ARG_BIAS] = dnnl::memory(biasd, engine, bias_v.data());
    return r;
  };
  const Runnable f32 = product(dt::f32, a.data(), b.data(), t.f32_impl);
  auto run = [&stream](const Runnable &r) {
    return [&stream, p = &r] { p->primitive.execute(stream, p->args), stream.wait(); };
  };
  try {
    const Runnable bf16 = product(dt::bf16, a16.data(), b16.data(), t.bf16_impl);
    if (t.bf16_impl.rfind("ref", 0) == 0) {  // never faster
      t.bf16_impl.clear();
      t.f32 = fastest_seconds({run(f32)})[0];
      return t;
    }
    // As the executor rounds a plan's bf16 copies: a chunk per thread.
    const int threads = omp_get_max_threads();
    auto round = [&] {
      for (auto [from, to, count] : {std::tuple{a.data(), a16.data(), m * k}, std::tuple{b.data(), b16.data(), k * n}}) {
#pragma omp parallel num_threads(threads)
        {
          const int64_t i = omp_get_thread_num(), per = (count + threads - 1) / threads;
          const int64_t begin = std::min(count, i * per), end = std::min(count, begin + per);
          rt::round_bf16(from + begin, to + begin, end - begin);
        }
      }
    };
    const std::vector<double> best = fastest_seconds({run(f32), run(bf16), round});
    t.f32 = best[0], t.bf16 = best[1], t.rounding = best[2];
  } catch (const dnnl::error &) {
    t.bf16_impl.clear();  // oneDNN has no bf16 product of this kind here
    t.f32 = fastest_seconds({run(f32)})[0];
  }
  return t;
}

// A Conv step as it is (f32) and in bf16, with the rounding of a and b from
// the step's layouts into those oneDNN wants.
Timing time_conv(const dnnl::engine &engine, plan::Step s) {
  dnnl::stream stream(engine);
  Timing t;
  auto prepare = [&](const onednn::ConvPrimitive &c, std::vector<std::vector<char>> &memory) {
    Runnable r{c.primitive, {}};
    for (int i = 0; i < 3; ++i) {
      memory.emplace_back(c.desc[i].get_size() + 64, 0);
      r.args[c.arg[i]] = dnnl::memory(c.desc[i], engine, memory.back().data());
    }
    if (c.bias.get_size() > 0) {
      memory.emplace_back(c.bias.get_size(), 0);
      r.args[DNNL_ARG_BIAS] = dnnl::memory(c.bias, engine, memory.back().data());
    }
    if (c.scratchpad.get_size() > 0) {
      memory.emplace_back(c.scratchpad.get_size(), 0);
      r.args[DNNL_ARG_SCRATCHPAD] = dnnl::memory(c.scratchpad, engine, memory.back().data());
    }
    return r;
  };
  auto run = [&stream](const Runnable &r) {
    return [&stream, p = &r] { p->primitive.execute(stream, p->args), stream.wait(); };
  };
  s.bf16 = false;
  std::vector<std::vector<char>> f32_memory, bf16_memory;
  const onednn::ConvPrimitive f32_conv = onednn::conv_primitive(s, engine);
  t.f32_impl = f32_conv.impl;
  const Runnable f32 = prepare(f32_conv, f32_memory);
  try {
    s.bf16 = true;
    const onednn::ConvPrimitive bf16_conv = onednn::conv_primitive(s, engine);
    t.bf16_impl = bf16_conv.impl;
    if (t.bf16_impl.rfind("ref", 0) == 0) {
      t.bf16_impl.clear();
      t.f32 = fastest_seconds({run(f32)})[0];
      return t;
    }
    const Runnable bf16 = prepare(bf16_conv, bf16_memory);
    std::vector<Runnable> rounding;
    for (int i = 0; i < 2; ++i) {
      dnnl::memory from(bf16_conv.f32_inputs[i], engine, f32_memory[i].data()),
          to(bf16_conv.desc[i], engine, bf16_memory[i].data());
      rounding.push_back({dnnl::reorder(from, to), {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}}});
    }
    const std::vector<double> best =
        fastest_seconds({run(f32), run(bf16), [&] { run(rounding[0])(), run(rounding[1])(); }});
    t.f32 = best[0], t.bf16 = best[1], t.rounding = best[2];
  } catch (const dnnl::error &) {
    t.bf16_impl.clear();
    t.f32 = fastest_seconds({run(f32)})[0];
  }
  return t;
}

std::string ms(double seconds) {
  char text[32];
  std::snprintf(text, sizeof text, "%.3f ms", seconds * 1e3);
  return text;
}

std::string note_text(const Timing &t, bool bf16) {
  if (t.f32 <= 0) return "f32 " + t.f32_impl;
  std::string note = std::string(bf16 ? "bf16" : "f32") + " (f32 " + t.f32_impl + " " + ms(t.f32);
  return note + (t.bf16_impl.empty() ? "; oneDNN has no fast bf16 kernel for it here)"
                                     : "; bf16 " + t.bf16_impl + " " + ms(t.bf16) + " + " + ms(t.rounding) +
                                           " rounding a and b)");
}

// Timings by step text (a conv's fields at the compiled batch, a product's
// extents and options): the programs share most of their steps.
using Timings = std::map<std::string, Timing>;

template <typename F>
const Timing &timed(Timings &timings, const std::string &key, F &&time) {
  auto it = timings.find(key);
  if (it == timings.end()) {
    Timing t;
    try {
      t = time();
    } catch (const std::exception &e) {  // the f32 step as the plan has it: the trainer makes it, or says why
      t.f32_impl = std::string("(not timed: ") + e.what() + ")";
    }
    it = timings.emplace(key, t).first;
  }
  return it->second;
}

void choose_conv(plan::Plan &plan, plan::Program &prog, size_t i, const dnnl::engine &engine, Timings &timings) {
  plan::Step &s = prog.steps[i];
  std::string dims;
  for (const auto *d : {&s.dims_a, &s.dims_b}) {
    dims += dims.empty() ? "[" : " and [";
    for (size_t j = 0; j < d->size(); ++j) dims += (j ? "," : "") + std::to_string(plan::extent((*d)[j], prog.batch));
    dims += "]";
  }
  plan::Step at_batch = s;
  for (auto *d : {&at_batch.dims_a, &at_batch.dims_b, &at_batch.dims_c})
    for (int64_t &x : *d) x = plan::extent(x, prog.batch);
  std::string key = at_batch.conv + (at_batch.bias >= 0 ? " bias " : " - ") + at_batch.post;
  for (const auto *v : {&at_batch.dims_a, &at_batch.dims_b, &at_batch.dims_c, &at_batch.stride, &at_batch.pad}) {
    key += " ";
    for (int64_t x : *v) key += std::to_string(x) + ",";
  }
  key += " " + at_batch.layout_a + " " + at_batch.layout_b + " " + at_batch.layout_c;
  const Timing &t = timed(timings, key, [&] { return time_conv(engine, at_batch); });
  s.bf16 = t.faster();
  plan.notes.push_back(prog.name + " step " + std::to_string(i) + " " + s.conv + " " + dims + ": " + note_text(t, s.bf16) +
                       (s.where.empty() ? "" : " at " + s.where));
}

}  // namespace

void choose_precision(plan::Plan &plan, const CodegenOptions &options) {
  constexpr int64_t kMinProduct = int64_t{1} << 22;  // multiply-adds
  std::string want = options.precision;
  if (want.empty()) want = plan.config.count("precision") ? plan.config["precision"] : "f32";
  plan.config["precision"] = want;
  if (want != "bf16") return;
  const dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  const int threads_before = omp_get_max_threads();
  omp_set_num_threads(options.threads);
  Timings timings;
  for (plan::Program *prog : plan.programs()) {
    if (!prog->present()) continue;
    for (size_t i = 0; i < prog->steps.size(); ++i) {
      plan::Step &s = prog->steps[i];
      if (s.kind == plan::Step::Conv) {
        choose_conv(plan, *prog, i, engine, timings);
        continue;
      }
      if (s.kind != plan::Step::Matmul) continue;
      const int64_t m = plan::extent(s.m, prog->batch), n = plan::extent(s.n, prog->batch),
                    k = plan::extent(s.k, prog->batch);
      const std::string at = prog->name + " step " + std::to_string(i) + " [" + std::to_string(m) + "," +
                             std::to_string(k) + "]x[" + std::to_string(k) + "," + std::to_string(n) + "]: ";
      const std::string where = s.where.empty() ? "" : " at " + s.where;
      if (m * n * k < kMinProduct) {
        plan.notes.push_back(at + "f32 (under 2^22 multiply-adds: bf16 saves no step time)" + where);
        continue;
      }
      const std::string key = "matmul " + std::to_string(m) + " " + std::to_string(n) + " " + std::to_string(k) + " " +
                              std::to_string(s.ta) + std::to_string(s.tb) + (s.bias >= 0 ? " bias " : " - ") + s.post;
      const Timing &t = timed(timings, key, [&] { return time_product(engine, m, n, k, s.ta, s.tb, s.bias >= 0, s.post); });
      s.bf16 = t.faster();
      plan.notes.push_back(at + note_text(t, s.bf16) + where);
    }
  }
  omp_set_num_threads(threads_before);
}

void renumber_step_notes(plan::Plan &plan, const std::string &program, const std::vector<int> &new_index) {
  const std::string prefix = program + " step ";
  for (std::string &note : plan.notes) {
    if (note.rfind(prefix, 0) != 0) continue;
    const size_t end = note.find(' ', prefix.size());
    if (end == std::string::npos) continue;
    std::vector<int64_t> old;
    if (!plan::parse_int_list(note.substr(prefix.size(), end - prefix.size()), ',', old) || old.size() != 1 ||
        old[0] < 0 || old[0] >= static_cast<int64_t>(new_index.size()) || new_index[old[0]] < 0)
      continue;
    note = prefix + std::to_string(new_index[old[0]]) + note.substr(end);
  }
}

}  // namespace vaec
