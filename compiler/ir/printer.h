// Textual form of the graph IR. print_graph's output parses back with
// parse_graph (ir/parser.h) to an identical graph: print → parse → print is the
// identity, and tests hold it to that.
#pragma once

#include <iosfwd>
#include <string>

#include "ir/graph.h"

namespace vaec {

void print_graph(std::ostream &os, const Graph &g);
std::string graph_to_string(const Graph &g);
// Graphviz DOT: one box per op, edges labelled with shapes, one cluster per section.
void print_dot(std::ostream &os, const Graph &g);

std::string format_f64(double v);          // shortest text that reads back exactly
std::string format_attr(const AttrValue &v);
std::string quote(std::string_view s);     // "..." with escapes

}  // namespace vaec
