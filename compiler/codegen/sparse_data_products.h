// sparse_data_products: which products multiply only the nonzero entries of
// the batch's data (plan Step::Sparse, abi/sparse_product.h), and the
// weights stored transposed for them.
//
// Pre: a lowered plan, after choose_precision and store_params_in_layouts.
// Post: when vaec compile saw the training data leave at most
// plan::kSparseShare of a batch's entries nonzero on average
// (options.data_nonzeros; or options.force_sparse_data, for tests), a plain
// 2-D parameter W [N, K] is stored transposed, [K, N] in memory (the plan's
// `param_layout`: initialisation and checkpoints stay [N, K]), when
//  - every step of every program that names W's buffer is an f32 Matmul
//    c = x W^T (+ bias, post-op), x [B, K] the program's f32 input: a dense
//    layer's forward product over the data;
//  - in the train program, one step names W's gradient: an f32 Matmul
//    g = d^T x, d [B, N], x the input, no bias or post-op (the layer's
//    weight gradient);
//  - and at least one of those steps is in the train program.
// Those forward products then read W as [K, N] (b not transposed) and the
// gradient step computes g^T = x^T d, [K, N], over x's columns; all are
// marked Sparse and run whole. The runtime lists the batch's nonzero
// entries each run and runs a product whole when they are more than
// plan::kSparseShare of the data (runtime/README.md, "Sparse data").
// Arithmetic: each element sums its nonzero terms in order and no others:
// the same values up to summation order, as an entry 0 adds an exact 0 to
// a sum of finite terms. MNIST's batches are ~19 % nonzero; Fashion-MNIST's
// ~50 %, which keeps oneDNN's products (docs/BENCHMARKS.md).
#pragma once

#include "abi/plan.h"
#include "codegen/codegen_options.h"

namespace vaec {

void sparse_data_products(plan::Plan &plan, const CodegenOptions &options);

}  // namespace vaec
