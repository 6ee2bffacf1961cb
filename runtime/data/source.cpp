// open_source: tells the format of a data path and puts its arrays into
// splits; the dtype helpers and Array's accessors (contract in source.h).
//
// The format comes from what the path is, in this order: a directory with
// train-images-idx3-ubyte is an IDX data set (MNIST's four files; labels and
// the t10k split optional); any other directory a PNG folder; a file's
// extension (.npy, .npz, .csv, any case); a file starting with an IDX magic
// number (00 00 08 rank) a single IDX array of examples. The checks every
// format shares live here: examples are uint8/float32/float64 with at least
// one dimension after the count; labels are 1-d uint8/int32/int64, one per
// example, non-negative; a test split's examples look like the training
// split's. Labels on only one of the splits are allowed; `classes` counts
// over both.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "data/source.h"

namespace vaec::rt::data {

const char *dtype_name(DType t) {
  switch (t) {
    case DType::U8: return "uint8";
    case DType::F32: return "float32";
    case DType::F64: return "float64";
    case DType::I32: return "int32";
    case DType::I64: return "int64";
  }
  return "?";
}

int64_t dtype_size(DType t) {
  switch (t) {
    case DType::U8: return 1;
    case DType::F32: case DType::I32: return 4;
    case DType::F64: case DType::I64: return 8;
  }
  return 1;
}

int64_t Array::item_elements() const {
  if (shape.empty()) return 0;
  int64_t n = 1;
  for (size_t i = 1; i < shape.size(); ++i) n *= shape[i];
  return n;
}

double Array::value(int64_t example, int64_t element) const {
  const uint8_t *p = bytes + (example * item_elements() + element) * dtype_size(dtype);
  // memcpy: the bytes of a mapped file or a zip member need not be aligned.
  switch (dtype) {
    case DType::U8: return *p;
    case DType::F32: { float v; std::memcpy(&v, p, 4); return v; }
    case DType::F64: { double v; std::memcpy(&v, p, 8); return v; }
    case DType::I32: { int32_t v; std::memcpy(&v, p, 4); return v; }
    case DType::I64: { int64_t v; std::memcpy(&v, p, 8); return static_cast<double>(v); }
  }
  return 0;
}

namespace {

std::string shape_text(const std::vector<int64_t> &shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? "," : "") + std::to_string(shape[i]);
  return s + "]";
}

// `what` names the array within the source ("x", "t10k-images-idx3-ubyte");
// empty when the source is the one array.
std::string in(const std::string &what) { return what.empty() ? "" : " in " + what; }

bool check_examples(const std::string &where, const std::string &what, const Array &x, std::string &error) {
  if (x.dtype != DType::U8 && x.dtype != DType::F32 && x.dtype != DType::F64)
    return error = where + ": the examples" + in(what) + " are " + dtype_name(x.dtype) +
                   "; examples must be uint8, float32 or float64",
           false;
  if (x.shape.empty())
    return error = where + ": the examples" + in(what) + " are a 0-d array (one number), not an array of examples",
           false;
  if (x.shape.size() == 1)
    return error = where + ": the examples" + in(what) + " are 1-d " + shape_text(x.shape) +
                   "; an array of examples needs a dimension after the count, e.g. [N, 784] or [N, 28, 28]",
           false;
  if (x.count() == 0) return error = where + ": no examples" + in(what) + " (shape " + shape_text(x.shape) + ")", false;
  if (x.item_elements() == 0)
    return error = where + ": the examples" + in(what) + " are empty (shape " + shape_text(x.shape) + ")", false;
  return true;
}

bool take_labels(const std::string &where, const std::string &what, const Array &labels, int64_t examples,
                 std::vector<int32_t> &y, std::string &error) {
  if (labels.dtype != DType::U8 && labels.dtype != DType::I32 && labels.dtype != DType::I64)
    return error = where + ": the labels in " + what + " are " + dtype_name(labels.dtype) +
                   "; labels must be uint8, int32 or int64 class indices",
           false;
  if (labels.shape.size() != 1)
    return error = where + ": the labels in " + what + " have shape " + shape_text(labels.shape) +
                   "; labels must be 1-d, one class index per example",
           false;
  if (labels.count() != examples)
    return error = where + ": " + std::to_string(examples) + " examples but " + std::to_string(labels.count()) +
                   " labels in " + what,
           false;
  y.resize(static_cast<size_t>(examples));
  for (int64_t i = 0; i < examples; ++i) {
    // The integer itself: an int64 label beyond 2^53 does not survive a double.
    const uint8_t *p = labels.bytes + i * dtype_size(labels.dtype);
    int64_t v = *p;
    if (labels.dtype == DType::I32) {
      int32_t v32;
      std::memcpy(&v32, p, 4);
      v = v32;
    } else if (labels.dtype == DType::I64) {
      std::memcpy(&v, p, 8);
    }
    if (v < 0 || v >= 2147483647)
      return error = where + ": label " + std::to_string(v) + " at index " + std::to_string(i) + " in " + what +
                     (v < 0 ? " is negative" : " is too large for a class index"),
             false;
    y[static_cast<size_t>(i)] = static_cast<int32_t>(v);
  }
  return true;
}

bool check_test(const std::string &where, const Array &train, const Array &test, std::string &error) {
  if (test.item_shape() == train.item_shape() && test.dtype == train.dtype) return true;
  return error = where + ": the test examples are " + shape_text(test.item_shape()) + " " + dtype_name(test.dtype) +
                 ", but the training examples are " + shape_text(train.item_shape()) + " " + dtype_name(train.dtype),
         false;
}

bool exists(const std::string &path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

bool open_idx_set(const std::string &dir, Source &s, std::string &error) {
  const std::string base = dir + (dir.empty() || dir.back() == '/' ? "" : "/");
  // One split: images required when `required`, labels optional.
  auto split = [&](const char *prefix, bool required, Split &out) {
    const std::string images = std::string(prefix) + "-images-idx3-ubyte";
    const std::string labels = std::string(prefix) + "-labels-idx1-ubyte";
    if (!required && !exists(base + images)) {
      if (exists(base + labels)) return error = base + labels + ": labels without " + images, false;
      return true;
    }
    if (!read_idx(base + images, out.x, error) || !check_examples(dir, images, out.x, error)) return false;
    if (!exists(base + labels)) return true;
    Array l;
    return read_idx(base + labels, l, error) && take_labels(dir, labels, l, out.x.count(), out.y, error);
  };
  if (!split("train", true, s.train) || !split("t10k", false, s.test)) return false;
  return !s.test.present() || check_test(dir, s.train.x, s.test.x, error);
}

bool open_npz(const std::string &path, const std::vector<std::string> &extra, Source &s, std::string &error) {
  std::vector<std::pair<std::string, Array>> arrays;
  std::vector<std::string> wanted = {"x", "y", "x_test", "y_test"};
  for (const std::string &n : extra) wanted.insert(wanted.end(), {n, n + "_test"});
  if (!read_npz(path, wanted, arrays, error)) return false;
  const Array *x = nullptr, *y = nullptr, *x_test = nullptr, *y_test = nullptr;
  std::string names;
  int listed = 0;
  for (const auto &[name, a] : arrays) {
    if (++listed <= 8) names += (names.empty() ? "" : ", ") + name;
    if (listed == 9) names += ", ...";
    if (name == "x") x = &a;
    if (name == "y") y = &a;
    if (name == "x_test") x_test = &a;
    if (name == "y_test") y_test = &a;
  }
  if (!x)
    return error = path + ": no array named x (" + (names.empty() ? "the archive holds no arrays" : "it holds " + names) +
                   "); save the examples as np.savez(path, x=..., y=...)",
           false;
  if (y_test && !x_test) return error = path + ": y_test without x_test", false;
  if (!check_examples(path, "x", *x, error)) return false;
  s.train.x = *x;
  if (y && !take_labels(path, "y", *y, x->count(), s.train.y, error)) return false;
  if (x_test) {
    if (!check_examples(path, "x_test", *x_test, error) || !check_test(path, *x, *x_test, error)) return false;
    s.test.x = *x_test;
    if (y_test && !take_labels(path, "y_test", *y_test, x_test->count(), s.test.y, error)) return false;
  }
  // Condition arrays: one row of numbers per example of their split.
  for (const std::string &n : extra)
    for (const auto &[name, a] : arrays) {
      const bool test = name == n + "_test";
      if (name != n && !test) continue;
      Split &split = test ? s.test : s.train;
      if (a.dtype == DType::I32 || a.dtype == DType::I64 || a.shape.empty())
        return error = path + ": array " + name + " is " + dtype_name(a.dtype) + " of rank " +
                       std::to_string(a.shape.size()) + "; a condition is rows of numbers (uint8, float32 or "
                       "float64), one per example",
               false;
      if (!split.present() || a.count() != split.x.count())
        return error = path + ": array " + name + " has " + std::to_string(a.count()) + " rows for the " +
                       std::to_string(split.x.count()) + " examples of " + (test ? "x_test" : "x"),
               false;
      split.arrays.emplace_back(n, a);
    }
  return true;
}

// A regular file whose first bytes are 00 00 08 RANK with RANK 1..4.
bool starts_like_idx(const std::string &path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return false;
  unsigned char magic[4];
  // Any 00 00 start: read_idx says what is wrong with a type or rank it
  // does not take.
  // (gzip's 1f 8b too: MNIST's downloads are gzipped IDX files.)
  const bool idx = ::read(fd, magic, 4) == 4 && ((magic[0] == 0 && magic[1] == 0) || (magic[0] == 0x1f && magic[1] == 0x8b));
  ::close(fd);
  return idx;
}

const char *kAccepted =
    "vaec reads a directory of MNIST IDX files (train-images-idx3-ubyte, ...), a directory of PNG images "
    "(class sub-folders give labels), an IDX file, NAME.npy, NAME.npz or NAME.csv";

}  // namespace

bool open_source(const std::string &path, const OpenOptions &options, Source &out, std::string &error) {
  struct stat st {};
  if (path.empty()) return error = std::string("no data path given; ") + kAccepted, false;
  if (::stat(path.c_str(), &st) != 0) return error = path + ": cannot open: " + std::strerror(errno), false;
  Source s;
  s.path = path;
  std::string ext;
  if (S_ISDIR(st.st_mode)) {
    const std::string base = path + (path.back() == '/' ? "" : "/");
    s.format = exists(base + "train-images-idx3-ubyte") ? "idx" : "png folder";
  } else if (S_ISREG(st.st_mode)) {
    const size_t slash = path.find_last_of('/'), dot = path.find_last_of('.');
    if (dot != std::string::npos && (slash == std::string::npos || dot > slash)) ext = path.substr(dot);
    std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
    if (ext == ".npy" || ext == ".npz" || ext == ".csv") s.format = ext.substr(1);
    else if (starts_like_idx(path)) s.format = "idx";
    else return error = path + ": not a data file of a format vaec knows; " + kAccepted, false;
  } else {
    return error = path + ": is not a regular file or a directory (a pipe or device?); " + kAccepted, false;
  }
  if (!options.label_column.empty() && s.format != "csv")
    return error = path + ": a label column ('" + options.label_column + "') applies to CSV files; this is " +
                   (s.format == "idx"    ? "IDX data"
                    : s.format == "npy"  ? "an .npy file"
                    : s.format == "npz"  ? "an .npz file"
                                         : "a folder of PNG images"),
           false;

  if (s.format == "idx" && S_ISDIR(st.st_mode)) {
    if (!open_idx_set(path, s, error)) return false;
  } else if (s.format == "idx") {
    if (!read_idx(path, s.train.x, error) || !check_examples(path, "", s.train.x, error)) return false;
  } else if (s.format == "npy") {
    if (!read_npy(path, s.train.x, error) || !check_examples(path, "", s.train.x, error)) return false;
  } else if (s.format == "npz") {
    if (!open_npz(path, options.arrays, s, error)) return false;
  } else if (s.format == "png folder") {
    if (!read_png_folder(path, s.train, s.class_names, error)) return false;
  } else {
    if (!read_csv(path, options.label_column, s.train, s.columns, error) ||
        !check_examples(path, "", s.train.x, error))
      return false;
  }
  int32_t top = -1;
  for (const Split *split : {&s.train, &s.test})
    for (int32_t l : split->y) top = std::max(top, l);
  s.classes = top + 1;
  out = std::move(s);
  return true;
}

}  // namespace vaec::rt::data
