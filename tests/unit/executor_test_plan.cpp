// The executor tests' hand-built plan (contract in executor_test_plan.h).
#include "executor_test_plan.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <mutex>

#include "codegen/place_updates.h"
#include "codegen/skip_zero_columns.h"
#include "codegen/split_products.h"

namespace vaec::test {

std::mutex ranges_mutex;
std::vector<std::pair<int64_t, int64_t>> ranges;

namespace {

using rt::Executor;


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
extern "C" void k_fake_grad(void *const *buf, int64_t begin, int64_t end, const uint64_t *rng) {
  auto *in = static_cast<const uint8_t *>(buf[0]);
  auto *p = static_cast<const float *>(buf[1]);
  auto *g = static_cast<float *>(buf[2]);
  for (int64_t i = begin; i < end; ++i) g[i] = 0.1f * p[i] + in[(i * 31 + rng[1]) % (M * K)] / 255.0f - 0.5f;
}

// NaN into its argument from training step 3 on.
extern "C" void k_nan_after_2(void *const *buf, int64_t, int64_t, const uint64_t *rng) {
  if (rng[1] > 2 && rng[1] < rt::kEvalStepBase) static_cast<float *>(buf[0])[0] = NAN;
}

// The fused-update plan's kernel: u's gradient is a copy of src, and the loss
// src[0] * scale[0]. Args src, u.grad, scale, loss.
extern "C" void k_small_grad(void *const *buf, int64_t, int64_t, const uint64_t *) {
  auto *src = static_cast<const float *>(buf[0]), *scale = static_cast<const float *>(buf[2]);
  auto *g = static_cast<float *>(buf[1]), *loss = static_cast<float *>(buf[3]);
  for (int64_t i = 0; i < kSmall; ++i) g[i] = src[i];
  loss[0] = src[0] * scale[0];
}

// The zero-columns plan: x[i, j] = in[i, j] / 255, row-major [kZm, kZk].
extern "C" void k_decode_rows(void *const *buf, int64_t begin, int64_t end, const uint64_t *) {
  auto *in = static_cast<const uint8_t *>(buf[0]);
  auto *x = static_cast<float *>(buf[1]);
  for (int64_t i = begin; i < end; ++i)
    for (int64_t j = 0; j < kZk; ++j) x[i * kZk + j] = in[i * kZk + j] / 255.0f;
}

}  // namespace

using rt::Executor;

extern const vaec_kernel_entry kKernels[];
const vaec_kernel_entry kKernels[] = {{"decode_rows", k_decode_rows},{"decode", k_decode},       {"affine", k_affine},
                                      {"loss", k_loss},           {"adam", k_adam},
                                      {"nan", k_nan},             {"decode_logged", k_decode_logged},
                                      {"fake_grad", k_fake_grad}, {"nan_after_2", k_nan_after_2},
                                      {"small_grad", k_small_grad}, {nullptr, nullptr}};


plan::Plan as_compiled(plan::Plan p, int threads, bool late_updates, bool adaptive_team) {
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

int add_buffer(plan::Plan &p, const std::string &name, plan::DType type, int64_t elements, int64_t offset) {
  if (offset < 0) {
    offset = (p.arena_bytes + 63) / 64 * 64;
    p.arena_bytes = offset + elements * plan::dtype_bytes(type);
  }
  p.buffers.push_back({name, type, elements, offset});
  return static_cast<int>(p.buffers.size()) - 1;
}

plan::Step kernel_step(const std::string &name, int64_t domain0, std::vector<int> args, std::vector<int> acc,
                       int64_t elements) {
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

}  // namespace vaec::test
