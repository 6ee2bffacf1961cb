// Products cut among the threads (contract in split_products.h).
#include "codegen/split_products.h"

#include "abi/onednn_matmul.h"
#include "codegen/choose_precision.h"

#include <omp.h>

#include <dnnl.hpp>

namespace vaec {

namespace {

// oneDNN's implementation of c = op(a) x op(b) over views with these
// strides (a and b in bf16 for a bf16 step, c f32, with the step's bias and
// post-op), made for `threads` threads; "" when it has none.
std::string product_impl(const plan::Step &s, const dnnl::engine &engine, int threads, int64_t m, int64_t n, int64_t k,
                         const dnnl::memory::dims &a_strides, const dnnl::memory::dims &b_strides, int64_t c_stride) {
  using dims = dnnl::memory::dims;
  const auto f32 = dnnl::memory::data_type::f32, type = s.bf16 ? dnnl::memory::data_type::bf16 : f32;
  const int before = omp_get_max_threads();
  omp_set_num_threads(threads);
  std::string impl;
  try {
    const dnnl::memory::desc a(dims{m, k}, type, a_strides), b(dims{k, n}, type, b_strides),
        c(dims{m, n}, f32, dims{c_stride, 1}), bias(dims{1, n}, f32, dims{n, 1});
    impl = onednn::matmul_pd(engine, a, b, c, s.bias >= 0 ? &bias : nullptr, s.post, false).impl_info_str();
  } catch (const std::exception &) {  // dnnl::error: oneDNN has no such product
  }
  omp_set_num_threads(before);
  return impl;
}

dnnl::memory::dims a_strides(const plan::Step &s, int64_t m, int64_t k) {
  return s.ta ? dnnl::memory::dims{1, m} : dnnl::memory::dims{k, 1};
}
dnnl::memory::dims b_strides(const plan::Step &s, int64_t n, int64_t k) {
  return s.tb ? dnnl::memory::dims{1, k} : dnnl::memory::dims{n, 1};
}

// How oneDNN runs the product whole on `threads` threads.
std::string whole_impl(const plan::Step &s, int threads, int64_t m, int64_t n, int64_t k, const dnnl::engine &engine) {
  return product_impl(s, engine, threads, m, n, k, a_strides(s, m, k), b_strides(s, n, k), n);
}

// Implementations by kind, best last: none, reference, oneDNN's gemm
// (gemm:jit), brgemm kernels (brg:), brgemm kernels on AMX.
int rank(const std::string &impl) {
  if (impl.empty()) return 0;
  if (impl.rfind("ref", 0) == 0) return 1;
  if (impl.find("brg") == std::string::npos) return 2;
  return impl.find("amx") == std::string::npos ? 3 : 4;
}

// How oneDNN runs the one-thread slices of the product cut `split` as the
// executor cuts it (abi/onednn_matmul.h): the lowest-ranked slice's
// implementation, "none" if oneDNN has none.
std::string slices_impl(const plan::Step &s, plan::Step::Split split, int threads, int64_t m, int64_t n, int64_t k,
                        const dnnl::engine &engine) {
  const bool by_rows = split == plan::Step::Rows;
  const int64_t length = by_rows ? m : n;
  const int slices = onednn::slice_count(length, threads);
  std::string worst;
  int worst_rank = 5;
  for (int t = 0; t < slices; ++t) {
    const auto [begin, end] = onednn::slice_share(length, t, slices);
    const std::string impl = product_impl(s, engine, 1, by_rows ? end - begin : m, by_rows ? n : end - begin, k,
                                          a_strides(s, m, k), b_strides(s, n, k), n);
    if (rank(impl) < worst_rank) worst = impl, worst_rank = rank(impl);
  }
  return worst.empty() ? "none" : worst;
}

// For a bf16 product cut `split`: the slice that oneDNN runs without AMX
// when the whole product has it, or "" when none does.
std::string slice_off_amx(const plan::Step &s, plan::Step::Split split, int threads, int64_t m, int64_t n,
                          int64_t k, const dnnl::engine &engine) {
  const std::string whole = whole_impl(s, threads, m, n, k, engine);
  if (whole.find("amx") == std::string::npos) return "";
  const std::string slices = slices_impl(s, split, threads, m, n, k, engine);
  return slices.find("amx") == std::string::npos ? slices + " (whole: " + whole + ")" : "";
}

constexpr int64_t kMinWeights = int64_t{1} << 18;  // floats: 1 MiB
constexpr int64_t kMinSharePerThread = 64;          // weight rows (or columns of c) per thread

// Whether b of product `s` is a parameter of >= kMinWeights floats (b lies
// inside the parameter region).
bool large_weights_as_b(const plan::Plan &plan, const plan::Step &s) {
  if (plan.param_count == 0 || plan.param_region < 0 || s.n * s.k < kMinWeights) return false;
  const plan::Buffer &region = plan.buffers[plan.param_region];
  const plan::Buffer &weights = plan.buffers[s.b];
  return weights.offset >= region.offset && weights.offset + s.n * s.k * 4 <= region.offset + plan.param_count * 4;
}

// Whether product `s` is f32 over all of its columns and units (slices of k
// take no zero columns or units: plan.h).
bool f32_over_all_columns(const plan::Step &s) {
  return !s.bf16 && s.zeros == plan::Step::Keep && !s.zero_units;
}

bool forward_with_large_weights(const plan::Plan &plan, const plan::Step &s, int64_t m, int threads) {
  return s.tb && !s.ta && s.n >= threads * kMinSharePerThread && m < s.n && large_weights_as_b(plan, s);
}

// An input-gradient product of a large weight: c = a x b with b a parameter
// of >= 1 MiB, not transposed (its rows are k), >= 64 rows of it per
// thread, no bias or post-op, in f32 over all columns. Cut along k, each
// thread reads only its share of the weight's rows; cut by rows, every
// thread read all of them just before the optimizer's threads wrote their
// shares, and each write then had to take its line back from the other
// core (docs/BENCHMARKS.md).
bool input_gradient_of_large_weights(const plan::Plan &plan, const plan::Step &s, int threads) {
  return !s.ta && !s.tb && s.bias < 0 && s.post.empty() && f32_over_all_columns(s) &&
         s.k >= threads * kMinSharePerThread && large_weights_as_b(plan, s);
}

// A forward product of a large weight with few outputs and fewer rows: c =
// a b^T (+ bias, relu or no post-op), m < n, b a parameter of >= 1 MiB
// stored [n, k] with fewer than 64 rows per thread and >= 64 of its columns
// per thread, in f32 over all columns. Cut along k, each thread reads half
// of a and half of every weight row, and the bias and relu follow the
// slices' sum; cut by columns, every thread read all of a. With as many rows
// as columns, row slices were faster (mnist_conv's h, 12544 inputs to 32
// outputs, at batch 16 and 128; docs/BENCHMARKS.md).
bool forward_with_few_outputs(const plan::Plan &plan, const plan::Step &s, int64_t m, int threads) {
  return s.tb && !s.ta && f32_over_all_columns(s) && (s.post.empty() || s.post == "relu") && m < s.n &&
         s.n < threads * kMinSharePerThread &&
         s.k >= threads * kMinSharePerThread && large_weights_as_b(plan, s);
}

// The longer side of c, as long as two slices of 16 fit in it; rows when
// neither operand is transposed (dense slices: a column slice of b is strided).
plan::Step::Split longer_side(const plan::Step &s, int64_t m, int64_t n) {
  constexpr int64_t kTwoSlices = 32;
  using plan::Step;
  if (s.zeros == Step::Inner) return s.tb && !s.ta && n >= kTwoSlices ? Step::Columns : Step::Whole;
  const bool outer = s.zeros == Step::Outer || s.zero_units;  // c' is cut by rows
  const bool rows = outer || m >= n || (!s.tb && !s.ta);
  if (rows && m >= kTwoSlices) return Step::Rows;
  if (n >= kTwoSlices && !outer) return Step::Columns;
  return m >= kTwoSlices ? Step::Rows : Step::Whole;
}

// The other cut of a product cut `split` by longer_side, where it has one:
// columns for rows and rows for columns, when two slices of 16 fit and the
// product leaves out no zero columns or units (those have one cut).
plan::Step::Split other_side(const plan::Step &s, int64_t m, int64_t n, plan::Step::Split split) {
  constexpr int64_t kTwoSlices = 32;
  using plan::Step;
  if (s.zeros != Step::Keep || s.zero_units) return Step::Whole;
  if (split == Step::Rows && n >= kTwoSlices) return Step::Columns;
  if (split == Step::Columns && m >= kTwoSlices) return Step::Rows;
  return Step::Whole;
}

}  // namespace

void split_products(plan::Plan &plan, const CodegenOptions &options) {
  const int threads = options.threads;
  if (!options.split_products || threads < 2) return;
  const dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  for (plan::Program *prog : plan.programs())
    for (plan::Step &s : prog->steps) {
      // (A sparse product shares its lists among the threads itself.)
      if (s.kind != plan::Step::Matmul || s.zeros == plan::Step::Sparse) continue;
      // at the compiled batch
      const int64_t m = plan::extent(s.m, prog->batch), n = plan::extent(s.n, prog->batch),
                    k = plan::extent(s.k, prog->batch);
      auto note = [&](const std::string &what) { plan.notes.push_back(product_step_note(*prog, s, m, n, k, what)); };
      plan::Step::Split split = plan::Step::Whole;
      if (forward_with_large_weights(plan, s, m, threads)) {
        split = plan::Step::Columns;
      } else if (input_gradient_of_large_weights(plan, s, threads) || forward_with_few_outputs(plan, s, m, threads)) {
        split = plan::Step::KSlices;
      } else if (options.adaptive_team) {
        split = longer_side(s, m, n);
        const plan::Step::Split other = other_side(s, m, n, split);
        if (other != plan::Step::Whole) {
          const std::string mine = slices_impl(s, split, threads, m, n, k, engine),
                            theirs = slices_impl(s, other, threads, m, n, k, engine);
          if (rank(theirs) > rank(mine)) {
            note(std::string(other == plan::Step::Rows ? "rows" : "columns") + ", as oneDNN runs its " +
                 (split == plan::Step::Rows ? "row" : "column") + " slices on " + mine + " and its " +
                 (other == plan::Step::Rows ? "row" : "column") + " slices on " + theirs);
            split = other;
          }
        }
      }
      // (Products over kept columns or units slice rounded copies of their own.)
      if (split != plan::Step::Whole && s.bf16 && s.zeros == plan::Step::Keep && !s.zero_units) {
        const std::string off = slice_off_amx(s, split, threads, m, n, k, engine);
        if (!off.empty()) {
          note("whole, as its bf16 slices would leave AMX: " + off);
          split = plan::Step::Whole;
        }
      }
      s.split = split;
    }
  sort_step_notes(plan);
}

}  // namespace vaec
