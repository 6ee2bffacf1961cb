// side_by_side: which convolution steps run two at once, one thread each
// (plan Step::side_by_side).
//
// Pre: the plan's steps in their final order (after place_updates), the
// convolutions' algorithms chosen. Post: for a plan made for two threads,
// an own-winograd conv2d_bwd_data step directly followed by an own-winograd
// conv2d_bwd_weights step that reads the same output gradient, does not
// read the first's result and writes a buffer in the gradient region is
// marked `side-by-side`: the trainer runs both at once, one thread each.
// Their results are the same bits as one after the other (own Winograd's do
// not depend on the thread count). Memory: the second writes a gradient,
// which no temporary shares, and every input of either is live at the first
// step, so the arena plan needs no change (the executor checks both anyway).
// Why: each of the two kernels on two threads repeats work per thread (the
// weights' transform; all of the input's transform in a weight gradient)
// and waits at barriers; one thread each, neither does (docs/BENCHMARKS.md).
// Nothing else changes.
#pragma once

#include "abi/plan.h"
#include "codegen/codegen_options.h"

namespace vaec {

void side_by_side(plan::Plan &plan, const CodegenOptions &options);

}  // namespace vaec
