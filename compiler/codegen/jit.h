// In-process compilation of fused kernels: LLVM's ORC LLJIT, for tests, the
// gradient checker and any tool that runs kernels without writing a trainer.
//
// create() verifies the kernels, emits them into one module, optimizes it for
// the host CPU (optimize_module with host_target_machine, as an object file
// for the trainer would be) and generates machine code for all of them at
// once, so every error surfaces there and lookup() only finds addresses. The
// code lives as long as the KernelJit.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "codegen/kernel.h"

namespace llvm::orc {
class LLJIT;
}

namespace vaec {

class KernelJit {
 public:
  // The C signature of kernel.h.
  using Fn = void (*)(void *const *buffers, int64_t begin, int64_t end, const uint64_t *rng);

  // nullptr and `error` set if a kernel fails verify_kernel, names repeat, or
  // LLVM cannot compile for the host.
  static std::unique_ptr<KernelJit> create(std::vector<FusedKernel> kernels, std::string &error);
  // The same, bf16 stores rounded as `avx512_bf16` says (llvm_kernels.h's
  // emit_kernel; tests run the integer rounding on any host this way).
  static std::unique_ptr<KernelJit> create(std::vector<FusedKernel> kernels, std::string &error, bool avx512_bf16);
  ~KernelJit();

  // The compiled kernel `name`, or nullptr.
  Fn lookup(const std::string &name) const;

 private:
  KernelJit() = default;
  std::unique_ptr<llvm::orc::LLJIT> jit_;
  std::map<std::string, Fn> kernels_;
};

}  // namespace vaec
