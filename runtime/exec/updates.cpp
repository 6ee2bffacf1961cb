// The optimizer, the gate and the updates of a train program (plan steps
// Optimize and Gate; contract in executor.h, rules in place_updates.h of
// the compiler).
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <limits>
#include <tuple>

#include "exec/finite.h"
#include "exec/executor_impl.h"

namespace vaec::rt {

void Executor::Impl::prepare_optimizer(const vaec_kernel_entry *kernels) {
  if (plan.param_count == 0) return;
  if (plan.param_count < 0) fail("plan param_count is negative");
  auto region = [&](int b, const std::string &what) { check_buffer(b, DType::F32, plan.param_count, what); };
  region(plan.param_region, "parameter region");
  region(plan.grad_region, "gradient region");
  for (int s : plan.state_regions) region(s, "optimizer state region");
  for (const plan::Param &q : plan.params) {
    int64_t n = 1;
    for (int64_t d : q.dims) n *= d;
    check_buffer(q.buffer, DType::F32, n, "param " + q.name);
    check_buffer(q.grad_buffer, DType::F32, n, "gradient of " + q.name);
  }
  auto name = plan.config.find("optimizer");
  if (name == plan.config.end()) fail("plan config has no optimizer");
  if (name->second == "adam" || name->second == "adamw") {
    optimizer_kind = name->second == "adam" ? Optimizer::Adam : Optimizer::AdamW;
    beta1 = config_number(plan, "beta1");
    beta2 = config_number(plan, "beta2");
    if (optimizer_kind == Optimizer::AdamW) weight_decay = config_number(plan, "weight_decay");
  } else if (name->second != "rmsprop" && name->second != "sgd") {
    fail("unknown optimizer '" + name->second + "' in the plan");
  }
  if (plan.config.count("clip_grad_norm")) {
    clip_norm = config_number(plan, "clip_grad_norm");
    if (!(clip_norm > 0)) fail("the plan's clip_grad_norm is not positive");
    for (const Step &s : plan.train.steps)
      if (s.kind == Step::Gate || (s.kind == Step::Optimize && !s.all))
        fail("a plan that clips gradients updates all parameters at once, after every gradient");
  }
  // The hyper values are consecutive floats from buffer `hyper` on: the
  // compiler declares one 1-element buffer per value (hyper.0, hyper.1).
  const int64_t values = (optimizer_kind == Optimizer::Adam ? 2 : optimizer_kind == Optimizer::AdamW ? 3 : 1) +
                         (clip_norm > 0 ? 1 : 0);
  hyper_values = values;
  check_buffer(plan.hyper, DType::F32, 1, "optimizer hyper-parameters");
  if (plan.buffers[plan.hyper].offset + values * 4 > plan.arena_bytes)
    fail("the optimizer's " + std::to_string(values) + " hyper-parameters run past the arena's end");
  if (plan.optimizer_kernel.empty()) fail("the plan has parameters but no optimizer kernel");
  optimizer = prepare_kernel(find_kernel(kernels, plan.optimizer_kernel), plan.optimizer_args, {}, {}, plan.param_count, true, plan);
}

std::vector<Range> Executor::Impl::param_ranges(const std::vector<int> &params) const {
  const int64_t param0 = plan.buffers[plan.param_region].offset;
  std::vector<Range> ranges;
  for (int q : params) {
    const Buffer &b = plan.buffers[plan.params[q].buffer];
    const int64_t begin = (b.offset - param0) / 4;
    const int64_t end = std::min(plan.param_count, static_cast<int64_t>(round_up(begin + b.elements, kAlignFloats)));
    if (begin % static_cast<int64_t>(kAlignFloats) != 0) fail("parameter " + plan.params[q].name + " does not start on a 64-byte line");
    ranges.push_back({begin, end});
  }
  std::sort(ranges.begin(), ranges.end(), [](const Range &x, const Range &y) { return x.begin < y.begin; });
  std::vector<Range> merged;  // neighbours (up to a line's padding apart) as one range
  for (const Range &r : ranges)
    if (!merged.empty() && r.begin <= static_cast<int64_t>(round_up(merged.back().end, kAlignFloats)))
      merged.back().end = std::max(merged.back().end, r.end);
    else
      merged.push_back(r);
  return merged;
}

GateCall Executor::Impl::prepare_gate(const plan::Program &program, size_t index, const std::string &at) {
  const Step &s = program.steps[index];
  GateCall g;
  for (const auto &[name, buffer] : program.losses) g.losses.push_back(buffer);
  g.checked = param_ranges(s.params);
  auto operand = [&](int buffer, int64_t elements) {
    const void *p = address(buffer);
    for (size_t j = 0; j < g.operands.size(); ++j)
      if (g.operands[j].values == p && g.operands[j].elements == elements) return static_cast<int>(j);
    g.operands.push_back({p, elements, bf16_buffer(buffer)});
    return static_cast<int>(g.operands.size()) - 1;
  };
  // Through the values the product reads: a bf16 copy's (half the bytes
  // of its f32 source), or an f32 operand's, which a bf16 product without
  // copies rounds to nearest (never past the next bf16 value, a factor the
  // bound's margin covers).
  for (int b : s.bound) {
    if (b <= static_cast<int>(index) || b >= static_cast<int>(program.steps.size()))
      fail(at + ": a gate bounds a product before it");
    const Step &m = program.steps[b];
    check_buffer(m.a, bf16_buffer(m.a) ? DType::BF16 : DType::F32, m.m * m.k, at + ": bounded operand a");
    check_buffer(m.b, bf16_buffer(m.b) ? DType::BF16 : DType::F32, m.k * m.n, at + ": bounded operand b");
    g.bounds.push_back({operand(m.a, m.m * m.k), operand(m.b, m.k * m.n), m.k});
  }
  g.max_abs_of.resize(g.operands.size());
  g.partial_max.resize(static_cast<size_t>(std::max(1, optimizer.chunks)) * (g.operands.size() + 1));
  return g;
}

UpdateCall Executor::Impl::prepare_update(const plan::Program &program, size_t index, const std::string &at) {
  const Step &s = program.steps[index];
  if (plan.param_count == 0) fail(at + ": an update of a plan without parameters");
  UpdateCall u;
  u.all = s.all;
  if (!s.all) u.ranges = param_ranges(s.params);
  return u;
}

// What makes an update safe to run without checking its own gradients:
// a gate before it checked them or bounded the product that wrote them.
void Executor::Impl::check_updates(const plan::Program &program) const {
  std::vector<int> updates(plan.params.size(), 0);
  const Step *gate = nullptr;
  std::vector<bool> proven(plan.params.size(), false);
  for (size_t i = 0; i < program.steps.size(); ++i) {
    const Step &s = program.steps[i];
    const std::string at = "program " + program.name + " step " + std::to_string(i);
    if (s.kind == Step::Gate) {
      if (gate) fail(at + ": a second gate");
      gate = &s;
      for (int q : s.params) proven[q] = true;
    } else if (s.kind == Step::Matmul && gate &&
               std::find(gate->bound.begin(), gate->bound.end(), static_cast<int>(i)) != gate->bound.end()) {
      for (size_t q = 0; q < plan.params.size(); ++q)
        if (plan.params[q].grad_buffer == s.c && plan.buffers[s.c].elements == s.m * s.n) proven[q] = true;
    } else if (s.kind == Step::Optimize) {
      if (s.all) {
        for (int &u : updates) ++u;
        continue;
      }
      if (!gate) fail(at + ": an update of some parameters without a gate before it");
      for (int q : s.params) {
        if (!proven[q]) fail(at + ": updates " + plan.params[q].name + ", whose gradient no gate checked or bounded");
        ++updates[q];
      }
    }
  }
  for (size_t q = 0; q < updates.size(); ++q)
    if (updates[q] > 1 || (updates[q] == 0 && std::any_of(updates.begin(), updates.end(), [](int u) { return u > 0; })))
      fail("program " + program.name + " updates " + plan.params[q].name + " " + std::to_string(updates[q]) +
           " times, not once");
}

// Per chunk of the optimizer's threads: the largest |x| of its share of
// each bounded operand, and whether its share of the checked gradients is
// finite.
bool Executor::Impl::gate_passes(GateCall &g) {
  for (int b : g.losses)
    if (!std::isfinite(*floats(b))) return false;
  const float *grads = floats(plan.grad_region);
  const size_t n = g.operands.size();
  const int chunks = optimizer.chunks;
  std::vector<float> &partial = g.partial_max;
  std::fill(partial.begin(), partial.end(), 0.0f);
  for_chunks(chunks, team, [&](int c) {
    float *mine = partial.data() + static_cast<size_t>(c) * (n + 1);
    for (size_t j = 0; j < n; ++j) {
      const GateCall::Operand &o = g.operands[j];
      auto [b, e] = share(o.elements, c, chunks);
      mine[j] = o.bf16 ? max_abs_bf16(static_cast<const uint16_t *>(o.values) + b, e - b)
                       : max_abs(static_cast<const float *>(o.values) + b, e - b);
    }
    for (const Range &r : g.checked) {
      auto [b, e] = share(r.end - r.begin, c, chunks);
      if (!all_finite(grads + r.begin + b, e - b)) mine[n] = INFINITY;
    }
  });
  std::fill(g.max_abs_of.begin(), g.max_abs_of.end(), 0.0f);
  bool finite = true;
  for (int c = 0; c < chunks; ++c) {
    const float *p = partial.data() + static_cast<size_t>(c) * (n + 1);
    for (size_t j = 0; j < n; ++j) g.max_abs_of[j] = std::max(g.max_abs_of[j], p[j]);
    finite = finite && p[n] == 0.0f;
  }
  // |c| <= k max|a| max|b| (1 + 2^-24)^k for any summation order: with k
  // below 2^22 the last factor is below 1.3, so this bound keeps c finite.
  for (const GateCall::Bound &b : g.bounds) {
    const double bound = static_cast<double>(b.k) * g.max_abs_of[b.a] * g.max_abs_of[b.b];
    finite = finite && b.k < (int64_t{1} << 22) && bound <= 0.25 * std::numeric_limits<float>::max();
  }
  return finite;
}

void Executor::Impl::update_ranges(const Range *ranges, size_t count, uint64_t t) {
  const KernelCall &k = optimizer;
  const uint64_t rng[3] = {seed, t, 0};
  for_chunks(k.chunks, team, [&](int c) {
    for (size_t i = 0; i < count; ++i) {
      auto [b, e] = share(ranges[i].end - ranges[i].begin, c, k.chunks);
      if (b < e) k.fn(k.args.data() + c * k.arity, ranges[i].begin + b, ranges[i].begin + e, rng);
    }
  });
}

void Executor::run_optimizer(uint64_t t, double lr) { impl_->update_all(t, lr, false); }

bool Executor::run_optimizer_if_finite(uint64_t t, double lr) { return impl_->update_all(t, lr, true); }

// One parallel region: with `check`, each thread first scans the gradients
// of its own share; then, after a barrier, every thread updates its share,
// unless some thread found a NaN or an infinity. The shares are cut
// on 64-byte lines (16 floats), so no thread's vector loads and stores
// straddle two lines.
bool Executor::Impl::update_all(uint64_t t, double lr, bool check) {
  if (plan.param_count == 0) return true;
  if (clip_norm > 0) {  // min(1, c / |g|), |g| over all gradients in f64; a non-finite norm fails the check below
    // Per chunk, then in chunk order: the same sum however many threads run.
    const float *g = floats(plan.grad_region);
    const int chunks = optimizer.chunks;
    std::vector<double> partial(chunks);
    for_chunks(chunks, team, [&](int c) {
      const auto [b, e] = share(plan.param_count, c, chunks);
      double s = 0;
      for (int64_t i = b; i < e; ++i) s += double(g[i]) * g[i];
      partial[c] = s;
    });
    double sum = 0;
    for (double s : partial) sum += s;
    last_grad_norm = std::sqrt(sum);
    grad_scale = std::isfinite(last_grad_norm) && last_grad_norm > clip_norm ? float(clip_norm / last_grad_norm) : 1.0f;
  }
  write_hyper(t, lr);
  const auto start = std::chrono::steady_clock::now();
  const KernelCall &k = optimizer;
  const float *grads = floats(plan.grad_region);
  const uint64_t rng[3] = {seed, t, 0};
  auto finite = [&](int64_t begin, int64_t end) { return all_finite(grads + begin, end - begin); };
  auto range = [&](int c, int64_t &begin, int64_t &end) { std::tie(begin, end) = share(k.domain0, c, k.chunks); };
  bool ok = true;
  if (k.chunks == 1) {
    ok = !check || finite(0, k.domain0);
    if (ok) k.fn(k.args.data(), 0, k.domain0, rng);
  } else {
    std::atomic<bool> bad{false};
    parallel(std::min(k.chunks, team), [&](int me, int size) {
      int64_t begin, end;
      if (check) {
        for (int c = me; c < k.chunks; c += size) {
          range(c, begin, end);
          if (!finite(begin, end)) bad.store(true, std::memory_order_relaxed);
        }
#pragma omp barrier
      }
      if (!bad.load(std::memory_order_relaxed))
        for (int c = me; c < k.chunks; c += size) {
          range(c, begin, end);
          k.fn(k.args.data() + c * k.arity, begin, end, rng);
        }
    });
    ok = !bad.load();
  }
  count_optimizer(start);
  return ok;
}

void Executor::Impl::write_hyper(uint64_t t, double lr) {
  float *hyper = floats(plan.hyper);
  if (optimizer_kind == Optimizer::Adam || optimizer_kind == Optimizer::AdamW) {
    const double n = static_cast<double>(t);
    hyper[0] = static_cast<float>(lr / (1.0 - std::pow(beta1, n)));
    hyper[1] = static_cast<float>(1.0 / std::sqrt(1.0 - std::pow(beta2, n)));
    if (optimizer_kind == Optimizer::AdamW) hyper[2] = static_cast<float>(1.0 - lr * weight_decay);
  } else {
    hyper[0] = static_cast<float>(lr);
  }
  if (clip_norm > 0) hyper[hyper_values - 1] = grad_scale;
}

}  // namespace vaec::rt
