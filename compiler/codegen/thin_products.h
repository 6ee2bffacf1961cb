// thin_products: which products run in vaec's own loops for thin products
// (plan Step::thin, abi/thin_product.h) instead of oneDNN.
//
// Pre: split_products has cut the plan's products. Post: an f32 Matmul step
// (no k-slices, zero columns or units) whose inner dimension or column count
// is at most 4 and not the batch (so it stays thin at any batch the plan
// runs) is marked `thin` and run whole when the thin loops on
// `options.threads` run >= 10 % faster than the step as oneDNN runs it (the
// whole product, or its slices one thread each) on the compiling machine,
// the fastest of runs taken in turns; a plan note gives both times. Why:
// oneDNN 2.6 pads a thin side to a vector's width and runs these products far
// below both the multiply-add peak and memory's bandwidth
// (docs/BENCHMARKS.md). With options.force_thin_products (tests) every such
// step is thin, untimed. Nothing else changes.
#pragma once

#include "abi/plan.h"
#include "codegen/codegen_options.h"

namespace vaec {

void thin_products(plan::Plan &plan, const CodegenOptions &options);

}  // namespace vaec
