// Elementwise fusion and step scheduling (contract in schedule.h).
//
// Greedy in graph order, like XLA's loop fusion: an elementwise op joins the
// kernel of one of its operands when the iteration domains match and no other
// operand depends on that kernel (which would need the kernel to run both
// before and after it). Reductions end a kernel's use of their value: their
// result exists only once the kernel has finished. An op that reads only
// buffers (library results, sources) and has one elementwise user waits for
// that user and joins its kernel: joined to an earlier kernel as a sibling,
// its value would be written to memory there and read back by the user
// (e.g. relu's mask step(y) over a convolution's output: reading y in the
// user instead saves a tensor's write and read).
#include "codegen/schedule.h"

#include "ir/batch_axes.h"

#include <algorithm>
#include <functional>
#include <sstream>

#include "ir/builder.h"
#include "ir/printer.h"

namespace vaec {
namespace {

bool is_library(Op op) {
  return op_info(op).kind == OpKind::Layer;
}
bool is_fusible(Op op) {
  OpKind k = op_info(op).kind;
  return k == OpKind::Unary || k == OpKind::Binary || k == OpKind::Reduce || op == Op::Expand ||
         op == Op::Slice || op == Op::Pad;
}
// Reads its operand at other points than its own: the operand must be in a
// buffer before the kernel starts.
bool moves_data(Op op) { return op == Op::Expand || op == Op::Slice || op == Op::Pad; }

std::vector<int64_t> row_major(const Dims &d) {
  std::vector<int64_t> s(d.size(), 1);
  for (size_t k = d.size(); k-- > 1;) s[k - 1] = s[k] * d[k];
  return s;
}

class Fuser {
public:
  explicit Fuser(const Graph &g) : g_(g) {
    size_t n = g.nodes.size();
    s_.graph = &g;
    s_.step_of.assign(n, -1);
    s_.root.resize(n);
    s_.materialized.assign(n, false);
    reduction_.assign(n, false);
    from_sources_.assign(n, false);
    deferred_.assign(n, false);
    users_.resize(n);
    for (size_t i = 0; i < n; ++i)
      for (int o : g.nodes[i].operands) users_[o].push_back(static_cast<int>(i));
    for (const auto &[name, idx] : g.outputs) is_output_.push_back(idx);
    std::string why;
    batched_ = batched_values(g, why);
    if (!why.empty()) throw BatchAxisError("fuse_elementwise: " + why);
  }

  Schedule run() {
    for (size_t k = 0; k < g_.nodes.size(); ++k) place(static_cast<int>(k));
    materialize();
    order_steps();
    return std::move(s_);
  }

private:
  std::string name(int node) const { return "%" + g_.nodes[node].name; }
  int producer(int node) const { return s_.step_of[s_.root[node]]; }
  bool is_output(int node) const {
    return std::find(is_output_.begin(), is_output_.end(), node) != is_output_.end();
  }

  // True if step `from` is `target` or needs it, directly or not.
  bool reaches(int from, int target) const {
    std::vector<bool> seen(steps_.size(), false);
    std::function<bool(int)> visit = [&](int st) {
      if (st == target) return true;
      if (seen[st]) return false;
      seen[st] = true;
      for (int d : steps_[st].after)
        if (visit(d)) return true;
      return false;
    };
    return visit(from);
  }

  int new_step(ScheduleStep::Kind kind, const Dims &domain, bool batched = false) {
    ScheduleStep st;
    st.kind = kind;
    st.domain = domain;
    st.batched = batched;
    steps_.push_back(st);
    return static_cast<int>(steps_.size()) - 1;
  }

  void add(int node, int step) {
    steps_[step].nodes.push_back(node);
    s_.step_of[node] = step;
    for (int o : g_.nodes[node].operands) {
      int h = producer(o);
      if (h >= 0 && h != step && std::find(steps_[step].after.begin(), steps_[step].after.end(), h) ==
                                     steps_[step].after.end())
        steps_[step].after.push_back(h);
    }
  }

  // An operand computed inside kernel `step` itself (usable element by element).
  bool in_kernel(int operand, int step) const {
    return s_.root[operand] == operand && s_.step_of[operand] == step && !reduction_[operand];
  }

  // The values node i's kernel reads for it: its operands, and for a
  // deferred operand that operand's own (it is computed in i's kernel).
  std::vector<int> operands_read(int i) const {
    std::vector<int> read;
    for (int o : g_.nodes[i].operands)
      if (deferred_[o]) read.insert(read.end(), g_.nodes[o].operands.begin(), g_.nodes[o].operands.end());
      else read.push_back(o);
    return read;
  }

  // Node i (fusible, placed in graph order) waits for its one user: it reads
  // only buffers no kernel computes, one of them of its own size and the rest
  // smaller (so the user reads no more than i's own value), and that user is
  // an elementwise op or reduction over i's points, not a graph output.
  bool defers(int i) const {
    const Node &n = g_.nodes[i];
    const OpKind kind = op_info(n.op).kind;
    if ((kind != OpKind::Unary && kind != OpKind::Binary) || n.dims.empty() || is_output(i) ||
        users_[i].size() != 1)
      return false;
    const int u = users_[i][0];
    const Node &user = g_.nodes[u];
    if (!is_fusible(user.op) || moves_data(user.op) || user.op == Op::Expand) return false;
    const bool reduce = op_info(user.op).kind == OpKind::Reduce;
    if ((reduce ? g_.nodes[user.operands[0]].dims : user.dims) != n.dims || domain_batched(u) != batched_[i])
      return false;
    int full = 0;
    for (int o : n.operands) {
      const Node &on = g_.nodes[o];
      const int st = s_.step_of[s_.root[o]];
      const bool buffer = st >= 0 ? steps_[st].kind == ScheduleStep::Library
                                  : op_info(on.op).kind == OpKind::Source && on.op != Op::Normal;
      if (!buffer || deferred_[o]) return false;
      if (on.dims == n.dims) ++full;
      else if (on.dims.size() > n.dims.size() || checked_elements(on.dims) >= checked_elements(n.dims)) return false;
    }
    return full == 1;
  }

  // Node i has joined `step`: its deferred operands join it too.
  void add_deferred_operands(int i, int step) {
    bool added = false;
    for (int o : g_.nodes[i].operands)
      if (deferred_[o]) {
        deferred_[o] = false;
        add(o, step);
        added = true;
      }
    if (added) std::sort(steps_[step].nodes.begin(), steps_[step].nodes.end());
  }

  // Why node i cannot join kernel `step`, or "" if it can.
  std::string refusal(int i, int step, const Dims &domain) const {
    const ScheduleStep &st = steps_[step];
    if (st.kind != ScheduleStep::Kernel) return "a library call";
    if (st.domain != domain)
      return "its domain f32" + dims_str(st.domain) + " differs from f32" + dims_str(domain);
    if (st.batched != domain_batched(i))
      return std::string("its rows are ") + (st.batched ? "" : "not ") + "the batch's";
    for (int o : operands_read(i)) {
      if (in_kernel(o, step)) {
        if (moves_data(g_.nodes[i].op)) return "it reads " + name(o) + " at other points";
        continue;
      }
      int h = producer(o);
      if (h >= 0 && reaches(h, step))
        return "operand " + name(o) + " needs this kernel's result first" +
               (reduction_[s_.root[o]] ? " (a reduction)" : "");
      if (g_.nodes[o].op == Op::Normal && g_.nodes[o].dims != domain)
        return "normal() " + name(o) + " would be broadcast";
    }
    return "";
  }

  // Relu/sigmoid right after a library op, and its only user: a post-op.
  bool try_post_op(int i) {
    const Node &n = g_.nodes[i];
    if (n.op != Op::Relu && n.op != Op::Sigmoid) return false;
    int lib = n.operands[0];
    int st = s_.step_of[lib];
    if (st < 0 || steps_[st].kind != ScheduleStep::Library || steps_[st].post >= 0) return false;
    const Op lop = g_.nodes[lib].op;
    if (lop != Op::Dense && lop != Op::Matmul && lop != Op::Conv2d && lop != Op::Conv2dTranspose) return false;
    if (users_[lib].size() != 1 || is_output(lib)) {
      s_.report.push_back(name(i) + ": not a post-op of " + name(lib) + ", whose value is also used elsewhere");
      return false;
    }
    steps_[st].post = i;
    steps_[st].nodes.push_back(i);
    s_.step_of[i] = st;
    return true;
  }

  void place(int i) {
    const Node &n = g_.nodes[i];
    s_.root[i] = i;
    if (op_info(n.op).kind == OpKind::Source) return;
    if (n.op == Op::Reshape) {  // a view of its operand's buffer
      s_.root[i] = s_.root[n.operands[0]];
      return;
    }
    if (is_library(n.op)) {
      add(i, new_step(ScheduleStep::Library, n.dims));
      return;
    }
    if (try_post_op(i)) return;
    if (!is_fusible(n.op)) throw InternalError("fuse_elementwise: cannot schedule " + std::string(op_name(n.op)));
    if (defers(i)) {
      deferred_[i] = true;
      s_.report.push_back(name(i) + " (" + std::string(op_name(n.op)) + "): computed in the kernel of its one user " +
                          name(users_[i][0]) + ", which then reads its operands instead of its value");
      return;
    }
    bool reduce = op_info(n.op).kind == OpKind::Reduce;
    Dims domain = reduce ? g_.nodes[n.operands[0]].dims : n.dims;
    // Candidates: kernels computing an operand in this domain, latest first.
    std::vector<int> candidates;
    for (int o : n.operands) {
      int h = s_.step_of[o];
      if (h >= 0 && s_.root[o] == o && std::find(candidates.begin(), candidates.end(), h) == candidates.end())
        candidates.push_back(h);
    }
    std::sort(candidates.rbegin(), candidates.rend());
    // Then recent kernels over the same domain (sibling fusion): one loop
    // instead of two over the same points. A scalar of constants and the
    // batch size alone joins only a scalar kernel that waits for nothing: in
    // the loss's division it would make the gradients it scales wait for the
    // loss's sum, and the loop over the logits computing that sum could no
    // longer compute the gradient too.
    from_sources_[i] = true;
    for (int o : n.operands)
      from_sources_[i] = from_sources_[i] && (op_info(g_.nodes[o].op).kind == OpKind::Source || from_sources_[o]);
    for (int c = static_cast<int>(steps_.size()) - 1; c >= 0 && c >= static_cast<int>(steps_.size()) - 8; --c)
      if (steps_[c].kind == ScheduleStep::Kernel && steps_[c].domain == domain &&
          std::find(candidates.begin(), candidates.end(), c) == candidates.end()) {
        if (from_sources_[i] && domain.empty() && !steps_[c].after.empty()) {
          s_.report.push_back(name(i) + " (" + std::string(op_name(n.op)) + "): not fused into kernel " +
                              std::to_string(c) + ": a scalar of constants and the batch size, and that kernel waits "
                              "for other steps");
          continue;
        }
        candidates.push_back(c);
      }
    for (int c : candidates) {
      std::string why = refusal(i, c, domain);
      if (why.empty()) {
        add(i, c);
        add_deferred_operands(i, c);
        if (reduce) reduction_[i] = true;
        return;
      }
      s_.report.push_back(name(i) + " (" + std::string(op_name(n.op)) + "): not fused into kernel " +
                          std::to_string(c) + ": " + why);
    }
    const int step = new_step(ScheduleStep::Kernel, domain, domain_batched(i));
    add(i, step);
    add_deferred_operands(i, step);
    if (reduce) reduction_[i] = true;
  }

  void materialize() {
    for (size_t u = 0; u < g_.nodes.size(); ++u) {
      const Node &n = g_.nodes[u];
      for (int o : n.operands) {
        int r = s_.root[o];
        if (s_.step_of[r] < 0) continue;  // sources have their own storage
        bool same_kernel = s_.step_of[u] == s_.step_of[r] && steps_[s_.step_of[r]].kind == ScheduleStep::Kernel &&
                           !reduction_[r] && s_.root[o] == o;
        if (!same_kernel) s_.materialized[r] = true;
      }
    }
    for (int o : is_output_)
      if (s_.step_of[s_.root[o]] >= 0) s_.materialized[s_.root[o]] = true;
    for (size_t i = 0; i < g_.nodes.size(); ++i) {
      if (reduction_[i]) s_.materialized[i] = true;
      int st = s_.step_of[i];
      if (st >= 0 && steps_[st].kind == ScheduleStep::Library) {
        // The library call writes one buffer: the post-op's value if fused.
        bool is_value = steps_[st].post >= 0 ? steps_[st].post == static_cast<int>(i)
                                             : steps_[st].nodes.front() == static_cast<int>(i);
        s_.materialized[i] = is_value;
        if (!is_value) s_.root[i] = steps_[st].post;  // the pre-activation lives only inside oneDNN
      }
    }
  }

  // Steps in an order where each runs after what it needs (stable: creation
  // order when free to choose), except that matmuls no other step needs (a
  // training graph's weight gradients of dense layers: their values only
  // leave the graph) come last, in creation order. Then every other gradient is
  // complete before the first of them, and the runtime can update each weight
  // right after its gradient, while that is still in the cache
  // (runtime/exec/executor.h, Executor::train_step).
  void order_steps() {
    std::vector<int> order, state(steps_.size(), 0);
    std::function<void(int)> visit = [&](int st) {
      if (state[st] == 2) return;
      if (state[st] == 1) throw InternalError("fuse_elementwise: steps depend on each other in a cycle");
      state[st] = 1;
      std::vector<int> deps = steps_[st].after;
      std::sort(deps.begin(), deps.end());
      for (int d : deps) visit(d);
      state[st] = 2;
      order.push_back(st);
    };
    std::vector<bool> needed(steps_.size(), false);
    for (const ScheduleStep &st : steps_)
      for (int d : st.after) needed[d] = true;
    auto sink = [&](size_t st) {
      if (steps_[st].kind != ScheduleStep::Library || needed[st]) return false;
      const Op op = g_.nodes[steps_[st].nodes.front()].op;
      return op == Op::Matmul || op == Op::Dense;
    };
    for (size_t st = 0; st < steps_.size(); ++st)
      if (!sink(st)) visit(static_cast<int>(st));
    for (size_t st = 0; st < steps_.size(); ++st)
      if (sink(st)) visit(static_cast<int>(st));
    std::vector<int> position(steps_.size());
    for (size_t k = 0; k < order.size(); ++k) position[order[k]] = static_cast<int>(k);
    for (int st : order) {
      ScheduleStep step = steps_[st];
      for (int &d : step.after) d = position[d];
      s_.steps.push_back(std::move(step));
    }
    for (int &st : s_.step_of)
      if (st >= 0) st = position[st];
  }

  // Whether the domain of node i's kernel (its own shape, or its operand's
  // for a reduction) has the batch as its first axis.
  bool domain_batched(int i) const {
    const Node &n = g_.nodes[i];
    return batched_[op_info(n.op).kind == OpKind::Reduce ? n.operands[0] : i];
  }

  const Graph &g_;
  std::vector<bool> batched_;
  Schedule s_;
  std::vector<ScheduleStep> steps_;  // creation order
  std::vector<bool> reduction_;
  std::vector<bool> from_sources_;  // computed from source ops alone (constants, the batch size)
  std::vector<bool> deferred_;      // waits for its one user's kernel (defers)
  std::vector<std::vector<int>> users_;
  std::vector<int> is_output_;
};

}  // namespace

Schedule fuse_elementwise(const Graph &g) {
  Fuser f(g);
  return f.run();
}

FusedKernel build_kernel(const Schedule &s, int step, const std::string &kernel_name, std::vector<int> &args) {
  const Graph &g = *s.graph;
  const ScheduleStep &st = s.steps[step];
  FusedKernel k;
  k.name = kernel_name;
  k.domain = st.domain;
  args.clear();
  std::vector<int> instr_of(g.nodes.size(), -1);
  auto arg_of = [&](int node) {
    auto it = std::find(args.begin(), args.end(), node);
    if (it != args.end()) return static_cast<int>(it - args.begin());
    args.push_back(node);
    k.args.push_back(BufferType::F32);
    return static_cast<int>(args.size()) - 1;
  };
  auto emit = [&](KernelInstr in) {
    k.instrs.push_back(std::move(in));
    return static_cast<int>(k.instrs.size()) - 1;
  };
  auto constant = [&](double v) {
    KernelInstr c;
    c.kind = KernelInstr::Const;
    c.value = v;
    return emit(c);
  };
  // Strides that read a value of dims `d`, right-aligned numpy style, over the domain.
  auto broadcast = [&](const Dims &d) {
    std::vector<int64_t> rm = row_major(d), out(k.domain.size(), 0);
    for (size_t j = 0; j < d.size(); ++j) {
      size_t axis = k.domain.size() - d.size() + j;
      out[axis] = d[j] == 1 ? 0 : rm[j];
    }
    return out;
  };
  int stream = 0;
  std::vector<int> streams(g.nodes.size(), -1);
  for (size_t i = 0; i < g.nodes.size(); ++i)
    if (g.nodes[i].op == Op::Normal) streams[i] = stream++;
  auto value = [&](int o) {
    if (instr_of[o] >= 0 && s.step_of[o] == step && s.root[o] == o) return instr_of[o];
    const Node &n = g.nodes[o];
    if (n.op == Op::Const) return constant(std::get<double>(*n.attr("value")));
    if (n.op == Op::Normal) {
      KernelInstr r;
      r.kind = KernelInstr::Normal;
      r.stream = static_cast<uint32_t>(streams[o]);
      return emit(r);
    }
    KernelInstr l;
    l.kind = KernelInstr::Load;
    l.arg = arg_of(s.root[o]);
    l.strides = broadcast(n.dims);
    return emit(l);
  };
  for (int m : st.nodes) {
    const Node &n = g.nodes[m];
    OpKind kind = op_info(n.op).kind;
    if (kind == OpKind::Unary || kind == OpKind::Binary) {
      KernelInstr a;
      a.kind = KernelInstr::Apply;
      a.op = n.op;
      a.a = value(n.operands[0]);
      if (kind == OpKind::Binary) a.b = value(n.operands[1]);
      instr_of[m] = emit(a);
    } else if (n.op == Op::Expand) {
      const Node &src = g.nodes[n.operands[0]];
      if (src.op == Op::Const) {
        instr_of[m] = value(n.operands[0]);
      } else {
        const auto &axes = std::get<std::vector<int64_t>>(*n.attr("axes"));
        std::vector<int64_t> rm = row_major(src.dims), strides;
        size_t j = 0;
        for (size_t ax = 0; ax < k.domain.size(); ++ax) {
          if (std::find(axes.begin(), axes.end(), static_cast<int64_t>(ax)) != axes.end()) strides.push_back(0);
          else strides.push_back(rm[j++]);
        }
        KernelInstr l;
        l.kind = KernelInstr::Load;
        l.arg = arg_of(s.root[n.operands[0]]);
        l.strides = strides;
        instr_of[m] = emit(l);
      }
    } else if (n.op == Op::Slice || n.op == Op::Pad) {
      // A load at the operand's row-major addresses, shifted to the slice's
      // start; a pad's load is guarded to the operand's window.
      const Node &src = g.nodes[n.operands[0]];
      const int64_t axis = std::get<int64_t>(*n.attr("axis"));
      const int64_t at = std::get<int64_t>(*n.attr(n.op == Op::Slice ? "start" : "before"));
      KernelInstr l;
      l.kind = KernelInstr::Load;
      l.arg = arg_of(s.root[n.operands[0]]);
      l.strides = row_major(src.dims);
      if (n.op == Op::Slice) {
        l.offset = at * l.strides[axis];
      } else {
        l.offset = -at * l.strides[axis];
        l.guard_axis = static_cast<int>(axis);
        l.guard_lo = at;
        l.guard_hi = at + src.dims[axis];
      }
      instr_of[m] = emit(l);
    } else if (kind == OpKind::Reduce) {
      int v = value(n.operands[0]);
      const auto &axes = std::get<std::vector<int64_t>>(*n.attr("axes"));
      if (n.op == Op::Mean) {
        double count = 1;
        for (int64_t a : axes) count *= static_cast<double>(k.domain[a]);
        KernelInstr mul;
        mul.kind = KernelInstr::Apply;
        mul.op = Op::Mul;
        mul.a = v;
        mul.b = constant(1.0 / count);
        v = emit(mul);
      }
      KernelOutput out;
      out.instr = v;
      out.arg = arg_of(m);
      out.accumulate = true;
      out.combine = n.op == Op::Mean ? Op::Sum : n.op;
      std::vector<int64_t> rm = row_major(n.dims);
      size_t j = 0;
      for (size_t ax = 0; ax < k.domain.size(); ++ax) {
        bool reduced = std::find(axes.begin(), axes.end(), static_cast<int64_t>(ax)) != axes.end();
        out.strides.push_back(reduced ? 0 : rm[j++]);
      }
      k.outputs.push_back(out);
    } else {
      throw InternalError("build_kernel: " + std::string(op_name(n.op)) + " is not elementwise");
    }
    if (kind != OpKind::Reduce && s.materialized[m]) {
      KernelOutput out;
      out.instr = instr_of[m];
      out.arg = arg_of(m);
      out.strides = row_major(k.domain);
      k.outputs.push_back(out);
    }
  }
  return k;
}

std::string schedule_to_string(const Schedule &s) {
  const Graph &g = *s.graph;
  std::ostringstream os;
  for (size_t k = 0; k < s.steps.size(); ++k) {
    const ScheduleStep &st = s.steps[k];
    os << "step " << k << ": ";
    if (st.kind == ScheduleStep::Library) {
      os << "library " << op_name(g.nodes[st.nodes.front()].op);
      if (st.post >= 0) os << " + post-op " << op_name(g.nodes[st.post].op);
    } else {
      os << "kernel over f32" << dims_str(st.domain) << (st.batched ? " (rows: the batch's)" : "");
    }
    os << "\n  ops:";
    for (int n : st.nodes) os << " %" << g.nodes[n].name << (s.materialized[n] ? "*" : "");
    if (!st.after.empty()) {
      os << "\n  after:";
      for (int a : st.after) os << " " << a;
    }
    os << "\n";
  }
  os << "(* = materialized in a buffer)\n";
  if (!s.report.empty()) {
    os << "refused merges:\n";
    for (const std::string &r : s.report) os << "  " << r << "\n";
  }
  return os.str();
}

}  // namespace vaec
