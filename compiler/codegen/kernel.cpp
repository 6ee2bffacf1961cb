// The f64 reference of fused kernels and their text form (contract in kernel.h).
//
// Deliberately slow and plain: one point at a time, every value in double,
// the element formulas taken from ir/elementwise_f64.cpp and the normal draws from
// runtime/abi/philox.h. The one liberty: accumulated sums are gathered in double
// and added to the f32 buffer once at the end, so the reference does not
// round after every += (an exact-arithmetic reading of the semantics).
#include "codegen/kernel.h"

#include <algorithm>

#include <cassert>
#include <charconv>
#include <cmath>
#include <limits>
#include <map>

#include "ir/elementwise_f64.h"
#include "abi/bf16_rounding.h"
#include "abi/philox.h"

namespace vaec {
namespace {

int64_t address(const std::vector<int64_t> &point, const std::vector<int64_t> &strides) {
  int64_t a = 0;
  for (size_t k = 0; k < point.size(); ++k) a += point[k] * strides[k];
  return a;
}

double load(const FusedKernel &k, void *const *buffers, const KernelInstr &in, const std::vector<int64_t> &point) {
  if (in.guard_axis >= 0 && (point[in.guard_axis] < in.guard_lo || point[in.guard_axis] >= in.guard_hi)) return 0.0;
  const int64_t at = in.offset + address(point, in.strides);
  if (k.args[in.arg] == BufferType::U8) return static_cast<const uint8_t *>(buffers[in.arg])[at] * in.value;
  return static_cast<const float *>(buffers[in.arg])[at];
}

double combine(Op op, double a, double b) {
  if (op == Op::Max) return b > a ? b : a;
  if (op == Op::Min) return b < a ? b : a;
  return a + b;
}

double apply_op(const KernelInstr &in, const std::vector<double> &v) {
  ElementFormula formula = element_formula(in.op);
  assert(formula && "Apply of an op without an element formula");
  return formula(v[in.a], in.b >= 0 ? v[in.b] : 0.0);
}

// Moves `point` to the next point of the domain in row-major order; false
// after the last one. The first axis runs up to `end`.
bool advance(std::vector<int64_t> &point, const std::vector<int64_t> &domain, int64_t end) {
  for (size_t k = point.size(); k-- > 0;) {
    int64_t limit = k == 0 ? end : domain[k];
    if (++point[k] < limit) return true;
    if (k > 0) point[k] = 0;
  }
  return false;
}

}  // namespace

double combine_identity(Op op) {
  if (op == Op::Max) return -std::numeric_limits<double>::infinity();
  if (op == Op::Min) return std::numeric_limits<double>::infinity();
  return 0.0;
}

void run_kernel_reference(const FusedKernel &k, void *const *buffers, int64_t begin, int64_t end,
                          const uint64_t *rng) {
  if (k.conv) return run_direct_conv_reference(*k.conv, buffers, begin, end);
  const size_t rank = k.domain.size();
  std::vector<int64_t> row_major(rank, 1);  // strides of the flat index the normal draws use
  for (size_t a = rank; a-- > 1;) row_major[a - 1] = row_major[a] * k.domain[a];
  for (int64_t d : k.domain)
    if (d == 0) return;
  if (begin >= end) return;  // a rank-0 domain has its one point in [0, 1)

  std::vector<int64_t> point(rank, 0);
  if (rank > 0) point[0] = begin;
  std::vector<double> v(k.instrs.size());
  std::vector<std::map<int64_t, double>> sums(k.outputs.size());
  do {
    for (size_t i = 0; i < k.instrs.size(); ++i) {
      const KernelInstr &in = k.instrs[i];
      switch (in.kind) {
        case KernelInstr::Load: v[i] = load(k, buffers, in, point); break;
        case KernelInstr::Const: v[i] = in.value; break;
        case KernelInstr::Apply: v[i] = apply_op(in, v); break;
        case KernelInstr::Normal:
          v[i] = philox_normal(rng[0], rng[1], in.stream,
                               uint64_t(address(point, row_major) + int64_t(rng[2]) * (rank > 0 ? row_major[0] : 0)));
          break;
      }
    }
    for (size_t o = 0; o < k.outputs.size(); ++o) {
      const KernelOutput &out = k.outputs[o];
      int64_t at = address(point, out.strides);
      if (out.accumulate) {
        auto it = sums[o].try_emplace(at, combine_identity(out.combine)).first;
        it->second = combine(out.combine, it->second, v[out.instr]);
      } else if (k.args[out.arg] == BufferType::BF16) {
        static_cast<uint16_t *>(buffers[out.arg])[at] = rt::round_bf16(static_cast<float>(v[out.instr]));
      } else {
        static_cast<float *>(buffers[out.arg])[at] = static_cast<float>(v[out.instr]);
      }
    }
  } while (rank > 0 && advance(point, k.domain, end));

  for (size_t o = 0; o < k.outputs.size(); ++o) {
    float *data = static_cast<float *>(buffers[k.outputs[o].arg]);
    for (const auto &[at, sum] : sums[o]) data[at] = static_cast<float>(combine(k.outputs[o].combine, data[at], sum));
  }
}

namespace {

// Distinct points at distinct addresses: the axes of extent > 1, by stride,
// each stepping past the whole of the ones below it.
bool one_address_per_point(const FusedKernel &k, const std::vector<int64_t> &strides) {
  std::vector<std::pair<int64_t, int64_t>> axes;  // stride, extent
  for (size_t a = 0; a < k.domain.size(); ++a)
    if (k.domain[a] > 1) {
      if (strides[a] <= 0) return false;
      axes.push_back({strides[a], k.domain[a]});
    }
  std::sort(axes.begin(), axes.end());
  for (size_t a = 1; a < axes.size(); ++a)
    if (axes[a].first < axes[a - 1].first * axes[a - 1].second) return false;
  return true;
}

}  // namespace

bool stores_every_element_once(const FusedKernel &k, int arg, int64_t elements) {
  if (k.conv || arg < 0 || static_cast<size_t>(arg) >= k.args.size()) return false;
  for (const KernelInstr &i : k.instrs)
    if (i.kind == KernelInstr::Load && i.arg == arg) return false;
  const KernelOutput *only = nullptr;
  for (const KernelOutput &o : k.outputs)
    if (o.arg == arg) {
      if (only) return false;
      only = &o;
    }
  if (!only || only->accumulate || !one_address_per_point(k, only->strides)) return false;
  int64_t points = 1, last = 0;  // the highest address stored
  for (size_t a = 0; a < k.domain.size(); ++a) {
    points *= k.domain[a];
    last += (k.domain[a] - 1) * only->strides[a];
  }
  return points > 0 && points == elements && last + 1 == elements;
}

std::vector<std::pair<int, int>> in_place_pairs(const FusedKernel &k) {
  std::vector<std::pair<int, int>> pairs;
  if (k.conv) return pairs;
  for (const KernelOutput &out : k.outputs) {
    if (out.accumulate || k.args[out.arg] != BufferType::F32 || !one_address_per_point(k, out.strides)) continue;
    int written = 0;
    for (const KernelOutput &o : k.outputs) written += o.arg == out.arg;
    if (written != 1) continue;
    for (size_t in = 0; in < k.args.size(); ++in) {
      if (static_cast<int>(in) == out.arg || k.args[in] != BufferType::F32) continue;
      bool loaded = false, same = true;
      for (const KernelInstr &i : k.instrs)
        if (i.kind == KernelInstr::Load && (i.arg == static_cast<int>(in) || i.arg == out.arg)) {
          loaded = loaded || i.arg == static_cast<int>(in);
          same = same && i.arg == static_cast<int>(in) && i.strides == out.strides && i.offset == 0 &&
                 i.guard_axis < 0;
        }
      bool output = false;
      for (const KernelOutput &o : k.outputs) output = output || o.arg == static_cast<int>(in);
      if (loaded && same && !output) pairs.push_back({static_cast<int>(in), out.arg});
    }
  }
  return pairs;
}

int64_t kernel_work(const FusedKernel &k) {
  // A direct convolution: a vector multiply-add for 16 multiply-adds.
  if (k.conv) return std::max<int64_t>(1, (k.domain.empty() ? 1 : k.domain[0]) * direct_conv_macs(*k.conv) / 16);
  int64_t points = 1;
  for (int64_t d : k.domain) points *= d;
  int64_t cost = 0;
  for (const KernelInstr &i : k.instrs) {
    switch (i.kind) {
    case KernelInstr::Load: cost += 1; break;
    case KernelInstr::Const: break;
    case KernelInstr::Normal: cost += 16; break;
    case KernelInstr::Apply:
      switch (i.op) {
      case Op::Div:
      case Op::Sqrt: cost += 3; break;
      case Op::Exp:
      case Op::Log:
      case Op::Sigmoid:
      case Op::Tanh:
      case Op::Softplus:
      case Op::Pow:
      case Op::Bce:
      case Op::BceLogits: cost += 8; break;
      default: cost += 1; break;
      }
      break;
    }
  }
  for (const KernelOutput &o : k.outputs) cost += o.accumulate ? 3 : 1;
  return std::max<int64_t>(1, points * std::max<int64_t>(cost, 2) / 2);
}

namespace {

// Shortest text that reads back as the same double.
std::string number(double x) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, x);
  return std::string(buf, r.ptr);
}

std::string ints(const std::vector<int64_t> &xs) {
  std::string s = "[";
  for (size_t i = 0; i < xs.size(); ++i) s += (i ? "," : "") + std::to_string(xs[i]);
  return s + "]";
}

const char *type_name(BufferType t) {
  return t == BufferType::U8 ? "u8" : t == BufferType::BF16 ? "bf16" : "f32";
}

std::string instr_text(const FusedKernel &k, const KernelInstr &in) {
  switch (in.kind) {
    case KernelInstr::Load: {
      std::string scale = k.args[in.arg] == BufferType::U8 ? "u8*" + number(in.value) : "f32";
      std::string s = "load #" + std::to_string(in.arg) + " " + scale + " strides=" + ints(in.strides);
      if (in.offset != 0) s += " offset=" + std::to_string(in.offset);
      if (in.guard_axis >= 0)
        s += " where " + std::to_string(in.guard_lo) + "<=p" + std::to_string(in.guard_axis) + "<" +
             std::to_string(in.guard_hi);
      return s;
    }
    case KernelInstr::Const: return "const " + number(in.value);
    case KernelInstr::Apply: {
      std::string s = "apply " + std::string(op_name(in.op)) + "(%" + std::to_string(in.a);
      if (in.b >= 0) s += ", %" + std::to_string(in.b);
      return s + ")";
    }
    case KernelInstr::Normal: return "normal stream=" + std::to_string(in.stream);
  }
  return "?";
}

}  // namespace

std::string kernel_to_string(const FusedKernel &k) {
  std::string s = "kernel " + k.name + " domain=" + ints(k.domain) + " args=[";
  for (size_t i = 0; i < k.args.size(); ++i) s += std::string(i ? "," : "") + type_name(k.args[i]);
  s += "]\n";
  if (k.conv) s += "  " + direct_conv_text(*k.conv) + "\n";
  for (size_t i = 0; i < k.instrs.size(); ++i)
    s += "  %" + std::to_string(i) + " = " + instr_text(k, k.instrs[i]) + "\n";
  for (const KernelOutput &out : k.outputs)
    s += "  out #" + std::to_string(out.arg) +
         (!out.accumulate ? " = %" : out.combine == Op::Max ? " max= %" : out.combine == Op::Min ? " min= %" : " += %") +
         std::to_string(out.instr) + " strides=" + ints(out.strides) + "\n";
  return s;
}

}  // namespace vaec
