// Compile options as text (contract in compile_options.h).
#include "driver/compile_options.h"

#include <unistd.h>

#include <charconv>
#include <sstream>

namespace vaec {

int default_threads() {
  const long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n >= 1 && n <= 4096 ? static_cast<int>(n) : 1;
}

std::string format_compile_options(const CompileOptions &o) {
  auto on = [](bool b) { return b ? "on" : "off"; };
  std::ostringstream os;
  os << "threads=" << o.threads << "\nconv_layouts=" << (o.plain_conv_layouts ? "plain" : "auto")
     << "\nsplit_products=" << on(o.split_products) << "\nzero_columns=" << on(o.zero_columns)
     << "\nlate_updates=" << on(o.late_updates) << "\n";
  return os.str();
}

bool parse_compile_options(const std::string &text, CompileOptions &out, std::string &error) {
  CompileOptions o;
  std::istringstream in(text);
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    if (line.empty()) continue;
    const size_t eq = line.find('=');
    const std::string key = line.substr(0, eq), value = eq == std::string::npos ? "" : line.substr(eq + 1);
    auto flag = [&](bool &b) {
      if (value != "on" && value != "off") return false;
      b = value == "on";
      return true;
    };
    if (eq == std::string::npos)
      return error = "compile options, line " + std::to_string(number) + ": '" + line + "' is not key=value", false;
    bool ok = true;
    if (key == "threads") {
      auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), o.threads);
      ok = ec == std::errc() && end == value.data() + value.size() && o.threads >= 1 && o.threads <= 4096;
    } else if (key == "conv_layouts") {
      ok = value == "auto" || value == "plain";
      o.plain_conv_layouts = value == "plain";
    } else if (key == "split_products") {
      ok = flag(o.split_products);
    } else if (key == "zero_columns") {
      ok = flag(o.zero_columns);
    } else if (key == "late_updates") {
      ok = flag(o.late_updates);
    } else {
      ok = false;
    }
    if (!ok)
      return error = "compile options, line " + std::to_string(number) + ": unknown option or value '" + line +
                     "' (a trainer from another vaec version?)",
             false;
  }
  out = o;
  return true;
}

}  // namespace vaec
