// Appending ops to a graph from passes: shapes come from the op table's rules,
// names are made unique, and every new op carries the location and section
// the pass gives it (a rewrite keeps the location of what it replaces).
#pragma once

#include <stdexcept>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "ir/graph.h"

namespace vaec {

// Thrown when a pass builds an op its shape rule rejects: always a compiler
// bug, reported by the driver as an internal error.
struct InternalError : std::logic_error {
  using std::logic_error::logic_error;
};

class Builder {
public:
  explicit Builder(Graph &g);

  Loc loc;              // for the ops emitted next
  std::string section;  // likewise
  std::string prefix = "t";  // fresh names are prefix.1, prefix.2, ...

  int emit(Op op, std::vector<int> operands, Attrs attrs = {}, const Dims *declared = nullptr,
           const std::string &name = "");
  int constant(double value, const Dims &dims = {});
  int unary(Op op, int a) { return emit(op, {a}); }
  int binary(Op op, int a, int b) { return emit(op, {a, b}); }
  int add(int a, int b) { return binary(Op::Add, a, b); }
  int sub(int a, int b) { return binary(Op::Sub, a, b); }
  int mul(int a, int b) { return binary(Op::Mul, a, b); }
  int div(int a, int b) { return binary(Op::Div, a, b); }
  int neg(int a) { return unary(Op::Neg, a); }
  int sum(int a, std::vector<int64_t> axes) { return emit(Op::Sum, {a}, {{"axes", std::move(axes)}}); }
  int reshape(int a, const Dims &to) { return emit(Op::Reshape, {a}, {}, &to); }
  int expand(int a, std::vector<int64_t> axes, const Dims &to) {
    return emit(Op::Expand, {a}, {{"axes", std::move(axes)}}, &to);
  }
  // Sums a broadcast value back to `to` (the shape of the operand that was
  // broadcast): reduces the leading and the stretched axes, then reshapes.
  int sum_to(int a, Dims to);  // by value: emitting may move the graph's nodes

  const Dims &dims(int node) const { return g_.nodes[node].dims; }
  std::string unique_name(const std::string &base);
  Graph &graph() { return g_; }

private:
  Graph &g_;
  std::unordered_set<std::string> names_;
  std::unordered_map<std::string, int> counters_;
};

}  // namespace vaec
