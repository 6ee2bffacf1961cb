// libFuzzer harness for the vaec front end (built and run by run_fuzz.sh).
//
// Every input is tried two ways:
//  (a) as a vae.yaml model: load_model, print the diagnostics, and when the
//      model loads, print its graph, parse that text back and print it again;
//  (b) as graph IR text: parse_graph, and when it parses, the same round trip.
//
// Properties checked (a violation is a crash the fuzzer reports):
//  - load_model never reports an "internal error" (its graph fails to verify);
//  - nothing throws: no try/catch here, an escaping exception aborts;
//  - no sanitizer (ASan/UBSan) report and no leak;
//  - print → parse succeeds for every graph the front end or the parser
//    produced, and print → parse → print gives back the same text.
#include <cstddef>
#include <cstdint>
#include <iostream>
#include <optional>
#include <sstream>
#include <streambuf>
#include <string>

#include "frontend/model.h"
#include "ir/graph.h"
#include "ir/parser.h"
#include "ir/printer.h"
#include "support/diagnostics.h"

namespace {

// Discards everything but still makes the stream format it all.
class NullBuf : public std::streambuf {
protected:
  int overflow(int c) override { return traits_type::not_eof(c); }
  std::streamsize xsputn(const char *, std::streamsize n) override { return n; }
};

std::ostream &null_stream() {
  static NullBuf buf;
  static std::ostream os(&buf);
  return os;
}

[[noreturn]] void fail(const char *what, const std::string &a, const std::string &b,
                       vaec::Diagnostics *diags = nullptr) {
  std::cerr << "\n=== vaec fuzz: " << what << " ===\n--- first text ---\n" << a
            << "--- second text ---\n" << b << "---\n";
  if (diags) diags->print(std::cerr);
  std::cerr.flush();
  __builtin_trap();
}

// True when a printed diagnostic (not a quoted source line, which starts with
// spaces, nor user text inside a message) is "internal error: ...".
bool reports_internal_error(const std::string &printed) {
  std::istringstream lines(printed);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind("fuzz.yaml", 0) != 0) continue;
    size_t at = line.find(": error: ");
    if (at != std::string::npos && line.compare(at + 9, 14, "internal error") == 0) return true;
  }
  return false;
}

// print → parse → print must reproduce the first printed text exactly.
void round_trip(const vaec::Graph &g) {
  std::string first = vaec::graph_to_string(g);
  vaec::print_dot(null_stream(), g);
  vaec::SourceManager sm;
  sm.add("roundtrip.ir", first);
  vaec::Diagnostics diags(&sm);
  std::optional<vaec::Graph> again = vaec::parse_graph("roundtrip.ir", first, diags);
  if (!again) fail("printed graph does not parse back", first, "", &diags);
  diags.print(null_stream());
  std::string second = vaec::graph_to_string(*again);
  if (first != second) fail("print -> parse -> print changed the text", first, second);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const std::string text(reinterpret_cast<const char *>(data), size);

  // (a) The bytes as a YAML model.
  {
    vaec::SourceManager sm;
    sm.add("fuzz.yaml", text);
    vaec::Diagnostics diags(&sm);
    std::optional<vaec::Model> model = vaec::load_model("fuzz.yaml", text, diags);
    std::ostringstream messages;
    diags.print(messages);
    // The front end checks its own output with the verifier; a lowered graph
    // that does not verify is a front-end bug even though it is reported.
    if (reports_internal_error(messages.str()))
      fail("load_model reported an internal error", text, messages.str());
    if (model) round_trip(model->graph);
  }

  // (b) The bytes as graph IR text.
  {
    vaec::SourceManager sm;
    sm.add("fuzz.ir", text);
    vaec::Diagnostics diags(&sm);
    std::optional<vaec::Graph> g = vaec::parse_graph("fuzz.ir", text, diags);
    diags.print(null_stream());
    if (g) round_trip(*g);
  }
  return 0;
}
