// Convolutions in one-thread slices of the batch (contract in batch_slices.h).
#include "codegen/batch_slices.h"

namespace vaec {

void batch_slices(plan::Plan &plan, const CodegenOptions &options) {
  if (!options.adaptive_team || options.threads < 2 || !options.batch_slices) return;
  for (plan::Program *prog : plan.programs())
    for (plan::Step &s : prog->steps)
      if (s.kind == plan::Step::Conv && !s.own_winograd) s.batch_slices = true;
}

}  // namespace vaec
