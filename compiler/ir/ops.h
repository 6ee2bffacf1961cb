// The op enum and per-op facts, generated from ops.def, plus shape rules.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace vaec {

enum class Op : uint8_t {
#define OP(Id, name, arity, kind, attrs) Id,
#include "ir/ops.def"
};

enum class OpKind : uint8_t { Source, Unary, Binary, Reduce, Shape, Layer };

enum class AttrType : uint8_t { Int, F64, Str, Ints };

struct AttrSpec {
  std::string name;
  AttrType type;
};

struct OpInfo {
  Op op;
  std::string_view name;
  int arity;
  OpKind kind;
  std::vector<AttrSpec> attrs;  // parsed from the schema string of ops.def
};

const OpInfo &op_info(Op op);
const std::vector<OpInfo> &all_ops();
std::optional<Op> op_from_name(std::string_view name);
std::vector<std::string> op_names();
inline std::string_view op_name(Op op) { return op_info(op).name; }
// Elementwise ops and reductions can be fused into one generated kernel.
inline bool is_elementwise(Op op) {
  OpKind k = op_info(op).kind;
  return k == OpKind::Unary || k == OpKind::Binary;
}
const char *attr_type_name(AttrType t);

using Dims = std::vector<int64_t>;

// Largest element count vaec accepts for one tensor (2^31 - 1): beyond it the
// 32-bit indexing of generated kernels and oneDNN's int dims would overflow.
constexpr int64_t kMaxElements = 2147483647;

// Product of dims, or -1 if it exceeds kMaxElements.
int64_t checked_elements(const Dims &d);

std::string dims_str(const Dims &d);  // "[128,784]"

using AttrValue = std::variant<int64_t, double, std::string, std::vector<int64_t>>;

struct ShapeInput {
  std::vector<const Dims *> operands;
  const std::vector<std::pair<std::string, AttrValue>> *attrs;
};

// Applies the op's shape rule: returns the result dims, or an error message
// naming the shapes involved. Ops whose result cannot be derived from their
// operands (sources, reshape, expand, the conv adjoints) take the declared
// result type and the rule checks it instead; `declared` may be null for the
// others.
struct ShapeResult {
  Dims dims;
  std::string error;
};
ShapeResult infer_shape(Op op, const std::vector<const Dims *> &operands,
                        const std::vector<std::pair<std::string, AttrValue>> &attrs,
                        const Dims *declared = nullptr);
// True when the op's result type must be given (see infer_shape).
bool has_declared_type(Op op);

// Numpy broadcasting of two shapes; error text if incompatible.
ShapeResult broadcast_shapes(const Dims &a, const Dims &b);

}  // namespace vaec
