// fuse_elementwise: groups a training graph into the steps the trainer runs.
//
// Pre: an optimized graph (passes/pipeline.h). Post: every non-source op is in
// exactly one step, steps are in a valid execution order, and:
//  - a Library step is one dense/matmul op (oneDNN), optionally with the
//    relu/sigmoid that is its only user fused in as a post-op;
//  - a Kernel step is a set of elementwise ops (and expand/broadcasts) over
//    one iteration domain, plus trailing sum/mean reductions of values of that
//    domain, compiled into one loop nest (codegen/kernel.h);
//  - reshape is a view: it shares its operand's buffer;
//  - const() and normal() are recomputed inside the kernels that use them
//    (normal() draws are counter-based, so every use sees the same values);
//  - a value is materialized (given a buffer) only when another step, the
//    outputs or a library call needs it;
//  - an op that reads only buffers (library results, sources) and has one
//    elementwise user is computed in that user's kernel, not materialized;
//  - matmuls that no other step needs (a training graph's weight gradients
//    of dense layers) come last, in graph order, so every other gradient is
//    complete before the first of them (the runtime updates each such weight
//    right after its gradient: runtime/exec/executor.h, train_step).
// Every merge the pass refuses is written to the report with its reason.
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

#include "codegen/kernel.h"
#include "ir/graph.h"

namespace vaec {

struct ScheduleStep {
  enum Kind { Kernel, Library } kind = Kernel;
  std::vector<int> nodes;        // members, in graph order
  std::vector<int64_t> domain;   // Kernel: the iteration space
  bool batched = false;          // Kernel: domain[0] is the batch (ir/batch_axes.h)
  int post = -1;                 // Library: the fused activation node, or -1
  std::vector<int> after;        // steps that must run before this one
};

struct Schedule {
  const Graph *graph = nullptr;
  std::vector<ScheduleStep> steps;  // in execution order
  std::vector<int> step_of;         // node -> step, -1 for sources and views
  std::vector<int> root;            // node -> the node whose buffer holds it (views)
  std::vector<bool> materialized;   // node needs a buffer of its own
  std::vector<std::string> report;  // decisions and refused merges, for people
};

// A graph whose batch axis cannot follow the run's batch (ir/batch_axes.h).
struct BatchAxisError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Throws BatchAxisError.
Schedule fuse_elementwise(const Graph &g);

// A kernel step as a FusedKernel: `args` receives, per kernel argument, the
// node whose buffer it is (for an input, the u8 data; see is_u8_input).
FusedKernel build_kernel(const Schedule &s, int step, const std::string &name, std::vector<int> &args);

// One line per step with its ops, domain and materialized values, then the report.
std::string schedule_to_string(const Schedule &s);

}  // namespace vaec
