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
// The tiles lie on canvases of images side by side, a line of zeros
// between neighbours, so that a side that is not a multiple of 4 wastes
// fewer outputs (14 x 14 images three across and down: 13.4 tiles an image
// instead of 16); an image's place on them, and so the last bits of its
// results, depend on the batch. A weight gradient's threads share out its
// rows (outputs k), each summing its dU over every tile in one order. So no
// result depends on the number of threads, made for or running.
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
#include <vector>

#include "abi/plan.h"

namespace vaec::onednn {

// "" when Conv step `s` (its op, dims, stride, pad, post; own_winograd
// itself is not looked at) can run as own Winograd on this machine (AVX-512),
// else why not.
std::string own_winograd_unsupported(const plan::Step &s);

// The layouts of a, b and c the step needs (nChw16c activations, plain
// weights), as plan text.
std::array<std::string, 3> own_winograd_layouts(const plan::Step &s);

// A tile of 4x4 outputs and its 6x6 input window on a canvas of images
// side by side (OwnWinograd's constructor says why). Window row i (0..5) is
// row y[i] of the canvas row of images that starts at image row_image[i],
// padding when row_image[i] < 0; column j likewise, col_image[j] added to
// the image index. The outputs are window rows and columns 1..4.
struct WinogradTile {
  int32_t row_image[6], y[6], col_image[6], x[6];
};

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
  // The tiles of a batch of h x w images, on their canvases.
  static std::vector<WinogradTile> canvas_tiles(int64_t batch, int64_t h, int64_t w);
  // "own F(4x4,3x3)", for notes and profiles.
  static const char *impl() { return "own F(4x4,3x3)"; }

 private:
  enum Kind { Forward, InputGradient, WeightGradient } kind_;
  int64_t batch_, in_, out_, h_, w_;           // in/out: the product's inner and outer channels
  int64_t plane_;                               // floats from one point of U (or dU) to the next
  std::vector<WinogradTile> tile_list_;
  int64_t tiles_, block_, blocks_;             // block_: tiles per block
  int threads_, chunks_;                        // the most threads; copies of U (1 for a weight gradient's dU)
  int post_ = 0;                                // 0 none, 1 relu, 2 sigmoid
  size_t shared_floats_, v_floats_, m_floats_, thread_bytes_, scratch_bytes_;
};

}  // namespace vaec::onednn
