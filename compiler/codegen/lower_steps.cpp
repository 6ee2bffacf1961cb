// From schedules to the plan's steps and buffers (contract in lower_steps.h).
#include "codegen/lower_steps.h"

#include <dnnl.hpp>

#include "ir/batch_axes.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <set>
#include <sstream>

#include "codegen/conv_layouts.h"
#include "codegen/direct_conv.h"
#include "ir/builder.h"
#include "ir/printer.h"

#include "abi/onednn_conv.h"

namespace vaec {
namespace {

constexpr int64_t kAlign = 64;
int64_t align(int64_t bytes) { return (bytes + kAlign - 1) / kAlign * kAlign; }
// IR names (h.w, d2.1) -> kernel symbol names (h_w, d2_1).
std::string c_identifier(std::string name) {
  for (char &ch : name)
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  return name;
}

bool is_conv(Op op) {
  return op == Op::Conv2d || op == Op::Conv2dTranspose || op == Op::Conv2dBwdData || op == Op::Conv2dBwdWeights ||
         op == Op::Conv2dTransposeBwdData || op == Op::Conv2dTransposeBwdWeights;
}

std::string where(const Node &n) {
  return n.loc.known() ? n.loc.file + ":" + std::to_string(n.loc.line) + ":" + std::to_string(n.loc.col) : "-";
}

class Lowering {
public:
  Lowering(LoweredModel &m) : out_(m), persistent_end_(m.persistent_bytes) {
    for (const plan::Param &q : m.plan.params) {
      param_buffer_[q.name] = q.buffer;
      grad_buffer_["d." + q.name] = q.grad_buffer;
    }
    for (const plan::Stat &t : m.plan.stats) stat_buffer_[t.name] = t.buffer;
  }

  void run() {
    for (CodegenProgram &cp : out_.programs) {
      plan::Program *prog = out_.plan.program(cp.name);
      if (!prog) throw InternalError("lower_steps: no plan program '" + cp.name + "'");
      lower_program(cp, *prog);
    }
    out_.persistent_bytes = persistent_end_;
    out_.persistent_row_bytes = persistent_row_;
    out_.library_report = library_.str();
  }

private:

  int add_buffer(const std::string &name, plan::DType type, int64_t elements, int64_t offset) {
    out_.plan.buffers.push_back({name, type, elements, offset});
    return static_cast<int>(out_.plan.buffers.size()) - 1;
  }
  int64_t bytes_of(int b) const {
    const plan::Buffer &x = out_.plan.buffers[b];
    return x.elements * plan::dtype_bytes(x.type);
  }
  // A buffer of `elements` at the compiled `batch`: per example when
  // `batched` (its size and offset then grow with the run's batch).
  int sized_buffer(const std::string &name, plan::DType type, int64_t elements, bool batched, int64_t batch) {
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
  int64_t persistent(const std::string &name, plan::DType type, int64_t elements, bool batched = false,
                     int64_t batch = 1) {
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

  // One program being lowered: its buffers, temporaries and where each value
  // is. A value (by its root, see Schedule) lives in its plain buffer and/or
  // in shadows: buffers holding it in a oneDNN layout for convolutions. A
  // value a convolution or a blocked kernel wrote is in a shadow only until
  // something needs it plain (plain_pending), then one reorder makes it so.
  struct Prog {
    Prog(const Graph &graph, const Schedule &schedule, plan::Program &program, std::string pre)
        : g(graph), s(schedule), prog(program), prefix(std::move(pre)) {}
    const Graph &g;
    const Schedule &s;
    plan::Program &prog;
    std::string prefix;
    std::vector<int> buffer;         // node -> plain buffer
    std::vector<int> *temps = nullptr;  // the program's temporaries (plan_memory places them)
    std::vector<bool> batched;       // node -> per example (ir/batch_axes.h)
    struct Shadow {
      int buffer;
      Dims dims;  // oneDNN's dims of the value in this layout
      std::string plain_layout = "plain";  // the plain buffer's layout in those dims
    };
    std::map<std::pair<int, std::string>, Shadow> shadows;  // (root, layout) -> shadow
    std::set<int> plain_pending;      // roots not (yet) in their plain buffer
    std::map<int, std::set<std::string>> wanted;  // root -> layouts convolutions read it in
    std::set<int> outputs;            // roots of graph outputs
    const std::map<int, ConvChoice> *conv_choice = nullptr;  // schedule step -> oneDNN's choice
  };

  int buf(Prog &p, int node) {
    int b = p.buffer[p.s.root[node]];
    if (b < 0) throw InternalError("lower_steps: %" + p.g.nodes[node].name + " has no buffer");
    return b;
  }
  // A temporary holding `node` (per example when it is batched).
  int new_temp(Prog &p, const std::string &name, int64_t elements, int node) {
    const int b = sized_buffer(p.prefix + name, plan::DType::F32, elements, p.batched[node], p.g.batch());
    p.temps->push_back(b);
    return b;
  }
  // The plan's extent of a batched value's first axis: B, or c*B for c rows
  // per example (samples).
  static int64_t batch_extent(const Graph &g, int64_t dim0) { return plan::batch_times(dim0 / g.batch()); }
  int64_t extent(Prog &p, int node, size_t axis) const {
    return axis == 0 && p.batched[node] ? batch_extent(p.g, p.g.nodes[node].dims[0]) : p.g.nodes[node].dims[axis];
  }
  Dims extents(Prog &p, int node, Dims dims) const {
    if (p.batched[node] && !dims.empty()) dims[0] = batch_extent(p.g, dims[0]);
    return dims;
  }

  // The plain buffer of `node`, after a reorder from a shadow if the value is
  // not there yet (the reorder goes before the caller's step).
  int plain(Prog &p, int node) {
    const int root = p.s.root[node], b = buf(p, node);
    if (p.plain_pending.erase(root)) {
      auto it = p.shadows.lower_bound({root, ""});  // the value's shadows sort together
      if (it == p.shadows.end() || it->first.first != root) throw InternalError("lower_steps: %" + p.g.nodes[root].name + " is nowhere");
      plan::Step r;
      r.kind = plan::Step::Reorder;
      r.where = where(p.g.nodes[node]);
      r.dims_a = extents(p, root, it->second.dims);
      r.a = it->second.buffer, r.c = b, r.layout_a = it->first.second, r.layout_c = it->second.plain_layout;
      report_reorder(p.prog, r, p.g.nodes[root].name);
      p.prog.steps.push_back(r);
    }
    return b;
  }

  // The buffer holding `node` in `layout` (oneDNN dims `dims`; `tw`: the
  // weights of a transposed conv, whose plain layout permutes oneDNN's dims).
  int in_layout(Prog &p, int node, const std::string &layout, const Dims &ir_dims, bool tw) {
    if (layout == "plain") return plain(p, node);
    const int root = p.s.root[node];
    auto it = p.shadows.find({root, layout});
    if (it != p.shadows.end()) {
      return it->second.buffer;
    }
    const int from = plain(p, node);
    Dims dims = ir_dims;
    if (tw) std::swap(dims[0], dims[1]);
    const int64_t elements =
        static_cast<int64_t>((onednn::layout_desc(dims, layout).get_size() + 3) / 4);
    check_batch_outermost(p, root, dims, layout);
    const int shadow = new_temp(p, p.g.nodes[root].name + "@" + onednn::layout_name(layout), elements, root);
    const std::string plain_layout = onednn::plain_layout(ir_dims, tw);
    p.shadows[{root, layout}] = {shadow, dims, plain_layout};
    plan::Step r;
    r.kind = plan::Step::Reorder;
    r.where = where(p.g.nodes[node]);
    r.dims_a = extents(p, root, dims);
    r.a = from, r.c = shadow;
    r.layout_a = plain_layout;
    r.layout_c = layout;
    report_reorder(p.prog, r, p.g.nodes[root].name);
    p.prog.steps.push_back(r);
    return shadow;
  }

  // A new shadow of `node` in `layout`, written by the caller's step; the
  // plain buffer is pending (graph outputs are made plain at once by the
  // caller).
  int new_shadow(Prog &p, int node, const std::string &layout, const Dims &dims, int64_t elements,
                 const std::string &plain_layout = "plain") {
    const int root = p.s.root[node];
    check_batch_outermost(p, root, dims, layout);
    const int shadow = new_temp(p, p.g.nodes[root].name + "@" + onednn::layout_name(layout), elements, root);
    p.shadows[{root, layout}] = {shadow, dims, plain_layout};
    p.plain_pending.insert(root);
    return shadow;
  }

  // A per-example value in a oneDNN layout must keep the batch outermost
  // and dense, so that the layout holds at every batch.
  void check_batch_outermost(Prog &p, int root, const Dims &dims, const std::string &layout) {
    if (!p.batched[root] || layout == "plain" || dims.empty()) return;
    const dnnl::memory::desc d = onednn::layout_desc(dims, layout);
    if (d.data.format_desc.blocking.strides[0] * dims[0] * 4 != static_cast<int64_t>(d.get_size()))
      throw Unsupported(p.g.nodes[root].loc, "oneDNN's layout " + onednn::layout_name(layout) + " for %" +
                                                 p.g.nodes[root].name + " does not keep the batch outermost");
  }

  // Lowers one program. The input called `latent` is f32 the runtime
  // writes; any other is the images. With `values`, the outputs (of any
  // shape) become prog.outputs, else losses.
  void lower_program(CodegenProgram &cp, plan::Program &prog) {
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

  // Whether the value `root` (of NCHW `dims`) is best written in nChw16c: a
  // convolution reads it in that layout, and it is not a graph output.
  bool wants_nchw16c(const Prog &p, int root, const Dims &dims) const {
    const std::string l = nchw16c_layout(dims);
    auto w = p.wanted.find(root);
    return !l.empty() && !p.outputs.count(root) && w != p.wanted.end() && w->second.count(l);
  }

  // Which arguments of kernel `k` to run in nChw16c: values it reads that are
  // (only or also) in that layout already, and values it writes that a
  // convolution will read in it (and that are not graph outputs).
  std::vector<bool> blocked_args(Prog &p, const FusedKernel &k, const std::vector<int> &arg_nodes) {
    std::vector<bool> blocked(arg_nodes.size(), false);
    if (k.domain.size() != 4 || nchw16c_layout(k.domain).empty()) return blocked;
    std::vector<int64_t> identity(4, 1);
    for (int a = 3; a-- > 0;) identity[a] = identity[a + 1] * k.domain[a + 1];
    bool any = false;
    for (const KernelInstr &in : k.instrs) {
      if (in.kind != KernelInstr::Load || in.strides != identity || in.offset != 0 || in.guard_axis >= 0) continue;
      const int node = arg_nodes[in.arg], root = p.s.root[node];
      if (p.g.nodes[node].dims != k.domain) continue;
      if (p.shadows.count({root, nchw16c_layout(k.domain)})) blocked[in.arg] = any = true;
    }
    for (const KernelOutput &o : k.outputs) {
      const int node = arg_nodes[o.arg], root = p.s.root[node];
      if (o.accumulate || o.strides != identity || p.g.nodes[node].dims != k.domain) continue;
      if (wants_nchw16c(p, root, k.domain)) blocked[o.arg] = any = true;
    }
    if (!any) return std::vector<bool>(arg_nodes.size(), false);
    // Running blocked anyway: every other whole tensor goes blocked too. A
    // plain one would be read with gathers and written with scatters at
    // stride H*W; a reorder (oneDNN's, when something needs the other
    // layout) moves it faster, and the next blocked kernel reads it as is.
    // (A value read whole in row-major order is NCHW whatever its shape:
    // the dense layer's gradient [N, C*H*W] flows into a kernel so.)
    const int64_t points = identity[0] * k.domain[0];
    for (const KernelInstr &in : k.instrs) {
      if (in.kind != KernelInstr::Load || in.strides != identity || in.offset != 0 || in.guard_axis >= 0) continue;
      if (checked_elements(p.g.nodes[arg_nodes[in.arg]].dims) == points) blocked[in.arg] = true;
    }
    for (const KernelOutput &o : k.outputs) {
      const int node = arg_nodes[o.arg], root = p.s.root[node];
      if (o.accumulate || o.strides != identity || p.g.nodes[node].dims != k.domain || p.outputs.count(root)) continue;
      blocked[o.arg] = true;
    }
    return blocked;
  }

  // A convolution step with the layouts oneDNN chose (choose_conv): inputs
  // come from their shadow in that layout (made by a reorder the first time
  // a step reads the value in it), the result goes to a shadow that later
  // convolutions and blocked kernels read as is; a plain copy is made only
  // when something needs one.
  void lower_conv(Prog &p, const ScheduleStep &ss, const ConvChoice &choice) {
    if (choice.direct) return lower_direct_conv(p, ss, choice);
    const Graph &g = p.g;
    const Node &first = g.nodes[ss.nodes.front()];
    const int value = ss.post >= 0 ? ss.post : ss.nodes.front();
    plan::Step cs = choice.step;
    cs.where = where(first);
    cs.a = in_layout(p, first.operands[0], cs.layout_a, cs.dims_a, onednn::is_transpose_weights(cs.conv, 0));
    cs.b = in_layout(p, first.operands[1], cs.layout_b, cs.dims_b, onednn::is_transpose_weights(cs.conv, 1));
    int bias = -1;
    if (first.operands.size() > 2) bias = plain(p, first.operands[2]);
    if (!choice.epilogue) cs.bias = bias;
    const bool tw = onednn::is_transpose_weights(cs.conv, 2);
    Dims c_dims = cs.dims_c;
    if (tw) std::swap(c_dims[0], c_dims[1]);
    const int root = p.s.root[value];
    // The step as the plan has it: the batch's extents written B.
    auto batch_extents = [&](plan::Step st) {
      st.dims_a = extents(p, p.s.root[first.operands[0]], st.dims_a);
      st.dims_b = extents(p, p.s.root[first.operands[1]], st.dims_b);
      st.dims_c = extents(p, root, st.dims_c);
      return st;
    };
    if (choice.epilogue) {
      // bare result -> epilogue kernel (bias, activation) -> the value
      const bool bare_blocked = cs.layout_c != "plain" && cs.layout_c == nchw16c_layout(cs.dims_c);
      int bare = new_temp(p, g.nodes[root].name + ".bare" +
                                 (cs.layout_c == "plain" ? "" : "@" + onednn::layout_name(cs.layout_c)),
                          choice.elements[2], root);
      cs.c = bare;
      report_conv(p, cs, choice, first, value);
      p.prog.steps.push_back(batch_extents(cs));
      if (cs.layout_c != "plain" && !bare_blocked) {  // a layout kernels cannot read: reorder to plain
        plan::Step r;
        r.kind = plan::Step::Reorder;
        r.where = cs.where;
        r.dims_a = extents(p, root, cs.dims_c);
        r.a = bare, r.layout_a = cs.layout_c, r.layout_c = "plain";
        r.c = bare = new_temp(p, g.nodes[root].name + ".bare", checked_elements(cs.dims_c), root);
        report_reorder(p.prog, r, g.nodes[root].name);
        p.prog.steps.push_back(r);
      }
      const std::string l = nchw16c_layout(cs.dims_c);
      const bool out_blocked = wants_nchw16c(p, root, cs.dims_c);
      const std::string name = c_identifier(p.prog.name + "_epilogue_" + g.nodes[value].name);
      FusedKernel k = epilogue_kernel(name, cs.dims_c, choice.epilogue_post, bare_blocked, out_blocked);
      plan::Step st;
      st.kind = plan::Step::Kernel;
      st.kernel = k.name;
      const int out = out_blocked ? new_shadow(p, value, l, cs.dims_c, checked_elements(cs.dims_c)) : buf(p, value);
      st.args = {bare, bias, out};
      st.domain0 = p.batched[root] ? batch_extent(g, k.domain[0]) : k.domain[0];
      st.rows = split_rows(k);
      st.where = cs.where;
      library_ << p.prog.name << " step " << p.prog.steps.size() << ": kernel " << k.name << " adds the bias"
               << (choice.epilogue_post.empty() ? "" : " and applies " + choice.epilogue_post)
               << (bare_blocked || out_blocked ? " over nChw16c" : "") << "\n";
      out_.kernels.push_back(std::move(k));
      p.prog.steps.push_back(st);
      return;
    }
    if (cs.layout_c == "plain") {
      cs.c = buf(p, value);
    } else {
      cs.c = new_shadow(p, value, cs.layout_c, c_dims, choice.elements[2], onednn::plain_layout(cs.dims_c, tw));
    }
    report_conv(p, cs, choice, first, value);
    p.prog.steps.push_back(batch_extents(cs));
    // Gradients (graph outputs) and layouts kernels cannot read go plain now.
    if (cs.layout_c != "plain" && (p.outputs.count(root) || cs.layout_c != nchw16c_layout(cs.dims_c)))
      plain(p, value);
  }

  // A direct convolution kernel (direct_conv.h): its wide operands from
  // their nChw16c shadow, the rest plain; a wide result goes to a shadow.
  void lower_direct_conv(Prog &p, const ScheduleStep &ss, const ConvChoice &choice) {
    const Graph &g = p.g;
    const Node &first = g.nodes[ss.nodes.front()];
    const int value = ss.post >= 0 ? ss.post : ss.nodes.front();
    const plan::Step &cs = choice.step;
    const DirectConv &d = *choice.direct;
    const int a = in_layout(p, first.operands[0], cs.layout_a, cs.dims_a, false);
    const int b = in_layout(p, first.operands[1], cs.layout_b, cs.dims_b, false);
    const int bias = first.operands.size() > 2 ? plain(p, first.operands[2]) : -1;
    const int root = p.s.root[value];
    const int out = cs.layout_c == "plain" ? buf(p, value)
                                           : new_shadow(p, value, cs.layout_c, cs.dims_c, checked_elements(cs.dims_c));
    FusedKernel k;
    // Programs share a kernel when they run the same convolution (eval's
    // and nll's forward is train's).
    const std::string text = direct_conv_text(d);
    k.name = c_identifier("conv_" + g.nodes[value].name);
    auto same = direct_names_.find(text);
    if (same != direct_names_.end()) k.name = same->second;
    for (int serial = 2; same == direct_names_.end() && taken_(k.name); ++serial)
      k.name = c_identifier("conv_" + g.nodes[value].name + "_" + std::to_string(serial));
    const int batch_node = d.kind == DirectConv::Weights ? first.operands[0] : root;
    k.domain = {g.nodes[batch_node].dims[0]};
    k.conv = d;
    plan::Step st;
    st.kind = plan::Step::Kernel;
    st.kernel = k.name;
    st.where = where(first);
    if (d.kind == DirectConv::Weights) {
      // The kernel takes the conv-input side first: a transposed
      // convolution's weight gradient has it as operand 1.
      st.args = first.op == Op::Conv2dTransposeBwdWeights ? std::vector<int>{b, a, out} : std::vector<int>{a, b, out};
      st.accumulate = {direct_conv_result_arg(d)};
      st.combine = {plan::Step::Combine::Add};
    } else {
      st.args = bias >= 0 ? std::vector<int>{a, b, bias, out} : std::vector<int>{a, b, out};
    }
    k.args.assign(st.args.size(), BufferType::F32);
    st.domain0 = p.batched[batch_node] ? batch_extent(g, k.domain[0]) : k.domain[0];
    st.rows = split_rows(k);
    st.macs = direct_conv_macs(d);
    library_ << p.prog.name << " step " << p.prog.steps.size() << " (" << st.where << "): " << cs.conv << " %"
             << g.nodes[value].name << (cs.post.empty() ? "" : " + " + cs.post) << " as kernel " << k.name << ": "
             << direct_conv_text(d) << "\n";
    if (same == direct_names_.end()) {
      direct_names_[text] = k.name;
      out_.kernels.push_back(std::move(k));
    }
    p.prog.steps.push_back(st);
    if (cs.layout_c != "plain" && p.outputs.count(root)) plain(p, value);
  }

  void report_conv(Prog &p, const plan::Step &cs, const ConvChoice &choice, const Node &first, int value) {
    library_ << p.prog.name << " step " << p.prog.steps.size() << " (" << cs.where << "): " << cs.conv << " %"
             << p.g.nodes[value].name << (cs.post.empty() ? "" : " + " + cs.post) << " with " << choice.impl << "\n";
    const char *roles[3] = {"a", "b", "c"};
    const std::string layouts[3] = {cs.layout_a, cs.layout_b, cs.layout_c};
    const Dims *dims[3] = {&cs.dims_a, &cs.dims_b, &cs.dims_c};
    const int nodes[3] = {first.operands[0], first.operands[1], value};
    for (int i = 0; i < 3; ++i)
      library_ << "    " << roles[i] << " %" << p.g.nodes[nodes[i]].name << " f32" << dims_str(*dims[i]) << " "
               << onednn::layout_name(layouts[i]) << (layouts[i] == "plain" ? "" : " (" + layouts[i] + ")") << "\n";
  }

  void report_reorder(const plan::Program &prog, const plan::Step &r, const std::string &value) {
    library_ << prog.name << " step " << prog.steps.size() << ": reorder %" << value << " "
             << onednn::layout_name(r.layout_a) << " -> " << onednn::layout_name(r.layout_c) << "\n";
  }

  // A kernel writing a const() fill or normal() draws of `node` to `dest`
  // (the same draws kernels make inline: counter-based, by stream and index).
  plan::Step source_kernel(const Graph &g, int node, int dest, const std::string &name, bool batched) {
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
  plan::Step one_value_kernel(std::string name, std::vector<int64_t> domain, KernelInstr value,
                              std::vector<int> buffers, std::vector<BufferType> types, const Node &origin,
                              int64_t batch_extent = 0) {  // the plan's domain0 when batched
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

  bool taken_(const std::string &name) const {
    for (const FusedKernel &k : out_.kernels)
      if (k.name == name) return true;
    return false;
  }

  LoweredModel &out_;
  std::map<std::string, std::string> direct_names_;  // direct_conv_text -> its kernel
  int64_t persistent_end_, persistent_row_ = 0;
  std::map<std::string, int> param_buffer_, grad_buffer_, stat_buffer_;
  std::ostringstream library_;
};

}  // namespace

void lower_steps(LoweredModel &m) {
  Lowering l(m);
  l.run();
}

}  // namespace vaec
