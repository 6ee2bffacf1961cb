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

// Whether the runtime reads or writes buffer `b` of `prog` itself (inputs,
// losses, outputs): those stay in plain order.
bool handed_over(const plan::Program &prog, int b) {
  if (b == prog.input || b == prog.input_copy || b == prog.latent || b == prog.labels) return true;
  for (const plan::Program::Condition &c : prog.conditions)
    if (c.buffer == b) return true;
  for (const auto &loss : prog.losses)
    if (loss.second == b) return true;
  for (const plan::Output &o : prog.outputs)
    if (o.buffer == b) return true;
  return false;
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
      if (handed_over(prog, p)) return -1;
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

// X's layout text over [B, C, H, W] ("blocked:S0,S1,S2,S3:BLOCKS") for a
// parameter over [C, H, W] (k == 0) or [C, H, W, k], k values per position
// innermost; "" when X is not such a text.
std::string row_layout(const std::string &x, int64_t k) {
  const size_t colon = x.find(':', 8);
  if (x.rfind("blocked:", 0) != 0 || colon == std::string::npos) return "";
  std::vector<int64_t> strides;
  if (!plan::parse_int_list(x.substr(8, colon - 8), ',', strides) || strides.size() != 4) return "";
  std::string blocks;
  int64_t inner = 1;
  const std::string b = x.substr(colon + 1);
  if (b != "-") {
    for (size_t at = 0; at < b.size();) {
      size_t end = b.find(',', at);
      if (end == std::string::npos) end = b.size();
      const std::string one = b.substr(at, end - at);
      const size_t sign = one.find('@');
      if (sign == std::string::npos || one.substr(sign + 1) == "0") return "";  // a block of the batch
      const int64_t size = std::stoll(one.substr(0, sign)), dim = std::stoll(one.substr(sign + 1));
      blocks += (blocks.empty() ? "" : ",") + std::to_string(size) + "@" + std::to_string(dim - 1);
      inner *= size;
      at = end + 1;
    }
  }
  const int64_t f = k > 0 ? k : 1;
  std::string out = "blocked:" + std::to_string(f * strides[1]) + "," + std::to_string(f * strides[2]) + "," +
                    std::to_string(f * strides[3]);
  if (k > 0) out += "," + std::to_string(f * inner);
  if (k > 0) blocks += (blocks.empty() ? "" : ",") + std::to_string(k) + "@3";
  return out + ":" + (blocks.empty() ? "-" : blocks);
}

// Whether layout `l` over `dims` holds exactly `elements` floats.
bool holds(const std::vector<int64_t> &dims, const std::string &l, int64_t elements) {
  try {
    return onednn::layout_desc(dims, l).get_size() == static_cast<size_t>(elements) * sizeof(float);
  } catch (const std::exception &) {
    return false;
  }
}

// Whether kernel step `s` computes each column of its [rows, n] domain
// from the same column of the `permuted` buffers alone (so that it computes
// the same in any order of the columns), and which buffers it writes per
// column (into `columns`).
bool column_wise(const Step &s, const std::map<std::string, const FusedKernel *> &kernels, int64_t n,
                 const std::set<int> &permuted, std::set<int> &columns) {
  auto it = kernels.find(s.kernel);
  if (it == kernels.end()) return false;
  const FusedKernel &k = *it->second;
  if (k.conv || k.domain.size() != 2 || k.domain[1] != n) return false;
  const std::vector<int64_t> row = {n, 1}, broadcast = {0, 1};
  auto access = [&](int arg, const std::vector<int64_t> &strides) {
    if (arg < 0 || arg >= static_cast<int>(s.args.size()) || strides.size() != 2) return false;
    if (strides[1] == 0) return true;  // the same for every column
    return strides == row || strides == broadcast;
  };
  for (const KernelInstr &in : k.instrs) {
    if (in.kind == KernelInstr::Normal) return false;  // draws by position
    if (in.kind != KernelInstr::Load) continue;
    if (!access(in.arg, in.strides) || in.offset != 0 || in.guard_axis >= 0) return false;
    if (in.strides[1] != 0 && !permuted.count(s.args[in.arg])) return false;
  }
  for (const KernelOutput &o : k.outputs) {
    if (!access(o.arg, o.strides)) return false;
    if (o.strides[1] != 0) columns.insert(s.args[o.arg]);
  }
  return true;
}

// Dense weights W [N, K] and bias b [N] whose product's [B, N] result a
// reorder makes a convolution's input in layout X (N = C*H*W): W's rows and
// b stored in X's order, so that the product writes X's order and the
// column-wise kernels and products of the gradient read it so.
void store_reshaped_weights(plan::Plan &plan, const std::vector<FusedKernel> &all_kernels,
                            std::map<plan::Program *, std::set<size_t>> &erase, std::set<int> &dead) {
  std::map<std::string, const FusedKernel *> kernels;
  for (const FusedKernel &k : all_kernels) kernels[k.name] = &k;
  std::map<int, plan::Param *> param_of, grad_of;
  for (plan::Param &q : plan.params) param_of[q.buffer] = &q, grad_of[q.grad_buffer] = &q;
  for (plan::Param &w : plan.params) {
    if (!w.stored_layout.empty() || w.dims.size() != 2) continue;
    const int64_t n = w.dims[0], k = w.dims[1];
    plan::Param *bias = nullptr;
    std::vector<int64_t> dims;
    std::string layout;
    int forwards = 0;
    std::vector<std::pair<plan::Program *, size_t>> gone;  // the reorders that go
    std::set<int> goners, train_permuted;
    bool ok = true;
    for (plan::Program *prog : plan.programs()) {
      if (!ok) break;
      // The forward products: [B, K] x W^T + b -> P, P reordered into X.
      std::set<int> permuted;
      std::map<int, int> moved;  // plain buffer -> its buffer in X
      for (size_t i : steps_naming(*prog, w.buffer)) {
        const Step &s = prog->steps[i];
        if (!plain_product(s) || s.b != w.buffer || s.ta || !s.tb || s.n != n || s.k != k) continue;
        auto bq = param_of.find(s.bias);
        if (bq == param_of.end() || bq->second->dims != std::vector<int64_t>{n} || (bias && bias != bq->second)) {
          ok = false;
          break;
        }
        bias = bq->second;
        for (size_t j : steps_naming(*prog, s.c)) {
          const Step &r = prog->steps[j];
          if (r.kind != Step::Reorder || r.a != s.c || r.layout_a != "plain") continue;
          if (r.dims_a.size() != 4 || r.dims_a[0] >= 0 || r.dims_a[1] * r.dims_a[2] * r.dims_a[3] != n ||
              plan.buffers[r.c].type != plan::DType::F32 || moved.count(s.c)) {
            ok = false;
            break;
          }
          if (dims.empty()) dims = r.dims_a, layout = r.layout_c;
          if (r.dims_a != dims || r.layout_c != layout) ok = false;
          moved[s.c] = r.c;
          gone.push_back({prog, j});
          ++forwards;
        }
        permuted.insert(s.c);
      }
      // The gradient arriving in X: a reorder into plain.
      if (!layout.empty())
        for (size_t j = 0; j < prog->steps.size(); ++j) {
          const Step &r = prog->steps[j];
          if (r.kind == Step::Reorder && r.layout_a == layout && r.layout_c == "plain" && r.dims_a == dims &&
              plan.buffers[r.a].type == plan::DType::F32 && !grad_of.count(r.c) && !param_of.count(r.c) &&
              !erase[prog].count(j)) {
            // A gradient's: its plain copy is read by kernels alone (column-wise ones: checked below).
            int kernel_readers = 0;
            for (size_t u : steps_naming(*prog, r.c))
              if (u != j) kernel_readers += prog->steps[u].kind == Step::Kernel ? 1 : -1000;
            if (kernel_readers <= 0) continue;
            moved[r.c] = r.a;
            permuted.insert(r.c);
            gone.push_back({prog, j});
          }
        }
      // Everything computed column by column from permuted values is
      // permuted too; every step naming one must be column-wise.
      for (bool grew = true; grew && ok;) {
        grew = false;
        for (size_t i = 0; i < prog->steps.size(); ++i) {
          const Step &s = prog->steps[i];
          if (s.kind != Step::Kernel) continue;
          const std::vector<int> bufs = plan::step_buffers(s);
          if (std::none_of(bufs.begin(), bufs.end(), [&](int b) { return permuted.count(b) > 0; })) continue;
          std::set<int> columns;
          if (!column_wise(s, kernels, n, permuted, columns)) {
            ok = false;
            break;
          }
          for (int b : columns) grew |= permuted.insert(b).second;
        }
      }
      for (int b : permuted) {
        if (handed_over(*prog, b)) ok = false;
        if (!ok) break;
        for (size_t i : steps_naming(*prog, b)) {
          const Step &s = prog->steps[i];
          const bool reorder = std::any_of(gone.begin(), gone.end(), [&](auto &g) { return g.first == prog && g.second == i; });
          const bool forward = plain_product(s) && s.b == w.buffer && s.c == b;
          const bool input_grad = plain_product(s) && s.a == b && s.b == w.buffer && !s.ta && !s.tb && s.k == n;
          const bool weight_grad = plain_product(s) && s.a == b && s.ta && !s.tb && s.m == n && s.c == w.grad_buffer;
          if (!(s.kind == Step::Kernel || reorder || forward || input_grad || weight_grad)) ok = false;
        }
      }
      for (auto &[plain_b, blocked] : moved) goners.insert(plain_b);
      if (prog == &plan.train) train_permuted = permuted;
    }
    if (!ok || !bias || layout.empty() || forwards == 0) continue;
    // W and b: read by these products alone; the gradients written by them
    // (b's by a column-wise kernel: permuted) alone.
    auto only = [&](int b, auto allowed) {
      for (plan::Program *prog : plan.programs())
        for (size_t i : steps_naming(*prog, b))
          if (!allowed(prog->steps[i])) return false;
      return true;
    };
    const int bb = bias->buffer, bg = bias->grad_buffer;
    if (!only(w.buffer, [&](const Step &s) { return s.kind == Step::Matmul && s.b == w.buffer; }) ||
        !only(bb, [&](const Step &s) { return s.kind == Step::Matmul && s.bias == bb; }) ||
        !only(w.grad_buffer, [&](const Step &s) { return s.kind == Step::Matmul && s.c == w.grad_buffer && s.ta; }) ||
        !only(bg, [&](const Step &s) { return s.kind == Step::Kernel; }))
      continue;
    const std::string wl = row_layout(layout, k), bl = row_layout(layout, 0);
    const std::vector<int64_t> wd = {dims[1], dims[2], dims[3], k}, bd = {dims[1], dims[2], dims[3]};
    if (wl.empty() || !holds(wd, wl, n * k) || !holds(bd, bl, n)) continue;
    // The bias gradient, when the train program computes it, comes out in X's order too.
    if (!steps_naming(plan.train, bg).empty() && !train_permuted.count(bg)) continue;
    // Apply: the products write X; readers of the plain copies read X.
    std::map<plan::Program *, std::map<int, int>> to;
    for (auto &[prog, j] : gone) {
      const Step &r = prog->steps[j];
      if (r.layout_a == "plain") to[prog][r.a] = r.c;  // forward: P -> T
      else to[prog][r.c] = r.a;                        // gradient: plain copy -> X
      erase[prog].insert(j);
    }
    for (auto &[prog, map] : to)
      for (size_t i = 0; i < prog->steps.size(); ++i) {
        if (erase[prog].count(i)) continue;
        Step &s = prog->steps[i];
        for (int *b : {&s.a, &s.b, &s.c, &s.bias})
          if (auto f = map.find(*b); f != map.end()) *b = f->second;
        for (int &b : s.args)
          if (auto f = map.find(b); f != map.end()) b = f->second;
      }
    for (int b : goners) dead.insert(b);
    w.stored_dims = wd, w.stored_from = "plain", w.stored_layout = wl;
    bias->stored_dims = bd, bias->stored_from = "plain", bias->stored_layout = bl;
  }
}

// Convolution weights: stored in the layout oneDNN reads them in (the
// header's first rule).
void store_conv_weights(plan::Plan &plan, std::map<plan::Program *, std::set<size_t>> &erase, std::set<int> &dead) {
  for (plan::Param &q : plan.params) {
    if (!q.stored_layout.empty()) continue;
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
    for (plan::Program *prog : plan.programs()) {
      for (size_t i : steps_naming(*prog, pb)) {
        const Step &s = prog->steps[i];
        if (s.kind == Step::Reorder && s.a == pb && s.c != pb && same_shape(s)) reads.push_back({prog, i});
        else ok = false;
      }
      for (size_t i : steps_naming(*prog, gb)) {
        const Step &s = prog->steps[i];
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
    if (!holds(dims, layout, plan.buffers[pb].elements) || !holds(dims, from, plan.buffers[pb].elements)) continue;
    // The gradient's source: written by one convolution, read by the reorder alone.
    const int t = g.a;
    int writer = -1;
    bool one_writer = true;
    for (size_t i : steps_naming(plan.train, t)) {
      const Step &s = plan.train.steps[i];
      if (static_cast<int>(i) == grad) continue;
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
}

}  // namespace

void store_params_in_layouts(LoweredModel &m) {
  if (!m.options.param_layouts) return;
  plan::Plan &plan = m.plan;
  std::map<plan::Program *, std::set<size_t>> erase;
  std::set<int> dead;
  store_flattened_weights(plan, erase, dead);
  store_reshaped_weights(plan, m.kernels, erase, dead);
  store_conv_weights(plan, erase, dead);
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
