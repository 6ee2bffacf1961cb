// place_updates: where the train program updates the parameters (plan
// steps Gate and Optimize).
//
// Pre: a lowered plan whose train program computes the losses and every
// gradient; fuse_elementwise put the weight-gradient products nothing else
// needs last (schedule.h). Post: the train program ends with the updates,
// all or nothing: a step whose loss or gradient is NaN or infinite changes
// no parameter and no optimizer state.
//  - By default, or with options.late_updates off: one `optimize all` at
//    the end (check every loss and gradient, then update every parameter).
//  - When the program ends with matmuls each writing the whole gradient of
//    one parameter (no bias, no post-op, a gradient no other step touches),
//    each large weight among them (>= 64k floats, not read by a later step,
//    and bounding the product reads no more bytes than updating it later
//    would read again: k (m A + n B) <= 4 (2 + S) m n, k at the compiled
//    batch, A and B the bytes of an operand's element (2 for the copies a
//    bf16 product reads, share_rounding.h, else 4), S the optimizer's state
//    arrays: gradient, weight and state) is updated
//    right after its gradient, while that is in the cache: the other tail
//    products move before a `gate` that checks the losses and every other
//    gradient and bounds each late product by k max|a| max|b| (finite
//    whatever the summation order when far below FLT_MAX); then each late
//    product is followed by `optimize
//    params` of its weight, and one `optimize params` updates the rest.
//    When the gate fails, the runtime computes the remaining products and
//    falls back to `optimize all` (runtime/README.md). Either way the
//    results are bitwise those of `optimize all` at the end.
// Moving tail products earlier only shortens the lives of what they read
// (they write gradients, which are not temporaries), so this pass may run
// after memory planning.
#pragma once

#include "abi/plan.h"
#include "codegen/codegen_options.h"

namespace vaec {

void place_updates(plan::Plan &plan, const CodegenOptions &options);

}  // namespace vaec
