// LLVM-compiled fused kernels against run_kernel_reference (the f64 oracle):
// every elementwise op on random inputs and on special values, broadcasts, u8
// loads, chains, reductions over each kind of axis set, in-place updates,
// rank 0..3 domains, thread splits with private accumulators, and the Philox
// normal draws (known-answer vectors, agreement, statistics, split
// independence). Text, verification, vectorization and timings:
// llvm_kernel_codegen_test.cpp.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <map>
#include <random>

#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>
#include <llvm/Target/TargetMachine.h>

#include "codegen/conv_layouts.h"
#include "codegen/jit.h"
#include "abi/bf16_rounding.h"
#include "codegen/kernel.h"
#include "codegen/llvm_kernels.h"
#include "codegen/llvm_target.h"
#include "abi/philox.h"
#include "llvm_kernel_test_util.h"

namespace vaec {
namespace {

using namespace vaec::test;

// --- Philox -------------------------------------------------------------------

TEST(Philox, KnownAnswerVectors) {
  // Random123's tests/kat_vectors, the three philox4x32 10 lines.
  struct Kat {
    Philox4x32 counter;
    uint32_t key[2];
    uint32_t expect[4];
  } kats[] = {
      {{{0, 0, 0, 0}}, {0, 0}, {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
      {{{~0u, ~0u, ~0u, ~0u}}, {~0u, ~0u}, {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
      {{{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}},
       {0xa4093822, 0x299f31d0},
       {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
  };
  for (const Kat &t : kats) {
    Philox4x32 w = philox4x32_10(t.counter, t.key[0], t.key[1]);
    for (int i = 0; i < 4; ++i) EXPECT_EQ(w.w[i], t.expect[i]) << "word " << i;
  }
}

TEST(Philox, CounterSeparatesStreamsStepsAndIndices) {
  auto c = [](uint64_t step, uint32_t stream, uint64_t index) {
    Philox4x32 p = philox_counter(step, stream, index);
    return std::vector<uint32_t>(p.w, p.w + 4);
  };
  EXPECT_NE(c(0, 1, 0), c(0, 0, 0));
  EXPECT_NE(c(uint64_t(1) << 55, 0, 0), c(0, 128, 0));  // step's top bits stay clear of the stream
  EXPECT_NE(c(0, 0, uint64_t(1) << 32), c(0, 0, 0));
  EXPECT_NE(philox_normal(1, 0, 0, 0), philox_normal(2, 0, 0, 0));
}

TEST(Philox, NormalDrawsHaveMeanZeroAndVarianceOne) {
  const int n = 1 << 20;
  double sum = 0, sum2 = 0, within_one = 0;
  for (int i = 0; i < n; ++i) {
    double z = philox_normal(7, 3, 1, uint64_t(i));
    sum += z, sum2 += z * z, within_one += std::fabs(z) < 1;
  }
  double mean = sum / n, var = sum2 / n - mean * mean;
  EXPECT_NEAR(mean, 0.0, 5.0 / std::sqrt(n));
  EXPECT_NEAR(var, 1.0, 0.01);
  EXPECT_NEAR(within_one / n, 0.682689, 0.003);
}

TEST(Philox, CosineIsExactAtQuarterTurns) {
  EXPECT_EQ(philox_cos_turns(0), 1.0);
  EXPECT_EQ(philox_cos_turns(1u << 22), 0.0);
  EXPECT_EQ(philox_cos_turns(1u << 23), -1.0);
  EXPECT_EQ(philox_cos_turns(3u << 22), 0.0);
  for (uint32_t m : {1u, 12345u, 1u << 21, 5000000u, (1u << 24) - 1})
    EXPECT_NEAR(philox_cos_turns(m), std::cos(2 * M_PI * m / double(1 << 24)), 1e-15);
}

// --- Every elementwise op ------------------------------------------------------

TEST(LlvmKernel, EveryElementwiseOpMatchesTheReference) {
  for (Op op : elementwise_ops()) {
    OpDomain dom = domain_of(op);
    double worst = 0;
    for (const FusedKernel &k : op_kernels(op))
      worst = std::max(worst, max_error(k, {{0, dom.a}, {1, dom.b}}));
    std::printf("[ accuracy ] %-10s max rel error %.2e (%.1f f32 ulp)\n", std::string(op_name(op)).c_str(), worst,
                worst / 0x1p-24);
    EXPECT_LE(worst, 1e-5) << op_name(op);
  }
}

// Every op on every pair of special values, against the reference: NaN where
// it gives NaN, the same infinities, finite values within 1e-5. A result
// below 2^-126 may be 0: sigmoid, softplus and bce_logits flush theirs, as
// the trainer's flush-to-zero mode does with every kernel's.
TEST(LlvmKernel, SpecialValuesMatchTheReference) {
  const std::vector<double> specials = {0,    -0.0, 1,     -1,    0.5,  -0.5, 2,    -2,   3,    -3,   100, -100,
                                        1e-40, -1e-40, 1e30, -1e30, 88.7, 89.5, -103, -110, kInf, -kInf, kNaN};
  const int64_t n = int64_t(specials.size());
  for (Op op : elementwise_ops()) {
    KernelBuilder kb(std::string(op_name(op)), {n, n});
    int x = kb.arg(), y = kb.arg(), out = kb.arg();
    int a = kb.load(x, {1, 0}), b = kb.load(y, {0, 1});  // all pairs
    kb.out(kb.apply(op, a, op_info(op).kind == OpKind::Binary ? b : -1), out);
    std::string error;
    auto jit = KernelJit::create({kb.k}, error);
    ASSERT_TRUE(jit) << error;
    std::vector<float> xs(specials.begin(), specials.end()), got(n * n), ref(n * n);
    std::vector<void *> p = {xs.data(), xs.data(), got.data()};
    jit->lookup(kb.k.name)(p.data(), 0, n, nullptr);
    p[2] = ref.data();
    run_kernel_reference(kb.k, p.data(), 0, n, nullptr);
    for (int64_t i = 0; i < n * n; ++i) {
      double e = got[i] == 0 && std::fabs(ref[i]) < 0x1p-126 ? 0 : error_of(got[i], ref[i], 1.2e-38);
      EXPECT_LE(e, 1e-5) << op_name(op) << "(" << xs[i / n] << ", " << xs[i % n] << "): " << got[i] << " vs "
                         << ref[i];
    }
  }
}

// in_place_pairs: an input may share its bytes with an output only when
// every point reads it where it writes that output.
TEST(LlvmKernel, InPlacePairsNeedOneAddressPerPoint) {
  KernelBuilder kb("pairs", {4, 3, 16});
  const std::vector<int64_t> rows = strides_of(kb.k.domain);
  int x = kb.arg(), g = kb.arg(), bias = kb.arg(), dx = kb.arg(), sum = kb.arg(), moved = kb.arg(), y = kb.arg();
  int v = kb.apply(Op::Mul, kb.load(g), kb.apply(Op::Step, kb.load(x)));
  v = kb.apply(Op::Add, v, kb.load(bias, strides_of(kb.k.domain, {0, 0, 1})));  // broadcast: read at many points
  kb.out(v, dx, rows);
  kb.out(v, sum, strides_of(kb.k.domain, {0, 0, 1}), true);  // accumulated
  kb.out(kb.load(moved, {16, 64, 1}), y, rows);                // read at other strides than written
  using Pairs = std::vector<std::pair<int, int>>;
  EXPECT_EQ(in_place_pairs(kb.k), (Pairs{{x, dx}, {g, dx}, {x, y}, {g, y}}));  // not bias, moved or sum

  KernelBuilder overlapping("overlap", {4, 16});  // two points at one address
  int a = overlapping.arg(), o = overlapping.arg();
  overlapping.out(overlapping.apply(Op::Exp, overlapping.load(a, {1, 1})), o, {1, 1});
  EXPECT_TRUE(in_place_pairs(overlapping.k).empty());
}

// A kernel whose output shares its input's bytes gives the results of one
// with separate buffers, also when it reads that input twice per point (the
// second read must not see the output), and with separate buffers still runs
// correctly (its entry picks the code by the pointers).
TEST(LlvmKernel, InPlaceOutputsMatchSeparateOnes) {
  KernelBuilder kb("in_place", {7, 2, 5, 16});
  int x = kb.arg(), g = kb.arg(), dx = kb.arg(), other = kb.arg();
  int first = kb.load(x), second = kb.load(x);
  kb.out(kb.apply(Op::Mul, kb.load(g), kb.apply(Op::Step, first)), dx, strides_of(kb.k.domain));
  kb.out(kb.apply(Op::Exp, second), other, strides_of(kb.k.domain));
  kb.k.in_place = {{x, dx}};
  std::string error;
  auto jit = KernelJit::create({kb.k}, error);
  ASSERT_TRUE(jit) << error;
  std::mt19937 gen(7);
  Buffers separate = random_buffers(kb.k, gen);
  Buffers shared = separate, apart = separate;
  run_sliced(jit->lookup("in_place"), kb.k, separate, {3});  // no pointers equal: the ordinary code
  std::vector<void *> p = shared.pointers();
  p[dx] = p[x];
  jit->lookup("in_place")(p.data(), 0, 3, kRng);
  jit->lookup("in_place")(p.data(), 3, 7, kRng);
  EXPECT_EQ(shared.f32[x], separate.f32[dx]);
  EXPECT_EQ(shared.f32[other], separate.f32[other]);
  run_kernel_reference(kb.k, apart.pointers().data(), 0, 7, kRng);
  for (size_t i = 0; i < apart.f32[dx].size(); ++i) {
    EXPECT_EQ(separate.f32[dx][i], apart.f32[dx][i]) << i;
    EXPECT_NEAR(separate.f32[other][i], apart.f32[other][i], 1e-6 * std::abs(apart.f32[other][i])) << i;
  }
}

// Evaluates a one-op kernel on one input (or pair) and returns the f32 result.
float eval1(Op op, float a, float b = 0) {
  KernelBuilder kb("one", {});
  int x = kb.arg(), y = kb.arg(), out = kb.arg();
  kb.out(kb.apply(op, kb.load(x, {}), kb.load(y, {})), out, {});
  if (op_info(op).kind == OpKind::Unary) kb.k.instrs.back().b = -1;
  std::string error;
  auto jit = KernelJit::create({kb.k}, error);
  EXPECT_TRUE(jit) << error;
  float r = kNaN;
  std::vector<void *> p = {&a, &b, &r};
  jit->lookup("one")(p.data(), 0, 1, nullptr);
  return r;
}

// sigmoid and softplus share exp(-|x|) and softplus's log1p of it is a
// polynomial (llvm_math.cpp): over a dense sweep of x, both within 4 ulp of
// the f64 formulas wherever the result is a normal float.
TEST(LlvmKernel, SigmoidAndSoftplusWithinFourUlp) {
  const int64_t n = int64_t{1} << 20;
  std::vector<float> xs(n);
  for (int64_t i = 0; i < n; ++i) xs[i] = float(-87.0 + 107.0 * double(i) / double(n));  // [-87, 20)
  for (Op op : {Op::Sigmoid, Op::Softplus}) {
    KernelBuilder kb(std::string(op_name(op)), {n});
    int x = kb.arg(), out = kb.arg();
    kb.out(kb.apply(op, kb.load(x, {1})), out, {1});
    std::string error;
    auto jit = KernelJit::create({kb.k}, error);
    ASSERT_TRUE(jit) << error;
    std::vector<float> got(n);
    std::vector<void *> p = {xs.data(), got.data()};
    jit->lookup(kb.k.name)(p.data(), 0, n, nullptr);
    double worst = 0;
    float at = 0;
    for (int64_t i = 0; i < n; ++i) {
      const double v = xs[i];
      const double ref = op == Op::Sigmoid ? 1 / (1 + std::exp(-v)) : std::max(v, 0.0) + std::log1p(std::exp(-std::fabs(v)));
      if (ref < 0x1p-126) continue;
      const double ulps = std::fabs(got[i] - ref) / std::ldexp(1.0, std::ilogb(ref) - 23);
      if (ulps > worst) worst = ulps, at = xs[i];
    }
    std::printf("[ accuracy ] %-10s %.2f ulp at most, at x = %g\n", std::string(op_name(op)).c_str(), worst, at);
    EXPECT_LE(worst, 4.0) << op_name(op) << " at x = " << at;
  }
}

TEST(LlvmKernel, SpecialValuesPinned) {
  EXPECT_EQ(eval1(Op::Exp, 100), INFINITY);
  EXPECT_EQ(eval1(Op::Exp, -INFINITY), 0.0f);
  EXPECT_NEAR(eval1(Op::Exp, -100), 3.720076e-44f, 2e-45f);  // a denormal, not flushed
  EXPECT_EQ(eval1(Op::Exp, 0), 1.0f);
  EXPECT_EQ(eval1(Op::Log, 0), -INFINITY);
  EXPECT_EQ(eval1(Op::Log, 1), 0.0f);
  EXPECT_TRUE(std::isnan(eval1(Op::Log, -1)));
  EXPECT_NEAR(eval1(Op::Log, 1e-40f), std::log(1e-40f), 1e-5);
  EXPECT_TRUE(std::isnan(eval1(Op::Sqrt, -1)));
  EXPECT_EQ(eval1(Op::Sigmoid, 100), 1.0f);
  EXPECT_LT(eval1(Op::Sigmoid, -100), 1e-38f);
  EXPECT_GE(eval1(Op::Sigmoid, -100), 0.0f);
  EXPECT_EQ(eval1(Op::Tanh, 100), 1.0f);
  EXPECT_EQ(eval1(Op::Tanh, -INFINITY), -1.0f);
  EXPECT_EQ(eval1(Op::Softplus, 100), 100.0f);
  EXPECT_EQ(eval1(Op::Bce, 0, 1), 100.0f);  // log clamped at -100, as PyTorch's BCELoss
  EXPECT_EQ(eval1(Op::Bce, 1, 0), 100.0f);
  EXPECT_EQ(eval1(Op::BceLogits, -100, 1), 100.0f);
  EXPECT_EQ(eval1(Op::Pow, 0, 0), 1.0f);
  EXPECT_EQ(eval1(Op::Pow, -2, 3), -8.0f);
  EXPECT_TRUE(std::isnan(eval1(Op::Pow, -2, 0.5)));
  EXPECT_EQ(eval1(Op::Div, 1, 0), INFINITY);
  // NaN in, NaN out for arithmetic...
  for (Op op : {Op::Exp, Op::Log, Op::Sqrt, Op::Sigmoid, Op::Tanh, Op::Softplus, Op::Neg})
    EXPECT_TRUE(std::isnan(eval1(op, NAN))) << op_name(op);
  for (Op op : {Op::Add, Op::Mul, Op::Pow, Op::Bce, Op::BceLogits, Op::Mse})
    EXPECT_TRUE(std::isnan(eval1(op, NAN, 0.5))) << op_name(op);
  // ...but relu and step compare x > 0, as ir/elementwise_f64.cpp defines them.
  EXPECT_EQ(eval1(Op::Relu, NAN), 0.0f);
  EXPECT_EQ(eval1(Op::Step, NAN), 0.0f);
}

// --- Loop nests: broadcasts, u8, chains, reductions, in place ----------------

TEST(LlvmKernel, BroadcastsAlongEveryAxis) {
  std::vector<int64_t> d = {3, 5, 7};
  for (std::vector<int> keep :
       {std::vector<int>{0, 1, 1}, {1, 0, 1}, {1, 1, 0}, {0, 0, 1}, {1, 0, 0}, {0, 0, 0}}) {
    KernelBuilder kb("bcast", d);
    int x = kb.arg(), y = kb.arg(), out = kb.arg();
    int s = kb.apply(Op::Mul, kb.load(x), kb.load(y, strides_of(d, keep)));
    kb.out(kb.apply(Op::Tanh, s), out);
    EXPECT_LE(max_error(kb.k), 1e-6);
  }
}

TEST(LlvmKernel, DomainsOfRankZeroToThree) {
  for (std::vector<int64_t> d :
       {std::vector<int64_t>{}, {1}, {129}, {4096}, {2, 1}, {1, 129}, {3, 5, 7}, {2, 3, 1, 4}}) {
    KernelBuilder kb("rank", d);
    int x = kb.arg(), y = kb.arg(), out = kb.arg(), sum = kb.arg();
    int e = kb.apply(Op::Add, kb.apply(Op::Exp, kb.load(x)), kb.load(y));
    kb.out(e, out);
    kb.out(e, sum, std::vector<int64_t>(d.size(), 0), true);
    EXPECT_LE(max_error(kb.k, {{1, {0, 1}}}), 1e-5) << kernel_to_string(kb.k);  // positive: no cancellation
  }
}

TEST(LlvmKernel, U8LoadsAreScaled) {
  KernelBuilder kb("pixels", {128, 784});
  int x = kb.arg(BufferType::U8), logits = kb.arg(), out = kb.arg(), loss = kb.arg();
  int pixel = kb.load(x, strides_of(kb.k.domain), 1.0 / 255);
  kb.out(pixel, out);
  kb.out(kb.apply(Op::BceLogits, kb.load(logits), pixel), loss, {1, 0}, true);  // per-row loss
  EXPECT_LE(max_error(kb.k, {{1, {-5, 5}}}), 1e-5);
}

// sigmoid(a * w + c) - softplus(b) / sqrt(b) ... : several ops, consts, two
// loads broadcast differently, two stored outputs and one reduced.
TEST(LlvmKernel, ChainedOpsWithSeveralOutputs) {
  std::vector<int64_t> d = {6, 33};
  KernelBuilder kb("chain", d);
  int a = kb.arg(), w = kb.arg(), b = kb.arg(), o1 = kb.arg(), o2 = kb.arg(), o3 = kb.arg();
  int la = kb.load(a), lw = kb.load(w, strides_of(d, {0, 1})), lb = kb.load(b, strides_of(d, {1, 0}));
  int z = kb.apply(Op::Add, kb.apply(Op::Mul, la, lw), kb.constant(0.25));
  int s = kb.apply(Op::Sigmoid, z);
  int t = kb.apply(Op::Div, kb.apply(Op::Softplus, lb), kb.apply(Op::Sqrt, lb));
  int r = kb.apply(Op::Sub, s, t);
  kb.out(r, o1);
  kb.out(kb.apply(Op::Pow, lb, kb.constant(1.5)), o2, strides_of(d, {1, 0}));
  kb.out(kb.apply(Op::Mse, s, kb.apply(Op::Exp, kb.apply(Op::Neg, lb))), o3, {0, 0}, true);
  EXPECT_LE(max_error(kb.k, {{2, {0.5, 4}}}), 1e-5);
}

TEST(LlvmKernel, ReductionsOverFirstInnerAndAllAxes) {
  std::vector<int64_t> d = {17, 129};
  KernelBuilder kb("reduce", d);
  int x = kb.arg(), y = kb.arg(), cols = kb.arg(), rows = kb.arg(), all = kb.arg(), copy = kb.arg();
  int v = kb.apply(Op::Mul, kb.load(x), kb.apply(Op::Sigmoid, kb.load(y)));
  kb.out(v, cols, strides_of(d, {0, 1}), true);  // over the first axis: in memory
  kb.out(v, rows, strides_of(d, {1, 0}), true);  // over the inner axis: in a register
  kb.out(v, all, {0, 0}, true);
  kb.out(v, copy);
  EXPECT_LE(max_error(kb.k, {{0, {0, 2}}}), 1e-5);
  // A rank-3 reduction over the middle axis, kept rows and columns.
  KernelBuilder k3("reduce_mid", {4, 9, 33});
  int x3 = k3.arg(), o3 = k3.arg();
  k3.out(k3.apply(Op::Exp, k3.load(x3)), o3, strides_of(k3.k.domain, {1, 0, 1}), true);
  EXPECT_LE(max_error(k3.k), 1e-5);
}

// Max and min reductions over the first axis (in memory), the inner axis
// (in a register) and everything, as reference and LLVM agree; the identity
// of each is what a fresh output starts from.
TEST(LlvmKernel, MaxAndMinReductions) {
  std::vector<int64_t> d = {13, 67};
  KernelBuilder kb("extremes", d);
  int x = kb.arg(), cols = kb.arg(), rows = kb.arg(), all = kb.arg();
  int v = kb.apply(Op::Tanh, kb.load(x));
  kb.out(v, cols, strides_of(d, {0, 1}), true);
  kb.k.outputs.back().combine = Op::Max;
  kb.out(v, rows, strides_of(d, {1, 0}), true);
  kb.k.outputs.back().combine = Op::Min;
  kb.out(v, all, {0, 0}, true);
  kb.k.outputs.back().combine = Op::Max;
  EXPECT_EQ(verify_kernel(kb.k), "");
  EXPECT_LE(max_error(kb.k, {{0, {-3, 3}}}), 1e-6);
  EXPECT_EQ(combine_identity(Op::Max), -HUGE_VAL);
  EXPECT_EQ(combine_identity(Op::Min), HUGE_VAL);
  EXPECT_EQ(combine_identity(Op::Sum), 0.0);
}

// A slice is a load at an offset; a pad a guarded load reading 0 outside its
// window (and no memory there: the source is exactly as large as the window).
TEST(LlvmKernel, SliceAndPadLoads) {
  // slice: out[i, j] = x[i, j + 3] of x [5, 10], out [5, 4]
  KernelBuilder ks("slice", {5, 4});
  int x = ks.arg(), o = ks.arg();
  int l = ks.load(x, {10, 1});
  ks.k.instrs[l].offset = 3;
  ks.out(ks.apply(Op::Exp, l), o);
  EXPECT_EQ(verify_kernel(ks.k), "");
  EXPECT_LE(max_error(ks.k), 1e-6);
  // pad: out [5, 9, 7], x [5, 3, 7] placed at 4 along axis 1, plus one more pad on axis 2
  KernelBuilder kp("pad", {5, 9, 7});
  int a = kp.arg(), out = kp.arg();
  int p = kp.load(a, {21, 7, 1});
  kp.k.instrs[p].offset = -4 * 7;
  kp.k.instrs[p].guard_axis = 1;
  kp.k.instrs[p].guard_lo = 4;
  kp.k.instrs[p].guard_hi = 7;
  kp.out(kp.apply(Op::Add, p, kp.constant(1.0)), out);
  EXPECT_EQ(verify_kernel(kp.k), "");
  EXPECT_LE(max_error(kp.k), 1e-6);
  KernelInstr bad = kp.k.instrs[p];
  bad.guard_axis = -1;
  kp.k.instrs[p] = bad;
  EXPECT_NE(verify_kernel(kp.k), "");  // a negative offset needs its guard
}

// x <- x * 0.9 + g, the shape of an optimizer update: output and load share
// the arg (and the strides).
TEST(LlvmKernel, InPlaceUpdate) {
  std::vector<int64_t> d = {10, 257};
  KernelBuilder kb("sgd", d);
  int x = kb.arg(), g = kb.arg();
  int lx = kb.load(x);
  int v = kb.apply(Op::Add, kb.apply(Op::Mul, lx, kb.constant(0.9)), kb.load(g));
  kb.out(v, x);
  EXPECT_LE(max_error(kb.k, {{0, {0, 1}}, {1, {0, 1}}}), 1e-6);
}

TEST(LlvmKernel, RandomKernelsMatchTheReference) {
  std::mt19937 gen(99);
  for (int i = 0; i < 40; ++i) {
    FusedKernel k = random_kernel(gen, i);
    std::map<int, std::pair<double, double>> positive;
    for (size_t a = 0; a < k.args.size(); ++a) positive[int(a)] = {0.1, 2};
    EXPECT_LE(max_error(k, positive), 1e-5) << kernel_to_string(k);
  }
}

// --- Normal draws ---------------------------------------------------------------

TEST(KernelWork, WeighsPointsByTheirInstructions) {
  auto add = [](std::vector<int64_t> d) {
    KernelBuilder kb("add", std::move(d));
    int a = kb.arg(), b = kb.arg(), out = kb.arg();
    kb.out(kb.apply(Op::Add, kb.load(a), kb.load(b)), out);
    return kb.k;
  };
  EXPECT_EQ(kernel_work(add({128, 20})), 128 * 20 * 4 / 2);  // 2 loads, 1 add, 1 store
  EXPECT_LT(kernel_work(add({128, 20})), 1 << 14);
  EXPECT_GE(kernel_work(add({128, 784})), 1 << 14);
  KernelBuilder kb("sampler", {128, 20});
  int mu = kb.arg(), logvar = kb.arg(), z = kb.arg();
  int scale = kb.apply(Op::Exp, kb.apply(Op::Mul, kb.constant(0.5), kb.load(logvar)));
  kb.out(kb.apply(Op::Add, kb.load(mu), kb.apply(Op::Mul, scale, kb.normal(0))), z);
  EXPECT_EQ(kernel_work(kb.k), 128 * 20 * (2 + 1 + 8 + 16 + 2 + 1) / 2);
  EXPECT_GE(kernel_work(kb.k), 1 << 14);
  EXPECT_EQ(kernel_work(FusedKernel{}), 1);  // rank 0, nothing in it
}

TEST(LlvmKernel, NormalDrawsMatchTheReference) {
  for (std::vector<int64_t> d : {std::vector<int64_t>{1000}, {7, 129}, {}}) {
    FusedKernel k = normal_kernel(d);
    double worst = max_error(k);
    std::printf("[ accuracy ] normal over %s: max rel error %.2e\n", dims_str(d).c_str(), worst);
    EXPECT_LE(worst, 1e-6);
  }
}

TEST(LlvmKernel, NormalDrawsDoNotDependOnTheSplit) {
  for (std::vector<int64_t> d : {std::vector<int64_t>{1000}, {9, 100}}) {
    FusedKernel k = normal_kernel(d);
    std::string error;
    auto jit = KernelJit::create({k}, error);
    ASSERT_TRUE(jit) << error;
    std::mt19937 gen(1);
    Buffers whole = random_buffers(k, gen), split = whole;
    run_sliced(jit->lookup(k.name), k, whole);
    std::vector<int64_t> cuts = d[0] == 1000 ? std::vector<int64_t>{1, 17, 500, 777} : std::vector<int64_t>{1, 4};
    run_sliced(jit->lookup(k.name), k, split, cuts);
    EXPECT_EQ(0, std::memcmp(whole.f32[0].data(), split.f32[0].data(), whole.f32[0].size() * sizeof(float)));
  }
}

// A batch split across processes (runtime/dist/): a call over rows
// [first, end) of the batch as a domain of its own, with rng[2] = first,
// draws exactly the whole batch's noise for those rows, compiled and in the
// f64 reference.
TEST(LlvmKernel, NormalDrawsOfARowShareAreTheBatchRows) {
  const int64_t rows = 9, cols = 100, first = 4;
  FusedKernel whole = normal_kernel({rows, cols}), share = normal_kernel({rows - first, cols});
  share.name = "noise_share";
  std::string error;
  auto jit = KernelJit::create({whole, share}, error);
  ASSERT_TRUE(jit) << error;
  std::vector<float> all(rows * cols), part((rows - first) * cols);
  void *a[] = {all.data()}, *b[] = {part.data()};
  const uint64_t rng[3] = {kRng[0], kRng[1], uint64_t(first)};
  jit->lookup(whole.name)(a, 0, rows, kRng);
  jit->lookup(share.name)(b, 0, rows - first, rng);
  EXPECT_EQ(0, std::memcmp(all.data() + first * cols, part.data(), part.size() * sizeof(float)));
  std::vector<float> ref32(part.size());
  void *r[] = {ref32.data()};
  run_kernel_reference(share, r, 0, rows - first, rng);
  for (size_t i = 0; i < part.size(); ++i) EXPECT_NEAR(ref32[i], part[i], 1e-5 * (1 + std::fabs(part[i])));
}

TEST(LlvmKernel, CompiledNormalDrawsAreStandardNormal) {
  const int64_t n = 1 << 20;
  FusedKernel k = normal_kernel({n});
  std::string error;
  auto jit = KernelJit::create({k}, error);
  ASSERT_TRUE(jit) << error;
  std::vector<float> z(n);
  void *p = z.data();
  jit->lookup(k.name)(&p, 0, n, kRng);
  double sum = 0, sum2 = 0;
  for (float v : z) sum += v, sum2 += double(v) * v;
  EXPECT_NEAR(sum / n, 0.0, 5.0 / std::sqrt(double(n)));
  EXPECT_NEAR(sum2 / n, 1.0, 0.01);
}

// A bf16 output stores the value rounded as the runtime rounds the operands
// of bf16 products (abi/bf16_rounding.h): ties to even, zeros and denormals
// to a signed zero, NaN made quiet, overflow to infinity; the same bits with
// vcvtneps2bf16 (where the host has it) and with the integer operations,
// and the same as the reference. The f32 output next to it is untouched.
TEST(LlvmKernel, Bf16OutputsRoundLikeTheRuntime) {
  std::vector<uint32_t> specials = {0x00000000, 0x80000000, 0x00000001, 0x807fffff, 0x00400000, 0x7f800000,
                                    0xff800000, 0x7f800001, 0xffc00001, 0x7fbfffff, 0x7f7fffff, 0xff7fffff,
                                    0x3f808000, 0x3f818000, 0x3f808001, 0x3f817fff, 0x00800000, 0x80800000,
                                    0x3f800000, 0xbf7fffff};
  // Rows of 37 (two vectors a turn, then one, then a scalar tail), 10 (8
  // lanes) and 1.
  for (std::vector<int64_t> domain : {std::vector<int64_t>{21, 37}, {7, 10}, {5, 1}}) {
    const size_t n = static_cast<size_t>(domain[0] * domain[1]);
    std::vector<uint32_t> bits(specials.begin(), specials.begin() + std::min(n, specials.size()));
    std::mt19937 gen(7);
    while (bits.size() < n) bits.push_back(gen());  // every exponent and payload
    std::vector<float> x(n);
    std::memcpy(x.data(), bits.data(), n * 4);
    KernelBuilder kb("round", domain);
    int in = kb.arg(), copy = kb.arg(), rounded = kb.arg(BufferType::BF16);
    int v = kb.load(in);
    kb.out(v, copy);
    kb.out(v, rounded);
    ASSERT_EQ(verify_kernel(kb.k), "");
    std::vector<uint16_t> want(n), reference(n);
    for (size_t i = 0; i < n; ++i) want[i] = rt::round_bf16(x[i]);
    std::vector<float> copied(n);
    void *buffers[3] = {x.data(), copied.data(), reference.data()};
    run_kernel_reference(kb.k, buffers, 0, domain[0], kRng);
    EXPECT_EQ(reference, want);
    std::vector<bool> natives = {false};
    if (host_has_avx512_bf16()) natives.push_back(true);
    for (bool native : natives) {
      std::string error;
      auto jit = KernelJit::create({kb.k}, error, native);
      ASSERT_TRUE(jit) << error;
      std::vector<uint16_t> got(n, 0xdead);
      std::vector<float> got_copy(n);
      void *b[3] = {x.data(), got_copy.data(), got.data()};
      jit->lookup("round")(b, 0, 3, kRng);  // in two slices, as two threads would
      jit->lookup("round")(b, 3, domain[0], kRng);
      for (size_t i = 0; i < n; ++i)
        ASSERT_EQ(got[i], want[i]) << "native " << native << " at " << i << ": f32 bits " << std::hex << bits[i];
      EXPECT_EQ(std::memcmp(got_copy.data(), x.data(), n * 4), 0);
    }
  }
  // bf16 args are written only, by plain stores.
  KernelBuilder bad("bad", {4});
  int b16 = bad.arg(BufferType::BF16), sum = bad.arg(BufferType::BF16);
  bad.out(bad.load(b16), sum, {0}, true);
  EXPECT_NE(verify_kernel(bad.k).find("loads a bf16 arg"), std::string::npos) << verify_kernel(bad.k);
  bad.k.instrs[0].arg = -1, bad.k.instrs[0].kind = KernelInstr::Const;
  EXPECT_NE(verify_kernel(bad.k).find("accumulates into a bf16 arg"), std::string::npos) << verify_kernel(bad.k);
}

}  // namespace
}  // namespace vaec
