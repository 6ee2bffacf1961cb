// The parameters' regions (contract in layout_parameters.h).
#include "codegen/layout_parameters.h"

#include "codegen/optimizer_kernel.h"
#include "ir/printer.h"

namespace vaec {
namespace {

constexpr int64_t kAlign = 64;
int64_t align(int64_t bytes) { return (bytes + kAlign - 1) / kAlign * kAlign; }

int add_buffer(plan::Plan &p, const std::string &name, plan::DType type, int64_t elements, int64_t offset) {
  p.buffers.push_back({name, type, elements, offset});
  return static_cast<int>(p.buffers.size()) - 1;
}

std::string config_text(const AttrValue &v) {
  if (const auto *s = std::get_if<std::string>(&v)) return *s;
  return format_attr(v);
}

}  // namespace

void layout_parameters(LoweredModel &m) {
  plan::Plan &p = m.plan;
  std::vector<const Node *> params;
  const Graph &train = *m.programs.at(0).graph;
  p.model = train.name;
  for (const auto &[k, v] : train.config) p.config[k] = config_text(v);
  // The data and schedule settings the YAML left out, said
  // (runtime/data/feed.h, runtime/train/trainer.h), and the input the
  // runtime fills.
  for (const auto &[k, v] : {std::pair{"validation", "0"}, {"scale", "auto"}, {"binarize", "none"}, {"standardize", "no"},
                             {"schedule", "constant"}, {"warmup", "0"}})
    p.config.emplace(k, v);
  const AttrValue *label = train.config_value("label_input");
  const std::string *label_name = label ? std::get_if<std::string>(label) : nullptr;
  const AttrValue *conditions = train.config_value("condition_inputs");
  const std::string condition_names = "," + (conditions ? std::get<std::string>(*conditions) : std::string()) + ",";
  for (const Node &n : train.nodes)
    if (n.op == Op::Input && !(label_name && n.name == *label_name) &&
        condition_names.find("," + n.name + ",") == std::string::npos) {
      std::string shape;
      for (size_t i = 1; i < n.dims.size(); ++i) shape += (i > 1 ? "," : "") + std::to_string(n.dims[i]);
      p.config["input"] = n.name;
      p.config["input_shape"] = shape;
    }
  for (const Node &n : train.nodes)
    if (n.op == Op::Param) params.push_back(&n);
  // Each parameter starts on a 64-byte line (16 floats); the gaps are
  // zeros that stay zero (never written, so their gradient, moments and
  // update are 0). Unaligned, mnist_mlp's x_hat.w sat 32 bytes off a line,
  // and every matmul that read it or wrote its gradient split its vector
  // loads and stores across two lines.
  constexpr int64_t kLine = 16;
  auto line_up = [&](int64_t e) { return (e + kLine - 1) / kLine * kLine; };
  int64_t count = 0;
  for (const Node *n : params) count = line_up(count) + checked_elements(n->dims);
  p.param_count = count;
  int64_t region = align(count * 4), at = 0;
  p.param_region = add_buffer(p, "params", plan::DType::F32, count, at);
  p.grad_region = add_buffer(p, "grads", plan::DType::F32, count, at + region);
  int64_t offset = 0;
  for (const Node *n : params) {
    offset = line_up(offset);
    plan::Param q;
    q.name = n->name;
    q.dims = n->dims;
    q.init_bound = std::get<double>(*n->attr("bound"));
    q.init_ones = std::get<std::string>(*n->attr("init")) == "ones";
    int64_t e = checked_elements(n->dims);
    q.buffer = add_buffer(p, n->name, plan::DType::F32, e, at + offset * 4);
    q.grad_buffer = add_buffer(p, "d." + n->name, plan::DType::F32, e, at + region + offset * 4);
    p.params.push_back(q);
    offset += e;
  }
  at += 2 * region;
  int hyper = 0, state = 0;
  FusedKernel opt = build_optimizer_kernel(train, count, hyper, state);
  p.optimizer_kernel = opt.name;
  p.optimizer_args = {p.param_region, p.grad_region};
  for (int h = 0; h < hyper; ++h) {
    int b = add_buffer(p, "hyper." + std::to_string(h), plan::DType::F32, 1, at + 4 * h);
    if (h == 0) p.hyper = b;
    p.optimizer_args.push_back(b);
  }
  at += kAlign;
  for (int s = 0; s < state; ++s) {
    int b = add_buffer(p, "state." + std::to_string(s), plan::DType::F32, count, at);
    p.state_regions.push_back(b);
    p.optimizer_args.push_back(b);
    at += region;
  }
  // Statistics (batchnorm's running mean and variance): one region, each
  // on a 64-byte line, in graph order.
  std::vector<const Node *> stats;
  for (const Node &n : train.nodes)
    if (n.op == Op::Stat) stats.push_back(&n);
  if (!stats.empty()) {
    int64_t floats = 0;
    for (const Node *n : stats) floats = line_up(floats) + checked_elements(n->dims);
    p.stat_count = floats;
    p.stat_region = add_buffer(p, "stats", plan::DType::F32, floats, at);
    int64_t offset = 0;
    for (const Node *n : stats) {
      offset = line_up(offset);
      plan::Stat t;
      t.name = n->name;
      t.dims = n->dims;
      t.init = std::get<double>(*n->attr("init"));
      t.buffer = add_buffer(p, n->name, plan::DType::F32, checked_elements(n->dims), at + offset * 4);
      p.stats.push_back(t);
      offset += checked_elements(n->dims);
    }
    at += align(floats * 4);
  }
  m.kernels.push_back(std::move(opt));
  m.persistent_bytes = at;
}

}  // namespace vaec
