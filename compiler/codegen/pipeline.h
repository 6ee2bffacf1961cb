// Code generation's pass list: from the optimized training graph and the
// forward graphs to the plan the trainer carries out and the kernels it
// calls. A straight list, like the graph pipeline (passes/pipeline.h):
//
//   fuse_elementwise     each program's steps: kernels and library calls (schedule.h)
//   assign_conv_layouts  oneDNN's layouts for each convolution
//   layout_parameters    the parameter, gradient and optimizer-state regions
//   lower_steps          plan steps, buffers and kernels
//   choose_precision     products in bf16 where oneDNN runs them faster
//   store_params_in_layouts  convolution weights kept in the layouts oneDNN reads
//   skip_zero_columns    products that leave out zero columns of image data
//   split_products       products as one-thread slices, one per thread
//   thin_products        products with a side of at most 4 in vaec's own loops where they run faster
//   swap_products        products computed as c^T = b^T a^T where oneDNN runs that faster
//   place_updates        the gate and the updates of the train program
//   side_by_side         pairs of own Winograd gradient steps run at once, one thread each
//   batch_slices         convolutions as one-thread slices of the batch, one per thread
//   share_rounding       one bf16 copy of each value the bf16 products read
//   plan_memory          the temporaries' offsets in the arena
//
// Each stage can print its result (the schedules, the convolutions'
// layouts, then the plan text) and time itself. LLVM code generation and
// the link follow in emit_trainer.h.
#pragma once

#include <iosfwd>
#include <map>
#include <string>
#include <vector>

#include "codegen/codegen_options.h"
#include "codegen/module.h"

namespace vaec {

struct CodegenLog {
  std::ostream *dump_after_all = nullptr;  // the plan after every stage that changed it
  std::ostream *timing = nullptr;          // each stage's time (VAEC_TIME_PASSES=1)
};

// The stages above, in order.
const std::vector<std::string> &codegen_stages();

// Runs them on `train` (the optimized training graph), `eval` (the forward
// graph) and the inspection programs. Throws Unsupported (module.h) for what
// code generation cannot do.
LoweredModel run_codegen(const Graph &train, const Graph &eval, const std::map<std::string, std::string> &loss_scaling,
                         const std::vector<InspectionProgram> &inspection, const CodegenOptions &options,
                         const CodegenLog &log = {});

}  // namespace vaec
