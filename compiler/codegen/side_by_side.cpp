// Convolution steps run two at once (contract in side_by_side.h).
#include "codegen/side_by_side.h"

namespace vaec {

namespace {

// Whether buffer b lies in the plan's gradient region.
bool in_gradients(const plan::Plan &plan, int b) {
  if (plan.grad_region < 0 || b < 0) return false;
  const plan::Buffer &region = plan.buffers[plan.grad_region], &x = plan.buffers[b];
  return x.row == 0 && region.row == 0 && x.offset >= region.offset &&
         x.offset + x.elements * 4 <= region.offset + region.elements * 4;
}

}  // namespace

void side_by_side(plan::Plan &plan, const CodegenOptions &options) {
  if (!options.side_by_side || options.threads != 2) return;
  for (plan::Program *prog : plan.programs())
    for (size_t i = 0; i + 1 < prog->steps.size(); ++i) {
      plan::Step &first = prog->steps[i];
      const plan::Step &second = prog->steps[i + 1];
      if (first.kind != plan::Step::Conv || second.kind != plan::Step::Conv || !first.own_winograd ||
          !second.own_winograd || first.conv != "conv2d_bwd_data" || second.conv != "conv2d_bwd_weights")
        continue;
      if (first.a != second.b || second.a == first.c || !in_gradients(plan, second.c)) continue;
      first.side_by_side = true;
      ++i;  // pairs do not chain
    }
}

}  // namespace vaec
