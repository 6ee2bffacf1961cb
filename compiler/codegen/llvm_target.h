// The host target for fused kernels: a TargetMachine for this CPU, LLVM's
// O3 pipeline tuned for it, and the module as IR text, assembly or an object
// file (llvm_kernels.h emits the kernels into the module).
#pragma once

#include <memory>
#include <string>

namespace llvm {
class Module;
class TargetMachine;
}  // namespace llvm

namespace vaec {

// A TargetMachine for the host CPU with all its features (AVX-512 where
// present), PIC, aggressive codegen; nullptr if LLVM lacks the host target.
std::unique_ptr<llvm::TargetMachine> host_target_machine();

// Whether the host CPU has AVX512-BF16 (vcvtneps2bf16), which kernels that
// store bf16 values then use (llvm_math.h, emit_round_bf16).
bool host_has_avx512_bf16();

// Sets m's triple and data layout to tm's and runs the O3 pipeline with tm's
// cost model, so the vectorizer picks the target's vector width.
void optimize_module(llvm::Module &m, llvm::TargetMachine &tm);

std::string module_to_ir(const llvm::Module &m);
// Code generation for tm; both leave `m` unchanged (they work on a clone).
std::string module_to_asm(llvm::Module &m, llvm::TargetMachine &tm);
bool write_object_file(llvm::Module &m, llvm::TargetMachine &tm, const std::string &path,
                       std::string &error);

}  // namespace vaec
