// The compiler pipeline: a straight list of passes from the lowered model to
// the optimized training graph. Stages that can be dumped: graph (lowered),
// forward (simplified model, what evaluation runs), grad (just after
// differentiation), opt (after simplification: what training runs).
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

#include "ir/graph.h"

namespace vaec {

struct PipelineOptions {
  std::string stop_after = "opt";   // a stage of pipeline_stages()
  std::ostream *dump_after_all = nullptr;  // print the IR after every pass that changed it
  std::ostream *timing = nullptr;   // print each pass's time (VAEC_TIME_PASSES=1)
  std::string label;                // names the graph in dumps and timings, e.g. "encode"
  // The graph at each stage it passes (forward, grad), so one run serves
  // every dump.
  Graph *forward = nullptr, *grad = nullptr;
};

const std::vector<std::string> &pipeline_stages();

// Runs the passes up to `stop_after`, verifying the graph after each one.
// Throws InternalError (ir/builder.h) if a pass breaks the IR.
Graph run_pipeline(Graph g, const PipelineOptions &options);

}  // namespace vaec
