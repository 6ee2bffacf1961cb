// The options that change what `vaec compile` generates besides the model
// file and its batch (codegen/codegen_options.h): given on the command line
// of `vaec compile` and `vaec dump`, embedded in the trainer as text
// (vaec_compile_options, abi/plan.h) and parsed back by libvaec_rebatch.so,
// so that a trainer re-batched at start-up makes the same choices as the
// compilation that built it.
//
// Text: one `key=value` per line, every key always written:
//   threads=N                 the thread count the plan's choices are made for
//   conv_layouts=auto|plain   plain: every convolution operand in the plain layout
//   split_products=on|off     split_products.h
//   zero_columns=on|off       skip_zero_columns.h
//   late_updates=on|off       place_updates.h
// The train batch is not among them: the plan has it, and re-batching
// replaces it.
#pragma once

#include <string>

#include "codegen/codegen_options.h"

namespace vaec {

using CompileOptions = CodegenOptions;

// The thread count plans are made for by default: this machine's cores.
int default_threads();

std::string format_compile_options(const CompileOptions &o);

// False with a message on an unknown key, a bad value or a malformed line;
// keys left out keep their defaults.
bool parse_compile_options(const std::string &text, CompileOptions &out, std::string &error);

}  // namespace vaec
