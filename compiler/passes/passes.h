// The simplification passes. Each is one file with its contract on top; each
// takes a verified graph and returns a verified graph computing the same
// outputs.
#pragma once

#include "ir/graph.h"

namespace vaec {

Graph eliminate_dead_code(Graph g);   // dce.cpp
Graph eliminate_common_subexpressions(Graph g);  // cse.cpp
Graph fold_constants(Graph g);        // fold_constants.cpp
Graph simplify_algebra(Graph g);      // simplify_algebra.cpp
Graph eval_mode(Graph g);             // eval_mode.cpp: dropout off

}  // namespace vaec
