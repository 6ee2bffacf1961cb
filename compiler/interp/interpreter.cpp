// The f64 reference interpreter (contract in interpreter.h).
#include "interp/interpreter.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <random>

#include "ir/elementwise_f64.h"

namespace vaec {
namespace {

using Ints = std::vector<int64_t>;

int64_t count(const Dims &d) {
  int64_t n = 1;
  for (int64_t x : d) n *= x;
  return n;
}

const Ints &ints(const Node &n, const char *key) { return std::get<Ints>(*n.attr(key)); }

// Row-major strides of `d`, with 0 for axes where `operand` (right-aligned
// to `d`) has extent 1: the strides that broadcast it.
Ints broadcast_strides(const Dims &operand, const Dims &d) {
  Ints s(d.size(), 0);
  int64_t stride = 1;
  for (size_t k = operand.size(); k-- > 0;) {
    size_t axis = d.size() - operand.size() + k;
    s[axis] = operand[k] == 1 ? 0 : stride;
    stride *= operand[k];
  }
  return s;
}

// Calls f(flat index of the result, flat index of each operand) for every
// element of `out`.
void for_each_broadcast(const Dims &out, const std::vector<const Dims *> &ins,
                        const std::function<void(int64_t, const std::vector<int64_t> &)> &f) {
  std::vector<Ints> strides;
  for (const Dims *d : ins) strides.push_back(broadcast_strides(*d, out));
  Ints idx(out.size(), 0);
  std::vector<int64_t> pos(ins.size(), 0);
  int64_t n = count(out);
  for (int64_t flat = 0; flat < n; ++flat) {
    for (size_t k = 0; k < ins.size(); ++k) {
      pos[k] = 0;
      for (size_t a = 0; a < out.size(); ++a) pos[k] += idx[a] * strides[k][a];
    }
    f(flat, pos);
    for (size_t a = out.size(); a-- > 0;) {
      if (++idx[a] < out[a]) break;
      idx[a] = 0;
    }
  }
}

// Sum (or max, min) over `axes` of x (result dims `out`).
Tensor reduce(const Tensor &x, const Ints &axes, const Dims &out, Op op = Op::Sum) {
  const double start = op == Op::Max ? -HUGE_VAL : op == Op::Min ? HUGE_VAL : 0.0;
  Tensor r{out, std::vector<double>(count(out), start)};
  Dims keep = x.dims;  // x's dims with the reduced axes set to 1
  for (int64_t a : axes) keep[a] = 1;
  Ints s = broadcast_strides(keep, x.dims);
  Ints idx(x.dims.size(), 0);
  for (int64_t flat = 0; flat < count(x.dims); ++flat) {
    int64_t o = 0;
    for (size_t a = 0; a < idx.size(); ++a) o += idx[a] * s[a];
    double &acc = r.data[o];
    acc = op == Op::Max ? std::max(acc, x.data[flat]) : op == Op::Min ? std::min(acc, x.data[flat]) : acc + x.data[flat];
    for (size_t a = idx.size(); a-- > 0;) {
      if (++idx[a] < x.dims[a]) break;
      idx[a] = 0;
    }
  }
  return r;
}

Tensor expand(const Tensor &x, const Ints &axes, const Dims &out) {
  Dims keep = out;
  for (int64_t a : axes) keep[a] = 1;
  Tensor r{out, std::vector<double>(count(out))};
  for_each_broadcast(out, {&keep}, [&](int64_t o, const std::vector<int64_t> &p) { r.data[o] = x.data[p[0]]; });
  return r;
}

// slice (pad = false): out[.., i, ..] = x[.., at + i, ..] along `axis`;
// pad: out[.., at + i, ..] = x[.., i, ..], zeros elsewhere.
Tensor window(const Tensor &x, int64_t axis, int64_t at, const Dims &out, bool pad) {
  Tensor r{out, std::vector<double>(count(out), 0.0)};
  const Dims &big = pad ? out : x.dims, &small = pad ? x.dims : out;
  int64_t inner = 1;
  for (size_t a = axis + 1; a < big.size(); ++a) inner *= big[a];
  const int64_t outer = count(small) / std::max<int64_t>(1, small[axis] * inner);
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < small[axis]; ++i)
      for (int64_t j = 0; j < inner; ++j) {
        const int64_t s = (o * small[axis] + i) * inner + j, b = (o * big[axis] + at + i) * inner + j;
        if (pad) r.data[b] = x.data[s];
        else r.data[s] = x.data[b];
      }
  return r;
}

Tensor matmul(const Tensor &a, const Tensor &b, bool ta, bool tb, const Dims &out) {
  int64_t m = out[0], n = out[1], k = ta ? a.dims[0] : a.dims[1];
  Tensor r{out, std::vector<double>(m * n, 0.0)};
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double s = 0;
      for (int64_t p = 0; p < k; ++p) {
        double av = ta ? a.data[p * a.dims[1] + i] : a.data[i * a.dims[1] + p];
        double bv = tb ? b.data[j * b.dims[1] + p] : b.data[p * b.dims[1] + j];
        s += av * bv;
      }
      r.data[i * n + j] = s;
    }
  return r;
}

// One loop nest serves every convolution: it visits each (n, input channel c,
// output channel o, output pixel, kernel tap) of a forward convolution with
// x [N,C,H,W], w [O,C,KH,KW], y [N,O,OH,OW], where input pixel
// ih = oh*s - pad_top + kh, and calls f(x index, w index, y index).
// For conv2d_transpose the roles of x and y swap: its input is the "y" side.
struct ConvGeometry {
  int64_t N, C, H, W, O, KH, KW, OH, OW, sh, sw, pt, pl;
};
template <class F>
void conv_loops(const ConvGeometry &g, F f) {
  for (int64_t n = 0; n < g.N; ++n)
    for (int64_t o = 0; o < g.O; ++o)
      for (int64_t c = 0; c < g.C; ++c)
        for (int64_t oh = 0; oh < g.OH; ++oh)
          for (int64_t ow = 0; ow < g.OW; ++ow)
            for (int64_t kh = 0; kh < g.KH; ++kh) {
              int64_t ih = oh * g.sh - g.pt + kh;
              if (ih < 0 || ih >= g.H) continue;
              for (int64_t kw = 0; kw < g.KW; ++kw) {
                int64_t iw = ow * g.sw - g.pl + kw;
                if (iw < 0 || iw >= g.W) continue;
                f(((n * g.C + c) * g.H + ih) * g.W + iw, ((o * g.C + c) * g.KH + kh) * g.KW + kw,
                  ((n * g.O + o) * g.OH + oh) * g.OW + ow);
              }
            }
}

// Geometry of the forward conv relating "small side" x to "large side" y.
// conv2d: x is the input, y the output, w [O,C,..].
// conv2d_transpose(x', w' [Ci,Co,..]) is the adjoint of a conv2d from its
// output to its input: there the conv's x is the transpose's output, the
// conv's y is the transpose's input, and w' [Ci,Co] reads as the conv's [O,C].
ConvGeometry geometry(const Dims &x, const Dims &w, const Dims &y, const Node &n) {
  const Ints &s = ints(n, "stride"), &p = ints(n, "pad");
  return {x[0], x[1], x[2], x[3], w[0], w[2], w[3], y[2], y[3], s[0], s[1], p[0], p[1]};
}

}  // namespace

Tensor initial_value(const Node &param, uint64_t seed) {
  Tensor t{param.dims, std::vector<double>(count(param.dims))};
  std::mt19937_64 rng(seed ^ std::hash<std::string>{}(param.name));
  const AttrValue *init = param.attr("init");
  if (init && std::get<std::string>(*init) == "ones") {
    std::fill(t.data.begin(), t.data.end(), 1.0);
    return t;
  }
  double bound = std::get<double>(*param.attr("bound"));
  std::uniform_real_distribution<double> u(-bound, bound);
  for (double &v : t.data) v = u(rng);
  return t;
}

Tensor noise_value(const Node &normal, uint64_t seed) {
  Tensor t{normal.dims, std::vector<double>(count(normal.dims))};
  std::mt19937_64 rng(seed * 0x9e3779b97f4a7c15ULL ^ std::hash<std::string>{}(normal.name));
  std::normal_distribution<double> z(0.0, 1.0);
  for (double &v : t.data) v = z(rng);
  return t;
}

bool is_piecewise(Op op) {
  return op == Op::Relu || op == Op::Step || op == Op::LeakyRelu || op == Op::Abs || op == Op::Maximum ||
         op == Op::Minimum;
}

bool first_piece(Op op, double a, double b) {
  if (op == Op::Maximum) return a > b;
  if (op == Op::Minimum) return a < b;
  return a > 0;
}

std::optional<std::vector<Tensor>> interpret(const Graph &g, const Bindings &b, std::string &error) {
  std::vector<Tensor> v(g.nodes.size());
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node &n = g.nodes[i];
    auto in = [&](int j) -> const Tensor & { return v[n.operands[j]]; };
    Tensor &out = v[i];
    out.dims = n.dims;
    auto bound = b.values.find(n.name);
    if (op_info(n.op).kind == OpKind::Source && bound != b.values.end()) {
      if (bound->second.dims != n.dims || bound->second.data.size() != static_cast<size_t>(count(n.dims))) {
        error = "value bound to %" + n.name + " has the wrong shape";
        return std::nullopt;
      }
      out = bound->second;
      continue;
    }
    switch (n.op) {
    case Op::Input:
      error = "no data bound to input %" + n.name;
      return std::nullopt;
    case Op::Param: out = initial_value(n, b.seed); continue;
    case Op::Normal: out = noise_value(n, b.seed); continue;
    case Op::Const: out.data.assign(count(n.dims), std::get<double>(*n.attr("value"))); continue;
    case Op::Stat: out.data.assign(count(n.dims), std::get<double>(*n.attr("init"))); continue;  // bind it for another
    case Op::BatchSize: out.data.assign(1, static_cast<double>(g.batch())); continue;
    case Op::Epoch: out.data.assign(1, 0.0); continue;  // the first step's; bind %epoch for another
    case Op::Sum:
    case Op::Mean: {
      out = reduce(in(0), ints(n, "axes"), n.dims);
      if (n.op == Op::Mean) {
        double k = static_cast<double>(count(in(0).dims)) / static_cast<double>(count(n.dims));
        for (double &x : out.data) x /= k;
      }
      continue;
    }
    case Op::Reshape: out.data = in(0).data; continue;
    case Op::Expand: out = expand(in(0), ints(n, "axes"), n.dims); continue;
    case Op::Max:
    case Op::Min: out = reduce(in(0), ints(n, "axes"), n.dims, n.op); continue;
    case Op::Slice:
    case Op::Pad:
      out = window(in(0), std::get<int64_t>(*n.attr("axis")),
                   std::get<int64_t>(*n.attr(n.op == Op::Slice ? "start" : "before")), n.dims, n.op == Op::Pad);
      continue;
    case Op::Dense: {
      out = matmul(in(0), in(1), false, true, n.dims);
      for (int64_t r = 0; r < n.dims[0]; ++r)
        for (int64_t c = 0; c < n.dims[1]; ++c) out.data[r * n.dims[1] + c] += in(2).data[c];
      continue;
    }
    case Op::Matmul:
      out = matmul(in(0), in(1), std::get<int64_t>(*n.attr("transpose_a")) != 0,
                   std::get<int64_t>(*n.attr("transpose_b")) != 0, n.dims);
      continue;
    default: break;
    }
    out.data.assign(count(n.dims), 0.0);
    switch (n.op) {
    case Op::Conv2d: {  // y += x * w, then bias
      const Tensor &x = in(0), &w = in(1), &bias = in(2);
      conv_loops(geometry(x.dims, w.dims, n.dims, n),
                 [&](int64_t xi, int64_t wi, int64_t yi) { out.data[yi] += x.data[xi] * w.data[wi]; });
      int64_t plane = n.dims[2] * n.dims[3];
      for (int64_t k = 0; k < count(n.dims); ++k) out.data[k] += bias.data[(k / plane) % n.dims[1]];
      continue;
    }
    case Op::Conv2dBwdData: {  // (dy, w) -> dx
      const Tensor &dy = in(0), &w = in(1);
      conv_loops(geometry(n.dims, w.dims, dy.dims, n),
                 [&](int64_t xi, int64_t wi, int64_t yi) { out.data[xi] += dy.data[yi] * w.data[wi]; });
      continue;
    }
    case Op::Conv2dBwdWeights: {  // (x, dy) -> dw
      const Tensor &x = in(0), &dy = in(1);
      conv_loops(geometry(x.dims, n.dims, dy.dims, n),
                 [&](int64_t xi, int64_t wi, int64_t yi) { out.data[wi] += x.data[xi] * dy.data[yi]; });
      continue;
    }
    case Op::Conv2dTranspose: {  // the transpose's input is the conv's output side
      const Tensor &x = in(0), &w = in(1), &bias = in(2);
      conv_loops(geometry(n.dims, w.dims, x.dims, n),
                 [&](int64_t oi, int64_t wi, int64_t ii) { out.data[oi] += x.data[ii] * w.data[wi]; });
      int64_t plane = n.dims[2] * n.dims[3];
      for (int64_t k = 0; k < count(n.dims); ++k) out.data[k] += bias.data[(k / plane) % n.dims[1]];
      continue;
    }
    case Op::Conv2dTransposeBwdData: {  // (dy, w) -> dx: a forward conv of dy
      const Tensor &dy = in(0), &w = in(1);
      conv_loops(geometry(dy.dims, w.dims, n.dims, n),
                 [&](int64_t yi, int64_t wi, int64_t xi) { out.data[xi] += dy.data[yi] * w.data[wi]; });
      continue;
    }
    case Op::Conv2dTransposeBwdWeights: {  // (x, dy) -> dw
      const Tensor &x = in(0), &dy = in(1);
      conv_loops(geometry(dy.dims, n.dims, x.dims, n),
                 [&](int64_t yi, int64_t wi, int64_t xi) { out.data[wi] += x.data[xi] * dy.data[yi]; });
      continue;
    }
    default: break;
    }
    ElementFormula formula = element_formula(n.op);
    if (!formula) {
      error = "the interpreter cannot run " + std::string(op_name(n.op));
      return std::nullopt;
    }
    const Tensor &a = in(0), &c = n.operands.size() > 1 ? in(1) : a;
    const Dims none;
    auto frozen = b.frozen_branches.find(n.name);
    const bool piecewise = is_piecewise(n.op), freeze = piecewise && frozen != b.frozen_branches.end();
    std::vector<bool> *taken = piecewise && b.record_branches ? &(*b.record_branches)[n.name] : nullptr;
    if (taken) taken->assign(out.data.size(), false);
    for_each_broadcast(n.dims, {&a.dims, n.operands.size() > 1 ? &c.dims : &none},
                       [&](int64_t o, const std::vector<int64_t> &p) {
      const double x = a.data[p[0]], y = n.operands.size() > 1 ? c.data[p[1]] : 0.0;
      if (taken) (*taken)[o] = first_piece(n.op, x, y);
      if (!freeze) {
        out.data[o] = formula(x, y);
        return;
      }
      const bool first = frozen->second[o];
      switch (n.op) {  // the chosen piece, as a smooth function of x and y
      case Op::Relu: out.data[o] = first ? x : 0.0; break;
      case Op::Step: out.data[o] = first ? 1.0 : 0.0; break;
      case Op::LeakyRelu: out.data[o] = first ? x : y * x; break;
      case Op::Abs: out.data[o] = first ? x : -x; break;
      default: out.data[o] = first ? x : y; break;  // maximum, minimum
      }
    });
  }
  return v;
}

}  // namespace vaec
