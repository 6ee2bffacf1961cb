// From schedules to the plan's steps and buffers (contract in lower_steps.h);
// values in oneDNN layouts are lower_layouts.cpp's.
#include "codegen/lower_steps.h"

#include <algorithm>

#include "codegen/conv_layouts.h"
#include "codegen/lowering.h"
#include "ir/batch_axes.h"
#include "ir/printer.h"

namespace vaec {
namespace lowering {
namespace {

bool is_conv(Op op) {
  return op == Op::Conv2d || op == Op::Conv2dTranspose || op == Op::Conv2dBwdData || op == Op::Conv2dBwdWeights ||
         op == Op::Conv2dTransposeBwdData || op == Op::Conv2dTransposeBwdWeights;
}

}  // namespace

Lowering::Lowering(LoweredModel &m) : out_(m), persistent_end_(m.persistent_bytes) {
  for (const plan::Param &q : m.plan.params) {
    param_buffer_[q.name] = q.buffer;
    grad_buffer_["d." + q.name] = q.grad_buffer;
  }
  for (const plan::Stat &t : m.plan.stats) stat_buffer_[t.name] = t.buffer;
}

void Lowering::run() {
  for (CodegenProgram &cp : out_.programs) {
    plan::Program *prog = out_.plan.program(cp.name);
    if (!prog) throw InternalError("lower_steps: no plan program '" + cp.name + "'");
    lower_program(cp, *prog);
  }
  out_.persistent_bytes = persistent_end_;
  out_.persistent_row_bytes = persistent_row_;
  out_.library_report = library_.str();
}

// A buffer of `elements` at the compiled `batch`: per example when
// `batched` (its size and offset then grow with the run's batch).
int Lowering::sized_buffer(const std::string &name, plan::DType type, int64_t elements, bool batched, int64_t batch) {
  if (!batched) return add_buffer(name, type, elements, 0);
  if (batch < 1 || elements % batch != 0)
    throw InternalError("lower_steps: " + name + " (" + std::to_string(elements) + " elements) is not " +
                        std::to_string(batch) + " rows");
  const int b = add_buffer(name, type, 0, 0);
  out_.plan.buffers[b].row = elements / batch;
  return b;
}
// Persistent buffers: fixed ones from byte 0; per-example ones in the
// arena's per-example part (plan_memory puts it after every fixed byte).
int64_t Lowering::persistent(const std::string &name, plan::DType type, int64_t elements, bool batched,
                             int64_t batch) {
  const int b = sized_buffer(name, type, elements, batched, batch);
  plan::Buffer &x = out_.plan.buffers[b];
  const int64_t size = plan::dtype_bytes(type);
  if (batched) {
    x.row_offset = persistent_row_;
    persistent_row_ += align(x.row * size);
  } else {
    x.offset = persistent_end_;
    persistent_end_ += align(bytes_of(b));
  }
  return b;
}

// Lowers one program. The input called `latent` is f32 the runtime
// writes; any other is the images. With `values`, the outputs (of any
// shape) become prog.outputs, else losses.
void Lowering::lower_program(CodegenProgram &cp, plan::Program &prog) {
  const Graph &g = *cp.graph;
  const Schedule &s = cp.schedule;
  const std::string &name = cp.name, &latent = cp.latent;
  const bool values = cp.values;
  prog.name = name;
  prog.batch = g.batch();
  Prog p(g, s, prog, name + ".");
  std::string why;
  p.batched = batched_values(g, why);
  if (!why.empty()) throw Unsupported(Loc{}, "the batch axis cannot follow the run's batch: " + why);
  p.temps = &cp.temps;
  p.conv_choice = &cp.conv_choice;
  p.buffer.assign(g.nodes.size(), -1);
  std::vector<int> &buffer = p.buffer;
  const std::string &prefix = p.prefix;

  // Inputs: f32 rows the runtime writes, already transformed as the
  // plan's data settings say (scaled, standardized, binarized).
  int input = -1;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node &n = g.nodes[i];
    if (n.op != Op::Input) continue;
    if (!latent.empty() && n.name == latent) {
      buffer[i] = static_cast<int>(persistent(prefix + n.name, plan::DType::F32, checked_elements(n.dims), true, g.batch()));
      prog.latent = buffer[i];
      prog.latent_row = checked_elements(n.dims) / n.dims[0];
      continue;
    }
    const AttrValue *label = g.config_value("label_input");
    if (label && std::get_if<std::string>(label) && *std::get_if<std::string>(label) == n.name) {
      buffer[i] = static_cast<int>(persistent(prefix + n.name, plan::DType::F32, checked_elements(n.dims), true, g.batch()));
      prog.labels = buffer[i];
      prog.label_classes = checked_elements(n.dims) / n.dims[0];
      continue;
    }
    const AttrValue *conditions = g.config_value("condition_inputs");
    const std::string *names = conditions ? std::get_if<std::string>(conditions) : nullptr;
    if (names && ("," + *names + ",").find("," + n.name + ",") != std::string::npos) {
      buffer[i] = static_cast<int>(persistent(prefix + n.name, plan::DType::F32, checked_elements(n.dims), true, g.batch()));
      prog.conditions.push_back({n.name, buffer[i], checked_elements(n.dims) / n.dims[0]});
      continue;
    }
    if (input >= 0) throw Unsupported(n.loc, "only one input of examples: the others are labels or conditions");
    input = static_cast<int>(i);
    buffer[i] = static_cast<int>(persistent(prefix + n.name, plan::DType::F32, checked_elements(n.dims), true, g.batch()));
    prog.input = buffer[i];
    prog.input_row = checked_elements(n.dims) / n.dims[0];
  }
  if (input < 0 && prog.latent < 0) throw Unsupported(Loc{}, "the model has no input");
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    if (g.nodes[i].op == Op::Param) buffer[i] = param_buffer_.at(g.nodes[i].name);
    if (g.nodes[i].op == Op::Stat) buffer[i] = stat_buffer_.at(g.nodes[i].name);
    if (g.nodes[i].op == Op::BatchSize) {
      if (out_.plan.batch_value < 0) out_.plan.batch_value = static_cast<int>(persistent("batch", plan::DType::F32, 1));
      buffer[i] = out_.plan.batch_value;
    }
    if (g.nodes[i].op == Op::Epoch) {
      if (out_.plan.epoch_value < 0) out_.plan.epoch_value = static_cast<int>(persistent("epoch", plan::DType::F32, 1));
      buffer[i] = out_.plan.epoch_value;
    }
  }

  // Outputs: losses get their own buffers, gradients their slots. A
  // gradient that is a constant, or a value that already has a buffer (an
  // input, a parameter, another output), is written by a copy at the end.
  std::vector<std::pair<int, int>> late_outputs;  // (node, destination buffer)
  for (const auto &[oname, idx] : g.outputs) {
    int r = s.root[idx];
    p.outputs.insert(r);
    // update.NAME: the statistic's next value, copied in after every step read it.
    if (oname.rfind("update.", 0) == 0) {
      late_outputs.emplace_back(idx, stat_buffer_.at(oname.substr(7)));
      continue;
    }
    auto grad = grad_buffer_.find(oname);
    if (values) {  // its own persistent buffer, written by the step computing it or by a copy
      const Node &n = g.nodes[idx];
      const int64_t count = checked_elements(n.dims);
      if (n.dims.empty() || !p.batched[idx])
        throw Unsupported(n.loc, "output " + oname + " is not one row per example");
      int b;
      if (g.nodes[r].op == Op::Const || s.step_of[r] < 0 || r != idx || buffer[r] >= 0) {
        b = static_cast<int>(persistent(prefix + oname, plan::DType::F32, count, true, g.batch()));
        late_outputs.emplace_back(idx, b);
      } else {
        b = buffer[r] = static_cast<int>(persistent(prefix + oname, plan::DType::F32, count, true, g.batch()));
      }
      prog.outputs.push_back({oname, b, count / n.dims[0]});
      continue;
    }
    if (grad != grad_buffer_.end()) {
      if (s.step_of[r] < 0 || buffer[r] >= 0 || r != idx) late_outputs.emplace_back(idx, grad->second);
      else buffer[r] = grad->second;
    } else {
      if (!g.nodes[idx].dims.empty()) throw Unsupported(g.nodes[idx].loc, "output " + oname + " is not a scalar");
      if (g.nodes[r].op == Op::Const || s.step_of[r] < 0 || r != idx) {
        int b = static_cast<int>(persistent(prefix + oname, plan::DType::F32, 1));
        late_outputs.emplace_back(idx, b);
        prog.losses.emplace_back(oname, b);
        continue;
      }
      if (buffer[r] < 0) buffer[r] = static_cast<int>(persistent(prefix + oname, plan::DType::F32, 1));
      prog.losses.emplace_back(oname, buffer[r]);
    }
  }
  // Every other materialized value is a temporary.
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    if (!s.materialized[i] || buffer[i] >= 0) continue;
    buffer[i] = new_temp(p, g.nodes[i].name, checked_elements(g.nodes[i].dims), static_cast<int>(i));
  }
  // In which layouts kernels had best leave the values convolutions read.
  for (const auto &[k, c] : cp.conv_choice) {
    const Node &first = g.nodes[s.steps[k].nodes.front()];
    p.wanted[s.root[first.operands[0]]].insert(c.step.layout_a);
    p.wanted[s.root[first.operands[1]]].insert(c.step.layout_b);
  }

  for (size_t k = 0; k < s.steps.size(); ++k) {
    const ScheduleStep &ss = s.steps[k];
    const Node &first = g.nodes[ss.nodes.front()];
    plan::Step st;
    st.where = where(first);
    // oneDNN, and kernels reading a value at other points (slice, pad,
    // expand), read buffers: constants and noise that kernels recompute
    // inline get materialized first.
    std::vector<int> read_whole;
    if (ss.kind == ScheduleStep::Library) read_whole = first.operands;
    for (int m : ss.kind == ScheduleStep::Library ? std::vector<int>{} : ss.nodes)
      if (g.nodes[m].op == Op::Slice || g.nodes[m].op == Op::Pad ||
          (g.nodes[m].op == Op::Expand && g.nodes[g.nodes[m].operands[0]].op != Op::Const))
        read_whole.push_back(g.nodes[m].operands[0]);
    for (int o : read_whole) {
      int r = s.root[o];
      if (buffer[r] >= 0 || (g.nodes[r].op != Op::Const && g.nodes[r].op != Op::Normal)) continue;
      int b = new_temp(p, g.nodes[r].name, checked_elements(g.nodes[r].dims), r);
      buffer[r] = b;
      prog.steps.push_back(source_kernel(g, r, b, prefix + "source_" + std::to_string(prog.steps.size()), p.batched[r]));
    }
    if (ss.kind == ScheduleStep::Library) {
      int value = ss.post >= 0 ? ss.post : ss.nodes.front();
      if (is_conv(first.op)) {
        lower_conv(p, ss, p.conv_choice->at(static_cast<int>(k)));
        continue;
      }
      st.kind = plan::Step::Matmul;
      st.c = buf(p, value);
      if (ss.post >= 0) st.post = std::string(op_name(g.nodes[ss.post].op));
      const Dims &a = g.nodes[first.operands[0]].dims;
      st.a = plain(p, first.operands[0]);
      st.b = plain(p, first.operands[1]);
      st.m = extent(p, ss.nodes.front(), 0);
      st.n = first.dims[1];
      if (first.op == Op::Dense) {  // x [m,k] times w [n,k] transposed, plus bias
        st.tb = true;
        st.k = a[1];
        st.bias = plain(p, first.operands[2]);
      } else {
        st.ta = std::get<int64_t>(*first.attr("transpose_a")) != 0;
        st.tb = std::get<int64_t>(*first.attr("transpose_b")) != 0;
        st.k = st.ta ? extent(p, first.operands[0], 0) : a[1];
      }
    } else {
      std::vector<int> arg_nodes;
      std::string kname = prefix + "k" + std::to_string(k);
      kname = c_identifier(kname);
      FusedKernel fk = build_kernel(s, static_cast<int>(k), kname, arg_nodes);
      st.kind = plan::Step::Kernel;
      st.kernel = fk.name;
      for (const KernelInstr &in : fk.instrs) st.uses_rng = st.uses_rng || in.kind == KernelInstr::Normal;
      const std::vector<bool> blocked = blocked_args(p, fk, arg_nodes);
      const Dims nchw_domain = fk.domain;
      // Only when an argument is blocked: over plain tensors the permuted
      // domain would just walk channels with a stride.
      const bool redomained =
          std::find(blocked.begin(), blocked.end(), true) != blocked.end() && redomain_nchw16c(fk, blocked);
      std::vector<bool> written(arg_nodes.size(), false);
      for (const KernelOutput &o : fk.outputs) written[o.arg] = true;
      for (size_t a = 0; a < arg_nodes.size(); ++a) {
        const int node = arg_nodes[a];
        // A blocked argument is the kernel's NCHW domain, whatever its IR shape.
        const Dims &nchw = nchw_domain;
        const std::string l = nchw16c_layout(nchw);
        if (redomained && blocked[a] && written[a]) {
          st.args.push_back(new_shadow(p, node, l, nchw, checked_elements(nchw)));
        } else if (redomained && blocked[a]) {
          st.args.push_back(in_layout(p, node, l, nchw, false));
        } else if (written[a]) {
          st.args.push_back(buf(p, node));
        } else {
          st.args.push_back(plain(p, node));
        }
      }
      st.domain0 = fk.domain.empty() ? 1 : ss.batched ? batch_extent(g, fk.domain[0]) : fk.domain[0];
      st.rows = split_rows(fk);
      for (const KernelOutput &o : fk.outputs) {
        if (o.accumulate) {
          st.accumulate.push_back(o.arg);
          st.combine.push_back(o.combine == Op::Max   ? plan::Step::Combine::Max
                               : o.combine == Op::Min ? plan::Step::Combine::Min
                                                      : plan::Step::Combine::Add);
        }
      }
      if (redomained)
        library_ << prog.name << " step " << prog.steps.size() << ": kernel " << fk.name
                 << " runs over nChw16c (domain f32" << dims_str(fk.domain) << ")\n";
      out_.kernels.push_back(std::move(fk));
    }
    prog.steps.push_back(st);
  }
  // Graph outputs a kernel or convolution left in a shadow only.
  for (int r : std::set<int>(p.plain_pending))
    if (p.outputs.count(r)) plain(p, r);
  for (const auto &[node, dest] : late_outputs) {
    const Node &n = g.nodes[node];
    plan::Step st;
    st.where = where(n);
    int64_t count = checked_elements(n.dims);
    if (n.op == Op::Const && std::get<double>(*n.attr("value")) == 0.0) {
      st.kind = plan::Step::Zero;
      st.c = dest;
      prog.steps.push_back(st);
      continue;
    }
    if (n.op == Op::Const || n.op == Op::Normal) {
      prog.steps.push_back(
          source_kernel(g, node, dest, prefix + "output_" + std::to_string(prog.steps.size()), p.batched[node]));
      continue;
    }
    // dest = value, copied by a kernel (by rows when they are the batch's).
    int src = plain(p, node);
    KernelInstr value;
    value.kind = KernelInstr::Load;
    value.arg = 0;
    const bool rows = p.batched[node];
    const int64_t row = rows ? count / n.dims[0] : count;
    value.strides = rows ? std::vector<int64_t>{row, 1} : std::vector<int64_t>{1};
    prog.steps.push_back(one_value_kernel(prefix + "output_" + std::to_string(prog.steps.size()),
                                          rows ? std::vector<int64_t>{n.dims[0], row} : std::vector<int64_t>{count},
                                          value, {src, dest}, {BufferType::F32, BufferType::F32}, n,
                                          rows ? batch_extent(g, n.dims[0]) : 0));
  }
}

// A kernel writing a const() fill or normal() draws of `node` to `dest`
// (the same draws kernels make inline: counter-based, by stream and index).
plan::Step Lowering::source_kernel(const Graph &g, int node, int dest, const std::string &name, bool batched) {
  const Node &n = g.nodes[node];
  KernelInstr value;
  if (n.op == Op::Const) {
    value.kind = KernelInstr::Const;
    value.value = std::get<double>(*n.attr("value"));
  } else {
    value.kind = KernelInstr::Normal;
    for (int j = 0; j < node; ++j) value.stream += g.nodes[j].op == Op::Normal;
  }
  // By rows when they are the batch's; the draws follow the flat index either way.
  const int64_t count = checked_elements(n.dims);
  return one_value_kernel(name, batched ? std::vector<int64_t>{n.dims[0], count / n.dims[0]} : std::vector<int64_t>{count},
                          value, {dest}, {BufferType::F32}, n, batched ? batch_extent(g, n.dims[0]) : 0);
}

// A kernel computing one instruction over `domain` and storing it,
// contiguously, into its last argument; returns the step that calls it.
plan::Step Lowering::one_value_kernel(std::string name, std::vector<int64_t> domain, KernelInstr value,
                                      std::vector<int> buffers, std::vector<BufferType> types, const Node &origin,
                                      int64_t batch_extent) {
  name = c_identifier(name);
  FusedKernel k;
  k.name = name;
  k.domain = domain;
  k.args = std::move(types);
  std::vector<int64_t> contiguous(domain.size(), 1);
  for (size_t a = domain.size(); a-- > 1;) contiguous[a - 1] = contiguous[a] * domain[a];
  k.instrs.push_back(value);
  k.outputs.push_back({0, static_cast<int>(k.args.size()) - 1, contiguous, false});
  plan::Step st;
  st.kind = plan::Step::Kernel;
  st.kernel = k.name;
  st.args = std::move(buffers);
  st.domain0 = batch_extent < 0 ? batch_extent : domain[0];
  st.rows = split_rows(k);
  st.uses_rng = value.kind == KernelInstr::Normal;
  st.where = where(origin);
  out_.kernels.push_back(std::move(k));
  return st;
}

}  // namespace lowering

void lower_steps(LoweredModel &m) {
  lowering::Lowering l(m);
  l.run();
}

}  // namespace vaec
