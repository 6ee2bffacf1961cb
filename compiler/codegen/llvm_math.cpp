// f32 math and normal draws as inline LLVM IR (contract in llvm_math.h).
//
// The polynomials and reduction constants are Cephes' (expf, logf, tanhf,
// sinf, cosf by S. Moshier), which are within 1-2 ulp on their reduced
// ranges. Polynomials use llvm.fmuladd: one rounding per step where the target
// has FMA, the same instruction in scalar and vector code, so a point's value
// does not depend on whether it landed in the vector body or the remainder.
#include "codegen/llvm_math.h"

#include <initializer_list>

#include <llvm/IR/Intrinsics.h>

namespace vaec {
namespace {

using llvm::Value;

// Builds f32/i32 arithmetic without the ceremony of IRBuilder's full names.
struct Ir {
  llvm::IRBuilder<> &b;

  llvm::Type *f32() { return b.getFloatTy(); }
  llvm::Type *i32() { return b.getInt32Ty(); }
  Value *f(double v) { return llvm::ConstantFP::get(f32(), v); }
  Value *i(uint32_t v) { return b.getInt32(v); }

  Value *add(Value *x, Value *y) { return b.CreateFAdd(x, y); }
  Value *sub(Value *x, Value *y) { return b.CreateFSub(x, y); }
  Value *mul(Value *x, Value *y) { return b.CreateFMul(x, y); }
  Value *div(Value *x, Value *y) { return b.CreateFDiv(x, y); }
  Value *fma(Value *x, Value *y, Value *z) {
    return b.CreateIntrinsic(llvm::Intrinsic::fmuladd, {f32()}, {x, y, z});
  }
  Value *fabs(Value *x) { return b.CreateUnaryIntrinsic(llvm::Intrinsic::fabs, x); }
  Value *sqrt(Value *x) { return b.CreateUnaryIntrinsic(llvm::Intrinsic::sqrt, x); }
  Value *roundeven(Value *x) { return b.CreateUnaryIntrinsic(llvm::Intrinsic::roundeven, x); }
  Value *select(Value *c, Value *x, Value *y) { return b.CreateSelect(c, x, y); }
  // Ordered comparisons: false when either side is NaN.
  Value *lt(Value *x, Value *y) { return b.CreateFCmpOLT(x, y); }
  Value *gt(Value *x, Value *y) { return b.CreateFCmpOGT(x, y); }
  Value *ge(Value *x, Value *y) { return b.CreateFCmpOGE(x, y); }
  Value *eq(Value *x, Value *y) { return b.CreateFCmpOEQ(x, y); }
  Value *isnan(Value *x) { return b.CreateFCmpUNO(x, x); }

  // Horner: c[0] x^(n-1) + ... + c[n-1].
  Value *poly(Value *x, std::initializer_list<double> c) {
    auto it = c.begin();
    Value *acc = f(*it++);
    for (; it != c.end(); ++it) acc = fma(acc, x, f(*it));
    return acc;
  }

  // 2^k for integer k in [-126, 127], by building the exponent field.
  Value *pow2(Value *k) { return b.CreateBitCast(b.CreateShl(b.CreateAdd(k, i(127)), 23), f32()); }
};

constexpr double kInf = __builtin_inf();
constexpr double kNaN = __builtin_nan("");
// Cody-Waite split of ln 2: the high part has 9 significant bits, so n * hi
// is exact for the exponents that occur here.
constexpr double kLn2Hi = 0.693359375, kLn2Lo = -2.12194440e-4;

// log(x) for x = 2^fe (1 + f), f in [-0.29, 0.41] (Cephes' logf polynomial).
Value *log_of_reduced(Ir &ir, Value *f, Value *fe) {
  Value *z = ir.mul(f, f);
  Value *y = ir.poly(f, {7.0376836292E-2, -1.1514610310E-1, 1.1676998740E-1, -1.2420140846E-1,
                         1.4249322787E-1, -1.6668057665E-1, 2.0000714765E-1, -2.4999993993E-1,
                         3.3333331174E-1});
  y = ir.mul(ir.mul(y, f), z);
  y = ir.fma(fe, ir.f(kLn2Lo), y);
  y = ir.fma(z, ir.f(-0.5), y);
  return ir.fma(fe, ir.f(kLn2Hi), ir.add(f, y));
}

// log1p(x) from u = fl(1 + x) and log(u) (emit_log1p says why).
Value *log1p_of(Ir &ir, Value *x, Value *u, Value *log_u) {
  return ir.fma(ir.sub(x, ir.sub(u, ir.f(1.0))), ir.div(ir.f(1.0), u), log_u);
}

// exp of a clamped x as p 2^n: x = n ln2 + r with |r| <= ln2 / 2 and p =
// exp(r) by Cephes' polynomial; `ni` is n as an i32 (0 for NaN, whose p is
// NaN already: fptosi of NaN would be poison).
Value *exp_reduced(Ir &ir, Value *xc, Value *&ni) {
  Value *n = ir.roundeven(ir.mul(xc, ir.f(1.44269504088896341)));
  Value *r = ir.sub(xc, ir.mul(n, ir.f(kLn2Hi)));
  r = ir.fma(n, ir.f(-kLn2Lo), r);
  Value *r2 = ir.mul(r, r);
  Value *p = ir.poly(r, {1.9875691500E-4, 1.3981999507E-3, 8.3334519073E-3, 4.1665795894E-2,
                         1.6666665459E-1, 5.0000001201E-1});
  ni = ir.b.CreateFPToSI(ir.select(ir.isnan(n), ir.f(0.0), n), ir.i32());
  return ir.add(ir.add(ir.mul(p, r2), r), ir.f(1.0));
}

// exp(x) for x <= 0 (or NaN), as sigmoid and softplus take it of -|x|: 0
// below 2^-126 (x < -87.3), where the trainer's flush-to-zero mode
// (runtime/exec) makes it 0 anyway, so one exponent build does and no
// overflow clamp is needed.
Value *exp_nonpositive(Ir &ir, Value *x) {
  Value *ni;
  Value *p = exp_reduced(ir, ir.select(ir.lt(x, ir.f(-88.0)), ir.f(-88.0), x), ni);  // n >= -127; NaN stays
  return ir.mul(p, ir.pow2(ni));  // n = -127 builds +0
}

}  // namespace

llvm::Value *emit_exp(llvm::IRBuilder<> &b, llvm::Value *x) {
  Ir ir{b};
  // Clamp to where the result is still finite / nonzero (with margin); the
  // ordered compares let NaN through unchanged.
  Value *xc = ir.select(ir.gt(x, ir.f(89.0)), ir.f(89.0), x);
  xc = ir.select(ir.lt(xc, ir.f(-104.0)), ir.f(-104.0), xc);
  Value *ni;
  Value *p = exp_reduced(ir, xc, ni);
  // n is in [-150, 129]: scale in two exact steps so that 2^n itself need not
  // be representable, and denormal results are rounded once.
  Value *n1 = b.CreateAShr(ni, 1);
  Value *n2 = b.CreateSub(ni, n1);
  return ir.mul(ir.mul(p, ir.pow2(n1)), ir.pow2(n2));
}

llvm::Value *emit_log(llvm::IRBuilder<> &b, llvm::Value *x) {
  Ir ir{b};
  // Denormals: scale into the normal range first.
  Value *tiny = ir.lt(x, ir.f(0x1p-126));
  Value *xs = ir.select(tiny, ir.mul(x, ir.f(0x1p23)), x);
  Value *bits = b.CreateBitCast(xs, ir.i32());
  // x = 2^e m with m in [0.5, 1).
  Value *e = b.CreateSub(b.CreateLShr(bits, 23), ir.i(126));
  e = b.CreateSub(e, ir.select(tiny, ir.i(23), ir.i(0)));
  Value *m = b.CreateBitCast(b.CreateOr(b.CreateAnd(bits, ir.i(0x807FFFFF)), ir.i(0x3F000000)), ir.f32());
  // Centre m on 1: for m < sqrt(1/2) use 2m and e - 1, so m - 1 is in
  // [-0.29, 0.41] (both subtractions are exact).
  Value *low = ir.lt(m, ir.f(0.707106781186547524));
  Value *f = ir.sub(ir.select(low, ir.add(m, m), m), ir.f(1.0));
  Value *fe = ir.sub(b.CreateSIToFP(e, ir.f32()), ir.select(low, ir.f(1.0), ir.f(0.0)));
  Value *r = log_of_reduced(ir, f, fe);
  // Special cases, last so that NaN wins.
  r = ir.select(ir.eq(x, ir.f(kInf)), ir.f(kInf), r);
  r = ir.select(ir.eq(x, ir.f(0.0)), ir.f(-kInf), r);
  r = ir.select(ir.lt(x, ir.f(0.0)), ir.f(kNaN), r);
  return ir.select(ir.isnan(x), x, r);
}

llvm::Value *emit_log1p(llvm::IRBuilder<> &b, llvm::Value *x) {
  Ir ir{b};
  // u = fl(1 + x) = 1 + x - c, where c = (u - 1) - x is exact: then
  // log1p(x) = log(u) + log(1 + c / u), and the first-order term c / u is all
  // of the second that f32 keeps (u == 1: log1p(x) = x exactly). The
  // reciprocal 1 / u is the one sigmoid computes when x = exp(-|l|), as in
  // softplus and bce_logits next to sigmoid(l): LLVM computes one division.
  Value *u = ir.add(ir.f(1.0), x);
  Value *r = log1p_of(ir, x, u, emit_log(b, u));
  r = ir.select(ir.eq(u, ir.f(0.0)), ir.f(-kInf), r);  // 0 * inf above
  return ir.select(ir.eq(x, ir.f(kInf)), x, r);  // inf - inf above
}

llvm::Value *emit_tanh(llvm::IRBuilder<> &b, llvm::Value *x) {
  Ir ir{b};
  // |x| < 0.625: odd polynomial. Beyond: 1 - 2 / (exp(2|x|) + 1), which has
  // no cancellation there and saturates to 1 once exp overflows.
  Value *z = ir.mul(x, x);
  Value *small = ir.poly(z, {-5.70498872745E-3, 2.06390887954E-2, -5.37397155531E-2,
                             1.33314422036E-1, -3.33332819422E-1});
  small = ir.fma(ir.mul(small, z), x, x);
  Value *ax = ir.fabs(x);
  Value *e = emit_exp(b, ir.add(ax, ax));
  Value *large = ir.sub(ir.f(1.0), ir.div(ir.f(2.0), ir.add(e, ir.f(1.0))));
  large = b.CreateBinaryIntrinsic(llvm::Intrinsic::copysign, large, x);
  return ir.select(ir.lt(ax, ir.f(0.625)), small, large);
}

llvm::Value *emit_sigmoid(llvm::IRBuilder<> &b, llvm::Value *x) {
  Ir ir{b};
  Value *e = exp_nonpositive(ir, b.CreateFNeg(ir.fabs(x)));  // in [0, 1]: never overflows
  Value *s = ir.div(ir.f(1.0), ir.add(ir.f(1.0), e));
  return ir.select(ir.ge(x, ir.f(0.0)), s, ir.mul(e, s));
}

llvm::Value *emit_log1p_exp_neg_abs(llvm::IRBuilder<> &b, llvm::Value *x) {
  Ir ir{b};
  // e = exp(-|x|) is in [0, 1] (or NaN), where log1p(e) = e + e^2 R(e) with
  // R a degree-8 fit to (log1p(e) - e) / e^2 (f32 coefficients, each refit
  // after the lower ones were rounded): 1.25 ulp at most over every f32 e
  // in [0, 1] (measured exhaustively), and no range reduction or log1p
  // correction on this range. sigmoid(x) shares e.
  Value *e = exp_nonpositive(ir, b.CreateFNeg(ir.fabs(x)));
  Value *t = ir.mul(ir.poly(e, {-3.310628003e-03, 2.016826533e-02, -5.759408697e-02, 1.067316905e-01,
                                -1.535084993e-01, 1.969374567e-01, -2.495824695e-01, 3.333047628e-01,
                                -4.999993145e-01}),
                    e);
  return ir.fma(t, e, e);
}

llvm::Value *emit_softplus(llvm::IRBuilder<> &b, llvm::Value *x) {
  Ir ir{b};
  Value *pos = ir.select(ir.lt(x, ir.f(0.0)), ir.f(0.0), x);  // max(x, 0) keeping NaN
  return ir.add(pos, emit_log1p_exp_neg_abs(b, x));
}

llvm::Value *emit_pow(llvm::IRBuilder<> &b, llvm::Value *a, llvm::Value *e) {
  Ir ir{b};
  Value *r = emit_exp(b, ir.mul(e, emit_log(b, ir.fabs(a))));
  // A negative base needs an integral exponent; odd exponents keep its sign
  // (also for -0 and -inf, as C's powf).
  Value *integral = ir.eq(ir.roundeven(e), e);
  Value *half = ir.mul(e, ir.f(0.5));
  Value *odd = b.CreateAnd(integral, b.CreateFCmpUNE(ir.roundeven(half), half));
  Value *sign = b.CreateICmpSLT(b.CreateBitCast(a, ir.i32()), ir.i(0));
  r = ir.select(b.CreateAnd(odd, sign), b.CreateFNeg(r), r);
  Value *finite_negative = b.CreateAnd(ir.lt(a, ir.f(0.0)), ir.gt(a, ir.f(-kInf)));
  r = ir.select(b.CreateAnd(finite_negative, b.CreateNot(integral)), ir.f(kNaN), r);
  // x^0 = 1 and 1^y = 1 even for NaN operands, (-1)^(+-inf) = 1: C's cases
  // where b log|a| would be NaN.
  Value *one = b.CreateOr(ir.eq(e, ir.f(0.0)), ir.eq(a, ir.f(1.0)));
  Value *unit_to_inf = b.CreateAnd(ir.eq(ir.fabs(a), ir.f(1.0)), ir.eq(ir.fabs(e), ir.f(kInf)));
  return ir.select(b.CreateOr(one, unit_to_inf), ir.f(1.0), r);
}

llvm::Value *emit_round_bf16(llvm::IRBuilder<> &b, llvm::Value *x, bool avx512_bf16) {
  // LLVM lowers fptrunc to bfloat to vcvtneps2bf16 where the target has it.
  if (avx512_bf16) return b.CreateBitCast(b.CreateFPTrunc(x, b.getBFloatTy()), b.getInt16Ty());
  Ir ir{b};
  Value *bits = b.CreateBitCast(x, ir.i32());
  Value *sign = b.CreateAnd(b.CreateLShr(bits, 16), ir.i(0x8000));
  Value *zero_or_denormal = b.CreateICmpEQ(b.CreateAnd(bits, ir.i(0x7f800000)), ir.i(0));
  Value *nan = b.CreateICmpUGT(b.CreateAnd(bits, ir.i(0x7fffffff)), ir.i(0x7f800000));
  Value *quiet = b.CreateOr(b.CreateLShr(bits, 16), ir.i(0x40));
  Value *tie = b.CreateAnd(b.CreateLShr(bits, 16), ir.i(1));
  Value *rounded = b.CreateLShr(b.CreateAdd(bits, b.CreateAdd(tie, ir.i(0x7fff))), 16);
  Value *r = b.CreateSelect(nan, quiet, b.CreateSelect(zero_or_denormal, sign, rounded));
  return b.CreateTrunc(r, b.getInt16Ty());
}

namespace {

// The Philox4x32-10 bijection of runtime/abi/philox.h on i32 words.
void philox_rounds(llvm::IRBuilder<> &b, Value *c[4], Value *key0, Value *key1) {
  llvm::Type *i64 = b.getInt64Ty(), *i32 = b.getInt32Ty();
  // (hi, lo) of a 32x32-bit product, through a 64-bit multiply of
  // zero-extended words: the form x86 vectorizes to vpmuludq.
  auto mulhilo = [&](Value *x, uint64_t m, Value *&hi) {
    Value *p = b.CreateMul(b.CreateZExt(x, i64), b.getInt64(m));
    hi = b.CreateTrunc(b.CreateLShr(p, 32), i32);
    return b.CreateTrunc(p, i32);
  };
  for (int round = 0; round < 10; ++round) {
    if (round > 0) {
      key0 = b.CreateAdd(key0, b.getInt32(0x9E3779B9));
      key1 = b.CreateAdd(key1, b.getInt32(0xBB67AE85));
    }
    Value *hi0, *hi1;
    Value *lo0 = mulhilo(c[0], 0xD2511F53, hi0);
    Value *lo1 = mulhilo(c[2], 0xCD9E8D57, hi1);
    Value *next[4] = {b.CreateXor(b.CreateXor(hi1, c[1]), key0), lo1,
                      b.CreateXor(b.CreateXor(hi0, c[3]), key1), lo0};
    for (int i = 0; i < 4; ++i) c[i] = next[i];
  }
}

// cos(2 pi m / 2^24) for an i32 m < 2^24, by the exact octant reduction of
// philox_cos_turns in runtime/abi/philox.h.
Value *cos_turns(llvm::IRBuilder<> &b, Value *m) {
  Ir ir{b};
  Value *octant = b.CreateLShr(m, 21);
  Value *t = ir.mul(b.CreateSIToFP(b.CreateAnd(m, ir.i(0x1FFFFF)), ir.f32()), ir.f(0x1p-21));
  Value *odd = b.CreateTrunc(octant, b.getInt1Ty());
  Value *s = ir.select(odd, ir.sub(ir.f(1.0), t), t);
  Value *use_sin = b.CreateTrunc(b.CreateLShr(b.CreateAdd(octant, ir.i(1)), 1), b.getInt1Ty());
  Value *negative = b.CreateTrunc(b.CreateLShr(b.CreateAdd(octant, ir.i(2)), 2), b.getInt1Ty());
  Value *x = ir.mul(s, ir.f(0.78539816339744830962));  // in [0, pi/4]
  Value *z = ir.mul(x, x);
  Value *sin = ir.poly(z, {-1.9515295891E-4, 8.3321608736E-3, -1.6666654611E-1});
  sin = ir.fma(ir.mul(sin, z), x, x);
  Value *cos = ir.poly(z, {2.443315711809948E-5, -1.388731625493765E-3, 4.166664568298827E-2});
  cos = ir.add(ir.fma(z, ir.f(-0.5), ir.mul(ir.mul(cos, z), z)), ir.f(1.0));
  Value *v = ir.select(use_sin, sin, cos);
  return ir.select(negative, b.CreateFNeg(v), v);
}

}  // namespace

llvm::Value *emit_philox_normal(llvm::IRBuilder<> &b, llvm::Value *seed, llvm::Value *step,
                                uint32_t stream, llvm::Value *index) {
  Ir ir{b};
  llvm::Type *i32 = b.getInt32Ty();
  auto lo = [&](Value *v) { return b.CreateTrunc(v, i32); };
  auto hi = [&](Value *v) { return b.CreateTrunc(b.CreateLShr(v, 32), i32); };
  Value *c[4] = {lo(index), hi(index), lo(step), b.CreateXor(hi(step), ir.i(stream << 24))};
  philox_rounds(b, c, lo(seed), hi(seed));
  // Both uniforms have 24 bits, so the int -> float conversions are exact.
  Value *u1 = ir.mul(b.CreateSIToFP(b.CreateAdd(b.CreateLShr(c[0], 8), ir.i(1)), ir.f32()), ir.f(0x1p-24));
  Value *radius = ir.sqrt(ir.mul(ir.f(-2.0), emit_log(b, u1)));
  return ir.mul(radius, cos_turns(b, b.CreateLShr(c[1], 8)));
}

}  // namespace vaec
