// A plan's Matmul step `thin`: vaec's own loops for f32 products with a side
// of at most 4 (a latent of 2 read or written by a wide layer). Part of the
// ABI between compiler/ and runtime/: `vaec compile` times it against the
// step as oneDNN runs it on the compiling machine (compiler/codegen/
// thin_products.h) and the trainer runs what the plan says.
//
// Why: oneDNN 2.6 runs such products far from both the cores' multiply-add
// peak and memory's bandwidth (it pads the thin side to a vector's width);
// the numbers are in docs/BENCHMARKS.md.
//
// c [m, n] = post(op(a) op(b) + bias), a [m, k] (or [k, m] if ta), b [k, n]
// (or [n, k] if tb), row-major, as a Matmul step has them (plan.h). Three
// shapes, chosen in this order:
//   Outer    k <= 4: each element sums its k terms, vectors along n;
//   Dots     n <= 4, not ta: dot products along k, each cut into pieces
//            of kPieceK, whose partial sums are added in piece order;
//   Columns  n <= 4, ta: vectors along m, each element summing k in order.
// The work is cut into pieces fixed by the shape, so no result depends on
// the number of threads, made for or running.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "abi/plan.h"

namespace vaec::onednn {

// "" when a product of these extents (at the run's batch) and options can
// run thin on this machine (AVX-512), else why not.
std::string thin_product_unsupported(int64_t m, int64_t n, int64_t k, const std::string &post);
// The same for a Matmul step with resolved extents (no bf16, k-slices, zero
// columns or units, not swapped).
std::string thin_product_unsupported(const plan::Step &s);

class ThinProduct {
 public:
  static constexpr int64_t kPieceK = 1024;

  // Throws std::runtime_error when unsupported.
  ThinProduct(int64_t m, int64_t n, int64_t k, bool ta, bool tb, bool bias, const std::string &post);

  // Scratch `run_part` and `finish` need (Dots: one partial sum per piece
  // and element; Outer with tb: op(b) transposed), on a 64-byte boundary;
  // its contents need not be kept.
  size_t scratch_bytes() const { return scratch_bytes_; }
  // c = the product: run_part(p, parts, ...) for every p in [0, parts), on
  // any threads, then finish(p, parts, ...) likewise for every p.
  void run_part(int part, int parts, const float *a, const float *b, const float *bias, float *c,
                void *scratch) const;
  void finish(int part, int parts, const float *bias, float *c, const void *scratch) const;
  // "own thin (outer)" and the like, for notes and profiles.
  std::string impl() const;

 private:
  enum Shape { Outer, Dots, Columns } shape_;
  int64_t m_, n_, k_;
  bool ta_, tb_, bias_;
  int post_ = 0;  // 0 none, 1 relu, 2 sigmoid
  int64_t pieces_ = 1;
  size_t scratch_bytes_ = 0;
};

}  // namespace vaec::onednn
