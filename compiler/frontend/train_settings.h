// The train section of vae.yaml: every key read into the graph's config (the
// plan's `config` lines), defaults for the keys not given, every mistake
// reported; and train.schedule, a small language of its own.
#pragma once

#include <cstdint>
#include <string>

#include "frontend/yaml_tree.h"
#include "ir/graph.h"
#include "support/diagnostics.h"

namespace vaec {

// What the section's defaults come from outside the file.
struct TrainPlaces {
  std::string bundled_data;  // the bundled data sets' folder (model.h bundled_data_dir)
  int64_t batch = 0;         // > 0: the batch, whatever train.batch says (vaec compile --batch)
};

// What lowering needs from the section besides the config entries.
struct TrainSection {
  int64_t batch = 128;            // TrainPlaces::batch when > 0, else train.batch
  std::string init = "pytorch";   // train.init
};

// `t` is the section (null when absent); `file` the model's path, which
// relative data paths start from. Appends the config entries.
TrainSection read_train(const YNode *t, const std::string &file, const TrainPlaces &places, Diagnostics &diags,
                        Attrs &config);

// train.schedule: constant | cosine | step(every=N, gamma=G), the learning
// rate's factor (runtime/train/trainer.h says how each follows the steps).
// Reads `v` into name, every and gamma (left as they are where not given);
// reports every mistake to `diags`.
void read_schedule(const YNode &v, Diagnostics &diags, std::string &name, double &every, double &gamma);

}  // namespace vaec
