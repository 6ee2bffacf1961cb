// Parameters in their convolutions' layouts (contract in store_params_in_layouts.h).
#include "codegen/store_params_in_layouts.h"

#include <algorithm>
#include <map>
#include <set>

#include "abi/onednn_conv.h"
#include "codegen/choose_precision.h"

namespace vaec {
namespace {

using plan::Step;

// Applies f to every buffer index the plan and the programs' temporaries hold.
template <class F>
void for_each_buffer(LoweredModel &m, F f) {
  plan::Plan &p = m.plan;
  for (int *b : {&p.batch_value, &p.epoch_value, &p.param_region, &p.grad_region, &p.hyper, &p.stat_region}) f(*b);
  for (plan::Param &q : p.params) f(q.buffer), f(q.grad_buffer);
  for (int &b : p.state_regions) f(b);
  for (plan::Stat &t : p.stats) f(t.buffer);
  for (int &b : p.optimizer_args) f(b);
  for (plan::Program *prog : p.programs()) {
    for (int *b : {&prog->input, &prog->input_copy, &prog->latent, &prog->labels}) f(*b);
    for (plan::Program::Condition &c : prog->conditions) f(c.buffer);
    for (auto &loss : prog->losses) f(loss.second);
    for (plan::Output &o : prog->outputs) f(o.buffer);
    for (Step &s : prog->steps) {
      for (int *b : {&s.a, &s.b, &s.c, &s.bias}) f(*b);
      for (int &b : s.args) f(b);
    }
  }
  for (CodegenProgram &cp : m.programs)
    for (int &b : cp.temps) f(b);
}

// Removes the buffers of `dead` that nothing but a temporaries list names.
void remove_buffers(LoweredModel &m, const std::set<int> &dead) {
  std::vector<int> named(m.plan.buffers.size(), 0);
  for_each_buffer(m, [&](int &b) {
    if (b >= 0) ++named[b];
  });
  for (const CodegenProgram &cp : m.programs)
    for (int b : cp.temps) --named[b];
  std::vector<int> index(m.plan.buffers.size(), -1);
  std::vector<plan::Buffer> kept;
  for (size_t b = 0; b < m.plan.buffers.size(); ++b)
    if (!dead.count(static_cast<int>(b)) || named[b] > 0) {
      index[b] = static_cast<int>(kept.size());
      kept.push_back(m.plan.buffers[b]);
    }
  m.plan.buffers = std::move(kept);
  for (CodegenProgram &cp : m.programs)
    cp.temps.erase(std::remove_if(cp.temps.begin(), cp.temps.end(), [&](int b) { return index[b] < 0; }),
                   cp.temps.end());
  for_each_buffer(m, [&](int &b) {
    if (b >= 0) b = index[b];
  });
}

// Whether every step of `prog` after `from` that names buffer `b` reads it
// as a convolution's or product's operand or a reorder's source.
bool only_read_after(const plan::Program &prog, size_t from, int b) {
  for (size_t i = 0; i < prog.steps.size(); ++i) {
    const Step &s = prog.steps[i];
    const std::vector<int> bufs = plan::step_buffers(s);
    if (i == from || std::find(bufs.begin(), bufs.end(), b) == bufs.end()) continue;
    const bool operand = (s.kind == Step::Conv || s.kind == Step::Matmul) && s.c != b && s.bias != b;
    if (i < from || !(operand || (s.kind == Step::Reorder && s.a == b && s.c != b))) return false;
  }
  return true;
}

void replace_operand(plan::Program &prog, size_t from, int old_b, int new_b) {
  for (size_t i = from + 1; i < prog.steps.size(); ++i) {
    Step &s = prog.steps[i];
    if (s.a == old_b) s.a = new_b;
    if (s.b == old_b && s.kind != Step::Reorder) s.b = new_b;
  }
}

// The steps of `prog` that name buffer `b`.
std::vector<size_t> steps_naming(const plan::Program &prog, int b) {
  std::vector<size_t> out;
  for (size_t i = 0; i < prog.steps.size(); ++i) {
    const std::vector<int> bufs = plan::step_buffers(prog.steps[i]);
    if (std::find(bufs.begin(), bufs.end(), b) != bufs.end()) out.push_back(i);
  }
  return out;
}

bool plain_product(const Step &s) { return s.kind == Step::Matmul && s.zeros == Step::Keep && !s.zero_units; }

// Dense weights W [N, K] whose products read a convolution's result
// flattened, K = C*H*W: their columns stored in that result's layout X
// (its rows of C*H*W values in X's order), so that the products read it as
// the convolution left it and the input gradient comes out in X too.
void store_flattened_weights(plan::Plan &plan, std::map<plan::Program *, std::set<size_t>> &erase, std::set<int> &dead) {
  for (plan::Param &q : plan.params) {
    if (!q.stored_layout.empty() || q.dims.size() != 2) continue;
    const int wb = q.buffer, gb = q.grad_buffer;
    const int64_t n = q.dims[0], k = q.dims[1];
    std::vector<int64_t> dims;  // the convolution result's [B, C, H, W]
    std::string layout;
    struct Change {
      plan::Program *prog;
      size_t step;
      int field;  // 0: a, 1: b, 2: c
      int to;
      size_t gone;  // the reorder step that goes
      int dead;
    };
    std::vector<Change> changes;
    // The reorder into plain `p` of `prog` that step `user` reads, when it is
    // the only step writing p and p is read by `readers` alone.
    auto flatten_source = [&](plan::Program &prog, int p, const std::vector<size_t> &readers) -> int {
      int r = -1;
      for (size_t i : steps_naming(prog, p)) {
        const Step &s = prog.steps[i];
        if (std::find(readers.begin(), readers.end(), i) != readers.end()) continue;
        if (r >= 0 || s.kind != Step::Reorder || s.c != p || s.a == p || s.layout_c != "plain") return -1;
        r = static_cast<int>(i);
      }
      return r;
    };
    auto same_layout = [&](const Step &r) {
      if (r.dims_a.size() != 4 || r.dims_a[0] >= 0 || r.dims_a[1] * r.dims_a[2] * r.dims_a[3] != k) return false;
      const std::string x = r.kind == Step::Reorder && r.layout_c == "plain" ? r.layout_a : r.layout_c;
      if (dims.empty()) dims = r.dims_a, layout = x;
      return r.dims_a == dims && x == layout;
    };
    bool ok = true;
    int grad_writer = -1;
    for (plan::Program *prog : plan.programs()) {
      for (size_t i : steps_naming(*prog, gb)) {
        const Step &s = prog->steps[i];
        if (prog == &plan.train && grad_writer < 0 && plain_product(s) && s.c == gb && s.ta && !s.tb && s.m == n &&
            s.n == k && s.a != gb && s.b != gb)
          grad_writer = static_cast<int>(i);
        else ok = false;
      }
      for (size_t i : steps_naming(*prog, wb)) {
        const Step &s = prog->steps[i];
        if (!ok || !plain_product(s) || s.b != wb || s.a == wb || s.c == wb || s.ta) {
          ok = false;
        } else if (s.tb && s.k == k && s.n == n) {  // forward: [B, K] x W^T
          std::vector<size_t> readers = {i};
          if (prog == &plan.train && grad_writer >= 0 && prog->steps[grad_writer].b == s.a) readers.push_back(grad_writer);
          const int r = flatten_source(*prog, s.a, readers);
          if (r < 0 || !same_layout(prog->steps[r]) || plan.buffers[prog->steps[r].a].type != plan::DType::F32) {
            ok = false;
            continue;
          }
          changes.push_back({prog, i, 0, prog->steps[r].a, size_t(r), s.a});
        } else if (!s.tb && s.n == k && s.k == n) {  // input gradient: [B, N] x W, into a reorder to X
          const std::vector<size_t> users = steps_naming(*prog, s.c);
          if (users.size() != 2 || users[0] != i) {
            ok = false;
            continue;
          }
          const Step &r = prog->steps[users[1]];
          if (r.kind != Step::Reorder || r.a != s.c || r.c == s.c || r.layout_a != "plain" || !same_layout(r) ||
              plan.buffers[r.c].type != plan::DType::F32) {
            ok = false;
            continue;
          }
          changes.push_back({prog, i, 2, r.c, users[1], s.c});
        } else {
          ok = false;
        }
      }
    }
    if (!ok || grad_writer < 0 || changes.empty()) continue;
    // The gradient's product reads the train program's flattened value.
    const int flat = plan.train.steps[grad_writer].b;
    int source = -1;
    for (const Change &c : changes)
      if (c.prog == &plan.train && c.field == 0 && c.dead == flat) source = c.to;
    if (source < 0) continue;
    for (const Change &c : changes) {
      Step &s = c.prog->steps[c.step];
      (c.field == 0 ? s.a : s.c) = c.to;
      erase[c.prog].insert(c.gone);
      dead.insert(c.dead);
    }
    plan.train.steps[grad_writer].b = source;
    q.stored_dims = {n, dims[1], dims[2], dims[3]}, q.stored_from = "plain", q.stored_layout = layout;
  }
}

}  // namespace

void store_params_in_layouts(LoweredModel &m) {
  if (!m.options.param_layouts) return;
  plan::Plan &plan = m.plan;
  std::map<plan::Program *, std::set<size_t>> erase;
  std::set<int> dead;
  store_flattened_weights(plan, erase, dead);
  for (plan::Param &q : plan.params) {
    const int pb = q.buffer, gb = q.grad_buffer;
    struct Use {
      plan::Program *prog;
      size_t step;
    };
    std::vector<Use> reads;
    std::vector<int64_t> dims;
    std::string from;
    auto same_shape = [&](const Step &s) {
      if (dims.empty()) dims = s.dims_a, from = s.layout_a;
      return s.dims_a == dims && s.layout_a == from;
    };
    int grad = -1;
    bool ok = true;
    for (plan::Program *prog : plan.programs())
      for (size_t i = 0; i < prog->steps.size() && ok; ++i) {
        const Step &s = prog->steps[i];
        const std::vector<int> bufs = plan::step_buffers(s);
        if (std::find(bufs.begin(), bufs.end(), pb) != bufs.end()) {
          if (s.kind == Step::Reorder && s.a == pb && s.c != pb && same_shape(s)) reads.push_back({prog, i});
          else ok = false;
        }
        if (std::find(bufs.begin(), bufs.end(), gb) != bufs.end()) {
          if (prog == &plan.train && grad < 0 && s.kind == Step::Reorder && s.c == gb && s.a != gb)
            grad = static_cast<int>(i);
          else ok = false;
        }
      }
    if (!ok || reads.empty() || grad < 0) continue;
    Step &g = plan.train.steps[grad];
    if (g.dims_a != dims || g.layout_c != from) continue;
    // The layout: the gradient's, if a reader wants it, else the one most
    // readers want (f32 copies only: a bf16 copy rounds from any layout).
    std::map<std::string, int> wanted;
    for (const Use &u : reads) {
      const Step &s = u.prog->steps[u.step];
      if (plan.buffers[s.c].type == plan::DType::F32) ++wanted[s.layout_c];
    }
    if (wanted.empty()) continue;
    std::string layout = g.layout_a;
    if (!wanted.count(layout))
      layout = std::max_element(wanted.begin(), wanted.end(), [](const auto &a, const auto &b) {
                 return a.second < b.second;
               })->first;
    if (layout == from || layout == "plain") continue;
    const size_t bytes = static_cast<size_t>(plan.buffers[pb].elements) * sizeof(float);
    try {
      if (onednn::layout_desc(dims, layout).get_size() != bytes || onednn::layout_desc(dims, from).get_size() != bytes)
        continue;
    } catch (const std::exception &) {
      continue;
    }
    // The gradient's source: written by one convolution, read by the reorder alone.
    const int t = g.a;
    int writer = -1;
    bool one_writer = true;
    for (size_t i = 0; i < plan.train.steps.size(); ++i) {
      const Step &s = plan.train.steps[i];
      const std::vector<int> bufs = plan::step_buffers(s);
      if (static_cast<int>(i) == grad || std::find(bufs.begin(), bufs.end(), t) == bufs.end()) continue;
      if (writer < 0 && s.kind == Step::Conv && s.c == t && s.a != t && s.b != t && s.bias != t) writer = static_cast<int>(i);
      else one_writer = false;
    }
    if (!one_writer) writer = -1;
    for (const Use &u : reads) {
      Step &s = u.prog->steps[u.step];
      if (s.layout_c == layout && plan.buffers[s.c].type == plan::DType::F32 && only_read_after(*u.prog, u.step, s.c)) {
        replace_operand(*u.prog, u.step, s.c, pb);
        dead.insert(s.c);
        erase[u.prog].insert(u.step);
      } else {
        s.layout_a = layout;
      }
    }
    if (g.layout_a == layout && writer >= 0) {
      plan.train.steps[writer].c = gb;
      dead.insert(t);
      erase[&plan.train].insert(grad);
    } else {
      g.layout_c = layout;
    }
    q.stored_dims = dims, q.stored_from = from, q.stored_layout = layout;
  }
  for (auto &[prog, gone] : erase) {
    std::vector<Step> steps;
    std::vector<int> new_index;
    for (size_t i = 0; i < prog->steps.size(); ++i) {
      new_index.push_back(gone.count(i) ? -1 : static_cast<int>(steps.size()));
      if (!gone.count(i)) steps.push_back(std::move(prog->steps[i]));
    }
    prog->steps = std::move(steps);
    renumber_step_notes(plan, prog->name, new_index);
  }
  remove_buffers(m, dead);
}

}  // namespace vaec
