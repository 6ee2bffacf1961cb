// The optimizer update as one fused kernel over every parameter at once (the
// parameters, gradients and state are contiguous regions). Formulas:
//   adam (PyTorch):   m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;
//                     p -= (lr / (1-b1^t)) m / (sqrt(v) / sqrt(1-b2^t) + eps)
//   rmsprop (Keras):  v = rho v + (1-rho) g^2;  p -= lr g / (sqrt(v) + eps)
//   sgd (PyTorch):    b = momentum b + g;  p -= lr b      (b omitted if momentum = 0)
// Step-dependent factors come from the hyper buffers (runtime/abi/plan.h).
#pragma once

#include "codegen/kernel.h"
#include "ir/graph.h"

namespace vaec {

// Argument order: params, grads, hyper..., state...; `hyper` and `state`
// receive how many of each the optimizer uses.
FusedKernel build_optimizer_kernel(const Graph &g, int64_t param_count, int &hyper, int &state);

}  // namespace vaec
