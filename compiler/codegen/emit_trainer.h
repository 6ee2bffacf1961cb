// emit_trainer: the last step of `vaec compile`. Compiles every kernel of a
// lowered model with LLVM into one object file that also holds the plan text
// and the kernel table (abi/plan.h), then links it with the trainer
// runtime into DIR/train.
#pragma once

#include <string>

#include "codegen/module.h"

namespace vaec {

struct TrainerBuild {
  std::string llvm_ir;    // optimized module, for --stage=llvm and DIR/ir/
  std::string assembly;   // for --stage=asm
  double llvm_seconds = 0, link_seconds = 0;
};

// Compiles the kernels (always) and, if `out_dir` is not empty, writes
// out_dir/kernels.o and links out_dir/train. Returns false with `error` set
// when LLVM or the linker fails.
bool emit_trainer(const LoweredModel &m, const std::string &out_dir,
                  TrainerBuild &result, std::string &error, bool want_text = false);

}  // namespace vaec
