// eval_mode: the model as evaluated, not trained: every dropout mask
// (dropout_mask, what `dropout(x, p)` lowers to) becomes the constant 1, so
// dropout is the identity, and the noise only the masks read is removed;
// every train_value(t, e) becomes e (batchnorm's running statistics in place
// of the batch's), and the outputs `update.NAME` that train the statistics
// are dropped.
//
// Pre: a verified graph. Post: a verified graph without dropout_mask and
// train_value ops or update outputs, the same otherwise but for dead code. Run on the eval program and on the
// model the inspection programs are cut from; training keeps its masks, so
// the two programs differ exactly there (DIR/ir/grad.vir vs eval.vir).
#include "passes/passes.h"
#include "passes/rebuild.h"

namespace vaec {

Graph eval_mode(Graph g) {
  bool any = false;
  for (Node &n : g.nodes) {
    if (n.op == Op::TrainValue) {  // e, as a no-op reshape so the node keeps its name and uses
      n.op = Op::Reshape;
      n.operands = {n.operands[1]};
      any = true;
    }
    if (n.op != Op::DropoutMask) continue;
    n.op = Op::Const;
    n.operands.clear();
    n.attrs = {{"value", 1.0}};
    any = true;
  }
  const size_t before = g.outputs.size();
  std::erase_if(g.outputs, [](const auto &o) { return o.first.rfind("update.", 0) == 0; });
  any = any || g.outputs.size() != before;
  return any ? eliminate_dead_code(simplify_algebra(std::move(g))) : g;
}

}  // namespace vaec
