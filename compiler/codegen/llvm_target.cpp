// The host target: its machine, the O3 pipeline for it, IR, assembly and
// object files (contract in llvm_target.h).
#include "codegen/llvm_target.h"

#include "abi/machine.h"

#include <mutex>

#include <llvm/IR/LegacyPassManager.h>
#include <llvm/IR/Module.h>
#include <llvm/MC/TargetRegistry.h>
#include <llvm/Passes/PassBuilder.h>
#include <llvm/Support/FileSystem.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Target/TargetMachine.h>
#include <llvm/TargetParser/Host.h>
#include <llvm/TargetParser/SubtargetFeature.h>
#include <llvm/Transforms/Utils/Cloning.h>

namespace vaec {

namespace {

// Points `m` at tm's triple and data layout, and tunes its functions for tm.
// On AVX-512 hosts the kernels ask for 512-bit vectors: LLVM's default for
// Intel cores is 256 bits (wide vectors can lower the clock), but the fused
// kernels are short streaming loops bound by memory bandwidth, which zmm
// registers use better (docs/BENCHMARKS.md, "Measured and adopted").
void retarget(llvm::Module &m, llvm::TargetMachine &tm) {
  m.setTargetTriple(tm.getTargetTriple().str());
  m.setDataLayout(tm.createDataLayout());
  if (!tm.getTargetFeatureString().contains("+avx512f")) return;
  for (llvm::Function &f : m)
    if (!f.isDeclaration()) f.addFnAttr("prefer-vector-width", "512");
}

bool emit_file(llvm::Module &m, llvm::TargetMachine &tm, llvm::raw_pwrite_stream &os,
               llvm::CodeGenFileType type) {
  std::unique_ptr<llvm::Module> clone = llvm::CloneModule(m);  // codegen rewrites the IR it runs on
  retarget(*clone, tm);
  llvm::legacy::PassManager pm;
  if (tm.addPassesToEmitFile(pm, os, nullptr, type)) return false;
  pm.run(*clone);
  return true;
}

}  // namespace

std::unique_ptr<llvm::TargetMachine> host_target_machine() {
  static std::once_flag once;
  std::call_once(once, [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
    llvm::InitializeNativeTargetAsmParser();
  });
  std::string triple = llvm::sys::getProcessTriple(), error;
  const llvm::Target *target = llvm::TargetRegistry::lookupTarget(triple, error);
  if (!target) return nullptr;
  // The host's features but the extensions the plan does not record
  // (abi/machine.h), which its trainer checks for before it runs.
  llvm::SubtargetFeatures features;
  for (const auto &f : llvm::sys::getHostCPUFeatures())
    features.AddFeature(f.first(), f.second && !plan::extension_beyond_kernels(f.first().str()));
  llvm::TargetOptions options;  // IEEE: no unsafe-math, FP contraction only via fmuladd
  return std::unique_ptr<llvm::TargetMachine>(
      target->createTargetMachine(triple, llvm::sys::getHostCPUName(), features.getString(), options,
                                  llvm::Reloc::PIC_, std::nullopt, llvm::CodeGenOptLevel::Aggressive));
}

bool host_has_avx512_bf16() {
  static const bool yes = [] {
    const llvm::StringMap<bool> features = llvm::sys::getHostCPUFeatures();
    return features.lookup("avx512bf16") && features.lookup("avx512bw") && features.lookup("avx512vl");
  }();
  return yes;
}

void optimize_module(llvm::Module &m, llvm::TargetMachine &tm) {
  retarget(m, tm);
  llvm::LoopAnalysisManager lam;
  llvm::FunctionAnalysisManager fam;
  llvm::CGSCCAnalysisManager cgam;
  llvm::ModuleAnalysisManager mam;
  llvm::PipelineTuningOptions tuning;
  tuning.LoopVectorization = true;
  tuning.SLPVectorization = true;
  tuning.LoopInterleaving = true;
  llvm::PassBuilder pb(&tm, tuning);  // registers tm's TargetIRAnalysis (the cost model)
  pb.registerModuleAnalyses(mam);
  pb.registerCGSCCAnalyses(cgam);
  pb.registerFunctionAnalyses(fam);
  pb.registerLoopAnalyses(lam);
  pb.crossRegisterProxies(lam, fam, cgam, mam);
  pb.buildPerModuleDefaultPipeline(llvm::OptimizationLevel::O3).run(m, mam);
}

std::string module_to_ir(const llvm::Module &m) {
  std::string s;
  llvm::raw_string_ostream os(s);
  m.print(os, nullptr);
  return s;
}

std::string module_to_asm(llvm::Module &m, llvm::TargetMachine &tm) {
  llvm::SmallString<0> buf;
  llvm::raw_svector_ostream os(buf);
  if (!emit_file(m, tm, os, llvm::CodeGenFileType::AssemblyFile)) return "";
  return std::string(buf.str());
}

bool write_object_file(llvm::Module &m, llvm::TargetMachine &tm, const std::string &path, std::string &error) {
  std::error_code ec;
  llvm::raw_fd_ostream os(path, ec, llvm::sys::fs::OF_None);
  if (ec) {
    error = "cannot write " + path + ": " + ec.message();
    return false;
  }
  if (!emit_file(m, tm, os, llvm::CodeGenFileType::ObjectFile)) {
    error = "the target cannot emit object files";
    return false;
  }
  os.close();
  if (os.has_error()) {
    error = "cannot write " + path + ": " + os.error().message();
    os.clear_error();
    return false;
  }
  return true;
}

}  // namespace vaec
