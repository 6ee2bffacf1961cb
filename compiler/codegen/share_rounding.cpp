// One rounded bf16 copy per value for the bf16 products (contract in
// share_rounding.h).
#include "codegen/share_rounding.h"

#include "codegen/choose_precision.h"

#include <algorithm>
#include <map>
#include <set>

namespace vaec {

std::map<std::string, const FusedKernel *> kernels_by_name(const std::vector<FusedKernel> &kernels) {
  std::map<std::string, const FusedKernel *> by_name;
  for (const FusedKernel &k : kernels) by_name[k.name] = &k;
  return by_name;
}

std::set<int> step_writes(const plan::Plan &plan, const std::map<std::string, const FusedKernel *> &kernels,
                          const plan::Step &s) {
  using plan::Step;
  std::set<int> out;
  switch (s.kind) {
  case Step::Kernel: {
    auto it = kernels.find(s.kernel);
    if (it == kernels.end() || it->second->conv || it->second->outputs.empty()) {
      out.insert(s.args.begin(), s.args.end());
    } else {
      for (const KernelOutput &o : it->second->outputs)
        if (o.arg >= 0 && o.arg < static_cast<int>(s.args.size())) out.insert(s.args[o.arg]);
    }
    break;
  }
  case Step::Matmul:
  case Step::Conv:
  case Step::Reorder:
  case Step::Zero: out.insert(s.c); break;
  case Step::Optimize:
    for (size_t q = 0; q < plan.params.size(); ++q)
      if (s.all || std::find(s.params.begin(), s.params.end(), static_cast<int>(q)) != s.params.end())
        out.insert(plan.params[q].buffer);
    break;
  case Step::Gate: break;
  }
  return out;
}

void share_rounding(LoweredModel &m) {
  if (!m.options.share_rounding) return;
  plan::Plan &plan = m.plan;
  const std::map<std::string, const FusedKernel *> kernels = kernels_by_name(m.kernels);
  for (CodegenProgram &cp : m.programs) {
    plan::Program *prog = plan.program(cp.name);
    if (!prog) continue;
    std::map<int, int> copy_of;  // f32 buffer -> its rounded copy, while no step has written the buffer since
    std::vector<plan::Step> steps;
    std::vector<int> new_index;
    for (plan::Step s : prog->steps) {
      if (s.kind == plan::Step::Matmul && s.bf16) {
        for (int *operand : {&s.a, &s.b}) {
          const int x = *operand;
          if (x < 0 || !shares_rounding(plan.buffers[x])) continue;
          const plan::Buffer source = plan.buffers[x];
          auto it = copy_of.find(x);
          if (it == copy_of.end()) {
            plan::Buffer rounded = source;
            const bool named = source.name.rfind(cp.name + ".", 0) == 0;  // a temporary's name has its program's
            rounded.name = (named ? "" : cp.name + ".") + source.name + ".bf16";
            rounded.type = plan::DType::BF16;
            rounded.offset = rounded.row_offset = 0;
            const int r = static_cast<int>(plan.buffers.size());
            plan.buffers.push_back(rounded);
            cp.temps.push_back(r);
            plan::Step round;
            round.kind = plan::Step::Reorder;
            round.a = x, round.c = r;
            round.dims_a = source.row > 0 ? std::vector<int64_t>{plan::kBatch, source.row}
                                          : std::vector<int64_t>{source.elements};
            round.where = s.where;
            steps.push_back(round);
            it = copy_of.emplace(x, r).first;
          }
          *operand = it->second;
        }
      }
      for (int w : step_writes(plan, kernels, s)) copy_of.erase(w);
      new_index.push_back(static_cast<int>(steps.size()));
      steps.push_back(std::move(s));
    }
    prog->steps = std::move(steps);
    // The gate's bounded products and the notes (choose_precision's) by their new numbers.
    for (plan::Step &s : prog->steps)
      for (int &b : s.bound) b = b >= 0 && b < static_cast<int>(new_index.size()) ? new_index[b] : b;
    renumber_step_notes(plan, prog->name, new_index);
  }
}

}  // namespace vaec
