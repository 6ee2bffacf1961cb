// f32 elementary functions and the normal() draw, emitted inline as LLVM IR.
//
// Why not libm: a call to expf or logf in a loop body stops LLVM's loop
// vectorizer, and fused kernels are mostly exp, log and tanh. Every function
// here is straight-line IR (range reduction, a Cephes polynomial, selects for
// the special cases), so it inlines into the kernel's loop and vectorizes to
// whatever width the target has.
//
// Inputs and results are f32 scalars (the vectorizer widens them). Accuracy,
// measured against the f64 formulas of ir/elementwise_f64.cpp by
// tests/unit/llvm_kernel_test.cpp: exp, log, log1p, tanh, sigmoid within about
// 2 ulp. Special values follow C: exp overflows to +inf and underflows through
// the denormals to 0; log(0) = -inf, log(x < 0) = NaN, log(+inf) = +inf; NaN in
// gives NaN out. No fast-math flags are used, so non-finite values survive.
#pragma once

#include <cstdint>

#include <llvm/IR/IRBuilder.h>

namespace vaec {

llvm::Value *emit_exp(llvm::IRBuilder<> &b, llvm::Value *x);
llvm::Value *emit_log(llvm::IRBuilder<> &b, llvm::Value *x);
llvm::Value *emit_log1p(llvm::IRBuilder<> &b, llvm::Value *x);
llvm::Value *emit_tanh(llvm::IRBuilder<> &b, llvm::Value *x);
// 1 / (1 + exp(-x)), computed from exp(-|x|) so neither sign overflows;
// 0 where that is below 2^-126 (x < -87.3), as the trainer's flush-to-zero
// mode makes it anyway.
llvm::Value *emit_sigmoid(llvm::IRBuilder<> &b, llvm::Value *x);
// log1p(exp(-|x|)), the tail of softplus and bce_logits: a polynomial in
// exp(-|x|) (which sigmoid of x shares), within 1.25 ulp of log1p of it.
llvm::Value *emit_log1p_exp_neg_abs(llvm::IRBuilder<> &b, llvm::Value *x);
// max(x, 0) + log1p(exp(-|x|)): softplus without overflow.
llvm::Value *emit_softplus(llvm::IRBuilder<> &b, llvm::Value *x);
// a^b = exp(b log|a|), exact for the IEEE special cases b = 0 and a = 1; a < 0
// gives the signed result for integral b and NaN otherwise (as C's powf).
// Accuracy degrades with |b log a|: about (|b log a| + 2) ulp.
llvm::Value *emit_pow(llvm::IRBuilder<> &b, llvm::Value *a, llvm::Value *e);

// The i16 bits of x rounded to bfloat16 as runtime/abi/bf16_rounding.h rounds
// (AVX512-BF16's vcvtneps2bf16): to nearest even, zeros and denormals to a
// signed zero, NaN made quiet. With `avx512_bf16` (a target that has the
// instruction) that instruction, else integer operations the vectorizer widens.
llvm::Value *emit_round_bf16(llvm::IRBuilder<> &b, llvm::Value *x, bool avx512_bf16);

// philox_normal(seed, step, stream, index) of runtime/abi/philox.h in f32: the
// Philox4x32-10 rounds with 32x32->64-bit multiplies (which vectorize to
// vpmuludq), then Box-Muller with the emitted log and an octant-reduced cos.
// seed, step and index are i64.
llvm::Value *emit_philox_normal(llvm::IRBuilder<> &b, llvm::Value *seed, llvm::Value *step,
                                uint32_t stream, llvm::Value *index);

}  // namespace vaec
