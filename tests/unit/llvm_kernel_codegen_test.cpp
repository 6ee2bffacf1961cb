// Fused kernels as text and as machine code: kernel_to_string, the
// verifier's refusals, that inner loops (plain and blocked) vectorize for
// every kernel shape, and two timings (printed, not asserted): compiling ~20
// kernels and the GB/s of a sigmoid kernel.
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
#include "codegen/kernel.h"
#include "codegen/llvm_kernels.h"
#include "codegen/llvm_target.h"
#include "abi/philox.h"
#include "llvm_kernel_test_util.h"

namespace vaec {
namespace {

using namespace vaec::test;

// --- Text, checking, vectorization, timings --------------------------------------

TEST(LlvmKernel, KernelToString) {
  KernelBuilder kb("k", {2, 784});
  int x = kb.arg(BufferType::U8), y = kb.arg(), o = kb.arg();
  int px = kb.load(x, {784, 1}, 0.5);
  int e = kb.apply(Op::Exp, px);
  int s = kb.apply(Op::Sub, e, kb.load(y, {0, 1}));
  kb.normal(2);
  kb.constant(0.1);
  kb.out(s, o, {0, 1}, true);
  kb.out(px, o, {784, 1});
  EXPECT_EQ(kernel_to_string(kb.k),
            "kernel k domain=[2,784] args=[u8,f32,f32]\n"
            "  %0 = load #0 u8*0.5 strides=[784,1]\n"
            "  %1 = apply exp(%0)\n"
            "  %2 = load #1 f32 strides=[0,1]\n"
            "  %3 = apply sub(%1, %2)\n"
            "  %4 = normal stream=2\n"
            "  %5 = const 0.1\n"
            "  out #2 += %3 strides=[0,1]\n"
            "  out #2 = %0 strides=[784,1]\n");
}

TEST(LlvmKernel, VerifyRejectsMalformedKernels) {
  KernelBuilder kb("bad", {4});
  int x = kb.arg();
  int l = kb.load(x);
  kb.out(kb.apply(Op::Exp, l), x, {0}, true);
  EXPECT_NE(verify_kernel(kb.k).find("accumulated into and also loaded"), std::string::npos);
  kb.k.outputs[0].accumulate = false;
  EXPECT_EQ(verify_kernel(kb.k), "");
  kb.k.instrs[1].a = 5;
  EXPECT_NE(verify_kernel(kb.k).find("not an earlier instr"), std::string::npos);
  kb.k.instrs[1].a = 0;
  kb.k.instrs[0].strides = {1, 1};
  EXPECT_NE(verify_kernel(kb.k).find("2 strides for a rank-1 domain"), std::string::npos);
  std::string error;
  EXPECT_FALSE(KernelJit::create({kb.k}, error));
  EXPECT_NE(error.find("kernel 'bad'"), std::string::npos);
}

TEST(LlvmKernel, InnerLoopVectorizes) {
  KernelBuilder kb("vexp", {4096});
  int x = kb.arg(), o = kb.arg();
  kb.out(kb.apply(Op::Exp, kb.load(x)), o);
  auto tm = host_target_machine();
  ASSERT_TRUE(tm);
  llvm::LLVMContext ctx;
  llvm::Module m("t", ctx);
  emit_kernel(m, kb.k);
  optimize_module(m, *tm);
  std::string ir = module_to_ir(m), asm_text = module_to_asm(m, *tm);
  // Only intrinsics are declared: no libm call blocks vectorization.
  for (size_t at = ir.find("\ndeclare "); at != std::string::npos; at = ir.find("\ndeclare ", at + 1)) {
    std::string line = ir.substr(at + 1, ir.find('\n', at + 1) - at - 1);
    EXPECT_NE(line.find("@llvm."), std::string::npos) << line;
  }
  bool zmm = asm_text.find("zmm") != std::string::npos, ymm = asm_text.find("ymm") != std::string::npos;
  std::printf("[ vectorize ] exp[4096] on %s: %s\n", tm->getTargetCPU().str().c_str(),
              zmm ? "zmm (AVX-512)" : ymm ? "ymm (AVX2)" : "scalar");
  EXPECT_TRUE(zmm || ymm) << asm_text;
  std::string path = ::testing::TempDir() + "vexp.o", error;
  EXPECT_TRUE(write_object_file(m, *tm, path, error)) << error;
}

// A kernel over nChw16c ([N, C/16, H, W, 16]: a transposed conv's bias and
// relu epilogue) runs its 16 channels as one vector per pixel, not the
// pixels as vectors gathered and scattered at stride 16.
TEST(LlvmKernel, BlockedKernelsReadWholeVectors) {
  FusedKernel k = epilogue_kernel("blocked_epilogue", {16, 32, 28, 28}, "relu", true, true);
  ASSERT_EQ(k.domain, (std::vector<int64_t>{16, 2, 28, 28, 16}));
  auto tm = host_target_machine();
  ASSERT_TRUE(tm);
  llvm::LLVMContext ctx;
  llvm::Module m("t", ctx);
  emit_kernel(m, k);
  optimize_module(m, *tm);
  const std::string asm_text = module_to_asm(m, *tm);
  EXPECT_EQ(asm_text.find("gather"), std::string::npos) << asm_text;
  EXPECT_EQ(asm_text.find("scatter"), std::string::npos) << asm_text;
  if (asm_text.find("zmm") != std::string::npos) {
    EXPECT_NE(asm_text.find("vmaxps"), std::string::npos);
  }
  EXPECT_LT(max_error(k), 1e-6);
}

// The optimized IR of each kernel shape has 8- or 16-wide vectors: register and
// memory reductions, broadcasts, u8 loads, in-place updates, Philox draws.
TEST(LlvmKernel, EveryKernelShapeVectorizes) {
  std::vector<int64_t> d = {8, 784};
  std::vector<FusedKernel> shapes;
  for (std::vector<int> keep : {std::vector<int>{1, 0}, {0, 1}, {0, 0}}) {
    KernelBuilder kb("reduce", d);
    int x = kb.arg(), o = kb.arg();
    kb.out(kb.apply(Op::Softplus, kb.load(x)), o, strides_of(d, keep), true);
    shapes.push_back(kb.k);
  }
  {
    KernelBuilder kb("bcast_u8", d);
    int x = kb.arg(BufferType::U8), b = kb.arg(), o = kb.arg();
    int v = kb.apply(Op::BceLogits, kb.load(b, strides_of(d, {0, 1})), kb.load(x, strides_of(d), 1.0 / 255));
    kb.out(v, o);
    shapes.push_back(kb.k);
  }
  {
    KernelBuilder kb("in_place", d);
    int x = kb.arg(), g = kb.arg();
    kb.out(kb.apply(Op::Sub, kb.load(x), kb.apply(Op::Mul, kb.load(g), kb.constant(0.01))), x);
    shapes.push_back(kb.k);
  }
  {
    KernelBuilder kb("sample", d);  // z = mu + exp(logvar / 2) * eps
    int mu = kb.arg(), logvar = kb.arg(), z = kb.arg();
    int sd = kb.apply(Op::Exp, kb.apply(Op::Mul, kb.load(logvar), kb.constant(0.5)));
    kb.out(kb.apply(Op::Add, kb.load(mu), kb.apply(Op::Mul, sd, kb.normal(0))), z);
    shapes.push_back(kb.k);
  }
  auto tm = host_target_machine();
  ASSERT_TRUE(tm);
  for (const FusedKernel &k : shapes) {
    llvm::LLVMContext ctx;
    llvm::Module m("t", ctx);
    emit_kernel(m, k);
    optimize_module(m, *tm);
    // A loop with a constant trip count may be unrolled completely, leaving
    // no vector.body: look for the wide vectors themselves.
    std::string ir = module_to_ir(m);
    bool wide = ir.find("<16 x float>") != std::string::npos || ir.find("<8 x float>") != std::string::npos;
    EXPECT_TRUE(wide) << kernel_to_string(k);
  }
}

TEST(LlvmKernel, CompileTimeOfTwentyKernels) {
  std::vector<FusedKernel> ks;
  std::mt19937 gen(5);
  for (int i = 0; i < 16; ++i) ks.push_back(random_kernel(gen, i));
  for (Op op : {Op::BceLogits, Op::Pow, Op::Bce}) ks.push_back(op_kernels(op)[1]);
  ks.push_back(normal_kernel({128, 32}));
  auto start = std::chrono::steady_clock::now();
  std::string error;
  auto jit = KernelJit::create(ks, error);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_TRUE(jit) << error;
  std::printf("[ timing ] %zu kernels compiled (O3 + codegen) in %.0f ms\n", ks.size(), seconds * 1e3);
}

TEST(LlvmKernel, SigmoidMinusTargetBandwidth) {
  KernelBuilder kb("sigmoid_sub", {128, 784});
  int x = kb.arg(), y = kb.arg(), o = kb.arg();
  kb.out(kb.apply(Op::Sub, kb.apply(Op::Sigmoid, kb.load(x)), kb.load(y)), o);
  std::string error;
  auto jit = KernelJit::create({kb.k}, error);
  ASSERT_TRUE(jit) << error;
  std::mt19937 gen(3);
  Buffers b = random_buffers(kb.k, gen);
  std::vector<void *> p = b.pointers();
  KernelJit::Fn fn = jit->lookup(kb.k.name);
  fn(p.data(), 0, 128, nullptr);  // warm up
  // 1000 calls in 10 batches: the machine may be shared, so report the best
  // batch beside the average.
  const int batches = 10, calls = 100;
  double total = 0, best = kInf;
  for (int r = 0; r < batches; ++r) {
    auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < calls; ++i) fn(p.data(), 0, 128, nullptr);
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() / calls;
    total += seconds, best = std::min(best, seconds);
  }
  double bytes = 3.0 * 128 * 784 * sizeof(float);  // two loads and a store per point
  std::printf("[ timing ] sigmoid(x) - y over [128,784], one thread, 1000 calls: %.1f us/call, %.1f GB/s "
              "(best batch %.1f us, %.1f GB/s)\n",
              total / batches * 1e6, bytes * batches / total / 1e9, best * 1e6, bytes / best / 1e9);
}

}  // namespace
}  // namespace vaec
