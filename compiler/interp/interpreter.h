// The reference interpreter: runs any graph in double precision with plain
// loops. It is the oracle generated code is compared against, so it shares no
// kernels with the code generator and stays simple and slow on purpose.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "ir/graph.h"

namespace vaec {

struct Tensor {
  Dims dims;
  std::vector<double> data;
};

struct Bindings {
  // Values by SSA name. Inputs must be bound; parameters and normal() noise
  // may be, else parameters are drawn from their `init` and noise from N(0,1)
  // with `seed` (the same seed gives the same values).
  std::map<std::string, Tensor> values;
  uint64_t seed = 1;
  // For gradient checking only: piecewise ops (relu, step, leaky_relu, abs,
  // maximum, minimum) named here take the piece this pattern says per
  // element instead of the one their operands choose (relu(x) = x * mask),
  // which makes the loss smooth along a finite-difference step without
  // changing its gradient at the point where the pattern was taken. With
  // `record_branches`, interpret() fills it with the pieces it took.
  std::map<std::string, std::vector<bool>> frozen_branches;
  std::map<std::string, std::vector<bool>> *record_branches = nullptr;
};

// Whether `op` is piecewise, and which piece it takes at (a, b): true for
// x > 0 (relu, step, leaky_relu, abs), a > b (maximum) or a < b (minimum).
bool is_piecewise(Op op);
bool first_piece(Op op, double a, double b);

// Computes every value of `g`. Returns nullopt and sets `error` when an input
// is missing or a bound tensor has the wrong shape.
std::optional<std::vector<Tensor>> interpret(const Graph &g, const Bindings &b, std::string &error);

// The initial value of a parameter node, as the interpreter draws it.
Tensor initial_value(const Node &param, uint64_t seed);
// Standard normal noise for a normal() node, as the interpreter draws it.
Tensor noise_value(const Node &normal, uint64_t seed);

}  // namespace vaec
