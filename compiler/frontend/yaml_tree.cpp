// Building the located YAML tree from yaml-cpp events (contract in yaml_tree.h).
#include "frontend/yaml_tree.h"

#include <sstream>

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/exceptions.h>
#include <yaml-cpp/mark.h>
#include <yaml-cpp/parser.h>

namespace vaec {
namespace {

class TreeBuilder : public YAML::EventHandler {
public:
  TreeBuilder(const std::string &file, const std::string &text, Diagnostics &d)
      : file_(file), text_(text), diags_(d) {}

  std::vector<YNode> documents;
  bool too_deep = false;

  void OnDocumentStart(const YAML::Mark &) override {}
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark &m, YAML::anchor_t a) override {
    check_anchor(m, a);
    YNode n;
    n.kind = YNode::Null;
    n.loc = loc(m);
    add(std::move(n));
  }
  void OnAlias(const YAML::Mark &m, YAML::anchor_t) override {
    diags_.error(loc(m), "YAML aliases (*name) are not supported in a vaec model");
    OnNull(m, 0);
  }
  void OnScalar(const YAML::Mark &m, const std::string &tag, YAML::anchor_t a,
                const std::string &value) override {
    check_anchor(m, a);
    check_tag(m, tag);
    YNode n;
    n.kind = YNode::Scalar;
    n.loc = loc(m);
    n.value = value;
    size_t pos = m.pos >= 0 ? static_cast<size_t>(m.pos) : text_.size();
    n.quoted = pos < text_.size() && (text_[pos] == '"' || text_[pos] == '\'');
    n.value_col = n.loc.col + (n.quoted ? 1 : 0);
    add(std::move(n));
  }
  void OnSequenceStart(const YAML::Mark &m, const std::string &tag, YAML::anchor_t a,
                       YAML::EmitterStyle::value) override {
    check_anchor(m, a);
    check_tag(m, tag);
    open(YNode::Seq, m);
  }
  void OnSequenceEnd() override { close(); }
  void OnMapStart(const YAML::Mark &m, const std::string &tag, YAML::anchor_t a,
                  YAML::EmitterStyle::value) override {
    check_anchor(m, a);
    check_tag(m, tag);
    open(YNode::Map, m);
  }
  void OnMapEnd() override { close(); }

private:
  Loc loc(const YAML::Mark &m) const { return {file_, m.line + 1, m.column + 1}; }
  void check_anchor(const YAML::Mark &m, YAML::anchor_t a) {
    if (a) diags_.error(loc(m), "YAML anchors (&name) are not supported in a vaec model");
  }
  void check_tag(const YAML::Mark &m, const std::string &tag) {
    if (!tag.empty() && tag != "?" && tag != "!")
      diags_.error(loc(m), "YAML tags ('" + tag + "') are not supported in a vaec model");
  }
  void open(YNode::Kind k, const YAML::Mark &m) {
    if (static_cast<int>(stack_.size()) >= kMaxYamlDepth && !too_deep) {
      too_deep = true;
      diags_.error(loc(m), "YAML nesting is deeper than " + std::to_string(kMaxYamlDepth) + " levels");
    }
    YNode n;
    n.kind = k;
    n.loc = loc(m);
    stack_.push_back(std::move(n));
    pending_key_.push_back(std::nullopt);
  }
  void close() {
    if (stack_.empty()) return;
    YNode n = std::move(stack_.back());
    stack_.pop_back();
    pending_key_.pop_back();
    add(std::move(n));
  }
  void add(YNode n) {
    if (stack_.empty()) {
      documents.push_back(std::move(n));
      return;
    }
    YNode &parent = stack_.back();
    if (parent.kind == YNode::Seq) {
      parent.items.push_back(std::move(n));
      return;
    }
    std::optional<YNode> &key = pending_key_.back();
    if (!key) {
      key = std::move(n);
      return;
    }
    if (key->kind == YNode::Scalar) {
      for (const auto &[k, v] : parent.entries)
        if (k.kind == YNode::Scalar && k.value == key->value) {
          Diagnostic &d = diags_.error(key->loc, "duplicate key '" + key->value + "'",
                                       static_cast<int>(key->value.size()));
          Diagnostics::note(d, k.loc, "'" + key->value + "' was first defined here");
          break;
        }
    } else {
      diags_.error(key->loc, "a mapping key must be a plain name");
    }
    parent.entries.emplace_back(std::move(*key), std::move(n));
    key.reset();
  }

  std::string file_;
  const std::string &text_;
  Diagnostics &diags_;
  std::vector<YNode> stack_;
  std::vector<std::optional<YNode>> pending_key_;
};

// Checks on the raw bytes, before YAML sees them.
bool check_bytes(const std::string &file, const std::string &text, Diagnostics &diags) {
  if (text.size() > kMaxFileBytes) {
    diags.error(Loc{file, 0, 0}, "file is larger than " + std::to_string(kMaxFileBytes >> 10) +
                                     " KiB; a model description is a few lines of YAML");
    return false;
  }
  int line = 1, col = 1;
  bool at_indent = true;
  int tab_errors = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (c == 0 || (c < 0x20 && c != '\n' && c != '\t' && c != '\r') || c == 0x7f) {
      diags.error(Loc{file, line, col}, "file contains binary data (byte 0x" +
                                            std::string(1, "0123456789abcdef"[c >> 4]) +
                                            std::string(1, "0123456789abcdef"[c & 15]) +
                                            "); a model must be YAML text");
      return false;
    }
    if (c >= 0x80) {  // validate UTF-8 so we never quote broken bytes back
      int n = (c >> 5) == 6 ? 1 : (c >> 4) == 14 ? 2 : (c >> 3) == 30 ? 3 : -1;
      bool ok = n > 0 && i + n < text.size() + 0 && i + n <= text.size() - 0;
      for (int k = 1; ok && k <= n; ++k)
        ok = i + k < text.size() && (static_cast<unsigned char>(text[i + k]) >> 6) == 2;
      if (!ok) {
        diags.error(Loc{file, line, col}, "file is not valid UTF-8 text");
        return false;
      }
      i += n;
      ++col;
      at_indent = false;
      continue;
    }
    if (c == '\t' && at_indent && tab_errors < 5) {
      ++tab_errors;
      diags.error(Loc{file, line, col}, "tab character in indentation; YAML indents with spaces");
    }
    if (c == '\n') {
      ++line;
      col = 1;
      at_indent = true;
      continue;
    }
    if (c != ' ' && c != '\t') at_indent = false;
    ++col;
  }
  return tab_errors == 0;
}

}  // namespace

std::optional<YNode> parse_yaml(const std::string &file, const std::string &text, Diagnostics &diags) {
  if (!check_bytes(file, text, diags)) return std::nullopt;
  bool blank = text.find_first_not_of(" \t\r\n") == std::string::npos;
  if (blank) {
    diags.error(Loc{file, 1, 1}, "file is empty; a model needs at least 'input', 'encoder', "
                                 "'decoder' and 'losses'");
    return std::nullopt;
  }
  // Pre-scan flow nesting: yaml-cpp recurses per bracket before we see events.
  int depth = 0, line = 1, col = 1;
  for (char c : text) {
    if (c == '[' || c == '{') {
      if (++depth > kMaxYamlDepth) {
        diags.error(Loc{file, line, col}, "YAML nesting is deeper than " +
                                              std::to_string(kMaxYamlDepth) + " levels");
        return std::nullopt;
      }
    } else if (c == ']' || c == '}') {
      depth = std::max(0, depth - 1);
    } else if (c == '\n') {
      ++line, col = 0, depth = 0;  // block scalars and comments may hold brackets
    }
    ++col;
  }
  std::istringstream in(text);
  TreeBuilder builder(file, text, diags);
  try {
    YAML::Parser parser(in);
    int docs = 0;
    while (parser.HandleNextDocument(builder)) {
      if (++docs > 1) {
        diags.error(Loc{file, 0, 0}, "file holds more than one YAML document; a model is one document");
        return std::nullopt;
      }
    }
  } catch (const YAML::Exception &e) {
    Loc l{file, e.mark.line + 1, e.mark.column + 1};
    if (e.mark.is_null()) l = Loc{file, 0, 0};
    diags.error(l, "YAML syntax error: " + e.msg);
    return std::nullopt;
  } catch (const std::exception &e) {
    diags.error(Loc{file, 0, 0}, std::string("YAML syntax error: ") + e.what());
    return std::nullopt;
  }
  if (builder.too_deep || builder.documents.empty()) {
    if (builder.documents.empty())
      diags.error(Loc{file, 1, 1}, "file holds no YAML document");
    return std::nullopt;
  }
  return std::move(builder.documents.front());
}

}  // namespace vaec
