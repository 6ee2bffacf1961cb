// fold_constants: evaluates at compile time what depends only on constants.
//
// Pre: a verified graph. Post: every elementwise op whose operands are all
// const() (a const is one value filling its shape) is a const of its result
// shape, computed with the op's f64 element formula; reshape, expand, slice,
// sum, mean, max and min of a const are consts too. The folded op keeps its name and location.
// Values are rounded to f32 only when code is generated, not here.
#include <cmath>

#include "ir/elementwise_f64.h"
#include "passes/passes.h"
#include "passes/rebuild.h"

namespace vaec {

Graph fold_constants(Graph g) {
  Rebuild r(g);
  auto value_of = [&](int new_node, double &v) {
    const Node &n = r.out.nodes[new_node];
    if (n.op != Op::Const) return false;
    v = std::get<double>(*n.attr("value"));
    return true;
  };
  for (size_t k = 0; k < g.nodes.size(); ++k) {
    int i = static_cast<int>(k);
    const Node &n = g.nodes[i];
    OpKind kind = op_info(n.op).kind;
    std::vector<double> vals;
    bool all_const = !n.operands.empty();
    for (size_t j = 0; j < n.operands.size() && all_const; ++j) {
      double v = 0;
      all_const = value_of(r.operand(i, static_cast<int>(j)), v);
      vals.push_back(v);
    }
    std::optional<double> folded;
    if (all_const) {
      ElementFormula formula = element_formula(n.op);
      if ((kind == OpKind::Unary || kind == OpKind::Binary) && formula)
        folded = formula(vals[0], vals.size() > 1 ? vals[1] : 0.0);
      else if (n.op == Op::Reshape || n.op == Op::Expand || n.op == Op::Mean || n.op == Op::Max ||
               n.op == Op::Min || n.op == Op::Slice)
        folded = vals[0];
      else if (n.op == Op::Sum)
        folded = vals[0] * static_cast<double>(checked_elements(r.out.nodes[r.operand(i, 0)].dims) /
                                               std::max<int64_t>(1, checked_elements(n.dims)));
    }
    if (!folded) {
      r.copy(i);
      continue;
    }
    r.start_replacement(i);
    r.replace(i, r.b.constant(*folded, n.dims));
  }
  return r.changed ? r.finish() : g;
}

}  // namespace vaec
