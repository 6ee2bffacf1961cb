// Parameters in convolution layouts <-> plain order (contract in param_layouts.h).
#include "abi/param_layouts.h"

#include <cstring>
#include <stdexcept>
#include <vector>

#include "abi/onednn_conv.h"
#include "abi/plan_fields.h"

namespace vaec::onednn {

bool has_param_layouts(const plan::Plan &plan) {
  for (const plan::Param &q : plan.params)
    if (!q.stored_layout.empty()) return true;
  return false;
}

std::string check_param_layouts(const plan::Plan &plan) {
  const int nb = static_cast<int>(plan.buffers.size());
  for (const plan::Param &q : plan.params) {
    if (q.stored_layout.empty()) continue;
    const std::string what = "parameter " + q.name + "'s layout " + q.stored_layout;
    if (q.buffer < 0 || q.buffer >= nb || plan.param_region < 0 || plan.param_region >= nb)
      return what + ": no parameter buffer";
    try {
      const size_t bytes = static_cast<size_t>(plan.buffers[q.buffer].elements) * sizeof(float);
      if (layout_desc(q.stored_dims, q.stored_from).get_size() != bytes ||
          layout_desc(q.stored_dims, q.stored_layout).get_size() != bytes)
        return what + " over " + plan::text::ints(q.stored_dims) + " does not hold its " +
               std::to_string(plan.buffers[q.buffer].elements) + " elements";
    } catch (const std::exception &e) {
      return what + ": " + e.what();
    }
  }
  return "";
}

namespace {

void reorder_param(const dnnl::engine &engine, dnnl::stream &stream, const plan::Param &q, const float *src, float *dst,
                   bool to_stored) {
  const auto plain = layout_desc(q.stored_dims, q.stored_from), stored = layout_desc(q.stored_dims, q.stored_layout);
  dnnl::memory from(to_stored ? plain : stored, engine, const_cast<float *>(src)), to(to_stored ? stored : plain, engine, dst);
  dnnl::reorder(from, to).execute(stream, from, to);
  stream.wait();
}

}  // namespace

void convert_param(const plan::Param &q, int64_t elements, const float *src, float *dst, bool to_stored) {
  if (q.stored_layout.empty()) {
    std::memmove(dst, src, static_cast<size_t>(elements) * sizeof(float));
    return;
  }
  dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  dnnl::stream stream(engine);
  reorder_param(engine, stream, q, src, dst, to_stored);
}

void convert_param_layouts(const plan::Plan &plan, float *region, bool to_stored) {
  if (!has_param_layouts(plan)) return;
  dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  dnnl::stream stream(engine);
  std::vector<float> copy;
  for (const plan::Param &q : plan.params) {
    if (q.stored_layout.empty()) continue;
    const plan::Buffer &b = plan.buffers[q.buffer];
    float *at = region + (b.offset - plan.buffers[plan.param_region].offset) / int64_t(sizeof(float));
    copy.assign(at, at + b.elements);
    reorder_param(engine, stream, q, copy.data(), at, to_stored);
  }
}

}  // namespace vaec::onednn
