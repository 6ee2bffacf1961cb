// libFuzzer harness for the files a user hands the trainer: data
// (runtime/data/source.h) and checkpoints (runtime/train/checkpoint.h);
// built and run by run_fuzz.sh with FUZZER=data.
//
// An input is a data path in bytes: its first byte picks the shape of the
// path, the rest is cut at "@@@@" into the files it holds:
//   0  NAME.npy                      1  NAME.npz (read with the array "c" too)
//   2  NAME.csv                      3  NAME.csv with the label column "label"
//   4  an IDX file (plain or gzip)   5  a directory of MNIST's four IDX files
//   6  a directory of PNG files      7  a directory of class folders of PNGs
//   8  a checkpoint: the input's length field and checksum made right
//      first, so that the fuzzer reaches what follows them
// open_source reads a data path as the trainer, the inspection commands and
// `vaec data` do; read_checkpoint a checkpoint as --resume and the
// inspection commands do. Properties (a violation is a crash the fuzzer reports):
//  - nothing throws (no try/catch here: an escaping exception aborts), no
//    sanitizer report and no leak; sizes a file states are checked against
//    the file before anything is allocated (libFuzzer's -rss_limit_mb and
//    -malloc_limit_mb catch an allocation a header asked for);
//  - a failure says why (a non-empty message); a source that opens has
//    examples, each array's bytes hold count x item bytes (every byte is
//    read here, so ASan sees one past the end), and labels lie in
//    [0, classes).
#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "data/source.h"
#include "train/checkpoint.h"

namespace {

[[noreturn]] void fail(const std::string &what) {
  std::fprintf(stderr, "\n=== vaec data fuzz: %s ===\n", what.c_str());
  std::fflush(stderr);
  __builtin_trap();
}

const std::string &scratch() {
  static const std::string dir = [] {
    char pattern[] = "/tmp/vaec_data_fuzz.XXXXXX";
    const char *made = mkdtemp(pattern);
    if (!made) fail("cannot make a scratch directory");
    return std::string(made);
  }();
  static const bool removed_at_exit = std::atexit([] { ::rmdir(scratch().c_str()); }) == 0;
  (void)removed_at_exit;
  return dir;
}

void write_file(const std::string &path, const std::string &bytes) {
  FILE *f = std::fopen(path.c_str(), "wb");
  if (!f) fail("cannot write " + path);
  if (!bytes.empty() && std::fwrite(bytes.data(), 1, bytes.size(), f) != bytes.size()) fail("short write " + path);
  std::fclose(f);
}

// Reads every byte of `a` (ASan reports one past its storage).
void touch(const vaec::rt::data::Array &a) {
  if (a.count() <= 0) return;
  const int64_t n = a.count() * a.item_bytes();
  if (n > 0 && !a.bytes) fail("an array of " + std::to_string(n) + " bytes without bytes");
  volatile uint8_t sum = 0;
  for (int64_t i = 0; i < n; ++i) sum = sum + a.bytes[i];
}

void check_split(const vaec::rt::data::Split &s, int32_t classes) {
  touch(s.x);
  for (const auto &[name, a] : s.arrays) touch(a);
  for (int32_t y : s.y)
    if (y < 0 || y >= classes) fail("label " + std::to_string(y) + " outside [0, " + std::to_string(classes) + ")");
  if (!s.y.empty() && static_cast<int64_t>(s.y.size()) != s.x.count())
    fail(std::to_string(s.y.size()) + " labels for " + std::to_string(s.x.count()) + " examples");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  using namespace vaec::rt::data;
  if (size == 0) return 0;
  const int kind = data[0] % 9;
  std::vector<std::string> parts;
  const std::string rest(reinterpret_cast<const char *>(data + 1), size - 1);
  for (size_t at = 0;;) {
    const size_t cut = rest.find("@@@@", at);
    parts.push_back(rest.substr(at, cut == std::string::npos ? std::string::npos : cut - at));
    if (cut == std::string::npos) break;
    at = cut + 4;
  }
  auto part = [&](size_t i) { return i < parts.size() ? parts[i] : std::string(); };

  const std::string base = scratch() + "/in";
  std::string path;
  OpenOptions options;
  switch (kind) {
  case 0: path = base + ".npy", write_file(path, rest); break;
  case 1: path = base + ".npz", write_file(path, rest), options.arrays = {"c"}; break;
  case 2: path = base + ".csv", write_file(path, rest); break;
  case 3: path = base + ".csv", write_file(path, rest), options.label_column = "label"; break;
  case 4: path = base, write_file(path, rest); break;
  case 5:
    path = base + ".d", ::mkdir(path.c_str(), 0700);
    write_file(path + "/train-images-idx3-ubyte", part(0));
    if (parts.size() > 1) write_file(path + "/train-labels-idx1-ubyte", part(1));
    if (parts.size() > 2) write_file(path + "/t10k-images-idx3-ubyte", part(2));
    if (parts.size() > 3) write_file(path + "/t10k-labels-idx1-ubyte", part(3));
    break;
  case 6:
    path = base + ".d", ::mkdir(path.c_str(), 0700);
    write_file(path + "/a.png", part(0));
    if (parts.size() > 1) write_file(path + "/b.png", part(1));
    break;
  case 8: {
    std::string file = rest;
    constexpr size_t kLength = 16;  // after the magic, the version and the flags
    if (file.size() >= kLength + 8) {
      const uint64_t length = file.size() + 8;
      std::memcpy(file.data() + kLength, &length, 8);
    }
    const uint64_t sum = vaec::rt::fnv1a64(file.data(), file.size());
    file.append(reinterpret_cast<const char *>(&sum), 8);
    path = base + ".bin", write_file(path, file);
    vaec::rt::Checkpoint c;
    std::string error;
    if (vaec::rt::read_checkpoint(path, c, error)) {
      for (const std::vector<float> &r : c.regions)
        if (static_cast<int64_t>(r.size()) != c.param_count) fail("a region of " + std::to_string(r.size()) + " values");
      if (c.data_mean.size() != c.data_std.size()) fail("data means and deviations differ in number");
    } else if (error.empty()) {
      fail("a checkpoint failed without a message");
    }
    std::error_code removed;
    std::filesystem::remove_all(path, removed);
    return 0;
  }
  default:
    path = base + ".d", ::mkdir(path.c_str(), 0700);
    ::mkdir((path + "/cat").c_str(), 0700), ::mkdir((path + "/dog").c_str(), 0700);
    write_file(path + "/cat/a.png", part(0));
    write_file(path + "/dog/" + std::string(parts.size() > 2 ? "b.png" : "a.png"), part(1));
    if (parts.size() > 2) write_file(path + "/cat/b.png", part(2));
    break;
  }

  std::error_code removed;  // a scratch file left behind is no finding
  Source source;
  std::string error;
  if (open_source(path, options, source, error)) {
    if (!source.train.present()) fail("opened without training examples");
    check_split(source.train, source.classes);
    check_split(source.test, source.classes);
  } else if (error.empty()) {
    fail("failed without a message");
  }
  std::filesystem::remove_all(path, removed);
  return 0;
}
