// The element formula of every elementwise op of ops.def (kinds Unary and
// Binary) in double precision: what the reference interpreter computes for
// each element, what constant folding evaluates, and what the fused kernels'
// reference and the generated f32 math are checked against. One row per op in
// elementwise_f64.cpp, in the order of ops.def; a unit test fails if an
// elementwise op has none. The gradient rules of the same ops are in
// autodiff/rules.cpp; the formulas sit here, in ir/, so that the interpreter
// and autodiff both read them and neither depends on the other for them.
#pragma once

#include "ir/ops.h"

namespace vaec {

// f(a, b) for one element; unary ops ignore b.
using ElementFormula = double (*)(double a, double b);

// The formula of `op`; nullptr for ops that are not elementwise.
ElementFormula element_formula(Op op);

}  // namespace vaec
