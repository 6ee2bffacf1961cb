// The checks of a model file's text around yaml-cpp (private to
// frontend/yaml_tree.cpp): its bytes and its flow nesting before yaml-cpp
// reads it, and what yaml-cpp's terse errors mean in the user's text, said
// at the place to fix.
#pragma once

#include <algorithm>
#include <string>
#include <vector>

#include <yaml-cpp/exceptions.h>

#include "support/diagnostics.h"

namespace vaec::yaml_checks {

inline bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

// Line and column (1-based, bytes) of any offset in the text.
class LineTable {
public:
  explicit LineTable(const std::string &text) {
    starts_.push_back(0);
    for (size_t i = 0; i < text.size(); ++i)
      if (text[i] == '\n') starts_.push_back(i + 1);
  }
  Loc at(const std::string &file, size_t pos) const {
    size_t line = std::upper_bound(starts_.begin(), starts_.end(), pos) - starts_.begin();
    return {file, static_cast<int>(line), static_cast<int>(pos - starts_[line - 1]) + 1};
  }

private:
  std::vector<size_t> starts_;
};

// Size (at most max_bytes), control bytes and tabs in indentation; false
// after an error.
bool check_bytes(const std::string &file, const std::string &text, size_t max_bytes, Diagnostics &diags);
// Flow brackets nested deeper than max_depth; false after an error.
bool check_nesting(const std::string &file, const std::string &text, int max_depth, Diagnostics &diags);
// yaml-cpp's exception `e` on `text`, reported for people.
void report_yaml_error(const std::string &file, const std::string &text, const YAML::Exception &e,
                       Diagnostics &diags);

}  // namespace vaec::yaml_checks
