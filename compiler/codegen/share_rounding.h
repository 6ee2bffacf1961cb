// share_rounding: each f32 operand of the bf16 products and convolutions is
// rounded to bfloat16 once, by a Reorder step into a bf16 buffer that every
// bf16 step reading those values in that layout shares, instead of by each
// step into a copy of its own.
//
// Pre: choose_precision marked bf16 steps, place_updates placed the updates;
// before plan_memory (the new buffers are temporaries of their program).
// Post: in every program, before a bf16 Matmul step whose a or b is an f32
// buffer X there is a step `reorder X X' DIMS plain plain` with X' a bf16
// buffer of X's size, and the product reads X'. Before a bf16 Conv step the
// Reorder goes from the operand's f32 layout to the layout oneDNN's bf16
// kernel takes on the compiling machine (asked at the plan's thread count),
// which becomes the step's layout for that operand, so the plan says it
// instead of the executor choosing it. The copies are named X.bf16 (and the
// layout's short name for a blocked one), with the program's name in front
// for a parameter. The Reorder stands right before the first step that
// needs it, and a later bf16 step reads the same copy as long as it wants
// the same layout and no step between them writes X (a kernel output, a
// library result, an update of a parameter); after such a write the next
// reader gets a Reorder of its own. The values are those the steps rounded
// themselves (round to nearest even), so every result has the same bits;
// what goes is the repeated rounding (mnist_mlp rounded the images, the
// output layer's weights, its input and its gradient twice per step;
// mnist_conv each activation and gradient for a convolution and for its
// weight gradient). Left as they were: a buffer with both a fixed part and a
// per-example part, the weights of a transposed convolution (oneDNN swaps
// their first two dimensions, which a Reorder step does not), a layout the
// plan's text cannot say. `--no-shared-rounding`
// (CodegenOptions::share_rounding) turns it off.
#pragma once

#include "codegen/module.h"

namespace vaec {

void share_rounding(LoweredModel &m);

}  // namespace vaec
