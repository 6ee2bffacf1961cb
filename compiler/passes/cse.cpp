// eliminate_common_subexpressions: merges ops that compute the same value.
//
// Pre: a verified graph. Post: no two ops have the same op, operands,
// attributes and type, except sources with identity (inputs, parameters,
// statistics and normal(): two draws of noise are different values). The first op of each
// class is kept with its name and location; users of the others are
// redirected to it. Example: the conv VAE's sampler and KL both compute
// exp(logvar); after CSE it is computed once.
#include <map>

#include "ir/printer.h"
#include "passes/passes.h"
#include "passes/rebuild.h"

namespace vaec {

Graph eliminate_common_subexpressions(Graph g) {
  Rebuild r(g);
  std::map<std::string, int> seen;  // key -> new node
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node &n = g.nodes[i];
    if (n.op == Op::Input || n.op == Op::Param || n.op == Op::Stat || n.op == Op::Normal) {
      r.copy(static_cast<int>(i));
      continue;
    }
    std::string key(op_name(n.op));
    for (size_t j = 0; j < n.operands.size(); ++j) key += " " + std::to_string(r.operand(static_cast<int>(i), j));
    for (const auto &[k, v] : n.attrs) key += " " + k + "=" + format_attr(v);
    key += " " + dims_str(n.dims);
    auto it = seen.find(key);
    if (it != seen.end()) {
      r.replace(static_cast<int>(i), it->second);
      continue;
    }
    seen.emplace(key, r.copy(static_cast<int>(i)));
  }
  return r.changed ? r.finish() : g;
}

}  // namespace vaec
