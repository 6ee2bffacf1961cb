// The runtime's IDX reader on the real MNIST files (fetched by setup.sh) and on
// damaged slices of them.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <numeric>

#include "train/idx.h"

using namespace vaec::rt;

namespace {

const std::string kMnist = std::string(VAEC_SOURCE_DIR) + "/data/mnist";

std::string slurp(const std::string &path, size_t max_bytes) {
  std::ifstream in(path, std::ios::binary);
  std::string s(max_bytes, '\0');
  in.read(s.data(), static_cast<std::streamsize>(max_bytes));
  s.resize(static_cast<size_t>(in.gcount()));
  return s;
}

std::string write_temp(const std::string &name, const std::string &bytes) {
  std::string path = ::testing::TempDir() + "/" + name;
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

}  // namespace

TEST(Idx, ReadsTheRealMnistTestSet) {
  IdxDataset test;
  std::string error;
  ASSERT_TRUE(read_idx_dataset(kMnist, "t10k", test, error)) << error << " (run scripts/setup.sh)";
  EXPECT_EQ(test.images.dims, (std::vector<int64_t>{10000, 28, 28}));
  EXPECT_EQ(test.labels.count(), 10000);
  // The first ten test labels of MNIST.
  std::vector<int> first(test.labels.data.begin(), test.labels.data.begin() + 10);
  EXPECT_EQ(first, (std::vector<int>{7, 2, 1, 0, 4, 1, 4, 9, 5, 9}));
  // Each class appears; '1' is the most frequent test digit (1135 images).
  std::vector<int> counts(10, 0);
  for (uint8_t l : test.labels.data) ++counts[l];
  EXPECT_EQ(counts[1], 1135);
  EXPECT_EQ(std::accumulate(counts.begin(), counts.end(), 0), 10000);
  // Images are not blank: the first one (a 7) has ink.
  int ink = 0;
  for (int i = 0; i < 784; ++i) ink += test.images.data[i] > 128;
  EXPECT_GT(ink, 50);
}

TEST(Idx, ReadsTheRealMnistTrainingLabels) {
  IdxArray labels;
  std::string error;
  ASSERT_TRUE(read_idx(kMnist + "/train-labels-idx1-ubyte", labels, error)) << error;
  EXPECT_EQ(labels.count(), 60000);
  std::vector<int> first(labels.data.begin(), labels.data.begin() + 5);
  EXPECT_EQ(first, (std::vector<int>{5, 0, 4, 1, 9}));
}

TEST(Idx, RejectsTruncatedAndForeignFiles) {
  std::string error;
  IdxArray a;
  // A real header promising 10000 images, followed by only three of them.
  std::string truncated = slurp(kMnist + "/t10k-images-idx3-ubyte", 16 + 3 * 784);
  ASSERT_EQ(truncated.size(), 16u + 3 * 784);
  EXPECT_FALSE(read_idx(write_temp("trunc-idx3-ubyte", truncated), a, error));
  EXPECT_NE(error.find("truncated: header promises 7840000 bytes of data, file has 2352"), std::string::npos)
      << error;
  // The same three images with a header that says 3 read fine.
  std::string slice = truncated;
  slice[4] = slice[5] = slice[6] = 0;
  slice[7] = 3;
  EXPECT_TRUE(read_idx(write_temp("slice-idx3-ubyte", slice), a, error)) << error;
  EXPECT_EQ(a.dims, (std::vector<int64_t>{3, 28, 28}));
  // Still gzip-compressed.
  EXPECT_FALSE(read_idx(write_temp("gz", std::string("\x1f\x8b\x08\x00rest", 8)), a, error));
  EXPECT_NE(error.find("bad magic number"), std::string::npos);
  EXPECT_FALSE(read_idx(write_temp("empty", ""), a, error));
  EXPECT_NE(error.find("not an IDX file"), std::string::npos);
  EXPECT_FALSE(read_idx("/nonexistent/file", a, error));
  EXPECT_NE(error.find("/nonexistent/file: cannot open: No such file or directory"), std::string::npos);
  // Labels and images that disagree.
  IdxDataset d;
  std::string dir = ::testing::TempDir() + "/mismatch";
  std::remove((dir + "/x").c_str());
  ASSERT_EQ(std::system(("mkdir -p " + dir).c_str()), 0);
  std::ofstream(dir + "/t10k-images-idx3-ubyte", std::ios::binary) << slice;
  std::string labels = slurp(kMnist + "/t10k-labels-idx1-ubyte", 8 + 5);
  labels[4] = labels[5] = labels[6] = 0;
  labels[7] = 5;
  std::ofstream(dir + "/t10k-labels-idx1-ubyte", std::ios::binary) << labels;
  EXPECT_FALSE(read_idx_dataset(dir, "t10k", d, error));
  EXPECT_NE(error.find("3 images but 5 labels"), std::string::npos) << error;
}
