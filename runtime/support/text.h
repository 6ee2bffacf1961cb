// Numbers as the trainer, the inspection commands and `vaec data` print them.
#pragma once

#include <cstdint>
#include <string>

namespace vaec::rt {

// 61234 -> "61,234"
inline std::string grouped(int64_t n) {
  std::string digits = std::to_string(n < 0 ? -n : n), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return n < 0 ? "-" + out : out;
}

}  // namespace vaec::rt
