// Products that leave out zero columns of image data (contract in
// skip_zero_columns.h).
#include "codegen/skip_zero_columns.h"

#include "codegen/share_rounding.h"

#include <algorithm>
#include <cstdio>
#include <vector>

namespace vaec {

void skip_zero_columns(plan::Plan &plan, const CodegenOptions &options) {
  // Data with few zero columns: no product looks for them (units still may).
  bool columns = options.zero_columns;
  if (columns && options.data_zero_columns >= 0 && options.data_zero_columns < kRuntimeZeroShare) {
    char share[32];
    std::snprintf(share, sizeof share, "%.1f %%", 100 * options.data_zero_columns);
    plan.notes.push_back("zero columns: a batch of train.data has " + std::string(share) +
                         " of the input's columns all 0 (mean of " + std::to_string(kZeroColumnBatches) +
                         " batches), under the 1/8 a product needs to leave them out: no product looks for them");
    columns = false;
  }
  if (!columns && !options.zero_units) return;
  constexpr int64_t kMinProduct = int64_t{1} << 20, kMinColumns = 64;
  for (plan::Program *program : plan.programs()) {
    plan::Program &prog = *program;
    if (!prog.present() || prog.input < 0) continue;
    std::vector<bool> data(plan.buffers.size());
    if (plan.buffers[prog.input].type == plan::DType::F32) data[prog.input] = true;
    for (const plan::Step &s : prog.steps)
      if (s.kind == plan::Step::Kernel && std::find(s.args.begin(), s.args.end(), prog.input) != s.args.end())
        for (int b : s.args)
          if (plan.buffers[b].type == plan::DType::F32) data[b] = true;
    for (plan::Step &s : prog.steps) {
      const int64_t b = prog.batch;  // the compiled batch
      // A bf16 product copies kept columns from the rounded copies
      // share_rounding will make of both operands.
      const bool rounded = !s.bf16 || (options.share_rounding && shares_rounding(plan.buffers[s.a]) &&
                                        shares_rounding(plan.buffers[s.b]));
      if (s.kind != plan::Step::Matmul || !rounded || s.zeros == plan::Step::Sparse ||
          plan::extent(s.m, b) * plan::extent(s.n, b) * plan::extent(s.k, b) < kMinProduct)
        continue;
      const bool outer_form = data[s.b] && !s.tb && s.bias < 0 && s.post.empty();
      if (columns && data[s.a] && !s.ta && s.tb && s.k >= kMinColumns) s.zeros = plan::Step::Inner;
      else if (columns && outer_form && s.n >= kMinColumns && s.n >= 0) s.zeros = plan::Step::Outer;
      if (options.zero_units && outer_form && s.ta && s.m >= kMinColumns) s.zero_units = true;
    }
  }
}

}  // namespace vaec
