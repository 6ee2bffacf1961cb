// Compiling fused kernels (codegen/kernel.h) to native code with LLVM.
//
// emit_kernel adds one function per kernel with the C signature of kernel.h.
// Its shape, which the loop vectorizer relies on:
//   - a loop nest over the domain; the first axis runs over [begin, end), the
//     rest over constant extents; unit axes are dropped and axes that every
//     access walks contiguously are merged, so the innermost loop is as long
//     as the layout allows;
//   - addresses are affine in the loop counters (i64 GEPs off each buffer);
//   - buffers are noalias parameters of an always-inlined body, which LLVM
//     turns into scoped alias metadata: args are distinct buffers, and an
//     output may share a buffer with a load only through the same arg index;
//     a kernel with in_place pairs has a second body that writes each such
//     output through its input's pointer, which the entry calls when the
//     pair's pointers are equal;
//   - an accumulated output whose address does not move along the innermost
//     axis is summed in a register (fadd reassoc, the only fast-math flag
//     emitted) and added to memory once per inner loop;
//   - exp, log, tanh... are inline IR (llvm_math.h), never libm calls.
// Element formulas match compiler/ir/elementwise_f64.cpp in f32, including
// relu(NaN) = step(NaN) = 0 (that file compares a > 0) and bce's clamp of each
// log at -100. pow(a, b) = exp(b log|a|): accurate for a > 0, see emit_pow.
//
// Typical use (KernelJit in jit.h wraps this for in-process use; the target
// functions are llvm_target.h's):
//   auto tm = host_target_machine();
//   llvm::Module m("kernels", ctx);
//   for (auto &k : kernels) emit_kernel(m, k);   // after verify_kernel(k) == ""
//   optimize_module(m, *tm);
//   write_object_file(m, *tm, "kernels.o", error);
#pragma once

#include <memory>
#include <string>

#include "codegen/kernel.h"

namespace llvm {
class Module;
}  // namespace llvm

namespace vaec {

// "" if `k` meets emit_kernel's preconditions, else what is wrong with it:
// operands precede their users, Apply ops are Unary/Binary rows with an element
// formula, arg indices and stride counts match, strides are non-negative,
// outputs write F32 args or store into BF16 ones (which nothing loads or
// accumulates into), Normal streams are < 256, and an arg some output
// accumulates into is neither loaded nor stored by the kernel (its partial
// sums live in registers).
std::string verify_kernel(const FusedKernel &k);

// Adds `k.name` (external) and its body `k.name + ".body"` (internal) to `m`.
// Precondition: verify_kernel(k) is empty and no function of that name exists.
// The compiled function trusts its caller for 0 <= begin and end <= domain[0]
// (end <= 1 for rank 0) and for buffers large enough for every address.
// Stores to BF16 args round with vcvtneps2bf16 when `avx512_bf16` (the
// target has it; the first form asks the host), else with integer operations
// that give the same bits (llvm_math.h, emit_round_bf16).
void emit_kernel(llvm::Module &m, const FusedKernel &k);
void emit_kernel(llvm::Module &m, const FusedKernel &k, bool avx512_bf16);

}  // namespace vaec
