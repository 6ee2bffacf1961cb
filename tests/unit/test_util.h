// Helpers shared by the unit tests: load a model or IR from text, collect
// diagnostics as a string.
#pragma once

#include <fstream>
#include <sstream>
#include <string>
#include <vector>
#include <algorithm>
#include <cstdint>
#include <random>

#include "data/source.h"
#include "frontend/model.h"
#include "ir/parser.h"
#include "ir/printer.h"

namespace vaec::test {

// n floats uniform in [-1, 1), the same for the same seed.
inline std::vector<float> random_floats(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1, 1);
  std::vector<float> v(n);
  for (float &x : v) x = u(rng);
  return v;
}

// The test images of a bundled data set (e.g. "data/mnist"), raw bytes;
// empty with `error` set when they cannot be read.
inline std::vector<uint8_t> idx_test_images(const std::string &dir, std::string &error) {
  rt::data::Array a;
  if (!rt::data::read_idx(std::string(VAEC_SOURCE_DIR) + "/" + dir + "/t10k-images-idx3-ubyte", a, error)) return {};
  return {a.bytes, a.bytes + a.count() * a.item_bytes()};
}

// Pixels as the runtime feeds them to a model (data/feed.h): byte * (1/255) in f32.
inline std::vector<float> pixel_rows(const std::vector<uint8_t> &bytes, size_t first = 0, size_t count = SIZE_MAX) {
  count = std::min(count, bytes.size() - std::min(first, bytes.size()));
  std::vector<float> out(count);
  for (size_t i = 0; i < count; ++i) out[i] = float(bytes[first + i]) * float(1.0 / 255.0);
  return out;
}

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
