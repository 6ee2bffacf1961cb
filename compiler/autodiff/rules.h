// The gradient rule of every op of ops.def (IR in, IR out), or the reason it
// has none. One row per op in rules.cpp, in the order of ops.def; a unit test
// fails if an op has no row. The element formulas these rules differentiate
// are in ir/elementwise_f64.cpp, row for row in the same order.
#pragma once

#include <vector>

#include "ir/builder.h"

namespace vaec {

// What a gradient rule sees: the forward op, its value and the adjoint of its
// value; it calls give(i, g) with the gradient for operand i, in any shape
// that broadcasts to the operand (give() sums it back).
struct GradContext {
  Builder &b;
  const Node node;       // the forward op (a copy: the builder grows the graph)
  int self;              // the forward op's value
  int dy;                // adjoint of that value
  std::vector<bool> wants;  // operand i needs a gradient
  std::vector<int> out;     // filled by give(): gradient per operand, or -1

  int x(int i) const { return node.operands[i]; }
  const Dims &dims_of(int v) const { return b.dims(v); }
  void give(int i, int grad) {
    if (wants[i]) out[i] = b.sum_to(grad, b.dims(x(i)));
  }
  int one() { return b.constant(1.0); }
};

struct OpRule {
  Op op;
  void (*grad)(GradContext &c);         // null: the op has no gradient
  const char *no_gradient_reason = nullptr;  // why, when grad is null
};

// The row of `op`; nullptr if the table lacks it (a test makes sure it doesn't).
const OpRule *op_rule(Op op);
const std::vector<OpRule> &op_rules();

}  // namespace vaec
