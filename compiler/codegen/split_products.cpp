// Products cut among the threads (contract in split_products.h).
#include "codegen/split_products.h"

#include "codegen/choose_precision.h"

#include <omp.h>

#include <dnnl.hpp>

namespace vaec {

namespace {

// oneDNN's implementation of c = op(a) x op(b) over views with these
// strides, bf16 a and b, f32 c (with the step's bias and post-op), made for
// `threads` threads; "" when it has none.
std::string bf16_impl(const plan::Step &s, const dnnl::engine &engine, int threads, int64_t m, int64_t n, int64_t k,
                      const dnnl::memory::dims &a_strides, const dnnl::memory::dims &b_strides, int64_t c_stride) {
  using dims = dnnl::memory::dims;
  const auto bf16 = dnnl::memory::data_type::bf16, f32 = dnnl::memory::data_type::f32;
  const int before = omp_get_max_threads();
  omp_set_num_threads(threads);
  std::string impl;
  try {
    dnnl::primitive_attr attr;
    if (!s.post.empty()) {
      dnnl::post_ops ops;
      ops.append_eltwise(1.0f, s.post == "relu" ? dnnl::algorithm::eltwise_relu : dnnl::algorithm::eltwise_logistic,
                         0.f, 0.f);
      attr.set_post_ops(ops);
    }
    const dnnl::memory::desc a(dims{m, k}, bf16, a_strides), b(dims{k, n}, bf16, b_strides),
        c(dims{m, n}, f32, dims{c_stride, 1}), bias(dims{1, n}, f32, dims{n, 1});
    dnnl::matmul::primitive_desc pd(s.bias >= 0 ? dnnl::matmul::desc(a, b, bias, c) : dnnl::matmul::desc(a, b, c),
                                    attr, engine);
    impl = pd.impl_info_str();
  } catch (const dnnl::error &) {
  }
  omp_set_num_threads(before);
  return impl;
}

// For a bf16 product cut `split` into `threads` slices as the executor cuts
// it (runtime/exec/products.cpp: one-thread calls on 16-aligned shares):
// the slice that oneDNN runs without AMX when the whole product has it, or
// "" when none does.
std::string slice_off_amx(const plan::Step &s, plan::Step::Split split, int threads, int64_t m, int64_t n,
                          int64_t k, const dnnl::engine &engine) {
  using dims = dnnl::memory::dims;
  const dims a_strides = s.ta ? dims{1, m} : dims{k, 1}, b_strides = s.tb ? dims{1, k} : dims{n, 1};
  const std::string whole = bf16_impl(s, engine, threads, m, n, k, a_strides, b_strides, n);
  if (whole.find("amx") == std::string::npos) return "";
  const bool by_rows = split == plan::Step::Rows;
  const int64_t length = by_rows ? m : n;
  const int slices = static_cast<int>(std::min<int64_t>(threads, length / 16));
  for (int t = 0; t < slices; ++t) {
    auto cut = [&](int i) { return i == slices ? length : length * i / slices / 16 * 16; };
    const int64_t size = cut(t + 1) - cut(t);
    const std::string impl =
        bf16_impl(s, engine, 1, by_rows ? size : m, by_rows ? n : size, k, a_strides, b_strides, n);
    if (impl.find("amx") == std::string::npos) return impl.empty() ? "none" : impl + " (whole: " + whole + ")";
  }
  return "";
}

bool forward_with_large_weights(const plan::Plan &plan, const plan::Step &s, int64_t m, int threads) {
  constexpr int64_t kMinColumnsPerThread = 64, kMinWeights = int64_t{1} << 18;  // floats: 1 MiB
  if (plan.param_count == 0 || plan.param_region < 0 || !s.tb || s.ta || s.n < threads * kMinColumnsPerThread ||
      s.n * s.k < kMinWeights || m >= s.n)
    return false;
  const plan::Buffer &region = plan.buffers[plan.param_region];
  const plan::Buffer &weights = plan.buffers[s.b];
  return weights.offset >= region.offset && weights.offset + s.n * s.k * 4 <= region.offset + plan.param_count * 4;
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

}  // namespace

void split_products(plan::Plan &plan, const CodegenOptions &options) {
  const int threads = options.threads;
  if (!options.split_products || threads < 2) return;
  const dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  for (plan::Program *prog : plan.programs())
    for (plan::Step &s : prog->steps) {
      if (s.kind != plan::Step::Matmul) continue;
      const int64_t m = plan::extent(s.m, prog->batch), n = plan::extent(s.n, prog->batch);  // at the compiled batch
      plan::Step::Split split = plan::Step::Whole;
      if (forward_with_large_weights(plan, s, m, threads)) split = plan::Step::Columns;
      else if (options.adaptive_team) split = longer_side(s, m, n);
      // (Products over kept columns or units slice rounded copies of their own.)
      if (split != plan::Step::Whole && s.bf16 && s.zeros == plan::Step::Keep && !s.zero_units) {
        const std::string off = slice_off_amx(s, split, threads, m, n, plan::extent(s.k, prog->batch), engine);
        if (!off.empty()) {
          plan.notes.push_back(prog->name + " step " + std::to_string(&s - prog->steps.data()) + " [" +
                               std::to_string(m) + "," + std::to_string(plan::extent(s.k, prog->batch)) + "]x[" +
                               std::to_string(plan::extent(s.k, prog->batch)) + "," + std::to_string(n) +
                               "]: whole, as its bf16 slices would leave AMX: " + off +
                               (s.where.empty() ? "" : " at " + s.where));
          split = plan::Step::Whole;
        }
      }
      s.split = split;
    }
  sort_step_notes(plan);
}

}  // namespace vaec
