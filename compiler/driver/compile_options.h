// The options that change what `vaec compile` generates besides the model
// file and its batch: read once from the environment by the command line,
// embedded in the trainer as text (vaec_compile_options, runtime/plan.h) and
// parsed back by libvaec_rebatch.so, so that a trainer re-batched at start-up
// makes the same choices as the compilation that built it, whatever the
// trainer's own environment says.
//
// Text: one `key=value` per line, every key always written:
//   conv_layouts=auto|plain   VAEC_CONV_LAYOUTS=plain keeps every convolution
//                             operand in the plain layout (for comparisons)
// The train batch is not among them: the plan has it, and re-batching
// replaces it.
#pragma once

#include <string>

namespace vaec {

struct CompileOptions {
  bool plain_conv_layouts = false;
};

// From this process's environment (VAEC_CONV_LAYOUTS: unset, empty, "auto"
// or "plain"); false with a message on any other value.
bool compile_options_from_environment(CompileOptions &out, std::string &error);

std::string format_compile_options(const CompileOptions &o);

// False with a message on an unknown key, a bad value or a malformed line;
// keys left out keep their defaults.
bool parse_compile_options(const std::string &text, CompileOptions &out, std::string &error);

}  // namespace vaec
