// A located YAML tree: yaml-cpp's event parser turned into nodes that keep
// their file:line:col, with the checks yaml-cpp does not make (duplicate keys,
// tabs in indentation, binary input, nesting depth, anchors and tags we do not
// support). Everything the front end reads comes through here.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "support/diagnostics.h"

namespace vaec {

struct YNode {
  enum Kind { Null, Scalar, Seq, Map } kind = Null;
  Loc loc;
  std::string value;      // Scalar
  bool quoted = false;    // Scalar written in quotes (so 'x' is never a number)
  int value_col = 0;      // column where the scalar's text starts (after a quote)
  // Where the text of a Scalar jumps (a value folded over several lines): the
  // offset in `value` and the file position of that byte, in order.
  std::vector<std::pair<int, Loc>> spans;
  std::vector<YNode> items;                         // Seq
  std::vector<std::pair<YNode, YNode>> entries;     // Map: key, value
  YNode() {}  // user-provided: clang + libstdc++ 12 reject the recursive pair otherwise

  // Where byte `offset` of a Scalar's value is in the file.
  Loc value_loc(int offset) const {
    Loc l{loc.file, loc.line, value_col + offset};
    for (const auto &[o, at] : spans)
      if (o <= offset) l = Loc{at.file, at.line, at.col + (offset - o)};
    return l;
  }

  const YNode *get(std::string_view key) const {
    for (const auto &[k, v] : entries)
      if (k.kind == Scalar && k.value == key) return &v;
    return nullptr;
  }
};

// Limits that keep hostile input cheap (docs/LIMITS.md): the front end
// accepts files up to kMaxFileBytes, YAML nesting up to kMaxYamlDepth and up
// to kMaxYamlNodes values (each scalar, list and mapping, keys included).
// Anchors and aliases are refused while parsing, never expanded.
constexpr size_t kMaxFileBytes = 1 << 20;
constexpr int kMaxYamlDepth = 32;
constexpr int kMaxYamlNodes = 10000;

// Parses one YAML document. Reports every problem found to `diags` and
// returns nullopt if the text cannot be used at all.
std::optional<YNode> parse_yaml(const std::string &file, const std::string &text, Diagnostics &diags);

// A node for messages: "'784'", "a list", "a mapping" or "nothing".
std::string kind_name(const YNode &n);

}  // namespace vaec
