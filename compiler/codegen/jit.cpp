// In-process kernel compilation with ORC LLJIT (contract in jit.h).
#include "codegen/jit.h"

#include <set>

#include <llvm/ExecutionEngine/Orc/ExecutionUtils.h>
#include <llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h>
#include <llvm/ExecutionEngine/Orc/LLJIT.h>
#include <llvm/ExecutionEngine/Orc/ThreadSafeModule.h>
#include <llvm/IR/Module.h>
#include <llvm/IR/Verifier.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Target/TargetMachine.h>
#include <llvm/TargetParser/SubtargetFeature.h>

#include "codegen/llvm_kernels.h"
#include "codegen/llvm_target.h"

namespace vaec {
namespace {

// Verifies, emits and optimizes the kernels; nullptr and `error` on failure.
std::unique_ptr<llvm::Module> build_module(const std::vector<FusedKernel> &kernels, llvm::LLVMContext &ctx,
                                           llvm::TargetMachine &tm, bool avx512_bf16, std::string &error) {
  std::set<std::string> names;
  for (const FusedKernel &k : kernels) {
    if (error = verify_kernel(k); !error.empty()) return nullptr;
    if (!names.insert(k.name).second) {
      error = "two kernels are named '" + k.name + "'";
      return nullptr;
    }
  }
  auto m = std::make_unique<llvm::Module>("vaec_kernels", ctx);
  for (const FusedKernel &k : kernels) emit_kernel(*m, k, avx512_bf16);
  llvm::raw_string_ostream os(error);
  if (llvm::verifyModule(*m, &os)) {
    error = "LLVM rejected the emitted IR (a vaec bug): " + error;
    return nullptr;
  }
  optimize_module(*m, tm);
  return m;
}

}  // namespace

KernelJit::~KernelJit() = default;

std::unique_ptr<KernelJit> KernelJit::create(std::vector<FusedKernel> kernels, std::string &error) {
  return create(std::move(kernels), error, host_has_avx512_bf16());
}

std::unique_ptr<KernelJit> KernelJit::create(std::vector<FusedKernel> kernels, std::string &error, bool avx512_bf16) {
  error.clear();
  std::unique_ptr<llvm::TargetMachine> tm = host_target_machine();
  if (!tm) {
    error = "LLVM has no target for this host";
    return nullptr;
  }
  auto ctx = std::make_unique<llvm::LLVMContext>();
  std::unique_ptr<llvm::Module> m = build_module(kernels, *ctx, *tm, avx512_bf16, error);
  if (!m) return nullptr;

  // Generate code for the same CPU and features the module was optimized for.
  llvm::orc::JITTargetMachineBuilder jtmb(tm->getTargetTriple());
  jtmb.setCPU(tm->getTargetCPU().str());
  jtmb.addFeatures(llvm::SubtargetFeatures(tm->getTargetFeatureString()).getFeatures());
  jtmb.setCodeGenOptLevel(llvm::CodeGenOptLevel::Aggressive);
  auto jit = llvm::orc::LLJITBuilder().setJITTargetMachineBuilder(std::move(jtmb)).create();
  auto fail = [&](llvm::Error e) {
    error = "LLJIT: " + llvm::toString(std::move(e));
    return nullptr;
  };
  if (!jit) return fail(jit.takeError());
  std::unique_ptr<KernelJit> self(new KernelJit);
  self->jit_ = std::move(*jit);
  // Optimized loops may call memset/memcpy: resolve them in this process.
  auto process = llvm::orc::DynamicLibrarySearchGenerator::GetForCurrentProcess(
      self->jit_->getDataLayout().getGlobalPrefix());
  if (!process) return fail(process.takeError());
  self->jit_->getMainJITDylib().addGenerator(std::move(*process));
  if (llvm::Error e = self->jit_->addIRModule(llvm::orc::ThreadSafeModule(std::move(m), std::move(ctx))))
    return fail(std::move(e));
  for (const FusedKernel &k : kernels) {  // the first lookup compiles the whole module
    auto address = self->jit_->lookup(k.name);
    if (!address) return fail(address.takeError());
    self->kernels_[k.name] = address->toPtr<Fn>();
  }
  return self;
}

KernelJit::Fn KernelJit::lookup(const std::string &name) const {
  auto it = kernels_.find(name);
  return it == kernels_.end() ? nullptr : it->second;
}

}  // namespace vaec
