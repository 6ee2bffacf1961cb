// The code-generation IR: what the passes of codegen/pipeline.h hand on,
// from the graphs to the plan (abi/plan.h) and the kernels to compile.
// Each program starts as a graph; fuse_elementwise gives it a schedule,
// assign_conv_layouts oneDNN's choice for each convolution, lower_steps its
// plan steps and buffers (temporaries not yet placed), the plan passes
// their choices, and plan_memory the temporaries' offsets.
#pragma once

#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "abi/plan.h"
#include "codegen/codegen_options.h"
#include "codegen/conv_layouts.h"
#include "codegen/kernel.h"
#include "codegen/schedule.h"
#include "ir/graph.h"

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

struct CodegenProgram {
  std::string name;                       // train, eval, encode, decode, nll
  const Graph *graph = nullptr;
  std::string latent;                     // the input that is f32 latents, if any
  bool values = false;                    // outputs are per-example values, not losses
  Schedule schedule;                      // fuse_elementwise
  std::map<int, ConvChoice> conv_choice;  // assign_conv_layouts: schedule step -> oneDNN's choice
  std::vector<int> temps;                 // lower_steps: buffers plan_memory places by liveness
};

struct LoweredModel {
  CodegenOptions options;
  std::vector<CodegenProgram> programs;   // train, eval, then the inspection programs
  plan::Plan plan;
  std::vector<FusedKernel> kernels;
  // lower_steps: the persistent buffers' bytes (parameters, gradients,
  // state, losses) and bytes per example (inputs, latents, outputs).
  int64_t persistent_bytes = 0, persistent_row_bytes = 0;
  std::string memory_report;              // plan_memory (--stage=memplan)
  // Each convolution's oneDNN implementation and layouts, and each reorder
  // between layouts, in program order (--stage=fused).
  std::string library_report;
  const CodegenProgram *program(const std::string &name) const {
    for (const CodegenProgram &p : programs)
      if (p.name == name) return &p;
    return nullptr;
  }
};

}  // namespace vaec
