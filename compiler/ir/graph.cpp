// Small queries on a Graph.
#include "ir/graph.h"

namespace vaec {

int64_t Graph::batch() const {
  const AttrValue *v = config_value("batch");
  if (v)
    if (const auto *i = std::get_if<int64_t>(v)) return *i;
  return 0;
}

int64_t Graph::param_count() const {
  int64_t n = 0;
  for (const Node &node : nodes)
    if (node.op == Op::Param) n += checked_elements(node.dims);
  return n;
}

}  // namespace vaec
