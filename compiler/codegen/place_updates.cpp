// Where the train program updates the parameters (contract in place_updates.h).
#include "codegen/place_updates.h"

#include "codegen/choose_precision.h"
#include "codegen/share_rounding.h"

#include <algorithm>
#include <utility>
#include <vector>

namespace vaec {
namespace {

using plan::Step;

Step optimize_all() {
  Step s;
  s.kind = Step::Optimize;
  s.all = true;
  s.where = "-";
  return s;
}

// The tail products whose weights can be updated right after them: (step,
// parameter) pairs in program order, the late ones and the others.
struct Tail {
  size_t gate = 0;
  std::vector<std::pair<size_t, int>> late, early;
};

Tail find_tail(const plan::Plan &plan, const CodegenOptions &options) {
  const plan::Program &tr = plan.train;
  const int64_t batch = tr.batch;
  // Steps name buffers by index; the regions span the parameters (and
  // their gradients), so a step naming a region touches every one. (This
  // runs before plan_memory: temporaries have no offsets yet.)
  auto touches = [&](size_t i, int buffer) {
    for (int b : plan::step_buffers(tr.steps[i]))
      if (b == buffer || b == plan.param_region || b == plan.grad_region) return true;
    return false;
  };
  const int64_t param0 = plan.buffers[plan.param_region].offset, grad0 = plan.buffers[plan.grad_region].offset;
  std::vector<std::pair<size_t, int>> tail;  // last first
  for (size_t i = tr.steps.size(); i-- > 0;) {
    const Step &s = tr.steps[i];
    if (s.kind != Step::Matmul || s.bias >= 0 || !s.post.empty()) break;
    int q = -1;
    for (size_t p = 0; p < plan.params.size(); ++p)
      if (plan.params[p].grad_buffer == s.c) q = static_cast<int>(p);
    if (q < 0 || s.m < 0 || plan.buffers[s.c].elements != s.m * s.n) break;
    const plan::Param &param = plan.params[q];
    if (plan.buffers[param.buffer].offset - param0 != plan.buffers[param.grad_buffer].offset - grad0) break;
    bool alone = true;
    for (size_t j = 0; j < tr.steps.size() && alone; ++j)
      if (j != i && touches(j, s.c)) alone = false;
    if (!alone) break;
    tail.push_back({i, q});
  }
  Tail t;
  if (tail.empty()) return t;
  std::reverse(tail.begin(), tail.end());
  t.gate = tail.front().first;
  constexpr int64_t kLargeWeight = int64_t{1} << 16;  // floats
  for (const auto &[i, q] : tail) {
    const Step &s = tr.steps[i];
    const plan::Param &param = plan.params[q];
    bool read_later = false;
    for (size_t j = i + 1; j < tr.steps.size(); ++j) read_later = read_later || touches(j, param.buffer);
    // The bound reads a and b (a bf16 product's rounded copies: 2 bytes an
    // element); updating later would read the gradient, the weight and the
    // optimizer's state (4 bytes each) again from memory.
    auto bytes = [&](int x) {
      return s.bf16 && options.share_rounding && shares_rounding(plan.buffers[x]) ? 2 : 4;
    };
    const int64_t k = plan::extent(s.k, batch), state_arrays = 2 + static_cast<int64_t>(plan.state_regions.size());
    const bool cheap_bound = k * (s.m * bytes(s.a) + s.n * bytes(s.b)) <= 4 * state_arrays * s.m * s.n;
    const bool on_line = (plan.buffers[param.buffer].offset - param0) % 64 == 0;
    const bool late = plan.buffers[param.buffer].elements >= kLargeWeight && !read_later && cheap_bound && on_line;
    (late ? t.late : t.early).push_back({i, q});
  }
  return t;
}

}  // namespace

void place_updates(plan::Plan &plan, const CodegenOptions &options) {
  plan::Program &tr = plan.train;
  if (plan.param_count == 0 || !tr.present() || tr.steps.empty()) return;
  // Clipping by the global norm needs every gradient before any update.
  const bool clip = plan.config.count("clip_grad_norm") > 0;
  const Tail tail = options.late_updates && !clip ? find_tail(plan, options) : Tail{};
  if (tail.late.empty()) {
    tr.steps.push_back(optimize_all());
    return;
  }
  std::vector<Step> steps(tr.steps.begin(), tr.steps.begin() + static_cast<std::ptrdiff_t>(tail.gate));
  std::vector<int> new_index(tr.steps.size(), -1);
  for (size_t i = 0; i < tail.gate; ++i) new_index[i] = static_cast<int>(i);
  std::vector<bool> updated_late(plan.params.size(), false);
  for (const auto &[i, q] : tail.early) new_index[i] = static_cast<int>(steps.size()), steps.push_back(tr.steps[i]);
  for (const auto &[i, q] : tail.late) updated_late[q] = true;
  Step gate;
  gate.kind = Step::Gate;
  gate.where = "-";
  for (size_t q = 0; q < plan.params.size(); ++q)
    if (!updated_late[q]) gate.params.push_back(static_cast<int>(q));
  const size_t gate_at = steps.size();
  steps.push_back(gate);
  for (const auto &[i, q] : tail.late) {
    steps[gate_at].bound.push_back(static_cast<int>(steps.size()));
    new_index[i] = static_cast<int>(steps.size());
    steps.push_back(tr.steps[i]);
    Step update;
    update.kind = Step::Optimize;
    update.params = {q};
    update.where = tr.steps[i].where;
    steps.push_back(update);
  }
  Step rest;
  rest.kind = Step::Optimize;
  rest.params = steps[gate_at].params;
  rest.where = "-";
  if (!rest.params.empty()) steps.push_back(rest);
  tr.steps = std::move(steps);
  renumber_step_notes(plan, tr.name, new_index);
}

}  // namespace vaec
