// Building the located YAML tree from yaml-cpp events (contract in yaml_tree.h).
#include "frontend/yaml_tree.h"

#include <algorithm>
#include <map>
#include <sstream>

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/exceptions.h>
#include <yaml-cpp/mark.h>
#include <yaml-cpp/parser.h>

#include "frontend/yaml_checks.h"

namespace vaec {
namespace {

using yaml_checks::is_space;
using yaml_checks::LineTable;
using yaml_checks::check_bytes;
using yaml_checks::check_nesting;
using yaml_checks::report_yaml_error;

// "!!str" rather than yaml-cpp's expanded "tag:yaml.org,2002:str".
std::string tag_as_written(const std::string &tag) {
  const std::string core = "tag:yaml.org,2002:";
  return tag.compare(0, core.size(), core) == 0 ? "!!" + tag.substr(core.size()) : tag;
}

// Thrown out of yaml-cpp's parser to stop at kMaxYamlNodes (reported).
struct TooManyNodes {};

class TreeBuilder : public YAML::EventHandler {
public:
  TreeBuilder(const std::string &file, const std::string &text, Diagnostics &d)
      : file_(file), text_(text), lines_(text), diags_(d) {}

  std::vector<YNode> documents;
  std::vector<Loc> document_starts;
  std::vector<int> cut_lines;  // lines with a value cut short by a comma in {...}
  bool too_deep = false;
  bool broken = false;  // the tree does not reflect the text (an unclosed quote)

  void OnDocumentStart(const YAML::Mark &m) override { document_starts.push_back(loc(m)); }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark &m, YAML::anchor_t a) override {
    if (skip_leaf(m)) return;
    check_anchor(m, a);
    YNode n;
    n.kind = YNode::Null;
    n.loc = loc(m);
    add(std::move(n), a);
  }
  // Aliases are refused here, as events, before anything is expanded: a
  // few lines of nested aliases ("billion laughs") would otherwise stand
  // for billions of nodes.
  void OnAlias(const YAML::Mark &m, YAML::anchor_t a) override {
    if (skip_leaf(m)) return;
    diags_.error(loc(m), "YAML aliases (*name) are not supported in a vaec model; write the value out");
    // Go on with an anchored scalar, so the alias causes no further errors,
    // while the copies stay within the size of a file; anything else leaves
    // a tree that does not reflect the text.
    YNode n;
    n.loc = loc(m);
    auto it = scalar_anchors_.find(a);
    if (it != scalar_anchors_.end() && alias_bytes_ + it->second.value.size() <= kMaxFileBytes) {
      alias_bytes_ += it->second.value.size();
      n = it->second;
    } else {
      broken = true;
    }
    add(std::move(n), 0);
  }
  void OnScalar(const YAML::Mark &m, const std::string &tag, YAML::anchor_t a,
                const std::string &value) override {
    if (skip_leaf(m)) return;
    check_anchor(m, a);
    check_tag(m, tag);
    YNode n;
    n.kind = YNode::Scalar;
    n.loc = loc(m);
    n.value = value;
    size_t pos = m.pos >= 0 ? static_cast<size_t>(m.pos) : text_.size();
    if (pos < text_.size() && (text_[pos] == '&' || text_[pos] == '!')) {
      // The mark is on an anchor or tag (reported above); the text follows it.
      while (pos < text_.size() && (text_[pos] == '&' || text_[pos] == '!')) {
        while (pos < text_.size() && !is_space(text_[pos])) ++pos;
        while (pos < text_.size() && is_space(text_[pos])) ++pos;
      }
      n.loc = lines_.at(file_, pos);
    }
    n.quoted = pos < text_.size() && (text_[pos] == '"' || text_[pos] == '\'');
    n.value_col = n.loc.col + (n.quoted ? 1 : 0);
    if (n.quoted) check_closing_quote(n, pos);
    else if (!stack_.empty() && stack_.back().flow) check_flow_comma(n, pos);
    map_spans(n, pos);
    add(std::move(n), a);
  }
  void OnSequenceStart(const YAML::Mark &m, const std::string &tag, YAML::anchor_t a,
                       YAML::EmitterStyle::value style) override {
    if (skip_open(m)) return;
    check_anchor(m, a);
    check_tag(m, tag);
    open(YNode::Seq, m, a, style == YAML::EmitterStyle::Flow);
  }
  void OnSequenceEnd() override { close(); }
  void OnMapStart(const YAML::Mark &m, const std::string &tag, YAML::anchor_t a,
                  YAML::EmitterStyle::value style) override {
    if (skip_open(m)) return;
    check_anchor(m, a);
    check_tag(m, tag);
    open(YNode::Map, m, a, style == YAML::EmitterStyle::Flow);
  }
  void OnMapEnd() override { close(); }

private:
  struct Open {
    YNode node;
    YAML::anchor_t anchor = 0;
    bool flow = false;
    std::optional<YNode> key;  // Map: the key waiting for its value
    std::map<std::string, size_t> index;  // Map: entry of each scalar key
    bool drop_value = false;   // Map: the key was swallowed, so is its value
  };

  Loc loc(const YAML::Mark &m) const { return {file_, m.line + 1, m.column + 1}; }
  void check_anchor(const YAML::Mark &m, YAML::anchor_t a) {
    if (a) diags_.error(loc(m), "YAML anchors (&name) are not supported in a vaec model; write the value out");
  }
  void check_tag(const YAML::Mark &m, const std::string &tag) {
    if (!tag.empty() && tag != "?" && tag != "!")
      diags_.error(loc(m), "YAML tags ('" + tag_as_written(tag) + "') are not supported in a vaec model; remove it");
  }

  // yaml-cpp reads an unclosed quote up to the end of the file without
  // complaint when the file ends with a newline.
  void check_closing_quote(const YNode &n, size_t pos) {
    char q = text_[pos];
    for (size_t i = pos + 1; i < text_.size(); ++i) {
      if (q == '"' && text_[i] == '\\') ++i;
      else if (text_[i] == q && q == '\'' && i + 1 < text_.size() && text_[i + 1] == '\'') ++i;
      else if (text_[i] == q) return;
    }
    diags_.error(n.loc, std::string("this quoted value has no closing ") + q + "; add it at the end of the value");
    broken = true;
  }

  // Inside {...} or [...] a comma ends a plain value, so `{optimizer:
  // adam(lr=1e-3, eps=1e-8)}` gives 'adam(lr=1e-3' and a key 'eps=1e-8)'.
  // Say so, and keep the whole call as the value so its own checks still run.
  void check_flow_comma(YNode &n, size_t pos) {
    int open = 0;
    for (char c : n.value) open += c == '(' ? 1 : c == ')' ? -1 : 0;
    if (open <= 0) return;
    int depth = 0;
    size_t end = 0;
    for (size_t i = pos; i < text_.size() && !end; ++i) {
      char c = text_[i];
      if (c == '(' || c == '[') ++depth;
      else if (c == ')' || c == ']') {
        if (--depth == 0) end = i + 1;
        if (depth < 0) break;
      } else if (c == '{' || c == '}' || c == '#') {
        break;
      }
    }
    std::string cut = n.value;
    if (end) {
      std::string whole = text_.substr(pos, end - pos);
      if (whole.find('\n') == std::string::npos) {
        n.value = whole;
        swallow_until_ = end;
      }
    }
    cut_lines.push_back(n.loc.line);
    diags_.error(n.loc, "inside {...} or [...] a comma ends a YAML value, so this value is cut to '" + cut +
                            "'; quote it (\"" + n.value + "\") or write the mapping one key per line",
                 static_cast<int>(n.value.size()));
  }

  // Fills n.spans: where the bytes of the value are in the file. Folded
  // lines, block scalars and indentation make the value differ from the
  // text; an escape in a double-quoted string ends the mapping (later
  // offsets are then extrapolated from the last span).
  void map_spans(YNode &n, size_t pos) {
    size_t j = pos, prev = std::string::npos;
    char quote = 0;
    if (j < text_.size() && (text_[j] == '"' || text_[j] == '\'')) {
      quote = text_[j++];
    } else if (j < text_.size() && (text_[j] == '|' || text_[j] == '>')) {
      j = text_.find('\n', j);
      j = j == std::string::npos ? text_.size() : j + 1;
    }
    auto skip_space = [&](size_t k) {
      while (k < text_.size() && is_space(text_[k])) ++k;
      return k;
    };
    for (size_t i = 0; i < n.value.size() && j < text_.size(); ++i) {
      char c = n.value[i];
      size_t at;
      if (quote == '\'' && c == '\'' && text_.compare(j, 2, "''") == 0) {
        at = j;
        j += 2;
      } else if (quote == '"' && text_[j] == '\\' && j + 1 < text_.size()) {
        // An escape: \n is one byte of the value, \u00e9 two, and so on.
        char kind = text_[j + 1];
        size_t digits = kind == 'x' ? 2 : kind == 'u' ? 4 : kind == 'U' ? 8 : 0;
        unsigned long code = digits ? std::strtoul(text_.substr(j + 2, digits).c_str(), nullptr, 16) : 0;
        size_t bytes = !digits ? 1 : code < 0x80 ? 1 : code < 0x800 ? 2 : code < 0x10000 ? 3 : 4;
        if (kind == '\n' || kind == '\r') break;  // an escaped line break: give up
        at = j;
        j += 2 + digits;
        i += bytes - 1;
      } else if (text_[j] == c) {
        at = j++;
      } else if (is_space(text_[j]) && (c == ' ' || c == '\n')) {
        at = j;  // a line break folded into a space
        j = skip_space(j);
      } else if (is_space(text_[j]) && text_[skip_space(j)] == c) {
        j = skip_space(j);  // indentation of a continuation line
        at = j++;
      } else {
        break;
      }
      if (prev == std::string::npos || at != prev + 1) n.spans.emplace_back(static_cast<int>(i), lines_.at(file_, at));
      prev = at;  // after an escape, the next byte starts a new span
    }
  }

  // Events inside a value swallowed by check_flow_comma are dropped.
  bool skip_leaf(const YAML::Mark &m) {
    if (dropped_depth_ > 0) return true;
    if (!swallowed(m)) return false;
    drop_one();
    return true;
  }
  bool skip_open(const YAML::Mark &m) {
    if (dropped_depth_ > 0 || swallowed(m)) {
      ++dropped_depth_;
      return true;
    }
    return false;
  }
  bool swallowed(const YAML::Mark &m) {
    if (!stack_.empty() && stack_.back().drop_value && stack_.back().key) return true;
    return m.pos >= 0 && static_cast<size_t>(m.pos) < swallow_until_;
  }
  void drop_one() {
    if (stack_.empty() || stack_.back().node.kind != YNode::Map) return;
    Open &o = stack_.back();
    if (o.drop_value) {
      o.drop_value = false;
      o.key.reset();
    } else if (o.key) {
      o.key.reset();
    } else {
      o.key.emplace();  // a placeholder: the value that follows goes too
      o.drop_value = true;
    }
  }

  void open(YNode::Kind k, const YAML::Mark &m, YAML::anchor_t a, bool flow) {
    if (static_cast<int>(stack_.size()) >= kMaxYamlDepth && !too_deep) {
      too_deep = true;
      diags_.error(loc(m), "YAML nesting is deeper than " + std::to_string(kMaxYamlDepth) + " levels");
    }
    Open o;
    o.node.kind = k;
    o.node.loc = loc(m);
    o.anchor = a;
    o.flow = flow;
    stack_.push_back(std::move(o));
  }
  void close() {
    if (dropped_depth_ > 0) {
      if (--dropped_depth_ == 0) drop_one();
      return;
    }
    if (stack_.empty()) return;
    Open o = std::move(stack_.back());
    stack_.pop_back();
    add(std::move(o.node), o.anchor);
  }
  void add(YNode n, YAML::anchor_t anchor) {
    if (++nodes_ > kMaxYamlNodes) {
      diags_.error(n.loc, "more than " + std::to_string(kMaxYamlNodes) +
                              " YAML values in this file; a model has a few hundred");
      throw TooManyNodes{};
    }
    // Only scalars are kept for aliases (above); a collection is never copied.
    if (anchor && (n.kind == YNode::Scalar || n.kind == YNode::Null)) scalar_anchors_[anchor] = n;
    if (stack_.empty()) {
      documents.push_back(std::move(n));
      return;
    }
    Open &o = stack_.back();
    YNode &parent = o.node;
    if (parent.kind == YNode::Seq) {
      parent.items.push_back(std::move(n));
      return;
    }
    std::optional<YNode> &key = o.key;
    if (!key) {
      key = std::move(n);
      return;
    }
    // An empty value has no text of its own; yaml-cpp marks the next token.
    if (n.kind == YNode::Null) n.loc = key->loc;
    if (key->kind == YNode::Scalar) {
      auto [it, fresh] = o.index.emplace(key->value, parent.entries.size());
      if (!fresh) {
        auto &[k, v] = parent.entries[it->second];
        Diagnostic &d = diags_.error(key->loc, "duplicate key '" + key->value + "'; each key may appear once",
                                     static_cast<int>(key->value.size()));
        Diagnostics::note(d, k.loc, "'" + key->value + "' was first defined here");
        // Keep one entry, so later checks do not report the name again;
        // two mappings under one key (two 'encoder:' blocks) are merged.
        if (v.kind == YNode::Map && n.kind == YNode::Map)
          for (auto &entry : n.entries) v.entries.push_back(std::move(entry));
        key.reset();
        return;
      }
    } else {
      diags_.error(key->loc, "a mapping key must be a plain name");
    }
    parent.entries.emplace_back(std::move(*key), std::move(n));
    key.reset();
  }

  std::string file_;
  const std::string &text_;
  LineTable lines_;
  Diagnostics &diags_;
  std::vector<Open> stack_;
  std::map<YAML::anchor_t, YNode> scalar_anchors_;
  size_t alias_bytes_ = 0;  // bytes of anchored scalars copied for aliases
  int nodes_ = 0;
  size_t swallow_until_ = 0;
  int dropped_depth_ = 0;
};

}  // namespace

std::optional<YNode> parse_yaml(const std::string &file, const std::string &source, Diagnostics &diags) {
  // yaml-cpp counts positions after a byte order mark; so do we.
  const std::string text = source.compare(0, 3, "\xef\xbb\xbf") == 0 ? source.substr(3) : source;
  if (!check_bytes(file, text, kMaxFileBytes, diags)) return std::nullopt;
  bool blank = text.find_first_not_of(" \t\r\n") == std::string::npos;
  if (blank) {
    diags.error(Loc{file, 0, 0}, "file is empty; a model needs at least the sections 'input', 'encoder', "
                                 "'decoder' and 'losses'");
    return std::nullopt;
  }
  if (!check_nesting(file, text, kMaxYamlDepth, diags)) return std::nullopt;
  std::istringstream in(text);
  TreeBuilder builder(file, text, diags);
  try {
    YAML::Parser parser(in);
    while (parser.HandleNextDocument(builder)) {
      if (builder.document_starts.size() > 1) {
        diags.error(builder.document_starts[1], "a second YAML document starts here; a model file holds "
                                                "one document (remove the '---')", 3);
        return std::nullopt;
      }
    }
  } catch (const TooManyNodes &) {
    return std::nullopt;
  } catch (const YAML::Exception &e) {
    // A value cut short by a comma often breaks the YAML after it; the cut
    // was reported and is the thing to fix.
    const auto &cut = builder.cut_lines;
    if (std::find(cut.begin(), cut.end(), e.mark.line + 1) == cut.end()) report_yaml_error(file, text, e, diags);
    return std::nullopt;
  } catch (const std::exception &e) {
    diags.error(Loc{file, 0, 0}, std::string("YAML syntax error: ") + e.what());
    return std::nullopt;
  }
  if (builder.too_deep || builder.broken) return std::nullopt;
  if (builder.documents.empty()) {
    diags.error(Loc{file, 0, 0}, "file holds only comments; a model needs at least the sections 'input', "
                                 "'encoder', 'decoder' and 'losses'");
    return std::nullopt;
  }
  return std::move(builder.documents.front());
}

std::string kind_name(const YNode &n) {
  switch (n.kind) {
  case YNode::Null: return "nothing";
  case YNode::Scalar: return "'" + n.value + "'";
  case YNode::Seq: return "a list";
  case YNode::Map: return "a mapping";
  }
  return "?";
}

}  // namespace vaec
