// merge_sibling_products: dense layers that read the same tensor (a VAE's mu
// and logvar heads) become one product.
//
// Pre: a verified graph, before differentiation. Post: the same outputs;
// each group of >= 2 dense ops y_i = dense(h, w_i, b_i) with the same h (not
// a model input: products of the data keep their zero-column steps), w_i
// and b_i parameters, whose weights have <= kMaxMergedWeights elements together,
// is computed as
//   w = concat(w_1, ..., w_n) along the outputs   (add of pads: one kernel)
//   y = matmul(h, w, transpose_b)                  ([batch, sum of outputs])
//   y_i = slice(y, outputs of i) + b_i             (kept name and location)
// Differentiation then gives one product for h's gradient (dy w, in place of
// one per head and their sum) and one for the weights' (dy^T h, sliced into
// each w_i's gradient): three library calls where there were 3n, for the
// price of copying the small weights and their gradients once a step. The
// bias moves into the kernels that read y_i. Larger heads stay apart, where
// the copies would cost more than the calls they save.
#include <map>

#include "passes/passes.h"
#include "passes/rebuild.h"

namespace vaec {
namespace {

// 256 KiB of weights: the copies take a few microseconds a step.
constexpr int64_t kMaxMergedWeights = int64_t{1} << 16;

}  // namespace

Graph merge_sibling_products(Graph g) {
  // Candidate heads by their input, in graph order.
  std::map<int, std::vector<int>> by_input;
  for (size_t k = 0; k < g.nodes.size(); ++k) {
    const Node &n = g.nodes[k];
    if (n.op != Op::Dense) continue;
    const Node &h = g.nodes[n.operands[0]], &w = g.nodes[n.operands[1]], &b = g.nodes[n.operands[2]];
    if (h.op == Op::Input || h.dims.size() != 2 || w.op != Op::Param || b.op != Op::Param) continue;
    by_input[n.operands[0]].push_back(static_cast<int>(k));
  }
  std::vector<std::vector<int>> groups;
  std::vector<int> group_of(g.nodes.size(), -1);
  for (const auto &[h, heads] : by_input) {
    std::vector<int> group;
    int64_t elements = 0;
    for (int i : heads) {
      const Dims &w = g.nodes[g.nodes[i].operands[1]].dims;
      bool shared = false;  // a weight used by two heads: merging gains nothing
      for (int j : group) shared |= g.nodes[j].operands[1] == g.nodes[i].operands[1];
      if (shared || elements + w[0] * w[1] > kMaxMergedWeights) continue;
      elements += w[0] * w[1];
      group.push_back(i);
    }
    if (group.size() < 2) continue;
    for (int i : group) group_of[i] = static_cast<int>(groups.size());
    groups.push_back(std::move(group));
  }
  if (groups.empty()) return g;

  Rebuild r(g);
  for (size_t k = 0; k < g.nodes.size(); ++k) {
    const int i = static_cast<int>(k);
    if (r.map[i] >= 0) continue;  // a parameter a merged group needed early
    const int gi = group_of[i];
    if (gi < 0) {
      r.copy(i);
      continue;
    }
    const std::vector<int> &group = groups[gi];
    if (i == group.front()) {
      // Every head's parameters are defined here (they have no operands, so
      // they may move up), and h is, since it precedes the first head.
      std::string name;
      int64_t outputs = 0;
      for (int j : group) {
        for (int p : {g.nodes[j].operands[1], g.nodes[j].operands[2]})
          if (r.map[p] < 0) r.copy(p);
        name += (name.empty() ? "" : ".") + g.nodes[j].name;
        outputs += g.nodes[g.nodes[j].operands[1]].dims[0];
      }
      r.start_replacement(i);
      const int h = r.operand(i, 0);
      const int64_t batch = r.b.dims(h)[0], in = r.b.dims(h)[1];
      const Dims wd{outputs, in};
      r.b.prefix = name + ".w";
      int w = -1;
      int64_t at = 0;
      for (int j : group) {
        const int p = r.b.emit(Op::Pad, {r.operand(j, 1)}, {{"axis", int64_t{0}}, {"before", at}}, &wd);
        w = w < 0 ? p : r.b.add(w, p);
        at += g.nodes[g.nodes[j].operands[1]].dims[0];
      }
      r.out.nodes[w].name = r.b.unique_name(name + ".w");
      const int y = r.b.emit(Op::Matmul, {h, w}, {{"transpose_a", int64_t{0}}, {"transpose_b", int64_t{1}}}, nullptr, name);
      at = 0;
      for (int j : group) {
        const Node &head = g.nodes[j];
        r.b.loc = head.loc;
        r.b.section = head.section;
        r.b.prefix = head.name;
        const Dims sd{batch, g.nodes[head.operands[1]].dims[0]};
        const int s = r.b.emit(Op::Slice, {y}, {{"axis", int64_t{1}}, {"start", at}}, &sd);
        r.map[j] = r.b.emit(Op::Add, {s, r.operand(j, 2)}, {}, nullptr, head.name);
        at += sd[1];
      }
    }
    r.changed = true;  // a later head: its value was made with the first
  }
  return r.finish();
}

}  // namespace vaec
