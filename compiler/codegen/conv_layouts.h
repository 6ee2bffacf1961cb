// Layout decisions for convolutions, used by assign_conv_layouts and lower_steps:
//
// - choose_conv asks oneDNN (on the compiling machine, which is the machine
//   the trainer is built for, like LLVM's host CPU) which layouts the fastest
//   implementation of a convolution step wants, with "any" for its three
//   tensor operands, and returns the plan step with those layouts written as
//   runtime/abi/onednn_conv.h says.
// - Kernels can read and write oneDNN's nChw16c layout ("aBcd16b") directly:
//   redomain_nchw16c rewrites a kernel over an NCHW domain with C % 16 == 0
//   to the domain [N, C/16, H, W, 16], in which every argument is either in
//   nChw16c (a full-shape, row-major-indexed tensor) or plain with its strides
//   permuted, so broadcasts and per-channel reductions (bias gradients) work
//   unchanged. Activations can then stay blocked between convolutions, with no
//   reorders around the elementwise kernels in between.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <vector>

#include "codegen/kernel.h"
#include "codegen/precision_timing.h"
#include "codegen/schedule.h"
#include "ir/graph.h"
#include "abi/plan.h"

namespace dnnl {
struct engine;
}

namespace vaec {

struct ConvChoice {
  plan::Step step;                // kind Conv: op, dims, stride, pad, post, layouts; buffers unset
  std::array<int64_t, 3> elements{};  // f32 elements of a, b, c in their layouts (with padding)
  std::string impl;               // oneDNN's implementation, e.g. "jit:avx512_core"
  // conv2d_transpose forward runs without bias and post-op, which make oneDNN
  // 2.6's deconvolution many times slower (docs/BENCHMARKS.md); the caller
  // adds them in an epilogue kernel.
  bool epilogue = false;
  std::string epilogue_post;      // "", "relu" or "sigmoid"
  // With precision bf16: the step's timings and choice as the plan's note
  // says them (precision_timing.h); step.bf16 is the choice.
  std::string precision_note;
  // With Winograd allowed, where oneDNN has a Winograd kernel for the f32
  // step: both algorithms' timings and the choice (step.winograd), as the
  // plan's note says them.
  std::string algorithm_note;
  // Set when the step runs as a direct kernel (direct_conv.h) instead:
  // `step` then has the wide side's operands in nChw16c, the rest plain.
  std::optional<DirectConv> direct;
};

// The direct convolution (codegen/direct_conv.h) for library step `ss` (a
// convolution op and its post-op) when it has one: the op's own output (a
// conv2d's output, a conv2d_transpose's output, and the same side in their
// gradients) has fewer than 16 channels and the other side a multiple of
// 16; Input kernels need stride 1, a sigmoid post-op a narrow result, and
// the weights at most kDirectConvMaxVectors vectors. nullopt otherwise.
std::optional<DirectConv> direct_conv_of(const Graph &g, const ScheduleStep &ss);

// The choice for a direct convolution `d` of step `ss`: layouts and sizes
// as the kernel reads and writes them.
ConvChoice direct_choice(const Graph &g, const ScheduleStep &ss, const DirectConv &d);

// The choice for the library step `ss` of schedule `s` (a convolution op, with
// its post-op if fused); with `plain_only`, every operand plain
// (`vaec compile --conv-layouts plain`, for comparisons). With `bf16`
// (precision bf16 asked for), also the step in bf16, with the result in
// the f32 layout its bf16 kernel wants (AMX kernels want channels last,
// and run nChw16c results with slower ones) and a and b read from f32
// where the f32 step reads them: bf16 when precision_timing says it is
// faster, the timings in precision_note. With `winograd` (and not
// `plain_only`), first the f32 step in oneDNN's Winograd algorithm with the
// layouts its kernel wants where it is >= 10 % faster than the direct sum,
// reorders included (precision_timing.h), the timings in algorithm_note;
// bf16 is then weighed against the faster f32 step. vaec's own Winograd
// (abi/own_winograd.h) is timed beside oneDNN's (Timed; TimedBeside: a
// weight gradient also as it runs beside its layer's own input gradient,
// one thread each, in plans side_by_side pairs), left out (Off), or taken
// untimed wherever it can run (Forced, for tests). Throws
// std::runtime_error (oneDNN cannot run it).
enum class OwnWinogradUse { Off, Timed, TimedBeside, Forced };
ConvChoice choose_conv(const Graph &g, const ScheduleStep &ss, const dnnl::engine &engine, bool plain_only = false,
                       PrecisionTimings *bf16 = nullptr, AlgorithmTimings *winograd = nullptr,
                       OwnWinogradUse own = OwnWinogradUse::Timed);

// The layout kernels read the result of convolution `cs` in when it is
// neither plain nor nChw16c ("" when it is one of those): nChw16c where the
// channels are a multiple of 16 and the result is no weight gradient (a
// gradient goes plain, as graph outputs do), else plain.
std::string kernel_layout_of_result(const plan::Step &cs);

// The nChw16c layout text of NCHW dims, or "" when it has padding (C % 16 != 0)
// or the dims are not 4-D.
std::string nchw16c_layout(const Dims &dims);

// Rewrites `k` to run over [N, C/16, H, W, 16] with argument a in nChw16c when
// blocked[a]; false (k unchanged) when it cannot: the domain is not 4-D with
// C % 16 == 0, it draws normal() noise (draws follow the flat index), pads along the
// channels (the guard needs the channel as one axis), or a
// blocked argument is not read or written as the whole tensor in row-major
// order.
bool redomain_nchw16c(FusedKernel &k, const std::vector<bool> &blocked);

// out[n,c,h,w] = post(bare[n,c,h,w] + bias[c]) over `dims`, arguments
// (bare, bias, out); bare and out in nChw16c when the flags say so (then
// dims[1] % 16 == 0).
FusedKernel epilogue_kernel(const std::string &name, const Dims &dims, const std::string &post, bool bare_blocked,
                            bool out_blocked);

}  // namespace vaec
