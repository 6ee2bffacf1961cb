// Products in vaec's own thin loops (contract in thin_products.h).
#include "codegen/thin_products.h"

#include <dnnl.hpp>

#include "abi/thin_product.h"
#include "codegen/choose_precision.h"
#include "codegen/precision_timing.h"

namespace vaec {

void thin_products(plan::Plan &plan, const CodegenOptions &options) {
  if (!options.thin_products && !options.force_thin_products) return;
  const dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  ThinTimings timings;
  for (plan::Program *prog : plan.programs())
    for (plan::Step &s : prog->steps) {
      if (s.kind != plan::Step::Matmul || s.bf16 || s.split == plan::Step::KSlices || s.zeros != plan::Step::Keep ||
          s.zero_units || s.swapped)
        continue;
      // A thin side the batch does not change.
      if (!((s.k > 0 && s.k <= 4) || (s.n > 0 && s.n <= 4))) continue;
      const int64_t m = plan::extent(s.m, prog->batch), n = plan::extent(s.n, prog->batch),
                    k = plan::extent(s.k, prog->batch);
      if (!onednn::thin_product_unsupported(m, n, k, s.post).empty()) continue;
      if (!options.force_thin_products) {
        const ThinTiming &t = timings.get(product_timing_key(s, m, n, k),
                                          [&] { return time_thin(engine, s, m, n, k, options.threads); });
        if (!t.faster()) continue;
        plan.notes.push_back(product_step_note(*prog, s, m, n, k, "thin, " + t.note()));
      }
      s.thin = true;
      s.split = plan::Step::Whole;
    }
  sort_step_notes(plan);
}

}  // namespace vaec
