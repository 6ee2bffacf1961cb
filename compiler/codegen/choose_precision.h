// choose_precision: which products run in bfloat16 (plan Step::bf16).
//
// Pre: a lowered plan (lower_steps.h), before skip_zero_columns; its
// convolutions chose their precision with their layouts
// (assign_conv_layouts.h), as an AMX kernel wants other layouts than f32's.
// Post: with precision bf16 (`train.precision` or `vaec compile
// --precision`, which wins), a Matmul step of >= 2^22 multiply-adds at the
// compiled batch is marked `bf16` when oneDNN, asked on the compiling
// machine (the machine the trainer is built for), has a bf16
// implementation for it that is faster than its f32 one by at least 10 %,
// counting the rounding of each operand as the executor rounds it
// (precision_timing.h) unless an earlier bf16 product of the program reads
// the same values and no step between writes them (the copy is shared:
// share_rounding.h; a weight gradient's operands are often the forward's
// and the input gradient's), timed at the compiled batch on `options.threads`
// threads. Smaller products stay f32 untimed: mnist_mlp's 128x400x20 ones
// in bf16 left its step's time as it was (docs/BENCHMARKS.md). Without
// bf16 instructions oneDNN offers only slow or reference bf16 kernels and
// every product stays f32. c, the bias, the accumulation, the parameters
// (master weights), the gradients and the optimizer stay f32. The plan gets
// `config precision` and, per product, a `note` with both implementations,
// their times and the choice; the notes of products and convolutions are
// put in program and step order.
#pragma once

#include <vector>

#include "abi/plan.h"
#include "codegen/codegen_options.h"
#include "codegen/kernel.h"

namespace vaec {

void choose_precision(plan::Plan &plan, const std::vector<FusedKernel> &kernels, const CodegenOptions &options);

// "PROGRAM step N ..." notes in program and step order (lower_steps notes
// the convolutions' choices, choose_precision the products', split_products
// the bf16 products it keeps whole); other notes first.
void sort_step_notes(plan::Plan &plan);

// A later pass that moves or inserts steps of `program` keeps the notes'
// "PROGRAM step N" true: step N is now step new_index[N], the notes still in
// step order.
void renumber_step_notes(plan::Plan &plan, const std::string &program, const std::vector<int> &new_index);

// The note a pass leaves on product step `s` of `prog` (at extents m, n, k):
// "PROGRAM step N [m,k]x[k,n]: WHAT at WHERE".
std::string product_step_note(const plan::Program &prog, const plan::Step &s, int64_t m, int64_t n, int64_t k,
                              const std::string &what);

// Products that time alike share a timing: extents, transposes, bias, post-op, split.
std::string product_timing_key(const plan::Step &s, int64_t m, int64_t n, int64_t k);

}  // namespace vaec
