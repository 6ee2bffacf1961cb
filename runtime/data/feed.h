// The data a model trains and is inspected on: the plan's data settings
// (the YAML's train section: data, test, validation, scale, binarize,
// standardize, label), the splits they make of the sources (source.h), and
// how one stored example becomes one f32 row of the model's input.
//
// Splits. train is the source's training split, less the validation
// fraction when there is one; eval is what the trainer scores each epoch:
// the validation examples, else the test split (`test` PATH, else the
// source's own), else nothing (the trainer says so and reports train
// losses only). The validation examples are a seeded choice: the first
// round(fraction * N) of a Fisher-Yates permutation of 0..N-1 drawn with
// the seed (mt19937_64), kept in file order.
//
// Layout. A stored example of shape S becomes the model's input of shape M:
//   S == M                                  as stored
//   S == [H, W, C] and M == [C, H, W]       channels-last to channels-first (PNG, most .npy)
//   S == [H, W] and M == [1, H, W]          a grey image
//   M == [D] and D == the elements of S     flattened, a channels-last image as [C, H, W] first
//   S == [D] and D == the elements of M     a flat row shaped as the model's input
// Anything else is an error naming the file, its shape and dtype, and the
// model's input.
//
// Transform, in this order, per element v (computed in f32):
//   scale        v * scale; scale "auto" is 1/255 for uint8 data, 1 for float data
//   standardize  (v - mean[j]) / std[j], j the element of the row; mean and std
//                over the training split (std 0 counts as 1); they are part of the
//                checkpoint, so inspection uses the training run's values
//   binarize     static: v > 0.5 ? 1 : 0
//                dynamic: u < v ? 1 : 0, u uniform in [0, 1) drawn per element from
//                Philox4x32-10 with key = the seed and counter = (element / 4,
//                example, epoch, 0xB1 << 24); word element % 4, u = (w >> 8) / 2^24.
//                `example` is the example's index in its array (not in a batch
//                or a split), so the bits of an example do not depend on the
//                order, the batch or who reads it; training epochs count from 1
//                and evaluation and inspection draw with epoch 0, the same bits
//                every time.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "data/source.h"

namespace vaec::rt::data {

enum class Binarize { None, Static, Dynamic };

struct Settings {
  std::string data;           // the YAML's train.data: mnist, fashion_mnist or a path
  std::string path;           // where it is (absolute unless given so on a command line)
  std::string test_path;      // empty: the source's own test split
  double validation = 0;      // fraction of the training split held out
  double scale = 0;           // 0: auto
  Binarize binarize = Binarize::None;
  bool standardize = false;
  std::string label_column;   // CSV only
  std::vector<std::string> arrays;  // the model's condition inputs: arrays of the data by name
  uint64_t seed = 1;
};

// The settings in a plan's config (keys data, data_path, test_path,
// validation, scale, binarize, standardize, label, seed).
bool settings_from_config(const std::map<std::string, std::string> &config, Settings &out, std::string &error);
// The model's input as a plan's config states it (keys input, input_shape).
bool model_input_from_config(const std::map<std::string, std::string> &config, std::string &name,
                             std::vector<int64_t> &shape, std::string &error);
// The config lines of `s` (the inverse of settings_from_config, without seed).
std::map<std::string, std::string> settings_to_config(const Settings &s);
const char *binarize_name(Binarize b);  // "none", "static", "dynamic"

// Per-element statistics of standardize.
struct Standardization {
  std::vector<float> mean, std;  // one per element of the model's row; empty: not standardized
};

// How a stored example becomes a model row.
struct Layout {
  std::vector<int64_t> stored, model;
  std::vector<int32_t> from;  // model element i = stored element from[i]; empty: the same order
  std::string how;            // "as stored", "channels-last to [C, H, W]", ...
};
// False with a message naming `file` when S does not fit M (see above).
bool fit_layout(const Array &x, const std::string &file, const std::string &input_name,
                const std::vector<int64_t> &model_shape, Layout &out, std::string &error);

// Examples of one split as the model sees them.
class Feed {
 public:
  Feed() = default;
  Feed(const Split *split, std::vector<int64_t> examples, const Layout *layout, float scale, Binarize binarize,
       const Standardization *standard, uint64_t seed);

  int64_t count() const { return static_cast<int64_t>(examples_.size()); }
  bool has_labels() const { return split_ && !split_->y.empty(); }
  int32_t label(int64_t i) const { return split_->y[examples_[i]]; }
  int64_t row() const;

  // Writes the rows of this feed's examples which[0..n) into dst (n rows of
  // row() floats), transformed as above; dynamic binarization draws with
  // `epoch`. With `rounded`, each row rounded to bfloat16 as well
  // (abi/bf16_rounding.h), the copy bf16 products read.
  void fill(const int64_t *which, int64_t n, float *dst, int64_t epoch, int threads = 1,
            uint16_t *rounded = nullptr) const;
  // True when the examples are uint8 taken as stored (no layout change, scale
  // auto, no standardize or binarize): then fill_bytes copies their raw
  // bytes, what a plan with a u8 input (a hand-made one) takes.
  bool raw_bytes() const;
  // One-hot rows (n x classes) of the labels of examples which[0..n); the
  // caller has checked that labels exist and are below `classes`.
  void fill_labels(const int64_t *which, int64_t n, int64_t classes, float *dst) const;
  // The first label >= classes, or -1.
  int32_t label_beyond(int64_t classes) const;
  // Rows (n x row) of condition array `name` for examples which[0..n), as
  // stored (not scaled or transformed); the caller checked has_array().
  void fill_array(const std::string &name, const int64_t *which, int64_t n, int64_t row, float *dst) const;
  // "" when this feed's split has array `name` with `row` numbers per
  // example, else why not.
  std::string check_array(const std::string &name, int64_t row) const;
  void fill_bytes(const int64_t *which, int64_t n, uint8_t *dst) const;

 private:
  const Split *split_ = nullptr;
  std::vector<int64_t> examples_;  // indices into split_->x
  const Layout *layout_ = nullptr;
  float scale_ = 1;
  Binarize binarize_ = Binarize::None;
  const Standardization *standard_ = nullptr;
  uint64_t seed_ = 1;
};

// Everything a run reads. Not movable: the feeds point into it.
struct Data {
  Settings settings;
  Source source, test_source;   // test_source: train.test's, when given
  Layout layout, test_layout;
  Standardization standard;
  Feed train, eval, test;       // eval: validation, else test; test: the test split (may be empty)
  std::string eval_name;        // "validation", "test" or "" (none)
  const Source &test_owner() const { return settings.test_path.empty() ? source : test_source; }

  Data() = default;
  Data(const Data &) = delete;
  Data &operator=(const Data &) = delete;
};

// Opens the settings' sources, checks them against the model's input
// (`input_name`, per-example `model_shape`) and makes the feeds. With
// `stored` non-null (a checkpoint's statistics) standardize uses it instead
// of computing it.
bool load_data(const Settings &settings, const std::string &input_name, const std::vector<int64_t> &model_shape,
               const Standardization *stored, Data &out, std::string &error);

// "60,000 × [28, 28] uint8"
std::string describe_array(const Array &x);

}  // namespace vaec::rt::data
