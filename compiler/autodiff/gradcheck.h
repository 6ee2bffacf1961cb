// `vaec gradcheck`: proves the symbolic gradient by finite differences.
//
// The optimized training graph (what training will run) is interpreted in
// f64 to get d total / d param; the lowered model graph (before any pass) is
// interpreted with one parameter element moved by ±h, ±2h, and the 4-point
// central difference (8(f(+h) - f(-h)) - (f(+2h) - f(-2h))) / 12h estimates
// the same derivative. The noise eps is drawn once and bound by name in both
// graphs, so the sampler is a fixed function of mu and logvar. The pieces of
// relu, leaky_relu, abs, maximum and minimum are frozen at the base point for
// the differences (the loss is then
// smooth along a step and has the same gradient there). The error of an
// element is |a - n| / max(|a|, |n|, max|grad of its tensor| / 10).
//
// This is where autodiff depends on the interpreter, and only one way
// (autodiff -> interp): the interpreter is the oracle the gradient rules are
// proven on, so it never includes autodiff. Both read the element formulas
// from ir/elementwise_f64.h.
#pragma once

#include <iosfwd>
#include <string>

#include "interp/interpreter.h"
#include "ir/graph.h"

namespace vaec {

struct GradcheckOptions {
  int samples = 4;            // elements checked per parameter tensor (all if smaller)
  double tolerance = 1e-6;    // max relative error
  uint64_t seed = 1;
};

struct GradcheckResult {
  bool passed = false;
  double max_error = 0;
  std::string error;  // set when the check could not run
};

// `forward` is the lowered model, `train` the training graph made from it,
// `inputs` binds the model inputs.
GradcheckResult gradcheck(const Graph &forward, const Graph &train, const Bindings &inputs,
                          const GradcheckOptions &options, std::ostream &report);

}  // namespace vaec
