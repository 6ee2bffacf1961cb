// Reverse-mode differentiation over the schedule (contract in differentiate.h).
#include "autodiff/differentiate.h"

#include "autodiff/rules.h"
#include "ir/builder.h"

namespace vaec {

Graph differentiate(Graph g) {
  int total = -1;
  for (const auto &[name, idx] : g.outputs)
    if (name == "total") total = idx;
  if (total < 0 || !g.nodes[total].dims.empty()) throw InternalError("differentiate: no scalar 'total' output");

  const size_t forward_size = g.nodes.size();
  // Which values depend on a parameter: only those get adjoints.
  std::vector<bool> active(forward_size, false);
  for (size_t i = 0; i < forward_size; ++i) {
    const Node &n = g.nodes[i];
    active[i] = n.op == Op::Param;
    for (int o : n.operands) active[i] = active[i] || active[o];
  }

  Builder b(g);
  b.section = "backward";
  std::vector<int> adjoint(forward_size, -1);
  std::unordered_map<int, int> shared;  // how many values an adjoint node serves
  b.loc = g.nodes[total].loc;
  b.prefix = "d.total";
  adjoint[total] = b.constant(1.0, {});
  g.nodes[adjoint[total]].name = b.unique_name("d.total");

  auto accumulate = [&](int value, int grad) {
    ++shared[grad];
    if (adjoint[value] < 0) {
      adjoint[value] = grad;
      return;
    }
    b.prefix = "d." + g.nodes[value].name;
    adjoint[value] = b.add(adjoint[value], grad);  // fan-out: sum every path
    ++shared[adjoint[value]];
  };

  for (size_t k = forward_size; k-- > 0;) {
    int i = static_cast<int>(k);
    if (adjoint[i] < 0 || !active[i]) continue;
    // Give the finished adjoint a readable name when it is this value's alone.
    Node &adj = g.nodes[adjoint[i]];
    if (adjoint[i] >= static_cast<int>(forward_size) && shared[adjoint[i]] <= 1 && adj.name.rfind("d.total", 0) != 0)
      adj.name = b.unique_name("d." + g.nodes[i].name);
    const Node &n = g.nodes[i];
    if (op_info(n.op).kind == OpKind::Source) continue;
    const OpRule *rule = op_rule(n.op);
    if (!rule || !rule->grad) continue;  // e.g. step: derivative 0
    GradContext c{b, n, i, adjoint[i], {}, {}};
    for (int o : c.node.operands) c.wants.push_back(active[o]);
    c.out.assign(c.node.operands.size(), -1);
    b.loc = c.node.loc;
    b.prefix = "d." + c.node.name;
    rule->grad(c);
    for (size_t j = 0; j < c.out.size(); ++j)
      if (c.out[j] >= 0) accumulate(c.node.operands[j], c.out[j]);
  }

  for (size_t i = 0; i < forward_size; ++i) {
    const Node &p = g.nodes[i];
    if (p.op != Op::Param) continue;
    int grad = adjoint[i];
    if (grad < 0) {  // the loss does not depend on this parameter
      b.loc = p.loc;
      Dims dims = p.dims;
      grad = b.constant(0.0, dims);
      g.nodes[grad].name = b.unique_name("d." + g.nodes[i].name);
    }
    g.outputs.emplace_back("d." + g.nodes[i].name, grad);
  }
  return g;
}

}  // namespace vaec
