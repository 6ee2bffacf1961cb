// Compile options as text (contract in compile_options.h).
#include "driver/compile_options.h"

#include <cstdlib>
#include <sstream>

namespace vaec {

bool compile_options_from_environment(CompileOptions &out, std::string &error) {
  CompileOptions o;
  const char *layouts = std::getenv("VAEC_CONV_LAYOUTS");
  const std::string value = layouts ? layouts : "";
  if (!value.empty() && value != "auto" && value != "plain")
    return error = "VAEC_CONV_LAYOUTS='" + value + "': expected 'plain' (every convolution operand in the plain "
                   "layout) or 'auto' (the layouts oneDNN prefers; the default)",
           false;
  o.plain_conv_layouts = value == "plain";
  out = o;
  return true;
}

std::string format_compile_options(const CompileOptions &o) {
  return std::string("conv_layouts=") + (o.plain_conv_layouts ? "plain" : "auto") + "\n";
}

bool parse_compile_options(const std::string &text, CompileOptions &out, std::string &error) {
  CompileOptions o;
  std::istringstream in(text);
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    if (line.empty()) continue;
    const size_t eq = line.find('=');
    const std::string key = line.substr(0, eq), value = eq == std::string::npos ? "" : line.substr(eq + 1);
    if (eq == std::string::npos)
      return error = "compile options, line " + std::to_string(number) + ": '" + line + "' is not key=value", false;
    if (key == "conv_layouts" && (value == "auto" || value == "plain")) {
      o.plain_conv_layouts = value == "plain";
    } else {
      return error = "compile options, line " + std::to_string(number) + ": unknown option '" + line +
                     "' (a trainer from another vaec version?)",
             false;
    }
  }
  out = o;
  return true;
}

}  // namespace vaec
