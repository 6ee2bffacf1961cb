// vaec's own Winograd F(4x4,3x3) (runtime/abi/own_winograd.h) against a
// float64 direct sum: forward with bias and each post-op, input gradient
// and weight gradient, at image sizes that are and are not multiples of 4;
// the same bits whatever the thread count it is made for or runs on; and
// the steps it refuses.
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <cstdlib>
#include <memory>
#include <vector>

#include "abi/own_winograd.h"
#include "test_util.h"

namespace vaec {
namespace {

struct Shape {
  int64_t n, c, k, h, w;  // x [n, c, h, w], w [k, c, 3, 3], y [n, k, h, w]
};

// Index of [n, ch, y, x] in nChw16c.
int64_t blocked(const Shape &s, int64_t channels, int64_t n, int64_t ch, int64_t y, int64_t x) {
  return (((n * (channels / 16) + ch / 16) * s.h + y) * s.w + x) * 16 + ch % 16;
}

struct Aligned {
  std::unique_ptr<float, decltype(&std::free)> p{nullptr, &std::free};
  explicit Aligned(size_t floats)
      : p(static_cast<float *>(std::aligned_alloc(64, (floats * 4 + 63) / 64 * 64 + 64)), &std::free) {}
  float *get() const { return p.get(); }
};

using test::random_floats;

plan::Step conv_step(const std::string &op, const Shape &s, const std::string &post, bool bias) {
  plan::Step st;
  st.kind = plan::Step::Conv;
  st.conv = op;
  const std::vector<int64_t> x{s.n, s.c, s.h, s.w}, w{s.k, s.c, 3, 3}, y{s.n, s.k, s.h, s.w};
  if (op == "conv2d") st.dims_a = x, st.dims_b = w, st.dims_c = y;
  if (op == "conv2d_bwd_data") st.dims_a = y, st.dims_b = w, st.dims_c = x;
  if (op == "conv2d_bwd_weights") st.dims_a = x, st.dims_b = y, st.dims_c = w;
  st.stride = {1, 1}, st.pad = {1, 1, 1, 1};
  st.post = post;
  st.bias = bias ? 3 : -1;
  const auto layouts = onednn::own_winograd_layouts(st);
  st.layout_a = layouts[0], st.layout_b = layouts[1], st.layout_c = layouts[2];
  st.own_winograd = true;
  return st;
}

// Runs `st` on a and b (and bias) with `threads` threads; returns c.
// Made for `made_for` threads (default: as many as run it).
std::vector<float> run(const plan::Step &st, const std::vector<float> &a, const std::vector<float> &b,
                       const std::vector<float> &bias, size_t c_floats, int threads, int made_for = 0) {
  const onednn::OwnWinograd conv(st, made_for > 0 ? made_for : threads);
  Aligned scratch(conv.scratch_bytes() / 4), c(c_floats);
  // Garbage in the scratch and result: nothing may read what it did not write.
  std::fill_n(scratch.get(), conv.scratch_bytes() / 4, std::nanf(""));
  std::fill_n(c.get(), c_floats, std::nanf(""));
  const int before = omp_get_max_threads();
  omp_set_num_threads(threads);
  conv.run(a.data(), b.data(), bias.empty() ? nullptr : bias.data(), c.get(), scratch.get());
  omp_set_num_threads(before);
  return std::vector<float>(c.get(), c.get() + c_floats);
}

// The largest difference from the float64 reference, relative to `scale`
// (the reference's largest magnitude unless given: the sums' before a post-op).
double relative_error(const std::vector<float> &got, const std::vector<double> &want, double scale = 0) {
  double worst = 0, largest = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    if (!std::isfinite(got[i])) return INFINITY;
    worst = std::max(worst, std::fabs(got[i] - want[i]));
    largest = std::max(largest, std::fabs(want[i]));
  }
  return worst / (scale > 0 ? scale : largest);
}

// 3x32 and 5x64 span several blocks of 32 tiles, the last one partial.
// Images side by side on canvases: 14x14 three across (3x32: one row; 5x64:
// a second canvas with two of its three places), 11 images on a 3x3 canvas
// and a second with 2, 6x10 three across and down with 7 of 9 places.
const Shape kShapes[] = {{1, 16, 16, 1, 1},   {2, 16, 32, 5, 7},   {3, 32, 16, 14, 14}, {2, 64, 64, 8, 8},
                         {1, 16, 48, 9, 4},   {5, 64, 64, 14, 14}, {11, 16, 16, 14, 14}, {7, 16, 32, 6, 10}};

TEST(OwnWinograd, ForwardMatchesTheDirectSum) {
  for (const Shape &s : kShapes)
    for (const char *post : {"", "relu", "sigmoid"}) {
      SCOPED_TRACE(std::to_string(s.n) + "x" + std::to_string(s.c) + "->" + std::to_string(s.k) + " " +
                   std::to_string(s.h) + "x" + std::to_string(s.w) + " " + post);
      const std::vector<float> x = random_floats(s.n * s.c * s.h * s.w, 1), w = random_floats(s.k * s.c * 9, 2),
                               bias = random_floats(s.k, 3);
      std::vector<double> want(s.n * s.k * s.h * s.w);
      double largest_sum = 0;
      for (int64_t n = 0; n < s.n; ++n)
        for (int64_t k = 0; k < s.k; ++k)
          for (int64_t y = 0; y < s.h; ++y)
            for (int64_t xx = 0; xx < s.w; ++xx) {
              double acc = bias[k];
              for (int64_t c = 0; c < s.c; ++c)
                for (int a = 0; a < 3; ++a)
                  for (int b = 0; b < 3; ++b) {
                    const int64_t sy = y + a - 1, sx = xx + b - 1;
                    if (sy >= 0 && sy < s.h && sx >= 0 && sx < s.w)
                      acc += double(x[blocked(s, s.c, n, c, sy, sx)]) * w[((k * s.c + c) * 3 + a) * 3 + b];
                  }
              largest_sum = std::max(largest_sum, std::fabs(acc));
              if (std::string(post) == "relu") acc = std::max(acc, 0.0);
              if (std::string(post) == "sigmoid") acc = 1 / (1 + std::exp(-acc));
              want[blocked(s, s.k, n, k, y, xx)] = acc;
            }
      const plan::Step st = conv_step("conv2d", s, post, true);
      const std::vector<float> got = run(st, x, w, bias, want.size(), 2);
      EXPECT_LT(relative_error(got, want, largest_sum), 2e-5);
      EXPECT_EQ(got, run(st, x, w, bias, want.size(), 1)) << "the thread count changed the result";
      EXPECT_EQ(got, run(st, x, w, bias, want.size(), 1, 3)) << "a smaller team changed the result";
    }
}

// f(n, k, c, y, x, sy, sx, tap) for each multiply-add of the direct sum:
// output (n, k, y, x) takes input (n, c, sy, sx) through weight tap `tap`
// of w [k, c, 3, 3], padding 1.
template <typename F>
void each_multiply_add(const Shape &s, F f) {
  for (int64_t n = 0; n < s.n; ++n)
    for (int64_t k = 0; k < s.k; ++k)
      for (int64_t y = 0; y < s.h; ++y)
        for (int64_t xx = 0; xx < s.w; ++xx)
          for (int64_t c = 0; c < s.c; ++c)
            for (int tap = 0; tap < 9; ++tap) {
              const int64_t sy = y + tap / 3 - 1, sx = xx + tap % 3 - 1;
              if (sy >= 0 && sy < s.h && sx >= 0 && sx < s.w) f(n, k, c, y, xx, sy, sx, tap);
            }
}

TEST(OwnWinograd, InputGradientMatchesTheDirectSum) {
  for (const Shape &s : kShapes) {
    const std::vector<float> dy = random_floats(s.n * s.k * s.h * s.w, 4), w = random_floats(s.k * s.c * 9, 5);
    std::vector<double> want(s.n * s.c * s.h * s.w, 0.0);
    each_multiply_add(s, [&](int64_t n, int64_t k, int64_t c, int64_t y, int64_t xx, int64_t sy, int64_t sx, int tap) {
      want[blocked(s, s.c, n, c, sy, sx)] += double(dy[blocked(s, s.k, n, k, y, xx)]) * w[(k * s.c + c) * 9 + tap];
    });
    const plan::Step st = conv_step("conv2d_bwd_data", s, "", false);
    const std::vector<float> got = run(st, dy, w, {}, want.size(), 2);
    EXPECT_LT(relative_error(got, want), 2e-5) << s.c << " " << s.k << " " << s.h << "x" << s.w;
    EXPECT_EQ(got, run(st, dy, w, {}, want.size(), 1));
    EXPECT_EQ(got, run(st, dy, w, {}, want.size(), 1, 3));
  }
}

TEST(OwnWinograd, WeightGradientMatchesTheDirectSum) {
  for (const Shape &s : kShapes) {
    const std::vector<float> x = random_floats(s.n * s.c * s.h * s.w, 6), dy = random_floats(s.n * s.k * s.h * s.w, 7);
    std::vector<double> want(s.k * s.c * 9, 0.0);
    each_multiply_add(s, [&](int64_t n, int64_t k, int64_t c, int64_t y, int64_t xx, int64_t sy, int64_t sx, int tap) {
      want[(k * s.c + c) * 9 + tap] += double(x[blocked(s, s.c, n, c, sy, sx)]) * dy[blocked(s, s.k, n, k, y, xx)];
    });
    const plan::Step st = conv_step("conv2d_bwd_weights", s, "", false);
    const std::vector<float> got = run(st, x, dy, {}, want.size(), 2);
    EXPECT_LT(relative_error(got, want), 2e-5) << s.c << " " << s.k << " " << s.h << "x" << s.w;
    EXPECT_EQ(got, run(st, x, dy, {}, want.size(), 1));
    EXPECT_EQ(got, run(st, x, dy, {}, want.size(), 1, 3));
  }
}

TEST(OwnWinograd, RefusesWhatItCannotRun) {
  const Shape s{2, 16, 16, 8, 8};
  EXPECT_EQ(onednn::own_winograd_unsupported(conv_step("conv2d", s, "relu", true)),
            __builtin_cpu_supports("avx512f") ? "" : "own Winograd needs AVX-512, which this CPU lacks");
  plan::Step st = conv_step("conv2d", s, "", false);
  st.stride = {2, 2};
  EXPECT_NE(onednn::own_winograd_unsupported(st).find("stride 1"), std::string::npos);
  st = conv_step("conv2d", Shape{2, 8, 16, 8, 8}, "", false);
  EXPECT_NE(onednn::own_winograd_unsupported(st).find("multiples of 16"), std::string::npos);
  st = conv_step("conv2d", s, "", false);
  st.dims_b = {16, 16, 5, 5};
  EXPECT_NE(onednn::own_winograd_unsupported(st).find("3x3"), std::string::npos);
  st = conv_step("conv2d", s, "", false);
  st.conv = "conv2d_transpose";
  EXPECT_NE(onednn::own_winograd_unsupported(st), "");
  st = conv_step("conv2d", s, "", false);
  st.bf16 = true;
  EXPECT_NE(onednn::own_winograd_unsupported(st), "");
  st = conv_step("conv2d", s, "", false);
  st.layout_b = st.layout_a;  // weights must be plain
  if (onednn::own_winograd_unsupported(st).empty()) {
    EXPECT_THROW(onednn::OwnWinograd(st, 2), std::runtime_error);
  }
}

}  // namespace
}  // namespace vaec
