// split_products: which products of the plan run as one-thread slices, one
// per thread (plan Step::split).
//
// Pre: a lowered plan (lower_steps.h). Sparse steps stay whole (their
// loops share the lists among the threads). Post: a Matmul step of any
// program is marked `columns` when it is a dense layer's forward
// product (a times b transposed, b a parameter) whose weights are >= 1 MiB,
// with more columns than rows and >= 64 columns per thread at
// `options.threads`. Each thread then computes the output columns of the
// weight rows its own share of the optimizer wrote last (place_updates.h
// updates large weights one contiguous share per thread), reading them from
// its own core's cache. A slice reads all of a where oneDNN's own split
// reads half of it, so products with as many rows as columns stay whole, as
// do weights that fit a core's cache several times over (docs/BENCHMARKS.md
// has the measurements behind both limits).
// A product that is the input gradient of such a weight (a times b, b a
// parameter of >= 1 MiB not transposed, >= 64 of its rows per thread, no
// bias or post-op, f32 over all columns) is marked `k-slices`: each thread
// reads only the weight rows its own share of the optimizer then writes.
// So is a forward product of such a weight with few outputs and fewer rows
// (a times b transposed, m < n, fewer than 64 rows of b per thread and >= 64
// of its columns, relu or no post-op, f32 over all columns): each thread
// reads half of a instead of all of it, and the bias and relu follow the
// slices' sum.
// With an adaptive team (codegen_options.h) every other product with >= 32
// rows or columns is cut too (a whole product is one oneDNN call on as many
// threads as it was made for, which the trainer cannot shrink, while slices
// run on any team with the same bits): along its longer side (`rows` or
// `columns`; an outer zero-column product by rows, an inner one by columns,
// a product of two untransposed operands by rows, whose slices are dense),
// unless oneDNN, asked for the one-thread slices of both cuts, runs the
// other cut's on a better kind of kernel (brgemm over gemm:jit, AMX over
// not; a plan note names both).
// A bf16 product (over all its columns and units) stays whole when
// oneDNN, asked for the one-thread slices the executor would make, runs a
// slice off AMX and the whole product on it (oneDNN 2.6 runs some bf16
// slice shapes on gemm:jit, ~3x slower); a plan note says so. Nothing else
// changes.
#pragma once

#include "abi/plan.h"
#include "codegen/codegen_options.h"

namespace vaec {

void split_products(plan::Plan &plan, const CodegenOptions &options);

}  // namespace vaec
