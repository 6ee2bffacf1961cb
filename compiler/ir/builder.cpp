// The pass-side IR builder (contract in builder.h).
#include "ir/builder.h"

namespace vaec {

Builder::Builder(Graph &g) : g_(g) {
  for (const Node &n : g.nodes) names_.insert(n.name);
}

std::string Builder::unique_name(const std::string &base) {
  if (names_.insert(base).second) return base;
  int &k = counters_[base];
  while (true) {
    std::string n = base + "." + std::to_string(++k);
    if (names_.insert(n).second) return n;
  }
}

int Builder::emit(Op op, std::vector<int> operands, Attrs attrs, const Dims *declared, const std::string &name) {
  Node n;
  n.op = op;
  n.operands = std::move(operands);
  n.attrs = std::move(attrs);
  n.loc = loc;
  n.section = section;
  std::vector<const Dims *> ins;
  for (int o : n.operands) {
    if (o < 0 || o >= static_cast<int>(g_.nodes.size()))
      throw InternalError("operand out of range building " + std::string(op_name(op)));
    ins.push_back(&g_.nodes[o].dims);
  }
  ShapeResult r = infer_shape(op, ins, n.attrs, declared);
  if (!r.error.empty()) throw InternalError("building " + std::string(op_name(op)) + ": " + r.error);
  n.dims = std::move(r.dims);
  if (name.empty()) {
    int &k = counters_[prefix];
    do n.name = prefix + "." + std::to_string(++k);
    while (!names_.insert(n.name).second);
  } else {
    n.name = unique_name(name);
  }
  return g_.add(std::move(n));
}

int Builder::constant(double value, const Dims &dims) {
  return emit(Op::Const, {}, {{"value", value}}, &dims);
}

int Builder::sum_to(int a, Dims to) {
  const Dims from = dims(a);
  if (from == to) return a;
  std::vector<int64_t> axes;
  size_t lead = from.size() - to.size();
  if (from.size() < to.size()) throw InternalError("sum_to: cannot sum to a larger shape");
  for (size_t i = 0; i < from.size(); ++i)
    if (i < lead || (to[i - lead] == 1 && from[i] != 1)) axes.push_back(static_cast<int64_t>(i));
  int s = axes.empty() ? a : sum(a, axes);
  return dims(s) == to ? s : reshape(s, to);
}

}  // namespace vaec
