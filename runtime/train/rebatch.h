// The runtime's half of `train --batch N` for an N other than the compiled
// batch: loads the compiler's libvaec_rebatch.so with dlopen and asks it for
// the plan and kernels of the trainer's model at batch N (plan.h,
// "Re-batching"). The library is loaded only here, so a trainer run at its
// compiled batch never loads LLVM.
#pragma once

#include <cstdint>
#include <string>

#include "abi/plan.h"

namespace vaec::rt {

// $VAEC_REBATCH_LIB when set, else the build tree's libvaec_rebatch.so.
std::string rebatch_library_path();

// The plan text and kernels at `batch` (valid until the process exits), or
// false with a message that says what failed and how to recompile instead.
// `compiled_batch` is the trainer's own batch, for that message.
bool rebatch(const vaec_model_source &source, int64_t compiled_batch, int64_t batch, std::string &plan_text,
             const vaec_kernel_entry *&kernels, std::string &error);

}  // namespace vaec::rt
