// The checks of a model file's text around yaml-cpp (contract in
// yaml_checks.h).
#include "frontend/yaml_checks.h"

#include <string_view>


namespace vaec::yaml_checks {
namespace {

// The last flow bracket ('[' or '{') before `end` that is never closed in
// the whole text, or npos. Quotes and comments are skipped; a closing bracket
// of the wrong kind leaves the inner one open, and a line starting at column
// 1 ends every flow collection still open.
size_t unclosed_bracket_before(const std::string &text, size_t end) {
  std::vector<size_t> open, unclosed;
  char quote = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (quote) {
      if (c == '\\' && quote == '"') ++i;
      else if (c == quote) quote = 0;
      continue;
    }
    bool token_start = i == 0 || is_space(text[i - 1]) || std::string_view("[{,:").find(text[i - 1]) != std::string_view::npos;
    if ((c == '"' || c == '\'') && token_start) {
      quote = c;
    } else if (c == '#' && (i == 0 || is_space(text[i - 1]))) {
      i = std::min(text.find('\n', i), text.size()) - 1;
    } else if (c == '[' || c == '{') {
      open.push_back(i);
    } else if ((c == ']' || c == '}') && !open.empty()) {
      char want = c == ']' ? '[' : '{';
      if (text[open.back()] != want && open.size() > 1 && text[open[open.size() - 2]] == want) {
        unclosed.push_back(open.back());
        open.pop_back();
      }
      if (text[open.back()] == want) open.pop_back();
    } else if (c == '\n' && i + 1 < text.size() && !is_space(text[i + 1]) && text[i + 1] != ']' && text[i + 1] != '}') {
      unclosed.insert(unclosed.end(), open.begin(), open.end());
      open.clear();
    }
  }
  unclosed.insert(unclosed.end(), open.begin(), open.end());
  size_t best = std::string::npos;
  for (size_t u : unclosed)
    if (u < end && (best == std::string::npos || u > best)) best = u;
  return best;
}

// Where the plain key ending at the ':' at `colon` starts, if it is longer
// than yaml-cpp's 1024 characters; else npos.
size_t long_key_start(const std::string &text, size_t colon) {
  size_t start = colon;
  while (start > 0 && !is_space(text[start - 1]) && text[start - 1] != '{' && text[start - 1] != ',') --start;
  return colon - start > 1024 ? start : std::string::npos;
}

}  // namespace

// Checks on the raw bytes, before YAML sees them.
bool check_bytes(const std::string &file, const std::string &text, size_t max_bytes, Diagnostics &diags) {
  if (text.size() > max_bytes) {
    diags.error(Loc{file, 0, 0}, "file is larger than " + std::to_string(max_bytes >> 10) +
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
      col += n + 1;  // columns count bytes, as yaml-cpp's do
      at_indent = false;
      continue;
    }
    if (c == '\t' && at_indent && tab_errors < 5) {
      // A tab on a blank or comment line is harmless.
      size_t rest = text.find_first_not_of(" \t\r", i);
      if (rest != std::string::npos && text[rest] != '\n' && text[rest] != '#') {
        ++tab_errors;
        diags.error(Loc{file, line, col}, "tab character in indentation; YAML indents with spaces");
      }
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

// Flow nesting, before yaml-cpp sees it: yaml-cpp recurses per bracket
// before any event reaches us.
bool check_nesting(const std::string &file, const std::string &text, int max_depth, Diagnostics &diags) {
  int depth = 0, line = 1, col = 1;
  for (char c : text) {
    if (c == '[' || c == '{') {
      if (++depth > max_depth) {
        diags.error(Loc{file, line, col}, "YAML nesting is deeper than " + std::to_string(max_depth) +
                                              " levels; a model needs at most 3");
        return false;
      }
    } else if (c == ']' || c == '}') {
      depth = std::max(0, depth - 1);
    } else if (c == '\n') {
      ++line, col = 0, depth = 0;  // block scalars and comments may hold brackets
    }
    ++col;
  }
  return true;
}

// yaml-cpp's messages say what the parser expected; these say what is wrong
// in the text and how to fix it, at the place to fix.
void report_yaml_error(const std::string &file, const std::string &text, const YAML::Exception &e,
                       Diagnostics &diags) {
  LineTable lines(text);
  Loc at{file, e.mark.line + 1, e.mark.column + 1};
  if (e.mark.is_null()) at = Loc{file, 0, 0};
  size_t pos = e.mark.is_null() ? text.size() : std::min(static_cast<size_t>(e.mark.pos), text.size());
  char here = pos < text.size() ? text[pos] : 0;
  const std::string &m = e.msg;
  std::string msg = "YAML syntax error: " + m;
  auto bracket_error = [&](size_t open, const std::string &what) {
    char close = text[open] == '[' ? ']' : '}';
    diags.error(lines.at(file, open), "YAML syntax error: this '" + std::string(1, text[open]) + "' is never closed" +
                                          what + "; add '" + close + "'");
  };
  if (m == YAML::ErrorMsg::END_OF_SEQ_FLOW || m == YAML::ErrorMsg::END_OF_MAP_FLOW) {
    if (size_t open = unclosed_bracket_before(text, pos); open != std::string::npos) return bracket_error(open, "");
  } else if (m == YAML::ErrorMsg::FLOW_END) {
    size_t open = unclosed_bracket_before(text, pos);
    if (open != std::string::npos && (here == ']' || here == '}'))
      return bracket_error(open, " ('" + std::string(1, here) + "' at column " + std::to_string(at.col) +
                                     " cannot close it)");
    int depth = 0;
    for (size_t i = 0; i < pos; ++i) {
      if (text[i] == '\n' && i + 1 < text.size() && !is_space(text[i + 1])) depth = 0;
      depth += text[i] == '[' || text[i] == '{' ? 1 : text[i] == ']' || text[i] == '}' ? -1 : 0;
    }
    if (depth <= 0 && (here == ']' || here == '}'))
      msg = "YAML syntax error: '" + std::string(1, here) + "' closes nothing; remove it";
  } else if (m == YAML::ErrorMsg::END_OF_MAP || m == YAML::ErrorMsg::END_OF_SEQ) {
    size_t line_start = text.rfind('\n', pos == 0 ? 0 : pos - 1);
    line_start = line_start == std::string::npos ? 0 : line_start + 1;
    bool at_line_start = text.find_first_not_of(' ', line_start) >= pos;
    msg = at_line_start ? "YAML syntax error: this line is indented differently from the lines it belongs "
                          "with; keys of one mapping must line up"
                        : "YAML syntax error: unexpected text after a value; if the value is an "
                          "expression with quotes or ': ', quote all of it";
  } else if (m == YAML::ErrorMsg::MAP_VALUE && pos < text.size() && text[pos] == ':' &&
             long_key_start(text, pos) != std::string::npos) {
    // yaml-cpp reads a plain key of at most 1024 characters; a longer one
    // leaves its ':' looking like part of a value.
    const size_t start = long_key_start(text, pos);
    at = lines.at(file, start);
    msg = "this key is " + std::to_string(pos - start) + " characters long; YAML reads keys of up to 1024 "
          "characters, and a tensor name may have at most 64";
  } else if (m == YAML::ErrorMsg::MAP_VALUE) {
    msg = "YAML syntax error: unexpected ':'; a plain value cannot contain ': ' (check the indentation "
          "of this line, or quote the value)";
  } else if (m == YAML::ErrorMsg::EOF_IN_SCALAR) {
    // Point at the quote that opened the value (the last one at a token start).
    for (size_t i = pos; i-- > 0;) {
      bool token_start = i == 0 || is_space(text[i - 1]) || std::string_view("[{,:").find(text[i - 1]) != std::string_view::npos;
      if ((text[i] == '"' || text[i] == '\'') && token_start) {
        at = lines.at(file, i);
        break;
      }
    }
    msg = "YAML syntax error: the file ends inside this quoted value; close the quote";
  } else if (m.compare(0, std::string(YAML::ErrorMsg::INVALID_ESCAPE).size(), YAML::ErrorMsg::INVALID_ESCAPE) == 0) {
    msg = "YAML syntax error: unknown escape '\\" + m.substr(std::string(YAML::ErrorMsg::INVALID_ESCAPE).size()) +
          "' in a double-quoted value; use single quotes, which have no escapes";
  } else if (m == YAML::ErrorMsg::UNKNOWN_TOKEN && here) {
    msg = "YAML syntax error: a value cannot start with '" + std::string(1, here) + "'; quote the value";
  }
  diags.error(at, msg);
}

}  // namespace vaec::yaml_checks
