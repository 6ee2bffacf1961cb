// Which values of a graph have the batch as their first axis, and the same
// graph at another batch. Shapes in the IR are static (the batch of the
// compilation), but a plan runs at any batch: code generation sizes the
// buffers and extents of batched values by the run's batch, and `batch` in
// a model is the batch_size() op, read at run time.
//
// A first axis of c * batch rows is c rows per example (c samples each):
// its plan extent is c*B. A value is batched when it is an input, or computed from a batched value
// in a way that keeps its first axis as the batch: elementwise ops with a
// batched operand of the result's rank, reductions that keep axis 0,
// per-example reshapes, dense and convolution layers (and their data
// adjoints) over batched data, matmul(a, b) with a batched and not
// transposed, expands that restore a reduced batch axis (the gradient of a
// reduction of a batched value over the batch: same axes, same shapes).
// normal() noise is batched when its first axis is the batch (normal_like of
// a batched value). A batched value's first axis is a multiple of the batch.
#pragma once

#include <string>
#include <vector>

#include "ir/graph.h"
#include "support/diagnostics.h"

namespace vaec {

// batched[i] for every node; on a graph whose shapes mix the batch axis into
// other axes (e.g. a batched operand broadcast into a non-leading axis),
// `why` gets a reason naming the op (its node index in `at`, if given) and
// the result is empty.
std::vector<bool> batched_values(const Graph &g, std::string &why, int *at = nullptr);

// An error at the op where `g` mixes the batch axis into another (a graph
// that type-checks at its batch only, e.g. a per-example f32[1] broadcast
// along a feature axis at batch 1); `where` as for verify_graph.
bool verify_batch_axes(const Graph &g, Diagnostics &diags, const std::vector<Loc> *where = nullptr);

// `g` at batch n: the first dimension of every batched value becomes n (c * n
// for c rows per example), and the config's batch n. Empty `why` on success.
Graph with_batch(const Graph &g, int64_t n, std::string &why);

}  // namespace vaec
