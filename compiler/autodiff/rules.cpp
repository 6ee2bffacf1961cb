// The element formula and gradient rule of every op (contract in rules.h).
//
// Conventions: y is the op's value (c.self), dy its adjoint (c.dy), x0/x1 its
// operands. Numerics follow PyTorch where it makes a choice: bce clamps each
// log term at -100 (BCELoss), bce_logits and softplus use the stable forms.
#include "autodiff/rules.h"

#include <algorithm>
#include <cmath>

namespace vaec {
namespace {

double sigmoid(double a) {
  if (a >= 0) return 1.0 / (1.0 + std::exp(-a));
  double e = std::exp(a);
  return e / (1.0 + e);
}
double clamped_log(double a) { return std::max(std::log(a), -100.0); }

std::vector<int64_t> ints(const Node &n, const char *key) {
  return std::get<std::vector<int64_t>>(*n.attr(key));
}
Attrs conv_attrs(const Node &n) { return {{"stride", ints(n, "stride")}, {"pad", ints(n, "pad")}}; }
// A zero bias, for the conv adjoints written as forward convolutions.
int zeros(GradContext &c, int64_t channels) { return c.b.constant(0.0, {channels}); }

const std::vector<OpRule> kRules = {
    // Sources.
    {Op::Input, nullptr, nullptr, "data: nothing to learn"},
    {Op::Param, nullptr, nullptr, "a leaf: its adjoint is the parameter's gradient"},
    {Op::Const, nullptr, nullptr, "a constant"},
    {Op::Normal, nullptr, nullptr,
     "random noise: by the reparameterization trick the gradient flows through mu and logvar"},

    // Elementwise unary.
    {Op::Neg, [](double a, double) { return -a; }, [](GradContext &c) { c.give(0, c.b.neg(c.dy)); }},
    {Op::Exp, [](double a, double) { return std::exp(a); },
     [](GradContext &c) { c.give(0, c.b.mul(c.dy, c.self)); }},
    {Op::Log, [](double a, double) { return std::log(a); },
     [](GradContext &c) { c.give(0, c.b.div(c.dy, c.x(0))); }},
    {Op::Sqrt, [](double a, double) { return std::sqrt(a); },
     [](GradContext &c) { c.give(0, c.b.div(c.dy, c.b.mul(c.b.constant(2.0), c.self))); }},
    {Op::Sigmoid, [](double a, double) { return sigmoid(a); },
     [](GradContext &c) { c.give(0, c.b.mul(c.dy, c.b.mul(c.self, c.b.sub(c.one(), c.self)))); }},
    {Op::Relu, [](double a, double) { return a > 0 ? a : 0.0; },
     // step(y) = step(x) for y = relu(x); using y lets the forward keep only
     // relu's output (oneDNN fuses relu into the matmul and drops x).
     [](GradContext &c) { c.give(0, c.b.mul(c.dy, c.b.unary(Op::Step, c.self))); }},
    {Op::Tanh, [](double a, double) { return std::tanh(a); },
     [](GradContext &c) { c.give(0, c.b.mul(c.dy, c.b.sub(c.one(), c.b.mul(c.self, c.self)))); }},
    {Op::Softplus, [](double a, double) { return std::max(a, 0.0) + std::log1p(std::exp(-std::fabs(a))); },
     [](GradContext &c) { c.give(0, c.b.mul(c.dy, c.b.unary(Op::Sigmoid, c.x(0)))); }},
    {Op::Step, [](double a, double) { return a > 0 ? 1.0 : 0.0; }, nullptr,
     "piecewise constant: its derivative is 0 wherever it exists"},

    // Elementwise binary; give() sums broadcast gradients back.
    {Op::Add, [](double a, double b) { return a + b; },
     [](GradContext &c) {
       c.give(0, c.dy);
       c.give(1, c.dy);
     }},
    {Op::Sub, [](double a, double b) { return a - b; },
     [](GradContext &c) {
       c.give(0, c.dy);
       if (c.wants[1]) c.give(1, c.b.neg(c.dy));
     }},
    {Op::Mul, [](double a, double b) { return a * b; },
     [](GradContext &c) {
       if (c.wants[0]) c.give(0, c.b.mul(c.dy, c.x(1)));
       if (c.wants[1]) c.give(1, c.b.mul(c.dy, c.x(0)));
     }},
    {Op::Div, [](double a, double b) { return a / b; },
     [](GradContext &c) {
       if (c.wants[0]) c.give(0, c.b.div(c.dy, c.x(1)));
       if (c.wants[1]) c.give(1, c.b.neg(c.b.div(c.b.mul(c.dy, c.self), c.x(1))));  // -y/b
     }},
    {Op::Pow, [](double a, double b) { return std::pow(a, b); },
     [](GradContext &c) {
       if (c.wants[0])
         c.give(0, c.b.mul(c.dy, c.b.mul(c.x(1), c.b.binary(Op::Pow, c.x(0), c.b.sub(c.x(1), c.one())))));
       if (c.wants[1]) c.give(1, c.b.mul(c.dy, c.b.mul(c.b.unary(Op::Log, c.x(0)), c.self)));
     }},
    {Op::Bce, [](double p, double x) { return -(x * clamped_log(p) + (1 - x) * clamped_log(1 - p)); },
     [](GradContext &c) {
       int p = c.x(0), x = c.x(1);
       int one_minus_p = c.b.sub(c.one(), p);
       if (c.wants[0]) c.give(0, c.b.mul(c.dy, c.b.div(c.b.sub(p, x), c.b.mul(p, one_minus_p))));
       if (c.wants[1])
         c.give(1, c.b.mul(c.dy, c.b.sub(c.b.unary(Op::Log, one_minus_p), c.b.unary(Op::Log, p))));
     }},
    {Op::BceLogits,
     [](double l, double x) { return std::max(l, 0.0) - l * x + std::log1p(std::exp(-std::fabs(l))); },
     [](GradContext &c) {
       if (c.wants[0]) c.give(0, c.b.mul(c.dy, c.b.sub(c.b.unary(Op::Sigmoid, c.x(0)), c.x(1))));
       if (c.wants[1]) c.give(1, c.b.mul(c.dy, c.b.neg(c.x(0))));
     }},
    {Op::Mse, [](double a, double b) { return (a - b) * (a - b); },
     [](GradContext &c) {
       int t = c.b.mul(c.dy, c.b.mul(c.b.constant(2.0), c.b.sub(c.x(0), c.x(1))));
       c.give(0, t);
       if (c.wants[1]) c.give(1, c.b.neg(t));
     }},

    // Reductions and data movement.
    {Op::Sum, nullptr,
     [](GradContext &c) { c.give(0, c.b.expand(c.dy, ints(c.node, "axes"), c.dims_of(c.x(0)))); }},
    {Op::Mean, nullptr,
     [](GradContext &c) {
       double count = 1;
       for (int64_t a : ints(c.node, "axes")) count *= static_cast<double>(c.dims_of(c.x(0))[a]);
       int scaled = c.b.mul(c.dy, c.b.constant(1.0 / count));
       c.give(0, c.b.expand(scaled, ints(c.node, "axes"), c.dims_of(c.x(0))));
     }},
    {Op::Reshape, nullptr, [](GradContext &c) { c.give(0, c.b.reshape(c.dy, c.dims_of(c.x(0)))); }},
    {Op::Expand, nullptr, [](GradContext &c) { c.give(0, c.b.sum(c.dy, ints(c.node, "axes"))); }},

    // Layers: y = x w^T + b for dense; the conv adjoints for convolutions.
    {Op::Dense, nullptr,
     [](GradContext &c) {
       auto mm = [&](int a, int b, int64_t ta, int64_t tb) {
         return c.b.emit(Op::Matmul, {a, b}, {{"transpose_a", ta}, {"transpose_b", tb}});
       };
       if (c.wants[0]) c.give(0, mm(c.dy, c.x(1), 0, 0));  // [B,out] x [out,in]
       if (c.wants[1]) c.give(1, mm(c.dy, c.x(0), 1, 0));  // [out,B] x [B,in]
       if (c.wants[2]) c.give(2, c.b.sum(c.dy, {0}));
     }},
    {Op::Conv2d, nullptr,
     [](GradContext &c) {
       if (c.wants[0]) c.give(0, c.b.emit(Op::Conv2dBwdData, {c.dy, c.x(1)}, conv_attrs(c.node), &c.dims_of(c.x(0))));
       if (c.wants[1])
         c.give(1, c.b.emit(Op::Conv2dBwdWeights, {c.x(0), c.dy}, conv_attrs(c.node), &c.dims_of(c.x(1))));
       if (c.wants[2]) c.give(2, c.b.sum(c.dy, {0, 2, 3}));
     }},
    {Op::Conv2dTranspose, nullptr,
     [](GradContext &c) {
       if (c.wants[0])
         c.give(0, c.b.emit(Op::Conv2dTransposeBwdData, {c.dy, c.x(1)}, conv_attrs(c.node), &c.dims_of(c.x(0))));
       if (c.wants[1])
         c.give(1, c.b.emit(Op::Conv2dTransposeBwdWeights, {c.x(0), c.dy}, conv_attrs(c.node), &c.dims_of(c.x(1))));
       if (c.wants[2]) c.give(2, c.b.sum(c.dy, {0, 2, 3}));
     }},

    // Ops made by differentiation, so that they can be differentiated again.
    {Op::Matmul, nullptr,
     [](GradContext &c) {
       // y = A'B' with A' = ta ? A^T : A and B' likewise.
       int64_t ta = std::get<int64_t>(*c.node.attr("transpose_a"));
       int64_t tb = std::get<int64_t>(*c.node.attr("transpose_b"));
       auto mm = [&](int a, int b, int64_t fa, int64_t fb) {
         return c.b.emit(Op::Matmul, {a, b}, {{"transpose_a", fa}, {"transpose_b", fb}});
       };
       int a = c.x(0), b = c.x(1), g = c.dy;
       if (c.wants[0]) c.give(0, ta ? mm(b, g, tb, 1) : mm(g, b, 0, 1 - tb));
       if (c.wants[1]) c.give(1, tb ? mm(g, a, 1, ta) : mm(a, g, 1 - ta, 0));
     }},
    {Op::Conv2dBwdData, nullptr,  // (dy, w) -> dx
     [](GradContext &c) {
       int w = c.x(1);
       if (c.wants[0]) c.give(0, c.b.emit(Op::Conv2d, {c.dy, w, zeros(c, c.dims_of(w)[0])}, conv_attrs(c.node)));
       if (c.wants[1]) c.give(1, c.b.emit(Op::Conv2dBwdWeights, {c.dy, c.x(0)}, conv_attrs(c.node), &c.dims_of(w)));
     }},
    {Op::Conv2dBwdWeights, nullptr,  // (x, dy) -> dw
     [](GradContext &c) {
       if (c.wants[0])
         c.give(0, c.b.emit(Op::Conv2dBwdData, {c.x(1), c.dy}, conv_attrs(c.node), &c.dims_of(c.x(0))));
       if (c.wants[1])
         c.give(1, c.b.emit(Op::Conv2d, {c.x(0), c.dy, zeros(c, c.dims_of(c.dy)[0])}, conv_attrs(c.node)));
     }},
    {Op::Conv2dTransposeBwdData, nullptr,  // (dy, w) -> dx
     [](GradContext &c) {
       int w = c.x(1);
       if (c.wants[0])
         c.give(0, c.b.emit(Op::Conv2dTranspose, {c.dy, w, zeros(c, c.dims_of(w)[1])}, conv_attrs(c.node)));
       if (c.wants[1])
         c.give(1, c.b.emit(Op::Conv2dTransposeBwdWeights, {c.dy, c.x(0)}, conv_attrs(c.node), &c.dims_of(w)));
     }},
    {Op::Conv2dTransposeBwdWeights, nullptr,  // (x, dy) -> dw
     [](GradContext &c) {
       if (c.wants[0])
         c.give(0, c.b.emit(Op::Conv2dTransposeBwdData, {c.x(1), c.dy}, conv_attrs(c.node), &c.dims_of(c.x(0))));
       if (c.wants[1])
         c.give(1, c.b.emit(Op::Conv2dTranspose, {c.x(0), c.dy, zeros(c, c.dims_of(c.dy)[1])}, conv_attrs(c.node)));
     }},
};

}  // namespace

const std::vector<OpRule> &op_rules() { return kRules; }

const OpRule *op_rule(Op op) {
  for (const OpRule &r : kRules)
    if (r.op == op) return &r;
  return nullptr;
}

}  // namespace vaec
