// The values of lower_steps (lower_steps.h) in oneDNN layouts: a value
// lives in its plain buffer and/or in shadows holding it in a layout that
// convolutions or blocked kernels read; reorders between them go in the plan
// where a step first needs the other one.
#include <dnnl.hpp>

#include "abi/onednn_conv.h"
#include "codegen/conv_layouts.h"
#include "codegen/direct_conv.h"
#include "codegen/lowering.h"
#include "ir/printer.h"

namespace vaec {
namespace lowering {

// The plain buffer of `node`, after a reorder from a shadow if the value is
// not there yet (the reorder goes before the caller's step).
int Lowering::plain(Prog &p, int node) {
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
int Lowering::in_layout(Prog &p, int node, const std::string &layout, const Dims &ir_dims, bool tw) {
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
int Lowering::new_shadow(Prog &p, int node, const std::string &layout, const Dims &dims, int64_t elements,
                         const std::string &plain_layout) {
  const int root = p.s.root[node];
  check_batch_outermost(p, root, dims, layout);
  const int shadow = new_temp(p, p.g.nodes[root].name + "@" + onednn::layout_name(layout), elements, root);
  p.shadows[{root, layout}] = {shadow, dims, plain_layout};
  p.plain_pending.insert(root);
  return shadow;
}

// A per-example value in a oneDNN layout must keep the batch outermost
// and dense, so that the layout holds at every batch.
void Lowering::check_batch_outermost(Prog &p, int root, const Dims &dims, const std::string &layout) {
  if (!p.batched[root] || layout == "plain" || dims.empty()) return;
  const dnnl::memory::desc d = onednn::layout_desc(dims, layout);
  if (d.data.format_desc.blocking.strides[0] * dims[0] * 4 != static_cast<int64_t>(d.get_size()))
    throw Unsupported(p.g.nodes[root].loc, "oneDNN's layout " + onednn::layout_name(layout) + " for %" +
                                               p.g.nodes[root].name + " does not keep the batch outermost");
}

// Whether the value `root` (of NCHW `dims`) is best written in nChw16c: a
// convolution reads it in that layout, and it is not a graph output.
bool Lowering::wants_nchw16c(const Prog &p, int root, const Dims &dims) const {
  const std::string l = nchw16c_layout(dims);
  auto w = p.wanted.find(root);
  return !l.empty() && !p.outputs.count(root) && w != p.wanted.end() && w->second.count(l);
}

// Which arguments of kernel `k` to run in nChw16c: values it reads that are
// (only or also) in that layout already, and values it writes that a
// convolution will read in it (and that are not graph outputs).
std::vector<bool> Lowering::blocked_args(Prog &p, const FusedKernel &k, const std::vector<int> &arg_nodes) {
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
void Lowering::lower_conv(Prog &p, const ScheduleStep &ss, const ConvChoice &choice) {
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
    bool bare_blocked = cs.layout_c != "plain" && cs.layout_c == nchw16c_layout(cs.dims_c);
    int bare = new_temp(p, g.nodes[root].name + ".bare" +
                               (cs.layout_c == "plain" ? "" : "@" + onednn::layout_name(cs.layout_c)),
                        choice.elements[2], root);
    cs.c = bare;
    report_conv(p, cs, choice, first, value);
    p.prog.steps.push_back(batch_extents(cs));
    if (const std::string to = kernel_layout_of_result(cs); !to.empty()) {  // a layout kernels cannot read
      plan::Step r;
      r.kind = plan::Step::Reorder;
      r.where = cs.where;
      r.dims_a = extents(p, root, cs.dims_c);
      r.a = bare, r.layout_a = cs.layout_c, r.layout_c = to;
      r.c = bare = new_temp(p, g.nodes[root].name + ".bare" + (to == "plain" ? "" : "@" + onednn::layout_name(to)),
                            checked_elements(cs.dims_c), root);
      report_reorder(p.prog, r, g.nodes[root].name);
      p.prog.steps.push_back(r);
      bare_blocked = to != "plain";
    }
    const std::string l = nchw16c_layout(cs.dims_c);
    // Blocked when a convolution reads it so, or when the bare result is
    // blocked: then the kernels after it read it as is, and a plain copy,
    // if one is needed, is a reorder rather than this kernel's scattered stores.
    const bool out_blocked =
        wants_nchw16c(p, root, cs.dims_c) || (bare_blocked && !p.outputs.count(root));
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
  // Gradients (graph outputs) go plain now; a layout kernels cannot read
  // (a bf16 kernel's channels last) goes where they read it.
  const std::string to = kernel_layout_of_result(cs);
  if (cs.layout_c != "plain" && (p.outputs.count(root) || to == "plain")) {
    plain(p, value);
  } else if (!to.empty()) {
    plan::Step r;
    r.kind = plan::Step::Reorder;
    r.where = cs.where;
    r.dims_a = extents(p, root, c_dims);
    r.a = cs.c, r.layout_a = cs.layout_c, r.layout_c = to;
    r.c = new_shadow(p, value, to, c_dims, checked_elements(c_dims));
    report_reorder(p.prog, r, g.nodes[root].name);
    p.prog.steps.push_back(r);
  }
}

// A direct convolution kernel (direct_conv.h): its wide operands from
// their nChw16c shadow, the rest plain; a wide result goes to a shadow.
void Lowering::lower_direct_conv(Prog &p, const ScheduleStep &ss, const ConvChoice &choice) {
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

void Lowering::report_conv(Prog &p, const plan::Step &cs, const ConvChoice &choice, const Node &first, int value) {
  for (const std::string *note : {&choice.algorithm_note, &choice.precision_note}) {
    if (note->empty()) continue;  // as choose_precision notes a product's choice
    std::string dims;
    for (const Dims *d : {&cs.dims_a, &cs.dims_b}) dims += (dims.empty() ? "" : " and ") + dims_str(*d);
    out_.plan.notes.push_back(p.prog.name + " step " + std::to_string(p.prog.steps.size()) + " " + cs.conv + " " +
                              dims + ": " + *note + (cs.where.empty() ? "" : " at " + cs.where));
  }
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

void Lowering::report_reorder(const plan::Program &prog, const plan::Step &r, const std::string &value) {
  library_ << prog.name << " step " << prog.steps.size() << ": reorder %" << value << " "
           << onednn::layout_name(r.layout_a) << " -> " << onednn::layout_name(r.layout_c) << "\n";
}

}  // namespace lowering
}  // namespace vaec
