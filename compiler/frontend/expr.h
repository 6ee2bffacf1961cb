// Expressions in vae.yaml values: `mu + exp(0.5 * logvar) * normal_like(mu)`,
// `dense(h, 400, act=relu)`, `-0.5 * sum(1 + logvar - mu^2 - exp(logvar))`.
//
// Grammar (lowest precedence first):
//   expr    := term (('+' | '-') term)*
//   term    := unary (('*' | '/') unary)*
//   unary   := '-' unary | power
//   power   := primary ('^' unary)?            right-associative; -a^2 = -(a^2)
//   primary := number | name | name '(' args ')' | '(' expr ')' | '[' list ']'
//   args    := arg (',' arg)*,  arg := expr | name '=' expr
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "support/diagnostics.h"

namespace vaec {

struct Expr {
  enum Kind { Number, Name, Call, Binary, Unary, List } kind = Number;
  Loc loc;               // the token that names the expression (operator, callee, name)
  int length = 1;        // characters to underline
  double number = 0;
  bool is_integer = false;  // written without '.' or exponent
  std::string text;      // name, callee, operator ("+", "-", "*", "/", "^") or number as written
  std::vector<Expr> args;  // operands, positional arguments or list items
  std::vector<std::pair<std::string, Expr>> kwargs;
  std::vector<Loc> kwarg_locs;
  Expr() {}  // user-provided: clang + libstdc++ 12 reject the recursive pair otherwise
};

// Deepest nesting an expression may have, and most tokens.
constexpr int kMaxExprDepth = 64;
constexpr int kMaxExprTokens = 1000;

// Parses `text`, whose first character sits at `start` in the YAML file.
std::optional<Expr> parse_expr(std::string_view text, const Loc &start, Diagnostics &diags);
// The same for text that is not one run of the file (a YAML value folded over
// several lines): `where(offset)` is the location of byte `offset` of `text`.
std::optional<Expr> parse_expr(std::string_view text, const std::function<Loc(int)> &where, Diagnostics &diags);

// Renders an expression back to text (for messages and summaries).
std::string expr_to_string(const Expr &e);

// A short description for the model summary: "dense+relu(conv2d)", "= x", "const".
std::string expr_summary(const Expr &e);

}  // namespace vaec
