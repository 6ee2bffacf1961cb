// The runtime's executor on a plan built by hand (executor_test_plan.h):
// matmuls (transposes, bias, post-ops) and kernels (threads, accumulation,
// rank 0, rng) against naive loops, Adam against its formula, train_step's
// updates right after their gradients, gates and all-or-nothing steps,
// product slices and bf16 products.
#include <gtest/gtest.h>
#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>

#include "abi/onednn_matmul.h"
#include "abi/plan.h"
#include "exec/executor.h"
#include "exec/step_times.h"
#include "codegen/place_updates.h"
#include "codegen/split_products.h"
#include "executor_test_plan.h"

using namespace vaec;
using namespace vaec::rt;
using namespace vaec::test;

// --- the executor ---

class ExecutorThreads : public ::testing::TestWithParam<int> {};

// A swapped product's last part (plan Step::swapped): rows [r0, r1) of c
// [m, n] (row stride ldc) from ct [n, m], with bias and relu (NaN stays NaN,
// as in oneDNN) or the logistic; other rows and the padding untouched.
TEST(Executor, UnswapWritesTheTransposeWithBiasAndPostOp) {
  const int64_t m = 21, n = 18, ldc = 20;  // more than one 16 x 16 block each way
  std::vector<float> ct(n * m), bias(n);
  for (int64_t j = 0; j < n; ++j) {
    bias[j] = 0.25f * static_cast<float>(j % 5) - 0.5f;
    for (int64_t i = 0; i < m; ++i) ct[j * m + i] = static_cast<float>((i * 7 + j * 3) % 11) - 5.0f;
  }
  ct[3 * m + 17] = std::nanf("");
  for (const std::string post : {"", "relu", "sigmoid"})
    for (const bool with_bias : {false, true}) {
      SCOPED_TRACE(post + (with_bias ? " with bias" : ""));
      std::vector<float> c(m * ldc, -7.0f);
      onednn::unswap(ct.data(), m, n, 2, 19, c.data(), ldc, with_bias ? bias.data() : nullptr, post);
      for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < ldc; ++j) {
          const float got = c[i * ldc + j];
          if (i < 2 || i >= 19 || j >= n) {
            EXPECT_EQ(got, -7.0f) << i << "," << j;
            continue;
          }
          const double x = double(ct[j * m + i]) + (with_bias ? bias[j] : 0.0);
          if (std::isnan(x)) {
            EXPECT_TRUE(std::isnan(got)) << i << "," << j;
            continue;
          }
          const double want = post == "relu" ? std::max(x, 0.0) : post == "sigmoid" ? 1 / (1 + std::exp(-x)) : x;
          EXPECT_NEAR(got, want, 1e-6) << i << "," << j;
        }
    }
  std::vector<float> c(m * ldc);
  EXPECT_THROW(onednn::unswap(ct.data(), m, n, 0, m, c.data(), ldc, nullptr, "tanh"), std::runtime_error);
}

TEST_P(ExecutorThreads, TrainProgramMatchesNaiveLoops) {
  TestPlan t = make_plan();
  Executor exec(t.plan, kKernels, GetParam(), 42);
  exec.init_params(3);
  fill_input(exec, t, 1);
  std::fill_n(exec.f32(t.junk), 100, 1.0f);
  exec.f32(t.colsum)[0] = 1e6f;  // accumulated outputs are overwritten, not added to
  exec.run(t.plan.train, 5);
  Reference r = reference(exec, t);
  expect_near_all(exec.f32(t.c), r.c, 1e-3, "c");
  expect_near_all(exec.f32(t.y), r.y, 1e-3, "y");
  expect_near_all(exec.f32(t.colsum), r.colsum, r.abs_total / N, "colsum");
  expect_near_all(exec.f32(t.total), {r.total}, r.abs_total, "total");
  expect_near_all(exec.f32(t.loss), {r.loss}, r.abs_total / M, "loss");
  expect_near_all(exec.f32(t.d), r.d, 1e-3, "d");
  for (int i = 0; i < 100; ++i) ASSERT_EQ(exec.f32(t.junk)[i], 0.0f);
  EXPECT_EQ(exec.f32(t.seen)[0], 42.0f);  // rng = {seed, step}
  EXPECT_EQ(exec.f32(t.seen)[1], 5.0f);
  EXPECT_EQ(exec.scalar(t.loss), exec.f32(t.loss)[0]);
}

TEST_P(ExecutorThreads, AccumulationIsBitwiseReproducible) {
  TestPlan t = make_plan();
  std::vector<std::vector<float>> runs;
  for (int executor = 0; executor < 2; ++executor) {
    Executor exec(t.plan, kKernels, GetParam(), 1);
    exec.init_params(9);
    for (int repeat = 0; repeat < 2; ++repeat) {
      fill_input(exec, t, 2);
      exec.run(t.plan.train, 1);
      std::vector<float> out = copy_of(exec, t.colsum, N);
      out.push_back(exec.scalar(t.total));
      runs.push_back(out);
    }
  }
  for (const auto &run : runs) EXPECT_EQ(std::memcmp(run.data(), runs[0].data(), run.size() * 4), 0);
}

TEST_P(ExecutorThreads, AdamFollowsPlanHyperDefinition) {
  TestPlan t = make_plan();
  Executor exec(t.plan, kKernels, GetParam(), 1);
  exec.init_params(4);
  const int64_t n = t.plan.param_count;
  std::vector<double> p(exec.f32(t.params), exec.f32(t.params) + n), m(n, 0), v(n, 0);
  const double lr = 0.01;
  for (uint64_t step = 1; step <= 3; ++step) {
    float *g = exec.f32(t.grads);
    for (int64_t i = 0; i < n; ++i) g[i] = static_cast<float>(std::sin(double(i * step)) * (i % 3 + 0.5));
    exec.run_optimizer(step, lr);
    for (int64_t i = 0; i < n; ++i) {  // PyTorch's Adam, in double
      m[i] = kBeta1 * m[i] + (1 - kBeta1) * g[i];
      v[i] = kBeta2 * v[i] + (1 - kBeta2) * double(g[i]) * g[i];
      const double mhat = m[i] / (1 - std::pow(kBeta1, step)), vhat = v[i] / (1 - std::pow(kBeta2, step));
      p[i] -= lr * mhat / (std::sqrt(vhat) + kEps);
    }
    expect_near_all(exec.f32(t.params), p, 1e-2, "params");
  }
  EXPECT_FLOAT_EQ(exec.f32(t.plan.hyper)[0], float(lr / (1 - std::pow(kBeta1, 3))));
  EXPECT_FLOAT_EQ(exec.f32(t.plan.hyper)[1], float(1 / std::sqrt(1 - std::pow(kBeta2, 3))));
}

// The optimizer applies a step only when every gradient is finite, and then
// exactly as run_optimizer does. 40,000 more parameters (used by no step)
// make the update big enough to be split among threads, so a non-finite
// gradient in one thread's share must stop the other threads' updates too.
TEST_P(ExecutorThreads, OptimizerIfFiniteUpdatesAllOrNothing) {
  TestPlan t = make_plan();
  plan::Plan &p = t.plan;
  const int64_t extra = 40000, n = p.param_count + extra;
  // New regions at the arena's end, each param moved into them in order.
  auto region = [&](int &buffer, const char *name) {
    const int old = buffer;
    buffer = add_buffer(p, name, plan::DType::F32, n);
    return p.buffers[buffer].offset - p.buffers[old].offset;
  };
  int params = p.param_region, grads = p.grad_region, m = p.state_regions[0], v = p.state_regions[1];
  const int64_t dp = region(params, "params.big"), dg = region(grads, "grads.big");
  region(m, "adam.m.big"), region(v, "adam.v.big");
  for (plan::Param &q : p.params) p.buffers[q.buffer].offset += dp, p.buffers[q.grad_buffer].offset += dg;
  p.param_count = n, p.param_region = t.params = params, p.grad_region = t.grads = grads, p.state_regions = {m, v};
  p.optimizer_args = {params, grads, p.hyper, p.hyper + 1, m, v};

  Executor a(p, kKernels, GetParam(), 1), b(p, kKernels, GetParam(), 1);
  for (Executor *e : {&a, &b}) {
    e->init_params(4);
    for (int64_t i = 0; i < n; ++i) e->f32(grads)[i] = static_cast<float>(std::sin(0.37 * double(i)));
  }
  auto regions = [&](Executor &e) {
    std::vector<float> all;
    for (int r : {params, m, v}) all.insert(all.end(), e.f32(r), e.f32(r) + n);
    return all;
  };
  ASSERT_TRUE(a.run_optimizer_if_finite(1, 0.01));
  b.run_optimizer(1, 0.01);
  std::vector<float> after = regions(a);
  ASSERT_EQ(std::memcmp(after.data(), regions(b).data(), after.size() * 4), 0);
  for (int64_t at : {int64_t{0}, n / 3, n / 2 - 1, n / 2, n - 1})
    for (float bad : {std::nanf(""), INFINITY, -INFINITY}) {
      const float good = a.f32(grads)[at];
      a.f32(grads)[at] = bad;
      EXPECT_FALSE(a.run_optimizer_if_finite(2, 0.01)) << at << " " << bad;
      a.f32(grads)[at] = good;
      EXPECT_EQ(std::memcmp(after.data(), regions(a).data(), after.size() * 4), 0) << at << " " << bad;
    }
  EXPECT_TRUE(a.run_optimizer_if_finite(2, 0.01));
  EXPECT_NE(std::memcmp(after.data(), regions(a).data(), after.size() * 4), 0);
}

// --- train_step: weights updated right after their gradients ---

// A plan whose train program ends the way vaec's do: a kernel writes the
// gradient of the small parameter u (and the loss), then late matmuls write
// whole weight gradients, dv = a^T bv (v small: run before the gate), then
// dw = a^T bw and dw2 = a2^T bw (w and w2 >= 64k floats: each updated
// right after its product). Parameters u, v, w, w2 on 64-byte lines.
struct FusedPlan {
  plan::Plan plan;
  int src, scale, loss, a, a2, bv, bw;
  int64_t count;
};
constexpr int64_t kRows = 48, kW = 256, kWCols = 300, kW2 = 128, kW2Cols = 600, kV = 4, kVCols = 5;

FusedPlan make_fused_plan() {
  FusedPlan f;
  plan::Plan &p = f.plan;
  p.model = "fused_test";
  p.config = adam_config(kRows, 1);
  add_params(p, {{"u", {kSmall}}, {"v", {kV, kVCols}}, {"w", {kW, kWCols}}, {"w2", {kW2, kW2Cols}}}, true);
  f.count = p.param_count;
  add_adam(p);
  const int in = add_buffer(p, "in", plan::DType::U8, kRows);
  f.src = add_buffer(p, "src", plan::DType::F32, kSmall);
  f.scale = add_buffer(p, "scale", plan::DType::F32, 1);
  f.loss = add_buffer(p, "loss", plan::DType::F32, 1);
  f.a = add_buffer(p, "a", plan::DType::F32, kRows * kW);
  f.a2 = add_buffer(p, "a2", plan::DType::F32, kRows * kW2);
  f.bv = add_buffer(p, "bv", plan::DType::F32, kRows * kVCols);
  f.bw = add_buffer(p, "bw", plan::DType::F32, kRows * kW2Cols);
  p.loss_scaling = {{"total", "batch"}};
  plan::Program &train = p.train;
  train.name = "train";
  train.batch = kRows;
  train.input = in;
  train.input_row = 1;
  train.losses = {{"total", f.loss}};
  train.steps = {kernel_step("small_grad", 1, {f.src, p.params[0].grad_buffer, f.scale, f.loss}),
                 matmul_step(f.a, f.bv, p.params[1].grad_buffer, -1, kV, kVCols, kRows, true, false, ""),
                 matmul_step(f.a, f.bw, p.params[2].grad_buffer, -1, kW, kWCols, kRows, true, false, ""),
                 matmul_step(f.a2, f.bw, p.params[3].grad_buffer, -1, kW2, kW2Cols, kRows, true, false, "")};
  p.eval = train;
  p.eval.name = "eval";
  f.plan = as_compiled(std::move(f.plan));
  return f;
}

// Inputs of step `step`: values in (-1, 1), different each step.
void fill_fused(Executor &e, const FusedPlan &f, int step) {
  for (int b : {f.src, f.a, f.a2, f.bv, f.bw}) {
    float *x = e.f32(b);
    for (int64_t i = 0, n = f.plan.buffers[b].elements; i < n; ++i)
      x[i] = static_cast<float>(std::sin(0.7 * double(i) + 1.3 * step + b));
  }
  e.f32(f.scale)[0] = 1.0f;
}

// Parameters, m and v.
std::vector<float> fused_state(Executor &e, const FusedPlan &f) {
  std::vector<float> all;
  for (int r : {f.plan.param_region, f.plan.state_regions[0], f.plan.state_regions[1]})
    all.insert(all.end(), e.f32(r), e.f32(r) + f.count);
  return all;
}

bool same(const std::vector<float> &x, const std::vector<float> &y) {
  return x.size() == y.size() && std::memcmp(x.data(), y.data(), x.size() * 4) == 0;
}

TEST_P(ExecutorThreads, TrainStepUpdatesLateWeightsBitwiseAsRunThenOptimizer) {
  FusedPlan f = make_fused_plan();
  Executor fused(f.plan, kKernels, GetParam(), 1), plain(f.plan, kKernels, GetParam(), 1);
  EXPECT_TRUE(fused.has_gate(f.plan.train));
  EXPECT_FALSE(fused.has_gate(f.plan.eval));
  for (Executor *e : {&fused, &plain}) e->init_params(5);
  for (int step = 1; step <= 3; ++step) {
    fill_fused(fused, f, step), fill_fused(plain, f, step);
    ASSERT_TRUE(fused.train_step(f.plan.train, step, 0.01));
    plain.run(f.plan.train, step);
    ASSERT_TRUE(plain.run_optimizer_if_finite(step, 0.01));
    ASSERT_TRUE(same(fused_state(fused, f), fused_state(plain, f))) << "step " << step;
  }
  // A plan whose train program ends with anything but such matmuls gets no gate.
  TestPlan t = make_plan();
  Executor other(t.plan, kKernels, GetParam(), 1);
  EXPECT_FALSE(other.has_gate(t.plan.train));
}

// Operands too large for the bound to prove the late products finite: the
// step computes every gradient first, and applies it when all are finite.
TEST_P(ExecutorThreads, TrainStepFallsBackWhenTheBoundFails) {
  FusedPlan f = make_fused_plan();
  Executor fused(f.plan, kKernels, GetParam(), 1), plain(f.plan, kKernels, GetParam(), 1);
  for (Executor *e : {&fused, &plain}) {
    e->init_params(5);
    fill_fused(*e, f, 1);
    e->f32(f.a)[0] = 1e37f;  // a[0, 0]: 48 * 1e37 * max|bw| is past the bound, w's gradient ~1e37
  }
  ASSERT_TRUE(fused.train_step(f.plan.train, 1, 0.01));
  plain.run(f.plan.train, 1);
  ASSERT_TRUE(plain.run_optimizer_if_finite(1, 0.01));
  EXPECT_TRUE(same(fused_state(fused, f), fused_state(plain, f)));
  EXPECT_GT(std::abs(fused.f32(f.plan.params[2].grad_buffer)[0]), 1e36f);
}

// Nothing changes when a loss, a gradient before the gate or a late product
// is not finite; the step still computes every gradient (for diagnosis).
TEST_P(ExecutorThreads, TrainStepIsAllOrNothing) {
  FusedPlan f = make_fused_plan();
  Executor e(f.plan, kKernels, GetParam(), 1);
  e.init_params(5);
  fill_fused(e, f, 1);
  ASSERT_TRUE(e.train_step(f.plan.train, 1, 0.01));
  const std::vector<float> before = fused_state(e, f);
  const int64_t w2_row = kW2Cols;  // a2[1, 0] in a2^T's row 0
  const std::vector<std::pair<std::string, std::function<void()>>> cases = {
      {"infinite loss", [&] { e.f32(f.scale)[0] = INFINITY; }},
      {"NaN gradient of u (before the gate)", [&] { e.f32(f.src)[7] = NAN; }},
      {"NaN in a late product's operand", [&] { e.f32(f.a2)[kW2 * 30 + 5] = NAN; }},
      {"-inf in the other operand", [&] { e.f32(f.bw)[kW2Cols * 47 + 599] = -INFINITY; }},
      {"a late product that overflows", [&] {
         float *a2 = e.f32(f.a2), *bw = e.f32(f.bw);
         a2[0] = a2[kW2] = 3e38f;  // a2[0, 0] and a2[1, 0]
         bw[0] = bw[w2_row] = 1.0f;
       }}};
  for (const auto &[what, spoil] : cases) {
    fill_fused(e, f, 2);
    spoil();
    EXPECT_FALSE(e.train_step(f.plan.train, 2, 0.01)) << what;
    EXPECT_TRUE(same(fused_state(e, f), before)) << what;
    EXPECT_NE(e.f32(f.plan.params[3].grad_buffer)[7], 0.0f) << what << ": gradients computed";
  }
  fill_fused(e, f, 2);
  EXPECT_TRUE(e.train_step(f.plan.train, 2, 0.01));
  EXPECT_FALSE(same(fused_state(e, f), before));
}

INSTANTIATE_TEST_SUITE_P(Threads, ExecutorThreads, ::testing::Values(1, 2, 3));

// Under an adaptive team every product that can be cut runs as one-thread
// slices (oneDNN fixes a primitive's thread count when it is made), so a
// team of 1 and a team of 2 compute the same bits.
TEST(Executor, AdaptivePlanGivesTheSameBitsOnAnyTeam) {
  TestPlan t = make_plan();
  t.plan = as_compiled(std::move(t.plan), 2, true, true);
  int cut = 0;
  for (const plan::Step &s : t.plan.train.steps) cut += s.kind == plan::Step::Matmul && s.split != plan::Step::Whole;
  EXPECT_GT(cut, 0);
  auto run = [&](int team) {
    Executor exec(t.plan, kKernels, 2, 42);
    exec.set_team(team);
    exec.init_params(3);
    fill_input(exec, t, 1);
    exec.run(t.plan.train, 5);
    const Reference r = reference(exec, t);
    std::vector<float> out(exec.f32(t.c), exec.f32(t.c) + r.c.size());
    out.insert(out.end(), exec.f32(t.y), exec.f32(t.y) + r.y.size());
    out.insert(out.end(), exec.f32(t.d), exec.f32(t.d) + r.d.size());
    return out;
  };
  const std::vector<float> one = run(1), two = run(2);
  ASSERT_EQ(one.size(), two.size());
  EXPECT_EQ(std::memcmp(one.data(), two.data(), one.size() * sizeof(float)), 0);
}

TEST(Executor, SplitsOnlyKernelsWithEnoughWork) {
  for (int64_t points : {M * K, kSplitPoints}) {
    TestPlan t = make_plan();
    t.plan.train.steps[0] = kernel_step("decode_logged", M, {t.in, t.a_t}, {}, points);
    Executor exec(t.plan, kKernels, 2, 0);
    ranges.clear();
    exec.run(t.plan.train, 1);
    std::sort(ranges.begin(), ranges.end());
    using Ranges = std::vector<std::pair<int64_t, int64_t>>;
    const Ranges expected = points == kSplitPoints ? Ranges{{0, M / 2}, {M / 2, M}} : Ranges{{0, M}};
    EXPECT_EQ(ranges, expected) << points;
  }
}

// An executor flushes denormals to zero on its thread and on every OpenMP
// worker: a product below 2^-126 becomes 0 (FTZ), and a denormal operand
// counts as 0 (DAZ).
TEST(Executor, FlushesDenormalsOnEveryThread) {
  TestPlan t = make_plan();
  Executor exec(t.plan, kKernels, 2, 1);
  auto flushed = [] {
    volatile float tiny = 1e-20f, denormal = 1e-40f, one = 1.0f;
    const float product = tiny * tiny, passed = denormal * one;
    return product == 0.0f && passed == 0.0f;
  };
  EXPECT_TRUE(flushed());
  int workers = 0, flushing = 0;
#pragma omp parallel num_threads(2) reduction(+ : workers, flushing)
  {
    workers += 1;
    flushing += flushed() ? 1 : 0;
  }
  EXPECT_EQ(workers, 2);
  EXPECT_EQ(flushing, 2);
}

TEST(Executor, InitParamsIsSeededPerNameAndZeroesState) {
  TestPlan t = make_plan();
  Executor a(t.plan, kKernels, 1, 0), b(t.plan, kKernels, 2, 0);
  std::fill_n(a.f32(t.plan.state_regions[0]), t.plan.param_count, 5.0f);
  a.init_params(11);
  b.init_params(11);
  const int64_t n = t.plan.param_count;
  EXPECT_EQ(copy_of(a, t.params, n), copy_of(b, t.params, n));
  for (const plan::Param &q : t.plan.params) {
    const float *w = a.f32(q.buffer);
    for (int64_t i = 0; i < t.plan.buffers[q.buffer].elements; ++i) ASSERT_LE(std::abs(w[i]), q.init_bound);
  }
  EXPECT_EQ(copy_of(a, t.plan.state_regions[0], n), std::vector<float>(n, 0.0f));
  b.init_params(12);
  EXPECT_NE(copy_of(a, t.params, n), copy_of(b, t.params, n));
}

TEST(Executor, RejectsPlansThatDoNotFitTheirKernels) {
  auto message = [](const plan::Plan &p) {
    try {
      Executor exec(p, kKernels, 2, 0);
    } catch (const std::exception &e) {
      return std::string(e.what());
    }
    return std::string("(accepted)");
  };
  TestPlan t = make_plan();
  t.plan.train.steps[2].kernel = "afine";
  EXPECT_NE(message(t.plan).find("kernel 'afine', which is not in the trainer's kernel table"), std::string::npos);
  t = make_plan();
  t.plan.train.steps[1].k = K + 1;
  EXPECT_EQ(message(t.plan), "matmul train step 1 (test.yaml:2:1) a: buffer a_t has 1750 elements, needs 2000");
  t = make_plan();
  t.plan.train.steps[1].post = "tanh";
  EXPECT_NE(message(t.plan).find("unknown post-op 'tanh'"), std::string::npos);
  t = make_plan();
  t.plan.train.steps[2].args[3] = t.in;  // an accumulated argument must be f32
  EXPECT_NE(message(t.plan).find("is not f32"), std::string::npos);
  t = make_plan();
  t.plan.config.erase("beta2");
  EXPECT_NE(message(t.plan).find("plan config has no 'beta2'"), std::string::npos);
  // Updates the plan does not guard, or that miss or repeat a parameter.
  FusedPlan f = make_fused_plan();  // ... gate, dw, optimize w, dw2, optimize w2, optimize the rest
  std::erase_if(f.plan.train.steps, [](const plan::Step &s) { return s.kind == plan::Step::Gate; });
  EXPECT_EQ(message(f.plan), "program train step 3: an update of some parameters without a gate before it");
  f = make_fused_plan();
  f.plan.train.steps.push_back(f.plan.train.steps.back());
  EXPECT_EQ(message(f.plan), "program train updates u 2 times, not once");
  t = make_plan();
  t.plan.train.steps.pop_back();
  EXPECT_EQ(message(t.plan), "the train program never updates the parameters (no optimize step)");
  // bf16 copies (share_rounding.h): only a bf16 product reads one, and it
  // must be large enough.
  t = make_plan();
  t.plan.train.steps[1].a = add_buffer(t.plan, "a_t.bf16", plan::DType::BF16, K * M);
  EXPECT_EQ(message(t.plan), "matmul train step 1 (test.yaml:2:1) a: buffer a_t.bf16 is not f32");
  t.plan.train.steps[1].bf16 = true;
  t.plan.train.steps[1].a = add_buffer(t.plan, "short.bf16", plan::DType::BF16, K * M - 1);
  EXPECT_EQ(message(t.plan), "matmul train step 1 (test.yaml:2:1) a: buffer short.bf16 has 1749 elements, needs 1750");
  // The input's copy: of f32 rows, bf16, a row per example.
  t = make_plan();
  t.plan.train.input_copy = add_buffer(t.plan, "in.bf16", plan::DType::BF16, t.plan.train.batch * t.plan.train.input_row);
  EXPECT_EQ(message(t.plan), "program train: a bf16 copy of an input that is not f32");
  f = make_fused_plan();
  f.plan.buffers[f.plan.train.input].type = plan::DType::F32;
  EXPECT_EQ(message(f.plan), "(accepted)");
  f.plan.train.input_copy = f.plan.train.input;
  EXPECT_EQ(message(f.plan), "program train input copy: buffer in is not bf16");
  f.plan.train.input_copy = add_buffer(f.plan, "in.bf16", plan::DType::BF16, f.plan.train.batch - 1);
  EXPECT_NE(message(f.plan).find("program train input copy: buffer in.bf16 has"), std::string::npos) << message(f.plan);
}

// A gate bounds a bf16 product through the f32 values a reorder rounded into
// its operand, or, for a copy a kernel stored rounded (share_rounding.h),
// through the bf16 values themselves: an infinity there stops the step.
TEST(Executor, GateBoundsBf16CopiesThroughTheirValues) {
  FusedPlan f = make_fused_plan();
  int dy = -1;
  for (plan::Step &s : f.plan.train.steps)
    if (s.kind == plan::Step::Gate) {
      plan::Step &bounded = f.plan.train.steps[s.bound.at(0)];
      bounded.bf16 = true;
      bounded.a = dy = add_buffer(f.plan, "dy.bf16", plan::DType::BF16, bounded.m * bounded.k);
    }
  ASSERT_GE(dy, 0);
  Executor e(f.plan, kKernels, 2, 1);
  e.init_params(5);
  const int64_t n = f.plan.buffers[dy].elements;
  fill_fused(e, f, 1);
  std::fill(e.bf16(dy), e.bf16(dy) + n, uint16_t{0x3f00});  // 0.5
  ASSERT_TRUE(e.train_step(f.plan.train, 1, 0.01));
  const std::vector<float> before = fused_state(e, f);
  fill_fused(e, f, 2);
  e.bf16(dy)[n - 1] = 0x7f80;  // +inf
  EXPECT_FALSE(e.train_step(f.plan.train, 2, 0.01));
  EXPECT_TRUE(same(fused_state(e, f), before));
  e.bf16(dy)[n - 1] = 0x7f7f;  // the largest bf16: k max|a| max|b| is past the bound
  EXPECT_TRUE(e.train_step(f.plan.train, 2, 0.01));  // all gradients first, then updates (finite here)
  EXPECT_FALSE(same(fused_state(e, f), before));
}

// The matmul shape of mnist_mlp's first layer: which implementation oneDNN
// picks here and how fast it is (printed for the record; a 'ref' kernel
// would make training ~100x slower).
TEST(Executor, FirstLayerMatmulUsesAnOptimizedKernel) {
  plan::Plan p;
  const int64_t m = 128, k = 784, n = 400;
  const int a = add_buffer(p, "a", plan::DType::F32, m * k), b = add_buffer(p, "b", plan::DType::F32, k * n);
  const int c = add_buffer(p, "c", plan::DType::F32, m * n), bias = add_buffer(p, "bias", plan::DType::F32, n);
  const int in = add_buffer(p, "in", plan::DType::U8, 1);
  for (plan::Program *prog : {&p.train, &p.eval}) {
    prog->batch = 1, prog->input = in, prog->input_row = 1;
    prog->steps = {matmul_step(a, b, c, bias, m, n, k, false, false, "relu")};
  }
  p.train.name = "train", p.eval.name = "eval";
  for (int threads : {1, omp_get_num_procs()}) {
    Executor exec(p, kKernels, threads, 0);
    const std::string &impl = exec.matmuls().at(0).impl;
    EXPECT_NE(impl.rfind("ref", 0), 0u) << impl;
    exec.run(p.train, 1);  // warm-up
    const int reps = 200;
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < reps; ++i) exec.run(p.train, 1);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() / reps;
    std::printf("[ info     ] [128,784]x[784,400]+bias,relu on %d thread(s): %s, %.1f us, %.1f GFLOP/s\n", threads,
                impl.c_str(), s * 1e6, 2.0 * m * n * k / s / 1e9);
  }
}

// A plan whose programs are one product c = op(a) op(b) + bias (then
// `post`), with an SGD optimizer that is never run; b is the parameter
// when `b_is_param`, else a 16-float parameter stands beside the product.
struct OneProduct {
  plan::Plan plan;
  int a, b, c, bias;
};
static OneProduct one_product_plan(int64_t m, int64_t n, int64_t k, bool ta, bool tb, const std::string &post,
                                   bool b_is_param) {
  OneProduct o;
  plan::Plan &p = o.plan;
  p.config = {{"optimizer", "sgd"}};
  const int64_t w_size = b_is_param ? k * n : 16;
  p.param_count = (w_size + 15) / 16 * 16 + 16;
  p.param_region = add_buffer(p, "params", plan::DType::F32, p.param_count);
  p.grad_region = add_buffer(p, "grads", plan::DType::F32, p.param_count);
  plan::Param w;
  w.name = "w";
  w.buffer = add_buffer(p, "w", plan::DType::F32, w_size, p.buffers[p.param_region].offset);
  w.grad_buffer = add_buffer(p, "w.grad", plan::DType::F32, w_size, p.buffers[p.grad_region].offset);
  w.dims = b_is_param ? std::vector<int64_t>{n, k} : std::vector<int64_t>{16};
  w.init_bound = 0.1;
  p.params = {w};
  p.hyper = add_buffer(p, "hyper.0", plan::DType::F32, 1);
  p.optimizer_kernel = "nan";  // never run here
  p.optimizer_args = {p.hyper};
  o.a = add_buffer(p, "a", plan::DType::F32, m * k);
  o.b = b_is_param ? p.params[0].buffer : add_buffer(p, "b", plan::DType::F32, k * n);
  o.c = add_buffer(p, "c", plan::DType::F32, m * n);
  o.bias = add_buffer(p, "bias", plan::DType::F32, n);
  const int in = add_buffer(p, "in", plan::DType::U8, 1);
  for (plan::Program *prog : {&p.train, &p.eval}) {
    prog->batch = 1, prog->input = in, prog->input_row = 1;
    prog->steps = {matmul_step(o.a, o.b, o.c, o.bias, m, n, k, ta, tb, post)};
  }
  p.train.name = "train", p.eval.name = "eval";
  return o;
}

static void test_split_matmul(int64_t m) {
  const int64_t k = 880, n = 304;
  const OneProduct o = one_product_plan(m, n, k, false, true, "relu", true);
  const plan::Plan &p = o.plan;
  const int a = o.a, c = o.c, bias = o.bias;
  const plan::Param &w = p.params[0];
  for (int threads : {1, 2, 3, 5}) {
    const plan::Plan compiled = as_compiled(p, threads);
    Executor exec(compiled, kKernels, threads, 0);
    // (5 threads: 5 x 64 > 304 columns, too few to cut; slices of k instead.)
    EXPECT_EQ(exec.matmuls().at(0).parts, m < n ? threads : 1) << threads;
    for (int64_t i = 0; i < m * k; ++i) exec.f32(a)[i] = static_cast<float>(std::sin(0.3 * double(i)));
    for (int64_t i = 0; i < n * k; ++i) exec.f32(w.buffer)[i] = static_cast<float>(std::cos(0.7 * double(i)) * 0.1);
    for (int64_t j = 0; j < n; ++j) exec.f32(bias)[j] = 0.01f * static_cast<float>(j % 7) - 0.03f;
    exec.run(p.train, 1);
    std::vector<double> want(m * n);
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double sum = exec.f32(bias)[j];
        for (int64_t q = 0; q < k; ++q) sum += double(exec.f32(a)[i * k + q]) * exec.f32(w.buffer)[j * k + q];
        want[i * n + j] = std::max(sum, 0.0);
      }
    expect_near_all(exec.f32(c), want, 1.0, "c");
  }
}

// A dense layer's forward product whose weights are a parameter of >= 1 MiB,
// with fewer rows than columns, runs as one column slice per thread (each a
// one-thread oneDNN call with its own scratchpad), or, with fewer than 64
// columns per thread, as one slice of k per thread, its bias and relu after
// their sum; either computes what the whole call computes. With as many
// rows as columns it runs whole.
TEST(Executor, SplitsLargeWeightProductsIntoColumnSlices) {
  for (const int64_t m : {48, 304}) test_split_matmul(m);
}

// A bf16 product rounds a and b to bfloat16 (to nearest even) into copies and
// accumulates in f32: whole and in slices, with either operand transposed, it
// computes the product of the rounded operands, not that of the operands,
// and leaves a and b as they were.
TEST(Executor, Bf16ProductsRoundTheirOperandsOnly) {
  const int64_t m = 96, n = 80, k = 200;
  auto bf16 = [](float x) {
    uint32_t bits;
    std::memcpy(&bits, &x, 4);
    bits = (bits + 0x7fff + ((bits >> 16) & 1)) & 0xffff0000u;
    std::memcpy(&x, &bits, 4);
    return double(x);
  };
  for (const bool ta : {false, true})
    for (const bool tb : {false, true})
      for (const plan::Step::Split split : {plan::Step::Whole, plan::Step::Rows, plan::Step::Columns}) {
        SCOPED_TRACE(std::string("ta ") + (ta ? "1" : "0") + " tb " + (tb ? "1" : "0") + " split " +
                     std::to_string(int(split)));
        OneProduct o = one_product_plan(m, n, k, ta, tb, "", false);
        const int a = o.a, b = o.b, c = o.c, bias = o.bias;
        plan::Plan p = as_compiled(o.plan, 2);  // adds the train program's optimizer step
        for (plan::Program *prog : {&p.train, &p.eval})
          for (plan::Step &s : prog->steps)
            if (s.kind == plan::Step::Matmul) s.bf16 = true, s.thin = false, s.split = split;
        Executor exec(p, kKernels, 2, 0);
        std::vector<float> a0(m * k), b0(k * n);
        for (int64_t i = 0; i < m * k; ++i) a0[i] = exec.f32(a)[i] = static_cast<float>(std::sin(0.37 * double(i)) + 1.3);
        for (int64_t i = 0; i < k * n; ++i) b0[i] = exec.f32(b)[i] = static_cast<float>(std::cos(0.71 * double(i)) * 0.1 + 0.05);
        for (int64_t j = 0; j < n; ++j) exec.f32(bias)[j] = 0.01f * static_cast<float>(j % 7);
        exec.run(p.train, 1);
        double off_f32 = 0;  // the largest distance from the unrounded product
        for (int64_t i = 0; i < m; ++i)
          for (int64_t j = 0; j < n; ++j) {
            double rounded = exec.f32(bias)[j], exact = rounded, scale = 0;
            for (int64_t q = 0; q < k; ++q) {
              const float x = a0[ta ? q * m + i : i * k + q], y = b0[tb ? j * k + q : q * n + j];
              rounded += bf16(x) * bf16(y), exact += double(x) * y, scale += std::abs(double(x) * y);
            }
            const double got = exec.f32(c)[i * n + j];
            ASSERT_NEAR(got, rounded, 1e-5 * scale) << i << "," << j;
            off_f32 = std::max(off_f32, std::abs(got - exact) / scale);
          }
        EXPECT_GT(off_f32, 1e-4);  // bf16 keeps 8 bits: products of rounded operands are off by ~2^-9
        EXPECT_EQ(std::memcmp(exec.f32(a), a0.data(), a0.size() * 4), 0);
        EXPECT_EQ(std::memcmp(exec.f32(b), b0.data(), b0.size() * 4), 0);

        // The same product reading bf16 buffers that reorder steps rounded
        // (share_rounding.h): the same bits.
        plan::Plan q = p;
        const int a16 = add_buffer(q, "a.bf16", plan::DType::BF16, m * k), b16 = add_buffer(q, "b.bf16", plan::DType::BF16, k * n);
        std::vector<plan::Step> steps;
        for (plan::Step s : q.train.steps) {
          if (s.kind == plan::Step::Matmul) {
            for (auto [from, to] : {std::pair{s.a, a16}, std::pair{s.b, b16}}) {
              plan::Step round;
              round.kind = plan::Step::Reorder, round.a = from, round.c = to, round.dims_a = {from == a ? m * k : k * n};
              steps.push_back(round);
            }
            s.a = a16, s.b = b16;
          }
          steps.push_back(s);
        }
        q.train.steps = steps;
        Executor shared(q, kKernels, 2, 0);
        std::copy(a0.begin(), a0.end(), shared.f32(a));
        std::copy(b0.begin(), b0.end(), shared.f32(b));
        std::copy(exec.f32(bias), exec.f32(bias) + n, shared.f32(bias));
        shared.run(q.train, 1);
        EXPECT_EQ(std::memcmp(shared.f32(c), exec.f32(c), static_cast<size_t>(m * n) * 4), 0);
      }
}

// Products with image data leave out its all-zero columns (runtime/README.md,
// "Zero columns of the data") and compute what the whole product computes: a
// dense layer's forward product (bias, relu; in column slices at 2 and 3
// threads, whole at 1) and its weight gradient (every other column of which
// must come out exactly 0), on batches with many zero columns (one of them
// nonzero in a single row; then another such batch, so nothing may come from
// the last run), an all-zero batch, and a batch with too few to be worth it,
// which runs whole.
// vaec compile's look at the training data: below 1/8 zero columns per
// batch no product is marked and the plan says why; above, as before; not
// looked at (-1), as before.

// --profile's record of a step: the fastest run exactly, the median to
// within a bucket (2 %) whatever the outliers, in bounded memory.
TEST(StepTimes, MedianAndFastestIgnoreOutliers) {
  rt::StepTimes t;
  EXPECT_EQ(t.median(), 0);
  for (double s : {1.0e-3, 1.1e-3, 0.9e-3, 1.05e-3, 0.95e-3, 40e-3, 90e-3}) t.add(s);
  EXPECT_EQ(t.runs, 7);
  EXPECT_DOUBLE_EQ(t.fastest, 0.9e-3);
  EXPECT_NEAR(t.median(), 1.05e-3, 0.0105e-3);  // the 4th of 7
  EXPECT_NEAR(t.total, 0.135, 1e-12);
  // Beyond the histogram's range at both ends: counted, never out of bounds.
  rt::StepTimes edges;
  for (double s : {0.0, 1e-9, 1e4, 1e300}) edges.add(s);
  EXPECT_EQ(edges.runs, 4);
  EXPECT_EQ(edges.fastest, 0.0);
  EXPECT_GT(edges.median(), 30.0);  // the upper middle of four: the last bucket
  EXPECT_EQ(edges.buckets.size(), size_t(rt::StepTimes::kBuckets));
}

// Its idle share: of the counted regions' wall time times their threads,
// what the threads did not spend working; none counted is -1, and clock
// skew that puts the work above the region's time is 0, not negative.
TEST(StepTimes, IdleIsTheRegionsThreadTimeNotWorked) {
  rt::StepTimes t;
  EXPECT_EQ(t.idle(), -1);
  t.add_region(1e-3, 2, 1.5e-3);  // one thread worked all of it, the other half
  EXPECT_DOUBLE_EQ(t.idle(), 0.25);
  t.add_region(2e-3, 1, 2e-3);  // a region of one thread, never idle
  EXPECT_DOUBLE_EQ(t.idle(), 0.5e-3 / 4e-3);
  rt::StepTimes skew;
  skew.add_region(1e-3, 2, 2.1e-3);
  EXPECT_EQ(skew.idle(), 0);
}
