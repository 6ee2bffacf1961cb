// Direct convolutions (a kind of kernel: FusedKernel::conv in kernel.h):
// their checks, f64 reference and LLVM code (which convolution steps get one: direct_conv_of
// in conv_layouts.h).
//
// Why: oneDNN 2.6's blocked kernels pad a layer's output channels to 16, so
// the last convolution of an image decoder (32 -> 1 channel, 3x3) does 16x
// its multiply-adds in each of its three steps (docs/BENCHMARKS.md). A direct
// kernel reads the wide side 16 channels per vector in nChw16c and the narrow
// side plain, with the image sizes, taps and borders known at compile time.
//
// The emitted function has the C signature of fused kernels (kernel.h), so the
// plan runs it as a `kernel` step: rows are examples, split among threads; a
// Weights kernel's result is an accumulated argument (per-thread copies, then
// summed in chunk order, as for any reduction).
//
// Code shape: the weights are gathered once per call into <16 x float>
// vectors (16 wide-side channels per vector; gathered, and a Weights
// kernel's sums scattered back, by loops, which LLVM compiles far faster
// than the same scalar moves written out). Then for each example a loop over
// the pixels of the iterated side (the computed side for Output and Input,
// the conv-output side for Weights; an Input kernel at a stride walks it in
// stride x stride phases, each over the taps that reach it, with that
// phase's weight vectors): interior pixels, whose taps all lie
// inside the other side (known at compile time), run straight-line code over
// every tap with constant address offsets; border pixels run the same code
// with each tap's load masked to 0 outside. A narrow result sums its vector
// products (one chain per tap row) and reduces across lanes once per pixel;
// a wide one broadcasts each narrow value over the weight vectors; Weights
// keep one vector sum per weight vector in registers for the whole call.
// Before each pixel the wide side's line of each block two rows on is
// prefetched: for reading (Output, Weights) or for writing (Input).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ir/ops.h"

namespace llvm {
class Module;
}

namespace vaec {

// A direct convolution, for a convolution with one
// side of few channels, which oneDNN's blocked kernels pad to 16. Its
// geometry is a conv2d's (interpreter.cpp reads every convolution op so):
// the conv-input side I [N, C, H, W], the conv-output side O [N, K, OH, OW]
// and weights w [K, C, KH, KW] (plain), joined at input pixel (oh * sh - pt
// + i, ow * sw - pl + j) by tap (i, j) of output pixel (oh, ow) where that
// lies inside I. One side has C or K % 16 == 0 and is in nChw16c (the wide
// side), the other has fewer than 16 channels and is plain (the narrow side).
// The kernel computes one of the three, as the sum over every joined pair:
//   Output:  O = post(bias + sum x_I * w)    args (I, w, [bias], O)
//   Input:   I = post(bias + sum x_O * w)    args (O, w, [bias], I)
//   Weights: w += sum x_I * x_O over n too   args (I, O, w)
// bias has one value per channel of the computed side. Rows are examples:
// the call computes examples [begin, end) (Weights: adds their sum).
struct DirectConv {
  enum Kind : uint8_t { Output, Input, Weights } kind = Output;
  bool narrow_input = false;  // the conv-input side is the narrow one (else the output side)
  int64_t C = 0, H = 0, W = 0, K = 0, OH = 0, OW = 0, KH = 0, KW = 0;
  int64_t sh = 1, sw = 1, pt = 0, pl = 0;
  bool bias = false;
  Op post = Op::Add;  // Relu or Sigmoid after the bias; Add: none
};

// The weight vectors a kernel keeps live (narrow channels x wide blocks x
// taps; a strided Input kernel's of its largest phase), and the most direct_conv_of allows: beyond it the registers spill
// and LLVM's compile time grows past a second (docs/BENCHMARKS.md).
int64_t direct_conv_vectors(const DirectConv &d);
inline constexpr int64_t kDirectConvMaxVectors = 64;

// An Input kernel at stride s walks the conv-input side in s phases per
// axis (ih = q * s + phase): the taps t that reach phase `phase` are those
// with (phase + pad - t) % s == 0, joining it to conv-output position
// (ih + pad - t) / s.
std::vector<int64_t> phase_taps(int64_t phase, int64_t taps, int64_t stride, int64_t pad);

// "" if `d` with `args` argument count is a kernel emit_direct_conv can
// compile, else what is wrong (used by verify_kernel).
std::string verify_direct_conv(const DirectConv &d, size_t args);

// Argument positions: the computed tensor (or the weights) and the bias (-1).
int direct_conv_result_arg(const DirectConv &d);
int direct_conv_bias_arg(const DirectConv &d);

// Multiply-adds per example.
int64_t direct_conv_macs(const DirectConv &d);

// One line: kind, sides, shapes, taps, stride, pad, bias and post-op.
std::string direct_conv_text(const DirectConv &d);

// The semantics of kernel.h, one sum at a time in double (the oracle the
// LLVM code is tested against).
void run_direct_conv_reference(const DirectConv &d, void *const *buffers, int64_t begin, int64_t end);

// Adds function `name` for `d` with `args` buffer arguments to `m`
// (precondition: verify_direct_conv(d, args) is empty).
void emit_direct_conv(llvm::Module &m, const std::string &name, const DirectConv &d, size_t args);

}  // namespace vaec
