// skip_zero_columns: which products leave out the all-zero columns of the
// batch's image data (plan Step::zeros), and which weight gradients leave
// out the rows of units no example of the batch activates (Step::zero_units).
//
// Pre: a lowered plan, after choose_precision. Post: in every program, a
// Matmul step of >= 2^20 multiply-adds (f32, or `bf16` when share_rounding
// will give both operands a rounded copy, which the runtime then copies the
// kept columns from) over image data (an f32 buffer written by a kernel that
// reads the program's raw images) is marked
//  - Inner when it is a dense layer's forward product over the data,
//    x w^T (+ bias, post-op) with x [m, k] the data, k >= 64: the zero
//    columns of x drop out of the inner dimension;
//  - Outer when it is a weight gradient g^T x over the data, x [k, n] not
//    transposed, no bias or post-op, n >= 64: they are zero columns of c.
// The runtime finds the kept columns each run and runs the whole product
// when they are more than 7/8 of them (runtime/README.md). Handwritten
// digits leave ~a third of MNIST's pixels black in a whole batch.
// When vaec compile saw the training data (options.data_zero_columns) leave
// fewer than 1/8 of the columns 0 in a batch, nothing is marked and the plan
// says so in a note: the marks would cost a per-run search and cut the
// forward product by columns (its slices each read all of x) for nothing.
// Fashion-MNIST leaves ~3 of 784 at batch 512.
// Also marked Units (independently of the data's columns): a weight
// gradient a^T x over the data as for Outer, with a [k, m] the gradient at
// the layer's m >= 64 units, not transposed in memory: a unit no example of
// the batch activates (a ReLU below 0 on all of them) has an all-zero
// column in a and a zero row in c. The runtime finds them each run (with the
// same 7/8 rule). ReLU layers of MLP VAEs keep many such units through
// training (docs/BENCHMARKS.md); the data being finite (bytes), the
// left-out terms are exact zeros.
#pragma once

#include "abi/plan.h"
#include "codegen/codegen_options.h"

namespace vaec {

// The share of zero columns below which the runtime keeps the whole
// product, and how many batches vaec compile looks at.
inline constexpr double kRuntimeZeroShare = 1.0 / 8;
inline constexpr int kZeroColumnBatches = 8;

void skip_zero_columns(plan::Plan &plan, const CodegenOptions &options);

}  // namespace vaec
