// Column masks of row-major f32 matrices, and copies that keep only the
// masked columns: what the executor needs to leave the all-zero columns of
// image data out of a product (runtime/README.md, "Zero columns of the data").
//
// A column is "nonzero" when any of its floats has a bit set, so -0.0 counts
// as nonzero and a column left out contributes exactly +0 terms to every
// sum it is in. Sixteen values at a time on AVX-512, one at a time elsewhere.
#pragma once

#include <cstdint>
#include <vector>

namespace vaec::rt {

// acc[j] |= the bits of x[r * stride + j] for r in [0, rows), j in [0, cols).
void or_columns(const float *x, int64_t rows, int64_t cols, int64_t stride, uint32_t *acc);

// Which of `cols` columns are kept, as the copies below walk them: one
// entry per 16-column block, with the block's mask bits (bit i: column
// 16 b + i is kept) and the index its first kept column has among the kept
// ones.
struct KeptColumns {
  struct Block {
    uint32_t keep;  // 16 bits
    int32_t at;
  };
  int64_t cols = 0, kept = 0;
  std::vector<Block> blocks;  // (cols + 15) / 16
  bool has(int64_t j) const { return (blocks[j / 16].keep >> (j % 16)) & 1; }
};

// The columns j < cols with acc[j] != 0.
void kept_columns(const uint32_t *acc, int64_t cols, KeptColumns &out);

// For each row r in [0, rows): dst[r * dst_stride + i] = the i-th kept
// column of src row r (src + r * src_stride), then zeros up to `padded`
// (>= k.kept).
void compress_columns(const float *src, int64_t rows, int64_t src_stride, const KeptColumns &k, float *dst,
                      int64_t dst_stride, int64_t padded);

// The same for bfloat16 values (a bf16 product's rounded copies): `acc`
// gets each column's bits, the copy keeps the kept columns' 2-byte values.
void or_columns(const uint16_t *x, int64_t rows, int64_t cols, int64_t stride, uint32_t *acc);
void compress_columns(const uint16_t *src, int64_t rows, int64_t src_stride, const KeptColumns &k, uint16_t *dst,
                      int64_t dst_stride, int64_t padded);

// The inverse: dst[r * dst_stride + j] for j in [0, k.cols) is the next
// float of src row r when column j is kept, else 0.
void expand_columns(const float *src, int64_t rows, int64_t src_stride, const KeptColumns &k, float *dst,
                    int64_t dst_stride);

}  // namespace vaec::rt
