// vaec's own loops for thin products (runtime/abi/thin_product.h) against a
// float64 sum: each shape (outer, dots, columns) at every thin extent 1-4,
// transposed or not, with and without a bias, with each post-op, at
// extents that are and are not multiples of 16 (columns: more blocks of 16
// rows than one pass takes); the same bits whatever the
// number of parts; relu's NaN and negative zero as oneDNN's; and the
// products it refuses.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "abi/thin_product.h"
#include "test_util.h"

namespace vaec {
namespace {

struct Case {
  int64_t m, n, k;
  bool ta, tb, bias;
  std::string post;
};

using test::random_floats;

// c from `parts` parts, run one after another.
std::vector<float> run(const Case &t, const std::vector<float> &a, const std::vector<float> &b,
                       const std::vector<float> &bias, int parts) {
  const onednn::ThinProduct p(t.m, t.n, t.k, t.ta, t.tb, t.bias, t.post);
  std::vector<float> c(t.m * t.n, 1e30f), scratch(p.scratch_bytes() / 4 + 16);
  for (int i = 0; i < parts; ++i) p.run_part(i, parts, a.data(), b.data(), t.bias ? bias.data() : nullptr, c.data(), scratch.data());
  for (int i = 0; i < parts; ++i) p.finish(i, parts, t.bias ? bias.data() : nullptr, c.data(), scratch.data());
  return c;
}

void expect_matches(const Case &t) {
  SCOPED_TRACE("m " + std::to_string(t.m) + " n " + std::to_string(t.n) + " k " + std::to_string(t.k) + " ta " +
               std::to_string(t.ta) + " tb " + std::to_string(t.tb) + " bias " + std::to_string(t.bias) + " post '" +
               t.post + "'");
  const std::vector<float> a = random_floats(t.m * t.k, 1), b = random_floats(t.k * t.n, 2),
                           bias = random_floats(t.n, 3);
  const std::vector<float> c = run(t, a, b, bias, 1);
  double worst = 0;
  for (int64_t i = 0; i < t.m; ++i)
    for (int64_t j = 0; j < t.n; ++j) {
      double x = t.bias ? bias[j] : 0, size = std::abs(x);
      for (int64_t l = 0; l < t.k; ++l) {
        const double term = double(t.ta ? a[l * t.m + i] : a[i * t.k + l]) * (t.tb ? b[j * t.k + l] : b[l * t.n + j]);
        x += term, size += std::abs(term);
      }
      if (t.post == "relu") x = x > 0 ? x : 0;
      if (t.post == "sigmoid") x = 1 / (1 + std::exp(-x));
      worst = std::max(worst, std::abs(c[i * t.n + j] - x) / (size + 1e-30));
    }
  EXPECT_LT(worst, 1e-6);
  for (int parts : {2, 3, 7}) {
    const std::vector<float> again = run(t, a, b, bias, parts);
    EXPECT_EQ(std::memcmp(again.data(), c.data(), c.size() * 4), 0) << parts << " parts";
  }
}

TEST(ThinProduct, MatchesFloat64AndGivesTheSameBitsInAnyNumberOfParts) {
  if (!__builtin_cpu_supports("avx512f")) GTEST_SKIP() << "thin products need AVX-512";
  for (int64_t side = 1; side <= 4; ++side)
    for (bool ta : {false, true})
      for (bool tb : {false, true}) {
        // Outer: k thin; n across vectors with a tail.
        expect_matches({9, 37, side, ta, tb, true, "relu"});
        expect_matches({16, 64, side, ta, tb, false, ""});
        // Dots (not ta) and columns (ta): n thin, k long enough for 3 pieces.
        expect_matches({9, side, 2100, ta, tb, false, ""});
        expect_matches({37, side, 19, ta, tb, true, "sigmoid"});
        expect_matches({16, side, 16, ta, tb, true, "relu"});
        // Columns walk up to 24 / n blocks of 16 rows at once: more blocks
        // than that, with a tail, cut into parts anywhere.
        expect_matches({16 * 25 + 5, side, 19, ta, tb, true, "relu"});
      }
  expect_matches({3, 45, 2, false, true, true, "sigmoid"});
  expect_matches({1, 1, 1, false, false, false, ""});
}

// As oneDNN's relu (alpha 0): NaN stays NaN and a negative sum gives -0.
TEST(ThinProduct, ReluKeepsNaNAndGivesNegativeZero) {
  if (!__builtin_cpu_supports("avx512f")) GTEST_SKIP() << "thin products need AVX-512";
  for (const Case &t : {Case{2, 20, 1, false, false, false, "relu"}, Case{20, 2, 8, true, false, false, "relu"},
                        Case{2, 2, 40, false, true, false, "relu"}}) {
    std::vector<float> a(t.m * t.k, 1.0f), b(t.k * t.n, -1.0f);
    a[0] = std::nanf("");
    const std::vector<float> c = run(t, a, b, {}, 2);
    EXPECT_TRUE(std::isnan(c[0]));
    EXPECT_EQ(c.back(), 0.0f);
    EXPECT_TRUE(std::signbit(c.back()));
  }
}

TEST(ThinProduct, RefusesWhatItCannotRun) {
  EXPECT_NE(onednn::thin_product_unsupported(16, 5, 5, ""), "");
  EXPECT_NE(onednn::thin_product_unsupported(0, 2, 2, ""), "");
  EXPECT_NE(onednn::thin_product_unsupported(16, 2, 2, "tanh"), "");
  EXPECT_THROW(onednn::ThinProduct(16, 8, 8, false, false, false, ""), std::runtime_error);
  plan::Step s;
  s.kind = plan::Step::Matmul, s.m = 16, s.n = 2, s.k = 2;
  if (__builtin_cpu_supports("avx512f")) {
    EXPECT_EQ(onednn::thin_product_unsupported(s), "");
  }
  s.bf16 = true;
  EXPECT_NE(onednn::thin_product_unsupported(s), "");
}

}  // namespace
}  // namespace vaec
