// The op table built from ops.def, and the shape rule of every op.
#include "ir/ops.h"

#include <algorithm>
#include <sstream>

namespace vaec {

static std::vector<AttrSpec> parse_schema(std::string_view schema) {
  std::vector<AttrSpec> out;
  std::istringstream is{std::string(schema)};
  std::string item;
  while (is >> item) {
    size_t colon = item.find(':');
    std::string name = item.substr(0, colon), type = item.substr(colon + 1);
    AttrType t = type == "int"   ? AttrType::Int
                 : type == "f64" ? AttrType::F64
                 : type == "str" ? AttrType::Str
                                 : AttrType::Ints;
    out.push_back({name, t});
  }
  return out;
}

const std::vector<OpInfo> &all_ops() {
  static const std::vector<OpInfo> table = {
#define OP(Id, name, arity, kind, attrs) {Op::Id, name, arity, OpKind::kind, parse_schema(attrs)},
#include "ir/ops.def"
  };
  return table;
}

const OpInfo &op_info(Op op) { return all_ops()[static_cast<size_t>(op)]; }

std::optional<Op> op_from_name(std::string_view name) {
  for (const OpInfo &i : all_ops())
    if (i.name == name) return i.op;
  return std::nullopt;
}

std::vector<std::string> op_names() {
  std::vector<std::string> v;
  for (const OpInfo &i : all_ops()) v.emplace_back(i.name);
  return v;
}

const char *attr_type_name(AttrType t) {
  switch (t) {
  case AttrType::Int: return "an integer";
  case AttrType::F64: return "a number";
  case AttrType::Str: return "a string";
  case AttrType::Ints: return "a list of integers";
  }
  return "?";
}

int64_t checked_elements(const Dims &d) {
  int64_t n = 1;
  for (int64_t x : d) {
    if (x < 0) return -1;
    if (x != 0 && n > kMaxElements / x) return -1;
    n *= x;
  }
  return n;
}

std::string dims_str(const Dims &d) {
  std::string s = "[";
  for (size_t i = 0; i < d.size(); ++i) s += (i ? "," : "") + std::to_string(d[i]);
  return s + "]";
}

ShapeResult broadcast_shapes(const Dims &a, const Dims &b) {
  size_t n = std::max(a.size(), b.size());
  Dims out(n);
  for (size_t i = 0; i < n; ++i) {
    int64_t x = i < n - a.size() ? 1 : a[i - (n - a.size())];
    int64_t y = i < n - b.size() ? 1 : b[i - (n - b.size())];
    if (x != y && x != 1 && y != 1)
      return {{}, "incompatible shapes f32" + dims_str(a) + " and f32" + dims_str(b) +
                      " (dimension " + std::to_string(i) + ": " + std::to_string(x) + " vs " +
                      std::to_string(y) + ")"};
    out[i] = x == 1 ? y : x;
  }
  return {out, ""};
}

template <class T>
static const T *find_attr(const std::vector<std::pair<std::string, AttrValue>> &attrs,
                          std::string_view name) {
  for (const auto &[k, v] : attrs)
    if (k == name) return std::get_if<T>(&v);
  return nullptr;
}

static std::string format_ints(const std::vector<std::pair<std::string, AttrValue>> &attrs) {
  const auto *axes = find_attr<std::vector<int64_t>>(attrs, "axes");
  if (!axes) return "[]";
  return dims_str(*axes);
}

static ShapeResult shape_reduce(const Dims &x,
                                const std::vector<std::pair<std::string, AttrValue>> &attrs) {
  const auto *axes = find_attr<std::vector<int64_t>>(attrs, "axes");
  if (!axes) return {{}, "missing axes"};
  Dims out;
  for (size_t i = 1; i < axes->size(); ++i)
    if ((*axes)[i] <= (*axes)[i - 1]) return {{}, "axes must be sorted and unique"};
  for (int64_t a : *axes)
    if (a < 0 || a >= static_cast<int64_t>(x.size()))
      return {{}, "axis " + std::to_string(a) + " is out of range for f32" + dims_str(x)};
  for (size_t i = 0; i < x.size(); ++i)
    if (std::find(axes->begin(), axes->end(), static_cast<int64_t>(i)) == axes->end())
      out.push_back(x[i]);
  return {out, ""};
}

static ShapeResult shape_dense(const Dims &x, const Dims &w, const Dims &b) {
  if (x.size() != 2)
    return {{}, "dense expects a [batch, features] input, got f32" + dims_str(x) +
                    " (flatten it first)"};
  if (w.size() != 2 || w[1] != x[1])
    return {{}, "dense weight f32" + dims_str(w) + " does not match input f32" + dims_str(x) +
                    " (expected [units," + std::to_string(x[1]) + "])"};
  if (b.size() != 1 || b[0] != w[0])
    return {{}, "dense bias f32" + dims_str(b) + " does not match weight f32" + dims_str(w)};
  return {{x[0], w[0]}, ""};
}

static ShapeResult shape_conv(bool transpose, const Dims &x, const Dims &w, const Dims &b,
                              const std::vector<std::pair<std::string, AttrValue>> &attrs) {
  const char *name = transpose ? "conv2d_transpose" : "conv2d";
  const auto *stride = find_attr<std::vector<int64_t>>(attrs, "stride");
  const auto *pad = find_attr<std::vector<int64_t>>(attrs, "pad");
  if (!stride || stride->size() != 2) return {{}, "stride must have 2 entries"};
  if (!pad || pad->size() != 4) return {{}, "pad must have 4 entries [top,left,bottom,right]"};
  if ((*stride)[0] < 1 || (*stride)[1] < 1) return {{}, "stride must be positive"};
  // Bounding every size, stride and pad by kMaxElements (2^31 - 1) keeps the
  // output size arithmetic below far from int64 overflow whatever IR text said.
  auto in_range = [](int64_t v) { return v >= -kMaxElements && v <= kMaxElements; };
  for (int64_t v : *stride)
    if (!in_range(v)) return {{}, "stride " + std::to_string(v) + " is too large"};
  for (int64_t v : *pad)
    if (!in_range(v)) return {{}, "padding " + std::to_string(v) + " is out of range"};
  for (const Dims *d : {&x, &w})
    for (int64_t v : *d)
      if (v < 1 || v > kMaxElements)
        return {{}, std::string(name) + " operand f32" + dims_str(*d) + " has an invalid dimension"};
  if (x.size() != 4)
    return {{}, std::string(name) + " expects a [batch, channels, height, width] input, got f32" +
                    dims_str(x)};
  int64_t cin = transpose ? w.size() == 4 ? w[0] : -1 : w.size() == 4 ? w[1] : -1;
  if (w.size() != 4 || cin != x[1])
    return {{}, std::string(name) + " weight f32" + dims_str(w) + " does not match input f32" +
                    dims_str(x) + " (" + std::to_string(x[1]) + " input channels)"};
  int64_t cout = transpose ? w[1] : w[0];
  if (b.size() != 1 || b[0] != cout)
    return {{}, std::string(name) + " bias f32" + dims_str(b) + " does not match " +
                    std::to_string(cout) + " output channels"};
  Dims out = {x[0], cout, 0, 0};
  for (int i = 0; i < 2; ++i) {
    int64_t in = x[2 + i], k = w[2 + i], s = (*stride)[i];
    int64_t lo = (*pad)[i], hi = (*pad)[2 + i];
    if (transpose) {
      if (lo < 0 || hi <= -s) return {{}, "conv2d_transpose padding out of range"};
      out[2 + i] = (in - 1) * s + k - lo - hi;
    } else {
      if (lo < 0 || hi < 0) return {{}, "conv2d padding must be non-negative"};
      if (in + lo + hi < k)
        return {{}, "conv2d kernel " + std::to_string(k) + " is larger than the padded input (" +
                        std::to_string(in + lo + hi) + ") of f32" + dims_str(x)};
      out[2 + i] = (in + lo + hi - k) / s + 1;
    }
    if (out[2 + i] < 1)
      return {{}, std::string(name) + " output would be empty for input f32" + dims_str(x)};
  }
  return {out, ""};
}

static ShapeResult shape_matmul(const Dims &a, const Dims &b,
                                const std::vector<std::pair<std::string, AttrValue>> &attrs) {
  const auto *ta = find_attr<int64_t>(attrs, "transpose_a");
  const auto *tb = find_attr<int64_t>(attrs, "transpose_b");
  if (!ta || !tb || *ta < 0 || *ta > 1 || *tb < 0 || *tb > 1) return {{}, "transpose flags must be 0 or 1"};
  if (a.size() != 2 || b.size() != 2)
    return {{}, "matmul needs matrices, got f32" + dims_str(a) + " and f32" + dims_str(b)};
  int64_t m = *ta ? a[1] : a[0], k = *ta ? a[0] : a[1];
  int64_t k2 = *tb ? b[1] : b[0], n = *tb ? b[0] : b[1];
  if (k != k2)
    return {{}, "matmul inner dimensions differ: f32" + dims_str(a) + (*ta ? "^T" : "") + " x f32" +
                    dims_str(b) + (*tb ? "^T" : "")};
  return {{m, n}, ""};
}

// The conv adjoints: the declared result is right when the forward op, run on
// it, gives the other operand's shape.
static ShapeResult check_adjoint(Op op, const Dims &a, const Dims &b, const Dims &declared,
                                 const std::vector<std::pair<std::string, AttrValue>> &attrs) {
  bool transpose = op == Op::Conv2dTransposeBwdData || op == Op::Conv2dTransposeBwdWeights;
  bool data = op == Op::Conv2dBwdData || op == Op::Conv2dTransposeBwdData;
  // data: (dy, w) -> dx, forward(dx, w) = dy.  weights: (x, dy) -> dw, forward(x, dw) = dy.
  const Dims &x = data ? declared : a;
  const Dims &w = data ? b : declared;
  const Dims &dy = data ? a : b;
  if (w.size() != 4) return {{}, "weight must be f32[out,in,kh,kw], got f32" + dims_str(w)};
  Dims bias = {transpose ? w[1] : w[0]};
  ShapeResult fwd = shape_conv(transpose, x, w, bias, attrs);
  if (!fwd.error.empty()) return fwd;
  if (fwd.dims != dy)
    return {{}, "the forward op maps f32" + dims_str(x) + " to f32" + dims_str(fwd.dims) + ", not f32" +
                    dims_str(dy)};
  return {declared, ""};
}

static ShapeResult check_expand(const Dims &x, const Dims &declared,
                                const std::vector<std::pair<std::string, AttrValue>> &attrs) {
  ShapeResult r = shape_reduce(declared, attrs);
  if (!r.error.empty()) return r;
  if (r.dims != x)
    return {{}, "expanding f32" + dims_str(x) + " along " + format_ints(attrs) + " cannot give f32" +
                    dims_str(declared)};
  return {declared, ""};
}

// slice and pad: the same rank and extents but along `axis`, where the
// smaller one fits in the larger at `start` / `before`.
static ShapeResult check_window(Op op, const Dims &x, const Dims &declared,
                                const std::vector<std::pair<std::string, AttrValue>> &attrs) {
  const bool slice = op == Op::Slice;
  const auto *axis = find_attr<int64_t>(attrs, "axis");
  const auto *at = find_attr<int64_t>(attrs, slice ? "start" : "before");
  const std::string what = slice ? "slice" : "pad";
  if (!axis || !at) return {{}, "missing attributes"};
  if (x.size() != declared.size() || *axis < 0 || *axis >= static_cast<int64_t>(x.size()))
    return {{}, what + " axis " + std::to_string(*axis) + " does not fit f32" + dims_str(x) + " -> f32" +
                    dims_str(declared)};
  for (size_t i = 0; i < x.size(); ++i)
    if (static_cast<int64_t>(i) != *axis && x[i] != declared[i])
      return {{}, what + " changes axis " + std::to_string(i) + " of f32" + dims_str(x) + " -> f32" +
                      dims_str(declared) + " (only axis " + std::to_string(*axis) + " may change)"};
  const int64_t small = slice ? declared[*axis] : x[*axis], large = slice ? x[*axis] : declared[*axis];
  if (*at < 0 || *at > large || small > large - *at)
    return {{}, what + " of " + std::to_string(small) + " at " + std::to_string(*at) + " does not fit in " +
                    std::to_string(large) + " along axis " + std::to_string(*axis)};
  return {declared, ""};
}

bool has_declared_type(Op op) {
  OpKind k = op_info(op).kind;
  return k == OpKind::Source || k == OpKind::Shape || op == Op::Conv2dBwdData ||
         op == Op::Conv2dBwdWeights || op == Op::Conv2dTransposeBwdData || op == Op::Conv2dTransposeBwdWeights;
}

ShapeResult infer_shape(Op op, const std::vector<const Dims *> &operands,
                        const std::vector<std::pair<std::string, AttrValue>> &attrs, const Dims *declared) {
  const OpInfo &info = op_info(op);
  if (static_cast<int>(operands.size()) != info.arity)
    return {{}, std::string(info.name) + " takes " + std::to_string(info.arity) + " operands"};
  if (has_declared_type(op) && !declared) return {{}, std::string(info.name) + " needs its result type"};
  switch (op) {
  case Op::Reshape:
    if (checked_elements(*operands[0]) != checked_elements(*declared))
      return {{}, "cannot reshape f32" + dims_str(*operands[0]) + " to f32" + dims_str(*declared)};
    return {*declared, ""};
  case Op::Expand: return check_expand(*operands[0], *declared, attrs);
  case Op::Slice:
  case Op::Pad: return check_window(op, *operands[0], *declared, attrs);
  case Op::Dense: return shape_dense(*operands[0], *operands[1], *operands[2]);
  case Op::Conv2d: return shape_conv(false, *operands[0], *operands[1], *operands[2], attrs);
  case Op::Conv2dTranspose: return shape_conv(true, *operands[0], *operands[1], *operands[2], attrs);
  case Op::Matmul: return shape_matmul(*operands[0], *operands[1], attrs);
  case Op::Conv2dBwdData:
  case Op::Conv2dBwdWeights:
  case Op::Conv2dTransposeBwdData:
  case Op::Conv2dTransposeBwdWeights: return check_adjoint(op, *operands[0], *operands[1], *declared, attrs);
  default: break;
  }
  switch (info.kind) {
  case OpKind::Source: return {*declared, ""};
  case OpKind::Unary: return {*operands[0], ""};
  case OpKind::Binary: return broadcast_shapes(*operands[0], *operands[1]);
  case OpKind::Reduce: return shape_reduce(*operands[0], attrs);
  default: return {{}, "no shape rule for " + std::string(info.name)};
  }
}

}  // namespace vaec
