// The expression parser: precedence, associativity, calls, locations, errors.
#include <gtest/gtest.h>

#include <sstream>

#include "frontend/expr.h"

using namespace vaec;

static std::string parsed(const std::string &text) {
  Diagnostics d;
  auto e = parse_expr(text, Loc{"f", 1, 1}, d);
  return e ? expr_to_string(*e) : "<error>";
}

static std::string first_error(const std::string &text) {
  SourceManager sm;
  sm.add("f", text);
  Diagnostics d(&sm);
  auto e = parse_expr(text, Loc{"f", 1, 1}, d);
  EXPECT_FALSE(e.has_value());
  std::ostringstream os;
  d.print(os);
  std::string s = os.str();
  return s.substr(0, s.find('\n'));
}

TEST(Expr, Precedence) {
  EXPECT_EQ(parsed("a + b * c"), "(a + (b * c))");
  EXPECT_EQ(parsed("a - b - c"), "((a - b) - c)");
  EXPECT_EQ(parsed("a / b * c"), "((a / b) * c)");
  EXPECT_EQ(parsed("-a^2"), "-(a ^ 2)");
  EXPECT_EQ(parsed("a^b^c"), "(a ^ (b ^ c))");
  EXPECT_EQ(parsed("a ** 2"), "(a ^ 2)");
  EXPECT_EQ(parsed("(a + b) * c"), "((a + b) * c)");
  EXPECT_EQ(parsed("-0.5 * sum(x)"), "(-0.5 * sum(x))");
}

TEST(Expr, CallsWithKeywordsAndLists) {
  EXPECT_EQ(parsed("dense(x, 400, act=relu)"), "dense(x, 400, act=relu)");
  EXPECT_EQ(parsed("reshape(d, [64, 14, 14])"), "reshape(d, [64, 14, 14])");
  EXPECT_EQ(parsed("adam(lr=1e-3)"), "adam(lr=0.001)");
  EXPECT_EQ(parsed("f()"), "f()");
}

TEST(Expr, LocationsPointIntoTheValue) {
  Diagnostics d;
  auto e = parse_expr("mu + exp(logvar)", Loc{"f", 7, 10}, d);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->loc.col, 13);                   // the '+'
  EXPECT_EQ(e->args[1].loc.col, 15);           // exp
  EXPECT_EQ(e->args[1].args[0].loc.col, 19);   // logvar
  EXPECT_EQ(e->args[1].args[0].loc.line, 7);
}

TEST(Expr, Errors) {
  EXPECT_EQ(first_error("a +"), "f:1:4: error: expected an expression");
  EXPECT_EQ(first_error("dense(x, 4"), "f:1:11: error: missing ')' to close the call to 'dense'");
  EXPECT_EQ(first_error("a b"), "f:1:3: error: unexpected 'b' after the expression");
  EXPECT_EQ(first_error("a $ b"), "f:1:3: error: unexpected '$' after the expression");
  EXPECT_EQ(first_error("f(a=1, b)"), "f:1:8: error: positional argument after keyword argument 'a'");
  EXPECT_EQ(first_error("f(a=1, a=2)"), "f:1:8: error: argument 'a' is given twice");
  EXPECT_EQ(first_error("1e999"), "f:1:1: error: number '1e999' is out of range");
  EXPECT_EQ(first_error("3x"), "f:1:1: error: invalid number '3x'");
}

TEST(Expr, DeepNestingIsAnErrorNotACrash) {
  std::string deep(5000, '(');
  deep += "a";
  deep += std::string(5000, ')');
  EXPECT_NE(first_error(deep).find("nested more than 64 levels"), std::string::npos);
  std::string minus(5000, '-');
  EXPECT_NE(first_error(minus + "a").find("nested more than 64 levels"), std::string::npos);
}
