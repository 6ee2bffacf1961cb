// Plan Conv/Reorder steps <-> oneDNN (contract in onednn_conv.h).
#include "abi/onednn_conv.h"

#include <algorithm>
#include <charconv>
#include <stdexcept>

namespace vaec::onednn {
namespace {

using dims_t = dnnl::memory::dims;
using tag = dnnl::memory::format_tag;

[[noreturn]] void fail(const std::string &message) { throw std::runtime_error(message); }

dims_t onednn_dims(const std::vector<int64_t> &dims, bool weights_of_transpose) {
  dims_t d(dims.begin(), dims.end());
  if (weights_of_transpose && d.size() >= 2) std::swap(d[0], d[1]);
  return d;
}

// Row-major strides of the IR dims, in oneDNN's dimension order.
dims_t plain_strides(const std::vector<int64_t> &dims, bool weights_of_transpose) {
  dims_t s(dims.size(), 1);
  for (size_t i = dims.size(); i-- > 1;) s[i - 1] = s[i] * dims[i];
  if (weights_of_transpose && s.size() >= 2) std::swap(s[0], s[1]);
  return s;
}


// The tensors of the forward op a step belongs to, and its geometry.
struct Descs {
  dnnl::memory::desc src, wei, dst, bias;
  bool with_bias;
  bool bf16;  // a and b in bf16: the backward ops' forward hint is all bf16
};
struct Geometry {
  dnnl::algorithm alg;
  dims_t strides, pad_l, pad_r;
};

// Convolution and deconvolution have the same three primitives with the same
// descriptor arguments: one template serves both.
template <class Fwd, class BwdData, class BwdWeights>
void make(bool forward, bool data, const Descs &d, const Geometry &g, const dnnl::primitive_attr &attr,
          const dnnl::engine &engine, ConvPrimitive &out) {
  const auto train = dnnl::prop_kind::forward_training;
  auto finish = [&](const auto &pd, std::array<int, 3> args, std::array<dnnl::memory::desc, 3> descs) {
    out.arg = args;
    out.desc = descs;
    out.scratchpad = pd.scratchpad_desc();
    out.impl = pd.impl_info_str();
  };
  if (forward) {
    typename Fwd::primitive_desc pd(
        d.with_bias ? typename Fwd::desc(train, g.alg, d.src, d.wei, d.bias, d.dst, g.strides, g.pad_l, g.pad_r)
                    : typename Fwd::desc(train, g.alg, d.src, d.wei, d.dst, g.strides, g.pad_l, g.pad_r),
        attr, engine);
    out.primitive = Fwd(pd);
    if (d.with_bias) out.bias = d.bias;
    finish(pd, {DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST}, {pd.src_desc(), pd.weights_desc(), pd.dst_desc()});
    return;
  }
  // Backward primitives take the forward one as a hint (of one data type:
  // oneDNN has no forward kernel for the backward ops' mixed types).
  auto hinted = [&](const dnnl::memory::desc &x) {
    return d.bf16 ? dnnl::memory::desc(x.dims(), dnnl::memory::data_type::bf16, dnnl::memory::format_tag::any) : x;
  };
  typename Fwd::primitive_desc hint(
      typename Fwd::desc(train, g.alg, hinted(d.src), hinted(d.wei), d.bias, hinted(d.dst), g.strides, g.pad_l, g.pad_r),
      engine);
  if (data) {
    typename BwdData::primitive_desc pd(
        typename BwdData::desc(g.alg, d.src, d.wei, d.dst, g.strides, g.pad_l, g.pad_r), attr, engine, hint);
    out.primitive = BwdData(pd);
    finish(pd, {DNNL_ARG_DIFF_DST, DNNL_ARG_WEIGHTS, DNNL_ARG_DIFF_SRC},
           {pd.diff_dst_desc(), pd.weights_desc(), pd.diff_src_desc()});
  } else {
    typename BwdWeights::primitive_desc pd(
        typename BwdWeights::desc(g.alg, d.src, d.wei, d.dst, g.strides, g.pad_l, g.pad_r), attr, engine, hint);
    out.primitive = BwdWeights(pd);
    finish(pd, {DNNL_ARG_SRC, DNNL_ARG_DIFF_DST, DNNL_ARG_DIFF_WEIGHTS},
           {pd.src_desc(), pd.diff_dst_desc(), pd.diff_weights_desc()});
  }
}

}  // namespace

bool is_transpose_weights(const std::string &conv, int operand) {
  return (conv == "conv2d_transpose" && operand == 1) || (conv == "conv2d_transpose_bwd_data" && operand == 1) ||
         (conv == "conv2d_transpose_bwd_weights" && operand == 2);
}

dnnl::memory::desc layout_desc(const std::vector<int64_t> &dims, const std::string &layout,
                               bool weights_of_transpose) {
  const auto f32 = dnnl::memory::data_type::f32;
  if (dims.empty() || dims.size() > DNNL_MAX_NDIMS) fail("a tensor of rank " + std::to_string(dims.size()));
  for (int64_t d : dims)
    if (d < 1) fail("tensor dimension " + std::to_string(d) + " is not positive");
  const dims_t d = onednn_dims(dims, weights_of_transpose);
  if (layout == "any") return dnnl::memory::desc(d, f32, tag::any);
  if (layout == "plain") return dnnl::memory::desc(d, f32, plain_strides(dims, weights_of_transpose));
  // blocked:S0,S1,...:B@D,...
  const std::string bad = "malformed layout '" + layout + "'";
  if (layout.rfind("blocked:", 0) != 0) fail(bad);
  const size_t colon = layout.find(':', 8);
  if (colon == std::string::npos) fail(bad);
  std::vector<int64_t> strides;
  if (!plan::parse_int_list(layout.substr(8, colon - 8), ',', strides) || strides.size() != d.size()) fail(bad);
  for (int64_t s : strides)
    if (s < 0) fail(bad);
  // Filled in directly: oneDNN's strides constructor rejects the outer
  // strides of some blocked layouts (they count padded blocks).
  dnnl::memory::desc desc;
  dnnl_memory_desc_t &md = desc.data;
  md = dnnl_memory_desc_t{};
  md.ndims = static_cast<int>(d.size());
  md.data_type = dnnl_f32;
  md.format_kind = dnnl_blocked;
  for (size_t i = 0; i < d.size(); ++i) {
    md.dims[i] = md.padded_dims[i] = d[i];
    md.format_desc.blocking.strides[i] = strides[i];
  }
  const std::string blocks = layout.substr(colon + 1);
  if (blocks != "-") {
    size_t at = 0;
    while (at <= blocks.size()) {
      size_t comma = blocks.find(',', at);
      std::string one = blocks.substr(at, comma == std::string::npos ? std::string::npos : comma - at);
      std::vector<int64_t> bd;
      if (!plan::parse_int_list(one, '@', bd) || bd.size() != 2 || bd[0] < 1 || bd[0] > 64 || bd[1] < 0 ||
          bd[1] >= static_cast<int64_t>(d.size()) || md.format_desc.blocking.inner_nblks >= DNNL_MAX_NDIMS)
        fail(bad);
      int n = md.format_desc.blocking.inner_nblks++;
      md.format_desc.blocking.inner_blks[n] = bd[0];
      md.format_desc.blocking.inner_idxs[n] = bd[1];
      if (comma == std::string::npos) break;
      at = comma + 1;
    }
    // Padded dims: each dim rounded up to the product of its blocks.
    for (size_t i = 0; i < d.size(); ++i) {
      int64_t block = 1;
      for (int b = 0; b < md.format_desc.blocking.inner_nblks; ++b)
        if (md.format_desc.blocking.inner_idxs[b] == static_cast<int64_t>(i)) block *= md.format_desc.blocking.inner_blks[b];
      md.padded_dims[i] = (d[i] + block - 1) / block * block;
    }
  }
  return desc;
}

std::string layout_text(const dnnl::memory::desc &desc, const std::vector<int64_t> &dims, bool weights_of_transpose) {
  const dnnl_memory_desc_t &md = desc.data;
  if (md.format_kind != dnnl_blocked || md.offset0 != 0) return "";
  if (desc == layout_desc(dims, "plain", weights_of_transpose)) return "plain";
  std::string out = "blocked:";
  for (int i = 0; i < md.ndims; ++i) out += (i ? "," : "") + std::to_string(md.format_desc.blocking.strides[i]);
  out += ":";
  if (md.format_desc.blocking.inner_nblks == 0) out += "-";
  for (int b = 0; b < md.format_desc.blocking.inner_nblks; ++b)
    out += (b ? "," : "") + std::to_string(md.format_desc.blocking.inner_blks[b]) + "@" +
           std::to_string(md.format_desc.blocking.inner_idxs[b]);
  // Only what layout_desc can rebuild exactly.
  try {
    if (layout_desc(dims, out, weights_of_transpose) != desc) return "";
  } catch (const std::runtime_error &) {
    return "";
  }
  return out;
}

std::string layout_name(const std::string &layout) {
  if (layout.rfind("blocked:", 0) != 0) return layout;
  const size_t colon = layout.find(':', 8);
  std::vector<int64_t> strides;
  if (colon == std::string::npos || !plan::parse_int_list(layout.substr(8, colon - 8), ',', strides)) return layout;
  std::string blocks = layout.substr(colon + 1), suffix;
  std::vector<bool> blocked(strides.size(), false);
  for (size_t at = 0; blocks != "-" && at < blocks.size();) {
    size_t comma = blocks.find(',', at);
    std::vector<int64_t> bd;
    if (!plan::parse_int_list(blocks.substr(at, comma == std::string::npos ? std::string::npos : comma - at), '@', bd) ||
        bd.size() != 2 || bd[1] < 0 || bd[1] >= static_cast<int64_t>(strides.size()))
      return layout;
    blocked[bd[1]] = true;
    suffix += std::to_string(bd[0]) + static_cast<char>('a' + bd[1]);
    if (comma == std::string::npos) break;
    at = comma + 1;
  }
  std::vector<size_t> order(strides.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t x, size_t y) { return strides[x] > strides[y]; });
  std::string name;
  for (size_t i : order) name += static_cast<char>((blocked[i] ? 'A' : 'a') + i);
  return name + suffix;
}

std::string plain_layout(const std::vector<int64_t> &dims, bool weights_of_transpose) {
  if (!weights_of_transpose) return "plain";
  return layout_text(layout_desc(dims, "plain", true), onednn_dims(dims, true));
}

bool batch_outermost(const dnnl::memory::desc &desc) {
  const dnnl_memory_desc_t &md = desc.data;
  if (md.format_kind != dnnl_blocked || md.ndims < 1 || md.offset0 != 0 || md.dims[0] != md.padded_dims[0]) return false;
  const dnnl_blocking_desc_t &b = md.format_desc.blocking;
  for (int i = 0; i < b.inner_nblks; ++i)
    if (b.inner_idxs[i] == 0) return false;
  const auto bytes = static_cast<int64_t>(dnnl::memory::data_type_size(desc.data_type()));
  return b.strides[0] * md.dims[0] * bytes == static_cast<int64_t>(desc.get_size());
}

dnnl::memory::desc batch_view(const dnnl::memory::desc &desc, int64_t n) {
  if (!batch_outermost(desc) || n < 1 || n > desc.data.dims[0]) fail("no view of the batch in this layout");
  dnnl::memory::desc view = desc;
  view.data.dims[0] = view.data.padded_dims[0] = n;
  return view;
}

ConvPrimitive conv_primitive(const plan::Step &s, const dnnl::engine &engine) {
  const std::string &op = s.conv;
  const bool transpose = op.rfind("conv2d_transpose", 0) == 0;
  const bool forward = op == "conv2d" || op == "conv2d_transpose";
  const bool data = op == "conv2d_bwd_data" || op == "conv2d_transpose_bwd_data";
  const bool weights = plan::is_weight_gradient(op);
  if (!forward && !data && !weights) fail("unknown convolution '" + op + "'");
  if (s.stride.size() != 2 || s.pad.size() != 4) fail(op + ": stride needs 2 and pad 4 entries");
  for (const auto *d : {&s.dims_a, &s.dims_b, &s.dims_c})
    if (d->size() != 4) fail(op + ": operands must have 4 dimensions");

  ConvPrimitive out;
  const std::vector<int64_t> *dims[3] = {&s.dims_a, &s.dims_b, &s.dims_c};
  const std::string *layouts[3] = {&s.layout_a, &s.layout_b, &s.layout_c};
  dnnl::memory::desc md[3];
  for (int i = 0; i < 3; ++i) md[i] = layout_desc(*dims[i], *layouts[i], is_transpose_weights(op, i));
  if (s.bf16)
    for (int i = 0; i < 2; ++i) {
      out.f32_inputs[i] = md[i];
      md[i] = dnnl::memory::desc(md[i].dims(), dnnl::memory::data_type::bf16, tag::any);
    }
  // src, weights, dst of the forward op this step belongs to.
  const dnnl::memory::desc &src = forward || weights ? md[0] : md[2];
  const dnnl::memory::desc &wei = forward || data ? md[1] : md[2];
  const dnnl::memory::desc &dst = forward ? md[2] : data ? md[0] : md[1];
  const int64_t channels = forward ? s.dims_c[1] : data ? s.dims_a[1] : s.dims_b[1];
  const dnnl::memory::desc bias({channels}, dnnl::memory::data_type::f32, tag::x);
  if (s.winograd && (transpose || s.bf16)) fail(op + ": winograd is for f32 conv2d steps only");
  const auto alg = transpose    ? dnnl::algorithm::deconvolution_direct
                   : s.winograd ? dnnl::algorithm::convolution_winograd
                                : dnnl::algorithm::convolution_direct;

  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  if (!s.post.empty()) {
    if (!forward) fail(op + ": post-op on a backward convolution");
    dnnl::post_ops ops;
    if (s.post == "relu") ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_relu, 0.0f, 0.0f);
    else if (s.post == "sigmoid") ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_logistic, 0.0f, 0.0f);
    else fail(op + ": unknown post-op '" + s.post + "'");
    attr.set_post_ops(ops);
  }
  const Descs d{src, wei, dst, bias, s.bias >= 0, s.bf16};
  const Geometry geo{alg, {s.stride[0], s.stride[1]}, {s.pad[0], s.pad[1]}, {s.pad[2], s.pad[3]}};
  if (transpose)
    make<dnnl::deconvolution_forward, dnnl::deconvolution_backward_data, dnnl::deconvolution_backward_weights>(
        forward, data, d, geo, attr, engine, out);
  else
    make<dnnl::convolution_forward, dnnl::convolution_backward_data, dnnl::convolution_backward_weights>(
        forward, data, d, geo, attr, engine, out);
  return out;
}

}  // namespace vaec::onednn
