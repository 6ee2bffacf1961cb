// Plans: resolving the batch, counting parameters and work (contract in
// plan.h). The text: plan_format.cpp writes it, plan_parse.cpp reads it.
#include "abi/plan.h"

#include <algorithm>
#include <charconv>

namespace vaec::plan {

Plan at_batch(const Plan &p, int64_t batch, int64_t layout_batch) {
  Plan r = p;
  r.arena_bytes = p.arena_bytes + p.arena_row * layout_batch;
  r.arena_row = 0;
  for (Buffer &b : r.buffers) {
    b.elements += b.row * batch;
    b.offset += b.row_offset * layout_batch;
    b.row = b.row_offset = 0;
  }
  for (Program *prog : r.programs()) {
    if (prog->present()) prog->batch = batch;
    for (Step &s : prog->steps) {
      for (int64_t *v : {&s.domain0, &s.m, &s.n, &s.k}) *v = extent(*v, batch);
      for (std::vector<int64_t> *d : {&s.dims_a, &s.dims_b, &s.dims_c})
        for (int64_t &v : *d) v = extent(v, batch);
    }
  }
  return r;
}

int64_t parameter_elements(const Plan &p) {
  int64_t n = 0;
  for (const Param &q : p.params)
    if (q.buffer >= 0 && q.buffer < static_cast<int>(p.buffers.size())) n += p.buffers[q.buffer].elements;
  return n;
}

double program_flops(const Program &prog, int64_t batch) {
  auto elements = [&](const std::vector<int64_t> &dims) {
    double n = 1;
    for (int64_t d : dims) n *= double(extent(d, batch));
    return n;
  };
  auto spatial = [&](const std::vector<int64_t> &dims) { return dims.size() == 4 ? elements(dims) / elements({dims[0], dims[1]}) : 0.0; };
  double flops = 0;
  for (const Step &s : prog.steps) {
    if (s.kind == Step::Kernel) {
      flops += 2.0 * double(s.macs) * double(extent(s.domain0, batch));
    } else if (s.kind == Step::Matmul) {
      flops += 2.0 * double(extent(s.m, batch)) * double(extent(s.n, batch)) * double(extent(s.k, batch));
    } else if (s.kind == Step::Conv && s.dims_a.size() == 4 && s.dims_b.size() == 4 && s.dims_c.size() == 4) {
      // The weight is b, or c for the weight gradients; the other two are activations.
      const bool weights_out = is_weight_gradient(s.conv);
      const std::vector<int64_t> &w = weights_out ? s.dims_c : s.dims_b, &x = s.dims_a, &y = weights_out ? s.dims_b : s.dims_c;
      flops += 2.0 * elements(w) * double(extent(x[0], batch)) * std::min(spatial(x), spatial(y));
    }
  }
  return flops;
}

std::vector<int> step_buffers(const Step &s) {
  std::vector<int> out = s.args;
  for (int b : {s.a, s.b, s.bias, s.c})
    if (b >= 0) out.push_back(b);
  return out;
}

bool parse_int_list(const std::string &text, char sep, std::vector<int64_t> &out) {
  out.clear();
  const char *p = text.data(), *end = text.data() + text.size();
  while (p < end) {
    int64_t v;
    auto [next, ec] = std::from_chars(p, end, v);
    if (ec != std::errc()) return false;
    out.push_back(v);
    if (next == end) return true;
    if (*next != sep) return false;
    p = next + 1;
  }
  return false;  // empty, or a trailing separator
}

}  // namespace vaec::plan
