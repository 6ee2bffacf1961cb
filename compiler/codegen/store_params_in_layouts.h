// store_params_in_layouts: parameters kept in the layout their convolutions
// read, so that no step reorders them.
//
// Pre: lowered programs (lower_steps.h). A convolution's weights are then a
// parameter in plain order that a reorder puts into oneDNN's layout before
// each use, and its weight gradient is written in oneDNN's layout and
// reordered into the plain gradient buffer: reorders every step of values
// that only the optimizer, elementwise, touches in between.
// Post (with options.param_layouts): a parameter P is stored in layout L when
//  - every step of every program that reads P's buffer is a Reorder of it
//    (one oneDNN shape D, its plain order F), into an f32 buffer no other
//    step of that program writes, or into a bf16 copy;
//  - in the train program exactly one step touches P's gradient: a Reorder
//    from a buffer in layout X into it (D, F);
//  - L holds exactly P's elements, and storing P in L removes a reorder.
// L is X when a reader wants X, else the layout most readers want. Then P's
// buffer, gradient and optimizer state hold P in L (the plan's
// `param_layout` line: initialisation and checkpoints stay plain, the
// runtime converts, abi/param_layouts.h); reorders into L are gone and
// their readers read P's buffer, the others convert from L; the gradient's
// reorder is gone when X == L (the step that wrote its source writes the
// gradient), else it converts into L. Buffers no step uses any more are
// removed. The arithmetic is unchanged: a reorder is a permutation.
//
// Likewise a dense weight W [N, K] whose products read a convolution's
// result flattened (a reorder from its layout X, batch outermost, into
// plain [B, K] rows, K = C*H*W): when every step naming W, in every
// program, is such a forward product (the flattened rows times W^T) or, in
// the train program, the input gradient's product whose result only a
// reorder into X reads, and W's gradient is one product of the same
// flattened rows, W is stored as [N, C, H, W] in X. The products then read
// the convolution's result as it is and the input gradient comes out in X:
// both reorders go. Its terms are then added in X's order, not K's: the
// same arithmetic up to summation order.
#pragma once

#include "codegen/module.h"

namespace vaec {

void store_params_in_layouts(LoweredModel &m);

}  // namespace vaec
