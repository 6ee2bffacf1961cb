// train.schedule: constant | cosine | step(every=N, gamma=G), the learning
// rate's factor (runtime/train/trainer.h says how each follows the steps).
#pragma once

#include <string>

#include "frontend/yaml_tree.h"
#include "support/diagnostics.h"

namespace vaec {

// Reads `v` into name, every and gamma (left as they are where not given);
// reports every mistake to `diags`.
void read_schedule(const YNode &v, Diagnostics &diags, std::string &name, double &every, double &gamma);

}  // namespace vaec
