// What a data path holds: arrays of examples, their labels and their
// splits, read from the formats people keep data in. The trainer, the
// inspection commands and `vaec data` all open data through open_source().
//
//   a directory with MNIST's IDX files   train-images-idx3-ubyte (+ train-labels-idx1-ubyte,
//                                        t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte)
//   an IDX file (any rank, uint8)        e.g. [N, H, W, 3]
//   NAME.npy                             examples, uint8/float32/float64, C order (memory-mapped)
//   NAME.npz                             x (+ y, x_test, y_test, and the arrays of condition
//                                        inputs: NAME, NAME_test); stored or deflated members
//   a directory of PNG images            8-bit grey or RGB, all one size; with class
//                                        sub-folders (torchvision's ImageFolder) they give
//                                        labels: classes sorted by name, files by name
//   NAME.csv                             a table of numbers; an optional header; the label
//                                        column (by name) gives labels
//
// Nothing here trusts a header: every size a file states is checked
// against the file's size before anything is allocated or read, and every
// way a file can be wrong is one message naming it (and, for CSV, the row
// and column), never a crash.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace vaec::rt::data {

// Examples are U8, F32 or F64; label arrays (.npy/.npz `y`) may also be I32
// or I64 (open_source turns them into int32 class indices).
enum class DType { U8, F32, F64, I32, I64 };
const char *dtype_name(DType t);  // "uint8", "float32", "float64", "int32", "int64"
int64_t dtype_size(DType t);

// Keeps an array's bytes alive: a read-only file mapping, or memory a reader
// filled.
struct Storage {
  virtual ~Storage() = default;
};

// `shape[0]` examples of shape[1..], row-major, `bytes` holding
// count() * item_bytes() bytes (not necessarily aligned).
struct Array {
  std::vector<int64_t> shape;
  DType dtype = DType::U8;
  const uint8_t *bytes = nullptr;
  std::shared_ptr<const Storage> storage;

  int64_t count() const { return shape.empty() ? 0 : shape[0]; }
  std::vector<int64_t> item_shape() const { return {shape.begin() + (shape.empty() ? 0 : 1), shape.end()}; }
  int64_t item_elements() const;
  int64_t item_bytes() const { return item_elements() * dtype_size(dtype); }
  // Element `element` of example `example` as a double.
  double value(int64_t example, int64_t element) const;
};

// One split: examples and, when the source has them, one label per example.
struct Split {
  Array x;
  std::vector<int32_t> y;  // empty: no labels
  // Arrays a model reads besides the examples (condition inputs, by name),
  // one row per example: an .npz's NAME (train) and NAME_test (test).
  std::vector<std::pair<std::string, Array>> arrays;
  bool present() const { return x.count() > 0; }
  const Array *array(const std::string &name) const {
    for (const auto &[n, a] : arrays)
      if (n == name) return &a;
    return nullptr;
  }
};

struct Source {
  std::string path;
  std::string format;    // "idx", "npy", "npz", "png folder", "csv"
  Split train;
  Split test;            // !present(): the source has no test split
  int32_t classes = 0;   // labels are 0..classes-1; 0 without labels
  std::vector<std::string> class_names;  // the PNG folder's sub-folders, else empty
  std::vector<std::string> columns;      // a CSV's header (without the label column), else empty
};

struct OpenOptions {
  std::string label_column;  // CSV: the column holding labels; empty: none
  std::vector<std::string> arrays{};  // .npz: members to read besides x, y (and NAME_test)
};

// Opens `path` as above (the format is told by what the path is: a
// directory with MNIST's file names, another directory, the extension, or
// an IDX file's magic number). False with one message on any error.
bool open_source(const std::string &path, const OpenOptions &options, Source &out, std::string &error);

// The readers open_source uses, for tests and tools.
bool read_idx(const std::string &path, Array &out, std::string &error);
bool read_npy(const std::string &path, Array &out, std::string &error);
// The arrays of an .npz, by member name without ".npy".
bool read_npz(const std::string &path, std::vector<std::pair<std::string, Array>> &out, std::string &error);
// The same, reading only the members named in `names` (without ".npy"; empty:
// all). The others are still listed in `out`, with an empty shape and no
// bytes, so that a caller can name them; nothing of them is inflated.
bool read_npz(const std::string &path, const std::vector<std::string> &names,
              std::vector<std::pair<std::string, Array>> &out, std::string &error);
bool read_png_folder(const std::string &dir, Split &out, std::vector<std::string> &class_names, std::string &error);
bool read_csv(const std::string &path, const std::string &label_column, Split &out,
              std::vector<std::string> &columns, std::string &error);

}  // namespace vaec::rt::data
