// What a data path holds (contract in describe.h).
#include "data/describe.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "data/feed.h"
#include "support/text.h"

namespace vaec::rt::data {
namespace {

std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

std::string format_name(const Source &s) {
  if (s.format == "idx") return "IDX";
  if (s.format == "png folder") return s.class_names.empty() ? "a folder of PNG images" : "a folder of PNG images in class sub-folders";
  if (s.format == "csv") return "a CSV table";
  return "NumPy ." + s.format;
}

void describe_split(std::ostream &os, const char *name, const Split &s, const Source &src) {
  const Array &x = s.x;
  double lo = INFINITY, hi = -INFINITY;
  bool finite = true;
  const int64_t n = x.count() * x.item_elements();
  for (int64_t i = 0; i < n; ++i) {
    const double v = x.value(i / x.item_elements(), i % x.item_elements());
    if (!std::isfinite(v)) finite = false;
    else lo = std::min(lo, v), hi = std::max(hi, v);
  }
  os << "  " << name << "  " << describe_array(x);
  if (n > 0) os << ", values " << number(lo) << " .. " << number(hi);
  if (!finite) os << " (and non-finite values)";
  os << "\n";
  if (s.y.empty()) {
    os << "    no labels\n";
    return;
  }
  std::map<int32_t, int64_t> counts;
  for (int32_t l : s.y) ++counts[l];
  os << "    labels (" << counts.size() << (counts.size() == 1 ? " class):" : " classes):");
  int shown = 0;
  for (const auto &[label, c] : counts) {
    if (shown++ == 20) {
      os << " ...";
      break;
    }
    os << " " << label;
    if (label >= 0 && label < int32_t(src.class_names.size()) && src.class_names[label] != std::to_string(label))
      os << " (" << src.class_names[label] << ")";
    os << ": " << grouped(c);
  }
  os << "\n";
}

}  // namespace

void describe_source(std::ostream &os, const Source &source, const Source *test, double validation, uint64_t seed) {
  os << source.path << ": " << format_name(source) << "\n";
  describe_split(os, "train", source.train, source);
  if (!source.columns.empty()) {
    os << "    columns:";
    for (const std::string &c : source.columns) os << " " << c;
    os << "\n";
  }
  if (validation > 0) {
    const int64_t held = std::llround(validation * double(source.train.x.count()));
    os << "  validation  " << grouped(held) << " of the training examples (" << number(validation)
       << ", chosen with seed " << seed << "); " << grouped(source.train.x.count() - held) << " left to train on\n";
  }
  const Source &t = test ? *test : source;
  const Split &ts = test ? (test->test.present() ? test->test : test->train) : source.test;
  if (ts.present()) {
    if (test) os << "  (test: " << t.path << ", " << t.format << ")\n";
    describe_split(os, "test ", ts, t);
  } else {
    os << "  no test split" << (validation > 0 ? "" : " (the trainer would report training losses only; set train.test or train.validation)") << "\n";
  }
}

}  // namespace vaec::rt::data
