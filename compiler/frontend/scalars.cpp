// YAML scalars read as numbers (contract in scalars.h).
#include "frontend/scalars.h"

#include <charconv>

namespace vaec {

bool read_int(const YNode &n, const std::string &what, int64_t lo, int64_t hi, int64_t &out, Diagnostics &diags) {
  if (n.kind == YNode::Scalar && !n.quoted) {
    const std::string &v = n.value;
    int64_t value = 0;
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), value);
    if (ec == std::errc() && p == v.data() + v.size()) {
      if (value >= lo && value <= hi) {
        out = value;
        return true;
      }
      diags.error(n.loc, what + " must be between " + std::to_string(lo) + " and " + std::to_string(hi) +
                              ", got " + v, static_cast<int>(v.size()));
      return false;
    }
    if (ec == std::errc::result_out_of_range) {
      diags.error(n.loc, what + " " + v + " is out of range", static_cast<int>(v.size()));
      return false;
    }
  }
  diags.error(n.loc, what + " must be an integer, got " + kind_name(n));
  return false;
}

}  // namespace vaec
