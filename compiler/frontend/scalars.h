// YAML scalars read as numbers, with the mistakes reported for people.
#pragma once

#include <cstdint>
#include <string>

#include "frontend/yaml_tree.h"
#include "support/diagnostics.h"

namespace vaec {

// A YAML scalar as an integer in [lo, hi]; false after an error. `out`
// keeps its value (a default) unless the scalar is a valid integer.
bool read_int(const YNode &n, const std::string &what, int64_t lo, int64_t hi, int64_t &out, Diagnostics &diags);

}  // namespace vaec
