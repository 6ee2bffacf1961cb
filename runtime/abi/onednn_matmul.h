// How a plan's Matmul steps map to oneDNN: part of the ABI between compiler/
// and runtime/ (runtime/README.md), used by both. The trainer makes these
// primitives from the plan; `vaec compile` asks oneDNN, through the same
// functions, which implementation each would get (split_products) and how
// fast it runs (precision_timing), so what it decides holds for what runs.
#pragma once

#include <cstdint>
#include <dnnl.hpp>
#include <string>
#include <utility>

#include "abi/plan.h"

namespace vaec::onednn {

// op(x) for a stored matrix: [rows, cols] row-major, or when `transposed` the
// transpose of a stored [cols, rows] one, through strides.
dnnl::memory::desc matrix_desc(int64_t rows, int64_t cols, bool transposed,
                               dnnl::memory::data_type type = dnnl::memory::data_type::f32);

// A Matmul step's post-op ("", "relu" or "sigmoid") as oneDNN's attribute,
// with a user-managed scratchpad when asked; std::runtime_error for others.
dnnl::primitive_attr matmul_attr(const std::string &post, bool user_scratchpad);

// c = a x b (+ bias) (post-op) over these views, made for the calling
// thread's OpenMP team (omp_set_num_threads before, for one-thread slices).
dnnl::matmul::primitive_desc matmul_pd(const dnnl::engine &engine, const dnnl::memory::desc &a,
                                       const dnnl::memory::desc &b, const dnnl::memory::desc &c,
                                       const dnnl::memory::desc *bias, const std::string &post,
                                       bool user_scratchpad);

// A `swapped` product's last part (plan.h): rows [r0, r1) of c [m, n] (row
// stride ldc) = post(ct^T + bias), from ct [n, m] (plain, what oneDNN wrote
// for op(b)^T op(a)^T); bias n floats or null; post as in matmul_attr.
void unswap(const float *ct, int64_t m, int64_t n, int64_t r0, int64_t r1, float *c, int64_t ldc, const float *bias,
            const std::string &post);

// The one-thread slices of a product cut `rows` or `columns` (Step::split):
// how many there are at `threads` threads for a cut side of `length`, and
// slice t's share [begin, end) of it, cut on 16s so that each slice starts on
// a 64-byte line (the last takes the remainder). 0 slices: the whole product.
int slice_count(int64_t length, int threads);
std::pair<int64_t, int64_t> slice_share(int64_t length, int t, int slices);

}  // namespace vaec::onednn
