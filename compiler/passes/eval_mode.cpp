// eval_mode: the model as evaluated, not trained: every dropout mask
// (dropout_mask, what `dropout(x, p)` lowers to) becomes the constant 1, so
// dropout is the identity, and the noise only the masks read is removed.
//
// Pre: a verified graph. Post: a verified graph without dropout_mask ops,
// the same otherwise but for dead code. Run on the eval program and on the
// model the inspection programs are cut from; training keeps its masks, so
// the two programs differ exactly there (DIR/ir/grad.vir vs eval.vir).
#include "passes/passes.h"
#include "passes/rebuild.h"

namespace vaec {

Graph eval_mode(Graph g) {
  bool any = false;
  for (Node &n : g.nodes) {
    if (n.op != Op::DropoutMask) continue;
    n.op = Op::Const;
    n.operands.clear();
    n.attrs = {{"value", 1.0}};
    any = true;
  }
  return any ? eliminate_dead_code(simplify_algebra(std::move(g))) : g;
}

}  // namespace vaec
