// `vaec compile` and the code-generation dump stages (fused, memplan, llvm,
// asm): from a model file to the lowered model and, for compile, the
// trainer in DIR with every stage's dump in DIR/ir/.
#pragma once

#include <memory>
#include <optional>
#include <iosfwd>
#include <string>
#include <vector>

#include "codegen/module.h"
#include "driver/compile_options.h"
#include "frontend/model.h"
#include "passes/inspection_graphs.h"

namespace vaec {

struct CompiledModel {
  Graph graph;  // the model as lowered from the YAML
  Graph grad;   // the training graph right after differentiation
  Graph train;  // optimized training graph at the training batch
  Graph eval;   // the forward graph (the training pipeline's forward stage)
  // The inspection graphs (passes/inspection_graphs.h), simplified; empty
  // ones are not lowered (why_not says why).
  InspectionGraphs inspection;
  LoweredModel lowered;
};

// Where a compilation prints: the IR after every stage (passes of the
// graph pipeline, of code generation, then the emitted LLVM IR) and each
// stage's time (VAEC_TIME_PASSES=1).
struct CompileLog {
  std::ostream *dump_after_all = nullptr;
  std::ostream *timing = nullptr;
};

// How each loss scales with the batch ("sum", "mean" or "batch"), found by
// evaluating the model (ir/batch_axes.h's with_batch) on one example and on
// the same example twice.
std::map<std::string, std::string> loss_scaling(const Graph &model);

// Lowers a model (loaded from `text` at its training batch) through code
// generation's planning: the pipeline `vaec compile` and the code-generation
// dumps share. Errors (including features code generation lacks) go to
// `diags`. (A pointer: the schedules point into its graphs.)
std::unique_ptr<CompiledModel> compile_model(const std::string &file, const std::string &text, const Model &model,
                                           const CompileOptions &options, Diagnostics &diags,
                                           const CompileLog &log = {});

// vaec compile: returns the exit status. `link_flags` go to the trainer's
// link after the build's own (codegen/emit_trainer.h).
int run_compile(const std::string &file, const std::string &text, const Model &model, const CompileOptions &options,
                const std::string &out_dir, Diagnostics &diags, const CompileLog &log = {},
                const std::vector<std::string> &link_flags = {});

// The text of a code-generation stage: fused, memplan, llvm or asm. With a
// log that dumps after every stage, returns only what the log did not
// print (the assembly for asm).
std::optional<std::string> codegen_dump(const std::string &stage, const std::string &file, const std::string &text,
                                        const Model &model, const CompileOptions &options, Diagnostics &diags,
                                        const CompileLog &log = {});

}  // namespace vaec
