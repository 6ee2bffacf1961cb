// Helpers shared by the unit tests: load a model or IR from text, collect
// diagnostics as a string.
#pragma once

#include <fstream>
#include <sstream>
#include <string>

#include "frontend/model.h"
#include "ir/parser.h"
#include "ir/printer.h"

namespace vaec::test {

inline std::string read_source_file(const std::string &relative) {
  std::ifstream in(std::string(VAEC_SOURCE_DIR) + "/" + relative);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct Loaded {
  std::optional<Model> model;
  std::string errors;  // printed diagnostics
};

inline Loaded load(const std::string &text, const std::string &file = "t.yaml") {
  SourceManager sm;
  sm.add(file, text);
  Diagnostics diags(&sm);
  Loaded r;
  r.model = load_model(file, text, diags);
  std::ostringstream os;
  diags.print(os);
  r.errors = os.str();
  return r;
}

// A minimal valid model with one extra encoder line spliced in.
inline std::string tiny_model(const std::string &extra_encoder = "", const std::string &losses =
                                                                          "  total: sum(y)\n") {
  return "input: {x: [4]}\nencoder:\n  mu: dense(x, 2)\n" + extra_encoder +
         "decoder:\n  y: dense(mu, 4)\nlosses:\n" + losses;
}

}  // namespace vaec::test
