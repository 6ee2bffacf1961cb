// Plan text: writing (contract in plan.h). Line-based: a keyword, then
// space-separated fields; names never contain spaces, and `where` takes the
// rest of its line. plan_parse.cpp reads it back.
#include <sstream>

#include "abi/plan.h"
#include "abi/plan_fields.h"

namespace vaec::plan {
namespace {

using text::extent_text;
using text::ints;
using text::linear_text;

std::string zeros_name(const Step &s) {
  if (s.zeros == Step::Sparse) return "sparse";
  const std::string z = s.zeros == Step::Inner ? "inner" : s.zeros == Step::Outer ? "outer" : "";
  if (s.zero_units) return z.empty() ? "units" : z + "+units";
  return z.empty() ? "-" : z;
}

void format_program(std::ostream &os, const Program &p) {
  os << "program " << p.name << ' ' << p.batch << ' ' << p.input << ' ' << p.input_row << '\n';
  if (p.latent >= 0) os << "latent " << p.latent << ' ' << p.latent_row << '\n';
  if (p.labels >= 0) os << "labels " << p.labels << ' ' << p.label_classes << '\n';
  if (p.input_copy >= 0) os << "input_copy " << p.input_copy << '\n';
  for (const Program::Condition &c : p.conditions) os << "condition " << c.name << ' ' << c.buffer << ' ' << c.row << '\n';
  for (const auto &[name, buf] : p.losses) os << "loss " << name << ' ' << buf << '\n';
  for (const Output &o : p.outputs) os << "output " << o.name << ' ' << o.buffer << ' ' << o.row << '\n';
  for (const Program::Bucket &b : p.buckets) {
    os << "bucket " << b.after << " params";
    for (int q : b.params) os << ' ' << q;
    os << '\n';
  }
  for (const Step &s : p.steps) {
    switch (s.kind) {
    case Step::Kernel:
      os << "kernel " << s.kernel << ' ' << extent_text(s.domain0) << ' ' << (s.rows ? "rows" : "one") << ' ' << (s.uses_rng ? 1 : 0)
         << " args";
      for (int a : s.args) os << ' ' << a;
      os << " acc";
      for (size_t j = 0; j < s.accumulate.size(); ++j) {
        os << ' ' << s.accumulate[j];
        const Step::Combine c = j < s.combine.size() ? s.combine[j] : Step::Combine::Add;
        if (c != Step::Combine::Add) os << (c == Step::Combine::Max ? ":max" : ":min");
      }
      if (s.macs > 0) os << " macs " << s.macs;
      break;
    case Step::Matmul:
      os << "matmul " << s.a << ' ' << s.b << ' ' << s.c << ' ' << s.bias << ' ' << extent_text(s.m) << ' '
         << extent_text(s.n) << ' ' << extent_text(s.k) << ' ' << s.ta << ' ' << s.tb << ' ' << (s.post.empty() ? "-" : s.post) << ' '
         << (s.split == Step::Columns ? "columns" : s.split == Step::Rows ? "rows" : s.split == Step::KSlices ? "k-slices" : "whole")
         << ' ' << zeros_name(s)
         << (s.bf16 ? " bf16" : "") << (s.swapped ? " swapped" : "") << (s.thin ? " thin" : "");
      break;
    case Step::Gate:
      os << "gate check";
      for (int q : s.params) os << ' ' << q;
      os << " bound";
      for (int b : s.bound) os << ' ' << b;
      break;
    case Step::Optimize:
      if (s.all) {
        os << "optimize all";
        break;
      }
      os << "optimize params";
      for (int q : s.params) os << ' ' << q;
      break;
    case Step::Zero: os << "zero " << s.c; break;
    case Step::Conv:
      os << "conv " << s.conv << ' ' << s.a << ' ' << s.b << ' ' << s.c << ' ' << s.bias << ' '
         << (s.post.empty() ? "-" : s.post) << ' ' << ints(s.dims_a) << ' ' << ints(s.dims_b) << ' ' << ints(s.dims_c)
         << ' ' << ints(s.stride) << ' ' << ints(s.pad) << ' ' << s.layout_a << ' ' << s.layout_b << ' ' << s.layout_c
         << (s.bf16 ? " bf16" : s.winograd ? " winograd" : s.own_winograd ? " own-winograd" : "")
         << (s.side_by_side ? " side-by-side" : "") << (s.batch_slices ? " batch-slices" : "");
      break;
    case Step::Reorder:
      os << "reorder " << s.a << ' ' << s.c << ' ' << ints(s.dims_a) << ' ' << s.layout_a << ' ' << s.layout_c;
      break;
    }
    os << " where " << s.where << '\n';
  }
  os << "end\n";
}


}  // namespace

std::string format_plan(const Plan &p) {
  std::ostringstream os;
  os << "vaec-plan " << p.version << '\n' << "model " << p.model << '\n';
  for (const auto &[k, v] : p.config) os << "config " << k << ' ' << v << '\n';
  for (const std::string &n : p.notes) os << "note " << n << '\n';
  os << "arena " << linear_text(p.arena_bytes, p.arena_row) << '\n';
  if (p.batch_value >= 0) os << "batch_value " << p.batch_value << '\n';
  if (p.epoch_value >= 0) os << "epoch_value " << p.epoch_value << '\n';
  for (const Buffer &b : p.buffers)
    os << "buffer " << b.name << ' ' << dtype_name(b.type) << ' ' << linear_text(b.elements, b.row) << ' '
       << linear_text(b.offset, b.row_offset) << '\n';
  for (const Param &q : p.params) {
    os << "param " << q.name << ' ' << q.buffer << ' ' << q.grad_buffer << ' ';
    os.precision(17);
    if (q.init_ones) os << "=1";
    else os << q.init_bound;
    for (int64_t d : q.dims) os << ' ' << d;
    os << '\n';
  }
  for (size_t q = 0; q < p.params.size(); ++q)
    if (!p.params[q].stored_layout.empty())
      os << "param_layout " << q << ' ' << ints(p.params[q].stored_dims) << ' ' << p.params[q].stored_from << ' '
         << p.params[q].stored_layout << '\n';
  os << "regions " << p.param_count << ' ' << p.param_region << ' ' << p.grad_region << ' ' << p.hyper << '\n';
  for (int s : p.state_regions) os << "state " << s << '\n';
  if (p.stat_region >= 0) os << "stats " << p.stat_count << ' ' << p.stat_region << '\n';
  for (const Stat &t : p.stats) {
    os << "stat " << t.name << ' ' << t.buffer << ' ' << t.init;
    for (int64_t d : t.dims) os << ' ' << d;
    os << '\n';
  }
  os << "optimizer " << p.optimizer_kernel;
  for (int a : p.optimizer_args) os << ' ' << a;
  os << '\n';
  for (const auto &[k, v] : p.loss_scaling) os << "loss_scaling " << k << ' ' << v << '\n';
  if (!p.recon.empty()) os << "recon " << p.recon << '\n';
  for (const Program *prog : p.programs())
    if (prog == &p.train || prog == &p.eval || prog->present()) format_program(os, *prog);
  return os.str();
}

}  // namespace vaec::plan
