// Products over the nonzero entries of the data (contract in
// sparse_data_products.h).
#include "codegen/sparse_data_products.h"

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

namespace vaec {
namespace {

using plan::Step;

bool names(const Step &s, int buffer) {
  const std::vector<int> used = plan::step_buffers(s);
  return std::find(used.begin(), used.end(), buffer) != used.end();
}

bool f32_product(const Step &s) {
  return s.kind == Step::Matmul && !s.bf16 && s.zeros == Step::Keep && !s.zero_units && s.split == Step::Whole &&
         !s.swapped && !s.thin;
}

struct Change {
  Step *step;
  bool gradient;
};

// The steps to change for parameter q, or none when q does not qualify.
std::vector<Change> changes_for(plan::Plan &plan, const plan::Param &q) {
  if (!q.stored_layout.empty() || q.dims.size() != 2 || q.buffer < 0 || q.grad_buffer < 0) return {};
  const int64_t n = q.dims[0], k = q.dims[1];
  std::vector<Change> out;
  bool in_train = false;
  int gradients = 0;
  for (plan::Program *prog : plan.programs()) {
    if (!prog->present()) continue;
    const bool f32_input = prog->input >= 0 && plan.buffers[prog->input].type == plan::DType::F32;
    const bool train = prog == &plan.train;
    for (Step &s : prog->steps) {
      if (s.kind == Step::Gate || s.kind == Step::Optimize) continue;  // elementwise: any layout
      if (names(s, q.buffer)) {
        const bool forward = f32_product(s) && f32_input && s.a == prog->input && !s.ta && s.tb && s.b == q.buffer &&
                             s.c != q.buffer && s.bias != q.buffer && s.n == n && s.k == k;
        if (!forward) return {};
        out.push_back({&s, false});
        in_train = in_train || train;
      }
      if (names(s, q.grad_buffer)) {
        const bool gradient = train && f32_product(s) && f32_input && s.c == q.grad_buffer && s.b == prog->input &&
                              s.ta && !s.tb && s.a != q.grad_buffer && s.bias < 0 && s.post.empty() && s.m == n &&
                              s.n == k;
        if (!gradient) return {};
        out.push_back({&s, true});
        ++gradients;
      }
    }
  }
  if (!in_train || gradients != 1) return {};
  return out;
}

}  // namespace

void sparse_data_products(plan::Plan &plan, const CodegenOptions &options) {
  if (!options.force_sparse_data) {
    if (!options.sparse_data || options.data_nonzeros < 0) return;
    if (options.data_nonzeros > plan::kSparseShare) {
      char share[32];
      std::snprintf(share, sizeof share, "%.1f %%", 100 * options.data_nonzeros);
      plan.notes.push_back("sparse data: a batch of train.data has " + std::string(share) +
                           " of its entries nonzero (mean of a few batches), above the " +
                           std::to_string(static_cast<int>(100 * plan::kSparseShare)) +
                           " % a sparse product needs: every product runs whole");
      return;
    }
  }
  for (plan::Param &q : plan.params) {
    const std::vector<Change> changes = changes_for(plan, q);
    if (changes.empty()) continue;
    const int64_t n = q.dims[0], k = q.dims[1];
    // [N, K] with strides (1, N): W^T row after row.
    q.stored_dims = {n, k}, q.stored_from = "plain", q.stored_layout = "blocked:1," + std::to_string(n) + ":-";
    for (const Change &c : changes) {
      Step &s = *c.step;
      if (c.gradient) {  // g [N, K] = d^T x  ->  g^T [K, N] = x^T d
        std::swap(s.a, s.b);
        std::swap(s.m, s.n);
        s.ta = true, s.tb = false;
      } else {
        s.tb = false;
      }
      s.zeros = Step::Sparse;
    }
  }
}

}  // namespace vaec
