// Metrics files and the loss-curve picture (contract in run_files.h).
#include "train/run_files.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "support/files.h"
#include "support/image.h"
#include "support/json.h"

namespace vaec::rt {
namespace {

std::string number(double v, const char *format, const char *missing) {
  if (!std::isfinite(v)) return missing;
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}


// The epoch a metrics line is about: the number after `prefix`, or -1.
int64_t epoch_of(const std::string &line, const std::string &prefix) {
  if (line.compare(0, prefix.size(), prefix) != 0) return -1;
  const char *start = line.c_str() + prefix.size();
  char *end = nullptr;
  const long long v = std::strtoll(start, &end, 10);
  return end == start ? -1 : v;
}

// A metrics file holds a row per epoch, at most a million of them.
constexpr uint64_t kMaxMetricsBytes = uint64_t{1} << 30;
const char *const kCsv = "metrics.csv", *const kJsonl = "metrics.jsonl", *const kCurve = "loss_curve.png";
const std::string kJsonPrefix = "{\"epoch\": ";

}  // namespace

bool make_directories(const std::string &dir, std::string &error) {
  if (dir.empty()) return error = "the output directory is an empty name", false;
  for (size_t i = 1; i <= dir.size(); ++i) {
    if (i < dir.size() && dir[i] != '/') continue;
    const std::string prefix = dir.substr(0, i);
    if (::mkdir(prefix.c_str(), 0777) != 0 && errno != EEXIST)
      return error = prefix + ": cannot create the output directory: " + std::strerror(errno), false;
  }
  struct stat st{};
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    return error = dir + ": not a directory (pass --out DIR)", false;
  return true;
}

RunFiles::RunFiles(std::string dir, std::vector<std::string> loss_names, std::string title)
    : dir_(std::move(dir)), title_(std::move(title)), names_(std::move(loss_names)) {}

bool RunFiles::start(bool resume, int64_t last_epoch, std::string &error) {
  std::string header = "epoch,step";
  for (const char *split : {"train", "test"})
    for (const std::string &n : names_) header += std::string(",") + split + "_" + n;
  header += ",images_per_sec,seconds";
  return rewrite(kCsv, header, resume ? last_epoch : -1, error) && rewrite(kJsonl, "", resume ? last_epoch : -1, error);
}

// Keeps `header` and the existing rows of epochs up to `last_epoch` (none
// when it is -1 or the file has another header). A row is kept only whole:
// ended by a newline, with the header's number of fields (CSV) or closed by
// '}' (JSON), and after the rows of earlier epochs; a kill or a full disk in
// the middle of an append leaves a torn last row, which is dropped.
bool RunFiles::rewrite(const std::string &file, const std::string &header, int64_t last_epoch, std::string &error) {
  std::string kept = header.empty() ? "" : header + "\n";
  struct stat st {};
  if (last_epoch >= 0 && ::lstat(path(file).c_str(), &st) == 0) {
    std::string text;
    if (!read_regular(path(file), "a metrics file", kMaxMetricsBytes, text, error)) return false;
    const size_t fields = std::count(header.begin(), header.end(), ',');
    int64_t previous = 0;
    bool first = true;
    for (size_t start = 0, end; (end = text.find('\n', start)) != std::string::npos; start = end + 1) {
      const std::string line = text.substr(start, end - start);
      if (first && !header.empty()) {
        first = false;
        if (line != header) break;  // another model's file: start afresh
        continue;
      }
      first = false;
      const bool whole = header.empty() ? !line.empty() && line.back() == '}'
                                        : static_cast<size_t>(std::count(line.begin(), line.end(), ',')) == fields;
      const int64_t epoch = header.empty() ? epoch_of(line, kJsonPrefix) : epoch_of(line, "");
      if (whole && epoch > previous && epoch <= last_epoch) kept += line + "\n", previous = epoch;
    }
  }
  return replace_file(path(file), kept, false, error);
}

bool RunFiles::append(const std::string &file, const std::string &line, std::string &error) {
  return append_file(path(file), line, error);
}

bool RunFiles::add_epoch(const MetricsRow &row, const LossHistory &history, std::string &error) {
  auto value = [](const std::vector<double> &v, size_t i) { return i < v.size() ? v[i] : NAN; };
  std::string csv = std::to_string(row.epoch) + "," + std::to_string(row.step);
  std::string json = kJsonPrefix + std::to_string(row.epoch) + ", \"step\": " + std::to_string(row.step);
  for (const auto &[split, values] : {std::pair{"train", &row.train}, {"test", &row.test}}) {
    json += std::string(", \"") + split + "\": {";
    for (size_t i = 0; i < names_.size(); ++i) {
      csv += "," + number(value(*values, i), "%.9g", "");
      json += (i ? ", " : "") + json_string(names_[i]) + ": " + number(value(*values, i), "%.9g", "null");
    }
    json += "}";
  }
  csv += "," + number(row.images_per_sec, "%.1f", "") + "," + number(row.seconds, "%.3f", "") + "\n";
  json += ", \"images_per_sec\": " + number(row.images_per_sec, "%.1f", "null") +
          ", \"seconds\": " + number(row.seconds, "%.3f", "null") + "}\n";
  return append(kCsv, csv, error) && append(kJsonl, json, error) &&
         write_png(path(kCurve), plot_loss_curves(history, title_), error);
}

}  // namespace vaec::rt
