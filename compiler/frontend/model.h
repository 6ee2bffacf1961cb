// vae.yaml → graph IR. The schema (sections, keys, defaults) lives in
// model.cpp; expressions and layer calls are lowered by lower.cpp/layers.cpp.
//
//   model:   name (default: the file's stem)
//   input:   {name: [per-example dims]}         batch is implicit, images are [C, H, W]
//   encoder, sampler, decoder, losses:  {tensor: expression}
//   train:   {data, batch, epochs, optimizer, seed}
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "support/diagnostics.h"

namespace vaec {

// One line of `vaec summary`: a named tensor of the model.
struct SummaryRow {
  std::string tensor;
  std::string section;
  std::string op;     // "input", "dense+relu", "sigmoid(dense)", "expression", ...
  Dims dims;
  int64_t params = 0; // parameters created by this tensor's expression
};

struct Model {
  Graph graph;
  std::vector<SummaryRow> rows;
  // The graph the inspection programs (encode, decode, nll or logw) are cut
  // from when it is not `graph`: for a model drawing k > 1 samples per
  // example (normal_like(t, samples=k)), the same model lowered with one
  // sample; for a model that declares its densities (distributions.cpp),
  // the model with outputs inspect.logw and inspect.loglik (declared.cpp).
  // Empty otherwise.
  Graph inspection;
};

struct LoadOptions {
  int64_t batch = 0;  // > 0 overrides train.batch
  // Where the bundled data sets are (mnist in DIR/mnist, fashion_mnist in
  // DIR/fashion); empty: $VAEC_DATA_DIR, else the source tree's data/.
  std::string data_dir{};
  bool one_sample = false;  // lower normal_like(t, samples=k) as one sample
};

// The directory of the bundled data sets, as above, made absolute (the plan
// keeps it for a trainer that may run from any directory).
std::string bundled_data_dir(const LoadOptions &options);

// Parses and lowers a model. Reports every error to `diags`; returns nullopt
// when there was any.
std::optional<Model> load_model(const std::string &file, const std::string &text, Diagnostics &diags,
                                const LoadOptions &options = {});

// Sections and train keys, for help texts and "did you mean".
const std::vector<std::string> &model_sections();

}  // namespace vaec
