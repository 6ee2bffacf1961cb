// Building fused kernels in tests, running them compiled (whole and in
// slices) and against run_kernel_reference, and measuring the error: what
// llvm_kernel_test.cpp and llvm_kernel_codegen_test.cpp share.
#pragma once

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

namespace vaec::test {

inline constexpr double kInf = std::numeric_limits<double>::infinity();
inline constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// --- Building kernels ----------------------------------------------------------

// Row-major strides of the axes of `domain` kept by `keep` (1 = kept), 0 on the
// others: the layout of a buffer broadcast along (or reduced over) the rest.
inline std::vector<int64_t> strides_of(const std::vector<int64_t> &domain, std::vector<int> keep = {}) {
  if (keep.empty()) keep.assign(domain.size(), 1);
  std::vector<int64_t> s(domain.size(), 0);
  int64_t step = 1;
  for (size_t a = domain.size(); a-- > 0;)
    if (keep[a]) s[a] = step, step *= domain[a];
  return s;
}

struct KernelBuilder {
  FusedKernel k;
  KernelBuilder(std::string name, std::vector<int64_t> domain) {
    k.name = std::move(name);
    k.domain = std::move(domain);
  }
  int arg(BufferType t = BufferType::F32) {
    k.args.push_back(t);
    return int(k.args.size()) - 1;
  }
  int push(KernelInstr::Kind kind, const std::function<void(KernelInstr &)> &set) {
    KernelInstr in;
    in.kind = kind;
    set(in);
    k.instrs.push_back(std::move(in));
    return int(k.instrs.size()) - 1;
  }
  int load(int arg, std::vector<int64_t> strides, double scale = 0) {
    return push(KernelInstr::Load, [&](KernelInstr &in) {
      in.arg = arg, in.strides = std::move(strides), in.value = scale;
    });
  }
  int load(int arg) { return load(arg, strides_of(k.domain)); }
  int constant(double v) {
    return push(KernelInstr::Const, [&](KernelInstr &in) { in.value = v; });
  }
  int apply(Op op, int a, int b = -1) {
    return push(KernelInstr::Apply, [&](KernelInstr &in) { in.op = op, in.a = a, in.b = b; });
  }
  int normal(uint32_t stream) {
    return push(KernelInstr::Normal, [&](KernelInstr &in) { in.stream = stream; });
  }
  void out(int instr, int arg, std::vector<int64_t> strides, bool accumulate = false) {
    k.outputs.push_back({instr, arg, std::move(strides), accumulate});
  }
  void out(int instr, int arg) { out(instr, arg, strides_of(k.domain)); }
};

// --- Running them -------------------------------------------------------------

// One buffer per arg, sized to the largest address any access reaches.
struct Buffers {
  std::vector<std::vector<float>> f32;
  std::vector<std::vector<uint8_t>> u8;
  std::vector<void *> pointers() {
    std::vector<void *> p;
    for (size_t a = 0; a < f32.size(); ++a)
      p.push_back(u8[a].empty() ? static_cast<void *>(f32[a].data()) : u8[a].data());
    return p;
  }
};

inline int64_t first_extent(const FusedKernel &k) { return k.domain.empty() ? 1 : k.domain[0]; }

inline std::vector<int64_t> buffer_sizes(const FusedKernel &k) {
  std::vector<int64_t> size(k.args.size(), 1);
  // The last element a point reads: a guarded load's axis goes up to its
  // window's end only (sizes exactly as large as what is read, so ASan and
  // the comparison see any read past them).
  auto reach = [&](int arg, const std::vector<int64_t> &s, int64_t offset = 0, int guard = -1, int64_t hi = 0) {
    int64_t last = offset;
    for (size_t a = 0; a < s.size(); ++a) last += ((int(a) == guard ? hi : k.domain[a]) - 1) * s[a];
    size[arg] = std::max(size[arg], last + 1);
  };
  for (const KernelInstr &in : k.instrs)
    if (in.kind == KernelInstr::Load) reach(in.arg, in.strides, in.offset, in.guard_axis, in.guard_hi);
  for (const KernelOutput &out : k.outputs) reach(out.arg, out.strides);
  return size;
}

// Random contents: F32 arg a uniform in ranges[a] (default [-1, 1]), u8 args
// any byte.
inline Buffers random_buffers(const FusedKernel &k, std::mt19937 &gen,
                       const std::map<int, std::pair<double, double>> &ranges = {}) {
  Buffers b;
  std::vector<int64_t> size = buffer_sizes(k);
  for (size_t a = 0; a < k.args.size(); ++a) {
    b.f32.emplace_back();
    b.u8.emplace_back();
    if (k.args[a] == BufferType::U8) {
      for (int64_t i = 0; i < size[a]; ++i) b.u8[a].push_back(uint8_t(gen()));
      continue;
    }
    auto [lo, hi] = ranges.count(a) ? ranges.at(a) : std::pair{-1.0, 1.0};
    std::uniform_real_distribution<double> dist(lo, hi);
    for (int64_t i = 0; i < size[a]; ++i) b.f32[a].push_back(float(dist(gen)));
  }
  return b;
}

inline constexpr uint64_t kRng[3] = {0x0123456789ABCDEFull, 42, 0};

// Runs `fn` over [0, first extent) cut at `cuts`, one call per slice, as the
// executor's threads would: each slice accumulates into private zeroed
// buffers that are added to the real ones afterwards. No cuts: one call
// straight into the buffers.
inline void run_sliced(KernelJit::Fn fn, const FusedKernel &k, Buffers &b, std::vector<int64_t> cuts = {}) {
  if (cuts.empty()) {
    fn(b.pointers().data(), 0, first_extent(k), kRng);
    return;
  }
  std::vector<bool> accumulated(k.args.size());
  std::vector<Op> how(k.args.size(), Op::Sum);
  for (const KernelOutput &out : k.outputs)
    if (out.accumulate) accumulated[out.arg] = true, how[out.arg] = out.combine;
  cuts.insert(cuts.begin(), 0);
  cuts.push_back(first_extent(k));
  for (size_t s = 0; s + 1 < cuts.size(); ++s) {
    Buffers local = b;  // only the accumulated args are used from the copy
    std::vector<void *> p = b.pointers();
    for (size_t a = 0; a < k.args.size(); ++a)
      if (accumulated[a]) {
        std::fill(local.f32[a].begin(), local.f32[a].end(), float(combine_identity(how[a])));
        p[a] = local.f32[a].data();
      }
    fn(p.data(), cuts[s], cuts[s + 1], kRng);
    for (size_t a = 0; a < k.args.size(); ++a)
      if (accumulated[a])
        for (size_t i = 0; i < b.f32[a].size(); ++i) {
          float &t = b.f32[a][i], x = local.f32[a][i];
          t = how[a] == Op::Max ? std::max(t, x) : how[a] == Op::Min ? std::min(t, x) : t + x;
        }
  }
}

// |got - ref| relative to |ref|, with values below `floor` judged absolutely
// (denormals have no relative precision); NaN must meet NaN and an infinite
// f32 result the same infinity. Returns +inf on a mismatch of kind.
inline double error_of(float got, double ref, double floor) {
  float expect = float(ref);
  if (std::isnan(expect) || std::isnan(got)) return std::isnan(expect) && std::isnan(got) ? 0 : kInf;
  if (std::isinf(expect) || std::isinf(got)) return expect == got ? 0 : kInf;
  return std::fabs(double(got) - ref) / std::max(std::fabs(ref), floor);
}

// Compiles `k`, runs it once whole and once split at `cuts` (default: three
// uneven slices when the first extent allows), and returns the largest error
// of any f32 buffer against the reference.
inline double max_error(const FusedKernel &k, const std::map<int, std::pair<double, double>> &ranges = {},
                 double floor = 1e-30, std::vector<int64_t> cuts = {}) {
  std::string error;
  auto jit = KernelJit::create({k}, error);
  EXPECT_TRUE(jit) << error;
  if (!jit) return kInf;
  std::mt19937 gen(1234);
  Buffers input = random_buffers(k, gen, ranges);
  Buffers ref64 = input;
  run_kernel_reference(k, ref64.pointers().data(), 0, first_extent(k), kRng);
  int64_t n = first_extent(k);
  if (cuts.empty() && n >= 3) cuts = {1, n / 2 + 1};
  double worst = 0;
  for (const auto &split : {std::vector<int64_t>{}, cuts}) {
    Buffers got = input;
    run_sliced(jit->lookup(k.name), k, got, split);
    for (size_t a = 0; a < k.args.size(); ++a)
      for (size_t i = 0; i < got.f32[a].size(); ++i) {
        double e = error_of(got.f32[a][i], ref64.f32[a][i], floor);
        EXPECT_LT(e, kInf) << k.name << " arg " << a << " [" << i << "]: " << got.f32[a][i] << " vs "
                           << ref64.f32[a][i];
        worst = std::max(worst, e);
      }
  }
  return worst;
}

// Input range of each operand where the op is well-conditioned.
struct OpDomain {
  std::pair<double, double> a{-10, 10}, b{-10, 10};
};

inline OpDomain domain_of(Op op) {
  switch (op) {
    case Op::Log: return {{1e-3, 1e3}};
    case Op::Sqrt: return {{0, 1e3}};
    case Op::Sigmoid:
    case Op::Softplus: return {{-30, 30}};
    case Op::Div: return {{-10, 10}, {0.1, 10}};
    case Op::Pow: return {{0.05, 20}, {-3, 3}};
    case Op::Bce: return {{0.01, 0.99}, {0, 1}};
    case Op::BceLogits: return {{-10, 10}, {0, 1}};
    default: return {};
  }
}

inline std::vector<Op> elementwise_ops() {
  std::vector<Op> ops;
  for (const OpInfo &info : all_ops())
    if (info.kind == OpKind::Unary || info.kind == OpKind::Binary) ops.push_back(info.op);
  return ops;
}

// Two kernels per op: a contiguous [129] one, and a [3,5,7] one whose second
// operand is broadcast along axes 0 and 2.
inline std::vector<FusedKernel> op_kernels(Op op) {
  bool binary = op_info(op).kind == OpKind::Binary;
  std::vector<FusedKernel> ks;
  for (std::vector<int64_t> d : {std::vector<int64_t>{129}, {3, 5, 7}}) {
    KernelBuilder kb(std::string(op_name(op)) + "_" + std::to_string(d.size()), d);
    int x = kb.arg(), y = kb.arg(), out = kb.arg();
    int a = kb.load(x);
    int b = binary ? kb.load(y, d.size() == 1 ? strides_of(d) : strides_of(d, {0, 1, 0})) : -1;
    kb.out(kb.apply(op, a, b), out);
    ks.push_back(kb.k);
  }
  return ks;
}

// Random kernels from positive-valued ops (no cancellation, so relative error
// is meaningful): random domains, broadcasts, u8 loads, outputs.
inline FusedKernel random_kernel(std::mt19937 &gen, int id) {
  auto pick = [&](int n) { return int(gen() % n); };
  const int64_t extents[] = {1, 2, 3, 5, 7, 16, 33};
  std::vector<int64_t> d(pick(4));
  for (int64_t &e : d) e = extents[pick(7)];
  KernelBuilder kb("random_" + std::to_string(id), d);
  auto mask = [&] {
    std::vector<int> keep(d.size());
    for (int &k : keep) k = pick(3) != 0;
    return keep;
  };
  std::vector<int> values;
  for (int l = 0, n = 1 + pick(3); l < n; ++l) {
    bool u8 = pick(4) == 0;
    int arg = kb.arg(u8 ? BufferType::U8 : BufferType::F32);
    values.push_back(kb.load(arg, strides_of(d, mask()), u8 ? 1.0 / 255 : 0));
  }
  const Op unary[] = {Op::Sigmoid, Op::Softplus, Op::Sqrt, Op::Tanh, Op::Exp};
  const Op binary[] = {Op::Add, Op::Mul, Op::Div};
  for (int i = 0, n = 1 + pick(5); i < n; ++i) {
    int a = values[pick(int(values.size()))], b = values[pick(int(values.size()))];
    values.push_back(pick(2) ? kb.apply(unary[pick(5)], a) : kb.apply(binary[pick(3)], a, b));
  }
  for (int o = 0, n = 1 + pick(2); o < n; ++o) {
    bool acc = pick(2);
    kb.out(values.back() - o, kb.arg(), strides_of(d, acc ? mask() : std::vector<int>{}), acc);
  }
  return kb.k;
}

inline FusedKernel normal_kernel(std::vector<int64_t> d) {
  KernelBuilder kb("noise", std::move(d));
  int out = kb.arg();
  kb.out(kb.normal(3), out);
  return kb.k;
}

// The work estimate the runtime's threading threshold (16k) reads: a [128, 20]
// add stays on one thread, the same domain with a normal draw and an exp
// (mnist_mlp's sampler) is split, and so is a large add.

}  // namespace vaec::test
