// vaec's own loops for products with sparse data (runtime/abi/
// sparse_product.h): the lists hold exactly the nonzero entries, in order;
// c equals, bit for bit, each element's terms multiply-added in list order
// with the bias last, by rows and by columns, at widths that are and are not
// multiples of 16 and 64, with more indices than one block of b takes;
// the same bits however the lists are shared among parts; NaN counts as
// nonzero, -0 as zero; and the products it refuses.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "abi/sparse_product.h"
#include "test_util.h"

namespace vaec {
namespace {

using test::random_floats;

// x [rows, cols] with about `share` of its entries nonzero, its first row
// and its column 1 all zero.
std::vector<float> sparse_data(int64_t rows, int64_t cols, double share, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(0, 1);
  std::vector<float> x(rows * cols);
  for (int64_t r = 1; r < rows; ++r)
    for (int64_t j = 0; j < cols; ++j)
      if (j != 1 && u(rng) < share) x[r * cols + j] = u(rng) + 0.01f;
  return x;
}

struct Case {
  int64_t rows, cols, n;
  bool by_rows, bias;
  std::string post;
};

onednn::SparseLists lists_of(const Case &t, const std::vector<float> &x) {
  onednn::SparseLists l;
  l.shape(t.rows, t.cols, t.by_rows);
  if (t.by_rows) {
    onednn::list_rows(x.data(), t.cols, 0, t.rows / 2, l);
    onednn::list_rows(x.data(), t.cols, t.rows / 2, t.rows, l);
  } else {
    onednn::list_columns(x.data(), t.rows, t.cols, 0, t.cols / 3, l);
    onednn::list_columns(x.data(), t.rows, t.cols, t.cols / 3, t.cols, l);
  }
  return l;
}

std::vector<float> product(const Case &t, const onednn::SparseLists &l, const std::vector<float> &b,
                           const std::vector<float> &bias, int parts) {
  const int post = t.post == "relu" ? 1 : t.post == "sigmoid" ? 2 : 0;
  std::vector<float> c(l.lists * t.n, 1e30f);
  for (int p = 0; p < parts; ++p) {
    const int64_t i0 = l.lists * p / parts, i1 = l.lists * (p + 1) / parts;
    onednn::sparse_times(l, 0, t.by_rows ? t.cols : t.rows, b.data(), t.n, t.n, t.bias ? bias.data() : nullptr, post,
                         c.data(), t.n, i0, i1);
  }
  return c;
}

void expect_exact(const Case &t, double share) {
  SCOPED_TRACE("rows " + std::to_string(t.rows) + " cols " + std::to_string(t.cols) + " n " + std::to_string(t.n) +
               (t.by_rows ? " by rows" : " by columns") + (t.bias ? " bias" : "") + " post '" + t.post + "'");
  const std::vector<float> x = sparse_data(t.rows, t.cols, share, 1);
  const int64_t lists = t.by_rows ? t.rows : t.cols, indices = t.by_rows ? t.cols : t.rows;
  const std::vector<float> b = random_floats(indices * t.n, 2), bias = random_floats(t.n, 3);
  const onednn::SparseLists l = lists_of(t, x);
  // The lists: every nonzero entry, in index order.
  int64_t nonzeros = 0, wrong = 0;
  for (int64_t i = 0; i < lists; ++i) {
    int64_t e = 0;
    for (int64_t q = 0; q < indices; ++q) {
      const float v = t.by_rows ? x[i * t.cols + q] : x[q * t.cols + i];
      if (v == 0) continue;
      ++nonzeros;
      const int64_t at = l.start[i] + e++;
      wrong += e > l.count[i] || l.index[at] != q || l.value[at] != v;
    }
    wrong += e != l.count[i];
  }
  EXPECT_EQ(wrong, 0);
  EXPECT_EQ(l.nonzeros(), nonzeros);
  EXPECT_GT(nonzeros, 0);
  // c: each element's terms in list order, then the bias, then the post-op.
  const std::vector<float> c = product(t, l, b, bias, 1);
  int64_t differ = 0;
  double worst = 0;
  for (int64_t i = 0; i < lists; ++i)
    for (int64_t j = 0; j < t.n; ++j) {
      float s = 0;
      double exact = 0, size = 0;
      for (int64_t e = 0; e < l.count[i]; ++e) {
        const float v = l.value[l.start[i] + e], w = b[l.index[l.start[i] + e] * t.n + j];
        s = std::fma(v, w, s);
        exact += double(v) * w, size += std::abs(double(v) * w);
      }
      if (t.bias) s += bias[j], exact += bias[j], size += std::abs(bias[j]);
      if (t.post == "relu") s = s > 0 ? s : s * 0.0f, exact = exact > 0 ? exact : 0;
      if (t.post == "sigmoid") s = 1.0f / (1.0f + std::exp(-s));
      differ += std::memcmp(&s, &c[i * t.n + j], 4) != 0;
      // (float's logistic rounds on its own: sigmoid is held to the bits alone)
      if (t.post != "sigmoid") worst = std::max(worst, std::abs(c[i * t.n + j] - exact) / (size + 1e-30));
    }
  EXPECT_EQ(differ, 0);
  EXPECT_LT(worst, 1e-6);
  for (int parts : {2, 3, 7}) {
    const std::vector<float> again = product(t, l, b, bias, parts);
    EXPECT_EQ(std::memcmp(again.data(), c.data(), c.size() * 4), 0) << parts << " parts";
  }
}

TEST(SparseProduct, EqualsItsTermsInListOrder) {
  for (bool by_rows : {true, false})
    for (int64_t n : {1, 16, 17, 64, 65, 400})
      expect_exact({37, 300, n, by_rows, n % 2 == 1, n == 400 ? "relu" : ""}, 0.2);
  // More indices than one block of b (128) and lists in several groups (64).
  expect_exact({300, 200, 70, true, true, "sigmoid"}, 0.3);
  expect_exact({300, 200, 70, false, true, "relu"}, 0.05);
  expect_exact({128, 784, 400, true, true, "relu"}, 0.19);
  expect_exact({128, 784, 400, false, false, ""}, 0.19);
}

TEST(SparseProduct, NaNIsAnEntryAndNegativeZeroIsNot) {
  const Case t{4, 40, 20, true, false, ""};
  std::vector<float> x(t.rows * t.cols);
  x[1 * t.cols + 3] = std::nanf(""), x[2 * t.cols + 5] = -0.0f, x[3 * t.cols + 39] = 2;
  const onednn::SparseLists l = lists_of(t, x);
  EXPECT_EQ(l.nonzeros(), 2);
  const std::vector<float> c = product(t, l, random_floats(t.cols * t.n, 4), {}, 2);
  EXPECT_TRUE(std::isnan(c[1 * t.n + 7]));
  for (int64_t j = 0; j < t.n; ++j) {
    EXPECT_EQ(c[j], 0.0f);
    EXPECT_FALSE(std::signbit(c[2 * t.n + j]));
  }
}

TEST(SparseProduct, RefusesWhatItCannotRun) {
  EXPECT_EQ(onednn::sparse_product_unsupported(128, 784, 400, "relu"), "");
  EXPECT_EQ(onednn::sparse_product_unsupported(0, 784, 400, ""), "an empty product");
  EXPECT_EQ(onednn::sparse_product_unsupported(1, 784, 400, "tanh"), "unknown post-op 'tanh'");
  EXPECT_NE(onednn::sparse_product_unsupported(int64_t{1} << 31, 4, 4, ""), "");
}

}  // namespace
}  // namespace vaec
