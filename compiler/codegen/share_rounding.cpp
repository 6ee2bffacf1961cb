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

namespace {

// Buffers a program names outside its steps (inputs, losses, outputs...):
// their type is the runtime's business, so they stay f32.
std::set<int> program_buffers(const plan::Plan &plan) {
  std::set<int> out;
  for (const plan::Program *p : plan.programs()) {
    for (int b : {p->input, p->latent, p->labels}) out.insert(b);
    for (const auto &c : p->conditions) out.insert(c.buffer);
    for (const auto &l : p->losses) out.insert(l.second);
    for (const plan::Output &o : p->outputs) out.insert(o.buffer);
  }
  return out;
}

// Kernel -> the steps calling it, in every program.
std::map<std::string, int> kernel_calls(const plan::Plan &plan) {
  std::map<std::string, int> uses;
  for (const plan::Program *p : plan.programs())
    for (const plan::Step &s : p->steps)
      if (s.kind == plan::Step::Kernel) ++uses[s.kernel];
  return uses;
}

// The kernel of step `s` when it is called by `s` alone and stores every
// element of `x`, with x's position among its args; else {nullptr, -1}.
std::pair<FusedKernel *, int> sole_writer(std::map<std::string, FusedKernel *> &kernels,
                                          std::map<std::string, int> &uses, const plan::Program &prog,
                                          const plan::Buffer &buffer, const plan::Step &s, int x) {
  auto k = kernels.find(s.kernel);
  if (s.kind != plan::Step::Kernel || k == kernels.end() || uses[s.kernel] != 1 ||
      std::count(s.args.begin(), s.args.end(), x) != 1 || (buffer.row > 0) != (s.domain0 < 0))
    return {nullptr, -1};
  const int pos = static_cast<int>(std::find(s.args.begin(), s.args.end(), x) - s.args.begin());
  const int64_t elements = buffer.row > 0 ? buffer.row * prog.batch : buffer.elements;
  if (!stores_every_element_once(*k->second, pos, elements)) return {nullptr, -1};
  return {k->second, pos};
}

// The temporaries of `cp` that only bf16 products read, each stored whole by
// one kernel step before them (the contract's second kind of copy): they
// become bf16, and their kernel stores them rounded.
void round_in_kernels(plan::Plan &plan, const CodegenProgram &cp, const std::set<int> &named_by_programs,
                      std::map<std::string, FusedKernel *> &kernels, std::map<std::string, int> &uses) {
  const plan::Program &prog = *plan.program(cp.name);
  for (int x : cp.temps) {
    plan::Buffer &buffer = plan.buffers[x];
    if (!shares_rounding(buffer) || named_by_programs.count(x)) continue;
    int writer = -1, pos = -1;
    bool ok = true;
    for (size_t i = 0; i < prog.steps.size() && ok; ++i) {
      const plan::Step &s = prog.steps[i];
      const std::vector<int> touched = plan::step_buffers(s);
      if (std::find(touched.begin(), touched.end(), x) == touched.end()) continue;
      if (writer < 0) {  // the first step touching x stores all of it
        pos = sole_writer(kernels, uses, prog, buffer, s, x).second;
        ok = pos >= 0;
        writer = static_cast<int>(i);
        continue;
      }
      // and every later one is a bf16 product reading it as an operand.
      ok = s.kind == plan::Step::Matmul && s.bf16 && (s.a == x || s.b == x) && s.c != x && s.bias != x;
    }
    if (!ok || writer < 0) continue;
    FusedKernel &k = *kernels.at(prog.steps[writer].kernel);
    k.args[pos] = BufferType::BF16;
    buffer.type = plan::DType::BF16;
    buffer.name += ".bf16";
  }
}

constexpr int64_t kLine = 64;
int64_t line_up(int64_t bytes) { return (bytes + kLine - 1) / kLine * kLine; }

}  // namespace

void share_rounding(LoweredModel &m) {
  if (!m.options.share_rounding) return;
  plan::Plan &plan = m.plan;
  const std::set<int> named_by_programs = program_buffers(plan);
  std::map<std::string, FusedKernel *> writable;
  for (FusedKernel &k : m.kernels) writable[k.name] = &k;
  std::map<std::string, int> uses = kernel_calls(plan);
  for (const CodegenProgram &cp : m.programs)
    if (plan.program(cp.name)) round_in_kernels(plan, cp, named_by_programs, writable, uses);
  const std::map<std::string, const FusedKernel *> kernels = kernels_by_name(m.kernels);
  for (CodegenProgram &cp : m.programs) {
    plan::Program *prog = plan.program(cp.name);
    if (!prog) continue;
    std::map<int, int> copy_of;  // f32 buffer -> its rounded copy, while no step has written the buffer since
    std::map<int, size_t> written_at;  // buffer -> the step of `steps` that wrote it last
    std::vector<plan::Step> steps;
    std::vector<int> new_index;
    for (plan::Step s : prog->steps) {
      if (s.kind == plan::Step::Matmul && s.bf16) {
        for (int *operand : {&s.a, &s.b}) {
          const int x = *operand;
          if (x < 0 || !shares_rounding(plan.buffers[x])) continue;
          const plan::Buffer source = plan.buffers[x];
          auto it = copy_of.find(x);
          // The input's copy, before any step writes the input: the
          // runtime writes it with the input.
          if (it == copy_of.end() && x == prog->input && !written_at.count(x)) {
            plan::Buffer rounded = source;
            rounded.name = source.name + ".bf16";
            rounded.type = plan::DType::BF16;
            rounded.row_offset = m.persistent_row_bytes;
            m.persistent_row_bytes += line_up(source.row * 2);
            prog->input_copy = static_cast<int>(plan.buffers.size());
            plan.buffers.push_back(rounded);
            it = copy_of.emplace(x, prog->input_copy).first;
          }
          if (it == copy_of.end()) {
            plan::Buffer rounded = source;
            const bool named = source.name.rfind(cp.name + ".", 0) == 0;  // a temporary's name has its program's
            rounded.name = (named ? "" : cp.name + ".") + source.name + ".bf16";
            rounded.type = plan::DType::BF16;
            rounded.offset = rounded.row_offset = 0;
            const int r = static_cast<int>(plan.buffers.size());
            plan.buffers.push_back(rounded);
            cp.temps.push_back(r);
            it = copy_of.emplace(x, r).first;
            // Stored whole by a kernel that f32 readers need too: it stores
            // the rounded copy as well.
            auto w = written_at.find(x);
            auto [kernel, pos] = w == written_at.end()
                                     ? std::pair<FusedKernel *, int>{nullptr, -1}
                                     : sole_writer(writable, uses, *prog, source, steps[w->second], x);
            if (kernel) {
              const KernelOutput stored = *std::find_if(kernel->outputs.begin(), kernel->outputs.end(),
                                                        [&](const KernelOutput &o) { return o.arg == pos; });
              kernel->outputs.push_back({stored.instr, static_cast<int>(kernel->args.size()), stored.strides});
              kernel->args.push_back(BufferType::BF16);
              steps[w->second].args.push_back(r);
              *operand = r;
              continue;
            }
            plan::Step round;
            round.kind = plan::Step::Reorder;
            round.a = x, round.c = r;
            round.dims_a = source.row > 0 ? std::vector<int64_t>{plan::kBatch, source.row}
                                          : std::vector<int64_t>{source.elements};
            round.where = s.where;
            steps.push_back(round);
          }
          *operand = it->second;
        }
      }
      for (int w : step_writes(plan, kernels, s)) copy_of.erase(w), written_at[w] = steps.size();
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
