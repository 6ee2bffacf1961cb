// libvaec_rebatch.so: the compiler's half of `train --batch N` for an N other
// than the compiled batch (the ABI is in runtime/plan.h, "Re-batching"). It
// runs the pipeline `vaec compile` runs (load_model, then compile_model) on
// the YAML the trainer carries, at batch N and with the compile options the
// trainer was built with, and compiles the kernels in this process with
// LLVM's JIT (codegen/jit.h): the same module, optimization and target CPU as
// the object file emit_trainer writes, so the kernels compute the same bits.
// Everything that can go wrong comes back as text: no exception crosses the
// C boundary.
#include <cstdint>
#include <memory>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include "codegen/jit.h"
#include "driver/compile.h"
#include "driver/compile_options.h"
#include "frontend/model.h"
#include "abi/plan.h"

namespace {

// What a call hands out. The trainer runs the kernels until it exits, so
// this lives as long as the process: it is never freed (destroying LLVM's
// JIT from a static destructor would race LLVM's own teardown).
struct Rebatched {
  std::unique_ptr<vaec::KernelJit> jit;
  std::vector<std::string> names;  // the table's names point into these
  std::vector<vaec_kernel_entry> table;
  std::string plan_text, error;
};

int failed(Rebatched *r, const std::string &message, char **error_text) {
  r->error = message;
  *error_text = r->error.data();
  return 1;
}

int rebatch(Rebatched *r, const char *yaml_text, const char *yaml_path, const char *options, int64_t batch,
            char **plan_text, const vaec_kernel_entry **kernels, char **error_text) {
  using namespace vaec;
  if (!yaml_text || !yaml_path || !options) return failed(r, "the trainer carries no model source", error_text);
  if (batch < 1) return failed(r, "batch " + std::to_string(batch) + " is not a batch size", error_text);
  CompileOptions compile_options;
  std::string error;
  if (!parse_compile_options(options, compile_options, error)) return failed(r, error, error_text);
  const std::string text = yaml_text, path = yaml_path;
  SourceManager sm;
  sm.add(path, text);
  Diagnostics diags(&sm);
  auto diagnosed = [&] {
    std::ostringstream os;
    diags.print(os);
    std::string s = os.str();
    while (!s.empty() && s.back() == '\n') s.pop_back();
    return s.empty() ? std::string("compiling the model failed") : s;
  };
  std::optional<Model> model = load_model(path, text, diags, LoadOptions{batch});
  if (!model || diags.has_errors()) return failed(r, diagnosed(), error_text);
  std::unique_ptr<CompiledModel> c = compile_model(path, text, *model, compile_options, diags);
  if (!c || diags.has_errors()) return failed(r, diagnosed(), error_text);
  r->jit = KernelJit::create(c->lowered.kernels, error);
  if (!r->jit) return failed(r, "compiling the kernels: " + error, error_text);
  for (const FusedKernel &k : c->lowered.kernels) r->names.push_back(k.name);
  for (const std::string &name : r->names) {
    KernelJit::Fn fn = r->jit->lookup(name);
    if (!fn) return failed(r, "the JIT lost kernel '" + name + "'", error_text);
    r->table.push_back({name.c_str(), fn});
  }
  r->table.push_back({nullptr, nullptr});
  r->plan_text = plan::format_plan(c->lowered.plan);
  *plan_text = r->plan_text.data();
  *kernels = r->table.data();
  return 0;
}

}  // namespace

extern "C" __attribute__((visibility("default"))) int vaec_rebatch(const char *yaml_text, const char *yaml_path,
                                                                   const char *options, int64_t batch,
                                                                   char **plan_text, const vaec_kernel_entry **kernels,
                                                                   char **error_text) {
  static const char kNoMemory[] = "out of memory while re-batching";
  if (!plan_text || !kernels || !error_text) return 1;
  *plan_text = nullptr, *kernels = nullptr, *error_text = nullptr;
  Rebatched *r = new (std::nothrow) Rebatched;
  if (!r) return *error_text = const_cast<char *>(kNoMemory), 1;
  try {
    return rebatch(r, yaml_text, yaml_path, options, batch, plan_text, kernels, error_text);
  } catch (const std::exception &e) {
    return failed(r, std::string("internal compiler error: ") + e.what() + " (please report this with the model)",
                  error_text);
  } catch (...) {
    return failed(r, "internal compiler error (please report this with the model)", error_text);
  }
}

// The trainer calls it through this type (runtime/plan.h).
static_assert(std::is_same_v<decltype(&vaec_rebatch), vaec_rebatch_fn>);
