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
        const std::string key = std::to_string(m) + " " + std::to_string(n) + " " + std::to_string(k) + " " +
                                std::to_string(s.ta) + std::to_string(s.tb) + " " + std::to_string(s.bias >= 0) +
                                " " + s.post + " " + std::to_string(s.split);
        const ThinTiming &t = timings.get(key, [&] { return time_thin(engine, s, m, n, k, options.threads); });
        if (!t.faster()) continue;
        plan.notes.push_back(prog->name + " step " + std::to_string(&s - prog->steps.data()) + " [" +
                             std::to_string(m) + "," + std::to_string(k) + "]x[" + std::to_string(k) + "," +
                             std::to_string(n) + "]: thin, " + t.note() + (s.where.empty() ? "" : " at " + s.where));
      }
      s.thin = true;
      s.split = plan::Step::Whole;
    }
  sort_step_notes(plan);
}

}  // namespace vaec
