// Layout decisions for convolutions (contract in conv_layouts.h).
#include "codegen/conv_layouts.h"

#include <dnnl.hpp>
#include <optional>
#include <stdexcept>

#include "abi/onednn_conv.h"
#include "abi/own_winograd.h"
#include "codegen/direct_conv.h"

namespace vaec {
namespace {

std::vector<int64_t> row_major_strides(const std::vector<int64_t> &dims) {
  std::vector<int64_t> s(dims.size(), 1);
  for (size_t i = dims.size(); i-- > 1;) s[i - 1] = s[i] * dims[i];
  return s;
}

int64_t row_major_elements(const std::vector<int64_t> &dims) {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}

// The text of a Conv step's geometry and `layouts`, to look its timings up by.
std::string step_key(const plan::Step &s, const std::vector<const std::string *> &layouts) {
  std::string key = s.conv + (s.bias >= 0 ? " bias " : " - ") + s.post;
  for (const auto *v : {&s.dims_a, &s.dims_b, &s.dims_c, &s.stride, &s.pad}) {
    key += " ";
    for (int64_t x : *v) key += std::to_string(x) + ",";
  }
  for (const std::string *l : layouts) key += " " + *l;
  return key;
}

// The f32 step `c`, summed directly, against the same step in oneDNN's
// Winograd algorithm with the layouts its kernel wants and in vaec's own
// (abi/own_winograd.h) with its layouts: c becomes the fastest. oneDNN has
// Winograd kernels for 3x3 stride-1 conv2d steps only (and not on every
// CPU), vaec's own needs AVX-512, padding 1 and channels in multiples of 16;
// where neither applies, c stays as it is, without a note.
void consider_winograd(ConvChoice &c, const dnnl::engine &engine, AlgorithmTimings &timings, OwnWinogradUse use) {
  if (c.step.conv.rfind("conv2d_transpose", 0) == 0 || c.step.bf16) return;
  std::optional<plan::Step> winograd = c.step;
  winograd->winograd = true;
  try {
    winograd->layout_a = winograd->layout_b = winograd->layout_c = "any";
    const onednn::ConvPrimitive any = onednn::conv_primitive(*winograd, engine);
    std::string *layout[3] = {&winograd->layout_a, &winograd->layout_b, &winograd->layout_c};
    const std::vector<int64_t> *dims[3] = {&winograd->dims_a, &winograd->dims_b, &winograd->dims_c};
    for (int i = 0; i < 3 && winograd; ++i) {
      *layout[i] = onednn::layout_text(any.desc[i], *dims[i], false);
      if (layout[i]->empty()) winograd.reset();  // a layout the plan cannot say
    }
  } catch (const dnnl::error &) {
    winograd.reset();  // no Winograd kernel for it here
  }
  std::optional<plan::Step> own;
  if (use != OwnWinogradUse::Off && onednn::own_winograd_unsupported(c.step).empty()) {
    own = c.step;
    own->own_winograd = true;
    const std::array<std::string, 3> layouts = onednn::own_winograd_layouts(*own);
    own->layout_a = layouts[0], own->layout_b = layouts[1], own->layout_c = layouts[2];
  }
  auto take_own = [&] {
    c.step = *own;
    const std::vector<int64_t> *dims[3] = {&own->dims_a, &own->dims_b, &own->dims_c};
    const std::string *layouts[3] = {&own->layout_a, &own->layout_b, &own->layout_c};
    for (int i = 0; i < 3; ++i)
      c.elements[i] = static_cast<int64_t>((onednn::layout_desc(*dims[i], *layouts[i]).get_size() + 3) / 4);
    c.impl = onednn::OwnWinograd::impl();
  };
  if (use == OwnWinogradUse::Forced) {
    if (!own) return;
    c.algorithm_note = "f32 own-winograd (forced, not timed)";
    take_own();
    return;
  }
  if (!winograd && !own) return;
  const std::string none = "-";
  const std::string key =
      step_key(c.step, {&c.step.layout_a, &c.step.layout_b, &c.step.layout_c,
                        winograd ? &winograd->layout_a : &none, winograd ? &winograd->layout_b : &none,
                        winograd ? &winograd->layout_c : &none, own ? &own->layout_a : &none});
  const AlgorithmTiming &t = timings.get(key, [&] {
    return time_conv_algorithms(engine, c.step, winograd ? &*winograd : nullptr, own ? &*own : nullptr,
                                use == OwnWinogradUse::TimedBeside);
  });
  if (t.winograd_impl.empty() && t.own <= 0) return;  // not timed
  const AlgorithmTiming::Choice choice = t.choice();
  c.algorithm_note = t.note(choice);
  if (choice == AlgorithmTiming::Winograd) {
    const onednn::ConvPrimitive chosen = onednn::conv_primitive(*winograd, engine);
    c.step = *winograd;
    for (int i = 0; i < 3; ++i) c.elements[i] = static_cast<int64_t>((chosen.desc[i].get_size() + 3) / 4);
    c.impl = chosen.impl;
  } else if (choice == AlgorithmTiming::Own) {
    take_own();
  }
}

// The f32 step `c` against the same step in bf16 with its result in the
// layout the bf16 kernel wants: c becomes the faster one.
void consider_bf16(ConvChoice &c, const dnnl::engine &engine, bool plain_only, PrecisionTimings &timings) {
  plan::Step in_bf16 = c.step;
  in_bf16.bf16 = true;
  in_bf16.winograd = in_bf16.own_winograd = false;
  // The weights (b of a forward or input-gradient step) are rounded from
  // the parameters as they are: an f32 copy in the f32 kernel's layout
  // would be one more reorder per step.
  if (in_bf16.conv.find("bwd_weights") == std::string::npos) in_bf16.layout_b = "plain";
  if (!plain_only) {
    try {
      in_bf16.layout_c = "any";
      in_bf16.layout_c = onednn::layout_text(onednn::conv_primitive(in_bf16, engine).desc[2], in_bf16.dims_c,
                                             onednn::is_transpose_weights(in_bf16.conv, 2));
    } catch (const dnnl::error &) {  // no bf16 kernel: time_conv says so
      in_bf16.layout_c = c.step.layout_c;
    }
    if (in_bf16.layout_c.empty()) in_bf16.layout_c = "plain";  // a layout the plan cannot say
  }
  const std::string reorder_c_to = kernel_layout_of_result(in_bf16);
  const std::string key = step_key(in_bf16, {&c.step.layout_a, &c.step.layout_b, &c.step.layout_c,
                                             &in_bf16.layout_b, &in_bf16.layout_c}) +
                          (c.step.winograd ? " winograd" : c.step.own_winograd ? " own-winograd" : "");
  const PrecisionTiming &t = timings.get(key, [&] { return time_conv(engine, c.step, in_bf16, reorder_c_to); });
  c.precision_note = t.note(t.faster());
  if (!t.faster()) return;
  const onednn::ConvPrimitive chosen = onednn::conv_primitive(in_bf16, engine);
  c.step = in_bf16;
  for (int i = 0; i < 2; ++i) c.elements[i] = static_cast<int64_t>((chosen.f32_inputs[i].get_size() + 3) / 4);
  c.elements[2] = static_cast<int64_t>((chosen.desc[2].get_size() + 3) / 4);
  c.impl = chosen.impl;
}

// The Conv step of schedule step `ss` (its first node a convolution) before
// any layout is chosen: op, dims, stride, pad, post-op, and whether it has
// a bias (only that matters to oneDNN: bias 0, else -1).
plan::Step conv_step_of(const Graph &g, const ScheduleStep &ss) {
  const Node &first = g.nodes[ss.nodes.front()];
  plan::Step cs;
  cs.kind = plan::Step::Conv;
  cs.conv = op_name(first.op);
  cs.dims_a = g.nodes[first.operands[0]].dims;
  cs.dims_b = g.nodes[first.operands[1]].dims;
  cs.dims_c = first.dims;
  cs.stride = std::get<std::vector<int64_t>>(*first.attr("stride"));
  cs.pad = std::get<std::vector<int64_t>>(*first.attr("pad"));
  if (ss.post >= 0) cs.post = op_name(g.nodes[ss.post].op);
  cs.bias = first.operands.size() > 2 ? 0 : -1;
  return cs;
}

}  // namespace

ConvChoice choose_conv(const Graph &g, const ScheduleStep &ss, const dnnl::engine &engine, bool plain_only,
                       PrecisionTimings *bf16, AlgorithmTimings *winograd, OwnWinogradUse own) {
  const Node &first = g.nodes[ss.nodes.front()];
  ConvChoice c;
  c.step = conv_step_of(g, ss);
  plan::Step &cs = c.step;
  if (first.op == Op::Conv2dTranspose) {
    c.epilogue = true;
    c.epilogue_post = cs.post;
    cs.post.clear();
    cs.bias = -1;
  }
  cs.layout_a = cs.layout_b = cs.layout_c = plain_only ? "plain" : "any";
  onednn::ConvPrimitive chosen = onednn::conv_primitive(cs, engine);
  const std::vector<int64_t> *dims[3] = {&cs.dims_a, &cs.dims_b, &cs.dims_c};
  std::string *layout[3] = {&cs.layout_a, &cs.layout_b, &cs.layout_c};
  for (int i = 0; i < 3; ++i) {
    *layout[i] = onednn::layout_text(chosen.desc[i], *dims[i], onednn::is_transpose_weights(cs.conv, i));
    if (layout[i]->empty()) *layout[i] = "plain";  // a layout the plan cannot say
  }
  chosen = onednn::conv_primitive(cs, engine);  // the combination the plan will ask for
  for (int i = 0; i < 3; ++i) c.elements[i] = static_cast<int64_t>((chosen.desc[i].get_size() + 3) / 4);
  c.impl = chosen.impl;
  if (winograd && !plain_only) consider_winograd(c, engine, *winograd, own);
  if (bf16) consider_bf16(c, engine, plain_only, *bf16);
  return c;
}

std::string kernel_layout_of_result(const plan::Step &cs) {
  const std::string blocked = nchw16c_layout(cs.dims_c);
  if (cs.layout_c == "plain" || cs.layout_c == blocked) return "";
  const bool weights = cs.conv == "conv2d_bwd_weights" || cs.conv == "conv2d_transpose_bwd_weights";
  return weights || blocked.empty() ? "plain" : blocked;
}

ConvChoice direct_choice(const Graph &g, const ScheduleStep &ss, const DirectConv &d) {
  ConvChoice c;
  c.step = conv_step_of(g, ss);
  plan::Step &cs = c.step;
  // The weights are operand 1, or the result of a weight gradient.
  const bool weights_out = d.kind == DirectConv::Weights;
  auto layout = [&](const Dims &dims, bool weights) { return weights ? "plain" : nchw16c_layout(dims).empty() ? "plain" : nchw16c_layout(dims); };
  cs.layout_a = layout(cs.dims_a, false);
  cs.layout_b = layout(cs.dims_b, !weights_out);
  cs.layout_c = layout(cs.dims_c, weights_out);
  c.elements = {row_major_elements(cs.dims_a), row_major_elements(cs.dims_b), row_major_elements(cs.dims_c)};
  c.impl = "vaec direct";
  c.direct = d;
  return c;
}

std::optional<DirectConv> direct_conv_of(const Graph &g, const ScheduleStep &ss) {
  const Node &first = g.nodes[ss.nodes.front()];
  auto dims = [&](int operand) -> const Dims & { return g.nodes[first.operands[operand]].dims; };
  const Dims *I = nullptr, *O = nullptr, *w = nullptr;
  DirectConv d;
  bool transpose = false;
  switch (first.op) {
    case Op::Conv2d: I = &dims(0), w = &dims(1), O = &first.dims, d.kind = DirectConv::Output; break;
    case Op::Conv2dBwdData: O = &dims(0), w = &dims(1), I = &first.dims, d.kind = DirectConv::Input; break;
    case Op::Conv2dBwdWeights: I = &dims(0), O = &dims(1), w = &first.dims, d.kind = DirectConv::Weights; break;
    case Op::Conv2dTranspose:
      O = &dims(0), w = &dims(1), I = &first.dims, d.kind = DirectConv::Input, transpose = true;
      break;
    case Op::Conv2dTransposeBwdData:
      I = &dims(0), w = &dims(1), O = &first.dims, d.kind = DirectConv::Output, transpose = true;
      break;
    case Op::Conv2dTransposeBwdWeights:
      O = &dims(0), I = &dims(1), w = &first.dims, d.kind = DirectConv::Weights, transpose = true;
      break;
    default: return std::nullopt;
  }
  if (I->size() != 4 || O->size() != 4 || w->size() != 4) return std::nullopt;
  d.C = (*I)[1], d.H = (*I)[2], d.W = (*I)[3];
  d.K = (*O)[1], d.OH = (*O)[2], d.OW = (*O)[3];
  d.KH = (*w)[2], d.KW = (*w)[3];
  const auto &stride = std::get<std::vector<int64_t>>(*first.attr("stride"));
  const auto &pad = std::get<std::vector<int64_t>>(*first.attr("pad"));
  if (stride.size() != 2 || pad.size() != 4) return std::nullopt;
  d.sh = stride[0], d.sw = stride[1], d.pt = pad[0], d.pl = pad[1];
  // The layer's own output: a conv2d's is the conv-output side, a
  // transposed convolution's the conv-input side.
  d.narrow_input = transpose;
  d.bias = first.operands.size() > 2;
  if (ss.post >= 0) d.post = g.nodes[ss.post].op;
  if (!verify_direct_conv(d, d.kind == DirectConv::Weights ? 3 : d.bias ? 4 : 3).empty()) return std::nullopt;
  if (direct_conv_vectors(d) > kDirectConvMaxVectors) return std::nullopt;
  return d;
}

std::string nchw16c_layout(const Dims &d) {
  if (d.size() != 4 || d[1] % 16 != 0) return "";
  const int64_t hw = d[2] * d[3];
  return "blocked:" + std::to_string(d[1] * hw) + "," + std::to_string(16 * hw) + "," + std::to_string(16 * d[3]) +
         ",16:16@1";
}

bool redomain_nchw16c(FusedKernel &k, const std::vector<bool> &blocked) {
  const Dims d = k.domain;
  if (d.size() != 4 || d[1] % 16 != 0) return false;
  const std::vector<int64_t> identity = row_major_strides(d);
  for (const KernelInstr &in : k.instrs) {
    if (in.kind == KernelInstr::Normal) return false;
    // A pad along the channels: its window is not one axis of (cb, ci).
    if (in.kind == KernelInstr::Load && in.guard_axis == 1) return false;
    if (in.kind == KernelInstr::Load && blocked[in.arg] && in.strides != identity) return false;
  }
  for (const KernelOutput &o : k.outputs)
    if (blocked[o.arg] && (o.strides != identity || o.accumulate)) return false;
  const int64_t hw = d[2] * d[3];
  const std::vector<int64_t> nchw16c = {d[1] * hw, 16 * hw, 16 * d[3], 16, 1};
  // Plain strides (n, c, h, w) over point (n, cb, h, w, ci), c = 16 cb + ci.
  auto convert = [&](std::vector<int64_t> &strides, bool in_blocked) {
    strides = in_blocked ? nchw16c
                         : std::vector<int64_t>{strides[0], 16 * strides[1], strides[2], strides[3], strides[1]};
  };
  for (KernelInstr &in : k.instrs)
    if (in.kind == KernelInstr::Load) convert(in.strides, blocked[in.arg]);
  for (KernelOutput &o : k.outputs) convert(o.strides, blocked[o.arg]);
  k.domain = {d[0], d[1] / 16, d[2], d[3], 16};
  return true;
}

FusedKernel epilogue_kernel(const std::string &name, const Dims &dims, const std::string &post, bool bare_blocked,
                            bool out_blocked) {
  FusedKernel k;
  k.name = name;
  k.domain = dims;
  k.args = {BufferType::F32, BufferType::F32, BufferType::F32};
  KernelInstr bare, bias, sum;
  bare.kind = bias.kind = KernelInstr::Load;
  bare.arg = 0, bare.strides = row_major_strides(dims);
  bias.arg = 1, bias.strides = {0, 1, 0, 0};
  sum.kind = KernelInstr::Apply, sum.op = Op::Add, sum.a = 0, sum.b = 1;
  k.instrs = {bare, bias, sum};
  if (!post.empty()) {
    KernelInstr act;
    act.kind = KernelInstr::Apply;
    act.op = post == "relu" ? Op::Relu : Op::Sigmoid;
    act.a = 2;
    k.instrs.push_back(act);
  }
  k.outputs.push_back({static_cast<int>(k.instrs.size()) - 1, 2, row_major_strides(dims), false});
  if ((bare_blocked || out_blocked) && !redomain_nchw16c(k, {bare_blocked, false, out_blocked}))
    throw std::logic_error("epilogue_kernel: cannot run " + name + " in nChw16c");
  return k;
}

}  // namespace vaec
