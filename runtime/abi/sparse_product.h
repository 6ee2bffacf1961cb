// A plan's Matmul step `sparse`: vaec's own loops for a product whose one
// operand is the batch's data, most of whose entries are 0 (image data such
// as MNIST: ~19 % of a batch's pixels are not 0). Part of the ABI between
// compiler/ and runtime/: compiler/codegen/sparse_data_products.h decides
// which steps are sparse, the trainer runs them.
//
// Why: oneDNN multiplies every entry; these loops multiply only the
// nonzero ones (the numbers are in docs/BENCHMARKS.md).
//
// The data x [rows, cols] (row-major f32) is first listed: by rows (list r
// the nonzero columns of row r, ascending) for c = x b, or by columns (list
// j the nonzero rows of column j, ascending) for c = x^T b. Either way
//   c[i, :] = post(sum over list i of value * b[index, :] (+ bias))
// with b [*, n] row-major (ldb) and each element's terms added in list
// order, the bias last: one thread computes a row of c, so no result
// depends on how the lists are shared among threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace vaec::onednn {

// An array whose elements start uninitialised: the pages of a list's room
// that its entries never reach are never touched, so never resident.
template <class T>
class Unfilled {
 public:
  void grow(size_t n) {
    if (n > size_) p_.reset(new T[n]), size_ = n;  // default-initialised: not written
  }
  T *data() { return p_.get(); }
  const T *data() const { return p_.get(); }
  T &operator[](size_t i) { return p_[i]; }
  const T &operator[](size_t i) const { return p_[i]; }

 private:
  std::unique_ptr<T[]> p_;
  size_t size_ = 0;
};

// The nonzero entries of x, list by list: list i holds count[i] entries from
// start[i] on. By rows, a part listing lists [i0, i1) writes them one after
// another from i0 * capacity on; by columns, list j starts at j * capacity
// (capacity: x's columns by rows, its rows by columns, plus slack), so
// parts can list at once.
struct SparseLists {
  int64_t lists = 0, capacity = 0;
  std::vector<int64_t> start;
  std::vector<int32_t> count;
  Unfilled<int32_t> index;
  Unfilled<float> value;
  // Sizes the lists for x [rows, cols] (by_rows or by columns); allocates
  // only when they grow.
  void shape(int64_t rows, int64_t cols, bool by_rows);
  int64_t nonzeros() const;
};

// "" when x of these extents can be listed and multiplied on this machine
// (AVX-512; indices below 2^31), else why not.
std::string sparse_product_unsupported(int64_t rows, int64_t cols, int64_t n, const std::string &post);

// Lists rows [r0, r1) of x (l.shape(rows, cols, true) first).
void list_rows(const float *x, int64_t cols, int64_t r0, int64_t r1, SparseLists &l);
// Lists columns [j0, j1) of x [rows, cols] (l.shape(rows, cols, false) first).
void list_columns(const float *x, int64_t rows, int64_t cols, int64_t j0, int64_t j1, SparseLists &l);

// c's rows [i0, i1) as above over the entries whose index is in [lo, hi)
// (all: [0, x's columns) by rows, [0, rows) by columns); post 0 none,
// 1 relu, 2 sigmoid (vector_epilogue.h); bias may be null.
void sparse_times(const SparseLists &l, int64_t lo, int64_t hi, const float *b, int64_t ldb, int64_t n,
                  const float *bias, int post, float *c, int64_t ldc, int64_t i0, int64_t i1);

// Rows [i0, i1) of c = post(c + partial[0] + ... + partial[parts - 1]
// (+ bias)), added in that order: the sums of sparse_times over slices of
// the indices, c the first slice's.
void add_rows(float *c, const float *const *partial, int parts, int64_t ldc, int64_t n, const float *bias, int post,
              int64_t i0, int64_t i1);

}  // namespace vaec::onednn
