// plan_memory: where each program's temporaries live in the arena.
//
// Pre: lowered programs whose temporaries (CodegenProgram::temps) have no
// offsets yet; the plan passes have run (they may move steps). Post: the
// arena is the persistent buffers, then one area of temporaries that every
// program reuses (programs never run at the same time). Within a program a
// temporary lives from the first step that touches it to the last, and two
// temporaries share bytes only when their lives do not meet, so a step's
// outputs never share bytes with its inputs (kernels treat their arguments
// as distinct). Placement is greedy, largest first, at the lowest offset
// that overlaps no buffer alive at the same time (tinygrad's planner);
// memory_report compares it with the sum of the sizes.
#pragma once

#include "codegen/module.h"

namespace vaec {

void plan_memory(LoweredModel &m);

}  // namespace vaec
