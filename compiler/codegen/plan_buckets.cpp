// plan_buckets (contract in plan_buckets.h).
#include "codegen/plan_buckets.h"

#include <algorithm>
#include <numeric>

namespace vaec {

void plan_buckets(plan::Plan &plan, const CodegenOptions &options) {
  plan::Program &train = plan.train;
  train.buckets.clear();
  if (plan.params.empty()) return;
  const int params = static_cast<int>(plan.params.size());
  std::vector<int> final_step(params, -1);
  for (int i = 0; i < static_cast<int>(train.steps.size()); ++i) {
    const plan::Step &s = train.steps[i];
    if (s.kind == plan::Step::Gate || s.kind == plan::Step::Optimize) continue;
    for (int b : plan::step_buffers(s))
      for (int q = 0; q < params; ++q)
        if (plan.params[q].grad_buffer == b) final_step[q] = i;
  }
  // A gradient no step writes (a parameter the losses do not depend on)
  // stays zero: it is final from the first step.
  for (int &f : final_step) f = std::max(f, 0);
  std::vector<int> order(params);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return final_step[a] < final_step[b]; });
  auto bytes = [&](int q) { return plan.buffers[plan.params[q].grad_buffer].elements * int64_t(sizeof(float)); };
  int64_t filled = 0;
  for (int q : order) {
    if (train.buckets.empty() || filled + bytes(q) > options.bucket_bytes) {
      train.buckets.push_back({});
      filled = 0;
    }
    plan::Program::Bucket &b = train.buckets.back();
    b.params.push_back(q);
    b.after = std::max(b.after, final_step[q]);
    filled += bytes(q);
  }
}

}  // namespace vaec
