// What a training run leaves in its output directory (metrics files, the
// loss curve) and the non-finite scan the trainer runs after every step.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>

#include "exec/finite.h"
#include "support/image.h"
#include "train/run_files.h"
#include "exec/zero_columns.h"

namespace vaec::rt {
namespace {

std::string read_text(const std::string &path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::string fresh_dir(const std::string &name) {
  const std::string dir = ::testing::TempDir() + "/" + name;
  std::filesystem::remove_all(dir);
  return dir;
}

MetricsRow row(int64_t epoch) {
  return {epoch, uint64_t(epoch) * 468, {100.0 / epoch, 90.0 / epoch, 10.0}, {99.5, 89.25, 10.25}, 48689.14, 1.3125};
}

void add(RunFiles &files, LossHistory &h, int64_t epoch) {
  const MetricsRow r = row(epoch);
  h.rows.push_back({r.epoch, r.train, r.test});
  std::string error;
  ASSERT_TRUE(files.add_epoch(r, h, error)) << error;
}

TEST(RunFiles, MetricsRowsAndTheLossCurve) {
  const std::string dir = fresh_dir("run_files");
  std::string error;
  ASSERT_TRUE(make_directories(dir + "/a/b", error)) << error;
  RunFiles files(dir + "/a/b", {"total", "recon", "kl"}, "m: loss per example");
  ASSERT_TRUE(files.start(false, 0, error)) << error;
  LossHistory h;
  h.names = {"total", "recon", "kl"};
  add(files, h, 1);
  MetricsRow no_train = row(2);
  no_train.train = {NAN, NAN, NAN};
  h.rows.push_back({2, no_train.train, no_train.test});
  ASSERT_TRUE(files.add_epoch(no_train, h, error)) << error;
  EXPECT_EQ(read_text(dir + "/a/b/metrics.csv"),
            "epoch,step,train_total,train_recon,train_kl,test_total,test_recon,test_kl,images_per_sec,seconds\n"
            "1,468,100,90,10,99.5,89.25,10.25,48689.1,1.312\n"
            "2,936,,,,99.5,89.25,10.25,48689.1,1.312\n");
  EXPECT_EQ(read_text(dir + "/a/b/metrics.jsonl"),
            "{\"epoch\": 1, \"step\": 468, \"train\": {\"total\": 100, \"recon\": 90, \"kl\": 10}, "
            "\"test\": {\"total\": 99.5, \"recon\": 89.25, \"kl\": 10.25}, \"images_per_sec\": 48689.1, \"seconds\": 1.312}\n"
            "{\"epoch\": 2, \"step\": 936, \"train\": {\"total\": null, \"recon\": null, \"kl\": null}, "
            "\"test\": {\"total\": 99.5, \"recon\": 89.25, \"kl\": 10.25}, \"images_per_sec\": 48689.1, \"seconds\": 1.312}\n");
  Image curve;
  ASSERT_TRUE(read_png(dir + "/a/b/loss_curve.png", curve, error)) << error;
  EXPECT_EQ(curve.channels, 3);
  EXPECT_EQ(curve.width, 2 * 12 + 3 * 440);
  for (const auto &e : std::filesystem::directory_iterator(dir + "/a/b"))  // no temporary file is left
    EXPECT_EQ(e.path().filename().string().find(".tmp"), std::string::npos) << e.path();
}

TEST(RunFiles, ResumeKeepsTheRowsUpToTheCheckpoint) {
  const std::string dir = fresh_dir("run_files_resume");
  std::string error;
  ASSERT_TRUE(make_directories(dir, error)) << error;
  RunFiles files(dir, {"total"}, "t");
  ASSERT_TRUE(files.start(false, 0, error)) << error;
  LossHistory h;
  h.names = {"total"};
  for (int e = 1; e <= 12; ++e) add(files, h, e);
  // Resuming from epoch 10's checkpoint drops epochs 11 and 12 (and would
  // drop a partial epoch 11 too).
  ASSERT_TRUE(files.start(true, 10, error)) << error;
  std::string csv = read_text(dir + "/metrics.csv"), jsonl = read_text(dir + "/metrics.jsonl");
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 11);
  EXPECT_EQ(std::count(jsonl.begin(), jsonl.end(), '\n'), 10);
  EXPECT_NE(csv.find("\n10,4680,"), std::string::npos) << csv;
  EXPECT_EQ(csv.find("\n11,"), std::string::npos) << csv;
  EXPECT_NE(jsonl.find("{\"epoch\": 10, "), std::string::npos);
  EXPECT_EQ(jsonl.find("{\"epoch\": 11, "), std::string::npos);
  // A fresh start empties them.
  ASSERT_TRUE(files.start(false, 0, error)) << error;
  EXPECT_EQ(read_text(dir + "/metrics.csv"), "epoch,step,train_total,test_total,images_per_sec,seconds\n");
  EXPECT_EQ(read_text(dir + "/metrics.jsonl"), "");
  // Another model's metrics (another header) are not kept on resume.
  std::ofstream(dir + "/metrics.csv") << "epoch,step,train_other\n1,2,3\n";
  ASSERT_TRUE(files.start(true, 5, error)) << error;
  EXPECT_EQ(read_text(dir + "/metrics.csv"), "epoch,step,train_total,test_total,images_per_sec,seconds\n");
}

TEST(RunFiles, UnwritableDirectoriesAreMessages) {
  const std::string dir = fresh_dir("run_files_bad");
  std::string error;
  ASSERT_TRUE(make_directories(dir, error)) << error;
  std::ofstream(dir + "/file") << "x";
  EXPECT_FALSE(make_directories(dir + "/file", error));
  EXPECT_EQ(error, dir + "/file: not a directory (pass --out DIR)");
  EXPECT_FALSE(make_directories(dir + "/file/sub", error));
  EXPECT_EQ(error, dir + "/file/sub: cannot create the output directory: Not a directory");
  RunFiles files(dir + "/missing", {"total"}, "t");
  EXPECT_FALSE(files.start(false, 0, error));
  EXPECT_EQ(error, dir + "/missing/metrics.csv: cannot create a temporary file beside it: No such file or directory");
  // A metrics file that is a directory is a message on resume (no exception).
  std::filesystem::create_directories(dir + "/metrics.csv");
  RunFiles here(dir, {"total"}, "t");
  EXPECT_FALSE(here.start(true, 3, error));
  EXPECT_EQ(error, dir + "/metrics.csv: is a directory, not a metrics file");
}

// A kill or a full disk during an append leaves a torn last row; a resume
// drops it, and keeps each epoch once, in order.
TEST(RunFiles, ResumeDropsATornLastRow) {
  const std::string dir = fresh_dir("run_files_torn");
  std::string error;
  ASSERT_TRUE(make_directories(dir, error)) << error;
  const std::string header = "epoch,step,train_total,test_total,images_per_sec,seconds\n";
  std::ofstream(dir + "/metrics.csv") << header << "1,10,5,4,100.0,1.0\n2,20,4,3,100.0,1.0\n3,30,3";
  std::ofstream(dir + "/metrics.jsonl") << "{\"epoch\": 1, \"step\": 10}\n{\"epoch\": 2, \"step\": 20}\n{\"epoch\": 3, \"st";
  RunFiles files(dir, {"total"}, "t");
  ASSERT_TRUE(files.start(true, 3, error)) << error;
  EXPECT_EQ(read_text(dir + "/metrics.csv"), header + "1,10,5,4,100.0,1.0\n2,20,4,3,100.0,1.0\n");
  EXPECT_EQ(read_text(dir + "/metrics.jsonl"), "{\"epoch\": 1, \"step\": 10}\n{\"epoch\": 2, \"step\": 20}\n");
  // A row cut short but ended by a newline (fields missing, or an epoch's
  // digits alone) is dropped too, as is a repeated epoch.
  std::ofstream(dir + "/metrics.csv") << header << "1,10,5,4,100.0,1.0\n1\n2,20,4\n1,10,5,4,100.0,1.0\n";
  std::ofstream(dir + "/metrics.jsonl") << "{\"epoch\": 1, \"step\": 10}\n{\"epoch\": 2, \"s\n";
  ASSERT_TRUE(files.start(true, 3, error)) << error;
  EXPECT_EQ(read_text(dir + "/metrics.csv"), header + "1,10,5,4,100.0,1.0\n");
  EXPECT_EQ(read_text(dir + "/metrics.jsonl"), "{\"epoch\": 1, \"step\": 10}\n");
}

// Planted symlinks at the temporary names of the old scheme and at the
// files themselves: every target stays as it was.
TEST(RunFiles, WritesNeverFollowAPlantedSymlink) {
  const std::string dir = fresh_dir("run_files_symlinks");
  std::string error;
  ASSERT_TRUE(make_directories(dir, error)) << error;
  const std::string victim = dir + "/victim";
  std::ofstream(victim) << "precious";
  for (const char *name : {"metrics.csv.tmp", "metrics.jsonl.tmp", "loss_curve.png.tmp", "loss_curve.png"})
    std::filesystem::create_symlink(victim, dir + "/" + name);
  RunFiles files(dir, {"total"}, "t");
  ASSERT_TRUE(files.start(false, 0, error)) << error;
  LossHistory h;
  h.names = {"total"};
  add(files, h, 1);
  EXPECT_EQ(read_text(victim), "precious");
  EXPECT_FALSE(std::filesystem::is_symlink(dir + "/loss_curve.png"));
  // A symlink put in place of a metrics file mid-run is refused, not appended to.
  std::filesystem::remove(dir + "/metrics.csv");
  std::filesystem::create_symlink(victim, dir + "/metrics.csv");
  MetricsRow row;
  row.epoch = 2;
  EXPECT_FALSE(files.add_epoch(row, h, error));
  EXPECT_EQ(error, dir + "/metrics.csv: cannot open: it is a symbolic link");
  EXPECT_EQ(read_text(victim), "precious");
}

TEST(AllFinite, FindsEveryKindAnywhere) {
  std::vector<float> v(200'003, 1.5f);
  v[7] = std::numeric_limits<float>::max();
  v[8] = std::numeric_limits<float>::denorm_min();
  v[9] = -0.0f;
  EXPECT_TRUE(all_finite(v.data(), static_cast<int64_t>(v.size())));
  EXPECT_TRUE(all_finite(v.data(), 0));
  for (float bad : {NAN, -NAN, INFINITY, -INFINITY})
    for (size_t at : {size_t{0}, size_t{65535}, size_t{65536}, size_t{131071}, v.size() - 1}) {
      std::vector<float> w = v;
      w[at] = bad;
      EXPECT_FALSE(all_finite(w.data(), static_cast<int64_t>(w.size()))) << bad << " at " << at;
      EXPECT_TRUE(all_finite(w.data(), static_cast<int64_t>(at)));  // just before it
    }
}

// The gate's bound and all_finite rest on it: the largest magnitude exactly,
// wherever it sits (vector body or tail), and +inf for any NaN or infinity.
TEST(MaxAbs, LargestMagnitudeOrInfinity) {
  std::vector<float> v(1'003, 0.25f);
  EXPECT_EQ(max_abs(v.data(), 0), 0.0f);
  EXPECT_EQ(max_abs(v.data(), static_cast<int64_t>(v.size())), 0.25f);
  for (size_t at : {size_t{0}, size_t{15}, size_t{16}, size_t{999}, v.size() - 1}) {
    std::vector<float> w = v;
    w[at] = -7.5f;
    EXPECT_EQ(max_abs(w.data(), static_cast<int64_t>(w.size())), 7.5f) << at;
    w[at] = std::numeric_limits<float>::max();
    EXPECT_EQ(max_abs(w.data(), static_cast<int64_t>(w.size())), std::numeric_limits<float>::max()) << at;
    for (float bad : {NAN, -NAN, INFINITY, -INFINITY}) {
      w[at] = bad;
      EXPECT_EQ(max_abs(w.data(), static_cast<int64_t>(w.size())), INFINITY) << bad << " at " << at;
    }
  }
  const float tiny[] = {std::numeric_limits<float>::denorm_min(), -0.0f};
  EXPECT_EQ(max_abs(tiny, 2), std::numeric_limits<float>::denorm_min());
  // bfloat16 values: the same as f32 values of their bits.
  std::vector<uint16_t> b(37, 0x3e80);  // 0.25
  EXPECT_EQ(max_abs_bf16(b.data(), 0), 0.0f);
  EXPECT_EQ(max_abs_bf16(b.data(), 37), 0.25f);
  b[36] = 0xc0f0;  // -7.5
  EXPECT_EQ(max_abs_bf16(b.data(), 37), 7.5f);
  b[3] = 0x7f7f;
  EXPECT_EQ(max_abs_bf16(b.data(), 37), 0x1.fep127f);
  for (uint16_t bad : {0x7f80, 0xff80, 0x7fc0, 0xffc1}) {
    b[3] = bad;
    EXPECT_EQ(max_abs_bf16(b.data(), 37), INFINITY) << std::hex << bad;
  }
}

// The column copies the executor uses to leave zero columns of image data
// out of products, at widths around the 16-column blocks: any nonzero bit
// (-0.0 too) keeps a column; compress keeps the kept ones in order and pads
// with zeros; expand puts them back with zeros elsewhere.
TEST(ZeroColumns, FindsCompressesAndExpandsKeptColumns) {
  for (int64_t cols : {1, 15, 16, 17, 37, 64, 784}) {
    const int64_t rows = 5;
    std::vector<float> x(rows * cols, 0.0f);
    std::vector<bool> want(cols);
    for (int64_t j = 0; j < cols; ++j) {
      const int64_t r = j % rows;
      if (j % 3 == 1) x[r * cols + j] = 1.5f + j, want[j] = true;
      if (j % 7 == 5) x[r * cols + j] = -0.0f, want[j] = true;
      if (j >= 16 && j < 32) x[r * cols + j] = -2.0f, want[j] = true;  // a whole block kept
    }
    std::vector<uint32_t> acc(cols, 0);
    or_columns(x.data(), rows, cols, cols, acc.data());
    KeptColumns k;
    kept_columns(acc.data(), cols, k);
    int64_t kept = 0;
    for (int64_t j = 0; j < cols; ++j) {
      EXPECT_EQ(k.has(j), want[j]) << cols << ":" << j;
      kept += want[j];
    }
    ASSERT_EQ(k.kept, kept) << cols;
    const int64_t padded = (kept + 15) / 16 * 16 + 16;
    std::vector<float> packed(rows * padded, 9.0f), back(rows * cols, 9.0f);
    compress_columns(x.data(), rows, cols, k, packed.data(), padded, padded);
    for (int64_t r = 0; r < rows; ++r) {
      int64_t at = 0;
      for (int64_t j = 0; j < cols; ++j)
        if (want[j]) {
          const float got = packed[r * padded + at++], expect = x[r * cols + j];
          EXPECT_EQ(std::memcmp(&got, &expect, 4), 0) << cols << ":" << r << "," << j;
        }
      for (; at < padded; ++at) EXPECT_EQ(packed[r * padded + at], 0.0f) << cols << ": padding";
    }
    expand_columns(packed.data(), rows, padded, k, back.data(), cols);
    EXPECT_EQ(std::memcmp(back.data(), x.data(), x.size() * 4), 0) << cols;
  }
}

}  // namespace
}  // namespace vaec::rt
