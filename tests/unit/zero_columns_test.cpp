// Products that leave out the all-zero columns of image data and the units
// no example activates (runtime/exec/zero_column_products.cpp): the marks
// the compiler sets, the results against naive loops, and the executor's
// refusals.
#include <gtest/gtest.h>
#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <set>

#include "abi/bf16_rounding.h"
#include "abi/plan.h"
#include "exec/executor.h"
#include "codegen/skip_zero_columns.h"
#include "codegen/split_products.h"
#include "executor_test_plan.h"

using namespace vaec;
using namespace vaec::rt;
using namespace vaec::test;

TEST(Codegen, ZeroColumnMarksFollowTheData) {
  const auto F32 = plan::DType::F32;
  plan::Plan p;
  const int in = add_buffer(p, "in", plan::DType::U8, 64 * 784), x = add_buffer(p, "x", F32, 64 * 784);
  const int w = add_buffer(p, "w", F32, 400 * 784), h = add_buffer(p, "h", F32, 64 * 400);
  p.train.name = "train", p.train.batch = 64, p.train.input = in, p.train.input_row = 784;
  p.train.steps = {kernel_step("decode_rows", 64, {in, x}, {}, 64 * 784),
                   matmul_step(x, w, h, -1, 64, 400, 784, false, true, "relu")};
  for (double share : {-1.0, 0.004, 0.3}) {
    plan::Plan q = p;
    CodegenOptions o;
    o.data_zero_columns = share;
    skip_zero_columns(q, o);
    const bool marked = q.train.steps[1].zeros == plan::Step::Inner;
    EXPECT_EQ(marked, share != 0.004) << share;
    EXPECT_EQ(q.notes.size(), share == 0.004 ? 1u : 0u) << share;
    if (!q.notes.empty()) {
      EXPECT_NE(q.notes[0].find("0.4 % of the input's columns all 0"), std::string::npos) << q.notes[0];
    }
  }
}

// The plan of the zero-column tests: x = in / 255 [kZm, kZk] (the data);
// h = relu(x w^T + bias) [kZm, kZn]; w.grad = g^T x, g [kZm, kZn] written by
// the test (the gradient at the layer's kZn units).
struct ZeroColumnsPlan {
  plan::Plan p;
  plan::Param w;
  int in, x, bias, h, g;
};

ZeroColumnsPlan make_zero_columns_plan() {
  const auto F32 = plan::DType::F32;
  ZeroColumnsPlan z;
  plan::Plan &p = z.p;
  p.config = {{"optimizer", "sgd"}};
  p.param_count = kZn * kZk;
  p.param_region = add_buffer(p, "params", F32, p.param_count);
  p.grad_region = add_buffer(p, "grads", F32, p.param_count);
  z.w.name = "w";
  z.w.buffer = add_buffer(p, "w", F32, kZn * kZk, p.buffers[p.param_region].offset);
  z.w.grad_buffer = add_buffer(p, "w.grad", F32, kZn * kZk, p.buffers[p.grad_region].offset);
  z.w.dims = {kZn, kZk};
  z.w.init_bound = 0.1;
  p.params = {z.w};
  p.hyper = add_buffer(p, "hyper.0", F32, 1);
  p.optimizer_kernel = "nan";  // never run here
  p.optimizer_args = {p.hyper};
  z.in = add_buffer(p, "in", plan::DType::U8, kZm * kZk), z.x = add_buffer(p, "x", F32, kZm * kZk);
  z.bias = add_buffer(p, "bias", F32, kZn), z.h = add_buffer(p, "h", F32, kZm * kZn);
  z.g = add_buffer(p, "g", F32, kZm * kZn);
  for (plan::Program *prog : {&p.train, &p.eval}) {
    prog->batch = kZm, prog->input = z.in, prog->input_row = kZk;
    prog->steps = {kernel_step("decode_rows", kZm, {z.in, z.x}, {}, kZm * kZk),
                   matmul_step(z.x, z.w.buffer, z.h, z.bias, kZm, kZn, kZk, false, true, "relu"),
                   matmul_step(z.g, z.x, z.w.grad_buffer, -1, kZn, kZk, kZm, true, false, "")};
  }
  p.train.name = "train", p.eval.name = "eval";
  return z;
}

// w.grad = g^T x in double.
std::vector<double> weight_gradient(const float *g, const float *x) {
  std::vector<double> want(kZn * kZk);
  for (int64_t j = 0; j < kZn; ++j)
    for (int64_t q = 0; q < kZk; ++q) {
      double sum = 0;
      for (int64_t i = 0; i < kZm; ++i) sum += double(g[i * kZn + j]) * x[i * kZk + q];
      want[j * kZk + q] = sum;
    }
  return want;
}

TEST(Executor, LeavesOutZeroColumnsOfImageData) {
  ZeroColumnsPlan z = make_zero_columns_plan();
  const plan::Plan &p = z.p;
  const plan::Param &w = z.w;
  const int in = z.in, x = z.x, bias = z.bias, h = z.h, g = z.g;
  enum Batch { Sparse, Sparse2, AllZero, Dense };
  auto pixel = [](Batch b, int64_t i, int64_t j) -> uint8_t {
    if (b == AllZero) return 0;
    if (b == Dense) return j % 40 == 0 ? 0 : (i * 31 + j * 7) % 256;
    if (b == Sparse2) return j < 64 || j % 4 == 0 ? 0 : (i * 17 + j * 5) % 256;  // 432 kept
    if (j == 100) return i == 77 ? 9 : 0;
    return j < 48 || j % 3 == 0 || j >= 600 ? 0 : (i * 31 + j * 7) % 256;  // 368 columns kept
  };
  for (int threads : {1, 2, 3}) {
    const plan::Plan compiled = as_compiled(p, threads, false);
    Executor exec(compiled, kKernels, threads, 0);
    EXPECT_TRUE(exec.matmuls().at(0).skips_zero_columns && exec.matmuls().at(1).skips_zero_columns);
    EXPECT_EQ(exec.matmuls().at(0).parts, threads);
    for (int64_t i = 0; i < kZn * kZk; ++i) exec.f32(w.buffer)[i] = static_cast<float>(std::cos(0.7 * double(i)) * 0.1);
    for (int64_t j = 0; j < kZn; ++j) exec.f32(bias)[j] = 0.01f * static_cast<float>(j % 7) - 0.03f;
    for (int64_t i = 0; i < kZm * kZn; ++i) exec.f32(g)[i] = static_cast<float>(std::sin(0.3 * double(i)));
    int64_t runs = 0, skipped = 0;
    for (Batch b : {Sparse, Sparse2, AllZero, Dense, Sparse}) {
      SCOPED_TRACE("threads " + std::to_string(threads) + ", batch " + std::to_string(b));
      for (int64_t i = 0; i < kZm; ++i)
        for (int64_t j = 0; j < kZk; ++j) exec.u8(in)[i * kZk + j] = pixel(b, i, j);
      std::fill(exec.f32(w.grad_buffer), exec.f32(w.grad_buffer) + kZn * kZk, 7.0f);  // all overwritten
      exec.run(p.train, 1);
      ++runs, skipped += b != Dense;
      for (size_t step : {1, 2}) EXPECT_EQ(exec.zero_column_runs(p.train, step), std::make_pair(runs, skipped));
      const float *xs = exec.f32(x), *ws = exec.f32(w.buffer);
      std::vector<double> want_h(kZm * kZn);
      for (int64_t i = 0; i < kZm; ++i)
        for (int64_t j = 0; j < kZn; ++j) {
          double sum = exec.f32(bias)[j];
          for (int64_t q = 0; q < kZk; ++q) sum += double(xs[i * kZk + q]) * ws[j * kZk + q];
          want_h[i * kZn + j] = std::max(sum, 0.0);
        }
      const std::vector<double> want_dw = weight_gradient(exec.f32(g), xs);
      expect_near_all(exec.f32(h), want_h, 1.0, "h");
      expect_near_all(exec.f32(w.grad_buffer), want_dw, 1.0, "dw");
      for (int64_t j = 0; j < kZn; ++j)
        for (int64_t q = 0; q < kZk; ++q)
          if (want_dw[j * kZk + q] == 0) {
            ASSERT_EQ(exec.f32(w.grad_buffer)[j * kZk + q], 0.0f) << j << "," << q;
          }
    }
  }
}

// A weight gradient g^T x leaves out the rows of units whose column of g is
// all zero (-0.0 counts as zero: a ReLU's gradient dh * 0), with and without
// the data's zero columns, and computes what the whole product computes: the
// left-out rows exactly 0, a unit nonzero in a single example kept. Batches:
// a third of the units dead over sparse data (outer+units), the same over
// dense data (units alone, b the data itself), none dead (the data's columns
// alone), every unit dead, and too few dead to be worth it (the whole
// product, or the data's columns alone).
TEST(Executor, LeavesOutUnitsNoExampleActivates) {
  ZeroColumnsPlan z = make_zero_columns_plan();
  enum Batch { DeadSparse, DeadDense, LiveSparse, AllDead, FewDead };
  auto pixel = [](Batch b, int64_t i, int64_t j) -> uint8_t {
    if (b == DeadDense) return j % 40 == 0 ? 0 : (i * 31 + j * 7) % 256;
    return j < 48 || j % 3 == 0 || j >= 600 ? 0 : (i * 31 + j * 7) % 256;  // 368 columns kept
  };
  auto grad = [](Batch b, int64_t i, int64_t j) -> float {
    const bool dead = b == AllDead || (b == FewDead ? j % 16 == 0 : b != LiveSparse && (j % 3 == 0 || j == 5));
    if (dead) return j == 5 || j == 6 ? -0.0f : 0.0f;
    if (j == 7) return i == 77 ? 0.5f : -0.0f;
    return static_cast<float>(std::sin(0.3 * double(i * kZn + j)));
  };
  for (int threads : {1, 2}) {
    const plan::Plan compiled = as_compiled(z.p, threads, false);
    ASSERT_TRUE(compiled.train.steps[2].zero_units && compiled.train.steps[2].zeros == plan::Step::Outer);
    Executor exec(compiled, kKernels, threads, 0);
    for (int64_t i = 0; i < kZn * kZk; ++i) exec.f32(z.w.buffer)[i] = 0.01f;
    int64_t runs = 0, columns = 0, units = 0;
    for (Batch b : {DeadSparse, DeadDense, LiveSparse, AllDead, FewDead, DeadSparse}) {
      SCOPED_TRACE("threads " + std::to_string(threads) + ", batch " + std::to_string(b));
      for (int64_t i = 0; i < kZm; ++i) {
        for (int64_t j = 0; j < kZk; ++j) exec.u8(z.in)[i * kZk + j] = pixel(b, i, j);
        for (int64_t j = 0; j < kZn; ++j) exec.f32(z.g)[i * kZn + j] = grad(b, i, j);
      }
      float *dw = exec.f32(z.w.grad_buffer);
      std::fill(dw, dw + kZn * kZk, 7.0f);  // all overwritten
      exec.run(z.p.train, 1);
      ++runs, columns += b != DeadDense, units += b != LiveSparse && b != FewDead;
      EXPECT_EQ(exec.zero_column_runs(z.p.train, 2), std::make_pair(runs, columns));
      EXPECT_EQ(exec.zero_column_runs(z.p.train, 2, true), std::make_pair(runs, units));
      const std::vector<double> want = weight_gradient(exec.f32(z.g), exec.f32(z.x));
      expect_near_all(dw, want, 1.0, "dw");
      for (int64_t j = 0; j < kZn; ++j) {
        bool dead = true;
        for (int64_t i = 0; i < kZm; ++i) dead = dead && grad(b, i, j) == 0.0f;
        for (int64_t q = 0; q < kZk; ++q) {
          if (dead || want[j * kZk + q] == 0) {
            ASSERT_EQ(dw[j * kZk + q], 0.0f) << j << "," << q;
          }
        }
        if (j == 7 && b != AllDead) {
          EXPECT_FALSE(dead);
        }
      }
    }
  }
}

// A plan whose zero-column or units product is not of the form the runtime
// runs is refused at start-up, naming the step.
TEST(Executor, RejectsZeroColumnProductsOfTheWrongForm) {
  const ZeroColumnsPlan z = make_zero_columns_plan();
  const plan::Plan compiled = as_compiled(z.p, 2, false);
  auto error_for = [&](auto change) {
    plan::Plan p = compiled;
    change(p.train.steps[2]);
    try {
      Executor exec(p, kKernels, 2, 0);
    } catch (const std::runtime_error &e) {
      return std::string(e.what());
    }
    return std::string("(accepted)");
  };
  auto has = [](const std::string &error, const std::string &text) { return error.find(text) != std::string::npos; };
  std::string e = error_for([](plan::Step &s) { s.zeros = plan::Step::Keep, s.ta = false, s.m = kZn, s.k = kZm; });
  EXPECT_TRUE(has(e, "test.yaml:2:1: a units product needs a transposed")) << e;
  e = error_for([](plan::Step &s) { s.split = plan::Step::Columns; });
  EXPECT_TRUE(has(e, "an outer zero-column or units product is cut by rows, not columns")) << e;
  e = error_for([](plan::Step &s) { s.zeros = plan::Step::Keep, s.post = "relu"; });
  EXPECT_TRUE(has(e, "an outer zero-column or units product needs b plain, no bias and no post-op")) << e;
  e = error_for([](plan::Step &s) { s.bf16 = true; });
  EXPECT_TRUE(has(e, "a bf16 product that leaves out zero columns or units reads rounded bf16 copies")) << e;
  EXPECT_EQ(error_for([](plan::Step &s) { s.zeros = plan::Step::Keep; }), "(accepted)");
}

// The same products in bf16, reading rounded copies as share_rounding makes
// them (one reorder per value, x's shared by both products): the kept
// columns and units are copied from the copies, and the results are those
// of the rounded operands (f32 accumulation), the left-out rows exactly 0.
// Batches: sparse data with dead units (outer+units), sparse with every unit
// live (columns alone), dense data (whole products), sparse with dead units
// again.
TEST(Executor, Bf16ProductsLeaveOutZeroColumnsAndUnits) {
  ZeroColumnsPlan z = make_zero_columns_plan();
  for (plan::Program *prog : {&z.p.train, &z.p.eval})
    for (plan::Step &s : prog->steps) s.bf16 = s.kind == plan::Step::Matmul;
  enum Batch { DeadSparse, LiveSparse, Dense };
  auto pixel = [](Batch b, int64_t i, int64_t j) -> uint8_t {
    if (b == Dense) return j % 40 == 0 ? 0 : (i * 31 + j * 7) % 256;
    return j < 48 || j % 3 == 0 || j >= 600 ? 0 : (i * 31 + j * 7) % 256;  // 368 columns kept
  };
  auto grad = [](Batch b, int64_t i, int64_t j) -> float {
    if (b != LiveSparse && (j % 3 == 0 || j == 5)) return j == 5 ? -0.0f : 0.0f;
    return static_cast<float>(std::sin(0.3 * double(i * kZn + j)));
  };
  auto rounded = [](float v) {
    const uint32_t bits = uint32_t{round_bf16(v)} << 16;
    float r;
    std::memcpy(&r, &bits, 4);
    return double(r);
  };
  for (int threads : {1, 2}) {
    SCOPED_TRACE("threads " + std::to_string(threads));
    plan::Plan p = as_compiled(z.p, threads, false);
    ASSERT_EQ(p.train.steps[1].zeros, plan::Step::Inner);
    ASSERT_TRUE(p.train.steps[2].zeros == plan::Step::Outer && p.train.steps[2].zero_units);
    std::map<int, int> copy;
    for (int from : {z.x, z.w.buffer, z.g})
      copy[from] = add_buffer(p, p.buffers[from].name + ".bf16", plan::DType::BF16, p.buffers[from].elements);
    for (plan::Program *prog : {&p.train, &p.eval}) {
      std::vector<plan::Step> steps;
      std::set<int> rounded_once;
      for (plan::Step s : prog->steps) {
        if (s.kind == plan::Step::Matmul)
          for (int *operand : {&s.a, &s.b}) {
            if (rounded_once.insert(*operand).second) {
              plan::Step round;
              round.kind = plan::Step::Reorder, round.a = *operand, round.c = copy[*operand];
              round.dims_a = {p.buffers[*operand].elements};
              steps.push_back(round);
            }
            *operand = copy[*operand];
          }
        steps.push_back(s);
      }
      prog->steps = steps;
    }
    Executor exec(p, kKernels, threads, 0);
    for (int64_t i = 0; i < kZn * kZk; ++i) exec.f32(z.w.buffer)[i] = static_cast<float>(std::cos(0.7 * double(i)) * 0.1);
    for (int64_t j = 0; j < kZn; ++j) exec.f32(z.bias)[j] = 0.01f * static_cast<float>(j % 7) - 0.03f;
    int64_t runs = 0, columns = 0, units = 0;
    for (Batch b : {DeadSparse, LiveSparse, Dense, DeadSparse}) {
      SCOPED_TRACE("batch " + std::to_string(b));
      for (int64_t i = 0; i < kZm; ++i) {
        for (int64_t j = 0; j < kZk; ++j) exec.u8(z.in)[i * kZk + j] = pixel(b, i, j);
        for (int64_t j = 0; j < kZn; ++j) exec.f32(z.g)[i * kZn + j] = grad(b, i, j);
      }
      float *dw = exec.f32(z.w.grad_buffer);
      std::fill(dw, dw + kZn * kZk, 7.0f);  // all overwritten
      exec.run(p.train, 1);
      ++runs, columns += b != Dense, units += b != LiveSparse;
      EXPECT_EQ(exec.zero_column_runs(p.train, 3), std::make_pair(runs, columns));
      EXPECT_EQ(exec.zero_column_runs(p.train, 5), std::make_pair(runs, columns));
      EXPECT_EQ(exec.zero_column_runs(p.train, 5, true), std::make_pair(runs, units));
      const float *xs = exec.f32(z.x), *ws = exec.f32(z.w.buffer), *gs = exec.f32(z.g);
      std::vector<double> want_h(kZm * kZn), want_dw(kZn * kZk);
      for (int64_t i = 0; i < kZm; ++i)
        for (int64_t j = 0; j < kZn; ++j) {
          double sum = exec.f32(z.bias)[j];
          for (int64_t q = 0; q < kZk; ++q) sum += rounded(xs[i * kZk + q]) * rounded(ws[j * kZk + q]);
          want_h[i * kZn + j] = std::max(sum, 0.0);
        }
      for (int64_t j = 0; j < kZn; ++j)
        for (int64_t q = 0; q < kZk; ++q) {
          double sum = 0;
          for (int64_t i = 0; i < kZm; ++i) sum += rounded(gs[i * kZn + j]) * rounded(xs[i * kZk + q]);
          want_dw[j * kZk + q] = sum;
        }
      expect_near_all(exec.f32(z.h), want_h, 1.0, "h");
      expect_near_all(dw, want_dw, 1.0, "dw");
      for (int64_t j = 0; j < kZn; ++j)
        for (int64_t q = 0; q < kZk; ++q)
          if (want_dw[j * kZk + q] == 0) {
            ASSERT_EQ(dw[j * kZk + q], 0.0f) << j << "," << q;
          }
    }
  }
}
