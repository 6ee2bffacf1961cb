// The runtime's executor and trainer on a plan built by hand, with kernels
// written in C++ against the kernel ABI: matmuls (transposes, bias, post-ops)
// and kernels (threads, accumulation, rank 0, rng) against naive loops, Adam
// against its formula, the plan text round trip and its rejections, the
// trainer's errors, a whole run, resuming from checkpoints and non-finite
// diagnosis, and the link line `vaec compile` uses.
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
#include <map>
#include <functional>
#include <mutex>

#include "train/checkpoint.h"
#include "exec/executor.h"
#include "abi/plan.h"
#include "codegen/emit_trainer.h"
#include "codegen/place_updates.h"
#include "codegen/skip_zero_columns.h"
#include "codegen/split_products.h"
#include "program/program.h"

using namespace vaec;
using namespace vaec::rt;

namespace {

// --- the test plan: decode u8 -> matmul(ta, tb, bias, relu) -> affine with
// column sums -> rank-0 loss; then matmul(sigmoid) and a zero step ---

constexpr int64_t M = 250, K = 7, N = 3, P = 4;
constexpr int64_t kSplitPoints = 1 << 20;

// a_t[k, m] = in[m, k] / 255: the input, decoded and stored transposed.
extern "C" void k_decode(void *const *buf, int64_t begin, int64_t end, const uint64_t *) {
  auto *in = static_cast<const uint8_t *>(buf[0]);
  auto *a_t = static_cast<float *>(buf[1]);
  for (int64_t i = begin; i < end; ++i)
    for (int64_t j = 0; j < K; ++j) a_t[j * M + i] = in[i * K + j] / 255.0f;
}

// y = 2 c + b2 (b2 broadcast over rows); colsum[j] += y[i, j]; total += y.
extern "C" void k_affine(void *const *buf, int64_t begin, int64_t end, const uint64_t *) {
  auto *c = static_cast<const float *>(buf[0]), *b2 = static_cast<const float *>(buf[1]);
  auto *y = static_cast<float *>(buf[2]), *colsum = static_cast<float *>(buf[3]), *total = static_cast<float *>(buf[4]);
  for (int64_t i = begin; i < end; ++i)
    for (int64_t j = 0; j < N; ++j) {
      const float v = 2.0f * c[i * N + j] + b2[j];
      y[i * N + j] = v;
      colsum[j] += v;
      total[0] += v;
    }
}

// Rank 0: loss = total / M, and the rng it was called with.
extern "C" void k_loss(void *const *buf, int64_t begin, int64_t end, const uint64_t *rng) {
  auto *total = static_cast<const float *>(buf[0]);
  auto *loss = static_cast<float *>(buf[1]), *seen = static_cast<float *>(buf[2]);
  loss[0] = total[0] / M;
  seen[0] = static_cast<float>(rng[0]);
  seen[1] = static_cast<float>(rng[1]);
}

constexpr double kBeta1 = 0.9, kBeta2 = 0.999, kEps = 1e-8;

// Adam with the plan's hyper values; args params, grads, hyper0, hyper1, m, v.
extern "C" void k_adam(void *const *buf, int64_t begin, int64_t end, const uint64_t *) {
  auto *p = static_cast<float *>(buf[0]), *g = static_cast<float *>(buf[1]);
  const float h0 = *static_cast<float *>(buf[2]), h1 = *static_cast<float *>(buf[3]);
  auto *m = static_cast<float *>(buf[4]), *v = static_cast<float *>(buf[5]);
  for (int64_t i = begin; i < end; ++i) {
    m[i] = float(kBeta1) * m[i] + float(1 - kBeta1) * g[i];
    v[i] = float(kBeta2) * v[i] + float(1 - kBeta2) * g[i] * g[i];
    p[i] -= h0 * m[i] / (std::sqrt(v[i]) * h1 + float(kEps));
  }
}

// Records the row ranges it is called with.
std::mutex ranges_mutex;
std::vector<std::pair<int64_t, int64_t>> ranges;
extern "C" void k_decode_logged(void *const *buf, int64_t begin, int64_t end, const uint64_t *rng) {
  {
    std::lock_guard<std::mutex> lock(ranges_mutex);
    ranges.emplace_back(begin, end);
  }
  k_decode(buf, begin, end, rng);
}

extern "C" void k_nan(void *const *buf, int64_t, int64_t, const uint64_t *) {
  static_cast<float *>(buf[0])[0] = NAN;
}

// A stand-in gradient that depends on everything a resumed run must restore:
// the parameters, the batch (so the shuffle) and the rng step (so the global
// step). Args in, params, grads over the param_count elements.
constexpr int64_t kParamCount = N * K + N + N * P + N;
extern "C" void k_fake_grad(void *const *buf, int64_t begin, int64_t end, const uint64_t *rng) {
  auto *in = static_cast<const uint8_t *>(buf[0]);
  auto *p = static_cast<const float *>(buf[1]);
  auto *g = static_cast<float *>(buf[2]);
  for (int64_t i = begin; i < end; ++i) g[i] = 0.1f * p[i] + in[(i * 31 + rng[1]) % (M * K)] / 255.0f - 0.5f;
}

// NaN into its argument from training step 3 on.
extern "C" void k_nan_after_2(void *const *buf, int64_t, int64_t, const uint64_t *rng) {
  if (rng[1] > 2 && rng[1] < kEvalStepBase) static_cast<float *>(buf[0])[0] = NAN;
}

// The fused-update plan's kernel: u's gradient is a copy of src, and the loss
// src[0] * scale[0]. Args src, u.grad, scale, loss.
constexpr int64_t kSmall = 20;
extern "C" void k_small_grad(void *const *buf, int64_t, int64_t, const uint64_t *) {
  auto *src = static_cast<const float *>(buf[0]), *scale = static_cast<const float *>(buf[2]);
  auto *g = static_cast<float *>(buf[1]), *loss = static_cast<float *>(buf[3]);
  for (int64_t i = 0; i < kSmall; ++i) g[i] = src[i];
  loss[0] = src[0] * scale[0];
}

// The zero-columns plan: x[i, j] = in[i, j] / 255, row-major [kZm, kZk].
constexpr int64_t kZm = 128, kZk = 640, kZn = 512;
extern "C" void k_decode_rows(void *const *buf, int64_t begin, int64_t end, const uint64_t *) {
  auto *in = static_cast<const uint8_t *>(buf[0]);
  auto *x = static_cast<float *>(buf[1]);
  for (int64_t i = begin; i < end; ++i)
    for (int64_t j = 0; j < kZk; ++j) x[i * kZk + j] = in[i * kZk + j] / 255.0f;
}

const vaec_kernel_entry kKernels[] = {{"decode_rows", k_decode_rows},{"decode", k_decode},       {"affine", k_affine},
                                      {"loss", k_loss},           {"adam", k_adam},
                                      {"nan", k_nan},             {"decode_logged", k_decode_logged},
                                      {"fake_grad", k_fake_grad}, {"nan_after_2", k_nan_after_2},
                                      {"small_grad", k_small_grad}, {nullptr, nullptr}};

// Buffer indices of the test plan.
struct TestPlan {
  plan::Plan plan;
  int in, a_t, w1, bias, w2, b2, c, y, colsum, total, loss, seen, d, junk, params, grads;
};

// The choices vaec compile makes for a plan (codegen/pipeline.h) at
// `threads`: zero-column products, slices, the gate and the updates (for a
// fixed team unless `adaptive_team`). Steps a test added after an earlier
// call are placed anew.
plan::Plan as_compiled(plan::Plan p, int threads = 2, bool late_updates = true, bool adaptive_team = false) {
  for (plan::Program *prog : {&p.train, &p.eval}) {
    std::erase_if(prog->steps, [](const plan::Step &s) {
      return s.kind == plan::Step::Gate || s.kind == plan::Step::Optimize;
    });
    for (plan::Step &s : prog->steps) s.split = plan::Step::Whole, s.zeros = plan::Step::Keep;
  }
  CodegenOptions o;
  o.threads = threads;
  o.late_updates = late_updates;
  o.adaptive_team = adaptive_team;
  skip_zero_columns(p, o);
  split_products(p, o);
  place_updates(p, o);
  return p;
}

int add_buffer(plan::Plan &p, const std::string &name, plan::DType type, int64_t elements, int64_t offset = -1) {
  if (offset < 0) {
    offset = (p.arena_bytes + 63) / 64 * 64;
    p.arena_bytes = offset + elements * plan::dtype_bytes(type);
  }
  p.buffers.push_back({name, type, elements, offset});
  return static_cast<int>(p.buffers.size()) - 1;
}

// `elements` is the kernel's work: as the compiler does, only kernels of 16k
// or more split their rows among the threads.
plan::Step kernel_step(const std::string &name, int64_t domain0, std::vector<int> args, std::vector<int> acc = {},
                       int64_t elements = 1) {
  plan::Step s;
  s.kind = plan::Step::Kernel;
  s.kernel = name;
  s.domain0 = domain0;
  s.rows = elements >= (int64_t{1} << 14) && domain0 > 1;
  s.args = std::move(args);
  s.accumulate = std::move(acc);
  s.where = "test.yaml:1:" + name;
  return s;
}

plan::Step matmul_step(int a, int b, int c, int bias, int64_t m, int64_t n, int64_t k, bool ta, bool tb,
                       std::string post) {
  plan::Step s;
  s.kind = plan::Step::Matmul;
  s.a = a, s.b = b, s.c = c, s.bias = bias, s.m = m, s.n = n, s.k = k, s.ta = ta, s.tb = tb;
  s.post = std::move(post);
  s.where = "test.yaml:2:1";
  return s;
}

// The parameters in order in a parameter region and a gradient region of the
// same layout: packed, or (lines) each starting on a 64-byte line as vaec's
// plans place them. U(-1/sqrt(last dim), +) initialisation.
void add_params(plan::Plan &p, const std::vector<std::pair<std::string, std::vector<int64_t>>> &params, bool lines) {
  auto line_up = [&](int64_t n) { return lines ? (n + 15) / 16 * 16 : n; };
  std::vector<int64_t> at;
  int64_t n = 0;
  for (const auto &[name, dims] : params) {
    at.push_back(n = line_up(n));
    n += dims.size() == 1 ? dims[0] : dims[0] * dims[1];
  }
  p.param_count = line_up(n);
  p.param_region = add_buffer(p, "params", plan::DType::F32, p.param_count);
  p.grad_region = add_buffer(p, "grads", plan::DType::F32, p.param_count);
  for (size_t i = 0; i < params.size(); ++i) {
    const auto &[name, dims] = params[i];
    const int64_t e = dims.size() == 1 ? dims[0] : dims[0] * dims[1];
    plan::Param q;
    q.name = name;
    q.dims = dims;
    q.init_bound = 1.0 / std::sqrt(double(dims.back()));
    q.buffer = add_buffer(p, name, plan::DType::F32, e, p.buffers[p.param_region].offset + at[i] * 4);
    q.grad_buffer = add_buffer(p, name + ".grad", plan::DType::F32, e, p.buffers[p.grad_region].offset + at[i] * 4);
    p.params.push_back(q);
  }
}

std::map<std::string, std::string> adam_config(int64_t batch, int epochs) {
  return {{"batch", std::to_string(batch)}, {"data", "mnist"}, {"data_path", "data/mnist"},
          {"epochs", std::to_string(epochs)}, {"optimizer", "adam"}, {"lr", "0.001"}, {"beta1", "0.9"},
          {"beta2", "0.999"}, {"seed", "7"}, {"input", "in"}, {"input_shape", std::to_string(K)}};
}

// Adam's hyper values and state regions after the plan's parameter and
// gradient regions, and its optimizer kernel.
void add_adam(plan::Plan &p) {
  const int64_t hyper = (p.arena_bytes + 63) / 64 * 64;
  p.hyper = add_buffer(p, "hyper.0", plan::DType::F32, 1, hyper);
  add_buffer(p, "hyper.1", plan::DType::F32, 1, hyper + 4);
  p.arena_bytes = hyper + 8;
  p.state_regions = {add_buffer(p, "adam.m", plan::DType::F32, p.param_count),
                     add_buffer(p, "adam.v", plan::DType::F32, p.param_count)};
  p.optimizer_kernel = "adam";
  p.optimizer_args = {p.param_region, p.grad_region, p.hyper, p.hyper + 1, p.state_regions[0], p.state_regions[1]};
}

TestPlan make_plan() {
  TestPlan t;
  plan::Plan &p = t.plan;
  p.model = "executor_test";
  p.config = adam_config(M, 2);
  // Parameters, then gradients, then Adam's state: each one contiguous region.
  add_params(p, {{"w1", {N, K}}, {"bias", {N}}, {"w2", {N, P}}, {"b2", {N}}}, false);
  t.params = p.param_region, t.grads = p.grad_region;
  t.w1 = p.params[0].buffer, t.bias = p.params[1].buffer, t.w2 = p.params[2].buffer, t.b2 = p.params[3].buffer;
  add_adam(p);

  t.in = add_buffer(p, "in", plan::DType::U8, M * K);
  t.a_t = add_buffer(p, "a_t", plan::DType::F32, K * M);
  t.c = add_buffer(p, "c", plan::DType::F32, M * N);
  t.y = add_buffer(p, "y", plan::DType::F32, M * N);
  t.colsum = add_buffer(p, "colsum", plan::DType::F32, N);
  t.total = add_buffer(p, "total", plan::DType::F32, 1);
  t.loss = add_buffer(p, "loss", plan::DType::F32, 1);
  t.seen = add_buffer(p, "seen", plan::DType::F32, 2);
  t.d = add_buffer(p, "d", plan::DType::F32, M * P);
  t.junk = add_buffer(p, "junk", plan::DType::F32, 100);
  p.loss_scaling = {{"total", "batch"}, {"sum", "sum"}};

  plan::Program &train = p.train;
  train.name = "train";
  train.batch = M;
  train.input = t.in;
  train.input_row = K;
  train.losses = {{"sum", t.total}, {"total", t.loss}};
  // The two row kernels claim enough work to be split among threads, so the
  // multi-threaded tests exercise chunks and per-chunk accumulation.
  train.steps = {kernel_step("decode", M, {t.in, t.a_t}, {}, kSplitPoints),
                 matmul_step(t.a_t, t.w1, t.c, t.bias, M, N, K, true, true, "relu"),
                 kernel_step("affine", M, {t.c, t.b2, t.y, t.colsum, t.total}, {3, 4}, kSplitPoints),
                 kernel_step("loss", 1, {t.total, t.loss, t.seen}),
                 matmul_step(t.y, t.w2, t.d, -1, M, P, N, false, false, "sigmoid")};
  plan::Step zero;
  zero.kind = plan::Step::Zero;
  zero.c = t.junk;
  train.steps.push_back(zero);
  p.eval = train;
  p.eval.name = "eval";
  p.eval.steps.pop_back();
  t.plan = as_compiled(std::move(t.plan));
  return t;
}

void fill_input(Executor &exec, const TestPlan &t, uint32_t salt) {
  uint8_t *in = exec.u8(t.in);
  for (int64_t i = 0; i < M * K; ++i) in[i] = static_cast<uint8_t>((i * 37 + salt * 11) % 256);
}

// The train program's outputs computed naively in double.
struct Reference {
  std::vector<double> c, y, colsum, d;
  double total = 0, loss = 0, abs_total = 0;
};

Reference reference(Executor &exec, const TestPlan &t) {
  Reference r;
  const uint8_t *in = exec.u8(t.in);
  const float *w1 = exec.f32(t.w1), *bias = exec.f32(t.bias), *w2 = exec.f32(t.w2), *b2 = exec.f32(t.b2);
  r.c.assign(M * N, 0), r.y.assign(M * N, 0), r.colsum.assign(N, 0), r.d.assign(M * P, 0);
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      double s = bias[j];
      for (int64_t q = 0; q < K; ++q) s += in[i * K + q] / 255.0 * w1[j * K + q];  // w1 stored [N, K]
      r.c[i * N + j] = std::max(s, 0.0);
      r.y[i * N + j] = 2 * r.c[i * N + j] + b2[j];
      r.colsum[j] += r.y[i * N + j];
      r.total += r.y[i * N + j];
      r.abs_total += std::abs(r.y[i * N + j]);
    }
  r.loss = r.total / M;
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < P; ++j) {
      double s = 0;
      for (int64_t q = 0; q < N; ++q) s += r.y[i * N + q] * w2[q * P + j];
      r.d[i * P + j] = 1 / (1 + std::exp(-s));
    }
  return r;
}

void expect_near_all(const float *got, const std::vector<double> &want, double scale, const char *what) {
  for (size_t i = 0; i < want.size(); ++i)
    ASSERT_NEAR(got[i], want[i], 1e-5 * std::max(std::abs(want[i]), scale)) << what << "[" << i << "]";
}

std::vector<float> copy_of(Executor &exec, int buffer, int64_t n) {
  const float *p = exec.f32(buffer);
  return std::vector<float>(p, p + n);
}

}  // namespace

// --- the executor ---

class ExecutorThreads : public ::testing::TestWithParam<int> {};

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
  // bf16 copies (share_rounding.h): only a bf16 product reads one, it must
  // be large enough, and a gate bounds it through the reorder that rounds it.
  t = make_plan();
  t.plan.train.steps[1].a = add_buffer(t.plan, "a_t.bf16", plan::DType::BF16, K * M);
  EXPECT_EQ(message(t.plan), "matmul train step 1 (test.yaml:2:1) a: buffer a_t.bf16 is not f32");
  t.plan.train.steps[1].bf16 = true;
  t.plan.train.steps[1].a = add_buffer(t.plan, "short.bf16", plan::DType::BF16, K * M - 1);
  EXPECT_EQ(message(t.plan), "matmul train step 1 (test.yaml:2:1) a: buffer short.bf16 has 1749 elements, needs 1750");
  f = make_fused_plan();
  for (plan::Step &s : f.plan.train.steps)
    if (s.kind == plan::Step::Gate) {
      plan::Step &bounded = f.plan.train.steps[s.bound.at(0)];
      bounded.bf16 = true;
      bounded.a = add_buffer(f.plan, "dy.bf16", plan::DType::BF16, bounded.m * bounded.k);
    }
  EXPECT_EQ(message(f.plan),
            "program train step 2 (-): a gate bounds a product of bf16 buffer dy.bf16, which no reorder rounds");
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
  p.params = {{"w", add_buffer(p, "w", plan::DType::F32, w_size, p.buffers[p.param_region].offset),
               add_buffer(p, "w.grad", plan::DType::F32, w_size, p.buffers[p.grad_region].offset),
               b_is_param ? std::vector<int64_t>{n, k} : std::vector<int64_t>{16}, 0.1}};
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
    EXPECT_EQ(exec.matmuls().at(0).parts, threads < 5 && m < n ? threads : 1) << threads;  // 5 x 64 > 304
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
// one-thread oneDNN call with its own scratchpad), and computes what the
// whole call computes; with as many rows as columns it runs whole.
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
            if (s.kind == plan::Step::Matmul) s.bf16 = true, s.split = split;
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
TEST(Codegen, ZeroColumnMarksFollowTheData) {
  const auto F32 = plan::DType::F32;
  plan::Plan p;
  const int in = add_buffer(p, "in", plan::DType::U8, 64 * 784), x = add_buffer(p, "x", F32, 64 * 784);
  const int w = add_buffer(p, "w", F32, 400 * 784), h = add_buffer(p, "h", F32, 64 * 400);
  p.train.name = "train", p.train.batch = 64, p.train.input = in, p.train.input_row = 784;
  p.train.steps = {kernel_step("decode_rows", 64, {in, x}, {}, 64 * 784),
                   matmul_step(x, w, h, -1, 64, 400, 784, false, true, "relu")};
  for (double share : {-1.0, 0.004, 0.3}) {
    plan::Plan q = p;
    CodegenOptions o;
    o.data_zero_columns = share;
    skip_zero_columns(q, o);
    const bool marked = q.train.steps[1].zeros == plan::Step::Inner;
    EXPECT_EQ(marked, share != 0.004) << share;
    EXPECT_EQ(q.notes.size(), share == 0.004 ? 1u : 0u) << share;
    if (!q.notes.empty()) EXPECT_NE(q.notes[0].find("0.4 % of the input's columns all 0"), std::string::npos) << q.notes[0];
  }
}

// The plan of the zero-column tests: x = in / 255 [kZm, kZk] (the data);
// h = relu(x w^T + bias) [kZm, kZn]; w.grad = g^T x, g [kZm, kZn] written by
// the test (the gradient at the layer's kZn units).
struct ZeroColumnsPlan {
  plan::Plan p;
  plan::Param w;
  int in, x, bias, h, g;
};

ZeroColumnsPlan make_zero_columns_plan() {
  const auto F32 = plan::DType::F32;
  ZeroColumnsPlan z;
  plan::Plan &p = z.p;
  p.config = {{"optimizer", "sgd"}};
  p.param_count = kZn * kZk;
  p.param_region = add_buffer(p, "params", F32, p.param_count);
  p.grad_region = add_buffer(p, "grads", F32, p.param_count);
  z.w = {"w", add_buffer(p, "w", F32, kZn * kZk, p.buffers[p.param_region].offset),
         add_buffer(p, "w.grad", F32, kZn * kZk, p.buffers[p.grad_region].offset), {kZn, kZk}, 0.1};
  p.params = {z.w};
  p.hyper = add_buffer(p, "hyper.0", F32, 1);
  p.optimizer_kernel = "nan";  // never run here
  p.optimizer_args = {p.hyper};
  z.in = add_buffer(p, "in", plan::DType::U8, kZm * kZk), z.x = add_buffer(p, "x", F32, kZm * kZk);
  z.bias = add_buffer(p, "bias", F32, kZn), z.h = add_buffer(p, "h", F32, kZm * kZn);
  z.g = add_buffer(p, "g", F32, kZm * kZn);
  for (plan::Program *prog : {&p.train, &p.eval}) {
    prog->batch = kZm, prog->input = z.in, prog->input_row = kZk;
    prog->steps = {kernel_step("decode_rows", kZm, {z.in, z.x}, {}, kZm * kZk),
                   matmul_step(z.x, z.w.buffer, z.h, z.bias, kZm, kZn, kZk, false, true, "relu"),
                   matmul_step(z.g, z.x, z.w.grad_buffer, -1, kZn, kZk, kZm, true, false, "")};
  }
  p.train.name = "train", p.eval.name = "eval";
  return z;
}

// w.grad = g^T x in double.
std::vector<double> weight_gradient(const float *g, const float *x) {
  std::vector<double> want(kZn * kZk);
  for (int64_t j = 0; j < kZn; ++j)
    for (int64_t q = 0; q < kZk; ++q) {
      double sum = 0;
      for (int64_t i = 0; i < kZm; ++i) sum += double(g[i * kZn + j]) * x[i * kZk + q];
      want[j * kZk + q] = sum;
    }
  return want;
}

TEST(Executor, LeavesOutZeroColumnsOfImageData) {
  ZeroColumnsPlan z = make_zero_columns_plan();
  const plan::Plan &p = z.p;
  const plan::Param &w = z.w;
  const int in = z.in, x = z.x, bias = z.bias, h = z.h, g = z.g;
  enum Batch { Sparse, Sparse2, AllZero, Dense };
  auto pixel = [](Batch b, int64_t i, int64_t j) -> uint8_t {
    if (b == AllZero) return 0;
    if (b == Dense) return j % 40 == 0 ? 0 : (i * 31 + j * 7) % 256;
    if (b == Sparse2) return j < 64 || j % 4 == 0 ? 0 : (i * 17 + j * 5) % 256;  // 432 kept
    if (j == 100) return i == 77 ? 9 : 0;
    return j < 48 || j % 3 == 0 || j >= 600 ? 0 : (i * 31 + j * 7) % 256;  // 368 columns kept
  };
  for (int threads : {1, 2, 3}) {
    const plan::Plan compiled = as_compiled(p, threads, false);
    Executor exec(compiled, kKernels, threads, 0);
    EXPECT_TRUE(exec.matmuls().at(0).skips_zero_columns && exec.matmuls().at(1).skips_zero_columns);
    EXPECT_EQ(exec.matmuls().at(0).parts, threads);
    for (int64_t i = 0; i < kZn * kZk; ++i) exec.f32(w.buffer)[i] = static_cast<float>(std::cos(0.7 * double(i)) * 0.1);
    for (int64_t j = 0; j < kZn; ++j) exec.f32(bias)[j] = 0.01f * static_cast<float>(j % 7) - 0.03f;
    for (int64_t i = 0; i < kZm * kZn; ++i) exec.f32(g)[i] = static_cast<float>(std::sin(0.3 * double(i)));
    int64_t runs = 0, skipped = 0;
    for (Batch b : {Sparse, Sparse2, AllZero, Dense, Sparse}) {
      SCOPED_TRACE("threads " + std::to_string(threads) + ", batch " + std::to_string(b));
      for (int64_t i = 0; i < kZm; ++i)
        for (int64_t j = 0; j < kZk; ++j) exec.u8(in)[i * kZk + j] = pixel(b, i, j);
      std::fill(exec.f32(w.grad_buffer), exec.f32(w.grad_buffer) + kZn * kZk, 7.0f);  // all overwritten
      exec.run(p.train, 1);
      ++runs, skipped += b != Dense;
      for (size_t step : {1, 2}) EXPECT_EQ(exec.zero_column_runs(p.train, step), std::make_pair(runs, skipped));
      const float *xs = exec.f32(x), *ws = exec.f32(w.buffer);
      std::vector<double> want_h(kZm * kZn);
      for (int64_t i = 0; i < kZm; ++i)
        for (int64_t j = 0; j < kZn; ++j) {
          double sum = exec.f32(bias)[j];
          for (int64_t q = 0; q < kZk; ++q) sum += double(xs[i * kZk + q]) * ws[j * kZk + q];
          want_h[i * kZn + j] = std::max(sum, 0.0);
        }
      const std::vector<double> want_dw = weight_gradient(exec.f32(g), xs);
      expect_near_all(exec.f32(h), want_h, 1.0, "h");
      expect_near_all(exec.f32(w.grad_buffer), want_dw, 1.0, "dw");
      for (int64_t j = 0; j < kZn; ++j)
        for (int64_t q = 0; q < kZk; ++q)
          if (want_dw[j * kZk + q] == 0) {
            ASSERT_EQ(exec.f32(w.grad_buffer)[j * kZk + q], 0.0f) << j << "," << q;
          }
    }
  }
}

// A weight gradient g^T x leaves out the rows of units whose column of g is
// all zero (-0.0 counts as zero: a ReLU's gradient dh * 0), with and without
// the data's zero columns, and computes what the whole product computes: the
// left-out rows exactly 0, a unit nonzero in a single example kept. Batches:
// a third of the units dead over sparse data (outer+units), the same over
// dense data (units alone, b the data itself), none dead (the data's columns
// alone), every unit dead, and too few dead to be worth it (the whole
// product, or the data's columns alone).
TEST(Executor, LeavesOutUnitsNoExampleActivates) {
  ZeroColumnsPlan z = make_zero_columns_plan();
  enum Batch { DeadSparse, DeadDense, LiveSparse, AllDead, FewDead };
  auto pixel = [](Batch b, int64_t i, int64_t j) -> uint8_t {
    if (b == DeadDense) return j % 40 == 0 ? 0 : (i * 31 + j * 7) % 256;
    return j < 48 || j % 3 == 0 || j >= 600 ? 0 : (i * 31 + j * 7) % 256;  // 368 columns kept
  };
  auto grad = [](Batch b, int64_t i, int64_t j) -> float {
    const bool dead = b == AllDead || (b == FewDead ? j % 16 == 0 : b != LiveSparse && (j % 3 == 0 || j == 5));
    if (dead) return j == 5 || j == 6 ? -0.0f : 0.0f;
    if (j == 7) return i == 77 ? 0.5f : -0.0f;
    return static_cast<float>(std::sin(0.3 * double(i * kZn + j)));
  };
  for (int threads : {1, 2}) {
    const plan::Plan compiled = as_compiled(z.p, threads, false);
    ASSERT_TRUE(compiled.train.steps[2].zero_units && compiled.train.steps[2].zeros == plan::Step::Outer);
    Executor exec(compiled, kKernels, threads, 0);
    for (int64_t i = 0; i < kZn * kZk; ++i) exec.f32(z.w.buffer)[i] = 0.01f;
    int64_t runs = 0, columns = 0, units = 0;
    for (Batch b : {DeadSparse, DeadDense, LiveSparse, AllDead, FewDead, DeadSparse}) {
      SCOPED_TRACE("threads " + std::to_string(threads) + ", batch " + std::to_string(b));
      for (int64_t i = 0; i < kZm; ++i) {
        for (int64_t j = 0; j < kZk; ++j) exec.u8(z.in)[i * kZk + j] = pixel(b, i, j);
        for (int64_t j = 0; j < kZn; ++j) exec.f32(z.g)[i * kZn + j] = grad(b, i, j);
      }
      float *dw = exec.f32(z.w.grad_buffer);
      std::fill(dw, dw + kZn * kZk, 7.0f);  // all overwritten
      exec.run(z.p.train, 1);
      ++runs, columns += b != DeadDense, units += b != LiveSparse && b != FewDead;
      EXPECT_EQ(exec.zero_column_runs(z.p.train, 2), std::make_pair(runs, columns));
      EXPECT_EQ(exec.zero_column_runs(z.p.train, 2, true), std::make_pair(runs, units));
      const std::vector<double> want = weight_gradient(exec.f32(z.g), exec.f32(z.x));
      expect_near_all(dw, want, 1.0, "dw");
      for (int64_t j = 0; j < kZn; ++j) {
        bool dead = true;
        for (int64_t i = 0; i < kZm; ++i) dead = dead && grad(b, i, j) == 0.0f;
        for (int64_t q = 0; q < kZk; ++q)
          if (dead || want[j * kZk + q] == 0) ASSERT_EQ(dw[j * kZk + q], 0.0f) << j << "," << q;
        if (j == 7 && b != AllDead) EXPECT_FALSE(dead);
      }
    }
  }
}

// A plan whose zero-column or units product is not of the form the runtime
// runs is refused at start-up, naming the step.
TEST(Executor, RejectsZeroColumnProductsOfTheWrongForm) {
  const ZeroColumnsPlan z = make_zero_columns_plan();
  const plan::Plan compiled = as_compiled(z.p, 2, false);
  auto error_for = [&](auto change) {
    plan::Plan p = compiled;
    change(p.train.steps[2]);
    try {
      Executor exec(p, kKernels, 2, 0);
    } catch (const std::runtime_error &e) {
      return std::string(e.what());
    }
    return std::string("(accepted)");
  };
  auto has = [](const std::string &error, const std::string &text) { return error.find(text) != std::string::npos; };
  std::string e = error_for([](plan::Step &s) { s.zeros = plan::Step::Keep, s.ta = false, s.m = kZn, s.k = kZm; });
  EXPECT_TRUE(has(e, "test.yaml:2:1: a units product needs a transposed")) << e;
  e = error_for([](plan::Step &s) { s.split = plan::Step::Columns; });
  EXPECT_TRUE(has(e, "an outer zero-column or units product is cut by rows, not columns")) << e;
  e = error_for([](plan::Step &s) { s.zeros = plan::Step::Keep, s.post = "relu"; });
  EXPECT_TRUE(has(e, "an outer zero-column or units product needs b plain, no bias and no post-op")) << e;
  EXPECT_EQ(error_for([](plan::Step &s) { s.zeros = plan::Step::Keep; }), "(accepted)");
}

// --- the plan text ---

TEST(PlanText, RoundTrips) {
  TestPlan t = make_plan();
  const std::string text = plan::format_plan(t.plan);
  plan::Plan parsed;
  std::string error;
  ASSERT_TRUE(plan::parse_plan(text, parsed, error)) << error;
  EXPECT_EQ(plan::format_plan(parsed), text);
  EXPECT_EQ(parsed.train.steps[2].accumulate, (std::vector<int>{3, 4}));
  EXPECT_EQ(parsed.train.steps[1].where, "test.yaml:2:1");
  EXPECT_TRUE(parsed.train.steps[1].ta && parsed.train.steps[1].tb);
  // A bf16 product and the compiler's notes come back too.
  t.plan.train.steps[1].bf16 = true;
  t.plan.notes = {"train step 1 [4,8]x[8,3]: bf16 (f32 x 0.010 ms; bf16 y 0.005 ms + 0.001 ms rounding a and b)"};
  const std::string text2 = plan::format_plan(t.plan);
  ASSERT_TRUE(plan::parse_plan(text2, parsed, error)) << error;
  EXPECT_EQ(plan::format_plan(parsed), text2);
  EXPECT_TRUE(parsed.train.steps[1].bf16);
  EXPECT_EQ(parsed.notes, t.plan.notes);
  // A kernel that is a convolution says its multiply-adds per row.
  t.plan.train.steps[2].macs = 225792;
  const std::string text3 = plan::format_plan(t.plan);
  ASSERT_TRUE(plan::parse_plan(text3, parsed, error)) << error;
  EXPECT_EQ(plan::format_plan(parsed), text3);
  EXPECT_EQ(parsed.train.steps[2].macs, 225792);
  // A bf16 buffer (share_rounding's rounded copies): 2 bytes an element.
  t.plan.buffers.push_back({"train.x.bf16", plan::DType::BF16, 8, 0, 0, 0});
  const std::string text4 = plan::format_plan(t.plan);
  ASSERT_TRUE(plan::parse_plan(text4, parsed, error)) << error;
  EXPECT_EQ(plan::format_plan(parsed), text4);
  EXPECT_EQ(parsed.buffers.back().type, plan::DType::BF16);
  EXPECT_NE(text4.find("buffer train.x.bf16 bf16 8 0"), std::string::npos);
}

// Sizes linear in the batch (a+b*B) and extents that are the batch (B)
// round-trip, and at_batch resolves them: sizes at the run's batch, offsets
// and the arena at the layout's.
TEST(PlanText, BatchLinearSizesAndExtents) {
  std::string text = plan::format_plan(make_plan().plan);
  auto replace = [&](const std::string &from, const std::string &to) {
    const size_t at = text.find(from);
    ASSERT_NE(at, std::string::npos) << from;
    text.replace(at, from.size(), to);
  };
  replace("arena 20368", "arena 20368+1000*B");
  replace("buffer junk f32 100 ", "buffer junk f32 100+2*B ");
  replace("matmul 15 2 16 4 250 ", "matmul 15 2 16 4 B ");
  plan::Plan p;
  std::string error;
  ASSERT_TRUE(plan::parse_plan(text, p, error)) << error;
  EXPECT_EQ(plan::format_plan(p), text);
  const plan::Plan r = plan::at_batch(p, 3, 5);
  EXPECT_EQ(r.arena_bytes, 20368 + 5000);
  EXPECT_EQ(r.arena_row, 0);
  const int junk = static_cast<int>(p.buffers.size()) - 1;
  ASSERT_EQ(p.buffers[junk].name, "junk");
  EXPECT_EQ(r.buffers[junk].elements, 106);
  EXPECT_EQ(r.train.steps[1].m, 3);
  EXPECT_EQ(r.train.batch, 3);
  // A per-example part past the arena's per-example bytes is refused.
  std::string bad = text;
  bad.replace(bad.find("100+2*B"), 7, "100+900*B");
  EXPECT_FALSE(plan::parse_plan(bad, p, error));
  EXPECT_NE(error.find("buffer junk lies outside the arena"), std::string::npos) << error;
}

TEST(PlanText, RejectsMalformedText) {
  const std::string good = plan::format_plan(make_plan().plan);
  auto error_for = [&](const std::string &from, const std::string &to) {
    std::string text = good;
    size_t at = text.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    if (at != std::string::npos) text.replace(at, from.size(), to);
    plan::Plan p;
    std::string error;
    return plan::parse_plan(text, p, error) ? std::string("(accepted)") : error;
  };
  EXPECT_EQ(error_for("args 16 8 17", "args 16 99 17"), "plan: buffer index out of range in kernel affine");
  EXPECT_EQ(error_for("acc 3 4", "acc 3 9"),
            "plan: buffer index out of range in kernel affine (accumulated argument position)");
  EXPECT_EQ(error_for("loss total 20", "loss total 1000"), "plan: buffer index out of range in loss total");
  EXPECT_EQ(error_for("optimizer adam 0", "optimizer adam 77"), "plan: buffer index out of range in optimizer adam");
  EXPECT_EQ(error_for("zero 23", "zero -1"), "plan: buffer index out of range in zero at ");
  EXPECT_EQ(error_for("program eval", "program train"), "plan line 60: program defined twice: 'program train 250 14 7'");
  EXPECT_EQ(error_for("end\nprogram eval", "end\nend\nnonsense"), "plan line 61: unknown keyword: 'nonsense 250 14 7'");
  EXPECT_EQ(error_for("optimize all", "optimize some"), "plan line 58: expected 'all' or 'params': 'optimize some where -'");
  EXPECT_EQ(error_for("relu whole", "relu halves"),
            "plan line 53: expected 'whole', 'columns' or 'rows': 'matmul 15 2 16 4 250 3 7 1 1 relu halves - where test.yaml:2:1'");
  EXPECT_EQ(error_for("relu whole -", "relu whole - fp8"),
            "plan line 53: expected 'bf16' or 'where': 'matmul 15 2 16 4 250 3 7 1 1 relu whole - fp8 where test.yaml:2:1'");
  EXPECT_EQ(error_for("relu whole -", "relu whole inner bf16"),
            "plan line 53: a bf16 product leaves out no zero columns: 'matmul 15 2 16 4 250 3 7 1 1 relu whole inner bf16 where "
            "test.yaml:2:1'");
  EXPECT_EQ(error_for("relu whole -", "relu whole units bf16"),
            "plan line 53: a bf16 product leaves out no zero columns: 'matmul 15 2 16 4 250 3 7 1 1 relu whole units bf16 where "
            "test.yaml:2:1'");
  EXPECT_EQ(error_for("relu whole -", "relu whole units+outer"),
            "plan line 53: expected '-', 'inner', 'outer', 'units' or 'outer+units': 'matmul 15 2 16 4 250 3 7 1 1 relu whole "
            "units+outer where test.yaml:2:1'");
  EXPECT_EQ(error_for("relu whole -", "relu whole outer+units"), "(accepted)");
  EXPECT_EQ(error_for("arena ", "arnea "), "plan line 14: unknown keyword: 'arnea 20368'");
  EXPECT_EQ(error_for("args 16 8 17 18 19 acc", "args 16 x acc"),
            "plan line 54: malformed argument list: 'kernel affine 250 rows 0 args 16 x acc 3 4 where test.yaml:1:affine'");
  EXPECT_EQ(error_for("acc 3 4 where", "acc 3 4 macs -5 where"),
            "plan line 54: malformed 'macs N': 'kernel affine 250 rows 0 args 16 8 17 18 19 acc 3 4 macs -5 where "
            "test.yaml:1:affine'");
  EXPECT_EQ(error_for("acc 3 4 where", "acc 3 4 macs 9 3 where"),
            "plan line 54: expected 'where' after 'macs N': 'kernel affine 250 rows 0 args 16 8 17 18 19 acc 3 4 macs 9 3 "
            "where test.yaml:1:affine'");
  EXPECT_EQ(error_for("matmul 15 2 16 4 250 3 7 1 1 relu", "matmul 15 2"),
            "plan line 53: malformed line: 'matmul 15 2 whole - where test.yaml:2:1'");
  EXPECT_NE(error_for("buffer in u8", "buffer in u16").find("unknown element type 'u16'"), std::string::npos);
  EXPECT_NE(error_for("buffer junk f32 100", "buffer junk f32 100000").find("buffer junk lies outside the arena"),
            std::string::npos);
  // Buckets (train only): every parameter in exactly one, after a step of the program.
  const std::string loss = "loss total 20\n";
  EXPECT_EQ(error_for(loss, loss + "bucket 0 params 0 0\n"), "plan: buffer index out of range in bucket parameter 0");
  EXPECT_EQ(error_for(loss, loss + "bucket 99 params 0\n"), "plan: buffer index out of range in bucket after step 99");
  EXPECT_EQ(error_for(loss, loss + "bucket 0 params 0\n"),
            "plan: buffer index out of range in buckets (a parameter in none)");
  EXPECT_NE(error_for(loss, loss + "bucket 0 params 0 x\n").find("malformed index list"), std::string::npos);
  EXPECT_NE(error_for(loss, loss + "bucket 0 params\n").find("a bucket without parameters"), std::string::npos);
  plan::Plan p;
  std::string error;
  EXPECT_FALSE(plan::parse_plan(good.substr(0, good.find("program eval")), p, error));
  EXPECT_EQ(error, "plan has no eval program");
  EXPECT_FALSE(plan::parse_plan("", p, error));
  EXPECT_FALSE(plan::parse_plan(std::string("\0\xff junk\n", 8), p, error));
}

// --- the trainer ---

namespace {

// An MNIST-like IDX data set of [count, 1, K] "images" in `dir`.
void write_idx(const std::string &path, std::vector<uint32_t> dims, size_t keep_bytes = SIZE_MAX) {
  std::string bytes = {0, 0, 8, static_cast<char>(dims.size())};
  size_t n = 1;
  for (uint32_t d : dims) {
    n *= d;
    for (int shift : {24, 16, 8, 0}) bytes += static_cast<char>(d >> shift);
  }
  for (size_t i = 0; i < n; ++i) bytes += static_cast<char>(dims.size() == 1 ? i % 10 : (i * 7919) % 256);
  std::ofstream(path, std::ios::binary) << bytes.substr(0, std::min(keep_bytes, bytes.size()));
}

std::string write_dataset(const std::string &name, uint32_t train, uint32_t test) {
  const std::string dir = ::testing::TempDir() + "/" + name;
  std::filesystem::create_directories(dir);
  write_idx(dir + "/train-images-idx3-ubyte", {train, 1, K});
  write_idx(dir + "/train-labels-idx1-ubyte", {train});
  write_idx(dir + "/t10k-images-idx3-ubyte", {test, 1, K});
  write_idx(dir + "/t10k-labels-idx1-ubyte", {test});
  return dir;
}

struct TrainerRun {
  int status;
  std::string out, err;
};

// Metrics, pictures and checkpoints go to a temporary directory unless
// `args` says --out.
TrainerRun run_trainer(const plan::Plan &plan, std::vector<std::string> args) {
  const std::string text = plan::format_plan(plan);
  if (std::find(args.begin(), args.end(), "--out") == args.end())
    args.insert(args.begin(), {"--out", ::testing::TempDir() + "/trainer_out"});
  args.insert(args.begin(), "train");
  std::vector<char *> argv;
  for (std::string &a : args) argv.push_back(a.data());
  ::testing::internal::CaptureStdout();
  ::testing::internal::CaptureStderr();
  TrainerRun r;
  r.status = vaec_trainer_main(static_cast<int>(argv.size()), argv.data(), text.c_str(), kKernels);
  r.out = ::testing::internal::GetCapturedStdout();
  r.err = ::testing::internal::GetCapturedStderr();
  return r;
}

}  // namespace

TEST(Trainer, TrainsAndReportsPerEpoch) {
  const std::string dir = write_dataset("trainer_ok", 600, 500);
  TrainerRun r = run_trainer(make_plan().plan, {"--data", dir, "--threads", "2", "--epochs=2"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("epoch 1/2  train "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("epoch 2/2  train "), std::string::npos) << r.out;
  // A plan not sized per example (this test's) runs only whole batches.
  EXPECT_NE(r.out.find("(--drop-last: 100 images left out)"), std::string::npos) << r.out;
  // `total` is listed first, then the other losses in plan order.
  EXPECT_NE(r.out.find(" (sum "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("RESULT {\"framework\": \"vaec\", \"model\": \"executor_test\", \"batch\": 250, \"epochs\": 2, "
                       "\"steps\": 4, "),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("\"threads\": 2, \"ranks\": 1, \"images\": 1000, \"test_images\": 500, \"eval\": \"test\", "
                       "\"step_gflop\": 1.65e-05}"),  // the plan's products: 2 (250 x 3 x 7 + 250 x 4 x 3)
            std::string::npos)
      << r.out;

  r = run_trainer(make_plan().plan, {"--data", dir, "--threads", "1", "--max-steps", "3", "--quiet"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out.find("epoch "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"epochs\": 2, \"steps\": 3, "), std::string::npos) << r.out;
}

TEST(Trainer, DataErrorsAreMessagesNotCrashes) {
  const std::string dir = write_dataset("trainer_truncated", 600, 500);
  write_idx(dir + "/t10k-images-idx3-ubyte", {500, 1, K}, 1000);
  TrainerRun r = run_trainer(make_plan().plan, {"--data", dir});
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err, "error: " + dir + "/t10k-images-idx3-ubyte: truncated: header promises 3500 bytes of data, "
                   "the file has 984\n");
  EXPECT_EQ(r.out, "");

  r = run_trainer(make_plan().plan, {"--data", dir + "/nowhere"});
  EXPECT_EQ(r.status, 1);
  // A path given on the command line gets no hint about the bundled sets.
  EXPECT_EQ(r.err, "error: " + dir + "/nowhere: cannot open: No such file or directory\n");

  const std::string odd = write_dataset("trainer_odd_test_set", 600, 499);
  r = run_trainer(make_plan().plan, {"--data", odd});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("the batch 250 of this plan does not divide the 499 test examples"), std::string::npos) << r.err;
}

TEST(Trainer, OptionErrors) {
  const plan::Plan p = make_plan().plan;
  TrainerRun r = run_trainer(p, {"--batch", "64"});
  EXPECT_EQ(r.status, 1);
  // A plan not sized per example (a test's) runs only at its batch.
  EXPECT_EQ(r.err, "error: this plan runs only at batch 250 (its buffers are not sized per example)\n");
  r = run_trainer(p, {"--batch", "0"});
  EXPECT_EQ(r.err, "error: bad value '0' for --batch: expected a whole number from 1 to 1048576\n");
  r = run_trainer(p, {"--batch", "abc"});
  EXPECT_EQ(r.err, "error: bad value 'abc' for --batch: expected a whole number from 1 to 1048576\n");
  r = run_trainer(p, {"--batch", "250"});  // the plan's batch, said explicitly
  EXPECT_EQ(r.err.find("runs only at"), std::string::npos) << r.err;
  r = run_trainer(p, {"--epoch", "3"});
  EXPECT_EQ(r.err, "error: unknown option '--epoch'; did you mean '--epochs'?\n");
  r = run_trainer(p, {"--threads", "0"});
  EXPECT_EQ(r.err, "error: bad value '0' for --threads: expected a whole number from 1 to 4096\n");
  r = run_trainer(p, {"--lr"});
  EXPECT_EQ(r.err, "error: --lr needs a value\n");
  r = run_trainer(p, {"--help"});
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.out.find("usage: train [train] [options]"), std::string::npos);
  EXPECT_NE(r.out.find("--batch N      examples per step, any N (default 250, the compiled batch)"),
            std::string::npos) << r.out;
  EXPECT_NE(r.out.find("  manifold     --n N (15) --dims I,J (0,1)"), std::string::npos) << r.out;
  // An inspection command's options are its own.
  r = run_trainer(p, {"manifold", "--out", ::testing::TempDir(), "--epochs", "3"});
  EXPECT_EQ(r.err, "error: train manifold has no option '--epochs' (see train manifold --help)\n");
}

TEST(Trainer, NonFiniteLossStops) {
  TestPlan t = make_plan();
  t.plan.train.steps[3] = kernel_step("nan", 1, {t.loss});
  const std::string dir = write_dataset("trainer_nan", 600, 500);
  TrainerRun r = run_trainer(t.plan, {"--data", dir, "--threads", "2"});
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err, "error: loss 'total' is nan at epoch 1, step 1 of 2 (global step 1); the training diverged: "
                   "try a smaller --lr\n"
                   "note: the first non-finite value is in 'loss' (nan), computed by train step 3 (kernel nan) at "
                   "test.yaml:1:nan\n"
                   "note: this step was not applied; no checkpoint was written yet\n");
}

namespace {

// make_plan() with a gradient: the optimizer then really moves the
// parameters, so a resumed run that restored anything wrongly would differ.
TestPlan make_learning_plan() {
  TestPlan t = make_plan();
  t.plan.train.steps.push_back(kernel_step("fake_grad", kParamCount, {t.in, t.params, t.grads}, {}, kParamCount));
  t.plan = as_compiled(std::move(t.plan));
  return t;
}

std::string file_bytes(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// The report line of `epoch`, without its timings.
std::string epoch_line(const std::string &out, int epoch) {
  const std::string start = "epoch " + std::to_string(epoch) + "/";
  const size_t at = out.find(start);
  if (at == std::string::npos) return "(no line for epoch " + std::to_string(epoch) + ")";
  const std::string line = out.substr(at, out.find('\n', at) - at);
  return line.substr(0, line.rfind("  ", line.find(" img/s")));
}

}  // namespace

// Training 2 epochs equals training 1, then resuming for 1: the same
// checkpoint, byte for byte (parameters, Adam's state and t, the shuffle
// and the noise step all continue) and the same report.
TEST(Trainer, ResumeContinuesExactly) {
  static_assert(kParamCount == N * K + N + N * P + N);
  const std::string data = write_dataset("trainer_resume_data", 1000, 500);  // 4 steps an epoch
  const std::string dir = ::testing::TempDir() + "/trainer_resume";
  std::filesystem::remove_all(dir);
  const plan::Plan p = make_learning_plan().plan;
  auto train = [&](const std::string &out, std::vector<std::string> args) {
    args.insert(args.end(), {"--data", data, "--out", dir + "/" + out});
    TrainerRun r = run_trainer(p, args);
    EXPECT_EQ(r.status, 0) << r.err;
    return r;
  };
  const TrainerRun once = train("once", {"--threads", "2", "--epochs", "2"});
  train("split", {"--threads", "2", "--epochs", "1"});
  const std::string after_one = file_bytes(dir + "/split/checkpoint.bin");
  const TrainerRun resumed = train("split", {"--epochs", "2", "--resume"});  // threads from the checkpoint
  EXPECT_NE(after_one, file_bytes(dir + "/split/checkpoint.bin"));
  EXPECT_EQ(file_bytes(dir + "/once/checkpoint.bin"), file_bytes(dir + "/split/checkpoint.bin"));
  EXPECT_EQ(epoch_line(once.out, 2), epoch_line(resumed.out, 2));
  EXPECT_EQ(resumed.err, "");

  // Stopped mid-epoch by --max-steps (epoch 2, step 2 of 4), then resumed.
  const TrainerRun steps_once = train("steps_once", {"--threads", "2", "--epochs", "3", "--max-steps", "10"});
  train("steps_split", {"--threads", "2", "--epochs", "3", "--max-steps", "6"});
  const TrainerRun steps_resumed =
      train("steps_split", {"--epochs", "3", "--max-steps", "10", "--resume", dir + "/steps_split/checkpoint.bin"});
  EXPECT_EQ(file_bytes(dir + "/steps_once/checkpoint.bin"), file_bytes(dir + "/steps_split/checkpoint.bin"));
  EXPECT_EQ(epoch_line(steps_once.out, 2), epoch_line(steps_resumed.out, 2));
  EXPECT_EQ(epoch_line(steps_once.out, 3), epoch_line(steps_resumed.out, 3));
  EXPECT_NE(steps_resumed.out.find("\"epochs\": 3, \"steps\": 10, "), std::string::npos) << steps_resumed.out;

  // Another thread count is allowed, with a warning.
  const TrainerRun other_threads = train("split", {"--epochs", "3", "--resume", "--threads", "1"});
  EXPECT_EQ(other_threads.err, "warning: " + dir + "/split/checkpoint.bin was written with --threads 2, this run uses 1: "
                               "results will differ in the last bits from an uninterrupted run\n");
  const std::string csv = file_bytes(dir + "/split/metrics.csv");
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 4) << csv;  // the header and epochs 1, 2, 3
  EXPECT_NE(csv.find("\n3,12,"), std::string::npos) << csv;
  // Nothing left to train: the checkpoint is evaluated.
  const TrainerRun done = train("once", {"--epochs", "2", "--resume"});
  EXPECT_NE(done.out.find(dir + "/once/checkpoint.bin (epoch 2, global step 8): nothing left to train with --epochs 2; "
                                "evaluated it\n"),
            std::string::npos)
      << done.out;
  EXPECT_NE(done.out.find("\"epochs\": 2, \"steps\": 8, "), std::string::npos) << done.out;
}

TEST(Trainer, ResumeRefusesOtherModelsSeedsAndDamage) {
  const std::string data = write_dataset("trainer_refuse_data", 600, 500);
  const std::string dir = ::testing::TempDir() + "/trainer_refuse";
  std::filesystem::remove_all(dir);
  const plan::Plan p = make_learning_plan().plan;
  ASSERT_EQ(run_trainer(p, {"--data", data, "--epochs", "1", "--out", dir}).status, 0);
  const std::string path = dir + "/checkpoint.bin";
  auto resume = [&](const plan::Plan &plan, std::vector<std::string> args) {
    args.insert(args.end(), {"--data", data, "--out", dir});
    TrainerRun r = run_trainer(plan, args);
    EXPECT_EQ(r.status, 1);
    return r.err;
  };
  plan::Plan other = p;
  other.model = "other_model";
  EXPECT_EQ(resume(other, {"--resume"}), "error: " + path + " is a checkpoint of model 'executor_test', not of "
                                         "'other_model', which this trainer trains\n");
  plan::Plan recompiled = p;
  recompiled.config["lr"] = "0.002";
  EXPECT_NE(resume(recompiled, {"--resume"}).find("error: " + path + " was written by another compilation of model "
                                                  "'executor_test' (model hash "),
            std::string::npos);
  EXPECT_EQ(resume(p, {"--resume", "--seed", "9"}),
            "error: " + path + " was trained with --seed 7; a resumed run keeps its seed (leave out --seed)\n");
  EXPECT_EQ(resume(p, {"--resume", dir + "/nope.bin"}),
            "error: " + dir + "/nope.bin: cannot open: No such file or directory\n");
  std::string bytes = file_bytes(path);
  bytes[bytes.size() / 2] ^= 1;
  std::ofstream(dir + "/flipped.bin", std::ios::binary) << bytes;
  EXPECT_EQ(resume(p, {"--resume=" + dir + "/flipped.bin"}),
            "error: " + dir + "/flipped.bin: corrupt: the checksum does not match its contents\n");
  EXPECT_EQ(resume(p, {"--resume="}), "error: --resume= needs a file name\n");
}

// A gradient that turns NaN stops training before Adam applies it; the
// message names the gradient, the plan step that made it and its YAML
// location, and the checkpoint of the last epoch is kept.
TEST(Trainer, NonFiniteGradientStopsBeforeTheUpdate) {
  TestPlan t = make_learning_plan();
  t.plan.train.steps.push_back(kernel_step("nan_after_2", 1, {t.plan.params[2].grad_buffer}));
  t.plan = as_compiled(std::move(t.plan));
  const std::string data = write_dataset("trainer_nan_grad", 600, 500);  // 2 steps an epoch
  const std::string dir = ::testing::TempDir() + "/trainer_nan_grad_out";
  std::filesystem::remove_all(dir);
  TrainerRun r = run_trainer(t.plan, {"--data", data, "--threads", "2", "--out", dir});
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err, "error: the gradient of 'w2' is not finite at epoch 2, step 1 of 2 (global step 3); the training "
                   "diverged: try a smaller --lr\n"
                   "note: the first non-finite value is in 'w2.grad' (nan), computed by train step 7 (kernel "
                   "nan_after_2) at test.yaml:1:nan_after_2\n"
                   "note: this step was not applied; the last good checkpoint is " +
                       dir + "/checkpoint.bin (epoch 1, global step 2)\n");
  Checkpoint c;
  std::string error;
  ASSERT_TRUE(read_checkpoint(dir + "/checkpoint.bin", c, error)) << error;
  EXPECT_EQ(c.epoch, 1);
  EXPECT_EQ(c.global_step, 2u);
  for (const std::vector<float> &region : c.regions)
    for (float v : region) ASSERT_TRUE(std::isfinite(v));
}

// The link line of `vaec compile`, with a C++ stand-in for the kernels object:
//   c++ kernels.o libvaec_trainer.a -ldnnl -lpng -lz -fopenmp -o train
// The one kernel reports the mean pixel, so the test loss is known exactly.
TEST(Trainer, LinksAndRunsAsVaecCompileBuildsIt) {
  namespace fs = std::filesystem;
  const fs::path archive = fs::read_symlink("/proc/self/exe").parent_path() / "../../runtime/libvaec_trainer.a";
  if (!fs::exists(archive)) GTEST_SKIP() << "no " << archive << " (build the vaec_trainer target)";
  plan::Plan p;
  p.model = "mean_pixel";
  p.config = {{"data", "mnist"}, {"epochs", "1"},         {"optimizer", "sgd"},
              {"lr", "0.1"},    {"seed", "1"},           {"input", "in"},
              {"input_shape", std::to_string(K)}};
  const int in = add_buffer(p, "in", plan::DType::U8, 100 * K), loss = add_buffer(p, "loss", plan::DType::F32, 1);
  for (plan::Program *prog : {&p.train, &p.eval}) {
    prog->batch = 100, prog->input = in, prog->input_row = K;
    prog->losses = {{"total", loss}};
    prog->steps = {kernel_step("mean_pixel", 1, {in, loss})};
  }
  p.train.name = "train", p.eval.name = "eval";
  p.loss_scaling = {{"total", "mean"}};
  const fs::path dir = ::testing::TempDir() + "/trainer_link";
  fs::create_directories(dir);
  std::ofstream(dir / "kernels.cpp") << R"(#include <cstdint>
extern "C" {
typedef void (*vaec_kernel_fn)(void *const *, int64_t, int64_t, const uint64_t *);
struct vaec_kernel_entry { const char *name; vaec_kernel_fn fn; };
extern const char vaec_plan_text[];
extern const vaec_kernel_entry vaec_kernels[];
static void mean_pixel(void *const *b, int64_t, int64_t, const uint64_t *) {
  const uint8_t *in = static_cast<const uint8_t *>(b[0]);
  double s = 0;
  for (int i = 0; i < )" << 100 * K << R"(; ++i) s += in[i];
  *static_cast<float *>(b[1]) = float(s / )" << 100 * K << R"(.0 / 255);
}
const char vaec_plan_text[] = R"PLAN()" << plan::format_plan(p) << R"()PLAN";
const vaec_kernel_entry vaec_kernels[] = {{"mean_pixel", mean_pixel}, {nullptr, nullptr}};
}
)";
  const std::string data = write_dataset("trainer_link_data", 300, 200);
  const std::string d = dir.string();
  std::string flags;  // a sanitized build's archive needs the sanitizer runtimes, as in vaec compile
  for (const std::string &f : build_link_flags()) flags += " " + f;
  const std::string cmd = "cd " + d + " && c++ -c kernels.cpp -o kernels.o && c++ kernels.o " + archive.string() +
                          " -ldnnl -lpng -lz -fopenmp" + flags + " -o train && ./train --data " + data +
                          " --threads 2 > out.txt 2> err.txt";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  std::ifstream out(dir / "out.txt");
  const std::string text((std::istreambuf_iterator<char>(out)), std::istreambuf_iterator<char>());
  // The test images' mean pixel / 255, as write_idx made them.
  double sum = 0;
  for (size_t i = 0; i < 200 * K; ++i) sum += (i * 7919) % 256;
  char expected[64];
  std::snprintf(expected, sizeof expected, "\"test_loss\": %.4f,", sum / (200 * K) / 255);
  EXPECT_NE(text.find(expected), std::string::npos) << text;
  EXPECT_NE(text.find("epoch 1/1  train 0."), std::string::npos) << text;
}
