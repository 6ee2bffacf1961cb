// Functions of model expressions that are built from table ops rather than
// being one: clip, concat, slice and logsumexp (each with its own argument
// checks and messages), and the per-example broadcasting rule that lets a
// [batch, d] value meet a [batch, samples, d] one.
#include <algorithm>
#include <cmath>

#include "frontend/lower.h"
#include "ir/batch_axes.h"
#include "ir/printer.h"

namespace vaec {

const std::vector<std::string> &tensor_function_names() {
  static const std::vector<std::string> names = {"clip", "concat", "slice", "logsumexp"};
  return names;
}

// An integer argument (an axis or an index), numbers only.
bool GraphBuilder::int_value(const Expr &a, const std::string &what, int64_t &out) {
  Val v = eval(a);
  if (v.kind == Val::Bad) return false;
  if (v.kind != Val::Num || !v.is_int || v.batch || std::fabs(v.num) > 1e15) {
    diags_.error(a.loc, what + " must be an integer, got " + expr_to_string(a), a.length);
    return false;
  }
  out = static_cast<int64_t>(v.num);
  return true;
}

// axis=A of a function on a value of `rank` axes: -1 unless given, negative
// counting from the end; the batch axis of a per-example value is refused.
bool GraphBuilder::feature_axis(const Expr &call, int node, int64_t &axis) {
  const Dims &d = g_.nodes[node].dims;
  const int64_t rank = static_cast<int64_t>(d.size());
  axis = -1;
  const Expr *given = nullptr;
  for (const auto &[k, v] : call.kwargs)
    if (k == "axis") given = &v;
  if (given && !int_value(*given, "axis of " + call.text, axis)) return false;
  const Loc &at = given ? given->loc : call.loc;
  if (rank == 0 || axis < -rank || axis >= rank) {
    diags_.error(at, call.text + ": axis " + std::to_string(axis) + " is out of range for f32" + dims_str(d));
    return false;
  }
  if (axis < 0) axis += rank;
  std::string unused;
  const std::vector<bool> batched = batched_values(g_, unused);
  if (axis == 0 && node < static_cast<int>(batched.size()) && batched[node]) {
    diags_.error(at, call.text + " along axis 0, the batch, is not possible: examples are independent; "
                     "use a feature axis (axis=-1 is the last)");
    return false;
  }
  return true;
}

// Positional tensors of a call; false (reported) when one is not a tensor.
bool GraphBuilder::tensor_args(const Expr &e, std::vector<int> &out) {
  for (const Expr &a : e.args) {
    Val v = eval(a);
    if (v.kind == Val::Bad) return false;
    if (v.kind != Val::Tensor) {
      diags_.error(a.loc, "the arguments of " + e.text + " are tensors, got the number " + expr_to_string(a),
                   a.length);
      return false;
    }
    out.push_back(v.node);
  }
  return true;
}

bool GraphBuilder::only_kwargs(const Expr &e, const std::vector<std::string> &allowed) {
  for (size_t k = 0; k < e.kwargs.size(); ++k) {
    if (std::find(allowed.begin(), allowed.end(), e.kwargs[k].first) != allowed.end()) continue;
    diags_.error(e.kwarg_locs[k], "unknown argument '" + e.kwargs[k].first + "' for " + e.text +
                                      (allowed.empty() ? "; it takes no named arguments" : "; it takes only axis="),
                 static_cast<int>(e.kwargs[k].first.size()));
    return false;
  }
  return true;
}

Val GraphBuilder::eval_tensor_function(const Expr &e) {
  if (e.text == "clip") {  // clip(x, lo, hi) = minimum(maximum(x, lo), hi)
    if (e.args.size() != 3 || !e.kwargs.empty()) {
      diags_.error(e.loc, "clip takes 3 arguments, clip(x, lo, hi), got " + std::to_string(e.args.size()) +
                              (e.kwargs.empty() ? "" : " and named ones"), e.length);
      return Val::bad();
    }
    int ins[3];
    for (int k = 0; k < 3; ++k) {
      Val v = eval(e.args[k]);
      if (v.kind == Val::Bad || (ins[k] = as_node(v, e.args[k].loc)) < 0) return Val::bad();
    }
    int low = emit(Op::Maximum, {ins[0], ins[1]}, {}, e.loc, {}, "clip");
    return Val::tensor(emit(Op::Minimum, {low, ins[2]}, {}, e.loc, {}, "clip"));
  }

  if (e.text == "concat") {  // the sum of each part padded into the result
    if (e.args.size() < 2) {
      diags_.error(e.loc, "concat takes two or more tensors, concat(a, b, ..., axis=-1)", e.length);
      return Val::bad();
    }
    std::vector<int> parts;
    int64_t axis;
    if (!only_kwargs(e, {"axis"}) || !tensor_args(e, parts) || !feature_axis(e, parts[0], axis)) return Val::bad();
    Dims to = g_.nodes[parts[0]].dims;
    to[axis] = 0;
    for (size_t k = 0; k < parts.size(); ++k) {
      const Dims &d = g_.nodes[parts[k]].dims;
      bool fits = d.size() == to.size();
      for (size_t a = 0; fits && a < d.size(); ++a) fits = static_cast<int64_t>(a) == axis || d[a] == to[a];
      if (!fits) {
        diags_.error(e.args[k].loc, "concat: f32" + dims_str(d) + " does not match f32" +
                                        dims_str(g_.nodes[parts[0]].dims) + " on every axis but " +
                                        std::to_string(axis), e.args[k].length);
        return Val::bad();
      }
      to[axis] += d[axis];
    }
    if (checked_elements(to) < 0) {
      diags_.error(e.loc, "concat would give f32" + dims_str(to) + ", more than " + std::to_string(kMaxElements) +
                              " elements", e.length);
      return Val::bad();
    }
    int sum = -1;
    int64_t before = 0;
    for (int part : parts) {
      int padded = emit(Op::Pad, {part}, {{"axis", axis}, {"before", before}}, e.loc, to);
      before += g_.nodes[part].dims[axis];
      sum = sum < 0 ? padded : emit(Op::Add, {sum, padded}, {}, e.loc, {}, "concat");
    }
    return Val::tensor(sum);
  }

  if (e.text == "slice") {  // slice(t, start, stop, axis=-1), Python's t[..., start:stop]
    if (e.args.size() != 3) {
      diags_.error(e.loc, "slice takes 3 arguments, slice(t, start, stop, axis=-1), got " +
                              std::to_string(e.args.size()), e.length);
      return Val::bad();
    }
    Val t = eval(e.args[0]);
    if (t.kind == Val::Bad) return Val::bad();
    if (t.kind != Val::Tensor) {
      diags_.error(e.args[0].loc, "the first argument of slice must be a tensor", e.args[0].length);
      return Val::bad();
    }
    int64_t axis, start, stop;
    if (!only_kwargs(e, {"axis"}) || !feature_axis(e, t.node, axis) || !int_value(e.args[1], "start of slice", start) ||
        !int_value(e.args[2], "stop of slice", stop))
      return Val::bad();
    Dims to = g_.nodes[t.node].dims;
    const int64_t n = to[axis];
    if (start < 0) start += n;
    if (stop < 0) stop += n;
    if (start < 0 || stop > n || start >= stop) {
      diags_.error(e.args[1].loc, "slice " + expr_to_string(e.args[1]) + ":" + expr_to_string(e.args[2]) +
                                      " of axis " + std::to_string(axis) + " (extent " + std::to_string(n) +
                                      ") is empty or out of range");
      return Val::bad();
    }
    if (start == 0 && stop == n) return t;
    to[axis] = stop - start;
    return Val::tensor(emit(Op::Slice, {t.node}, {{"axis", axis}, {"start", start}}, e.loc, to));
  }

  // logsumexp(t, axis=...) = m + log(sum(exp(t - m))), m = max(t): no exp
  // overflows, and the largest term is exactly exp(0).
  if (e.args.size() != 1) {
    diags_.error(e.loc, "logsumexp takes 1 argument and axis=, got " + std::to_string(e.args.size()), e.length);
    return Val::bad();
  }
  if (!only_kwargs(e, {"axis"})) return Val::bad();
  Expr max_call = e;
  max_call.text = "max";
  Val m = eval_call(max_call);
  if (m.kind != Val::Tensor) return Val::bad();
  const Node &reduced = g_.nodes[m.node];
  const int t = reduced.operands[0];
  const auto axes = std::get<std::vector<int64_t>>(*reduced.attr("axes"));
  const Dims full = g_.nodes[t].dims;
  int spread = emit(Op::Expand, {m.node}, {{"axes", axes}}, e.loc, full);
  int terms = emit(Op::Exp, {emit(Op::Sub, {t, spread}, {}, e.loc)}, {}, e.loc);
  int total = emit(Op::Sum, {terms}, {{"axes", axes}}, e.loc, {}, "logsumexp");
  return Val::tensor(emit(Op::Add, {m.node, emit(Op::Log, {total}, {}, e.loc)}, {}, e.loc));
}

// A [batch, d...] value meeting a [batch, samples, d...] one: the batch axes
// line up and the per-example value repeats over the samples (a new axis 1),
// instead of numpy's right-aligned rule, which would pair batch with samples.
int GraphBuilder::align_samples(int node, int other) {
  const Dims &a = g_.nodes[node].dims, &b = g_.nodes[other].dims;
  if (a.empty() || b.size() <= a.size() || a[0] != batch_ || b[0] != batch_) return node;
  std::string unused;
  const std::vector<bool> batched = batched_values(g_, unused);
  // Noise not used yet counts as per example (batch_axes decides by its users).
  auto per_example = [&](int n) { return batched[n] || g_.nodes[n].op == Op::Normal; };
  if (!per_example(node) || !per_example(other)) return node;
  Dims to = a;
  to.insert(to.begin() + 1, b.size() - a.size(), 1);
  return emit(Op::Reshape, {node}, {}, g_.nodes[node].loc, to);
}

}  // namespace vaec
