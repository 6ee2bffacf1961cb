// Distributions as values in model expressions: normal(loc, scale) (or
// logvar= / scale=), bernoulli(logits=) / bernoulli(probs=), and what a model
// does with them: rsample(q) (q's reparameterized sample, samples=k for k of
// them), log_prob(d, x) (element-wise log density) and kl(q, p) (element-wise
// KL divergence of two normals). All lower to ordinary table ops; the
// builder also records them so that load_model can tell the likelihood, each
// latent's posterior and prior, and the inspection programs need no pattern
// matching.
#include <algorithm>
#include <cmath>
#include <numbers>

#include "frontend/lower.h"
#include "ir/batch_axes.h"
#include "ir/printer.h"

namespace vaec {

const std::vector<std::string> &distribution_function_names() {
  static const std::vector<std::string> names = {"normal", "bernoulli", "rsample", "log_prob", "kl"};
  return names;
}

int GraphBuilder::draw_normal(const Dims &x, int64_t k, const Loc &loc, const Expr *samples_expr,
                              const std::string &what) {
  if (k == 0) return emit(Op::Normal, {}, {}, loc, x);
  const Loc &at = samples_expr ? samples_expr->loc : loc;
  const int length = samples_expr ? samples_expr->length : 1;
  if (x.empty() || x[0] != batch_) {
    diags_.error(at, "samples= draws several values per example, but '" + what + "' is f32" + dims_str(x) +
                         ", not per example", length);
    return -1;
  }
  if (samples_ > 0 && k != samples_) {
    diags_.error(at, "samples=" + std::to_string(k) + " differs from the samples=" + std::to_string(samples_) +
                         " used before: a model draws one number of samples", length);
    return -1;
  }
  samples_ = k;
  // The inspection programs' model (see load_model) keeps the axis, with one
  // sample: expressions over it still hold.
  if (one_sample) k = 1;
  axis_k_ = k;
  Dims d = x;
  d.insert(d.begin() + 1, k);
  const int z = emit(Op::Normal, {}, {}, loc, d);
  if (z >= 0) sampled_[z] = true;
  return z;
}

int GraphBuilder::elementwise_log_prob(const Dist &d, int value, const Loc &loc) {
  auto c = [&](double v) { return emit(Op::Const, {}, {{"value", v}}, loc, {}); };
  if (d.family == Dist::Bernoulli)  // log p = -bce: stable from logits
    return emit(Op::Neg, {d.logits >= 0 ? emit(Op::BceLogits, {d.logits, value}, {}, loc)
                                        : emit(Op::Bce, {d.probs, value}, {}, loc)},
                {}, loc);
  // -((v - loc) / scale)^2 / 2 - log scale - log(2 pi) / 2
  const int u = emit(Op::Div, {emit(Op::Sub, {value, d.loc}, {}, loc), d.scale}, {}, loc);
  const int log_scale = d.log_scale >= 0 ? d.log_scale : emit(Op::Log, {d.scale}, {}, loc);
  const int quad = emit(Op::Mul, {c(-0.5), emit(Op::Mul, {u, u}, {}, loc)}, {}, loc);
  return emit(Op::Sub, {emit(Op::Sub, {quad, log_scale}, {}, loc), c(0.5 * std::log(2 * std::numbers::pi))}, {},
              loc);
}

int GraphBuilder::log_density(int dist, int value, const Loc &loc) {
  const int lp = elementwise_log_prob(dists[dist], value, loc);
  if (lp < 0) return -1;
  const Dims &d = g_.nodes[lp].dims;
  // Per example (and sample): every axis but the batch's, and axis 1 of a
  // value with samples.
  const size_t keep = is_sampled(lp) ? 2 : 1;
  std::vector<int64_t> axes;
  for (size_t a = keep; a < d.size(); ++a) axes.push_back(static_cast<int64_t>(a));
  return axes.empty() ? lp : emit(Op::Sum, {lp}, {{"axes", axes}}, loc);
}

Val GraphBuilder::eval_distribution_call(const Expr &e) {
  auto kwarg = [&](const char *key) -> const Expr * {
    for (const auto &[k, v] : e.kwargs)
      if (k == key) return &v;
    return nullptr;
  };
  // A tensor argument (numbers become scalar constants).
  auto tensor = [&](const Expr &a) {
    Val v = eval(a);
    if (v.kind == Val::Distribution) {
      diags_.error(a.loc, "'" + expr_to_string(a) + "' is a distribution where " + e.text + " needs a tensor",
                   a.length);
      return -1;
    }
    return v.kind == Val::Bad ? -1 : as_node(v, a.loc);
  };
  auto distribution = [&](const Expr &a) {
    Val v = eval(a);
    if (v.kind == Val::Bad) return -1;
    if (v.kind != Val::Distribution) {
      diags_.error(a.loc, e.text + " takes a distribution here, such as normal(mu, logvar=logvar) or "
                          "bernoulli(logits=l), got '" + expr_to_string(a) + "'", a.length);
      return -1;
    }
    return v.dist;
  };
  auto usage = [&](const std::string &u) {
    diags_.error(e.loc, e.text + ": usage " + u, e.length);
    return Val::bad();
  };

  if (e.text == "normal") {
    const char *u = "normal(loc, scale), normal(loc, scale=s) or normal(loc, logvar=lv)";
    const Expr *scale = kwarg("scale"), *logvar = kwarg("logvar");
    const size_t named = (scale ? 1 : 0) + (logvar ? 1 : 0);
    if (e.args.empty() || e.args.size() + named != 2 || e.kwargs.size() != named) return usage(u);
    Dist d;
    d.text = expr_to_string(e);
    if ((d.loc = tensor(e.args[0])) < 0) return Val::bad();
    if (logvar) {
      const int lv = tensor(*logvar);
      if (lv < 0) return Val::bad();
      const int half = emit(Op::Const, {}, {{"value", 0.5}}, e.loc, {});
      d.log_scale = emit(Op::Mul, {half, lv}, {}, e.loc);
      d.scale = emit(Op::Exp, {d.log_scale}, {}, e.loc);
    } else {
      d.scale = tensor(scale ? *scale : e.args[1]);
    }
    if (d.scale < 0 || d.loc < 0) return Val::bad();
    dists.push_back(d);
    return Val::distribution(static_cast<int>(dists.size()) - 1);
  }
  if (e.text == "bernoulli") {
    const char *u = "bernoulli(logits=l) or bernoulli(probs=p) (also bernoulli(p))";
    const Expr *logits = kwarg("logits"), *probs = kwarg("probs");
    if (e.args.size() + e.kwargs.size() != 1 || (!e.kwargs.empty() && !logits && !probs)) return usage(u);
    Dist d;
    d.family = Dist::Bernoulli;
    d.text = expr_to_string(e);
    if (logits) d.logits = tensor(*logits);
    else d.probs = tensor(probs ? *probs : e.args[0]);
    if (d.logits < 0 && d.probs < 0) return Val::bad();
    dists.push_back(d);
    return Val::distribution(static_cast<int>(dists.size()) - 1);
  }
  if (e.text == "rsample") {  // loc + scale * eps, eps ~ N(0, 1): the reparameterization trick
    const Expr *samples = kwarg("samples");
    if (e.args.size() != 1 || e.kwargs.size() != (samples ? 1u : 0u)) return usage("rsample(q) or rsample(q, samples=k)");
    const int q = distribution(e.args[0]);
    if (q < 0) return Val::bad();
    if (dists[q].family != Dist::Normal) {
      diags_.error(e.args[0].loc, "rsample draws from a normal distribution; '" + dists[q].text +
                                      "' is not reparameterizable", e.args[0].length);
      return Val::bad();
    }
    int64_t k = 0;
    if (samples) {
      Val v = eval(*samples);
      if (v.kind == Val::Bad) return Val::bad();
      if (v.kind != Val::Num || !v.is_int || v.batch || v.num < 1 || v.num > 4096) {
        diags_.error(samples->loc, "samples of rsample must be an integer from 1 to 4096", samples->length);
        return Val::bad();
      }
      k = static_cast<int64_t>(v.num);
    }
    const Dist d = dists[q];
    const int eps = draw_normal(g_.nodes[d.loc].dims, k, e.loc, samples, "the loc of " + d.text);
    if (eps < 0) return Val::bad();
    const int z = emit(Op::Add, {d.loc, emit(Op::Mul, {d.scale, eps}, {}, e.loc)}, {}, e.loc);
    if (z >= 0) draws.push_back({z, q});
    return Val::tensor(z);
  }
  if (e.text == "log_prob") {
    if (e.args.size() != 2 || !e.kwargs.empty()) return usage("log_prob(distribution, value)");
    const int d = distribution(e.args[0]);
    const int v = d < 0 ? -1 : tensor(e.args[1]);
    if (v < 0) return Val::bad();
    log_probs.push_back({d, v});
    return Val::tensor(elementwise_log_prob(dists[d], v, e.loc));
  }
  // kl(q, p) of two normals, element-wise:
  // log(sp / sq) + (sq^2 + (mq - mp)^2) / (2 sp^2) - 1/2
  if (e.args.size() != 2 || !e.kwargs.empty()) return usage("kl(q, p) of two normal distributions");
  const int q = distribution(e.args[0]), p = q < 0 ? -1 : distribution(e.args[1]);
  if (p < 0) return Val::bad();
  if (dists[q].family != Dist::Normal || dists[p].family != Dist::Normal) {
    diags_.error(e.loc, "kl is defined here for two normal distributions", e.length);
    return Val::bad();
  }
  kls.push_back({q, p});
  const Dist &a = dists[q], &b = dists[p];
  auto c = [&](double v) { return emit(Op::Const, {}, {{"value", v}}, e.loc, {}); };
  const int log_a = a.log_scale >= 0 ? a.log_scale : emit(Op::Log, {a.scale}, {}, e.loc);
  const int log_b = b.log_scale >= 0 ? b.log_scale : emit(Op::Log, {b.scale}, {}, e.loc);
  const int diff = emit(Op::Sub, {a.loc, b.loc}, {}, e.loc);
  const int num = emit(Op::Add, {emit(Op::Mul, {a.scale, a.scale}, {}, e.loc), emit(Op::Mul, {diff, diff}, {}, e.loc)},
                       {}, e.loc);
  const int den = emit(Op::Mul, {c(2.0), emit(Op::Mul, {b.scale, b.scale}, {}, e.loc)}, {}, e.loc);
  const int ratio = emit(Op::Sub, {emit(Op::Div, {num, den}, {}, e.loc), c(0.5)}, {}, e.loc);
  return Val::tensor(emit(Op::Add, {emit(Op::Sub, {log_b, log_a}, {}, e.loc), ratio}, {}, e.loc));
}

}  // namespace vaec
