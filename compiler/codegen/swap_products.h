// swap_products: which products run swapped (plan Step::swapped): each call
// computes c^T = op(b)^T op(a)^T, then writes c = post(that^T + bias) itself.
//
// Pre: split_products has cut the plan's products, thin_products chosen its
// own. Post: an f32 Matmul step over all its columns and units, not thin,
// cut whole, by rows or by columns, whose
// first call (abi/onednn_matmul.h: slice 0 on one thread, or the whole
// product on `options.threads`) has >= 2^20 multiply-adds at the program's
// batch and runs on another oneDNN implementation swapped, is marked
// `swapped` when that call, transposition included, runs >= 15 % faster so
// on the compiling machine (the fastest of runs taken in turns); a plan note
// gives both implementations and times. Why: oneDNN 2.6 runs a b^T with few
// rows in a on gemm:jit, which packs b at every call, and b a^T on brgemm
// (docs/BENCHMARKS.md). With options.force_swap_products
// (tests) every such step is swapped, untimed. Nothing else changes.
#pragma once

#include "abi/plan.h"
#include "codegen/codegen_options.h"

namespace vaec {

void swap_products(plan::Plan &plan, const CodegenOptions &options);

}  // namespace vaec
