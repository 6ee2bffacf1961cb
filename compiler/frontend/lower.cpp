// Expression lowering: names, operators, table ops and layer calls become
// graph IR nodes with shapes checked as they are built (contract in lower.h).
#include "frontend/lower.h"

#include "ir/batch_axes.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "ir/printer.h"

namespace vaec {
namespace {

const LayerSpec *find_layer(const std::string &name) {
  for (const LayerSpec &s : layer_specs())
    if (name == s.name) return &s;
  return nullptr;
}

// Table ops callable by name: elementwise and reductions.
std::optional<Op> callable_op(const std::string &name) {
  auto op = op_from_name(name);
  if (!op) return std::nullopt;
  OpKind k = op_info(*op).kind;
  if (k == OpKind::Unary || k == OpKind::Binary || k == OpKind::Reduce) return op;
  return std::nullopt;
}

std::string plural(int n, const char *word) {
  return std::to_string(n) + " " + word + (n == 1 ? "" : "s");
}

}  // namespace

std::vector<std::string> activation_names() {
  std::vector<std::string> v = {"linear", "none"};
  for (const OpInfo &i : all_ops())
    if (i.kind == OpKind::Unary && i.op != Op::Neg && i.op != Op::Step) v.emplace_back(i.name);  // step: gradient 0
  v.emplace_back("leaky_relu");  // slope 0.01
  return v;
}

std::vector<std::string> callable_names() {
  std::vector<std::string> v;
  for (const LayerSpec &s : layer_specs()) v.emplace_back(s.name);
  for (const OpInfo &i : all_ops())
    if (callable_op(std::string(i.name))) v.emplace_back(i.name);
  for (const std::string &f : tensor_function_names()) v.push_back(f);
  for (const std::string &f : distribution_function_names()) v.push_back(f);
  v.emplace_back("param");
  return v;
}

std::string GraphBuilder::fresh_name() {
  std::string base = stack_.empty() ? outside_name : tensors[stack_.back()].name;
  return base + "." + std::to_string(++layer_count_[base + "#tmp"]);
}

int GraphBuilder::emit(Op op, std::vector<int> operands, Attrs attrs, const Loc &loc, Dims declared,
                       const std::string &what, std::string name) {
  for (int o : operands)
    if (o < 0) return -1;
  Node n;
  n.op = op;
  n.operands = std::move(operands);
  n.attrs = std::move(attrs);
  n.loc = loc;
  n.section = stack_.empty() ? outside_section : tensors[stack_.back()].section;
  const OpInfo &info = op_info(op);
  if (info.kind == OpKind::Binary) {
    n.operands[0] = align_samples(n.operands[0], n.operands[1]);
    n.operands[1] = align_samples(n.operands[1], n.operands[0]);
    if (n.operands[0] < 0 || n.operands[1] < 0) return -1;
  }
  if (info.kind == OpKind::Source || info.kind == OpKind::Shape) {
    n.dims = std::move(declared);
  } else {
    std::vector<const Dims *> ins;
    for (int o : n.operands) ins.push_back(&g_.nodes[o].dims);
    ShapeResult r = infer_shape(op, ins, n.attrs);
    if (!r.error.empty()) {
      // Layer shape rules name their op already ("conv2d kernel 9 is ...").
      std::string prefix = what.empty() ? std::string(info.name) : what;
      bool named = r.error.compare(0, prefix.size() + 1, prefix + " ") == 0;
      diags_.error(loc, named ? r.error : prefix + ": " + r.error);
      return -1;
    }
    n.dims = std::move(r.dims);
  }
  if (checked_elements(n.dims) < 0) {
    diags_.error(loc, "the result of " + (what.empty() ? std::string(info.name) : what) + " would be f32" +
                          dims_str(n.dims) + ", more than " + std::to_string(kMaxElements) + " elements");
    return -1;
  }
  n.name = name.empty() ? fresh_name() : std::move(name);
  // A value keeps its operands' sample axis (axis 1) unless a reduction
  // removes it or a reshape folds it into the rows.
  bool sampled = false;
  for (int o : n.operands) sampled = sampled || is_sampled(o);
  if (sampled && (n.dims.size() < 2 || n.dims[1] != axis_k_)) sampled = false;
  if (sampled && info.kind == OpKind::Reduce) {
    const auto &axes = std::get<std::vector<int64_t>>(*n.attr("axes"));
    sampled = std::find(axes.begin(), axes.end(), 1) == axes.end();
  }
  const int added = g_.add(std::move(n));
  if (sampled) sampled_[added] = true;
  return added;
}

int GraphBuilder::add_input(const std::string &name, const Dims &per_example, const Loc &loc, int length) {
  Dims d = {batch_};
  d.insert(d.end(), per_example.begin(), per_example.end());
  if (checked_elements(d) < 0) {
    diags_.error(loc, "input '" + name + "' is too large: a batch of " + std::to_string(batch_) + " is f32" +
                          dims_str(d) + ", more than " + std::to_string(kMaxElements) + " elements",
                 length);
    return -1;
  }
  return emit(Op::Input, {}, {}, loc, d, "", name);
}

int GraphBuilder::add_param(const std::string &suffix, const Dims &dims, int64_t fan_in, int64_t fan_out,
                            const Loc &loc) {
  // PyTorch's default for Linear/Conv/ConvTranspose weights and biases:
  // U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (kaiming_uniform with a=sqrt(5)).
  // Keras: glorot_uniform kernels, zero biases.
  double bound = 1.0 / std::sqrt(static_cast<double>(fan_in));
  if (keras_init) bound = suffix == "b" ? 0.0 : std::sqrt(6.0 / static_cast<double>(fan_in + fan_out));
  const std::string &owner = tensors[stack_.back()].name;
  if (checked_elements(dims) < 0) {
    diags_.error(loc, "the " + std::string(suffix == "w" ? "weight" : "bias") + " of this layer would be f32" +
                          dims_str(dims) + ", more than " + std::to_string(kMaxElements) + " elements");
    return -1;
  }
  int k = ++layer_count_[owner + "#" + suffix];
  int n = emit(Op::Param, {}, {{"init", std::string("uniform")}, {"bound", bound}}, loc, dims, "",
               owner + "." + suffix + (k > 1 ? std::to_string(k) : ""));
  if (n >= 0) param_owner[n] = owner;
  return n;
}

int GraphBuilder::as_node(const Val &v, const Loc &loc) {
  if (v.kind == Val::Tensor) return v.node;
  if (v.kind == Val::Distribution) {
    diags_.error(loc, "a distribution (" + dists[v.dist].text + ") is not a tensor: use rsample(d), log_prob(d, x) "
                      "or kl(q, p)");
    return -1;
  }
  if (v.kind == Val::Num && v.batch && v.expr) return batch_number(*v.expr);
  if (v.kind == Val::Num) return emit(Op::Const, {}, {{"value", v.num}}, loc, {});
  return -1;
}

int GraphBuilder::batch_number(const Expr &e) {
  switch (e.kind) {
  case Expr::Number: return emit(Op::Const, {}, {{"value", e.number}}, e.loc, {});
  case Expr::Name: return emit(Op::BatchSize, {}, {}, e.loc, {});  // eval_name let only `batch` through
  case Expr::Unary: return emit(Op::Neg, {batch_number(e.args[0])}, {}, e.loc);
  case Expr::Binary: {
    const std::string &o = e.text;
    Op op = o == "+" ? Op::Add : o == "-" ? Op::Sub : o == "*" ? Op::Mul : o == "/" ? Op::Div : Op::Pow;
    return emit(op, {batch_number(e.args[0]), batch_number(e.args[1])}, {}, e.loc, {}, "'" + o + "'");
  }
  default: return -1;
  }
}

int GraphBuilder::lower_tensor(int i) {
  TensorDef &t = tensors[i];
  if (t.state == TensorDef::Done) return t.node;
  if (t.state == TensorDef::Failed || !t.parsed) return -1;
  stack_.push_back(i);
  t.state = TensorDef::Busy;
  size_t first_new = g_.nodes.size();
  Val v = eval(t.expr);
  // A distribution is named by its tensor; its node (for shapes and the
  // summary) is its loc or its logits/probs.
  int dist = v.kind == Val::Distribution ? v.dist : -1;
  if (dist >= 0) v = Val::tensor(dists[dist].family == Dist::Normal ? dists[dist].loc
                                 : dists[dist].logits >= 0 ? dists[dist].logits : dists[dist].probs);
  int node = as_node(v, t.expr.loc);
  stack_.pop_back();
  TensorDef &done = tensors[i];  // eval may not grow `tensors`, but keep it obvious
  if (node < 0) {
    done.state = TensorDef::Failed;
    return -1;
  }
  // Name the result after the tensor when this definition created it; an
  // alias (`a: b`) simply shares b's node.
  if (static_cast<size_t>(node) >= first_new) g_.nodes[node].name = done.name;
  done.node = node;
  done.dist = dist;
  if (dist >= 0) dists[dist].text = done.name;
  done.state = TensorDef::Done;
  return node;
}

Val GraphBuilder::eval(const Expr &e) {
  switch (e.kind) {
  case Expr::Number: return Val::number(e.number, e.is_integer, &e);
  case Expr::Name: return eval_name(e);
  case Expr::Binary: return eval_binary(e);
  case Expr::Unary: {
    Val a = eval(e.args[0]);
    if (a.kind == Val::Num) return Val::number(-a.num, a.is_int, &e, a.batch);
    if (a.kind != Val::Tensor) return Val::bad();
    return Val::tensor(emit(Op::Neg, {a.node}, {}, e.loc));
  }
  case Expr::Call: return eval_call(e);
  case Expr::List:
    diags_.error(e.loc, "a list is not a tensor; lists are only for shapes and sizes, as in "
                        "reshape(h, [64, 14, 14]), kernel=[3, 5] or axis=[1, 2]");
    return Val::bad();
  }
  return Val::bad();
}

Val GraphBuilder::eval_name(const Expr &e) {
  if (e.text == "batch") return Val::number(static_cast<double>(batch_), true, &e, true);
  // Training progress in epochs (runtime/abi/plan.h, epoch_value): a tensor,
  // never folded, so that `minimum(1, epoch / 10)` anneals a KL weight.
  if (e.text == "epoch" && !tensor_index.count("epoch")) return Val::tensor(emit(Op::Epoch, {}, {}, e.loc, {}));
  auto it = tensor_index.find(e.text);
  if (it == tensor_index.end()) {
    if (names_incomplete) return Val::bad();
    std::string hint;
    if (!diags_.flooded()) {
      std::vector<std::string> known = {"batch"};
      for (const TensorDef &t : tensors) known.push_back(t.name);
      hint = did_you_mean(e.text, known);
    }
    if (hint.empty() && find_layer(e.text)) hint = "; '" + e.text + "' is a function: call it as " + e.text + "(...)";
    diags_.error(e.loc, "undefined tensor '" + e.text + "'" + hint, e.length);
    return Val::bad();
  }
  TensorDef &t = tensors[it->second];
  if (t.state == TensorDef::Busy) {
    std::string path;
    bool in_cycle = false;
    for (int s : stack_) {
      if (s == it->second) in_cycle = true;
      if (in_cycle) path += tensors[s].name + " -> ";
    }
    Diagnostic &d = diags_.error(e.loc, "cycle: tensor '" + t.name + "' depends on itself (" + path + t.name + ")", e.length);
    Diagnostics::note(d, t.loc, "'" + t.name + "' is defined here");
    for (int s : stack_)
      if (tensors[s].state == TensorDef::Busy) tensors[s].state = TensorDef::Failed;
    return Val::bad();
  }
  // Lowering follows names used before their definition recursively; a
  // chain of thousands of them would overflow the stack.
  if (t.state == TensorDef::Todo && stack_.size() >= kMaxForwardChain) {
    if (!chain_reported_)
      diags_.error(e.loc, "more than " + std::to_string(kMaxForwardChain) + " tensors in a row use a name defined "
                          "after them; define tensors before they are used", e.length);
    chain_reported_ = true;
    return Val::bad();
  }
  int n = lower_tensor(it->second);
  if (n >= 0 && tensors[it->second].dist >= 0) return Val::distribution(tensors[it->second].dist);
  return n < 0 ? Val::bad() : Val::tensor(n);
}

Val GraphBuilder::eval_binary(const Expr &e) {
  Val a = eval(e.args[0]);
  Val b = eval(e.args[1]);
  if (a.kind == Val::Bad || b.kind == Val::Bad) return Val::bad();
  const std::string &o = e.text;
  if (a.kind == Val::Num && b.kind == Val::Num) {  // fold arithmetic on numbers
    double r = o == "+" ? a.num + b.num : o == "-" ? a.num - b.num : o == "*" ? a.num * b.num
             : o == "/" ? a.num / b.num : std::pow(a.num, b.num);
    if (!std::isfinite(r)) {
      std::string text = expr_to_string(e);  // "(1 / 0)"
      diags_.error(e.loc, "'" + text.substr(1, text.size() - 2) + "' is not a finite number");
      return Val::bad();
    }
    bool is_int = a.is_int && b.is_int && o != "/" && r == std::floor(r) && std::fabs(r) < 9e15;
    return Val::number(r, is_int, &e, a.batch || b.batch);
  }
  Op op = o == "+" ? Op::Add : o == "-" ? Op::Sub : o == "*" ? Op::Mul : o == "/" ? Op::Div : Op::Pow;
  int x = as_node(a, e.args[0].loc), y = as_node(b, e.args[1].loc);
  return Val::tensor(emit(op, {x, y}, {}, e.loc, {}, "'" + o + "'"));
}

// param([d1, ...], init=0 | init=uniform(B)): a free learned tensor of that
// shape (no batch axis; it broadcasts against per-example values), zeros or
// U(-B, B) at the start. Named after its tensor: `logsigma.p`.
Val GraphBuilder::eval_param(const Expr &e) {
  const char *usage = "param([d1, ...], init=0) or param([d1, ...], init=uniform(B))";
  if (e.args.size() != 1 || e.args[0].kind != Expr::List || e.args[0].args.empty() || e.args[0].args.size() > 6) {
    diags_.error(e.loc, std::string("param takes its shape as a list: ") + usage, e.length);
    return Val::bad();
  }
  Dims dims;
  for (const Expr &d : e.args[0].args) {
    if (d.kind != Expr::Number || !d.is_integer || !(d.number >= 1 && d.number <= (1 << 24))) {
      diags_.error(d.loc, "a dimension of param must be an integer from 1 to 16777216, got " + expr_to_string(d),
                   d.length);
      return Val::bad();
    }
    dims.push_back(static_cast<int64_t>(d.number));
  }
  double bound = 0;
  for (size_t k = 0; k < e.kwargs.size(); ++k) {
    const auto &[key, v] = e.kwargs[k];
    const bool zero = v.kind == Expr::Number && v.number == 0;
    const bool uniform = v.kind == Expr::Call && v.text == "uniform" && v.args.size() == 1 &&
                         v.args[0].kind == Expr::Number && v.args[0].number > 0 && v.kwargs.empty();
    if (key != "init" || (!zero && !uniform)) {
      diags_.error(key != "init" ? e.kwarg_locs[k] : v.loc, std::string("param's initialisation is ") + usage,
                   key != "init" ? static_cast<int>(key.size()) : v.length);
      return Val::bad();
    }
    if (uniform) bound = v.args[0].number;
  }
  if (checked_elements(dims) < 0) {
    diags_.error(e.loc, "param would be f32" + dims_str(dims) + ", more than " + std::to_string(kMaxElements) + " elements");
    return Val::bad();
  }
  const std::string &owner = tensors[stack_.back()].name;
  int k = ++layer_count_[owner + "#p"];
  int n = emit(Op::Param, {}, {{"init", std::string("uniform")}, {"bound", bound}}, e.loc, dims, "",
               owner + ".p" + (k > 1 ? std::to_string(k) : ""));
  if (n >= 0) param_owner[n] = owner;
  return n < 0 ? Val::bad() : Val::tensor(n);
}

Val GraphBuilder::eval_call(const Expr &e) {
  if (find_layer(e.text)) return call_layer(e);
  if (e.text == "param") return eval_param(e);
  const auto &declared = distribution_function_names();
  if (std::find(declared.begin(), declared.end(), e.text) != declared.end()) return eval_distribution_call(e);
  const auto &functions = tensor_function_names();
  if (std::find(functions.begin(), functions.end(), e.text) != functions.end()) return eval_tensor_function(e);
  auto op = callable_op(e.text);
  if (!op) {
    std::string hint = tensor_index.count(e.text) ? "; '" + e.text + "' is a tensor, not a function"
                                                  : did_you_mean(e.text, callable_names());
    diags_.error(e.loc, "unknown function '" + e.text + "'" + hint, e.length);
    return Val::bad();
  }
  const OpInfo &info = op_info(*op);
  int want = info.arity;
  if (static_cast<int>(e.args.size()) != want) {
    std::string hint;
    if (info.kind == OpKind::Reduce && e.args.size() == 2)
      hint = "; give the axis by name: " + e.text + "(" + expr_to_string(e.args[0]) + ", axis=" +
             expr_to_string(e.args[1]) + ")";
    diags_.error(e.loc, e.text + " takes " + plural(want, "argument") + ", got " +
                            std::to_string(e.args.size()) + hint, e.length);
    return Val::bad();
  }
  std::vector<std::string> allowed;
  if (info.kind == OpKind::Reduce) allowed = {"axis"};
  for (size_t k = 0; k < e.kwargs.size(); ++k)
    if (std::find(allowed.begin(), allowed.end(), e.kwargs[k].first) == allowed.end()) {
      std::string hint = did_you_mean(e.kwargs[k].first, allowed);
      if (hint.empty()) hint = allowed.empty() ? "; it takes no named arguments" : "; it takes only axis=";
      diags_.error(e.kwarg_locs[k], "unknown argument '" + e.kwargs[k].first + "' for " + e.text + hint,
                   static_cast<int>(e.kwargs[k].first.size()));
      return Val::bad();
    }
  std::vector<int> ins;
  for (const Expr &a : e.args) {
    Val v = eval(a);
    if (v.kind == Val::Bad) return Val::bad();
    ins.push_back(as_node(v, a.loc));
  }
  for (int n : ins)
    if (n < 0) return Val::bad();
  Attrs attrs;
  if (info.kind == OpKind::Reduce) {
    int64_t rank = static_cast<int64_t>(g_.nodes[ins[0]].dims.size());
    std::vector<int64_t> axes;
    const Expr *axis = e.kwargs.empty() ? nullptr : &e.kwargs[0].second;
    if (!axis) {
      for (int64_t i = 0; i < rank; ++i) axes.push_back(i);
    } else {
      std::vector<const Expr *> items;
      if (axis->kind == Expr::List) for (const Expr &it : axis->args) items.push_back(&it);
      else items.push_back(axis);
      for (const Expr *it : items) {
        Val v = eval(*it);
        if (v.kind != Val::Num || !v.is_int || v.batch) {
          if (v.kind != Val::Bad) diags_.error(it->loc, "axis must be an integer (0 is the batch axis)");
          return Val::bad();
        }
        // Range-check the double first: casting 1e20 to int64_t is undefined.
        int64_t a = v.num >= -rank && v.num < rank ? static_cast<int64_t>(v.num) : rank;
        if (a < -rank || a >= rank) {
          diags_.error(it->loc, "axis " + expr_to_string(*it) + " is out of range for f32" +
                                    dims_str(g_.nodes[ins[0]].dims) + " (axis 0 is the batch)");
          return Val::bad();
        }
        if (a < 0) a += rank;
        if (std::find(axes.begin(), axes.end(), a) != axes.end()) {
          diags_.error(it->loc, "axis " + std::to_string(a) + " is listed twice");
          return Val::bad();
        }
        axes.push_back(a);
      }
      std::sort(axes.begin(), axes.end());
    }
    attrs.emplace_back("axes", axes);
    // A mean over the batch axis divides by the run's batch: sum / (n * batch_size()).
    std::string unused;
    const std::vector<bool> batched = batched_values(g_, unused);
    if (*op == Op::Mean && !axes.empty() && axes[0] == 0 && ins[0] < static_cast<int>(batched.size()) &&
        batched[ins[0]]) {
      double count = 1;
      for (int64_t a : axes)
        if (a != 0) count *= static_cast<double>(g_.nodes[ins[0]].dims[a]);
      const int sum = emit(Op::Sum, ins, attrs, e.loc, {}, e.text);
      int denominator = emit(Op::BatchSize, {}, {}, e.loc, {});
      if (count != 1) denominator = emit(Op::Mul, {emit(Op::Const, {}, {{"value", count}}, e.loc, {}), denominator}, {}, e.loc);
      return Val::tensor(emit(Op::Div, {sum, denominator}, {}, e.loc, {}, e.text));
    }
  }
  return Val::tensor(emit(*op, ins, attrs, e.loc, {}, e.text));
}

}  // namespace vaec
