// check_loss_scaling (contract in loss_sums.h).
#include "train/loss_sums.h"

#include <stdexcept>

namespace vaec::rt {

void check_loss_scaling(const plan::Plan &plan) {
  for (const plan::Program *p : {&plan.train, &plan.eval})
    for (const auto &[name, buffer] : p->losses) {
      auto it = plan.loss_scaling.find(name);
      if (it == plan.loss_scaling.end()) throw std::runtime_error("the plan gives no loss_scaling for loss '" + name + "'");
      if (it->second != "sum" && it->second != "mean" && it->second != "batch")
        throw std::runtime_error("unknown loss_scaling '" + it->second + "' for loss '" + name + "'");
    }
}

}  // namespace vaec::rt
