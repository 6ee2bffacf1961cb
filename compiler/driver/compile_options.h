// The options of `vaec compile` and `vaec dump` that change the plan besides
// the model file and its batch (codegen/codegen_options.h): --threads,
// --team, --conv-layouts, --no-direct-convs, --no-split-products, --no-zero-columns,
// --no-zero-units, --no-late-updates, --no-param-layouts, --no-shared-rounding, --precision, --conv-algorithm. The plan text shows what each chose; `config threads N`
// records the thread count, `config team adaptive|fixed` the team policy.
#pragma once

#include "codegen/codegen_options.h"

namespace vaec {

using CompileOptions = CodegenOptions;

// The thread count plans are made for by default: this machine's cores.
int default_threads();

}  // namespace vaec
