// A plan's Conv step `own-winograd`: vaec's own Winograd F(4x4,3x3) for f32
// conv2d steps with a 3x3 window, stride 1 and padding 1 on every side, and
// channels that are multiples of 16. Part of the ABI between compiler/ and
// runtime/: `vaec compile` times it against oneDNN's algorithms on the
// compiling machine and the trainer runs what the plan says.
//
// Why: at mnist_conv's shapes oneDNN 2.6's Winograd kernel spends ~40 % of
// its time outside its products (bench/conv_floor, docs/BENCHMARKS.md).
// Here each thread takes a run of blocks of tiles (a block's transforms stay
// in its L2) and runs the whole algorithm on them, the products in
// registers, with its own copy of the weights' transform:
//   conv2d            V[t][p][c] = B^T d B of each 6x6 input tile d,
//                     M[t][p][k] = sum over c of V[t][p][c] U[p][c][k],
//                     U[p] = G w G^T (the weights' transform, every run:
//                     they change every step), y = post(A^T M A + bias),
//                     cropped to the image;
//   conv2d_bwd_data   the same with the weights flipped and in/out swapped;
//   conv2d_bwd_weights  dM[t][p][k] = A dy A^T of each 4x4 tile of dy, V of
//                     x as above, dU[p][k][c] = sum over t of dM V, dw = G^T dU G.
// A weight gradient's threads share out its rows (outputs k), each summing
// its dU over every tile in one order. So no result depends on the number
// of threads, made for or running.
// It agrees with the direct sum to f32 rounding (the transforms add
// rounding steps), as oneDNN's Winograd does.
//
// Operands as a Conv step has them (plan.h): activations in nChw16c
// (own_winograd_layouts), weights plain [K, C, 3, 3], the bias plain [K].
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

#include "abi/plan.h"

namespace vaec::onednn {

// "" when Conv step `s` (its op, dims, stride, pad, post; own_winograd
// itself is not looked at) can run as own Winograd on this machine (AVX-512),
// else why not.
std::string own_winograd_unsupported(const plan::Step &s);

// The layouts of a, b and c the step needs (nChw16c activations, plain
// weights), as plan text.
std::array<std::string, 3> own_winograd_layouts(const plan::Step &s);

class OwnWinograd {
 public:
  // Made for `threads` chunks (the trainer's --threads, by default the
  // plan's): its share of blocks per thread and its scratch are. Throws
  // std::runtime_error when `s` is unsupported, its layouts are not
  // own_winograd_layouts(s) or threads < 1.
  OwnWinograd(const plan::Step &s, int threads);

  // Scratch `run` needs, on a 64-byte boundary; its contents need not be kept.
  size_t scratch_bytes() const { return scratch_bytes_; }
  // c = the step's result from a, b (and bias when the step has one; else
  // nullptr), on the calling thread's OpenMP team, or `threads` of it.
  void run(const float *a, const float *b, const float *bias, float *c, void *scratch) const;
  // "own F(4x4,3x3)", for notes and profiles.
  static const char *impl() { return "own F(4x4,3x3)"; }

 private:
  enum Kind { Forward, InputGradient, WeightGradient } kind_;
  int64_t batch_, in_, out_, h_, w_;           // in/out: the product's inner and outer channels
  int64_t plane_;                               // floats from one point of U (or dU) to the next
  int64_t tiles_y_, tiles_x_, tiles_, block_, blocks_;  // block_: tiles per block
  int threads_, chunks_;                        // the most threads; copies of U (1 for a weight gradient's dU)
  int post_ = 0;                                // 0 none, 1 relu, 2 sigmoid
  size_t shared_floats_, v_floats_, m_floats_, thread_bytes_, scratch_bytes_;
};

}  // namespace vaec::onednn
