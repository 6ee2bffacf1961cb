// Kernels + plan + kernel table → object files (one per part) → linked trainer
// (contract in emit_trainer.h).
#include "codegen/emit_trainer.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <future>
#include <sstream>
#include <thread>
#include <vector>
#include <sys/wait.h>

#include <llvm/IR/Constants.h>
#include <llvm/IR/DerivedTypes.h>
#include <llvm/IR/GlobalVariable.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>
#include <llvm/Target/TargetMachine.h>

#include "codegen/direct_conv.h"
#include "codegen/kernel.h"
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
    // A kernel of another part (emit_trainer) is a declaration here.
    llvm::Function *f = m.getFunction(k.name);
    if (!f)
      f = llvm::Function::Create(
          llvm::FunctionType::get(llvm::Type::getVoidTy(ctx), {ptr, llvm::Type::getInt64Ty(ctx), llvm::Type::getInt64Ty(ctx), ptr}, false),
          llvm::Function::ExternalLinkage, k.name, m);
    rows.push_back(llvm::ConstantStruct::get(entry, {name_var, f}));
  }
  rows.push_back(llvm::ConstantStruct::get(entry, {llvm::ConstantPointerNull::get(ptr),
                                                   llvm::ConstantPointerNull::get(ptr)}));
  llvm::ArrayType *type = llvm::ArrayType::get(entry, rows.size());
  new llvm::GlobalVariable(m, type, true, llvm::GlobalValue::ExternalLinkage, llvm::ConstantArray::get(type, rows),
                           "vaec_kernels");
}

// What a kernel costs LLVM, roughly: its work per point (kernel_work over
// one point), or a direct convolution's multiply-adds per pixel body.
int64_t kernel_compile_weight(const FusedKernel &k) {
  if (k.conv) return 3 * direct_conv_vectors(*k.conv);
  FusedKernel point;
  point.domain.assign(k.domain.size(), 1);
  point.instrs = k.instrs;
  point.outputs = k.outputs;
  return kernel_work(point);
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
  // The kernels in parts, one module, LLVMContext and thread each (LLVM
  // optimises and generates code module by module), the largest first onto
  // the part with the least so far; part 0 also holds the plan text and the
  // kernel table, which names the other parts' kernels as declarations.
  const size_t parts = std::max<size_t>(1, std::min<size_t>({std::thread::hardware_concurrency(), 8, lm.kernels.size()}));
  std::vector<std::vector<const FusedKernel *>> share(parts);
  {
    std::vector<const FusedKernel *> order;
    for (const FusedKernel &k : lm.kernels) order.push_back(&k);
    std::stable_sort(order.begin(), order.end(), [](const FusedKernel *a, const FusedKernel *b) {
      return kernel_compile_weight(*a) > kernel_compile_weight(*b);
    });
    std::vector<int64_t> load(parts, 0);
    for (const FusedKernel *k : order) {
      const size_t least = std::min_element(load.begin(), load.end()) - load.begin();
      share[least].push_back(k);
      load[least] += kernel_compile_weight(*k);
    }
  }
  struct Part {
    llvm::LLVMContext ctx;
    std::unique_ptr<llvm::Module> m;
    std::unique_ptr<llvm::TargetMachine> tm;
    std::string object, ir, assembly, error;
  };
  std::vector<Part> part(parts);
  for (size_t i = 0; i < parts; ++i) {
    Part &pt = part[i];
    pt.tm = host_target_machine();
    if (!pt.tm) {
      error = "LLVM has no code generator for this CPU";
      return false;
    }
    pt.m = std::make_unique<llvm::Module>("vaec." + lm.plan.model + (i ? "." + std::to_string(i) : ""), pt.ctx);
    for (const FusedKernel *k : share[i]) emit_kernel(*pt.m, *k);
    if (i == 0) {
      emit_string(*pt.m, "vaec_plan_text", plan::format_plan(lm.plan));
      emit_kernel_table(*pt.m, lm.kernels);
    }
    pt.object = out_dir.empty() ? "" : out_dir + "/kernels" + (i ? "." + std::to_string(i) : "") + ".o";
  }
  // Each part on its own thread: optimise, write its object, then (for the
  // dumps) print its IR and assembly, a second code generation, which
  // overlaps the link.
  std::vector<std::promise<void>> written(parts);
  auto work = [&](size_t i) {
    Part &pt = part[i];
    optimize_module(*pt.m, *pt.tm);
    if (!pt.object.empty()) write_object_file(*pt.m, *pt.tm, pt.object, pt.error);
    written[i].set_value();
    if (want_text) pt.ir = module_to_ir(*pt.m), pt.assembly = module_to_asm(*pt.m, *pt.tm);
  };
  std::vector<std::future<void>> running;
  for (size_t i = 0; i < parts; ++i) running.push_back(std::async(std::launch::async, work, i));
  auto finish = [&] {
    for (auto &r : running) r.get();
    for (Part &pt : part) result.llvm_ir += pt.ir, result.assembly += pt.assembly;
  };
  for (auto &w : written) w.get_future().wait();
  std::string failed;
  for (const Part &pt : part)
    if (failed.empty()) failed = pt.error;
  if (out_dir.empty() || !failed.empty()) {
    finish();
    result.llvm_seconds = seconds_since(start);
    error = failed;
    return failed.empty();
  }
  // The link (a separate process) runs while the parts print their dumps.
  // The trainer keeps its symbols but not the runtime's DWARF debug
  // information, which is most of its bytes and of the link time (link by
  // hand as runtime/program/program.h shows to keep it).
  const double object_seconds = seconds_since(start);
  auto link_start = std::chrono::steady_clock::now();
  int status = -1;
  std::string cmd = "c++ -o " + shell_quote(out_dir + "/train");
  for (const Part &pt : part) cmd += " " + shell_quote(pt.object);
  cmd += " " + shell_quote(VAEC_TRAINER_LIB) + " -ldnnl -lpng -lz -fopenmp -Wl,--strip-debug";
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
  finish();
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
