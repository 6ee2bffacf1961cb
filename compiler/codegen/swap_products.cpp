// Products computed the other way round (contract in swap_products.h).
#include "codegen/swap_products.h"

#include <dnnl.hpp>

#include "codegen/choose_precision.h"
#include "codegen/precision_timing.h"

namespace vaec {

namespace {

constexpr int64_t kMinMacs = int64_t{1} << 20;

}  // namespace

void swap_products(plan::Plan &plan, const CodegenOptions &options) {
  if (!options.swap_products && !options.force_swap_products) return;
  const dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  SwapTimings timings;
  for (plan::Program *prog : plan.programs())
    for (plan::Step &s : prog->steps) {
      if (s.kind != plan::Step::Matmul || s.bf16 || s.split == plan::Step::KSlices || s.zeros != plan::Step::Keep ||
          s.zero_units || s.thin)
        continue;
      if (options.force_swap_products) {
        s.swapped = true;
        continue;
      }
      const int64_t m = plan::extent(s.m, prog->batch), n = plan::extent(s.n, prog->batch),
                    k = plan::extent(s.k, prog->batch);
      const SwapTiming &t = timings.get(product_timing_key(s, m, n, k),
                                        [&] { return time_swap(engine, s, m, n, k, options.threads, kMinMacs); });
      if (!t.faster()) continue;
      s.swapped = true;
      plan.notes.push_back(product_step_note(*prog, s, m, n, k, "swapped, " + t.note()));
    }
  sort_step_notes(plan);
}

}  // namespace vaec
