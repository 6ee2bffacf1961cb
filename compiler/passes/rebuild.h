// Rebuilding a graph op by op: the way simplification passes change IR. A pass
// walks the old graph in order and, for each op, either copies it or emits a
// replacement; operands and outputs are remapped, and a replacement takes the
// name of the value it replaces so dumps stay readable.
#pragma once

#include "ir/builder.h"

namespace vaec {

class Rebuild {
public:
  explicit Rebuild(const Graph &in);

  const Graph &in;
  Graph out;
  Builder b{out};
  std::vector<int> map;  // old node -> new node (-1: dropped)

  // The new index of old node i's operand j.
  int operand(int i, int j) const { return map[in.nodes[i].operands[j]]; }
  // Copies old node i unchanged (operands remapped).
  int copy(int i);
  // Prepares the builder to emit a replacement for old node i (its location,
  // section and a name prefix).
  void start_replacement(int i);
  // Records `replacement` (a new node) as the value of old node i; if it was
  // emitted for i, it inherits i's name.
  void replace(int i, int replacement);
  Graph finish();
  bool changed = false;
};

}  // namespace vaec
