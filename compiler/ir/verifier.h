// The IR verifier: the invariants every pass may assume and must keep.
//  - names are unique and non-empty; operands precede their users;
//  - operand counts and attribute names/types match the op table;
//  - every dim is positive, every tensor below kMaxElements;
//  - the declared type equals the op's shape rule (reshape keeps the count);
//  - outputs name existing nodes uniquely, and `total` is a scalar; a model
//    or training graph has one (a graph whose config names a `program`, the
//    inspection graphs, need not).
#pragma once

#include <vector>

#include "ir/graph.h"
#include "support/diagnostics.h"

namespace vaec {

// Reports every violation; `where` (one Loc per node) overrides node locs, so
// errors in parsed IR text point at the IR line rather than the YAML source.
bool verify_graph(const Graph &g, Diagnostics &diags, const std::vector<Loc> *where = nullptr);

}  // namespace vaec
