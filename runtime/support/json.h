// A string as a JSON string literal (quotes, backslashes and control
// characters escaped), for the trainer's JSON outputs.
#pragma once

#include <cstdio>
#include <string>

namespace vaec::rt {

inline std::string json_string(const std::string &s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

}  // namespace vaec::rt
