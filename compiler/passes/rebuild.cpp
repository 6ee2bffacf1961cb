// Graph rebuilding for passes (contract in rebuild.h).
#include "passes/rebuild.h"

namespace vaec {

Rebuild::Rebuild(const Graph &g) : in(g), map(g.nodes.size(), -1) {
  out.name = g.name;
  out.config = g.config;
}

int Rebuild::copy(int i) {
  Node n = in.nodes[i];
  for (int &o : n.operands) o = map[o];
  n.name = b.unique_name(n.name);
  map[i] = out.add(std::move(n));
  return map[i];
}

void Rebuild::start_replacement(int i) {
  const Node &n = in.nodes[i];
  b.loc = n.loc;
  b.section = n.section;
  b.prefix = n.name;
}

void Rebuild::replace(int i, int replacement) {
  changed = true;
  map[i] = replacement;
  Node &r = out.nodes[replacement];
  // A node emitted just now for i takes i's name; an existing value keeps its own.
  if (r.name.rfind(in.nodes[i].name + ".", 0) == 0 && replacement == static_cast<int>(out.nodes.size()) - 1)
    r.name = b.unique_name(in.nodes[i].name);
}

Graph Rebuild::finish() {
  for (const auto &[name, idx] : in.outputs)
    if (map[idx] >= 0) out.outputs.emplace_back(name, map[idx]);
  return std::move(out);
}

}  // namespace vaec
