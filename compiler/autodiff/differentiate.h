// differentiate: reverse-mode automatic differentiation as an IR → IR pass.
//
// Pre:  the graph verifies and has a scalar output `total`.
// Post: the same forward ops, then a `backward` section holding the gradient
//       of `total` with respect to every parameter, built from the gradient
//       rules of autodiff/rules.cpp, with the forward op's source location on
//       every backward op. Outputs: the losses, then `d.<param>` for each
//       parameter in definition order (a parameter the loss does not reach
//       gets an explicit zero). Fan-out accumulates with explicit adds.
//       Adjoints are named d.<value>.
#pragma once

#include "ir/graph.h"

namespace vaec {

Graph differentiate(Graph g);

}  // namespace vaec
