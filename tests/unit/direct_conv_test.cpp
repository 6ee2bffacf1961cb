// Direct convolution kernels (codegen/direct_conv.h): the LLVM code against
// the f64 reference for each kind, either side narrow, strides, pads, taps
// that miss the image, bias and post-ops, whole and split among "threads";
// the reference against a plain conv2d loop; the wide side's prefetches;
// and the checks that keep a kernel the emitter cannot run out of the plan.
#include <gtest/gtest.h>

#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>
#include <llvm/Support/raw_ostream.h>

#include <cmath>
#include <random>

#include "codegen/direct_conv.h"
#include "codegen/jit.h"
#include "codegen/llvm_kernels.h"

namespace vaec {
namespace {

DirectConv conv(DirectConv::Kind kind, bool narrow_input, int64_t C, int64_t H, int64_t W, int64_t K, int64_t taps,
                int64_t stride, int64_t pad) {
  DirectConv d;
  d.kind = kind, d.narrow_input = narrow_input;
  d.C = C, d.H = H, d.W = W, d.K = K, d.KH = d.KW = taps, d.sh = d.sw = stride, d.pt = d.pl = pad;
  // The output size of a conv2d with this pad on both sides.
  d.OH = (H + 2 * pad - taps) / stride + 1;
  d.OW = (W + 2 * pad - taps) / stride + 1;
  return d;
}

FusedKernel kernel_of(const DirectConv &d, int64_t n, const std::string &name) {
  FusedKernel k;
  k.name = name;
  k.domain = {n};
  k.conv = d;
  const size_t args = d.kind == DirectConv::Weights ? 3 : d.bias ? 4 : 3;
  k.args.assign(args, BufferType::F32);
  return k;
}

// Elements of each argument: the sides, the weights, the bias.
std::vector<size_t> sizes(const DirectConv &d, int64_t n) {
  const size_t in = size_t(n * d.C * d.H * d.W), out = size_t(n * d.K * d.OH * d.OW),
               w = size_t(d.K * d.C * d.KH * d.KW);
  const size_t bias = size_t(d.kind == DirectConv::Input ? d.C : d.K);
  switch (d.kind) {
    case DirectConv::Output: return d.bias ? std::vector<size_t>{in, w, bias, out} : std::vector<size_t>{in, w, out};
    case DirectConv::Input: return d.bias ? std::vector<size_t>{out, w, bias, in} : std::vector<size_t>{out, w, in};
    case DirectConv::Weights: return {in, out, w};
  }
  return {};
}

using Buffers = std::vector<std::vector<float>>;
std::vector<void *> pointers(Buffers &b) {
  std::vector<void *> p;
  for (auto &v : b) p.push_back(v.data());
  return p;
}

// The largest error of compiled kernel `k`, run whole and split at rows 1
// and n/2 + 1 (Weights: each slice into zeroed copies, summed after),
// relative to the sum of the magnitudes that make each result.
double max_error(KernelJit &jit, const FusedKernel &k) {
  const DirectConv &d = *k.conv;
  const int64_t n = k.domain[0];
  std::mt19937 gen(7);
  std::uniform_real_distribution<float> u(-1, 1);
  Buffers input;
  for (size_t s : sizes(d, n)) {
    input.emplace_back(s);
    for (float &x : input.back()) x = u(gen);
  }
  const int result = direct_conv_result_arg(d);
  Buffers ref = input;
  run_kernel_reference(k, pointers(ref).data(), 0, n, nullptr);
  // Each result's scale: the reference with every operand made positive.
  Buffers mag = input;
  for (auto &v : mag)
    for (float &x : v) x = std::fabs(x);
  run_kernel_reference(k, pointers(mag).data(), 0, n, nullptr);
  double worst = 0;
  for (bool split : {false, true}) {
    Buffers got = input;
    KernelJit::Fn fn = jit.lookup(k.name);
    if (!split) {
      fn(pointers(got).data(), 0, n, nullptr);
    } else {
      const std::vector<int64_t> cuts = {0, 1, n / 2 + 1, n};
      for (size_t c = 0; c + 1 < cuts.size(); ++c) {
        Buffers local = got;
        if (d.kind == DirectConv::Weights) std::fill(local[result].begin(), local[result].end(), 0.0f);
        std::vector<void *> p = pointers(got);
        if (d.kind == DirectConv::Weights) p[result] = local[result].data();
        fn(p.data(), cuts[c], cuts[c + 1], nullptr);
        if (d.kind == DirectConv::Weights)
          for (size_t e = 0; e < got[result].size(); ++e) got[result][e] += local[result][e];
      }
    }
    for (size_t a = 0; a < got.size(); ++a)
      for (size_t e = 0; e < got[a].size(); ++e) {
        const double err = std::fabs(double(got[a][e]) - double(ref[a][e])) / std::max(1.0, double(mag[a][e]));
        EXPECT_LT(err, 1e-5) << direct_conv_text(d) << (split ? " split" : " whole") << " arg " << a << " [" << e
                             << "]: " << got[a][e] << " vs " << ref[a][e];
        worst = std::max(worst, err);
      }
  }
  return worst;
}

// Compiles every case in one module and checks each.
void check_all(const std::vector<DirectConv> &cases, int64_t n) {
  std::vector<FusedKernel> kernels;
  for (size_t c = 0; c < cases.size(); ++c) {
    kernels.push_back(kernel_of(cases[c], n, "conv_" + std::to_string(c)));
    EXPECT_EQ(verify_kernel(kernels.back()), "") << direct_conv_text(cases[c]);
  }
  std::string error;
  auto jit = KernelJit::create(kernels, error);
  ASSERT_TRUE(jit) << error;
  for (const FusedKernel &k : kernels) EXPECT_LT(max_error(*jit, k), 1e-5) << direct_conv_text(*k.conv);
}

TEST(DirectConv, DecoderOutputLayerInAllThreeKinds) {
  // mnist_conv's x_hat: 32 -> 1 channel, 3x3, same padding, its bias and sigmoid.
  std::vector<DirectConv> cases;
  for (auto kind : {DirectConv::Output, DirectConv::Input, DirectConv::Weights}) {
    cases.push_back(conv(kind, false, 32, 28, 28, 1, 3, 1, 1));
    if (kind == DirectConv::Output) cases.back().bias = true, cases.back().post = Op::Sigmoid;
  }
  check_all(cases, 4);
}

// The wide side is prefetched rows ahead of the pixel walk: for reading
// where a kernel reads it (Output, Weights), for writing where it writes it
// (Input); one line per block of 16 channels and pixel.
TEST(DirectConv, PrefetchesTheWideSideRowsAhead) {
  const std::pair<DirectConv::Kind, const char *> kinds[] = {
      {DirectConv::Output, "i32 0, i32 3, i32 1)"}, {DirectConv::Input, "i32 1, i32 3, i32 1)"},
      {DirectConv::Weights, "i32 0, i32 3, i32 1)"}};
  for (const auto &[kind, rw] : kinds) {
    llvm::LLVMContext ctx;
    llvm::Module m("prefetch", ctx);
    const DirectConv d = conv(kind, false, 32, 28, 28, 1, 3, 1, 1);
    emit_direct_conv(m, "k", d, 3);
    std::string ir;
    llvm::raw_string_ostream os(ir);
    m.print(os, nullptr);
    size_t calls = 0, matching = 0;
    for (size_t at = ir.find("call void @llvm.prefetch"); at != std::string::npos;
         at = ir.find("call void @llvm.prefetch", at + 1)) {
      ++calls;
      matching += ir.compare(ir.find(')', at) - std::string(rw).size() + 1, std::string(rw).size(), rw) == 0;
    }
    EXPECT_EQ(calls, 2u) << direct_conv_text(d);  // the two blocks of 32 channels, once per pixel
    EXPECT_EQ(matching, calls) << direct_conv_text(d) << ": not " << rw;
  }
}

TEST(DirectConv, EveryKindEitherSideStridesPadsAndPosts) {
  std::vector<DirectConv> cases;
  int serial = 0;
  for (auto kind : {DirectConv::Output, DirectConv::Input, DirectConv::Weights})
    for (bool narrow_input : {false, true})
      for (int64_t narrow : {1, 3})
        for (int64_t taps : {1, 3, 5})
          for (int64_t stride : {1, 2}) {
            const int64_t pad = taps / 2;
            DirectConv d = narrow_input ? conv(kind, true, narrow, 9, 7, 16, taps, stride, pad)
                                        : conv(kind, false, 16, 9, 7, narrow, taps, stride, pad);
            if (kind != DirectConv::Weights) {
              d.bias = serial % 2 == 0;
              const bool narrow_result = (kind == DirectConv::Input) == narrow_input;
              d.post = serial % 3 == 0 ? Op::Relu : serial % 3 == 1 && narrow_result ? Op::Sigmoid : Op::Add;
            }
            if (direct_conv_vectors(d) > kDirectConvMaxVectors) continue;
            cases.push_back(d);
            ++serial;
          }
  check_all(cases, 5);
}

TEST(DirectConv, UnevenPadsAndTapsThatMissTheImage) {
  // TensorFlow's "same" with stride 2 pads only after (pt = pl = 0); a 5x5
  // kernel over a 2x3 image with pad 4 leaves some output pixels no tap.
  std::vector<DirectConv> cases;
  DirectConv d = conv(DirectConv::Output, false, 32, 28, 28, 2, 3, 2, 0);
  d.OH = d.OW = 14;
  cases.push_back(d);
  d.kind = DirectConv::Weights;
  cases.push_back(d);
  for (auto kind : {DirectConv::Output, DirectConv::Input, DirectConv::Weights}) {
    DirectConv e = conv(kind, false, 16, 2, 3, 1, 5, 1, 4);
    EXPECT_EQ(e.OH, 6);
    if (kind != DirectConv::Weights) e.bias = true;
    cases.push_back(e);
  }
  check_all(cases, 3);
}

TEST(DirectConv, InputAtAStrideWalksItsPhases) {
  // An Input kernel at stride s walks the conv-input side in s x s phases,
  // each with its own taps: a transposed convolution's forward (here a
  // decoder's last layer, 32 -> 1 and 3 channels, 3x3, stride 2, TensorFlow's
  // "same": pad 0 before, 14 -> 28), strides beyond the taps (phases with no
  // tap: bias alone), a stride per axis, a wide result and an odd extent.
  std::vector<DirectConv> cases;
  for (int64_t narrow : {1, 3}) {
    DirectConv d = conv(DirectConv::Input, true, narrow, 28, 28, 32, 3, 2, 0);
    d.OH = d.OW = 14;
    d.bias = true;
    d.post = narrow == 1 ? Op::Sigmoid : Op::Add;
    cases.push_back(d);
  }
  DirectConv sparse = conv(DirectConv::Input, true, 2, 8, 7, 16, 2, 3, 1);
  sparse.bias = true;
  cases.push_back(sparse);
  DirectConv axes = conv(DirectConv::Input, false, 16, 11, 9, 2, 3, 1, 1);
  axes.sh = 2, axes.sw = 3, axes.pl = 2;
  axes.OH = (11 + 2 - 3) / 2 + 1, axes.OW = (9 + 2 - 3) / 3 + 1;
  axes.post = Op::Relu;
  cases.push_back(axes);
  DirectConv pad_after = conv(DirectConv::Input, false, 16, 7, 7, 1, 5, 2, 0);
  pad_after.OH = pad_after.OW = 4;
  cases.push_back(pad_after);
  check_all(cases, 3);
}

TEST(DirectConv, ReferenceIsAPlainConvolution) {
  // Output with K = 1 against a loop over plain NCHW written here: the
  // reference's nChw16c indexing and tap geometry.
  DirectConv d = conv(DirectConv::Output, false, 16, 4, 5, 1, 3, 1, 1);
  const int64_t n = 2;
  FusedKernel k = kernel_of(d, n, "plain");
  std::vector<float> x(n * 16 * 4 * 5), w(16 * 9), y(n * 4 * 5), blocked(x.size());
  for (size_t i = 0; i < x.size(); ++i) x[i] = float(i % 7) - 3;
  for (size_t i = 0; i < w.size(); ++i) w[i] = float(i % 5) - 2;
  for (int64_t b = 0; b < n; ++b)  // nChw16c with one block: (h, w, c)
    for (int64_t c = 0; c < 16; ++c)
      for (int64_t p = 0; p < 20; ++p) blocked[(b * 20 + p) * 16 + c] = x[(b * 16 + c) * 20 + p];
  void *args[3] = {blocked.data(), w.data(), y.data()};
  run_kernel_reference(k, args, 0, n, nullptr);
  for (int64_t b = 0; b < n; ++b)
    for (int64_t oh = 0; oh < 4; ++oh)
      for (int64_t ow = 0; ow < 5; ++ow) {
        double s = 0;
        for (int64_t c = 0; c < 16; ++c)
          for (int64_t i = 0; i < 3; ++i)
            for (int64_t j = 0; j < 3; ++j) {
              const int64_t ih = oh - 1 + i, iw = ow - 1 + j;
              if (ih >= 0 && ih < 4 && iw >= 0 && iw < 5) s += x[((b * 16 + c) * 4 + ih) * 5 + iw] * w[(c * 3 + i) * 3 + j];
            }
        EXPECT_EQ(y[(b * 4 + oh) * 5 + ow], float(s));
      }
}

TEST(DirectConv, VerifyRefusesWhatTheEmitterCannotRun) {
  DirectConv d = conv(DirectConv::Output, false, 32, 8, 8, 1, 3, 1, 1);
  EXPECT_EQ(verify_direct_conv(d, 3), "");
  DirectConv wide = d;
  wide.K = 16;
  EXPECT_NE(verify_direct_conv(wide, 3), "");
  DirectConv odd = d;
  odd.C = 24;
  EXPECT_NE(verify_direct_conv(odd, 3), "");
  DirectConv strided = d;
  strided.kind = DirectConv::Input, strided.sh = 2;
  EXPECT_EQ(verify_direct_conv(strided, 3), "");  // a transposed convolution's forward at a stride
  DirectConv sigmoid_wide = d;
  sigmoid_wide.kind = DirectConv::Input, sigmoid_wide.post = Op::Sigmoid;
  EXPECT_NE(verify_direct_conv(sigmoid_wide, 3), "");
  DirectConv biased = d;
  biased.bias = true;
  EXPECT_NE(verify_direct_conv(biased, 3), "");  // four args with a bias
  EXPECT_EQ(verify_direct_conv(biased, 4), "");
  FusedKernel k = kernel_of(d, 2, "u8");
  k.args[0] = BufferType::U8;
  EXPECT_NE(verify_kernel(k), "");
}

}  // namespace
}  // namespace vaec
