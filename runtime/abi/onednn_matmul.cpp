// The plan's products in oneDNN (contract in onednn_matmul.h).
#include "abi/onednn_matmul.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace vaec::onednn {

dnnl::memory::desc matrix_desc(int64_t rows, int64_t cols, bool transposed, dnnl::memory::data_type type) {
  using dims = dnnl::memory::dims;
  return dnnl::memory::desc(dims{rows, cols}, type, transposed ? dims{1, rows} : dims{cols, 1});
}

dnnl::primitive_attr matmul_attr(const std::string &post, bool user_scratchpad) {
  dnnl::primitive_attr attr;
  if (user_scratchpad) attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  if (!post.empty()) {
    dnnl::algorithm alg;
    if (post == "relu") alg = dnnl::algorithm::eltwise_relu;
    else if (post == "sigmoid") alg = dnnl::algorithm::eltwise_logistic;
    else throw std::runtime_error("unknown post-op '" + post + "'");
    dnnl::post_ops ops;
    ops.append_eltwise(1.0f, alg, 0.0f, 0.0f);
    attr.set_post_ops(ops);
  }
  return attr;
}

dnnl::matmul::primitive_desc matmul_pd(const dnnl::engine &engine, const dnnl::memory::desc &a,
                                       const dnnl::memory::desc &b, const dnnl::memory::desc &c,
                                       const dnnl::memory::desc *bias, const std::string &post,
                                       bool user_scratchpad) {
  const auto desc = bias ? dnnl::matmul::desc(a, b, *bias, c) : dnnl::matmul::desc(a, b, c);
  return dnnl::matmul::primitive_desc(desc, matmul_attr(post, user_scratchpad), engine);
}

void unswap(const float *ct, int64_t m, int64_t n, int64_t r0, int64_t r1, float *c, int64_t ldc, const float *bias,
            const std::string &post) {
  const bool relu = post == "relu", sigmoid = post == "sigmoid";
  if (!post.empty() && !relu && !sigmoid) throw std::runtime_error("unknown post-op '" + post + "'");
  // 16 x 16 blocks: each block's reads and writes stay on 16 cache lines.
  for (int64_t i0 = r0; i0 < r1; i0 += 16)
    for (int64_t j0 = 0; j0 < n; j0 += 16) {
      const int64_t i1 = std::min(i0 + 16, r1), j1 = std::min(j0 + 16, n);
      for (int64_t i = i0; i < i1; ++i)
        for (int64_t j = j0; j < j1; ++j) {
          float x = ct[j * m + i] + (bias ? bias[j] : 0.0f);
          // As oneDNN's relu (alpha 0) and logistic: NaN stays NaN.
          if (relu) x = x > 0 ? x : x * 0.0f;
          if (sigmoid) x = 1.0f / (1.0f + std::exp(-x));
          c[i * ldc + j] = x;
        }
    }
}

int slice_count(int64_t length, int threads) {
  return static_cast<int>(std::min<int64_t>(threads, length / 16));
}

std::pair<int64_t, int64_t> slice_share(int64_t length, int t, int slices) {
  auto cut = [&](int i) { return i == slices ? length : length * i / slices / 16 * 16; };
  return {cut(t), cut(t + 1)};
}

}  // namespace vaec::onednn
