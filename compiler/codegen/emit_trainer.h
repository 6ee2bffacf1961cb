// emit_trainer: the last step of `vaec compile`. Compiles every kernel of a
// lowered model with LLVM into object files, one per core (up to 8) compiled
// at once, the first also holding the plan text and the kernel table
// (abi/plan.h), then links them with the trainer runtime into DIR/train.
#pragma once

#include <string>
#include <vector>

#include "codegen/module.h"

namespace vaec {

struct TrainerBuild {
  std::string llvm_ir;    // optimized module, for --stage=llvm and DIR/ir/
  std::string assembly;   // for --stage=asm
  double llvm_seconds = 0, link_seconds = 0;
};

// Compiles the kernels (always) and, if `out_dir` is not empty, writes
// out_dir/kernels.o (and kernels.1.o ...) and links out_dir/train:
//   c++ -o train kernels.o kernels.1.o ... libvaec_trainer.a -ldnnl -lpng -lz -fopenmp -Wl,--strip-debug
//       BUILD_FLAGS LINK_FLAGS
// BUILD_FLAGS are those the runtime archive needs (a sanitized build's
// -fsanitize=address,undefined), `link_flags` the caller's (each one word).
// Returns false with `error` set when LLVM or the linker fails.
bool emit_trainer(const LoweredModel &m, const std::string &out_dir,
                  TrainerBuild &result, std::string &error, bool want_text = false,
                  const std::vector<std::string> &link_flags = {});

// The flags every link gets before the caller's: the build's own.
std::vector<std::string> build_link_flags();

}  // namespace vaec
