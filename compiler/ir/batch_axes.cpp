// Batched values and re-batching (contract in batch_axes.h).
#include "ir/batch_axes.h"

#include <algorithm>
#include <sstream>
#include <tuple>

#include "ir/verifier.h"

namespace vaec {

std::vector<bool> batched_values(const Graph &g, std::string &why, int *at) {
  const int64_t batch = g.batch();
  // A first axis of c * batch rows holds c rows per example (samples).
  auto batch_rows = [&](const Dims &d) { return !d.empty() && batch > 0 && d[0] >= batch && d[0] % batch == 0; };
  std::vector<bool> b(g.nodes.size(), false);
  // (axes, operand dims, result dims) of each reduction of a batched value
  // over the batch axis: the expand that differentiates it restores the batch.
  std::vector<std::tuple<const AttrValue *, Dims, Dims>> batch_reductions;
  auto fail = [&](const Node &n, const std::string &what) {
    why = "%" + n.name + " = " + std::string(op_name(n.op)) + ": " + what;
    if (at) *at = static_cast<int>(&n - g.nodes.data());
    return std::vector<bool>{};
  };
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node &n = g.nodes[i];
    auto in = [&](size_t k) { return b[n.operands[k]]; };
    auto has = [&](const char *key) {
      const AttrValue *v = n.attr(key);
      if (!v) return false;
      const auto &axes = std::get<std::vector<int64_t>>(*v);
      return std::find(axes.begin(), axes.end(), 0) != axes.end();
    };
    switch (op_info(n.op).kind) {
    // Noise of the batch's extent counts as per example here, so that values
    // made of noise alone (a dropout mask) follow the batch too; the pass
    // below keeps it so only when every user is per example.
    case OpKind::Source:
      b[i] = n.op == Op::Input || (n.op == Op::Normal && batch_rows(n.dims));
      break;
    case OpKind::Unary: b[i] = in(0); break;
    case OpKind::Binary:
      for (size_t k = 0; k < n.operands.size(); ++k) {
        if (!in(k)) continue;
        const Dims &d = g.nodes[n.operands[k]].dims;
        if (d.size() != n.dims.size())
          return fail(n, "a per-example operand broadcast into an axis other than the batch's");
        if (!d.empty() && d[0] != n.dims[0]) return fail(n, "a per-example operand broadcast along the batch axis");
        b[i] = true;
      }
      break;
    case OpKind::Reduce:
      b[i] = in(0) && !has("axes");
      if (in(0) && has("axes")) batch_reductions.emplace_back(n.attr("axes"), g.nodes[n.operands[0]].dims, n.dims);
      break;
    case OpKind::Shape:
      if (n.op == Op::Reshape) {
        b[i] = in(0);
        // Row-major reshapes keep each example's elements together, so any
        // first axis of whole examples' rows follows the batch.
        if (b[i] && !batch_rows(n.dims)) return fail(n, "a reshape across the batch axis");
      } else {  // expand
        // Only the gradient of a batch reduction gets the batch back: an
        // extent that merely divides by the batch (a parameter's [4] at batch
        // 2) is not per example.
        auto restores = [&](const auto &r) {
          return *std::get<0>(r) == *n.attr("axes") && std::get<1>(r) == n.dims &&
                 std::get<2>(r) == g.nodes[n.operands[0]].dims;
        };
        b[i] = in(0) || (has("axes") && batch_rows(n.dims) &&
                         std::any_of(batch_reductions.begin(), batch_reductions.end(), restores));
      }
      break;
    case OpKind::Layer:
      if (n.op == Op::Matmul) {
        const bool ta = std::get<int64_t>(*n.attr("transpose_a")) != 0;
        const bool tb = std::get<int64_t>(*n.attr("transpose_b")) != 0;
        b[i] = in(0) && !ta;
        if (in(1) && tb) return fail(n, "the batch would be the product's columns");
      } else if (n.op == Op::Conv2dBwdWeights || n.op == Op::Conv2dTransposeBwdWeights) {
        b[i] = false;
      } else {
        b[i] = in(0);
      }
      break;
    }
  }
  for (size_t i = 0; i < g.nodes.size(); ++i)
    if (b[i] && !batch_rows(g.nodes[i].dims))
      return fail(g.nodes[i], "a per-example value whose first axis is not the batch's");
  // Constants and noise of a batch's rows are batched when every user is:
  // their values do not depend on the row, only their extent does.
  std::vector<int> users(g.nodes.size(), 0), batched_users(g.nodes.size(), 0);
  for (size_t i = 0; i < g.nodes.size(); ++i)
    for (int o : g.nodes[i].operands) ++users[o], batched_users[o] += b[i];
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node &n = g.nodes[i];
    if ((n.op == Op::Const || n.op == Op::Normal) && batch_rows(n.dims))
      b[i] = users[i] > 0 && batched_users[i] == users[i];
  }
  return b;
}

bool verify_batch_axes(const Graph &g, Diagnostics &diags, const std::vector<Loc> *where) {
  std::string why;
  int at = -1;
  batched_values(g, why, &at);
  if (why.empty()) return true;
  const Loc loc = where && at >= 0 && at < static_cast<int>(where->size()) ? (*where)[at]
                  : at >= 0                                                 ? g.nodes[at].loc
                                                                            : Loc{};
  diags.error(loc, why + " (a model must mean the same at every batch; at batch " + std::to_string(g.batch()) +
                       " these shapes broadcast, at another they would not)");
  return false;
}

Graph with_batch(const Graph &g, int64_t n, std::string &why) {
  why.clear();
  const std::vector<bool> b = batched_values(g, why);
  if (!why.empty()) return g;
  Graph out = g;
  const int64_t batch = g.batch();
  for (size_t i = 0; i < out.nodes.size(); ++i)
    if (b[i]) out.nodes[i].dims[0] = n * (g.nodes[i].dims[0] / batch);
  for (auto &[key, value] : out.config)
    if (key == "batch") value = int64_t{n};
  Diagnostics diags;
  if (!verify_graph(out, diags)) {
    std::ostringstream os;
    diags.print(os);
    why = "its shapes do not follow the batch:\n" + os.str();
  }
  return out;
}

}  // namespace vaec
