// Reads the textual graph IR written by print_graph. Syntax errors are
// reported at their position in the IR text; the result is then verified.
#pragma once

#include <optional>
#include <string>

#include "ir/graph.h"
#include "support/diagnostics.h"

namespace vaec {

// Limits that keep hostile IR text cheap (docs/LIMITS.md): the text's size,
// its ops, and the length of a name (%value, @graph, op or attribute), of a
// quoted string and of a number.
constexpr size_t kMaxIrBytes = 16 << 20;
constexpr size_t kMaxIrNodes = 50000;
constexpr size_t kMaxIrNameLength = 256;
constexpr size_t kMaxIrStringLength = 4096;

// Parses `text` (named `file` in diagnostics). Returns nullopt after reporting
// every error it found to `diags`.
std::optional<Graph> parse_graph(const std::string &file, std::string_view text,
                                 Diagnostics &diags);

}  // namespace vaec
