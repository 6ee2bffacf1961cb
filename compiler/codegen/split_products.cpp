// Products split by columns among the threads (contract in split_products.h).
#include "codegen/split_products.h"

namespace vaec {

void split_products(plan::Plan &plan, const CodegenOptions &options) {
  constexpr int64_t kMinColumnsPerThread = 64, kMinWeights = int64_t{1} << 18;  // floats: 1 MiB
  const int threads = options.threads;
  if (!options.split_products || threads < 2 || plan.param_count == 0 || plan.param_region < 0) return;
  const plan::Buffer &region = plan.buffers[plan.param_region];
  for (plan::Program *prog : plan.programs())
    for (plan::Step &s : prog->steps) {
      const int64_t m = plan::extent(s.m, prog->batch);  // rows at the compiled batch
      if (s.kind != plan::Step::Matmul || !s.tb || s.ta || s.n < threads * kMinColumnsPerThread ||
          s.n * s.k < kMinWeights || m >= s.n)
        continue;
      const plan::Buffer &weights = plan.buffers[s.b];
      s.columns = weights.offset >= region.offset &&
                  weights.offset + s.n * s.k * 4 <= region.offset + plan.param_count * 4;
    }
}

}  // namespace vaec
