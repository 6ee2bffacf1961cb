// The model-facing side of runtime/data (feed.h): layouts, the transform
// (scale, standardize, static and dynamic binarization), validation splits
// and the plan's data settings.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <numeric>

#include "abi/bf16_rounding.h"
#include "data/feed.h"

using namespace vaec::rt::data;

namespace {

// An owned uint8 array of `count` examples of `shape`, values f(example, element).
struct Owned : Storage {
  std::vector<uint8_t> bytes;
};
Split make_split(int64_t count, std::vector<int64_t> shape, uint8_t (*f)(int64_t, int64_t)) {
  auto owned = std::make_shared<Owned>();
  int64_t row = 1;
  for (int64_t d : shape) row *= d;
  owned->bytes.resize(count * row);
  for (int64_t i = 0; i < count; ++i)
    for (int64_t j = 0; j < row; ++j) owned->bytes[i * row + j] = f(i, j);
  Split s;
  s.x.shape = {count};
  s.x.shape.insert(s.x.shape.end(), shape.begin(), shape.end());
  s.x.dtype = DType::U8;
  s.x.bytes = owned->bytes.data();
  s.x.storage = owned;
  return s;
}

std::vector<float> rows(const Feed &f, std::vector<int64_t> which, int64_t epoch) {
  std::vector<float> out(which.size() * f.row());
  f.fill(which.data(), int64_t(which.size()), out.data(), epoch);
  return out;
}

}  // namespace

TEST(DataFeed, LayoutsFitTheModelInput) {
  const Split grey = make_split(2, {28, 28}, [](int64_t, int64_t) -> uint8_t { return 0; });
  const Split rgb = make_split(2, {4, 5, 3}, [](int64_t, int64_t j) -> uint8_t { return uint8_t(j); });
  Layout l;
  std::string error;
  EXPECT_TRUE(fit_layout(grey.x, "g", "x", {784}, l, error)) << error;
  EXPECT_EQ(l.how, "flattened");
  EXPECT_TRUE(fit_layout(grey.x, "g", "x", {1, 28, 28}, l, error));
  EXPECT_EQ(l.how, "a grey image");
  EXPECT_TRUE(fit_layout(rgb.x, "c", "x", {3, 4, 5}, l, error));
  EXPECT_EQ(l.how, "channels-last to [3, 4, 5]");
  // Model element (c, h, w) is stored element (h, w, c): red plane first.
  ASSERT_EQ(l.from.size(), 60u);
  EXPECT_EQ(l.from[0], 0);   // (0, 0, 0)
  EXPECT_EQ(l.from[1], 3);   // (0, 0, 1) <- (0, 1, 0)
  EXPECT_EQ(l.from[20], 1);  // (1, 0, 0) <- (0, 0, 1)
  EXPECT_TRUE(fit_layout(rgb.x, "c", "x", {60}, l, error));
  EXPECT_EQ(l.how, "channels-last to [C, H, W], flattened");
  EXPECT_FALSE(fit_layout(rgb.x, "c.npy", "x", {784}, l, error));
  EXPECT_EQ(error, "c.npy: examples of shape [4, 5, 3] (uint8) do not fit the model's input x: [784] (an image is "
                   "[H, W], [H, W, C] or [C, H, W]; a [D] input takes any example of D elements)");
}

TEST(DataFeed, ScaleAndStaticBinarization) {
  const Split s = make_split(3, {4}, [](int64_t i, int64_t j) -> uint8_t { return uint8_t(i * 100 + j * 10); });
  Layout l;
  std::string error;
  ASSERT_TRUE(fit_layout(s.x, "s", "x", {4}, l, error));
  const Feed plain(&s, {0, 1, 2}, &l, float(1.0 / 255.0), Binarize::None, nullptr, 1);
  const std::vector<float> r = rows(plain, {2}, 1);
  EXPECT_EQ(r[1], float(210) * float(1.0 / 255.0));  // what the compiled convert kernel computed
  const Feed bin(&s, {0, 1, 2}, &l, float(1.0 / 255.0), Binarize::Static, nullptr, 1);
  // > 0.5: bytes 100..120 no, 130 (0.51) and 200.. yes.
  EXPECT_EQ(rows(bin, {0, 1, 2}, 1), (std::vector<float>{0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1}));
}

// The rows' bf16 copy the feed writes with them (a plan's input_copy): each
// value rounded as abi/bf16_rounding.h rounds it, for the common bytes (one
// pass, rows of 37 values: two vectors and a tail), after a binarization,
// and in a layout change; the f32 rows are those written without a copy.
TEST(DataFeed, RoundedCopyIsTheRowsRounded) {
  const Split s = make_split(5, {37}, [](int64_t i, int64_t j) -> uint8_t { return uint8_t(i * 41 + j * 7); });
  const Split rgb = make_split(3, {3, 4, 3}, [](int64_t i, int64_t j) -> uint8_t { return uint8_t(i * 90 + j * 5); });
  Layout flat, planes;
  std::string error;
  ASSERT_TRUE(fit_layout(s.x, "s", "x", {37}, flat, error)) << error;
  ASSERT_TRUE(fit_layout(rgb.x, "c", "x", {3, 3, 4}, planes, error)) << error;
  const std::vector<int64_t> all = {0, 1, 2, 3, 4}, which = {2, 0, 1};
  const Feed feeds[] = {Feed(&s, all, &flat, float(1.0 / 255.0), Binarize::None, nullptr, 1),
                        Feed(&s, all, &flat, 0.013f, Binarize::None, nullptr, 1),
                        Feed(&s, all, &flat, float(1.0 / 255.0), Binarize::Dynamic, nullptr, 3),
                        Feed(&rgb, {0, 1, 2}, &planes, float(1.0 / 255.0), Binarize::None, nullptr, 1)};
  for (const Feed &f : feeds) {
    const int64_t n = int64_t(which.size()), row = f.row();
    std::vector<float> x(n * row);
    std::vector<uint16_t> copy(n * row, 0xdead);
    f.fill(which.data(), n, x.data(), 2, 2, copy.data());
    EXPECT_EQ(x, rows(f, which, 2));
    int inexact = 0;
    for (int64_t k = 0; k < n * row; ++k) {
      ASSERT_EQ(copy[k], vaec::rt::round_bf16(x[k])) << k;
      inexact += std::bit_cast<float>(uint32_t(copy[k]) << 16) != x[k];
    }
    if (&f != &feeds[2]) {
      EXPECT_GT(inexact, 0);  // the copy is rounded, not the values themselves
    }
  }
}

TEST(DataFeed, DynamicBinarizationDrawsAfreshEachEpochAndRepeatsWithTheSeed) {
  // Intensity 0.3 everywhere (bytes of 1, scale 0.3): about 30 % ones,
  // different bits each epoch.
  const Split zeros = make_split(50, {28, 28}, [](int64_t, int64_t) -> uint8_t { return 0; });
  Layout l;
  std::string error;
  ASSERT_TRUE(fit_layout(zeros.x, "s", "x", {784}, l, error));
  std::vector<int64_t> all(50);
  std::iota(all.begin(), all.end(), 0);
  const Feed a(&zeros, all, &l, 0.3f, Binarize::Dynamic, nullptr, 7);
  const Split ones = make_split(50, {28, 28}, [](int64_t, int64_t) -> uint8_t { return 1; });
  const Feed d1(&ones, all, &l, 0.3f, Binarize::Dynamic, nullptr, 7), d2(&ones, all, &l, 0.3f, Binarize::Dynamic, nullptr, 7),
      d3(&ones, all, &l, 0.3f, Binarize::Dynamic, nullptr, 8);
  const std::vector<float> e1 = rows(d1, all, 1), e2 = rows(d1, all, 2), again = rows(d2, all, 1), seed8 = rows(d3, all, 1);
  EXPECT_NE(e1, e2);      // two epochs see different bits
  EXPECT_EQ(e1, again);   // the same seed and epoch, the same bits
  EXPECT_NE(e1, seed8);   // another seed, other bits
  double mean = 0;
  for (float v : e1) {
    EXPECT_TRUE(v == 0.0f || v == 1.0f);
    mean += v;
  }
  mean /= double(e1.size());
  EXPECT_NEAR(mean, 0.3, 0.01);  // 39,200 draws: 3 sigma is 0.007
  // An example's bits do not depend on the batch it is read in or its place in it.
  const std::vector<float> alone = rows(d1, {17}, 1);
  EXPECT_TRUE(std::equal(alone.begin(), alone.end(), e1.begin() + 17 * 784));
  EXPECT_EQ(rows(a, {0}, 1), std::vector<float>(784, 0.0f));  // intensity 0 never draws a 1
}

TEST(DataFeed, ValidationSplitStandardizationAndSettings) {
  // A CSV-like table: 100 rows of 3 float columns.
  Settings s;
  std::map<std::string, std::string> config{{"data", "t.csv"},       {"data_path", "/x/t.csv"}, {"validation", "0.25"},
                                            {"scale", "auto"},       {"binarize", "none"},       {"standardize", "yes"},
                                            {"seed", "3"},           {"label", "kind"}};
  std::string error;
  ASSERT_TRUE(settings_from_config(config, s, error)) << error;
  EXPECT_EQ(s.path, "/x/t.csv");
  EXPECT_EQ(s.validation, 0.25);
  EXPECT_TRUE(s.standardize);
  EXPECT_EQ(s.seed, 3u);
  EXPECT_EQ(s.label_column, "kind");
  config["binarize"] = "sometimes";
  EXPECT_FALSE(settings_from_config(config, s, error));
  EXPECT_EQ(error, "the plan's binarize 'sometimes' is unknown");
  std::string name;
  std::vector<int64_t> shape;
  EXPECT_TRUE(model_input_from_config({{"input", "x"}, {"input_shape", "3,28,28"}}, name, shape, error));
  EXPECT_EQ(shape, (std::vector<int64_t>{3, 28, 28}));
  EXPECT_FALSE(model_input_from_config({{"input", "x"}, {"input_shape", "3,,28"}}, name, shape, error));
}
