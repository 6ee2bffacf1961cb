// Lexer and recursive-descent parser for model expressions (grammar in expr.h).
#include "frontend/expr.h"

#include <cctype>
#include <charconv>
#include <cmath>

#include "ir/printer.h"

namespace vaec {
namespace {

bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

struct Tok {
  enum Kind { End, Number, Name, Punct, Bad } kind = End;
  std::string text;
  int col = 0;  // offset in the expression text
};

class ExprParser {
public:
  ExprParser(std::string_view s, const std::function<Loc(int)> &where, Diagnostics &d)
      : s_(s), where_(where), diags_(d) {
    next();
  }

  std::optional<Expr> parse() {
    std::optional<Expr> e = expr(0);
    if (!e || too_long_) return std::nullopt;
    if (tok_.kind != Tok::End) {
      error(tok_, tok_.text == ")" ? "unmatched ')'" : "unexpected '" + tok_.text + "' after the expression");
      return std::nullopt;
    }
    return e;
  }

private:
  Loc at(int col) const { return where_(col); }
  void error(const Tok &t, const std::string &msg) {
    if (too_long_) return;  // the only error of an over-long expression
    diags_.error(at(t.col), msg, std::max<int>(1, static_cast<int>(t.text.size())));
  }

  void next() {
    // Line breaks come from YAML block scalars (`h: |`) and are spaces here.
    while (pos_ < s_.size() && is_blank(s_[pos_])) ++pos_;
    tok_ = Tok{};
    tok_.col = static_cast<int>(pos_);
    if (pos_ >= s_.size() || too_long_) return;
    // `x + x + ... + x` nests to the left without bound; everything after
    // the parser recurses over the tree, so its size is capped here.
    if (++tokens_ > kMaxExprTokens) {
      error(tok_, "expression is longer than " + std::to_string(kMaxExprTokens) +
                      " tokens; split it into named tensors");
      too_long_ = true;
      return;
    }
    char c = s_[pos_];
    if (std::isdigit(static_cast<unsigned char>(c)) ||
        (c == '.' && pos_ + 1 < s_.size() && std::isdigit(static_cast<unsigned char>(s_[pos_ + 1])))) {
      size_t b = pos_;
      while (pos_ < s_.size() && (std::isdigit(static_cast<unsigned char>(s_[pos_])) || s_[pos_] == '.')) ++pos_;
      if (pos_ < s_.size() && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
        size_t p = pos_ + 1;
        if (p < s_.size() && (s_[p] == '+' || s_[p] == '-')) ++p;
        if (p < s_.size() && std::isdigit(static_cast<unsigned char>(s_[p]))) {
          pos_ = p;
          while (pos_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[pos_]))) ++pos_;
        }
      }
      // A number glued to letters ("3x") is a mistake, not two tokens.
      while (pos_ < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[pos_])) || s_[pos_] == '_')) ++pos_;
      tok_.kind = Tok::Number;
      tok_.text = std::string(s_.substr(b, pos_ - b));
      return;
    }
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      size_t b = pos_;
      while (pos_ < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[pos_])) || s_[pos_] == '_')) ++pos_;
      tok_.kind = Tok::Name;
      tok_.text = std::string(s_.substr(b, pos_ - b));
      return;
    }
    if (std::string_view("+-*/^()[],=").find(c) != std::string_view::npos) {
      tok_.kind = Tok::Punct;
      tok_.text = std::string(1, c);
      ++pos_;
      // "**" is a common way to write powers; accept it as '^'.
      if (c == '*' && pos_ < s_.size() && s_[pos_] == '*') {
        tok_.text = "^";
        ++pos_;
      }
      return;
    }
    tok_.kind = Tok::Bad;
    unsigned char u = static_cast<unsigned char>(c);
    size_t len = u < 0x80 ? 1 : (u >> 5) == 6 ? 2 : (u >> 4) == 14 ? 3 : 4;
    tok_.text = std::string(s_.substr(pos_, len));
    pos_ += len;
  }
  bool is(const char *p) const { return tok_.kind == Tok::Punct && tok_.text == p; }

  std::optional<Expr> expr(int depth) {
    if (depth > kMaxExprDepth) {
      error(tok_, "expression is nested more than " + std::to_string(kMaxExprDepth) +
                      " levels deep; split it into named tensors");
      return std::nullopt;
    }
    auto lhs = term(depth);
    while (lhs && (is("+") || is("-"))) {
      Tok op = tok_;
      next();
      auto rhs = term(depth);
      if (!rhs) return std::nullopt;
      lhs = binary(op, std::move(*lhs), std::move(*rhs));
    }
    return lhs;
  }
  std::optional<Expr> term(int depth) {
    auto lhs = unary(depth);
    while (lhs && (is("*") || is("/"))) {
      Tok op = tok_;
      next();
      auto rhs = unary(depth);
      if (!rhs) return std::nullopt;
      lhs = binary(op, std::move(*lhs), std::move(*rhs));
    }
    return lhs;
  }
  std::optional<Expr> unary(int depth) {
    if (depth > kMaxExprDepth) {
      error(tok_, "expression is nested more than " + std::to_string(kMaxExprDepth) +
                      " levels deep; split it into named tensors");
      return std::nullopt;
    }
    if (is("-") || is("+")) {
      Tok op = tok_;
      next();
      auto operand = unary(depth + 1);
      if (!operand) return std::nullopt;
      if (op.text == "+") return operand;
      if (operand->kind == Expr::Number) {  // a literal like -0.5 stays a literal
        operand->number = -operand->number;
        operand->text = "-" + operand->text;
        operand->length += operand->loc.col - at(op.col).col;
        operand->loc = at(op.col);
        return operand;
      }
      Expr e;
      e.kind = Expr::Unary;
      e.text = "-";
      e.loc = at(op.col);
      e.args.push_back(std::move(*operand));
      return e;
    }
    auto base = primary(depth);
    if (base && is("^")) {
      Tok op = tok_;
      next();
      auto exponent = unary(depth + 1);
      if (!exponent) return std::nullopt;
      return binary(op, std::move(*base), std::move(*exponent));
    }
    return base;
  }
  Expr binary(const Tok &op, Expr a, Expr b) {
    Expr e;
    e.kind = Expr::Binary;
    e.text = op.text;
    e.loc = at(op.col);
    e.args.push_back(std::move(a));
    e.args.push_back(std::move(b));
    return e;
  }

  std::optional<Expr> primary(int depth) {
    Tok t = tok_;
    if (t.kind == Tok::Number) {
      next();
      Expr e;
      e.kind = Expr::Number;
      e.text = t.text;
      e.loc = at(t.col);
      e.length = static_cast<int>(t.text.size());
      e.is_integer = t.text.find_first_of(".eE") == std::string::npos;
      const char *b = t.text.data(), *end = b + t.text.size();
      auto [ptr, ec] = std::from_chars(b, end, e.number);
      if (ptr != end || (ec != std::errc() && ec != std::errc::result_out_of_range)) {
        error(t, "invalid number '" + t.text + "'");
        return std::nullopt;
      }
      if (ec == std::errc::result_out_of_range || !std::isfinite(e.number)) {
        error(t, "number '" + t.text + "' is out of range");
        return std::nullopt;
      }
      return e;
    }
    if (t.kind == Tok::Name) {
      next();
      Expr e;
      e.loc = at(t.col);
      e.length = static_cast<int>(t.text.size());
      e.text = t.text;
      if (!is("(")) {
        e.kind = Expr::Name;
        return e;
      }
      e.kind = Expr::Call;
      next();
      if (!is(")")) {
        while (true) {
          if (tok_.kind == Tok::Name && peek_is('=')) {
            Tok key = tok_;
            next();
            next();  // '='
            auto v = expr(depth + 1);
            if (!v) return std::nullopt;
            for (const auto &[k, _] : e.kwargs)
              if (k == key.text) {
                error(key, "argument '" + key.text + "' is given twice");
                return std::nullopt;
              }
            e.kwargs.emplace_back(key.text, std::move(*v));
            e.kwarg_locs.push_back(at(key.col));
          } else {
            if (!e.kwargs.empty()) {
              error(tok_, "positional argument after keyword argument '" + e.kwargs.back().first + "'");
              return std::nullopt;
            }
            auto v = expr(depth + 1);
            if (!v) return std::nullopt;
            e.args.push_back(std::move(*v));
          }
          if (is(",")) {
            next();
            continue;
          }
          break;
        }
      }
      if (!is(")")) {
        if (tok_.kind == Tok::End) error(tok_, "missing ')' to close the call to '" + t.text + "'");
        else error(tok_, "expected ',' or ')' in the call to '" + t.text + "', found '" + tok_.text + "'");
        return std::nullopt;
      }
      next();
      return e;
    }
    if (is("(")) {
      next();
      auto e = expr(depth + 1);
      if (!e) return std::nullopt;
      if (!is(")")) {
        error(tok_, tok_.kind == Tok::End ? "missing ')'" : "expected ')', found '" + tok_.text + "'");
        return std::nullopt;
      }
      next();
      return e;
    }
    if (is("[")) {
      Expr e;
      e.kind = Expr::List;
      e.loc = at(t.col);
      next();
      while (!is("]")) {
        auto v = expr(depth + 1);
        if (!v) return std::nullopt;
        e.args.push_back(std::move(*v));
        if (is(",")) next();
        else if (!is("]")) {
          error(tok_, tok_.kind == Tok::End ? "missing ']'" : "expected ',' or ']', found '" + tok_.text + "'");
          return std::nullopt;
        }
      }
      next();
      return e;
    }
    if (t.kind == Tok::End) error(t, "expected an expression");
    else if (t.kind == Tok::Bad) error(t, "unexpected character '" + t.text + "' in expression");
    else error(t, "expected an expression, found '" + t.text + "'");
    return std::nullopt;
  }

  bool peek_is(char c) const {
    size_t p = pos_;
    while (p < s_.size() && is_blank(s_[p])) ++p;
    return p < s_.size() && s_[p] == c && !(p + 1 < s_.size() && s_[p + 1] == '=');
  }

  std::string_view s_;
  const std::function<Loc(int)> &where_;
  Diagnostics &diags_;
  size_t pos_ = 0;
  Tok tok_;
  int tokens_ = 0;
  bool too_long_ = false;
};

}  // namespace

std::optional<Expr> parse_expr(std::string_view text, const Loc &start, Diagnostics &diags) {
  return parse_expr(text, [&](int offset) { return Loc{start.file, start.line, start.col + offset}; }, diags);
}

std::optional<Expr> parse_expr(std::string_view text, const std::function<Loc(int)> &where, Diagnostics &diags) {
  ExprParser p(text, where, diags);
  return p.parse();
}

std::string expr_to_string(const Expr &e) {
  switch (e.kind) {
  case Expr::Number: {
    if (e.is_integer && std::fabs(e.number) < 1e15) return std::to_string(static_cast<long long>(e.number));
    return format_f64(e.number);
  }
  case Expr::Name: return e.text;
  case Expr::Unary: return "-" + expr_to_string(e.args[0]);
  case Expr::Binary: return "(" + expr_to_string(e.args[0]) + " " + e.text + " " + expr_to_string(e.args[1]) + ")";
  case Expr::List: {
    std::string s = "[";
    for (size_t i = 0; i < e.args.size(); ++i) s += (i ? ", " : "") + expr_to_string(e.args[i]);
    return s + "]";
  }
  case Expr::Call: {
    std::string s = e.text + "(";
    bool first = true;
    for (const Expr &a : e.args) s += (first ? "" : ", ") + expr_to_string(a), first = false;
    for (const auto &[k, v] : e.kwargs) s += (first ? "" : ", ") + k + "=" + expr_to_string(v), first = false;
    return s + ")";
  }
  }
  return "?";
}

// What an expression is, for the model summary: "dense+relu(conv2d)".
std::string expr_summary(const Expr &e) {
  switch (e.kind) {
  case Expr::Call: {
    std::string s = e.text;
    for (const auto &[k, v] : e.kwargs)
      if (k == "act" && v.kind == Expr::Name && v.text != "linear" && v.text != "none") s += "+" + v.text;
    if (!e.args.empty() && e.args[0].kind == Expr::Call && e.text != "sum" && e.text != "mean")
      s += "(" + expr_summary(e.args[0]) + ")";
    return s;
  }
  case Expr::Name: return "= " + e.text;
  case Expr::Number: return "const";
  default: return "expression";
  }
}

}  // namespace vaec
