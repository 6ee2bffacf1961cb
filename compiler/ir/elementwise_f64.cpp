// The f64 element formula of every elementwise op (contract in
// elementwise_f64.h).
//
// Numerics follow PyTorch where it makes a choice: bce clamps each log term at
// -100 (BCELoss); bce_logits, softplus and sigmoid use the forms that cannot
// overflow.
#include "ir/elementwise_f64.h"

#include <algorithm>
#include <cmath>

namespace vaec {
namespace {

double sigmoid(double a) {
  if (a >= 0) return 1.0 / (1.0 + std::exp(-a));
  double e = std::exp(a);
  return e / (1.0 + e);
}
double clamped_log(double a) { return std::max(std::log(a), -100.0); }

struct Row {
  Op op;
  ElementFormula f;
};

const Row kFormulas[] = {
    // Elementwise unary.
    {Op::Neg, [](double a, double) { return -a; }},
    {Op::Exp, [](double a, double) { return std::exp(a); }},
    {Op::Log, [](double a, double) { return std::log(a); }},
    {Op::Sqrt, [](double a, double) { return std::sqrt(a); }},
    {Op::Sigmoid, [](double a, double) { return sigmoid(a); }},
    {Op::Relu, [](double a, double) { return a > 0 ? a : 0.0; }},
    {Op::Tanh, [](double a, double) { return std::tanh(a); }},
    {Op::Softplus, [](double a, double) { return std::max(a, 0.0) + std::log1p(std::exp(-std::fabs(a))); }},
    {Op::Step, [](double a, double) { return a > 0 ? 1.0 : 0.0; }},
    {Op::Abs, [](double a, double) { return std::fabs(a); }},

    // Elementwise binary (the caller broadcasts).
    {Op::Add, [](double a, double b) { return a + b; }},
    {Op::Sub, [](double a, double b) { return a - b; }},
    {Op::Mul, [](double a, double b) { return a * b; }},
    {Op::Div, [](double a, double b) { return a / b; }},
    {Op::Pow, [](double a, double b) { return std::pow(a, b); }},
    {Op::Bce, [](double p, double x) { return -(x * clamped_log(p) + (1 - x) * clamped_log(1 - p)); }},
    {Op::BceLogits, [](double l, double x) { return std::max(l, 0.0) - l * x + std::log1p(std::exp(-std::fabs(l))); }},
    {Op::Mse, [](double a, double b) { return (a - b) * (a - b); }},
    {Op::Maximum, [](double a, double b) { return a > b ? a : b; }},
    {Op::Minimum, [](double a, double b) { return a < b ? a : b; }},
    {Op::LeakyRelu, [](double a, double s) { return a > 0 ? a : s * a; }},
    {Op::DropoutMask, [](double s, double c) { return s > 0 ? c : 0.0; }},
    {Op::TrainValue, [](double t, double) { return t; }},
};

}  // namespace

ElementFormula element_formula(Op op) {
  for (const Row &r : kFormulas)
    if (r.op == op) return r.f;
  return nullptr;
}

}  // namespace vaec
