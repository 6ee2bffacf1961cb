// The graph IR: a list of nodes in a valid schedule order, each defining one
// typed SSA value; operands refer to earlier nodes by index. Every node keeps
// the source location it came from and the model section it belongs to.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "ir/ops.h"
#include "support/diagnostics.h"

namespace vaec {

using Attrs = std::vector<std::pair<std::string, AttrValue>>;

struct Node {
  Op op;
  std::string name;           // SSA name, printed as %name
  std::vector<int> operands;  // indices of earlier nodes
  Attrs attrs;                // in the order of the op's schema
  Dims dims;                  // f32 result shape
  Loc loc;
  std::string section;        // inputs, encoder, sampler, decoder, losses, ...

  const AttrValue *attr(std::string_view key) const {
    for (const auto &[k, v] : attrs)
      if (k == key) return &v;
    return nullptr;
  }
};

struct Graph {
  std::string name;
  Attrs config;  // training settings: batch, data, epochs, optimizer, lr, ..., seed
  std::vector<Node> nodes;
  std::vector<std::pair<std::string, int>> outputs;  // name -> node

  int add(Node n) {
    nodes.push_back(std::move(n));
    return static_cast<int>(nodes.size()) - 1;
  }
  const AttrValue *config_value(std::string_view key) const {
    for (const auto &[k, v] : config)
      if (k == key) return &v;
    return nullptr;
  }
  int64_t batch() const;
  int64_t param_count() const;
};

}  // namespace vaec
