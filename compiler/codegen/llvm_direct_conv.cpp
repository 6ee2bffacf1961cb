// LLVM code for direct convolutions (contract and code shape in direct_conv.h).
#include <algorithm>
#include <cassert>
#include <functional>

#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Intrinsics.h>
#include <llvm/IR/Module.h>

#include "codegen/direct_conv.h"
#include "codegen/llvm_math.h"

namespace vaec {
namespace {

using llvm::Value;
constexpr int64_t kLanes = 16;

// The pixels of the iterated side along one axis, in one phase: positions
// q * step + first for q in [0, count), each joined by taps[k] to position
// q * mul + add[k] of the other side (where that lies inside it). Output and
// Weights walk the conv-output side in one phase (conv-input position =
// oh * stride - pad + t); Input walks the conv-input side, in `stride` phases
// at a stride (ih = q * stride + first): the taps with (ih + pad - t) %
// stride == 0 join it to conv-output position (ih + pad - t) / stride, so
// each phase is a stride-1 walk over its own taps.
struct AxisPhase {
  int64_t step = 1, first = 0, count = 0, mul = 1;
  std::vector<int64_t> taps, add;
  int64_t lo = 0, hi = 0;  // [lo, hi): the q whose every tap lies inside the other side
};

std::vector<AxisPhase> axis_phases(bool input, int64_t iterated, int64_t other, int64_t taps, int64_t stride,
                                   int64_t pad) {
  std::vector<AxisPhase> phases;
  for (int64_t first = 0; first < (input ? stride : 1); ++first) {
    AxisPhase a;
    if (input) {
      a.step = stride, a.first = first, a.count = first < iterated ? (iterated - first + stride - 1) / stride : 0;
      for (int64_t t : phase_taps(first, taps, stride, pad)) a.taps.push_back(t), a.add.push_back((first + pad - t) / stride);
    } else {
      a.count = iterated, a.mul = stride;
      for (int64_t t = 0; t < taps; ++t) a.taps.push_back(t), a.add.push_back(t - pad);
    }
    a.lo = a.count;
    for (int64_t q = 0; q < a.count; ++q) {
      bool all = true;
      for (int64_t add : a.add)
        if (int64_t x = q * a.mul + add; x < 0 || x >= other) all = false;
      if (all) a.lo = std::min(a.lo, q), a.hi = q + 1;
    }
    if (a.count > 0) phases.push_back(std::move(a));
  }
  return phases;
}

class DirectConvEmitter {
 public:
  DirectConvEmitter(llvm::Module &m, const std::string &name, const DirectConv &d, size_t args)
      : m_(m), name_(name), args_(args), d_(d), ctx_(m.getContext()), b_(ctx_) {
    ch_[0] = d_.C, h_[0] = d_.H, w_[0] = d_.W;
    ch_[1] = d_.K, h_[1] = d_.OH, w_[1] = d_.OW;
    wide_ = d_.narrow_input ? 1 : 0;
    narrow_ = 1 - wide_;
    iterated_ = d_.kind == DirectConv::Input ? 0 : 1;
    const bool input = iterated_ == 0;
    rows_ = axis_phases(input, h_[iterated_], h_[1 - iterated_], d_.KH, d_.sh, d_.pt);
    cols_ = axis_phases(input, w_[iterated_], w_[1 - iterated_], d_.KW, d_.sw, d_.pl);
    // Arguments holding each side and the weights.
    switch (d_.kind) {
      case DirectConv::Output: side_arg_[0] = 0, weights_arg_ = 1, side_arg_[1] = direct_conv_result_arg(d_); break;
      case DirectConv::Input: side_arg_[1] = 0, weights_arg_ = 1, side_arg_[0] = direct_conv_result_arg(d_); break;
      case DirectConv::Weights: side_arg_[0] = 0, side_arg_[1] = 1, weights_arg_ = 2; break;
    }
  }

  void emit() {
    llvm::Function *body = emit_body(name_ + ".body");
    emit_entry(body);
  }

 private:
  llvm::Type *i64() { return b_.getInt64Ty(); }
  llvm::Type *f32() { return b_.getFloatTy(); }
  llvm::Type *vec() { return llvm::FixedVectorType::get(f32(), kLanes); }
  Value *c64(int64_t v) { return b_.getInt64(static_cast<uint64_t>(v)); }
  int64_t blocks() const { return ch_[wide_] / kLanes; }

  // void name(void *const *buffers, int64_t begin, int64_t end, const uint64_t *rng)
  void emit_entry(llvm::Function *body) {
    llvm::Type *ptr = b_.getPtrTy();
    auto *type = llvm::FunctionType::get(b_.getVoidTy(), {ptr, i64(), i64(), ptr}, false);
    auto *f = llvm::Function::Create(type, llvm::Function::ExternalLinkage, name_, m_);
    f->addFnAttr(llvm::Attribute::NoUnwind);
    b_.SetInsertPoint(llvm::BasicBlock::Create(ctx_, "entry", f));
    std::vector<Value *> args;
    for (size_t a = 0; a < args_; ++a)
      args.push_back(b_.CreateLoad(ptr, b_.CreateConstInBoundsGEP1_64(ptr, f->getArg(0), a)));
    args.push_back(f->getArg(1));
    args.push_back(f->getArg(2));
    b_.CreateCall(body, args);
    b_.CreateRetVoid();
  }

  llvm::Function *emit_body(const std::string &name) {
    std::vector<llvm::Type *> params(args_, b_.getPtrTy());
    params.insert(params.end(), {i64(), i64()});
    auto *type = llvm::FunctionType::get(b_.getVoidTy(), params, false);
    auto *f = llvm::Function::Create(type, llvm::Function::InternalLinkage, name, m_);
    f->addFnAttr(llvm::Attribute::AlwaysInline);
    f->addFnAttr(llvm::Attribute::NoUnwind);
    for (size_t a = 0; a < args_; ++a) {
      f->addParamAttr(a, llvm::Attribute::NoAlias);
      f->addParamAttr(a, llvm::Attribute::NoCapture);
      buf_.push_back(f->getArg(a));
    }
    Value *begin = f->getArg(args_), *end = f->getArg(args_ + 1);
    b_.SetInsertPoint(llvm::BasicBlock::Create(ctx_, "entry", f));
    prologue();
    // Interior pixels run every tap unchecked; the border checks each tap.
    for_range(begin, end, [&](Value *n) {
      for (const AxisPhase &ph : rows_)
        for (const AxisPhase &pw : cols_) {
          phase_weights(ph, pw);
          for_range(c64(0), c64(ph.count), [&](Value *qh) {
            for_range(c64(0), c64(pw.count), [&](Value *qw) {
              auto in = [&](Value *q, const AxisPhase &a) {
                return b_.CreateAnd(b_.CreateICmpSGE(q, c64(a.lo)), b_.CreateICmpSLT(q, c64(a.hi)));
              };
              llvm::Function *f = b_.GetInsertBlock()->getParent();
              auto *inner = llvm::BasicBlock::Create(ctx_, "interior", f);
              auto *border = llvm::BasicBlock::Create(ctx_, "border", f);
              auto *done = llvm::BasicBlock::Create(ctx_, "pixel_done", f);
              prefetch_ahead(n, Pixel{qh, qw, &ph, &pw});
              b_.CreateCondBr(b_.CreateAnd(in(qh, ph), in(qw, pw)), inner, border);
              b_.SetInsertPoint(inner);
              pixel(n, Pixel{qh, qw, &ph, &pw}, false);
              b_.CreateBr(done);
              b_.SetInsertPoint(border);
              pixel(n, Pixel{qh, qw, &ph, &pw}, true);
              b_.CreateBr(done);
              b_.SetInsertPoint(done);
            });
          });
        }
    });
    epilogue();
    b_.CreateRetVoid();
    return f;
  }

  // for (i = lo; i < hi; ++i) body(i)
  void for_range(Value *lo, Value *hi, const std::function<void(Value *)> &body) {
    llvm::Function *f = b_.GetInsertBlock()->getParent();
    llvm::BasicBlock *pre = b_.GetInsertBlock();
    auto *loop = llvm::BasicBlock::Create(ctx_, "loop", f);
    auto *exit = llvm::BasicBlock::Create(ctx_, "exit", f);
    b_.CreateCondBr(b_.CreateICmpSLT(lo, hi), loop, exit);
    b_.SetInsertPoint(loop);
    llvm::PHINode *i = b_.CreatePHI(i64(), 2, "i");
    i->addIncoming(lo, pre);
    body(i);
    Value *next = b_.CreateAdd(i, c64(1), "", false, true);
    i->addIncoming(next, b_.GetInsertBlock());
    b_.CreateCondBr(b_.CreateICmpSLT(next, hi), loop, exit);
    b_.SetInsertPoint(exit);
  }

  // The vector of narrow channel r, wide block cb, tap (i, j).
  size_t weight_slot(int64_t r, int64_t cb, int64_t i, int64_t j) const {
    return static_cast<size_t>(((r * blocks() + cb) * d_.KH + i) * d_.KW + j);
  }

  // The weights as vectors over 16 wide channels (or, for Weights, zeroed
  // sums in their place), and the bias.
  void prologue() {
    const int64_t slots = ch_[narrow_] * blocks() * d_.KH * d_.KW;
    if (d_.kind == DirectConv::Weights) {
      for (int64_t v = 0; v < slots; ++v) {
        sums_.push_back(b_.CreateAlloca(vec()));
        b_.CreateStore(llvm::ConstantFP::get(vec(), 0.0), sums_.back());
      }
    } else {  // gathered in a loop, then read as vectors (see epilogue)
      llvm::AllocaInst *all = b_.CreateAlloca(f32(), c64(slots * kLanes));
      for_range(c64(0), c64(slots * kLanes), [&](Value *e) {
        Value *w = b_.CreateAlignedLoad(f32(), b_.CreateInBoundsGEP(f32(), buf_[weights_arg_], weight_of(e)), llvm::Align(4));
        b_.CreateAlignedStore(w, b_.CreateInBoundsGEP(f32(), all, e), llvm::Align(4));
      });
      gathered_ = all;
      weights_.assign(static_cast<size_t>(slots), nullptr);
    }
    const int bias = direct_conv_bias_arg(d_);
    if (bias < 0) return;
    const int computed = d_.kind == DirectConv::Input ? 0 : 1;
    if (computed == narrow_) {
      for (int64_t r = 0; r < ch_[narrow_]; ++r)
        bias_.push_back(b_.CreateAlignedLoad(f32(), b_.CreateConstInBoundsGEP1_64(f32(), buf_[bias], r), llvm::Align(4)));
    } else {
      for (int64_t cb = 0; cb < blocks(); ++cb)
        bias_.push_back(
            b_.CreateAlignedLoad(vec(), b_.CreateConstInBoundsGEP1_64(f32(), buf_[bias], cb * kLanes), llvm::Align(4)));
    }
  }

  // The weight vectors of a phase's taps, read from their gathered copy (a
  // stride's phases each use a share of the weights: a 4x4 kernel at stride
  // 2 four taps in each, so no phase keeps more than it uses in registers).
  void phase_weights(const AxisPhase &ph, const AxisPhase &pw) {
    if (d_.kind == DirectConv::Weights) return;
    for (int64_t r = 0; r < ch_[narrow_]; ++r)
      for (int64_t cb = 0; cb < blocks(); ++cb)
        for (int64_t i : ph.taps)
          for (int64_t j : pw.taps) {
            const size_t v = weight_slot(r, cb, i, j);
            weights_[v] = b_.CreateAlignedLoad(vec(), b_.CreateConstInBoundsGEP1_64(f32(), gathered_, int64_t(v) * kLanes),
                                               llvm::Align(4));
          }
  }

  // The weight of lane e % 16 of vector slot e / 16 (weight_slot's order:
  // e = (((r * blocks + cb) * KH + i) * KW + j) * 16 + lane).
  Value *weight_of(Value *e) {
    auto div = [&](Value *x, int64_t k) { return b_.CreateUDiv(x, c64(k)); };
    auto rem = [&](Value *x, int64_t k) { return b_.CreateURem(x, c64(k)); };
    Value *lane = rem(e, kLanes), *t = div(e, kLanes);
    Value *j = rem(t, d_.KW);
    t = div(t, d_.KW);
    Value *i = rem(t, d_.KH);
    t = div(t, d_.KH);
    Value *cb = rem(t, blocks()), *r = div(t, blocks());
    Value *wc = b_.CreateAdd(b_.CreateMul(cb, c64(kLanes)), lane);
    Value *o = d_.narrow_input ? wc : r, *c = d_.narrow_input ? r : wc;
    Value *oc = b_.CreateAdd(b_.CreateMul(o, c64(d_.C)), c);
    return b_.CreateAdd(b_.CreateMul(b_.CreateAdd(b_.CreateMul(oc, c64(d_.KH)), i), c64(d_.KW)), j);
  }

  // Weights: adds each lane of each vector sum to its weight, in a loop (a
  // straight-line form of these scalar adds costs LLVM's SLP vectorizer
  // ten times the rest of the kernel to compile).
  void epilogue() {
    if (d_.kind != DirectConv::Weights) return;
    const int64_t slots = static_cast<int64_t>(sums_.size());
    llvm::AllocaInst *all = b_.CreateAlloca(f32(), c64(slots * kLanes));
    for (int64_t v = 0; v < slots; ++v)
      b_.CreateAlignedStore(b_.CreateLoad(vec(), sums_[v]), b_.CreateConstInBoundsGEP1_64(f32(), all, v * kLanes),
                            llvm::Align(4));
    for_range(c64(0), c64(slots * kLanes), [&](Value *e) {
      Value *index = weight_of(e);
      Value *p = b_.CreateInBoundsGEP(f32(), buf_[weights_arg_], index);
      Value *sum = b_.CreateAlignedLoad(f32(), b_.CreateInBoundsGEP(f32(), all, e), llvm::Align(4));
      b_.CreateAlignedStore(b_.CreateFAdd(b_.CreateAlignedLoad(f32(), p, llvm::Align(4)), sum), p, llvm::Align(4));
    });
  }

  // A pixel of the iterated side: (qh, qw) in phases (ph, pw).
  struct Pixel {
    Value *qh, *qw;
    const AxisPhase *ph, *pw;
  };
  Value *scaled(Value *q, int64_t k) { return k == 1 ? q : b_.CreateMul(q, c64(k), "", false, true); }
  // Row and column of the iterated side, and of the other side at its
  // phase's first tap position without the tap's own offset (q * mul).
  Value *row(int side, const Pixel &p) {
    return side == iterated_ ? b_.CreateAdd(scaled(p.qh, p.ph->step), c64(p.ph->first), "", false, true)
                             : scaled(p.qh, p.ph->mul);
  }
  Value *col(int side, const Pixel &p) {
    return side == iterated_ ? b_.CreateAdd(scaled(p.qw, p.pw->step), c64(p.pw->first), "", false, true)
                             : scaled(p.qw, p.pw->mul);
  }

  // Element offset of (n, channel or block c) on `side` at the pixel the
  // phase's taps (ti, tj) join to p (a block's first element when the side
  // is wide): a base from p plus a constant, which the loads fold into
  // their address.
  Value *at(int side, Value *n, int64_t c, const Pixel &p, size_t ti, size_t tj) {
    const int64_t planes = side == wide_ ? blocks() : ch_[side], lanes = side == wide_ ? kLanes : 1;
    Value *plane = b_.CreateAdd(b_.CreateMul(n, c64(planes), "", false, true), c64(c), "", false, true);
    Value *line = b_.CreateAdd(b_.CreateMul(plane, c64(h_[side]), "", false, true), row(side, p), "", false, true);
    Value *e = b_.CreateAdd(b_.CreateMul(line, c64(w_[side]), "", false, true), col(side, p), "", false, true);
    const int64_t shift = side == iterated_ ? 0 : p.ph->add[ti] * w_[side] + p.pw->add[tj];
    // no nuw: the shift may be negative
    return b_.CreateAdd(b_.CreateMul(e, c64(lanes), "", false, true), c64(shift * lanes), "", false, true);
  }
  Value *ptr(int side, Value *offset) { return b_.CreateInBoundsGEP(f32(), buf_[side_arg_[side]], offset); }
  // A load at (n, c) of `side` at the pixel tap (i, j) joins to (qh, qw);
  // where `valid` is false (a tap outside the image) it reads element 0
  // instead and gives 0.
  Value *load(int side, llvm::Type *type, Value *n, int64_t c, const Pixel &p, size_t ti, size_t tj, Value *valid) {
    Value *offset = at(side, n, c, p, ti, tj);
    if (valid) offset = b_.CreateSelect(valid, offset, c64(0));
    Value *v = b_.CreateAlignedLoad(type, ptr(side, offset), llvm::Align(4));
    return valid ? b_.CreateSelect(valid, v, llvm::ConstantFP::get(type, 0.0)) : v;
  }
  Value *load_wide(Value *n, int64_t cb, const Pixel &p, size_t ti, size_t tj, Value *valid) {
    return load(wide_, vec(), n, cb, p, ti, tj, valid);
  }
  Value *load_narrow(Value *n, int64_t r, const Pixel &p, size_t ti, size_t tj, Value *valid) {
    return load(narrow_, f32(), n, r, p, ti, tj, valid);
  }
  Value *splat(Value *s) { return b_.CreateVectorSplat(kLanes, s); }
  Value *fma(Value *a, Value *b, Value *acc) {
    if (!acc) return b_.CreateFMul(a, b);
    return b_.CreateIntrinsic(llvm::Intrinsic::fmuladd, {a->getType()}, {a, b, acc});
  }
  // The sum of partial sums (null: none), as a tree.
  Value *add_all(std::vector<Value *> parts) {
    parts.erase(std::remove(parts.begin(), parts.end(), nullptr), parts.end());
    if (parts.empty()) return nullptr;
    while (parts.size() > 1) {
      std::vector<Value *> next;
      for (size_t p = 0; p + 1 < parts.size(); p += 2) next.push_back(b_.CreateFAdd(parts[p], parts[p + 1]));
      if (parts.size() % 2) next.push_back(parts.back());
      parts = std::move(next);
    }
    return parts[0];
  }
  Value *post(Value *x) {
    if (d_.post == Op::Relu) {
      Value *zero = llvm::ConstantFP::get(x->getType(), 0.0);
      return b_.CreateSelect(b_.CreateFCmpOGT(x, zero), x, zero);
    }
    if (d_.post == Op::Sigmoid) return emit_sigmoid(b_, x);
    return x;
  }

  // Before each pixel: the wide side's lines kRowsAhead rows on, the last
  // tap row's when it is read (Output, Weights), the pixel's own when it is
  // written (Input, for writing). A batch's wide side outgrows the caches
  // (mnist_conv's [128, 32, 28, 28] is 12.8 MB) and the hardware's
  // prefetchers did not keep up with the pixel walk's rows of two or more
  // blocks (docs/BENCHMARKS.md). Past the image's end this points into the
  // next example or beyond the buffer: a prefetch there does nothing.
  static constexpr int64_t kRowsAhead = 2;
  void prefetch_ahead(Value *n, const Pixel &p) {
    const size_t taps = p.ph->taps.size();
    const bool reads = iterated_ != wide_ && d_.kind != DirectConv::Input;
    const bool writes = iterated_ == wide_ && d_.kind != DirectConv::Weights;
    if (taps == 0 || (!reads && !writes)) return;
    for (int64_t cb = 0; cb < blocks(); ++cb) {
      Value *offset = b_.CreateAdd(at(wide_, n, cb, p, reads ? taps - 1 : 0, 0), c64(kRowsAhead * w_[wide_] * kLanes));
      Value *addr = b_.CreateGEP(f32(), buf_[side_arg_[wide_]], offset);  // not inbounds: it may lie past the buffer
      b_.CreateIntrinsic(llvm::Intrinsic::prefetch, {b_.getPtrTy()},
                         {addr, b_.getInt32(writes ? 1 : 0), b_.getInt32(3), b_.getInt32(1)});
    }
  }

  // One pixel of the iterated side, every tap of its phase; `checked`: taps
  // outside the other side read 0.
  void pixel(Value *n, const Pixel &p, bool checked) {
    const int other = 1 - iterated_;
    const std::vector<int64_t> &taps_h = p.ph->taps, &taps_w = p.pw->taps;
    std::vector<Value *> row_ok(taps_h.size()), col_ok(taps_w.size());
    auto inside = [&](Value *c, int64_t extent) {
      return b_.CreateAnd(b_.CreateICmpSGE(c, c64(0)), b_.CreateICmpSLT(c, c64(extent)));
    };
    if (checked) {
      for (size_t ti = 0; ti < taps_h.size(); ++ti)
        row_ok[ti] = inside(b_.CreateAdd(row(other, p), c64(p.ph->add[ti]), "", false, true), h_[other]);
      for (size_t tj = 0; tj < taps_w.size(); ++tj)
        col_ok[tj] = inside(b_.CreateAdd(col(other, p), c64(p.pw->add[tj]), "", false, true), w_[other]);
    }
    auto valid = [&](size_t ti, size_t tj) { return checked ? b_.CreateAnd(row_ok[ti], col_ok[tj]) : nullptr; };
    if (d_.kind == DirectConv::Weights) {
      for (size_t ti = 0; ti < taps_h.size(); ++ti)
        for (size_t tj = 0; tj < taps_w.size(); ++tj) {
          Value *ok = valid(ti, tj);
          for (int64_t r = 0; r < ch_[narrow_]; ++r) {
            Value *s = splat(load_narrow(n, r, p, ti, tj, ok));
            for (int64_t cb = 0; cb < blocks(); ++cb) {
              llvm::AllocaInst *a = sums_[weight_slot(r, cb, taps_h[ti], taps_w[tj])];
              b_.CreateStore(fma(s, load_wide(n, cb, p, ti, tj, ok), b_.CreateLoad(vec(), a)), a);
            }
          }
        }
      return;
    }
    if (iterated_ == narrow_) {  // narrow result: vector products over the wide source, one lane sum per pixel
      for (int64_t r = 0; r < ch_[narrow_]; ++r) {
        std::vector<Value *> parts;  // one chain per tap row keeps the FMAs independent
        for (size_t ti = 0; ti < taps_h.size(); ++ti) {
          Value *acc = nullptr;
          for (size_t tj = 0; tj < taps_w.size(); ++tj)
            for (int64_t cb = 0; cb < blocks(); ++cb)
              acc = fma(load_wide(n, cb, p, ti, tj, valid(ti, tj)), weights_[weight_slot(r, cb, taps_h[ti], taps_w[tj])],
                        acc);
          parts.push_back(acc);
        }
        Value *v = llvm::ConstantFP::get(f32(), 0.0);  // a phase of a stride beyond the taps has none
        if (Value *all = add_all(parts)) {
          auto *sum = b_.CreateFAddReduce(llvm::ConstantFP::get(f32(), -0.0), all);
          llvm::FastMathFlags reassoc;
          reassoc.setAllowReassoc();
          llvm::cast<llvm::Instruction>(sum)->setFastMathFlags(reassoc);
          v = sum;
        }
        if (!bias_.empty()) v = b_.CreateFAdd(v, bias_[r]);
        b_.CreateAlignedStore(post(v), ptr(narrow_, at(narrow_, n, r, p, 0, 0)), llvm::Align(4));
      }
      return;
    }
    // Wide result: each narrow source value broadcast over the weight vectors.
    std::vector<std::vector<Value *>> source(taps_h.size());  // [tap row][tap column * narrow channels]
    for (size_t ti = 0; ti < taps_h.size(); ++ti)
      for (size_t tj = 0; tj < taps_w.size(); ++tj)
        for (int64_t r = 0; r < ch_[narrow_]; ++r)
          source[ti].push_back(splat(load_narrow(n, r, p, ti, tj, valid(ti, tj))));
    for (int64_t cb = 0; cb < blocks(); ++cb) {
      std::vector<Value *> parts;
      for (size_t ti = 0; ti < taps_h.size(); ++ti) {
        Value *acc = nullptr;
        size_t e = 0;
        for (size_t tj = 0; tj < taps_w.size(); ++tj)
          for (int64_t r = 0; r < ch_[narrow_]; ++r)
            acc = fma(source[ti][e++], weights_[weight_slot(r, cb, taps_h[ti], taps_w[tj])], acc);
        parts.push_back(acc);
      }
      Value *v = add_all(parts);
      if (!v) v = llvm::ConstantFP::get(vec(), 0.0);
      if (!bias_.empty()) v = b_.CreateFAdd(v, bias_[cb]);
      b_.CreateAlignedStore(post(v), ptr(wide_, at(wide_, n, cb, p, 0, 0)), llvm::Align(4));
    }
  }

  llvm::Module &m_;
  const std::string name_;
  const size_t args_;
  const DirectConv &d_;
  llvm::LLVMContext &ctx_;
  llvm::IRBuilder<> b_;
  int64_t ch_[2], h_[2], w_[2];
  int wide_ = 0, narrow_ = 1, iterated_ = 1;
  std::vector<AxisPhase> rows_, cols_;
  int side_arg_[2] = {0, 0}, weights_arg_ = 1;
  std::vector<Value *> buf_, weights_, bias_;  // weights_: the current phase's, by weight_slot
  llvm::AllocaInst *gathered_ = nullptr;
  std::vector<llvm::AllocaInst *> sums_;
};

}  // namespace

void emit_direct_conv(llvm::Module &m, const std::string &name, const DirectConv &d, size_t args) {
  assert(verify_direct_conv(d, args).empty());
  DirectConvEmitter(m, name, d, args).emit();
}

}  // namespace vaec
