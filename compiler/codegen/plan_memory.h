// plan_memory: where each program's temporaries live in the arena.
//
// Pre: lowered programs whose temporaries (CodegenProgram::temps) have no
// offsets yet; the plan passes have run (they may move steps). Post: the
// arena is F + R * B bytes at batch B: F holds the fixed-size persistent
// buffers, then the fixed-size temporaries; after it, R bytes per example
// hold the per-example persistent buffers (inputs, latents, outputs), then
// the per-example temporaries (each buffer is fixed-size or per-example,
// rows rounded up to 64 bytes, so every buffer starts on a 64-byte line at
// every batch). Temporaries of all programs share their areas (programs
// never run at the same time). Within a program a
// temporary lives from the first step that touches it to the last, and two
// temporaries share bytes only when their lives do not meet, with one
// exception: a kernel's output may take exactly the bytes of an input whose
// life ends in that kernel, when every point reads that input only where it
// writes the output (in_place_pairs, codegen/kernel.h; the pair goes to the
// kernel's in_place, and its code writes the output through the input's
// pointer). Every kernel's in_place is this pass's alone: it is rebuilt on
// each run, so placing a model again (after share_rounding changed its
// kernels, say) keeps no pair of an earlier placement. A library call's
// outputs never share bytes with its inputs.
// Placement is greedy, largest first, at a partner's offset where it may
// share one, else at the lowest offset that overlaps no buffer alive at the
// same time (tinygrad's planner);
// memory_report compares it with the sum of the sizes.
#pragma once

#include "codegen/module.h"

namespace vaec {

void plan_memory(LoweredModel &m);

}  // namespace vaec
