// share_rounding: each f32 operand of the bf16 products is rounded to
// bfloat16 once, by a Reorder step into a bf16 buffer that every bf16 product
// reading those values shares, instead of by each product into a copy of its
// own.
//
// Pre: choose_precision marked bf16 products, place_updates placed the
// updates; before plan_memory (the new buffers are temporaries of their
// program). Post: in every program, before a bf16 Matmul step whose a or b
// is an f32 buffer X there is a step `reorder X X' dims plain plain` with
// X' a bf16 buffer of X's size (named X.bf16, with the program's name
// in front for a parameter), and the product reads X'.
// The Reorder stands right before the first product that needs it, and a
// later bf16 product reads the same X' as long as no step between them
// writes X (a kernel output, a library result, an update of a parameter);
// after such a write the next reader gets a Reorder of its own. When the
// step that last wrote X is a kernel step storing all of X (every element
// once: kernel.h's stores_every_element_once; a kernel no other step calls),
// that kernel stores X' beside X instead (a BF16 output: two_level's and
// iwae's hidden layers, which f32 steps read too). And first of all, a
// temporary X that only bf16 products read (as a or b), whose first step
// stores it whole that way, becomes bf16 itself (renamed X.bf16): its kernel
// stores the rounded values and X has no f32 bytes at all (fashion_mlp's
// output-layer gradient, 784 values per example). The program's input,
// read by a bf16 product before any step writes it, gets its copy from
// the runtime instead (Program::input_copy, a per-example persistent
// buffer): the data feed rounds each row as it writes it, in cache, where a
// reorder read the whole batch back. The values are those the
// products rounded themselves (round to nearest even), so the products'
// results keep their bits; a kernel that stores bf16 runs 16 lanes at a time
// (llvm_kernels.cpp), so a sum it keeps in registers (a loss, iwae's
// log-weights) may add in another order. What goes is the repeated rounding
// (mnist_mlp: the images, the output layer's weights, its input and its
// gradient were each rounded twice per step) and reading values back to
// round them. A buffer with both a fixed part and a per-example part keeps
// the product's own rounding. Conv steps keep theirs (into the layouts
// their bf16 kernels want).
// `--no-shared-rounding` (CodegenOptions::share_rounding) turns it off.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "codegen/module.h"

namespace vaec {

void share_rounding(LoweredModel &m);

// The buffers step `s` writes: a kernel's outputs (every argument of one
// that `kernels`, by name, does not describe), a product's or a reorder's
// c, an update's parameters. A rounded copy of a buffer is good until then.
std::set<int> step_writes(const plan::Plan &plan, const std::map<std::string, const FusedKernel *> &kernels,
                          const plan::Step &s);
std::map<std::string, const FusedKernel *> kernels_by_name(const std::vector<FusedKernel> &kernels);

// Whether share_rounding gives f32 buffer `b` a shared rounded copy when a
// bf16 product reads it (with options.share_rounding): what a bf16 product
// that leaves out zero columns needs of both operands (skip_zero_columns.h).
inline bool shares_rounding(const plan::Buffer &b) {
  return b.type == plan::DType::F32 && !(b.row > 0 && b.elements > 0);
}

}  // namespace vaec
