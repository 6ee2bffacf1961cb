// Parser for the textual graph IR (format in printer.cpp; contract in parser.h).
#include "ir/parser.h"

#include <cctype>
#include <charconv>
#include <cmath>
#include <map>

#include "ir/batch_axes.h"
#include "ir/verifier.h"

namespace vaec {
namespace {

enum class Tok { End, Ident, Value, Global, Number, String, Punct, Error };

struct Token {
  Tok kind = Tok::End;
  std::string text;  // identifier/name without sigil, string contents, number text, punct
  Loc loc;
  bool line_start = false;  // first token on its line
};

class Lexer {
public:
  Lexer(const std::string &file, std::string_view text) : file_(file), s_(text) {}

  Token next() {
    bool newline = pos_ == 0;
    while (pos_ < s_.size()) {
      char c = s_[pos_];
      if (c == '\n') {
        newline = true;
        advance();
      } else if (c == ' ' || c == '\t' || c == '\r') {
        advance();
      } else if (c == '/' && pos_ + 1 < s_.size() && s_[pos_ + 1] == '/') {
        while (pos_ < s_.size() && s_[pos_] != '\n') advance();
      } else {
        break;
      }
    }
    Token t;
    t.loc = {file_, line_, col_};
    t.line_start = newline;
    if (pos_ >= s_.size()) return t;
    char c = s_[pos_];
    auto is_name = [](char ch) {
      return std::isalnum(static_cast<unsigned char>(ch)) || ch == '_' || ch == '.';
    };
    if (c == '%' || c == '@') {
      advance();
      t.kind = c == '%' ? Tok::Value : Tok::Global;
      while (pos_ < s_.size() && is_name(s_[pos_])) t.text += advance();
      if (t.text.empty()) t.kind = Tok::Error, t.text = std::string("expected a name after '") + c + "'";
      return too_long(t, kMaxIrNameLength, "a name");
    }
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      while (pos_ < s_.size() && (is_name(s_[pos_]))) t.text += advance();
      t.kind = (t.text == "inf" || t.text == "nan") ? Tok::Number : Tok::Ident;
      return too_long(t, kMaxIrNameLength, "a name");
    }
    if (std::isdigit(static_cast<unsigned char>(c)) || c == '-' || c == '+') {
      t.text += advance();
      while (pos_ < s_.size()) {
        char d = s_[pos_];
        bool exp_sign = (d == '-' || d == '+') && (t.text.back() == 'e' || t.text.back() == 'E');
        if (std::isalnum(static_cast<unsigned char>(d)) || d == '.' || exp_sign) t.text += advance();
        else break;
      }
      t.kind = Tok::Number;
      return too_long(t, kMaxIrNameLength, "a number");
    }
    if (c == '"') {
      advance();
      t.kind = Tok::String;
      while (true) {
        if (pos_ >= s_.size() || s_[pos_] == '\n') {
          t.kind = Tok::Error;
          t.text = "unterminated string";
          return t;
        }
        char ch = advance();
        if (ch == '"') break;
        if (ch == '\\') {
          if (pos_ >= s_.size()) continue;
          char e = advance();
          if (e == 'x' && pos_ + 2 <= s_.size() && std::isxdigit(static_cast<unsigned char>(s_[pos_])) &&
              std::isxdigit(static_cast<unsigned char>(s_[pos_ + 1]))) {
            std::string hex = {advance(), advance()};
            t.text += static_cast<char>(std::stoi(hex, nullptr, 16));
          } else if (e == '"' || e == '\\') {
            t.text += e;
          } else {
            t.kind = Tok::Error;
            t.text = "invalid escape in string";
            return t;
          }
        } else {
          t.text += ch;
        }
      }
      return too_long(t, kMaxIrStringLength, "a string");
    }
    t.kind = Tok::Punct;
    t.text = std::string(1, advance());
    return t;
  }

  // Raw text up to the next ')' on this line, for loc(...) paths.
  std::string raw_until_paren() {
    std::string out;
    while (pos_ < s_.size() && s_[pos_] != ')' && s_[pos_] != '\n') out += advance();
    return out;
  }
  Loc here() const { return {file_, line_, col_}; }

private:
  // A token longer than `max` becomes an error token that says so.
  static Token too_long(Token t, size_t max, const char *what) {
    if (t.kind == Tok::Error || t.text.size() <= max) return t;
    t.text = std::string(what) + " is " + std::to_string(t.text.size()) + " characters long; at most " +
             std::to_string(max) + " are allowed";
    t.kind = Tok::Error;
    return t;
  }
  char advance() {
    char c = s_[pos_++];
    if (c == '\n') ++line_, col_ = 1;
    else ++col_;
    return c;
  }
  std::string file_;
  std::string_view s_;
  size_t pos_ = 0;
  int line_ = 1, col_ = 1;
};

class Parser {
public:
  Parser(const std::string &file, std::string_view text, Diagnostics &d)
      : lex_(file, text), diags_(d) {
    tok_ = lex_.next();
  }

  std::optional<Graph> parse() {
    Graph g;
    if (!parse_header(g)) return std::nullopt;
    std::string section;
    while (true) {
      if (tok_.kind == Tok::End) return fail("expected '}' at the end of the graph");
      if (is_punct("}")) {
        take();
        break;
      }
      if (tok_.kind == Tok::Ident && tok_.text == "return") {
        take();
        if (!parse_return(g)) return std::nullopt;
        continue;
      }
      if (tok_.kind == Tok::Ident) {  // section label
        section = take().text;
        if (!expect(":")) return std::nullopt;
        continue;
      }
      if (tok_.kind != Tok::Value) return fail("expected '%name = op(...)', a section label or 'return'");
      if (section.empty()) return fail("an op must follow a section label such as 'encoder:'");
      if (!parse_node(g, section)) return std::nullopt;
    }
    if (tok_.kind != Tok::End) return fail("unexpected text after the graph");
    if (!verify_graph(g, diags_, &where_) || !verify_batch_axes(g, diags_, &where_)) return std::nullopt;
    return g;
  }

private:
  bool is_punct(const char *p) const { return tok_.kind == Tok::Punct && tok_.text == p; }
  Token take() {
    Token t = tok_;
    tok_ = lex_.next();
    return t;
  }
  std::nullopt_t fail(const std::string &msg) {
    if (tok_.kind == Tok::Error) diags_.error(tok_.loc, tok_.text);
    else diags_.error(tok_.loc, msg + (tok_.kind == Tok::End ? " (found end of file)" : ", found '" + tok_.text + "'"));
    return std::nullopt;
  }
  bool expect(const char *p) {
    if (is_punct(p)) {
      take();
      return true;
    }
    fail(std::string("expected '") + p + "'");
    return false;
  }

  bool parse_int(const Token &t, int64_t &out) {
    auto [ptr, ec] = std::from_chars(t.text.data(), t.text.data() + t.text.size(), out);
    if (ec != std::errc() || ptr != t.text.data() + t.text.size()) {
      diags_.error(t.loc, "invalid integer '" + t.text + "'");
      return false;
    }
    return true;
  }
  bool parse_f64(const Token &t, double &out) {
    if (t.text == "inf" || t.text == "+inf") return out = INFINITY, true;
    if (t.text == "-inf") return out = -INFINITY, true;
    if (t.text == "nan") return out = NAN, true;
    const char *b = t.text.data() + (t.text[0] == '+');
    auto [ptr, ec] = std::from_chars(b, t.text.data() + t.text.size(), out);
    if (ec != std::errc() || ptr != t.text.data() + t.text.size()) {
      diags_.error(t.loc, "invalid number '" + t.text + "'");
      return false;
    }
    return true;
  }
  static bool looks_float(const std::string &s) {
    return s.find_first_of(".eEn") != std::string::npos;  // n: inf, nan
  }

  // value := int | float | "string" | [int, ...]
  bool parse_attr_value(AttrValue &out) {
    if (tok_.kind == Tok::String) {
      out = take().text;
      return true;
    }
    if (tok_.kind == Tok::Number) {
      Token t = take();
      if (looks_float(t.text)) {
        double d;
        if (!parse_f64(t, d)) return false;
        out = d;
      } else {
        int64_t i;
        if (!parse_int(t, i)) return false;
        out = i;
      }
      return true;
    }
    if (is_punct("[")) {
      take();
      std::vector<int64_t> list;
      if (!is_punct("]")) {
        while (true) {
          if (tok_.kind != Tok::Number) return fail("expected an integer"), false;
          int64_t i;
          if (!parse_int(take(), i)) return false;
          list.push_back(i);
          if (list.size() > 64) return fail("list too long"), false;
          if (is_punct(",")) take();
          else break;
        }
      }
      if (!expect("]")) return false;
      out = list;
      return true;
    }
    fail("expected an attribute value");
    return false;
  }

  // attrs := key=value (, key=value)*   (no surrounding brackets)
  bool parse_attr_list(Attrs &attrs, const char *close) {
    if (is_punct(close)) return true;
    while (true) {
      if (tok_.kind != Tok::Ident) return fail("expected an attribute name"), false;
      Token key = take();
      for (const auto &[k, v] : attrs)
        if (k == key.text) {
          diags_.error(key.loc, "attribute '" + key.text + "' is given twice");
          return false;
        }
      if (!expect("=")) return false;
      AttrValue v;
      if (!parse_attr_value(v)) return false;
      attrs.emplace_back(key.text, std::move(v));
      if (attrs.size() > 64) return fail("too many attributes"), false;
      if (is_punct(",")) take();
      else return true;
    }
  }

  bool parse_header(Graph &g) {
    if (!(tok_.kind == Tok::Ident && tok_.text == "graph")) return fail("expected 'graph @name(...) {'"), false;
    take();
    if (tok_.kind != Tok::Global) return fail("expected the graph name '@name'"), false;
    g.name = take().text;
    if (!expect("(")) return false;
    if (!parse_attr_list(g.config, ")")) return false;
    return expect(")") && expect("{");
  }

  bool parse_dims(Dims &dims) {
    if (!(tok_.kind == Tok::Ident && tok_.text == "f32")) return fail("expected a type such as f32[128,784]"), false;
    take();
    if (!expect("[")) return false;
    if (!is_punct("]")) {
      while (true) {
        if (tok_.kind != Tok::Number) return fail("expected a dimension"), false;
        int64_t d;
        if (!parse_int(take(), d)) return false;
        dims.push_back(d);
        if (dims.size() > 16) return fail("too many dimensions (at most 16)"), false;
        if (is_punct(",")) take();
        else break;
      }
    }
    return expect("]");
  }

  bool parse_loc(Loc &loc) {
    if (!(tok_.kind == Tok::Ident && tok_.text == "loc")) return fail("expected 'loc(file:line:col)'"), false;
    take();
    if (!is_punct("(")) return fail("expected '('"), false;
    // The lexer already read the token after '('; re-read the path raw when
    // it is not a quoted string.
    Token after = lex_.next();
    if (after.kind == Tok::Ident && after.text == "unknown") {
      tok_ = lex_.next();
      loc = Loc{};
      return expect(")");
    }
    std::string body;
    if (after.kind == Tok::String) {
      std::string rest = lex_.raw_until_paren();
      if (rest.size() < 4 || rest[0] != ':') {
        diags_.error(after.loc, "expected loc(\"file\":line:col)");
        return false;
      }
      body = rest.substr(1);
      loc.file = after.text;
    } else {
      std::string all = after.text + lex_.raw_until_paren();
      size_t c2 = all.rfind(':');
      size_t c1 = c2 == std::string::npos || c2 == 0 ? std::string::npos : all.rfind(':', c2 - 1);
      if (c1 == std::string::npos || c1 == 0) {
        diags_.error(after.loc, "expected loc(file:line:col)");
        return false;
      }
      loc.file = all.substr(0, c1);
      body = all.substr(c1 + 1);
    }
    if (loc.file.size() > kMaxIrStringLength) {
      diags_.error(after.loc, "the file name in loc(...) is " + std::to_string(loc.file.size()) +
                                  " characters long; at most " + std::to_string(kMaxIrStringLength) + " are allowed");
      return false;
    }
    size_t c = body.find(':');
    Token l{Tok::Number, body.substr(0, c), after.loc}, k{Tok::Number, c == std::string::npos ? "" : body.substr(c + 1), after.loc};
    int64_t line, col;
    if (!parse_int(l, line) || !parse_int(k, col)) return false;
    if (line < 1 || col < 1 || line > 100000000 || col > 100000000) {
      diags_.error(after.loc, "line and column in loc(...) must be positive");
      return false;
    }
    loc.line = static_cast<int>(line);
    loc.col = static_cast<int>(col);
    tok_ = lex_.next();
    return expect(")");
  }

  bool parse_node(Graph &g, const std::string &section) {
    if (g.nodes.size() >= kMaxIrNodes)
      return fail("more than " + std::to_string(kMaxIrNodes) + " ops in one graph"), false;
    Token name = take();
    Node n;
    n.name = name.text;
    n.section = section;
    if (!expect("=")) return false;
    if (tok_.kind != Tok::Ident) return fail("expected an op name"), false;
    Token op = take();
    auto o = op_from_name(op.text);
    if (!o) {
      diags_.error(op.loc, "unknown op '" + op.text + "'" + did_you_mean(op.text, op_names()));
      return false;
    }
    n.op = *o;
    if (!expect("(")) return false;
    if (!is_punct(")")) {
      while (true) {
        if (tok_.kind != Tok::Value) return fail("expected an operand '%name'"), false;
        Token v = take();
        auto it = index_.find(v.text);
        if (it == index_.end()) {
          std::vector<std::string> known;
          for (const auto &[k, i] : index_) known.push_back(k);
          diags_.error(v.loc, "use of undefined value '%" + v.text + "'" + did_you_mean(v.text, known));
          return false;
        }
        n.operands.push_back(it->second);
        if (n.operands.size() > 16) return fail("too many operands"), false;
        if (is_punct(",")) take();
        else break;
      }
    }
    if (!expect(")")) return false;
    if (is_punct("{")) {
      take();
      Attrs raw;
      if (!parse_attr_list(raw, "}") || !expect("}")) return false;
      // Numbers print as "1.0" but a schema f64 given as "1" is still fine.
      for (auto &[k, v] : raw)
        for (const AttrSpec &spec : op_info(n.op).attrs)
          if (spec.name == k && spec.type == AttrType::F64)
            if (const auto *i = std::get_if<int64_t>(&v)) v = static_cast<double>(*i);
      n.attrs = std::move(raw);
    }
    if (!expect(":")) return false;
    if (!parse_dims(n.dims)) return false;
    if (!parse_loc(n.loc)) return false;
    if (index_.count(n.name)) {
      diags_.error(name.loc, "value '%" + n.name + "' is defined twice");
      return false;
    }
    index_[n.name] = static_cast<int>(g.nodes.size());
    where_.push_back(name.loc);
    g.add(std::move(n));
    return true;
  }

  bool parse_return(Graph &g) {
    while (true) {
      if (tok_.kind != Tok::Ident) return fail("expected 'name=%value' after return"), false;
      Token key = take();
      if (!expect("=")) return false;
      if (tok_.kind != Tok::Value) return fail("expected '%value'"), false;
      Token v = take();
      auto it = index_.find(v.text);
      if (it == index_.end()) {
        diags_.error(v.loc, "use of undefined value '%" + v.text + "'");
        return false;
      }
      g.outputs.emplace_back(key.text, it->second);
      if (is_punct(",")) take();
      else return true;
    }
  }

  Lexer lex_;
  Diagnostics &diags_;
  Token tok_;
  std::map<std::string, int> index_;
  std::vector<Loc> where_;
};

}  // namespace

std::optional<Graph> parse_graph(const std::string &file, std::string_view text, Diagnostics &diags) {
  if (text.size() > kMaxIrBytes) {
    diags.error(Loc{file, 0, 0}, "IR text of " + std::to_string(text.size() >> 20) + " MiB is larger than the " +
                                     std::to_string(kMaxIrBytes >> 20) + " MiB allowed");
    return std::nullopt;
  }
  Parser p(file, text, diags);
  return p.parse();
}

}  // namespace vaec
