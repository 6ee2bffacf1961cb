// The fields of plan text, both ways (contract in plan_fields.h).
#include "abi/plan_fields.h"

#include <charconv>
#include <sstream>

#include "abi/plan.h"

namespace vaec::plan::text {

std::string extent_text(int64_t v) {
  return v == kBatch ? "B" : v < 0 ? std::to_string(-v) + "*B" : std::to_string(v);
}

bool parse_extent(const std::string &t, int64_t &out) {
  if (t == "B") return out = kBatch, true;
  const bool times = t.size() > 2 && t.compare(t.size() - 2, 2, "*B") == 0;
  const char *end = t.data() + t.size() - (times ? 2 : 0);
  auto [ptr, ec] = std::from_chars(t.data(), end, out);
  if (ec != std::errc() || ptr != end || out < 0) return false;
  if (times) {  // "1*B" is written "B"; a bound keeps c * batch far from overflow
    if (out < 2 || out > (int64_t{1} << 24)) return false;
    out = batch_times(out);
  }
  return true;
}

bool read_extent(std::istream &ls, int64_t &out) {
  std::string word;
  return (ls >> word) && parse_extent(word, out);
}

std::string linear_text(int64_t a, int64_t b) {
  if (b == 0) return std::to_string(a);
  return (a != 0 ? std::to_string(a) + "+" : "") + std::to_string(b) + "*B";
}

bool parse_linear(const std::string &t, int64_t &a, int64_t &b) {
  a = b = 0;
  std::string rest = t;
  if (size_t plus = t.find('+'); plus != std::string::npos) {
    const std::string first = t.substr(0, plus);
    auto [ptr, ec] = std::from_chars(first.data(), first.data() + first.size(), a);
    if (ec != std::errc() || ptr != first.data() + first.size() || a < 0) return false;
    rest = t.substr(plus + 1);
  } else if (t.size() < 2 || t.compare(t.size() - 2, 2, "*B") != 0) {
    auto [ptr, ec] = std::from_chars(t.data(), t.data() + t.size(), a);
    return ec == std::errc() && ptr == t.data() + t.size() && a >= 0;
  }
  if (rest.size() < 3 || rest.compare(rest.size() - 2, 2, "*B") != 0) return false;
  auto [ptr, ec] = std::from_chars(rest.data(), rest.data() + rest.size() - 2, b);
  return ec == std::errc() && ptr == rest.data() + rest.size() - 2 && b >= 0;
}

std::string ints(const std::vector<int64_t> &v) {
  if (v.empty()) return "-";
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) out += (i ? "," : "") + extent_text(v[i]);
  return out;
}

bool parse_ints(const std::string &text, std::vector<int64_t> &out) {
  out.clear();
  if (text == "-") return true;
  std::string item;
  std::istringstream in(text);
  while (std::getline(in, item, ',')) {
    int64_t v;
    if (!parse_extent(item, v)) return false;
    out.push_back(v);
  }
  return !out.empty() && text.back() != ',';
}

namespace {

template <class Int>
bool read_integer(std::istream &ls, Int &out) {
  std::string word;
  if (!(ls >> word)) return false;
  const char *end = word.data() + word.size();
  auto [ptr, ec] = std::from_chars(word.data(), end, out);
  return ec == std::errc() && ptr == end;
}

}  // namespace

bool read_int(std::istream &ls, int &out) { return read_integer(ls, out); }
bool read_int64(std::istream &ls, int64_t &out) { return read_integer(ls, out); }

}  // namespace vaec::plan::text
