// Layer calls in model expressions: dense, conv2d, conv2d_transpose, reshape,
// flatten, normal_like. Each checks its arguments, creates its parameters
// (PyTorch layouts and default initialisation) and emits IR nodes. Output
// shapes follow Keras for padding=same/valid and PyTorch for integer padding.
#include <algorithm>
#include <cmath>

#include "abi/normal_quantile.h"
#include "frontend/lower.h"
#include "ir/batch_axes.h"
#include "ir/printer.h"

namespace vaec {
namespace {

// Largest size accepted for units, filters, kernels and strides.
constexpr int64_t kMaxSize = 1 << 24;

struct Args {
  const Expr &call;
  Diagnostics &diags;
  const Expr *kwarg(const char *name) const {
    for (const auto &[k, v] : call.kwargs)
      if (k == name) return &v;
    return nullptr;
  }
};

}  // namespace

const std::vector<LayerSpec> &layer_specs() {
  static const std::vector<LayerSpec> specs = {
      {"dense", 2, "dense(input, units, act=none)", {"act"}},
      {"conv2d", 3, "conv2d(input, filters, kernel, stride=1, padding=valid, act=none)",
       {"stride", "padding", "act"}},
      {"conv2d_transpose", 3,
       "conv2d_transpose(input, filters, kernel, stride=1, padding=valid, output_padding=0, act=none)",
       {"stride", "padding", "output_padding", "act"}},
      {"reshape", 2, "reshape(input, [d1, d2, ...])  (per example; one -1 allowed)", {}},
      {"flatten", 1, "flatten(input)", {}},
      {"normal_like", 1, "normal_like(tensor, samples=1)  (samples=k: [batch, k, ...], k draws per example)",
       {"samples"}},
      {"dropout", 2, "dropout(tensor, p)  (training only: zeroes each element with probability p)", {}},
      {"batchnorm", 1, "batchnorm(input, momentum=0.1, eps=1e-5)  (over the batch, per feature or channel)",
       {"momentum", "eps"}},
  };
  return specs;
}

Val GraphBuilder::call_layer(const Expr &e) {
  // Keyword names and argument count first, so misuse is reported before any
  // operand is lowered.
  const LayerSpec *spec = &layer_specs()[0];
  for (const LayerSpec &l : layer_specs())
    if (l.name == e.text) spec = &l;
  const std::string &name = spec->name;
  const int nargs = spec->args;
  const std::string &usage = spec->usage;
  const std::vector<std::string> &kwargs = spec->kwargs;
  for (size_t k = 0; k < e.kwargs.size(); ++k) {
    const std::string &key = e.kwargs[k].first;
    if (std::find(kwargs.begin(), kwargs.end(), key) != kwargs.end()) continue;
    std::string hint = did_you_mean(key, kwargs);
    bool close = !hint.empty();
    // Keras spells two of them differently.
    std::string keras = key == "activation" ? "act" : key == "strides" ? "stride" : "";
    if (!close && !keras.empty() && std::find(kwargs.begin(), kwargs.end(), keras) != kwargs.end()) {
      hint = "; did you mean '" + keras + "'?";
      close = true;
    }
    if (!close && (usage.find("(" + key + ",") != std::string::npos || usage.find(" " + key + ",") != std::string::npos))
      hint = "; " + key + " is given by position";
    diags_.error(e.kwarg_locs[k], "unknown argument '" + key + "' for " + name + hint + (close ? "" : "; usage: " + usage),
                 static_cast<int>(key.size()));
    return Val::bad();
  }
  if (static_cast<int>(e.args.size()) != nargs) {
    diags_.error(e.loc, name + " takes " + std::to_string(nargs) + " positional argument" +
                            (nargs == 1 ? "" : "s") + ", got " + std::to_string(e.args.size()) +
                            "; usage: " + usage, e.length);
    return Val::bad();
  }
  Args args{e, diags_};

  // The input tensor.
  Val in = eval(e.args[0]);
  if (in.kind == Val::Bad) return Val::bad();
  if (in.kind != Val::Tensor) {
    diags_.error(e.args[0].loc, "the first argument of " + name + " must be a tensor, got a number");
    return Val::bad();
  }
  Dims x = g_.nodes[in.node].dims;

  // Integer arguments (units, filters, kernel, stride) may be arithmetic on
  // numbers, e.g. dense(z, 64 * 14 * 14), but not on `batch`.
  auto int_arg = [&](const Expr &a, const std::string &what, int64_t lo, int64_t &out) {
    std::string written = a.kind == Expr::Number ? a.text : expr_to_string(a);
    if (a.kind == Expr::List) {
      diags_.error(a.loc, what + " of " + name + " must be an integer, got a list");
      return false;
    }
    Val v = eval(a);
    if (v.kind == Val::Bad) return false;
    if (v.kind == Val::Tensor) {
      diags_.error(a.loc, what + " of " + name + " must be an integer, got the tensor '" + written + "'", a.length);
      return false;
    }
    if (v.batch) {
      diags_.error(a.loc, what + " of " + name + " cannot depend on 'batch': sizes are per example, and a "
                          "trainer runs any batch with the same plan", a.length);
      return false;
    }
    bool in_range = v.num >= static_cast<double>(lo) && v.num <= static_cast<double>(kMaxSize);
    if (!v.is_int && (v.num != std::floor(v.num) || !in_range)) {
      diags_.error(a.loc, what + " of " + name + " must be an integer" +
                              (v.num == std::floor(v.num) ? " between " + std::to_string(lo) + " and " +
                                                                std::to_string(kMaxSize)
                                                          : "") +
                              ", got " + written, a.length);
      return false;
    }
    if (!in_range) {
      diags_.error(a.loc, what + " of " + name + " must be between " + std::to_string(lo) + " and " +
                              std::to_string(kMaxSize) + ", got " + written, a.length);
      return false;
    }
    if (!v.is_int) {  // 1e3 or 2.0: a whole number, but written as a real one
      diags_.error(a.loc, what + " of " + name + " must be written as an integer, e.g. " +
                              std::to_string(static_cast<int64_t>(v.num)) + ", got " + written, a.length);
      return false;
    }
    out = static_cast<int64_t>(v.num);
    return true;
  };
  // An int or a list of two ints: kernel=3 or kernel=[3, 5].
  auto pair_arg = [&](const Expr &a, const std::string &what, int64_t lo, int64_t out[2]) {
    if (a.kind == Expr::List) {
      if (a.args.size() != 2) {
        diags_.error(a.loc, what + " of " + name + " must be one integer or a list of two");
        return false;
      }
      return int_arg(a.args[0], what, lo, out[0]) && int_arg(a.args[1], what, lo, out[1]);
    }
    if (!int_arg(a, what, lo, out[0])) return false;
    out[1] = out[0];
    return true;
  };

  if (name == "normal_like") {
    int64_t k = 0;
    const Expr *a = args.kwarg("samples");
    if (a && !int_arg(*a, "samples", 1, k)) return Val::bad();
    return Val::tensor(draw_normal(x, k, e.loc, a, expr_to_string(e.args[0])));
  }

  // dropout(x, p) = x * dropout_mask(z - q, 1 / (1 - p)), z ~ N(0, 1) and
  // q = Phi^-1(p): each element kept with probability P(z > q) = 1 - p and
  // scaled by 1 / (1 - p), from the same Philox draws as normal_like. Eval
  // programs take the mask as 1 (passes/eval_mode.cpp).
  if (name == "dropout") {
    Val p = eval(e.args[1]);
    if (p.kind == Val::Bad) return Val::bad();
    if (p.kind != Val::Num || p.batch || !(p.num >= 0 && p.num < 1)) {
      diags_.error(e.args[1].loc, "the rate of dropout is a number in [0, 1), got " + expr_to_string(e.args[1]),
                   e.args[1].length);
      return Val::bad();
    }
    if (p.num == 0) return in;
    int z = emit(Op::Normal, {}, {}, e.loc, x);
    int s = emit(Op::Sub, {z, emit(Op::Const, {}, {{"value", normal_quantile(p.num)}}, e.loc, {})}, {}, e.loc);
    int mask = emit(Op::DropoutMask, {s, emit(Op::Const, {}, {{"value", 1.0 / (1.0 - p.num)}}, e.loc, {})}, {}, e.loc);
    return Val::tensor(emit(Op::Mul, {in.node, mask}, {}, e.loc));
  }

  if (name == "batchnorm") return batchnorm(e, in.node);

  if (name == "flatten" || name == "reshape") {
    if (x.empty()) {  // a scalar (e.g. a loss) has no batch dimension to keep
      diags_.error(e.args[0].loc, name + " needs a tensor with a batch dimension, got a scalar");
      return Val::bad();
    }
    // Values with samples ([batch, k, ...], see normal_like) keep axis 1.
    const bool sampled = is_sampled(in.node);
    int64_t total = checked_elements(x) / x[0] / (sampled ? x[1] : 1);
    Dims to = {x[0]};
    if (sampled) to.push_back(x[1]);
    if (name == "flatten") {
      to.push_back(total);
    } else {
      const Expr &shape = e.args[1];
      if (shape.kind != Expr::List || shape.args.empty() || shape.args.size() > 8) {
        diags_.error(shape.loc, "the shape of reshape must be a list such as [64, 14, 14] "
                                "(per example, without the batch)");
        return Val::bad();
      }
      int infer = -1;
      int64_t known = 1;
      for (size_t i = 0; i < shape.args.size(); ++i) {
        const Expr &d = shape.args[i];
        if (d.kind == Expr::Number && d.is_integer && d.number == -1) {
          if (infer >= 0) {
            diags_.error(d.loc, "reshape allows at most one -1");
            return Val::bad();
          }
          infer = static_cast<int>(i);
          to.push_back(-1);
          continue;
        }
        int64_t v;
        if (!int_arg(d, "dimension " + std::to_string(i + 1), 1, v)) return Val::bad();
        to.push_back(v);
        known *= v;
        if (known > kMaxElements) break;
      }
      if (infer >= 0) {
        if (total % known != 0) {
          diags_.error(shape.loc, "cannot reshape f32" + dims_str(x) + " to " + expr_to_string(shape) +
                                      ": " + std::to_string(total) + " is not divisible by " +
                                      std::to_string(known));
          return Val::bad();
        }
        to[infer + (sampled ? 2 : 1)] = total / known;
      } else if (known != total) {
        diags_.error(shape.loc, "cannot reshape f32" + dims_str(x) + " to " + expr_to_string(shape) +
                                    " per example: " + std::to_string(total) + " elements vs " +
                                    (known > kMaxElements ? "too many" : std::to_string(known)));
        return Val::bad();
      }
    }
    return Val::tensor(emit(Op::Reshape, {in.node}, {}, e.loc, to));
  }

  if (name == "dense") {
    int64_t units;
    if (!int_arg(e.args[1], "units", 1, units)) return Val::bad();
    // On [batch, k, features] (samples), dense acts on the last axis of each.
    const bool sampled = is_sampled(in.node) && x.size() == 3;
    if (x.size() != 2 && !sampled) {
      diags_.error(e.args[0].loc, std::string("dense expects a [batch, features] input") +
                                      (samples_ > 1 ? " (or [batch, samples, features])" : "") + ", but '" +
                                      expr_to_string(e.args[0]) + "' is f32" + dims_str(x) +
                                      "; flatten it first");
      return Val::bad();
    }
    const int64_t features = x.back();
    if (checked_elements({units, features}) < 0) {
      diags_.error(e.loc, "the weight of dense would be f32" + dims_str({units, features}) + ", more than " +
                              std::to_string(kMaxElements) + " elements; use fewer units",
                   e.length);
      return Val::bad();
    }
    int w = add_param("w", {units, features}, features, units, e.loc);
    int b = add_param("b", {units}, features, units, e.loc);
    const int rows = sampled ? emit(Op::Reshape, {in.node}, {}, e.loc, {x[0] * x[1], x[2]}) : in.node;
    int y = apply_act(e, emit(Op::Dense, {rows, w, b}, {}, e.loc));
    if (sampled && y >= 0) {
      y = emit(Op::Reshape, {y}, {}, e.loc, {x[0], x[1], units});
      if (y >= 0) sampled_[y] = true;
    }
    return Val::tensor(y);
  }

  // conv2d and conv2d_transpose.
  bool transpose = name == "conv2d_transpose";
  int64_t filters, k[2], s[2] = {1, 1}, op[2] = {0, 0};
  if (!int_arg(e.args[1], "filters", 1, filters) || !pair_arg(e.args[2], "kernel", 1, k)) return Val::bad();
  if (const Expr *a = args.kwarg("stride"))
    if (!pair_arg(*a, "stride", 1, s)) return Val::bad();
  if (const Expr *a = args.kwarg("output_padding"))
    if (!pair_arg(*a, "output_padding", 0, op)) return Val::bad();
  // On [batch, k, channels, height, width] (samples): over the k * batch images.
  const bool sampled = is_sampled(in.node) && x.size() == 5;
  if (sampled) x = {x[0] * x[1], x[2], x[3], x[4]};
  if (x.size() != 4) {
    diags_.error(e.args[0].loc, name + " expects a [batch, channels, height, width] input, but '" +
                                    expr_to_string(e.args[0]) + "' is f32" + dims_str(x) +
                                    "; declare images as [channels, height, width] or reshape");
    return Val::bad();
  }
  // pad = [top, left, bottom, right]
  std::vector<int64_t> pad(4, 0);
  const Expr *p = args.kwarg("padding");
  std::string mode = "valid";
  int64_t explicit_pad[2] = {0, 0};
  if (p && p->kind == Expr::Name) {
    mode = p->text;
    if (mode != "same" && mode != "valid") {
      diags_.error(p->loc, "padding must be 'same', 'valid' or an integer, got '" + mode + "'" +
                               did_you_mean(mode, {"same", "valid"}), p->length);
      return Val::bad();
    }
  } else if (p) {
    mode = "explicit";
    if (!pair_arg(*p, "padding", 0, explicit_pad)) return Val::bad();
  }
  for (int i = 0; i < 2; ++i) {
    int64_t in_size = x[2 + i], lo = 0, hi = 0;
    if (op[i] >= s[i]) {
      diags_.error(args.kwarg("output_padding")->loc,
                   "output_padding (" + std::to_string(op[i]) + ") must be smaller than the stride (" +
                       std::to_string(s[i]) + ")");
      return Val::bad();
    }
    if (mode == "same") {
      if (!transpose) {  // Keras/TF: out = ceil(in / s), extra padding at the end
        int64_t out = (in_size + s[i] - 1) / s[i];
        int64_t total = std::max<int64_t>((out - 1) * s[i] + k[i] - in_size, 0);
        lo = total / 2;
        hi = total - lo;
      } else {  // out = in * s
        int64_t total = k[i] - s[i];
        lo = total >= 0 ? total / 2 : 0;
        hi = total >= 0 ? total - lo : total;
      }
    } else if (mode == "valid") {
      if (transpose) hi = std::min<int64_t>(0, k[i] - s[i]);  // Keras: out = in*s + max(k-s, 0)
    } else {
      lo = explicit_pad[i];
      hi = explicit_pad[i];
    }
    if (transpose) hi -= op[i];  // PyTorch output_padding adds rows at the end
    else if (op[i] != 0) {
      diags_.error(args.kwarg("output_padding")->loc, "output_padding is only for conv2d_transpose");
      return Val::bad();
    }
    pad[i] = lo;
    pad[2 + i] = hi;
  }
  int64_t cin = x[1];
  Dims wdims = transpose ? Dims{cin, filters, k[0], k[1]} : Dims{filters, cin, k[0], k[1]};
  // PyTorch computes fan_in from weight dims 1..: in*kh*kw for conv, out*kh*kw
  // for the transpose (its weight is [in, out, kh, kw]).
  if (checked_elements(wdims) < 0) {
    diags_.error(e.loc, "the weight of " + name + " would be f32" + dims_str(wdims) + ", more than " +
                            std::to_string(kMaxElements) + " elements; use fewer filters or a smaller kernel",
                 e.length);
    return Val::bad();
  }
  int64_t fan_in = wdims[1] * k[0] * k[1];  // after the size check: cannot overflow
  int64_t fan_out = wdims[0] * k[0] * k[1];  // Keras's glorot counts the other channel dim
  int w = add_param("w", wdims, fan_in, fan_out, e.loc);
  int b = add_param("b", {filters}, fan_in, fan_out, e.loc);
  Attrs attrs = {{"stride", std::vector<int64_t>{s[0], s[1]}}, {"pad", pad}};
  const int images = sampled ? emit(Op::Reshape, {in.node}, {}, e.loc, x) : in.node;
  int y = apply_act(e, emit(transpose ? Op::Conv2dTranspose : Op::Conv2d, {images, w, b}, attrs, e.loc));
  if (sampled && y >= 0) {
    Dims out = g_.nodes[y].dims;
    out[0] /= axis_k_;
    out.insert(out.begin() + 1, axis_k_);
    y = emit(Op::Reshape, {y}, {}, e.loc, out);
    if (y >= 0) sampled_[y] = true;
  }
  return Val::tensor(y);
}

// batchnorm(x): y = gamma * (x - m) / sqrt(v + eps) + beta per feature
// ([batch, d]) or channel ([batch, C, H, W]), m and v the batch's mean and
// (biased) variance in training, the running ones in eval programs
// (train_value), which the train program updates as PyTorch does:
// r <- (1 - momentum) r + momentum * batch value, the variance unbiased.
Val GraphBuilder::batchnorm(const Expr &e, int x) {
  const Dims d = g_.nodes[x].dims;
  auto number = [&](const char *key, double fallback, double lo, double hi, bool with_hi, double &out) {
    out = fallback;
    for (const auto &[k, v] : e.kwargs)
      if (k == key) {
        Val n = eval(v);
        if (n.kind == Val::Bad) return false;
        if (n.kind != Val::Num || n.batch || !(n.num > lo && (n.num < hi || (with_hi && n.num == hi)))) {
          diags_.error(v.loc, std::string(key) + " of batchnorm is a number in (" + format_f64(lo) + ", " +
                                  format_f64(hi) + (with_hi ? "]" : ")") + ", got " + expr_to_string(v), v.length);
          return false;
        }
        out = n.num;
      }
    return true;
  };
  double momentum, eps;
  if (!number("momentum", 0.1, 0, 1, true, momentum) || !number("eps", 1e-5, 0, 1, false, eps)) return Val::bad();
  std::string unused;
  const std::vector<bool> batched = batched_values(g_, unused);
  if ((d.size() != 2 && d.size() != 4) || !batched[x]) {
    diags_.error(e.args[0].loc, "batchnorm normalizes over the batch a [batch, features] or [batch, channels, "
                                "height, width] value, but '" + expr_to_string(e.args[0]) + "' is f32" + dims_str(d) +
                                (d.empty() ? " (a scalar)" : batched[x] ? "" : ", not per example"),
                 e.args[0].length);
    return Val::bad();
  }
  const std::vector<int64_t> axes = d.size() == 2 ? std::vector<int64_t>{0} : std::vector<int64_t>{0, 2, 3};
  const Dims per = {d[1]};
  const int64_t pixels = d.size() == 4 ? d[2] * d[3] : 1;
  const std::string &owner = tensors[stack_.back()].name;
  auto make = [&](Op op, const std::string &suffix, Attrs attrs) {
    int n = emit(op, {}, std::move(attrs), e.loc, per, "", owner + "." + suffix);
    if (op == Op::Param && n >= 0) param_owner[n] = owner;
    return n;
  };
  const int gamma = make(Op::Param, "gamma", {{"init", std::string("ones")}, {"bound", 0.0}});
  const int beta = make(Op::Param, "beta", {{"init", std::string("uniform")}, {"bound", 0.0}});
  const int running_mean = make(Op::Stat, "running_mean", {{"init", 0.0}});
  const int running_var = make(Op::Stat, "running_var", {{"init", 1.0}});
  auto c = [&](double v) { return emit(Op::Const, {}, {{"value", v}}, e.loc, {}); };
  // Per-channel values meet [batch, C, H, W] as [C, 1, 1].
  auto spread = [&](int v) { return d.size() == 2 ? v : emit(Op::Reshape, {v}, {}, e.loc, {d[1], 1, 1}); };
  const int count = emit(Op::Mul, {emit(Op::BatchSize, {}, {}, e.loc, {}), c(double(pixels))}, {}, e.loc);
  auto batch_mean = [&](int v) { return emit(Op::Div, {emit(Op::Sum, {v}, {{"axes", axes}}, e.loc), count}, {}, e.loc); };
  const int m = batch_mean(x);
  const int mean = emit(Op::TrainValue, {m, running_mean}, {}, e.loc);
  const int centred = emit(Op::Sub, {x, spread(mean)}, {}, e.loc);
  const int v = batch_mean(emit(Op::Mul, {centred, centred}, {}, e.loc));
  const int var = emit(Op::TrainValue, {v, running_var}, {}, e.loc);
  const int inv = emit(Op::Div, {c(1.0), emit(Op::Sqrt, {emit(Op::Add, {var, c(eps)}, {}, e.loc)}, {}, e.loc)}, {}, e.loc);
  const int scaled = emit(Op::Mul, {centred, spread(emit(Op::Mul, {gamma, inv}, {}, e.loc))}, {}, e.loc);
  const int y = emit(Op::Add, {scaled, spread(beta)}, {}, e.loc);
  // The statistics' next values: outputs update.NAME of the train program.
  auto blend = [&](int r, int batch_value) {
    return emit(Op::Add, {emit(Op::Mul, {r, c(1 - momentum)}, {}, e.loc), emit(Op::Mul, {batch_value, c(momentum)}, {}, e.loc)},
                {}, e.loc);
  };
  const int unbiased = emit(Op::Mul, {v, emit(Op::Div, {count, emit(Op::Sub, {count, c(1.0)}, {}, e.loc)}, {}, e.loc)}, {}, e.loc);
  if (gamma < 0 || beta < 0 || running_mean < 0 || running_var < 0 || y < 0 || unbiased < 0) return Val::bad();
  // Blend before naming: emitting may reallocate g_.nodes, and a name read
  // first (as argument order allows) would be copied from freed memory.
  const int next_mean = blend(running_mean, m), next_var = blend(running_var, unbiased);
  updates.emplace_back(g_.nodes[running_mean].name, next_mean);
  updates.emplace_back(g_.nodes[running_var].name, next_var);
  return Val::tensor(y);
}

int GraphBuilder::apply_act(const Expr &call, int node) {
  if (node < 0) return -1;
  const Expr *act = nullptr;
  for (const auto &[k, v] : call.kwargs)
    if (k == "act") act = &v;
  if (!act) return node;
  std::vector<std::string> names = activation_names();
  if (act->kind != Expr::Name || std::find(names.begin(), names.end(), act->text) == names.end()) {
    std::string got = act->kind == Expr::Name ? act->text : expr_to_string(*act);
    std::string hint = did_you_mean(got, names);
    diags_.error(act->loc, "unknown activation '" + got + "'" +
                               (hint.empty() ? "; choose one of relu, leaky_relu, sigmoid, tanh, softplus, exp, linear" : hint),
                 act->length);
    return -1;
  }
  if (act->text == "linear" || act->text == "none") return node;
  if (act->text == "leaky_relu")  // PyTorch's default slope; leaky_relu(x, s) for another
    return emit(Op::LeakyRelu, {node, as_node(Val::number(0.01, false, act), act->loc)}, {}, act->loc);
  return emit(*op_from_name(act->text), {node}, {}, act->loc);
}

}  // namespace vaec
