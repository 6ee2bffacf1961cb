// lower_to_plan: turns the scheduled training and evaluation graphs into the
// trainer's plan (runtime/plan.h) and the kernels to compile.
//
// Pre: `train` is an optimized training graph (losses, then d.<param>
// outputs), `eval` the forward graph of the same model at the evaluation
// batch; both have one input, the images. Post: a plan whose buffers are laid
// out in one arena — parameters, gradients and optimizer state as contiguous
// regions in parameter order, the rest placed by liveness (a buffer reuses
// the bytes of buffers that died in earlier steps; a step's outputs never
// overlap its inputs, which kernels assume) — and one FusedKernel per kernel
// step plus the
// input conversion kernels and the optimizer kernel.
#pragma once

#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "codegen/kernel.h"
#include "codegen/schedule.h"
#include "ir/graph.h"
#include "abi/plan.h"

namespace vaec {

// A model feature code generation does not handle yet: reported to the user
// as an error (with the op's location), not as a compiler bug.
struct Unsupported : std::runtime_error {
  Unsupported(const Loc &where, const std::string &what) : std::runtime_error(what), loc(where) {}
  Loc loc;
};

// An inspection program to lower besides train and eval: `graph` (encode,
// decode or nll of passes/inspection_graphs.h, simplified) whose input called
// `latent`, if any, is f32 latents the runtime writes; its outputs become the
// program's outputs.
struct InspectionProgram {
  std::string name;  // "encode", "decode" or "nll"
  const Graph *graph = nullptr;
  std::string latent;
};

struct LoweredModel {
  plan::Plan plan;
  std::vector<FusedKernel> kernels;
  Schedule train_schedule, eval_schedule;
  std::vector<Schedule> inspection_schedules;  // in the order of the programs given
  std::string memory_report;  // --stage=memplan
  // Each convolution's oneDNN implementation and layouts, and each reorder
  // between layouts, in program order (--stage=fused).
  std::string library_report;
};

// The inspection programs share the arena's persistent part (parameters)
// with train and eval and reuse the temporaries' bytes. `plain_conv_layouts`
// keeps every convolution operand plain (choose_conv).
LoweredModel lower_to_plan(const Graph &train, const Graph &eval,
                           const std::map<std::string, std::string> &loss_scaling,
                           const std::vector<InspectionProgram> &inspection = {}, bool plain_conv_layouts = false);

}  // namespace vaec
