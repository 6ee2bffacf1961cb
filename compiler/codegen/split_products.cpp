// Products cut among the threads (contract in split_products.h).
#include "codegen/split_products.h"

namespace vaec {

namespace {

bool forward_with_large_weights(const plan::Plan &plan, const plan::Step &s, int64_t m, int threads) {
  constexpr int64_t kMinColumnsPerThread = 64, kMinWeights = int64_t{1} << 18;  // floats: 1 MiB
  if (plan.param_count == 0 || plan.param_region < 0 || !s.tb || s.ta || s.n < threads * kMinColumnsPerThread ||
      s.n * s.k < kMinWeights || m >= s.n)
    return false;
  const plan::Buffer &region = plan.buffers[plan.param_region];
  const plan::Buffer &weights = plan.buffers[s.b];
  return weights.offset >= region.offset && weights.offset + s.n * s.k * 4 <= region.offset + plan.param_count * 4;
}

// The longer side of c, as long as two slices of 16 fit in it; rows when
// neither operand is transposed (dense slices: a column slice of b is strided).
plan::Step::Split longer_side(const plan::Step &s, int64_t m, int64_t n) {
  constexpr int64_t kTwoSlices = 32;
  using plan::Step;
  if (s.zeros == Step::Inner) return s.tb && !s.ta && n >= kTwoSlices ? Step::Columns : Step::Whole;
  const bool outer = s.zeros == Step::Outer || s.zero_units;  // c' is cut by rows
  const bool rows = outer || m >= n || (!s.tb && !s.ta);
  if (rows && m >= kTwoSlices) return Step::Rows;
  if (n >= kTwoSlices && !outer) return Step::Columns;
  return m >= kTwoSlices ? Step::Rows : Step::Whole;
}

}  // namespace

void split_products(plan::Plan &plan, const CodegenOptions &options) {
  const int threads = options.threads;
  if (!options.split_products || threads < 2) return;
  for (plan::Program *prog : plan.programs())
    for (plan::Step &s : prog->steps) {
      if (s.kind != plan::Step::Matmul) continue;
      const int64_t m = plan::extent(s.m, prog->batch), n = plan::extent(s.n, prog->batch);  // at the compiled batch
      if (forward_with_large_weights(plan, s, m, threads)) s.split = plan::Step::Columns;
      else if (options.adaptive_team) s.split = longer_side(s, m, n);
    }
}

}  // namespace vaec
