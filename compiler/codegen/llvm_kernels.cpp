// Fused kernels to LLVM IR (contract in llvm_kernels.h).
#include "codegen/llvm_kernels.h"

#include <algorithm>
#include <bit>
#include <cassert>
#include <functional>

#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Module.h>
#include <llvm/IR/Verifier.h>

#include "codegen/llvm_math.h"
#include "codegen/llvm_target.h"

namespace vaec {

// --- Checking -------------------------------------------------------------------

namespace {

std::string check_strides(const std::vector<int64_t> &strides, size_t rank, const std::string &what) {
  if (strides.size() != rank)
    return what + " has " + std::to_string(strides.size()) + " strides for a rank-" + std::to_string(rank) +
           " domain";
  for (int64_t s : strides)
    if (s < 0) return what + " has a negative stride";
  return "";
}

std::string check_instr(const FusedKernel &k, size_t i) {
  const KernelInstr &in = k.instrs[i];
  std::string what = "%" + std::to_string(i);
  switch (in.kind) {
    case KernelInstr::Load:
      if (in.arg < 0 || size_t(in.arg) >= k.args.size()) return what + " loads a missing arg";
      if (in.guard_axis >= static_cast<int>(k.domain.size()) || (in.guard_axis >= 0 && in.guard_lo > in.guard_hi))
        return what + " has a guard outside the domain";
      if (in.offset < 0 && in.guard_axis < 0) return what + " has a negative offset without a guard";
      if (k.args[in.arg] == BufferType::BF16) return what + " loads a bf16 arg (bf16 args are only written)";
      return check_strides(in.strides, k.domain.size(), what);
    case KernelInstr::Const: return "";
    case KernelInstr::Normal: return in.stream < 256 ? "" : what + " has a stream >= 256";
    case KernelInstr::Apply: {
      OpKind kind = op_info(in.op).kind;
      if (kind != OpKind::Unary && kind != OpKind::Binary) return what + " applies a non-elementwise op";
      auto before = [&](int j) { return j >= 0 && size_t(j) < i; };
      if (!before(in.a) || (kind == OpKind::Binary && !before(in.b)))
        return what + " uses an operand that is not an earlier instr";
      return "";
    }
  }
  return what + " has an unknown kind";
}

}  // namespace

std::string verify_kernel(const FusedKernel &k) {
  std::string where = "kernel '" + k.name + "': ";
  if (k.name.empty()) return "kernel without a name";
  for (int64_t d : k.domain)
    if (d < 0) return where + "negative domain extent";
  if (k.conv) {
    if (k.domain.size() != 1 || !k.instrs.empty() || !k.outputs.empty())
      return where + "a direct convolution has a domain of one axis and no instrs or outputs";
    for (BufferType t : k.args)
      if (t != BufferType::F32) return where + "a direct convolution reads a u8 arg";
    std::string e = verify_direct_conv(*k.conv, k.args.size());
    return e.empty() ? "" : where + e;
  }
  for (size_t i = 0; i < k.instrs.size(); ++i)
    if (std::string e = check_instr(k, i); !e.empty()) return where + e;
  std::vector<bool> accumulated(k.args.size()), written(k.args.size()), loaded(k.args.size());
  for (const KernelInstr &in : k.instrs)
    if (in.kind == KernelInstr::Load) loaded[in.arg] = true;
  for (size_t o = 0; o < k.outputs.size(); ++o) {
    const KernelOutput &out = k.outputs[o];
    std::string what = "output " + std::to_string(o);
    if (out.instr < 0 || size_t(out.instr) >= k.instrs.size()) return where + what + " names a missing instr";
    if (out.arg < 0 || size_t(out.arg) >= k.args.size()) return where + what + " writes a missing arg";
    if (k.args[out.arg] == BufferType::U8) return where + what + " writes a u8 arg";
    if (k.args[out.arg] == BufferType::BF16 && out.accumulate) return where + what + " accumulates into a bf16 arg";
    if (std::string e = check_strides(out.strides, k.domain.size(), what); !e.empty()) return where + e;
    if (out.combine != Op::Sum && out.combine != Op::Max && out.combine != Op::Min)
      return where + what + " combines by " + std::string(op_name(out.combine));
    (out.accumulate ? accumulated : written)[out.arg] = true;
  }
  for (size_t a = 0; a < k.args.size(); ++a)
    if (accumulated[a] && (loaded[a] || written[a]))
      return where + "arg #" + std::to_string(a) + " is accumulated into and also loaded or stored";
  return "";
}

// --- The loop nest ----------------------------------------------------------------

namespace {

using llvm::Value;

// `k` with the same points and addresses over fewer axes: a rank-0 domain
// becomes [1]; unit axes after the first are dropped; adjacent axes after the
// first merge when every access walks them as one (stride[a] equals
// stride[a+1] * extent[a+1], e.g. both contiguous or both broadcast). The
// row-major flat index is preserved, so Normal draws are unchanged.
// coords[i] (for a guarded load i) maps a point to its coordinate on the
// guard's axis: a unit vector at first, kept valid like the strides.
FusedKernel simplify_axes(FusedKernel k, std::vector<std::vector<int64_t>> &coords) {
  std::vector<std::vector<int64_t> *> all;
  coords.assign(k.instrs.size(), {});
  for (size_t i = 0; i < k.instrs.size(); ++i) {
    KernelInstr &in = k.instrs[i];
    if (in.kind != KernelInstr::Load) continue;
    all.push_back(&in.strides);
    if (in.guard_axis < 0) continue;
    coords[i].assign(k.domain.size(), 0);
    coords[i][in.guard_axis] = 1;
    all.push_back(&coords[i]);
  }
  for (KernelOutput &out : k.outputs) all.push_back(&out.strides);
  std::vector<int64_t> &d = k.domain;
  if (d.empty()) {
    d = {1};
    for (auto *s : all) *s = {0};
  }
  auto erase_axis = [&](size_t a) {
    d.erase(d.begin() + a);
    for (auto *s : all) s->erase(s->begin() + a);
  };
  for (size_t a = d.size(); a-- > 1;)
    if (d[a] == 1 && d.size() > 1) erase_axis(a);
  for (size_t a = d.size() - 1; a-- > 1;) {
    bool mergeable = true;
    for (auto *s : all) mergeable &= (*s)[a] == (*s)[a + 1] * d[a + 1];
    if (!mergeable) continue;
    for (auto *s : all) (*s)[a] = (*s)[a + 1];
    d[a] *= d[a + 1];
    erase_axis(a + 1);
  }
  return k;
}

class KernelEmitter {
 public:
  KernelEmitter(llvm::Module &m, const FusedKernel &k, bool avx512_bf16)
      : m_(m), k_(simplify_axes(k, coords_)), ctx_(m.getContext()), b_(ctx_), native_bf16_(avx512_bf16) {
    for (size_t i = 0; i < k_.instrs.size(); ++i) {
      const KernelInstr &in = k_.instrs[i];
      access_of_instr_.push_back(in.kind == KernelInstr::Load ? int(strides_.size()) : -1);
      if (in.kind == KernelInstr::Load) strides_.push_back(in.strides);
      access_of_guard_.push_back(coords_[i].empty() ? -1 : int(strides_.size()));
      if (!coords_[i].empty()) strides_.push_back(coords_[i]);
      has_normal_ |= in.kind == KernelInstr::Normal;
    }
    for (const KernelOutput &out : k_.outputs) {
      access_of_output_.push_back(int(strides_.size()));
      strides_.push_back(out.strides);
    }
    std::vector<int64_t> flat(k_.domain.size(), 1);  // row-major, for Normal's index
    for (size_t a = flat.size(); a-- > 1;) flat[a - 1] = flat[a] * k_.domain[a];
    flat_access_ = int(strides_.size());
    strides_.push_back(flat);
  }

  void emit(const std::string &name) {
    llvm::Function *body = emit_body(name + ".body", false);
    llvm::Function *in_place = k_.in_place.empty() ? nullptr : emit_body(name + ".in_place", true);
    emit_entry(name, body, in_place);
  }

 private:
  using Values = std::vector<Value *>;

  llvm::Type *i64() { return b_.getInt64Ty(); }
  llvm::Type *ptr() { return b_.getPtrTy(); }

  // void name(void *const *buffers, int64_t begin, int64_t end, const uint64_t *rng):
  // unpacks the arrays and calls the body, which sees each buffer as a noalias
  // pointer (inlining turns that into alias scopes); `in_place`, when the
  // kernel has in_place pairs and each pair's pointers are equal.
  void emit_entry(const std::string &name, llvm::Function *body, llvm::Function *in_place) {
    auto *type = llvm::FunctionType::get(b_.getVoidTy(), {ptr(), i64(), i64(), ptr()}, false);
    auto *f = llvm::Function::Create(type, llvm::Function::ExternalLinkage, name, m_);
    f->addFnAttr(llvm::Attribute::NoUnwind);
    b_.SetInsertPoint(llvm::BasicBlock::Create(ctx_, "entry", f));
    Values args;
    for (size_t a = 0; a < k_.args.size(); ++a)
      args.push_back(b_.CreateLoad(ptr(), b_.CreateConstInBoundsGEP1_64(ptr(), f->getArg(0), a)));
    args.push_back(f->getArg(1));
    args.push_back(f->getArg(2));
    for (int w = 0; w < 3; ++w)  // rng may be null when the kernel draws nothing
      args.push_back(has_normal_ ? static_cast<Value *>(b_.CreateLoad(
                                       i64(), b_.CreateConstInBoundsGEP1_64(i64(), f->getArg(3), w)))
                                 : b_.getInt64(0));
    if (!in_place) {
      b_.CreateCall(body, args);
      b_.CreateRetVoid();
      return;
    }
    Value *same = b_.getTrue();
    for (const auto &[in, out] : k_.in_place) same = b_.CreateAnd(same, b_.CreateICmpEQ(args[in], args[out]));
    auto *shared = llvm::BasicBlock::Create(ctx_, "in_place", f), *apart = llvm::BasicBlock::Create(ctx_, "apart", f);
    b_.CreateCondBr(same, shared, apart);
    b_.SetInsertPoint(shared);
    b_.CreateCall(in_place, args);
    b_.CreateRetVoid();
    b_.SetInsertPoint(apart);
    b_.CreateCall(body, args);
    b_.CreateRetVoid();
  }

  // in_place: each in_place output is written through its input's pointer.
  llvm::Function *emit_body(const std::string &name, bool in_place) {
    std::vector<llvm::Type *> params(k_.args.size(), ptr());
    params.insert(params.end(), {i64(), i64(), i64(), i64(), i64()});  // begin, end, seed, step, row0
    auto *type = llvm::FunctionType::get(b_.getVoidTy(), params, false);
    auto *f = llvm::Function::Create(type, llvm::Function::InternalLinkage, name, m_);
    f->addFnAttr(llvm::Attribute::AlwaysInline);
    f->addFnAttr(llvm::Attribute::NoUnwind);
    buffers_.clear();
    for (size_t a = 0; a < k_.args.size(); ++a) {
      f->addParamAttr(a, llvm::Attribute::NoAlias);
      f->addParamAttr(a, llvm::Attribute::NoCapture);
      buffers_.push_back(f->getArg(a));
    }
    // An output placed in its input's bytes is written through the input's
    // pointer: LLVM then sees each point read the value before overwriting
    // it (two noalias pointers would let it reorder the two).
    if (in_place)
      for (const auto &[in, out] : k_.in_place) buffers_[out] = buffers_[in];
    size_t n = k_.args.size();
    begin_ = f->getArg(n), end_ = f->getArg(n + 1), seed_ = f->getArg(n + 2), step_ = f->getArg(n + 3);
    row0_ = f->getArg(n + 4);
    b_.SetInsertPoint(llvm::BasicBlock::Create(ctx_, "entry", f));
    bool empty = false;
    for (int64_t d : k_.domain) empty |= d == 0;
    if (!empty) emit_axis(0, Values(strides_.size(), b_.getInt64(0)));
    b_.CreateRetVoid();
    return f;
  }

  // `for (i = lo; i < hi; ++i)` in rotated form (guard, then a bottom-tested
  // body), with loop-carried values: body(i, carried) returns their next
  // values. Returns the carried values after the loop.
  Values emit_loop(Value *lo, Value *hi, const Values &init,
                   const std::function<Values(Value *, const Values &)> &body, bool keep_rolled = false,
                   unsigned vector_width = 0, unsigned interleave_count = 1) {
    llvm::Function *f = b_.GetInsertBlock()->getParent();
    llvm::BasicBlock *pre = b_.GetInsertBlock();
    auto *loop = llvm::BasicBlock::Create(ctx_, "loop", f);
    auto *exit = llvm::BasicBlock::Create(ctx_, "exit", f);
    b_.CreateCondBr(b_.CreateICmpSLT(lo, hi), loop, exit);
    b_.SetInsertPoint(loop);
    llvm::PHINode *i = b_.CreatePHI(i64(), 2, "i");
    i->addIncoming(lo, pre);
    Values carried;
    for (Value *v : init) {
      llvm::PHINode *phi = b_.CreatePHI(v->getType(), 2);
      phi->addIncoming(v, pre);
      carried.push_back(phi);
    }
    Values next = body(i, carried);
    llvm::BasicBlock *latch = b_.GetInsertBlock();  // the body may have added blocks
    Value *i_next = b_.CreateAdd(i, b_.getInt64(1), "", /*HasNUW=*/true, /*HasNSW=*/true);
    i->addIncoming(i_next, latch);
    for (size_t c = 0; c < carried.size(); ++c)
      llvm::cast<llvm::PHINode>(carried[c])->addIncoming(next[c], latch);
    llvm::BranchInst *back = b_.CreateCondBr(b_.CreateICmpSLT(i_next, hi), loop, exit);
    // A distinct, self-referencing loop ID holding the hints.
    auto hint = [&](const char *name, llvm::Constant *value = nullptr) -> llvm::Metadata * {
      if (!value) return llvm::MDNode::get(ctx_, llvm::MDString::get(ctx_, name));
      return llvm::MDNode::get(ctx_, {llvm::MDString::get(ctx_, name), llvm::ConstantAsMetadata::get(value)});
    };
    std::vector<llvm::Metadata *> hints = {nullptr};
    if (keep_rolled) {
      hints.push_back(hint("llvm.loop.unroll.disable"));
    } else if (vector_width > 0) {
      hints.push_back(hint("llvm.loop.vectorize.enable", b_.getTrue()));
      hints.push_back(hint("llvm.loop.vectorize.width", b_.getInt32(vector_width)));
      hints.push_back(hint("llvm.loop.interleave.count", b_.getInt32(interleave_count)));
    }
    if (hints.size() > 1) {
      llvm::MDNode *id = llvm::MDNode::getDistinct(ctx_, hints);
      id->replaceOperandWith(0, id);
      back->setMetadata(llvm::LLVMContext::MD_loop, id);
    }
    b_.SetInsertPoint(exit);
    Values out;
    for (size_t c = 0; c < init.size(); ++c) {
      llvm::PHINode *phi = b_.CreatePHI(init[c]->getType(), 2);
      phi->addIncoming(init[c], pre);
      phi->addIncoming(next[c], latch);
      out.push_back(phi);
    }
    return out;
  }

  // offsets[x] + i * stride of access x along `axis`, for every access.
  Values advance(const Values &offsets, Value *i, size_t axis) {
    Values out;
    for (size_t x = 0; x < strides_.size(); ++x) {
      int64_t s = strides_[x][axis];
      out.push_back(s == 0 ? offsets[x]
                           : b_.CreateAdd(offsets[x], b_.CreateMul(i, b_.getInt64(s), "", true, true), "",
                                          true, true));
    }
    return out;
  }

  void emit_axis(size_t axis, const Values &offsets) {
    Value *lo = axis == 0 ? begin_ : b_.getInt64(0);
    Value *hi = axis == 0 ? end_ : b_.getInt64(k_.domain[axis]);
    if (axis + 1 == k_.domain.size()) return emit_inner_loop(lo, hi, offsets);
    emit_loop(lo, hi, {}, [&](Value *i, const Values &) {
      emit_axis(axis + 1, advance(offsets, i, axis));
      return Values{};
    });
  }

  // An accumulated output that stays put along the innermost axis: a reduction
  // kept in a register for the whole inner loop.
  bool in_register(size_t o) const {
    return k_.outputs[o].accumulate && k_.outputs[o].strides.back() == 0;
  }

  void emit_inner_loop(Value *lo, Value *hi, const Values &outer) {
    size_t axis = k_.domain.size() - 1;
    Values zeros;
    for (size_t o = 0; o < k_.outputs.size(); ++o)
      if (in_register(o)) zeros.push_back(llvm::ConstantFP::get(b_.getFloatTy(), combine_identity(k_.outputs[o].combine)));
    // An inner loop of one vector's points (nChw16c's 16 channels of a
    // pixel) stays a loop: fully unrolled, it would leave the loop around it
    // innermost, which the vectorizer then runs with gathers and scatters
    // at stride 16 (docs/BENCHMARKS.md).
    const bool one_vector = axis > 0 && k_.domain[axis] == 16;
    auto point = [&](Value *i, const Values &acc) { return emit_point(advance(outer, i, axis), acc); };
    // LLVM's cost model takes a vector fptrunc to bfloat for a long sequence
    // and then vectorizes little or nothing: 16 lanes are one vcvtneps2bf16
    // (fewer for a shorter axis). Given the width, it leaves the remainder
    // scalar: two vectors a turn up to the last multiple of two, then one.
    const bool bf16_stores = native_bf16_ && std::count(k_.args.begin(), k_.args.end(), BufferType::BF16) > 0;
    const unsigned lanes = std::bit_floor(static_cast<uint64_t>(std::clamp<int64_t>(k_.domain[axis], 1, 16)));
    Values sums = zeros;
    if (bf16_stores && !one_vector && lanes > 1) {
      Value *two = b_.getInt64(2 * lanes);
      Value *mid = b_.CreateAdd(lo, b_.CreateMul(b_.CreateSDiv(b_.CreateSub(hi, lo), two), two));
      sums = emit_loop(lo, mid, sums, point, false, lanes, 2);
      sums = emit_loop(mid, hi, sums, point, false, lanes, 1);
    } else {
      sums = emit_loop(lo, hi, sums, point, one_vector);
    }
    for (size_t o = 0, r = 0; o < k_.outputs.size(); ++o) {
      if (!in_register(o)) continue;
      Value *p = element(k_.outputs[o].arg, outer[access_of_output_[o]]);
      Value *old = b_.CreateAlignedLoad(b_.getFloatTy(), p, llvm::Align(4));
      b_.CreateAlignedStore(combine(k_.outputs[o].combine, old, sums[r++]), p, llvm::Align(4));
    }
  }

  // A reduction's step, as run_kernel_reference does it: a + b, or the larger
  // (smaller) of the two, keeping a when they compare false (NaN in b).
  Value *combine(Op how, Value *a, Value *b) {
    if (how == Op::Max) return b_.CreateSelect(b_.CreateFCmpOGT(b, a), b, a);
    if (how == Op::Min) return b_.CreateSelect(b_.CreateFCmpOLT(b, a), b, a);
    return b_.CreateFAdd(a, b);
  }

  Value *element(int arg, Value *offset) {
    llvm::Type *t = k_.args[arg] == BufferType::U8     ? b_.getInt8Ty()
                    : k_.args[arg] == BufferType::BF16 ? b_.getInt16Ty()
                                                       : b_.getFloatTy();
    return b_.CreateInBoundsGEP(t, buffers_[arg], offset);
  }

  // One point: the instrs, then the outputs in order. Returns the register
  // sums advanced by this point's values.
  Values emit_point(const Values &offsets, const Values &acc) {
    Values v;
    for (size_t i = 0; i < k_.instrs.size(); ++i) v.push_back(emit_instr(i, v, offsets));
    Values next;
    for (size_t o = 0; o < k_.outputs.size(); ++o) {
      const KernelOutput &out = k_.outputs[o];
      Value *x = v[out.instr];
      if (in_register(o)) {
        if (out.combine != Op::Sum) {
          next.push_back(combine(out.combine, acc[next.size()], x));
          continue;
        }
        llvm::FastMathFlags reassoc;
        reassoc.setAllowReassoc();  // lets the vectorizer keep per-lane partial sums
        auto *sum = llvm::cast<llvm::Instruction>(b_.CreateFAdd(acc[next.size()], x));
        sum->setFastMathFlags(reassoc);
        next.push_back(sum);
        continue;
      }
      Value *p = element(out.arg, offsets[access_of_output_[o]]);
      if (k_.args[out.arg] == BufferType::BF16) {
        b_.CreateAlignedStore(emit_round_bf16(b_, x, native_bf16_), p, llvm::Align(2));
        continue;
      }
      if (out.accumulate) x = combine(out.combine, b_.CreateAlignedLoad(b_.getFloatTy(), p, llvm::Align(4)), x);
      b_.CreateAlignedStore(x, p, llvm::Align(4));
    }
    return next;
  }

  Value *emit_instr(size_t i, const Values &v, const Values &offsets) {
    const KernelInstr &in = k_.instrs[i];
    llvm::Type *f32 = b_.getFloatTy();
    switch (in.kind) {
      case KernelInstr::Const: return llvm::ConstantFP::get(f32, in.value);
      case KernelInstr::Normal: {
        // The index in the whole batch: this call's rows start at row0 of it.
        Value *first = b_.CreateMul(row0_, b_.getInt64(strides_[flat_access_][0]));
        return emit_philox_normal(b_, seed_, step_, in.stream, b_.CreateAdd(offsets[flat_access_], first));
      }
      case KernelInstr::Apply: return emit_apply(in.op, v[in.a], in.b >= 0 ? v[in.b] : nullptr);
      case KernelInstr::Load: {
        Value *at = offsets[access_of_instr_[i]];
        if (in.offset != 0) at = b_.CreateAdd(at, b_.getInt64(in.offset));
        Value *inside = nullptr;
        if (access_of_guard_[i] >= 0) {  // outside the window: read element 0 (always there), give 0
          Value *c = offsets[access_of_guard_[i]];
          inside = b_.CreateAnd(b_.CreateICmpSGE(c, b_.getInt64(in.guard_lo)),
                                b_.CreateICmpSLT(c, b_.getInt64(in.guard_hi)));
          at = b_.CreateSelect(inside, at, b_.getInt64(0));
        }
        Value *p = element(in.arg, at), *x;
        if (k_.args[in.arg] == BufferType::F32) {
          x = b_.CreateAlignedLoad(f32, p, llvm::Align(4));
        } else {
          Value *byte = b_.CreateAlignedLoad(b_.getInt8Ty(), p, llvm::Align(1));
          x = b_.CreateFMul(b_.CreateUIToFP(byte, f32), llvm::ConstantFP::get(f32, in.value));
        }
        return inside ? b_.CreateSelect(inside, x, llvm::ConstantFP::get(f32, 0.0)) : x;
      }
    }
    llvm_unreachable("unknown instr kind");
  }

  // The element formulas of ir/elementwise_f64.cpp, in f32.
  Value *emit_apply(Op op, Value *x, Value *y) {
    llvm::Type *f32 = b_.getFloatTy();
    auto c = [&](double v) { return llvm::ConstantFP::get(f32, v); };
    // max(l, -100) and max(l, 0) as std::max(l, c) computes them: NaN stays.
    auto at_least = [&](Value *l, double lo) { return b_.CreateSelect(b_.CreateFCmpOLT(l, c(lo)), c(lo), l); };
    switch (op) {
      case Op::Neg: return b_.CreateFNeg(x);
      case Op::Exp: return emit_exp(b_, x);
      case Op::Log: return emit_log(b_, x);
      case Op::Sqrt: return b_.CreateUnaryIntrinsic(llvm::Intrinsic::sqrt, x);
      case Op::Sigmoid: return emit_sigmoid(b_, x);
      case Op::Relu: return b_.CreateSelect(b_.CreateFCmpOGT(x, c(0)), x, c(0));
      case Op::Tanh: return emit_tanh(b_, x);
      case Op::Softplus: return emit_softplus(b_, x);
      case Op::Step: return b_.CreateSelect(b_.CreateFCmpOGT(x, c(0)), c(1), c(0));
      case Op::Abs: return b_.CreateUnaryIntrinsic(llvm::Intrinsic::fabs, x);
      case Op::Maximum: return b_.CreateSelect(b_.CreateFCmpOGT(x, y), x, y);
      case Op::Minimum: return b_.CreateSelect(b_.CreateFCmpOLT(x, y), x, y);
      case Op::LeakyRelu: return b_.CreateSelect(b_.CreateFCmpOGT(x, c(0)), x, b_.CreateFMul(y, x));
      case Op::DropoutMask: return b_.CreateSelect(b_.CreateFCmpOGT(x, c(0)), y, c(0));
      case Op::TrainValue: return x;
      case Op::Add: return b_.CreateFAdd(x, y);
      case Op::Sub: return b_.CreateFSub(x, y);
      case Op::Mul: return b_.CreateFMul(x, y);
      case Op::Div: return b_.CreateFDiv(x, y);
      case Op::Pow: return emit_pow(b_, x, y);
      case Op::Mse: {
        Value *d = b_.CreateFSub(x, y);
        return b_.CreateFMul(d, d);
      }
      case Op::Bce: {  // -(x log p + (1 - x) log(1 - p)), each log clamped at -100
        Value *log_p = at_least(emit_log(b_, x), -100);
        Value *log_q = at_least(emit_log(b_, b_.CreateFSub(c(1), x)), -100);
        Value *q_term = b_.CreateFMul(b_.CreateFSub(c(1), y), log_q);
        return b_.CreateFNeg(b_.CreateFAdd(b_.CreateFMul(y, log_p), q_term));
      }
      case Op::BceLogits: {  // max(l, 0) - l x + log1p(exp(-|l|))
        Value *tail = emit_log1p_exp_neg_abs(b_, x);
        return b_.CreateFAdd(b_.CreateFSub(at_least(x, 0), b_.CreateFMul(x, y)), tail);
      }
      default:
        llvm::report_fatal_error(llvm::Twine("vaec: no LLVM lowering for op ") + std::string(op_name(op)));
    }
  }

  llvm::Module &m_;
  std::vector<std::vector<int64_t>> coords_;  // per instr: a guarded load's guard coordinate
  const FusedKernel k_;
  llvm::LLVMContext &ctx_;
  llvm::IRBuilder<> b_;
  std::vector<std::vector<int64_t>> strides_;  // per access: loads, outputs, the flat index
  std::vector<int> access_of_instr_, access_of_output_, access_of_guard_;
  int flat_access_ = -1;
  bool has_normal_ = false;
  const bool native_bf16_;
  Values buffers_;
  Value *begin_ = nullptr, *end_ = nullptr, *seed_ = nullptr, *step_ = nullptr, *row0_ = nullptr;
};

}  // namespace

void emit_kernel(llvm::Module &m, const FusedKernel &k) { emit_kernel(m, k, host_has_avx512_bf16()); }

void emit_kernel(llvm::Module &m, const FusedKernel &k, bool avx512_bf16) {
  assert(verify_kernel(k).empty());
  if (k.conv) return emit_direct_conv(m, k.name, *k.conv, k.args.size());
  KernelEmitter(m, k, avx512_bf16).emit(k.name);
}

}  // namespace vaec
