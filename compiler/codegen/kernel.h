// A fused elementwise kernel, as the fusion pass describes it and the LLVM
// emitter compiles it. This header is the contract between the two.
//
// Semantics: for every point p of `domain` (row-major order), evaluate
// `instrs` in order (each yields one f32 value per point), then for each
// output store (or, if `accumulate`, combine by its `combine` op: add, max or
// min) the value of its instr at
//   buffer[arg][sum_k p[k] * strides[k]].
// Loads read buffer[arg] at offset + the same kind of address, or give 0
// where a guard excludes the point. A stride of 0 on an axis broadcasts
// (loads) or reduces (accumulating outputs) along it.
//
// The compiled function has the C signature
//   void name(void *const *buffers, int64_t begin, int64_t end, const uint64_t *rng)
// and visits the points whose first domain coordinate lies in [begin, end)
// (a rank-0 domain has one point; call it with begin = 0, end = 1). The caller
// splits [0, domain[0]) among threads and gives each thread private copies
// of accumulated outputs, filled with the combine op's identity (0, -inf,
// +inf), then combines them: the kernel itself never synchronises. rng =
// {seed, step, row0}: see Normal below.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "codegen/direct_conv.h"
#include "ir/ops.h"

namespace vaec {

// A BF16 buffer is only written, by plain (not accumulated) outputs that store
// the value's bfloat16 rounding as runtime/abi/bf16_rounding.h makes it: the
// rounded copy a bf16 product reads, made by the kernel that computes the
// value (round_in_kernels.h).
enum class BufferType : uint8_t { F32, U8, BF16 };

struct KernelInstr {
  enum Kind : uint8_t {
    Load,    // buffer[arg] at `strides`; a U8 buffer loads float(byte) * value
    Const,   // `value`
    Apply,   // elementwise op `op` (a Unary or Binary row of ops.def) on instrs a (, b)
    Normal,  // a standard normal draw: Philox4x32-10 (runtime/abi/philox.h), see below
  } kind = Const;
  Op op = Op::Add;
  int a = -1, b = -1;            // Apply operands: indices of earlier instrs
  int arg = -1;                  // Load: buffer index
  std::vector<int64_t> strides;  // Load: one per domain axis, in elements
  int64_t offset = 0;            // Load: added to the address (a slice's start)
  // Load: when guard_axis >= 0, points whose coordinate on that axis lies
  // outside [guard_lo, guard_hi) read 0 and touch no memory (a pad).
  int guard_axis = -1;
  int64_t guard_lo = 0, guard_hi = 0;
  double value = 0;              // Const value; U8 Load scale
  uint32_t stream = 0;           // Normal: which of the graph's normal() ops
};
// Normal: the draw for flat domain index f (row-major over the whole domain,
// not the thread's slice) is philox_normal(seed, step, stream, f + row0 *
// (points per row of the first axis)) of runtime/abi/philox.h, so results do
// not depend on how points are split among threads; row0 > 0 names the rows
// of a larger domain this call's rows are (a rank's share of the batch in
// data-parallel training: runtime/dist/), so neither do they depend on how
// a batch is split among processes.

struct KernelOutput {
  int instr = -1;
  int arg = -1;
  std::vector<int64_t> strides;  // one per domain axis; 0 on reduced axes
  bool accumulate = false;       // buffer[...] = combine(buffer[...], value): a reduction
  Op combine = Op::Sum;          // Sum, Max or Min (the reduction's op)
};

// The value an accumulated output starts from: 0, -inf or +inf.
double combine_identity(Op combine);

struct FusedKernel {
  std::string name;              // a C identifier, unique in its module
  std::vector<int64_t> domain;
  std::vector<BufferType> args;  // type of each buffer the kernel touches
  std::vector<KernelInstr> instrs;
  std::vector<KernelOutput> outputs;
  // When set, the kernel is this convolution instead of instrs and outputs
  // (both empty): domain is [N], args all F32.
  std::optional<DirectConv> conv;
  // {input, output} argument pairs that plan_memory placed in the same bytes
  // (from in_place_pairs): the code writes the output through the input's
  // pointer.
  std::vector<std::pair<int, int>> in_place;
};

// Argument pairs {input, output} that may share one buffer: every point
// reads the input only where it writes the output (both f32, the same
// strides, one address per point, a plain store), so each value is read
// before it is overwritten and by the point that overwrites it alone.
std::vector<std::pair<int, int>> in_place_pairs(const FusedKernel &k);

// Whether `arg` is stored by exactly one plain output, at one address per
// point, the points filling [0, elements), and neither loaded nor otherwise
// written: after the kernel, every element of it is the kernel's.
bool stores_every_element_once(const FusedKernel &k, int arg, int64_t elements);

// The interpretation above in plain C++, in double precision: the reference the
// LLVM-compiled kernels are tested against (and a readable restatement of the
// semantics). `buffers` point to float or uint8 data per `args`.
void run_kernel_reference(const FusedKernel &k, void *const *buffers, int64_t begin, int64_t end,
                          const uint64_t *rng);

// An estimate of a kernel's work, in units of about one cheap instruction per
// point halved: points x (loads and stores 1, add/sub/mul/neg/relu/step 1,
// div/sqrt 3, exp/log/sigmoid/tanh/softplus/pow/bce/bce_logits 8, a normal
// draw 16, an accumulated output 3) / 2.
int64_t kernel_work(const FusedKernel &k);

// Whether a kernel step's rows are split among the threads (the plan's
// `rows`) or run on the calling thread (`one`): from 16k of work on, where
// that pays for waking the second thread (a [128, 20] sampler kernel with
// its normal draws does; a [128, 20] add does not).
inline constexpr int64_t kRowSplitWork = int64_t{1} << 14;
inline bool split_rows(const FusedKernel &k) {
  return !k.domain.empty() && k.domain[0] > 1 && kernel_work(k) >= kRowSplitWork;
}

// One kernel per line, for dumps and error messages.
std::string kernel_to_string(const FusedKernel &k);

}  // namespace vaec
