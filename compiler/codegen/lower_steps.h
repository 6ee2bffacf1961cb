// lower_steps: turns the scheduled programs into the plan's steps and
// buffers and the kernels to compile.
//
// Pre: programs[0] is the optimized training graph (losses, then d.<param>
// outputs), then eval (the forward graph) and the inspection programs, each
// scheduled (fuse_elementwise) and with oneDNN's choice for each
// convolution (assign_conv_layouts). Post: the plan's persistent buffers are
// laid out from byte 0: parameters, gradients and optimizer state as
// contiguous regions in parameter order (each parameter on a 64-byte line),
// then the hyper-parameters, inputs, losses and outputs; every other value
// a step writes is a temporary of its program (CodegenProgram::temps,
// offsets left for plan_memory). Each program's steps: one per schedule
// step (a kernel, a product, a convolution with its reorders between
// layouts and its epilogue kernel), plus the input conversions and the
// copies to outputs; one FusedKernel per kernel step plus the optimizer's.
#pragma once

#include "codegen/module.h"

namespace vaec {

void lower_steps(LoweredModel &m);

}  // namespace vaec
