// Printing the graph IR as text and as Graphviz DOT.
#include "ir/printer.h"

#include <charconv>
#include <cmath>
#include <ostream>
#include <sstream>

namespace vaec {

std::string format_f64(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v < 0 ? "-inf" : "inf";
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  std::string s(buf, end);
  if (s.find_first_of(".en") == std::string::npos) s += ".0";
  return s;
}

std::string quote(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c >= 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

std::string format_attr(const AttrValue &v) {
  if (const auto *i = std::get_if<int64_t>(&v)) return std::to_string(*i);
  if (const auto *d = std::get_if<double>(&v)) return format_f64(*d);
  if (const auto *s = std::get_if<std::string>(&v)) return quote(*s);
  const auto &list = std::get<std::vector<int64_t>>(v);
  std::string s = "[";
  for (size_t i = 0; i < list.size(); ++i) s += (i ? "," : "") + std::to_string(list[i]);
  return s + "]";
}

static std::string format_attrs(const Attrs &attrs) {
  std::string s;
  for (size_t i = 0; i < attrs.size(); ++i)
    s += (i ? ", " : "") + attrs[i].first + "=" + format_attr(attrs[i].second);
  return s;
}

// A path the parser reads back unquoted: not "unknown" (that is loc(unknown))
// and not starting with "//" (the lexer would take it for a comment).
static bool plain_path(std::string_view p) {
  if (p.empty() || p == "unknown" || p.substr(0, 2) == "//") return false;
  for (char c : p)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '/' ||
          c == '-' || c == '+'))
      return false;
  return true;
}

static std::string format_loc(const Loc &l) {
  if (!l.known()) return "loc(unknown)";
  std::string file = plain_path(l.file) ? l.file : quote(l.file);
  return "loc(" + file + ":" + std::to_string(l.line) + ":" + std::to_string(l.col) + ")";
}

void print_graph(std::ostream &os, const Graph &g) {
  os << "graph @" << g.name << "(" << format_attrs(g.config) << ") {\n";
  std::string section;
  for (const Node &n : g.nodes) {
    if (n.section != section) {
      section = n.section;
      os << section << ":\n";
    }
    os << "  %" << n.name << " = " << op_name(n.op) << "(";
    for (size_t i = 0; i < n.operands.size(); ++i)
      os << (i ? ", " : "") << "%" << g.nodes[n.operands[i]].name;
    os << ")";
    if (!n.attrs.empty()) os << " {" << format_attrs(n.attrs) << "}";
    os << " : f32" << dims_str(n.dims) << " " << format_loc(n.loc) << "\n";
  }
  os << "  return ";
  for (size_t i = 0; i < g.outputs.size(); ++i)
    os << (i ? ", " : "") << g.outputs[i].first << "=%" << g.nodes[g.outputs[i].second].name;
  os << "\n}\n";
}

std::string graph_to_string(const Graph &g) {
  std::ostringstream os;
  print_graph(os, g);
  return os.str();
}

static std::string dot_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

void print_dot(std::ostream &os, const Graph &g) {
  os << "digraph \"" << dot_escape(g.name) << "\" {\n"
     << "  rankdir=TB;\n  node [shape=box, fontname=\"monospace\", fontsize=10];\n"
     << "  edge [fontname=\"monospace\", fontsize=9];\n";
  // Sections become clusters; nodes are listed in schedule order inside them.
  std::string section;
  int cluster = 0;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node &n = g.nodes[i];
    if (n.section != section) {
      if (!section.empty()) os << "  }\n";
      section = n.section;
      os << "  subgraph cluster_" << cluster++ << " {\n    label=\"" << dot_escape(section)
         << "\"; style=rounded; color=gray;\n";
    }
    std::string style;
    if (n.op == Op::Param) style = ", style=filled, fillcolor=\"#fff2cc\"";
    else if (n.op == Op::Input) style = ", style=filled, fillcolor=\"#dae8fc\"";
    else if (n.op == Op::Normal) style = ", style=filled, fillcolor=\"#e1d5e7\"";
    else if (op_info(n.op).kind == OpKind::Layer) style = ", style=filled, fillcolor=\"#d5e8d4\"";
    os << "    n" << i << " [label=\"%" << dot_escape(n.name) << " = " << op_name(n.op);
    if (!n.attrs.empty()) os << "\\n" << dot_escape(format_attrs(n.attrs));
    os << "\\nf32" << dims_str(n.dims) << "\"" << style << "];\n";
  }
  if (!section.empty()) os << "  }\n";
  for (size_t i = 0; i < g.nodes.size(); ++i)
    for (int o : g.nodes[i].operands)
      os << "  n" << o << " -> n" << i << " [label=\"" << dims_str(g.nodes[o].dims) << "\"];\n";
  for (const auto &[name, idx] : g.outputs)
    os << "  \"out_" << dot_escape(name) << "\" [shape=ellipse, label=\"" << dot_escape(name) << "\"];\n  n"
       << idx << " -> \"out_" << dot_escape(name) << "\";\n";
  os << "}\n";
}

}  // namespace vaec
