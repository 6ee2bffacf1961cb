// eliminate_dead_code: removes every op no output depends on.
//
// Pre: a verified graph. Post: only ops reachable backwards from the outputs
// remain, in the same order with the same names. Parameters the loss does not
// reach are removed too (differentiate gives them an explicit zero gradient
// first, so a training graph keeps them).
#include "passes/passes.h"
#include "passes/rebuild.h"

namespace vaec {

Graph eliminate_dead_code(Graph g) {
  std::vector<bool> live(g.nodes.size(), false);
  for (const auto &[name, idx] : g.outputs) live[idx] = true;
  for (size_t i = g.nodes.size(); i-- > 0;)
    if (live[i])
      for (int o : g.nodes[i].operands) live[o] = true;
  bool all_live = true;
  for (bool l : live) all_live = all_live && l;
  if (all_live) return g;
  Rebuild r(g);
  for (size_t i = 0; i < g.nodes.size(); ++i)
    if (live[i]) r.copy(static_cast<int>(i));
  return r.finish();
}

}  // namespace vaec
