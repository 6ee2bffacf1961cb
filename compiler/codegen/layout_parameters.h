// layout_parameters: the persistent regions a training step updates.
//
// Pre: programs[0] is the optimized training graph. Post: the plan has the
// model's name and config; its first buffers are the parameter, gradient
// and optimizer-state regions, each contiguous in parameter order with every
// parameter on a 64-byte line (the gaps are zeros that stay zero), one
// buffer per parameter and gradient inside them, and the optimizer's hyper
// values; the optimizer kernel is the first kernel; persistent_bytes ends
// them. Unaligned, a weight's rows would straddle cache lines in every
// product that reads it.
#pragma once

#include "codegen/module.h"

namespace vaec {

void layout_parameters(LoweredModel &m);

}  // namespace vaec
