// Finite-difference gradient checking on the reference interpreter
// (contract in gradcheck.h).
#include "autodiff/gradcheck.h"

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <ostream>
#include <random>

#include "ir/printer.h"

namespace vaec {
namespace {

double loss_of(const Graph &g, const Bindings &b, std::string &error) {
  auto values = interpret(g, b, error);
  if (!values) return NAN;
  for (const auto &[name, idx] : g.outputs)
    if (name == "total") return (*values)[idx].data[0];
  error = "no total output";
  return NAN;
}

std::string sci(double v, int digits = 2) {
  std::ostringstream os;
  os << std::scientific << std::setprecision(digits) << v;
  return os.str();
}

}  // namespace

GradcheckResult gradcheck(const Graph &forward, const Graph &train, const Bindings &inputs,
                          const GradcheckOptions &o, std::ostream &report) {
  GradcheckResult result;
  // Fix every random value once: parameters and noise, bound by name.
  Bindings b = inputs;
  b.seed = o.seed;
  for (const Graph *g : {&forward, &train})
    for (const Node &n : g->nodes) {
      if (b.values.count(n.name)) continue;
      if (n.op == Op::Param) b.values[n.name] = initial_value(n, o.seed);
      if (n.op == Op::Normal) b.values[n.name] = noise_value(n, o.seed);
    }
  std::string error;
  auto values = interpret(train, b, error);
  if (!values) {
    result.error = error;
    return result;
  }
  double base = loss_of(forward, b, error);
  if (!error.empty()) {
    result.error = error;
    return result;
  }
  double train_total = NAN;
  for (const auto &[name, idx] : train.outputs)
    if (name == "total") train_total = (*values)[idx].data[0];
  report << "gradcheck @" << forward.name << ": batch " << forward.batch() << ", total loss "
         << std::setprecision(10) << base << " (training graph: " << train_total << ")\n";
  bool ok = std::fabs(base - train_total) <= 1e-10 * std::max(1.0, std::fabs(base));
  if (!ok) report << "  the training graph's loss differs from the model's\n";

  // Finite differences run with every piecewise op's pieces frozen at the
  // base point (see Bindings::frozen_branches): a step that moves a relu input
  // across 0 would otherwise mix two linear pieces into the estimate.
  Bindings fd = b;
  {
    Bindings record = b;
    record.record_branches = &fd.frozen_branches;
    if (!interpret(forward, record, error)) {
      result.error = error;
      return result;
    }
  }
  report << "  " << std::left << std::setw(14) << "parameter" << std::setw(18) << "shape" << std::setw(11)
         << "max|grad|" << std::setw(9) << "checked" << "max rel error\n";
  std::mt19937_64 rng(o.seed);
  for (const auto &[out_name, grad_idx] : train.outputs) {
    if (out_name.rfind("d.", 0) != 0) continue;
    std::string param = out_name.substr(2);
    const Tensor &grad = (*values)[grad_idx];
    Tensor &p = fd.values[param];
    int64_t n = static_cast<int64_t>(p.data.size());
    double gmax = 0;
    for (double x : grad.data) gmax = std::max(gmax, std::fabs(x));
    // The largest-gradient element, then evenly spread random ones.
    std::vector<int64_t> picks;
    picks.push_back(std::max_element(grad.data.begin(), grad.data.end(),
                                     [](double a, double c) { return std::fabs(a) < std::fabs(c); }) -
                    grad.data.begin());
    std::uniform_int_distribution<int64_t> pick(0, n - 1);
    while (static_cast<int64_t>(picks.size()) < std::min<int64_t>(o.samples, n)) {
      int64_t k = pick(rng);
      if (std::find(picks.begin(), picks.end(), k) == picks.end()) picks.push_back(k);
    }
    double worst = 0;
    int checked = 0, zeros = 0;
    // Below this both derivatives are f64 noise (a central difference of a
    // loss f resolves ~1e-13 |f|): such an element is a zero gradient, not a
    // relative error of ~1 (a conv bias before a normalisation).
    const double floor = 1e-10 * std::max(1.0, std::fabs(base));
    for (int64_t k : picks) {
      double saved = p.data[k];
      auto f = [&](double step) {
        p.data[k] = saved + step;
        double v = loss_of(forward, fd, error);
        p.data[k] = saved;
        return v;
      };
      // The step: 1e-3 relative, or larger when the derivative is so small
      // that f64 rounding of the loss (measured at ~1e-15 |f| per evaluation
      // for losses summed over thousands of terms, so ~2e-15 |f| / h in the
      // estimate) would reach a tenth of the tolerance.
      // Relu patterns are frozen, so a larger step only meets smooth terms.
      double scale_estimate = std::max(std::fabs(grad.data[k]), 0.1 * gmax);
      double h = 1e-3 * std::max(1.0, std::fabs(saved));
      if (scale_estimate > 0)
        h = std::min(std::max(h, 2e-15 * std::fabs(base) / (0.1 * o.tolerance * scale_estimate)),
                     0.1 * std::max(1.0, std::fabs(saved)));
      double numeric = (8 * (f(h) - f(-h)) - (f(2 * h) - f(-2 * h))) / (12 * h);
      double analytic = grad.data[k];
      ++checked;
      if (std::max(std::fabs(analytic), std::fabs(numeric)) <= floor) {
        ++zeros;
        continue;
      }
      // Relative error, with a floor of a tenth of the tensor's largest
      // gradient: f64 evaluates the loss to ~1e-16 of its size, so a central
      // difference resolves ~1e-13 absolute, and elements far below the
      // tensor's scale are compared against that scale instead.
      double scale = std::max({std::fabs(analytic), std::fabs(numeric), 0.1 * gmax, 1e-300});
      worst = std::max(worst, std::fabs(analytic - numeric) / scale);
    }
    // Zero: the analytic gradient is below the floor everywhere and the
    // finite differences agree at every checked element.
    const bool zero = gmax <= floor && checked > 0 && zeros == checked;
    const bool pass = zero || (worst <= o.tolerance && std::isfinite(worst) && checked > 0);
    ok = ok && pass;
    result.max_error = std::max(result.max_error, worst);
    report << "  " << std::left << std::setw(14) << param << std::setw(18) << "f32" + dims_str(p.dims)
           << std::setw(11) << sci(gmax) << std::setw(9) << checked << sci(worst)
           << (zero ? "  ok: zero gradient (|grad| <= " + sci(floor) + " here, and so are the finite differences)"
               : checked == 0 ? "  FAIL: every sample sits on a relu kink"
               : pass ? "  ok" : "  FAIL") << "\n";
  }
  report << (ok ? "PASS" : "FAIL") << ": max relative error " << sci(result.max_error) << " (tolerance "
         << sci(o.tolerance, 0) << ")\n";
  result.passed = ok;
  return result;
}

}  // namespace vaec
