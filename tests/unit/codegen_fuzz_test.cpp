// Differential fuzzing of code generation: random small training graphs
// (random mixes of every elementwise op, broadcasts, reductions over random
// axes, dense layers, noise; every third graph works on images, with
// convolutions and transposed convolutions of random channel counts (some
// multiples of 16, so blocked layouts and kernels over them), kernels,
// strides and paddings) are compiled — fusion, memory plan, LLVM kernels,
// oneDNN matmuls, the runtime executor — and one training step is compared
// with the f64 interpreter; and with every product in bf16, the shared
// rounded copies (share_rounding, kernels that store them) against products
// that round their own operands. A fixed seed list keeps the suite's budget
// small; VAEC_FUZZ_GRAPHS=N runs more.
#include <gtest/gtest.h>

#include <cmath>
#include <initializer_list>
#include <cstdlib>
#include <iostream>
#include <random>
#include <vector>

#include "codegen/jit.h"
#include "codegen/pipeline.h"
#include "codegen/plan_memory.h"
#include "codegen/share_rounding.h"
#include "exec/executor.h"
#include "interp/interpreter.h"
#include "ir/batch_axes.h"
#include "ir/builder.h"
#include "ir/printer.h"
#include "ir/verifier.h"
#include "passes/pipeline.h"
#include "codegen_util.h"

using namespace vaec;

namespace {

class RandomGraph {
public:
  explicit RandomGraph(uint64_t seed) : rng_(seed), b_(g_), seed_(seed) {}

  Graph build() {
    g_.name = "fuzz";
    int64_t batch = pick(1, 6), features = pick(1, 9);
    images_ = seed_ % 3 == 0;
    g_.config = {{"batch", batch},         {"data", std::string("mnist")}, {"epochs", int64_t{1}},
                 {"optimizer", std::string("adam")}, {"lr", 1e-3}, {"beta1", 0.9},
                 {"beta2", 0.999},         {"eps", 1e-8},                  {"seed", int64_t{1}}};
    b_.loc = Loc{"fuzz.yaml", 1, 1};
    b_.section = "inputs";
    const int64_t channels[] = {1, 3, 16};
    Dims xd = images_ ? Dims{batch, channels[pick(0, 2)], pick(3, 8), pick(3, 8)} : Dims{batch, features};
    pool_.push_back(b_.emit(Op::Input, {}, {}, &xd, "x"));
    b_.section = "encoder";
    if (images_) {  // per-channel and per-pixel parameters, broadcast over the rest
      pool_.push_back(param({1, xd[1], 1, 1}));
      pool_.push_back(param({xd[2], xd[3]}));
    } else {
      for (int i = 0, n = static_cast<int>(pick(1, 3)); i < n; ++i) pool_.push_back(param({features}));
      pool_.push_back(param({batch == 1 ? 1 : batch, features}));
    }
    // The data always reaches the loss (code generation needs the input).
    int anchor = b_.mul(pool_[0], pool_[1]);
    pool_.push_back(anchor);
    int steps = static_cast<int>(pick(4, 14));
    for (int s = 0; s < steps; ++s) pool_.push_back(random_op());
    // The loss: every value of the pool that depends on a parameter, reduced.
    b_.section = "losses";
    int total = reduce_all(anchor, Op::Sum);
    for (int v : pool_) {
      if (v == anchor || !depends_on_param(v) || (pick(0, 2) == 0 && v != pool_.back())) continue;
      int r = reduce_all(v, pick(0, 1) == 0 ? Op::Sum : Op::Mean);
      total = b_.add(total, r);
    }
    g_.outputs.emplace_back("total", total);
    return g_;
  }

private:
  int64_t pick(int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng_); }
  int any() { return pool_[pick(0, static_cast<int64_t>(pool_.size()) - 1)]; }
  const Dims &dims(int v) const { return g_.nodes[v].dims; }
  int param(const Dims &d) {
    return b_.emit(Op::Param, {}, {{"init", std::string("uniform")}, {"bound", 0.7}}, &d,
                   "p" + std::to_string(params_++));
  }
  bool depends_on_param(int v) const {
    const Node &n = g_.nodes[v];
    if (n.op == Op::Param) return true;
    for (int o : n.operands)
      if (depends_on_param(o)) return true;
    return false;
  }
  int reduce_all(int v, Op op) {
    std::vector<int64_t> axes;
    for (size_t k = 0; k < dims(v).size(); ++k) axes.push_back(static_cast<int64_t>(k));
    return axes.empty() ? v : b_.emit(op, {v}, {{"axes", axes}});
  }
  // Keeps values in ranges where every op is defined and well conditioned.
  int squash(int v) { return b_.unary(Op::Tanh, v); }
  int positive(int v) { return b_.add(b_.unary(Op::Sigmoid, v), b_.constant(0.5)); }
  int probability(int v) { return b_.add(b_.mul(b_.unary(Op::Sigmoid, v), b_.constant(0.8)), b_.constant(0.1)); }

  // A second operand broadcastable against `a`.
  // A per-example value broadcasts only along its other axes: at batch 1 an
  // f32[1] would type-check against f32[1, 6] (or f32[6]) at this batch only.
  int partner(int a) {
    std::vector<int> same, fits;
    std::string why;
    const std::vector<bool> batched = batched_values(g_, why);
    for (int v : pool_) {
      if (dims(v) == dims(a)) same.push_back(v);
      ShapeResult r = broadcast_shapes(dims(a), dims(v));
      const bool per_example = v < static_cast<int>(batched.size()) && batched[v];
      if (per_example && (dims(v).size() != dims(a).size() || (!dims(a).empty() && dims(v)[0] != dims(a)[0]))) continue;
      if (r.error.empty() && r.dims == dims(a)) fits.push_back(v);
    }
    if (!fits.empty() && pick(0, 2) == 0) return fits[pick(0, static_cast<int64_t>(fits.size()) - 1)];
    if (pick(0, 4) == 0) return b_.constant(std::uniform_real_distribution<double>(-2, 2)(rng_));
    return same[pick(0, static_cast<int64_t>(same.size()) - 1)];
  }

  int random_op() {
    int a = any();
    if (images_ && dims(a).size() == 4 && pick(0, 3) == 0) return convolution(a);
    switch (pick(0, 17)) {
    case 0: return b_.unary(Op::Exp, squash(a));
    case 1: return b_.unary(Op::Log, positive(a));
    case 2: return b_.unary(Op::Sqrt, positive(a));
    case 3: return b_.unary(Op::Sigmoid, a);
    case 4: return b_.unary(Op::Relu, a);
    case 5: return b_.unary(Op::Tanh, a);
    case 6: return b_.unary(Op::Softplus, a);
    case 7: return b_.neg(a);
    case 8: return b_.add(a, partner(a));
    case 9: return b_.sub(a, partner(a));
    case 10: return b_.mul(a, partner(a));
    case 11: return b_.div(a, positive(partner(a)));
    case 12: return b_.binary(Op::Pow, positive(a), squash(partner(a)));
    case 13: return b_.binary(Op::Bce, probability(a), probability(partner(a)));
    case 14:
      switch (pick(0, 6)) {  // the piecewise-linear ops, dropout's mask, train_value and bce_logits share a case
      case 0: return b_.unary(Op::Abs, a);
      case 5: return b_.binary(Op::TrainValue, a, partner(a));
      case 4: return b_.binary(Op::DropoutMask, a, partner(a));
      case 1: return b_.binary(Op::Maximum, a, partner(a));
      case 2: return b_.binary(Op::Minimum, a, partner(a));
      case 3: return b_.binary(Op::LeakyRelu, a, b_.constant(0.2));
      default: return b_.binary(Op::BceLogits, a, probability(partner(a)));
      }
    case 15: {  // a reduction over random axes, then broadcast back by an op
      if (dims(a).empty()) return b_.unary(Op::Tanh, a);
      std::vector<int64_t> axes;
      for (size_t k = 0; k < dims(a).size(); ++k)
        if (pick(0, 1)) axes.push_back(static_cast<int64_t>(k));
      if (axes.empty()) axes.push_back(0);
      const Op reductions[] = {Op::Sum, Op::Mean, Op::Max, Op::Min};
      int r = b_.emit(reductions[pick(0, 3)], {a}, {{"axes", axes}});
      return dims(r).empty() ? b_.mul(a, r) : r;
    }
    case 16: return window(a);
    default: {  // dense layer on a [batch, features] value, a convolution on images, or noise
      if (dims(a).size() == 4) return convolution(a);
      if (dims(a).size() != 2) return b_.emit(Op::Normal, {}, {}, &dims(pool_.front()));
      int64_t units = pick(1, 7);
      int w = param({units, dims(a)[1]}), bias = param({units});
      return b_.emit(Op::Dense, {a, w, bias});
    }
    }
  }

  // slice or pad of `a` along a random non-batch axis, or the two halves of
  // `a` swapped along it (concat of slices: a pad of each plus their sum).
  int window(int a) {
    const Dims d = dims(a);
    std::vector<int64_t> axes;
    for (size_t k = 1; k < d.size(); ++k)
      if (d[k] >= 2) axes.push_back(static_cast<int64_t>(k));
    if (axes.empty()) return b_.unary(Op::Tanh, a);
    const int64_t axis = axes[pick(0, static_cast<int64_t>(axes.size()) - 1)], n = d[axis];
    auto slice = [&](int v, int64_t start, int64_t len) {
      Dims to = dims(v);
      to[axis] = len;
      return b_.emit(Op::Slice, {v}, {{"axis", axis}, {"start", start}}, &to);
    };
    auto pad = [&](int v, int64_t before, int64_t extent) {
      Dims to = dims(v);
      to[axis] = extent;
      return b_.emit(Op::Pad, {v}, {{"axis", axis}, {"before", before}}, &to);
    };
    switch (pick(0, 2)) {
    case 0: {
      const int64_t len = pick(1, n - 1);
      return slice(a, pick(0, n - len), len);
    }
    case 1: return pad(a, pick(0, 2), n + pick(2, 4));
    default: {
      const int64_t cut = pick(1, n - 1);  // [a[cut:], a[:cut]]
      return b_.add(pad(slice(a, cut, n - cut), 0, n), pad(slice(a, 0, cut), n - cut, n));
    }
    }
  }

  // conv2d or conv2d_transpose of `a` [N, C, H, W] with a random kernel,
  // stride, padding (negative end pads for transposed ones) and channel count.
  int convolution(int a) {
    const Dims d = dims(a);
    const int64_t outs[] = {1, 5, 16, 32};
    const int64_t out = outs[pick(0, 3)], kh = pick(1, 3), kw = pick(1, 3), sh = pick(1, 2), sw = pick(1, 2);
    const bool transpose = pick(0, 2) == 0;
    std::vector<int64_t> pad(4);
    for (int i = 0; i < 2; ++i) {
      const int64_t k = i == 0 ? kh : kw, s = i == 0 ? sh : sw, in = d[2 + i];
      pad[i] = pick(0, k - 1);
      pad[2 + i] = transpose ? pick(1 - s, k - 1) : pick(0, k - 1);
      if (!transpose && in + pad[i] + pad[2 + i] < k) pad[2 + i] = k - in - pad[i];
      if (transpose && (in - 1) * s + k - pad[i] - pad[2 + i] < 1) pad[i] = pad[2 + i] = 0;
    }
    Dims wd = transpose ? Dims{d[1], out, kh, kw} : Dims{out, d[1], kh, kw};
    int w = param(wd), bias = param({out});
    return b_.emit(transpose ? Op::Conv2dTranspose : Op::Conv2d, {a, w, bias},
                   {{"stride", std::vector<int64_t>{sh, sw}}, {"pad", pad}});
  }

  std::mt19937_64 rng_;
  Graph g_;
  Builder b_;
  std::vector<int> pool_;
  int params_ = 0;
  uint64_t seed_;
  bool images_ = false;
};

// Compiles g, runs one training step in the executor and in the interpreter.
// Returns "" when they agree, else what differs.
// With `sparse` (options.force_sparse_data), about 4 in 5 input values are 0
// and `sparse_steps` counts the plan's sparse products.
std::string compare_step(const Graph &model, uint64_t seed, bool sparse = false, int *sparse_steps = nullptr) {
  std::string error;
  CodegenOptions options;
  options.force_sparse_data = sparse;
  auto c = test::compile_jit(model, error, options);
  if (!c) return "JIT: " + error;
  const Graph &train = c->train;
  const LoweredModel &lowered = c->lowered;
  const plan::Plan &p = lowered.plan;
  if (sparse_steps)
    for (const plan::Program *prog : p.programs())
      for (const plan::Step &s : prog->steps) *sparse_steps += s.kind == plan::Step::Matmul && s.zeros == plan::Step::Sparse;
  rt::Executor ex(p, c->table.data(), 2, seed);
  ex.init_params(seed);
  std::mt19937_64 rng(seed);
  float *in = ex.f32(p.train.input);  // pixel values as the runtime feeds them
  for (int64_t k = 0; k < p.train.batch * p.train.input_row; ++k) {
    const auto pixel = uint8_t(rng());
    in[k] = sparse && pixel % 5 != 0 ? 0.0f : float(pixel) * float(1.0 / 255.0);
  }
  ex.run(p.train, 1);
  Bindings b = test::executor_bindings(train, p, ex, seed, 1);
  auto v = interpret(train, b, error);
  if (!v) return "interpreter: " + error;
  std::ostringstream diff;
  for (const auto &[name, idx] : train.outputs) {
    const Tensor &want = (*v)[idx];
    const float *got = nullptr;
    std::vector<float> grad;
    if (name == "total") {
      for (const auto &[lname, buf] : p.train.losses)
        if (lname == name) got = ex.f32(buf);
    } else {
      for (size_t q = 0; q < p.params.size(); ++q)
        if ("d." + p.params[q].name == name) grad = ex.plain_param(q, true), got = grad.data();
    }
    if (!got) return "no buffer for output " + name;
    double scale = 1e-6;
    for (double w : want.data) scale = std::max(scale, std::fabs(w));
    for (size_t k = 0; k < want.data.size(); ++k)
      if (!(std::fabs(got[k] - want.data[k]) <= 2e-4 * scale)) {
        diff << name << "[" << k << "]: generated " << got[k] << ", interpreter " << want.data[k] << "\n";
        break;
      }
  }
  // A replay (at_scale.sh prints its command) shows the schedule and the plan of a graph that differs.
  if (!diff.str().empty() && std::getenv("VAEC_FUZZ_VERBOSE"))
    diff << schedule_to_string(lowered.programs.at(0).schedule) << lowered.memory_report << plan::format_plan(p);
  return diff.str();
}

// Every product of g in bf16, its operands rounded by each product itself
// against shared copies (share_rounding: reorders, and kernels that store
// the copies instead of or beside their f32 values). "" when one training
// step's gradients agree; `stored` counts the copies kernels store. Not bit
// for bit: a kernel that stores bf16 runs a fixed vector width, so a sum it
// keeps in registers may add in another order; a copy with wrong values
// would be off by bf16's rounding, 2^-9.
std::string compare_shared_rounding(const Graph &model, uint64_t seed, int &stored, int &beside) {
  std::string error;
  CodegenOptions no_sharing;
  no_sharing.share_rounding = false;
  auto c = test::compile_jit(model, error, no_sharing);
  if (!c) return "JIT: " + error;
  LoweredModel &own = c->lowered;
  int products = 0;
  for (plan::Program *prog : own.plan.programs())
    for (plan::Step &s : prog->steps)
      if (s.kind == plan::Step::Matmul)
        s.bf16 = true, s.thin = false, s.zeros = plan::Step::Keep, s.zero_units = false, ++products;
  if (products == 0) return "";
  LoweredModel shared = own;
  shared.options.share_rounding = true;
  share_rounding(shared);
  plan_memory(shared);
  for (const FusedKernel &k : shared.kernels)
    for (const KernelOutput &o : k.outputs)
      if (k.args[o.arg] == BufferType::BF16) {
        ++stored;
        beside += std::any_of(k.outputs.begin(), k.outputs.end(), [&](const KernelOutput &f) {
          return f.instr == o.instr && k.args[f.arg] == BufferType::F32;
        });
      }
  std::string shown;  // for a replay: both plans and the shared plan's kernels
  if (std::getenv("VAEC_FUZZ_VERBOSE")) {
    shown = "\nown rounding:\n" + plan::format_plan(own.plan) + "shared:\n" + plan::format_plan(shared.plan);
    for (const FusedKernel &k : shared.kernels) shown += kernel_to_string(k) + "\n";
  }
  std::unique_ptr<KernelJit> jit = KernelJit::create(shared.kernels, error);
  if (!jit) return "JIT of the shared plan's kernels: " + error;
  const std::vector<vaec_kernel_entry> table = test::kernel_table(*jit, shared.kernels);
  auto gradients = [&](const plan::Plan &p, const vaec_kernel_entry *kernels) {
    rt::Executor ex(p, kernels, 2, seed);
    ex.init_params(seed);
    std::mt19937_64 rng(seed);
    float *in = ex.f32(p.train.input);
    for (int64_t k = 0; k < p.train.batch * p.train.input_row; ++k) in[k] = float(uint8_t(rng())) * float(1.0 / 255.0);
    ex.run(p.train, 1);
    std::vector<float> g;
    for (size_t q = 0; q < p.params.size(); ++q) {
      const std::vector<float> x = ex.plain_param(q, true);
      g.insert(g.end(), x.begin(), x.end());
    }
    return g;
  };
  const std::vector<float> a = gradients(own.plan, c->table.data()), b = gradients(shared.plan, table.data());
  if (a.size() != b.size()) return "gradients of different sizes";
  double scale = 1e-6;
  for (float x : a) scale = std::max(scale, double(std::fabs(x)));
  for (size_t k = 0; k < a.size(); ++k)
    if (!(std::fabs(a[k] - b[k]) <= 1e-5 * scale))
      return "gradient element " + std::to_string(k) + ": own rounding " + std::to_string(a[k]) + ", shared " +
             std::to_string(b[k]) + shown;
  return "";
}

}  // namespace

// The reduced sanitized set compiles fewer (tests/unit/CMakeLists.txt).
#ifndef VAEC_FUZZ_DEFAULT_GRAPHS
#define VAEC_FUZZ_DEFAULT_GRAPHS 40
#endif

namespace {

// The seeds a fuzz test runs: `graphs` of them from 1 (VAEC_FUZZ_GRAPHS and
// VAEC_FUZZ_FIRST, to replay one, override both), then the seeds that once
// found a bug, replayed with the fixed list unless a first seed is given.
std::vector<int> fuzz_seeds(int graphs, std::initializer_list<int> regressions) {
  int first = 1;
  if (const char *n = std::getenv("VAEC_FUZZ_GRAPHS")) graphs = std::atoi(n);
  if (const char *f = std::getenv("VAEC_FUZZ_FIRST")) first = std::atoi(f);
  std::vector<int> seeds;
  for (int seed = first; seed < first + graphs; ++seed) seeds.push_back(seed);
  if (!std::getenv("VAEC_FUZZ_FIRST")) seeds.insert(seeds.end(), regressions);
  return seeds;
}

}  // namespace

TEST(CodegenFuzz, RandomGraphsMatchTheInterpreter) {
  // 3333: an f32[4] parameter value taken for 2 rows per example.
  const std::vector<int> seeds = fuzz_seeds(VAEC_FUZZ_DEFAULT_GRAPHS, {3333});
  const int graphs = static_cast<int>(seeds.size());
  int compared = 0, with_conv = 0;
  for (int seed : seeds) {
    Graph g = RandomGraph(seed).build();
    Diagnostics d;
    ASSERT_TRUE(verify_graph(g, d) && verify_batch_axes(g, d)) << "generator made a bad graph for seed " << seed;
    std::string problem;
    try {
      problem = compare_step(g, seed);
    } catch (const std::exception &e) {
      problem = std::string("exception: ") + e.what();
    }
    const std::string text = graph_to_string(g);
    EXPECT_EQ(problem, "") << "seed " << seed << "\n" << text;
    compared += problem.empty();
    with_conv += text.find("conv2d") != std::string::npos;
  }
  EXPECT_EQ(compared, graphs);
  // The generator keeps exercising convolutions (about a quarter of graphs).
  if (graphs >= 30) {
    EXPECT_GE(with_conv, graphs / 10) << "of " << graphs << " graphs";
  }
  std::cout << compared << " random graphs compared, " << with_conv << " with convolutions\n";
}

// Random graphs with sparse products forced wherever the pass allows them
// (a dense layer over the input), on input 4/5 zeros: their weights stored
// transposed, their products over the lists; the same step as the
// interpreter's.
TEST(CodegenFuzz, SparseProductsInRandomGraphsMatchTheInterpreter) {
  if (!__builtin_cpu_supports("avx512f")) GTEST_SKIP() << "sparse products need AVX-512";
  // About 1 graph in 30 has such a layer: these seeds (of 1-210) always run.
  const std::vector<int> seeds = fuzz_seeds(VAEC_FUZZ_DEFAULT_GRAPHS / 2, {40, 92, 154, 179, 199, 206});
  int compared = 0, with_sparse = 0;
  for (int seed : seeds) {
    Graph g = RandomGraph(seed).build();
    std::string problem;
    int sparse = 0;
    try {
      problem = compare_step(g, seed, true, &sparse);
    } catch (const std::exception &e) {
      problem = std::string("exception: ") + e.what();
    }
    EXPECT_EQ(problem, "") << "seed " << seed << "\n" << graph_to_string(g);
    compared += problem.empty();
    with_sparse += sparse > 0;
  }
  EXPECT_EQ(compared, static_cast<int>(seeds.size()));
  if (!std::getenv("VAEC_FUZZ_FIRST")) {
    EXPECT_GE(with_sparse, 6) << "of " << seeds.size() << " graphs";
  }
  std::cout << compared << " random graphs compared, " << with_sparse << " with sparse products\n";
}

TEST(CodegenFuzz, SharedBf16CopiesKeepRandomGraphsGradients) {
  // 91568: a kernel kept the in-place pair of the placement before
  // share_rounding, so its aliasing-free code ran on buffers that shared
  // bytes (plan_memory.h).
  const std::vector<int> seeds = fuzz_seeds(VAEC_FUZZ_DEFAULT_GRAPHS / 2, {91568});
  const int graphs = static_cast<int>(seeds.size());
  int stored = 0, beside = 0;
  for (int seed : seeds) {
    Graph g = RandomGraph(seed).build();
    std::string problem;
    try {
      problem = compare_shared_rounding(g, seed, stored, beside);
    } catch (const std::exception &e) {
      problem = std::string("exception: ") + e.what();
    }
    EXPECT_EQ(problem, "") << "seed " << seed << "\n" << graph_to_string(g);
  }
  std::cout << "[ info     ] " << graphs << " graphs: " << stored << " bf16 copies stored by kernels, " << beside
            << " of them beside an f32 value\n";
  if (graphs >= 10) {
    EXPECT_GT(stored - beside, 0) << "no kernel stored a bf16 copy instead of an f32 value";
  }
}
