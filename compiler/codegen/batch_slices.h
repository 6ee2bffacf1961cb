// batch_slices: which convolution steps run in one-thread slices of the
// batch (plan Step::batch_slices).
//
// Pre: the convolutions' layouts, precisions and algorithms chosen. Post:
// in a plan with `config team adaptive` and more than one thread, every
// oneDNN convolution step, f32 or bf16 (not own-winograd), is marked
// `batch-slices`: the trainer runs one slice of the batch per thread, each
// in a primitive made for one thread, on any team (a bf16 slice rounds its
// own images first); a weight gradient adds its slices' sums in slice
// order, so its bits depend on the thread count, not the team (forward and
// input gradients give the whole step's bits). Why: oneDNN fixes a
// primitive's thread count when it is made, so beside a busy program a
// convolution made for two threads kept waking its second thread, which
// waited for the CPU the other program held, whatever the adaptive team
// (docs/BENCHMARKS.md, "A shared CPU"). Nothing else changes.
#pragma once

#include "abi/plan.h"
#include "codegen/codegen_options.h"

namespace vaec {

void batch_slices(plan::Plan &plan, const CodegenOptions &options);

}  // namespace vaec
