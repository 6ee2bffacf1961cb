// Reads the textual graph IR written by print_graph. Syntax errors are
// reported at their position in the IR text; the result is then verified.
#pragma once

#include <optional>
#include <string>

#include "ir/graph.h"
#include "support/diagnostics.h"

namespace vaec {

// Parses `text` (named `file` in diagnostics). Returns nullopt after reporting
// every error it found to `diags`.
std::optional<Graph> parse_graph(const std::string &file, std::string_view text,
                                 Diagnostics &diags);

}  // namespace vaec
