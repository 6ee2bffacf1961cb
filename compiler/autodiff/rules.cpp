// The gradient rule of every op (contract in rules.h).
//
// Conventions: y is the op's value (c.self), dy its adjoint (c.dy), x0/x1 its
// operands; each elementwise rule differentiates the formula of the same op in
// ir/elementwise_f64.cpp.
#include "autodiff/rules.h"

namespace vaec {
namespace {

std::vector<int64_t> ints(const Node &n, const char *key) {
  return std::get<std::vector<int64_t>>(*n.attr(key));
}
Attrs conv_attrs(const Node &n) { return {{"stride", ints(n, "stride")}, {"pad", ints(n, "pad")}}; }
// A zero bias, for the conv adjoints written as forward convolutions.
int zeros(GradContext &c, int64_t channels) { return c.b.constant(0.0, {channels}); }

// The adjoint of max (or min) over axes: hit = 1 where x equals the result
// (x <= y everywhere for max, so 1 - step(y - x)), dy / (number of hits).
int extreme_gradient(GradContext &c, bool max) {
  const std::vector<int64_t> axes = ints(c.node, "axes");
  const Dims to = c.dims_of(c.x(0));
  const int y = c.b.expand(c.self, axes, to);
  const int gap = max ? c.b.sub(y, c.x(0)) : c.b.sub(c.x(0), y);
  const int hit = c.b.sub(c.one(), c.b.unary(Op::Step, gap));
  const int share = c.b.div(c.dy, c.b.sum(hit, axes));
  return c.b.mul(c.b.expand(share, axes, to), hit);
}

const std::vector<OpRule> kRules = {
    // Sources.
    {Op::Input, nullptr, "data: nothing to learn"},
    {Op::Param, nullptr, "a leaf: its adjoint is the parameter's gradient"},
    {Op::Const, nullptr, "a constant"},
    {Op::Normal, nullptr,
     "random noise: by the reparameterization trick the gradient flows through mu and logvar"},
    {Op::BatchSize, nullptr, "the batch size"},
    {Op::Epoch, nullptr, "the training progress"},
    {Op::Stat, nullptr, "a statistic of the data, updated by the train program, not learned"},

    // Elementwise unary.
    {Op::Neg, [](GradContext &c) { c.give(0, c.b.neg(c.dy)); }},
    {Op::Exp, [](GradContext &c) { c.give(0, c.b.mul(c.dy, c.self)); }},
    {Op::Log, [](GradContext &c) { c.give(0, c.b.div(c.dy, c.x(0))); }},
    {Op::Sqrt, [](GradContext &c) { c.give(0, c.b.div(c.dy, c.b.mul(c.b.constant(2.0), c.self))); }},
    {Op::Sigmoid, [](GradContext &c) { c.give(0, c.b.mul(c.dy, c.b.mul(c.self, c.b.sub(c.one(), c.self)))); }},
    {Op::Relu,
     // step(y) = step(x) for y = relu(x); using y lets the forward keep only
     // relu's output (oneDNN fuses relu into the matmul and drops x).
     [](GradContext &c) { c.give(0, c.b.mul(c.dy, c.b.unary(Op::Step, c.self))); }},
    {Op::Tanh, [](GradContext &c) { c.give(0, c.b.mul(c.dy, c.b.sub(c.one(), c.b.mul(c.self, c.self)))); }},
    {Op::Softplus, [](GradContext &c) { c.give(0, c.b.mul(c.dy, c.b.unary(Op::Sigmoid, c.x(0)))); }},
    {Op::Step, nullptr, "piecewise constant: its derivative is 0 wherever it exists"},
    {Op::Abs,  // sign(x) as step(x) - step(-x): 0 at the kink, as PyTorch
     [](GradContext &c) {
       c.give(0, c.b.mul(c.dy, c.b.sub(c.b.unary(Op::Step, c.x(0)), c.b.unary(Op::Step, c.b.neg(c.x(0))))));
     }},

    // Elementwise binary; give() sums broadcast gradients back.
    {Op::Add,
     [](GradContext &c) {
       c.give(0, c.dy);
       c.give(1, c.dy);
     }},
    {Op::Sub,
     [](GradContext &c) {
       c.give(0, c.dy);
       if (c.wants[1]) c.give(1, c.b.neg(c.dy));
     }},
    {Op::Mul,
     [](GradContext &c) {
       if (c.wants[0]) c.give(0, c.b.mul(c.dy, c.x(1)));
       if (c.wants[1]) c.give(1, c.b.mul(c.dy, c.x(0)));
     }},
    {Op::Div,
     [](GradContext &c) {
       if (c.wants[0]) c.give(0, c.b.div(c.dy, c.x(1)));
       if (c.wants[1]) c.give(1, c.b.neg(c.b.div(c.b.mul(c.dy, c.self), c.x(1))));  // -y/b
     }},
    {Op::Pow,
     [](GradContext &c) {
       if (c.wants[0])
         c.give(0, c.b.mul(c.dy, c.b.mul(c.x(1), c.b.binary(Op::Pow, c.x(0), c.b.sub(c.x(1), c.one())))));
       if (c.wants[1]) c.give(1, c.b.mul(c.dy, c.b.mul(c.b.unary(Op::Log, c.x(0)), c.self)));
     }},
    {Op::Bce,
     [](GradContext &c) {
       int p = c.x(0), x = c.x(1);
       int one_minus_p = c.b.sub(c.one(), p);
       if (c.wants[0]) c.give(0, c.b.mul(c.dy, c.b.div(c.b.sub(p, x), c.b.mul(p, one_minus_p))));
       if (c.wants[1])
         c.give(1, c.b.mul(c.dy, c.b.sub(c.b.unary(Op::Log, one_minus_p), c.b.unary(Op::Log, p))));
     }},
    {Op::BceLogits,
     [](GradContext &c) {
       if (c.wants[0]) c.give(0, c.b.mul(c.dy, c.b.sub(c.b.unary(Op::Sigmoid, c.x(0)), c.x(1))));
       if (c.wants[1]) c.give(1, c.b.mul(c.dy, c.b.neg(c.x(0))));
     }},
    {Op::Mse,
     [](GradContext &c) {
       int t = c.b.mul(c.dy, c.b.mul(c.b.constant(2.0), c.b.sub(c.x(0), c.x(1))));
       c.give(0, t);
       if (c.wants[1]) c.give(1, c.b.neg(t));
     }},
    // The larger (smaller) operand takes the gradient; a tie gives it to b.
    {Op::Maximum,
     [](GradContext &c) {
       int a_wins = c.b.unary(Op::Step, c.b.sub(c.x(0), c.x(1)));
       if (c.wants[0]) c.give(0, c.b.mul(c.dy, a_wins));
       if (c.wants[1]) c.give(1, c.b.mul(c.dy, c.b.sub(c.one(), a_wins)));
     }},
    {Op::Minimum,
     [](GradContext &c) {
       int a_wins = c.b.unary(Op::Step, c.b.sub(c.x(1), c.x(0)));
       if (c.wants[0]) c.give(0, c.b.mul(c.dy, a_wins));
       if (c.wants[1]) c.give(1, c.b.mul(c.dy, c.b.sub(c.one(), a_wins)));
     }},
    {Op::LeakyRelu,  // d/dx: 1 where x > 0, else slope; d/dslope: min(x, 0) = x - relu(x)
     [](GradContext &c) {
       int on = c.b.unary(Op::Step, c.x(0));
       if (c.wants[0]) c.give(0, c.b.mul(c.dy, c.b.add(on, c.b.mul(c.b.sub(c.one(), on), c.x(1)))));
       if (c.wants[1]) c.give(1, c.b.mul(c.dy, c.b.sub(c.x(0), c.b.unary(Op::Relu, c.x(0)))));
     }},
    {Op::DropoutMask, nullptr, "a random mask: no gradient flows through it"},
    {Op::TrainValue, [](GradContext &c) { c.give(0, c.dy); }},  // training's value; eval's has no gradient

    // Reductions and data movement.
    {Op::Sum, [](GradContext &c) { c.give(0, c.b.expand(c.dy, ints(c.node, "axes"), c.dims_of(c.x(0)))); }},
    {Op::Mean,
     [](GradContext &c) {
       double count = 1;
       for (int64_t a : ints(c.node, "axes")) count *= static_cast<double>(c.dims_of(c.x(0))[a]);
       int scaled = c.b.mul(c.dy, c.b.constant(1.0 / count));
       c.give(0, c.b.expand(scaled, ints(c.node, "axes"), c.dims_of(c.x(0))));
     }},
    // max/min: dy goes to the elements equal to the result, shared evenly
    // among ties (PyTorch's amax/amin).
    {Op::Max, [](GradContext &c) { c.give(0, extreme_gradient(c, true)); }},
    {Op::Min, [](GradContext &c) { c.give(0, extreme_gradient(c, false)); }},
    {Op::Reshape, [](GradContext &c) { c.give(0, c.b.reshape(c.dy, c.dims_of(c.x(0)))); }},
    {Op::Slice,
     [](GradContext &c) {
       const Dims to = c.dims_of(c.x(0));
       c.give(0, c.b.emit(Op::Pad, {c.dy}, {{"axis", *c.node.attr("axis")}, {"before", *c.node.attr("start")}}, &to));
     }},
    {Op::Pad,
     [](GradContext &c) {
       const Dims to = c.dims_of(c.x(0));
       c.give(0, c.b.emit(Op::Slice, {c.dy}, {{"axis", *c.node.attr("axis")}, {"start", *c.node.attr("before")}}, &to));
     }},
    {Op::Expand, [](GradContext &c) { c.give(0, c.b.sum(c.dy, ints(c.node, "axes"))); }},

    // Layers: y = x w^T + b for dense; the conv adjoints for convolutions.
    {Op::Dense,
     [](GradContext &c) {
       auto mm = [&](int a, int b, int64_t ta, int64_t tb) {
         return c.b.emit(Op::Matmul, {a, b}, {{"transpose_a", ta}, {"transpose_b", tb}});
       };
       if (c.wants[0]) c.give(0, mm(c.dy, c.x(1), 0, 0));  // [B,out] x [out,in]
       if (c.wants[1]) c.give(1, mm(c.dy, c.x(0), 1, 0));  // [out,B] x [B,in]
       if (c.wants[2]) c.give(2, c.b.sum(c.dy, {0}));
     }},
    {Op::Conv2d,
     [](GradContext &c) {
       if (c.wants[0]) c.give(0, c.b.emit(Op::Conv2dBwdData, {c.dy, c.x(1)}, conv_attrs(c.node), &c.dims_of(c.x(0))));
       if (c.wants[1])
         c.give(1, c.b.emit(Op::Conv2dBwdWeights, {c.x(0), c.dy}, conv_attrs(c.node), &c.dims_of(c.x(1))));
       if (c.wants[2]) c.give(2, c.b.sum(c.dy, {0, 2, 3}));
     }},
    {Op::Conv2dTranspose,
     [](GradContext &c) {
       if (c.wants[0])
         c.give(0, c.b.emit(Op::Conv2dTransposeBwdData, {c.dy, c.x(1)}, conv_attrs(c.node), &c.dims_of(c.x(0))));
       if (c.wants[1])
         c.give(1, c.b.emit(Op::Conv2dTransposeBwdWeights, {c.x(0), c.dy}, conv_attrs(c.node), &c.dims_of(c.x(1))));
       if (c.wants[2]) c.give(2, c.b.sum(c.dy, {0, 2, 3}));
     }},

    // Ops made by differentiation, so that they can be differentiated again.
    {Op::Matmul,
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
    {Op::Conv2dBwdData,  // (dy, w) -> dx
     [](GradContext &c) {
       int w = c.x(1);
       if (c.wants[0]) c.give(0, c.b.emit(Op::Conv2d, {c.dy, w, zeros(c, c.dims_of(w)[0])}, conv_attrs(c.node)));
       if (c.wants[1]) c.give(1, c.b.emit(Op::Conv2dBwdWeights, {c.dy, c.x(0)}, conv_attrs(c.node), &c.dims_of(w)));
     }},
    {Op::Conv2dBwdWeights,  // (x, dy) -> dw
     [](GradContext &c) {
       if (c.wants[0])
         c.give(0, c.b.emit(Op::Conv2dBwdData, {c.x(1), c.dy}, conv_attrs(c.node), &c.dims_of(c.x(0))));
       if (c.wants[1])
         c.give(1, c.b.emit(Op::Conv2d, {c.x(0), c.dy, zeros(c, c.dims_of(c.dy)[0])}, conv_attrs(c.node)));
     }},
    {Op::Conv2dTransposeBwdData,  // (dy, w) -> dx
     [](GradContext &c) {
       int w = c.x(1);
       if (c.wants[0])
         c.give(0, c.b.emit(Op::Conv2dTranspose, {c.dy, w, zeros(c, c.dims_of(w)[1])}, conv_attrs(c.node)));
       if (c.wants[1])
         c.give(1, c.b.emit(Op::Conv2dTransposeBwdWeights, {c.dy, c.x(0)}, conv_attrs(c.node), &c.dims_of(w)));
     }},
    {Op::Conv2dTransposeBwdWeights,  // (x, dy) -> dw
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
