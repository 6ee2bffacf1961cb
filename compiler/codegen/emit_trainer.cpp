// Kernels + plan + kernel table → object file → linked trainer
// (contract in emit_trainer.h).
#include "codegen/emit_trainer.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <future>
#include <sstream>
#include <vector>
#include <sys/wait.h>

#include <llvm/IR/Constants.h>
#include <llvm/IR/DerivedTypes.h>
#include <llvm/IR/GlobalVariable.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>
#include <llvm/Target/TargetMachine.h>

#include "codegen/llvm_kernels.h"
#include "codegen/llvm_target.h"

#ifndef VAEC_TRAINER_LIB
#define VAEC_TRAINER_LIB "libvaec_trainer.a"
#endif
#ifndef VAEC_TRAINER_LINK_FLAGS
#define VAEC_TRAINER_LINK_FLAGS ""
#endif

namespace vaec {
namespace {

// extern "C" const char name[] = "...";
void emit_string(llvm::Module &m, const std::string &name, const std::string &text) {
  llvm::LLVMContext &ctx = m.getContext();
  llvm::Constant *data = llvm::ConstantDataArray::getString(ctx, text, /*AddNull=*/true);
  new llvm::GlobalVariable(m, data->getType(), /*isConstant=*/true, llvm::GlobalValue::ExternalLinkage, data, name);
}

// extern "C" const vaec_kernel_entry vaec_kernels[] = {{"name", fn}, ..., {0, 0}};
void emit_kernel_table(llvm::Module &m, const std::vector<FusedKernel> &kernels) {
  llvm::LLVMContext &ctx = m.getContext();
  llvm::PointerType *ptr = llvm::PointerType::get(ctx, 0);
  llvm::StructType *entry = llvm::StructType::get(ctx, {ptr, ptr});
  std::vector<llvm::Constant *> rows;
  for (const FusedKernel &k : kernels) {
    llvm::Constant *name = llvm::ConstantDataArray::getString(ctx, k.name, true);
    auto *name_var = new llvm::GlobalVariable(m, name->getType(), true, llvm::GlobalValue::PrivateLinkage, name,
                                              "name." + k.name);
    rows.push_back(llvm::ConstantStruct::get(entry, {name_var, m.getFunction(k.name)}));
  }
  rows.push_back(llvm::ConstantStruct::get(entry, {llvm::ConstantPointerNull::get(ptr),
                                                   llvm::ConstantPointerNull::get(ptr)}));
  llvm::ArrayType *type = llvm::ArrayType::get(entry, rows.size());
  new llvm::GlobalVariable(m, type, true, llvm::GlobalValue::ExternalLinkage, llvm::ConstantArray::get(type, rows),
                           "vaec_kernels");
}

std::string shell_quote(const std::string &s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

std::vector<std::string> build_link_flags() {
  std::vector<std::string> flags;
  std::istringstream words(VAEC_TRAINER_LINK_FLAGS);
  for (std::string w; words >> w;) flags.push_back(w);
  return flags;
}

bool emit_trainer(const LoweredModel &lm, const std::string &out_dir,
                  TrainerBuild &result, std::string &error, bool want_text,
                  const std::vector<std::string> &link_flags) {
  auto start = std::chrono::steady_clock::now();
  for (const FusedKernel &k : lm.kernels) {
    std::string why = verify_kernel(k);
    if (!why.empty()) {
      error = "internal compiler error: kernel " + k.name + ": " + why + "\n" + kernel_to_string(k);
      return false;
    }
  }
  auto tm = host_target_machine();
  if (!tm) {
    error = "LLVM has no code generator for this CPU";
    return false;
  }
  llvm::LLVMContext ctx;
  llvm::Module m("vaec." + lm.plan.model, ctx);
  for (const FusedKernel &k : lm.kernels) emit_kernel(m, k);
  emit_string(m, "vaec_plan_text", plan::format_plan(lm.plan));
  emit_kernel_table(m, lm.kernels);
  optimize_module(m, *tm);
  auto text = [&] {
    if (!want_text) return;
    result.llvm_ir = module_to_ir(m);
    result.assembly = module_to_asm(m, *tm);
  };
  if (out_dir.empty()) {
    text();
    result.llvm_seconds = seconds_since(start);
    return true;
  }
  std::string object = out_dir + "/kernels.o";
  if (!write_object_file(m, *tm, object, error)) return false;
  // The link (a separate process) runs while LLVM prints the IR and the
  // assembly for the dumps: on 2 cores that hides most of the shorter one.
  // The trainer keeps its symbols but not the runtime's DWARF debug
  // information, which is most of its bytes and of the link time (link by
  // hand as runtime/program/program.h shows to keep it).
  const double object_seconds = seconds_since(start);
  auto link_start = std::chrono::steady_clock::now();
  int status = -1;
  std::string cmd = "c++ -o " + shell_quote(out_dir + "/train") + " " + shell_quote(object) + " " +
                    shell_quote(VAEC_TRAINER_LIB) + " -ldnnl -lpng -lz -fopenmp -Wl,--strip-debug";
  // Quoted word by word: a flag reaches the linker as it is, never read by the shell.
  std::vector<std::string> flags = build_link_flags();
  flags.insert(flags.end(), link_flags.begin(), link_flags.end());
  for (const std::string &f : flags) cmd += " " + shell_quote(f);
  // The linker's messages are kept in memory, not in a file beside the
  // trainer: on a full disk that file would be as empty as the trainer.
  std::string link_output;
  std::future<double> link = std::async(std::launch::async, [&] {
    if (std::FILE *p = ::popen((cmd + " 2>&1").c_str(), "r")) {
      char buf[4096];
      for (size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;)
        if (link_output.size() < (1 << 20)) link_output.append(buf, n);
      status = ::pclose(p);
    }
    return seconds_since(link_start);
  });
  text();
  result.llvm_seconds = object_seconds + seconds_since(link_start);  // LLVM's own work, which the link overlaps
  result.link_seconds = link.get();
  if (status != 0 || !std::filesystem::exists(out_dir + "/train")) {
    // Its last lines, on one line: a diagnostic is one line.
    std::vector<std::string> lines;
    for (size_t start = 0; start < link_output.size();) {
      size_t end = std::min(link_output.find('\n', start), link_output.size());
      if (end > start) lines.push_back(link_output.substr(start, end - start));
      start = end + 1;
    }
    if (lines.size() > 5) lines.erase(lines.begin(), lines.end() - 5);
    error = "linking the trainer failed (" + cmd + ")";
    for (size_t i = 0; i < lines.size(); ++i) error += (i ? "; " : ": ") + lines[i];
    return false;
  }
  return true;
}

}  // namespace vaec
