// One rounded bf16 copy per value and layout for the bf16 products and
// convolutions (contract in share_rounding.h).
#include "codegen/share_rounding.h"

#include <omp.h>

#include <algorithm>
#include <map>
#include <optional>
#include <set>

#include "abi/onednn_conv.h"
#include "codegen/choose_precision.h"

namespace vaec {
namespace {

// The buffers a step writes (conservatively: every argument of a kernel the
// module does not describe).
std::set<int> writes(const plan::Plan &plan, const std::map<std::string, const FusedKernel *> &kernels,
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

// How a bf16 product or convolution wants an operand rounded: into `layout`
// (plain, or the blocked layout oneDNN's bf16 kernel picks on this machine),
// holding `elements` bf16 values plus `row` per example.
struct Rounded {
  std::vector<int64_t> dims;
  std::string from, layout;
  int64_t elements = 0, row = 0;
};

std::optional<Rounded> matmul_operand(const plan::Buffer &x) {
  if (x.row > 0 && x.elements > 0) return std::nullopt;
  if (x.row > 0) return Rounded{{plan::kBatch, x.row}, "plain", "plain", 0, x.row};
  return Rounded{{x.elements}, "plain", "plain", x.elements, 0};
}

// Operand i (0 = a, 1 = b) of a bf16 Conv step, as its oneDNN bf16 kernel
// takes it; not the weights of a transposed convolution (oneDNN swaps their
// first two dimensions, which a Reorder step does not).
std::optional<Rounded> conv_operand(const plan::Step &s, int i, int64_t batch, const dnnl::engine &engine) {
  if (onednn::is_transpose_weights(s.conv, i)) return std::nullopt;
  plan::Step at = s;
  for (auto *d : {&at.dims_a, &at.dims_b, &at.dims_c})
    for (int64_t &x : *d) x = plan::extent(x, batch);
  dnnl::memory::desc want;
  try {
    want = onednn::conv_primitive(at, engine).desc[i];
  } catch (const std::exception &) {
    return std::nullopt;  // the executor reports it
  }
  const int64_t values = static_cast<int64_t>(want.get_size()) / 2;
  dnnl::memory::desc as_f32 = want;  // layout_text speaks of f32 descriptors
  as_f32.data.data_type = dnnl_f32;
  const std::vector<int64_t> &dims = i == 0 ? s.dims_a : s.dims_b;
  Rounded r{dims, i == 0 ? s.layout_a : s.layout_b, onednn::layout_text(as_f32, i == 0 ? at.dims_a : at.dims_b)};
  if (r.layout.empty()) return std::nullopt;
  if (dims[0] >= 0) {
    r.elements = values;
  } else {
    if (values % batch != 0) return std::nullopt;
    r.row = values / batch;
  }
  return r;
}

}  // namespace

void share_rounding(LoweredModel &m) {
  if (!m.options.share_rounding) return;
  plan::Plan &plan = m.plan;
  std::map<std::string, const FusedKernel *> kernels;
  for (const FusedKernel &k : m.kernels) kernels[k.name] = &k;
  std::optional<dnnl::engine> engine;  // asked only when a convolution runs in bf16
  const int threads_before = omp_get_max_threads();
  omp_set_num_threads(m.options.threads);  // the layouts oneDNN picks for the plan's thread count
  for (CodegenProgram &cp : m.programs) {
    plan::Program *prog = plan.program(cp.name);
    if (!prog) continue;
    // (f32 buffer, layout) -> its rounded copy, while no step has written the buffer since
    std::map<std::pair<int, std::string>, int> copy_of;
    std::vector<plan::Step> steps;
    std::vector<int> new_index;
    for (plan::Step s : prog->steps) {
      const bool conv = s.kind == plan::Step::Conv;
      if ((s.kind == plan::Step::Matmul || conv) && s.bf16) {
        if (conv && !engine) engine.emplace(dnnl::engine::kind::cpu, 0);
        for (int i = 0; i < 2; ++i) {
          int &operand = i == 0 ? s.a : s.b;
          const int x = operand;
          if (x < 0 || plan.buffers[x].type != plan::DType::F32) continue;
          const plan::Buffer source = plan.buffers[x];
          const std::optional<Rounded> want = conv ? conv_operand(s, i, prog->batch, *engine) : matmul_operand(source);
          if (!want) continue;
          auto it = copy_of.find({x, want->layout});
          if (it == copy_of.end()) {
            plan::Buffer rounded;
            const bool named = source.name.rfind(cp.name + ".", 0) == 0;  // a temporary's name has its program's
            rounded.name = (named ? "" : cp.name + ".") + source.name + ".bf16" +
                           (want->layout == "plain" ? "" : "." + onednn::layout_name(want->layout));
            rounded.type = plan::DType::BF16;
            rounded.elements = want->elements, rounded.row = want->row;
            const int r = static_cast<int>(plan.buffers.size());
            plan.buffers.push_back(rounded);
            cp.temps.push_back(r);
            plan::Step round;
            round.kind = plan::Step::Reorder;
            round.a = x, round.c = r;
            round.dims_a = want->dims;
            round.layout_a = want->from, round.layout_c = want->layout;
            round.where = s.where;
            steps.push_back(round);
            it = copy_of.emplace(std::pair{x, want->layout}, r).first;
          }
          operand = it->second;
          if (conv) (i == 0 ? s.layout_a : s.layout_b) = want->layout;
        }
      }
      for (int w : writes(plan, kernels, s))
        for (auto it = copy_of.begin(); it != copy_of.end();)
          it = it->first.first == w ? copy_of.erase(it) : std::next(it);
      new_index.push_back(static_cast<int>(steps.size()));
      steps.push_back(std::move(s));
    }
    prog->steps = std::move(steps);
    // The gate's bounded products and the notes (choose_precision's) by their new numbers.
    for (plan::Step &s : prog->steps)
      for (int &b : s.bound) b = b >= 0 && b < static_cast<int>(new_index.size()) ? new_index[b] : b;
    renumber_step_notes(plan, prog->name, new_index);
  }
  omp_set_num_threads(threads_before);
}

}  // namespace vaec
